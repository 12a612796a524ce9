//! What a server sends a subscriber is bounded (issue 10, findings 1, 2 and 8): replays
//! and batches go out in chunks of at most `max_send_chunk` bytes, the next only once the
//! socket took the previous one; a peer that takes nothing for `write_timeout` is cut and
//! counted; a reading client still gets everything once and in order; WebSocket frames
//! of any total size arrive; protocol errors close with their code; a request followed
//! by a half-close is answered.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bxpush::protocol::descriptor::public_signature;
use bxpush::protocol::proto;
use common::*;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const ZERO_MID: &str = "00000000000000000000000000";

fn query(c: &Channel, extra: &str) -> String {
    format!("CHANNEL_ID={}{extra}", enc(&c.descriptor()))
}

async fn bxpush_stat(s: &TestServer) -> serde_json::Value {
    let r = get(s.publ, "/server-stat/").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v[0].clone()
}

/// A client publish to `c`'s own public channel through `/bitrix/rest/` (what one
/// browser tab may do), `bodies` in one request, stored for an hour.
async fn client_publish(s: &TestServer, c: &Channel, bodies: &[String]) {
    let messages = bodies
        .iter()
        .map(|b| proto::IncomingMessage {
            receivers: vec![proto::Receiver {
                id: c.public.as_bytes().to_vec(),
                is_private: false,
                signature: public_signature(&signer(), &c.public),
            }],
            sender: None,
            body: b.clone().into(),
            expiry: 3600,
            r#type: "probe".into(),
        })
        .collect();
    let batch = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::IncomingMessages(
                proto::IncomingMessagesRequest { messages },
            )),
        }],
    }
    .encode_to_vec();
    let r = post(s.sub, &format!("/bitrix/rest/?{}", query(c, "")), &batch).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `n` bodies of about `size` bytes each, numbered.
fn bodies(n: usize, size: usize) -> Vec<String> {
    (0..n)
        .map(|i| php_body("m", &format!("{i:04}-{}", "x".repeat(size))))
        .collect()
}

fn numbers(envs: &[serde_json::Value]) -> Vec<usize> {
    envs.iter()
        .map(|e| {
            e["text"]["params"]["text"].as_str().unwrap()[..4]
                .parse()
                .unwrap()
        })
        .collect()
}

/// A raw connection with a tiny receive buffer that sends `request` and never reads.
async fn stalled(addr: SocketAddr, request: String) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    s
}

#[tokio::test]
async fn a_long_replay_reaches_a_reading_long_poll_client_over_several_replies() {
    let chunk = 8 * 1024;
    let s = TestServer::with(|c| c.max_send_chunk = chunk).await;
    let c = Channel::random();
    client_publish(&s, &c, &bodies(40, 1000)).await;
    // As the stock clients do: every 200 reply's last mid is the next request's mid.
    let mut mid = ZERO_MID.to_string();
    let mut got = Vec::new();
    let mut replies = 0;
    while got.len() < 40 {
        let r = get(
            s.sub,
            &format!("/bitrix/sub/?{}", query(&c, &format!("&mid={mid}"))),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let length = r.body.len().to_string();
        assert_eq!(r.header("content-length"), Some(length.as_str()));
        let envs = envelopes(&r.text());
        assert!(!envs.is_empty());
        let one = r.body.len() / envs.len();
        assert!(
            r.body.len() <= chunk + one,
            "reply of {} bytes",
            r.body.len()
        );
        mid = envs.last().unwrap()["mid"].as_str().unwrap().to_string();
        got.extend(numbers(&envs));
        replies += 1;
    }
    assert_eq!(got, (0..40).collect::<Vec<_>>(), "each once, in order");
    assert!(replies >= 4, "the replay came in {replies} replies");
}

#[tokio::test]
async fn a_long_replay_reaches_a_reading_sse_client_once_and_in_order() {
    let s = TestServer::with(|c| c.max_send_chunk = 8 * 1024).await;
    let c = Channel::random();
    client_publish(&s, &c, &bodies(40, 1000)).await;
    let mut st = TcpStream::connect(s.sub).await.unwrap();
    let req = format!(
        "GET /bitrix/sub/?{} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
        query(&c, &format!("&mid={ZERO_MID}"))
    );
    st.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut piece = [0u8; 16384];
    tokio::time::timeout(Duration::from_secs(10), async {
        while String::from_utf8_lossy(&buf).matches("\nid: ").count() < 40 {
            let n = st.read(&mut piece).await.unwrap();
            assert!(n > 0, "stream closed");
            buf.extend_from_slice(&piece[..n]);
        }
    })
    .await
    .expect("40 events in time");
    let text = String::from_utf8_lossy(&buf);
    let envs: Vec<serde_json::Value> = text
        .split("\n\n")
        .filter(|b| b.contains("id: "))
        .map(|b| {
            let data: String = b.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            serde_json::from_str(&data).unwrap()
        })
        .collect();
    assert_eq!(numbers(&envs), (0..40).collect::<Vec<_>>());
}

/// One test per transport: history of 20 × 900 KB, a subscriber that asks for all of it
/// and never reads. The server holds at most one chunk for it (the kernel takes a few MB
/// too), then cuts it after `write_timeout` and counts it. Before the fix a long poll or
/// SSE stream held the whole 18 MB reply for as long as the peer stayed, and a WebSocket
/// was dropped silently.
async fn a_subscriber_that_never_reads_is_held_to_one_chunk_then_cut(headers: &str) {
    let chunk = 8 * 1024 * 1024;
    let s = TestServer::with(|c| {
        c.max_send_chunk = chunk;
        c.write_timeout = Duration::from_millis(500);
    })
    .await;
    let c = Channel::random();
    for part in bodies(20, 900_000).chunks(1) {
        client_publish(&s, &c, part).await;
    }
    let req = format!(
        "GET /bitrix/sub/?{} HTTP/1.1\r\nHost: x\r\n{headers}\r\n",
        query(&c, &format!("&mid={ZERO_MID}"))
    );
    let mut peer = stalled(s.sub, req).await;
    let mut most_held = 0;
    eventually(20, async || {
        let b = &bxpush_stat(&s).await["bxpush"];
        most_held = most_held.max(b["sendingBytes"].as_i64().unwrap());
        b["stalledCut"].as_u64().unwrap() == 1
    })
    .await;
    assert!(
        most_held > 0 && most_held <= chunk as i64,
        "held {most_held} bytes"
    );
    // Cut: what was in flight can still be read, then the connection ends.
    let mut sink = vec![0u8; 1 << 20];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match peer.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server closed the connection");
    eventually(5, async || {
        let v = bxpush_stat(&s).await;
        // One connection left: this request's own.
        v["bxpush"]["sendingBytes"] == 0 && v["bxpush"]["connections"] == 1
    })
    .await;
}

#[tokio::test]
async fn a_long_poll_that_never_reads_is_held_to_one_chunk_then_cut() {
    a_subscriber_that_never_reads_is_held_to_one_chunk_then_cut("").await;
}

#[tokio::test]
async fn an_sse_stream_that_never_reads_is_held_to_one_chunk_then_cut() {
    a_subscriber_that_never_reads_is_held_to_one_chunk_then_cut("Accept: text/event-stream\r\n")
        .await;
}

#[tokio::test]
async fn a_websocket_that_never_reads_is_held_to_one_chunk_then_cut() {
    a_subscriber_that_never_reads_is_held_to_one_chunk_then_cut(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    )
    .await;
}

/// Read data frames until `n` messages arrived; returns them and the largest frame.
async fn ws_read(ws: &mut Ws, n: usize, binary: bool) -> (Vec<usize>, usize) {
    let mut got = Vec::new();
    let mut largest = 0;
    while got.len() < n {
        match ws_next(ws, 10).await {
            WsMessage::Text(t) if !binary => {
                largest = largest.max(t.len());
                got.extend(numbers(&envelopes(t.as_str())));
            }
            WsMessage::Binary(b) if binary => {
                largest = largest.max(b.len());
                let batch = proto::ResponseBatch::decode(&b[..]).unwrap();
                let Some(proto::response::Command::OutgoingMessages(m)) =
                    &batch.responses[0].command
                else {
                    panic!("not outgoingMessages")
                };
                for msg in &m.messages {
                    let v: serde_json::Value = serde_json::from_slice(&msg.body).unwrap();
                    got.extend(numbers(&[serde_json::json!({ "text": v })]));
                }
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    (got, largest)
}

/// 6 × 900 KB = 5.4 MB replay: before the fix the server sent it as one frame, which
/// tungstenite refused (over 4 MiB) and the connection ended with no close frame; the
/// client reconnected with the same mid and failed the same way.
#[tokio::test]
async fn a_websocket_replay_over_4_mib_arrives_in_frames_under_the_bound() {
    let chunk = 2 * 1024 * 1024;
    // 5.4 MB from one client: over the default per-publisher history cap (4 MiB), which
    // would evict the oldest; this test is about frames, not that quota.
    let s = TestServer::with(|c| {
        c.max_send_chunk = chunk;
        c.max_history_bytes_per_publisher = 64 * 1024 * 1024;
    })
    .await;
    let c = Channel::random();
    for part in bodies(6, 900_000).chunks(1) {
        client_publish(&s, &c, part).await;
    }
    for binary in [false, true] {
        let mode = if binary { "&binaryMode=true" } else { "" };
        let mut ws = ws_connect(s.sub, &query(&c, &format!("{mode}&mid={ZERO_MID}"))).await;
        let (got, largest) = ws_read(&mut ws, 6, binary).await;
        assert_eq!(got, (0..6).collect::<Vec<_>>(), "binary {binary}");
        assert!(largest <= chunk, "a frame of {largest} bytes");
    }
}

/// A subscriber that does not read while twelve 900 KB messages are published is not
/// disconnected (before: the batch went out as one 10.8 MB frame and the connection
/// ended silently); it gets all twelve once it reads again, and later ones too.
#[tokio::test]
async fn a_websocket_subscriber_that_pauses_during_twelve_900_kb_messages_gets_them_all() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut ws = ws_connect(s.sub, &query(&c, "")).await;
    wait_online(s.publ, &c).await;
    // The pause: nothing is read until every publish is answered.
    for b in bodies(12, 900_000) {
        s.publish(&[&c], &b, 60).await;
    }
    let (got, largest) = ws_read(&mut ws, 12, false).await;
    assert_eq!(got, (0..12).collect::<Vec<_>>());
    assert!(largest <= 1024 * 1024 + 1000, "a frame of {largest} bytes");
    s.publish(&[&c], &bodies(13, 10)[12], 60).await;
    assert_eq!(ws_read(&mut ws, 1, false).await.0, vec![12]);
    assert_eq!(bxpush_stat(&s).await["bxpush"]["slowReadersCut"], 0);
}

/// A subscriber that pauses past its queue bound (`max_queue_per_connection`) is cut there,
/// and says so: once it reads again it gets what was queued for it, in order, then a
/// close frame with 1008, and the cut is counted (before: the batch became one frame over
/// 4 MiB and the TCP connection ended with no close frame and nothing counted).
#[tokio::test]
async fn a_websocket_subscriber_that_pauses_past_its_queue_bound_is_closed_with_1008() {
    let s = TestServer::with(|c| c.max_queue_per_connection = 8).await;
    let c = Channel::random();
    let mut ws = ws_connect(s.sub, &query(&c, "")).await;
    wait_online(s.publ, &c).await;
    // 36 MB: more than the kernel buffers, so the server's write blocks and the queue
    // fills; 8 queued messages are 7.2 MB, over the 4 MiB that used to end the connection.
    for b in bodies(40, 900_000) {
        s.publish(&[&c], &b, 60).await;
    }
    let mut got = Vec::new();
    let code = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Text(t))) => got.extend(numbers(&envelopes(t.as_str()))),
                Some(Ok(WsMessage::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                other => panic!("{other:?} after {} messages", got.len()),
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(code, Some(1008));
    assert!(
        got.len() < 40,
        "{} messages: the bound was never reached",
        got.len()
    );
    assert_eq!(
        got,
        (0..got.len()).collect::<Vec<_>>(),
        "what came is in order"
    );
    assert_eq!(bxpush_stat(&s).await["bxpush"]["slowReadersCut"], 1);
}

/// A frame with a reserved bit set is a protocol error: close 1002 (before: TCP dropped),
/// counted as a bad request; the server keeps serving.
#[tokio::test]
async fn a_websocket_protocol_error_is_closed_with_1002_and_counted() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut ws = ws_connect(s.sub, &query(&c, "")).await;
    let mut f = Frame::message(
        bytes::Bytes::from_static(b"hi"),
        OpCode::Data(Data::Text),
        true,
    );
    f.header_mut().rsv1 = true;
    ws.send(WsMessage::Frame(f)).await.unwrap();
    assert_eq!(ws_close_code(&mut ws, 5).await, Some(1002));
    assert!(
        bxpush_stat(&s).await["bxpush"]["badRequests"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let mut ok = ws_connect(s.sub, &query(&c, "")).await;
    s.publish(&[&c], &php_body("m", "after"), 60).await;
    assert!(matches!(ws_next(&mut ok, 5).await, WsMessage::Text(_)));
    let _ = ok.close(None).await;
}

/// A client may send its request and shut its sending side down while it waits. A parked
/// long poll must still get its message (before: hyper took the EOF for a dead peer and
/// dropped the request, every time), and publishes must all be answered (before: 31 of
/// 300 were dropped, those whose EOF was read before the answer was ready).
#[tokio::test]
async fn requests_followed_by_a_half_close_are_answered() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut poll = TcpStream::connect(s.sub).await.unwrap();
    let req = format!(
        "GET /bitrix/sub/?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        query(&c, "")
    );
    poll.write_all(req.as_bytes()).await.unwrap();
    poll.shutdown().await.unwrap();
    eventually(10, async || bxpush_stat(&s).await["pollings"] == 1).await;
    s.publish(&[&c], &php_body("m", "to the half-closed poll"), 60)
        .await;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), poll.read_to_end(&mut buf))
        .await
        .expect("answered in time")
        .unwrap();
    let r = parse_reply(&buf);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("to the half-closed poll"), "{}", r.text());

    let publishes = (0..100).map(|i| {
        let addr = s.publ;
        let path = format!("/bitrix/pub/?CHANNEL_ID={}", c.private.to_hex());
        async move {
            let body = php_body("m", &format!("half {i}"));
            let req = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nMessage-Expiry: 60\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            s.shutdown().await.unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
            buf
        }
    });
    let answers = futures_util::future::join_all(publishes).await;
    let unanswered = answers.iter().filter(|b| b.is_empty()).count();
    assert_eq!(unanswered, 0, "{unanswered} of 100 publishes got no answer");
    for b in answers {
        assert_eq!(parse_reply(&b).status, 200);
    }
}
