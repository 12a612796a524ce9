//! `BxPush\Server`: host the bxpush runtime (the same server as `bxpush serve`) in a PHP
//! CLI process, and stop it on SIGTERM/SIGINT while PHP's own signal handlers keep working.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};

use bxcore::config::Layer;
use bxcore::handoff::{Query, Reply};
use bxcore::runtime::Background;

use crate::php::{self, describe, exc, zlong, zstr};
use crate::{dispatch, query, settings};

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
        let json = match query::ask(Query::ServerStats) {
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
