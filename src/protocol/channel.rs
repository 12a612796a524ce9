//! Channel ids: 16 bytes, written as 32 lowercase hex characters (spec §3).

use std::fmt;

/// A channel id (private or public namespace is told by [`ChannelKey`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub [u8; 16]);

impl ChannelId {
    /// Exactly 32 lowercase hex characters (the spec's grammar is lowercase only).
    pub fn from_hex(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 32 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(b, &mut out).ok()?;
        Some(Self(out))
    }

    /// Exactly 16 raw bytes (protobuf `Receiver.id` / `ChannelId.id`).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Self(b.try_into().ok()?))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelId({})", self.to_hex())
    }
}

/// A channel in its namespace: the Node server keeps private ids (`channel:`) and public
/// ids (`pubchannel:`) apart, and so do we.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ChannelKey {
    pub id: ChannelId,
    pub public: bool,
}

impl ChannelKey {
    pub fn private(id: ChannelId) -> Self {
        Self { id, public: false }
    }
    pub fn public(id: ChannelId) -> Self {
        Self { id, public: true }
    }
}
