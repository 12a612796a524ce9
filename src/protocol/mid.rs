//! Message ids (`mid`): 13 bytes whose hex form is a 10-digit start date followed by a
//! 16-digit counter (spec §4.3). Ordering is bytewise, which equals the order of the
//! 26-digit strings.

use std::fmt;

/// A message id. `Ord` is the protocol's order (bytewise on the 13 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 13]);

impl MessageId {
    /// Build the id of message number `counter` of a server that started at `startdate`
    /// (unix seconds). Both are rendered as decimal digits and the 26-digit string is
    /// read as hex, exactly as the Node server does.
    pub fn new(startdate: u32, counter: u64) -> Self {
        let s = format!("{:010}{:016}", startdate, counter % 10_000_000_000_000_000);
        Self::parse(&s).expect("26 decimal digits always form a valid id")
    }

    /// Parse the `mid` query form: exactly 26 ASCII digits (`^[0-9]{26}$`).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 26 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut out = [0u8; 13];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
        }
        Some(Self(out))
    }

    /// An id from raw protobuf bytes (exactly 13).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Self(b.try_into().ok()?))
    }

    pub fn as_bytes(&self) -> &[u8; 13] {
        &self.0
    }

    /// The counter part (`id` of the text envelope): the last 16 digits read as decimal.
    /// Nibbles above 9 (an id that was not made of digits) count as their hex value's
    /// digit, which never happens for ids this server creates.
    pub fn counter(&self) -> u64 {
        self.to_string()[10..].bytes().fold(0u64, |acc, d| {
            acc.wrapping_mul(10).wrapping_add(hex_val(d) as u64)
        })
    }

    /// The start-date part: the first 10 digits read as decimal.
    pub fn startdate(&self) -> u64 {
        self.to_string()[..10].bytes().fold(0u64, |acc, d| {
            acc.wrapping_mul(10).wrapping_add(hex_val(d) as u64)
        })
    }
}

fn hex_val(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => 0,
    }
}

impl fmt::Display for MessageId {
    /// The 26-character hex form, which is what clients send back as `mid`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §11.3.
    #[test]
    fn spec_vector_11_3() {
        let id = MessageId::new(1_700_000_000, 42);
        assert_eq!(id.to_string(), "17000000000000000000000042");
        assert_eq!(
            id.as_bytes(),
            &[0x17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42]
        );
        assert_eq!(id.counter(), 42);
        assert_eq!(id.startdate(), 1_700_000_000);
        assert_eq!(MessageId::parse("17000000000000000000000042"), Some(id));
    }

    #[test]
    fn rejects_bad_mids() {
        assert!(MessageId::parse("1700000000000000000000004").is_none());
        assert!(MessageId::parse("170000000000000000000000421").is_none());
        assert!(MessageId::parse("1700000000000000000000004a").is_none());
        assert!(MessageId::parse("").is_none());
    }

    #[test]
    fn order_follows_counter_and_startdate() {
        assert!(MessageId::new(1_700_000_000, 9) < MessageId::new(1_700_000_000, 10));
        assert!(MessageId::new(1_700_000_000, 99_999) < MessageId::new(1_700_000_001, 1));
    }
}
