//! Periodic work of a running server: history expiry and presence upkeep, handing freed
//! heap back to the kernel, and persisting the PHP hand-off's high-water marks.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::hub::Hub;
use crate::ingress::Ingress;
use crate::logging::streak::Streak;

/// How often history is purged of expired messages and presence of stale channels.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// Every 30 s, hand freed heap pages back to the kernel (see [`release_free_memory`]).
const TRIM_EVERY_TICKS: u64 = 6;

/// A connection storm leaves holes in glibc's heap (each handshake's buffers, freed
/// between long-lived connection state) that stay resident: measured 4.0 KiB → 3.3 KiB
/// per idle WebSocket at 5,000 after a trim. `malloc_trim` walks the heap (milliseconds
/// for a few hundred MB) and madvises free pages away.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that is free; no pointer is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often the PHP hand-off's high-water marks are written when they changed.
const INGRESS_PERSIST_PERIOD: Duration = Duration::from_secs(1);

/// Persist the hand-off's high-water marks about every second when they changed, and
/// forget origins idle for a day.
pub(super) async fn ingress_upkeep(ingress: Arc<Ingress>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(INGRESS_PERSIST_PERIOD);
    let mut n: u64 = 0;
    let mut failing = Streak::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                if n.is_multiple_of(60) {
                    ingress.forget_idle(crate::hub::now_unix());
                }
                match ingress.persist() {
                    Err(e) if failing.fail() => tracing::error!(error = %e,
                        "cannot write the PHP hand-off state; retried every second, \
                         logged again when it works"),
                    Err(e) => tracing::debug!(error = %e, "cannot write the PHP hand-off state"),
                    Ok(()) => {
                        if let Some(n) = failing.succeed() {
                            tracing::info!(failed = n, "PHP hand-off state written again");
                        }
                    }
                }
            }
            _ = stop.changed() => return,
        }
    }
}

pub(super) async fn upkeep(hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(UPKEEP_PERIOD);
    let mut ticks: u64 = 0;
    let mut failing = Streak::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // A compaction writes the whole history: not on an async worker.
                let h = hub.clone();
                match tokio::task::spawn_blocking(move || h.maintain()).await {
                    Ok(Ok(())) => {
                        if let Some(n) = failing.succeed() {
                            tracing::info!(failed = n, "history upkeep works again");
                        }
                    }
                    Ok(Err(e)) if failing.fail() => tracing::error!(error = %e,
                        "history upkeep failed; retried every 5 s, logged again when it works"),
                    Ok(Err(e)) => tracing::debug!(error = %e, "history upkeep failed"),
                    Err(e) => tracing::error!(error = %e, "history upkeep task failed"),
                }
                ticks += 1;
                if ticks.is_multiple_of(TRIM_EVERY_TICKS) {
                    release_free_memory();
                }
            }
            _ = stop.changed() => return,
        }
    }
}
