//! A synchronous question to the owner (channel presence, tag watchers, server stats) from
//! the calling PHP thread, on a short connection of its own.

use std::io;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::link::Link;
use super::Owners;
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

/// [`query`] to the first owner of `owners` that answers, in list order, all within
/// `timeout` (a refused connect fails at once, so a dead first owner costs little).
/// The error names every owner tried.
pub fn query_owners(
    owners: &Owners,
    signature_key: Option<&str>,
    q: Query,
    timeout: Duration,
) -> io::Result<Reply> {
    let deadline = Instant::now() + timeout;
    let mut errors = Vec::new();
    for owner in owners.all() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match query(owner, signature_key, q.clone(), left) {
            Ok(r) => return Ok(r),
            Err(e) if owners.len() == 1 => return Err(e),
            Err(e) => errors.push((e.kind(), format!("{owner}: {e}"))),
        }
    }
    let kind = errors.last().map_or(io::ErrorKind::TimedOut, |e| e.0);
    let texts: Vec<String> = errors.into_iter().map(|e| e.1).collect();
    Err(io::Error::new(
        kind,
        format!("no owner answered ({})", texts.join("; ")),
    ))
}
