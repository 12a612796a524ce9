//! WebSocket subscribers (spec §2.3): text or protobuf frames, replay after `mid`, pings
//! with dead-peer termination, client `RequestBatch` frames in binary mode. A bad channel
//! list never gets here: the upgrade is refused with HTTP 400 (see `transport::upgrade`).
//!
//! After the upgrade the socket leaves hyper and runs on our own small state: the frame
//! reader of `ws_codec` (no buffer while idle), the socket shared with the ping wheel
//! (`ws_socket`, `ws_pings`), the subscriber's queue. The task sleeps on the socket and the
//! queue only; the wheel pings (see DESIGN.md "Per-connection cost").
//!
//! Frames are sent as soon as a message is queued; what is already queued when the
//! socket is writable goes out together (no 400 ms window as in the Node server). A replay
//! or a batch is cut into frames of at most `max_send_chunk` bytes (`frames::next_chunk`),
//! each written only once the socket took the previous one, so a peer that stops reading
//! holds one frame, not its whole history; it is cut after `write_timeout` or, when its
//! queue overflows, closed with 1008. A peer that breaks the protocol is closed with 1002,
//! one whose frame is over `max_payload` with 1009, invalid UTF-8 text with 1007, an
//! unfinished message after `read_timeout` with 1008 (each counted as a bad request by
//! code).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::frames::{self, Wire};
use super::ops_counters::{ConnError, Transport};
use super::subscribe::SubscribeRequest;
use super::ws_codec::{self, Event, Reader, Violation, OP_BINARY, OP_CLOSE, OP_PONG, OP_TEXT};
use super::ws_pings::Member;
use super::ws_socket::WsSocket;
use super::{client_publish, App, Attached, ConnGuard};
use crate::hub::CloseReason;
use crate::message::Message;
use crate::protocol::ChannelId;

/// What hyper serves the subscriber listener's connections over (`accept_loop`).
use super::HyperIo;

/// One socket read at most; on the stack of [`Conn::read`] only, never in the task.
const READ_BUF: usize = 8192;

/// Reads per wake-up before the task lets others run.
const READS_PER_WAKE: usize = 4;

/// How long a closing connection waits for its peer.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// What a subscribed socket keeps for its whole life: this is the idle task's state (see
/// DESIGN.md on per-connection cost; `idle_state_is_small` below bounds it).
struct Conn {
    app: Arc<App>,
    /// The socket, on the ping wheel while the connection lives.
    member: Member,
    reader: Reader,
    /// Armed while a client message is unfinished: it must end within `read_timeout`.
    deadline: Option<Pin<Box<Sleep>>>,
    attached: Attached,
    /// The sender id of what this connection publishes (its first public id).
    publisher: Option<ChannelId>,
    binary: bool,
    /// Counted in `App::connections` (its `ConnGuard`) and the `websockets` gauge while
    /// it lives: undone by `Drop` (two guards would cost 32 bytes a connection).
    _counted: (),
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.app.connections.fetch_sub(1, Ordering::Relaxed);
        self.app
            .hub
            .counters
            .websockets
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// What woke the idle task.
enum Wake {
    Queue(Result<Vec<Arc<Message>>, CloseReason>),
    Socket(io::Result<()>),
    Deadline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Go,
    Stop,
}

/// What reads gave: events to act on (pongs are taken at once and not kept), and how the
/// input ended if it did.
#[derive(Default)]
struct Input {
    events: Vec<Event>,
    end: Option<End>,
}

enum End {
    /// The peer closed its side without a close frame.
    Eof,
    Broken(io::Error),
    Violation(Violation),
}

pub async fn serve(app: Arc<App>, upgraded: Upgraded, req: SubscribeRequest, guard: ConnGuard) {
    let Some(conn) = open(app, upgraded, req, guard).await else {
        return;
    };
    // The connection's life is a task of its own, whose future is `Conn` and its loop
    // only: the upgrade's, the request's and the handshake's state (an async fn keeps its
    // arguments for its whole life) are freed with this one.
    tokio::spawn(life(conn));
}

/// The connection task's future. Not an `async fn` taking `Conn`: that would hold `Conn`
/// twice (its argument and its body's copy of it, rust-lang/rust#62958).
#[allow(clippy::manual_async_fn)]
fn life(mut conn: Conn) -> impl Future<Output = ()> + Send {
    async move { conn.run().await }
}

/// Take the socket out of hyper, subscribe and send the replay. `None` when the
/// connection is already over.
async fn open(
    app: Arc<App>,
    upgraded: Upgraded,
    mut req: SubscribeRequest,
    guard: ConnGuard,
) -> Option<Conn> {
    let parts = match upgraded.downcast::<HyperIo>() {
        Ok(parts) => parts,
        Err(other) => {
            // Only `accept_loop`'s connections upgrade, over exactly that type: another
            // one is a bug of ours. Say so to the peer and the operator, never hang.
            tracing::error!("websocket upgrade over an unexpected connection type: closed");
            let mut io = TokioIo::new(other);
            let _ = io.write_all(&ws_codec::close(1011, "Internal error")).await;
            return None;
        }
    };
    // What hyper read past the request, then what it never read of the bytes read
    // before hyper took the connection over (`sub_conn::Prefixed`).
    let (stream, unread) = parts.io.into_inner().into_inner().into_parts();
    let read_ahead = if unread.is_empty() {
        parts.read_buf
    } else {
        let mut all = parts.read_buf.to_vec();
        all.extend_from_slice(&unread);
        Bytes::from(all)
    };
    let sock = Arc::new(WsSocket::new(stream));
    let member = app.ws_pings.join(sock);
    // The subscriber keeps the channel list; the request need not keep a copy.
    let sub = app
        .hub
        .subscribe(std::mem::take(&mut req.channels), req.mid);
    let attached = Attached::new(app.hub.clone(), sub.subscriber);
    // The connection and gauge counts move from their guards into `Conn`.
    app.hub.counters.websockets.fetch_add(1, Ordering::Relaxed);
    guard.hand_over();
    let mut conn = Conn {
        reader: Reader::new(app.config.max_payload),
        app,
        member,
        deadline: None,
        attached,
        publisher: req.publisher,
        binary: req.binary,
        _counted: (),
    };
    if conn.send(sub.replay.into(), false).await == Next::Stop {
        return None;
    }
    // From now on a publish may write straight to this socket (`ws_direct`).
    conn.attached
        .sub
        .attach(Box::new(super::ws_direct::WsDirect::new(
            conn.app.clone(),
            conn.member.socket().clone(),
            conn.binary,
        )));
    // Frames the client sent right behind its upgrade request (hyper read them with it).
    if !read_ahead.is_empty() {
        let input = conn.decode(&read_ahead, Input::default());
        if conn.handle(input).await == Next::Stop {
            return None;
        }
    }
    Some(conn)
}

impl Conn {
    fn sock(&self) -> &WsSocket {
        self.member.socket()
    }

    /// The connection's life after the handshake. Returns when the socket is done.
    async fn run(&mut self) {
        loop {
            let next = match std::future::poll_fn(|cx| self.poll_wake(cx)).await {
                // Boxed, like every handler: their state would otherwise size this loop's
                // future, which every idle connection keeps for its whole life.
                Wake::Queue(Ok(msgs)) => Box::pin(self.send_taken(msgs.into())).await,
                Wake::Queue(Err(reason)) => {
                    let (code, text) = reason.ws_close();
                    Box::pin(self.close(code, &text)).await;
                    Next::Stop
                }
                Wake::Socket(Ok(())) => {
                    let input = self.read();
                    if input.events.is_empty() && input.end.is_none() {
                        Next::Go
                    } else {
                        Box::pin(self.handle(input)).await
                    }
                }
                Wake::Socket(Err(_)) => Next::Stop,
                Wake::Deadline => {
                    self.app
                        .bad_request(1008, "websocket: message not finished within read_timeout");
                    Box::pin(self.close(1008, "Message not finished in time")).await;
                    Next::Stop
                }
            };
            if next == Next::Stop {
                return;
            }
        }
    }

    /// What the idle task waits for: its queue, its socket, the unfinished message's
    /// deadline. Polled by hand rather than with `select!`: the queue and the socket keep
    /// their wakers in the subscriber and in tokio's registration, so waiting costs this
    /// task's future no state of its own (`select!` over `recv()` and `readable()` cost
    /// 500 bytes a connection).
    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if let Poll::Ready(r) = self.attached.sub.poll_recv(cx) {
            return Poll::Ready(Wake::Queue(r));
        }
        if let Poll::Ready(r) = self.sock().stream.poll_read_ready(cx) {
            return Poll::Ready(Wake::Socket(r));
        }
        if let Some(d) = &mut self.deadline {
            if d.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Deadline);
            }
        }
        Poll::Pending
    }

    /// Read what the socket has and decode it. Not async: the buffer lives on this call's
    /// stack, never in the task's future.
    fn read(&mut self) -> Input {
        // Not zeroed: the kernel writes what is read, and only that is looked at (a pong
        // would otherwise pay an 8 KiB memset, 1% of the server's idle CPU).
        let mut buf = [MaybeUninit::<u8>::uninit(); READ_BUF];
        let mut input = Input::default();
        for _ in 0..READS_PER_WAKE {
            match read_some(&self.sock().stream, &mut buf) {
                Ok([]) => {
                    input.end = Some(End::Eof);
                    break;
                }
                Ok(bytes) => {
                    input = self.decode(bytes, input);
                    if !input.events.is_empty() || input.end.is_some() {
                        break;
                    }
                }
                // Drained (the readiness is cleared): the task sleeps until more comes.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    input.end = Some(End::Broken(e));
                    break;
                }
            }
        }
        input
    }

    /// Feed `bytes` to the frame reader; keep the unfinished message's deadline in step.
    fn decode(&mut self, mut bytes: &[u8], mut input: Input) -> Input {
        loop {
            match self.reader.feed(&mut bytes) {
                // A connected subscriber keeps its channels online by being registered;
                // the pong only proves the peer alive (no hub lock per pong).
                Ok(Some(Event::Pong)) => self.sock().pong_seen(),
                Ok(Some(e)) => {
                    let close = matches!(e, Event::Close(_));
                    if matches!(e, Event::Message { .. }) {
                        self.deadline = None;
                    }
                    input.events.push(e);
                    if close {
                        break;
                    }
                }
                Ok(None) => break,
                Err(v) => {
                    input.end = Some(End::Violation(v));
                    break;
                }
            }
        }
        if !self.reader.in_message() {
            self.deadline = None;
        } else if self.deadline.is_none() {
            let timeout = self.app.config.read_timeout;
            self.deadline = Some(Box::pin(tokio::time::sleep(timeout)));
        }
        input
    }

    /// Act on what was read, in order.
    async fn handle(&mut self, input: Input) -> Next {
        for event in input.events {
            match event {
                Event::Ping(payload) => {
                    let pong = ws_codec::control(OP_PONG, &payload);
                    if let Err(e) = self.write(&[&pong[..]]).await {
                        send_failed(&self.app, &e);
                        return Next::Stop;
                    }
                }
                Event::Pong => self.sock().pong_seen(),
                Event::Message { binary: true, data } if self.binary => {
                    if self.client_request(&data).await == Next::Stop {
                        return Next::Stop;
                    }
                }
                // Text frames (and binary ones in text mode) are ignored, as in Node.
                Event::Message { .. } => {}
                Event::Close(code) => {
                    // Echo the close and end: the server closes the TCP connection first
                    // (RFC 6455 §7.1.1).
                    let payload = code.map(u16::to_be_bytes);
                    let echo =
                        ws_codec::control(OP_CLOSE, payload.as_ref().map_or(&[][..], |p| &p[..]));
                    let _ = self.write(&[&echo[..]]).await;
                    return Next::Stop;
                }
            }
        }
        match input.end {
            None => Next::Go,
            Some(End::Eof) => {
                // Gone without a close frame: the clients' business (debug, counted).
                self.app.ops.conn_error(ConnError::WebSocket);
                tracing::debug!("websocket peer left without a close frame");
                Next::Stop
            }
            Some(End::Broken(e)) => {
                self.app.ops.conn_error(ConnError::WebSocket);
                tracing::debug!(error = %e, "websocket connection error");
                Next::Stop
            }
            Some(End::Violation(v)) => {
                self.app
                    .bad_request(v.code, &format!("websocket: {}", v.reason));
                self.close_after_violation(v).await;
                Next::Stop
            }
        }
    }

    /// A binary frame in binary mode: a client `RequestBatch` (publish, channel stats).
    async fn client_request(&mut self, data: &[u8]) -> Next {
        match client_publish::handle(&self.app, self.publisher, data) {
            Ok(Some(reply)) => {
                let reply = Bytes::from(reply);
                let (h, n) = ws_codec::header(OP_BINARY, reply.len());
                if let Err(e) = self.write(&[&h[..n], &reply[..]]).await {
                    send_failed(&self.app, &e);
                    return Next::Stop;
                }
                Next::Go
            }
            Ok(None) => Next::Go,
            Err(code) => {
                self.app.bad_request(
                    code.code(),
                    &format!("websocket request: {}", code.reason()),
                );
                let (close_code, reason) = code.ws_close();
                self.close(close_code, &reason).await;
                Next::Stop
            }
        }
    }

    /// Send what `recv` took: first the rest of a frame the writer pass started (an empty
    /// list means only that), then the messages; then the pass may write again.
    async fn send_taken(&mut self, msgs: VecDeque<Arc<Message>>) -> Next {
        if msgs.is_empty() {
            if let Err(e) = self.write(&[]).await {
                send_failed(&self.app, &e);
                return Next::Stop;
            }
        } else if self.send(msgs, true).await == Next::Stop {
            return Next::Stop;
        }
        self.attached.sub.done();
        Next::Go
    }

    /// Send `pending` in order, a frame of at most `max_send_chunk` bytes at a time, each
    /// once the socket took the previous one. Messages leave `pending` as their frame is
    /// built.
    async fn send(&mut self, mut pending: VecDeque<Arc<Message>>, live: bool) -> Next {
        let (wire, opcode) = if self.binary {
            (Wire::Binary, OP_BINARY)
        } else {
            (Wire::Text, OP_TEXT)
        };
        while let Some((msgs, bytes)) =
            frames::next_chunk(&mut pending, wire, self.app.config.max_send_chunk)
        {
            let payload = if self.binary { bytes } else { utf8(bytes) };
            let (h, n) = ws_codec::header(opcode, payload.len());
            if let Err(e) = self.write(&[&h[..n], &payload[..]]).await {
                send_failed(&self.app, &e);
                return Next::Stop;
            }
            self.app.ops.delivered(Transport::WebSocket, &msgs, live);
        }
        Next::Go
    }

    /// Write one frame whole (bounded by `write_timeout` of no progress), after the rest
    /// of one the writer pass started, if any (counted as delivered now).
    async fn write(&self, parts: &[&[u8]]) -> io::Result<()> {
        let finished = self
            .sock()
            .write(parts, self.app.config.write_timeout, &self.app.outbound)
            .await?;
        if let Some(msg) = finished {
            self.app
                .ops
                .delivered(Transport::WebSocket, std::slice::from_ref(&msg), true);
        }
        Ok(())
    }

    /// Close with `code` and wait a moment for the peer's answer, so the TCP close is
    /// clean.
    async fn close(&mut self, code: u16, reason: &str) {
        if self
            .write(&[&ws_codec::close(code, reason)[..]])
            .await
            .is_err()
        {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            loop {
                if self.sock().stream.readable().await.is_err() {
                    return;
                }
                let input = self.read();
                let answered = input.events.iter().any(|e| matches!(e, Event::Close(_)));
                if answered || input.end.is_some() {
                    return;
                }
            }
        })
        .await;
    }

    /// Close after a violation: the client's stream cannot be followed any more, so after
    /// the close frame the socket is half-closed and whatever still arrives (the rest of
    /// an oversized frame) is read and thrown away until the peer closes or
    /// `CLOSE_LINGER` passes. Closing with unread input would send a reset, and a peer
    /// that gets a reset may drop the close frame it has not read yet.
    async fn close_after_violation(&self, v: Violation) {
        if self
            .write(&[&ws_codec::close(v.code, v.reason)[..]])
            .await
            .is_err()
        {
            return;
        }
        let sock = self.sock();
        sock.shutdown(Shutdown::Write);
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while sock.stream.readable().await.is_ok() {
                if !discard(&sock.stream) {
                    return;
                }
            }
        })
        .await;
    }
}

/// One read from the socket. A read that fills less than `buf` took all the socket had (TCP
/// hands over everything queued, up to the buffer), so tokio's readiness is cleared with
/// it and the next read returns `WouldBlock` without a syscall: a pong costs one `read`,
/// not a second one that could only say EAGAIN. Race-free: bytes that arrive after the
/// read raise a new epoll event, a newer readiness tick than the one cleared (tokio's
/// `try_io` contract); an end of stream already seen stays ready (never cleared).
/// Returns the bytes read (none: the end of the stream).
fn read_some<'b>(stream: &TcpStream, buf: &'b mut [MaybeUninit<u8>]) -> io::Result<&'b [u8]> {
    let len = buf.len();
    let mut short = 0;
    let r = stream.try_io(Interest::READABLE, || {
        let n = socket2::SockRef::from(stream).recv(buf)?;
        if n > 0 && n < len {
            short = n;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    let n = match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && short > 0 => short,
        r => r?,
    };
    // SAFETY: `recv` wrote the first `n` bytes of `buf` (and returns at most its length).
    Ok(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) })
}

/// Read and drop what the socket has; false once the peer is done (end of stream or
/// error).
pub(super) fn discard(stream: &TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match stream.try_read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// A frame could not be written: the peer reset, or took nothing for `write_timeout`
/// (counted as stalled where it is detected, `ws_socket`). Nothing can be said to
/// such a peer; its next connection resumes from the last `mid` it got.
fn send_failed(app: &App, e: &io::Error) {
    app.ops.conn_error(ConnError::WebSocket);
    tracing::debug!(error = %e, "websocket send failed");
}

/// Envelopes are UTF-8 unless someone published a non-UTF-8 body through the text
/// endpoint (which is not validated, by the protocol); such bytes are replaced.
pub(super) fn utf8(bytes: Bytes) -> Bytes {
    match std::str::from_utf8(&bytes) {
        Ok(_) => bytes,
        Err(_) => Bytes::from(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, F: FnOnce(A) -> R, R>(_: &F) -> usize {
        std::mem::size_of::<R>()
    }

    use super::super::test_sockets::pair;

    /// A pong (or any read shorter than the buffer) costs one `read`: the socket's
    /// readiness is cleared with it, so the next read returns `WouldBlock` at once, even
    /// though (here) more bytes wait, and the task is woken when the driver sees them.
    #[tokio::test]
    async fn a_short_read_drains_the_readiness_and_more_input_wakes_it_again() {
        let (server, mut peer) = pair().await;
        let mut buf = [MaybeUninit::uninit(); READ_BUF];
        peer.write_all(b"pong-1").await.unwrap();
        server.readable().await.unwrap();
        assert_eq!(read_some(&server, &mut buf).unwrap(), b"pong-1");
        // Written after the read, before the driver ran again (one thread): not a read
        // syscall would miss it, only the cleared readiness can say WouldBlock.
        peer.write_all(b"pong-2").await.unwrap();
        let e = read_some(&server, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        tokio::time::timeout(Duration::from_secs(5), server.readable())
            .await
            .expect("the new bytes wake the reader")
            .unwrap();
        assert_eq!(read_some(&server, &mut buf).unwrap(), b"pong-2");
    }

    /// A read that fills the buffer may have left bytes behind: the readiness stays, and
    /// the next read takes them; the end of the stream is still seen.
    #[tokio::test]
    async fn a_full_read_keeps_the_readiness_and_the_end_is_seen() {
        let (server, mut peer) = pair().await;
        let mut buf = [MaybeUninit::uninit(); READ_BUF];
        peer.write_all(&[7u8; READ_BUF + 100]).await.unwrap();
        peer.shutdown().await.unwrap();
        let mut got = 0;
        while got < READ_BUF + 100 {
            server.readable().await.unwrap();
            match read_some(&server, &mut buf) {
                Ok(bytes) => {
                    assert!(bytes.iter().all(|&b| b == 7));
                    got += bytes.len();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, READ_BUF + 100);
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                server.readable().await.unwrap();
                match read_some(&server, &mut buf) {
                    Ok([]) => return,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => panic!("{other:?}"),
                }
            }
        })
        .await
        .expect("end of stream");
    }

    /// What every idle connection keeps for its whole life: the connection's state and
    /// its loop, not the handshake's (another task) nor a handler's (boxed).
    #[test]
    fn idle_state_is_small() {
        let conn = std::mem::size_of::<Conn>();
        let run = future_size(&life);
        eprintln!("Conn {conn} B, the connection task's future {run} B");
        assert!(conn <= 192, "Conn is {conn} bytes");
        assert!(run <= 512, "the connection task's future is {run} bytes");
    }
}
