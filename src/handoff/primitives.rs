//! The primitives every hand-off encoding is made of: big-endian integers,
//! length-prefixed bytes and strings, channel keys, and a bounds-checked reader whose
//! errors are [`WireError`]s (never a panic on hostile input).

use super::error::{ErrorCode, WireError};
use crate::protocol::{ChannelId, ChannelKey};

pub(super) fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}
pub(super) fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}
pub(super) fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}
pub(super) fn put_bytes(b: &mut Vec<u8>, v: &[u8]) {
    put_u32(b, v.len() as u32);
    b.extend_from_slice(v);
}
pub(super) fn put_str(b: &mut Vec<u8>, s: &str) {
    put_bytes(b, s.as_bytes());
}
pub(super) fn put_strs(b: &mut Vec<u8>, v: &[String]) {
    put_u32(b, v.len() as u32);
    for s in v {
        put_str(b, s);
    }
}
pub(super) fn put_channels(b: &mut Vec<u8>, keys: &[ChannelKey]) {
    put_u32(b, keys.len() as u32);
    for k in keys {
        b.push(k.public as u8);
        b.extend_from_slice(k.id.as_bytes());
    }
}

/// A bounds-checked reader.
pub(super) struct Rd<'a> {
    b: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Rd<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }
    pub(super) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(WireError::bad(format!(
                "needs {n} more bytes, {} left",
                self.remaining()
            )));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        Ok(self.take(N)?.try_into().expect("exact length"))
    }
    pub(super) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(super) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(super) fn magic(&mut self, m: &[u8; 4]) -> Result<(), WireError> {
        if &self.array::<4>()? != m {
            return Err(WireError::new(
                ErrorCode::BadFrame,
                format!(
                    "not a bxpush hand-off peer (magic is not {:?})",
                    String::from_utf8_lossy(m)
                ),
            ));
        }
        Ok(())
    }
    pub(super) fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub(super) fn string(&mut self) -> Result<String, WireError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec())
            .map_err(|_| WireError::new(ErrorCode::Rejected, "string is not valid UTF-8"))
    }
    /// A count of elements at least `min_size` bytes each, checked against what is left.
    pub(super) fn count(&mut self, min_size: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.remaining() {
            return Err(WireError::bad(format!(
                "{n} elements claimed in {} bytes",
                self.remaining()
            )));
        }
        Ok(n)
    }
    pub(super) fn strings(&mut self) -> Result<Vec<String>, WireError> {
        let n = self.count(4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.string()?);
        }
        Ok(v)
    }
    pub(super) fn channels(&mut self) -> Result<Vec<ChannelKey>, WireError> {
        let n = self.count(17)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let public = self.u8()? != 0;
            let id = ChannelId(self.array()?);
            v.push(ChannelKey { id, public });
        }
        Ok(v)
    }
    /// One item with its length prefix.
    pub(super) fn item_raw(&mut self) -> Result<&'a [u8], WireError> {
        let start = self.pos;
        let len = self.u32()? as usize;
        if len == 0 {
            return Err(WireError::bad("empty item"));
        }
        self.take(len)?;
        Ok(&self.b[start..self.pos])
    }
    pub(super) fn end(&self) -> Result<(), WireError> {
        if self.remaining() != 0 {
            return Err(WireError::bad(format!(
                "{} unexpected trailing bytes",
                self.remaining()
            )));
        }
        Ok(())
    }
}
