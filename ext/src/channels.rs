//! Channel arguments from PHP: ids, descriptors and user ids, turned into [`ChannelKey`]s
//! (the rules are the core's; this file reads PHP values and words the errors).

use ext_php_rs::types::Zval;

use bxcore::hub::now_unix;
use bxcore::protocol::backend_channel::{parse_backend_channel, BackendChannelError};
use bxcore::protocol::{ChannelKey, Signer};
use bxcore::users;

use crate::php::describe;

/// One channel given to a publish or a stats call, in the forms of
/// [`bxcore::protocol::backend_channel`]; a refusal worded for PHP users.
pub fn parse_channel(s: &str, signer: Option<&Signer>) -> Result<ChannelKey, String> {
    parse_backend_channel(s, signer).map_err(|e| {
        let s = short(s);
        match e {
            BackendChannelError::Malformed => format!(
                "malformed channel id \"{s}\": expected 32 lowercase hex digits or a signed descriptor (id.signature, private:public.signature)"
            ),
            BackendChannelError::SignedWithoutKey => format!(
                "channel \"{s}\" is signed but bxpush.signature_key is empty: cannot verify it"
            ),
            BackendChannelError::UnsignedPair => format!(
                "unsigned channel descriptor \"{s}\": a private:public pair must be signed"
            ),
            BackendChannelError::WrongSignature => format!(
                "channel \"{s}\" has a wrong signature (bxpush.signature_key / bxpush.signature_algo differ from the signer's?)"
            ),
        }
    })
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(140).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// A string, or an array of strings, of channels (a string may hold several joined by `/`,
/// as in `CHANNEL_ID`). Returns `(as given, key)` pairs.
pub fn parse_channel_arg(
    z: &Zval,
    signer: Option<&Signer>,
) -> Result<Vec<(String, ChannelKey)>, String> {
    let mut out = Vec::new();
    for_each_channel(z, |part| {
        out.push((part.to_string(), parse_channel(part, signer)?));
        Ok(())
    })?;
    Ok(out)
}

/// [`parse_channel_arg`] without the given forms: what a publish needs, with no string
/// copied per channel.
pub fn parse_channel_keys(z: &Zval, signer: Option<&Signer>) -> Result<Vec<ChannelKey>, String> {
    let mut out = Vec::new();
    for_each_channel(z, |part| {
        out.push(parse_channel(part, signer)?);
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` with each channel of a channel argument; refuses other types and an empty list.
fn for_each_channel(z: &Zval, mut f: impl FnMut(&str) -> Result<(), String>) -> Result<(), String> {
    let z = z.dereference();
    let mut seen = false;
    let mut one = |s: &str| -> Result<(), String> {
        for part in s.split('/').filter(|p| !p.is_empty()) {
            seen = true;
            f(part)?;
        }
        Ok(())
    };
    if let Some(s) = z.str() {
        one(s)?;
    } else if let Some(arr) = z.array() {
        for (_, v) in arr.iter() {
            let v = v.dereference();
            match v.str() {
                Some(s) => one(s)?,
                None => return Err(format!("channel ids must be strings, got {}", describe(v))),
            }
        }
    } else {
        return Err(format!(
            "channels must be a string or an array of strings, got {}",
            describe(z)
        ));
    }
    if !seen {
        return Err("no channel given".into());
    }
    Ok(())
}

/// A user id from PHP: an int, or a string of decimal digits (Bitrix casts with intval).
/// 0 and non-integers are refused (user 0 is the shared channel: use `AddShared`).
pub fn user_id(z: &Zval) -> Result<i64, String> {
    let z = z.dereference();
    let id = if let Some(l) = z.long() {
        Some(l)
    } else if let Some(s) = z.str() {
        let t = s.trim();
        if !t.is_empty()
            && t.trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit())
            && t != "-"
        {
            t.parse::<i64>().ok()
        } else {
            None
        }
    } else {
        None
    };
    match id {
        Some(0) => Err("bad user id 0: user ids are non-zero integers (the shared channel is CPullStack::AddShared)".into()),
        Some(id) => Ok(id),
        None => Err(format!("bad user id {}: expected an integer", describe(z))),
    }
}

/// The key the derived per-user channels need.
pub fn derive_key(signer_key: &str) -> Result<&[u8], String> {
    if signer_key.is_empty() {
        Err("bxpush.signature_key is empty: per-user channels are derived from it, set the same key as the server's --signature-key".into())
    } else {
        Ok(signer_key.as_bytes())
    }
}

/// Where a message to `user_id` goes now (derived ids; 0 = shared).
pub fn user_delivery(key: &str, user_id: i64) -> Result<Vec<ChannelKey>, String> {
    Ok(users::delivery_channels(
        derive_key(key)?,
        user_id,
        now_unix(),
    ))
}
