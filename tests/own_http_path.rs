//! Long polls and SSE streams served on the raw socket (`transport::sub_conn`, issue 11
//! item 4), not by hyper: the same bytes as hyper's answers, keep-alive polls that end
//! with a request handed to hyper on the same connection, and the writer pass's rules for
//! sockets that are full (a reply finished whole, in order, cut at the bound, nobody else
//! held up).
//!
//! A request hyper serves is made by adding a token to `Connection` (`keep-alive, te`):
//! the own path takes only `keep-alive` or `close`, so the same request goes to hyper and
//! the two answers can be compared byte for byte (the `date` value aside).
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const OWN: &str = "Connection: keep-alive\r\n";
const HYPER: &str = "Connection: keep-alive, te\r\n";

fn query(c: &Channel, extra: &str) -> String {
    format!("CHANNEL_ID={}{extra}", enc(&c.descriptor()))
}

fn poll_request(q: &str, headers: &str) -> String {
    format!("GET /bitrix/sub/?{q} HTTP/1.1\r\nHost: x\r\n{headers}\r\n")
}

async fn send(addr: SocketAddr, req: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// One whole response from a keep-alive connection: head and `content-length` body.
async fn read_response(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + len {
                    assert_eq!(buf.len(), end + 4 + len, "nothing after the response");
                    return;
                }
            }
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no whole response: {}", String::from_utf8_lossy(&buf)));
    buf
}

/// Read until `needle` has appeared `count` times.
async fn read_until(s: &mut TcpStream, needle: &[u8], count: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    tokio::time::timeout(Duration::from_secs(20), async {
        while buf.windows(needle.len()).filter(|w| *w == needle).count() < count {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out: {}", String::from_utf8_lossy(&buf)));
    buf
}

/// The bytes with the `date` header's value blanked (the two answers may straddle a second).
fn undated(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).into_owned();
    match text.find("\r\ndate: ") {
        Some(i) => format!("{}\r\ndate: -{}", &text[..i], &text[i + 8 + 29..]),
        None => text,
    }
}

async fn stat(publ: SocketAddr) -> serde_json::Value {
    let r = get(publ, "/server-stat/").await;
    serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()[0].clone()
}

async fn wait_pollings(publ: SocketAddr, n: i64) {
    eventually(10, async || stat(publ).await["pollings"] == n).await;
}

/// Every answer of a long poll (304, replay, live text and binary, `Connection: close`)
/// and an SSE stream's head, preamble and event: the same bytes from both paths.
#[tokio::test]
async fn answers_are_the_bytes_hyper_writes() {
    let s = TestServer::with(|c| c.long_poll_timeout = Duration::from_secs(1)).await;
    let c = Channel::random();
    let compare = async |own: Vec<u8>, hyper: Vec<u8>, what: &str| {
        assert!(!own.is_empty(), "{what}");
        assert_eq!(undated(&own), undated(&hyper), "{what}");
    };

    // Idle: 304 after the hold time.
    let q = query(&c, "&mid=17959531890000000000000099");
    let (mut a, mut b) = (
        send(s.sub, &poll_request(&q, OWN)).await,
        send(s.sub, &poll_request(&q, HYPER)).await,
    );
    let (own, hyper) = tokio::join!(read_response(&mut a), read_response(&mut b));
    assert!(own.starts_with(b"HTTP/1.1 304 Not Modified\r\n"));
    compare(own, hyper, "304").await;

    // Live, text and binary: released by one publish.
    let mut pairs = Vec::new();
    for extra in ["", "&binaryMode=true"] {
        let q = query(&c, extra);
        pairs.push((
            send(s.sub, &poll_request(&q, OWN)).await,
            send(s.sub, &poll_request(&q, HYPER)).await,
        ));
    }
    wait_pollings(s.publ, 4).await;
    s.publish(&[&c], &php_body("live", "1"), 3600).await;
    for (i, (a, b)) in pairs.iter_mut().enumerate() {
        let (own, hyper) = tokio::join!(read_response(a), read_response(b));
        assert!(own.starts_with(b"HTTP/1.1 200 OK\r\n"));
        compare(own, hyper, &format!("live {i}")).await;
    }

    // Replay, keep-alive and `Connection: close` (answered `connection: close`).
    let q = query(&c, "&mid=00000000000000000000000000");
    for (own, hyper) in [
        (OWN, HYPER),
        ("Connection: close\r\n", "Connection: close, te\r\n"),
    ] {
        let (mut a, mut b) = (
            send(s.sub, &poll_request(&q, own)).await,
            send(s.sub, &poll_request(&q, hyper)).await,
        );
        let (own, hyper) = tokio::join!(read_response(&mut a), read_response(&mut b));
        assert!(own.starts_with(b"HTTP/1.1 200 OK\r\n"));
        compare(own, hyper, "replay").await;
    }

    // SSE: head and preamble, then one event.
    let sse = |h: &str| format!("Accept: text/event-stream\r\n{h}");
    let q = query(&c, "");
    let (mut a, mut b) = (
        send(s.sub, &poll_request(&q, &sse(OWN))).await,
        send(s.sub, &poll_request(&q, &sse(HYPER))).await,
    );
    let (own, hyper) = tokio::join!(
        read_until(&mut a, b": bxpush\n\n\r\n", 1),
        read_until(&mut b, b": bxpush\n\n\r\n", 1)
    );
    assert!(undated(&own).contains("transfer-encoding: chunked\r\n"));
    compare(own, hyper, "sse head").await;
    eventually(10, async || stat(s.publ).await["bxpush"]["sse"] == 2).await;
    s.publish(&[&c], &php_body("sse", "2"), 0).await;
    let (own, hyper) = tokio::join!(
        read_until(&mut a, b"\n\n\r\n", 1),
        read_until(&mut b, b"\n\n\r\n", 1)
    );
    assert!(String::from_utf8_lossy(&own).contains("\"command\":\"sse\""));
    compare(own, hyper, "sse event").await;
}

/// One keep-alive connection: polls answered by the pass and by replay, then a request
/// the own path does not serve (OPTIONS) goes to hyper with the bytes read, and hyper
/// serves the rest (another poll). On another connection a poll is followed by a
/// WebSocket upgrade with a ping right behind it in the same write: the socket leaves
/// hyper with those bytes and the ping is answered.
#[tokio::test]
async fn a_connection_keeps_polling_then_hands_over_to_hyper() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut conn = send(s.sub, &poll_request(&query(&c, ""), "")).await;
    wait_pollings(s.publ, 1).await;
    s.publish(&[&c], &php_body("m", "1"), 3600).await;
    let r = parse_reply(&read_response(&mut conn).await);
    assert_eq!(r.status, 200);
    let mid = envelopes(&r.text())[0]["mid"].as_str().unwrap().to_string();
    // The same connection, parked again from that id, released by the next message.
    let q = query(&c, &format!("&mid={mid}"));
    conn.write_all(poll_request(&q, "").as_bytes())
        .await
        .unwrap();
    wait_pollings(s.publ, 1).await;
    s.publish(&[&c], &php_body("m", "2"), 3600).await;
    let r = parse_reply(&read_response(&mut conn).await);
    assert_eq!(envelopes(&r.text())[0]["text"]["params"]["text"], "2");
    // OPTIONS is hyper's.
    conn.write_all(b"OPTIONS /bitrix/sub/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let r = parse_reply(&read_response(&mut conn).await);
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-methods").is_some());
    // From now on hyper serves the connection: a poll still works.
    conn.write_all(poll_request(&q, "").as_bytes())
        .await
        .unwrap();
    let r = parse_reply(&read_response(&mut conn).await);
    assert_eq!(envelopes(&r.text())[0]["text"]["params"]["text"], "2");

    // Poll, then upgrade on the same connection with a masked ping behind the request.
    let c2 = Channel::random();
    let mut conn = send(s.sub, &poll_request(&query(&c2, ""), "")).await;
    wait_pollings(s.publ, 1).await;
    s.publish(&[&c2], &php_body("m", "3"), 0).await;
    assert_eq!(parse_reply(&read_response(&mut conn).await).status, 200);
    let mut upgrade = format!(
        "GET /bitrix/subws/?{} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        query(&c2, "")
    )
    .into_bytes();
    // FIN + ping, masked, 2 bytes "hi" (mask 1,2,3,4).
    upgrade.extend_from_slice(&[0x89, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
    conn.write_all(&upgrade).await.unwrap();
    let got = read_until(&mut conn, b"\x8a\x02hi", 1).await;
    assert!(got.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
}

/// Two polls pipelined in one write: the second is already read when the pass answers
/// the first, so the socket will not turn readable for it; it is served at once (here a
/// replay), not after the first poll's hold time (60 s: longer than `read_response`
/// waits).
#[tokio::test]
async fn a_pipelined_poll_is_served_right_after_the_one_before_it() {
    let s = TestServer::with(|c| c.long_poll_timeout = Duration::from_secs(60)).await;
    let c = Channel::random();
    let first = poll_request(&query(&c, ""), "");
    let second = poll_request(&query(&c, "&mid=00000000000000000000000000"), "");
    let mut conn = send(s.sub, &format!("{first}{second}")).await;
    wait_pollings(s.publ, 1).await;
    s.publish(&[&c], &php_body("m", "1"), 3600).await;
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    let replies = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(split) = responses(&got) {
                return split;
            }
            let n = conn.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not both answers: {}", String::from_utf8_lossy(&got)));
    for r in replies {
        let r = parse_reply(&r);
        assert_eq!(r.status, 200);
        assert_eq!(envelopes(&r.text())[0]["text"]["params"]["text"], "1");
    }
}

/// Two whole `content-length` responses at the start of `buf`, once they are there.
fn responses(buf: &[u8]) -> Option<[Vec<u8>; 2]> {
    let one = |buf: &[u8]| -> Option<usize> {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        (buf.len() >= end + len).then_some(end + len)
    };
    let a = one(buf)?;
    let b = one(&buf[a..])?;
    assert_eq!(buf.len(), a + b, "nothing after the two responses");
    Some([buf[..a].to_vec(), buf[a..].to_vec()])
}

/// A poll whose client shuts its sending side right after the request (the request and
/// the end of the stream may come in one read, or the end after a read that drained the
/// socket): the end is still seen, the answer says `connection: close` and the
/// connection ends.
#[tokio::test]
async fn the_end_of_the_stream_after_a_poll_is_seen() {
    let s = TestServer::with(|c| c.long_poll_timeout = Duration::from_secs(1)).await;
    let c = Channel::random();
    let mut conn = send(s.sub, &poll_request(&query(&c, ""), "")).await;
    conn.shutdown().await.unwrap();
    let r = read_response(&mut conn).await;
    let text = String::from_utf8_lossy(&r).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 304 not modified\r\n"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    let mut rest = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut rest))
        .await
        .expect("the server closes")
        .unwrap();
    assert_eq!(n, 0);
}

/// A parked poll whose socket takes only part of its reply (a client with a tiny receive
/// buffer that does not read yet): the other polls are released at once, and the stalled
/// one gets its reply whole once it reads, not cut as a slow reader.
#[tokio::test]
async fn a_full_poll_socket_gets_its_whole_reply_and_holds_up_nobody() {
    let s = TestServer::with(|c| c.max_payload = 8 << 20).await;
    let c = Channel::random();
    let q = query(&c, "");
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut stalled = sock.connect(s.sub).await.unwrap();
    stalled
        .write_all(poll_request(&q, "").as_bytes())
        .await
        .unwrap();
    let mut others = Vec::new();
    for _ in 0..20 {
        others.push(send(s.sub, &poll_request(&q, "")).await);
    }
    wait_pollings(s.publ, 21).await;
    // 6 MB: more than the stalled socket's buffers (4 MB at most) hold.
    let text = "y".repeat(6_000_000);
    tokio::time::timeout(
        Duration::from_secs(10),
        s.publish(&[&c], &php_body("big", &text), 0),
    )
    .await
    .expect("the publish is answered");
    for o in others.iter_mut() {
        let r = parse_reply(&read_response(o).await);
        assert_eq!(envelopes(&r.text())[0]["text"]["params"]["text"], text);
    }
    // The rest of the stalled reply is held, counted, until the client reads.
    let held = stat(s.publ).await["bxpush"]["sendingBytes"]
        .as_i64()
        .unwrap();
    assert!(held > 0, "the rest is counted as being sent");
    let r = parse_reply(&read_response(&mut stalled).await);
    assert_eq!(envelopes(&r.text())[0]["text"]["params"]["text"], text);
    let st = stat(s.publ).await;
    assert_eq!(st["bxpush"]["slowReadersCut"], 0);
    assert_eq!(st["bxpush"]["sendingBytes"], 0);
}

/// The payload of a chunked body read so far: whole chunks are taken off `raw` (which
/// starts after the head), the payload appended to `out`; true once the last chunk came.
fn dechunk(raw: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap(), 16).unwrap();
        if raw.len() < eol + 2 + size + 2 {
            return false;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        assert_eq!(&raw[eol + 2 + size..eol + 4 + size], b"\r\n");
        raw.drain(..eol + 4 + size);
        if size == 0 {
            return true;
        }
    }
}

/// Read a chunked SSE stream's payload (after its head) until `enough` says so, or its
/// end when `to_end`.
async fn read_events(s: &mut TcpStream, mut enough: impl FnMut(&[u8]) -> bool) -> (Vec<u8>, bool) {
    let mut raw = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut head_done = false;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let k = s.read(&mut chunk).await.unwrap();
            if k == 0 {
                return false;
            }
            raw.extend_from_slice(&chunk[..k]);
            if !head_done {
                let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                raw.drain(..end + 4);
                head_done = true;
            }
            if dechunk(&mut raw, &mut out) {
                return true;
            }
            if enough(&out) {
                return false;
            }
        }
    })
    .await
    .expect("events in time");
    (out, ended)
}

fn sse_numbers(bytes: &[u8]) -> Vec<usize> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|l| l.strip_prefix("data: {"))
        .map(|d| {
            let v: serde_json::Value = serde_json::from_str(&format!("{{{d}")).unwrap();
            v["text"]["params"]["text"].as_str().unwrap()[..5]
                .parse()
                .unwrap()
        })
        .collect()
}

/// An SSE stream that pauses while its socket fills takes the first messages straight
/// from the pass, then a chunk the socket took part of, then its queue: once it reads
/// again it gets them once and in order up to its queue's bound, then the slow-reader
/// close event and the end of the stream. A reading stream gets every message in order.
#[tokio::test]
async fn a_full_sse_socket_is_delivered_in_order_and_cut_at_its_bound() {
    let s = TestServer::with(|c| c.max_queue_per_connection = 16).await;
    let c = Channel::random();
    let req = poll_request(&query(&c, ""), "Accept: text/event-stream\r\n");
    let mut paused = send(s.sub, &req).await;
    let mut reading = send(s.sub, &req).await;
    eventually(10, async || stat(s.publ).await["bxpush"]["sse"] == 2).await;
    let n = 1000;
    let reader = tokio::spawn(async move {
        let (events, _) = read_events(&mut reading, |out| {
            out.windows(7).filter(|w| *w == b"\ndata: ").count() >= n
        })
        .await;
        sse_numbers(&events)
    });
    for i in 0..n {
        let body = php_body("m", &format!("{i:05}-{}", "x".repeat(30_000)));
        s.publish(&[&c], &body, 0).await;
    }
    assert_eq!(reader.await.unwrap(), (0..n).collect::<Vec<_>>());
    let (all, ended) = read_events(&mut paused, |_| false).await;
    assert!(ended, "the stream ends with the last chunk");
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.ends_with("event: close\ndata: slow reader\n\n"),
        "ends with the close event"
    );
    let got = sse_numbers(&all);
    assert!(got.len() < n, "the bound was never reached");
    assert_eq!(
        got,
        (0..got.len()).collect::<Vec<_>>(),
        "in order, each once"
    );
    assert_eq!(stat(s.publ).await["bxpush"]["slowReadersCut"], 1);
}
