//! Rate quotas of client publishes (WebSocket frames, `/bitrix/rest/`): per publisher
//! (the connection's public id) and per receiving channel. Without them one browser
//! published fast enough to push everyone's history out of `max_history_bytes` in
//! 0.35 s (issue 10 finding 4); the byte side of the same quota is in the history index
//! (`max_history_bytes_per_publisher`, `..._per_channel`). Trusted publishes (PHP,
//! `/bitrix/pub/`) are not limited: the site is the one who decides what to send.
//!
//! Token buckets: `rate` tokens a second, holding at most [`BURST_SECONDS`] × `rate`, so
//! a quiet client may still send a burst (a full request of 100 messages at the default
//! 10/s). A publish takes one token from its publisher's bucket and one from each
//! receiver's, all or nothing. A full bucket is the same as no bucket, so full ones are
//! forgotten by upkeep ([`PublishQuotas::forget_idle`]) and the maps hold only those
//! spent within the last ten seconds, which the rates themselves bound.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

use crate::protocol::{ChannelId, ChannelKey};

/// A bucket holds this many seconds' worth of tokens.
pub const BURST_SECONDS: f64 = 10.0;
/// Past this many buckets an admit forgets the full ones at once instead of waiting for
/// upkeep (only a site with that many publishers active at once reaches it).
const FORGET_INLINE_ABOVE: usize = 200_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Seconds since the quotas' epoch when `tokens` was computed.
    at: f64,
}

impl Bucket {
    fn level(&self, now: f64, rate: f64) -> f64 {
        (self.tokens + (now - self.at).max(0.0) * rate).min(rate * BURST_SECONDS)
    }
}

#[derive(Default)]
struct Buckets {
    publishers: HashMap<ChannelId, Bucket>,
    channels: HashMap<ChannelKey, Bucket>,
}

pub struct PublishQuotas {
    per_publisher: f64,
    per_channel: f64,
    epoch: Instant,
    buckets: Mutex<Buckets>,
}

impl PublishQuotas {
    /// `per_publisher` and `per_channel` are messages per second.
    pub fn new(per_publisher: u32, per_channel: u32) -> Self {
        PublishQuotas {
            per_publisher: per_publisher as f64,
            per_channel: per_channel as f64,
            epoch: Instant::now(),
            buckets: Mutex::new(Buckets::default()),
        }
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// May `publisher` publish one message to `receivers` now? Takes the tokens if so.
    pub fn admit(&self, publisher: ChannelId, receivers: &[ChannelKey]) -> bool {
        self.admit_at(publisher, receivers, self.now())
    }

    fn admit_at(&self, publisher: ChannelId, receivers: &[ChannelKey], now: f64) -> bool {
        let (pr, cr) = (self.per_publisher, self.per_channel);
        let mut b = self.buckets.lock();
        let full = |rate: f64| Bucket {
            tokens: rate * BURST_SECONDS,
            at: now,
        };
        let p_level = b
            .publishers
            .get(&publisher)
            .map_or(pr * BURST_SECONDS, |x| x.level(now, pr));
        if p_level < 1.0 {
            return false;
        }
        let channel_ok = receivers.iter().all(|k| {
            b.channels
                .get(k)
                .map_or(cr * BURST_SECONDS, |x| x.level(now, cr))
                >= 1.0
        });
        if !channel_ok {
            return false;
        }
        if b.publishers.len() + b.channels.len() > FORGET_INLINE_ABOVE {
            Self::forget_full(&mut b, now, pr, cr);
        }
        b.publishers.insert(
            publisher,
            Bucket {
                tokens: p_level - 1.0,
                at: now,
            },
        );
        for k in receivers {
            let e = b.channels.entry(*k).or_insert_with(|| full(cr));
            *e = Bucket {
                tokens: e.level(now, cr) - 1.0,
                at: now,
            };
        }
        true
    }

    fn forget_full(b: &mut Buckets, now: f64, pr: f64, cr: f64) {
        b.publishers
            .retain(|_, x| x.level(now, pr) < pr * BURST_SECONDS);
        b.channels
            .retain(|_, x| x.level(now, cr) < cr * BURST_SECONDS);
    }

    /// Forget buckets that refilled (upkeep): they are the same as absent ones.
    pub fn forget_idle(&self) {
        let now = self.now();
        let mut b = self.buckets.lock();
        Self::forget_full(&mut b, now, self.per_publisher, self.per_channel);
    }

    /// Buckets held (publishers + channels), for tests and diagnostics.
    pub fn len(&self) -> usize {
        let b = self.buckets.lock();
        b.publishers.len() + b.channels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ChannelId {
        ChannelId([n; 16])
    }

    fn ch(n: u8) -> ChannelKey {
        ChannelKey::public(id(n))
    }

    #[test]
    fn a_publisher_gets_its_burst_then_its_rate() {
        let q = PublishQuotas::new(10, 1000);
        let admitted = (0..150)
            .filter(|_| q.admit_at(id(1), &[ch(9)], 0.0))
            .count();
        assert_eq!(admitted, 100);
        // Another publisher is not affected.
        assert!(q.admit_at(id(2), &[ch(9)], 0.0));
        // Half a second refills five.
        let later = (0..10).filter(|_| q.admit_at(id(1), &[ch(9)], 0.5)).count();
        assert_eq!(later, 5);
    }

    #[test]
    fn a_channel_is_limited_across_publishers_all_or_nothing() {
        let q = PublishQuotas::new(1000, 2);
        let admitted = (0..40u8)
            .filter(|n| q.admit_at(id(*n), &[ch(7)], 0.0))
            .count();
        assert_eq!(admitted, 20);
        // A message to a spent channel and a fresh one takes nothing from the fresh one.
        assert!(!q.admit_at(id(50), &[ch(8), ch(7)], 0.0));
        let fresh = (0..30)
            .filter(|_| q.admit_at(id(51), &[ch(8)], 0.0))
            .count();
        assert_eq!(fresh, 20);
    }

    #[test]
    fn refilled_buckets_are_forgotten() {
        let q = PublishQuotas::new(10, 10);
        assert!(q.admit_at(id(1), &[ch(1), ch(2)], 0.0));
        assert_eq!(q.len(), 3);
        let mut b = q.buckets.lock();
        PublishQuotas::forget_full(&mut b, 0.05, 10.0, 10.0);
        assert_eq!(b.publishers.len() + b.channels.len(), 3);
        PublishQuotas::forget_full(&mut b, 0.1, 10.0, 10.0);
        assert_eq!(b.publishers.len() + b.channels.len(), 0);
    }
}
