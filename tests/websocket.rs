//! WebSocket subscribers over real loopback sockets (spec §2.3).
mod common;

use std::time::Duration;

use bxpush::protocol::descriptor::public_signature;
use bxpush::protocol::proto;
use common::*;
use futures_util::StreamExt;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn sub_query(c: &Channel, extra: &str) -> String {
    format!("CHANNEL_ID={}&revision=19{extra}", enc(&c.descriptor()))
}

fn outgoing(frame: &[u8]) -> Vec<proto::OutgoingMessage> {
    let batch = proto::ResponseBatch::decode(frame).expect("ResponseBatch");
    match &batch.responses[0].command {
        Some(proto::response::Command::OutgoingMessages(m)) => m.messages.clone(),
        other => panic!("not outgoingMessages: {other:?}"),
    }
}

#[tokio::test]
async fn text_mode_delivers_envelope_at_once() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut ws = ws_connect(s.sub, &sub_query(&c, "")).await;
    wait_online(s.publ, &c).await;
    let started = std::time::Instant::now();
    s.publish(&[&c], &php_body("message", "hello"), 86400).await;
    let WsMessage::Text(t) = ws_next(&mut ws, 5).await else {
        panic!("text frame expected")
    };
    // No batching window: well under the Node server's 400 ms.
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    let env = envelopes(t.as_str());
    assert_eq!(env.len(), 1);
    assert_eq!(env[0]["text"]["params"]["text"], "hello");
}

#[tokio::test]
async fn binary_mode_delivers_outgoing_message_with_backend_sender() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut ws = ws_connect(s.sub, &sub_query(&c, "&binaryMode=true")).await;
    wait_online(s.publ, &c).await;
    s.publish(&[&c], &php_body("message", "bin"), 3600).await;
    let WsMessage::Binary(b) = ws_next(&mut ws, 5).await else {
        panic!("binary frame expected")
    };
    let msgs = outgoing(&b);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].expiry, 3600);
    assert_eq!(
        msgs[0].sender.as_ref().unwrap().r#type,
        proto::SenderType::Backend as i32
    );
    assert!(String::from_utf8_lossy(&msgs[0].body).contains("\"text\":\"bin\""));
}

#[tokio::test]
async fn resume_with_mid_sends_missed_messages_first_then_live() {
    let s = TestServer::start().await;
    let c = Channel::random();
    s.publish(&[&c], &php_body("m", "1"), 86400).await;
    let mut ws = ws_connect(s.sub, &sub_query(&c, "&mid=00000000000000000000000000")).await;
    let WsMessage::Text(t) = ws_next(&mut ws, 5).await else {
        panic!()
    };
    let mid1 = envelopes(t.as_str())[0]["mid"]
        .as_str()
        .unwrap()
        .to_string();
    drop(ws);
    s.publish(&[&c], &php_body("m", "2"), 86400).await;
    s.publish(&[&c], &php_body("m", "3"), 86400).await;
    let mut ws = ws_connect(s.sub, &sub_query(&c, &format!("&mid={mid1}"))).await;
    let WsMessage::Text(t) = ws_next(&mut ws, 5).await else {
        panic!()
    };
    let env = envelopes(t.as_str());
    let texts: Vec<_> = env
        .iter()
        .map(|e| e["text"]["params"]["text"].clone())
        .collect();
    assert_eq!(texts, vec!["2", "3"], "replayed in one frame, in order");
    s.publish(&[&c], &php_body("m", "4"), 86400).await;
    let WsMessage::Text(t) = ws_next(&mut ws, 5).await else {
        panic!()
    };
    assert_eq!(envelopes(t.as_str())[0]["text"]["params"]["text"], "4");
}

#[tokio::test]
async fn bad_channel_upgrade_is_refused_with_http_400_and_server_keeps_serving() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let r = raw(
        s.sub,
        format!(
            "GET /bitrix/subws/?CHANNEL_ID={} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
             Connection: close\r\n\r\n",
            c.private.to_hex()
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "4010: Wrong Channel Id.");
    // The server keeps serving (the refused upgrade never subscribed: `c` is fresh).
    let mut ok = ws_connect(s.sub, &sub_query(&c, "")).await;
    wait_online(s.publ, &c).await;
    s.publish(&[&c], &php_body("m", "after"), 0).await;
    assert!(matches!(ws_next(&mut ok, 5).await, WsMessage::Text(_)));
}

/// What Bitrix's default browser client does when its channels do not verify (issue 10,
/// finding 0): after a 4010 close it reloads its config and reconnects at once (the
/// "5–35 s" delay reaches `setTimeout` as milliseconds); after an HTTP error it backs off
/// 15 s and more. Returns the connections it opened before backing off, or the cap.
async fn default_client_attempts(addr: std::net::SocketAddr, query: &str, cap: usize) -> usize {
    for attempt in 1..=cap {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/bitrix/subws/?{query}");
        match tokio_tungstenite::client_async(url, stream).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(_)) => return attempt,
            Err(e) => panic!("unexpected handshake failure: {e}"),
            Ok((mut ws, _)) => {
                let code = ws_close_code(&mut ws, 5).await;
                assert_eq!(code, Some(4010), "a subscribed socket was not expected");
            }
        }
    }
    cap
}

#[tokio::test]
async fn a_client_with_a_bad_signature_backs_off_after_one_connection() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let attempts =
        default_client_attempts(s.sub, &format!("CHANNEL_ID={}", c.private.to_hex()), 30).await;
    assert_eq!(attempts, 1, "the default client would loop on a 4010 close");
}

#[tokio::test]
async fn server_pings_and_drops_a_peer_that_never_answers() {
    let s = TestServer::with(|c| c.ws_ping_interval = Duration::from_secs(1)).await;
    let c = Channel::random();
    // A tungstenite client answers pings: it stays connected across several intervals.
    let mut ws = ws_connect(s.sub, &sub_query(&c, "")).await;
    let got_ping = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Some(Ok(WsMessage::Ping(p))) = ws.next().await {
                return p;
            }
        }
    })
    .await
    .expect("a ping within 3 s");
    assert_eq!(&got_ping[..], b"ws ping");
    // Keep the live client reading (a tungstenite client answers pings only while polled).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, WsMessage::Text(_)) {
                let _ = tx.send(m);
            }
        }
    });
    // A raw peer that completes the handshake and then never reads nor answers.
    let mut dead = tokio::net::TcpStream::connect(s.sub).await.unwrap();
    let req = format!(
        "GET /bitrix/subws/?{} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        sub_query(&c, "")
    );
    dead.write_all(req.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match dead.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "dead peer not terminated");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // The live client answered every ping and is still delivered to.
    s.publish(&[&c], &php_body("m", "still"), 0).await;
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert!(matches!(got, Ok(Some(WsMessage::Text(_)))), "{got:?}");
    reader.abort();
}

fn client_publish_batch(to: &Channel, body: &str) -> Vec<u8> {
    proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::IncomingMessages(
                proto::IncomingMessagesRequest {
                    messages: vec![proto::IncomingMessage {
                        receivers: vec![proto::Receiver {
                            id: to.public.as_bytes().to_vec(),
                            is_private: false,
                            signature: public_signature(&signer(), &to.public),
                        }],
                        sender: None,
                        body: body.to_string().into(),
                        expiry: 0,
                        r#type: "im_typing".into(),
                    }],
                },
            )),
        }],
    }
    .encode_to_vec()
}

#[tokio::test]
async fn client_publishes_to_a_public_channel_over_websocket() {
    let s = TestServer::start().await;
    let alice = Channel::random();
    let bob = Channel::random();
    let mut bob_ws = ws_connect(s.sub, &sub_query(&bob, "&binaryMode=true")).await;
    let mut alice_ws = ws_connect(s.sub, &sub_query(&alice, "&binaryMode=true")).await;
    wait_online(s.publ, &bob).await;
    let body = r#"{"module_id":"im","command":"typing","params":{}}"#;
    ws_send_binary(&mut alice_ws, client_publish_batch(&bob, body)).await;
    let WsMessage::Binary(b) = ws_next(&mut bob_ws, 5).await else {
        panic!()
    };
    let msgs = outgoing(&b);
    assert_eq!(&msgs[0].body[..], body.as_bytes());
    let sender = msgs[0].sender.as_ref().unwrap();
    assert_eq!(sender.r#type, proto::SenderType::Client as i32);
    assert_eq!(sender.id, alice.public.as_bytes().to_vec());
}

#[tokio::test]
async fn channel_stats_request_over_websocket() {
    let s = TestServer::start().await;
    let alice = Channel::random();
    let bob = Channel::random();
    let nobody = Channel::random();
    let _bob_ws = ws_connect(s.sub, &sub_query(&bob, "")).await;
    let mut alice_ws = ws_connect(s.sub, &sub_query(&alice, "&binaryMode=true")).await;
    let ids = |c: &Channel| proto::ProtoChannelId {
        id: c.public.as_bytes().to_vec(),
        is_private: false,
        signature: public_signature(&signer(), &c.public),
    };
    let req = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::ChannelStats(
                proto::ChannelStatsRequest {
                    channels: vec![ids(&bob), ids(&nobody)],
                },
            )),
        }],
    };
    wait_online(s.publ, &bob).await;
    ws_send_binary(&mut alice_ws, req.encode_to_vec()).await;
    let WsMessage::Binary(b) = ws_next(&mut alice_ws, 5).await else {
        panic!()
    };
    let batch = proto::ResponseBatch::decode(&b[..]).unwrap();
    let Some(proto::response::Command::ChannelStats(st)) = &batch.responses[0].command else {
        panic!("{batch:?}")
    };
    let online: Vec<bool> = st.channels.iter().map(|c| c.is_online).collect();
    assert_eq!(online, vec![true, false]);
}

#[tokio::test]
async fn bad_client_frames_close_with_their_codes_and_server_keeps_serving() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let server_stats = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::ServerStats(
                proto::ServerStatsRequest {},
            )),
        }],
    }
    .encode_to_vec();
    let mut private_receiver = client_publish_batch(&c, "{}");
    // Flip isPrivate on: decode, edit, encode.
    let mut b = proto::RequestBatch::decode(&private_receiver[..]).unwrap();
    if let Some(proto::request::Command::IncomingMessages(m)) = &mut b.requests[0].command {
        m.messages[0].receivers[0].is_private = true;
    }
    private_receiver = b.encode_to_vec();
    let mut bad_sig = proto::RequestBatch::decode(&client_publish_batch(&c, "{}")[..]).unwrap();
    if let Some(proto::request::Command::IncomingMessages(m)) = &mut bad_sig.requests[0].command {
        m.messages[0].receivers[0].signature = vec![0; 20];
    }
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![1, 2, 3, 4, 5], 4013),
        (client_publish_batch(&c, "{}")[..10].to_vec(), 4013),
        (server_stats, 4014),
        (private_receiver, 4020),
        (bad_sig.encode_to_vec(), 4021),
    ];
    for (frame, code) in cases {
        let mut ws = ws_connect(s.sub, &sub_query(&c, "&binaryMode=true")).await;
        ws_send_binary(&mut ws, frame).await;
        assert_eq!(ws_close_code(&mut ws, 5).await, Some(code));
    }
    // A shared-only connection may not publish: 4012.
    let mut ws = ws_connect(
        s.sub,
        &format!("CHANNEL_ID={}&binaryMode=true", enc(&c.shared_descriptor())),
    )
    .await;
    ws_send_binary(&mut ws, client_publish_batch(&c, "{}")).await;
    assert_eq!(ws_close_code(&mut ws, 5).await, Some(4012));
    // Text frames in text mode are ignored. (`c` had subscribers, so presence says nothing
    // about this one: it resumes from mid 0 and gets the message by replay or live.)
    let mut ws = ws_connect(s.sub, &sub_query(&c, &format!("&mid={}", "0".repeat(26)))).await;
    futures_util::SinkExt::send(&mut ws, WsMessage::Text("garbage".into()))
        .await
        .unwrap();
    s.publish(&[&c], &php_body("m", "ok"), 60).await;
    assert!(matches!(ws_next(&mut ws, 5).await, WsMessage::Text(_)));
}

#[tokio::test]
async fn oldest_connection_beyond_the_per_channel_limit_is_closed_with_4029() {
    let s = TestServer::with(|c| c.max_conn_per_channel = 2).await;
    let c = Channel::random();
    let mut first = ws_connect(s.sub, &sub_query(&c, "")).await;
    let _second = ws_connect(s.sub, &sub_query(&c, "")).await;
    let _third = ws_connect(s.sub, &sub_query(&c, "")).await;
    assert_eq!(ws_close_code(&mut first, 5).await, Some(4029));
}

#[tokio::test]
async fn graceful_shutdown_closes_with_1001() {
    let mut s = TestServer::start().await;
    let c = Channel::random();
    let mut ws = ws_connect(s.sub, &sub_query(&c, "")).await;
    wait_online(s.publ, &c).await;
    let stop = s.stop();
    let code = ws_close_code(&mut ws, 5);
    let (_, code) = tokio::join!(stop, code);
    assert_eq!(code, Some(1001));
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_cut_off_not_buffered() {
    let s = TestServer::with(|c| c.max_queue_per_connection = 4).await;
    let c = Channel::random();
    // Handshake by hand, then never read: the kernel buffers fill, the socket task blocks
    // on its write, and the bounded queue overflows.
    let mut stalled = tokio::net::TcpStream::connect(s.sub).await.unwrap();
    let req = format!(
        "GET /bitrix/subws/?{} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        sub_query(&c, "")
    );
    stalled.write_all(req.as_bytes()).await.unwrap();
    let mut healthy = ws_connect(s.sub, &sub_query(&c, "")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let big = "x".repeat(60_000);
    let mut received = 0;
    for i in 0..300 {
        s.publish(&[&c], &php_body("m", &format!("{i}{big}")), 0)
            .await;
        // The healthy reader keeps up.
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(Duration::from_millis(1), healthy.next()).await
        {
            if let WsMessage::Text(t) = m {
                received += envelopes(t.as_str()).len();
            }
        }
    }
    let stat = get(s.publ, "/server-stat/").await;
    let v: serde_json::Value = serde_json::from_slice(&stat.body).unwrap();
    assert!(
        v[0]["bxpush"]["slowReadersCut"].as_u64().unwrap() >= 1,
        "{v}"
    );
    while received < 300 {
        match ws_next(&mut healthy, 5).await {
            WsMessage::Text(t) => received += envelopes(t.as_str()).len(),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(received, 300);
    drop(stalled);
}

#[tokio::test]
async fn an_oversize_frame_closes_only_that_socket() {
    let s = TestServer::with(|c| c.max_payload = 1024).await;
    let c = Channel::random();
    let mut ws = ws_connect(s.sub, &sub_query(&c, "&binaryMode=true")).await;
    ws_send_binary(&mut ws, vec![0u8; 4096]).await;
    // 1009 as README promises (before: the TCP connection was dropped without a frame).
    assert_eq!(ws_close_code(&mut ws, 5).await, Some(1009));
    // `c` had a subscriber: resume from mid 0, so the message arrives by replay or live.
    let mut ok = ws_connect(s.sub, &sub_query(&c, &format!("&mid={}", "0".repeat(26)))).await;
    s.publish(&[&c], &php_body("m", "x"), 60).await;
    assert!(matches!(ws_next(&mut ok, 5).await, WsMessage::Text(_)));
}
