//! The process's forwarder, and the one fork check.
//!
//! PHP-FPM forks its workers from the master after MINIT, and `pcntl_fork` forks a
//! request: a thread (the forwarder's, a hosted runtime's) does not survive `fork`, and a
//! lock it held stays held in the child. So a value whose threads belong to one process
//! lives in a [`PerProcess`] slot, which remembers the pid that filled it; in any other
//! process (a forked child) the value is forgotten — leaked, neither used nor dropped —
//! and the slot starts empty. Nothing else checks the pid.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{Forwarder, ForwarderConfig};

/// Flush of the old forwarder when the settings changed (`ini_set('bxpush.server', …)`).
const REPLACE_FLUSH: Duration = Duration::from_secs(1);

/// A process-wide value that a forked child forgets (see the module doc).
pub struct PerProcess<T> {
    slot: Mutex<Slot<T>>,
}

struct Slot<T> {
    pid: u32,
    value: T,
}

impl<T: Default> PerProcess<T> {
    /// An empty slot (`T::default()` is "nothing here yet").
    pub const fn new(empty: T) -> Self {
        PerProcess {
            slot: Mutex::new(Slot {
                pid: 0,
                value: empty,
            }),
        }
    }

    /// Run `f` on this process's value, under the slot's lock. One `getpid` per call.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.with_pid(std::process::id(), f)
    }

    /// [`PerProcess::with`] as process `pid`: the fork rule, testable.
    #[doc(hidden)]
    pub fn with_pid<R>(&self, pid: u32, f: impl FnOnce(&mut T) -> R) -> R {
        let mut slot = self.slot.lock();
        if slot.pid != pid {
            // Filled by the parent (or never filled): its threads are not in this process.
            std::mem::forget(std::mem::take(&mut slot.value));
            slot.pid = pid;
        }
        f(&mut slot.value)
    }
}

/// The forwarder in `slot` if it was made for `cfg`; otherwise a new one (the old one,
/// made for other settings, is flushed for up to 1 s and shut down first). No thread
/// starts here: that waits for the first submit or flush.
pub fn obtain(slot: &mut Option<Arc<Forwarder>>, cfg: &Arc<ForwarderConfig>) -> Arc<Forwarder> {
    if let Some(f) = slot.as_ref() {
        if f.serves(cfg) {
            return f.clone();
        }
    }
    if let Some(old) = slot.take() {
        old.shutdown(REPLACE_FLUSH);
    }
    let f = Arc::new(Forwarder::new(cfg.clone()));
    *slot = Some(f.clone());
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::PhpTarget;

    fn cfg(tag: &str) -> Arc<ForwarderConfig> {
        Arc::new(ForwarderConfig::new(
            PhpTarget::Unix(std::env::temp_dir().join(format!("bxpush-nowhere-{tag}.sock"))),
            std::env::temp_dir().join(format!("bxpush-spool-unit-{tag}-{}", std::process::id())),
        ))
    }

    #[test]
    fn a_forked_child_forgets_what_its_parent_left() {
        static SLOT: PerProcess<Option<Arc<Forwarder>>> = PerProcess::new(None);
        let c = cfg("fork");
        let a = SLOT.with_pid(100, |s| obtain(s, &c));
        let a2 = SLOT.with_pid(100, |s| obtain(s, &c));
        assert!(Arc::ptr_eq(&a, &a2));
        // "Forked": pid 101 finds the slot empty and makes its own.
        assert!(SLOT.with_pid(101, |s| s.is_none()));
        let b = SLOT.with_pid(101, |s| obtain(s, &c));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_ne!(a.origin(), b.origin());
        // The parent's instance was forgotten, not dropped: only the test's handles
        // (a, a2) remain and the leaked one is never released.
        assert_eq!(Arc::strong_count(&a), 3);
        assert!(Arc::ptr_eq(&b, &SLOT.with_pid(101, |s| obtain(s, &c))));
    }

    #[test]
    fn changed_settings_replace_the_forwarder_and_equal_ones_keep_it() {
        let slot = PerProcess::new(None);
        let c = cfg("replace");
        let a = slot.with(|s| obtain(s, &c));
        // A config rebuilt with the same values (another Arc) keeps it.
        let same = Arc::new((*c).clone());
        assert!(Arc::ptr_eq(&a, &slot.with(|s| obtain(s, &same))));
        let mut other = (*c).clone();
        other.queue_items = 5;
        let d = slot.with(|s| obtain(s, &Arc::new(other)));
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(d.config().queue_items, 5);
    }
}
