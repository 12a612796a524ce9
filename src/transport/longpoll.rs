//! Long polling (spec §2.2): replay after `mid` at once, else park until a message
//! arrives or the hold time ends with `304` + `Last-Message-Id` + the magic `Expires`.
//!
//! A reply carries at most `max_send_chunk` bytes of messages (`frames::chunk_len`; one
//! larger message goes alone): both stock clients take the last message's `mid` from a
//! reply and ask again with it at once (spec §2.2), so a long replay arrives over several
//! polls, each message once and in order, and a client that never reads holds one chunk,
//! not its whole history (issue 10, finding 1). What a live wake-up brings beyond the
//! chunk is stored history (the next poll replays it) or live-only (expiry 0), which long
//! polling could never promise: it is lost between two polls as well.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::frames::{self, Wire};
use super::http::{self, Body};
use super::ops_counters::Transport;
use super::subscribe::SubscribeRequest;
use super::{outbound, App, Attached};
use crate::hub::CloseReason;
use crate::message::Message;
use crate::protocol::{ChannelKey, ErrorCode, MessageId};

/// The date the Bitrix client checks before it takes `Last-Message-Id` as its `mid`.
const MAGIC_EXPIRES: &str = "Thu, 01 Jan 1973 11:11:01 GMT";

pub async fn serve(app: Arc<App>, mut req: SubscribeRequest) -> Response<Body> {
    let _gauge = app.gauge(|c| &c.pollings);
    let sub = app
        .hub
        .subscribe(std::mem::take(&mut req.channels), req.mid);
    let attached = Attached::new(app.hub.clone(), sub.subscriber);
    if !sub.replay.is_empty() {
        return reply(&app, &req, &sub.replay, sub.gap, false);
    }
    match tokio::time::timeout(app.config.long_poll_timeout, attached.sub.recv()).await {
        // A gap with nothing left to replay (everything after the resume point was
        // evicted or expired) is told by whichever answer ends this poll.
        Ok(Ok(msgs)) => reply(&app, &req, &msgs, sub.gap, true),
        Ok(Err(CloseReason::TooManyConnections)) => http::error(ErrorCode::TooManyConnections),
        // Timeout, shutdown or overflow: tell the client where it stands; it asks again.
        Ok(Err(_)) | Err(_) => {
            let mut r = not_modified(&app, &req, &attached.sub.channels);
            if sub.gap {
                mark_gap(&mut r);
            }
            r
        }
    }
}

/// `X-Bxpush-History-Gap: 1`: messages after the client's `mid` are no longer kept.
fn mark_gap<B>(r: &mut Response<B>) {
    r.headers_mut()
        .insert("X-Bxpush-History-Gap", HeaderValue::from_static("1"));
}

/// `200` with the first chunk of `msgs` (not empty).
fn reply(
    app: &App,
    req: &SubscribeRequest,
    msgs: &[Arc<Message>],
    gap: bool,
    live: bool,
) -> Response<Body> {
    let (head, body) = reply_parts(app, req.binary, msgs, gap, live);
    head.map(|()| outbound::once(body, &app.outbound).boxed_unsync())
}

/// The head and body of a `200` with the first chunk of `msgs` (not empty), counted as
/// delivered.
pub fn reply_parts(
    app: &App,
    binary: bool,
    msgs: &[Arc<Message>],
    gap: bool,
    live: bool,
) -> (Response<()>, Bytes) {
    let wire = if binary { Wire::Binary } else { Wire::Text };
    let msgs = &msgs[..frames::chunk_len(msgs, wire, app.config.max_send_chunk)];
    app.ops.delivered(Transport::LongPoll, msgs, live);
    (reply_head(binary, gap), wire.encode(msgs))
}

/// The head of a `200` reply: the body's content type, CORS, `Last-Message-Id` exposed,
/// the gap mark.
pub fn reply_head(binary: bool, gap: bool) -> Response<()> {
    let content_type = if binary { http::BINARY } else { http::TEXT };
    let mut r = http::head(StatusCode::OK, content_type);
    http::expose_last_message_id(&mut r);
    if gap {
        mark_gap(&mut r);
    }
    r
}

fn not_modified(app: &App, req: &SubscribeRequest, channels: &[ChannelKey]) -> Response<Body> {
    not_modified_head(app, req.mid, channels, false).map(|()| http::empty())
}

/// The head of the `304` that ends a poll nothing arrived for: where the client stands
/// (its `mid`, or the newest id of its channels), the magic `Expires`, the gap mark.
pub fn not_modified_head(
    app: &App,
    mid: Option<MessageId>,
    channels: &[ChannelKey],
    gap: bool,
) -> Response<()> {
    let last = match mid {
        Some(mid) => mid.to_string(),
        None => app
            .hub
            .newest(channels)
            .map(|m| m.to_string())
            .unwrap_or_default(),
    };
    let mut r = http::head(StatusCode::NOT_MODIFIED, "text/plain");
    http::expose_last_message_id(&mut r);
    let h = r.headers_mut();
    h.insert(
        "Last-Message-Id",
        HeaderValue::from_str(&last).unwrap_or(HeaderValue::from_static("")),
    );
    h.insert(header::EXPIRES, HeaderValue::from_static(MAGIC_EXPIRES));
    if gap {
        mark_gap(&mut r);
    }
    r
}
