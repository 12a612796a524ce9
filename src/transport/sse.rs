//! Server-sent events (the Node server has none): `GET /bitrix/sub/` with
//! `Accept: text/event-stream`. Each message is an event `id: <mid>` / `data: <envelope
//! JSON>`; a browser's `EventSource` resumes by itself with `Last-Event-ID`. Comments
//! keep proxies from timing the stream out.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::frames::{self, Wire};
use super::http::{self, Body};
use super::ops_counters::Transport;
use super::outbound::SlicedBody;
use super::subscribe::SubscribeRequest;
use super::{App, Attached, Gauge};
use crate::hub::CloseReason;
use crate::message::Message;

struct Stream {
    app: Arc<App>,
    attached: Attached,
    first: Option<Bytes>,
    /// Messages taken from the replay or the queue and not yet written, oldest first:
    /// written a chunk (`max_send_chunk`) at a time, each when hyper asks for more, i.e.
    /// when the socket took the previous one (issue 10: a whole replay was one buffer).
    pending: VecDeque<Arc<Message>>,
    /// Delivered live (the latency histogram), not replayed.
    live: bool,
    heartbeat: tokio::time::Interval,
    done: bool,
    _gauge: Gauge,
}

pub fn serve(app: Arc<App>, mut req: SubscribeRequest) -> Response<Body> {
    let gauge = app.gauge(|c| &c.sse);
    let sub = app
        .hub
        .subscribe(std::mem::take(&mut req.channels), req.mid);
    let period = app.config.sse_heartbeat;
    let state = Stream {
        app: app.clone(),
        attached: Attached::new(app.hub.clone(), sub.subscriber),
        first: Some(preamble(sub.gap)),
        pending: sub.replay.into(),
        live: false,
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + period, period),
        done: false,
        _gauge: gauge,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(first) = st.first.take() {
            return Some((first, st));
        }
        let bound = st.app.config.max_send_chunk;
        if let Some((msgs, chunk)) = frames::next_chunk(&mut st.pending, Wire::Sse, bound) {
            st.app.ops.delivered(Transport::Sse, &msgs, st.live);
            return Some((chunk, st));
        }
        let chunk = tokio::select! {
            r = st.attached.sub.recv() => match r {
                Ok(msgs) => {
                    st.pending = msgs.into();
                    st.live = true;
                    let (msgs, chunk) = frames::next_chunk(&mut st.pending, Wire::Sse, bound)
                        .expect("recv returns at least one message");
                    st.app.ops.delivered(Transport::Sse, &msgs, true);
                    chunk
                }
                Err(reason) => {
                    st.done = true;
                    Bytes::from_static(close_event(reason))
                }
            },
            _ = st.heartbeat.tick() => Bytes::from_static(PING),
        };
        Some((chunk, st))
    });
    let body = SlicedBody::new(stream, &app.outbound).boxed_unsync();
    head().map(|()| body)
}

/// The stream's head (its body is chunked).
pub fn head() -> Response<()> {
    let mut r = http::head(StatusCode::OK, "text/event-stream");
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx would otherwise buffer the stream.
    h.insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    r
}

/// What a stream starts with: the reconnect delay, a comment, and the gap event when the
/// client's resume point is no longer kept.
pub fn preamble(gap: bool) -> Bytes {
    // `retry` makes EventSource reconnect after 2 s (its default varies by browser).
    let mut first = b"retry: 2000\n: bxpush\n\n".to_vec();
    if gap {
        first.extend_from_slice(b"event: history_gap\ndata: {}\n\n");
    }
    Bytes::from(first)
}

/// The event that ends a stream the hub closed.
pub fn close_event(reason: CloseReason) -> &'static [u8] {
    match reason {
        CloseReason::TooManyConnections => b"event: close\ndata: 4029\n\n",
        CloseReason::SlowReader => b"event: close\ndata: slow reader\n\n",
        CloseReason::Shutdown => b"event: close\ndata: shutdown\n\n",
    }
}

/// The heartbeat comment.
pub const PING: &[u8] = b": ping\n\n";
