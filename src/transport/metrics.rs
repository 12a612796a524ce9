//! `GET /metrics` on the trusted listener: the Prometheus text exposition format (0.0.4).
//! Names follow Prometheus conventions: `bxpush_` prefix, `_total` for counters, base
//! units (seconds, bytes). Read from the same counters as `/server-stat/` plus
//! [`super::ops_counters`]; rendering takes no hub lock but the one `channel_count` and
//! `store_stats` take briefly.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use hyper::Response;

use super::http::{self, Body};
use super::ops_counters::{ConnError, Transport};
use super::App;
use crate::hub::Counters;

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn serve(app: &App) -> Response<Body> {
    http::response(hyper::StatusCode::OK, CONTENT_TYPE, http::full(render(app)))
}

/// Writes families: `# HELP`, `# TYPE`, then samples.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                // Label values here are fixed words and numbers: nothing to escape.
                let _ = write!(self.0, "{k}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn le(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

pub fn render(app: &App) -> String {
    let c = &app.hub.counters;
    let ops = &app.ops;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut o = Out(String::with_capacity(8 * 1024));

    o.family(
        "bxpush_build_info",
        "gauge",
        "Always 1; the version is a label.",
    );
    o.sample(
        "bxpush_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    o.one(
        "bxpush_start_time_seconds",
        "gauge",
        "Unix time the server started.",
        app.started_unix,
    );

    o.family(
        "bxpush_connections",
        "gauge",
        "Subscribers connected now, by transport.",
    );
    for (t, g) in [
        (Transport::WebSocket, &c.websockets),
        (Transport::LongPoll, &c.pollings),
        (Transport::Sse, &c.sse),
    ] {
        o.sample(
            "bxpush_connections",
            &[("transport", t.label())],
            Counters::get(g),
        );
    }
    o.one(
        "bxpush_tcp_connections",
        "gauge",
        "Open TCP connections on both listeners (subscribers, publishers, stats).",
        app.connections.load(Ordering::Relaxed),
    );
    o.one(
        "bxpush_tcp_connections_limit",
        "gauge",
        "max_connections: connections above it are refused.",
        app.config.max_connections,
    );
    o.one(
        "bxpush_channels",
        "gauge",
        "Channels with a subscriber or recently online.",
        app.hub.channel_count(),
    );

    o.one(
        "bxpush_messages_published_total",
        "counter",
        "Messages published (trusted publish, PHP hand-off and client publish).",
        load(&c.published),
    );
    o.family(
        "bxpush_messages_delivered_total",
        "counter",
        "Messages handed to a subscriber's socket, by transport (replays included).",
    );
    for t in Transport::ALL {
        o.sample(
            "bxpush_messages_delivered_total",
            &[("transport", t.label())],
            ops.delivered_total(t),
        );
    }
    o.one(
        "bxpush_deliveries_dropped_total",
        "counter",
        "Deliveries refused because the subscriber's send queue was full (max_queue_per_connection); the subscriber is cut off.",
        load(&c.slow_readers_cut),
    );
    o.one(
        "bxpush_slow_readers_cut_total",
        "counter",
        "Subscribers closed because they read too slowly (WebSocket close 1008).",
        load(&c.slow_readers_cut),
    );
    o.one(
        "bxpush_stalled_connections_cut_total",
        "counter",
        "Connections cut because they took nothing of what they were sent for write_timeout.",
        app.outbound.stalled(),
    );
    o.one(
        "bxpush_sending_bytes",
        "gauge",
        "Bytes of replies, replay chunks and frames handed to connections and not yet taken by their sockets.",
        app.outbound.held(),
    );
    o.one(
        "bxpush_connections_kicked_total",
        "counter",
        "Oldest subscribers closed with 4029 because a public channel had max_conn_per_channel.",
        load(&c.kicked_too_many),
    );
    o.one(
        "bxpush_connections_refused_total",
        "counter",
        "Connections refused at accept because max_connections was reached.",
        load(&c.refused_connections),
    );
    o.family(
        "bxpush_connection_errors_total",
        "counter",
        "Connections that ended with an error (reset, malformed request, protocol violation); logged at debug only.",
    );
    for (kind, label) in [
        (ConnError::Http, "http"),
        (ConnError::WebSocket, "websocket"),
    ] {
        o.sample(
            "bxpush_connection_errors_total",
            &[("kind", label)],
            ops.conn_errors(kind),
        );
    }
    o.family(
        "bxpush_bad_requests_total",
        "counter",
        "Requests refused, by protocol code (4010 wrong channel id, 4021 bad signature, 413 too large, ...).",
    );
    for (code, n) in ops.bad_requests() {
        o.sample(
            "bxpush_bad_requests_total",
            &[("code", &code.to_string())],
            n,
        );
    }

    let ing = &c.ingress;
    o.one(
        "bxpush_handoff_items_applied_total",
        "counter",
        "PHP hand-off items applied (publishes, watch changes).",
        load(&ing.applied),
    );
    o.one(
        "bxpush_handoff_items_duplicate_total",
        "counter",
        "PHP hand-off items skipped because they were already applied (retries, spool replays).",
        load(&ing.duplicates),
    );
    o.one(
        "bxpush_handoff_items_rejected_total",
        "counter",
        "PHP hand-off items that could not be applied.",
        load(&ing.rejected),
    );
    o.one(
        "bxpush_handoff_batches_total",
        "counter",
        "PHP hand-off batches received.",
        load(&ing.batches),
    );
    o.one(
        "bxpush_handoff_connections",
        "gauge",
        "PHP worker connections open now.",
        ing.connections.load(Ordering::Relaxed),
    );
    o.one(
        "bxpush_handoff_connections_refused_total",
        "counter",
        "PHP worker connections refused (wrong key or version, malformed frames).",
        load(&ing.refused),
    );
    o.one(
        "bxpush_watches",
        "gauge",
        "Tag watches (CPullWatch) held.",
        app.hub.watches.len(),
    );

    let store = app.hub.store_stats();
    o.one(
        "bxpush_store_messages",
        "gauge",
        "Messages held in history.",
        store.messages,
    );
    o.one(
        "bxpush_store_channels",
        "gauge",
        "Channels with messages in history.",
        store.channels,
    );
    o.one(
        "bxpush_store_body_bytes",
        "gauge",
        "Body bytes held in history (each body once).",
        store.bytes,
    );
    o.one(
        "bxpush_store_log_bytes",
        "gauge",
        "Size of messages.log in the data dir (0 without one).",
        store.log_bytes,
    );
    o.one(
        "bxpush_store_errors_total",
        "counter",
        "Failed history writes, rewrites and flushes (the first of a streak is logged).",
        store.errors,
    );
    o.one(
        "bxpush_store_held_bytes",
        "gauge",
        "Bytes max_history_bytes is compared with: bodies plus bookkeeping.",
        store.held_bytes,
    );
    o.one(
        "bxpush_store_evicted_by_bytes_total",
        "counter",
        "Messages evicted by a byte limit (total, per channel, per client publisher).",
        store.evicted_by_bytes,
    );
    o.one(
        "bxpush_publish_refused_not_stored_total",
        "counter",
        "Publishes refused because the history write failed (503, close 1011, hand-off retry).",
        load(&c.refused_not_stored),
    );
    o.one(
        "bxpush_publish_refused_quota_total",
        "counter",
        "Client publishes refused by a rate quota (429, close 1008).",
        load(&c.refused_quota),
    );

    let name = "bxpush_delivery_latency_seconds";
    o.family(
        name,
        "histogram",
        "Time from publish to handing a live message to the subscriber's socket.",
    );
    let bucket = format!("{name}_bucket");
    for (bound, n) in ops.latency.cumulative() {
        o.sample(&bucket, &[("le", &le(bound))], n);
    }
    o.sample(&format!("{name}_sum"), &[], ops.latency.sum_seconds());
    o.sample(&format!("{name}_count"), &[], ops.latency.count());
    o.0
}
