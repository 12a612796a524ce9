//! Target `request_batch`: a protobuf `RequestBatch` body, as `POST /bitrix/pub/` (trusted)
//! and `/bitrix/rest/` or a WebSocket binary frame (untrusted) receive it.
//!
//! Properties: errors are only the documented 4013–4021 codes, and each one matches what
//! the request holds (e.g. 4014 only for a command a client may not send); an accepted
//! request stays inside the limits, an untrusted one addresses only public channels whose
//! signature verifies; re-encoding the accepted command and parsing it again (trusted)
//! gives the same command (decode∘encode round trip); decoding holds at most a bounded
//! multiple of the input in memory.

use bxpush::protocol::descriptor::verify_public_signature;
use bxpush::protocol::proto::{self, request};
use bxpush::protocol::request::parse_request_batch;
use bxpush::protocol::{Command, ErrorCode, Limits, Trust};
use prost::Message as _;

use super::signer;

pub const DOCUMENTED: [ErrorCode; 9] = [
    ErrorCode::WrongRequestData,
    ErrorCode::CommandNotAllowed,
    ErrorCode::WrongRequestCommand,
    ErrorCode::TooManyMessages,
    ErrorCode::NoChannels,
    ErrorCode::TooManyChannels,
    ErrorCode::InvalidChannelId,
    ErrorCode::PrivateChannelNotAllowed,
    ErrorCode::InvalidChannelSignature,
];

/// The accepted command as a trusted publisher would send it.
fn encode(cmd: &Command) -> Vec<u8> {
    let receiver = |k: &bxpush::protocol::ChannelKey| proto::Receiver {
        id: k.id.as_bytes().to_vec(),
        is_private: !k.public,
        signature: Vec::new(),
    };
    let command = match cmd {
        Command::IncomingMessages(ms) => {
            request::Command::IncomingMessages(proto::IncomingMessagesRequest {
                messages: ms
                    .iter()
                    .map(|m| proto::IncomingMessage {
                        receivers: m.receivers.iter().map(receiver).collect(),
                        sender: None,
                        body: m.body.clone(),
                        expiry: m.expiry,
                        r#type: m.label.clone(),
                    })
                    .collect(),
            })
        }
        Command::ChannelStats(keys) => request::Command::ChannelStats(proto::ChannelStatsRequest {
            channels: keys
                .iter()
                .map(|k| proto::ProtoChannelId {
                    id: k.id.as_bytes().to_vec(),
                    is_private: !k.public,
                    signature: Vec::new(),
                })
                .collect(),
        }),
        Command::ServerStats => request::Command::ServerStats(proto::ServerStatsRequest {}),
    };
    proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(command),
        }],
    }
    .encode_to_vec()
}

pub fn check(data: &[u8]) {
    let signer = signer();
    // Small limits so that the limit checks are reached by small inputs.
    let limits = Limits {
        max_messages_per_request: 4,
        max_channels_per_request: 4,
    };
    // prost holds the decoded batch (a Vec element per repeated field entry, each a few
    // words) and the parser its validated copy.
    let bound = 64 * data.len() + 64 * 1024;
    for trust in [Trust::Trusted, Trust::Untrusted] {
        let got = super::alloc::bounded("parse_request_batch", bound, || {
            parse_request_batch(data, trust, Some(&signer), &limits)
        });
        match got {
            Err(code) => {
                assert!(DOCUMENTED.contains(&code), "undocumented error {code:?}");
                let untrusted_only = [
                    ErrorCode::CommandNotAllowed,
                    ErrorCode::PrivateChannelNotAllowed,
                    ErrorCode::InvalidChannelSignature,
                ];
                if trust == Trust::Trusted {
                    assert!(
                        !untrusted_only.contains(&code),
                        "{code:?} for a trusted request"
                    );
                } else {
                    assert_ne!(code, ErrorCode::WrongRequestCommand, "4014 comes first");
                }
                if code == ErrorCode::WrongRequestData {
                    // Either not a RequestBatch, or no command in requests[0].
                    let first = proto::RequestBatch::decode(data)
                        .ok()
                        .and_then(|b| b.requests.into_iter().next())
                        .and_then(|r| r.command);
                    assert!(first.is_none(), "4013 for a decodable command");
                }
            }
            Ok(cmd) => {
                match &cmd {
                    Command::IncomingMessages(ms) => {
                        assert!((1..=limits.max_messages_per_request).contains(&ms.len()));
                        for m in ms {
                            assert!(
                                (1..=limits.max_channels_per_request).contains(&m.receivers.len())
                            );
                            if trust == Trust::Untrusted {
                                for r in &m.receivers {
                                    assert!(r.public, "a client published to a private channel");
                                    let sig = public_sig_of(data, r.id.as_bytes());
                                    assert!(sig
                                        .iter()
                                        .any(|s| verify_public_signature(&signer, &r.id, s)));
                                }
                            }
                        }
                    }
                    Command::ChannelStats(keys) => {
                        assert!((1..=limits.max_channels_per_request).contains(&keys.len()));
                        if trust == Trust::Untrusted {
                            assert!(keys.iter().all(|k| k.public));
                        }
                    }
                    Command::ServerStats => assert_eq!(trust, Trust::Trusted),
                }
                let again = encode(&cmd);
                assert_eq!(
                    parse_request_batch(&again, Trust::Trusted, None, &limits),
                    Ok(cmd),
                    "decode(encode(command)) == command"
                );
            }
        }
    }
}

/// Every signature given for channel `id` anywhere in the request (independent of the
/// parser's own walk).
fn public_sig_of(data: &[u8], id: &[u8]) -> Vec<Vec<u8>> {
    let Ok(batch) = proto::RequestBatch::decode(data) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(request::Command::IncomingMessages(req)) =
        batch.requests.into_iter().next().and_then(|r| r.command)
    {
        for m in req.messages {
            for r in m.receivers {
                if r.id == id {
                    out.push(r.signature);
                }
            }
        }
    }
    out
}
