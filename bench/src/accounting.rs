//! Per-subscriber, per-channel delivery accounting: lost, duplicated and out-of-order
//! messages from the per-channel sequence number each bench message carries.
//!
//! A channel's messages are numbered 0, 1, 2, … by the publisher. A subscriber expects
//! every number below what was published (minus the publishes that failed), once each,
//! in increasing order.

use std::collections::BTreeSet;

/// Out-of-order arrivals kept before the tracker gives up on the oldest gap: past this
/// many, the numbers below the smallest one kept are taken as lost (a late arrival of
/// one of them then counts as a duplicate). Only a badly broken run gets there.
const MAX_AHEAD: usize = 4096;

/// What one subscriber saw on one channel.
#[derive(Debug, Default, Clone)]
pub struct Tracker {
    /// Every number below this was received (or given up as lost, see `skipped`).
    next: u32,
    /// Received numbers above `next`, not yet contiguous.
    ahead: BTreeSet<u32>,
    /// The largest number received so far, if any.
    max_seen: Option<u32>,
    /// Numbers below `next` that were given up on (never received).
    skipped: u32,
    /// Arrivals of a number already received.
    pub dup: u64,
    /// Arrivals of a number smaller than one received before.
    pub reordered: u64,
}

/// The totals of a [`Tracker`] once the expected count is known.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Distinct expected messages received.
    pub received: u64,
    /// Expected messages never received.
    pub lost: u64,
    /// Extra copies of a message received.
    pub dup: u64,
    /// Messages received after a later one.
    pub reordered: u64,
    /// Messages whose number was not expected (beyond the published count, or whose
    /// publish reported a failure).
    pub unexpected: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Self) {
        self.received += o.received;
        self.lost += o.lost;
        self.dup += o.dup;
        self.reordered += o.reordered;
        self.unexpected += o.unexpected;
    }
}

impl Tracker {
    /// Record the arrival of message number `seq`.
    pub fn observe(&mut self, seq: u32) {
        if seq < self.next || self.ahead.contains(&seq) {
            self.dup += 1;
            if self.max_seen.is_some_and(|m| seq < m) {
                self.reordered += 1;
            }
            return;
        }
        if self.max_seen.is_some_and(|m| seq < m) {
            self.reordered += 1;
        }
        self.max_seen = Some(self.max_seen.map_or(seq, |m| m.max(seq)));
        if seq == self.next {
            self.next += 1;
            self.advance();
        } else {
            self.ahead.insert(seq);
            if self.ahead.len() > MAX_AHEAD {
                let first = *self.ahead.iter().next().expect("not empty");
                self.skipped += first - self.next;
                self.next = first;
                self.advance();
            }
        }
    }

    fn advance(&mut self) {
        while self.ahead.first() == Some(&self.next) {
            self.ahead.pop_first();
            self.next += 1;
        }
    }

    /// Totals given the numbers that were published: `0..published`, except `failed`
    /// (sorted, each below `published`), whose publish reported an error.
    pub fn tally(&self, published: u32, failed: &[u32]) -> Tally {
        let in_failed = |s: u32| failed.binary_search(&s).is_ok();
        // Distinct numbers received: 0..next minus the skipped ones, plus `ahead`.
        let mut received: u64 = 0;
        let mut unexpected: u64 = 0;
        // Below `next`: everything but `skipped` was received; count those that were
        // expected. Skipped numbers are not known individually: they are taken as
        // expected ones (lost).
        let contiguous_expected = u64::from(self.next.min(published))
            - failed.iter().filter(|&&f| f < self.next).count() as u64;
        let contiguous_received = u64::from(self.next) - u64::from(self.skipped);
        if contiguous_received > contiguous_expected {
            unexpected += contiguous_received - contiguous_expected;
            received += contiguous_expected;
        } else {
            received += contiguous_received;
        }
        for &s in &self.ahead {
            if s < published && !in_failed(s) {
                received += 1;
            } else {
                unexpected += 1;
            }
        }
        let expected = u64::from(published) - failed.len() as u64;
        Tally {
            received,
            lost: expected.saturating_sub(received),
            dup: self.dup,
            reordered: self.reordered,
            unexpected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u32], published: u32, failed: &[u32]) -> Tally {
        let mut t = Tracker::default();
        for &s in seqs {
            t.observe(s);
        }
        t.tally(published, failed)
    }

    #[test]
    fn clean_run() {
        let seqs: Vec<u32> = (0..1000).collect();
        let t = run(&seqs, 1000, &[]);
        assert_eq!(
            t,
            Tally {
                received: 1000,
                ..Default::default()
            }
        );
    }

    #[test]
    fn nothing_received() {
        let t = run(&[], 5, &[]);
        assert_eq!(t.lost, 5);
        assert_eq!(t.received, 0);
    }

    #[test]
    fn lost_in_the_middle_and_at_the_end() {
        let t = run(&[0, 1, 3, 4, 6], 9, &[]);
        assert_eq!(t.received, 5);
        assert_eq!(t.lost, 4); // 2, 5, 7, 8
        assert_eq!(t.dup, 0);
        assert_eq!(t.reordered, 0);
    }

    #[test]
    fn duplicates() {
        let t = run(&[0, 1, 1, 2, 2, 2, 5, 5], 6, &[]);
        assert_eq!(t.received, 4);
        assert_eq!(t.dup, 4);
        assert_eq!(t.lost, 2); // 3, 4
        assert_eq!(t.reordered, 0);
    }

    #[test]
    fn reordered_but_complete() {
        let t = run(&[0, 2, 1, 4, 3, 5], 6, &[]);
        assert_eq!(t.received, 6);
        assert_eq!(t.lost, 0);
        assert_eq!(t.reordered, 2);
        assert_eq!(t.dup, 0);
    }

    #[test]
    fn late_duplicate_counts_both() {
        // 3 arrives, then 1 (late), then 3 again (dup, also behind 3? no: equal).
        let t = run(&[0, 3, 1, 3, 2], 4, &[]);
        assert_eq!(t.received, 4);
        assert_eq!(t.dup, 1);
        assert_eq!(t.reordered, 2); // 1 after 3, 2 after 3
    }

    #[test]
    fn failed_publishes_are_not_expected() {
        let t = run(&[0, 1, 3], 4, &[2]);
        assert_eq!(t.lost, 0);
        assert_eq!(t.received, 3);
        assert_eq!(t.unexpected, 0);
    }

    #[test]
    fn a_failed_publish_that_arrived_is_unexpected() {
        let t = run(&[0, 1, 2, 3], 4, &[2]);
        assert_eq!(t.lost, 0);
        assert_eq!(t.unexpected, 1);
    }

    #[test]
    fn beyond_published_is_unexpected() {
        let t = run(&[0, 1, 7], 2, &[]);
        assert_eq!(t.received, 2);
        assert_eq!(t.unexpected, 1);
        assert_eq!(t.lost, 0);
    }

    #[test]
    fn a_persistent_gap_is_bounded_and_counted_lost() {
        let mut t = Tracker::default();
        t.observe(0);
        for s in 2..(MAX_AHEAD as u32 + 100) {
            t.observe(s);
        }
        assert!(t.ahead.len() <= MAX_AHEAD);
        let tally = t.tally(MAX_AHEAD as u32 + 100, &[]);
        assert_eq!(tally.lost, 1);
        assert_eq!(tally.received, MAX_AHEAD as u64 + 99);
    }
}
