//! Untrusted client publishing over HTTP: `/bitrix/rest/` and `/bitrix/pubweb/` (spec §2.6).
mod common;

use bxpush::protocol::descriptor::public_signature;
use bxpush::protocol::proto;
use common::*;
use prost::Message;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn batch(to: &Channel, is_private: bool, signature: Vec<u8>) -> Vec<u8> {
    proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::IncomingMessages(
                proto::IncomingMessagesRequest {
                    messages: vec![proto::IncomingMessage {
                        receivers: vec![proto::Receiver {
                            id: to.public.as_bytes().to_vec(),
                            is_private,
                            signature,
                        }],
                        sender: None,
                        body: r#"{"module_id":"im","command":"typing","params":{}}"#.into(),
                        expiry: 60,
                        r#type: "im_typing".into(),
                    }],
                },
            )),
        }],
    }
    .encode_to_vec()
}

#[tokio::test]
async fn long_polling_client_publishes_through_rest_and_pubweb() {
    let s = TestServer::start().await;
    let alice = Channel::random();
    let bob = Channel::random();
    let mut bob_ws = ws_connect(
        s.sub,
        &format!("CHANNEL_ID={}&binaryMode=true", enc(&bob.descriptor())),
    )
    .await;
    wait_online(s.publ, &bob).await;
    let good = batch(&bob, false, public_signature(&signer(), &bob.public));
    for path in ["/bitrix/rest/", "/bitrix/pubweb/"] {
        for addr in [s.sub, s.publ] {
            let r = post(
                addr,
                &format!("{path}?CHANNEL_ID={}", enc(&alice.descriptor())),
                &good,
            )
            .await;
            assert_eq!(r.status, 200, "{path} on {addr}: {}", r.text());
            let WsMessage::Binary(b) = ws_next(&mut bob_ws, 5).await else {
                panic!()
            };
            let out = proto::ResponseBatch::decode(&b[..]).unwrap();
            let Some(proto::response::Command::OutgoingMessages(m)) = &out.responses[0].command
            else {
                panic!()
            };
            let sender = m.messages[0].sender.as_ref().unwrap();
            assert_eq!(sender.r#type, proto::SenderType::Client as i32);
            assert_eq!(sender.id, alice.public.as_bytes().to_vec());
        }
    }
}

#[tokio::test]
async fn client_publish_errors() {
    let s = TestServer::start().await;
    let alice = Channel::random();
    let bob = Channel::random();
    let good = batch(&bob, false, public_signature(&signer(), &bob.public));
    // Shared channel only: no public id to publish as.
    let r = post(
        s.sub,
        &format!(
            "/bitrix/rest/?CHANNEL_ID={}",
            enc(&alice.shared_descriptor())
        ),
        &good,
    )
    .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "4012: Public Channel Id is Required.")
    );
    let q = format!("/bitrix/rest/?CHANNEL_ID={}", enc(&alice.descriptor()));
    let r = post(s.sub, &q, &batch(&bob, true, vec![])).await;
    assert_eq!(r.text(), "4020: Private channel is not allowed.");
    let r = post(s.sub, &q, &batch(&bob, false, vec![7; 20])).await;
    assert_eq!(r.text(), "4021: Channel has an invalid signature.");
    let r = post(s.sub, &q, b"\xff\xff\xff").await;
    assert_eq!(r.text(), "4013: Wrong Request Data.");
    // Still serving.
    assert_eq!(post(s.sub, &q, &good).await.status, 200);
}
