//! The worker side of the PHP hand-off: a PHP-FPM worker hands [`Item`]s to the owner
//! process without ever blocking on the network, and without losing them.
//!
//! - [`Forwarder::submit`] (PHP thread): encode the item, push the bytes into a bounded
//!   in-memory queue, wake the forwarder thread. When the queue is full, the whole queue
//!   and the item are written to the spool directory instead (in order; see below).
//! - The forwarder thread (started lazily by the first submit or flush, all signals
//!   blocked) connects to the owner, sends batches, and drops items from the queue as the
//!   owner acknowledges them. Before each batch it checks the spool directory and replays
//!   every spool file (of any worker), in name order, under an exclusive `flock`.
//! - [`Forwarder::flush`] (RSHUTDOWN, MSHUTDOWN): wait until everything submitted so far is
//!   acknowledged, at most `timeout`; whatever is not is written to the spool directory.
//!
//! Exactly-once and order: every item carries (origin, seq): origin is random per
//! forwarder instance, seq counts its items from 1. The owner applies items of an origin
//! only if their seq is above the highest it has applied, so a resend after a lost ack,
//! or a spooled copy of an item that did arrive, is skipped. The forwarder keeps one
//! origin's items in seq order on every path: the queue is only ever spooled whole (so a
//! spool file holds a contiguous range and everything after it is still in memory), and
//! the thread sends nothing from memory while a spool file of its own origin is waiting.
//!
//! Plain std threads and sockets: no tokio in the worker process. Every wait is bounded
//! and the thread notices a stop within about 50 ms ([`link::SLICE`]).

pub mod link;
pub mod spool;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use crate::handoff::wire::{self, ErrorCode, Frame};
use crate::handoff::{Item, PhpTarget, Query, Reply};
use link::{Link, SocketSlot};

/// Default queue bound in items.
pub const DEFAULT_QUEUE_ITEMS: usize = 10_000;
/// Default queue bound in encoded bytes (64 MiB).
pub const DEFAULT_QUEUE_BYTES: usize = 64 << 20;
/// Largest encoded item: one item must fit in a frame.
pub const MAX_ITEM_BYTES: usize = wire::MAX_FRAME - wire::BATCH_OVERHEAD;
/// Items and bytes per batch the forwarder sends (below the wire's hard limits).
const BATCH_ITEMS: usize = 1000;
const BATCH_BYTES: usize = 4 << 20;
/// How long the owner has to acknowledge a batch before the connection is dropped.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the handshake after the connection is established.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Longest [`Forwarder::shutdown`] waits for the thread after flushing.
const JOIN_WAIT: Duration = Duration::from_secs(1);
/// Flush of the old forwarder when [`Forwarder::global`] sees a changed config.
const REPLACE_FLUSH: Duration = Duration::from_secs(1);

/// How a worker reaches the owner.
#[derive(Clone, PartialEq)]
pub struct ForwarderConfig {
    pub target: PhpTarget,
    /// Needed for a TCP target (frames are authenticated with it).
    pub signature_key: Option<String>,
    /// Where unacknowledged items wait for the owner (shared by all workers of a host).
    pub spool_dir: PathBuf,
    /// Queue bound in items; past it, submit spools.
    pub queue_items: usize,
    /// Queue bound in encoded bytes; past it, submit spools.
    pub queue_bytes: usize,
    /// Bound of one connection attempt.
    pub connect_timeout: Duration,
}

impl ForwarderConfig {
    /// Defaults: 10 000 items / 64 MiB queue, 1 s connect timeout, no key.
    pub fn new(target: PhpTarget, spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            target,
            signature_key: None,
            spool_dir: spool_dir.into(),
            queue_items: DEFAULT_QUEUE_ITEMS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            connect_timeout: Duration::from_secs(1),
        }
    }
}

impl fmt::Debug for ForwarderConfig {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwarderConfig")
            .field("target", &self.target)
            .field(
                "signature_key",
                &self.signature_key.as_ref().map(|_| "<redacted>"),
            )
            .field("spool_dir", &self.spool_dir)
            .field("queue_items", &self.queue_items)
            .field("queue_bytes", &self.queue_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

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
}

struct Pending {
    seq: u64,
    bytes: Bytes,
}

struct State {
    /// Unacknowledged, unspooled items; seqs increasing and contiguous.
    queue: VecDeque<Pending>,
    queue_bytes: usize,
    next_seq: u64,
    /// Highest seq sent on the current connection.
    sent_upto: u64,
    /// Highest seq of this origin the owner acknowledged.
    acked_seq: u64,
    /// Bumped whenever this forwarder writes a spool file.
    spool_gen: u64,
    /// The spool directory may hold files to replay.
    spool_dirty: bool,
    /// After shutdown: submit spools directly.
    closed: bool,
    /// The thread has exited.
    done: bool,
    connected: bool,
    last_error: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the thread: items, spool files, stop.
    work: Condvar,
    /// Wakes flushers and shutdown: acks, spooling, thread exit.
    progress: Condvar,
    stop: AtomicBool,
    socket: SocketSlot,
    submitted: AtomicU64,
    acked: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    rejected: AtomicU64,
}

impl Shared {
    fn note_error(&self, e: impl fmt::Display) {
        let text = e.to_string();
        tracing::debug!(error = %text, "bxpush forwarder");
        self.state.lock().last_error = Some(text);
    }

    /// Owner acknowledged everything of this origin up to `seq`.
    fn on_ack(&self, st: &mut State, seq: u64) {
        st.acked_seq = st.acked_seq.max(seq);
        let mut n = 0;
        while st.queue.front().is_some_and(|p| p.seq <= seq) {
            let p = st.queue.pop_front().expect("front exists");
            st.queue_bytes -= p.bytes.len();
            n += 1;
        }
        if n > 0 {
            self.acked.fetch_add(n, Ordering::Relaxed);
            self.progress.notify_all();
        }
    }
}

struct Inner {
    cfg: ForwarderConfig,
    origin: u64,
    /// The pid this instance belongs to (injectable for tests of the fork rule).
    pid: u32,
    /// The real pid at creation: a different getpid() means we are a forked child.
    real_pid: u32,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    started: AtomicBool,
}

/// The worker-side hand-off (see the module doc). Cheap to share: `Arc<Forwarder>`.
pub struct Forwarder {
    /// Not dropped in a forked child: its thread and lock owners do not exist there.
    inner: ManuallyDrop<Inner>,
}

static GLOBAL: Mutex<Option<Arc<Forwarder>>> = Mutex::new(None);

fn new_origin() -> u64 {
    loop {
        let o = u64::from_be_bytes(crate::handoff::os_random::<8>());
        if o != 0 {
            return o;
        }
    }
}

impl Forwarder {
    /// The process-wide forwarder for `cfg` (created on first call; re-created after fork;
    /// a changed cfg replaces it after flushing the old one for up to 1 s).
    pub fn global(cfg: &ForwarderConfig) -> Arc<Forwarder> {
        Self::global_in(&GLOBAL, cfg, std::process::id())
    }

    /// [`Forwarder::global`] over a given slot and pid: the fork rule, testable. An
    /// instance made for another pid is forgotten (never dropped) and a fresh one made.
    #[doc(hidden)]
    pub fn global_in(
        slot: &Mutex<Option<Arc<Forwarder>>>,
        cfg: &ForwarderConfig,
        pid: u32,
    ) -> Arc<Forwarder> {
        let mut g = slot.lock();
        if let Some(f) = g.as_ref() {
            if f.inner.pid != pid {
                // Forked: the thread behind it is not in this process.
                std::mem::forget(g.take());
            } else if f.inner.cfg == *cfg {
                return f.clone();
            } else {
                let old = g.take().expect("checked");
                old.shutdown(REPLACE_FLUSH);
            }
        }
        let f = Arc::new(Self::with_pid(cfg.clone(), pid));
        *g = Some(f.clone());
        f
    }

    /// A new, independent forwarder (its own origin; no thread until the first submit or
    /// flush). Normally use [`Forwarder::global`]; tests use this to play several workers.
    pub fn new(cfg: ForwarderConfig) -> Forwarder {
        Self::with_pid(cfg, std::process::id())
    }

    fn with_pid(cfg: ForwarderConfig, pid: u32) -> Forwarder {
        Forwarder {
            inner: ManuallyDrop::new(Inner {
                cfg,
                origin: new_origin(),
                pid,
                real_pid: std::process::id(),
                shared: Arc::new(Shared {
                    state: Mutex::new(State {
                        queue: VecDeque::new(),
                        queue_bytes: 0,
                        next_seq: 1,
                        sent_upto: 0,
                        acked_seq: 0,
                        spool_gen: 0,
                        spool_dirty: true,
                        closed: false,
                        done: false,
                        connected: false,
                        last_error: None,
                    }),
                    work: Condvar::new(),
                    progress: Condvar::new(),
                    stop: AtomicBool::new(false),
                    socket: SocketSlot::default(),
                    submitted: AtomicU64::new(0),
                    acked: AtomicU64::new(0),
                    spooled: AtomicU64::new(0),
                    replayed: AtomicU64::new(0),
                    rejected: AtomicU64::new(0),
                }),
                thread: Mutex::new(None),
                started: AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> &ForwarderConfig {
        &self.inner.cfg
    }

    /// This forwarder's origin id (random, never 0).
    pub fn origin(&self) -> u64 {
        self.inner.origin
    }

    /// Inherited across fork: the thread and whoever held our locks are not here.
    fn forked(&self) -> bool {
        std::process::id() != self.inner.real_pid
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
        if self.forked() {
            // Never touch inherited locks: spool the item alone under a fresh origin.
            return spool::write(&self.inner.cfg.spool_dir, new_origin(), 1, &[&bytes])
                .map(|_| ())
                .map_err(SubmitError::Spool);
        }
        let sh = &self.inner.shared;
        let cfg = &self.inner.cfg;
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
        spool::write(&self.inner.cfg.spool_dir, self.inner.origin, first, &refs)?;
        let n = st.queue.len() as u64;
        st.queue.clear();
        st.queue_bytes = 0;
        st.spool_gen += 1;
        st.spool_dirty = true;
        let sh = &self.inner.shared;
        sh.spooled.fetch_add(n, Ordering::Relaxed);
        sh.progress.notify_all();
        sh.work.notify_one();
        Ok(n)
    }

    fn ensure_thread(&self) {
        if self.inner.started.load(Ordering::Acquire) {
            return;
        }
        let mut t = self.inner.thread.lock();
        if self.inner.started.load(Ordering::Acquire) {
            return;
        }
        let shared = self.inner.shared.clone();
        let cfg = self.inner.cfg.clone();
        let origin = self.inner.origin;
        match std::thread::Builder::new()
            .name("bxpush-forward".into())
            .spawn(move || run(shared, cfg, origin))
        {
            Ok(h) => {
                *t = Some(h);
                self.inner.started.store(true, Ordering::Release);
            }
            Err(e) => {
                // Without a thread nothing would ever send: keep the items on disk.
                let sh = &self.inner.shared;
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
        if self.forked() {
            return FlushReport::default();
        }
        let deadline = Instant::now() + timeout;
        let sh = &self.inner.shared;
        let mut st = sh.state.lock();
        let target = st.next_seq - 1;
        let pending = |st: &State| st.queue.front().is_some_and(|p| p.seq <= target);
        if !pending(&st) {
            return FlushReport::default();
        }
        let acked_before = sh.acked.load(Ordering::Relaxed);
        if !self.inner.started.load(Ordering::Acquire) && !st.closed {
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
        if self.forked() {
            return FlushReport::default();
        }
        let mut report = self.flush(timeout);
        let sh = &self.inner.shared;
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
        if self.inner.started.load(Ordering::Acquire) {
            let deadline = Instant::now() + JOIN_WAIT;
            let mut st = sh.state.lock();
            while !st.done {
                if sh.progress.wait_until(&mut st, deadline).timed_out() {
                    break;
                }
            }
            let done = st.done;
            drop(st);
            let handle = self.inner.thread.lock().take();
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
        let sh = &self.inner.shared;
        let mut s = ForwarderStats {
            pid: self.inner.real_pid,
            origin: self.inner.origin,
            ..Default::default()
        };
        if self.forked() {
            return s;
        }
        let st = sh.state.lock();
        s.queued = st.queue.len();
        s.connected = st.connected;
        drop(st);
        s.submitted = sh.submitted.load(Ordering::Relaxed);
        s.acked = sh.acked.load(Ordering::Relaxed);
        s.spooled = sh.spooled.load(Ordering::Relaxed);
        s.replayed = sh.replayed.load(Ordering::Relaxed);
        s.rejected = sh.rejected.load(Ordering::Relaxed);
        s
    }

    /// The last connection, spool or owner error, for diagnostics (phpinfo, status).
    pub fn last_error(&self) -> Option<String> {
        if self.forked() {
            return None;
        }
        self.inner.shared.state.lock().last_error.clone()
    }
}

impl Drop for Forwarder {
    /// Same process: shut down without waiting for acks (unacknowledged items are
    /// spooled, nothing is lost). Forked child: leak everything, touch nothing.
    fn drop(&mut self) {
        if self.forked() {
            return;
        }
        let closed = self.inner.shared.state.lock().closed;
        if !closed || self.inner.started.load(Ordering::Acquire) {
            self.shutdown(Duration::ZERO);
        }
        // SAFETY: dropped once, here, and never used again.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

/// One synchronous request/reply to the owner from the calling thread, on its own short
/// connection, bounded by `timeout` (connect, handshake and answer together).
pub fn query(
    target: &PhpTarget,
    signature_key: Option<&str>,
    q: Query,
    timeout: Duration,
) -> io::Result<Reply> {
    let deadline = Instant::now() + timeout;
    let stop = AtomicBool::new(false);
    let (mut link, _) = Link::connect(target, signature_key, 0, deadline, deadline, &stop, None)?;
    link.send(&Frame::Query(q), deadline)?;
    loop {
        match link.recv(deadline)? {
            Frame::Reply(r) => return Ok(r),
            Frame::Error { .. } => continue,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "unexpected {} frame from the bxpush server (wanted Reply)",
                        other.name()
                    ),
                ))
            }
        }
    }
}

/// The forwarder thread.
fn run(shared: Arc<Shared>, cfg: ForwarderConfig, origin: u64) {
    crate::handoff::block_signals_in_this_thread();
    let sh = &*shared;
    let mut w = Worker {
        sh,
        cfg: &cfg,
        origin,
        backoff: BACKOFF_MIN,
        stuck: Default::default(),
    };
    w.main_loop();
    let mut st = sh.state.lock();
    st.done = true;
    st.connected = false;
    drop(st);
    sh.progress.notify_all();
}

struct Worker<'a> {
    sh: &'a Shared,
    cfg: &'a ForwarderConfig,
    origin: u64,
    backoff: Duration,
    /// Spool files replayed but impossible to delete (another user's, read-only
    /// directory): not replayed again by this forwarder.
    stuck: std::collections::HashSet<String>,
}

enum Step {
    /// Go on with the next step.
    Next,
    /// Start over (link dropped, or something changed).
    Again,
}

impl<'a> Worker<'a> {
    fn stopping(&self) -> bool {
        self.sh.stop.load(Ordering::Acquire)
    }

    /// Sleep up to `d` unless stopped (notifications other than stop do not cut it short).
    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut st = self.sh.state.lock();
        while !self.stopping() {
            if self.sh.work.wait_until(&mut st, until).timed_out() {
                break;
            }
        }
    }

    fn main_loop(&mut self) {
        let mut link: Option<Link<'a>> = None;
        loop {
            // Wait for work: unsent items, or spool files to replay.
            {
                let mut st = self.sh.state.lock();
                loop {
                    if self.stopping() {
                        return;
                    }
                    let unsent = st.queue.back().is_some_and(|p| p.seq > st.sent_upto);
                    if unsent || st.spool_dirty {
                        break;
                    }
                    self.sh.work.wait(&mut st);
                }
            }
            if link.is_none() {
                match self.connect() {
                    Some(l) => link = Some(l),
                    None => continue,
                }
            }
            let l = link.as_mut().expect("connected");
            let result = match self.replay(l) {
                Ok(Step::Next) => self.send_batch(l),
                other => other,
            };
            if let Err(e) = result {
                if !self.stopping() {
                    self.sh.note_error(&e);
                }
                link = None;
                let mut st = self.sh.state.lock();
                st.connected = false;
                // What was in flight is unacknowledged: send it again (the owner skips
                // what it applied; Welcome tells us that on reconnect).
                st.sent_upto = st.acked_seq;
                drop(st);
                // An owner that accepts and then fails (disk full, shutting down) must not
                // be hammered: back off as after a failed connect.
                self.pause(self.backoff);
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    fn connect(&mut self) -> Option<Link<'a>> {
        let now = Instant::now();
        let connect_deadline = now + self.cfg.connect_timeout;
        let result = Link::connect(
            &self.cfg.target,
            self.cfg.signature_key.as_deref(),
            self.origin,
            connect_deadline,
            connect_deadline + HANDSHAKE_TIMEOUT,
            &self.sh.stop,
            Some(&self.sh.socket),
        );
        match result {
            Ok((link, applied)) => {
                let mut st = self.sh.state.lock();
                st.connected = true;
                // Nothing is in flight on a new connection; what the owner already
                // applied (an ack lost with the old connection) is done.
                st.sent_upto = st.acked_seq.max(applied);
                self.sh.on_ack(&mut st, applied);
                Some(link)
            }
            Err(e) => {
                if !self.stopping() {
                    self.sh.note_error(&e);
                }
                self.sh.state.lock().connected = false;
                self.pause(self.backoff);
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                None
            }
        }
    }

    /// Replay every spool file before sending own items. `Again` when the replay lock is
    /// busy and a file of our own origin is waiting (another forwarder replays it).
    fn replay(&mut self, link: &mut Link<'a>) -> io::Result<Step> {
        let dir = self.cfg.spool_dir.as_path();
        let gen = self.sh.state.lock().spool_gen;
        let names = self.spool_files().unwrap_or_else(|e| {
            self.sh.note_error(&e);
            Vec::new()
        });
        if !names.is_empty() {
            match spool::try_lock(dir) {
                Ok(Some(_lock)) => {
                    // Files spooled while we replay (by anyone) are taken too.
                    let mut passes = 0;
                    loop {
                        let names = self.spool_files().unwrap_or_default();
                        if names.is_empty() || passes >= 100 {
                            break;
                        }
                        passes += 1;
                        for name in names {
                            if self.stopping() {
                                return Err(io::Error::new(
                                    io::ErrorKind::Interrupted,
                                    "forwarder stopping",
                                ));
                            }
                            if let Err(e) = self.replay_file(link, &dir.join(&name))? {
                                // Applied, but it stays on disk: never replay it again
                                // here (a loop of duplicates would starve our own items).
                                tracing::error!(error = %e, "bxpush: spool file left in place");
                                self.sh.note_error(&e);
                                self.stuck.insert(name);
                            }
                        }
                    }
                }
                Ok(None) => {
                    if names
                        .iter()
                        .any(|n| spool::origin_of(n) == Some(self.origin))
                    {
                        self.pause(Duration::from_millis(20));
                        return Ok(Step::Again);
                    }
                }
                Err(e) => {
                    self.sh.note_error(&e);
                    if self.own_files_waiting() {
                        self.pause(self.backoff);
                        return Ok(Step::Again);
                    }
                }
            }
        }
        let own_waiting = self.own_files_waiting();
        let mut st = self.sh.state.lock();
        if st.spool_gen == gen && !own_waiting {
            st.spool_dirty = false;
        }
        Ok(Step::Next)
    }

    /// Spool files to replay, in order (without the stuck ones).
    fn spool_files(&self) -> io::Result<Vec<String>> {
        let mut names = spool::list(&self.cfg.spool_dir)?;
        names.retain(|n| !self.stuck.contains(n));
        Ok(names)
    }

    fn own_files_waiting(&self) -> bool {
        self.spool_files()
            .map(|v| v.iter().any(|n| spool::origin_of(n) == Some(self.origin)))
            .unwrap_or(false)
    }

    /// Replay one file and delete it. The outer error ends the connection; the inner one
    /// is a file that was replayed but could not be deleted.
    fn replay_file(
        &mut self,
        link: &mut Link<'a>,
        path: &std::path::Path,
    ) -> io::Result<io::Result<()>> {
        let file = match spool::read(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(())),
            // Another user's file: not ours to set aside; whoever can read it replays it.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(Err(e)),
            Err(e) => {
                tracing::error!(error = %e, "bxpush: unreadable spool file set aside");
                self.sh.note_error(&e);
                if !spool::quarantine(path) {
                    return Ok(Err(e));
                }
                return Ok(Ok(()));
            }
        };
        let mut off = 0;
        while off < file.items.len() {
            let chunk = take_batch(file.items[off..].iter());
            let refs: Vec<&[u8]> = file.items[off..off + chunk]
                .iter()
                .map(|b| &b[..])
                .collect();
            let first = file.first_seq + off as u64;
            let last = first + chunk as u64 - 1;
            link.send_body(
                wire::batch_body(file.origin, first, &refs),
                Instant::now() + ACK_TIMEOUT,
            )?;
            self.await_ack(link, file.origin, last)?;
            self.backoff = BACKOFF_MIN;
            off += chunk;
            self.sh.replayed.fetch_add(chunk as u64, Ordering::Relaxed);
        }
        Ok(match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!(
                    "cannot delete the replayed spool file {}: {e}",
                    path.display()
                ),
            )),
        })
    }

    /// Read frames until the owner acknowledges `origin` up to `want`.
    fn await_ack(&self, link: &mut Link<'a>, origin: u64, want: u64) -> io::Result<()> {
        let deadline = Instant::now() + ACK_TIMEOUT;
        loop {
            match link.recv(deadline)? {
                Frame::Ack { origin: o, seq } if o == origin => {
                    if o == self.origin {
                        let mut st = self.sh.state.lock();
                        self.sh.on_ack(&mut st, seq);
                    }
                    if seq >= want {
                        return Ok(());
                    }
                    // The owner stopped part-way; its Error frame follows.
                }
                Frame::Error {
                    code: ErrorCode::Rejected,
                    text,
                } => {
                    self.sh.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(reason = %text, "bxpush server rejected an event");
                    self.sh.state.lock().last_error = Some(text);
                }
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "unexpected {} frame from the bxpush server (wanted Ack)",
                            other.name()
                        ),
                    ))
                }
            }
        }
    }

    /// Send the next batch of own unsent items and wait for its ack.
    fn send_batch(&mut self, link: &mut Link<'a>) -> io::Result<Step> {
        let (first, items) = {
            let mut st = self.sh.state.lock();
            if st.spool_dirty {
                // Spooled since the replay pass: replay first, order matters.
                return Ok(Step::Again);
            }
            let start = st.queue.partition_point(|p| p.seq <= st.sent_upto);
            let n = take_batch(st.queue.range(start..).map(|p| &p.bytes));
            if n == 0 {
                return Ok(Step::Again);
            }
            let items: Vec<Bytes> = st
                .queue
                .range(start..start + n)
                .map(|p| p.bytes.clone())
                .collect();
            let first = st.queue[start].seq;
            st.sent_upto = first + n as u64 - 1;
            (first, items)
        };
        let refs: Vec<&[u8]> = items.iter().map(|b| &b[..]).collect();
        let last = first + items.len() as u64 - 1;
        link.send_body(
            wire::batch_body(self.origin, first, &refs),
            Instant::now() + ACK_TIMEOUT,
        )?;
        self.await_ack(link, self.origin, last)?;
        self.backoff = BACKOFF_MIN;
        Ok(Step::Next)
    }
}

/// How many of `items` go in one batch (at least one).
fn take_batch<'b>(items: impl Iterator<Item = &'b Bytes>) -> usize {
    let mut n = 0;
    let mut bytes = 0;
    for b in items {
        if n > 0 && (n >= BATCH_ITEMS || bytes + b.len() > BATCH_BYTES) {
            break;
        }
        n += 1;
        bytes += b.len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(tag: &str) -> ForwarderConfig {
        ForwarderConfig::new(
            PhpTarget::Unix(std::env::temp_dir().join(format!("bxpush-nowhere-{tag}.sock"))),
            std::env::temp_dir().join(format!("bxpush-spool-unit-{tag}-{}", std::process::id())),
        )
    }

    #[test]
    fn a_pid_change_yields_a_fresh_instance() {
        let slot = Mutex::new(None);
        let c = cfg("fork");
        let a = Forwarder::global_in(&slot, &c, 100);
        let a2 = Forwarder::global_in(&slot, &c, 100);
        assert!(Arc::ptr_eq(&a, &a2));
        // "Forked": pid 101 sees the instance of pid 100 and must not reuse it.
        let b = Forwarder::global_in(&slot, &c, 101);
        assert!(!Arc::ptr_eq(&a, &b));
        assert_ne!(a.origin(), b.origin());
        assert!(Arc::ptr_eq(&b, &Forwarder::global_in(&slot, &c, 101)));
        // A changed config replaces it too.
        let mut c2 = c.clone();
        c2.queue_items = 5;
        let d = Forwarder::global_in(&slot, &c2, 101);
        assert!(!Arc::ptr_eq(&b, &d));
        assert_eq!(d.config().queue_items, 5);
    }

    #[test]
    fn nothing_starts_before_first_use() {
        let f = Forwarder::new(cfg("lazy"));
        assert!(f.inner.thread.lock().is_none());
        let r = f.flush(Duration::from_millis(10));
        assert_eq!((r.acked, r.spooled), (0, 0));
        assert!(f.inner.thread.lock().is_none());
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
        assert!(f.inner.thread.lock().is_none());
    }

    #[test]
    fn config_debug_hides_the_key() {
        let mut c = cfg("dbg");
        c.signature_key = Some("very-secret".into());
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn batches_respect_item_and_byte_limits() {
        let small: Vec<Bytes> = (0..2500).map(|_| Bytes::from_static(b"12345")).collect();
        assert_eq!(take_batch(small.iter()), BATCH_ITEMS);
        let big: Vec<Bytes> = (0..3).map(|_| Bytes::from(vec![0u8; 3 << 20])).collect();
        assert_eq!(take_batch(big.iter()), 1);
        assert_eq!(take_batch(std::iter::empty()), 0);
    }
}
