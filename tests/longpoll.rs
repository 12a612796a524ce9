//! Long polling over real loopback sockets (spec §2.2).
mod common;

use std::time::{Duration, Instant};

use common::*;

fn lp_path(c: &Channel, extra: &str) -> String {
    format!(
        "/bitrix/sub/?CHANNEL_ID={}&revision=19{extra}",
        enc(&c.descriptor())
    )
}

#[tokio::test]
async fn idle_poll_ends_with_304_magic_expires_and_mid() {
    let s = TestServer::with(|c| c.long_poll_timeout = Duration::from_secs(1)).await;
    let c = Channel::random();
    let started = Instant::now();
    let r = get(s.sub, &lp_path(&c, "&mid=17959531890000000000000099")).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(r.status, 304);
    assert_eq!(
        r.header("last-message-id"),
        Some("17959531890000000000000099")
    );
    assert_eq!(r.header("expires"), Some("Thu, 01 Jan 1973 11:11:01 GMT"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("Last-Message-Id")
    );
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn idle_poll_without_mid_reports_newest_stored_id_or_empty() {
    let s = TestServer::with(|c| c.long_poll_timeout = Duration::from_secs(1)).await;
    let c = Channel::random();
    let r = get(s.sub, &lp_path(&c, "")).await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("last-message-id"), Some(""));
    s.publish(&[&c], &php_body("a", "1"), 86400).await;
    s.publish(&[&c], &php_body("b", "2"), 86400).await;
    let r = get(s.sub, &lp_path(&c, "")).await;
    assert_eq!(r.status, 304);
    let last = r.header("last-message-id").unwrap().to_string();
    assert_eq!(last.len(), 26);
    // Resuming from that id replays nothing: it is the newest.
    let r = get(s.sub, &lp_path(&c, &format!("&mid={last}"))).await;
    assert_eq!(r.status, 304);
}

#[tokio::test]
async fn parked_poll_gets_live_message_in_envelope() {
    let s = TestServer::start().await;
    let c = Channel::random();
    let sub = s.sub;
    let path = lp_path(&c, "");
    let poll = tokio::spawn(async move { get(sub, &path).await });
    // Parked: registered with the hub, so the publish below is delivered live.
    wait_online(s.publ, &c).await;
    let body = php_body("message", "hi");
    s.publish(&[&c], &body, 86400).await;
    let r = poll.await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let env = envelopes(&r.text());
    assert_eq!(env.len(), 1);
    assert_eq!(env[0]["channel"], "-");
    assert_eq!(env[0]["text"]["command"], "message");
    let mid = env[0]["mid"].as_str().unwrap();
    assert_eq!(mid.len(), 26);
    assert_eq!(
        env[0]["id"].as_u64().unwrap(),
        mid[10..].parse::<u64>().unwrap()
    );
    // The verbatim body is inside the envelope.
    assert!(r.text().contains(&format!("\"text\":{body}}}")));
}

#[tokio::test]
async fn resume_with_mid_replays_everything_after_it_in_one_reply() {
    let s = TestServer::start().await;
    let c = Channel::random();
    s.publish(&[&c], &php_body("m", "1"), 86400).await;
    let first = get(s.sub, &lp_path(&c, "&mid=00000000000000000000000000")).await;
    let mid1 = envelopes(&first.text())[0]["mid"]
        .as_str()
        .unwrap()
        .to_string();
    s.publish(&[&c], &php_body("m", "2"), 86400).await;
    s.publish(&[&c], &php_body("m", "3"), 86400).await;
    // Live only (expiry 0): never replayed.
    s.publish(&[&c], &php_body("m", "live"), 0).await;
    let r = get(s.sub, &lp_path(&c, &format!("&mid={mid1}"))).await;
    assert_eq!(r.status, 200);
    let env = envelopes(&r.text());
    let texts: Vec<_> = env
        .iter()
        .map(|e| e["text"]["params"]["text"].clone())
        .collect();
    assert_eq!(texts, vec!["2", "3"]);
    assert!(env[0]["mid"].as_str() < env[1]["mid"].as_str());
}

#[tokio::test]
async fn binary_mode_poll_returns_protobuf_response_batch() {
    use bxpush::protocol::proto;
    use prost::Message;
    let s = TestServer::start().await;
    let c = Channel::random();
    s.publish(&[&c], &php_body("bin", "x"), 86400).await;
    let r = get(
        s.sub,
        &lp_path(&c, "&binaryMode=true&mid=00000000000000000000000000"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let batch = proto::ResponseBatch::decode(r.body.as_slice()).unwrap();
    let Some(proto::response::Command::OutgoingMessages(out)) = &batch.responses[0].command else {
        panic!("not outgoingMessages: {batch:?}");
    };
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].id.len(), 13);
    assert_eq!(out.messages[0].expiry, 86400);
    assert_eq!(
        out.messages[0].sender.as_ref().unwrap().r#type,
        proto::SenderType::Backend as i32
    );
    assert!(String::from_utf8_lossy(&out.messages[0].body).contains("\"command\":\"bin\""));
}

#[tokio::test]
async fn bad_channel_lists_get_4010() {
    let s = TestServer::start().await;
    let c = Channel::random();
    for q in [
        String::new(),
        format!("CHANNEL_ID={}", c.private.to_hex()), // unsigned
        format!("CHANNEL_ID={}", enc(&c.public_descriptor())), // public only: wrong signature
        format!("CHANNEL_ID={}.{}", c.private.to_hex(), "0".repeat(40)),
        format!("CHANNEL_ID={}/{}", enc(&c.descriptor()), "zz"), // whole list rejected
        format!("CHANNEL_ID={}", enc(&c.descriptor().to_uppercase())),
    ] {
        let r = get(s.sub, &format!("/bitrix/sub/?{q}")).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.text(), "4010: Wrong Channel Id.", "{q}");
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
}

#[tokio::test]
async fn same_path_as_websocket_and_options_and_404() {
    let s = TestServer::with(|c| c.long_poll_timeout = Duration::from_secs(1)).await;
    let c = Channel::random();
    let r = get(
        s.sub,
        &format!("/bitrix/subws/?CHANNEL_ID={}", enc(&c.descriptor())),
    )
    .await;
    assert_eq!(r.status, 304);
    let r = raw(
        s.sub,
        b"OPTIONS /bitrix/sub/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("POST, GET, DELETE, OPTIONS")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("If-Modified-Since, If-None-Match")
    );
    let r = get(s.sub, "/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.body.is_empty());
    // Publishing is not on the subscriber listener.
    let r = post(s.sub, "/bitrix/pub/?CHANNEL_ID=x", b"x").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn message_to_private_and_shared_channel_arrives_once() {
    let s = TestServer::start().await;
    let user = Channel::random();
    let shared = Channel::random();
    let q = format!(
        "/bitrix/sub/?CHANNEL_ID={}&mid=00000000000000000000000000",
        enc(&format!(
            "{}/{}",
            user.descriptor(),
            shared.shared_descriptor()
        ))
    );
    s.publish(&[&user, &shared], &php_body("both", "x"), 86400)
        .await;
    let r = get(s.sub, &q).await;
    assert_eq!(envelopes(&r.text()).len(), 1);
}
