//! Counters that exist for operators (`/metrics`, the status page) rather than for the
//! Node-compatible `/server-stat/`: client errors by code, connection errors that are
//! logged only at debug, deliveries by transport and the publish→write latency.
//! Atomics, updated without any lock on the delivery path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::message::Message;

/// How a message reached a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    LongPoll,
    Sse,
}

impl Transport {
    pub const ALL: [Transport; 3] = [Transport::WebSocket, Transport::LongPoll, Transport::Sse];

    /// The `transport` label value.
    pub fn label(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::LongPoll => "longpoll",
            Transport::Sse => "sse",
        }
    }
}

/// Where a connection failed before it ended normally (reset, broken frame, timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnError {
    /// An HTTP connection (hyper): resets, malformed requests, header timeouts.
    Http,
    /// An upgraded WebSocket: resets, protocol violations, oversized frames.
    WebSocket,
}

/// Upper bounds of the latency buckets, seconds (Prometheus `le`).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A fixed-bucket histogram of seconds (cumulative counts are made when rendered).
#[derive(Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn observe_micros(&self, micros: u64) {
        let secs = micros as f64 / 1e6;
        let i = LATENCY_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// `(le, cumulative count)` per bucket, `+Inf` last (`f64::INFINITY`).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            total += b.load(Ordering::Relaxed);
            let le = LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
            out.push((le, total));
        }
        out
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct OpsCounters {
    delivered: [AtomicU64; 3],
    http_conn_errors: AtomicU64,
    ws_conn_errors: AtomicU64,
    /// Refused requests by protocol code (4010…, or 413 for a body over max_payload).
    /// A few dozen codes at most, so a map under a lock is fine (errors are rare).
    bad_requests: Mutex<BTreeMap<u16, u64>>,
    /// Publish → handed to the socket, live deliveries only (replays would measure how
    /// long a client was away, not the server).
    pub latency: Histogram,
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl OpsCounters {
    /// `msgs` were handed to a subscriber's socket; `live` = they were queued by a
    /// publish while it was subscribed (not a replay), so their latency is observed.
    pub fn delivered(&self, t: Transport, msgs: &[Arc<Message>], live: bool) {
        self.delivered[t as usize].fetch_add(msgs.len() as u64, Ordering::Relaxed);
        if live {
            let now = now_micros();
            for m in msgs {
                self.latency
                    .observe_micros(now.saturating_sub(m.published_ms * 1000));
            }
        }
    }

    pub fn delivered_total(&self, t: Transport) -> u64 {
        self.delivered[t as usize].load(Ordering::Relaxed)
    }

    pub fn conn_error(&self, kind: ConnError) {
        match kind {
            ConnError::Http => &self.http_conn_errors,
            ConnError::WebSocket => &self.ws_conn_errors,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn conn_errors(&self, kind: ConnError) -> u64 {
        match kind {
            ConnError::Http => &self.http_conn_errors,
            ConnError::WebSocket => &self.ws_conn_errors,
        }
        .load(Ordering::Relaxed)
    }

    pub fn bad_request(&self, code: u16) {
        *self.bad_requests.lock().entry(code).or_default() += 1;
    }

    pub fn bad_requests(&self) -> BTreeMap<u16, u64> {
        self.bad_requests.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let h = Histogram::default();
        h.observe_micros(300); // 0.0003 s: first bucket
        h.observe_micros(2_000); // 0.002 s: le 0.0025
        h.observe_micros(60_000_000); // 60 s: +Inf only
        let c = h.cumulative();
        assert_eq!(c[0], (0.0005, 1));
        assert_eq!(c[2], (0.0025, 2));
        assert_eq!(c[LATENCY_BUCKETS.len() - 1].1, 2);
        assert_eq!(*c.last().unwrap(), (f64::INFINITY, 3));
        assert_eq!(h.count(), 3);
        assert!((h.sum_seconds() - 60.0023).abs() < 1e-9);
    }
}
