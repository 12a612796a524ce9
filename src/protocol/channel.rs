//! Channel ids: 16 bytes, written as 32 lowercase hex characters (spec §3).

use std::fmt;

/// A channel id (private or public namespace is told by [`ChannelKey`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub [u8; 16]);

impl ChannelId {
    /// Exactly 32 lowercase hex characters (the spec's grammar is lowercase only).
    pub fn from_hex(s: &str) -> Option<Self> {
        // One pass, lowercase only (the protocol's form): every publish parses its channels.
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let b: &[u8; 32] = s.as_bytes().try_into().ok()?;
        let mut out = [0u8; 16];
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
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

#[cfg(test)]
mod tests {
    use super::ChannelId;

    #[test]
    fn from_hex_takes_32_lowercase_hex_digits_only() {
        let s = "0123456789abcdef00ff10fe2cd3e4b5";
        let id = ChannelId::from_hex(s).unwrap();
        assert_eq!(id.to_hex(), s);
        assert_eq!(id.as_bytes()[..3], [0x01, 0x23, 0x45]);
        assert_eq!(id.as_bytes()[15], 0xb5);
        for bad in [
            "0123456789ABCDEF00ff10fe2cd3e4b5", // uppercase: not the protocol's form
            "0123456789abcdef00ff10fe2cd3e4b",  // 31
            "0123456789abcdef00ff10fe2cd3e4b5a", // 33
            "0123456789abcdeg00ff10fe2cd3e4b5", // g
            "",
            "0123456789abcdef00ff10fe2cd3e4é", // 32 bytes, not hex
        ] {
            assert_eq!(ChannelId::from_hex(bad), None, "{bad}");
        }
    }
}
