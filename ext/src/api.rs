//! The `BxPush\` functions: publish, channel stats, signing and verifying channels,
//! flush and status. Every error throws `BxPush\Exception` with the reason.

use std::time::Duration;

use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;

use bxcore::handoff::{Item, Query, Reply};
use bxcore::message::Receivers;
use bxcore::protocol::descriptor::{
    parse_descriptor, parse_public_descriptor, sign_private_descriptor, sign_public_descriptor,
    Trust,
};
use bxcore::protocol::{ChannelId, Signer};

use crate::php::{exc, zbool, zlong, zstr};
use crate::{channels, dispatch, message, query, request_queue, settings};

fn signer_or_throw(func: &str) -> PhpResult<Signer> {
    settings::get().signer().ok_or_else(|| {
        exc(format!(
            "{func}: bxpush.signature_key is empty: set it to the server's signature key"
        ))
    })
}

fn hex_id(s: &str, what: &str, func: &str) -> PhpResult<ChannelId> {
    ChannelId::from_hex(s).ok_or_else(|| {
        exc(format!(
            "{func}: {what} \"{s}\" is not a channel id (32 lowercase hex digits)"
        ))
    })
}

/// Publish a message now. `$channels`: a channel id (32-hex, unsigned) or a signed
/// descriptor (`id.sig`, `private:public.sig`, public `id.sig`), an array of them, or
/// several joined by `/`. `$message`: an array (sent as `json_encode($m,
/// JSON_UNESCAPED_UNICODE)`) or a string (sent as is). `$expiry`: seconds kept for
/// clients that reconnect (0 = live only). `$type`: the protobuf type; default
/// `<module_id>_<command>` for an array with both. Returns the number of channels.
#[php_function]
#[php(name = "BxPush\\publish", defaults(expiry = 86400))]
pub fn publish(
    channels: &Zval,
    message: &Zval,
    expiry: i64,
    r#type: Option<String>,
) -> PhpResult<i64> {
    let f = "BxPush\\publish()";
    if !(0..=u32::MAX as i64).contains(&expiry) {
        return Err(exc(format!(
            "{f}: expiry must be between 0 and {}, got {expiry}",
            u32::MAX
        )));
    }
    let signer = settings::get().signer();
    let keys = channels::parse_channel_keys(channels, signer.as_ref())
        .map_err(|e| exc(format!("{f}: {e}")))?;
    let (body, kind) = message::raw_body(message).map_err(|e| exc(format!("{f}: {e}")))?;
    // PHP is told how many distinct channels it reached; the core's one de-duplication
    // (the hub's gate relies on the same type) gives that count.
    let receivers = Receivers::new(keys);
    let n = receivers.len() as i64;
    let kind = r#type.unwrap_or(kind);
    dispatch::submit(Item::Publish {
        receivers: receivers.into_vec(),
        body,
        expiry: expiry as u32,
        kind,
    })
    .map_err(|e| exc(format!("{f}: {e}")))?;
    Ok(n)
}

/// Which channels are online: `[channel as given => bool]`.
#[php_function]
#[php(name = "BxPush\\channel_stats")]
pub fn channel_stats(channels: &Zval) -> PhpResult<Vec<(String, bool)>> {
    let f = "BxPush\\channel_stats()";
    let signer = settings::get().signer();
    let list = channels::parse_channel_arg(channels, signer.as_ref())
        .map_err(|e| exc(format!("{f}: {e}")))?;
    let keys = list.iter().map(|(_, k)| *k).collect();
    match query::ask(Query::ChannelStats(keys)) {
        Ok(Reply::ChannelStats(flags)) if flags.len() == list.len() => {
            Ok(list.into_iter().map(|(s, _)| s).zip(flags).collect())
        }
        Ok(other) => Err(exc(format!(
            "{f}: unexpected reply from the server: {other:?}"
        ))),
        Err(e) => Err(exc(format!("{f}: {e}"))),
    }
}

/// Sign a channel: `sign_channel($private, $public)` gives the `private:public.sig` form
/// of the client config; `sign_channel($id)` gives `id.sig` (shared channels, server
/// versions <= 3). Bitrix's `CPullChannel::SignChannel`.
#[php_function]
#[php(name = "BxPush\\sign_channel")]
pub fn sign_channel(channel_id: &str, public_id: Option<&str>) -> PhpResult<String> {
    let f = "BxPush\\sign_channel()";
    let sg = signer_or_throw(f)?;
    let private = hex_id(channel_id, "channel id", f)?;
    let public = match public_id {
        Some(p) if !p.is_empty() => Some(hex_id(p, "public id", f)?),
        _ => None,
    };
    Ok(sign_private_descriptor(&sg, &private, public.as_ref()))
}

/// Sign a public channel id: `public.sig("public:" + public)` (Bitrix's `SignPublicChannel`).
#[php_function]
#[php(name = "BxPush\\sign_public_channel")]
pub fn sign_public_channel(public_id: &str) -> PhpResult<String> {
    let f = "BxPush\\sign_public_channel()";
    let sg = signer_or_throw(f)?;
    let id = hex_id(public_id, "public id", f)?;
    Ok(sign_public_descriptor(&sg, &id))
}

/// Whether `$descriptor` (`private:public.sig` or `id.sig`) is signed with the key.
#[php_function]
#[php(name = "BxPush\\verify_channel")]
pub fn verify_channel(descriptor: &str) -> PhpResult<bool> {
    let sg = signer_or_throw("BxPush\\verify_channel()")?;
    Ok(descriptor.contains('.')
        && parse_descriptor(descriptor, Some(&sg), Trust::Untrusted).is_ok())
}

/// Whether `$descriptor` is a public channel signed as `public:<id>`.
#[php_function]
#[php(name = "BxPush\\verify_public_channel")]
pub fn verify_public_channel(descriptor: &str) -> PhpResult<bool> {
    let sg = signer_or_throw("BxPush\\verify_public_channel()")?;
    Ok(parse_public_descriptor(descriptor, &sg).is_some())
}

/// The hex HMAC of `$value` with the key and algorithm (`CPullChannel::GetSignature`).
#[php_function]
#[php(name = "BxPush\\signature")]
pub fn signature(value: &str) -> PhpResult<String> {
    let sg = signer_or_throw("BxPush\\signature()")?;
    Ok(sg.sign_hex(value.as_bytes()))
}

/// Wait until what this process handed to the forwarder is acknowledged by the server or
/// spooled to disk, at most `$timeoutMs` (default `bxpush.flush_timeout_ms`). Returns
/// the forwarder's report; in the process hosting the runtime sends are immediate.
#[php_function]
#[php(name = "BxPush\\flush")]
pub fn flush(timeout_ms: Option<i64>) -> PhpResult<Vec<(&'static str, Zval)>> {
    request_queue::flush().map_err(|e| exc(format!("BxPush\\flush(): {e}")))?;
    let t = match timeout_ms {
        Some(ms) if ms < 0 => {
            return Err(exc(format!(
                "BxPush\\flush(): timeout must be >= 0, got {ms}"
            )))
        }
        Some(ms) => Duration::from_millis(ms as u64),
        None => settings::get().flush_timeout(),
    };
    let mut out: Vec<(&'static str, Zval)> = Vec::new();
    if let Some(fw) = dispatch::existing_forwarder() {
        let r = fw.flush(t);
        out.push(("complete", zbool(r.complete())));
        out.push((
            "report",
            zstr(&format!(
                "acked {}, spooled {}, failed {}",
                r.acked, r.spooled, r.failed
            )),
        ));
        out.push(("acked", zlong(r.acked as i64)));
        out.push(("spooled", zlong(r.spooled as i64)));
        out.push(("failed", zlong(r.failed as i64)));
    } else {
        out.push(("complete", zbool(true)));
        out.push((
            "report",
            zstr(if dispatch::is_hosting() {
                "hosted: sends are applied at once"
            } else {
                "nothing was handed over"
            }),
        ));
    }
    Ok(out)
}

/// The extension's state in this process (what `php --ri bxpush` shows).
#[php_function]
#[php(name = "BxPush\\status")]
pub fn status() -> Vec<(&'static str, Zval)> {
    let mut out: Vec<(&'static str, Zval)> = Vec::new();
    out.push(("version", zstr(env!("CARGO_PKG_VERSION"))));
    out.push(("pid", zlong(std::process::id() as i64)));
    let hosted = dispatch::with_hosted(|bg| (bg.sub_addr().to_string(), bg.pub_addr().to_string()));
    out.push(("hosting", zbool(hosted.is_some())));
    if let Some((sub, publ)) = hosted {
        out.push(("sub", zstr(&sub)));
        out.push(("pub", zstr(&publ)));
    }
    out.push(("server", zstr(&settings::get().server)));
    match dispatch::existing_forwarder() {
        Some(fw) => {
            out.push(("forwarder", zbool(true)));
            let st = fw.stats();
            let mut z = Zval::new_array();
            if let Some(a) = z.array_mut() {
                let _ = a.insert("connected", st.connected);
                let _ = a.insert("submitted", st.submitted as i64);
                let _ = a.insert("acked", st.acked as i64);
                let _ = a.insert("spooled", st.spooled as i64);
                let _ = a.insert("replayed", st.replayed as i64);
                let _ = a.insert("queued", st.queued as i64);
                let _ = a.insert("rejected", st.rejected as i64);
                // The owner of the list (bxpush.server) in use now, and how often the
                // forwarder moved to another one.
                let owner = st.owner.and_then(|i| fw.config().owners.all().get(i));
                let _ = a.insert("owner", owner.map(ToString::to_string));
                let _ = a.insert("failovers", st.failovers as i64);
            }
            out.push(("forwarder_stats", z));
        }
        None => out.push(("forwarder", zbool(false))),
    }
    out.push(("queued_events", zlong(request_queue::len() as i64)));
    out.push((
        "submitted_in_request",
        zbool(dispatch::submitted_in_request()),
    ));
    out
}

/// The functions of this module, for the module builder.
pub fn functions() -> Vec<ext_php_rs::builders::FunctionBuilder<'static>> {
    vec![
        wrap_function!(publish),
        wrap_function!(channel_stats),
        wrap_function!(sign_channel),
        wrap_function!(sign_public_channel),
        wrap_function!(verify_channel),
        wrap_function!(verify_public_channel),
        wrap_function!(signature),
        wrap_function!(flush),
        wrap_function!(status),
    ]
}
