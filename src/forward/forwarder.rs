//! [`Forwarder`]: the PHP thread's side of the hand-off: submit (queue or spool, never the
//! network), flush (wait for acknowledgements, spool the rest), shutdown, statistics.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use super::queue::{Pending, Shared, State};
use super::{spool, thread, ForwarderConfig};
use crate::handoff::wire;
use crate::handoff::Item;

/// Largest encoded item: one item must fit in a frame.
pub const MAX_ITEM_BYTES: usize = wire::MAX_FRAME - wire::BATCH_OVERHEAD;
/// Longest [`Forwarder::shutdown`] waits for the thread after flushing.
const JOIN_WAIT: Duration = Duration::from_secs(1);

/// Why [`Forwarder::submit`] failed. The item was not accepted.
#[derive(Debug)]
pub enum SubmitError {
    /// The queue was full and the spool write failed (the error names the path).
    Spool(io::Error),
    /// The encoded item exceeds what one hand-off frame can carry.
    TooLarge { bytes: usize, limit: usize },
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Spool(e) => write!(
                f,
                "the event could not be queued or spooled: {e}; make bxpush.spool_dir writable by the PHP user and check free disk space"
            ),
            SubmitError::TooLarge { bytes, limit } => write!(
                f,
                "the event is {bytes} bytes encoded, over the hand-off limit of {limit} bytes; send a smaller message"
            ),
        }
    }
}

impl std::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubmitError::Spool(e) => Some(e),
            SubmitError::TooLarge { .. } => None,
        }
    }
}

/// What a flush achieved for the items pending when it started.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlushReport {
    /// Acknowledged by the owner during the flush.
    pub acked: u64,
    /// Written to the spool directory (the owner did not acknowledge them in time).
    pub spooled: u64,
    /// Neither: the spool write failed; they stay queued (see [`Forwarder::last_error`]).
    pub failed: u64,
}

impl FlushReport {
    /// Everything pending was acknowledged: nothing had to be spooled or was left.
    pub fn complete(&self) -> bool {
        self.spooled == 0 && self.failed == 0
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ForwarderStats {
    /// Items accepted by submit (including those spooled by it).
    pub submitted: u64,
    /// Items of this forwarder acknowledged by the owner.
    pub acked: u64,
    /// Items of this forwarder written to the spool directory.
    pub spooled: u64,
    /// Spooled items (of any worker) this forwarder replayed to the owner.
    pub replayed: u64,
    /// Items in memory, not yet acknowledged.
    pub queued: usize,
    /// Connected to the owner now.
    pub connected: bool,
    /// The process that created the forwarder.
    pub pid: u32,
    /// Items the owner rejected (answered with an Error frame and skipped).
    pub rejected: u64,
    /// This forwarder's origin id.
    pub origin: u64,
    /// Index in the owner list (`bxpush.server`) of the owner connected to now.
    pub owner: Option<usize>,
    /// Connections made to another owner than the previous one (failovers).
    pub failovers: u64,
}

/// The worker-side hand-off (see [`crate::forward`]). Cheap to share: `Arc<Forwarder>`.
///
/// A forwarder belongs to the process that made it: its thread does not exist in a forked
/// child. Keep the process's forwarder in a [`super::PerProcess`] slot, which makes a
/// child forget (never use, never drop) what it inherited.
pub struct Forwarder {
    cfg: Arc<ForwarderConfig>,
    origin: u64,
    /// The process that made it (reported in the stats).
    pid: u32,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    started: AtomicBool,
}

fn new_origin() -> u64 {
    loop {
        let o = u64::from_be_bytes(crate::handoff::os_random::<8>());
        if o != 0 {
            return o;
        }
    }
}

impl Forwarder {
    /// A new, independent forwarder (its own origin; no thread until the first submit or
    /// flush). A process normally has one ([`super::registry::obtain`]); tests make
    /// several to play several workers.
    pub fn new(cfg: impl Into<Arc<ForwarderConfig>>) -> Forwarder {
        Forwarder {
            cfg: cfg.into(),
            origin: new_origin(),
            pid: std::process::id(),
            shared: Arc::new(Shared::new()),
            thread: Mutex::new(None),
            started: AtomicBool::new(false),
        }
    }

    /// Whether this forwarder was made for `cfg`: the same `Arc` (a config built once per
    /// setting change, the usual case: no comparison) or an equal value.
    pub fn serves(&self, cfg: &Arc<ForwarderConfig>) -> bool {
        Arc::ptr_eq(&self.cfg, cfg) || *self.cfg == **cfg
    }

    pub fn config(&self) -> &ForwarderConfig {
        &self.cfg
    }

    /// This forwarder's origin id (random, never 0).
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// Hand an item over. Never blocks on the network: the item is queued (microseconds),
    /// or, when the queue is full or the forwarder was shut down, written to the spool
    /// directory together with everything queued before it (one file write).
    pub fn submit(&self, item: Item) -> Result<(), SubmitError> {
        let bytes = Bytes::from(wire::encode_item(&item));
        if bytes.len() > MAX_ITEM_BYTES {
            return Err(SubmitError::TooLarge {
                bytes: bytes.len(),
                limit: MAX_ITEM_BYTES,
            });
        }
        let sh = &self.shared;
        let cfg = &self.cfg;
        let mut st = sh.state.lock();
        let full =
            st.queue.len() >= cfg.queue_items || st.queue_bytes + bytes.len() > cfg.queue_bytes;
        let seq = st.next_seq;
        st.next_seq += 1;
        st.queue_bytes += bytes.len();
        st.queue.push_back(Pending { seq, bytes });
        if full || st.closed {
            if let Err(e) = self.spool_queue(&mut st) {
                let p = st.queue.pop_back().expect("just pushed");
                st.queue_bytes -= p.bytes.len();
                st.last_error = Some(e.to_string());
                return Err(SubmitError::Spool(e));
            }
        }
        sh.submitted.fetch_add(1, Ordering::Relaxed);
        let closed = st.closed;
        drop(st);
        if !closed {
            self.ensure_thread();
        }
        sh.work.notify_one();
        Ok(())
    }

    /// Write the whole queue, in order, as one spool file (state lock held).
    fn spool_queue(&self, st: &mut State) -> io::Result<u64> {
        let Some(first) = st.queue.front().map(|p| p.seq) else {
            return Ok(0);
        };
        let refs: Vec<&[u8]> = st.queue.iter().map(|p| &p.bytes[..]).collect();
        debug_assert!(st
            .queue
            .iter()
            .enumerate()
            .all(|(i, p)| p.seq == first + i as u64));
        spool::write(&self.cfg.spool_dir, self.origin, first, &refs)?;
        let n = st.queue.len() as u64;
        st.queue.clear();
        st.queue_bytes = 0;
        st.spool_gen += 1;
        st.spool_dirty = true;
        let sh = &self.shared;
        sh.spooled.fetch_add(n, Ordering::Relaxed);
        sh.progress.notify_all();
        sh.work.notify_one();
        Ok(n)
    }

    fn ensure_thread(&self) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let mut t = self.thread.lock();
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let shared = self.shared.clone();
        let cfg = self.cfg.clone();
        let origin = self.origin;
        match std::thread::Builder::new()
            .name("bxpush-forward".into())
            .spawn(move || thread::run(shared, cfg, origin))
        {
            Ok(h) => {
                *t = Some(h);
                self.started.store(true, Ordering::Release);
            }
            Err(e) => {
                // Without a thread nothing would ever send: keep the items on disk.
                let sh = &self.shared;
                let mut st = sh.state.lock();
                st.last_error = Some(format!("cannot start the forwarder thread: {e}"));
                let _ = self.spool_queue(&mut st);
            }
        }
    }

    /// Wait until every item submitted so far is acknowledged, at most `timeout`; write
    /// what is still unacknowledged to the spool directory. Takes at most `timeout` plus
    /// one spool write; returns at once when nothing is pending.
    pub fn flush(&self, timeout: Duration) -> FlushReport {
        let deadline = Instant::now() + timeout;
        let sh = &self.shared;
        let mut st = sh.state.lock();
        let target = st.next_seq - 1;
        let pending = |st: &State| st.queue.front().is_some_and(|p| p.seq <= target);
        if !pending(&st) {
            return FlushReport::default();
        }
        let acked_before = sh.acked.load(Ordering::Relaxed);
        if !self.started.load(Ordering::Acquire) && !st.closed {
            drop(st);
            self.ensure_thread();
            st = sh.state.lock();
        }
        sh.work.notify_one();
        while pending(&st) {
            if sh.progress.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
        let mut report = FlushReport::default();
        if pending(&st) {
            match self.spool_queue(&mut st) {
                Ok(n) => report.spooled = n,
                Err(e) => {
                    report.failed = st.queue.iter().take_while(|p| p.seq <= target).count() as u64;
                    tracing::error!(error = %e, "bxpush: cannot spool unacknowledged events");
                    st.last_error = Some(e.to_string());
                }
            }
        }
        drop(st);
        report.acked = sh.acked.load(Ordering::Relaxed) - acked_before;
        report
    }

    /// Flush with `timeout`, then stop the thread (it notices within about 50 ms; the
    /// wait is bounded by 1 s, past which it is left to finish alone). Later submits
    /// go straight to the spool. For MSHUTDOWN.
    pub fn shutdown(&self, timeout: Duration) -> FlushReport {
        let mut report = self.flush(timeout);
        let sh = &self.shared;
        {
            let mut st = sh.state.lock();
            st.closed = true;
            if let Ok(n) = self.spool_queue(&mut st) {
                report.spooled += n;
            }
        }
        sh.stop.store(true, Ordering::Release);
        sh.work.notify_all();
        sh.socket.shutdown();
        if self.started.load(Ordering::Acquire) {
            let deadline = Instant::now() + JOIN_WAIT;
            let mut st = sh.state.lock();
            while !st.done {
                if sh.progress.wait_until(&mut st, deadline).timed_out() {
                    break;
                }
            }
            let done = st.done;
            drop(st);
            let handle = self.thread.lock().take();
            if let Some(h) = handle {
                if done {
                    let _ = h.join();
                } else {
                    tracing::warn!("bxpush forwarder thread did not stop in time; detached");
                }
            }
        }
        report
    }

    pub fn stats(&self) -> ForwarderStats {
        let sh = &self.shared;
        let mut s = ForwarderStats {
            pid: self.pid,
            origin: self.origin,
            ..Default::default()
        };
        let st = sh.state.lock();
        s.queued = st.queue.len();
        s.connected = st.connected;
        s.owner = st.owner;
        drop(st);
        s.failovers = sh.failovers.load(Ordering::Relaxed);
        s.submitted = sh.submitted.load(Ordering::Relaxed);
        s.acked = sh.acked.load(Ordering::Relaxed);
        s.spooled = sh.spooled.load(Ordering::Relaxed);
        s.replayed = sh.replayed.load(Ordering::Relaxed);
        s.rejected = sh.rejected.load(Ordering::Relaxed);
        s
    }

    /// The last connection, spool or owner error, for diagnostics (phpinfo, status).
    pub fn last_error(&self) -> Option<String> {
        self.shared.state.lock().last_error.clone()
    }
}

impl Drop for Forwarder {
    /// Shut down without waiting for acks (unacknowledged items are spooled, nothing is
    /// lost). Never reached in a forked child: [`super::PerProcess`] forgets it there.
    fn drop(&mut self) {
        let closed = self.shared.state.lock().closed;
        if !closed || self.started.load(Ordering::Acquire) {
            self.shutdown(Duration::ZERO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::PhpTarget;

    fn cfg(tag: &str) -> ForwarderConfig {
        ForwarderConfig::new(
            PhpTarget::Unix(std::env::temp_dir().join(format!("bxpush-nowhere-{tag}.sock"))),
            std::env::temp_dir().join(format!("bxpush-spool-unit-{tag}-{}", std::process::id())),
        )
    }

    #[test]
    fn nothing_starts_before_first_use() {
        let f = Forwarder::new(cfg("lazy"));
        assert!(f.thread.lock().is_none());
        let r = f.flush(Duration::from_millis(10));
        assert_eq!((r.acked, r.spooled), (0, 0));
        assert!(f.thread.lock().is_none());
        assert!(r.complete());
    }

    #[test]
    fn oversized_items_are_refused_with_the_limit() {
        let f = Forwarder::new(cfg("big"));
        let e = f
            .submit(Item::Publish {
                receivers: vec![],
                body: Bytes::from(vec![b'x'; MAX_ITEM_BYTES]),
                expiry: 0,
                kind: String::new(),
            })
            .unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert!(f.thread.lock().is_none());
    }
}
