//! Target `query`: a raw query string as a subscriber sends it (`/sub/?CHANNEL_ID=…&mid=…`).
//!
//! Properties: `parse_query` keeps one pair per non-empty `&` segment, and percent-encoding
//! its pairs back and parsing again gives the same pairs (decode∘encode is the identity);
//! `transport::subscribe::parse` either fails with 4010 only, or every channel it returns
//! comes from a descriptor of `CHANNEL_ID` that verifies on its own, the publisher is the
//! first public id, and `mid` is the 26-digit value when one was given.

use bxpush::protocol::descriptor::{parse_descriptor, Trust};
use bxpush::protocol::query::{parse_query, query_param};
use bxpush::protocol::{ErrorCode, MessageId};
use bxpush::transport::subscribe;

use super::signer;

fn encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

pub fn check(data: &[u8]) {
    let q = String::from_utf8_lossy(data);
    // A pair of Strings per `&` segment (48 bytes for a 2-byte segment), plus the text.
    let bound = 64 * q.len() + 4096;
    let pairs = super::alloc::bounded("parse_query", bound, || parse_query(&q));
    let segments = q
        .strip_prefix('?')
        .unwrap_or(&q)
        .split('&')
        .filter(|s| !s.is_empty())
        .count();
    assert_eq!(pairs.len(), segments, "one pair per non-empty segment");

    let again: String = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let reparsed = parse_query(&again);
    // An empty key and value encode to the segment "=", which parses as ("", "").
    assert_eq!(reparsed, pairs, "decode(encode(pairs)) == pairs");

    let signer = signer();
    match subscribe::parse(Some(&q), Some(&signer)) {
        Err(code) => assert_eq!(code, ErrorCode::WrongChannelId, "only 4010 from a query"),
        Ok(req) => {
            let list = query_param(&pairs, "CHANNEL_ID").expect("channels come from CHANNEL_ID");
            let descriptors: Vec<_> = list
                .split('/')
                .filter(|i| !i.is_empty())
                .map(|i| parse_descriptor(i, Some(&signer), Trust::Untrusted))
                .collect::<Result<_, _>>()
                .expect("an accepted list has only valid descriptors");
            assert!(!req.channels.is_empty());
            for key in &req.channels {
                assert!(
                    descriptors.iter().any(|d| d.receivers().any(|r| r == *key)),
                    "channel {key:?} is from no descriptor"
                );
            }
            let first_public = descriptors.iter().find_map(|d| d.public);
            assert_eq!(req.publisher, first_public);
            if let Some(mid) = req.mid {
                let given = query_param(&pairs, "mid").expect("a mid comes from `mid`");
                assert_eq!(MessageId::parse(given), Some(mid));
            }
        }
    }
}
