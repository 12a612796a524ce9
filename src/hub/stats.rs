//! Counters the hub and transports keep for `/server-stat/`, `serverStats` and logs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Live gauges and totals. Atomics: transports update them without the hub lock.
#[derive(Default)]
pub struct Counters {
    pub websockets: AtomicI64,
    pub pollings: AtomicI64,
    pub sse: AtomicI64,
    pub published: AtomicU64,
    pub slow_readers_cut: AtomicU64,
    pub kicked_too_many: AtomicU64,
    pub bad_requests: AtomicU64,
    pub refused_connections: AtomicU64,
    /// The PHP hand-off (`bxpush.ingress` in `/server-stat/`).
    pub ingress: IngressCounters,
    daily: Mutex<Daily>,
}

/// Counters of the PHP hand-off listener and of in-process applies.
#[derive(Default)]
pub struct IngressCounters {
    /// Items applied (published, watch changes).
    pub applied: AtomicU64,
    /// Items skipped because their (origin, seq) was already applied.
    pub duplicates: AtomicU64,
    /// Items that could not be applied and were skipped (answered with an Error frame).
    pub rejected: AtomicU64,
    pub batches: AtomicU64,
    pub queries: AtomicU64,
    /// Worker connections open now.
    pub connections: AtomicI64,
    /// Connections refused: wrong key, wrong version, malformed or oversized frames.
    pub refused: AtomicU64,
    /// Origins whose high-water mark is remembered.
    pub origins: AtomicU64,
}

impl IngressCounters {
    pub fn json(&self, watches: &crate::hub::Watches) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "applied": g(&self.applied),
            "duplicates": g(&self.duplicates),
            "rejected": g(&self.rejected),
            "batches": g(&self.batches),
            "queries": g(&self.queries),
            "connections": self.connections.load(Ordering::Relaxed),
            "refused": g(&self.refused),
            "origins": g(&self.origins),
            "watches": watches.len(),
            "watchesEvicted": watches.evicted(),
        })
    }
}

/// Per-day request and message-type counts, as the Node server reports them (reset at
/// local midnight there; at UTC midnight here, as we have no time zone database).
#[derive(Default)]
struct Daily {
    day: u64,
    requests: BTreeMap<String, u64>,
    messages: BTreeMap<String, u64>,
}

impl Daily {
    fn roll(&mut self, now_unix: u64) {
        let day = now_unix / 86_400;
        if day != self.day {
            self.day = day;
            self.requests.clear();
            self.messages.clear();
        }
    }
}

impl Counters {
    pub fn gauge(g: &AtomicI64, delta: i64) {
        g.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn count_request(&self, command: &str, now_unix: u64) {
        let mut d = self.daily.lock();
        d.roll(now_unix);
        *d.requests.entry(command.to_string()).or_default() += 1;
    }

    pub fn count_message(&self, kind: &str, now_unix: u64) {
        let mut d = self.daily.lock();
        d.roll(now_unix);
        *d.messages.entry(kind.to_string()).or_default() += 1;
    }

    /// `{"requests":{…},"messages":{…}}` of the day.
    pub fn daily_json(&self, now_unix: u64) -> serde_json::Value {
        let mut d = self.daily.lock();
        d.roll(now_unix);
        serde_json::json!({ "requests": d.requests, "messages": d.messages })
    }

    pub fn get(g: &AtomicI64) -> i64 {
        g.load(Ordering::Relaxed)
    }
}
