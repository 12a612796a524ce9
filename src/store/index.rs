//! The in-memory history: per channel, a queue of the newest messages in mid order.
//!
//! A message addressed to many channels is one `Arc<Message>` pointed to from each of
//! their queues: the body is never copied. A queue holds at most `max_per_channel`
//! messages (oldest evicted); each message lives until its TTL (min(expiry, max_ttl))
//! runs out. No I/O here: [`super::MemoryStore`] persists what it inserts.
//!
//! Costs (n = messages in a channel, at most `max_per_channel`; M = messages held):
//! insert O(receivers · log M) plus O(n) per receiver only if a message arrives out of
//! mid order; since O(k log k) for k returned; expiry O(receivers · n) per expired
//! message; gap_after O(channels); newest O(channels) unless the newest ones expired.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::message::Message;
use crate::protocol::{ChannelKey, MessageId};

use super::expires_at;

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

/// One channel's history. Exists only while it holds at least one message, so that the
/// number of entries is bounded by what is held.
#[derive(Debug, Default)]
struct History {
    /// Sorted by mid, oldest first.
    queue: VecDeque<Arc<Message>>,
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

/// Messages by channel, with eviction by count and by age.
#[derive(Debug)]
pub struct Index {
    max_per_channel: usize,
    max_ttl: u32,
    max_bytes: u64,
    messages: BTreeMap<MessageId, Held>,
    channels: HashMap<ChannelKey, History>,
    /// (expires_at, mid) of every held message: purge pops from the front. Entries leave
    /// with their message, so this is bounded by what is held.
    expiry: BTreeSet<(u64, MessageId)>,
    body_bytes: u64,
    record_bytes: u64,
}

impl Index {
    pub fn new(max_per_channel: usize, max_ttl: u32, max_bytes: u64) -> Self {
        Self {
            max_per_channel,
            max_ttl,
            max_bytes,
            messages: BTreeMap::new(),
            channels: HashMap::new(),
            expiry: BTreeSet::new(),
            body_bytes: 0,
            record_bytes: 0,
        }
    }

    pub fn contains(&self, mid: &MessageId) -> bool {
        self.messages.contains_key(mid)
    }

    /// Add `msg` to the history of each of its (distinct) receivers, evicting the oldest
    /// message of a channel that goes over the cap. `record_len` is what its record takes
    /// in the log. Returns false (and changes nothing) for an id already held or a
    /// message without receivers.
    pub fn insert(&mut self, msg: Arc<Message>, record_len: u32) -> bool {
        if msg.receivers.is_empty() || self.messages.contains_key(&msg.mid) {
            return false;
        }
        let mid = msg.mid;
        let exp = expires_at(&msg, self.max_ttl);
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
        self.record_bytes += record_len as u64;

        let mut evicted: Vec<MessageId> = Vec::new();
        // `Receivers` are distinct: each channel queue gets the message once.
        for key in msg.receivers.iter() {
            let h = self.channels.entry(*key).or_default();
            match h.queue.back() {
                Some(last) if last.mid > mid => {
                    // Out of order (ids allocated in one order, appended in another).
                    let at = h.queue.partition_point(|m| m.mid < mid);
                    h.queue.insert(at, msg.clone());
                }
                _ => h.queue.push_back(msg.clone()),
            }
            if let Some(held) = self.messages.get_mut(&mid) {
                held.holders += 1;
            }
            while h.queue.len() > self.max_per_channel {
                if let Some(old) = h.queue.pop_front() {
                    h.note_dropped(old.mid);
                    evicted.push(old.mid);
                }
            }
            if h.queue.is_empty() {
                // Only with max_per_channel == 0; keep the invariant "entries hold something".
                self.channels.remove(key);
            }
        }
        for old in evicted {
            self.release(old);
        }
        // The global cap: drop the oldest messages (never the one just inserted).
        while self.body_bytes > self.max_bytes {
            match self.messages.keys().next().copied() {
                Some(oldest) if oldest != mid => self.drop_everywhere(oldest),
                _ => break,
            }
        }
        true
    }

    /// Remove `mid` from every channel that holds it and from the index.
    fn drop_everywhere(&mut self, mid: MessageId) {
        let Some(held) = self.messages.remove(&mid) else {
            return;
        };
        self.expiry.remove(&(held.expires_at, mid));
        self.body_bytes -= held.msg.body.len() as u64;
        self.record_bytes -= held.record_len as u64;
        for key in &held.msg.receivers {
            let Some(h) = self.channels.get_mut(key) else {
                continue;
            };
            if let Ok(at) = h.queue.binary_search_by(|m| m.mid.cmp(&mid)) {
                h.queue.remove(at);
                h.note_dropped(mid);
            }
            if h.queue.is_empty() {
                self.channels.remove(key);
            }
        }
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
            self.expiry.remove(&(held.expires_at, mid));
            self.body_bytes -= held.msg.body.len() as u64;
            self.record_bytes -= held.record_len as u64;
        }
    }

    /// Drop every message whose TTL ran out (`now >= expires_at`). Returns how many.
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
        n
    }

    fn unexpired(&self, m: &Message, now_unix: u64) -> bool {
        now_unix < expires_at(m, self.max_ttl)
    }

    /// Held, unexpired messages with mid > after on any of `channels`, sorted, each once.
    pub fn since(
        &self,
        channels: &[ChannelKey],
        after: MessageId,
        now_unix: u64,
    ) -> Vec<Arc<Message>> {
        let mut out: Vec<Arc<Message>> = Vec::new();
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
                    .filter(|m| self.unexpired(m, now_unix))
                    .cloned(),
            );
            if out.len() > before {
                sources += 1;
            }
        }
        if sources > 1 {
            out.sort_unstable_by_key(|m| m.mid);
            out.dedup_by_key(|m| m.mid);
        }
        out
    }

    /// True when some channel of `channels` still has history, `after` is older than its
    /// oldest held message, and a message newer than `after` was dropped from it.
    pub fn gap_after(&self, channels: &[ChannelKey], after: MessageId) -> bool {
        channels.iter().any(|key| {
            self.channels.get(key).is_some_and(|h| {
                h.dropped_upto.is_some_and(|d| d > after)
                    && h.queue.front().is_some_and(|oldest| after < oldest.mid)
            })
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

    /// Raise a channel's "dropped up to" mark (used when rebuilding from the log).
    /// Ignored for a channel without history: only channels with history keep a mark.
    pub fn raise_watermark(&mut self, key: &ChannelKey, mid: MessageId) {
        if let Some(h) = self.channels.get_mut(key) {
            h.note_dropped(mid);
        }
    }

    /// Every held message, in mid order (for rewriting the log).
    pub fn messages(&self) -> impl Iterator<Item = &Arc<Message>> + '_ {
        self.messages.values().map(|h| &h.msg)
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

    /// Every channel with history and a "dropped up to" mark (for rewriting the log).
    pub fn watermarks(&self) -> impl Iterator<Item = (ChannelKey, MessageId)> + '_ {
        self.channels
            .iter()
            .filter_map(|(k, h)| h.dropped_upto.map(|d| (*k, d)))
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Log bytes taken by the records of held messages.
    pub fn record_bytes(&self) -> u64 {
        self.record_bytes
    }

    /// Messages held for one channel (diagnostics and tests).
    pub fn channel_len(&self, key: &ChannelKey) -> usize {
        self.channels.get(key).map_or(0, |h| h.queue.len())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn global_byte_cap_evicts_oldest_messages_first() {
        use crate::message::Sender;
        use crate::protocol::ChannelId;
        let mut ix = Index::new(1000, 86400, 250);
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
        Index::new(cap, 86400, u64::MAX)
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
        assert!(Arc::ptr_eq(&one[0], &two[0]));
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
        let mut ix = Index::new(10, 100, u64::MAX);
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
        // No history left: the channel entry is gone with its mark.
        assert_eq!(ix.channel_count(), 0);
        assert!(!ix.gap_after(&[a], mid(0)));
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
