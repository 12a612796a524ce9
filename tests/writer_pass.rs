//! The writer pass (issue 11, item 1): a publish writes its frame straight to the socket of
//! every WebSocket subscriber with nothing queued, in the publisher's fan-out; a socket
//! that is full keeps the rest of its frame and its queue, and its own task finishes them.
//! Order, exactly-once and the queue bound must hold across the two paths; a full socket
//! must never hold up the pass for the others.
mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn query(c: &Channel, extra: &str) -> String {
    format!("CHANNEL_ID={}{extra}", enc(&c.descriptor()))
}

fn body(i: usize, size: usize) -> String {
    php_body("m", &format!("{i:05}-{}", "x".repeat(size)))
}

fn numbers(text: &str) -> Vec<usize> {
    envelopes(text)
        .iter()
        .map(|e| {
            e["text"]["params"]["text"].as_str().unwrap()[..5]
                .parse()
                .unwrap()
        })
        .collect()
}

async fn stat(s: &TestServer) -> serde_json::Value {
    let r = get(s.publ, "/server-stat/").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v[0].clone()
}

/// A subscriber that pauses while its socket fills takes the first messages straight
/// from the pass, then a frame the socket took part of, then its queue: once it reads
/// again it gets them all once and in order, until its queue's bound, then a close with
/// 1008. A reading subscriber on the same channel gets every message, in order.
#[tokio::test]
async fn a_full_socket_is_delivered_in_order_and_cut_at_its_bound() {
    let s = TestServer::with(|c| c.max_queue_per_connection = 16).await;
    let c = Channel::random();
    let mut paused = ws_connect(s.sub, &query(&c, "")).await;
    let mut reading = ws_connect(s.sub, &query(&c, "")).await;
    wait_online(s.publ, &c).await;
    let n = 1000;
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < n {
            match ws_next(&mut reading, 20).await {
                WsMessage::Text(t) => got.extend(numbers(t.as_str())),
                other => panic!("{other:?}"),
            }
        }
        got
    });
    // 1000 × 30 KB = 30 MB: far more than the paused socket's buffers hold.
    for i in 0..n {
        s.publish(&[&c], &body(i, 30_000), 0).await;
    }
    assert_eq!(reader.await.unwrap(), (0..n).collect::<Vec<_>>());
    let mut got = Vec::new();
    let code = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match paused.next().await {
                Some(Ok(WsMessage::Text(t))) => got.extend(numbers(t.as_str())),
                Some(Ok(WsMessage::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                other => panic!("{other:?} after {} messages", got.len()),
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(code, Some(1008));
    assert!(got.len() < n, "the bound was never reached");
    assert_eq!(
        got,
        (0..got.len()).collect::<Vec<_>>(),
        "in order, each once"
    );
    assert_eq!(stat(&s).await["bxpush"]["slowReadersCut"], 1);
}

/// A subscriber whose socket is full (a raw client with a tiny receive buffer that never
/// reads) does not hold up the pass: every publish is answered and 20 reading subscribers
/// get each message before the next is published.
#[tokio::test]
async fn a_full_socket_does_not_delay_the_others() {
    let s = TestServer::with(|c| c.max_queue_per_connection = 100_000).await;
    let c = Channel::random();
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut stalled = sock.connect(s.sub).await.unwrap();
    let req = format!(
        "GET /bitrix/subws/?{} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        query(&c, "")
    );
    stalled.write_all(req.as_bytes()).await.unwrap();
    let mut readers = Vec::new();
    for _ in 0..20 {
        readers.push(ws_connect(s.sub, &query(&c, "")).await);
    }
    eventually(10, async || stat(&s).await["websockets"] == 21).await;
    for i in 0..200 {
        // 200 × 10 KB: the stalled socket is full after a few.
        tokio::time::timeout(
            Duration::from_secs(10),
            s.publish(&[&c], &body(i, 10_000), 0),
        )
        .await
        .expect("the publish is answered");
        for r in readers.iter_mut() {
            match ws_next(r, 10).await {
                WsMessage::Text(t) => assert_eq!(numbers(t.as_str()), [i]),
                other => panic!("{other:?}"),
            }
        }
    }
    // The stalled one is still connected, its messages queued (not cut: bound not reached).
    assert_eq!(stat(&s).await["bxpush"]["slowReadersCut"], 0);
    drop(stalled);
}
