//! A connection on the subscriber listener: long polls served on the raw socket, anything
//! else handed to hyper.
//!
//! Releasing thousands of parked long polls through hyper cost ~31 µs of server CPU per
//! poll (a task woken per connection, the response built, hyper's encoding and flush),
//! about 5× what the kernel's write costs (issue 11, item 4). So the request head is read
//! here (`http1_wire`: httparse, hyper's own parser): a plain long poll (`GET` of a
//! subscription route, HTTP/1.1, keep-alive, no body, no upgrade, a valid channel list) is
//! served by `longpoll_raw`, whose parked polls the publisher's writer pass answers
//! straight on the socket; the connection then reads its next request here again.
//! Everything else — WebSocket upgrades, SSE, client publishes, errors, HTTP/1.0,
//! `Connection: close`, odd requests — goes to hyper with the bytes read so far
//! ([`Prefixed`]), and the connection stays with hyper from then on. Responses are byte
//! for byte what hyper writes, so the two paths cannot be told apart by a client.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use super::http1_wire::{self, Parse};
use super::longpoll_raw::{self, Next};
use super::ops_counters::ConnError;
use super::{sse_raw, subscribe, App, ConnGuard, Listener, SUB_PATHS};
use crate::protocol::MessageId;

/// hyper's `header_read_timeout`: a request head must arrive whole within it, counted from
/// when the connection starts waiting for one (an idle keep-alive connection too).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes of a request head read here: a longer one is hyper's (it answers 431).
const MAX_HEAD: usize = 64 * 1024;

/// Serve a subscriber-listener connection.
pub async fn serve(app: Arc<App>, stream: TcpStream, peer: SocketAddr, guard: ConnGuard) {
    let sock = Arc::new(stream);
    let mut input: Vec<u8> = Vec::new();
    loop {
        let head = match read_head(&sock, &mut input).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                // A reset is the client's business: debug, counted (as under hyper).
                app.ops.conn_error(ConnError::Http);
                tracing::debug!(%peer, error = %e, "connection error");
                return;
            }
        };
        let parsed = head.and_then(|(len, sub)| {
            // A refused subscription is hyper's to answer and count, as before.
            let mut req = subscribe::parse(sub.query.as_deref(), app.signer.as_ref()).ok()?;
            if sub.sse {
                if let Some(mid) = sub.last_event_id.as_deref().and_then(MessageId::parse) {
                    req.mid = Some(mid);
                }
            }
            Some((len, sub.sse, sub.close, req))
        });
        let Some((len, sse, close, req)) = parsed else {
            return to_hyper(app, sock, input, peer, guard).await;
        };
        input.drain(..len);
        if input.is_empty() {
            // A parked poll (or a stream) holds no read buffer: the next read makes one.
            input = Vec::new();
        }
        if sse {
            // The stream is the connection's last request.
            let Some(stream) = sole(sock, peer) else {
                return;
            };
            sse_raw::serve(app, stream, req, close).await;
            drop(guard);
            return;
        }
        if longpoll_raw::serve(&app, &sock, req, close, &mut input).await == Next::Close {
            return;
        }
        if input.is_empty() && input.capacity() > 0 {
            // Between requests a connection holds no buffer either.
            input = Vec::new();
        }
    }
}

type Head = Option<(usize, http1_wire::SubHead)>;

/// Read until `input` starts with a whole request head: `Some(Some(..))` for a request this
/// path serves, `Some(None)` for one hyper serves (or one it refuses), `None` when the peer
/// closed or the head did not arrive within [`HEAD_TIMEOUT`].
async fn read_head(sock: &TcpStream, input: &mut Vec<u8>) -> io::Result<Option<Head>> {
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    loop {
        if !input.is_empty() {
            match http1_wire::parse_request(input, SUB_PATHS) {
                Parse::Complete(h) => return Ok(Some(h.sub.map(|s| (h.len, s)))),
                Parse::Invalid => return Ok(Some(None)),
                Parse::Partial if input.len() >= MAX_HEAD => return Ok(Some(None)),
                Parse::Partial => {}
            }
        }
        match tokio::time::timeout_at(deadline, sock.readable()).await {
            Ok(r) => r?,
            Err(_) => return Ok(None),
        }
        match read_more(sock, input) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 4096;

/// One read appended to `input`: the bytes read (0: the end of the stream).
///
/// A read that fills less than the room it was given took everything the socket had (TCP
/// hands over all that is queued, up to the buffer), so tokio's readiness is cleared with
/// it: the next read returns `WouldBlock` without a syscall. A released long poll then
/// costs one `recvfrom` for the client's next request, not a second one that could only
/// say EAGAIN. Race-free: bytes that arrive after the read raise a new epoll event, a
/// newer readiness tick than the one cleared (tokio's `try_io` contract), and an end of
/// stream already seen stays ready (tokio never clears it). Bytes already read (a
/// pipelined request) are in `input`: whoever reads must look there before waiting.
pub(super) fn read_more(sock: &TcpStream, input: &mut Vec<u8>) -> io::Result<usize> {
    input.reserve(READ_CHUNK);
    let had = input.len();
    let spare = input.spare_capacity_mut();
    let room = spare.len();
    let mut short = 0;
    let r = sock.try_io(Interest::READABLE, || {
        let n = socket2::SockRef::from(sock).recv(spare)?;
        if n > 0 && n < room {
            short = n;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    let n = match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && short > 0 => short,
        r => r?,
    };
    // SAFETY: `recv` initialised the first `n` bytes of the spare capacity (at most `room`).
    unsafe { input.set_len(had + n) };
    Ok(n)
}

/// The rest of the connection is hyper's, starting with the bytes already read.
async fn to_hyper(
    app: Arc<App>,
    sock: Arc<TcpStream>,
    input: Vec<u8>,
    peer: SocketAddr,
    guard: ConnGuard,
) {
    let Some(stream) = sole(sock, peer) else {
        return;
    };
    super::serve_hyper(
        app,
        Listener::Sub,
        Prefixed::new(Bytes::from(input), stream),
        peer,
        guard,
    )
    .await;
}

/// The socket, no longer shared: every long poll's writer-pass handle gave its reference
/// back when the poll was answered (`longpoll_raw`: whoever answers takes it).
fn sole(sock: Arc<TcpStream>, peer: SocketAddr) -> Option<TcpStream> {
    match Arc::try_unwrap(sock) {
        Ok(s) => Some(s),
        Err(_) => {
            tracing::error!(%peer, "subscriber socket still shared after its poll: closed");
            None
        }
    }
}

/// A stream whose first reads return `prefix`: the bytes read before hyper took over.
pub struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Prefixed { prefix, inner }
    }

    /// The stream and what of the prefix was not read yet.
    pub fn into_parts(self) -> (S, Bytes) {
        (self.inner, self.prefix)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::super::test_sockets::pair;

    /// A read shorter than the room it had clears the readiness: the next read says
    /// `WouldBlock` at once (no syscall), even though (here) more bytes wait, and the
    /// task is woken when the driver sees them. What a pipelined request read with the
    /// first stays in `input`.
    #[tokio::test]
    async fn a_short_read_drains_the_readiness_and_more_input_wakes_it_again() {
        let (server, mut peer) = pair().await;
        let mut input = Vec::new();
        peer.write_all(b"GET /a\r\n\r\nGET /b\r\n\r\n")
            .await
            .unwrap();
        server.readable().await.unwrap();
        assert_eq!(read_more(&server, &mut input).unwrap(), 20);
        assert_eq!(input, b"GET /a\r\n\r\nGET /b\r\n\r\n");
        // Written after the read, before the driver ran again (one thread): only the
        // cleared readiness can say WouldBlock, a read syscall would get the bytes.
        peer.write_all(b"more").await.unwrap();
        let e = read_more(&server, &mut input).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        tokio::time::timeout(Duration::from_secs(5), server.readable())
            .await
            .expect("the new bytes wake the reader")
            .unwrap();
        assert_eq!(read_more(&server, &mut input).unwrap(), 4);
        assert!(input.ends_with(b"\r\n\r\nmore"));
    }

    /// A read that fills its room may have left bytes behind: the readiness stays and the
    /// next read takes them; the end of the stream, sent with the bytes, is still seen.
    #[tokio::test]
    async fn a_full_read_keeps_the_readiness_and_the_end_is_seen() {
        let (server, mut peer) = pair().await;
        let sent = READ_CHUNK * 3 + 100;
        peer.write_all(&vec![7u8; sent]).await.unwrap();
        peer.shutdown().await.unwrap();
        let mut input = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                server.readable().await.unwrap();
                match read_more(&server, &mut input) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await
        .expect("end of stream");
        assert_eq!(input.len(), sent);
        assert!(input.iter().all(|&b| b == 7));
    }

    #[tokio::test]
    async fn the_prefix_is_read_first_then_the_stream() {
        let (a, mut b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut b, b" world")
            .await
            .unwrap();
        drop(b);
        let mut p = Prefixed::new(Bytes::from_static(b"hello"), a);
        let mut small = [0u8; 3];
        p.read_exact(&mut small).await.unwrap();
        assert_eq!(&small, b"hel");
        let mut rest = Vec::new();
        p.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"lo world");
        let (_, left) = p.into_parts();
        assert!(left.is_empty());
    }
}
