//! The owner's side of the PHP hand-off: apply [`Item`]s to the hub exactly once per
//! (origin, seq), answer [`Query`]s, and remember what was applied across restarts.
//!
//! [`Ingress`] is sync and runtime-free: the socket listener ([`listener`]) calls it from
//! tokio tasks, and a PHP CLI process hosting the runtime calls it directly
//! ([`crate::runtime::Server::apply`], [`crate::runtime::Background::apply`]).
//!
//! Exactly-once: per origin the owner keeps the highest applied seq (its high-water mark).
//! A batch's items with a seq at or below it are skipped (counted as duplicates); the
//! others are applied in order and the mark moves to each. The marks are written to
//! `data_dir/ingress.state` (temp + rename) about every second when they changed, and at
//! shutdown; origins idle for more than 24 h are forgotten. A graceful restart therefore
//! never applies an item twice; a kill -9 can re-apply what was applied during the last
//! unpersisted second if a worker resends it (its ack was lost, or its spool copy remained).
//!
//! With the Redis engine the marks are shared by every owner on that Redis (a worker may
//! fail over between owners, DESIGN.md "Several owners"): each item moves its origin's
//! mark in Redis in the same atomic step as its write, which does nothing when the mark
//! is already there (another owner applied it); a worker's Hello reads the mark from
//! Redis. The local marks stay as a first filter and for the memory store.

pub mod listener;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::handoff::wire::WireError;
use crate::handoff::{Item, Query, Reply};
use crate::hub::{now_unix, HandoffMark, Publish, PublishError, WatchChange};
use crate::transport::{server_stat, App};

/// File in the data dir holding the per-origin high-water marks.
pub const STATE_FILE: &str = "ingress.state";
/// An origin not heard of for this long is forgotten.
pub const ORIGIN_IDLE: u64 = 86_400;
const STATE_HEADER: &str = "bxpush-ingress 1";

#[derive(Debug, Clone, Copy)]
struct Origin {
    applied: u64,
    seen: u64,
}

struct Origins {
    map: HashMap<u64, Origin>,
    /// Set at shutdown after the last persist: nothing is applied any more.
    closed: bool,
}

/// What became of one batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// The origin's high-water mark after the batch: what to acknowledge.
    pub applied: u64,
    pub applied_items: u64,
    pub duplicates: u64,
    /// Texts of items that were skipped because they cannot be applied.
    pub rejected: Vec<String>,
    /// Applying stopped here (history write failed, shutting down): retry later.
    pub error: Option<String>,
}

enum ApplyError {
    /// The item can never be applied: skip it.
    Rejected(String),
    /// Not now (disk): stop and let the worker retry.
    Failed(io::Error),
    /// Applied already by another owner sharing the Redis; its origin's mark is here.
    AlreadyApplied(u64),
}

impl From<PublishError> for ApplyError {
    fn from(e: PublishError) -> Self {
        match e {
            // (Quotas limit client publishes only; the hand-off publishes as BACKEND.)
            PublishError::NoReceivers | PublishError::Quota => ApplyError::Rejected(e.to_string()),
            // Nothing of the item was stored or delivered, and the origin's mark stays
            // before it: the worker's retry applies it exactly once.
            PublishError::History(e) => ApplyError::Failed(e),
            PublishError::AlreadyApplied(m) => ApplyError::AlreadyApplied(m),
        }
    }
}

pub struct Ingress {
    app: Arc<App>,
    key: Option<Vec<u8>>,
    origins: Mutex<Origins>,
    state_path: Option<PathBuf>,
    dirty: AtomicBool,
    last_reject_log: AtomicU64,
}

impl Ingress {
    /// Load the high-water marks from `data_dir` (if any).
    pub fn new(app: Arc<App>) -> io::Result<Ingress> {
        let key = app
            .config
            .signature_key
            .as_ref()
            .map(|k| k.as_bytes().to_vec());
        let state_path = app.config.data_dir.as_ref().map(|d| d.join(STATE_FILE));
        let map = match &state_path {
            Some(p) => load_state(p, now_unix())?,
            None => HashMap::new(),
        };
        app.hub
            .counters
            .ingress
            .origins
            .store(map.len() as u64, Ordering::Relaxed);
        Ok(Ingress {
            app,
            key,
            origins: Mutex::new(Origins { map, closed: false }),
            state_path,
            dirty: AtomicBool::new(false),
            last_reject_log: AtomicU64::new(0),
        })
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Whether the owner can resolve users to channels (needs the signature key).
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The highest seq of `origin` applied so far (0 = none known): what a worker's
    /// Welcome says. With the Redis engine, the higher of the local mark and the shared
    /// one (another owner may have applied more since this one last saw the origin: a
    /// worker that went A → B → A); the local mark is raised to it. Redis unreachable:
    /// the local mark, which may be low but is safe (applies are checked against Redis
    /// again, so a resend it causes is skipped there).
    pub fn applied(&self, origin: u64) -> u64 {
        let local = || {
            self.origins
                .lock()
                .map
                .get(&origin)
                .map_or(0, |o| o.applied)
        };
        let Some(engine) = self.app.hub.cluster() else {
            return local();
        };
        match engine.handoff_mark(origin) {
            Ok(shared) => self.raise(origin, shared),
            Err(e) => {
                tracing::debug!(error = %e, "shared hand-off mark unreadable; Welcome with the local one");
                local()
            }
        }
    }

    /// Raise `origin`'s local mark to at least `to`; the mark after.
    fn raise(&self, origin: u64, to: u64) -> u64 {
        let mut o = self.origins.lock();
        match o.map.get_mut(&origin) {
            Some(e) => {
                if to > e.applied {
                    e.applied = to;
                    self.dirty.store(true, Ordering::Release);
                }
                e.applied
            }
            None if to == 0 => 0,
            None => {
                o.map.insert(
                    origin,
                    Origin {
                        applied: to,
                        seen: now_unix(),
                    },
                );
                self.dirty.store(true, Ordering::Release);
                to
            }
        }
    }

    /// Apply one item now, without sequencing (the in-process path of a PHP CLI owner).
    pub fn apply(&self, item: Item) -> io::Result<()> {
        if self.origins.lock().closed {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the push server is shutting down",
            ));
        }
        match self.apply_one(item, now_unix(), None, false) {
            Ok(()) => {
                self.count(|c| &c.applied, 1);
                Ok(())
            }
            Err(ApplyError::Rejected(text)) => {
                self.count(|c| &c.rejected, 1);
                Err(io::Error::new(io::ErrorKind::InvalidInput, text))
            }
            Err(ApplyError::Failed(e)) => Err(e),
            Err(ApplyError::AlreadyApplied(_)) => Ok(()),
        }
    }

    /// Apply the items of a batch in order, skipping those already applied (see the
    /// module doc). Items that fail to decode or can never be applied are rejected and
    /// skipped; a failed history write stops the batch there.
    pub fn apply_batch(
        &self,
        origin: u64,
        first_seq: u64,
        items: Vec<Result<Item, WireError>>,
    ) -> BatchOutcome {
        let now = now_unix();
        let mut out = BatchOutcome::default();
        let mut origins = self.origins.lock();
        let mut applied = origins.map.get(&origin).map_or(0, |o| o.applied);
        if origins.closed {
            out.applied = applied;
            out.error = Some("the push server is shutting down".into());
            return out;
        }
        // With the Redis engine: the last seq whose apply moved the shared mark.
        let mut shared_upto = applied;
        let n = items.len();
        for (i, item) in items.into_iter().enumerate() {
            let seq = first_seq.wrapping_add(i as u64);
            if seq <= applied {
                out.duplicates += 1;
                continue;
            }
            let mark = HandoffMark { origin, seq };
            let result = match item {
                Ok(item) => self.apply_one(item, now, Some(mark), i + 1 < n),
                Err(e) => Err(ApplyError::Rejected(e.text)),
            };
            match result {
                Ok(()) => {
                    out.applied_items += 1;
                    shared_upto = seq;
                }
                Err(ApplyError::Rejected(text)) => out.rejected.push(text),
                Err(ApplyError::Failed(e)) => {
                    out.error = Some(format!("cannot apply items now: {e}"));
                    break;
                }
                // Another owner applied it, and maybe more: skip up to its mark.
                Err(ApplyError::AlreadyApplied(at)) => {
                    out.duplicates += 1;
                    applied = at.max(seq);
                    shared_upto = applied;
                    continue;
                }
            }
            applied = seq;
        }
        // Rejected items at the end moved only the local mark: move the shared one past
        // them too, so another owner does not reject them again (best effort: if this
        // fails, the worst is a second rejection).
        if applied > shared_upto {
            if let Some(engine) = self.app.hub.cluster() {
                let _ = engine.move_handoff_mark(HandoffMark {
                    origin,
                    seq: applied,
                });
            }
        }
        let before = origins.map.len();
        let e = origins
            .map
            .entry(origin)
            .or_insert(Origin { applied, seen: now });
        e.applied = applied;
        e.seen = now;
        let len = origins.map.len();
        drop(origins);
        if len != before {
            self.app
                .hub
                .counters
                .ingress
                .origins
                .store(len as u64, Ordering::Relaxed);
        }
        self.dirty.store(true, Ordering::Release);
        self.count(|c| &c.batches, 1);
        self.count(|c| &c.applied, out.applied_items);
        self.count(|c| &c.duplicates, out.duplicates);
        self.count(|c| &c.rejected, out.rejected.len() as u64);
        if let Some(first) = out.rejected.first() {
            self.log_rejected(first, out.rejected.len());
        }
        out.applied = applied;
        out
    }

    fn count(&self, f: fn(&crate::hub::stats::IngressCounters) -> &AtomicU64, n: u64) {
        if n > 0 {
            f(&self.app.hub.counters.ingress).fetch_add(n, Ordering::Relaxed);
        }
    }

    /// At most one line per second: a worker stuck on bad items must not flood the log.
    fn log_rejected(&self, text: &str, n: usize) {
        let now = now_unix();
        let last = self.last_reject_log.load(Ordering::Relaxed);
        if now != last
            && self
                .last_reject_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(items = n, reason = text, "PHP hand-off items rejected");
        }
    }

    /// Apply one item; `mark` is its place in its worker's sequence (`None`: the
    /// in-process path, which has none); `more_follow`: later items of the same batch
    /// come next (see [`Publish::batched`]).
    fn apply_one(
        &self,
        item: Item,
        now: u64,
        mark: Option<HandoffMark>,
        more_follow: bool,
    ) -> Result<(), ApplyError> {
        let hub = &self.app.hub;
        let publish = |p: Publish| {
            let p = p.batched(more_follow);
            match mark {
                Some(m) => hub.publish(p.with_handoff(m)),
                None => hub.publish(p),
            }
        };
        match item {
            Item::Publish {
                receivers,
                body,
                expiry,
                kind,
            } => {
                publish(Publish::backend(receivers, body, expiry, kind))?;
            }
            Item::WatchAdd { user_id, tags, ttl } => {
                let change = WatchChange::Add {
                    user: user_id,
                    tags,
                    ttl,
                };
                self.watch(change, now, mark)?;
            }
            Item::WatchDelete { user_id, tag } => {
                self.watch(WatchChange::Delete { user: user_id, tag }, now, mark)?;
            }
            Item::PublishToTags {
                tags,
                skip_users,
                body,
                expiry,
                kind,
            } => {
                let Some(key) = &self.key else {
                    return Err(ApplyError::Rejected(
                        "PublishToTags needs the signature key to derive user channels, and this push server runs without one: set --signature-key (the pull module's key)".into(),
                    ));
                };
                let users = hub.watch_users(&tags, now).map_err(ApplyError::Failed)?;
                let receivers: Vec<_> = users
                    .into_iter()
                    .filter(|u| !skip_users.contains(u))
                    .flat_map(|u| crate::users::delivery_channels(key, u, now))
                    .collect();
                // Nobody watches these tags (any more): nothing to deliver, not an error.
                if receivers.is_empty() {
                    return self.fence(mark);
                }
                publish(Publish::backend(receivers, body, expiry, kind))?;
            }
        }
        Ok(())
    }

    /// For an item that writes nothing to Redis itself: with the Redis engine, move its
    /// origin's shared mark first (one atomic step that does nothing when another owner
    /// applied the item), and apply the item only if it moved. Without Redis: nothing.
    fn fence(&self, mark: Option<HandoffMark>) -> Result<(), ApplyError> {
        let (Some(engine), Some(mark)) = (self.app.hub.cluster(), mark) else {
            return Ok(());
        };
        match engine.move_handoff_mark(mark) {
            Ok(None) => Ok(()),
            Ok(Some(at)) => Err(ApplyError::AlreadyApplied(at)),
            Err(e) => Err(ApplyError::Failed(e)),
        }
    }

    /// A tag watch change: the hub's registry, or Redis (with the item's mark moved in
    /// the same step, so another owner's copy of the item is skipped).
    fn watch(
        &self,
        change: WatchChange,
        now: u64,
        mark: Option<HandoffMark>,
    ) -> Result<(), ApplyError> {
        match self.app.hub.watch_change(change, now, mark) {
            Ok(None) => Ok(()),
            Ok(Some(at)) => Err(ApplyError::AlreadyApplied(at)),
            Err(e) => Err(ApplyError::Failed(e)),
        }
    }

    /// Answer a query.
    pub fn query(&self, q: Query) -> Reply {
        self.count(|c| &c.queries, 1);
        let hub = &self.app.hub;
        match q {
            Query::ChannelStats(keys) => {
                Reply::ChannelStats(keys.iter().map(|k| hub.is_online(k)).collect())
            }
            // Redis unreachable: nobody known to watch (Bitrix's answer when its
            // database read fails is an empty list too).
            Query::WatchUsers(tags) => Reply::Users(
                hub.watch_users(&tags, now_unix())
                    .inspect_err(|e| tracing::debug!(error = %e, "watchers unreadable"))
                    .unwrap_or_default(),
            ),
            Query::ServerStats => Reply::ServerStats(server_stat::json(&self.app).to_string()),
        }
    }

    /// Forget origins idle for more than a day.
    pub fn forget_idle(&self, now: u64) {
        let mut o = self.origins.lock();
        let before = o.map.len();
        o.map
            .retain(|_, v| now.saturating_sub(v.seen) <= ORIGIN_IDLE);
        if o.map.len() != before {
            self.dirty.store(true, Ordering::Release);
            self.app
                .hub
                .counters
                .ingress
                .origins
                .store(o.map.len() as u64, Ordering::Relaxed);
        }
    }

    /// Write the high-water marks if they changed since the last write.
    pub fn persist(&self) -> io::Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let snapshot: Vec<(u64, Origin)> = {
            let o = self.origins.lock();
            o.map.iter().map(|(k, v)| (*k, *v)).collect()
        };
        self.write_state(&snapshot).inspect_err(|_| {
            self.dirty.store(true, Ordering::Release);
        })
    }

    /// Stop applying (later batches answer "unavailable") and write the marks: after
    /// this, what was applied and what is persisted are the same.
    pub fn close(&self) -> io::Result<()> {
        let snapshot: Vec<(u64, Origin)> = {
            let mut o = self.origins.lock();
            o.closed = true;
            o.map.iter().map(|(k, v)| (*k, *v)).collect()
        };
        self.dirty.store(false, Ordering::Release);
        self.write_state(&snapshot)
    }

    fn write_state(&self, snapshot: &[(u64, Origin)]) -> io::Result<()> {
        let Some(path) = &self.state_path else {
            return Ok(());
        };
        let mut text = String::with_capacity(64 + snapshot.len() * 48);
        text.push_str(STATE_HEADER);
        text.push('\n');
        for (origin, o) in snapshot {
            text.push_str(&format!("{origin:016x} {} {}\n", o.applied, o.seen));
        }
        let tmp = path.with_extension("state.tmp");
        let ctx = |e: io::Error, what: &str| {
            io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
        };
        let mut f = std::fs::File::create(&tmp).map_err(|e| ctx(e, "write"))?;
        f.write_all(text.as_bytes()).map_err(|e| ctx(e, "write"))?;
        if self.app.config.fsync {
            f.sync_all().map_err(|e| ctx(e, "fsync"))?;
        }
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| ctx(e, "replace"))
    }
}

/// Read `ingress.state`; a missing file is empty, malformed lines are skipped, origins
/// idle for more than a day are dropped.
fn load_state(path: &std::path::Path, now: u64) -> io::Result<HashMap<u64, Origin>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let mut lines = text.lines();
    if lines.next() != Some(STATE_HEADER) {
        tracing::warn!(path = %path.display(), "unknown ingress state format: ignored");
        return Ok(HashMap::new());
    }
    let mut map = HashMap::new();
    for line in lines {
        let mut f = line.split_ascii_whitespace();
        let parsed = (|| {
            let origin = u64::from_str_radix(f.next()?, 16).ok()?;
            let applied = f.next()?.parse().ok()?;
            let seen = f.next()?.parse().ok()?;
            Some((origin, Origin { applied, seen }))
        })();
        match parsed {
            Some((origin, o)) if now.saturating_sub(o.seen) <= ORIGIN_IDLE => {
                map.insert(origin, o);
            }
            Some(_) => {}
            None => tracing::warn!(line, "malformed line in {}: skipped", path.display()),
        }
    }
    Ok(map)
}
