//! A published message as the hub, the store and every transport share it.
//!
//! Each wire form (text envelope, protobuf `OutgoingMessage`) is encoded at most once per
//! message and the bytes are shared by every subscriber: fan-out never serialises per
//! connection. History holds [`Message::detached`] copies, which never keep an encoding. The envelope's cosmetic `tag`/`time` are fixed at publish time for that.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::protocol::{envelope, proto, ChannelId, ChannelKey, MessageId};

/// Who published a message (protobuf `Sender`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// Trusted publish (`/bitrix/pub/`, PHP): `SenderType.BACKEND`.
    Backend,
    /// A client publishing through `/bitrix/rest/` or a WebSocket frame: its public id.
    Client(ChannelId),
}

/// The channels one message is addressed to: each once, in the order first given.
///
/// Building one is the only place duplicates are removed: whoever holds a `Receivers`
/// (the hub's fan-out, the history index, the log writer) may rely on the ids being
/// distinct. Lists of a few ids (HTTP publishes) are checked by scanning; long ones
/// (a PHP message merged for thousands of users) through a set, so the cost stays linear.
///
/// Shared (`Arc`): a message's [`Message::detached`] copies point to the same list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receivers(Arc<[ChannelKey]>);

/// Up to this many ids, scanning the kept prefix is cheaper than hashing.
const SCAN_UP_TO: usize = 16;

impl Receivers {
    /// `keys` without repeats, first occurrence kept (`a/b/a` → `a/b`).
    pub fn new(mut keys: Vec<ChannelKey>) -> Self {
        if keys.len() <= SCAN_UP_TO {
            let mut kept = 0;
            for i in 0..keys.len() {
                if !keys[..kept].contains(&keys[i]) {
                    keys.swap(kept, i);
                    kept += 1;
                }
            }
            keys.truncate(kept);
        } else {
            let mut seen = HashSet::with_capacity(keys.len());
            keys.retain(|k| seen.insert(*k));
        }
        Receivers(keys.into())
    }

    pub fn into_vec(self) -> Vec<ChannelKey> {
        self.0.to_vec()
    }
}

impl From<Vec<ChannelKey>> for Receivers {
    fn from(keys: Vec<ChannelKey>) -> Self {
        Receivers::new(keys)
    }
}

impl<'a> IntoIterator for &'a Receivers {
    type Item = &'a ChannelKey;
    type IntoIter = std::slice::Iter<'a, ChannelKey>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Deref for Receivers {
    type Target = [ChannelKey];

    fn deref(&self) -> &[ChannelKey] {
        &self.0
    }
}

/// One message, immutable once published.
#[derive(Debug)]
pub struct Message {
    pub mid: MessageId,
    /// Every channel it was addressed to (private and public namespaces), each once.
    pub receivers: Receivers,
    /// The body exactly as published (normally JSON; never parsed by the server).
    pub body: Bytes,
    /// Seconds it is kept in history; 0 = delivered live only.
    pub expiry: u32,
    /// Unix seconds at publish time (`OutgoingMessage.created`).
    pub created: u32,
    /// Unix milliseconds at publish time: fixes the envelope's `tag` and `time`.
    pub published_ms: u64,
    pub sender: Sender,
    text: OnceLock<Bytes>,
    proto: OnceLock<Bytes>,
    /// Whole frames of this message alone, one per [`FrameKind`], built by a transport
    /// (it knows the framing) and cached here so a fan-out builds each once and every
    /// socket takes it with one plain `write`. Boxed: history keeps messages by the
    /// million, and a pointer costs it 8 bytes a message where the slots would cost 80.
    frames: OnceLock<Box<[OnceLock<Bytes>; FrameKind::COUNT]>>,
}

/// The transports' whole frames of one message (see [`Message::frame`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A WebSocket text frame of the text envelope.
    WsText = 0,
    /// A WebSocket binary frame of a protobuf `ResponseBatch` of the message.
    WsBinary = 1,
}

impl FrameKind {
    const COUNT: usize = 2;
}

impl Message {
    pub fn new(
        mid: MessageId,
        receivers: impl Into<Receivers>,
        body: Bytes,
        expiry: u32,
        published_ms: u64,
        sender: Sender,
    ) -> Self {
        Self {
            mid,
            receivers: receivers.into(),
            body,
            expiry,
            created: (published_ms / 1000) as u32,
            published_ms,
            sender,
            text: OnceLock::new(),
            proto: OnceLock::new(),
            frames: Default::default(),
        }
    }

    /// The same message without its wire encodings (fields and body shared, nothing
    /// copied but the struct). History keeps these: an encoding is built for a delivery
    /// and freed with it, so a held message costs its body, not three copies of it.
    pub fn detached(&self) -> Message {
        Message {
            mid: self.mid,
            receivers: self.receivers.clone(),
            body: self.body.clone(),
            expiry: self.expiry,
            created: self.created,
            published_ms: self.published_ms,
            sender: self.sender,
            text: OnceLock::new(),
            proto: OnceLock::new(),
            frames: Default::default(),
        }
    }

    /// Whether a wire encoding was built (and is held) in this copy.
    pub fn is_encoded(&self) -> bool {
        self.text.get().is_some() || self.proto.get().is_some() || self.frames.get().is_some()
    }

    /// The whole frame of kind `kind` of this message alone, built once by `build` (the
    /// transport's framing; the message knows no sockets).
    pub fn frame(&self, kind: FrameKind, build: impl FnOnce() -> Bytes) -> &Bytes {
        self.frames.get_or_init(Default::default)[kind as usize].get_or_init(build)
    }

    /// Unix seconds after which the message is no longer replayed.
    pub fn expires_at(&self) -> u64 {
        self.created as u64 + self.expiry as u64
    }

    /// `#!NGINXNMS!#{…}#!NGINXNME!#` (spec §4.2), encoded once.
    pub fn text_envelope(&self) -> &Bytes {
        self.text.get_or_init(|| {
            Bytes::from(envelope::text_envelope(
                &self.mid,
                &self.body,
                self.published_ms,
            ))
        })
    }

    /// The envelope's JSON object alone (the `data:` of an SSE event).
    pub fn envelope_json(&self) -> &[u8] {
        let t = self.text_envelope();
        &t[envelope::START.len()..t.len() - envelope::END.len()]
    }

    /// The encoded protobuf `OutgoingMessage` (spec §4.5), encoded once; frames are built
    /// by concatenating these (see [`proto::response_batch_of_messages`]).
    pub fn outgoing_proto(&self) -> &Bytes {
        self.proto.get_or_init(|| {
            let sender = match self.sender {
                Sender::Backend => proto::Sender {
                    r#type: proto::SenderType::Backend as i32,
                    id: Vec::new(),
                },
                Sender::Client(id) => proto::Sender {
                    r#type: proto::SenderType::Client as i32,
                    id: id.as_bytes().to_vec(),
                },
            };
            proto::encode_outgoing_message(
                &self.mid,
                &self.body,
                self.expiry,
                self.created,
                &sender,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChannelId;

    fn key(n: u8) -> ChannelKey {
        ChannelKey::private(ChannelId([n; 16]))
    }

    #[test]
    fn receivers_drop_repeats_keeping_first_order() {
        let (a, b, c) = (key(1), key(2), key(3));
        // `a/b/a`: the repeat is not a neighbour (Vec::dedup would keep it).
        assert_eq!(&*Receivers::new(vec![a, b, a]), &[a, b]);
        assert_eq!(&*Receivers::new(vec![b, a, b, c, a, c]), &[b, a, c]);
        assert_eq!(&*Receivers::new(vec![a, a, a]), &[a]);
        assert!(Receivers::new(Vec::new()).is_empty());
        // The same id in the public namespace is another channel.
        let p = ChannelKey::public(ChannelId([1; 16]));
        assert_eq!(&*Receivers::new(vec![a, p, a]), &[a, p]);
    }

    #[test]
    fn long_receiver_lists_are_deduplicated_in_order_too() {
        let ids: Vec<ChannelKey> = (0..200u8).map(key).collect();
        let mut given = ids.clone();
        given.extend(ids.iter().rev().copied());
        given.insert(3, ids[150]);
        let mut want = ids[..3].to_vec();
        want.push(ids[150]);
        want.extend(ids[3..].iter().filter(|k| **k != ids[150]));
        assert_eq!(&*Receivers::new(given), &want[..]);
    }

    /// A transport's frame is built once per kind, and a detached copy (what history
    /// keeps) holds none of it.
    #[test]
    fn frames_are_built_once_per_kind_and_not_kept_by_history() {
        let mid = MessageId::new(1, 2);
        let msg = Message::new(
            mid,
            vec![key(1)],
            Bytes::from_static(b"{}"),
            60,
            1_000,
            Sender::Backend,
        );
        assert!(!msg.is_encoded());
        let mut builds = 0;
        for _ in 0..3 {
            let f = msg.frame(FrameKind::WsText, || {
                builds += 1;
                Bytes::from_static(b"text frame")
            });
            assert_eq!(&f[..], b"text frame");
        }
        assert_eq!(builds, 1);
        assert!(msg.is_encoded());
        let other = msg.frame(FrameKind::WsBinary, || Bytes::from_static(b"binary frame"));
        assert_eq!(&other[..], b"binary frame");
        assert!(!msg.detached().is_encoded());
    }
}
