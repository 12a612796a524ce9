//! Writing to a subscriber socket we hold raw (`sub_conn`, a WebSocket after the upgrade),
//! outside hyper.
//!
//! - [`write_now`]: the writer pass's one non-blocking write, straight to the socket.
//! - [`write_all`]: a task's whole response or frame: one non-blocking `writev` of every
//!   part (head and shared body, no copy), waiting for the socket only while it is full,
//!   at most `write_timeout` without progress (then cut and counted in `stalledCut`, as
//!   `write_deadline` does under hyper). What is still to go while the socket is full is
//!   counted in `held_bytes`.

use std::io::{self, IoSlice};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::outbound::{Counters, Held};

/// Most parts one write takes (what another writer left unfinished: a ping's rest and a
/// frame's rest; then a head, a body, a chunk's framing).
const MAX_PARTS: usize = 6;

/// One non-blocking write of `bufs` (a plain `send` for one buffer, `sendmsg` for more),
/// with `MSG_NOSIGNAL` (a closed peer is `EPIPE`, never a `SIGPIPE`: the runtime also
/// lives inside php-fpm, which does not ignore it for us).
///
/// It passes by tokio's readiness bookkeeping on purpose: the writer pass writes to
/// thousands of sockets in a row, and the bookkeeping's own cache line per socket is a
/// measurable share of a delivery. That is safe because this write never waits: a full
/// socket (`WouldBlock`) hands the bytes to the socket's task, whose tokio write finds
/// the socket full itself and only then waits for it.
pub fn write_now(stream: &TcpStream, bufs: &[IoSlice]) -> io::Result<usize> {
    let sock = socket2::SockRef::from(stream);
    match bufs {
        [one] => sock.send_with_flags(one, libc::MSG_NOSIGNAL),
        _ => sock.send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL),
    }
}

/// Write `parts` whole, in order. `WriteZero`, `TimedOut` or the socket's error otherwise;
/// the connection is then not usable.
pub async fn write_all(
    stream: &TcpStream,
    parts: &[&[u8]],
    timeout: Duration,
    counters: &Arc<Counters>,
) -> io::Result<()> {
    if parts.len() > MAX_PARTS {
        return Err(io::Error::other("too many parts for one write"));
    }
    let mut bufs: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
    bufs[..parts.len()].copy_from_slice(parts);
    let mut bufs = &mut bufs[..parts.len()];
    let mut held: Option<Held> = None;
    loop {
        while bufs.first().is_some_and(|b| b.is_empty()) {
            bufs = &mut std::mem::take(&mut bufs)[1..];
        }
        if bufs.is_empty() {
            return Ok(());
        }
        let slices: [IoSlice; MAX_PARTS] =
            std::array::from_fn(|i| IoSlice::new(bufs.get(i).copied().unwrap_or(&[])));
        match stream.try_write_vectored(&slices[..bufs.len()]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut taken) => {
                for b in bufs.iter_mut() {
                    let k = taken.min(b.len());
                    *b = &b[k..];
                    taken -= k;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left: usize = bufs.iter().map(|b| b.len()).sum();
                match &mut held {
                    Some(h) => h.set(left),
                    None => held = Some(Held::new(counters, left)),
                }
                match tokio::time::timeout(timeout, stream.writable()).await {
                    Ok(r) => r?,
                    Err(_) => {
                        counters.stalled_cut.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("subscriber cut: peer took nothing within write_timeout");
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "peer took nothing within write_timeout",
                        ));
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
}
