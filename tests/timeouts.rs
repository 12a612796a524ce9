//! Peers that start sending and stop: a request body, a WebSocket message, a PHP hand-off
//! frame must each arrive within `read_timeout`, or the connection is answered and closed
//! (issue 10, findings 6 and 8).
mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_TIMEOUT: Duration = Duration::from_millis(300);

async fn server() -> TestServer {
    TestServer::with(|c| c.read_timeout = READ_TIMEOUT).await
}

/// Send the head and part of a body, then nothing: the server must answer 408 and close.
/// Before the fix no answer came at all and the buffer was held until the peer left.
async fn stalled_body(addr: std::net::SocketAddr, path: &str) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nMessage-Expiry: 60\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b'x'; 1000]).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answered and closed within 10 s")
        .unwrap();
    parse_reply(&buf)
}

#[tokio::test]
async fn a_stalled_request_body_gets_408_and_the_connection_closes() {
    let s = server().await;
    let alice = Channel::random();
    let rest = format!("/bitrix/rest/?CHANNEL_ID={}", enc(&alice.descriptor()));
    let publish = format!("/bitrix/pub/?CHANNEL_ID={}", alice.private.to_hex());
    for (addr, path) in [(s.sub, rest.as_str()), (s.publ, publish.as_str())] {
        let r = stalled_body(addr, path).await;
        assert_eq!(r.status, 408, "{path}: {}", r.text());
        assert_eq!(r.header("connection"), Some("close"));
    }
    // Still serving.
    s.publish(&[&alice], "after", 60).await;
}

/// Start a fragmented message and never finish it, keeping the socket alive with pongs:
/// the server closes with 1008 once `read_timeout` has passed (before the fix the
/// fragment was held as long as pongs flowed). A message that does finish, even in many
/// fragments with pongs between them, is taken.
#[tokio::test]
async fn an_unfinished_websocket_message_is_closed_with_1008_while_pongs_flow() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let s = server().await;
    let alice = Channel::random();
    let q = format!("CHANNEL_ID={}", enc(&alice.descriptor()));

    // A message in two fragments with a pong between them, finished in time.
    let mut ok = ws_connect(s.sub, &q).await;
    let fragment = |fin: bool, op: OpCode| {
        WsMessage::Frame(Frame::message(
            bytes::Bytes::from(vec![b'a'; 1000]),
            op,
            fin,
        ))
    };
    ok.send(fragment(false, OpCode::Data(Data::Text)))
        .await
        .unwrap();
    ok.send(WsMessage::Pong(Default::default())).await.unwrap();
    ok.send(fragment(true, OpCode::Data(Data::Continue)))
        .await
        .unwrap();

    let mut ws = ws_connect(s.sub, &q).await;
    ws.send(fragment(false, OpCode::Data(Data::Text)))
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut pong = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = pong.tick() => {
                    if ws.send(WsMessage::Pong(Default::default())).await.is_err() {
                        return None;
                    }
                }
                m = ws.next() => match m {
                    Some(Ok(WsMessage::Close(f))) => return f.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => {}
                    _ => return None,
                },
            }
        }
    })
    .await
    .expect("closed within 5 s while pongs flow");
    assert_eq!(closed, Some(1008));

    // The finished message did not cost its socket: it still gets messages.
    s.publish(&[&alice], "still here", 60).await;
    let m = ws_next(&mut ok, 5).await;
    assert!(m.to_text().unwrap().contains("still here"), "{m:?}");
}
