//! An SSE stream on the raw socket (`sub_conn`): the events of `sse` (same head, preamble,
//! events, heartbeat and close events; chunked as hyper chunks that body: slices of
//! `outbound::SLICE`), and its side of the writer pass.
//!
//! The socket is a `WsSocket` (`ws_socket`): shared by the stream's task and the
//! publisher's fan-out, which writes a message's whole chunk (built once per message on
//! each fan-out thread, [`shared_chunk`]) with one non-blocking `writev` when nothing is
//! queued and the task is not writing; the task writes the replay, what queued while the
//! socket was full, the heartbeat, and finishes a chunk the pass started, in that order,
//! under the same protocol as a WebSocket (`Subscriber::recv` / `done`). Each write waits
//! at most `write_timeout` without progress (then the stream is cut, `stalledCut`).
//!
//! A stream the hub ends (4029, slow reader, shutdown) gets its close event and the last
//! chunk, then the connection closes (hyper kept it open for a next request no
//! `EventSource` sends).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::frames::{self, Wire};
use super::http1_wire::{self, BodyLen, LAST_CHUNK};
use super::ops_counters::Transport;
use super::subscribe::SubscribeRequest;
use super::ws_socket::WsSocket;
use super::{outbound, sse, App, Attached};
use crate::hub::subscriber::{Direct, Offer};
use crate::message::Message;
use crate::protocol::MessageId;

/// Serve one SSE stream until the hub ends it, a write fails or the peer is gone
/// (`close`: the request asked to close after it, which the head says as hyper's does).
pub async fn serve(app: Arc<App>, stream: TcpStream, mut req: SubscribeRequest, close: bool) {
    let _gauge = app.gauge(|c| &c.sse);
    let sub = app
        .hub
        .subscribe(std::mem::take(&mut req.channels), req.mid);
    let attached = Attached::new(app.hub.clone(), sub.subscriber);
    let sock = Arc::new(WsSocket::new(stream));
    let mut stream = Stream {
        app: &app,
        sock: &sock,
    };
    let head = if close {
        http1_wire::closing(sse::head())
    } else {
        sse::head()
    };
    let head = http1_wire::response_head(&head, BodyLen::Chunked);
    let first = http1_wire::chunk(&sse::preamble(sub.gap));
    if stream.write(&[&head, &first]).await.is_err() {
        return;
    }
    if stream.send(sub.replay.into(), false).await.is_err() {
        return;
    }
    // From now on a publish may write straight to this socket.
    attached.sub.attach(Box::new(SseDirect {
        app: app.clone(),
        sock: sock.clone(),
    }));
    let period = app.config.sse_heartbeat;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    // The client has nothing to say on a stream: what it sends is read and dropped, and
    // its end of stream (a closed tab or a half-close) is noticed by the next write.
    let mut reading = true;
    loop {
        tokio::select! {
            r = attached.sub.recv() => match r {
                Ok(msgs) => {
                    if stream.send(msgs.into(), true).await.is_err() {
                        return;
                    }
                    attached.sub.done();
                }
                Err(reason) => {
                    let end = http1_wire::chunk(sse::close_event(reason));
                    let _ = stream.write(&[&end, LAST_CHUNK]).await;
                    return;
                }
            },
            _ = heartbeat.tick() => {
                let ping = http1_wire::chunk(sse::PING);
                if stream.write(&[&ping]).await.is_err() {
                    return;
                }
            }
            r = sock.stream.readable(), if reading => {
                reading = r.is_ok() && super::websocket::discard(&sock.stream);
            }
        }
    }
}

struct Stream<'a> {
    app: &'a Arc<App>,
    sock: &'a Arc<WsSocket>,
}

impl Stream<'_> {
    /// Write `parts` whole after anything the pass left unfinished (counted delivered once
    /// whole).
    async fn write(&mut self, parts: &[&[u8]]) -> Result<(), ()> {
        let app = self.app;
        match self
            .sock
            .write(parts, app.config.write_timeout, &app.outbound)
            .await
        {
            Ok(Some(msg)) => {
                app.ops
                    .delivered(Transport::Sse, std::slice::from_ref(&msg), true);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::debug!(error = %e, "sse stream cut");
                Err(())
            }
        }
    }

    /// Write `pending` a chunk (`max_send_chunk`) at a time; with nothing pending, finish
    /// what the pass started.
    async fn send(&mut self, mut pending: VecDeque<Arc<Message>>, live: bool) -> Result<(), ()> {
        if pending.is_empty() {
            return self.write(&[]).await;
        }
        let bound = self.app.config.max_send_chunk;
        while let Some((msgs, events)) = frames::next_chunk(&mut pending, Wire::Sse, bound) {
            // What the socket has not taken yet is counted in `sendingBytes` (`write_all`).
            self.write(&[&http1_wire::chunked(&events, outbound::SLICE)])
                .await?;
            self.app.ops.delivered(Transport::Sse, &msgs, live);
        }
        Ok(())
    }
}

/// The SSE stream's side of the writer pass.
struct SseDirect {
    app: Arc<App>,
    sock: Arc<WsSocket>,
}

impl Direct for SseDirect {
    fn offer(&self, msg: &Arc<Message>) -> Offer {
        let chunk = shared_chunk(msg);
        let offer = self.sock.try_frame(&chunk, msg, &self.app.outbound);
        if offer == Offer::Written {
            self.app
                .ops
                .delivered(Transport::Sse, std::slice::from_ref(msg), true);
        }
        offer
    }
}

/// `msg`'s event as one chunk, built once per message on each fan-out thread and shared
/// by every stream it goes to.
fn shared_chunk(msg: &Arc<Message>) -> Bytes {
    thread_local! {
        static BUILT: RefCell<Option<(MessageId, Bytes)>> = const { RefCell::new(None) };
    }
    BUILT.with(|built| {
        let mut built = built.borrow_mut();
        if let Some((mid, chunk)) = &*built {
            if *mid == msg.mid {
                return chunk.clone();
            }
        }
        let events = frames::sse_events(std::slice::from_ref(msg));
        let chunk = http1_wire::chunked(&events, outbound::SLICE);
        *built = Some((msg.mid, chunk.clone()));
        chunk
    })
}
