//! The hub's Redis mode (several nodes, DESIGN.md "Several nodes (Redis)"), behind one
//! seam: a [`ClusterEngine`] attached once at start. Without one the hub is the
//! single-node hub (memory store under the hub lock) and nothing here runs.
//!
//! With an engine:
//! - `Hub::publish` hands the message to the engine (its group commit: id from the
//!   cluster counter, one `MULTI` with the history writes and the notifications of the
//!   batch) and fans out nothing itself:
//!   every node, the publishing one included, fans out what its sequencer releases from
//!   the pub/sub stream ([`Hub::release`]), so local and remote messages share one order;
//! - `Hub::subscribe` with a resume `mid` registers the subscriber as *pending* (what is
//!   released meanwhile is kept aside for it), and the engine reads its history outside
//!   the lock and hands it to [`Hub::finish_resume`], which merges the two under the lock.
//!
//! - tag watches ([`Hub::watch_change`], [`Hub::watch_users`]) live in Redis, shared by
//!   every owner, instead of the hub's registry.
//!
//! The hub lock still covers only local work; no Redis call happens under it.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::{CloseReason, Hub, PublishError, Subscriber};
use crate::message::{Message, Receivers, Sender};
use crate::protocol::{ChannelKey, MessageId};

/// A PHP hand-off item's place in its worker's sequence (DESIGN.md "Exactly-once"):
/// with the Redis engine, applying it moves the origin's mark in Redis in the same atomic
/// step as the item's write, so every owner sharing the Redis skips it afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffMark {
    pub origin: u64,
    pub seq: u64,
}

/// A change of the tag watches (`CPullWatch`): kept in the hub's registry, or in Redis
/// with the engine (shared by every owner of the cluster).
#[derive(Debug, Clone, PartialEq)]
pub enum WatchChange {
    /// `user` watches each of `tags` for `ttl` seconds (adding or extending).
    Add {
        user: i64,
        tags: Vec<String>,
        ttl: u32,
    },
    /// `user` stops watching `tag`, or every tag when `None`.
    Delete { user: i64, tag: Option<String> },
}

/// What the hub needs from the Redis engine. Implemented by `crate::cluster::Cluster`.
pub trait ClusterEngine: Send + Sync {
    /// Allocate the message's id from the cluster counter, store it (expiry > 0) and
    /// publish its notification; return once Redis answered the `EXEC`. Blocking: called
    /// from the publishing gate, which is synchronous. With a hand-off `mark`, the writes
    /// and the mark's move are one atomic step that does nothing when the mark is already
    /// at or above the item ([`PublishError::AlreadyApplied`]).
    fn publish(
        &self,
        receivers: Receivers,
        body: Bytes,
        expiry: u32,
        now_ms: u64,
        sender: Sender,
        mark: Option<HandoffMark>,
    ) -> Result<Arc<Message>, PublishError>;
    /// The shared mark of hand-off origin `origin` (0: none), for a worker's Welcome.
    fn handoff_mark(&self, origin: u64) -> io::Result<u64>;
    /// Move `mark.origin`'s shared mark to `mark.seq` unless it is there already: for
    /// hand-off items that write nothing to Redis themselves (tag watches, a tag publish
    /// nobody watches). `Ok(None)`: moved, apply the item; `Ok(Some(m))`: another owner
    /// applied it (the mark is at `m` ≥ seq), skip it.
    fn move_handoff_mark(&self, mark: HandoffMark) -> io::Result<Option<u64>>;
    /// Apply a tag watch change in Redis at `now`; with a hand-off `mark`, atomically
    /// with the mark's move (the answer is [`ClusterEngine::move_handoff_mark`]'s).
    fn watch_change(
        &self,
        change: &WatchChange,
        now: u64,
        mark: Option<HandoffMark>,
    ) -> io::Result<Option<u64>>;
    /// Users watching any of `tags` at `now` (sorted, distinct), from Redis.
    fn watch_users(&self, tags: &[String], now: u64) -> io::Result<Vec<i64>>;
    /// Read what `sub` missed after `after` and hand it to [`Hub::finish_resume`]
    /// (asynchronously, retried until Redis answers or the subscriber is gone).
    fn resume(&self, sub: Arc<Subscriber>, after: MessageId);
    /// Whether another node has a subscriber on `key` (its online key exists).
    fn online_elsewhere(&self, key: &ChannelKey) -> bool;
    /// The newest stored id on any of `channels` (`None` too when Redis cannot say).
    fn newest(&self, channels: &[ChannelKey]) -> Option<MessageId>;
    /// Redis is unreachable now (publishes are refused).
    fn degraded(&self) -> bool;
    /// The engine's own state and counters (`bxpush.redis` in `/server-stat/`).
    fn status(&self) -> serde_json::Value;
    /// `/server-stat/` of the other processes of the cluster (Node and bxpush alike).
    fn other_stats(&self) -> Vec<serde_json::Value>;
}

/// The hub's Redis-mode state, under the hub lock.
#[derive(Default)]
pub(super) struct ClusterState {
    /// Subscribers whose history is being read: what was released for them meanwhile.
    pending: HashMap<u64, Vec<Arc<Message>>>,
    /// W: the highest id released to this hub (or known published when the sequencer
    /// was (re)started). A history id at or below it was either released before a
    /// subscriber registered or is in its pending list.
    released: Option<MessageId>,
}

impl ClusterState {
    pub(super) fn forget(&mut self, sub_id: u64) {
        self.pending.remove(&sub_id);
    }

    pub(super) fn start_pending(&mut self, sub_id: u64) {
        self.pending.insert(sub_id, Vec::new());
    }

    fn note_released(&mut self, mid: MessageId) {
        if self.released.is_none_or(|w| mid > w) {
            self.released = Some(mid);
        }
    }
}

impl Hub {
    /// Switch this hub to Redis mode. Once, before serving.
    pub fn attach_cluster(&self, engine: Arc<dyn ClusterEngine>) {
        if self.cluster.set(engine).is_err() {
            panic!("a cluster engine is attached once");
        }
    }

    pub fn cluster(&self) -> Option<&Arc<dyn ClusterEngine>> {
        self.cluster.get()
    }

    /// The publishing gate's Redis branch (receivers already distinct and non-empty).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn publish_clustered(
        &self,
        engine: &Arc<dyn ClusterEngine>,
        receivers: Receivers,
        expiry: u32,
        body: Bytes,
        sender: Sender,
        label: &str,
        mark: Option<HandoffMark>,
    ) -> Result<Arc<Message>, PublishError> {
        let now = super::now_ms();
        let msg = engine.publish(receivers, body, expiry, now, sender, mark)?;
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        self.counters.count_message(label, now / 1000);
        Ok(msg)
    }

    /// Apply a tag watch change: to the hub's registry, or with the engine to Redis (see
    /// [`ClusterEngine::watch_change`]; without it `mark` is the caller's business and
    /// the answer is always `Ok(None)`).
    pub fn watch_change(
        &self,
        change: WatchChange,
        now: u64,
        mark: Option<HandoffMark>,
    ) -> io::Result<Option<u64>> {
        if let Some(engine) = self.cluster.get() {
            return engine.watch_change(&change, now, mark);
        }
        match change {
            WatchChange::Add { user, tags, ttl } => self.watches.add(user, &tags, ttl, now),
            WatchChange::Delete { user, tag } => self.watches.delete(user, tag.as_deref()),
        }
        Ok(None)
    }

    /// Users watching any of `tags` at `now`: the hub's registry, or Redis.
    pub fn watch_users(&self, tags: &[String], now: u64) -> io::Result<Vec<i64>> {
        match self.cluster.get() {
            Some(engine) => engine.watch_users(tags, now),
            None => Ok(self.watches.users(tags, now)),
        }
    }

    /// Everything up to `mid` is known published: the sequencer (re)started after it.
    pub fn note_released(&self, mid: MessageId) {
        self.state.lock().cluster.note_released(mid);
    }

    /// Fan out messages the sequencer released, in order.
    pub fn release(&self, msgs: &[Arc<Message>]) {
        if msgs.is_empty() {
            return;
        }
        let max_queue = self.opts.max_queue;
        let mut cut = 0u64;
        let mut st = self.state.lock();
        let st = &mut *st;
        for msg in msgs {
            for key in msg.receivers.iter() {
                let Some(entry) = st.channels.get(key) else {
                    continue;
                };
                for sub in &entry.subs {
                    match st.cluster.pending.get_mut(&sub.id) {
                        Some(held) if held.len() >= max_queue => {
                            sub.close(CloseReason::SlowReader);
                            st.cluster.pending.remove(&sub.id);
                            cut += 1;
                        }
                        Some(held) => held.push(msg.clone()),
                        None => {
                            if !sub.push(msg) {
                                cut += 1;
                            }
                        }
                    }
                }
            }
            st.cluster.note_released(msg.mid);
        }
        if cut > 0 {
            self.counters
                .slow_readers_cut
                .fetch_add(cut, Ordering::Relaxed);
        }
    }

    /// The history a pending subscriber missed is read: deliver it merged with what was
    /// released meanwhile, in id order, each once, then let it go live. History ids
    /// above W are left out: they are not released yet, and will reach the subscriber
    /// live (it is registered), in their order.
    pub fn finish_resume(&self, sub: &Arc<Subscriber>, history: Vec<Message>) {
        let mut st = self.state.lock();
        let Some(held) = st.cluster.pending.remove(&sub.id) else {
            return; // gone meanwhile
        };
        let w = st.cluster.released;
        let mut all: Vec<Arc<Message>> = history
            .into_iter()
            .filter(|m| w.is_some_and(|w| m.mid <= w))
            .map(Arc::new)
            .chain(held)
            .collect();
        all.sort_by_key(|m| m.mid);
        all.dedup_by_key(|m| m.mid);
        // The replay goes through the bounded queue: a longer one keeps its newest part
        // (what an evicted history would give) rather than cutting the connection, which
        // would only resume and overflow again.
        let excess = all.len().saturating_sub(self.opts.max_queue);
        all.drain(..excess);
        // Still under the lock: a release after this one finds the subscriber live and
        // queues behind these, never before them.
        for m in &all {
            if !sub.push(m) {
                self.counters
                    .slow_readers_cut
                    .fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }

    /// Messages read back from one channel's history (after an outage), in id order:
    /// to its live subscribers through their "above the last id" filter, to pending ones
    /// through their merge.
    pub fn deliver_to_channel(&self, key: &ChannelKey, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        let msgs: Vec<Arc<Message>> = msgs.into_iter().map(Arc::new).collect();
        let mut st = self.state.lock();
        let st = &mut *st;
        let Some(entry) = st.channels.get(key) else {
            return;
        };
        for sub in &entry.subs {
            match st.cluster.pending.get_mut(&sub.id) {
                Some(held) => held.extend(msgs.iter().cloned()),
                None => {
                    for m in &msgs {
                        if !sub.push(m) {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Whether `sub` still waits for its history (the engine gives up on one that left).
    pub fn is_pending(&self, sub_id: u64) -> bool {
        self.state.lock().cluster.pending.contains_key(&sub_id)
    }

    /// Channels with a subscriber on this node (presence refresh, catch-up after an
    /// outage).
    pub fn local_channels(&self) -> Vec<ChannelKey> {
        let st = self.state.lock();
        st.channels
            .iter()
            .filter(|(_, e)| !e.subs.is_empty())
            .map(|(k, _)| *k)
            .collect()
    }

    /// The highest id released so far (W).
    pub fn released(&self) -> Option<MessageId> {
        self.state.lock().cluster.released
    }
}
