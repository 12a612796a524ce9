//! Query strings (spec §2.1): JS clients percent-encode every value (`%3A`, `%2F` inside
//! `CHANNEL_ID`), PHP sends them raw, so the query is decoded before `CHANNEL_ID` is split.
//!
//! Decoding is forgiving like Node's `querystring.parse`: `+` is a space, a `%` not
//! followed by two hex digits stays literal, and invalid UTF-8 becomes U+FFFD rather than
//! an error (the value is then simply not a valid channel id).

/// All `key=value` pairs of `q` in order, keys and values percent-decoded. A leading `?`
/// is ignored, empty segments (`a=1&&b=2`) are skipped and a segment without `=` is a
/// key with an empty value.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    let q = q.strip_prefix('?').unwrap_or(q);
    q.split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The value of the first pair named `name` (case-sensitive, as in Node).
pub fn query_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Percent-decode one component (`+` → space; bad escapes kept as written).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || c == b'+') {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                b.get(i + 1).and_then(hex_val),
                b.get(i + 2).and_then(hex_val),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex_val(c: &u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::descriptor::{parse_channel_list, Trust};
    use crate::protocol::sign::{SignatureAlgo, Signer};
    use crate::protocol::testdata::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Spec §13: the SDK URL, every value percent-encoded; decodes to the §11.2 list.
    #[test]
    fn js_client_query_decodes_channel_list() {
        let encoded = format!("{PRIVATE_DESCRIPTOR}/{SHARED_DESCRIPTOR}")
            .replace(':', "%3A")
            .replace('/', "%2F");
        let q = format!(
            "CHANNEL_ID={encoded}&binaryMode=true&mid=17000000000000000000000042&revision=19"
        );
        let p = parse_query(&q);
        let value = query_param(&p, "CHANNEL_ID").unwrap();
        assert_eq!(value, format!("{PRIVATE_DESCRIPTOR}/{SHARED_DESCRIPTOR}"));
        let signer = Signer::new(TEST_KEY, SignatureAlgo::Sha1);
        assert_eq!(
            parse_channel_list(value, Some(&signer), Trust::Untrusted)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(query_param(&p, "binaryMode"), Some("true"));
        assert_eq!(query_param(&p, "mid"), Some("17000000000000000000000042"));
        assert_eq!(query_param(&p, "revision"), Some("19"));
        assert_eq!(query_param(&p, "tag"), None);
    }

    /// PHP sends the values raw (`:` and `/` unencoded).
    #[test]
    fn php_raw_query() {
        let q = format!("CHANNEL_ID={PRIVATE_DESCRIPTOR}/{SHARED_DESCRIPTOR}");
        let p = parse_query(&q);
        assert_eq!(
            query_param(&p, "CHANNEL_ID").unwrap(),
            format!("{PRIVATE_DESCRIPTOR}/{SHARED_DESCRIPTOR}")
        );
    }

    #[test]
    fn lowercase_escapes_and_plus() {
        assert_eq!(parse_query("a=x%3ay%2fz"), pairs(&[("a", "x:y/z")]));
        assert_eq!(parse_query("a+b=c+d%20e"), pairs(&[("a b", "c d e")]));
        assert_eq!(parse_query("a=%2B"), pairs(&[("a", "+")]));
        assert_eq!(parse_query("%41=%42"), pairs(&[("A", "B")]));
    }

    #[test]
    fn bad_escapes_stay_literal() {
        assert_eq!(parse_query("a=%"), pairs(&[("a", "%")]));
        assert_eq!(parse_query("a=%4"), pairs(&[("a", "%4")]));
        assert_eq!(parse_query("a=%zz1"), pairs(&[("a", "%zz1")]));
        assert_eq!(parse_query("a=100%25%"), pairs(&[("a", "100%%")]));
        assert_eq!(parse_query("a=%%41"), pairs(&[("a", "%A")]));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(parse_query("a=%ff"), pairs(&[("a", "\u{fffd}")]));
        assert_eq!(parse_query("a=%C3%A9"), pairs(&[("a", "é")]));
    }

    #[test]
    fn segments_without_values_and_empty_segments() {
        assert_eq!(
            parse_query("?a&&b=&c=1=2&"),
            pairs(&[("a", ""), ("b", ""), ("c", "1=2")])
        );
        assert!(parse_query("").is_empty());
        assert!(parse_query("?").is_empty());
        assert_eq!(parse_query("=x"), pairs(&[("", "x")]));
    }

    #[test]
    fn first_occurrence_wins_and_names_are_case_sensitive() {
        let p = parse_query("mid=1&mid=2&MID=3");
        assert_eq!(query_param(&p, "mid"), Some("1"));
        assert_eq!(query_param(&p, "MID"), Some("3"));
        assert_eq!(query_param(&p, "Mid"), None);
    }
}
