//! The frame codec: `len | type | payload | tag?` and every frame type's payload,
//! including the Query and Reply payloads (see [`super::wire`] for the layout). Items
//! inside a Batch are [`super::item_codec`]'s; the tag is [`super::auth`]'s.

use super::error::{ErrorCode, WireError};
use super::item_codec::{decode_item, encode_item};
use super::primitives::{put_channels, put_str, put_strs, put_u16, put_u32, put_u64, Rd};
use super::{Item, Query, Reply};

pub const MAGIC: [u8; 4] = *b"BXPH";
pub const VERSION: u16 = 1;
/// Largest `len` of a frame (16 MiB).
pub const MAX_FRAME: usize = 16 << 20;
/// Most items in one batch.
pub const MAX_ITEMS: usize = 10_000;
pub const TAG_LEN: usize = 16;
pub const NONCE_LEN: usize = 16;
pub const MAC_LEN: usize = 32;
/// Bytes a frame needs around an item list: len, type, origin, first_seq, count, tag.
pub const BATCH_OVERHEAD: usize = 4 + 1 + 8 + 8 + 4 + TAG_LEN;

pub(super) const T_CHALLENGE: u8 = 1;
pub(super) const T_HELLO: u8 = 2;
pub(super) const T_WELCOME: u8 = 3;
pub(super) const T_BATCH: u8 = 4;
pub(super) const T_ACK: u8 = 5;
pub(super) const T_QUERY: u8 = 6;
pub(super) const T_REPLY: u8 = 7;
pub(super) const T_ERROR: u8 = 8;

/// One frame, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Challenge {
        version: u16,
        auth: bool,
        nonce: [u8; NONCE_LEN],
    },
    Hello {
        version: u16,
        origin: u64,
        nonce: [u8; NONCE_LEN],
        mac: [u8; MAC_LEN],
    },
    Welcome {
        applied: u64,
        mac: [u8; MAC_LEN],
    },
    /// Items that fail to decode on their own (unknown kind from a newer worker, bad
    /// UTF-8) are `Err` and get rejected one by one; a broken item length breaks the frame.
    Batch {
        origin: u64,
        first_seq: u64,
        items: Vec<Result<Item, WireError>>,
    },
    Ack {
        origin: u64,
        seq: u64,
    },
    Query(Query),
    Reply(Reply),
    Error {
        code: ErrorCode,
        text: String,
    },
}

impl Frame {
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Challenge { .. } => "Challenge",
            Frame::Hello { .. } => "Hello",
            Frame::Welcome { .. } => "Welcome",
            Frame::Batch { .. } => "Batch",
            Frame::Ack { .. } => "Ack",
            Frame::Query(_) => "Query",
            Frame::Reply(_) => "Reply",
            Frame::Error { .. } => "Error",
        }
    }

    /// The frame's body: 4 bytes reserved for `len`, then type and payload (see
    /// [`Session::seal_body`]).
    pub fn to_body(&self) -> Vec<u8> {
        let mut b = vec![0u8; 4];
        match self {
            Frame::Challenge {
                version,
                auth,
                nonce,
            } => {
                b.push(T_CHALLENGE);
                b.extend_from_slice(&MAGIC);
                put_u16(&mut b, *version);
                b.push(*auth as u8);
                b.extend_from_slice(nonce);
            }
            Frame::Hello {
                version,
                origin,
                nonce,
                mac,
            } => {
                b.push(T_HELLO);
                b.extend_from_slice(&MAGIC);
                put_u16(&mut b, *version);
                put_u64(&mut b, *origin);
                b.extend_from_slice(nonce);
                b.extend_from_slice(mac);
            }
            Frame::Welcome { applied, mac } => {
                b.push(T_WELCOME);
                put_u64(&mut b, *applied);
                b.extend_from_slice(mac);
            }
            Frame::Batch {
                origin,
                first_seq,
                items,
            } => {
                let encoded: Vec<Vec<u8>> = items
                    .iter()
                    .map(|i| match i {
                        Ok(item) => encode_item(item),
                        // An item of kind 0: decodes as "unknown item kind".
                        Err(_) => vec![0, 0, 0, 1, 0],
                    })
                    .collect();
                let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
                return batch_body(*origin, *first_seq, &refs);
            }
            Frame::Ack { origin, seq } => {
                b.push(T_ACK);
                put_u64(&mut b, *origin);
                put_u64(&mut b, *seq);
            }
            Frame::Query(q) => {
                b.push(T_QUERY);
                encode_query(q, &mut b);
            }
            Frame::Reply(r) => {
                b.push(T_REPLY);
                encode_reply(r, &mut b);
            }
            Frame::Error { code, text } => {
                b.push(T_ERROR);
                put_u16(&mut b, code.code());
                put_str(&mut b, text);
            }
        }
        b
    }

    /// Decode `type | payload` (the frame after `len`, without its tag).
    pub fn decode(body: &[u8]) -> Result<Frame, WireError> {
        Self::decode_inner(body).map_err(|mut e| {
            // Only single items are rejected and skipped; a broken frame is fatal.
            if e.code == ErrorCode::Rejected {
                e.code = ErrorCode::BadFrame;
            }
            e
        })
    }

    fn decode_inner(body: &[u8]) -> Result<Frame, WireError> {
        let mut r = Rd::new(body);
        let t = r.u8()?;
        let f = match t {
            T_CHALLENGE => {
                r.magic(&MAGIC)?;
                Frame::Challenge {
                    version: r.u16()?,
                    auth: r.u8()? != 0,
                    nonce: r.array()?,
                }
            }
            T_HELLO => {
                r.magic(&MAGIC)?;
                Frame::Hello {
                    version: r.u16()?,
                    origin: r.u64()?,
                    nonce: r.array()?,
                    mac: r.array()?,
                }
            }
            T_WELCOME => Frame::Welcome {
                applied: r.u64()?,
                mac: r.array()?,
            },
            T_BATCH => {
                let origin = r.u64()?;
                let first_seq = r.u64()?;
                let count = r.u32()? as usize;
                if count > MAX_ITEMS {
                    return Err(too_many_items(count));
                }
                // Every item takes at least its 5-byte header.
                if count > r.remaining() / 5 {
                    return Err(WireError::bad(format!(
                        "batch claims {count} items in {} bytes",
                        r.remaining()
                    )));
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let raw = r.item_raw()?;
                    items.push(decode_item(raw));
                }
                Frame::Batch {
                    origin,
                    first_seq,
                    items,
                }
            }
            T_ACK => Frame::Ack {
                origin: r.u64()?,
                seq: r.u64()?,
            },
            T_QUERY => Frame::Query(decode_query(&mut r)?),
            T_REPLY => Frame::Reply(decode_reply(&mut r)?),
            T_ERROR => Frame::Error {
                code: ErrorCode::from_code(r.u16()?),
                text: r.string()?,
            },
            other => return Err(WireError::bad(format!("unknown frame type {other}"))),
        };
        r.end()?;
        Ok(f)
    }
}

pub(super) fn too_many_items(count: usize) -> WireError {
    WireError::new(
        ErrorCode::TooManyItems,
        format!("batch of {count} items exceeds the hand-off limit of {MAX_ITEMS} items per batch"),
    )
}

/// Check a frame's `len` field: 1 ..= [`MAX_FRAME`].
pub fn check_len(len: u32) -> Result<usize, WireError> {
    let len = len as usize;
    if len == 0 {
        return Err(WireError::bad("empty frame"));
    }
    if len > MAX_FRAME {
        return Err(WireError::new(
            ErrorCode::FrameTooLarge,
            format!(
                "frame of {len} bytes exceeds the hand-off limit of {MAX_FRAME} bytes (16 MiB)"
            ),
        ));
    }
    Ok(len)
}

/// A Batch body (4 reserved bytes, type, payload) from already encoded items.
pub fn batch_body(origin: u64, first_seq: u64, items: &[&[u8]]) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.len()).sum();
    let mut b = Vec::with_capacity(BATCH_OVERHEAD + size);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.push(T_BATCH);
    put_u64(&mut b, origin);
    put_u64(&mut b, first_seq);
    put_u32(&mut b, items.len() as u32);
    for i in items {
        b.extend_from_slice(i);
    }
    b
}

fn encode_query(q: &Query, b: &mut Vec<u8>) {
    match q {
        Query::ChannelStats(keys) => {
            b.push(1);
            put_channels(b, keys);
        }
        Query::WatchUsers(tags) => {
            b.push(2);
            put_strs(b, tags);
        }
        Query::ServerStats => b.push(3),
    }
}

fn decode_query(r: &mut Rd) -> Result<Query, WireError> {
    Ok(match r.u8()? {
        1 => Query::ChannelStats(r.channels()?),
        2 => Query::WatchUsers(r.strings()?),
        3 => Query::ServerStats,
        k => return Err(WireError::bad(format!("unknown query kind {k}"))),
    })
}

fn encode_reply(rep: &Reply, b: &mut Vec<u8>) {
    match rep {
        Reply::ChannelStats(flags) => {
            b.push(1);
            put_u32(b, flags.len() as u32);
            b.extend(flags.iter().map(|f| *f as u8));
        }
        Reply::Users(users) => {
            b.push(2);
            put_u32(b, users.len() as u32);
            for u in users {
                put_u64(b, *u as u64);
            }
        }
        Reply::ServerStats(json) => {
            b.push(3);
            put_str(b, json);
        }
    }
}

fn decode_reply(r: &mut Rd) -> Result<Reply, WireError> {
    Ok(match r.u8()? {
        1 => {
            let n = r.count(1)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.u8()? != 0);
            }
            Reply::ChannelStats(v)
        }
        2 => {
            let n = r.count(8)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.u64()? as i64);
            }
            Reply::Users(v)
        }
        3 => Reply::ServerStats(r.string()?),
        k => return Err(WireError::bad(format!("unknown reply kind {k}"))),
    })
}
