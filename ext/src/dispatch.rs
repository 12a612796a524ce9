//! Where a send goes: straight into the runtime when this process hosts it
//! (`BxPush\Server::start/run`), otherwise to the forwarder (a lazily started thread that
//! hands items to the owner's PHP socket, spooling to disk while it is unreachable).
//!
//! Process model (see shared/spec/php-extension-notes.md): nothing here runs in MINIT; the
//! forwarder starts on the first send of a worker; the hosted runtime and the forwarder
//! live in one `PerProcess` slot, so a forked child (FPM worker, `pcntl_fork`) forgets
//! what it inherited instead of using or dropping it. A send reads the forwarder config
//! the settings built when they last changed: no parsing, no `stat` of the spool
//! directory (created when something is spooled); while no setting changed it does not even
//! read them: one slot lock, then the forwarder's queue lock.

use std::cell::Cell;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bxcore::forward::{self, registry, Forwarder, PerProcess};
use bxcore::handoff::{Item, Query, Reply};
use bxcore::runtime::Background;

use crate::settings;

/// What this process sends to: the runtime it hosts (`Server::start`/`run`), else its
/// forwarder. One slot, so one lock and one fork check per send; a forked child finds it
/// empty (see `bxcore::forward::registry`).
#[derive(Default)]
struct Routes {
    hosted: Option<Background>,
    forwarder: Option<Arc<Forwarder>>,
    /// The settings generation `forwarder` was obtained for: while it is current, a send
    /// neither locks nor reads the settings.
    forwarder_generation: u64,
}

static PROCESS: PerProcess<Routes> = PerProcess::new(Routes {
    hosted: None,
    forwarder: None,
    forwarder_generation: 0,
});

thread_local! {
    /// Whether this request handed something to the forwarder (RSHUTDOWN flushes then).
    static SUBMITTED: Cell<bool> = const { Cell::new(false) };
}

pub fn is_hosting() -> bool {
    PROCESS.with(|p| p.hosted.is_some())
}

/// Run `f` on the hosted runtime, if this process hosts one.
pub fn with_hosted<R>(f: impl FnOnce(&Background) -> R) -> Option<R> {
    PROCESS.with(|p| p.hosted.as_ref().map(f))
}

#[allow(clippy::result_large_err)]
pub fn host(bg: Background) -> Result<(), Background> {
    PROCESS.with(|p| {
        if p.hosted.is_some() {
            return Err(bg);
        }
        p.hosted = Some(bg);
        Ok(())
    })
}

/// Stop the hosted runtime (if any). `Ok(false)` when none was running.
pub fn unhost(grace: Duration) -> io::Result<bool> {
    match PROCESS.with(|p| p.hosted.take()) {
        Some(bg) => bg.stop(grace).map(|_| true),
        None => Ok(false),
    }
}

/// The forwarder if this process already has one (no start).
pub fn existing_forwarder() -> Option<Arc<Forwarder>> {
    PROCESS.with(|p| p.forwarder.clone())
}

/// Hand one item over: into the hosted runtime, or to the forwarder (non-blocking).
pub fn submit(item: Item) -> Result<(), String> {
    let mut item = Some(item);
    // The forwarder of the current settings (obtained on first use, never in MINIT; made
    // again when they changed, e.g. `ini_set('bxpush.server', …)`), or None when the
    // hosted runtime took the item.
    let fw = PROCESS.with(|p| -> Result<Option<Arc<Forwarder>>, String> {
        if let Some(bg) = &p.hosted {
            let item = item.take().expect("not taken yet");
            bg.apply(item).map_err(|e| {
                format!("the runtime hosted by this process refused the message: {e}")
            })?;
            return Ok(None);
        }
        let generation = settings::generation();
        if p.forwarder.is_none() || p.forwarder_generation != generation {
            let s = settings::get();
            registry::obtain(&mut p.forwarder, s.forwarder()?);
            p.forwarder_generation = generation;
        }
        Ok(p.forwarder.clone())
    })?;
    if let (Some(fw), Some(item)) = (fw, item) {
        fw.submit(item)
            .map_err(|e| format!("cannot hand the message to the bxpush forwarder: {e}"))?;
        SUBMITTED.with(|c| c.set(true));
    }
    Ok(())
}

/// Ask the owner (or the hosted runtime) a question, waiting at most `timeout`.
pub fn query(q: Query, timeout: Duration) -> Result<Reply, String> {
    if let Some(r) = with_hosted(|bg| bg.query(q.clone())) {
        return Ok(r);
    }
    let s = settings::get();
    let cfg = s.forwarder()?;
    forward::query_owners(&cfg.owners, cfg.signature_key.as_deref(), q, timeout).map_err(|e| {
        format!(
            "cannot reach the bxpush server at {} (bxpush.server): {e}",
            cfg.owners
        )
    })
}

/// RSHUTDOWN: wait (bounded) until what this request submitted is acknowledged or spooled.
pub fn request_end() {
    let submitted = SUBMITTED.with(|c| c.replace(false));
    if !submitted {
        return;
    }
    if let Some(fw) = existing_forwarder() {
        let _ = fw.flush(settings::get().flush_timeout());
        note_failover(&fw);
    }
}

/// The first failover between owners of this process is logged (PHP's error log, once):
/// it is exactly-once only when the owners share the Redis engine, which a worker cannot
/// see from here. (The forwarder thread cannot log itself: PHP's logger is for the PHP
/// thread only.)
fn note_failover(fw: &Forwarder) {
    static NOTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let st = fw.stats();
    if st.failovers == 0 || NOTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let to = st
        .owner
        .and_then(|i| fw.config().owners.all().get(i))
        .map_or_else(|| "the next owner".to_string(), ToString::to_string);
    crate::php::log_notice(&format!(
        "bxpush: this worker failed over to {to} (bxpush.server); events move between owners exactly once only when every owner runs the Redis engine (bxpush serve --store redis://...) on one Redis"
    ));
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
