//! HMAC signatures of channel ids (spec §3.2): `sig(value) = hex(HMAC_algo(key, value))`.
//!
//! PHP (`CPullChannel::GetSignature`) and the Node server must agree on key and algorithm;
//! Bitrix's option `signature_algo` defaults to `sha1` (40 hex digits), `sha256` gives 64.
//! Verification here is constant-time, unlike the Node server's string equality, so the
//! timing of a rejected subscription tells nothing about the expected signature.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The HMAC digest (`security.algo` of the Node config, `signature_algo` of PHP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureAlgo {
    /// Bitrix's default.
    #[default]
    Sha1,
    Sha256,
}

impl SignatureAlgo {
    /// Length of a signature in hex digits: the `N` of the descriptor grammar (spec §3.3).
    pub fn hex_len(self) -> usize {
        self.raw_len() * 2
    }

    /// Length of a raw signature in bytes (protobuf `Receiver.signature`).
    pub fn raw_len(self) -> usize {
        match self {
            SignatureAlgo::Sha1 => 20,
            SignatureAlgo::Sha256 => 32,
        }
    }

    /// The name used in configuration (`sha1`, `sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureAlgo::Sha1 => "sha1",
            SignatureAlgo::Sha256 => "sha256",
        }
    }
}

impl fmt::Display for SignatureAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignatureAlgo {
    type Err = String;

    /// `sha1` or `sha256`, case-insensitive (config files and env vars are written by hand).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("sha1") {
            Ok(SignatureAlgo::Sha1)
        } else if s.eq_ignore_ascii_case("sha256") {
            Ok(SignatureAlgo::Sha256)
        } else {
            Err(format!(
                "unknown signature algorithm {s:?}: expected \"sha1\" or \"sha256\""
            ))
        }
    }
}

/// The keyed HMAC state. Keeping it already keyed saves hashing the (often 128-byte)
/// key again for every signature: subscriptions verify one per channel descriptor.
#[derive(Clone)]
enum Keyed {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
}

/// Signs and verifies channel ids with the shared secret (`signature_key`).
#[derive(Clone)]
pub struct Signer {
    keyed: Keyed,
    algo: SignatureAlgo,
}

impl fmt::Debug for Signer {
    /// Never prints the key: configs and signers end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer {{ algo: {}, key: <redacted> }}", self.algo)
    }
}

impl Signer {
    /// A signer with `key` used as raw bytes, as PHP and Node do with the configured
    /// string (Bitrix's default key is a 128-character hex string used as-is, not decoded).
    pub fn new(key: impl AsRef<[u8]>, algo: SignatureAlgo) -> Self {
        let key = key.as_ref();
        let keyed = match algo {
            SignatureAlgo::Sha1 => Keyed::Sha1(
                <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length"),
            ),
            SignatureAlgo::Sha256 => Keyed::Sha256(
                <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .expect("HMAC accepts any key length"),
            ),
        };
        Self { keyed, algo }
    }

    pub fn algo(&self) -> SignatureAlgo {
        self.algo
    }

    /// Raw HMAC of the concatenation of `parts`, without building the concatenation
    /// (e.g. `["public:", hex]`).
    pub fn sign_parts(&self, parts: &[&[u8]]) -> Vec<u8> {
        match &self.keyed {
            Keyed::Sha1(m) => {
                let mut m = m.clone();
                for p in parts {
                    m.update(p);
                }
                m.finalize().into_bytes().to_vec()
            }
            Keyed::Sha256(m) => {
                let mut m = m.clone();
                for p in parts {
                    m.update(p);
                }
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Raw HMAC of `msg` (20 bytes for sha1, 32 for sha256).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.sign_parts(&[msg])
    }

    /// Lowercase hex HMAC of `msg`: the form used in channel descriptors.
    pub fn sign_hex(&self, msg: &[u8]) -> String {
        hex::encode(self.sign(msg))
    }

    /// Whether `sig` is the raw HMAC of the concatenated `parts` (constant-time).
    pub fn verify_parts(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        // The length is public (it depends only on the algorithm), the content is not.
        sig.len() == self.algo.raw_len() && bool::from(self.sign_parts(parts).ct_eq(sig))
    }

    /// Whether `sig` is the raw HMAC of `msg` (constant-time).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verify_parts(&[msg], sig)
    }

    /// Whether `sig_hex` is the lowercase hex HMAC of `msg` (constant-time on the
    /// content). Uppercase digits and any length other than [`SignatureAlgo::hex_len`]
    /// are rejected, as by the Node server's lowercase-only grammar.
    pub fn verify_hex(&self, msg: &[u8], sig_hex: &str) -> bool {
        match decode_lower_hex(sig_hex, self.algo.raw_len()) {
            Some(raw) => self.verify(msg, &raw),
            None => false,
        }
    }
}

/// Exactly `raw_len` bytes written as lowercase hex, else `None`.
pub(crate) fn decode_lower_hex(s: &str, raw_len: usize) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() != raw_len * 2 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testdata::{
        unhex, BITRIX_DEFAULT_KEY, PHP_PUBLISH_BATCH, PHP_PUBLISH_BATCH_SIG, TEST_KEY,
    };

    #[test]
    fn spec_11_1_bitrix_default_key_sha1() {
        let s = Signer::new(BITRIX_DEFAULT_KEY, SignatureAlgo::Sha1);
        let cases = [
            (
                "8680edaa12e9f584f47a914dab468f73:a6739704597e02c9c953710326d72123",
                "561cbc85d4dd7d4aaf8d5980c3be8572461cc91d",
            ),
            (
                "04ca28d7b1b849d3d7b13321b052c95d",
                "9f93c054cd63ce1960f8cbe18f6b887db6ba2688",
            ),
            (
                "2177d07409b785911604aa1247355277",
                "954189244df6b2518b2ba03145ed07c9583d31e7",
            ),
            (
                "public:a6739704597e02c9c953710326d72123",
                "8b210dc671d267c9cdb6ff89e4f33a51e2756d26",
            ),
        ];
        for (msg, sig) in cases {
            assert_eq!(s.sign_hex(msg.as_bytes()), sig, "{msg}");
            assert!(s.verify_hex(msg.as_bytes(), sig));
            assert!(s.verify(msg.as_bytes(), &hex::decode(sig).unwrap()));
        }
    }

    #[test]
    fn spec_11_2_test_key_sha1_private_and_empty() {
        let s = Signer::new(TEST_KEY, SignatureAlgo::Sha1);
        assert_eq!(
            s.sign_hex(b"f6fcf2d5d6c2764e292968f0d64b7530"),
            "b3b9f55bef5e76a5b540da5cc11de4cef6fe2559"
        );
        assert_eq!(s.sign_hex(b""), "9cfa369dad0099bfd9efe253036fbefcf881ca04");
        assert_eq!(
            s.sign_hex(b"f6fcf2d5d6c2764e292968f0d64b7530:a387b57cd8cea2596fae4294fbe0f536"),
            "a4d601da975bea990483c3fb4c8b69e6ee19da16"
        );
        assert_eq!(
            s.sign_hex(b"public:a387b57cd8cea2596fae4294fbe0f536"),
            "f59a1bc80c528413971b90120368aa438b7e7f30"
        );
        assert_eq!(
            s.sign_hex(b"975e31775df2c33d6d4fb51adc683a5c"),
            "93ee02640500ee17c911d0093c5dbf55778ce25e"
        );
    }

    #[test]
    fn spec_11_2_test_key_sha256() {
        let s = Signer::new(TEST_KEY, SignatureAlgo::Sha256);
        let msg = b"f6fcf2d5d6c2764e292968f0d64b7530:a387b57cd8cea2596fae4294fbe0f536";
        let want = "80c26a3e7fecca421b5fe6c72beb0597e1b27816c409de079b421dcde48c22a0";
        assert_eq!(s.sign_hex(msg), want);
        assert_eq!(s.sign(msg).len(), 32);
        assert!(s.verify_hex(msg, want));
    }

    /// Spec §11.5: shared-mode body signature and §11.8: JSON-RPC URL signature are the
    /// same HMAC over raw bytes.
    #[test]
    fn spec_11_8_raw_body_signature() {
        let s = Signer::new(TEST_KEY, SignatureAlgo::Sha1);
        let body = br#"[{"jsonrpc":"2.0","method":"publish","params":{"channelList":["f6fcf2d5d6c2764e292968f0d64b7530"],"userList":[1],"body":{"module_id":"im","command":"message","params":{"text":"hi"},"extra":{"server_time":"2024-01-01T03:00:00+03:00"}},"expiry":86400,"type":"im_message"}}]"#;
        assert_eq!(s.sign_hex(body), "55239b4f1a181fb3ccad0aa79e2bfd2c4cfbe711");
    }

    /// Spec §11.5: shared-mode `signature` of the PHP publish body (raw bytes).
    #[test]
    fn spec_11_5_publish_body_signature() {
        let s = Signer::new(TEST_KEY, SignatureAlgo::Sha1);
        let body = unhex(PHP_PUBLISH_BATCH);
        assert_eq!(s.sign_hex(&body), PHP_PUBLISH_BATCH_SIG);
        assert!(s.verify_hex(&body, PHP_PUBLISH_BATCH_SIG));
    }

    #[test]
    fn sign_parts_equals_sign_of_concatenation() {
        for algo in [SignatureAlgo::Sha1, SignatureAlgo::Sha256] {
            let s = Signer::new(TEST_KEY, algo);
            assert_eq!(
                s.sign_parts(&[b"public:", b"a387b57cd8cea2596fae4294fbe0f536"]),
                s.sign(b"public:a387b57cd8cea2596fae4294fbe0f536")
            );
            assert!(s.verify_parts(
                &[b"public:", b"a387b57cd8cea2596fae4294fbe0f536"],
                &s.sign(b"public:a387b57cd8cea2596fae4294fbe0f536")
            ));
        }
    }

    #[test]
    fn verify_rejects_wrong_signatures() {
        let s = Signer::new(TEST_KEY, SignatureAlgo::Sha1);
        let msg = b"f6fcf2d5d6c2764e292968f0d64b7530";
        let good = s.sign(msg);
        // one bit flipped in the last byte
        let mut bad = good.clone();
        bad[19] ^= 1;
        assert!(!s.verify(msg, &bad));
        // truncated, extended, empty
        assert!(!s.verify(msg, &good[..19]));
        let mut long = good.clone();
        long.push(0);
        assert!(!s.verify(msg, &long));
        assert!(!s.verify(msg, &[]));
        // right signature, other message
        assert!(!s.verify(b"f6fcf2d5d6c2764e292968f0d64b7531", &good));
        // right signature, other key
        assert!(!Signer::new("other", SignatureAlgo::Sha1).verify(msg, &good));
        // a sha256 signer never accepts a sha1 signature
        assert!(!Signer::new(TEST_KEY, SignatureAlgo::Sha256).verify(msg, &good));
    }

    #[test]
    fn verify_hex_rejects_uppercase_and_wrong_length() {
        let s = Signer::new(TEST_KEY, SignatureAlgo::Sha1);
        let msg = b"f6fcf2d5d6c2764e292968f0d64b7530";
        let good = "b3b9f55bef5e76a5b540da5cc11de4cef6fe2559";
        assert!(s.verify_hex(msg, good));
        assert!(!s.verify_hex(msg, &good.to_uppercase()));
        assert!(!s.verify_hex(msg, "B3b9f55bef5e76a5b540da5cc11de4cef6fe2559"));
        assert!(!s.verify_hex(msg, &good[..38]));
        assert!(!s.verify_hex(msg, &good[..39]));
        assert!(!s.verify_hex(msg, &format!("{good}00")));
        assert!(!s.verify_hex(msg, ""));
        assert!(!s.verify_hex(msg, "g3b9f55bef5e76a5b540da5cc11de4cef6fe2559"));
        assert!(!s.verify_hex(msg, "b3b9f55bef5e76a5b540da5cc11de4cef6fe2558"));
        // a sha1 signature given to a sha256 signer: wrong length
        assert!(!Signer::new(TEST_KEY, SignatureAlgo::Sha256).verify_hex(msg, good));
        // non-ASCII input must not panic
        assert!(!s.verify_hex(msg, "ééééééééééééééééééééé"));
    }

    #[test]
    fn algo_parsing_and_lengths() {
        assert_eq!("sha1".parse::<SignatureAlgo>(), Ok(SignatureAlgo::Sha1));
        assert_eq!("SHA1".parse::<SignatureAlgo>(), Ok(SignatureAlgo::Sha1));
        assert_eq!("Sha256".parse::<SignatureAlgo>(), Ok(SignatureAlgo::Sha256));
        let err = "md5".parse::<SignatureAlgo>().unwrap_err();
        assert!(err.contains("sha1") && err.contains("sha256"), "{err}");
        assert!("".parse::<SignatureAlgo>().is_err());
        assert_eq!(SignatureAlgo::default(), SignatureAlgo::Sha1);
        assert_eq!(SignatureAlgo::Sha1.hex_len(), 40);
        assert_eq!(SignatureAlgo::Sha256.hex_len(), 64);
        assert_eq!(SignatureAlgo::Sha1.as_str(), "sha1");
        assert_eq!(SignatureAlgo::Sha256.to_string(), "sha256");
        // hex_len matches what the signer produces
        for algo in [SignatureAlgo::Sha1, SignatureAlgo::Sha256] {
            assert_eq!(Signer::new("k", algo).sign_hex(b"").len(), algo.hex_len());
        }
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let s = Signer::new(TEST_KEY, SignatureAlgo::Sha1);
        let d = format!("{s:?}");
        assert_eq!(d, "Signer { algo: sha1, key: <redacted> }");
        assert!(!d.contains("test-signature-key"));
        let d = format!("{:?}", Signer::new(TEST_KEY, SignatureAlgo::Sha256));
        assert_eq!(d, "Signer { algo: sha256, key: <redacted> }");
    }

    #[test]
    fn empty_key_still_signs() {
        // PHP emits unsigned ids when the key is empty, but a configured empty key must
        // not panic here.
        let s = Signer::new("", SignatureAlgo::Sha1);
        assert_eq!(s.sign(b"x").len(), 20);
    }
}
