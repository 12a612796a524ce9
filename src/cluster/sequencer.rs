//! The per-node sequencer: Redis hands publications to every node in the order it ran
//! the `PUBLISH`es, which is not id order (node A takes id 10, node B id 11, and B's
//! `EXEC` runs first). Subscribers must see ids in increasing order, because each one
//! only accepts ids above the last it received (that is what makes replay + live
//! exactly-once), so the node re-orders here before the hub fans out.
//!
//! - the counter after `n` is `n + 1` under the same start date;
//! - a later id waits until its gap fills, or for at most `hold` (an id burnt by a
//!   failed `EXEC`, a Node publisher that died between its store and its `PUBLISH`);
//!   then what is held is released in id order and the gap is given up;
//! - an id below the expected one (its gap was given up, or it was published before
//!   this node's (re)subscription) is released at once and counted as late; the
//!   subscribers that already got a newer id drop it, the others take it;
//! - a newer start date (Redis lost its data and a node set a new one) releases what is
//!   held and starts counting again from the new id;
//! - at most `max_held` messages wait: a longer gap is given up at once (memory stays
//!   bounded whatever a foreign publisher sends).
//!
//! No I/O and no clock of its own: the caller passes `now` and sleeps until
//! [`Sequencer::deadline`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::message::Message;
use crate::protocol::MessageId;

/// How long a gap is waited for (DESIGN.md "Several nodes").
pub const HOLD: Duration = Duration::from_millis(100);
/// Messages held behind a gap at most.
pub const MAX_HELD: usize = 10_000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SequencerStats {
    /// Ids that arrived below the expected one.
    pub late: u64,
    /// Gaps released without their missing ids.
    pub gaps_given_up: u64,
}

pub struct Sequencer {
    hold: Duration,
    max_held: usize,
    /// `None` until the first reset or message: then anything is taken as the start.
    startdate: Option<u64>,
    /// The counter expected next.
    next: u64,
    held: BTreeMap<u64, Arc<Message>>,
    /// When the current gap opened (the first message was held behind it).
    gap_since: Option<Instant>,
    pub stats: SequencerStats,
}

impl Sequencer {
    pub fn new(hold: Duration, max_held: usize) -> Self {
        Self {
            hold,
            max_held: max_held.max(1),
            startdate: None,
            next: 0,
            held: BTreeMap::new(),
            gap_since: None,
            stats: SequencerStats::default(),
        }
    }

    /// Expect `next` under `startdate` from now on (after (re)subscribing, `next` = the
    /// counter read then + 1). What was held is released first, in id order.
    pub fn reset(&mut self, startdate: u64, next: u64) -> Vec<Arc<Message>> {
        let out = self.drain_all();
        self.startdate = Some(startdate);
        self.next = next;
        out
    }

    /// One message arrived: what can be released now, in order.
    pub fn push(&mut self, msg: Arc<Message>, now: Instant) -> Vec<Arc<Message>> {
        let (date, counter) = (msg.mid.startdate(), msg.mid.counter());
        match self.startdate {
            Some(d) if date > d => {
                // A new start date: the old sequence is over.
                let mut out = self.drain_all();
                self.startdate = Some(date);
                self.next = counter + 1;
                out.push(msg);
                return out;
            }
            Some(d) if date < d => {
                self.stats.late += 1;
                return vec![msg];
            }
            Some(_) => {}
            None => {
                self.startdate = Some(date);
                self.next = counter;
            }
        }
        if counter < self.next {
            self.stats.late += 1;
            return vec![msg];
        }
        if counter > self.next {
            self.held.insert(counter, msg);
            self.gap_since.get_or_insert(now);
            if self.held.len() > self.max_held {
                return self.give_up_gap(now);
            }
            return Vec::new();
        }
        self.next = counter + 1;
        let mut out = vec![msg];
        self.release_run(&mut out, now);
        out
    }

    /// Release what waited past `hold`: the gap is given up.
    pub fn expire(&mut self, now: Instant) -> Vec<Arc<Message>> {
        match self.gap_since {
            Some(since) if now.duration_since(since) >= self.hold => self.give_up_gap(now),
            _ => Vec::new(),
        }
    }

    /// When [`Sequencer::expire`] has something to release.
    pub fn deadline(&self) -> Option<Instant> {
        self.gap_since.map(|s| s + self.hold)
    }

    /// The id expected next (for logs and tests).
    pub fn expected(&self) -> Option<MessageId> {
        self.startdate.map(|d| MessageId::new(d as u32, self.next))
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    fn give_up_gap(&mut self, now: Instant) -> Vec<Arc<Message>> {
        let Some((&first, _)) = self.held.first_key_value() else {
            self.gap_since = None;
            return Vec::new();
        };
        self.stats.gaps_given_up += 1;
        self.next = first;
        let mut out = Vec::new();
        self.release_run(&mut out, now);
        out
    }

    /// Move the contiguous run from `next` on out of `held`; a gap behind it restarts
    /// its timer at `now`.
    fn release_run(&mut self, out: &mut Vec<Arc<Message>>, now: Instant) {
        while let Some(m) = self.held.remove(&self.next) {
            out.push(m);
            self.next += 1;
        }
        // Ids below `next` still held cannot be (push releases them at once).
        self.gap_since = if self.held.is_empty() {
            None
        } else {
            Some(now)
        };
    }

    fn drain_all(&mut self) -> Vec<Arc<Message>> {
        self.gap_since = None;
        std::mem::take(&mut self.held).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Sender;
    use crate::protocol::{ChannelId, ChannelKey};
    use bytes::Bytes;

    const DATE: u32 = 1_700_000_000;

    fn m(date: u32, counter: u64) -> Arc<Message> {
        Arc::new(Message::new(
            MessageId::new(date, counter),
            vec![ChannelKey::private(ChannelId([1; 16]))],
            Bytes::from_static(b"{}"),
            60,
            0,
            Sender::Backend,
        ))
    }

    fn counters(v: &[Arc<Message>]) -> Vec<u64> {
        v.iter().map(|m| m.mid.counter()).collect()
    }

    fn seq() -> (Sequencer, Instant) {
        let mut s = Sequencer::new(HOLD, 100);
        assert!(s.reset(DATE as u64, 10).is_empty());
        (s, Instant::now())
    }

    #[test]
    fn in_order_ids_pass_straight_through() {
        let (mut s, t) = seq();
        for c in 10..15 {
            assert_eq!(counters(&s.push(m(DATE, c), t)), [c]);
        }
        assert_eq!(s.deadline(), None);
        assert_eq!(s.stats, SequencerStats::default());
    }

    #[test]
    fn a_gap_holds_later_ids_until_it_fills_then_releases_in_order() {
        let (mut s, t) = seq();
        assert!(s.push(m(DATE, 12), t).is_empty());
        assert!(s.push(m(DATE, 11), t).is_empty());
        assert_eq!(s.held(), 2);
        assert_eq!(s.deadline(), Some(t + HOLD));
        assert_eq!(counters(&s.push(m(DATE, 10), t)), [10, 11, 12]);
        assert_eq!(s.deadline(), None);
        assert_eq!(counters(&s.push(m(DATE, 13), t)), [13]);
    }

    #[test]
    fn a_gap_that_never_fills_is_given_up_after_the_hold() {
        let (mut s, t) = seq();
        s.push(m(DATE, 10), t);
        // 11 was burnt (an EXEC that failed after its INCR).
        assert!(s.push(m(DATE, 12), t).is_empty());
        assert!(s.push(m(DATE, 14), t).is_empty());
        assert!(s.expire(t + HOLD / 2).is_empty());
        assert_eq!(counters(&s.expire(t + HOLD)), [12]);
        assert_eq!(s.stats.gaps_given_up, 1);
        // 13 is the next gap, timed from when the first one was given up.
        assert_eq!(s.deadline(), Some(t + HOLD + HOLD));
        assert_eq!(counters(&s.push(m(DATE, 13), t + HOLD)), [13, 14]);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn an_id_after_its_gap_was_given_up_is_released_late() {
        let (mut s, t) = seq();
        s.push(m(DATE, 11), t);
        assert_eq!(counters(&s.expire(t + HOLD)), [11]);
        assert_eq!(counters(&s.push(m(DATE, 10), t + HOLD)), [10]);
        assert_eq!(s.stats.late, 1);
        assert_eq!(counters(&s.push(m(DATE, 12), t + HOLD)), [12]);
    }

    #[test]
    fn a_newer_start_date_flushes_what_is_held_and_restarts_the_count() {
        let (mut s, t) = seq();
        s.push(m(DATE, 12), t);
        s.push(m(DATE, 13), t);
        let out = s.push(m(DATE + 5, 1), t);
        assert_eq!(
            out.iter().map(|m| m.mid).collect::<Vec<_>>(),
            [
                MessageId::new(DATE, 12),
                MessageId::new(DATE, 13),
                MessageId::new(DATE + 5, 1)
            ]
        );
        assert_eq!(s.deadline(), None);
        assert_eq!(s.expected(), Some(MessageId::new(DATE + 5, 2)));
        // An id of the old date now is late, not a gap.
        assert_eq!(counters(&s.push(m(DATE, 14), t)), [14]);
        assert_eq!(s.stats.late, 1);
    }

    #[test]
    fn held_messages_are_bounded() {
        let mut s = Sequencer::new(HOLD, 3);
        s.reset(DATE as u64, 1);
        let t = Instant::now();
        for c in 3..6 {
            assert!(s.push(m(DATE, c), t).is_empty());
        }
        // The fourth held message gives the gap up at once.
        assert_eq!(counters(&s.push(m(DATE, 6), t)), [3, 4, 5, 6]);
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn reset_releases_what_was_held() {
        let (mut s, t) = seq();
        s.push(m(DATE, 11), t);
        assert_eq!(counters(&s.reset(DATE as u64, 20)), [11]);
        assert_eq!(counters(&s.push(m(DATE, 20), t)), [20]);
    }
}
