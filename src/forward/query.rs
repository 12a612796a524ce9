//! A synchronous question to the owner (channel presence, tag watchers, server stats) from
//! the calling PHP thread, on a short connection of its own.

use std::io;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::link::Link;
use crate::handoff::wire::Frame;
use crate::handoff::{PhpTarget, Query, Reply};

/// One synchronous request/reply to the owner from the calling thread, on its own short
/// connection, bounded by `timeout` (connect, handshake and answer together).
pub fn query(
    target: &PhpTarget,
    signature_key: Option<&str>,
    q: Query,
    timeout: Duration,
) -> io::Result<Reply> {
    let deadline = Instant::now() + timeout;
    let stop = AtomicBool::new(false);
    let (mut link, _) = Link::connect(target, signature_key, 0, deadline, deadline, &stop, None)?;
    link.send(&Frame::Query(q), deadline)?;
    loop {
        match link.recv(deadline)? {
            Frame::Reply(r) => return Ok(r),
            Frame::Error { .. } => continue,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "unexpected {} frame from the bxpush server (wanted Reply)",
                        other.name()
                    ),
                ))
            }
        }
    }
}
