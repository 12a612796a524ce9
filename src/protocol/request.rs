//! Decoding and validating a protobuf `RequestBatch` from a publisher (trusted:
//! `POST /bitrix/pub/?binaryMode=true`) or a client (untrusted: `/bitrix/rest/`, WebSocket
//! binary frames), spec §2.3, §2.5, §2.6.
//!
//! The checks and their order follow the Node server's `Application.processClientRequest`
//! / `validateMessages` / `validateChannels`, so a given bad request gets the same 40xx
//! code. Whether the caller has a public id (4012) is the transport's business: it is
//! checked before the body is even decoded.

use bytes::Bytes;
use prost::Message as _;

use super::channel::{ChannelId, ChannelKey};
use super::descriptor::{verify_public_signature, Trust};
use super::error::ErrorCode;
use super::proto::{self, request};
use super::sign::Signer;

/// Per-request limits (`limits` of the Node config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `maxMessagesPerRequest`, default 100.
    pub max_messages_per_request: usize,
    /// `maxChannelsPerRequest`, default 100 (receivers per message, ids per stats request).
    pub max_channels_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_messages_per_request: 100,
            max_channels_per_request: 100,
        }
    }
}

/// One validated message to publish. The request's `sender` is dropped: the server
/// sets it (BACKEND when trusted, CLIENT + publisher id otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// Receivers in request order (duplicates kept, as the Node server does).
    pub receivers: Vec<ChannelKey>,
    /// The body, opaque and unvalidated.
    pub body: Bytes,
    /// Seconds to keep in history; 0 = live delivery only.
    pub expiry: u32,
    /// `IncomingMessage.type`, as given: the statistics label, validated where it is
    /// counted (`hub::stats::valid_label`, spec §2.8).
    pub label: String,
}

/// A validated request (the command of `requests[0]`).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    IncomingMessages(Vec<Incoming>),
    /// Channels whose presence is asked, in request order.
    ChannelStats(Vec<ChannelKey>),
    /// Trusted only.
    ServerStats,
}

impl Command {
    /// The protobuf name of the command, as counted in `daily.requests` (spec §2.8).
    pub fn name(&self) -> &'static str {
        match self {
            Command::IncomingMessages(_) => "incomingMessages",
            Command::ChannelStats(_) => "channelStats",
            Command::ServerStats => "serverStats",
        }
    }
}

/// Decode `body` as a `RequestBatch` and validate `requests[0]`.
///
/// Errors, in the order they are checked:
/// * not a protobuf `RequestBatch`, no request, or a request without a (known) command →
///   `4013 Wrong Request Data` (Node: `request === null || typeof command !== "string"`).
///   An *unknown* command (a field of `Request` outside the `oneof`) is 4013 too, not
///   the 4015 spec §2.5 names: protobufjs leaves `command` undefined for it as prost
///   leaves it `None`, so the Node server answers 4013 (DESIGN.md, "Deliberate
///   differences");
/// * untrusted and not `incomingMessages`/`channelStats` → `4014`;
/// * trusted `registration` (cloud mode, not served) → `4015`;
/// * `incomingMessages`: 0 or more than the limit → `4016`; then per message, per
///   receiver, the channel rules below;
/// * `channelStats`: the channel rules below on its ids.
///
/// Channel rules (per list): empty → `4017`; over the limit → `4018`; then per id:
/// untrusted `isPrivate` → `4020`; id not 16 bytes → `4019`; untrusted signature not the
/// raw HMAC of `"public:" + hex(id)` (or no key configured) → `4021`. Trusted ids go to
/// the namespace their `isPrivate` says, unsigned.
pub fn parse_request_batch(
    body: &[u8],
    trust: Trust,
    signer: Option<&Signer>,
    limits: &Limits,
) -> Result<Command, ErrorCode> {
    let batch = proto::RequestBatch::decode(body).map_err(|_| ErrorCode::WrongRequestData)?;
    let command = batch
        .requests
        .into_iter()
        .next()
        .and_then(|r| r.command)
        .ok_or(ErrorCode::WrongRequestData)?;

    let untrusted = trust == Trust::Untrusted;
    match command {
        request::Command::IncomingMessages(req) => {
            let n = req.messages.len();
            if n == 0 || n > limits.max_messages_per_request {
                return Err(ErrorCode::TooManyMessages);
            }
            let mut out = Vec::with_capacity(n);
            for m in req.messages {
                let receivers = validate_channels(
                    m.receivers
                        .iter()
                        .map(|r| (&r.id[..], r.is_private, &r.signature[..])),
                    m.receivers.len(),
                    trust,
                    signer,
                    limits,
                )?;
                out.push(Incoming {
                    receivers,
                    body: m.body,
                    expiry: m.expiry,
                    label: m.r#type,
                });
            }
            Ok(Command::IncomingMessages(out))
        }
        request::Command::ChannelStats(req) => {
            let keys = validate_channels(
                req.channels
                    .iter()
                    .map(|c| (&c.id[..], c.is_private, &c.signature[..])),
                req.channels.len(),
                trust,
                signer,
                limits,
            )?;
            Ok(Command::ChannelStats(keys))
        }
        request::Command::ServerStats(_) if untrusted => Err(ErrorCode::CommandNotAllowed),
        request::Command::ServerStats(_) => Ok(Command::ServerStats),
        request::Command::Registration(_) if untrusted => Err(ErrorCode::CommandNotAllowed),
        request::Command::Registration(_) => Err(ErrorCode::WrongRequestCommand),
    }
}

/// The channel rules shared by message receivers and stats ids: `(id, isPrivate,
/// signature)` triples → channel keys, or the first error.
fn validate_channels<'a>(
    channels: impl Iterator<Item = (&'a [u8], bool, &'a [u8])>,
    count: usize,
    trust: Trust,
    signer: Option<&Signer>,
    limits: &Limits,
) -> Result<Vec<ChannelKey>, ErrorCode> {
    if count == 0 {
        return Err(ErrorCode::NoChannels);
    }
    if count > limits.max_channels_per_request {
        return Err(ErrorCode::TooManyChannels);
    }
    let mut out = Vec::with_capacity(count);
    for (id, is_private, signature) in channels {
        match trust {
            Trust::Trusted => {
                let id = ChannelId::from_bytes(id).ok_or(ErrorCode::InvalidChannelId)?;
                out.push(if is_private {
                    ChannelKey::private(id)
                } else {
                    ChannelKey::public(id)
                });
            }
            Trust::Untrusted => {
                if is_private {
                    return Err(ErrorCode::PrivateChannelNotAllowed);
                }
                let id = ChannelId::from_bytes(id).ok_or(ErrorCode::InvalidChannelId)?;
                let signer = signer.ok_or(ErrorCode::InvalidChannelSignature)?;
                if !verify_public_signature(signer, &id, signature) {
                    return Err(ErrorCode::InvalidChannelSignature);
                }
                out.push(ChannelKey::public(id));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::descriptor::public_signature;
    use crate::protocol::proto::{
        ChannelStatsRequest, IncomingMessage, IncomingMessagesRequest, ProtoChannelId, Receiver,
        RegisterRequest, Request, RequestBatch, Sender, ServerStatsRequest,
    };
    use crate::protocol::sign::SignatureAlgo;
    use crate::protocol::testdata::*;

    fn signer() -> Signer {
        Signer::new(TEST_KEY, SignatureAlgo::Sha1)
    }

    fn id(hex: &str) -> ChannelId {
        ChannelId::from_hex(hex).unwrap()
    }

    fn limits() -> Limits {
        Limits::default()
    }

    fn batch(command: request::Command) -> Vec<u8> {
        RequestBatch {
            requests: vec![Request {
                command: Some(command),
            }],
        }
        .encode_to_vec()
    }

    fn private_receiver(hex: &str) -> Receiver {
        Receiver {
            id: unhex(hex),
            is_private: true,
            signature: Vec::new(),
        }
    }

    fn public_receiver(hex: &str) -> Receiver {
        Receiver {
            id: unhex(hex),
            is_private: false,
            signature: public_signature(&signer(), &id(hex)),
        }
    }

    fn message(receivers: Vec<Receiver>) -> IncomingMessage {
        IncomingMessage {
            receivers,
            sender: None,
            body: Bytes::from_static(b"{}"),
            expiry: 60,
            r#type: "im_message".into(),
        }
    }

    fn publish(messages: Vec<IncomingMessage>) -> Vec<u8> {
        batch(request::Command::IncomingMessages(
            IncomingMessagesRequest { messages },
        ))
    }

    fn stats(channels: Vec<ProtoChannelId>) -> Vec<u8> {
        batch(request::Command::ChannelStats(ChannelStatsRequest {
            channels,
        }))
    }

    fn parse(body: &[u8], trust: Trust) -> Result<Command, ErrorCode> {
        parse_request_batch(body, trust, Some(&signer()), &limits())
    }

    // --- spec vectors -------------------------------------------------------------------

    /// Spec §11.5: the PHP publish batch, trusted.
    #[test]
    fn spec_11_5_php_publish_trusted() {
        let got = parse(&unhex(PHP_PUBLISH_BATCH), Trust::Trusted).unwrap();
        assert_eq!(
            got,
            Command::IncomingMessages(vec![Incoming {
                receivers: vec![ChannelKey::private(id(PRIVATE))],
                body: Bytes::from_static(BODY.as_bytes()),
                expiry: 86_400,
                label: "im_message".into(),
            }])
        );
        // Also with no key configured: trusted ids are never signature-checked.
        assert_eq!(
            parse_request_batch(&unhex(PHP_PUBLISH_BATCH), Trust::Trusted, None, &limits()),
            Ok(got)
        );
    }

    /// Spec §11.5: the same batch from an untrusted client addresses a private channel.
    #[test]
    fn spec_11_5_php_publish_untrusted_is_4020() {
        assert_eq!(
            parse(&unhex(PHP_PUBLISH_BATCH), Trust::Untrusted),
            Err(ErrorCode::PrivateChannelNotAllowed)
        );
    }

    /// Spec §11.5: the client publish batch, untrusted, with `test-signature-key`.
    #[test]
    fn spec_11_5_client_publish_untrusted() {
        let got = parse(&unhex(CLIENT_PUBLISH_BATCH), Trust::Untrusted).unwrap();
        assert_eq!(
            got,
            Command::IncomingMessages(vec![Incoming {
                receivers: vec![ChannelKey::public(id(PUBLIC))],
                body: Bytes::from_static(CLIENT_BODY.as_bytes()),
                expiry: 0,
                label: String::new(),
            }])
        );
        assert_eq!(got.name(), "incomingMessages");
    }

    /// Spec §11.5: the client batch with another key, or no key: 4021.
    #[test]
    fn spec_11_5_client_publish_wrong_key_is_4021() {
        let other = Signer::new("other-key", SignatureAlgo::Sha1);
        let body = unhex(CLIENT_PUBLISH_BATCH);
        assert_eq!(
            parse_request_batch(&body, Trust::Untrusted, Some(&other), &limits()),
            Err(ErrorCode::InvalidChannelSignature)
        );
        assert_eq!(
            parse_request_batch(&body, Trust::Untrusted, None, &limits()),
            Err(ErrorCode::InvalidChannelSignature)
        );
        // sha256 signer: the 20-byte signature has the wrong length
        let s256 = Signer::new(TEST_KEY, SignatureAlgo::Sha256);
        assert_eq!(
            parse_request_batch(&body, Trust::Untrusted, Some(&s256), &limits()),
            Err(ErrorCode::InvalidChannelSignature)
        );
    }

    /// Spec §11.5: the trusted stats request.
    #[test]
    fn spec_11_5_stats_request_trusted() {
        let got = parse(&unhex(STATS_REQUEST), Trust::Trusted).unwrap();
        assert_eq!(
            got,
            Command::ChannelStats(vec![ChannelKey::private(id(PRIVATE))])
        );
        assert_eq!(got.name(), "channelStats");
        // From a client it asks about a private channel: 4020.
        assert_eq!(
            parse(&unhex(STATS_REQUEST), Trust::Untrusted),
            Err(ErrorCode::PrivateChannelNotAllowed)
        );
    }

    /// Spec §11.6: a WS binary frame `01 02 03 04 05` is 4013.
    #[test]
    fn spec_11_6_garbage_is_4013() {
        for trust in [Trust::Trusted, Trust::Untrusted] {
            assert_eq!(
                parse(&[1, 2, 3, 4, 5], trust),
                Err(ErrorCode::WrongRequestData)
            );
        }
    }

    // --- decoding errors ----------------------------------------------------------------

    #[test]
    fn truncated_batch_is_4013() {
        let raw = unhex(PHP_PUBLISH_BATCH);
        for cut in [1, 2, 10, raw.len() / 2, raw.len() - 1] {
            assert_eq!(
                parse(&raw[..cut], Trust::Trusted),
                Err(ErrorCode::WrongRequestData),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn empty_batch_and_missing_command_are_4013() {
        // empty body = empty RequestBatch
        assert_eq!(parse(b"", Trust::Trusted), Err(ErrorCode::WrongRequestData));
        // a request without a command
        let no_command = RequestBatch {
            requests: vec![Request { command: None }],
        }
        .encode_to_vec();
        assert_eq!(no_command, [0x0a, 0x00]);
        for trust in [Trust::Trusted, Trust::Untrusted] {
            assert_eq!(parse(&no_command, trust), Err(ErrorCode::WrongRequestData));
        }
        // an unknown oneof member (field 9 of Request) is skipped → no command → 4013,
        // what the Node server answers (not 4015: see parse_request_batch)
        assert_eq!(
            parse(&[0x0a, 0x02, 0x4a, 0x00], Trust::Trusted),
            Err(ErrorCode::WrongRequestData)
        );
    }

    #[test]
    fn invalid_utf8_type_is_4013() {
        // `type` is a proto string: prost rejects invalid UTF-8 (the body is not checked).
        let mut m = message(vec![private_receiver(PRIVATE)]);
        m.r#type = "x".into();
        let mut raw = publish(vec![m]);
        let last = raw.len() - 1;
        assert_eq!(raw[last], b'x');
        raw[last] = 0xff;
        assert_eq!(
            parse(&raw, Trust::Trusted),
            Err(ErrorCode::WrongRequestData)
        );
    }

    #[test]
    fn non_utf8_body_is_accepted() {
        let mut m = message(vec![private_receiver(PRIVATE)]);
        m.body = Bytes::from_static(b"\xff\x00");
        let Command::IncomingMessages(v) = parse(&publish(vec![m]), Trust::Trusted).unwrap() else {
            panic!()
        };
        assert_eq!(&v[0].body[..], b"\xff\x00");
    }

    #[test]
    fn only_the_first_request_counts() {
        let raw = RequestBatch {
            requests: vec![
                Request {
                    command: Some(request::Command::ServerStats(ServerStatsRequest {})),
                },
                Request {
                    command: Some(request::Command::Registration(RegisterRequest::default())),
                },
            ],
        }
        .encode_to_vec();
        assert_eq!(parse(&raw, Trust::Trusted), Ok(Command::ServerStats));
        // a broken first request is not rescued by a good second one
        let raw = RequestBatch {
            requests: vec![
                Request { command: None },
                Request {
                    command: Some(request::Command::ServerStats(ServerStatsRequest {})),
                },
            ],
        }
        .encode_to_vec();
        assert_eq!(
            parse(&raw, Trust::Trusted),
            Err(ErrorCode::WrongRequestData)
        );
    }

    // --- commands -----------------------------------------------------------------------

    #[test]
    fn server_stats_trusted_ok_untrusted_4014() {
        let raw = batch(request::Command::ServerStats(ServerStatsRequest {}));
        assert_eq!(parse(&raw, Trust::Trusted), Ok(Command::ServerStats));
        assert_eq!(Command::ServerStats.name(), "serverStats");
        assert_eq!(
            parse(&raw, Trust::Untrusted),
            Err(ErrorCode::CommandNotAllowed)
        );
    }

    #[test]
    fn registration_trusted_4015_untrusted_4014() {
        let raw = batch(request::Command::Registration(RegisterRequest {
            verification_query: "BX_LICENCE=x".into(),
            host: "example.com".into(),
        }));
        assert_eq!(
            parse(&raw, Trust::Trusted),
            Err(ErrorCode::WrongRequestCommand)
        );
        assert_eq!(
            parse(&raw, Trust::Untrusted),
            Err(ErrorCode::CommandNotAllowed)
        );
    }

    // --- message count ------------------------------------------------------------------

    #[test]
    fn zero_messages_is_4016() {
        for trust in [Trust::Trusted, Trust::Untrusted] {
            assert_eq!(
                parse(&publish(vec![]), trust),
                Err(ErrorCode::TooManyMessages)
            );
        }
    }

    #[test]
    fn message_limit_is_inclusive_then_4016() {
        let m = message(vec![private_receiver(PRIVATE)]);
        let ok = publish(vec![m.clone(); 100]);
        let Command::IncomingMessages(v) = parse(&ok, Trust::Trusted).unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 100);
        let over = publish(vec![m.clone(); 101]);
        assert_eq!(
            parse(&over, Trust::Trusted),
            Err(ErrorCode::TooManyMessages)
        );
        let small = Limits {
            max_messages_per_request: 2,
            ..Limits::default()
        };
        let three = publish(vec![m; 3]);
        assert_eq!(
            parse_request_batch(&three, Trust::Trusted, None, &small),
            Err(ErrorCode::TooManyMessages)
        );
    }

    // --- receivers ----------------------------------------------------------------------

    #[test]
    fn message_without_receivers_is_4017() {
        for trust in [Trust::Trusted, Trust::Untrusted] {
            assert_eq!(
                parse(&publish(vec![message(vec![])]), trust),
                Err(ErrorCode::NoChannels)
            );
        }
        // the second message being empty fails the whole request
        let raw = publish(vec![
            message(vec![private_receiver(PRIVATE)]),
            message(vec![]),
        ]);
        assert_eq!(parse(&raw, Trust::Trusted), Err(ErrorCode::NoChannels));
    }

    #[test]
    fn receiver_limit_is_inclusive_then_4018() {
        let ok = publish(vec![message(vec![private_receiver(PRIVATE); 100])]);
        assert!(parse(&ok, Trust::Trusted).is_ok());
        let over = publish(vec![message(vec![private_receiver(PRIVATE); 101])]);
        assert_eq!(
            parse(&over, Trust::Trusted),
            Err(ErrorCode::TooManyChannels)
        );
        let over = publish(vec![message(vec![public_receiver(PUBLIC); 101])]);
        assert_eq!(
            parse(&over, Trust::Untrusted),
            Err(ErrorCode::TooManyChannels)
        );
    }

    #[test]
    fn receiver_id_not_16_bytes_is_4019() {
        for len in [0usize, 15, 17, 32] {
            let r = Receiver {
                id: vec![0xab; len],
                is_private: true,
                signature: Vec::new(),
            };
            let raw = publish(vec![message(vec![private_receiver(PRIVATE), r])]);
            assert_eq!(
                parse(&raw, Trust::Trusted),
                Err(ErrorCode::InvalidChannelId),
                "len {len}"
            );
            // untrusted (public, even with a signature over its hex)
            let bad_id = vec![0xab; len];
            let r = Receiver {
                signature: signer().sign_parts(&[b"public:", hex::encode(&bad_id).as_bytes()]),
                id: bad_id,
                is_private: false,
            };
            let raw = publish(vec![message(vec![r])]);
            assert_eq!(
                parse(&raw, Trust::Untrusted),
                Err(ErrorCode::InvalidChannelId),
                "len {len}"
            );
        }
    }

    #[test]
    fn untrusted_private_receiver_is_4020() {
        let mut r = public_receiver(PUBLIC);
        r.is_private = true;
        let raw = publish(vec![message(vec![public_receiver(PUBLIC), r])]);
        assert_eq!(
            parse(&raw, Trust::Untrusted),
            Err(ErrorCode::PrivateChannelNotAllowed)
        );
    }

    #[test]
    fn untrusted_bad_signature_is_4021() {
        let good = public_receiver(PUBLIC);
        let mut cases = Vec::new();
        // missing
        cases.push(Receiver {
            signature: Vec::new(),
            ..good.clone()
        });
        // one bit off
        let mut flipped = good.clone();
        flipped.signature[0] ^= 0x80;
        cases.push(flipped);
        // truncated
        let mut short = good.clone();
        short.signature.pop();
        cases.push(short);
        // hex instead of raw bytes
        cases.push(Receiver {
            signature: b"f59a1bc80c528413971b90120368aa438b7e7f30".to_vec(),
            ..good.clone()
        });
        // signature over the id without the "public:" prefix
        cases.push(Receiver {
            signature: signer().sign(PUBLIC.as_bytes()),
            ..good.clone()
        });
        // another channel's signature
        cases.push(Receiver {
            signature: public_signature(&signer(), &id(SHARED)),
            ..good.clone()
        });
        for r in cases {
            let raw = publish(vec![message(vec![good.clone(), r.clone()])]);
            assert_eq!(
                parse(&raw, Trust::Untrusted),
                Err(ErrorCode::InvalidChannelSignature),
                "{r:?}"
            );
        }
    }

    #[test]
    fn trusted_is_private_decides_namespace_without_signature() {
        let raw = publish(vec![message(vec![
            private_receiver(PRIVATE),
            Receiver {
                id: unhex(PUBLIC),
                is_private: false,
                signature: b"garbage".to_vec(),
            },
            private_receiver(PRIVATE),
        ])]);
        let Command::IncomingMessages(v) =
            parse_request_batch(&raw, Trust::Trusted, None, &limits()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            v[0].receivers,
            vec![
                ChannelKey::private(id(PRIVATE)),
                ChannelKey::public(id(PUBLIC)),
                ChannelKey::private(id(PRIVATE)),
            ]
        );
    }

    #[test]
    fn request_sender_is_ignored() {
        let mut m = message(vec![public_receiver(PUBLIC)]);
        m.sender = Some(Sender::backend());
        let got = parse(&publish(vec![m]), Trust::Untrusted).unwrap();
        // nothing in `Incoming` carries the forged sender
        let Command::IncomingMessages(v) = got else {
            panic!()
        };
        assert_eq!(v[0].receivers, vec![ChannelKey::public(id(PUBLIC))]);
    }

    #[test]
    fn type_is_passed_on_as_the_label_unchecked() {
        // Validated once, where it is counted (hub::stats), whatever path it came by.
        for t in ["im_message", "", "im.message", &"a".repeat(300)] {
            let mut m = message(vec![private_receiver(PRIVATE)]);
            m.r#type = t.into();
            let Command::IncomingMessages(v) = parse(&publish(vec![m]), Trust::Trusted).unwrap()
            else {
                panic!()
            };
            assert_eq!(v[0].label, t);
        }
    }

    // --- channel stats ------------------------------------------------------------------

    fn stats_id(hex: &str, is_private: bool, signed: bool) -> ProtoChannelId {
        ProtoChannelId {
            id: unhex(hex),
            is_private,
            signature: if signed {
                public_signature(&signer(), &id(hex))
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn channel_stats_untrusted_public_signed() {
        let raw = stats(vec![
            stats_id(PUBLIC, false, true),
            stats_id(SHARED, false, true),
        ]);
        assert_eq!(
            parse(&raw, Trust::Untrusted),
            Ok(Command::ChannelStats(vec![
                ChannelKey::public(id(PUBLIC)),
                ChannelKey::public(id(SHARED)),
            ]))
        );
        let raw = stats(vec![stats_id(PUBLIC, false, false)]);
        assert_eq!(
            parse(&raw, Trust::Untrusted),
            Err(ErrorCode::InvalidChannelSignature)
        );
        let raw = stats(vec![stats_id(PUBLIC, true, true)]);
        assert_eq!(
            parse(&raw, Trust::Untrusted),
            Err(ErrorCode::PrivateChannelNotAllowed)
        );
    }

    #[test]
    fn channel_stats_trusted_mixed_namespaces() {
        let raw = stats(vec![
            stats_id(PRIVATE, true, false),
            stats_id(PUBLIC, false, false),
        ]);
        assert_eq!(
            parse_request_batch(&raw, Trust::Trusted, None, &limits()),
            Ok(Command::ChannelStats(vec![
                ChannelKey::private(id(PRIVATE)),
                ChannelKey::public(id(PUBLIC)),
            ]))
        );
    }

    #[test]
    fn channel_stats_count_and_id_errors() {
        for trust in [Trust::Trusted, Trust::Untrusted] {
            assert_eq!(parse(&stats(vec![]), trust), Err(ErrorCode::NoChannels));
            let over = stats(vec![stats_id(PUBLIC, false, true); 101]);
            assert_eq!(parse(&over, trust), Err(ErrorCode::TooManyChannels));
            let limit = stats(vec![stats_id(PUBLIC, false, true); 100]);
            assert!(parse(&limit, trust).is_ok());
            let short = ProtoChannelId {
                id: vec![1; 15],
                is_private: false,
                signature: Vec::new(),
            };
            assert_eq!(
                parse(&stats(vec![short]), trust),
                Err(ErrorCode::InvalidChannelId)
            );
        }
        let small = Limits {
            max_channels_per_request: 1,
            ..Limits::default()
        };
        let two = stats(vec![stats_id(PRIVATE, true, false); 2]);
        assert_eq!(
            parse_request_batch(&two, Trust::Trusted, None, &small),
            Err(ErrorCode::TooManyChannels)
        );
    }

    /// The first failing check wins, in the Node server's order.
    #[test]
    fn error_precedence() {
        // count before per-id checks: 101 private receivers from a client → 4018, not 4020
        let raw = publish(vec![message(vec![private_receiver(PRIVATE); 101])]);
        assert_eq!(
            parse(&raw, Trust::Untrusted),
            Err(ErrorCode::TooManyChannels)
        );
        // untrusted: isPrivate before the id length
        let r = Receiver {
            id: vec![1; 3],
            is_private: true,
            signature: Vec::new(),
        };
        assert_eq!(
            parse(&publish(vec![message(vec![r])]), Trust::Untrusted),
            Err(ErrorCode::PrivateChannelNotAllowed)
        );
        // messages count before receivers
        let raw = publish(vec![message(vec![]); 101]);
        assert_eq!(parse(&raw, Trust::Trusted), Err(ErrorCode::TooManyMessages));
    }

    #[test]
    fn default_limits_are_100() {
        let l = Limits::default();
        assert_eq!(l.max_messages_per_request, 100);
        assert_eq!(l.max_channels_per_request, 100);
    }
}
