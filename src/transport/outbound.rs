//! What subscriber connections are being sent and have not taken yet, and the HTTP body
//! that hands it to hyper a slice at a time.
//!
//! Issue 10 (finding 1): a long poll or SSE stream answered a whole replay as one buffer,
//! so every connection that asked for history and never read held a copy of it (10 such
//! long polls took a server from 58 to 594 MiB). Now replies are built a chunk at a time
//! (`max_send_chunk`, see `frames::next_chunk`), the next one only when the previous one
//! has been taken, and a connection that takes nothing for `write_timeout` is cut
//! (`write_deadline`). These counters make that visible in `/server-stat/`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use hyper::body::{Body, Frame, SizeHint};

/// Shared by every connection (`App::outbound`).
#[derive(Default)]
pub struct Counters {
    /// Bytes of replies, replay chunks and frames handed to connections and not yet taken
    /// by their sockets (hyper's and the kernel's buffers come on top).
    pub held_bytes: AtomicI64,
    /// Connections cut because they took nothing of what they were sent for
    /// `write_timeout`.
    pub stalled_cut: AtomicU64,
}

impl Counters {
    pub fn held(&self) -> i64 {
        self.held_bytes.load(Ordering::Relaxed)
    }

    pub fn stalled(&self) -> u64 {
        self.stalled_cut.load(Ordering::Relaxed)
    }
}

/// Counts `n` bytes in [`Counters::held_bytes`] while it lives; `set` moves the figure.
pub struct Held {
    counters: Arc<Counters>,
    n: usize,
}

impl Held {
    pub fn new(counters: &Arc<Counters>, n: usize) -> Self {
        counters.held_bytes.fetch_add(n as i64, Ordering::Relaxed);
        Held {
            counters: counters.clone(),
            n,
        }
    }

    pub fn set(&mut self, n: usize) {
        let delta = n as i64 - self.n as i64;
        self.counters.held_bytes.fetch_add(delta, Ordering::Relaxed);
        self.n = n;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.counters
            .held_bytes
            .fetch_sub(self.n as i64, Ordering::Relaxed);
    }
}

/// hyper polls a body for more only when its write buffer has room (about 400 KiB), so
/// handing it slices of this size keeps the rest of a chunk here, counted, until the
/// socket takes it.
pub const SLICE: usize = 64 * 1024;

/// A response body over a stream of chunks, each handed to hyper in [`SLICE`]s; the
/// part not yet handed over is counted as held. The stream is polled for its next chunk
/// only when the current one is gone: that is the backpressure a stalled reader meets.
pub struct SlicedBody<S> {
    chunks: Pin<Box<S>>,
    current: Bytes,
    held: Held,
    done: bool,
    /// Bytes still to come when known (one chunk): hyper then sends `Content-Length`,
    /// as for a whole buffer, instead of chunked encoding.
    exact_left: Option<u64>,
}

impl<S: Stream<Item = Bytes>> SlicedBody<S> {
    pub fn new(chunks: S, counters: &Arc<Counters>) -> Self {
        SlicedBody {
            chunks: Box::pin(chunks),
            current: Bytes::new(),
            held: Held::new(counters, 0),
            done: false,
            exact_left: None,
        }
    }
}

/// A body of one chunk.
pub fn once(bytes: Bytes, counters: &Arc<Counters>) -> SlicedBody<impl Stream<Item = Bytes>> {
    let len = bytes.len() as u64;
    let mut body = SlicedBody::new(futures_util::stream::iter([bytes]), counters);
    body.exact_left = Some(len);
    body
}

impl<S: Stream<Item = Bytes>> Body for SlicedBody<S> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        while this.current.is_empty() {
            if this.done {
                return Poll::Ready(None);
            }
            match this.chunks.as_mut().poll_next(cx) {
                Poll::Ready(Some(chunk)) => this.current = chunk,
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = this.current.len().min(SLICE);
        let slice = this.current.split_to(n);
        this.held.set(this.current.len());
        if let Some(left) = &mut this.exact_left {
            *left -= n as u64;
        }
        Poll::Ready(Some(Ok(Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.current.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_left {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_body_hands_over_slices_in_order_and_counts_what_it_still_holds() {
        let counters = Arc::new(Counters::default());
        let a: Bytes = (0..(SLICE * 2 + 10)).map(|i| i as u8).collect();
        let b = Bytes::from_static(b"second chunk");
        let mut body = SlicedBody::new(
            futures_util::stream::iter([a.clone(), b.clone()]),
            &counters,
        );
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), SLICE);
        assert_eq!(counters.held(), (SLICE + 10) as i64);
        let mut got = first.to_vec();
        while let Some(f) = body.frame().await {
            got.extend_from_slice(&f.unwrap().into_data().unwrap());
        }
        let mut want = a.to_vec();
        want.extend_from_slice(&b);
        assert_eq!(got, want);
        assert!(body.is_end_stream());
        assert_eq!(counters.held(), 0);
        // A body dropped half-way gives its count back; one chunk has an exact length.
        let mut half = once(a.clone(), &counters);
        assert_eq!(half.size_hint().exact(), Some(a.len() as u64));
        half.frame().await.unwrap().unwrap();
        assert!(counters.held() > 0);
        assert_eq!(half.size_hint().exact(), Some((a.len() - SLICE) as u64));
        drop(half);
        assert_eq!(counters.held(), 0);
    }
}
