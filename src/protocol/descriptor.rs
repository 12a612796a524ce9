//! Channel descriptors: the items of `CHANNEL_ID` (spec §3.2, §3.3).
//!
//! A descriptor is `private[:public][.signature]`, lowercase hex only:
//! `^([a-f0-9]{32})(?::([a-f0-9]{32}))?(?:\.([a-f0-9]{N}))?$`, N = hex length of the
//! configured digest. Parsed by hand (it is on every subscription) and checked with the
//! Node server's rules: a `private:public` pair is always signed; a lone id is signed
//! only where the endpoint is untrusted and a key is configured.

use super::channel::{ChannelId, ChannelKey};
use super::error::ErrorCode;
use super::sign::{decode_lower_hex, SignatureAlgo, Signer};

/// One parsed channel descriptor: a private id and, for server version > 3, its public id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Descriptor {
    pub private: ChannelId,
    pub public: Option<ChannelId>,
}

impl Descriptor {
    /// The receivers a connection on this descriptor listens to (spec §3.3): the private
    /// id, then the public id if any.
    pub fn receivers(&self) -> impl Iterator<Item = ChannelKey> {
        std::iter::once(ChannelKey::private(self.private))
            .chain(self.public.map(ChannelKey::public))
    }
}

/// Whether the endpoint skips the signature of a lone id (spec §3.3): `pub` (text and
/// GET) is trusted; `sub`, WebSocket and `rest` are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    Untrusted,
}

/// Parse and verify one descriptor. Every failure is [`ErrorCode::WrongChannelId`].
///
/// Rules:
/// * `private:public.sig`: a signer must be configured and `sig` must be the HMAC of
///   `private:public`, whatever the trust (a public id may not be claimed unsigned).
/// * `private[.sig]` with a signer: untrusted → `sig` required, HMAC of `private`;
///   trusted → `sig` not checked (it may be absent; if present it must still have the
///   grammar's length N).
/// * No signer configured: lone ids are accepted and their signature, if any, ignored.
///   N is then unknown, so both 40 and 64 hex digits are accepted.
pub fn parse_descriptor(
    s: &str,
    signer: Option<&Signer>,
    trust: Trust,
) -> Result<Descriptor, ErrorCode> {
    const BAD: ErrorCode = ErrorCode::WrongChannelId;
    let b = s.as_bytes();

    // `private` (32 hex), then optionally `:public` (33 bytes).
    let private = ChannelId::from_hex(s.get(..32).ok_or(BAD)?).ok_or(BAD)?;
    let (public, signed_len) = if b.get(32) == Some(&b':') {
        let public = ChannelId::from_hex(s.get(33..65).ok_or(BAD)?).ok_or(BAD)?;
        (Some(public), 65)
    } else {
        (None, 32)
    };

    // Optionally `.signature`, and nothing after it.
    let sig = match &b[signed_len..] {
        [] => None,
        [b'.', rest @ ..] => {
            let len_ok = match signer {
                Some(sg) => rest.len() == sg.algo().hex_len(),
                None => {
                    rest.len() == SignatureAlgo::Sha1.hex_len()
                        || rest.len() == SignatureAlgo::Sha256.hex_len()
                }
            };
            if !len_ok || !rest.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(BAD);
            }
            Some(&s[signed_len + 1..])
        }
        _ => return Err(BAD),
    };

    // The signed string is the descriptor up to the dot: `private` or `private:public`.
    let signed = &b[..signed_len];
    let must_verify = public.is_some() || (trust == Trust::Untrusted && signer.is_some());
    if must_verify {
        let (Some(sg), Some(sig)) = (signer, sig) else {
            return Err(BAD);
        };
        if !sg.verify_hex(signed, sig) {
            return Err(BAD);
        }
    }
    Ok(Descriptor { private, public })
}

/// Parse a whole `CHANNEL_ID` value (already percent-decoded): descriptors joined by `/`.
///
/// Empty items (`a//b`, a trailing `/`) are skipped. Any invalid item rejects the whole
/// list, and so does an empty list: both are [`ErrorCode::WrongChannelId`] (spec §3.3).
/// Count limits are left to callers (they differ per endpoint).
pub fn parse_channel_list(
    value: &str,
    signer: Option<&Signer>,
    trust: Trust,
) -> Result<Vec<Descriptor>, ErrorCode> {
    let list = value
        .split('/')
        .filter(|item| !item.is_empty())
        .map(|item| parse_descriptor(item, signer, trust))
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() {
        return Err(ErrorCode::WrongChannelId);
    }
    Ok(list)
}

/// PHP's `SignChannel`: `private:public.sig(private:public)`, or `private.sig(private)`
/// without a public id (server version <= 3, and shared channels).
pub fn sign_private_descriptor(
    signer: &Signer,
    private: &ChannelId,
    public: Option<&ChannelId>,
) -> String {
    let mut signed = private.to_hex();
    if let Some(public) = public {
        signed.push(':');
        signed.push_str(&public.to_hex());
    }
    let sig = signer.sign_hex(signed.as_bytes());
    signed.push('.');
    signed.push_str(&sig);
    signed
}

/// PHP's `SignPublicChannel`: `public.sig("public:" + public)`.
pub fn sign_public_descriptor(signer: &Signer, public: &ChannelId) -> String {
    let hex = public.to_hex();
    let sig = hex::encode(signer.sign_parts(&[b"public:", hex.as_bytes()]));
    format!("{hex}.{sig}")
}

/// The inverse of [`sign_public_descriptor`]: the public id of `public.sig` when `sig` is
/// the lowercase hex HMAC of `"public:" + public` (constant-time), else `None`.
pub fn parse_public_descriptor(s: &str, signer: &Signer) -> Option<ChannelId> {
    let (id, sig) = s.split_once('.')?;
    let public = ChannelId::from_hex(id)?;
    let raw = decode_lower_hex(sig, signer.algo().raw_len())?;
    verify_public_signature(signer, &public, &raw).then_some(public)
}

/// PHP's `GetPublicSignature` in raw bytes: HMAC of `"public:" + hex(public)`, as carried
/// by protobuf `Receiver.signature` / `ChannelId.signature`.
pub fn public_signature(signer: &Signer, public: &ChannelId) -> Vec<u8> {
    signer.sign_parts(&[b"public:", public.to_hex().as_bytes()])
}

/// Whether `sig` is [`public_signature`] of `public` (constant-time).
pub fn verify_public_signature(signer: &Signer, public: &ChannelId, sig: &[u8]) -> bool {
    signer.verify_parts(&[b"public:", public.to_hex().as_bytes()], sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testdata::*;

    fn id(hex: &str) -> ChannelId {
        ChannelId::from_hex(hex).unwrap()
    }

    fn sha1() -> Signer {
        Signer::new(TEST_KEY, SignatureAlgo::Sha1)
    }

    fn sha256() -> Signer {
        Signer::new(TEST_KEY, SignatureAlgo::Sha256)
    }

    const BOTH: [Trust; 2] = [Trust::Trusted, Trust::Untrusted];

    #[test]
    fn public_descriptor_round_trips_and_rejects_other_signatures() {
        for sg in [sha1(), sha256()] {
            let d = sign_public_descriptor(&sg, &id(PUBLIC));
            assert_eq!(parse_public_descriptor(&d, &sg), Some(id(PUBLIC)));
            // Signed as a private id, not as "public:<id>".
            let private_form = sign_private_descriptor(&sg, &id(PUBLIC), None);
            assert_eq!(parse_public_descriptor(&private_form, &sg), None);
            assert_eq!(parse_public_descriptor(&d.to_uppercase(), &sg), None);
            assert_eq!(parse_public_descriptor(PUBLIC, &sg), None);
        }
        let other = Signer::new("other", SignatureAlgo::Sha1);
        assert_eq!(
            parse_public_descriptor(&sign_public_descriptor(&sha1(), &id(PUBLIC)), &other),
            None
        );
    }

    #[test]
    fn spec_11_2_private_descriptor_parses_both_trusts() {
        for trust in BOTH {
            let d = parse_descriptor(PRIVATE_DESCRIPTOR, Some(&sha1()), trust).unwrap();
            assert_eq!(d.private, id(PRIVATE));
            assert_eq!(d.public, Some(id(PUBLIC)));
        }
    }

    #[test]
    fn spec_11_2_shared_descriptor_parses_both_trusts() {
        for trust in BOTH {
            let d = parse_descriptor(SHARED_DESCRIPTOR, Some(&sha1()), trust).unwrap();
            assert_eq!(
                d,
                Descriptor {
                    private: id(SHARED),
                    public: None
                }
            );
        }
    }

    #[test]
    fn spec_11_2_private_alone_signed() {
        let s = format!("{PRIVATE}.{PRIVATE_SIG}");
        let d = parse_descriptor(&s, Some(&sha1()), Trust::Untrusted).unwrap();
        assert_eq!(d.private, id(PRIVATE));
        assert_eq!(d.public, None);
    }

    #[test]
    fn spec_11_2_channel_id_list() {
        let value = format!("{PRIVATE_DESCRIPTOR}/{SHARED_DESCRIPTOR}");
        let list = parse_channel_list(&value, Some(&sha1()), Trust::Untrusted).unwrap();
        assert_eq!(
            list,
            vec![
                Descriptor {
                    private: id(PRIVATE),
                    public: Some(id(PUBLIC))
                },
                Descriptor {
                    private: id(SHARED),
                    public: None
                },
            ]
        );
        let keys: Vec<ChannelKey> = list.iter().flat_map(Descriptor::receivers).collect();
        assert_eq!(
            keys,
            vec![
                ChannelKey::private(id(PRIVATE)),
                ChannelKey::public(id(PUBLIC)),
                ChannelKey::private(id(SHARED)),
            ]
        );
    }

    #[test]
    fn spec_11_2_sha256_descriptor() {
        let s = format!("{PRIVATE}:{PUBLIC}.{PRIVATE_PUBLIC_SHA256}");
        for trust in BOTH {
            let d = parse_descriptor(&s, Some(&sha256()), trust).unwrap();
            assert_eq!(d.public, Some(id(PUBLIC)));
        }
        // A sha1-length signature does not fit the sha256 grammar, and vice versa.
        assert_eq!(
            parse_descriptor(PRIVATE_DESCRIPTOR, Some(&sha256()), Trust::Trusted),
            Err(ErrorCode::WrongChannelId)
        );
        assert_eq!(
            parse_descriptor(&s, Some(&sha1()), Trust::Trusted),
            Err(ErrorCode::WrongChannelId)
        );
        assert_eq!(
            sign_private_descriptor(&sha256(), &id(PRIVATE), Some(&id(PUBLIC))),
            s
        );
    }

    #[test]
    fn spec_11_1_bitrix_test_page_ids() {
        let sg = Signer::new(BITRIX_DEFAULT_KEY, SignatureAlgo::Sha1);
        let pairs = [
            "8680edaa12e9f584f47a914dab468f73:a6739704597e02c9c953710326d72123.561cbc85d4dd7d4aaf8d5980c3be8572461cc91d",
            "04ca28d7b1b849d3d7b13321b052c95d.9f93c054cd63ce1960f8cbe18f6b887db6ba2688",
            "2177d07409b785911604aa1247355277.954189244df6b2518b2ba03145ed07c9583d31e7",
        ];
        let list = parse_channel_list(&pairs.join("/"), Some(&sg), Trust::Untrusted).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].public, Some(id("a6739704597e02c9c953710326d72123")));
        let public = id("a6739704597e02c9c953710326d72123");
        assert_eq!(
            sign_public_descriptor(&sg, &public),
            "a6739704597e02c9c953710326d72123.8b210dc671d267c9cdb6ff89e4f33a51e2756d26"
        );
        assert_eq!(
            sign_private_descriptor(&sg, &id("8680edaa12e9f584f47a914dab468f73"), Some(&public)),
            pairs[0]
        );
        assert_eq!(
            sign_private_descriptor(&sg, &id("04ca28d7b1b849d3d7b13321b052c95d"), None),
            pairs[1]
        );
    }

    #[test]
    fn spec_11_2_signing_helpers() {
        let sg = sha1();
        assert_eq!(
            sign_private_descriptor(&sg, &id(PRIVATE), Some(&id(PUBLIC))),
            PRIVATE_DESCRIPTOR
        );
        assert_eq!(
            sign_private_descriptor(&sg, &id(SHARED), None),
            SHARED_DESCRIPTOR
        );
        assert_eq!(sign_public_descriptor(&sg, &id(PUBLIC)), PUBLIC_DESCRIPTOR);
        let raw = public_signature(&sg, &id(PUBLIC));
        assert_eq!(
            hex::encode(&raw),
            "f59a1bc80c528413971b90120368aa438b7e7f30"
        );
        assert!(verify_public_signature(&sg, &id(PUBLIC), &raw));
        assert!(!verify_public_signature(&sg, &id(PRIVATE), &raw));
    }

    /// A signed public descriptor is not a subscription channel on untrusted endpoints:
    /// its signature covers `public:<id>`, not `<id>` (spec §2.2, §11.6).
    #[test]
    fn public_descriptor_rejected_as_subscription() {
        assert_eq!(
            parse_descriptor(PUBLIC_DESCRIPTOR, Some(&sha1()), Trust::Untrusted),
            Err(ErrorCode::WrongChannelId)
        );
        // On a trusted endpoint it is indistinguishable from a private id; accepted.
        assert!(parse_descriptor(PUBLIC_DESCRIPTOR, Some(&sha1()), Trust::Trusted).is_ok());
    }

    #[test]
    fn pair_is_always_signature_checked() {
        let unsigned = format!("{PRIVATE}:{PUBLIC}");
        let bad_sig = format!("{PRIVATE}:{PUBLIC}.{PRIVATE_SIG}");
        for trust in BOTH {
            assert_eq!(
                parse_descriptor(&unsigned, Some(&sha1()), trust),
                Err(ErrorCode::WrongChannelId)
            );
            assert_eq!(
                parse_descriptor(&bad_sig, Some(&sha1()), trust),
                Err(ErrorCode::WrongChannelId)
            );
            // No key configured: a public part can never be verified.
            assert_eq!(
                parse_descriptor(PRIVATE_DESCRIPTOR, None, trust),
                Err(ErrorCode::WrongChannelId)
            );
            assert_eq!(
                parse_descriptor(&unsigned, None, trust),
                Err(ErrorCode::WrongChannelId)
            );
        }
    }

    #[test]
    fn lone_id_untrusted_with_key_needs_valid_signature() {
        let sg = sha1();
        assert_eq!(
            parse_descriptor(PRIVATE, Some(&sg), Trust::Untrusted),
            Err(ErrorCode::WrongChannelId)
        );
        let wrong = format!("{PRIVATE}.9cfa369dad0099bfd9efe253036fbefcf881ca04");
        assert_eq!(
            parse_descriptor(&wrong, Some(&sg), Trust::Untrusted),
            Err(ErrorCode::WrongChannelId)
        );
    }

    #[test]
    fn lone_id_trusted_skips_signature() {
        let sg = sha1();
        let d = parse_descriptor(PRIVATE, Some(&sg), Trust::Trusted).unwrap();
        assert_eq!(d.private, id(PRIVATE));
        let wrong = format!("{PRIVATE}.9cfa369dad0099bfd9efe253036fbefcf881ca04");
        assert!(parse_descriptor(&wrong, Some(&sg), Trust::Trusted).is_ok());
        // ... but the grammar still applies to the signature part.
        let short = format!("{PRIVATE}.9cfa369dad0099bfd9efe253036fbefcf881ca0");
        assert_eq!(
            parse_descriptor(&short, Some(&sg), Trust::Trusted),
            Err(ErrorCode::WrongChannelId)
        );
    }

    #[test]
    fn lone_id_without_key_is_accepted() {
        for trust in BOTH {
            assert!(parse_descriptor(PRIVATE, None, trust).is_ok());
            let wrong = format!("{PRIVATE}.9cfa369dad0099bfd9efe253036fbefcf881ca04");
            assert!(parse_descriptor(&wrong, None, trust).is_ok());
            let sha256_len = format!("{PRIVATE}.{PRIVATE_PUBLIC_SHA256}");
            assert!(parse_descriptor(&sha256_len, None, trust).is_ok());
            let odd_len = format!("{PRIVATE}.abc");
            assert!(parse_descriptor(&odd_len, None, trust).is_err());
        }
    }

    #[test]
    fn uppercase_is_rejected() {
        let sg = sha1();
        let upper_id = format!("{}.{PRIVATE_SIG}", PRIVATE.to_uppercase());
        let upper_sig = format!("{PRIVATE}.{}", PRIVATE_SIG.to_uppercase());
        let upper_pair = PRIVATE_DESCRIPTOR.to_uppercase();
        for trust in BOTH {
            for s in [&upper_id, &upper_sig, &upper_pair] {
                assert_eq!(
                    parse_descriptor(s, Some(&sg), trust),
                    Err(ErrorCode::WrongChannelId),
                    "{s} {trust:?}"
                );
            }
            assert!(parse_descriptor(&PRIVATE.to_uppercase(), None, trust).is_err());
        }
    }

    #[test]
    fn wrong_signature_length_is_rejected() {
        let sg = sha1();
        for sig in [
            &PRIVATE_SIG[..39],
            &PRIVATE_SIG[..38],
            &format!("{PRIVATE_SIG}0"),
            &format!("{PRIVATE_SIG}00"),
            "",
        ] {
            let s = format!("{PRIVATE}.{sig}");
            for trust in BOTH {
                assert_eq!(
                    parse_descriptor(&s, Some(&sg), trust),
                    Err(ErrorCode::WrongChannelId),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn malformed_descriptors_are_rejected() {
        let sg = sha1();
        let cases = [
            String::new(),
            PRIVATE[..31].to_string(),
            format!("{PRIVATE}0"),
            format!("{PRIVATE}:"),
            format!("{PRIVATE}:{}", &PUBLIC[..31]),
            format!("{PRIVATE}:{PUBLIC}0.{PRIVATE_SIG}"),
            format!("{PRIVATE}.{PRIVATE_SIG}."),
            format!("{PRIVATE}.{PRIVATE_SIG} "),
            format!(" {PRIVATE}"),
            format!("{PRIVATE}:{PUBLIC}:{PUBLIC}"),
            format!("{PRIVATE}..{PRIVATE_SIG}"),
            format!("{}g", &PRIVATE[..31]),
            // multi-byte characters at the slice boundaries must not panic
            format!("{}é{}", &PRIVATE[..31], &PRIVATE[..31]),
            format!("{PRIVATE}:{}é", &PUBLIC[..31]),
            "é".repeat(40),
        ];
        for s in &cases {
            for trust in BOTH {
                assert_eq!(
                    parse_descriptor(s, Some(&sg), trust),
                    Err(ErrorCode::WrongChannelId),
                    "{s:?}"
                );
                assert!(parse_descriptor(s, None, trust).is_err(), "{s:?}");
            }
        }
    }

    #[test]
    fn one_bad_item_rejects_the_whole_list() {
        let sg = sha1();
        let bad = format!("{SHARED}.{PRIVATE_SIG}");
        let value = format!("{PRIVATE_DESCRIPTOR}/{bad}");
        assert_eq!(
            parse_channel_list(&value, Some(&sg), Trust::Untrusted),
            Err(ErrorCode::WrongChannelId)
        );
        let value = format!("{PRIVATE_DESCRIPTOR}/{SHARED_DESCRIPTOR}/xyz");
        assert_eq!(
            parse_channel_list(&value, Some(&sg), Trust::Trusted),
            Err(ErrorCode::WrongChannelId)
        );
    }

    #[test]
    fn empty_items_are_skipped_and_empty_list_rejected() {
        let sg = sha1();
        let value = format!("/{PRIVATE_DESCRIPTOR}//{SHARED_DESCRIPTOR}/");
        assert_eq!(
            parse_channel_list(&value, Some(&sg), Trust::Untrusted)
                .unwrap()
                .len(),
            2
        );
        for value in ["", "/", "//"] {
            assert_eq!(
                parse_channel_list(value, Some(&sg), Trust::Untrusted),
                Err(ErrorCode::WrongChannelId)
            );
            assert_eq!(
                parse_channel_list(value, None, Trust::Trusted),
                Err(ErrorCode::WrongChannelId)
            );
        }
    }

    #[test]
    fn encoded_separators_are_not_decoded_here() {
        // The caller percent-decodes; a still-encoded value is simply invalid.
        let value = format!("{PRIVATE}%3A{PUBLIC}.x%2F{SHARED}");
        assert!(parse_channel_list(&value, Some(&sha1()), Trust::Trusted).is_err());
    }
}
