//! The in-memory history: per channel, a queue of the newest messages in mid order.
//!
//! A message addressed to many channels is one `Arc<Message>` pointed to from each of
//! their queues: the body is never copied. A queue holds at most `max_per_channel`
//! messages and `max_channel_bytes` of bodies (oldest evicted); each message lives until
//! its TTL (min(expiry, max_ttl)) runs out; all of history holds at most `max_bytes`
//! (oldest evicted). Messages a client published count against its publisher's
//! `max_publisher_bytes` too, and over it that publisher's own oldest go first: one
//! client cannot push everyone else's history out. No I/O here: [`super::MemoryStore`]
//! persists what it inserts.
//!
//! The entries held here never carry a wire encoding: [`Index::since`] hands out
//! [`Message::detached`] copies (the body shared), so what the transports encode for a
//! replay is freed with the replay, and the bytes counted are the bytes held.
//!
//! Gaps: a channel remembers the newest id it lost (by cap, bytes or TTL). When it loses
//! everything its entry goes, but the mark stays as a tombstone (bounded, forgotten after
//! the TTL, and then folded into one floor), so a client resuming from before it is
//! still told that it missed messages.
//!
//! Costs (n = messages in a channel, at most `max_per_channel`; M = messages held):
//! insert O(receivers · log M) plus O(n) per receiver only if a message arrives out of
//! mid order; since O(k log k) for k returned; expiry O(receivers · n) per expired
//! message; gap_after O(channels); newest O(channels) unless the newest ones expired.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::message::{Message, Sender};
use crate::protocol::{ChannelId, ChannelKey, MessageId};

use super::expires_at;

/// At most this many emptied channels keep their "dropped up to" mark (~60 bytes each);
/// the oldest beyond it are folded into the floor.
pub const MAX_TOMBSTONES: usize = 100_000;

/// What one held message costs besides its body: the `Message` itself, its entry in
/// the index and the expiry set, and a queue slot per receiver (measured with the
/// history benchmark, see DESIGN.md "Bounded history").
pub const MESSAGE_OVERHEAD: u64 = 200;
/// Per receiver: the key in the message and the queue slot.
pub const RECEIVER_OVERHEAD: u64 = 32;

/// One held message (present in at least one channel's queue).
#[derive(Debug)]
struct Held {
    msg: Arc<Message>,
    /// How many channel queues still hold it; dropped from the index at 0.
    holders: u32,
    /// Bytes of its record(s) in the log, to know how much of the log is still live.
    record_len: u32,
    expires_at: u64,
}

/// Bytes a message is charged: its body and its bookkeeping.
fn cost(msg: &Message) -> u64 {
    msg.body.len() as u64 + MESSAGE_OVERHEAD + RECEIVER_OVERHEAD * msg.receivers.len() as u64
}

/// One channel's history. Exists only while it holds at least one message, so that the
/// number of entries is bounded by what is held.
#[derive(Debug, Default)]
struct History {
    /// Sorted by mid, oldest first.
    queue: VecDeque<Arc<Message>>,
    /// Body bytes of the queue.
    bytes: u64,
    /// The largest mid removed from this channel by the cap or by expiry: a client that
    /// resumes from below it may have missed messages.
    dropped_upto: Option<MessageId>,
}

impl History {
    fn note_dropped(&mut self, mid: MessageId) {
        if self.dropped_upto.is_none_or(|d| d < mid) {
            self.dropped_upto = Some(mid);
        }
    }
}

/// What one client publisher holds in history.
#[derive(Debug, Default)]
struct Publisher {
    bytes: u64,
    /// Its held messages, oldest first.
    mids: VecDeque<MessageId>,
}

/// An emptied channel's mark.
#[derive(Debug, Clone, Copy)]
struct Tomb {
    mark: MessageId,
    /// Which entry of the order (which holds when it may be forgotten) is this one's.
    seq: u64,
}

/// Limits of an [`Index`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_per_channel: usize,
    pub max_ttl: u32,
    /// Bytes (bodies + bookkeeping) of all history.
    pub max_bytes: u64,
    /// Body bytes one channel holds.
    pub max_channel_bytes: u64,
    /// Bytes held of the messages one client published.
    pub max_publisher_bytes: u64,
}

impl Limits {
    /// Only the count, the TTL and the total (tests, tools).
    pub fn new(max_per_channel: usize, max_ttl: u32, max_bytes: u64) -> Self {
        Limits {
            max_per_channel,
            max_ttl,
            max_bytes,
            max_channel_bytes: u64::MAX,
            max_publisher_bytes: u64::MAX,
        }
    }
}

/// Messages by channel, with eviction by count, bytes and age.
#[derive(Debug)]
pub struct Index {
    limits: Limits,
    messages: BTreeMap<MessageId, Held>,
    channels: HashMap<ChannelKey, History>,
    publishers: HashMap<ChannelId, Publisher>,
    /// (expires_at, mid) of every held message: purge pops from the front. Entries leave
    /// with their message, so this is bounded by what is held.
    expiry: BTreeSet<(u64, MessageId)>,
    /// Emptied channels' "dropped up to" marks.
    tombstones: HashMap<ChannelKey, Tomb>,
    /// (forget at, seq, key) in burial order; an entry whose tombstone was replaced or
    /// revived (another seq) is skipped when it comes up.
    tomb_order: VecDeque<(u64, u64, ChannelKey)>,
    tomb_seq: u64,
    /// The largest mark of a forgotten tombstone: a resume from below it, on a channel
    /// the index knows nothing of, may have missed messages.
    forgotten_floor: Option<MessageId>,
    body_bytes: u64,
    held_bytes: u64,
    record_bytes: u64,
    /// Messages evicted by the byte limits (total, channel, publisher), not by count or TTL.
    evicted_by_bytes: u64,
}

impl Index {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            messages: BTreeMap::new(),
            channels: HashMap::new(),
            publishers: HashMap::new(),
            expiry: BTreeSet::new(),
            tombstones: HashMap::new(),
            tomb_order: VecDeque::new(),
            tomb_seq: 0,
            forgotten_floor: None,
            body_bytes: 0,
            held_bytes: 0,
            record_bytes: 0,
            evicted_by_bytes: 0,
        }
    }

    pub fn contains(&self, mid: &MessageId) -> bool {
        self.messages.contains_key(mid)
    }

    /// Add `msg` to the history of each of its (distinct) receivers, evicting the oldest
    /// message of a channel that goes over its count or byte cap, then the publisher's
    /// oldest over its quota, then the oldest of all over the total. `record_len` is what
    /// its record takes in the log. Returns false (and changes nothing) for an id already
    /// held or a message without receivers.
    pub fn insert(&mut self, msg: Arc<Message>, record_len: u32) -> bool {
        if msg.receivers.is_empty() || self.messages.contains_key(&msg.mid) {
            return false;
        }
        // Never an encoded copy: see the module doc.
        let msg = if msg.is_encoded() {
            Arc::new(msg.detached())
        } else {
            msg
        };
        let mid = msg.mid;
        let exp = expires_at(&msg, self.limits.max_ttl);
        self.messages.insert(
            mid,
            Held {
                msg: msg.clone(),
                holders: 0,
                record_len,
                expires_at: exp,
            },
        );
        self.expiry.insert((exp, mid));
        self.body_bytes += msg.body.len() as u64;
        self.held_bytes += cost(&msg);
        self.record_bytes += record_len as u64;
        let body = msg.body.len() as u64;
        if let Sender::Client(id) = msg.sender {
            let p = self.publishers.entry(id).or_default();
            p.bytes += cost(&msg);
            let at = p.mids.partition_point(|m| *m < mid);
            p.mids.insert(at, mid);
        }

        let mut evicted: Vec<MessageId> = Vec::new();
        let mut by_bytes = 0;
        // `Receivers` are distinct: each channel queue gets the message once.
        for key in msg.receivers.iter() {
            let carried = self.tombstones.remove(key).map(|t| t.mark);
            let h = self.channels.entry(*key).or_default();
            if let Some(mark) = carried {
                h.note_dropped(mark);
            }
            match h.queue.back() {
                Some(last) if last.mid > mid => {
                    // Out of order (ids allocated in one order, appended in another).
                    let at = h.queue.partition_point(|m| m.mid < mid);
                    h.queue.insert(at, msg.clone());
                }
                _ => h.queue.push_back(msg.clone()),
            }
            h.bytes += body;
            if let Some(held) = self.messages.get_mut(&mid) {
                held.holders += 1;
            }
            // The new message itself stays even when it alone is over the byte cap.
            while h.queue.len() > self.limits.max_per_channel
                || (h.bytes > self.limits.max_channel_bytes && h.queue.len() > 1)
            {
                let over_count = h.queue.len() > self.limits.max_per_channel;
                let Some(old) = h.queue.pop_front() else {
                    break;
                };
                h.bytes -= old.body.len() as u64;
                h.note_dropped(old.mid);
                evicted.push(old.mid);
                by_bytes += u64::from(!over_count);
            }
            if h.queue.is_empty() {
                // Only with max_per_channel == 0; keep the invariant "entries hold something".
                self.channels.remove(key);
            }
        }
        for old in evicted {
            self.release(old);
        }
        // The publisher's quota: its own oldest go (never the one just inserted).
        if let Sender::Client(id) = msg.sender {
            while let Some(p) = self.publishers.get(&id) {
                if p.bytes <= self.limits.max_publisher_bytes {
                    break;
                }
                match p.mids.front().copied() {
                    Some(oldest) if oldest != mid => {
                        self.drop_everywhere(oldest);
                        by_bytes += 1;
                    }
                    _ => break,
                }
            }
        }
        // The global cap: drop the oldest messages (never the one just inserted).
        while self.held_bytes > self.limits.max_bytes {
            match self.messages.keys().next().copied() {
                Some(oldest) if oldest != mid => {
                    self.drop_everywhere(oldest);
                    by_bytes += 1;
                }
                _ => break,
            }
        }
        self.evicted_by_bytes += by_bytes;
        true
    }

    /// Take `held` out of the totals and of its publisher's list.
    fn account_removed(&mut self, mid: MessageId, held: &Held) {
        self.expiry.remove(&(held.expires_at, mid));
        self.body_bytes -= held.msg.body.len() as u64;
        self.held_bytes -= cost(&held.msg);
        self.record_bytes -= held.record_len as u64;
        if let Sender::Client(id) = held.msg.sender {
            if let Some(p) = self.publishers.get_mut(&id) {
                p.bytes -= cost(&held.msg);
                if let Ok(at) = p.mids.binary_search(&mid) {
                    p.mids.remove(at);
                }
                if p.mids.is_empty() {
                    self.publishers.remove(&id);
                }
            }
        }
    }

    /// Remove `mid` from every channel that holds it and from the index.
    fn drop_everywhere(&mut self, mid: MessageId) {
        let Some(held) = self.messages.remove(&mid) else {
            return;
        };
        self.account_removed(mid, &held);
        let forget_at = held.msg.created as u64 + self.limits.max_ttl as u64;
        for key in &held.msg.receivers {
            let Some(h) = self.channels.get_mut(key) else {
                continue;
            };
            if let Ok(at) = h.queue.binary_search_by(|m| m.mid.cmp(&mid)) {
                h.queue.remove(at);
                h.bytes -= held.msg.body.len() as u64;
                h.note_dropped(mid);
            }
            if h.queue.is_empty() {
                let mark = h.dropped_upto;
                self.channels.remove(key);
                if let Some(mark) = mark {
                    self.bury(*key, mark, forget_at);
                }
            }
        }
    }

    /// Keep an emptied channel's mark until `forget_at`.
    fn bury(&mut self, key: ChannelKey, mark: MessageId, forget_at: u64) {
        let mark = match self.tombstones.get(&key) {
            Some(t) if t.mark > mark => t.mark,
            _ => mark,
        };
        self.tomb_seq += 1;
        let seq = self.tomb_seq;
        self.tombstones.insert(key, Tomb { mark, seq });
        self.tomb_order.push_back((forget_at, seq, key));
        while self.tombstones.len() > MAX_TOMBSTONES {
            self.forget_oldest_tombstone();
        }
        // A channel emptied, refilled and emptied again leaves an outdated entry behind
        // each time: drop those before they outnumber the tombstones.
        if self.tomb_order.len() > 2 * self.tombstones.len() + 1024 {
            let current = &self.tombstones;
            self.tomb_order
                .retain(|(_, seq, k)| current.get(k).is_some_and(|t| t.seq == *seq));
        }
    }

    /// Forget the tombstone at the front of the order (if it is still the current one
    /// for its key), folding its mark into the floor. Returns false when none is left.
    fn forget_oldest_tombstone(&mut self) -> bool {
        let Some((_, seq, key)) = self.tomb_order.pop_front() else {
            return false;
        };
        if let Some(&t) = self.tombstones.get(&key) {
            if t.seq == seq {
                self.tombstones.remove(&key);
                if self.forgotten_floor.is_none_or(|f| f < t.mark) {
                    self.forgotten_floor = Some(t.mark);
                }
            }
        }
        true
    }

    /// One channel let go of `mid`: forget the message when no channel holds it.
    fn release(&mut self, mid: MessageId) {
        let Some(held) = self.messages.get_mut(&mid) else {
            return;
        };
        held.holders = held.holders.saturating_sub(1);
        if held.holders == 0 {
            self.forget(mid);
        }
    }

    fn forget(&mut self, mid: MessageId) {
        if let Some(held) = self.messages.remove(&mid) {
            self.account_removed(mid, &held);
        }
    }

    /// Drop every message whose TTL ran out (`now >= expires_at`), and tombstones past
    /// theirs. Returns how many messages.
    pub fn remove_expired(&mut self, now_unix: u64) -> usize {
        let mut n = 0;
        while let Some(&(exp, mid)) = self.expiry.first() {
            if exp > now_unix {
                break;
            }
            self.expiry.pop_first();
            self.drop_everywhere(mid);
            n += 1;
        }
        while self
            .tomb_order
            .front()
            .is_some_and(|(at, _, _)| *at <= now_unix)
        {
            self.forget_oldest_tombstone();
        }
        if self.tomb_order.capacity() > 2 * self.tomb_order.len() + 1024 {
            self.tomb_order.shrink_to_fit();
        }
        n
    }

    fn unexpired(&self, m: &Message, now_unix: u64) -> bool {
        now_unix < expires_at(m, self.limits.max_ttl)
    }

    /// Held, unexpired messages with mid > after on any of `channels`, sorted, each once,
    /// as detached copies (see the module doc).
    pub fn since(
        &self,
        channels: &[ChannelKey],
        after: MessageId,
        now_unix: u64,
    ) -> Vec<Arc<Message>> {
        let mut out: Vec<&Arc<Message>> = Vec::new();
        let mut sources = 0;
        for (i, key) in channels.iter().enumerate() {
            if channels[..i].contains(key) {
                continue;
            }
            let Some(h) = self.channels.get(key) else {
                continue;
            };
            let from = h.queue.partition_point(|m| m.mid <= after);
            let before = out.len();
            out.extend(
                h.queue
                    .range(from..)
                    .filter(|m| self.unexpired(m, now_unix)),
            );
            if out.len() > before {
                sources += 1;
            }
        }
        if sources > 1 {
            out.sort_unstable_by_key(|m| m.mid);
            out.dedup_by_key(|m| m.mid);
        }
        out.into_iter().map(|m| Arc::new(m.detached())).collect()
    }

    /// True when a message newer than `after` was dropped (by cap, bytes or TTL) from
    /// some channel of `channels` and `after` is older than what that channel still
    /// holds; for a channel that holds nothing any more, its tombstone (or, once that is
    /// forgotten, the floor) decides.
    pub fn gap_after(&self, channels: &[ChannelKey], after: MessageId) -> bool {
        channels.iter().any(|key| match self.channels.get(key) {
            Some(h) => {
                h.dropped_upto.is_some_and(|d| d > after)
                    && h.queue.front().is_some_and(|oldest| after < oldest.mid)
            }
            None => match self.tombstones.get(key) {
                Some(t) => t.mark > after,
                None => self.forgotten_floor.is_some_and(|f| f > after),
            },
        })
    }

    /// The newest unexpired held mid across `channels`.
    pub fn newest(&self, channels: &[ChannelKey], now_unix: u64) -> Option<MessageId> {
        channels
            .iter()
            .filter_map(|key| {
                let h = self.channels.get(key)?;
                h.queue
                    .iter()
                    .rev()
                    .find(|m| self.unexpired(m, now_unix))
                    .map(|m| m.mid)
            })
            .max()
    }

    /// Raise a channel's "dropped up to" mark (used when rebuilding from the log). A
    /// channel without history keeps it as a tombstone until `forget_at`.
    pub fn raise_watermark(&mut self, key: &ChannelKey, mid: MessageId, forget_at: u64) {
        match self.channels.get_mut(key) {
            Some(h) => h.note_dropped(mid),
            None => self.bury(*key, mid, forget_at),
        }
    }

    /// Every held message, in mid order (for rewriting the log).
    pub fn messages(&self) -> impl Iterator<Item = &Arc<Message>> + '_ {
        self.messages.values().map(|h| &h.msg)
    }

    /// Each channel's oldest held id (for a compaction's snapshot).
    pub fn fronts(&self) -> impl Iterator<Item = (ChannelKey, MessageId)> + '_ {
        self.channels
            .iter()
            .filter_map(|(k, h)| h.queue.front().map(|m| (*k, m.mid)))
    }

    /// The channels of `msg.receivers` that still hold it, each once, in receiver order
    /// (for rewriting the log: a message evicted from some channels by their cap must not
    /// come back to them after a restart).
    pub fn held_receivers(&self, msg: &Message, out: &mut Vec<ChannelKey>) {
        out.clear();
        for key in msg.receivers.iter() {
            let held = self
                .channels
                .get(key)
                .is_some_and(|h| h.queue.binary_search_by(|m| m.mid.cmp(&msg.mid)).is_ok());
            if held {
                out.push(*key);
            }
        }
    }

    /// The log was rewritten: `mid`'s record now takes `len` bytes.
    pub fn set_record_len(&mut self, mid: &MessageId, len: u32) {
        if let Some(h) = self.messages.get_mut(mid) {
            self.record_bytes = self.record_bytes - h.record_len as u64 + len as u64;
            h.record_len = len;
        }
    }

    /// Every channel with a "dropped up to" mark, with history or a tombstone (for
    /// rewriting the log).
    pub fn watermarks(&self) -> impl Iterator<Item = (ChannelKey, MessageId)> + '_ {
        self.channels
            .iter()
            .filter_map(|(k, h)| h.dropped_upto.map(|d| (*k, d)))
            .chain(self.tombstones.iter().map(|(k, t)| (*k, t.mark)))
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Emptied channels that still keep their mark.
    pub fn tombstone_count(&self) -> usize {
        self.tombstones.len()
    }

    /// Body bytes of the held messages (each once).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// What `max_bytes` is compared with: bodies plus bookkeeping.
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// Messages evicted by a byte limit since start.
    pub fn evicted_by_bytes(&self) -> u64 {
        self.evicted_by_bytes
    }

    /// Log bytes taken by the records of held messages.
    pub fn record_bytes(&self) -> u64 {
        self.record_bytes
    }

    /// Messages held for one channel (diagnostics and tests).
    pub fn channel_len(&self, key: &ChannelKey) -> usize {
        self.channels.get(key).map_or(0, |h| h.queue.len())
    }

    /// Bytes held of one client publisher's messages (diagnostics and tests).
    pub fn publisher_bytes(&self, id: &ChannelId) -> u64 {
        self.publishers.get(id).map_or(0, |p| p.bytes)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn global_byte_cap_evicts_oldest_messages_first() {
        use crate::message::Sender;
        use crate::protocol::ChannelId;
        let mut ix = Index::new(Limits::new(
            1000,
            86400,
            250 + 2 * (MESSAGE_OVERHEAD + RECEIVER_OVERHEAD),
        ));
        let keys: Vec<ChannelKey> = (0..5u8)
            .map(|i| ChannelKey::private(ChannelId([i; 16])))
            .collect();
        for (n, key) in keys.iter().enumerate() {
            let m = Message::new(
                MessageId::new(1_700_000_000, n as u64 + 1),
                vec![*key],
                bytes::Bytes::from(vec![b'x'; 100]),
                3600,
                1_700_000_000_000,
                Sender::Backend,
            );
            assert!(ix.insert(Arc::new(m), 150));
        }
        // 500 bytes inserted, 250 allowed: the two newest stay.
        assert_eq!(ix.message_count(), 2);
        assert!(ix.body_bytes() <= 250);
        assert_eq!(ix.channel_len(&keys[4]), 1);
        assert_eq!(ix.channel_len(&keys[0]), 0);
    }

    use super::*;
    use crate::store::testutil::{ch, mid, mids, msg, pubch};

    const NOW: u32 = 1_700_000_000;

    fn index(cap: usize) -> Index {
        Index::new(Limits::new(cap, 86400, u64::MAX))
    }

    #[test]
    fn since_is_sorted_deduplicated_and_exclusive() {
        let mut ix = index(10);
        let (a, b, c) = (ch(1), ch(2), pubch(1));
        ix.insert(msg(mid(1), &[a], "1", 60, NOW), 0);
        ix.insert(msg(mid(2), &[b], "2", 60, NOW), 0);
        ix.insert(msg(mid(3), &[a, b], "3", 60, NOW), 0);
        ix.insert(msg(mid(4), &[c], "4", 60, NOW), 0);
        ix.insert(msg(mid(5), &[b, a, a], "5", 60, NOW), 0);
        let now = NOW as u64;
        assert_eq!(
            mids(&ix.since(&[a, b], mid(0), now)),
            vec![mid(1), mid(2), mid(3), mid(5)]
        );
        assert_eq!(mids(&ix.since(&[b, a], mid(2), now)), vec![mid(3), mid(5)]);
        assert_eq!(mids(&ix.since(&[a, a], mid(1), now)), vec![mid(3), mid(5)]);
        // Public and private namespaces are apart.
        assert_eq!(mids(&ix.since(&[c], mid(0), now)), vec![mid(4)]);
        assert!(ix.since(&[ch(9)], mid(0), now).is_empty());
        assert!(ix.since(&[a, b], mid(5), now).is_empty());
        // The body is shared, not copied.
        let one = ix.since(&[a], mid(2), now);
        let two = ix.since(&[b], mid(2), now);
        assert_eq!(one[0].body.as_ptr(), two[0].body.as_ptr());
        // What a replay encodes is the replay's copy: the held entry never keeps it.
        one[0].text_envelope();
        two[0].outgoing_proto();
        assert!(!ix.since(&[a], mid(2), now)[0].is_encoded());
        assert_eq!(ix.message_count(), 5);
        assert_eq!(ix.body_bytes(), 5);
        assert_eq!(ix.channel_len(&a), 3);
    }

    #[test]
    fn out_of_order_inserts_are_sorted_and_duplicates_ignored() {
        let mut ix = index(10);
        let a = ch(1);
        assert!(ix.insert(msg(mid(3), &[a], "3", 60, NOW), 0));
        assert!(ix.insert(msg(mid(1), &[a], "1", 60, NOW), 0));
        assert!(ix.insert(msg(mid(2), &[a], "2", 60, NOW), 0));
        assert!(!ix.insert(msg(mid(2), &[a], "again", 60, NOW), 0));
        assert!(!ix.insert(msg(mid(9), &[], "nobody", 60, NOW), 0));
        assert_eq!(
            mids(&ix.since(&[a], mid(0), NOW as u64)),
            vec![mid(1), mid(2), mid(3)]
        );
    }

    #[test]
    fn cap_evicts_oldest_and_sets_gap() {
        let mut ix = index(3);
        let (a, b) = (ch(1), ch(2));
        ix.insert(msg(mid(1), &[a, b], "x", 60, NOW), 10);
        for i in 2..=5 {
            ix.insert(msg(mid(i), &[a], "x", 60, NOW), 10);
        }
        let now = NOW as u64;
        assert_eq!(
            mids(&ix.since(&[a], mid(0), now)),
            vec![mid(3), mid(4), mid(5)]
        );
        // mid(1) is still held for b; mid(2) is gone everywhere.
        assert_eq!(ix.message_count(), 4);
        assert_eq!(ix.record_bytes(), 40);
        let mut held = Vec::new();
        let first = ix.since(&[b], mid(0), now)[0].clone();
        ix.held_receivers(&first, &mut held);
        assert_eq!(held, vec![b]);
        ix.set_record_len(&mid(1), 4);
        assert_eq!(ix.record_bytes(), 34);
        assert_eq!(mids(&ix.since(&[a, b], mid(0), now))[0], mid(1));
        // A resume point before what was dropped is a gap, on a only.
        assert!(ix.gap_after(&[a], mid(0)));
        assert!(ix.gap_after(&[a], mid(1)));
        assert!(!ix.gap_after(&[a], mid(2)));
        assert!(!ix.gap_after(&[a], mid(4)));
        assert!(!ix.gap_after(&[b], mid(0)));
        assert!(ix.gap_after(&[b, a], mid(1)));
        assert!(!ix.gap_after(&[ch(9)], mid(0)));
        // A message that never existed before history began is no gap.
        let mut fresh = index(3);
        fresh.insert(msg(mid(7), &[a], "x", 60, NOW), 0);
        assert!(!fresh.gap_after(&[a], mid(1)));
    }

    #[test]
    fn ttl_expiry_and_max_ttl_cap() {
        let mut ix = Index::new(Limits::new(10, 100, u64::MAX));
        let a = ch(1);
        ix.insert(msg(mid(1), &[a], "short", 10, NOW), 0);
        ix.insert(msg(mid(2), &[a], "capped", 86400, NOW), 0);
        ix.insert(msg(mid(3), &[a], "long", 50, NOW + 60), 0);
        let t = NOW as u64;
        assert_eq!(mids(&ix.since(&[a], mid(0), t + 9)).len(), 3);
        // Expired messages are hidden even before purge.
        assert_eq!(mids(&ix.since(&[a], mid(0), t + 10)), vec![mid(2), mid(3)]);
        assert_eq!(ix.newest(&[a], t + 10), Some(mid(3)));
        assert_eq!(ix.remove_expired(t + 10), 1);
        assert_eq!(ix.message_count(), 2);
        // max_ttl 100 caps the 86400 of mid(2).
        assert_eq!(mids(&ix.since(&[a], mid(0), t + 100)), vec![mid(3)]);
        assert_eq!(ix.remove_expired(t + 100), 1);
        assert!(ix.gap_after(&[a], mid(0)));
        assert!(ix.gap_after(&[a], mid(1)));
        assert!(!ix.gap_after(&[a], mid(2)));
        assert_eq!(ix.remove_expired(t + 110), 1);
        // No history left: the channel entry is gone, its mark stays as a tombstone.
        assert_eq!(ix.channel_count(), 0);
        assert_eq!(ix.tombstone_count(), 1);
        assert!(ix.gap_after(&[a], mid(0)));
        assert!(!ix.gap_after(&[a], mid(3)));
        assert_eq!(ix.newest(&[a], t + 110), None);
        assert_eq!(ix.body_bytes(), 0);
    }

    #[test]
    fn newest_skips_expired_and_spans_channels() {
        let mut ix = index(10);
        let (a, b) = (ch(1), ch(2));
        ix.insert(msg(mid(1), &[a], "x", 100, NOW), 0);
        ix.insert(msg(mid(2), &[b], "x", 100, NOW), 0);
        ix.insert(msg(mid(3), &[a], "x", 5, NOW), 0);
        let t = NOW as u64;
        assert_eq!(ix.newest(&[a, b], t), Some(mid(3)));
        assert_eq!(ix.newest(&[a, b], t + 5), Some(mid(2)));
        assert_eq!(ix.newest(&[a], t + 5), Some(mid(1)));
        assert_eq!(ix.newest(&[ch(3)], t), None);
        assert_eq!(ix.newest(&[], t), None);
    }

    #[test]
    fn expired_message_out_of_order_keeps_mark() {
        // A short-lived message between long-lived ones: the mark rises but a client that
        // saw the older long-lived message is not told of a gap.
        let mut ix = index(10);
        let a = ch(1);
        ix.insert(msg(mid(1), &[a], "x", 100, NOW), 0);
        ix.insert(msg(mid(2), &[a], "x", 5, NOW), 0);
        ix.insert(msg(mid(3), &[a], "x", 100, NOW), 0);
        ix.remove_expired(NOW as u64 + 5);
        assert_eq!(ix.watermarks().collect::<Vec<_>>(), vec![(a, mid(2))]);
        assert!(!ix.gap_after(&[a], mid(1)));
        // One that had not even seen mid(1) did lose mid(2).
        assert!(ix.gap_after(&[a], mid(0)));
    }

    fn client_msg(n: u64, to: &[ChannelKey], from: u8, len: usize) -> Arc<Message> {
        Arc::new(Message::new(
            mid(n),
            to.to_vec(),
            bytes::Bytes::from(vec![b'c'; len]),
            3600,
            NOW as u64 * 1000,
            crate::message::Sender::Client(crate::protocol::ChannelId([from; 16])),
        ))
    }

    #[test]
    fn a_publisher_over_its_quota_loses_its_own_oldest_only() {
        let per_msg = 1000 + MESSAGE_OVERHEAD + RECEIVER_OVERHEAD;
        let mut ix = Index::new(Limits {
            max_publisher_bytes: 3 * per_msg,
            ..Limits::new(1000, 86400, u64::MAX)
        });
        let (victim, loud) = (pubch(1), pubch(2));
        // Another publisher's message in the victim's channel, and a backend one.
        ix.insert(client_msg(1, &[victim], 7, 1000), 0);
        ix.insert(msg(mid(2), &[victim], "backend", 60, NOW), 0);
        for n in 3..10 {
            ix.insert(client_msg(n, &[loud, victim], 9, 1000), 0);
        }
        let id9 = crate::protocol::ChannelId([9; 16]);
        assert_eq!(ix.publisher_bytes(&id9), 2 * (per_msg + RECEIVER_OVERHEAD));
        assert_eq!(
            mids(&ix.since(&[victim], mid(0), NOW as u64)),
            vec![mid(1), mid(2), mid(8), mid(9)]
        );
        assert_eq!(ix.evicted_by_bytes(), 5);
        // The loud channel lost its first messages: a resume from before them is a gap.
        assert!(ix.gap_after(&[loud], mid(3)));
    }

    #[test]
    fn a_channel_over_its_byte_cap_loses_its_oldest_and_tells() {
        let mut ix = Index::new(Limits {
            max_channel_bytes: 2500,
            ..Limits::new(1000, 86400, u64::MAX)
        });
        let (a, b) = (ch(1), ch(2));
        for n in 1..=4 {
            ix.insert(client_msg(n, &[a, b], 5, 1000), 0);
        }
        // Two bodies of 1000 fit a channel (b, with the same cap, lets go of the same).
        assert_eq!(
            mids(&ix.since(&[a], mid(0), NOW as u64)),
            vec![mid(3), mid(4)]
        );
        assert!(ix.gap_after(&[a], mid(1)));
        assert!(!ix.gap_after(&[a], mid(2)));
        assert_eq!(ix.message_count(), 2);
        // One message alone over the cap is still kept (the newest always is).
        ix.insert(client_msg(5, &[ch(3)], 5, 4000), 0);
        assert_eq!(ix.channel_len(&ch(3)), 1);
    }

    #[test]
    fn tombstones_and_their_order_stay_bounded() {
        let mut ix = Index::new(Limits::new(1, 86400, u64::MAX));
        let a = ch(1);
        // One channel emptied and refilled many times: one tombstone, a bounded order.
        for n in 1..5000u64 {
            ix.insert(msg(mid(n), &[a], "x", 100, NOW), 0);
            ix.remove_expired(NOW as u64 + 100);
        }
        assert_eq!(ix.tombstone_count(), 1);
        assert!(ix.tomb_order.len() <= 1026, "{}", ix.tomb_order.len());
        assert!(ix.gap_after(&[a], mid(4998)));
        assert!(!ix.gap_after(&[a], mid(4999)));
    }

    #[test]
    fn zero_cap_holds_nothing() {
        let mut ix = index(0);
        ix.insert(msg(mid(1), &[ch(1)], "x", 100, NOW), 7);
        assert_eq!(ix.message_count(), 0);
        assert_eq!(ix.channel_count(), 0);
        assert_eq!(ix.record_bytes(), 0);
        assert_eq!(ix.remove_expired(u64::MAX), 0);
    }
}
