//! The Node push-server 2.x Redis layout (spec §9.1, §4.3, §6.2, §2.8): key names and
//! value encodings, both ways, and nothing else (no I/O).
//!
//! What a Node node writes is what these functions read, and what they write is
//! byte-identical to what a Node node would write, so both kinds of node share one Redis.
//! Where §9.1 is silent (the value of an online key, the receivers of an IPC message, the
//! pub/sub uid alphabet) the facts were read from the push-server's `storages/redis.js`
//! and `adapters/cluster.js`; each such place says so.

use bytes::Bytes;
use prost::Message as _;

use crate::message::{Message, Sender};
use crate::protocol::proto::{self, notification};
use crate::protocol::{ChannelId, ChannelKey, MessageId};

/// `INCR` counter of every message id (one for the whole cluster).
pub const COUNTER_KEY: &[u8] = b"server:messagecounter";
/// Unix seconds, `SETNX` once by the first process; the first 10 digits of every id.
pub const STARTDATE_KEY: &[u8] = b"server:startdate";
/// Hash: processUniqueId → JSON of `/server-stat/` (spec §2.8).
pub const STATS_KEY: &[u8] = b"stats";

const MESSAGE_PREFIX: &[u8] = b"message:";
const HISTORY_PREFIX: &[u8] = b"channel:messages:";
const PUB_HISTORY_PREFIX: &[u8] = b"pubchannel:messages:";
const ONLINE_PREFIX: &[u8] = b"channel:online:";
const PUB_ONLINE_PREFIX: &[u8] = b"pubchannel:online:";

/// The value of an online key: `SETEX key ttl 1` stores the string `"1"` (cluster.js).
pub const ONLINE_VALUE: &[u8] = b"1";
/// Online keys live `onlineTTL + onlineDelta` = 120 + 10 s (spec §6.2).
pub const ONLINE_TTL_SECS: u64 = 130;
/// A channel's history zset expires this long after its first message, set only when
/// it has no TTL yet (`storage.channelTTL`, spec §4.4).
pub const CHANNEL_TTL_SECS: u64 = 86_400;
/// `stats` entries older than `statTLLMsec + statDeltaMsec` are dropped (spec §2.8).
pub const STATS_STALE_AFTER_MS: u64 = 60_000 + 10_000;

/// bxpush's own keys start with this: no key of the Node layout (spec §9.1: `server:`,
/// `message:`, `channel:`, `pubchannel:`, `stats`, `pushserver:`, `ipc:`, and PS1's
/// `online:`) does, so Node processes sharing the Redis neither read nor clash with them.
pub const BXPUSH_PREFIX: &str = "bxpush:";
/// A hand-off origin's mark lives this long after its last move (DESIGN.md "Several
/// owners"): the same 24 h idle rule as `ingress.state`.
pub const HANDOFF_MARK_TTL_SECS: u64 = 86_400;

/// `bxpush:handoff:mark:<origin as 16 hex digits>`: the highest seq of a PHP worker's
/// items any owner applied (a decimal string).
pub fn handoff_mark_key(origin: u64) -> Vec<u8> {
    format!("{BXPUSH_PREFIX}handoff:mark:{origin:016x}").into_bytes()
}

/// Every node publishes on `pushserver:<its uid>` and pattern-subscribes to all of them.
pub const PUBSUB_PREFIX: &str = "pushserver:";
pub const PUBSUB_PATTERN: &str = "pushserver:*";
/// Length of a node's pub/sub uid (`Math.random().toString(36).substring(2, 10)`).
pub const UID_LEN: usize = 8;

/// `message:` + the 13 raw id bytes.
pub fn message_key(mid: &MessageId) -> Vec<u8> {
    [MESSAGE_PREFIX, mid.as_bytes()].concat()
}

/// `channel:messages:` (private) or `pubchannel:messages:` (public) + the 16 raw id bytes.
pub fn history_key(key: &ChannelKey) -> Vec<u8> {
    let prefix = if key.public {
        PUB_HISTORY_PREFIX
    } else {
        HISTORY_PREFIX
    };
    [prefix, key.id.as_bytes()].concat()
}

/// `channel:online:` (private) or `pubchannel:online:` (public) + the 16 raw id bytes.
pub fn online_key(key: &ChannelKey) -> Vec<u8> {
    let prefix = if key.public {
        PUB_ONLINE_PREFIX
    } else {
        ONLINE_PREFIX
    };
    [prefix, key.id.as_bytes()].concat()
}

/// The `ZRANGEBYLEX` minimum for "ids after `mid`, exclusive": `(` + the 13 bytes (all
/// members have score 0, so lex order is the id order).
pub fn after_bound(mid: &MessageId) -> Vec<u8> {
    [b"(".as_slice(), mid.as_bytes()].concat()
}

/// `server:startdate` as stored: decimal unix seconds.
pub fn encode_startdate(unix_secs: u32) -> String {
    unix_secs.to_string()
}

/// Read `server:startdate`. Node concatenates the stored string with the padded counter
/// and reads the result as hex, so only exactly 10 decimal digits give a valid 13-byte id;
/// anything else is refused rather than turned into ids no client can send back.
pub fn decode_startdate(raw: &[u8]) -> Option<u32> {
    if raw.len() != 10 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// The id of message number `counter` (the `INCR` reply) under `startdate` (spec §4.3).
/// `None` for a counter that does not fit 16 digits (Node would build a longer, invalid
/// id there).
pub fn mid_of(startdate: u32, counter: i64) -> Option<MessageId> {
    if !(1..10_000_000_000_000_000).contains(&counter) {
        return None;
    }
    Some(MessageId::new(startdate, counter as u64))
}

/// The value of `message:<id>`: the protobuf `OutgoingMessage` (id, body, expiry,
/// created, sender), as `storages/redis.js` `saveMessage` writes it.
pub fn encode_stored(msg: &Message) -> Bytes {
    msg.outgoing_proto().clone()
}

/// Why a stored or notified message could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Protobuf(String),
    /// The id is not 13 bytes.
    BadId(usize),
    /// A `CLIENT` sender whose id is not 16 bytes.
    BadSender,
    /// A notification without `ipcMessages` or an IPC message without `outgoingMessage`.
    NoMessage,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Protobuf(e) => write!(f, "bad protobuf: {e}"),
            DecodeError::BadId(n) => write!(f, "message id of {n} bytes (13 expected)"),
            DecodeError::BadSender => f.write_str("client sender without a 16-byte id"),
            DecodeError::NoMessage => f.write_str("no outgoing message"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A `Message` from a decoded `OutgoingMessage`, addressed to `receivers`. The stored
/// form carries no receivers (replay does not need them) and no milliseconds: the
/// envelope's cosmetic `tag`/`time` are taken from `created`.
fn message_from(
    om: proto::OutgoingMessage,
    receivers: Vec<ChannelKey>,
) -> Result<Message, DecodeError> {
    let mid = MessageId::from_bytes(&om.id).ok_or(DecodeError::BadId(om.id.len()))?;
    let sender = match om.sender {
        Some(s) if s.r#type == proto::SenderType::Client as i32 => {
            Sender::Client(ChannelId::from_bytes(&s.id).ok_or(DecodeError::BadSender)?)
        }
        // BACKEND, UNKNOWN and a missing sender are all "not a client" to a subscriber.
        _ => Sender::Backend,
    };
    Ok(Message::new(
        mid,
        receivers,
        om.body,
        om.expiry,
        u64::from(om.created) * 1000,
        sender,
    ))
}

/// Read a `message:<id>` value.
pub fn decode_stored(raw: &[u8]) -> Result<Message, DecodeError> {
    let om =
        proto::OutgoingMessage::decode(raw).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    message_from(om, Vec::new())
}

/// The pub/sub channel a node publishes on.
pub fn pubsub_channel(uid: &str) -> String {
    format!("{PUBSUB_PREFIX}{uid}")
}

/// The publishing node's uid of a pub/sub channel name: what follows the last `:`, as
/// cluster.js compares it to its own to skip its own notifications.
pub fn uid_of_channel(channel: &[u8]) -> &[u8] {
    match channel.iter().rposition(|&b| b == b':') {
        Some(i) => &channel[i + 1..],
        None => channel,
    }
}

/// A fresh node uid: 8 characters of `[0-9a-z]`, the alphabet of Node's base-36 uid.
pub fn new_uid() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..UID_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The `NotificationBatch` a node publishes for one message:
/// `{notifications: [{ipcMessages: {messages: [{receivers, outgoingMessage}]}}]}`
/// (cluster.js `packMessage`; `outgoingMessageId` is never set). Receivers are
/// `{id, isPrivate}`; the signature of a client publish is not forwarded (receiving
/// nodes do not check it).
///
/// Written around the message's already encoded `OutgoingMessage` (an embedded message
/// is a length-delimited field like `bytes`), so a publish encodes its message once.
pub fn encode_notification(msg: &Message) -> Vec<u8> {
    use prost::encoding::{bytes as bytes_field, message as message_field};
    let mut ipc_message = Vec::new();
    for k in msg.receivers.iter() {
        let receiver = proto::Receiver {
            id: k.id.as_bytes().to_vec(),
            is_private: !k.public,
            signature: Vec::new(),
        };
        message_field::encode(1, &receiver, &mut ipc_message);
    }
    bytes_field::encode(3, msg.outgoing_proto(), &mut ipc_message);
    // IPCMessages.messages (1) › Notification.ipcMessages (1) › NotificationBatch.notifications (1).
    let mut out = ipc_message;
    for _ in 0..3 {
        let mut wrapped = Vec::with_capacity(out.len() + 4);
        bytes_field::encode(1, &out, &mut wrapped);
        out = wrapped;
    }
    out
}

/// Every message of a published `NotificationBatch`, with its receivers (a receiver
/// whose id is not 16 bytes is skipped: it names no channel). Licence notifications
/// (0.4.0 cloud) carry no message and are skipped, as are IPC messages without an
/// `outgoingMessage` (Node ignores those too).
pub fn decode_notification(raw: &[u8]) -> Result<Vec<Message>, DecodeError> {
    let batch =
        proto::NotificationBatch::decode(raw).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    let mut out = Vec::new();
    for n in batch.notifications {
        let Some(notification::Command::IpcMessages(ipc)) = n.command else {
            continue;
        };
        for m in ipc.messages {
            let Some(om) = m.outgoing_message else {
                continue;
            };
            let receivers = m
                .receivers
                .iter()
                .filter_map(|r| {
                    let id = ChannelId::from_bytes(&r.id)?;
                    Some(if r.is_private {
                        ChannelKey::private(id)
                    } else {
                        ChannelKey::public(id)
                    })
                })
                .collect();
            out.push(message_from(om, receivers)?);
        }
    }
    Ok(out)
}

/// Split the entries of the `stats` hash into the live processes' JSON objects and the
/// fields to delete: an entry without a numeric `date` (unix ms) or older than
/// [`STATS_STALE_AFTER_MS`] is stale (cluster.js `getServerStats`).
pub fn live_stats(
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    now_ms: u64,
) -> (Vec<serde_json::Value>, Vec<Vec<u8>>) {
    let mut live = Vec::new();
    let mut stale = Vec::new();
    for (field, value) in entries {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&value).ok();
        let date = parsed
            .as_ref()
            .and_then(|v| v.get("date"))
            .and_then(serde_json::Value::as_f64);
        match (parsed, date) {
            (Some(v), Some(d)) if now_ms as f64 - d <= STATS_STALE_AFTER_MS as f64 => live.push(v),
            _ => stale.push(field),
        }
    }
    (live, stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::proto::{IpcMessage, IpcMessages, Notification};
    use crate::protocol::testdata::*;

    fn private() -> ChannelKey {
        ChannelKey::private(ChannelId::from_hex(PRIVATE).unwrap())
    }

    fn public() -> ChannelKey {
        ChannelKey::public(ChannelId::from_hex(PUBLIC).unwrap())
    }

    /// Spec §11.5's `OutgoingMessage` alone: the outgoing batch without its three
    /// length-delimited wrappers (`0af801`, `0af501`, `0af201`).
    fn stored_vector() -> Vec<u8> {
        unhex(OUTGOING_BATCH)[9..].to_vec()
    }

    fn vector_message(receivers: Vec<ChannelKey>) -> Message {
        Message::new(
            MessageId::new(1_700_000_000, 42),
            receivers,
            Bytes::from_static(BODY.as_bytes()),
            86_400,
            1_704_067_201_000,
            Sender::Backend,
        )
    }

    #[test]
    fn keys_are_the_prefix_and_raw_id_bytes() {
        let mid = MessageId::new(1_700_000_000, 42);
        assert_eq!(
            message_key(&mid),
            [b"message:".as_slice(), &unhex("17000000000000000000000042")].concat()
        );
        assert_eq!(message_key(&mid).len(), 8 + 13);
        let id = unhex(PRIVATE);
        assert_eq!(
            history_key(&private()),
            [b"channel:messages:".as_slice(), &id].concat()
        );
        assert_eq!(
            online_key(&private()),
            [b"channel:online:".as_slice(), &id].concat()
        );
        let id = unhex(PUBLIC);
        assert_eq!(
            history_key(&public()),
            [b"pubchannel:messages:".as_slice(), &id].concat()
        );
        assert_eq!(
            online_key(&public()),
            [b"pubchannel:online:".as_slice(), &id].concat()
        );
        assert_eq!(
            after_bound(&mid),
            [b"(".as_slice(), mid.as_bytes()].concat()
        );
    }

    #[test]
    fn ids_come_from_startdate_and_counter_as_in_spec_11_3() {
        assert_eq!(decode_startdate(b"1700000000"), Some(1_700_000_000));
        assert_eq!(encode_startdate(1_700_000_000), "1700000000");
        let mid = mid_of(1_700_000_000, 42).unwrap();
        assert_eq!(mid.to_string(), "17000000000000000000000042");
        assert_eq!(mid.counter(), 42);
        for bad in [&b"170000000"[..], b"17000000000", b"17000000x0", b""] {
            assert_eq!(decode_startdate(bad), None, "{bad:?}");
        }
        assert_eq!(mid_of(1_700_000_000, 0), None);
        assert_eq!(mid_of(1_700_000_000, 10_000_000_000_000_000), None);
        assert!(mid_of(1_700_000_000, 9_999_999_999_999_999).is_some());
    }

    #[test]
    fn stored_message_is_the_spec_11_5_outgoing_message_both_ways() {
        let msg = vector_message(vec![private()]);
        assert_eq!(encode_stored(&msg).as_ref(), stored_vector().as_slice());
        let read = decode_stored(&stored_vector()).unwrap();
        assert_eq!(read.mid, msg.mid);
        assert_eq!(&read.body[..], BODY.as_bytes());
        assert_eq!(read.expiry, 86_400);
        assert_eq!(read.created, 1_704_067_201);
        assert_eq!(read.sender, Sender::Backend);
        // Read back and written again: the same bytes.
        assert_eq!(encode_stored(&read).as_ref(), stored_vector().as_slice());
    }

    #[test]
    fn a_client_sender_survives_the_store() {
        let public_id = ChannelId::from_hex(PUBLIC).unwrap();
        let mut msg = vector_message(vec![public()]);
        msg.sender = Sender::Client(public_id);
        let read = decode_stored(&encode_stored(&msg)).unwrap();
        assert_eq!(read.sender, Sender::Client(public_id));
    }

    #[test]
    fn bad_stored_values_are_refused() {
        assert!(matches!(
            decode_stored(b"\xff\xff"),
            Err(DecodeError::Protobuf(_))
        ));
        // id of 3 bytes
        assert_eq!(
            decode_stored(&[0x0a, 3, 1, 2, 3]).unwrap_err(),
            DecodeError::BadId(3)
        );
        // CLIENT sender with a 2-byte id
        let om = proto::OutgoingMessage {
            id: unhex("17000000000000000000000042"),
            sender: Some(proto::Sender {
                r#type: proto::SenderType::Client as i32,
                id: vec![1, 2],
            }),
            ..Default::default()
        };
        assert_eq!(
            decode_stored(&om.encode_to_vec()).unwrap_err(),
            DecodeError::BadSender
        );
    }

    /// The notification of the §11.5 message to the §11.5 PHP receiver, assembled from
    /// the spec's bytes: `NotificationBatch.notifications[0]` (`0a`) → `ipcMessages` (`0a`)
    /// → `messages[0]` (`0a`) → `receivers[0]` (`0a 14` + the receiver of the PHP
    /// publish vector, `0a10<id>1001`) and `outgoingMessage` (`1a` + the stored bytes).
    fn notification_vector() -> Vec<u8> {
        let receiver = unhex(&format!("0a10{PRIVATE}1001"));
        assert!(PHP_PUBLISH_BATCH.contains(&hex::encode(&receiver)));
        let om = stored_vector();
        let mut ipc = vec![0x0a, receiver.len() as u8];
        ipc.extend_from_slice(&receiver);
        ipc.extend_from_slice(&[0x1a, 0xf2, 0x01]);
        ipc.extend_from_slice(&om);
        let wrap = |inner: Vec<u8>| {
            let mut out = vec![0x0a];
            prost::encoding::encode_varint(inner.len() as u64, &mut out);
            out.extend_from_slice(&inner);
            out
        };
        wrap(wrap(wrap(ipc)))
    }

    #[test]
    fn notification_matches_the_spec_bytes_both_ways() {
        let msg = vector_message(vec![private()]);
        assert_eq!(encode_notification(&msg), notification_vector());
        let read = decode_notification(&notification_vector()).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(&*read[0].receivers, &[private()]);
        assert_eq!(read[0].mid, msg.mid);
        assert_eq!(&read[0].body[..], BODY.as_bytes());
        assert_eq!(encode_notification(&read[0]), notification_vector());
    }

    #[test]
    fn notification_receivers_keep_their_namespace_and_skip_bad_ids() {
        let mut msg = vector_message(vec![private(), public()]);
        msg.sender = Sender::Client(ChannelId::from_hex(PUBLIC).unwrap());
        let read = decode_notification(&encode_notification(&msg)).unwrap();
        assert_eq!(&*read[0].receivers, &[private(), public()]);
        // A receiver with a 3-byte id names no channel; a licence notification and an
        // IPC message without a message are no messages.
        let batch = proto::NotificationBatch {
            notifications: vec![
                Notification {
                    command: Some(notification::Command::IpcLicenses(Default::default())),
                },
                Notification {
                    command: Some(notification::Command::IpcMessages(IpcMessages {
                        messages: vec![
                            IpcMessage {
                                receivers: vec![proto::Receiver {
                                    id: vec![1, 2, 3],
                                    is_private: true,
                                    signature: Vec::new(),
                                }],
                                outgoing_message_id: Vec::new(),
                                outgoing_message: Some(
                                    proto::OutgoingMessage::decode(&stored_vector()[..]).unwrap(),
                                ),
                            },
                            IpcMessage::default(),
                        ],
                    })),
                },
            ],
        };
        let read = decode_notification(&batch.encode_to_vec()).unwrap();
        assert_eq!(read.len(), 1);
        assert!(read[0].receivers.is_empty());
        assert!(decode_notification(b"\xff").is_err());
    }

    #[test]
    fn pubsub_names_and_uids() {
        let uid = new_uid();
        assert_eq!(uid.len(), UID_LEN);
        assert!(uid
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        assert_ne!(new_uid(), new_uid());
        let ch = pubsub_channel("k3x9a0bq");
        assert_eq!(ch, "pushserver:k3x9a0bq");
        assert_eq!(uid_of_channel(ch.as_bytes()), b"k3x9a0bq");
        assert_eq!(uid_of_channel(b"nocolon"), b"nocolon");
    }

    #[test]
    fn stats_entries_older_than_70_s_or_unreadable_are_stale() {
        let now = 1_795_953_224_140u64;
        let entry = |f: &str, v: String| (f.as_bytes().to_vec(), v.into_bytes());
        let (live, stale) = live_stats(
            vec![
                entry("sub-1", format!(r#"{{"pid":1,"date":{now}}}"#)),
                entry("sub-2", format!(r#"{{"pid":2,"date":{}}}"#, now - 70_000)),
                entry("sub-3", format!(r#"{{"pid":3,"date":{}}}"#, now - 70_001)),
                entry("sub-4", r#"{"pid":4}"#.into()),
                entry("sub-5", "not json".into()),
            ],
            now,
        );
        let pids: Vec<_> = live.iter().map(|v| v["pid"].as_u64().unwrap()).collect();
        assert_eq!(pids, [1, 2]);
        assert_eq!(
            stale,
            [b"sub-3".to_vec(), b"sub-4".to_vec(), b"sub-5".to_vec()]
        );
    }
}
