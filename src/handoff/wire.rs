//! The hand-off wire format between PHP workers ([`crate::forward`]) and the owner
//! ([`crate::ingress`]), and the format of spool files. No I/O here: both sides (std
//! sockets in workers, tokio in the owner) read and write the bytes this module makes.
//!
//! All integers are big-endian. `str` = `len u32 | UTF-8 bytes`; `bytes` = `len u32 | bytes`;
//! `channel` = `public u8 (0/1) | id [16]`.
//!
//! ```text
//! frame    = len u32 | type u8 | payload | tag [16]?
//!            len counts everything after itself and is at most 16 MiB (MAX_FRAME).
//!            tag = first 16 bytes of HMAC-SHA256(session_key, dir u8 | counter u64 | type |
//!            payload), present on every frame after Welcome when the connection is
//!            authenticated (TCP); dir 0 = worker→owner, 1 = owner→worker; counter counts the
//!            sender's authenticated frames from 0.
//!
//! type 1 Challenge  owner→worker, first frame on every connection:
//!                   magic "BXPH" | version u16 | auth u8 (0 none: unix socket, 1 HMAC: TCP)
//!                   | nonce [16]
//! type 2 Hello      worker→owner: magic "BXPH" | version u16 | origin u64 | nonce [16] | mac [32]
//!                   mac = HMAC-SHA256(key, "BXPH-hello" | version | origin | owner nonce |
//!                   worker nonce), all zeros when auth = 0. origin 0 = no items (queries).
//! type 3 Welcome    owner→worker: applied u64 | mac [32]
//!                   applied = highest seq of `origin` the owner has applied (0 = none);
//!                   mac = HMAC-SHA256(key, "BXPH-welcome" | owner nonce | worker nonce |
//!                   origin | applied) (zeros when auth = 0): the worker checks the owner too.
//!                   session_key = HMAC-SHA256(key, "BXPH-session" | owner nonce | worker nonce).
//! type 4 Batch      worker→owner: origin u64 | first_seq u64 | count u32 | item * count
//!                   (count ≤ 10 000 = MAX_ITEMS; item i has seq first_seq + i)
//! type 5 Ack        owner→worker: origin u64 | seq u64  (every seq ≤ seq of origin is applied)
//! type 6 Query      worker→owner: query
//! type 7 Reply      owner→worker: reply
//! type 8 Error      either way: code u16 | text str. Every code but 6 (Rejected) is followed
//!                   by closing the connection.
//!
//! item     = len u32 | kind u8 | fields          (len counts kind + fields)
//!   kind 1 Publish        count u32 | channel * count | body bytes | expiry u32 | kind str
//!   kind 2 WatchAdd       user i64 | count u32 | tag str * count | ttl u32
//!   kind 3 WatchDelete    user i64 | has_tag u8 | tag str (if has_tag = 1)
//!   kind 4 PublishToTags  count u32 | tag str * count | count u32 | user i64 * count
//!                         | body bytes | expiry u32 | kind str
//! query    = kind u8 | …   1 ChannelStats: count u32 | channel * count
//!                          2 WatchUsers: count u32 | tag str * count     3 ServerStats
//! reply    = kind u8 | …   1 ChannelStats: count u32 | online u8 * count
//!                          2 Users: count u32 | user i64 * count         3 ServerStats: json str
//!
//! spool    = magic "BXSP" | version u16 | origin u64 | first_seq u64 | count u32 | item * count
//!            | crc32 u32 (of everything before it)
//! ```
//!
//! Error codes: 1 malformed frame, 2 frame over 16 MiB, 3 batch over 10 000 items,
//! 4 authentication failed, 5 unsupported version, 6 item rejected (skipped, connection
//! stays), 7 owner unavailable (retry later), 8 unexpected frame.
//!
//! A connection: owner sends Challenge; worker sends Hello; owner answers Welcome (or Error
//! and closes); then the worker sends Batch (owner answers Ack, after any Rejected Errors)
//! or Query (owner answers Reply), one request at a time.

use std::fmt;
use std::io;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Item, Query, Reply};
use crate::protocol::{ChannelId, ChannelKey};

pub const MAGIC: [u8; 4] = *b"BXPH";
pub const SPOOL_MAGIC: [u8; 4] = *b"BXSP";
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

const T_CHALLENGE: u8 = 1;
const T_HELLO: u8 = 2;
const T_WELCOME: u8 = 3;
const T_BATCH: u8 = 4;
const T_ACK: u8 = 5;
const T_QUERY: u8 = 6;
const T_REPLY: u8 = 7;
const T_ERROR: u8 = 8;

/// Why a frame, an item or a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadFrame,
    FrameTooLarge,
    TooManyItems,
    Auth,
    Version,
    /// One item could not be applied and was skipped; the connection stays open.
    Rejected,
    /// The owner cannot apply items now (history write failed, shutting down): retry.
    Unavailable,
    Unexpected,
    Other(u16),
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::BadFrame => 1,
            ErrorCode::FrameTooLarge => 2,
            ErrorCode::TooManyItems => 3,
            ErrorCode::Auth => 4,
            ErrorCode::Version => 5,
            ErrorCode::Rejected => 6,
            ErrorCode::Unavailable => 7,
            ErrorCode::Unexpected => 8,
            ErrorCode::Other(c) => c,
        }
    }

    pub fn from_code(c: u16) -> Self {
        match c {
            1 => ErrorCode::BadFrame,
            2 => ErrorCode::FrameTooLarge,
            3 => ErrorCode::TooManyItems,
            4 => ErrorCode::Auth,
            5 => ErrorCode::Version,
            6 => ErrorCode::Rejected,
            7 => ErrorCode::Unavailable,
            8 => ErrorCode::Unexpected,
            c => ErrorCode::Other(c),
        }
    }

    /// Whether the sender closes the connection after this error.
    pub fn is_fatal(self) -> bool {
        self != ErrorCode::Rejected
    }
}

/// A decoding or protocol error: what goes into an Error frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub code: ErrorCode,
    pub text: String,
}

impl WireError {
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }

    fn bad(what: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::BadFrame,
            format!("malformed hand-off frame: {what}"),
        )
    }

    pub fn to_frame(&self) -> Frame {
        Frame::Error {
            code: self.code,
            text: self.text.clone(),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (hand-off error {})", self.text, self.code.code())
    }
}

impl std::error::Error for WireError {}

impl From<WireError> for io::Error {
    fn from(e: WireError) -> Self {
        let kind = match e.code {
            ErrorCode::Auth => io::ErrorKind::PermissionDenied,
            ErrorCode::Unavailable => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e.to_string())
    }
}

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

fn too_many_items(count: usize) -> WireError {
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

/// Encode one item (`len u32 | kind u8 | fields`).
pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut b = vec![0u8; 4];
    match item {
        Item::Publish {
            receivers,
            body,
            expiry,
            kind,
        } => {
            b.reserve(receivers.len() * 17 + body.len() + kind.len() + 16);
            b.push(1);
            put_channels(&mut b, receivers);
            put_bytes(&mut b, body);
            put_u32(&mut b, *expiry);
            put_str(&mut b, kind);
        }
        Item::WatchAdd { user_id, tags, ttl } => {
            b.push(2);
            put_u64(&mut b, *user_id as u64);
            put_strs(&mut b, tags);
            put_u32(&mut b, *ttl);
        }
        Item::WatchDelete { user_id, tag } => {
            b.push(3);
            put_u64(&mut b, *user_id as u64);
            match tag {
                Some(t) => {
                    b.push(1);
                    put_str(&mut b, t);
                }
                None => b.push(0),
            }
        }
        Item::PublishToTags {
            tags,
            skip_users,
            body,
            expiry,
            kind,
        } => {
            b.push(4);
            put_strs(&mut b, tags);
            put_u32(&mut b, skip_users.len() as u32);
            for u in skip_users {
                put_u64(&mut b, *u as u64);
            }
            put_bytes(&mut b, body);
            put_u32(&mut b, *expiry);
            put_str(&mut b, kind);
        }
    }
    let len = (b.len() - 4) as u32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b
}

/// Decode one whole item (with its `len` prefix, exactly as [`encode_item`] makes it).
pub fn decode_item(raw: &[u8]) -> Result<Item, WireError> {
    let mut r = Rd::new(raw);
    let len = r.u32()? as usize;
    if len != r.remaining() {
        return Err(WireError::bad("item length does not match its bytes"));
    }
    let kind = r.u8()?;
    let item = match kind {
        1 => Item::Publish {
            receivers: r.channels()?,
            body: Bytes::copy_from_slice(r.bytes()?),
            expiry: r.u32()?,
            kind: r.string()?,
        },
        2 => Item::WatchAdd {
            user_id: r.u64()? as i64,
            tags: r.strings()?,
            ttl: r.u32()?,
        },
        3 => Item::WatchDelete {
            user_id: r.u64()? as i64,
            tag: match r.u8()? {
                0 => None,
                _ => Some(r.string()?),
            },
        },
        4 => {
            let tags = r.strings()?;
            let n = r.count(8)?;
            let mut skip_users = Vec::with_capacity(n);
            for _ in 0..n {
                skip_users.push(r.u64()? as i64);
            }
            Item::PublishToTags {
                tags,
                skip_users,
                body: Bytes::copy_from_slice(r.bytes()?),
                expiry: r.u32()?,
                kind: r.string()?,
            }
        }
        k => {
            return Err(WireError::new(
                ErrorCode::Rejected,
                format!(
                    "unknown hand-off item kind {k} (is the owner older than the PHP extension?)"
                ),
            ))
        }
    };
    r.end()?;
    Ok(item)
}

/// Split concatenated encoded items into their raw slices (spool files, batches).
pub fn split_items(mut buf: &[u8], count: usize) -> Result<(Vec<&[u8]>, &[u8]), WireError> {
    if count > buf.len() / 5 {
        return Err(WireError::bad(format!(
            "{count} items claimed in {} bytes",
            buf.len()
        )));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut r = Rd::new(buf);
        let raw = r.item_raw()?;
        out.push(raw);
        buf = &buf[raw.len()..];
    }
    Ok((out, buf))
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

/// A spool file's contents: items of one origin with consecutive seqs from `first_seq`.
#[derive(Debug)]
pub struct Spool {
    pub origin: u64,
    pub first_seq: u64,
    /// Each item encoded as in a batch (shares the file's buffer).
    pub items: Vec<Bytes>,
}

/// Encode a spool file (see the module doc).
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

type HmacSha256 = Hmac<Sha256>;

fn hmac_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The worker's proof of the key in Hello.
pub fn hello_mac(
    key: &[u8],
    version: u16,
    origin: u64,
    owner_nonce: &[u8; NONCE_LEN],
    worker_nonce: &[u8; NONCE_LEN],
) -> [u8; MAC_LEN] {
    hmac_parts(
        key,
        &[
            b"BXPH-hello",
            &version.to_be_bytes(),
            &origin.to_be_bytes(),
            owner_nonce,
            worker_nonce,
        ],
    )
}

/// The owner's proof of the key in Welcome.
pub fn welcome_mac(
    key: &[u8],
    owner_nonce: &[u8; NONCE_LEN],
    worker_nonce: &[u8; NONCE_LEN],
    origin: u64,
    applied: u64,
) -> [u8; MAC_LEN] {
    hmac_parts(
        key,
        &[
            b"BXPH-welcome",
            owner_nonce,
            worker_nonce,
            &origin.to_be_bytes(),
            &applied.to_be_bytes(),
        ],
    )
}

/// The key that tags every later frame of the connection.
pub fn session_key(
    key: &[u8],
    owner_nonce: &[u8; NONCE_LEN],
    worker_nonce: &[u8; NONCE_LEN],
) -> [u8; 32] {
    hmac_parts(key, &[b"BXPH-session", owner_nonce, worker_nonce])
}

/// Constant-time comparison of two MACs.
pub fn macs_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Which end of the connection a [`Session`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Worker,
    Owner,
}

impl Role {
    fn dir(self) -> u8 {
        match self {
            Role::Worker => 0,
            Role::Owner => 1,
        }
    }
    fn peer(self) -> Role {
        match self {
            Role::Worker => Role::Owner,
            Role::Owner => Role::Worker,
        }
    }
}

/// Frames on one connection: plain, or tagged with the session key (TCP after Welcome).
pub struct Session {
    mac: Option<HmacSha256>,
    role: Role,
    sent: u64,
    received: u64,
}

impl Session {
    pub fn plain(role: Role) -> Self {
        Self {
            mac: None,
            role,
            sent: 0,
            received: 0,
        }
    }

    pub fn keyed(session_key: &[u8; 32], role: Role) -> Self {
        Self {
            mac: Some(<HmacSha256 as KeyInit>::new_from_slice(session_key).expect("32-byte key")),
            role,
            sent: 0,
            received: 0,
        }
    }

    pub fn is_keyed(&self) -> bool {
        self.mac.is_some()
    }

    fn tag(mac: &HmacSha256, dir: u8, counter: u64, body: &[u8]) -> [u8; TAG_LEN] {
        let mut m = mac.clone();
        m.update(&[dir]);
        m.update(&counter.to_be_bytes());
        m.update(body);
        let full = m.finalize().into_bytes();
        full[..TAG_LEN].try_into().expect("16 of 32 bytes")
    }

    /// Finish a body made by [`Frame::to_body`] or [`batch_body`]: append the tag when
    /// keyed, fill in `len`. Fails when the frame would exceed [`MAX_FRAME`].
    pub fn seal_body(&mut self, mut body: Vec<u8>) -> Result<Vec<u8>, WireError> {
        if let Some(mac) = &self.mac {
            let tag = Self::tag(mac, self.role.dir(), self.sent, &body[4..]);
            self.sent += 1;
            body.extend_from_slice(&tag);
        }
        let len = body.len() - 4;
        check_len(len.min(u32::MAX as usize) as u32)?;
        body[..4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(body)
    }

    /// The wire bytes of `frame`.
    pub fn seal(&mut self, frame: &Frame) -> Result<Vec<u8>, WireError> {
        self.seal_body(frame.to_body())
    }

    /// Verify and strip the tag of a received frame (the bytes after `len`), then decode.
    pub fn open(&mut self, mut body: Vec<u8>) -> Result<Frame, WireError> {
        if let Some(mac) = &self.mac {
            if body.len() < TAG_LEN + 1 {
                return Err(WireError::new(
                    ErrorCode::Auth,
                    "frame without its authentication tag",
                ));
            }
            let at = body.len() - TAG_LEN;
            let want = Self::tag(mac, self.role.peer().dir(), self.received, &body[..at]);
            if !macs_equal(&want, &body[at..]) {
                return Err(WireError::new(
                    ErrorCode::Auth,
                    "frame authentication failed: wrong tag (different signature key, or the stream was altered)",
                ));
            }
            self.received += 1;
            body.truncate(at);
        }
        Frame::decode(&body)
    }
}

fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_bytes(b: &mut Vec<u8>, v: &[u8]) {
    put_u32(b, v.len() as u32);
    b.extend_from_slice(v);
}
fn put_str(b: &mut Vec<u8>, s: &str) {
    put_bytes(b, s.as_bytes());
}
fn put_strs(b: &mut Vec<u8>, v: &[String]) {
    put_u32(b, v.len() as u32);
    for s in v {
        put_str(b, s);
    }
}
fn put_channels(b: &mut Vec<u8>, keys: &[ChannelKey]) {
    put_u32(b, keys.len() as u32);
    for k in keys {
        b.push(k.public as u8);
        b.extend_from_slice(k.id.as_bytes());
    }
}

/// A bounds-checked reader.
struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
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
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        Ok(self.take(N)?.try_into().expect("exact length"))
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn magic(&mut self, m: &[u8; 4]) -> Result<(), WireError> {
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
    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, WireError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec())
            .map_err(|_| WireError::new(ErrorCode::Rejected, "string is not valid UTF-8"))
    }
    /// A count of elements at least `min_size` bytes each, checked against what is left.
    fn count(&mut self, min_size: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.remaining() {
            return Err(WireError::bad(format!(
                "{n} elements claimed in {} bytes",
                self.remaining()
            )));
        }
        Ok(n)
    }
    fn strings(&mut self) -> Result<Vec<String>, WireError> {
        let n = self.count(4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.string()?);
        }
        Ok(v)
    }
    fn channels(&mut self) -> Result<Vec<ChannelKey>, WireError> {
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
    fn item_raw(&mut self) -> Result<&'a [u8], WireError> {
        let start = self.pos;
        let len = self.u32()? as usize;
        if len == 0 {
            return Err(WireError::bad("empty item"));
        }
        self.take(len)?;
        Ok(&self.b[start..self.pos])
    }
    fn end(&self) -> Result<(), WireError> {
        if self.remaining() != 0 {
            return Err(WireError::bad(format!(
                "{} unexpected trailing bytes",
                self.remaining()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Item> {
        vec![
            Item::Publish {
                receivers: vec![
                    ChannelKey::private(ChannelId([1; 16])),
                    ChannelKey::public(ChannelId([2; 16])),
                ],
                body: Bytes::from_static(b"{\"module_id\":\"im\"}"),
                expiry: 86400,
                kind: "im".into(),
            },
            Item::WatchAdd {
                user_id: -5,
                tags: vec!["IM_CHAT_1".into(), "ТЕГ".into()],
                ttl: 1920,
            },
            Item::WatchDelete {
                user_id: 7,
                tag: None,
            },
            Item::WatchDelete {
                user_id: 7,
                tag: Some("X".into()),
            },
            Item::PublishToTags {
                tags: vec!["T".into()],
                skip_users: vec![1, i64::MAX],
                body: Bytes::new(),
                expiry: 0,
                kind: String::new(),
            },
        ]
    }

    fn roundtrip(f: &Frame, s: &mut Session, r: &mut Session) -> Frame {
        let bytes = s.seal(f).unwrap();
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap());
        assert_eq!(check_len(len).unwrap(), bytes.len() - 4);
        r.open(bytes[4..].to_vec()).unwrap()
    }

    #[test]
    fn every_frame_round_trips_plain_and_keyed() {
        let frames = vec![
            Frame::Challenge {
                version: VERSION,
                auth: true,
                nonce: [3; 16],
            },
            Frame::Hello {
                version: VERSION,
                origin: 42,
                nonce: [4; 16],
                mac: [5; 32],
            },
            Frame::Welcome {
                applied: 9,
                mac: [6; 32],
            },
            Frame::Batch {
                origin: u64::MAX,
                first_seq: 1,
                items: items().into_iter().map(Ok).collect(),
            },
            Frame::Ack { origin: 1, seq: 2 },
            Frame::Query(Query::ChannelStats(vec![ChannelKey::private(ChannelId(
                [9; 16],
            ))])),
            Frame::Query(Query::WatchUsers(vec!["a".into(), "b".into()])),
            Frame::Query(Query::ServerStats),
            Frame::Reply(Reply::ChannelStats(vec![true, false])),
            Frame::Reply(Reply::Users(vec![-1, 0, 1])),
            Frame::Reply(Reply::ServerStats("{}".into())),
            Frame::Error {
                code: ErrorCode::Auth,
                text: "no".into(),
            },
        ];
        let key = [7u8; 32];
        for keyed in [false, true] {
            let (mut w, mut o) = if keyed {
                (
                    Session::keyed(&key, Role::Worker),
                    Session::keyed(&key, Role::Owner),
                )
            } else {
                (Session::plain(Role::Worker), Session::plain(Role::Owner))
            };
            for f in &frames {
                assert_eq!(&roundtrip(f, &mut w, &mut o), f);
                assert_eq!(&roundtrip(f, &mut o, &mut w), f);
            }
        }
    }

    #[test]
    fn tags_catch_wrong_keys_replays_and_reflection() {
        let f = Frame::Ack { origin: 1, seq: 2 };
        let mut w = Session::keyed(&[1; 32], Role::Worker);
        let mut o = Session::keyed(&[2; 32], Role::Owner);
        let b = w.seal(&f).unwrap();
        assert_eq!(o.open(b[4..].to_vec()).unwrap_err().code, ErrorCode::Auth);
        // Same key: a replayed frame (counter moved on) and a reflected one fail.
        let mut w = Session::keyed(&[1; 32], Role::Worker);
        let mut o = Session::keyed(&[1; 32], Role::Owner);
        let b = w.seal(&f).unwrap();
        assert!(o.open(b[4..].to_vec()).is_ok());
        assert!(o.open(b[4..].to_vec()).is_err());
        let mut w2 = Session::keyed(&[1; 32], Role::Worker);
        let b = w2.seal(&f).unwrap();
        assert!(w2.open(b[4..].to_vec()).is_err());
    }

    #[test]
    fn limits_are_named_in_errors() {
        let e = check_len((MAX_FRAME + 1) as u32).unwrap_err();
        assert_eq!(e.code, ErrorCode::FrameTooLarge);
        assert!(e.text.contains("16 MiB"), "{e}");
        let mut body = vec![0, 0, 0, 0, T_BATCH];
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&((MAX_ITEMS + 1) as u32).to_be_bytes());
        let e = Frame::decode(&body[4..]).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyItems);
        assert!(e.text.contains("10000 items"), "{e}");
        assert!(Session::plain(Role::Worker)
            .seal_body(vec![0u8; MAX_FRAME + 5])
            .is_err());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let good = Frame::Batch {
            origin: 1,
            first_seq: 1,
            items: items().into_iter().map(Ok).collect(),
        }
        .to_body();
        for cut in 5..good.len() {
            let _ = Frame::decode(&good[4..cut]);
        }
        let mut bad = good.clone();
        for i in 4..bad.len() {
            bad[i] ^= 0xff;
            let _ = Frame::decode(&bad[4..]);
            bad[i] ^= 0xff;
        }
        // A huge claimed count does not allocate.
        assert!(Frame::decode(&[T_REPLY, 2, 0xff, 0xff, 0xff, 0xff]).is_err());
        // An unknown item kind is a per-item rejection, the frame still decodes.
        let body = batch_body(1, 1, &[&[0, 0, 0, 1, 99]]);
        match Frame::decode(&body[4..]).unwrap() {
            Frame::Batch { items, .. } => {
                assert_eq!(items[0].as_ref().unwrap_err().code, ErrorCode::Rejected)
            }
            f => panic!("{f:?}"),
        }
    }

    #[test]
    fn spool_files_round_trip_and_detect_damage() {
        let enc: Vec<Vec<u8>> = items().iter().map(encode_item).collect();
        let refs: Vec<&[u8]> = enc.iter().map(Vec::as_slice).collect();
        let file = encode_spool(77, 5, &refs);
        let s = decode_spool(Bytes::from(file.clone())).unwrap();
        assert_eq!((s.origin, s.first_seq), (77, 5));
        let back: Vec<Item> = s.items.iter().map(|b| decode_item(b).unwrap()).collect();
        assert_eq!(back, items());
        let mut torn = file.clone();
        torn.truncate(file.len() - 3);
        assert!(decode_spool(Bytes::from(torn)).is_err());
        let mut flipped = file;
        flipped[40] ^= 1;
        assert!(decode_spool(Bytes::from(flipped)).is_err());
    }

    #[test]
    fn macs_bind_every_field() {
        let k = b"key";
        let a = hello_mac(k, 1, 2, &[3; 16], &[4; 16]);
        assert!(macs_equal(&a, &hello_mac(k, 1, 2, &[3; 16], &[4; 16])));
        assert!(!macs_equal(&a, &hello_mac(k, 1, 3, &[3; 16], &[4; 16])));
        assert!(!macs_equal(
            &a,
            &hello_mac(b"kez", 1, 2, &[3; 16], &[4; 16])
        ));
        assert_ne!(
            welcome_mac(k, &[3; 16], &[4; 16], 2, 0),
            welcome_mac(k, &[3; 16], &[4; 16], 2, 1)
        );
        assert_ne!(session_key(k, &[3; 16], &[4; 16]), a);
    }
}
