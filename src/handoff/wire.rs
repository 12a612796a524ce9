//! The hand-off wire format between PHP workers ([`crate::forward`]) and the owner
//! ([`crate::ingress`]), and the format of spool files: the whole layout is written here
//! once; the code is split by concern — [`super::frame`] (frames, queries, replies),
//! [`super::item_codec`] (items), [`super::auth`] (handshake MACs, tagged sessions),
//! [`super::spool_format`] (spool files), on [`super::primitives`] and
//! [`super::error`] — and re-exported here, the one path both sides import. No I/O: both
//! sides (std sockets in workers, tokio in the owner) read and write these bytes.
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

pub use super::auth::{hello_mac, macs_equal, session_key, welcome_mac, Role, Session};
pub use super::error::{ErrorCode, WireError};
pub use super::frame::{
    batch_body, check_len, Frame, BATCH_OVERHEAD, MAC_LEN, MAGIC, MAX_FRAME, MAX_ITEMS, NONCE_LEN,
    TAG_LEN, VERSION,
};
pub use super::item_codec::{decode_item, encode_item, split_items};
pub use super::spool_format::{decode_spool, encode_spool, Spool, SPOOL_MAGIC};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::frame::{T_BATCH, T_REPLY};
    use crate::handoff::{Item, Query, Reply};
    use crate::protocol::{ChannelId, ChannelKey};
    use bytes::Bytes;

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
