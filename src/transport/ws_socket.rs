//! A WebSocket's socket, shared by its connection task and the ping wheel (`ws_pings`)
//! (an SSE stream's too, `sse_raw`, which writes chunks where a WebSocket writes frames and
//! is never pinged):
//! the raw `TcpStream` taken out of hyper after the upgrade, and what keeps their frames
//! from interleaving.
//!
//! The task writes whole frames ([`WsSocket::write`]: header and payload in one `writev`,
//! straight from the shared bytes, waiting for the socket only when it is full). The wheel
//! writes its 9-byte ping with a non-blocking `write` ([`WsSocket::ping_tick`]) only when
//! the task is not in the middle of a frame; if the socket takes part of the ping, the
//! rest is kept here and goes out first, before anything else is written.
//!
//! The writer pass (`Subscriber::push`, through `ws_direct`) writes a data frame with a
//! non-blocking `writev` ([`WsSocket::try_frame`]) when nobody is writing; if the socket
//! takes part of it, the rest is kept here ([`Rest`]) and the task finishes it before it
//! writes anything else ([`WsSocket::write`]).
//!
//! Every wait for the socket is bounded by `write_timeout` of no progress (as
//! `write_deadline` does under hyper's connections): a peer that takes nothing for that
//! long is cut, counted in `stalledCut`.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::TcpStream;

use super::outbound::{Counters, Held};
use super::raw_write;
use super::ws_codec::PING;
use crate::hub::subscriber::Offer;
use crate::message::Message;

pub struct WsSocket {
    pub stream: TcpStream,
    out: Mutex<Out>,
    /// A pong came since the last ping (set by the task's reader, taken by the wheel).
    pong_seen: AtomicBool,
    /// Where the wheel keeps it (bucket << 32 | index), changed only under the wheel's lock.
    pub(super) slot: AtomicU64,
}

/// The writing side's state.
#[derive(Default)]
struct Out {
    /// The task is between the first and the last byte of a frame: nobody else writes.
    writing: bool,
    /// What the socket has not yet taken of the wheel's last ping: `PING[ping_sent..]`.
    ping_sent: u8,
    /// A data frame the writer pass started and the socket took part of.
    rest: Option<Box<Rest>>,
}

/// The rest of a frame the writer pass started: `frame` from `sent` on.
pub struct Rest {
    frame: Bytes,
    sent: usize,
    /// The message it carries (counted as delivered once the frame is whole).
    pub msg: Arc<Message>,
    /// Counts what is left until the task writes it (and counts it itself).
    held: Option<Held>,
}

/// What a ping tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Pinged (or the rest of an earlier ping went out).
    Pinged,
    /// The task is writing a frame: its write deadline watches the peer, no ping now.
    Busy,
    /// The last ping was not answered: the socket was shut down, its task ends.
    Dead,
}

impl WsSocket {
    pub fn new(stream: TcpStream) -> Self {
        WsSocket {
            stream,
            out: Mutex::new(Out {
                writing: false,
                ping_sent: PING.len() as u8,
                rest: None,
            }),
            pong_seen: AtomicBool::new(true),
            slot: AtomicU64::new(0),
        }
    }

    pub fn pong_seen(&self) {
        self.pong_seen.store(true, Ordering::Relaxed);
    }

    /// The wheel's visit: close a peer that did not answer the previous ping, else ping.
    pub fn ping_tick(&self) -> Tick {
        let mut out = self.out.lock();
        if out.writing {
            return Tick::Busy;
        }
        if !self.pong_seen.swap(false, Ordering::Relaxed) {
            drop(out);
            self.shutdown(Shutdown::Both);
            return Tick::Dead;
        }
        // A ping the socket took only part of is finished, never restarted: a second
        // header in the middle of the first would break the stream.
        if out.ping_sent as usize == PING.len() {
            out.ping_sent = 0;
        }
        if let Ok(n) = raw_write::write_now(
            &self.stream,
            &[IoSlice::new(&PING[out.ping_sent as usize..])],
        ) {
            out.ping_sent += n as u8;
        }
        Tick::Pinged
    }

    /// The writer pass: write a whole data frame (or SSE chunk) now if nobody is writing
    /// and the socket takes at least part of it; keep the rest for the task.
    pub fn try_frame(&self, frame: &Bytes, msg: &Arc<Message>, counters: &Arc<Counters>) -> Offer {
        let mut out = self.out.lock();
        // Someone is mid-frame, or a ping is half out: the task sorts that out first.
        if out.writing || (out.ping_sent as usize) < PING.len() {
            return Offer::Declined;
        }
        match raw_write::write_now(&self.stream, &[IoSlice::new(frame)]) {
            Ok(n) if n == frame.len() => Offer::Written,
            Ok(n) if n > 0 => {
                out.writing = true;
                out.rest = Some(Box::new(Rest {
                    frame: frame.clone(),
                    sent: n,
                    msg: msg.clone(),
                    held: Some(Held::new(counters, frame.len() - n)),
                }));
                Offer::Started
            }
            // Full (or broken: the task's next read or write will say so).
            _ => Offer::Declined,
        }
    }

    /// Write `parts` (one frame or SSE chunk, or none) whole, in order, after whatever
    /// another writer left unfinished (a ping's rest, a frame the writer pass started);
    /// wait for the socket while it is full, at most `timeout` without progress (then
    /// `TimedOut`, counted as stalled). Returns the message of a frame the pass started,
    /// now whole.
    /// On an error the socket is left marked as mid-frame: nothing more may be written.
    pub async fn write(
        &self,
        parts: &[&[u8]],
        timeout: Duration,
        counters: &Arc<Counters>,
    ) -> io::Result<Option<Arc<Message>>> {
        let (ping_rest, mut rest) = {
            let mut out = self.out.lock();
            out.writing = true;
            let sent = std::mem::replace(&mut out.ping_sent, PING.len() as u8);
            (&PING[sent as usize..], out.rest.take())
        };
        let rest_left = match &mut rest {
            Some(r) => {
                // `write_all` counts what it still holds from here on.
                r.held = None;
                &r.frame[r.sent..]
            }
            None => &[],
        };
        if parts.len() > 4 {
            return Err(io::Error::other("too many parts for one frame"));
        }
        let mut all: [&[u8]; 6] = [ping_rest, rest_left, &[], &[], &[], &[]];
        all[2..2 + parts.len()].copy_from_slice(parts);
        raw_write::write_all(&self.stream, &all[..2 + parts.len()], timeout, counters).await?;
        self.out.lock().writing = false;
        Ok(rest.map(|r| r.msg))
    }

    /// `shutdown(2)`: the task's next read sees the end of the stream (errors ignored:
    /// the peer may be gone already).
    pub fn shutdown(&self, how: Shutdown) {
        let _ = socket2::SockRef::from(&self.stream).shutdown(how);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn pair() -> (WsSocket, TcpStream) {
        let (server, peer) = super::super::test_sockets::pair().await;
        (WsSocket::new(server), peer)
    }

    #[tokio::test]
    async fn pings_until_one_goes_unanswered() {
        let (s, mut peer) = pair().await;
        assert_eq!(s.ping_tick(), Tick::Pinged);
        let mut got = [0u8; 9];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, PING);
        s.pong_seen();
        assert_eq!(s.ping_tick(), Tick::Pinged);
        peer.read_exact(&mut got).await.unwrap();
        // No pong since: shut down, the peer sees the end of the stream.
        assert_eq!(s.ping_tick(), Tick::Dead);
        assert_eq!(peer.read(&mut got).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_frame_being_written_is_never_interrupted_by_a_ping() {
        let (s, mut peer) = pair().await;
        let s = std::sync::Arc::new(s);
        let counters = Arc::new(Counters::default());
        // Bigger than the socket buffers: the write waits for the peer mid-frame.
        let payload = vec![7u8; 8 << 20];
        let (h, hn) =
            super::super::ws_codec::header(super::super::ws_codec::OP_BINARY, payload.len());
        let writer = {
            let s = s.clone();
            async move {
                s.write(
                    &[&h[..hn], &payload[..]],
                    Duration::from_secs(10),
                    &counters,
                )
                .await
            }
        };
        let pinger = async {
            // The ticks land while the frame is half-written: all skipped.
            tokio::task::yield_now().await;
            let mut ticks = Vec::new();
            for _ in 0..3 {
                ticks.push(s.ping_tick());
                tokio::task::yield_now().await;
            }
            ticks
        };
        let reader = async {
            let mut all = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            while all.len() < hn + (8 << 20) {
                let n = peer.read(&mut buf).await.unwrap();
                all.extend_from_slice(&buf[..n]);
            }
            all
        };
        let (w, ticks, all) = tokio::join!(writer, pinger, reader);
        w.unwrap();
        assert!(ticks.iter().all(|t| *t == Tick::Busy), "{ticks:?}");
        assert_eq!(&all[..hn], &h[..hn]);
        assert!(all[hn..].iter().all(|&b| b == 7));
        // Done writing: the next tick pings.
        assert_eq!(s.ping_tick(), Tick::Pinged);
    }

    #[tokio::test]
    async fn a_peer_that_takes_nothing_is_cut_after_the_timeout_and_counted() {
        let (s, _peer) = pair().await;
        let counters = Arc::new(Counters::default());
        let big = vec![0u8; 32 << 20];
        let e = s
            .write(&[&big[..]], Duration::from_millis(200), &counters)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(counters.stalled(), 1);
        // Mid-frame for good: no ping is written into the broken frame.
        assert_eq!(s.ping_tick(), Tick::Busy);
    }
}
