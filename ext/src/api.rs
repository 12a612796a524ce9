//! The `BxPush\` API: functions, `BxPush\Server` (host the runtime in a CLI process) and
//! `BxPush\Config` (the client config for the stock Bitrix JS client). Every error throws
//! `BxPush\Exception` with the reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};

use bxcore::config::Layer;
use bxcore::handoff::{Item, Query, Reply};
use bxcore::protocol::descriptor::{
    parse_descriptor, sign_private_descriptor, sign_public_descriptor, Trust,
};
use bxcore::protocol::{ChannelId, Signer};
use bxcore::runtime::Background;
use bxcore::users;

use crate::channels::{self, now_unix};
use crate::message::{self, DEFAULT_EXPIRY, REVISION_MOBILE, REVISION_WEB};
use crate::php::{self, describe, exc};
use crate::{compat, dispatch, settings};

/// How long a question to the owner may take (channel stats, watchers, server stats).
pub fn query_timeout() -> Duration {
    Duration::from_millis(settings::get().connect_timeout_ms.max(100) + 1000)
}

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
    let _ = DEFAULT_EXPIRY;
    let f = "BxPush\\publish()";
    if !(0..=u32::MAX as i64).contains(&expiry) {
        return Err(exc(format!(
            "{f}: expiry must be between 0 and {}, got {expiry}",
            u32::MAX
        )));
    }
    let signer = settings::get().signer();
    let list = channels::parse_channel_arg(channels, signer.as_ref())
        .map_err(|e| exc(format!("{f}: {e}")))?;
    let (body, kind) = message::raw_body(message).map_err(|e| exc(format!("{f}: {e}")))?;
    let mut receivers = Vec::with_capacity(list.len());
    for (_, k) in list {
        if !receivers.contains(&k) {
            receivers.push(k);
        }
    }
    let n = receivers.len() as i64;
    let kind = r#type.unwrap_or(kind);
    dispatch::submit(Item::Publish {
        receivers,
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
    match dispatch::query(Query::ChannelStats(keys), query_timeout()) {
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
    let Some((id, sig)) = descriptor.split_once('.') else {
        return Ok(false);
    };
    if ChannelId::from_hex(id).is_none() {
        return Ok(false);
    }
    Ok(sg.verify_hex(format!("public:{id}").as_bytes(), sig))
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
    compat::flush_queue().map_err(|e| exc(format!("BxPush\\flush(): {e}")))?;
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

fn zbool(b: bool) -> Zval {
    let mut z = Zval::new();
    z.set_bool(b);
    z
}
fn zstr(s: &str) -> Zval {
    let mut z = Zval::new();
    let _ = z.set_string(s, false);
    z
}
fn zlong(v: i64) -> Zval {
    let mut z = Zval::new();
    z.set_long(v);
    z
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
            }
            out.push(("forwarder_stats", z));
        }
        None => out.push(("forwarder", zbool(false))),
    }
    out.push(("queued_events", zlong(compat::queued() as i64)));
    out.push((
        "submitted_in_request",
        zbool(dispatch::submitted_in_request()),
    ));
    out
}

// ----------------------------------------------------------------------------------------

/// Set by SIGTERM/SIGINT (our handler) or `Server::stop()` while `Server::run()` blocks.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// `sigaction` as PHP wants it done. PHP built with Zend signals (the default for NTS)
/// owns SIGTERM/SIGINT/…: its handler runs the one registered with `zend_sigaction`
/// (and re-raises when that is SIG_DFL), so a plain `sigaction` would be overwritten at
/// the next request and never called. `zend_sigaction` is looked up at run time because
/// builds without Zend signals do not have it; there the plain call is right.
unsafe fn sigaction_php(sig: libc::c_int, act: *const libc::sigaction, old: *mut libc::sigaction) {
    type ZendSigaction =
        unsafe extern "C" fn(libc::c_int, *const libc::sigaction, *mut libc::sigaction);
    // SAFETY: dlsym on the global scope; the symbol, if any, has this signature
    // (PHP 8.0+: `void zend_sigaction(int, const struct sigaction *, struct sigaction *)`).
    unsafe {
        let f = libc::dlsym(libc::RTLD_DEFAULT, c"zend_sigaction".as_ptr());
        if f.is_null() {
            libc::sigaction(sig, act, old);
        } else {
            let f: ZendSigaction = std::mem::transmute(f);
            f(sig, act, old);
        }
    }
}

/// Build the runtime config from a PHP array whose keys are the `bxpush serve` flags
/// with underscores. The signature key and algorithm default to the ini settings.
fn layer_from(config: &ZendHashTable) -> Result<Layer, String> {
    let mut map = serde_json::Map::new();
    for (k, v) in config.iter() {
        let key = k.to_string();
        let v = v.dereference();
        let jv = if v.is_null() {
            continue;
        } else if let Some(b) = v.bool() {
            serde_json::Value::Bool(b)
        } else if let Some(l) = v.long() {
            serde_json::Value::from(l)
        } else if let Some(d) = v.double() {
            serde_json::Value::from(d)
        } else if let Some(s) = v.str() {
            serde_json::Value::from(s)
        } else {
            return Err(format!(
                "config key \"{key}\": expected a string, number or bool, got {}",
                describe(v)
            ));
        };
        map.insert(key, jv);
    }
    let s = settings::get();
    if !map.contains_key("signature_key") && !s.signature_key.is_empty() {
        map.insert("signature_key".into(), s.signature_key.clone().into());
    }
    if !map.contains_key("signature_algo") {
        map.insert("signature_algo".into(), s.signature_algo.as_str().into());
    }
    let whole = serde_json::Value::Object(map.clone());
    serde_json::from_value::<Layer>(whole).map_err(|e| {
        // Name the key: find the entry that fails on its own.
        for (k, v) in &map {
            let mut one = serde_json::Map::new();
            one.insert(k.clone(), v.clone());
            if let Err(e1) = serde_json::from_value::<Layer>(serde_json::Value::Object(one)) {
                let msg = e1.to_string();
                if msg.starts_with("unknown field") {
                    return format!("unknown config key \"{k}\" ({msg})");
                }
                return format!("config key \"{k}\": {msg}");
            }
        }
        e.to_string()
    })
}

fn start_background(config: &ZendHashTable, f: &str) -> PhpResult<()> {
    if dispatch::is_hosting() {
        return Err(exc(format!(
            "{f}: the runtime is already running in this process (Server::stop() first)"
        )));
    }
    let layer = layer_from(config).map_err(|e| exc(format!("{f}: {e}")))?;
    let cfg = layer.resolve().map_err(|e| exc(format!("{f}: {e}")))?;
    let bg =
        Background::start(cfg).map_err(|e| exc(format!("{f}: cannot start the runtime: {e}")))?;
    if let Err(bg) = dispatch::host(bg) {
        let _ = bg.stop(Duration::from_millis(200));
        return Err(exc(format!(
            "{f}: the runtime is already running in this process"
        )));
    }
    Ok(())
}

fn addresses() -> Vec<(&'static str, Zval)> {
    let mut out = Vec::new();
    if let Some((sub, publ)) =
        dispatch::with_hosted(|bg| (bg.sub_addr().to_string(), bg.pub_addr().to_string()))
    {
        out.push(("sub", zstr(&sub)));
        out.push(("pub", zstr(&publ)));
        out.push(("pid", zlong(std::process::id() as i64)));
    }
    out
}

/// Host the bxpush runtime (the same server as `bxpush serve`) in this PHP CLI process.
/// Config keys are the `bxpush serve` flags with underscores (`listen_sub`, `listen_pub`,
/// `listen_php`, `signature_key`, `data_dir`, …); `signature_key`/`signature_algo`
/// default to the ini settings. In this process sends go straight into the runtime.
#[php_class]
#[php(name = "BxPush\\Server")]
pub struct Server;

#[php_impl]
impl Server {
    /// Start the runtime in the background of this process and return its addresses
    /// (`['sub' => 'ip:port', 'pub' => 'ip:port', 'pid' => int]`); port 0 picks a free port.
    pub fn start(config: Option<&ZendHashTable>) -> PhpResult<Vec<(&'static str, Zval)>> {
        let empty = ZendHashTable::new();
        start_background(config.unwrap_or(&*empty), "BxPush\\Server::start()")?;
        Ok(addresses())
    }

    /// Start the runtime and block until SIGTERM or SIGINT (or `Server::stop()` from a
    /// pcntl signal handler), then stop it. PHP's own signal handlers keep working: the
    /// wait dispatches them every 50 ms; our handler is installed only for signals that
    /// have none.
    pub fn run(config: Option<&ZendHashTable>) -> PhpResult<()> {
        let empty = ZendHashTable::new();
        start_background(config.unwrap_or(&*empty), "BxPush\\Server::run()")?;
        STOP.store(false, Ordering::SeqCst);
        let mut saved: Vec<(libc::c_int, libc::sigaction)> = Vec::new();
        for sig in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: sigaction calls (through Zend's when PHP manages signals); the
            // handler only stores an atomic.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                sigaction_php(sig, std::ptr::null(), &mut old);
                if old.sa_sigaction == libc::SIG_DFL {
                    let mut new: libc::sigaction = std::mem::zeroed();
                    new.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
                    libc::sigemptyset(&mut new.sa_mask);
                    new.sa_flags = libc::SA_RESTART;
                    sigaction_php(sig, &new, std::ptr::null_mut());
                    saved.push((sig, old));
                }
            }
        }
        let dispatch_signals = php::function_exists("pcntl_signal_dispatch");
        let mut thrown = false;
        while !STOP.load(Ordering::SeqCst) && dispatch::is_hosting() {
            std::thread::sleep(Duration::from_millis(50));
            if dispatch_signals {
                let _ = php::call("pcntl_signal_dispatch", vec![]);
            }
            if php::exception_pending() {
                thrown = true;
                break;
            }
        }
        for (sig, old) in saved {
            // SAFETY: restoring what was there.
            unsafe {
                sigaction_php(sig, &old, std::ptr::null_mut());
            }
        }
        let stopped = dispatch::unhost(Duration::from_secs(2));
        if thrown {
            return Ok(());
        }
        stopped.map(|_| ()).map_err(|e| {
            exc(format!(
                "BxPush\\Server::run(): stopping the runtime failed: {e}"
            ))
        })
    }

    /// Stop the runtime hosted by this process (waiting up to `$graceMs` for connections
    /// to close). Returns false if none was running.
    #[php(defaults(grace_ms = 1000))]
    pub fn stop(grace_ms: i64) -> PhpResult<bool> {
        STOP.store(true, Ordering::SeqCst);
        dispatch::unhost(Duration::from_millis(grace_ms.clamp(0, 60_000) as u64))
            .map_err(|e| exc(format!("BxPush\\Server::stop(): {e}")))
    }

    /// Whether this process hosts the runtime.
    pub fn is_running() -> bool {
        dispatch::is_hosting()
    }

    /// Server statistics: the `/server-stat/` object of the hosted runtime or, when this
    /// process hosts none, of the owner at `bxpush.server`; plus `hosted`, `sub`, `pub`.
    pub fn stats() -> PhpResult<Zval> {
        let hosted = dispatch::is_hosting();
        let json = match dispatch::query(Query::ServerStats, query_timeout()) {
            Ok(Reply::ServerStats(j)) => j,
            Ok(other) => {
                return Err(exc(format!(
                    "BxPush\\Server::stats(): unexpected reply {other:?}"
                )))
            }
            Err(e) => return Err(exc(format!("BxPush\\Server::stats(): {e}"))),
        };
        let mut z = php::json_decode(&json);
        if !z.is_array() {
            z = Zval::new_array();
        }
        if let Some(a) = z.array_mut() {
            let _ = a.insert("hosted", hosted);
            for (k, v) in addresses() {
                let _ = a.insert(k, v);
            }
        }
        Ok(z)
    }
}

// ----------------------------------------------------------------------------------------

/// URLs of the client config: from `bxpush.public_url` (`scheme://host[:port][/prefix]`),
/// else the request's host (`HTTP_HOST`, `SERVER_NAME`, `bxpush.server_name`).
fn public_base(s: &settings::Settings) -> (String, String, String) {
    // (hostname without port, host[:port], path prefix without trailing slash)
    let (hostport, prefix) = if !s.public_url.is_empty() {
        let rest = s
            .public_url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&s.public_url);
        match rest.split_once('/') {
            Some((h, p)) => (h.to_string(), format!("/{}", p.trim_matches('/'))),
            None => (rest.to_string(), String::new()),
        }
    } else {
        let h = php::server_var("HTTP_HOST")
            .or_else(|| php::server_var("SERVER_NAME"))
            .or_else(|| Some(s.server_name.clone()).filter(|x| !x.is_empty()))
            .unwrap_or_else(|| "localhost".into());
        (h, String::new())
    };
    let prefix = if prefix == "/" { String::new() } else { prefix };
    let hostname = if hostport.starts_with('[') {
        hostport
            .split_once(']')
            .map(|(h, _)| format!("{h}]"))
            .unwrap_or(hostport.clone())
    } else {
        hostport.split(':').next().unwrap_or("").to_string()
    };
    (hostname, hostport, prefix)
}

fn iso(ts: u64) -> Zval {
    php::call("date", vec![&"c", &(ts as i64)]).unwrap_or_else(|_| Zval::null())
}

/// The client config of Bitrix's `\Bitrix\Pull\Config::get(['JSON' => true])`.
#[php_class]
#[php(name = "BxPush\\Config")]
pub struct Config;

#[php_impl]
impl Config {
    /// The JSON config (server version 4, personal mode) for user `$userId`, ready for
    /// the stock Bitrix JS client (`BX.PullClient`): signed private and shared channels
    /// derived from `bxpush.signature_key`, `publicChannels`, URLs from
    /// `bxpush.public_url` or the request's host.
    pub fn for_user(user_id: i64) -> PhpResult<String> {
        let z = Self::to_array(user_id)?;
        let json = php::json_encode(&z, php::JSON_BITRIX_DEFAULT)
            .map_err(|e| exc(format!("BxPush\\Config::forUser(): {e}")))?;
        String::from_utf8(json).map_err(|_| exc("BxPush\\Config::forUser(): invalid UTF-8"))
    }

    /// The same config as a PHP array.
    pub fn to_array(user_id: i64) -> PhpResult<Zval> {
        let f = "BxPush\\Config::forUser()";
        if user_id == 0 {
            return Err(exc(format!(
                "{f}: user id 0 is not a user (the shared channel is part of every user's config)"
            )));
        }
        let s = settings::get();
        let sg = s.signer().ok_or_else(|| {
            exc(format!(
                "{f}: bxpush.signature_key is empty: the config's channels must be signed"
            ))
        })?;
        let key = s.signature_key.as_bytes();
        let now = now_unix();
        let ttl = u64::from(s.channel_ttl).min(users::CHANNEL_TTL);
        let mine = users::user_channels(key, user_id, now);
        let shared = users::user_channels(key, 0, now);
        let public = mine
            .public
            .ok_or_else(|| exc(format!("{f}: no public channel for user {user_id}")))?;
        let (hostname, hostport, prefix) = public_base(&s);
        let url = |scheme: &str, path: &str| format!("{scheme}://{hostport}{prefix}{path}");

        let r = (|| -> ext_php_rs::error::Result<Zval> {
            let mut server = Zval::new_array();
            let a = server.array_mut().expect("array");
            a.insert("version", 4i64)?;
            a.insert("server_enabled", true)?;
            a.insert("mode", "personal")?;
            a.insert("hostname", hostname.as_str())?;
            a.insert("long_polling", url("http", "/bitrix/sub/").as_str())?;
            a.insert("long_pooling_secure", url("https", "/bitrix/sub/").as_str())?;
            a.insert("websocket_enabled", true)?;
            a.insert("websocket", url("ws", "/bitrix/subws/").as_str())?;
            a.insert("websocket_secure", url("wss", "/bitrix/subws/").as_str())?;
            a.insert("publish_enabled", true)?;
            a.insert("publish", url("http", "/bitrix/pubweb/").as_str())?;
            a.insert("publish_secure", url("https", "/bitrix/pubweb/").as_str())?;
            a.insert("config_timestamp", 0i64)?;

            let mut api = Zval::new_array();
            let a = api.array_mut().expect("array");
            a.insert("revision_web", REVISION_WEB)?;
            a.insert("revision_mobile", REVISION_MOBILE)?;

            let mut sh = Zval::new_array();
            let a = sh.array_mut().expect("array");
            a.insert(
                "id",
                sign_private_descriptor(&sg, &shared.private, None).as_str(),
            )?;
            a.insert("start", iso(shared.start))?;
            a.insert("end", iso(shared.start + ttl))?;
            a.insert("type", "shared")?;

            let mut pr = Zval::new_array();
            let a = pr.array_mut().expect("array");
            a.insert(
                "id",
                sign_private_descriptor(&sg, &mine.private, Some(&public)).as_str(),
            )?;
            a.insert("public_id", sign_public_descriptor(&sg, &public).as_str())?;
            a.insert("start", iso(mine.start))?;
            a.insert("end", iso(mine.start + ttl))?;
            a.insert("type", "private")?;

            let mut chans = Zval::new_array();
            let a = chans.array_mut().expect("array");
            a.insert("shared", sh)?;
            a.insert("private", pr)?;

            let mut pc = Zval::new_array();
            let a = pc.array_mut().expect("array");
            let pub_hex = public.to_hex();
            a.insert("user_id", user_id)?;
            a.insert("public_id", pub_hex.as_str())?;
            a.insert(
                "signature",
                sg.sign_hex(format!("public:{pub_hex}").as_bytes()).as_str(),
            )?;
            a.insert("start", iso(mine.start))?;
            a.insert("end", iso(mine.start + ttl))?;
            let mut pcs = Zval::new_array();
            pcs.array_mut()
                .expect("array")
                .insert(user_id.to_string().as_str(), pc)?;

            let mut root = Zval::new_array();
            let a = root.array_mut().expect("array");
            a.insert("server", server)?;
            a.insert("api", api)?;
            a.insert("channels", chans)?;
            a.insert("publicChannels", pcs)?;
            a.insert("exp", 0i64)?;
            Ok(root)
        })();
        r.map_err(|e| exc(format!("{f}: {e}")))
    }
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
