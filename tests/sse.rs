//! Server-sent events over real sockets: headers, events, resume, heartbeats.
mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn open(addr: std::net::SocketAddr, query: &str, extra: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /bitrix/sub/?{query} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// Read until `needle` has appeared `count` times; returns everything read.
async fn read_until(s: &mut TcpStream, needle: &str, count: usize) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    tokio::time::timeout(Duration::from_secs(10), async {
        while String::from_utf8_lossy(&buf).matches(needle).count() < count {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "stream closed: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; got {}", String::from_utf8_lossy(&buf)));
    String::from_utf8_lossy(&buf).into_owned()
}

fn events(text: &str) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
        if let Some(id) = id {
            out.push((id, serde_json::from_str(&data).unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn sse_streams_events_with_mid_ids() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut st = open(s.sub, &format!("CHANNEL_ID={}", enc(&c.descriptor())), "").await;
    let head = read_until(&mut st, ": bxpush", 1).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream"));
    assert!(head
        .to_ascii_lowercase()
        .contains("access-control-allow-origin: *"));
    s.publish(&[&c], &php_body("m", "one"), 86400).await;
    s.publish(&[&c], &php_body("m", "two"), 0).await;
    let text = read_until(&mut st, "id: ", 2).await;
    let ev = events(&text);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].1["text"]["params"]["text"], "one");
    assert_eq!(ev[1].1["text"]["params"]["text"], "two");
    assert_eq!(ev[0].0, ev[0].1["mid"].as_str().unwrap());
}

#[tokio::test]
async fn sse_resumes_from_last_event_id_or_mid() {
    let s = TestServer::start().await;
    let c = Channel::random();
    s.publish(&[&c], &php_body("m", "1"), 86400).await;
    let mut st = open(
        s.sub,
        &format!(
            "CHANNEL_ID={}&mid=00000000000000000000000000",
            enc(&c.descriptor())
        ),
        "",
    )
    .await;
    let ev = events(&read_until(&mut st, "id: ", 1).await);
    let mid1 = ev[0].0.clone();
    drop(st);
    s.publish(&[&c], &php_body("m", "2"), 86400).await;
    // Last-Event-ID wins over the query's mid, as a browser's reconnect sends it.
    let mut st = open(
        s.sub,
        &format!(
            "CHANNEL_ID={}&mid=00000000000000000000000000",
            enc(&c.descriptor())
        ),
        &format!("Last-Event-ID: {mid1}\r\n"),
    )
    .await;
    let text = read_until(&mut st, "id: ", 1).await;
    let ev = events(&text);
    assert_eq!(ev.len(), 1, "{text}");
    assert_eq!(ev[0].1["text"]["params"]["text"], "2");
}

#[tokio::test]
async fn sse_sends_heartbeats_and_rejects_bad_channels() {
    let s = TestServer::with(|c| c.sse_heartbeat = Duration::from_secs(1)).await;
    let c = Channel::random();
    let mut st = open(s.sub, &format!("CHANNEL_ID={}", enc(&c.descriptor())), "").await;
    read_until(&mut st, ": ping", 1).await;
    let mut bad = open(
        s.sub,
        &format!("CHANNEL_ID={}", c.private.to_hex()),
        "Connection: close\r\n",
    )
    .await;
    let mut buf = Vec::new();
    bad.read_to_end(&mut buf).await.unwrap();
    let r = parse_reply(&buf);
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "4010: Wrong Channel Id.")
    );
}
