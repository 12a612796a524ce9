//! Subscribers and trusted clients have separate connection budgets (issue 10, finding 7):
//! subscribers filling `max_connections` must never lock publishing, `/server-stat/` or
//! the PHP socket out, and trusted clients filling theirs do not touch subscribers.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A keep-alive connection that has been served once (so the server has accepted it).
async fn held(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /server-stat/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("served")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 "), "{:?}", &buf[..n]);
    s
}

/// The server closes a connection over budget at once, without a byte.
async fn refused(addr: SocketAddr) -> bool {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s
        .write_all(b"GET /server-stat/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn subscribers_filling_their_budget_do_not_lock_publishing_out() {
    let s = TestServer::with(|c| {
        c.max_connections = 3;
        c.max_trusted_connections = 2;
    })
    .await;
    let alice = Channel::random();
    let q = format!("CHANNEL_ID={}", enc(&alice.descriptor()));
    let mut subs = Vec::new();
    for _ in 0..3 {
        subs.push(ws_connect(s.sub, &q).await);
    }
    assert!(refused(s.sub).await, "a fourth subscriber is over budget");
    // Before the fix the publish got a TCP reset here.
    s.publish(&[&alice], "through", 60).await;
    for ws in &mut subs {
        let m = ws_next(ws, 5).await;
        assert!(m.to_text().unwrap().contains("through"));
    }
    let stat = get(s.publ, "/server-stat/").await;
    assert_eq!(stat.status, 200);

    // Trusted clients filling theirs leave subscribers alone.
    drop(subs.pop());
    let _a = held(s.publ).await;
    let _b = held(s.publ).await;
    assert!(
        refused(s.publ).await,
        "a third trusted connection is over budget"
    );
    eventually(5, async || {
        let stream = TcpStream::connect(s.sub).await.unwrap();
        tokio_tungstenite::client_async(format!("ws://{}/bitrix/subws/?{q}", s.sub), stream)
            .await
            .is_ok()
    })
    .await;
}
