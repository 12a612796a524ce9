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
    /// Client publishes refused by a rate quota (429 / close 1008).
    pub refused_quota: AtomicU64,
    /// Publishes refused because the history write failed (503 / close 1011 / retry).
    pub refused_not_stored: AtomicU64,
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

/// Most entries `daily.messages` holds in a day. Labels come from publishers (a PHP
/// `$type`, a client's protobuf `type`): without a bound, 5,000 distinct labels would be
/// 5,000 entries until midnight.
pub const MAX_DAILY_LABELS: usize = 256;
/// Where messages with a label first seen after the map is full are counted.
pub const OVERFLOW_LABEL: &str = "other";
/// The label of a message whose label is missing or not valid (spec §2.8, as Node counts it).
pub const INVALID_LABEL: &str = "unknown";

/// The statistics label a message is counted under: `label` if it matches
/// `^[a-zA-Z0-9_*-]{1,32}$` (spec §2.8), else [`INVALID_LABEL`]. An invalid label is
/// counted, not refused: it is only a statistic, and the Node server does the same.
pub fn valid_label(label: &str) -> &str {
    let ok = (1..=32).contains(&label.len())
        && label
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'*' | b'-'));
    if ok {
        label
    } else {
        INVALID_LABEL
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

    /// Count one message under its label, keeping at most [`MAX_DAILY_LABELS`] entries:
    /// one slot stays free for [`OVERFLOW_LABEL`] until it is used, and it takes every
    /// new label once the others are taken.
    fn count_message(&mut self, label: &str) {
        let label = valid_label(label);
        if let Some(n) = self.messages.get_mut(label) {
            *n += 1;
            return;
        }
        let reserved = usize::from(!self.messages.contains_key(OVERFLOW_LABEL));
        let label = if self.messages.len() + reserved < MAX_DAILY_LABELS {
            label
        } else {
            OVERFLOW_LABEL
        };
        *self.messages.entry(label.to_owned()).or_default() += 1;
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

    /// Count one published message in `daily.messages` under its statistics label
    /// (validated and bounded here: see [`valid_label`], [`MAX_DAILY_LABELS`]). Called by
    /// [`crate::hub::Hub::publish`] only.
    pub(crate) fn count_message(&self, label: &str, now_unix: u64) {
        let mut d = self.daily.lock();
        d.roll(now_unix);
        d.count_message(label);
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

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 20_000 * 86_400;

    fn messages(c: &Counters) -> serde_json::Map<String, serde_json::Value> {
        c.daily_json(DAY)["messages"].as_object().unwrap().clone()
    }

    #[test]
    fn labels_follow_the_spec_pattern_else_unknown() {
        for ok in ["im_message", "a", "A-b*c_9", &"x".repeat(32)] {
            assert_eq!(valid_label(ok), ok);
        }
        for bad in [
            "",
            &"x".repeat(33),
            "im.message",
            "im message",
            "тип",
            "a/b",
        ] {
            assert_eq!(valid_label(bad), "unknown", "{bad:?}");
        }
    }

    #[test]
    fn distinct_labels_beyond_the_bound_are_counted_as_other() {
        let c = Counters::default();
        for i in 0..10_000 {
            c.count_message(&format!("label_{i}"), DAY);
        }
        let m = messages(&c);
        assert_eq!(m.len(), MAX_DAILY_LABELS);
        assert_eq!(m["label_0"], 1);
        assert_eq!(m["label_254"], 1);
        assert!(!m.contains_key("label_255"));
        assert_eq!(m["other"], 10_000 - (MAX_DAILY_LABELS as u64 - 1));
        let total: u64 = m.values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(total, 10_000, "every message is counted somewhere");
        // A label already in the map keeps its own entry.
        c.count_message("label_7", DAY);
        assert_eq!(messages(&c)["label_7"], 2);
    }

    #[test]
    fn the_bound_holds_when_other_and_unknown_are_real_labels() {
        let c = Counters::default();
        c.count_message("other", DAY);
        c.count_message("", DAY);
        for i in 0..1_000 {
            c.count_message(&format!("l{i}"), DAY);
        }
        assert_eq!(messages(&c).len(), MAX_DAILY_LABELS);
    }

    #[test]
    fn the_map_starts_empty_each_day() {
        let c = Counters::default();
        for i in 0..1_000 {
            c.count_message(&format!("l{i}"), DAY);
        }
        c.count_message("fresh", DAY + 86_400);
        let m = c.daily_json(DAY + 86_400)["messages"].clone();
        assert_eq!(m, serde_json::json!({"fresh": 1}));
    }
}
