//! WebSocket subscribers (spec §2.3): text or protobuf frames, replay after `mid`, pings
//! with dead-peer termination, client `RequestBatch` frames in binary mode. A bad channel
//! list never gets here: the upgrade is refused with HTTP 400 (see `transport::upgrade`).
//!
//! Frames are sent as soon as a message is queued; what is already queued when the
//! socket is writable goes out together (no 400 ms window as in the Node server). A replay
//! or a batch is cut into frames of at most `max_send_chunk` bytes (`frames::next_chunk`),
//! each written only once the socket took the previous one (`ws_send`), so a peer that
//! stops reading holds one frame, not its whole history; it is cut after `write_timeout`
//! (`write_deadline`) or, when its queue overflows, closed with 1008. A peer that breaks
//! the protocol is closed with 1002, one whose frame is over `max_payload` with 1009,
//! invalid UTF-8 text with 1007 (each counted as a bad request by code).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::frames::{self, Wire};
use super::ops_counters::{ConnError, Transport};
use super::outbound::Held;
use super::subscribe::SubscribeRequest;
use super::ws_deadline::Deadline;
use super::{client_publish, ws_send, App, Attached, Gauge};
use crate::message::Message;

type Ws = WebSocketStream<Deadline<TokioIo<Upgraded>>>;

/// Small buffers: tungstenite's default 128 KiB read buffer would cost that much per idle
/// connection (see DESIGN.md); with 0 it reads a frame header on demand. Its write buffer
/// carries only control frames (data frames: `ws_send`), so it needs no bound of ours.
/// Public for the fuzz target `ws_frames`, which reads client bytes with exactly this
/// configuration.
pub fn ws_config(max_payload: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(0)
        .write_buffer_size(0)
        .max_message_size(Some(max_payload))
        .max_frame_size(Some(max_payload))
}

/// What a subscribed socket keeps for its whole life (the idle task holds only this and
/// the loop's own small state: see DESIGN.md on per-connection cost).
struct Conn {
    app: Arc<App>,
    ws: Ws,
    req: SubscribeRequest,
    attached: Attached,
    _gauge: Gauge,
}

pub async fn serve(app: Arc<App>, upgraded: Upgraded, req: SubscribeRequest) {
    // Boxed: the handshake's state is freed when it is done instead of sizing the task's
    // future for the connection's whole life.
    let Some(mut conn) = Box::pin(open(app, upgraded, req)).await else {
        return;
    };
    run(&mut conn).await;
}

/// Wrap the upgraded socket, subscribe and send the replay. `None` when the connection is
/// already over.
async fn open(app: Arc<App>, upgraded: Upgraded, mut req: SubscribeRequest) -> Option<Conn> {
    let mut ws = WebSocketStream::from_raw_socket(
        Deadline::new(TokioIo::new(upgraded), app.config.read_timeout),
        Role::Server,
        Some(ws_config(app.config.max_payload)),
    )
    .await;
    let gauge = app.gauge(|c| &c.websockets);
    // The subscriber keeps the channel list; the request need not keep a copy.
    let sub = app
        .hub
        .subscribe(std::mem::take(&mut req.channels), req.mid);
    let attached = Attached::new(app.hub.clone(), sub.subscriber);
    if send(&app, &mut ws, &req, sub.replay.into(), false)
        .await
        .is_err()
    {
        return None;
    }
    Some(Conn {
        app,
        ws,
        req,
        attached,
        _gauge: gauge,
    })
}

/// The connection's life after the handshake. Returns when the socket is done.
async fn run(conn: &mut Conn) {
    let Conn {
        app,
        ws,
        req,
        attached,
        ..
    } = conn;
    let period = app.config.ws_ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut pong_seen = true;
    loop {
        tokio::select! {
            r = attached.sub.recv() => match r {
                // Boxed, like `close`: the sending state would otherwise size this loop's
                // future, which every idle connection keeps for its whole life.
                Ok(msgs) => {
                    if Box::pin(send(app, ws, req, msgs.into(), true)).await.is_err() {
                        return;
                    }
                }
                Err(reason) => {
                    let (code, text) = reason.ws_close();
                    Box::pin(close(ws, code, text)).await;
                    return;
                }
            },
            frame = ws.next() => match frame {
                None => return,
                Some(Err(WsError::Io(e))) if e.kind() == std::io::ErrorKind::TimedOut => {
                    app.bad_request(1008, "websocket: message not finished within read_timeout");
                    Box::pin(close(ws, 1008, "Message not finished in time".into())).await;
                    return;
                }
                Some(Err(e)) => {
                    match violation(&e) {
                        Some((code, text)) => {
                            app.bad_request(code, &format!("websocket: {e}"));
                            Box::pin(close_after_violation(ws, code, text)).await;
                        }
                        // Resets are the clients' business: debug, counted.
                        None => {
                            app.ops.conn_error(ConnError::WebSocket);
                            tracing::debug!(error = %e, "websocket connection error");
                        }
                    }
                    return;
                }
                // A connected subscriber keeps its channels online by being registered;
                // the pong only proves the peer alive (no hub lock per pong).
                Some(Ok(WsMessage::Pong(_))) => pong_seen = true,
                Some(Ok(WsMessage::Binary(data))) if req.binary => {
                    match client_publish::handle(app, req.publisher, &data) {
                        Ok(Some(reply)) => {
                            let reply = Bytes::from(reply);
                            let _held = Held::new(&app.outbound, reply.len());
                            if let Err(e) = Box::pin(ws_send::data_frame(ws, true, &reply)).await {
                                send_failed(app, &e);
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(code) => {
                            app.bad_request(code.code(), &format!("websocket request: {}", code.reason()));
                            let (close_code, reason) = code.ws_close();
                            Box::pin(close(ws, close_code, reason)).await;
                            return;
                        }
                    }
                }
                // Text frames (and binary ones in text mode) are ignored, as in Node;
                // pings are answered by tungstenite; a close is echoed by it.
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if !pong_seen {
                    tracing::debug!("websocket peer did not answer the last ping: terminated");
                    return;
                }
                pong_seen = false;
                if ws.send(WsMessage::Ping(Bytes::from_static(b"ws ping"))).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Send `pending` in order, a frame of at most `max_send_chunk` bytes at a time, each
/// once the socket took the previous one. Messages leave `pending` as their frame is built.
async fn send(
    app: &App,
    ws: &mut Ws,
    req: &SubscribeRequest,
    mut pending: VecDeque<Arc<Message>>,
    live: bool,
) -> Result<(), ()> {
    let wire = if req.binary { Wire::Binary } else { Wire::Text };
    while let Some((msgs, bytes)) =
        frames::next_chunk(&mut pending, wire, app.config.max_send_chunk)
    {
        let payload = if req.binary { bytes } else { utf8(bytes) };
        let _held = Held::new(&app.outbound, payload.len());
        if let Err(e) = ws_send::data_frame(ws, req.binary, &payload).await {
            send_failed(app, &e);
            return Err(());
        }
        app.ops.delivered(Transport::WebSocket, &msgs, live);
    }
    Ok(())
}

/// A frame could not be written: the peer reset, or took nothing for `write_timeout`
/// (counted as stalled where it is detected, `write_deadline`). Nothing can be said to
/// such a peer; its next connection resumes from the last `mid` it got.
fn send_failed(app: &App, e: &WsError) {
    app.ops.conn_error(ConnError::WebSocket);
    tracing::debug!(error = %e, "websocket send failed");
}

/// Envelopes are UTF-8 unless someone published a non-UTF-8 body through the text
/// endpoint (which is not validated, by the protocol); such bytes are replaced.
fn utf8(bytes: Bytes) -> Bytes {
    match std::str::from_utf8(&bytes) {
        Ok(_) => bytes,
        Err(_) => Bytes::from(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// The close code for a read error that is the peer's fault (RFC 6455 §7.4.1), or `None`
/// for a connection that is simply gone.
fn violation(e: &WsError) -> Option<(u16, String)> {
    match e {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(p) => Some((1002, format!("Protocol error: {p}"))),
        WsError::Capacity(c) => Some((1009, format!("Message too big: {c}"))),
        WsError::Utf8(_) => Some((1007, "Invalid UTF-8 in a text message".into())),
        _ => None,
    }
}

async fn close(ws: &mut Ws, code: u16, reason: String) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(reason),
    };
    let _ = ws.close(Some(frame)).await;
    // Give the peer a moment to answer the close so the TCP close is clean.
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// How long a closing connection waits for its peer.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Close after a read error: the frame parser's state is not to be trusted any more, so
/// after the close frame the socket is half-closed and whatever still arrives (the rest
/// of an oversized frame) is read and thrown away until the peer closes or
/// `CLOSE_LINGER` passes. Closing with unread input would send a reset, and a peer that
/// gets a reset may drop the close frame it has not read yet (it saw only a dead TCP
/// connection before this fix).
async fn close_after_violation(ws: &mut Ws, code: u16, reason: String) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(reason),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let io = ws.get_mut();
    let _ = io.shutdown().await;
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        let mut sink = [0u8; 4096];
        while let Ok(n) = io.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
