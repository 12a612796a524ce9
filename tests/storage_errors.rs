//! A full disk under the history log (issue 10 finding 3): a message is either stored and
//! delivered, or refused with `503` and neither; after the disk recovers a publish is
//! stored once, in memory and in the log (checked across a restart). Runs on a real
//! small tmpfs filled to ENOSPC (needs root, as the suite runs here and in CI).
mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const ZERO: &str = "00000000000000000000000000";

/// Bodies larger than a page, so that a write to a full tmpfs always needs a new one.
fn big(text: &str) -> String {
    php_body("message", &format!("{text}{}", "x".repeat(8000)))
}

fn text_of(e: &serde_json::Value) -> String {
    let t = e["text"]["params"]["text"].as_str().unwrap();
    t.trim_end_matches('x').to_string()
}

async fn publish_raw(s: &TestServer, c: &Channel, body: &str, expiry: u32) -> Reply {
    let req = format!(
        "POST /bitrix/pub/?CHANNEL_ID={} HTTP/1.1\r\nHost: x\r\nMessage-Expiry: {expiry}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        c.private.to_hex(),
        body.len()
    );
    raw(s.publ, req.as_bytes()).await
}

async fn next_texts(ws: &mut Ws) -> Vec<String> {
    match ws_next(ws, 5).await {
        WsMessage::Text(t) => envelopes(t.as_str()).iter().map(text_of).collect(),
        other => panic!("{other:?}"),
    }
}

async fn replay(s: &TestServer, c: &Channel) -> Vec<String> {
    let r = get(
        s.sub,
        &format!(
            "/bitrix/sub/?CHANNEL_ID={}&mid={ZERO}",
            enc(&c.descriptor())
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    envelopes(&r.text()).iter().map(text_of).collect()
}

/// A server on `data` once the stopped one let go of it (its aborted tasks drop their
/// handle on the store, and with it the data dir's lock, when the runtime next runs them).
async fn restart(data: &std::path::Path) -> TestServer {
    let mut c = test_config();
    c.data_dir = Some(data.to_path_buf());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match bxpush::runtime::Server::start(c.clone()).await {
            Ok(server) => return TestServer::from_server(server),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "data dir still locked: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("restart: {e}"),
        }
    }
}

#[tokio::test]
async fn a_full_disk_refuses_the_publish_whole_and_recovery_stores_one_copy() {
    let disk = SmallDisk::mount("full-http", 1024);
    let data = disk.data();
    let mut s = TestServer::with(|c| c.data_dir = Some(data.clone())).await;
    let c = Channel::random();
    let mut ws = ws_connect(s.sub, &format!("CHANNEL_ID={}", enc(&c.descriptor()))).await;
    wait_online(s.publ, &c).await;

    s.publish(&[&c], &big("before"), 3600).await;
    assert_eq!(next_texts(&mut ws).await, ["before"]);

    disk.fill();
    let r = publish_raw(&s, &c, &big("refused"), 3600).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        r.text().starts_with("503: Message not stored"),
        "{}",
        r.text()
    );
    // A live-only message needs no disk: delivered, and it is the next thing the
    // subscriber sees (the refused one was not delivered before it).
    s.publish(&[&c], &php_body("message", "live"), 0).await;
    assert_eq!(next_texts(&mut ws).await, ["live"]);
    assert_eq!(replay(&s, &c).await, ["before"]);
    let stat = get(s.publ, "/server-stat/").await;
    let stat: serde_json::Value = serde_json::from_str(&stat.text()).unwrap();
    assert_eq!(stat[0]["bxpush"]["refusedNotStored"], 1);

    // The publisher retries once the disk has room: one copy.
    disk.free();
    s.publish(&[&c], &big("refused"), 3600).await;
    assert_eq!(next_texts(&mut ws).await, ["refused"]);
    assert_eq!(replay(&s, &c).await, ["before", "refused"]);

    // The log holds exactly what was acknowledged.
    drop(ws);
    s.stop().await;
    let s = restart(&data).await;
    assert_eq!(replay(&s, &c).await, ["before", "refused"]);
}
