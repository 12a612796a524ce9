//! A write timeout under every connection (hyper has none, nor does tungstenite): a write
//! that stays blocked for `timeout` — the peer has taken no byte since — fails with
//! `TimedOut`, and so does every later write, so hyper ends the connection (dropping the
//! reply it was writing) and a WebSocket task sees its send fail. A peer that reads
//! slowly but reads is never cut here: every accepted byte restarts the clock.
//!
//! Issue 10 (finding 1): without it, a client that asked for a replay and never read kept
//! its socket, its reply and the replayed messages for as long as it liked.
//! Idle, it costs a pointer: the timer exists only while a write is blocked.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::outbound::Counters;

pub struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    counters: Arc<Counters>,
    /// Armed while a write is blocked.
    timer: Option<Pin<Box<Sleep>>>,
    /// The timeout fired: this connection is done for writing.
    cut: bool,
}

impl<S> WriteDeadline<S> {
    pub fn new(inner: S, timeout: Duration, counters: Arc<Counters>) -> Self {
        WriteDeadline {
            inner,
            timeout,
            counters,
            timer: None,
            cut: false,
        }
    }

    /// The socket, for a connection that leaves hyper (a WebSocket after its upgrade
    /// writes with its own deadline: `ws_socket`).
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn stalled() -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "peer took nothing within write_timeout",
        )
    }

    /// After the inner write: restart the clock on progress, or wait for the deadline.
    fn track<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match r {
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if timer.as_mut().poll(cx).is_ready() {
                    self.timer = None;
                    self.cut = true;
                    self.counters.stalled_cut.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("connection cut: peer took nothing within write_timeout");
                    return Poll::Ready(Err(Self::stalled()));
                }
                Poll::Pending
            }
            ready => {
                self.timer = None;
                ready
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cut {
            return Poll::Ready(Err(Self::stalled()));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.cut {
            return Poll::Ready(Err(Self::stalled()));
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// Not a sign of progress (a socket's flush writes nothing): the clock of a blocked
    /// write keeps running across it.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut {
            return Poll::Ready(Err(Self::stalled()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_blocked_write_fails_after_the_timeout_and_progress_restarts_the_clock() {
        let counters = Arc::new(Counters::default());
        // A pipe with a 16-byte buffer nobody reads: the second write blocks.
        let (a, mut b) = tokio::io::duplex(16);
        let mut w = WriteDeadline::new(a, Duration::from_millis(100), counters.clone());
        w.write_all(&[1; 16]).await.unwrap();
        // A reader that takes a byte now and then keeps the writer alive past the timeout.
        let slow = async {
            use tokio::io::AsyncReadExt;
            let mut byte = [0u8; 1];
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                b.read_exact(&mut byte).await.unwrap();
            }
            b
        };
        let (wrote, b) = tokio::join!(w.write_all(&[2; 8]), slow);
        wrote.expect("progress keeps the connection");
        assert_eq!(counters.stalled(), 0);
        // Nobody reads any more: cut after the timeout, counted once, later writes fail too.
        let e = w.write_all(&[3; 64]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(counters.stalled(), 1);
        assert!(w.write_all(&[4]).await.is_err());
        assert_eq!(counters.stalled(), 1);
        drop(b);
    }
}
