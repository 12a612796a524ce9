//! The text envelope of text-mode clients (spec §4.2):
//! `#!NGINXNMS!#{"id":…,"mid":"…","channel":"-","tag":"…","time":"…","text":<body>}#!NGINXNME!#`.
//!
//! The body is spliced in verbatim, never parsed or escaped: the Node server serialises
//! the object with a placeholder and replaces it with the raw body, so whatever bytes were
//! published (normally a JSON object; a bare token from the site checker) end up as the
//! value of `text`. Clients find envelopes with `/#!NGINXNMS!#(.*?)#!NGINXNME!#/gm` and
//! concatenate nothing in between, so several envelopes are simply appended.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use httpdate::HttpDate;

use super::mid::MessageId;

/// Start marker of an envelope.
pub const START: &[u8] = b"#!NGINXNMS!#";
/// End marker of an envelope.
pub const END: &[u8] = b"#!NGINXNME!#";

/// The last millisecond `httpdate` can format (it panics from year 10000 on).
const MAX_MS: u64 = 253_402_300_799_999;

/// One envelope for message `mid` with `body`, delivered at `delivered_unix_ms`.
///
/// `tag` (last three digits of the millisecond time) and `time` (RFC 1123 GMT, as JS
/// `Date.toUTCString()`) are cosmetic for Node-era clients, which echo them back but
/// resume by `mid` only. Built by direct byte pushes: it runs once per message.
pub fn text_envelope(mid: &MessageId, body: &[u8], delivered_unix_ms: u64) -> Vec<u8> {
    let ms = delivered_unix_ms.min(MAX_MS);
    let mut out = Vec::with_capacity(START.len() + END.len() + 140 + body.len());
    out.extend_from_slice(START);
    out.extend_from_slice(b"{\"id\":");
    write!(out, "{}", mid.counter()).expect("writing to a Vec never fails");
    out.extend_from_slice(b",\"mid\":\"");
    write!(out, "{mid}").expect("writing to a Vec never fails");
    out.extend_from_slice(b"\",\"channel\":\"-\",\"tag\":\"");
    write!(out, "{:03}", ms % 1000).expect("writing to a Vec never fails");
    out.extend_from_slice(b"\",\"time\":\"");
    let time = HttpDate::from(UNIX_EPOCH + Duration::from_millis(ms));
    write!(out, "{time}").expect("writing to a Vec never fails");
    out.extend_from_slice(b"\",\"text\":");
    out.extend_from_slice(body);
    out.push(b'}');
    out.extend_from_slice(END);
    out
}

/// The JSON objects of every envelope in `data`, in order, as a client extracts them
/// (non-greedy match from a start marker to the next end marker; bytes outside
/// envelopes are ignored). Meant for tests and diagnostics of text-mode output.
pub fn split_envelopes(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(start) = find(rest, START) {
        let after = &rest[start + START.len()..];
        let Some(end) = find(after, END) else { break };
        out.push(&after[..end]);
        rest = &after[end + END.len()..];
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testdata::{BODY, DELIVERED_MS, ENVELOPE};

    fn mid42() -> MessageId {
        MessageId::new(1_700_000_000, 42)
    }

    /// Spec §11.4, byte for byte.
    #[test]
    fn spec_11_4_envelope_exact_bytes() {
        let got = text_envelope(&mid42(), BODY.as_bytes(), DELIVERED_MS);
        assert_eq!(String::from_utf8(got).unwrap(), ENVELOPE);
    }

    #[test]
    fn spec_11_4_envelope_is_json_after_stripping_markers() {
        let got = text_envelope(&mid42(), BODY.as_bytes(), DELIVERED_MS);
        let json = &got[START.len()..got.len() - END.len()];
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(v["id"], 42);
        assert_eq!(v["mid"], "17000000000000000000000042");
        assert_eq!(v["channel"], "-");
        assert_eq!(v["tag"], "234");
        assert_eq!(v["time"], "Mon, 01 Jan 2024 00:00:01 GMT");
        assert_eq!(v["text"]["params"]["text"], "hi");
        assert_eq!(v["text"]["extra"]["revision_web"], 19);
    }

    /// Spec §11.4 [R]: the reference server's capture, other id and time.
    #[test]
    fn spec_11_4_captured_header() {
        let mid = MessageId::parse("17959531890000000000000001").unwrap();
        // 2026-11-29 11:53:09.202 UTC
        let got = text_envelope(&mid, b"{}", 1_795_953_189_202);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r##"#!NGINXNMS!#{"id":1,"mid":"17959531890000000000000001","channel":"-","tag":"202","time":"Sun, 29 Nov 2026 11:53:09 GMT","text":{}}#!NGINXNME!#"##
        );
    }

    #[test]
    fn tag_is_zero_padded_to_three_digits() {
        let t = |ms| {
            let e = text_envelope(&mid42(), b"1", ms);
            let s = String::from_utf8(e).unwrap();
            let i = s.find("\"tag\":\"").unwrap() + 7;
            s[i..i + 3].to_string()
        };
        assert_eq!(t(1_704_067_201_000), "000");
        assert_eq!(t(1_704_067_201_007), "007");
        assert_eq!(t(1_704_067_201_050), "050");
        assert_eq!(t(1_704_067_201_999), "999");
    }

    /// The site checker publishes a bare 32-hex token: spliced verbatim, not quoted.
    #[test]
    fn body_is_spliced_verbatim_not_escaped() {
        let body = b"0123456789abcdef0123456789abcdef";
        let e = text_envelope(&mid42(), body, DELIVERED_MS);
        let s = String::from_utf8(e).unwrap();
        assert!(s.ends_with(r#","text":0123456789abcdef0123456789abcdef}#!NGINXNME!#"#));
        // quotes, backslashes and non-UTF-8 bytes pass untouched
        let body = b"\"a\\b\xff";
        let e = text_envelope(&mid42(), body, DELIVERED_MS);
        assert!(e.windows(body.len()).any(|w| w == body));
        // empty body
        let e = text_envelope(&mid42(), b"", DELIVERED_MS);
        assert!(e.ends_with(b"\"text\":}#!NGINXNME!#"));
    }

    #[test]
    fn id_is_the_counter_part() {
        let mid = MessageId::new(1_700_000_000, 1_234_567_890_123_456);
        let e = text_envelope(&mid, b"{}", DELIVERED_MS);
        let s = String::from_utf8(e).unwrap();
        assert!(s.starts_with(
            r#"#!NGINXNMS!#{"id":1234567890123456,"mid":"17000000001234567890123456","#
        ));
        let zero = text_envelope(&MessageId::new(1_700_000_000, 0), b"{}", DELIVERED_MS);
        assert!(zero.starts_with(b"#!NGINXNMS!#{\"id\":0,\"mid\":\"17000000000000000000000000\","));
    }

    #[test]
    fn far_future_time_does_not_panic() {
        let e = text_envelope(&mid42(), b"{}", u64::MAX);
        let s = String::from_utf8(e).unwrap();
        assert!(
            s.contains("\"time\":\"Fri, 31 Dec 9999 23:59:59 GMT\""),
            "{s}"
        );
        let e = text_envelope(&mid42(), b"{}", 0);
        assert!(String::from_utf8(e)
            .unwrap()
            .contains("\"tag\":\"000\",\"time\":\"Thu, 01 Jan 1970 00:00:00 GMT\""));
    }

    #[test]
    fn split_envelopes_finds_each_object() {
        let mut data = text_envelope(&mid42(), BODY.as_bytes(), DELIVERED_MS);
        data.extend(text_envelope(
            &MessageId::new(1_700_000_000, 43),
            b"{\"x\":1}",
            DELIVERED_MS,
        ));
        let parts = split_envelopes(&data);
        assert_eq!(parts.len(), 2);
        let second: serde_json::Value = serde_json::from_slice(parts[1]).unwrap();
        assert_eq!(second["id"], 43);
        assert_eq!(second["text"]["x"], 1);
        assert!(split_envelopes(b"").is_empty());
        assert!(split_envelopes(b"#!NGINXNMS!#{unterminated").is_empty());
    }
}
