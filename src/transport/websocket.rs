//! WebSocket subscribers (spec §2.3): text or protobuf frames, replay after `mid`, pings
//! with dead-peer termination, client `RequestBatch` frames in binary mode. A bad channel
//! list never gets here: the upgrade is refused with HTTP 400 (see `transport::upgrade`).
//!
//! Frames are sent as soon as a message is queued; what is already queued when the
//! socket is writable goes out as one frame (no 400 ms window as in the Node server).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::ops_counters::{ConnError, Transport};
use super::subscribe::SubscribeRequest;
use super::ws_deadline::Deadline;
use super::{client_publish, frames, App, Attached, Gauge};
use crate::message::Message;

type Ws = WebSocketStream<Deadline<TokioIo<Upgraded>>>;

/// Small buffers: tungstenite's default 128 KiB read buffer would cost that much per idle
/// connection (see DESIGN.md); with 0 it reads a frame header on demand. Public for the
/// fuzz target `ws_frames`, which reads client bytes with exactly this configuration.
pub fn ws_config(max_payload: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(0)
        .write_buffer_size(0)
        .max_write_buffer_size(max_payload.saturating_mul(4).max(64 * 1024))
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
    if !sub.replay.is_empty() {
        if send(&mut ws, &req, &sub.replay).await.is_err() {
            return None;
        }
        app.ops.delivered(Transport::WebSocket, &sub.replay, false);
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
                Ok(msgs) => {
                    if send(ws, req, &msgs).await.is_err() {
                        return;
                    }
                    app.ops.delivered(Transport::WebSocket, &msgs, true);
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
                // Resets and broken frames are the clients' business: debug, counted.
                Some(Err(e)) => {
                    app.ops.conn_error(ConnError::WebSocket);
                    tracing::debug!(error = %e, "websocket connection error");
                    return;
                }
                // A connected subscriber keeps its channels online by being registered;
                // the pong only proves the peer alive (no hub lock per pong).
                Some(Ok(WsMessage::Pong(_))) => pong_seen = true,
                Some(Ok(WsMessage::Binary(data))) if req.binary => {
                    match client_publish::handle(app, req.publisher, &data) {
                        Ok(Some(reply)) => {
                            if ws.send(WsMessage::Binary(reply.into())).await.is_err() {
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

async fn send(ws: &mut Ws, req: &SubscribeRequest, msgs: &[Arc<Message>]) -> Result<(), ()> {
    let frame = if req.binary {
        WsMessage::Binary(frames::binary_batch(msgs))
    } else {
        WsMessage::Text(text_frame(frames::text_batch(msgs)))
    };
    ws.send(frame).await.map_err(|_| ())
}

/// Envelopes are UTF-8 unless someone published a non-UTF-8 body through the text
/// endpoint (which is not validated, by the protocol); such bytes are replaced.
fn text_frame(bytes: Bytes) -> Utf8Bytes {
    match std::str::from_utf8(&bytes) {
        // SAFETY: just checked to be valid UTF-8.
        Ok(_) => unsafe { Utf8Bytes::from_bytes_unchecked(bytes) },
        Err(_) => Utf8Bytes::from(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

async fn close(ws: &mut Ws, code: u16, reason: String) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(reason),
    };
    let _ = ws.close(Some(frame)).await;
    // Give the peer a moment to answer the close so the TCP close is clean.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
