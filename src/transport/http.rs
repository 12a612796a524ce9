//! Response builders and request-body reading shared by every endpoint: the CORS and
//! error conventions of the Node server (spec §2.0) live here and nowhere else.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::protocol::ErrorCode;

/// The body type of every response (a full buffer or an SSE stream).
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().boxed_unsync()
}

pub const TEXT: &str = "text/plain";
pub const BINARY: &str = "application/octet-stream";

/// A response with the headers every Node response carries.
pub fn response(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    head(status, content_type).map(|()| body)
}

/// The status and headers of [`response`] without a body: what the subscriber path that
/// writes its own responses (`sub_conn`) encodes.
pub fn head(status: StatusCode, content_type: &str) -> Response<()> {
    let mut r = Response::new(());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("ascii"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    response(status, TEXT, full(body))
}

pub fn binary(body: impl Into<Bytes>) -> Response<Body> {
    response(StatusCode::OK, BINARY, full(body))
}

/// `200 text/plain` with an empty body: what every publish answers (PHP reads only the
/// status; a non-JSON body would make it report a failure).
pub fn ok_empty() -> Response<Body> {
    response(StatusCode::OK, TEXT, empty())
}

/// The protocol error as HTTP: status from the code, body `"<code>: <text>"`.
pub fn error(code: ErrorCode) -> Response<Body> {
    let (head, body) = error_parts(code);
    head.map(|()| full(body))
}

/// [`error`]'s head and body.
pub fn error_parts(code: ErrorCode) -> (Response<()>, Bytes) {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = head(status, TEXT);
    expose_last_message_id(&mut r);
    (r, Bytes::from(code.reason()))
}

pub fn expose_last_message_id<B>(r: &mut Response<B>) {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Last-Message-Id"),
    );
}

pub fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, Bytes::new())
}

/// OPTIONS on any route: the CORS pre-flight answer of the Node server.
pub fn options() -> Response<Body> {
    let mut r = ok_empty();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, GET, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("If-Modified-Since, If-None-Match"),
    );
    r
}

/// `413` and close the connection: the body is larger than `max_payload`.
pub fn too_large() -> Response<Body> {
    let mut r = text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large");
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// `408` and close the connection: the body did not arrive within `read_timeout`.
pub fn timed_out() -> Response<Body> {
    let mut r = text(StatusCode::REQUEST_TIMEOUT, "Request Timeout");
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Why a body could not be read.
pub enum BodyError {
    TooLarge,
    /// Not all of it arrived within the read timeout (a stalled or slowloris body).
    TimedOut,
    /// The peer went away or sent a broken body; nothing to answer.
    Broken,
}

/// Read a whole request body, at most `limit` bytes, all of it within `timeout` (a GET
/// with a body is fine). The deadline covers the whole body, not each read: a peer
/// trickling a byte now and then must not hold its buffer forever.
pub async fn read_body(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}
