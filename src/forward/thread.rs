//! The forwarder thread: connect, replay the spool directory, send batches of the queue,
//! take acknowledgements; back off after failures. Plain std, all signals blocked; every
//! wait is bounded and notices a stop within [`super::link::SLICE`].
//!
//! Several owners (`bxpush.server = "a,b"`): the thread stays on the owner it is connected
//! to while it works. When that owner fails (connect refused or timed out, reset, no ack,
//! an Error frame that ends the connection: shutting down, disk full, Redis unreachable)
//! the next connection goes to the next owner of the list, wrapping around; the back-off
//! pause comes only after every owner failed once in a row, so a failover costs one
//! connect, not a pause. An earlier owner is used again only by the same rule (when the
//! current one fails), never probed while the current one works: no ping-pong.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::link::Link;
use super::queue::{take_batch, Shared};
use super::{spool, ForwarderConfig};
use crate::handoff::wire::{self, ErrorCode, Frame};

/// How long the owner has to acknowledge a batch before the connection is dropped.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the handshake after the connection is established.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The once-per-process note about failing over between owners (see [`Worker::connect`]).
static FAILOVER_NOTED: AtomicBool = AtomicBool::new(false);

/// The forwarder thread.
pub(super) fn run(shared: Arc<Shared>, cfg: Arc<ForwarderConfig>, origin: u64) {
    crate::handoff::block_signals_in_this_thread();
    let sh = &*shared;
    let mut w = Worker {
        sh,
        cfg: &cfg,
        origin,
        backoff: BACKOFF_MIN,
        stuck: Default::default(),
        next: 0,
        failures: 0,
        last_owner: None,
    };
    w.main_loop();
    let mut st = sh.state.lock();
    st.done = true;
    st.connected = false;
    st.owner = None;
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
    /// Index (in `cfg.owners`) of the owner connected to, or to connect to next.
    next: usize,
    /// Owner failures since the last acknowledged batch: a pause after each full round.
    failures: usize,
    /// The owner of the previous connection (a different one now is a failover).
    last_owner: Option<usize>,
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
                st.owner = None;
                // What was in flight is unacknowledged: send it again (the owner skips
                // what it applied; Welcome tells us that on reconnect).
                st.sent_upto = st.acked_seq;
                drop(st);
                // An owner that accepts and then fails (disk full, shutting down) must not
                // be hammered: the next owner is tried, and after a full round of failures
                // the thread backs off as after a failed connect.
                self.owner_failed();
            }
        }
    }

    /// The current owner failed: the next connection goes to the next owner of the
    /// list; once every owner failed in a row, pause (doubling) before going on.
    fn owner_failed(&mut self) {
        let n = self.cfg.owners.len();
        self.next = (self.next + 1) % n;
        self.failures += 1;
        if self.failures.is_multiple_of(n) {
            self.pause(self.backoff);
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// A batch was acknowledged: the owner works.
    fn owner_works(&mut self) {
        self.backoff = BACKOFF_MIN;
        self.failures = 0;
    }

    fn connect(&mut self) -> Option<Link<'a>> {
        let now = Instant::now();
        let connect_deadline = now + self.cfg.connect_timeout;
        let cfg = self.cfg;
        let owner = &cfg.owners.all()[self.next];
        let result = Link::connect(
            owner,
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
                st.owner = Some(self.next);
                drop(st);
                if self.last_owner.is_some_and(|o| o != self.next) {
                    self.sh.failovers.fetch_add(1, Ordering::Relaxed);
                    if !FAILOVER_NOTED.swap(true, Ordering::Relaxed) {
                        // Once per process: the operator should know that a failover is
                        // exactly-once only when the owners share their marks (Redis).
                        tracing::warn!(owner = %owner, "bxpush forwarder failed over to another owner; items move between owners exactly once only when every owner runs the Redis engine (--store redis://) on one Redis");
                    }
                }
                self.last_owner = Some(self.next);
                Some(link)
            }
            Err(e) => {
                if !self.stopping() {
                    // With several owners the error says which one failed.
                    match cfg.owners.len() {
                        1 => self.sh.note_error(&e),
                        _ => self
                            .sh
                            .note_error(format_args!("owner {owner} (bxpush.server): {e}")),
                    }
                }
                let mut st = self.sh.state.lock();
                st.connected = false;
                st.owner = None;
                drop(st);
                self.owner_failed();
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
            self.owner_works();
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
        self.owner_works();
        Ok(Step::Next)
    }
}
