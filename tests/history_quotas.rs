//! One client cannot evict everyone's history (issue 10 finding 4): client publishes are
//! rate-limited per publisher and per channel and hold at most their publisher's byte
//! quota; and a resume point older than what is kept is reported by every transport,
//! also when the channel lost all of its history.
mod common;

use std::time::Duration;

use bxpush::protocol::descriptor::public_signature;
use bxpush::protocol::proto;
use common::*;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ZERO: &str = "00000000000000000000000000";

/// `n` client messages of `size` body bytes to `to`'s public channel, stored an hour.
fn flood(to: &Channel, n: usize, size: usize) -> Vec<u8> {
    let receiver = proto::Receiver {
        id: to.public.as_bytes().to_vec(),
        is_private: false,
        signature: public_signature(&signer(), &to.public),
    };
    let body = format!(
        r#"{{"module_id":"im","command":"typing","params":{{"pad":"{}"}}}}"#,
        "x".repeat(size)
    );
    proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::IncomingMessages(
                proto::IncomingMessagesRequest {
                    messages: (0..n)
                        .map(|_| proto::IncomingMessage {
                            receivers: vec![receiver.clone()],
                            sender: None,
                            body: body.clone().into(),
                            expiry: 3600,
                            r#type: "im_typing".into(),
                        })
                        .collect(),
                },
            )),
        }],
    }
    .encode_to_vec()
}

fn texts(r: &Reply) -> Vec<String> {
    envelopes(&r.text())
        .iter()
        .map(|e| e["text"]["params"]["text"].as_str().unwrap().to_string())
        .collect()
}

fn lp(c: &Channel, mid: &str) -> String {
    format!("/bitrix/sub/?CHANNEL_ID={}&mid={mid}", enc(&c.descriptor()))
}

async fn stat(s: &TestServer) -> serde_json::Value {
    let r = get(s.publ, "/server-stat/").await;
    serde_json::from_str::<serde_json::Value>(&r.text()).unwrap()[0]["bxpush"].clone()
}

#[tokio::test]
async fn one_client_cannot_evict_others_history() {
    let s = TestServer::with(|c| {
        c.max_history_bytes = 1 << 20;
        c.max_history_bytes_per_publisher = 128 << 10;
    })
    .await;
    let victim = Channel::random();
    let mine: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    for t in &mine {
        s.publish(&[&victim], &php_body("message", t), 3600).await;
    }
    // The attacker floods its own public channel through /bitrix/rest/: 150 messages of
    // 8 KiB, 1.2 MB in all, over the 1 MiB of history.
    let attacker = Channel::random();
    let path = format!("/bitrix/rest/?CHANNEL_ID={}", enc(&attacker.descriptor()));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = post(s.sub, &path, &flood(&attacker, 50, 8 << 10)).await;
        statuses.push(r.status);
        if r.status != 200 {
            assert_eq!(
                r.text(),
                "429: Publish quota exceeded (messages per second or history bytes); slow down."
            );
        }
    }
    // Its burst (100 at 10/s) went through; the rest was refused and counted.
    assert_eq!(statuses, [200, 200, 429]);
    let st = stat(&s).await;
    assert!(st["refusedQuota"].as_u64().unwrap() >= 1, "{st}");
    // It holds at most its quota, losing its own oldest; the victim keeps everything.
    assert!(
        st["storedBytes"].as_u64().unwrap() < (128 << 10) + 20_000,
        "{st}"
    );
    let r = get(s.sub, &lp(&victim, ZERO)).await;
    assert_eq!(texts(&r), mine);
    assert_eq!(r.header("x-bxpush-history-gap"), None);
}

async fn sse_first_chunk(addr: std::net::SocketAddr, query: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /bitrix/sub/?{query} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&buf).contains(": bxpush\n\n") {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        // What follows the opening comment in the same write (a gap event, a replay).
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(300), s.read(&mut chunk)).await
        {
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("sse stream opens");
    String::from_utf8_lossy(&buf).into_owned()
}

async fn ws_gap_header(addr: std::net::SocketAddr, query: &str) -> Option<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/bitrix/subws/?{query}");
    let (_ws, resp) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    resp.headers()
        .get("x-bxpush-history-gap")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_resume_point_lost_to_eviction_is_reported_by_every_transport() {
    let s = TestServer::with(|c| {
        c.max_history_bytes = 64 << 10;
        c.long_poll_timeout = Duration::from_secs(1);
    })
    .await;
    let v = Channel::random();
    s.publish(&[&v], &php_body("message", "seen"), 3600).await;
    let r = get(s.sub, &lp(&v, ZERO)).await;
    let seen = envelopes(&r.text())[0]["mid"].as_str().unwrap().to_string();
    s.publish(&[&v], &php_body("message", "missed"), 3600).await;
    let r = get(s.sub, &lp(&v, &seen)).await;
    let missed = envelopes(&r.text())[0]["mid"].as_str().unwrap().to_string();
    // Others' messages push all of v's history out of the 64 KiB.
    let other = Channel::random();
    for i in 0..20 {
        let body = php_body("message", &format!("{i}{}", "y".repeat(8000)));
        s.publish(&[&other], &body, 3600).await;
    }
    let q = |mid: &str| format!("CHANNEL_ID={}&mid={mid}", enc(&v.descriptor()));

    // Long polling: nothing to replay, so the poll parks and its 304 says so.
    let r = get(s.sub, &lp(&v, &seen)).await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("x-bxpush-history-gap"), Some("1"), "{r:?}");
    // SSE: the event before the (empty) replay.
    assert!(sse_first_chunk(s.sub, &q(&seen))
        .await
        .contains("event: history_gap\n"));
    // WebSocket: the handshake's header.
    assert_eq!(ws_gap_header(s.sub, &q(&seen)).await.as_deref(), Some("1"));

    // A client that saw everything v ever had lost nothing: no gap anywhere.
    let r = get(s.sub, &lp(&v, &missed)).await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("x-bxpush-history-gap"), None);
    assert!(!sse_first_chunk(s.sub, &q(&missed))
        .await
        .contains("history_gap"));
    assert_eq!(ws_gap_header(s.sub, &q(&missed)).await, None);
}
