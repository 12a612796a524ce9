//! The server's own WebSocket framing over real loopback sockets, byte by byte: what a
//! raw client sends right behind its upgrade request, the close handshake, RFC 6455
//! violations and their codes, fragmented client requests, and sockets leaving the ping
//! wheel. (tests/websocket.rs drives the same server with a tungstenite client.)
mod common;

use std::time::Duration;

use bxpush::protocol::descriptor::public_signature;
use bxpush::protocol::proto;
use common::*;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MASK: [u8; 4] = [0xa1, 0x02, 0x93, 0x44];

/// A masked client frame; `b0` is FIN/RSV/opcode as sent.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

fn query(c: &Channel, extra: &str) -> String {
    format!("CHANNEL_ID={}{extra}", enc(&c.descriptor()))
}

/// Send the upgrade request and `then` in one write; read up to the end of the 101's
/// headers, no further.
async fn upgrade(addr: std::net::SocketAddr, query: &str, then: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "GET /bitrix/subws/?{query} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    req.extend_from_slice(then);
    s.write_all(&req).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// The next server frame: (first byte, payload); `None` at the end of the stream.
async fn next_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut h = [0u8; 2];
        if s.read_exact(&mut h).await.is_err() {
            return None;
        }
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                s.read_exact(&mut l).await.unwrap();
                u16::from_be_bytes(l) as usize
            }
            127 => {
                let mut l = [0u8; 8];
                s.read_exact(&mut l).await.unwrap();
                u64::from_be_bytes(l) as usize
            }
            n => n as usize,
        };
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).await.unwrap();
        Some((h[0], p))
    })
    .await
    .expect("a frame or the end in time")
}

/// The close code the server sends, then the end of the stream.
async fn close_code(s: &mut TcpStream) -> u16 {
    loop {
        match next_frame(s).await {
            Some((0x88, p)) => {
                assert!(p.len() >= 2, "close without a code");
                // Then the server ends the connection.
                let mut rest = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
                    .await
                    .expect("end of stream after the close");
                return u16::from_be_bytes([p[0], p[1]]);
            }
            Some((0x89, _)) => continue,
            other => panic!("expected a close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn frames_sent_behind_the_upgrade_request_are_read() {
    let s = TestServer::start().await;
    let c = Channel::random();
    // hyper reads them with the request; they must not be lost when the socket leaves it.
    let mut ws = upgrade(s.sub, &query(&c, ""), &frame(0x89, b"hello")).await;
    assert_eq!(next_frame(&mut ws).await, Some((0x8A, b"hello".to_vec())));
}

#[tokio::test]
async fn a_close_is_echoed_and_the_server_ends_the_connection() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut ws = upgrade(s.sub, &query(&c, ""), &[]).await;
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    ws.write_all(&frame(0x88, &close)).await.unwrap();
    assert_eq!(next_frame(&mut ws).await, Some((0x88, vec![0x03, 0xe8])));
    assert_eq!(next_frame(&mut ws).await, None);
    // An empty close is echoed empty.
    let mut ws = upgrade(s.sub, &query(&c, ""), &[]).await;
    ws.write_all(&frame(0x88, b"")).await.unwrap();
    assert_eq!(next_frame(&mut ws).await, Some((0x88, vec![])));
}

#[tokio::test]
async fn violations_close_with_their_codes_and_are_counted() {
    let s = TestServer::with(|c| c.max_payload = 1000).await;
    let c = Channel::random();
    let unmasked = vec![0x81, 0x02, b'h', b'i'];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", unmasked, 1002),
        ("reserved opcode", frame(0x83, b""), 1002),
        ("fragmented ping", frame(0x09, b""), 1002),
        ("stray continuation", frame(0x80, b"x"), 1002),
        ("close code 1005", frame(0x88, &1005u16.to_be_bytes()), 1002),
        ("text not UTF-8", frame(0x81, &[0xc3, 0x28]), 1007),
        (
            "fragments over max_payload",
            [frame(0x01, &[b'a'; 600]), frame(0x80, &[b'a'; 600])].concat(),
            1009,
        ),
    ];
    let before = bad_requests(&s).await;
    for (what, bytes, code) in &cases {
        let mut ws = upgrade(s.sub, &query(&c, ""), &[]).await;
        ws.write_all(bytes).await.unwrap();
        assert_eq!(close_code(&mut ws).await, *code, "{what}");
    }
    assert_eq!(bad_requests(&s).await - before, cases.len() as u64);
    // Still serving.
    let mut ws = ws_connect(s.sub, &query(&c, "")).await;
    wait_online(s.publ, &c).await;
    s.publish(&[&c], &php_body("m", "after"), 0).await;
    let m = ws_next(&mut ws, 5).await;
    assert!(m.to_text().unwrap().contains("after"));
}

async fn bad_requests(s: &TestServer) -> u64 {
    server_stat(s).await["bxpush"]["badRequests"]
        .as_u64()
        .unwrap()
}

async fn server_stat(s: &TestServer) -> serde_json::Value {
    let r = get(s.publ, "/server-stat/").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v[0].clone()
}

/// A binary-mode request cut into three fragments with a ping between them is taken
/// whole: the pong comes first, then the request's reply.
#[tokio::test]
async fn a_fragmented_client_request_with_a_ping_inside_is_answered() {
    let s = TestServer::start().await;
    let alice = Channel::random();
    let bob = Channel::random();
    let _bob = ws_connect(s.sub, &query(&bob, "")).await;
    wait_online(s.publ, &bob).await;
    let req = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::ChannelStats(
                proto::ChannelStatsRequest {
                    channels: vec![proto::ProtoChannelId {
                        id: bob.public.as_bytes().to_vec(),
                        is_private: false,
                        signature: public_signature(&signer(), &bob.public),
                    }],
                },
            )),
        }],
    }
    .encode_to_vec();
    let (a, rest) = req.split_at(3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let mut bytes = frame(0x02, a);
    bytes.extend(frame(0x00, b));
    bytes.extend(frame(0x89, b"p"));
    bytes.extend(frame(0x80, c));
    let mut ws = upgrade(s.sub, &query(&alice, "&binaryMode=true"), &[]).await;
    // One byte at a time: every header and payload is split across reads.
    for byte in bytes {
        ws.write_all(&[byte]).await.unwrap();
    }
    assert_eq!(next_frame(&mut ws).await, Some((0x8A, b"p".to_vec())));
    let (op, reply) = next_frame(&mut ws).await.unwrap();
    assert_eq!(op, 0x82);
    let batch = proto::ResponseBatch::decode(&reply[..]).unwrap();
    let Some(proto::response::Command::ChannelStats(st)) = &batch.responses[0].command else {
        panic!("{batch:?}")
    };
    assert!(st.channels[0].is_online);
}

/// Every WebSocket is on the ping wheel while it lives and off it once it ends, however
/// it ends (the wheel must not keep closed sockets: the soak's "hub empty" check).
#[tokio::test]
async fn sockets_leave_the_ping_wheel_when_they_end() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let a = ws_connect(s.sub, &query(&c, "")).await;
    let mut b = upgrade(s.sub, &query(&c, ""), &[]).await;
    let mut v = upgrade(s.sub, &query(&c, ""), &[]).await;
    eventually(10, async || {
        let st = server_stat(&s).await;
        st["websockets"] == 3 && st["bxpush"]["pingedSockets"] == 3
    })
    .await;
    drop(a); // reset without a close frame
    b.write_all(&frame(0x88, b"")).await.unwrap(); // close handshake
    v.write_all(&frame(0x83, b"")).await.unwrap(); // violation
    assert_eq!(close_code(&mut v).await, 1002);
    eventually(10, async || {
        let st = server_stat(&s).await;
        st["websockets"] == 0 && st["bxpush"]["pingedSockets"] == 0
    })
    .await;
}
