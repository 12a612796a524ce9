//! The spool file format: the items of one origin that a worker could not get
//! acknowledged, `magic | version | origin | first_seq | count | item* | crc32` (see
//! [`super::wire`]). The directory and its files are [`crate::forward::spool`]'s.

use bytes::Bytes;

use super::error::{ErrorCode, WireError};
use super::frame::VERSION;
use super::item_codec::split_items;
use super::primitives::{put_u16, put_u32, put_u64, Rd};

pub const SPOOL_MAGIC: [u8; 4] = *b"BXSP";

/// A spool file's contents: items of one origin with consecutive seqs from `first_seq`.
#[derive(Debug)]
pub struct Spool {
    pub origin: u64,
    pub first_seq: u64,
    /// Each item encoded as in a batch (shares the file's buffer).
    pub items: Vec<Bytes>,
}

/// Encode a spool file (see [`super::wire`]).
pub fn encode_spool(origin: u64, first_seq: u64, items: &[&[u8]]) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.len()).sum();
    let mut b = Vec::with_capacity(30 + size);
    b.extend_from_slice(&SPOOL_MAGIC);
    put_u16(&mut b, VERSION);
    put_u64(&mut b, origin);
    put_u64(&mut b, first_seq);
    put_u32(&mut b, items.len() as u32);
    for i in items {
        b.extend_from_slice(i);
    }
    let crc = crc32fast::hash(&b);
    put_u32(&mut b, crc);
    b
}

/// Decode a spool file; a torn or corrupted file is an error (its crc does not match).
pub fn decode_spool(data: Bytes) -> Result<Spool, WireError> {
    if data.len() < 30 {
        return Err(WireError::bad("spool file shorter than its header"));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    let crc = u32::from_be_bytes(crc.try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        return Err(WireError::bad(
            "spool file checksum mismatch (torn or corrupted)",
        ));
    }
    let mut r = Rd::new(body);
    r.magic(&SPOOL_MAGIC)?;
    let version = r.u16()?;
    if version != VERSION {
        return Err(WireError::new(
            ErrorCode::Version,
            format!("spool file version {version}, this build reads {VERSION}"),
        ));
    }
    let origin = r.u64()?;
    let first_seq = r.u64()?;
    let count = r.u32()? as usize;
    let start = r.pos;
    let (raws, rest) = split_items(&body[start..], count)?;
    if !rest.is_empty() {
        return Err(WireError::bad("trailing bytes after the spooled items"));
    }
    let mut items = Vec::with_capacity(count);
    let mut off = start;
    for raw in raws {
        items.push(data.slice(off..off + raw.len()));
        off += raw.len();
    }
    Ok(Spool {
        origin,
        first_seq,
        items,
    })
}
