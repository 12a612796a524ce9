//! The status page at `/` of the trusted listener: live connections by transport,
//! channels, messages per second (a canvas chart, no CDN), recent warnings and errors,
//! and a form that publishes a test event to a channel the page itself subscribes to
//! (WebSocket, falling back to SSE, then long polling), so an operator sees the whole path
//! work. The files are embedded in the binary.
//!
//! `/status.json` feeds it. It carries a signed descriptor of the page's own test channel,
//! so it is served only on the trusted listener and without `Access-Control-Allow-Origin`
//! (another site open in the operator's browser cannot read it).

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::http::{self, Body};
use super::ops_counters::Transport;
use super::App;
use crate::hub::Counters;
use crate::protocol::descriptor::sign_private_descriptor;
use crate::protocol::ChannelId;

const INDEX: &str = include_str!("status_page/index.html");
const APP_JS: &str = include_str!("status_page/app.js");
const STYLE: &str = include_str!("status_page/style.css");

/// Recent entries shown on the page.
const RECENT: usize = 20;

/// The paths this module answers on the trusted listener.
pub fn handles(path: &str) -> bool {
    matches!(
        path,
        "/" | "/status.json" | "/status/app.js" | "/status/style.css"
    )
}

pub fn serve(app: &App, path: &str) -> Response<Body> {
    let (ctype, body): (&str, String) = match path {
        "/" => ("text/html; charset=utf-8", INDEX.to_string()),
        "/status/app.js" => ("text/javascript; charset=utf-8", APP_JS.to_string()),
        "/status/style.css" => ("text/css; charset=utf-8", STYLE.to_string()),
        "/status.json" => ("application/json", status(app).to_string()),
        _ => return http::not_found(),
    };
    let mut r = http::response(StatusCode::OK, ctype, http::full(body));
    let h = r.headers_mut();
    h.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "Content-Security-Policy",
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self' ws: wss: http: https:; frame-ancestors 'none'",
        ),
    );
    r
}

/// The page's test channel: one random id per process.
fn test_channel() -> ChannelId {
    static ID: OnceLock<ChannelId> = OnceLock::new();
    *ID.get_or_init(|| ChannelId(rand::random()))
}

pub fn status(app: &App) -> serde_json::Value {
    let c = &app.hub.counters;
    let now = crate::hub::now_unix();
    let store = app.hub.store_stats();
    let id = test_channel();
    let descriptor = match &app.signer {
        Some(s) => sign_private_descriptor(s, &id, None),
        None => id.to_hex(),
    };
    let sub = app.config.listen_sub;
    let delivered: serde_json::Map<String, serde_json::Value> = Transport::ALL
        .iter()
        .map(|t| (t.label().to_string(), app.ops.delivered_total(*t).into()))
        .collect();
    let sub_host = match sub.ip() {
        ip if ip.is_unspecified() => None,
        std::net::IpAddr::V6(ip) => Some(format!("[{ip}]")),
        std::net::IpAddr::V4(ip) => Some(ip.to_string()),
    };
    let mut recent = crate::logging::recent::entries();
    recent.reverse();
    recent.truncate(RECENT);
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptimeSeconds": now.saturating_sub(app.started_unix),
        "connections": {
            "websocket": Counters::get(&c.websockets),
            "longpoll": Counters::get(&c.pollings),
            "sse": Counters::get(&c.sse),
            "tcp": app.connections.load(Ordering::Relaxed),
            "limit": app.config.max_connections,
        },
        "channels": app.hub.channel_count(),
        "published": c.published.load(Ordering::Relaxed),
        "delivered": delivered,
        "badRequests": c.bad_requests.load(Ordering::Relaxed),
        "slowReadersCut": c.slow_readers_cut.load(Ordering::Relaxed),
        "refusedConnections": c.refused_connections.load(Ordering::Relaxed),
        "store": { "messages": store.messages, "bytes": store.bytes, "errors": store.errors },
        "recent": recent,
        "test": {
            "channel": id.to_hex(),
            "descriptor": descriptor,
            // null: the page uses the host it was loaded from.
            "subHost": sub_host,
            "subPort": sub.port(),
        },
    })
}
