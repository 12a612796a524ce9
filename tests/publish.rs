//! Trusted publishing and queries on `/bitrix/pub/` and `/server-stat/` (spec §2.4–2.8),
//! with real HTTP requests, including the pull module's and the site checker's quirks.
mod common;

use std::time::Duration;

use bxpush::protocol::proto;
use common::*;
use prost::Message;

fn lp(c: &Channel, mid: &str) -> String {
    format!("/bitrix/sub/?CHANNEL_ID={}&mid={mid}", enc(&c.descriptor()))
}

const ZERO: &str = "00000000000000000000000000";

#[tokio::test]
async fn text_publish_answers_200_empty_and_stores_with_expiry() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let r = s.publish(&[&c], &php_body("m", "stored"), 86400).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.body.is_empty());
    let got = get(s.sub, &lp(&c, ZERO)).await;
    assert_eq!(
        envelopes(&got.text())[0]["text"]["params"]["text"],
        "stored"
    );
}

#[tokio::test]
async fn missing_or_non_positive_expiry_is_live_only() {
    let s = TestServer::with(|c| c.long_poll_timeout = Duration::from_secs(1)).await;
    let c = Channel::random();
    for header in [
        "",
        "Message-Expiry: 0\r\n",
        "Message-Expiry: -5\r\n",
        "Message-Expiry: abc\r\n",
    ] {
        let body = php_body("m", "live");
        let req = format!(
            "POST /bitrix/pub/?CHANNEL_ID={} HTTP/1.1\r\nHost: x\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            c.private.to_hex(),
            body.len()
        );
        assert_eq!(raw(s.publ, req.as_bytes()).await.status, 200);
    }
    assert_eq!(get(s.sub, &lp(&c, ZERO)).await.status, 304);
}

#[tokio::test]
async fn site_checker_bare_token_over_http_1_0_is_delivered_verbatim() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let token = "0123456789abcdef0123456789abcdef";
    let req = format!(
        "POST /bitrix/pub/?CHANNEL_ID={} HTTP/1.0\r\nHost: 127.0.0.1\r\nMessage-Expiry: 60\r\nContent-Length: 32\r\n\r\n{token}",
        c.private.to_hex()
    );
    let r = raw(s.publ, req.as_bytes()).await;
    assert_eq!(r.status, 200);
    let got = get(s.sub, &lp(&c, ZERO)).await;
    assert!(
        got.text()
            .contains(&format!("\"text\":{token}}}#!NGINXNME!#")),
        "{}",
        got.text()
    );
    // DELETE is not a route (Node answers 404 too).
    let r = raw(s.publ, b"DELETE /bitrix/pub/?CHANNEL_ID=x HTTP/1.0\r\n\r\n").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn signed_descriptors_are_accepted_on_the_trusted_path_but_checked() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let ok = post(
        s.publ,
        &format!("/bitrix/pub/?CHANNEL_ID={}", c.descriptor()),
        b"{}",
    )
    .await;
    assert_eq!(ok.status, 200);
    let forged = format!(
        "{}:{}.{}",
        c.private.to_hex(),
        c.public.to_hex(),
        "0".repeat(40)
    );
    let bad = post(s.publ, &format!("/bitrix/pub/?CHANNEL_ID={forged}"), b"{}").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.text(), "4010: Wrong Channel Id.");
    let too_many: Vec<String> = (0..101)
        .map(|_| Channel::random().private.to_hex())
        .collect();
    let r = post(
        s.publ,
        &format!("/bitrix/pub/?CHANNEL_ID={}", too_many.join("/")),
        b"{}",
    )
    .await;
    assert_eq!(
        r.text(),
        "4018: Request exceeded the maximum number of channels."
    );
}

#[tokio::test]
async fn protobuf_publish_of_spec_vector_is_delivered() {
    let s = TestServer::start().await;
    // Spec §11.5: the PHP-style RequestBatch to private f6fcf2d5d6c2764e292968f0d64b7530.
    let batch = hex::decode("0a82020aff010afc010a140a10f6fcf2d5d6c2764e292968f0d64b753010011ad3017b226d6f64756c655f6964223a22696d222c22636f6d6d616e64223a226d657373616765222c22706172616d73223a7b2274657874223a226869227d2c226578747261223a7b227365727665725f74696d65223a22323032342d30312d30315430333a30303a30302b30333a3030222c227365727665725f74696d655f756e6978223a313730343036373230302e352c227365727665725f6e616d65223a226578616d706c652e636f6d222c227265766973696f6e5f776562223a31392c227265766973696f6e5f6d6f62696c65223a337d7d2080a3052a0a696d5f6d657373616765").unwrap();
    let r = post(
        s.publ,
        "/bitrix/pub/?binaryMode=true&hostname=example.com",
        &batch,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let c = Channel {
        private: bxpush::protocol::ChannelId::from_hex("f6fcf2d5d6c2764e292968f0d64b7530").unwrap(),
        public: bxpush::protocol::ChannelId::from_hex("a387b57cd8cea2596fae4294fbe0f536").unwrap(),
    };
    let got = get(s.sub, &lp(&c, ZERO)).await;
    let env = envelopes(&got.text());
    assert_eq!(env[0]["text"]["params"]["text"], "hi");
    let stats = get(s.publ, "/server-stat/").await;
    let v: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert_eq!(v[0]["daily"]["messages"]["im_message"], 1);
    assert_eq!(v[0]["daily"]["requests"]["incomingMessages"], 1);
}

#[tokio::test]
async fn protobuf_errors_answer_400_with_code() {
    let s = TestServer::start().await;
    let r = post(s.publ, "/bitrix/pub/?binaryMode=true", &[1, 2, 3, 4, 5]).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "4013: Wrong Request Data.")
    );
    let empty_msgs = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::IncomingMessages(Default::default())),
        }],
    };
    let r = post(
        s.publ,
        "/bitrix/pub/?binaryMode=true",
        &empty_msgs.encode_to_vec(),
    )
    .await;
    assert_eq!(
        r.text(),
        "4016: Request exceeded the maximum number of messages."
    );
    let bad_id = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::IncomingMessages(
                proto::IncomingMessagesRequest {
                    messages: vec![proto::IncomingMessage {
                        receivers: vec![proto::Receiver {
                            id: vec![1, 2, 3],
                            is_private: true,
                            signature: vec![],
                        }],
                        body: "{}".into(),
                        ..Default::default()
                    }],
                },
            )),
        }],
    };
    let r = post(
        s.publ,
        "/bitrix/pub/?binaryMode=true",
        &bad_id.encode_to_vec(),
    )
    .await;
    assert_eq!(r.text(), "4019: Request has an invalid channel id.");
    // Still serving.
    assert_eq!(get(s.publ, "/server-stat/").await.status, 200);
}

#[tokio::test]
async fn channel_stats_text_lists_only_online_private_channels() {
    let s = TestServer::start().await;
    let online = Channel::random();
    let offline = Channel::random();
    let _ws = ws_connect(s.sub, &format!("CHANNEL_ID={}", enc(&online.descriptor()))).await;
    let q = format!(
        "/bitrix/pub/?CHANNEL_ID={}/{}",
        online.private.to_hex(),
        offline.private.to_hex()
    );
    let mut r = get(s.publ, &q).await;
    for _ in 0..50 {
        if r.text().contains(&online.private.to_hex()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        r = get(s.publ, &q).await;
    }
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        format!(
            r#"{{"infos":[{{"channel":"{}","subscribers":1}}]}}"#,
            online.private.to_hex()
        )
    );
    // The PHP agent's GET with a form body and no query.
    let body = format!(
        "CHANNEL_ID={}/{}",
        online.private.to_hex(),
        offline.private.to_hex()
    );
    let req = format!(
        "GET /bitrix/pub/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = raw(s.publ, req.as_bytes()).await;
    assert!(r.text().contains(&online.private.to_hex()), "{}", r.text());
    let r = get(s.publ, "/bitrix/pub/?CHANNEL_ID=").await;
    assert_eq!(r.text(), "4017: No channels found.");
}

#[tokio::test]
async fn protobuf_channel_stats_and_server_stats() {
    let s = TestServer::start().await;
    let online = Channel::random();
    let _ws = ws_connect(s.sub, &format!("CHANNEL_ID={}", enc(&online.descriptor()))).await;
    wait_online(s.publ, &online).await;
    let req = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::ChannelStats(
                proto::ChannelStatsRequest {
                    channels: vec![
                        proto::ProtoChannelId {
                            id: online.private.as_bytes().to_vec(),
                            is_private: true,
                            signature: vec![],
                        },
                        proto::ProtoChannelId {
                            id: vec![0; 16],
                            is_private: true,
                            signature: vec![],
                        },
                    ],
                },
            )),
        }],
    };
    let r = post(s.publ, "/bitrix/pub/?binaryMode=true", &req.encode_to_vec()).await;
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let batch = proto::ResponseBatch::decode(r.body.as_slice()).unwrap();
    let Some(proto::response::Command::ChannelStats(st)) = &batch.responses[0].command else {
        panic!()
    };
    assert_eq!(
        st.channels.iter().map(|c| c.is_online).collect::<Vec<_>>(),
        vec![true, false]
    );
    let req = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::ServerStats(
                proto::ServerStatsRequest {},
            )),
        }],
    };
    let r = post(s.publ, "/bitrix/pub/?binaryMode=true", &req.encode_to_vec()).await;
    let batch = proto::ResponseBatch::decode(r.body.as_slice()).unwrap();
    let Some(proto::response::Command::ServerStats(j)) = &batch.responses[0].command else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(&j.json).unwrap();
    assert_eq!(v["websockets"], 1);
}

#[tokio::test]
async fn oversize_body_gets_413_and_server_keeps_serving() {
    let s = TestServer::with(|c| c.max_payload = 1024).await;
    let c = Channel::random();
    let big = vec![b'x'; 4096];
    let r = post(
        s.publ,
        &format!("/bitrix/pub/?CHANNEL_ID={}", c.private.to_hex()),
        &big,
    )
    .await;
    assert_eq!(r.status, 413);
    let r = post(
        s.publ,
        &format!("/bitrix/pub/?CHANNEL_ID={}", c.private.to_hex()),
        b"{}",
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn server_stat_is_a_json_array_in_the_node_shape() {
    let s = TestServer::start().await;
    let r = get(s.publ, "/server-stat/").await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let o = &v[0];
    assert_eq!(o["pid"], std::process::id());
    assert_eq!(o["limits"]["maxPayload"], 1_048_576);
    assert_eq!(o["limits"]["maxConnPerChannel"], 100);
    for k in [
        "date",
        "processUniqueId",
        "channels",
        "websockets",
        "pollings",
        "daily",
    ] {
        assert!(!o[k].is_null(), "{k} missing");
    }
    // Not on the subscriber listener.
    assert_eq!(get(s.sub, "/server-stat/").await.status, 404);
}

/// The site checker's `check_pull_stream` exactly (module notes §7.4): a raw HTTP/1.0 long
/// poll with a private-only signed id, a bare-token text publish without `Message-Expiry`,
/// then ONE read of 4096 bytes that must contain the token.
#[tokio::test]
async fn site_checker_check_pull_stream_passes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    let c = Channel::random();
    let mut sock = tokio::net::TcpStream::connect(s.sub).await.unwrap();
    let req = format!(
        "GET /bitrix/sub/?CHANNEL_ID={} HTTP/1.0\r\nIf-Modified-Since: Sat, 28 Nov 2026 10:00:00 GMT\r\nHost: localhost\r\n\r\n",
        c.shared_descriptor()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    wait_online(s.publ, &c).await;
    let token = "5d41402abc4b2a76b9719d911017c592";
    let publish = format!(
        "POST /bitrix/pub/?CHANNEL_ID={} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 32\r\n\r\n{token}",
        c.private.to_hex()
    );
    let r = raw(s.publ, publish.as_bytes()).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "the checker json_decodes the body");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let got = String::from_utf8_lossy(&buf[..n]);
    assert!(got.contains(token), "one read returned: {got}");
}

/// A text publish goes through the hub's one gate: `a/b/a` reaches `a` once (live and from
/// history), and it is counted (`published`, and `daily.messages` as `unknown`: text mode
/// has no type).
#[tokio::test]
async fn text_publish_to_a_b_a_delivers_once_and_is_counted() {
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    let s = TestServer::start().await;
    let (a, b) = (Channel::random(), Channel::random());
    let mut ws = ws_connect(s.sub, &format!("CHANNEL_ID={}", enc(&a.descriptor()))).await;
    wait_online(s.publ, &a).await;
    s.publish(&[&a, &b, &a], &php_body("m", "aba"), 86400).await;
    s.publish(&[&a], &php_body("m", "sentinel"), 86400).await;
    // Everything up to the sentinel: one message before it, not two.
    let mut live = Vec::new();
    while !live.contains(&"sentinel".to_string()) {
        let WsMessage::Text(t) = ws_next(&mut ws, 5).await else {
            panic!("text frames expected")
        };
        for e in envelopes(t.as_str()) {
            live.push(e["text"]["params"]["text"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(live, ["aba", "sentinel"]);
    let replay = get(s.sub, &lp(&a, ZERO)).await;
    let texts: Vec<_> = envelopes(&replay.text())
        .iter()
        .map(|e| e["text"]["params"]["text"].clone())
        .collect();
    assert_eq!(texts, ["aba", "sentinel"]);
    let replay_b = get(s.sub, &lp(&b, ZERO)).await;
    assert_eq!(envelopes(&replay_b.text()).len(), 1);

    let stats = get(s.publ, "/server-stat/").await;
    let v: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert_eq!(v[0]["bxpush"]["published"], 2);
    assert_eq!(v[0]["daily"]["messages"], serde_json::json!({"unknown": 2}));
    assert!(v[0]["daily"]["requests"].get("incomingMessages").is_none());
}
