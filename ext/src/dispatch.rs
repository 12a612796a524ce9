//! Where a send goes: straight into the runtime when this process hosts it
//! (`BxPush\Server::start/run`), otherwise to the forwarder (a lazily started thread that
//! hands items to the owner's PHP socket, spooling to disk while it is unreachable).
//!
//! Process model (see shared/spec/php-extension-notes.md): nothing here runs in MINIT; the
//! forwarder starts on the first send of a worker; both the hosted runtime and the
//! forwarder remember the pid that created them, and a forked child (FPM worker,
//! `pcntl_fork`) forgets what it inherited instead of using or dropping it.

use std::cell::Cell;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bxcore::forward::{self, Forwarder, ForwarderConfig};
use bxcore::handoff::{Item, PhpTarget, Query, Reply};
use bxcore::runtime::Background;

use crate::settings::{self, Settings};

/// The runtime hosted by this process (`Server::start`/`run`), with the pid that started it.
static HOSTED: Mutex<Option<(u32, Background)>> = Mutex::new(None);
/// The forwarder used by this process, with the pid that obtained it.
static FORWARDER: Mutex<Option<(u32, Arc<Forwarder>)>> = Mutex::new(None);

thread_local! {
    /// Whether this request handed something to the forwarder (RSHUTDOWN flushes then).
    static SUBMITTED: Cell<bool> = const { Cell::new(false) };
}

fn pid() -> u32 {
    std::process::id()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forget state inherited across fork: the threads behind it do not exist here.
fn forget_if_forked() {
    let me = pid();
    let mut h = lock(&HOSTED);
    if h.as_ref().is_some_and(|(p, _)| *p != me) {
        if let Some(inherited) = h.take() {
            std::mem::forget(inherited);
        }
    }
    drop(h);
    let mut f = lock(&FORWARDER);
    if f.as_ref().is_some_and(|(p, _)| *p != me) {
        if let Some(inherited) = f.take() {
            std::mem::forget(inherited);
        }
    }
}

pub fn is_hosting() -> bool {
    forget_if_forked();
    lock(&HOSTED).is_some()
}

/// Run `f` on the hosted runtime, if this process hosts one.
pub fn with_hosted<R>(f: impl FnOnce(&Background) -> R) -> Option<R> {
    forget_if_forked();
    let h = lock(&HOSTED);
    h.as_ref().map(|(_, bg)| f(bg))
}

#[allow(clippy::result_large_err)]
pub fn host(bg: Background) -> Result<(), Background> {
    forget_if_forked();
    let mut h = lock(&HOSTED);
    if h.is_some() {
        return Err(bg);
    }
    *h = Some((pid(), bg));
    Ok(())
}

/// Stop the hosted runtime (if any). `Ok(false)` when none was running.
pub fn unhost(grace: Duration) -> io::Result<bool> {
    forget_if_forked();
    let bg = lock(&HOSTED).take();
    match bg {
        Some((_, bg)) => bg.stop(grace).map(|_| true),
        None => Ok(false),
    }
}

pub fn target(s: &Settings) -> Result<PhpTarget, String> {
    s.server
        .parse::<PhpTarget>()
        .map_err(|e| format!("bxpush.server: {e}"))
}

fn forwarder_config(s: &Settings) -> Result<ForwarderConfig, String> {
    Ok(ForwarderConfig {
        target: target(s)?,
        signature_key: if s.signature_key.is_empty() {
            None
        } else {
            Some(s.signature_key.clone())
        },
        spool_dir: s.spool_path(),
        queue_items: s.queue_items,
        queue_bytes: s.queue_bytes,
        connect_timeout: Duration::from_millis(s.connect_timeout_ms),
    })
}

/// The forwarder of this process for the current settings, obtained on first use (never
/// in MINIT). `Forwarder::global` re-creates it after a fork, and replaces it (after
/// flushing the old one) when the settings changed, e.g. `ini_set('bxpush.server', …)`.
fn forwarder(s: &Settings) -> Result<Arc<Forwarder>, String> {
    let cfg = forwarder_config(s)?;
    if !s.spool_dir.is_empty() && !std::path::Path::new(&s.spool_dir).is_dir() {
        // Create it if missing; the forwarder reports what fails later.
        let _ = std::fs::create_dir_all(&s.spool_dir);
    }
    let fw = Forwarder::global(&cfg);
    let mut f = lock(&FORWARDER);
    *f = Some((pid(), fw.clone()));
    Ok(fw)
}

/// The forwarder if this process already has one (no start).
pub fn existing_forwarder() -> Option<Arc<Forwarder>> {
    forget_if_forked();
    lock(&FORWARDER).as_ref().map(|(_, f)| f.clone())
}

/// Hand one item over: into the hosted runtime, or to the forwarder (non-blocking).
pub fn submit(item: Item) -> Result<(), String> {
    if let Some(r) = with_hosted(|bg| bg.apply(item.clone())) {
        return r
            .map_err(|e| format!("the runtime hosted by this process refused the message: {e}"));
    }
    let s = settings::get();
    let fw = forwarder(&s)?;
    fw.submit(item)
        .map_err(|e| format!("cannot hand the message to the bxpush forwarder: {e}"))?;
    SUBMITTED.with(|c| c.set(true));
    Ok(())
}

/// Ask the owner (or the hosted runtime) a question, waiting at most `timeout`.
pub fn query(q: Query, timeout: Duration) -> Result<Reply, String> {
    if let Some(r) = with_hosted(|bg| bg.query(q.clone())) {
        return Ok(r);
    }
    let s = settings::get();
    let t = target(&s)?;
    let key = if s.signature_key.is_empty() {
        None
    } else {
        Some(s.signature_key.as_str())
    };
    forward::query(&t, key, q, timeout)
        .map_err(|e| format!("cannot reach the bxpush server at {t} (bxpush.server): {e}"))
}

/// RSHUTDOWN: wait (bounded) until what this request submitted is acknowledged or spooled.
pub fn request_end() {
    let submitted = SUBMITTED.with(|c| c.replace(false));
    if !submitted {
        return;
    }
    if let Some(fw) = existing_forwarder() {
        let _ = fw.flush(settings::get().flush_timeout());
    }
}

/// MSHUTDOWN: stop the forwarder of this pid (bounded) and the hosted runtime.
pub fn module_end() {
    let t = settings::get().flush_timeout();
    if let Some(fw) = existing_forwarder() {
        let _ = fw.shutdown(t);
    }
    let _ = unhost(Duration::from_millis(500).max(t));
}

/// Whether anything was submitted in this request (for tests and `status()`).
pub fn submitted_in_request() -> bool {
    SUBMITTED.with(|c| c.get())
}
