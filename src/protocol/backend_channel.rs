//! One channel named by trusted backend code: what PHP passes to `BxPush\publish()`,
//! `channel_stats()` and the compat classes, and what a channel resolver returns.
//!
//! Backend code is trusted (as `/bitrix/pub/` is), so a bare id needs no signature; but a
//! signed form is never taken on trust, so a forged descriptor copied from a browser
//! cannot address a channel:
//! - 32 lowercase hex: an unsigned private channel id;
//! - `private:public.sig`, `id.sig`: a private descriptor ([`parse_descriptor`], signature
//!   checked; the pair form addresses its private id);
//! - `public.sig` signed as `public:<id>` ([`parse_public_descriptor`]): a public channel.

use super::channel::{ChannelId, ChannelKey};
use super::descriptor::{parse_descriptor, parse_public_descriptor, Trust};
use super::sign::Signer;

/// Why a backend channel was refused. The caller words it (it knows its setting names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChannelError {
    /// Neither 32 lowercase hex digits nor a descriptor.
    Malformed,
    /// A signed form, and no key to check it with.
    SignedWithoutKey,
    /// `private:public` without a signature: a pair is always signed.
    UnsignedPair,
    /// A signed form whose signature is not the key's.
    WrongSignature,
}

/// Parse one backend channel (see the module doc).
pub fn parse_backend_channel(
    s: &str,
    signer: Option<&Signer>,
) -> Result<ChannelKey, BackendChannelError> {
    if let Some(id) = ChannelId::from_hex(s) {
        return Ok(ChannelKey::private(id));
    }
    // A descriptor: 32 hex digits, then `:` (pair) or `.` (signature).
    let after_id = s
        .get(..32)
        .and_then(ChannelId::from_hex)
        .and_then(|_| s.as_bytes().get(32).copied());
    if !matches!(after_id, Some(b':' | b'.')) {
        return Err(BackendChannelError::Malformed);
    }
    let Some(signer) = signer else {
        return Err(BackendChannelError::SignedWithoutKey);
    };
    if let Ok(d) = parse_descriptor(s, Some(signer), Trust::Untrusted) {
        return Ok(ChannelKey::private(d.private));
    }
    if let Some(public) = parse_public_descriptor(s, signer) {
        return Ok(ChannelKey::public(public));
    }
    if after_id == Some(b':') && !s.contains('.') {
        return Err(BackendChannelError::UnsignedPair);
    }
    Err(BackendChannelError::WrongSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::descriptor::sign_public_descriptor;
    use crate::protocol::testdata::*;
    use crate::protocol::SignatureAlgo;

    fn signer() -> Signer {
        Signer::new(TEST_KEY, SignatureAlgo::Sha1)
    }

    fn id(hex: &str) -> ChannelId {
        ChannelId::from_hex(hex).unwrap()
    }

    fn parse(s: &str) -> Result<ChannelKey, BackendChannelError> {
        parse_backend_channel(s, Some(&signer()))
    }

    #[test]
    fn every_accepted_form() {
        let private = ChannelKey::private(id(PRIVATE));
        assert_eq!(parse(PRIVATE), Ok(private));
        assert_eq!(parse_backend_channel(PRIVATE, None), Ok(private));
        assert_eq!(parse(PRIVATE_DESCRIPTOR), Ok(private));
        assert_eq!(parse(&format!("{PRIVATE}.{PRIVATE_SIG}")), Ok(private));
        assert_eq!(
            parse(SHARED_DESCRIPTOR),
            Ok(ChannelKey::private(id(SHARED)))
        );
        let public = sign_public_descriptor(&signer(), &id(PUBLIC));
        assert_eq!(parse(&public), Ok(ChannelKey::public(id(PUBLIC))));
    }

    #[test]
    fn every_refusal() {
        use BackendChannelError::*;
        let wrong = format!("{PRIVATE}.{}", "0".repeat(40));
        for (s, want) in [
            ("short", Malformed),
            ("", Malformed),
            (&PRIVATE.to_uppercase(), Malformed),
            (&format!("{PRIVATE}x"), Malformed),
            (&format!("{PRIVATE}:{PUBLIC}"), UnsignedPair),
            (&wrong, WrongSignature),
            (
                &format!("{PRIVATE}:{PUBLIC}.{}", "0".repeat(40)),
                WrongSignature,
            ),
        ] {
            assert_eq!(parse(s), Err(want), "{s:?}");
        }
        assert_eq!(
            parse_backend_channel(PRIVATE_DESCRIPTOR, None),
            Err(SignedWithoutKey)
        );
        // A multi-byte character where the id would end is malformed, not a panic.
        assert_eq!(parse(&format!("{}é", &PRIVATE[..31])), Err(Malformed));
    }
}
