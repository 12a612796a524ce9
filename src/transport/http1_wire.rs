//! HTTP/1.1 on the wire for the subscriber requests served outside hyper (`sub_conn`):
//! a request head read with `httparse` (hyper's own parser), and a response head written
//! byte for byte as hyper writes it, so a client cannot tell the two paths apart.
//!
//! hyper's encoder (`proto::h1::role::Server::encode`, hyper 1.x): the status line
//! (`HTTP/1.1 200 OK` for 200, else code + canonical reason), every header of the map in
//! insertion order with its lower-case name, then `content-length: N` (not for 304/204;
//! `0` for an empty body) or `transfer-encoding: chunked` for a body of unknown length,
//! then `date: <IMF-fixdate>` (cached per second) and the empty line. Chunks are
//! `<SIZE in upper-case hex>\r\n<data>\r\n`, the last one `0\r\n\r\n`.
//!
//! No sockets here.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use hyper::{Response, StatusCode};

/// The body that follows a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLen {
    /// Exactly this many bytes (`content-length`).
    Known(usize),
    /// A stream of chunks (`transfer-encoding: chunked`).
    Chunked,
}

/// The response head hyper writes for `head` and a body of `body`.
pub fn response_head(head: &Response<()>, body: BodyLen) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_head(&mut out, head, body);
    out
}

fn write_head(out: &mut Vec<u8>, head: &Response<()>, body: BodyLen) {
    let status = head.status();
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in head.headers() {
        // The framing headers are this function's to write, as they are hyper's.
        debug_assert!(
            name != hyper::header::CONTENT_LENGTH
                && name != hyper::header::TRANSFER_ENCODING
                && name != hyper::header::DATE,
            "{name} is written by the encoder"
        );
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let may_have_body = !matches!(status, StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT);
    match body {
        BodyLen::Known(n) if may_have_body => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        BodyLen::Chunked if may_have_body => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        _ => {}
    }
    out.extend_from_slice(b"date: ");
    with_date(|d| out.extend_from_slice(d));
    out.extend_from_slice(b"\r\n\r\n");
}

/// `data` as one chunk of a chunked body (not empty: an empty chunk ends the body).
pub fn chunk(data: &[u8]) -> Bytes {
    debug_assert!(!data.is_empty(), "an empty chunk would end the stream");
    let mut out = BytesMut::with_capacity(data.len() + 20);
    out.put_slice(format!("{:X}\r\n", data.len()).as_bytes());
    out.put_slice(data);
    out.put_slice(b"\r\n");
    out.freeze()
}

/// `data` as consecutive chunks of at most `slice` bytes: what hyper writes for a body
/// frame handed over in slices (`outbound::SlicedBody`).
pub fn chunked(data: &[u8], slice: usize) -> Bytes {
    let slice = slice.max(1);
    let mut out = BytesMut::with_capacity(data.len() + 20 * (data.len() / slice + 1));
    for piece in data.chunks(slice) {
        out.put_slice(format!("{:X}\r\n", piece.len()).as_bytes());
        out.put_slice(piece);
        out.put_slice(b"\r\n");
    }
    out.freeze()
}

/// The end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The current `date` value (IMF-fixdate, 29 bytes), formatted once per second per thread
/// as hyper caches it.
pub fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    thread_local! {
        static CACHED: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let text = httpdate::fmt_http_date(now);
            let n = text.len().min(29);
            c.1[..n].copy_from_slice(&text.as_bytes()[..n]);
            c.0 = secs;
        }
        f(&c.1)
    })
}

/// The unix second the current `date` value names (a cache key for heads built once).
pub fn date_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Most headers a request served outside hyper may have (hyper allows 100: a request with
/// more is handed to hyper, which answers it).
const MAX_HEADERS: usize = 64;

/// What a request head says, as far as choosing its path goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of the head, the empty line included.
    pub len: usize,
    /// A subscriber request this path serves: `GET` of `/bitrix/sub/` or
    /// `/bitrix/subws/`, HTTP/1.1, no body, no upgrade, no `Expect`, keep-alive.
    pub sub: Option<SubHead>,
}

/// The parts of a subscriber request the long poll and SSE need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubHead {
    /// The query string (after `?`), if any.
    pub query: Option<String>,
    /// `Accept` names `text/event-stream`.
    pub sse: bool,
    /// The `Last-Event-ID` header.
    pub last_event_id: Option<String>,
    /// `Connection: close`: the answer says so (as hyper's does) and the connection ends.
    pub close: bool,
}

/// The outcome of reading the bytes of a request head so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// More bytes are needed.
    Partial,
    /// A complete head.
    Complete(RequestHead),
    /// Not a request hyper would accept either (or one with more than [`MAX_HEADERS`]
    /// headers): hyper answers it.
    Invalid,
}

/// Parse a request head from the start of `buf`.
pub fn parse_request(buf: &[u8], sub_prefixes: &[&str]) -> Parse {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parse::Partial,
        Err(_) => return Parse::Invalid,
    };
    let sub = sub_head(&req, sub_prefixes);
    Parse::Complete(RequestHead { len, sub })
}

fn sub_head(req: &httparse::Request, sub_prefixes: &[&str]) -> Option<SubHead> {
    if req.method != Some("GET") || req.version != Some(1) {
        return None;
    }
    let target = req.path?;
    // Only what hyper's `Uri` takes as an origin-form target: anything else is hyper's
    // to answer (400), as before.
    let uri: hyper::Uri = target.parse().ok()?;
    if uri.scheme().is_some() || !target.starts_with('/') {
        return None;
    }
    let path = uri.path();
    if !sub_prefixes.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    // As the hyper path reads them: the first `Accept` and `Last-Event-ID` count.
    let mut accept = None;
    let mut last_event_id = None;
    let mut close = false;
    for h in req.headers.iter() {
        let name = h.name;
        let value = visible_ascii(h.value);
        if name.eq_ignore_ascii_case("accept") {
            accept.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("last-event-id") {
            last_event_id.get_or_insert(value.map(str::to_string));
        } else if name.eq_ignore_ascii_case("connection") {
            // `keep-alive` (what browsers send) is the default, `close` is served here;
            // `upgrade` or anything else: hyper's.
            match value.map(str::trim) {
                Some(v) if v.eq_ignore_ascii_case("keep-alive") => {}
                Some(v) if v.eq_ignore_ascii_case("close") => close = true,
                _ => return None,
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if value.map(str::trim) != Some("0") {
                return None;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return None;
        }
    }
    Some(SubHead {
        query: uri.query().map(str::to_string),
        sse: accept
            .flatten()
            .is_some_and(|v| v.contains("text/event-stream")),
        last_event_id: last_event_id.flatten(),
        close,
    })
}

/// A header value as `HeaderValue::to_str` gives it: visible ASCII and tabs only.
fn visible_ascii(v: &[u8]) -> Option<&str> {
    v.iter()
        .all(|&b| b == b'\t' || (32..127).contains(&b))
        .then(|| std::str::from_utf8(v).ok())
        .flatten()
}

/// Mark `head` as the connection's last answer (`connection: close`, after the other
/// headers, where hyper adds it when the request asked to close).
pub fn closing(mut head: Response<()>) -> Response<()> {
    head.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    const SUB: &[&str] = &["/bitrix/subws/", "/bitrix/sub/"];

    fn head_of(status: StatusCode) -> Response<()> {
        let mut r = Response::new(());
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        h.insert("X-Bxpush-History-Gap", HeaderValue::from_static("1"));
        r
    }

    #[test]
    fn heads_are_written_as_hyper_writes_them() {
        let text = |st, b| String::from_utf8(response_head(&head_of(st), b)).unwrap();
        let ok = text(StatusCode::OK, BodyLen::Known(12));
        let date = with_date(|d| String::from_utf8(d.to_vec()).unwrap());
        assert_eq!(
            ok,
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-bxpush-history-gap: 1\r\n\
                 content-length: 12\r\ndate: {date}\r\n\r\n"
            )
        );
        assert_eq!(date.len(), 29);
        assert!(date.ends_with(" GMT"));
        let nm = text(StatusCode::NOT_MODIFIED, BodyLen::Known(0));
        assert!(nm.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{nm}");
        assert!(!nm.contains("content-length"), "{nm}");
        let empty = text(StatusCode::BAD_REQUEST, BodyLen::Known(0));
        assert!(empty.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(empty.contains("content-length: 0\r\n"));
        let stream = text(StatusCode::OK, BodyLen::Chunked);
        assert!(stream.contains("\r\ntransfer-encoding: chunked\r\ndate: "));
    }

    #[test]
    fn chunks_carry_their_size_in_upper_case_hex() {
        assert_eq!(&chunk(b"hello")[..], b"5\r\nhello\r\n");
        assert_eq!(&chunk(&[b'x'; 300])[..5], b"12C\r\n");
        assert_eq!(
            &chunked(b"abcde", 2)[..],
            b"2\r\nab\r\n2\r\ncd\r\n1\r\ne\r\n"
        );
        assert_eq!(chunked(&[b'x'; 300], 1000), chunk(&[b'x'; 300]));
    }

    fn parse(req: &str) -> Parse {
        parse_request(req.as_bytes(), SUB)
    }

    fn sub(req: &str) -> Option<SubHead> {
        match parse(req) {
            Parse::Complete(h) => {
                assert_eq!(h.len, req.len());
                h.sub
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_plain_subscriber_gets_take_the_own_path() {
        let lp = sub("GET /bitrix/sub/?CHANNEL_ID=abc&mid=1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(lp.query.as_deref(), Some("CHANNEL_ID=abc&mid=1"));
        assert!(!lp.sse);
        let sse = sub(
            "GET /bitrix/subws/?CHANNEL_ID=a HTTP/1.1\r\nAccept: text/event-stream\r\n\
             Last-Event-ID: 42\r\nConnection: keep-alive\r\n\r\n",
        )
        .unwrap();
        assert!(sse.sse);
        assert_eq!(sse.last_event_id.as_deref(), Some("42"));
        assert!(!sse.close);
        let closing = sub("GET /bitrix/sub/?x HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(closing.close);
        // hyper's: other routes, methods, versions, upgrades, bodies, close.
        for other in [
            "GET /bitrix/rest/ HTTP/1.1\r\n\r\n",
            "POST /bitrix/sub/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET /bitrix/sub/ HTTP/1.0\r\n\r\n",
            "GET /bitrix/sub/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "GET /bitrix/sub/ HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "GET /bitrix/sub/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /bitrix/sub/ HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
            "GET /bitrix/sub/ HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET http://h/bitrix/sub/ HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(sub(other), None, "{other}");
        }
        assert_eq!(parse("GET /bitrix/sub/ HTTP/1.1\r\nHost"), Parse::Partial);
        assert_eq!(
            parse("GET /bitrix/sub/ HTTP/1.1\r\nHo st: x\r\n\r\n"),
            Parse::Invalid
        );
        let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET /bitrix/sub/ HTTP/1.1\r\n{many}\r\n")),
            Parse::Invalid
        );
    }
}
