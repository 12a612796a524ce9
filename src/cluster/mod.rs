//! The Redis engine (several nodes, issue 9): the task beside the hub that owns the
//! node's Redis connections, and the [`ClusterEngine`] the hub calls in Redis mode.
//! DESIGN.md "Several nodes (Redis)" is the design; in short:
//!
//! - publishing: through the node's group commit, outside the hub lock: concurrent
//!   publishes share one `INCRBY` + one `MULTI` (history + notifications), each
//!   answered after `EXEC`;
//! - every node (the publishing one too) fans out what its [`Sequencer`] releases from
//!   the `pushserver:*` stream, in id order;
//! - a resume reads history outside the lock and merges it with what was released
//!   meanwhile ([`Hub::finish_resume`]);
//! - Redis unreachable: `degraded` (one log line in, one out), publishes refused,
//!   reconnect with back-off, then what local channels missed is read back.
//!
//! Files: [`engine`] (the task: connection, stream, sequencer, recovery), [`presence`]
//! (online keys and the `stats` hash, once a second), [`sequencer`], [`commit`] (the
//! group commit, generic), `publish` (a batch's writes in Redis), `handoff` (the PHP
//! owners' shared marks and tag watches), and this file (the shared state and the
//! hub-facing calls).

pub mod commit;
pub mod engine;
mod handoff;
pub mod presence;
mod publish;
pub mod sequencer;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{watch, Notify};

use crate::hub::{ClusterEngine, HandoffMark, Hub, PublishError, Subscriber, WatchChange};
use crate::message::{Message, Receivers, Sender};
use crate::protocol::{ChannelKey, MessageId};
use crate::store::redis::conn;
use crate::store::redis::{layout, RedisConn, RedisUrl};
use commit::{Committer, PUBLISH_BOUNDS};
use publish::{Answer, Pending};

pub use sequencer::Sequencer;

/// The JSON this process writes into the `stats` hash (its `/server-stat/` object).
pub type StatsSource = Box<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Counters of the engine, shown under `bxpush.redis` in `/server-stat/`.
#[derive(Default)]
pub struct ClusterCounters {
    /// Publications received from the stream (all nodes, this one included).
    pub received: AtomicU64,
    /// Notifications that did not decode (a foreign or broken publisher).
    pub undecodable: AtomicU64,
    /// Ids released below the expected one (see [`sequencer`]).
    pub late: AtomicU64,
    /// Gaps given up after the hold.
    pub gaps_given_up: AtomicU64,
    /// Publishes refused because Redis was unreachable or failed.
    pub refused: AtomicU64,
    /// Times the node lost Redis.
    pub outages: AtomicU64,
    /// Messages read back for local channels after an outage.
    pub caught_up: AtomicU64,
    /// Tag watch pairs in Redis after the last add (all owners').
    pub watch_pairs: AtomicU64,
    /// Tag watch pairs dropped by the bound (by this node's adds).
    pub watches_evicted: AtomicU64,
}

pub struct Cluster {
    url: RedisUrl,
    /// `pushserver:<uid>`, this node's publishing channel.
    uid: String,
    /// The runtime the engine's I/O runs on (a blocking publish waits on it).
    rt: tokio::runtime::Handle,
    hub: Weak<Hub>,
    me: Weak<Cluster>,
    /// The command connection; `None` while Redis is unreachable.
    conn: RwLock<Option<RedisConn>>,
    /// Bumped at every (re)connection: resumes waiting for Redis watch it.
    generation: watch::Sender<u64>,
    degraded: AtomicBool,
    /// A publish or a read failed: the engine checks the connection now.
    suspect: Notify,
    /// The engine's first connection attempt ended (either way).
    attempted: Notify,
    process_id: String,
    /// Every publish of this node goes through it (`publish.rs`).
    committer: Committer<Pending, Answer>,
    stats_source: Mutex<Option<StatsSource>>,
    /// The other processes' `stats` entries, refreshed once a second.
    others: Mutex<Vec<serde_json::Value>>,
    pub counters: ClusterCounters,
}

fn unavailable(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        format!("Redis unavailable ({what}): message not published, retry later"),
    )
}

impl Cluster {
    /// Check that Redis answers with these credentials (a wrong password or database is
    /// refused here, naming the fix; an unreachable Redis is not: the node then starts
    /// degraded and connects when it can), attach the engine to `hub` and start its task.
    pub async fn start(
        url: RedisUrl,
        hub: &Arc<Hub>,
        process_id: String,
        stop: watch::Receiver<bool>,
    ) -> io::Result<(Arc<Cluster>, tokio::task::JoinHandle<()>)> {
        let rt = tokio::runtime::Handle::current();
        if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(io::Error::other(
                "the Redis store needs the multi-threaded tokio runtime (bxpush serve has it)",
            ));
        }
        if let Err(e) = RedisConn::connect(&url).await {
            if is_refusal(&e) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("Redis at {url} refused the connection: {e}; check the password and database number in --store"),
                ));
            }
            tracing::warn!(redis = %url, error = %e, "Redis unreachable at start: serving degraded until it answers");
        }
        let (generation, _) = watch::channel(0);
        let cluster = Arc::new_cyclic(|me| Cluster {
            url,
            uid: layout::new_uid(),
            rt,
            hub: Arc::downgrade(hub),
            me: me.clone(),
            conn: RwLock::new(None),
            generation,
            degraded: AtomicBool::new(false),
            suspect: Notify::new(),
            attempted: Notify::new(),
            process_id,
            committer: Committer::new(PUBLISH_BOUNDS),
            stats_source: Mutex::new(None),
            others: Mutex::new(Vec::new()),
            counters: ClusterCounters::default(),
        });
        hub.attach_cluster(cluster.clone());
        let task = tokio::spawn(engine::run(cluster.clone(), stop));
        // Serve only once subscribed to the stream (or known degraded): a node that
        // accepted subscribers before its PSUBSCRIBE would miss what they were sent.
        let first = FIRST_ATTEMPT + conn::CONNECT_TIMEOUT;
        let _ = tokio::time::timeout(first, cluster.attempted.notified()).await;
        Ok((cluster, task))
    }

    /// What this process writes into the `stats` hash every second.
    pub fn set_stats_source(&self, f: StatsSource) {
        *self.stats_source.lock() = Some(f);
    }

    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    pub fn uid(&self) -> &str {
        &self.uid
    }

    fn current(&self) -> Option<RedisConn> {
        self.conn.read().clone()
    }

    /// Run blocking `f` from synchronous code: on a runtime worker without stalling
    /// the other tasks of that worker (`block_in_place`), elsewhere directly.
    fn blocking<T>(&self, f: impl FnOnce() -> T) -> T {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(f),
            Err(_) => f(),
        }
    }

    /// Run `f` to completion from synchronous code (see [`Cluster::blocking`]).
    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.blocking(|| self.rt.block_on(f))
    }

    fn refuse(&self, e: io::Error) -> io::Error {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        e
    }

    /// `/server-stat/` counters of the engine.
    fn json(&self) -> serde_json::Value {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let b = &self.committer.stats;
        serde_json::json!({
            "degraded": self.degraded.load(Ordering::Relaxed),
            "uid": self.uid,
            "received": g(&c.received),
            "undecodable": g(&c.undecodable),
            "late": g(&c.late),
            "gapsGivenUp": g(&c.gaps_given_up),
            "refused": g(&c.refused),
            "outages": g(&c.outages),
            "caughtUp": g(&c.caught_up),
            "watchPairs": g(&c.watch_pairs),
            "watchesEvicted": g(&c.watches_evicted),
            "commits": g(&b.batches),
            "committed": g(&b.items),
            "largestCommit": g(&b.largest),
            "commitQueueFull": g(&b.full),
        })
    }
}

/// A reply that says the credentials or the database are wrong: retrying cannot help.
fn is_refusal(e: &redis::RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
    ) || e.code().is_some_and(|c| c == "WRONGPASS" || c == "NOAUTH")
        || e.to_string().contains("DB index is out of range")
}

/// A failure after which it is unknown whether Redis ran the command (the reply was
/// lost), as opposed to Redis answering with an error.
fn reply_lost(e: &redis::RedisError) -> bool {
    e.is_timeout() || e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

impl ClusterEngine for Cluster {
    fn publish(
        &self,
        receivers: Receivers,
        body: Bytes,
        expiry: u32,
        now_ms: u64,
        sender: Sender,
        mark: Option<HandoffMark>,
    ) -> Result<Arc<Message>, PublishError> {
        self.publish_pending(Pending {
            receivers,
            body,
            expiry,
            now_ms,
            sender,
            mark,
        })
    }

    fn handoff_mark(&self, origin: u64) -> io::Result<u64> {
        self.read_handoff_mark(origin)
    }

    fn move_handoff_mark(&self, mark: HandoffMark) -> io::Result<Option<u64>> {
        self.fence_handoff_mark(mark)
    }

    fn watch_change(
        &self,
        change: &WatchChange,
        now: u64,
        mark: Option<HandoffMark>,
    ) -> io::Result<Option<u64>> {
        self.change_watches(change, now, mark)
    }

    fn watch_users(&self, tags: &[String], now: u64) -> io::Result<Vec<i64>> {
        self.watchers(tags, now)
    }

    fn resume(&self, sub: Arc<Subscriber>, after: MessageId) {
        let Some(me) = self.me.upgrade() else { return };
        self.rt.spawn(engine::resume(me, sub, after));
    }

    fn online_elsewhere(&self, key: &ChannelKey) -> bool {
        let Some(mut conn) = self.current() else {
            return false;
        };
        let keys = [*key];
        match self.block_on(async move { conn.online(&keys).await }) {
            Ok(v) => v.first().copied().unwrap_or(false),
            Err(e) => {
                tracing::debug!(error = %e, "online key read failed");
                self.suspect.notify_one();
                false
            }
        }
    }

    fn newest(&self, channels: &[ChannelKey]) -> Option<MessageId> {
        let mut conn = self.current()?;
        let channels = channels.to_vec();
        self.block_on(async move { conn.newest(&channels).await })
            .inspect_err(|e| {
                tracing::debug!(error = %e, "newest id read failed");
                self.suspect.notify_one();
            })
            .ok()
            .flatten()
    }

    fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    fn status(&self) -> serde_json::Value {
        self.json()
    }

    fn other_stats(&self) -> Vec<serde_json::Value> {
        self.others.lock().clone()
    }
}

/// How long start-up waits for the engine's first session beyond one connect timeout.
const FIRST_ATTEMPT: Duration = Duration::from_secs(3);

/// How often presence and stats are written.
pub const PRESENCE_PERIOD: Duration = Duration::from_secs(1);
