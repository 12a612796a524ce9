//! `GET /server-stat/` (spec §2.8): a JSON array with one object per process, in the
//! Node server's shape, plus our own counters under `bxpush`.

use std::sync::atomic::Ordering;

use hyper::{Response, StatusCode};

use super::http::{self, Body};
use super::App;
use crate::hub::Counters;

pub fn json(app: &App) -> serde_json::Value {
    let c = &app.hub.counters;
    let now = crate::hub::now_unix();
    let store = app.hub.store_stats();
    serde_json::json!({
        "pid": std::process::id(),
        "date": crate::hub::now_ms(),
        "processUniqueId": app.process_unique_id,
        "channels": app.hub.channel_count(),
        "limits": {
            "maxPayload": app.config.max_payload,
            "maxConnPerChannel": app.config.max_conn_per_channel,
            "maxMessagesPerRequest": app.config.max_messages_per_request,
            "maxChannelsPerRequest": app.config.max_channels_per_request,
        },
        "clusterMode": app.hub.cluster().is_some(),
        "websockets": Counters::get(&c.websockets),
        "pollings": Counters::get(&c.pollings),
        "daily": c.daily_json(now),
        "bxpush": {
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": now.saturating_sub(app.started_unix),
            "sse": Counters::get(&c.sse),
            "connections": app.connections.load(Ordering::Relaxed),
            "channelEntries": app.hub.channel_entries(),
            // WebSockets on the ping wheel: equal to `websockets` (a leak if not).
            "pingedSockets": app.ws_pings.len(),
            "trustedConnections": app.trusted_open(),
            "published": c.published.load(Ordering::Relaxed),
            "slowReadersCut": c.slow_readers_cut.load(Ordering::Relaxed),
            // Replies, replay chunks and frames handed to connections, not yet taken.
            "sendingBytes": app.outbound.held(),
            // Connections that took nothing of what they were sent for write_timeout.
            "stalledCut": app.outbound.stalled(),
            "kickedTooManyConnections": c.kicked_too_many.load(Ordering::Relaxed),
            "badRequests": c.bad_requests.load(Ordering::Relaxed),
            "refusedConnections": c.refused_connections.load(Ordering::Relaxed),
            "storedMessages": store.messages,
            "storedChannels": store.channels,
            "storedBytes": store.bytes,
            "storedHeldBytes": store.held_bytes,
            "evictedByBytes": store.evicted_by_bytes,
            "historyTombstones": store.tombstones,
            "storeErrors": store.errors,
            "refusedNotStored": c.refused_not_stored.load(Ordering::Relaxed),
            "refusedQuota": c.refused_quota.load(Ordering::Relaxed),
            "ingress": c.ingress.json(&app.hub.watches),
            "redis": app.hub.cluster().map(|e| e.status()),
        }
    })
}

/// This process first, then (with Redis) every other live process of the cluster as
/// it wrote itself into the `stats` hash, Node push-servers included.
pub fn serve(app: &App) -> Response<Body> {
    let mut all = vec![json(app)];
    if let Some(engine) = app.hub.cluster() {
        all.extend(engine.other_stats());
    }
    http::text(StatusCode::OK, serde_json::Value::Array(all).to_string())
}
