//! A published message as the hub, the store and every transport share it.
//!
//! Each wire form (text envelope, protobuf `OutgoingMessage`) is encoded at most once per
//! message and the bytes are shared by every subscriber: fan-out never serialises per
//! connection. The envelope's cosmetic `tag`/`time` are fixed at publish time for that.

use std::sync::OnceLock;

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

/// One message, immutable once published.
#[derive(Debug)]
pub struct Message {
    pub mid: MessageId,
    /// Every channel it was addressed to (private and public namespaces).
    pub receivers: Vec<ChannelKey>,
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
}

impl Message {
    pub fn new(
        mid: MessageId,
        receivers: Vec<ChannelKey>,
        body: Bytes,
        expiry: u32,
        published_ms: u64,
        sender: Sender,
    ) -> Self {
        Self {
            mid,
            receivers,
            body,
            expiry,
            created: (published_ms / 1000) as u32,
            published_ms,
            sender,
            text: OnceLock::new(),
            proto: OnceLock::new(),
        }
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
