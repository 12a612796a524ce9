//! Target `descriptor`: one `CHANNEL_ID` item, parsed with a signer (SHA-1 or SHA-256 by
//! the first byte) and with none, trusted and untrusted.
//!
//! Properties: every failure is 4010; an accepted descriptor matches the grammar
//! `^[a-f0-9]{32}(:[a-f0-9]{32})?(\.[a-f0-9]{N})?$` (checked here by an independent
//! reading); a `private:public` pair is never accepted without its signature verifying; and
//! signing the parsed ids the way PHP does gives a string that parses back to them,
//! untrusted (sign∘parse round trip).

use bxpush::protocol::descriptor::{parse_channel_list, parse_descriptor, sign_private_descriptor};
use bxpush::protocol::{ErrorCode, SignatureAlgo, Signer, Trust};

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// An independent reading of the grammar; `sig_lens` are the accepted signature lengths.
fn grammar(s: &str, sig_lens: &[usize]) -> bool {
    let (ids, sig) = match s.split_once('.') {
        Some((ids, sig)) => (ids, Some(sig)),
        None => (s, None),
    };
    let ids_ok = match ids.split_once(':') {
        Some((a, b)) => is_hex(a, 32) && is_hex(b, 32),
        None => is_hex(ids, 32),
    };
    ids_ok && sig.is_none_or(|sig| sig_lens.iter().any(|&n| is_hex(sig, n)))
}

pub fn check(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let algo = if first & 1 == 0 {
        SignatureAlgo::Sha1
    } else {
        SignatureAlgo::Sha256
    };
    let signer = Signer::new(super::KEY, algo);
    let s = String::from_utf8_lossy(rest);

    for trust in [Trust::Trusted, Trust::Untrusted] {
        for sg in [Some(&signer), None] {
            let sig_lens: &[usize] = match sg {
                Some(sg) => &[sg.algo().hex_len()],
                None => &[40, 64],
            };
            match parse_descriptor(&s, sg, trust) {
                Err(code) => assert_eq!(code, ErrorCode::WrongChannelId),
                Ok(d) => {
                    assert!(grammar(&s, sig_lens), "accepted off-grammar {s:?}");
                    assert_eq!(d.private.to_hex(), s[..32]);
                    if let Some(public) = d.public {
                        let sg = sg.expect("a public id is never accepted without a key");
                        assert_eq!(public.to_hex(), s[33..65]);
                        let signed = sign_private_descriptor(sg, &d.private, Some(&public));
                        assert_eq!(signed, *s, "a verified pair is exactly what PHP signs");
                    }
                    // Round trip through PHP's signing.
                    let signed = sign_private_descriptor(&signer, &d.private, d.public.as_ref());
                    assert_eq!(
                        parse_descriptor(&signed, Some(&signer), Trust::Untrusted),
                        Ok(d)
                    );
                }
            }
        }
    }

    // A list: accepted iff non-empty and every non-empty item is accepted on its own.
    let items: Vec<_> = s.split('/').filter(|i| !i.is_empty()).collect();
    let each: Result<Vec<_>, _> = items
        .iter()
        .map(|i| parse_descriptor(i, Some(&signer), Trust::Untrusted))
        .collect();
    let list = parse_channel_list(&s, Some(&signer), Trust::Untrusted);
    match (each, list) {
        (Ok(v), Ok(l)) => assert_eq!(v, l),
        (Ok(v), Err(code)) => {
            assert!(v.is_empty() && code == ErrorCode::WrongChannelId, "{s:?}")
        }
        (Err(_), Err(code)) => assert_eq!(code, ErrorCode::WrongChannelId),
        (Err(_), Ok(_)) => panic!("list {s:?} accepted with an invalid item"),
    }
}
