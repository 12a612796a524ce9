//! Channels → subscribers: fan-out, resume from history, presence and per-channel limits.
//! The hub knows no sockets: transports hand it channel keys and read [`Subscriber`]s.
//! Every message enters through one gate, [`Hub::publish`] ([`publish`]).
//!
//! One lock orders everything: id allocation, the history append and the fan-out of a
//! message happen under it, and so do registration and the history read of a new
//! subscriber. So a subscriber sees every message exactly once and in id order, whether
//! it arrives by replay or live (no gap and no duplicate between the two).

pub mod cluster;
mod members;
pub mod publish;
pub mod quota;
pub mod stats;
pub mod subscriber;
pub mod watch;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::logging::streak::Streak;
use crate::message::Message;
use crate::protocol::{ChannelKey, MessageId};
use crate::store::Store;

pub use cluster::{ClusterEngine, HandoffMark, WatchChange};
pub use publish::{Publish, PublishError};
pub use stats::Counters;
pub use subscriber::{CloseReason, Subscriber};
pub use watch::Watches;

/// Limits the hub enforces.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Longest a message is kept (`storage.messageTTL`).
    pub max_ttl: u32,
    /// A channel counts as online this long after its last subscriber activity
    /// (`onlineTTL + onlineDelta` = 130 s in the Node server).
    pub online_ttl: u64,
    /// Connections allowed on one public channel; the oldest is closed with 4029.
    pub max_conn_per_channel: usize,
    /// Messages queued for one connection before it is cut off as a slow reader.
    pub max_queue: usize,
    /// Client publishes a second per publisher and per channel ([`quota`]).
    pub client_publish_rate: u32,
    pub channel_publish_rate: u32,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            max_ttl: 86_400,
            online_ttl: 130,
            max_conn_per_channel: 100,
            max_queue: 1024,
            client_publish_rate: 10,
            channel_publish_rate: 50,
        }
    }
}

#[derive(Default)]
struct ChannelEntry {
    /// By id, oldest first ([`members`]).
    subs: members::Members,
    /// Unix seconds of the last subscribe, pong, long-poll request or disconnect.
    last_seen: u64,
}

struct State {
    store: Box<dyn Store>,
    channels: HashMap<ChannelKey, ChannelEntry>,
    /// Redis mode only (see [`cluster`]).
    cluster: cluster::ClusterState,
    /// History writes refused in a row: the first is logged, the rest counted, and
    /// the first success after them says how many there were.
    failed_writes: Streak,
}

/// What a new subscription starts with.
pub struct Subscription {
    pub subscriber: Arc<Subscriber>,
    /// Stored messages after the resume `mid`, in id order (empty without a `mid`).
    pub replay: Vec<Arc<Message>>,
    /// The resume point was older than what history still holds: some messages for
    /// these channels expired or were evicted unseen.
    pub gap: bool,
}

pub struct Hub {
    state: Mutex<State>,
    /// Held by a publish's fan-out pass, taken before the hub lock is let go: passes run
    /// one at a time, in id order, outside the hub lock ([`publish`]).
    fanout: Mutex<()>,
    /// Threads a large fan-out pass is split over: the CPUs this process may run on.
    spread: usize,
    opts: HubOptions,
    next_sub_id: AtomicU64,
    shutting_down: AtomicBool,
    pub counters: Counters,
    /// Tag watches (`CPullWatch`) for the PHP hand-off.
    pub watches: Watches,
    /// The Redis engine, when several nodes share one Redis ([`cluster`]).
    cluster: OnceLock<Arc<dyn ClusterEngine>>,
    /// Rate quotas of client publishes.
    pub quotas: quota::PublishQuotas,
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Hub {
    pub fn new(store: Box<dyn Store>, opts: HubOptions) -> Self {
        Self {
            state: Mutex::new(State {
                store,
                channels: HashMap::new(),
                cluster: Default::default(),
                failed_writes: Streak::default(),
            }),
            quotas: quota::PublishQuotas::new(opts.client_publish_rate, opts.channel_publish_rate),
            fanout: Mutex::new(()),
            spread: std::thread::available_parallelism().map_or(1, |n| n.get()),
            opts,
            next_sub_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            counters: Counters::default(),
            watches: Watches::default(),
            cluster: OnceLock::new(),
        }
    }

    pub fn options(&self) -> &HubOptions {
        &self.opts
    }

    /// Register a subscriber on `channels` and read what it missed after `resume`.
    pub fn subscribe(&self, channels: Vec<ChannelKey>, resume: Option<MessageId>) -> Subscription {
        let id = self.next_sub_id.fetch_add(1, Ordering::Relaxed);
        let sub = Arc::new(Subscriber::new(
            id,
            channels.into_boxed_slice(),
            self.opts.max_queue,
        ));
        let now = now_unix();
        let mut kicked = Vec::new();
        let mut st = self.state.lock();
        for key in sub.channels.iter() {
            let entry = st.channels.entry(*key).or_default();
            entry.last_seen = now;
            entry.subs.add(sub.clone());
            if key.public && entry.subs.len() > self.opts.max_conn_per_channel {
                kicked.extend(entry.subs.pop_oldest());
            }
        }
        let cluster = self.cluster.get();
        let (replay, gap) = match (resume, cluster) {
            (Some(mid), None) => (
                st.store.since(&sub.channels, mid, now),
                st.store.gap_after(&sub.channels, mid),
            ),
            // Redis: the history is read outside the lock and merged (hub::cluster).
            (Some(_), Some(_)) => {
                st.cluster.start_pending(sub.id);
                (Vec::new(), false)
            }
            (None, _) => (Vec::new(), false),
        };
        // A kicked subscriber leaves every channel, not only the crowded one.
        for old in &kicked {
            Self::remove_locked(&mut st, old, now);
        }
        drop(st);
        if let (Some(engine), Some(mid)) = (cluster, resume) {
            engine.resume(sub.clone(), mid);
        }
        if self.shutting_down.load(Ordering::Acquire) {
            sub.close(CloseReason::Shutdown);
        }
        for old in kicked {
            old.close(CloseReason::TooManyConnections);
            self.counters
                .kicked_too_many
                .fetch_add(1, Ordering::Relaxed);
        }
        Subscription {
            subscriber: sub,
            replay,
            gap,
        }
    }

    fn remove_locked(st: &mut State, sub: &Subscriber, now: u64) {
        st.cluster.forget(sub.id);
        for key in sub.channels.iter() {
            if let Some(entry) = st.channels.get_mut(key) {
                entry.subs.remove(sub.id);
                entry.last_seen = now;
            }
        }
    }

    /// Remove a subscriber from its channels (connection closed). Its channels stay
    /// online for `online_ttl` (a reconnecting tab does not flicker offline).
    pub fn unsubscribe(&self, sub: &Subscriber) {
        let mut st = self.state.lock();
        Self::remove_locked(&mut st, sub, now_unix());
    }

    /// Online: a subscriber is connected now, or was within `online_ttl`.
    pub fn is_online(&self, key: &ChannelKey) -> bool {
        let now = now_unix();
        let st = self.state.lock();
        let here = st.channels.get(key).is_some_and(|e| {
            !e.subs.is_empty() || now.saturating_sub(e.last_seen) < self.opts.online_ttl
        });
        drop(st);
        // With Redis, a subscriber on another node counts too (its online key).
        here || self.cluster.get().is_some_and(|c| c.online_elsewhere(key))
    }

    /// Would a resume from `after` on `channels` miss messages that are no longer kept?
    /// (What [`Subscription::gap`] says, asked before subscribing: the WebSocket
    /// handshake's header.)
    pub fn history_gap(&self, channels: &[ChannelKey], after: MessageId) -> bool {
        self.state.lock().store.gap_after(channels, after)
    }

    /// The newest stored message id on any of `channels` (long-poll 304 header).
    pub fn newest(&self, channels: &[ChannelKey]) -> Option<MessageId> {
        if let Some(engine) = self.cluster.get() {
            return engine.newest(channels);
        }
        let st = self.state.lock();
        st.store.newest(channels, now_unix())
    }

    /// Channels with at least one connected subscriber.
    pub fn channel_count(&self) -> usize {
        let st = self.state.lock();
        st.channels.values().filter(|e| !e.subs.is_empty()).count()
    }

    /// Every channel entry held, including those kept only for presence (`online_ttl`)
    /// after their last subscriber left: what must drain to 0 once everyone is gone
    /// (the soak's check).
    pub fn channel_entries(&self) -> usize {
        self.state.lock().channels.len()
    }

    pub fn store_stats(&self) -> crate::store::StoreStats {
        self.state.lock().store.stats()
    }

    /// Periodic upkeep: expire history and tag watches, forget channels idle past the
    /// online TTL, compact the history log when it is mostly dead. Blocking file I/O:
    /// run it off the async workers.
    pub fn maintain(&self) -> io::Result<()> {
        let now = now_unix();
        self.watches.purge(now);
        self.quotas.forget_idle();
        let job = {
            let mut st = self.state.lock();
            let ttl = self.opts.online_ttl;
            st.channels
                .retain(|_, e| !e.subs.is_empty() || now.saturating_sub(e.last_seen) < ttl);
            st.store.purge(now)?;
            st.store.begin_compaction(now)?
        };
        // The log's rewrite is written without the lock: publishing goes on meanwhile
        // (see store::compaction); only its snapshot and its finish take the lock.
        let Some(mut job) = job else {
            return Ok(());
        };
        // Finished whatever happens, or the store would keep collecting its tail.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.write()))
            .unwrap_or_else(|_| Err(io::Error::other("log compaction panicked")));
        self.state.lock().store.finish_compaction(job, written)
    }

    /// Close every subscriber (they flush what is queued, then close with 1001) and
    /// flush the history to disk.
    pub fn shutdown(&self) -> io::Result<()> {
        self.shutting_down.store(true, Ordering::Release);
        let mut st = self.state.lock();
        for entry in st.channels.values() {
            for sub in &entry.subs {
                sub.close(CloseReason::Shutdown);
            }
        }
        st.store.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::publish::Publish;
    use crate::protocol::ChannelId;
    use crate::store::{MemoryStore, StoreOptions};
    use bytes::Bytes;

    /// Subscribers leave their channel whatever their place in it: each leaves once, the
    /// others stay and still receive.
    #[tokio::test]
    async fn subscribers_leave_from_any_place_in_a_channel() {
        let store = MemoryStore::open(StoreOptions::default()).unwrap();
        let hub = Hub::new(Box::new(store), HubOptions::default());
        let key = ChannelKey::private(ChannelId([7; 16]));
        let subs: Vec<_> = (0..9)
            .map(|_| hub.subscribe(vec![key], None).subscriber)
            .collect();
        for i in [4, 0, 8, 2, 1] {
            hub.unsubscribe(&subs[i]);
            hub.unsubscribe(&subs[i]);
        }
        let left: Vec<u64> = hub.state.lock().channels[&key]
            .subs
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(left, [3, 5, 6, 7].map(|i| subs[i].id));
        hub.publish(Publish::backend(
            vec![key],
            Bytes::from_static(b"x"),
            0,
            String::new(),
        ))
        .unwrap();
        for i in [3, 5, 6, 7] {
            assert_eq!(subs[i].recv().await.unwrap().len(), 1);
        }
        for i in [3, 5, 6, 7] {
            hub.unsubscribe(&subs[i]);
        }
        assert_eq!(hub.channel_count(), 0);
    }
}
