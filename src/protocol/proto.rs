//! The protobuf messages of binary mode (spec §4.5), written by hand with `prost` derives
//! (no `build.rs`, no `protoc`), plus hand-rolled encoders for the hot paths.
//!
//! Field numbers and wire types follow the Node server's `lib/models/*.proto` (push-server
//! 0.4.0 schema, a superset of 2.x). Rust names are snake_case; `IPCMessage` and friends
//! are spelt `IpcMessage` as `prost-build` would. Message bodies (`IncomingMessage.body`,
//! `OutgoingMessage.body`, proto type `string`) are kept as raw [`Bytes`]: same wire
//! format, but the server never validates, re-encodes or copies a body it only relays.
//!
//! Frames sent to subscribers are built by concatenating already-encoded
//! `OutgoingMessage`s ([`response_batch_of_messages`]): each message is encoded once per
//! publish, never per subscriber.

use bytes::{BufMut, Bytes};
use prost::encoding::{encode_varint, encoded_len_varint};
use prost::Message as _;

use super::channel::ChannelId;
use super::mid::MessageId;

// ---------------------------------------------------------------------------------------
// Requests (publisher / client → server)

/// `RequestBatch`: only `requests[0]` is ever processed by the server.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestBatch {
    #[prost(message, repeated, tag = "1")]
    pub requests: Vec<Request>,
}

/// `Request` with its `oneof command`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(oneof = "request::Command", tags = "1, 2, 3, 4")]
    pub command: Option<request::Command>,
}

/// Nested types of [`Request`].
pub mod request {
    /// `Request.command`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Command {
        #[prost(message, tag = "1")]
        IncomingMessages(super::IncomingMessagesRequest),
        #[prost(message, tag = "2")]
        ChannelStats(super::ChannelStatsRequest),
        #[prost(message, tag = "3")]
        ServerStats(super::ServerStatsRequest),
        /// Cloud mode only (push-server 0.4.0).
        #[prost(message, tag = "4")]
        Registration(super::RegisterRequest),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IncomingMessagesRequest {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<IncomingMessage>,
}

/// A message to publish.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IncomingMessage {
    #[prost(message, repeated, tag = "1")]
    pub receivers: Vec<Receiver>,
    /// Ignored: the server sets the sender itself.
    #[prost(message, optional, tag = "2")]
    pub sender: Option<Sender>,
    /// Proto type `string`; kept as raw bytes (see the module doc).
    #[prost(bytes = "bytes", tag = "3")]
    pub body: Bytes,
    /// Seconds to keep in history; 0 = live delivery only.
    #[prost(uint32, tag = "4")]
    pub expiry: u32,
    /// Statistics label (PHP: `<module>_<command>`).
    #[prost(string, tag = "5")]
    pub r#type: String,
}

/// A receiver of an [`IncomingMessage`]; `signature` only from untrusted clients.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Receiver {
    #[prost(bytes = "vec", tag = "1")]
    pub id: Vec<u8>,
    #[prost(bool, tag = "2")]
    pub is_private: bool,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

/// Who published an outgoing message. Clients drop a message that has none (spec §13).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sender {
    #[prost(enumeration = "SenderType", tag = "1")]
    pub r#type: i32,
    /// The publishing client's public channel id (16 bytes); empty for the backend.
    #[prost(bytes = "vec", tag = "2")]
    pub id: Vec<u8>,
}

/// `SenderType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SenderType {
    Unknown = 0,
    Client = 1,
    Backend = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelStatsRequest {
    #[prost(message, repeated, tag = "1")]
    pub channels: Vec<ProtoChannelId>,
}

/// Protobuf `ChannelId` (renamed: [`super::ChannelId`] is the 16-byte id type).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoChannelId {
    #[prost(bytes = "vec", tag = "1")]
    pub id: Vec<u8>,
    #[prost(bool, tag = "2")]
    pub is_private: bool,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerStatsRequest {}

/// Cloud-mode licence registration (push-server 0.4.0); not served in personal mode.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterRequest {
    #[prost(string, tag = "1")]
    pub verification_query: String,
    #[prost(string, tag = "2")]
    pub host: String,
}

// ---------------------------------------------------------------------------------------
// Responses (server → subscriber / publisher)

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseBatch {
    #[prost(message, repeated, tag = "1")]
    pub responses: Vec<Response>,
}

/// `Response` with its `oneof command`; clients only read `outgoingMessages`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    #[prost(oneof = "response::Command", tags = "1, 2, 3, 4")]
    pub command: Option<response::Command>,
}

/// Nested types of [`Response`].
pub mod response {
    /// `Response.command`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Command {
        #[prost(message, tag = "1")]
        OutgoingMessages(super::OutgoingMessagesResponse),
        #[prost(message, tag = "2")]
        ChannelStats(super::ChannelStatsResponse),
        #[prost(message, tag = "3")]
        ServerStats(super::JsonResponse),
        /// Cloud-mode replies (push-server 0.4.0).
        #[prost(string, tag = "4")]
        Json(String),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OutgoingMessagesResponse {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<OutgoingMessage>,
}

/// A delivered message. Clients use `mid = hex(id)`, `JSON.parse(body)` and `sender`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OutgoingMessage {
    /// The 13-byte message id.
    #[prost(bytes = "vec", tag = "1")]
    pub id: Vec<u8>,
    /// Proto type `string`; kept as raw bytes (see the module doc).
    #[prost(bytes = "bytes", tag = "2")]
    pub body: Bytes,
    #[prost(uint32, tag = "3")]
    pub expiry: u32,
    /// Unix seconds at store time (clients never read it).
    #[prost(fixed32, tag = "4")]
    pub created: u32,
    #[prost(message, optional, tag = "5")]
    pub sender: Option<Sender>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelStatsResponse {
    #[prost(message, repeated, tag = "1")]
    pub channels: Vec<ChannelStats>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelStats {
    #[prost(bytes = "vec", tag = "1")]
    pub id: Vec<u8>,
    #[prost(bool, tag = "2")]
    pub is_private: bool,
    #[prost(bool, tag = "3")]
    pub is_online: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct JsonResponse {
    #[prost(string, tag = "1")]
    pub json: String,
}

// ---------------------------------------------------------------------------------------
// Inter-process notifications of the Node cluster (Redis pub/sub); not client-visible.
// Kept for a possible mixed Node/Rust cluster.

#[derive(Clone, PartialEq, prost::Message)]
pub struct NotificationBatch {
    #[prost(message, repeated, tag = "1")]
    pub notifications: Vec<Notification>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Notification {
    #[prost(oneof = "notification::Command", tags = "1, 2")]
    pub command: Option<notification::Command>,
}

/// Nested types of [`Notification`].
pub mod notification {
    /// `Notification.command`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Command {
        #[prost(message, tag = "1")]
        IpcMessages(super::IpcMessages),
        /// push-server 0.4.0 cloud mode.
        #[prost(message, tag = "2")]
        IpcLicenses(super::IpcLicenses),
    }
}

/// `IPCMessages`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpcMessages {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<IpcMessage>,
}

/// `IPCMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpcMessage {
    #[prost(message, repeated, tag = "1")]
    pub receivers: Vec<Receiver>,
    #[prost(bytes = "vec", tag = "2")]
    pub outgoing_message_id: Vec<u8>,
    #[prost(message, optional, tag = "3")]
    pub outgoing_message: Option<OutgoingMessage>,
}

/// `IPCLicenses` (push-server 0.4.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpcLicenses {
    #[prost(message, repeated, tag = "1")]
    pub licenses: Vec<IpcLicense>,
}

/// `IPCLicense` (push-server 0.4.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpcLicense {
    #[prost(message, optional, tag = "1")]
    pub license: Option<License>,
    #[prost(string, tag = "2")]
    pub action: String,
}

/// `License` (push-server 0.4.0 cloud mode).
#[derive(Clone, PartialEq, prost::Message)]
pub struct License {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(string, tag = "2")]
    pub client_id: String,
    #[prost(string, tag = "3")]
    pub security_key: String,
    #[prost(string, tag = "4")]
    pub security_algo: String,
    #[prost(fixed32, tag = "5")]
    pub date_to: u32,
    #[prost(string, tag = "6")]
    pub site_url: String,
    #[prost(string, tag = "7")]
    pub verification_query: String,
    #[prost(fixed32, tag = "8")]
    pub last_check: u32,
    #[prost(string, tag = "9")]
    pub host: String,
}

// ---------------------------------------------------------------------------------------
// Hot-path encoders

/// Wire-type-2 keys of the fields written by hand below (`tag << 3 | 2`).
const KEY_FIELD1_LEN: u8 = 0x0a;
const KEY_FIELD2_LEN: u8 = 0x12;
const KEY_FIELD5_LEN: u8 = 0x2a;
/// `OutgoingMessage.expiry` (field 3, varint) and `.created` (field 4, fixed32).
const KEY_EXPIRY: u8 = 0x18;
const KEY_CREATED: u8 = 0x25;
/// `ChannelStats.isPrivate` (field 2, varint) and `.isOnline` (field 3, varint).
const KEY_IS_PRIVATE: u8 = 0x10;
const KEY_IS_ONLINE: u8 = 0x18;

/// Size of a length-delimited field with a one-byte key and `len` payload bytes.
pub(crate) fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// Write the key and length of a length-delimited field (its payload follows).
pub(crate) fn put_header(out: &mut Vec<u8>, key: u8, len: usize) {
    out.push(key);
    encode_varint(len as u64, out);
}

/// The encoded `OutgoingMessage` (no outer length prefix), written field by field.
///
/// `body` is written verbatim as the `string` field (no UTF-8 check: the server relays
/// what it was given). `body`, `expiry` and `created` are omitted when empty/0 (proto3
/// defaults, as prost writes them).
/// `sender` (field 5) is **always** present, even for the backend: a client drops a
/// message without a sender and every later message of the same frame (spec §13).
pub fn encode_outgoing_message(
    mid: &MessageId,
    body: &[u8],
    expiry: u32,
    created: u32,
    sender: &Sender,
) -> Bytes {
    let id = mid.as_bytes();
    let sender_len = sender.encoded_len();
    let len = field_len(id.len())
        + if body.is_empty() {
            0
        } else {
            field_len(body.len())
        }
        + if expiry != 0 {
            1 + encoded_len_varint(u64::from(expiry))
        } else {
            0
        }
        + if created != 0 { 5 } else { 0 }
        + field_len(sender_len);
    let mut out = Vec::with_capacity(len);
    put_header(&mut out, KEY_FIELD1_LEN, id.len());
    out.extend_from_slice(id);
    if !body.is_empty() {
        put_header(&mut out, KEY_FIELD2_LEN, body.len());
        out.extend_from_slice(body);
    }
    if expiry != 0 {
        out.push(KEY_EXPIRY);
        encode_varint(u64::from(expiry), &mut out);
    }
    if created != 0 {
        out.push(KEY_CREATED);
        out.put_u32_le(created);
    }
    put_header(&mut out, KEY_FIELD5_LEN, sender_len);
    sender
        .encode(&mut out)
        .expect("a Vec grows as needed, encoding cannot run out of space");
    debug_assert_eq!(out.len(), len);
    Bytes::from(out)
}

/// `ResponseBatch{responses: [{outgoingMessages: {messages: [...]}}]}` from already
/// encoded `OutgoingMessage`s (each as produced by [`encode_outgoing_message`]): only
/// length prefixes are added, nothing is re-encoded.
pub fn response_batch_of_messages<'a>(encoded: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let messages: Vec<&[u8]> = encoded.into_iter().collect();
    // OutgoingMessagesResponse = each message as field 1.
    let omr_len: usize = messages.iter().map(|m| field_len(m.len())).sum();
    // Response = OutgoingMessagesResponse as field 1 (`outgoingMessages`).
    let response_len = field_len(omr_len);
    // ResponseBatch = Response as field 1.
    let mut out = Vec::with_capacity(field_len(response_len));
    put_header(&mut out, KEY_FIELD1_LEN, response_len);
    put_header(&mut out, KEY_FIELD1_LEN, omr_len);
    for m in messages {
        put_header(&mut out, KEY_FIELD1_LEN, m.len());
        out.extend_from_slice(m);
    }
    out
}

/// `ResponseBatch{responses: [{channelStats: {channels: [...]}}]}`, one `ChannelStats`
/// per `(id, is_private, online)` in the given order.
///
/// Both booleans are always written, `false` included (`10 00` / `18 00`), as protobufjs
/// does for the reference server: the output is byte-identical to its captures
/// (spec §11.5). A proto3 decoder reads either form.
pub fn channel_stats_response(stats: &[(ChannelId, bool, bool)]) -> Vec<u8> {
    // ChannelStats = id (2 + 16) + isPrivate (2) + isOnline (2) = 22 bytes.
    const ENTRY_LEN: usize = 2 + 16 + 2 + 2;
    let csr_len = stats.len() * field_len(ENTRY_LEN);
    let response_len = field_len(csr_len);
    let mut out = Vec::with_capacity(field_len(response_len));
    put_header(&mut out, KEY_FIELD1_LEN, response_len);
    put_header(&mut out, KEY_FIELD2_LEN, csr_len);
    for (id, is_private, online) in stats {
        put_header(&mut out, KEY_FIELD1_LEN, ENTRY_LEN);
        put_header(&mut out, KEY_FIELD1_LEN, 16);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&[KEY_IS_PRIVATE, u8::from(*is_private)]);
        out.extend_from_slice(&[KEY_IS_ONLINE, u8::from(*online)]);
    }
    out
}

/// `ResponseBatch{responses: [{serverStats: {json}}]}` (trusted `serverStats` command).
pub fn server_stats_response(json: &str) -> Vec<u8> {
    ResponseBatch {
        responses: vec![Response {
            command: Some(response::Command::ServerStats(JsonResponse {
                json: json.to_owned(),
            })),
        }],
    }
    .encode_to_vec()
}

impl Sender {
    /// `{type: BACKEND}`: trusted publishes (PHP).
    pub fn backend() -> Self {
        Sender {
            r#type: SenderType::Backend as i32,
            id: Vec::new(),
        }
    }

    /// `{type: CLIENT, id: <publisher's public id>}`: untrusted publishes.
    pub fn client(public: &ChannelId) -> Self {
        Sender {
            r#type: SenderType::Client as i32,
            id: public.as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testdata::*;

    fn mid42() -> MessageId {
        MessageId::new(1_700_000_000, 42)
    }

    fn id(hex: &str) -> ChannelId {
        ChannelId::from_hex(hex).unwrap()
    }

    /// Spec §11.5: the binary long-poll reply / WS frame, byte for byte.
    #[test]
    fn spec_11_5_outgoing_batch_exact_bytes() {
        let m = encode_outgoing_message(
            &mid42(),
            BODY.as_bytes(),
            86_400,
            1_704_067_201,
            &Sender::backend(),
        );
        assert!(m.ends_with(&[0x2a, 0x02, 0x08, 0x02]));
        let frame = response_batch_of_messages([&m[..]]);
        assert_eq!(hex::encode(&frame), OUTGOING_BATCH);
    }

    #[test]
    fn spec_11_5_outgoing_batch_decodes() {
        let batch = ResponseBatch::decode(&unhex(OUTGOING_BATCH)[..]).unwrap();
        assert_eq!(batch.responses.len(), 1);
        let Some(response::Command::OutgoingMessages(omr)) = &batch.responses[0].command else {
            panic!("not outgoingMessages: {batch:?}");
        };
        assert_eq!(omr.messages.len(), 1);
        let m = &omr.messages[0];
        assert_eq!(m.id, mid42().as_bytes());
        assert_eq!(m.body, BODY.as_bytes());
        assert_eq!(m.expiry, 86_400);
        assert_eq!(m.created, 1_704_067_201);
        let sender = m.sender.as_ref().unwrap();
        assert_eq!(sender.r#type(), SenderType::Backend);
        assert!(sender.id.is_empty());
        // prost's own encoding of the decoded value is identical too.
        assert_eq!(hex::encode(batch.encode_to_vec()), OUTGOING_BATCH);
    }

    /// The hand encoder agrees with prost's derive for every field combination.
    #[test]
    fn hand_encoder_matches_prost() {
        let public = id(PUBLIC);
        for sender in [
            Sender::backend(),
            Sender::client(&public),
            Sender::default(),
        ] {
            for (expiry, created) in [(0, 0), (86_400, 1_704_067_201), (u32::MAX, u32::MAX)] {
                for body in [&b""[..], b"{}", BODY.as_bytes(), &[b'x'; 300][..]] {
                    let hand = encode_outgoing_message(&mid42(), body, expiry, created, &sender);
                    let derived = OutgoingMessage {
                        id: mid42().as_bytes().to_vec(),
                        body: Bytes::copy_from_slice(body),
                        expiry,
                        created,
                        sender: Some(sender.clone()),
                    };
                    assert_eq!(&hand[..], &derived.encode_to_vec()[..]);
                    assert_eq!(OutgoingMessage::decode(hand).unwrap(), derived);
                }
            }
        }
    }

    #[test]
    fn sender_is_always_encoded() {
        // Even an all-default sender is written (`2a 00`), never omitted.
        let m = encode_outgoing_message(&mid42(), b"{}", 0, 0, &Sender::default());
        assert!(m.ends_with(&[0x2a, 0x00]));
        let d = OutgoingMessage::decode(m).unwrap();
        assert_eq!(d.sender, Some(Sender::default()));
    }

    /// Spec §11.5 [R]: a client-published message is re-emitted with
    /// `sender {type: CLIENT, id}`, i.e. the tail `2a 14 08 01 12 10 <id>`.
    #[test]
    fn client_sender_encoding() {
        let public = id(PUBLIC);
        let m = encode_outgoing_message(
            &mid42(),
            CLIENT_BODY.as_bytes(),
            0,
            5,
            &Sender::client(&public),
        );
        let mut tail = vec![0x2a, 0x14, 0x08, 0x01, 0x12, 0x10];
        tail.extend_from_slice(public.as_bytes());
        assert!(m.ends_with(&tail));
    }

    /// Non-UTF-8 bodies are relayed verbatim, never rejected.
    #[test]
    fn body_bytes_are_not_validated() {
        let m = encode_outgoing_message(&mid42(), b"\xff\xfe", 0, 0, &Sender::backend());
        assert_eq!(OutgoingMessage::decode(m).unwrap().body, &b"\xff\xfe"[..]);
    }

    #[test]
    fn response_batch_of_many_and_of_none() {
        let a = encode_outgoing_message(&mid42(), b"{\"a\":1}", 10, 1, &Sender::backend());
        let b = encode_outgoing_message(
            &MessageId::new(1_700_000_000, 43),
            &[b'y'; 200],
            10,
            1,
            &Sender::client(&id(PUBLIC)),
        );
        let frame = response_batch_of_messages([&a[..], &b[..]]);
        let batch = ResponseBatch::decode(&frame[..]).unwrap();
        let want = ResponseBatch {
            responses: vec![Response {
                command: Some(response::Command::OutgoingMessages(
                    OutgoingMessagesResponse {
                        messages: vec![
                            OutgoingMessage::decode(a.clone()).unwrap(),
                            OutgoingMessage::decode(b.clone()).unwrap(),
                        ],
                    },
                )),
            }],
        };
        assert_eq!(batch, want);
        assert_eq!(frame, want.encode_to_vec());

        let empty = response_batch_of_messages(std::iter::empty::<&[u8]>());
        assert_eq!(empty, [0x0a, 0x02, 0x0a, 0x00]);
        let batch = ResponseBatch::decode(&empty[..]).unwrap();
        assert!(matches!(
            &batch.responses[0].command,
            Some(response::Command::OutgoingMessages(m)) if m.messages.is_empty()
        ));
    }

    /// A frame over 127 bytes of messages needs multi-byte length varints at every level.
    #[test]
    fn response_batch_with_large_messages() {
        let big = vec![b'z'; 70_000];
        let m = encode_outgoing_message(&mid42(), &big, 1, 1, &Sender::backend());
        let frame = response_batch_of_messages(vec![&m[..]; 3]);
        let batch = ResponseBatch::decode(&frame[..]).unwrap();
        let Some(response::Command::OutgoingMessages(omr)) = &batch.responses[0].command else {
            panic!()
        };
        assert_eq!(omr.messages.len(), 3);
        assert!(omr.messages.iter().all(|x| x.body.len() == 70_000));
    }

    /// Spec §11.5: the trusted channel-stats request decodes as expected.
    #[test]
    fn spec_11_5_stats_request_decodes_and_reencodes() {
        let raw = unhex(STATS_REQUEST);
        let batch = RequestBatch::decode(&raw[..]).unwrap();
        let want = RequestBatch {
            requests: vec![Request {
                command: Some(request::Command::ChannelStats(ChannelStatsRequest {
                    channels: vec![ProtoChannelId {
                        id: unhex(PRIVATE),
                        is_private: true,
                        signature: Vec::new(),
                    }],
                })),
            }],
        };
        assert_eq!(batch, want);
        assert_eq!(want.encode_to_vec(), raw);
    }

    /// Spec §11.5: the online reply, byte for byte.
    #[test]
    fn spec_11_5_stats_response_online_exact_bytes() {
        let got = channel_stats_response(&[(id(PRIVATE), true, true)]);
        assert_eq!(hex::encode(&got), STATS_RESPONSE_ONLINE);
        // prost (which omits false) agrees here since nothing is false.
        let want = ResponseBatch {
            responses: vec![Response {
                command: Some(response::Command::ChannelStats(ChannelStatsResponse {
                    channels: vec![ChannelStats {
                        id: unhex(PRIVATE),
                        is_private: true,
                        is_online: true,
                    }],
                })),
            }],
        };
        assert_eq!(want.encode_to_vec(), got);
    }

    /// Spec §11.5 [R]: the reference server's capture with an offline channel
    /// (explicit `18 00`), byte for byte.
    #[test]
    fn spec_11_5_stats_response_captured_exact_bytes() {
        let got = channel_stats_response(&[
            (id("36a294178a4e0597c7ea4d08cd32a837"), true, true),
            (id("4567a0fb917069b7481f07c3a5aed837"), true, false),
            (ChannelId([0; 16]), true, false),
        ]);
        assert_eq!(hex::encode(&got), STATS_RESPONSE_CAPTURED);
        let batch = ResponseBatch::decode(&got[..]).unwrap();
        let Some(response::Command::ChannelStats(cs)) = &batch.responses[0].command else {
            panic!()
        };
        let online: Vec<bool> = cs.channels.iter().map(|c| c.is_online).collect();
        assert_eq!(online, [true, false, false]);
    }

    #[test]
    fn stats_response_public_and_empty() {
        let got = channel_stats_response(&[(id(PUBLIC), false, true)]);
        let batch = ResponseBatch::decode(&got[..]).unwrap();
        let Some(response::Command::ChannelStats(cs)) = &batch.responses[0].command else {
            panic!()
        };
        assert_eq!(
            cs.channels,
            [ChannelStats {
                id: unhex(PUBLIC),
                is_private: false,
                is_online: true
            }]
        );
        let empty = channel_stats_response(&[]);
        assert_eq!(empty, [0x0a, 0x02, 0x12, 0x00]);
        // enough entries for multi-byte lengths
        let many: Vec<_> = (0..100u8)
            .map(|i| (ChannelId([i; 16]), true, i % 2 == 0))
            .collect();
        let got = channel_stats_response(&many);
        let batch = ResponseBatch::decode(&got[..]).unwrap();
        let Some(response::Command::ChannelStats(cs)) = &batch.responses[0].command else {
            panic!()
        };
        assert_eq!(cs.channels.len(), 100);
        assert!(cs.channels[4].is_online && !cs.channels[5].is_online);
        assert_eq!(cs.channels[7].id, [7u8; 16]);
    }

    #[test]
    fn server_stats_response_round_trip() {
        let json = r#"[{"pid":1,"channels":0}]"#;
        let got = server_stats_response(json);
        let batch = ResponseBatch::decode(&got[..]).unwrap();
        assert_eq!(
            batch.responses[0].command,
            Some(response::Command::ServerStats(JsonResponse {
                json: json.to_owned()
            }))
        );
        // field 3 of Response: key 0x1a
        assert_eq!(got[2], 0x1a);
    }

    /// Spec §11.5: PHP-style publish batch decodes to the documented fields and
    /// re-encodes byte for byte.
    #[test]
    fn spec_11_5_php_publish_batch_round_trip() {
        let raw = unhex(PHP_PUBLISH_BATCH);
        let batch = RequestBatch::decode(&raw[..]).unwrap();
        let want = RequestBatch {
            requests: vec![Request {
                command: Some(request::Command::IncomingMessages(
                    IncomingMessagesRequest {
                        messages: vec![IncomingMessage {
                            receivers: vec![Receiver {
                                id: unhex(PRIVATE),
                                is_private: true,
                                signature: Vec::new(),
                            }],
                            sender: None,
                            body: Bytes::from_static(BODY.as_bytes()),
                            expiry: 86_400,
                            r#type: "im_message".into(),
                        }],
                    },
                )),
            }],
        };
        assert_eq!(batch, want);
        assert_eq!(want.encode_to_vec(), raw);
    }

    /// Spec §11.5: the client publish batch decodes and re-encodes byte for byte.
    #[test]
    fn spec_11_5_client_publish_batch_round_trip() {
        let raw = unhex(CLIENT_PUBLISH_BATCH);
        let batch = RequestBatch::decode(&raw[..]).unwrap();
        let want = RequestBatch {
            requests: vec![Request {
                command: Some(request::Command::IncomingMessages(
                    IncomingMessagesRequest {
                        messages: vec![IncomingMessage {
                            receivers: vec![Receiver {
                                id: unhex(PUBLIC),
                                is_private: false,
                                signature: unhex("f59a1bc80c528413971b90120368aa438b7e7f30"),
                            }],
                            sender: None,
                            body: Bytes::from_static(CLIENT_BODY.as_bytes()),
                            expiry: 0,
                            r#type: String::new(),
                        }],
                    },
                )),
            }],
        };
        assert_eq!(batch, want);
        assert_eq!(want.encode_to_vec(), raw);
    }

    #[test]
    fn ipc_notification_round_trip() {
        let om = OutgoingMessage::decode(encode_outgoing_message(
            &mid42(),
            b"{}",
            60,
            1,
            &Sender::backend(),
        ))
        .unwrap();
        let n = NotificationBatch {
            notifications: vec![Notification {
                command: Some(notification::Command::IpcMessages(IpcMessages {
                    messages: vec![IpcMessage {
                        receivers: vec![Receiver {
                            id: unhex(PRIVATE),
                            is_private: true,
                            signature: Vec::new(),
                        }],
                        outgoing_message_id: mid42().as_bytes().to_vec(),
                        outgoing_message: Some(om),
                    }],
                })),
            }],
        };
        let raw = n.encode_to_vec();
        assert_eq!(NotificationBatch::decode(&raw[..]).unwrap(), n);
    }

    #[test]
    fn sender_type_values() {
        assert_eq!(SenderType::Unknown as i32, 0);
        assert_eq!(SenderType::Client as i32, 1);
        assert_eq!(SenderType::Backend as i32, 2);
        assert_eq!(SenderType::try_from(2), Ok(SenderType::Backend));
        assert!(SenderType::try_from(3).is_err());
    }
}
