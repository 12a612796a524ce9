//! Odd input the Node server accepts or refuses, answered the same way (issue 10,
//! finding 8).
mod common;

use common::*;

#[tokio::test]
async fn a_malformed_websocket_key_gets_400_not_101() {
    let s = TestServer::start().await;
    let c = Channel::random();
    for key in [
        "not-base64",
        "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZQ=!",
    ] {
        let r = raw(
            s.sub,
            format!(
                "GET /bitrix/subws/?CHANNEL_ID={} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
                 Connection: close\r\n\r\n",
                enc(&c.descriptor())
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(r.status, 400, "{key}: {}", r.text());
    }
    // A good key still upgrades.
    ws_connect(s.sub, &format!("CHANNEL_ID={}", enc(&c.descriptor()))).await;
}

#[tokio::test]
async fn message_expiry_as_a_huge_or_exponent_number_is_stored_capped() {
    let s = TestServer::start().await;
    let c = Channel::random();
    for expiry in ["99999999999999999999", "1e3"] {
        let body = format!("stored-{expiry}");
        let req = format!(
            "POST /bitrix/pub/?CHANNEL_ID={} HTTP/1.1\r\nHost: x\r\nMessage-Expiry: {expiry}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            c.private.to_hex(),
            body.len()
        );
        assert_eq!(raw(s.publ, req.as_bytes()).await.status, 200);
    }
    let r = get(
        s.sub,
        &format!(
            "/bitrix/sub/?CHANNEL_ID={}&revision=19&mid=00000000000000000000000000",
            enc(&c.descriptor())
        ),
    )
    .await;
    let text = r.text();
    assert!(text.contains("stored-99999999999999999999"), "{text}");
    assert!(text.contains("stored-1e3"), "{text}");
}
