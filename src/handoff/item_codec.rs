//! The item codec: one [`Item`] as `len u32 | kind u8 | fields` (see [`super::wire`]),
//! the same bytes in a Batch frame and in a spool file.

use bytes::Bytes;

use super::error::{ErrorCode, WireError};
use super::primitives::{put_bytes, put_channels, put_str, put_strs, put_u32, put_u64, Rd};
use super::Item;

/// Encode one item (`len u32 | kind u8 | fields`).
pub fn encode_item(item: &Item) -> Vec<u8> {
    // Sized once: a send encodes on the PHP thread, and growing the buffer was a
    // reallocation per item.
    let payload = match item {
        Item::Publish {
            receivers,
            body,
            kind,
            ..
        } => receivers.len() * 17 + body.len() + kind.len(),
        Item::PublishToTags {
            tags,
            skip_users,
            body,
            kind,
            ..
        } => {
            tags.iter().map(|t| t.len() + 4).sum::<usize>()
                + skip_users.len() * 8
                + body.len()
                + kind.len()
        }
        Item::WatchAdd { tags, .. } => tags.iter().map(|t| t.len() + 4).sum(),
        Item::WatchDelete { tag, .. } => tag.as_ref().map_or(0, String::len),
    };
    let mut b = Vec::with_capacity(4 + 1 + 32 + payload);
    b.extend_from_slice(&[0, 0, 0, 0]);
    match item {
        Item::Publish {
            receivers,
            body,
            expiry,
            kind,
        } => {
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
