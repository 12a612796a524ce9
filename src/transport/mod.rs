//! HTTP/1.1 listeners and routing (spec §2.0): the subscriber listener (long polling,
//! WebSocket, SSE, client publishing) and the trusted publish listener (`/bitrix/pub/`,
//! `/server-stat/`, and client publishing too, as the Node "pub" processes serve `rest`).

pub mod client_publish;
pub mod commands;
pub mod frames;
pub mod http;
pub mod http1_wire;
pub mod longpoll;
pub mod longpoll_raw;
pub mod metrics;
pub mod ops_counters;
pub mod outbound;
pub mod publish;
pub mod raw_write;
pub mod server_stat;
pub mod sse;
pub mod sse_raw;
pub mod status_page;
pub mod sub_conn;
pub mod subscribe;
#[cfg(test)]
mod test_sockets;
pub mod websocket;
pub mod write_deadline;
pub mod ws_codec;
pub mod ws_direct;
pub mod ws_pings;
pub mod ws_socket;

use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::config::Config;
use crate::hub::{Counters, Hub, Subscriber};
use crate::protocol::{Limits, Signer};
use http::Body;

/// Everything a request handler needs; shared by all connections.
pub struct App {
    pub hub: Arc<Hub>,
    pub config: Config,
    pub signer: Option<Signer>,
    pub limits: Limits,
    pub started_unix: u64,
    pub process_unique_id: String,
    /// Open TCP connections on both listeners.
    pub connections: AtomicUsize,
    /// Of those, the ones on the trusted publish listener: a budget of their own
    /// (`max_trusted_connections`, shared with the PHP socket), so subscribers filling
    /// `max_connections` can never lock publishing out.
    pub trusted_connections: AtomicUsize,
    /// Operators' counters (`/metrics`): errors by code, deliveries, latency.
    pub ops: ops_counters::OpsCounters,
    /// Bytes being sent and connections cut as stalled (`/server-stat/`).
    pub outbound: Arc<outbound::Counters>,
    /// The pings of every WebSocket: one timer, not one per connection.
    pub ws_pings: Arc<ws_pings::PingWheel>,
}

impl App {
    pub fn new(hub: Arc<Hub>, config: Config) -> Self {
        let signer = config
            .signature_key
            .as_ref()
            .map(|k| Signer::new(k.as_bytes(), config.signature_algo));
        let limits = Limits {
            max_messages_per_request: config.max_messages_per_request,
            max_channels_per_request: config.max_channels_per_request,
        };
        let process_unique_id =
            crate::node_id::resolve(config.node_id.as_deref(), config.listen_sub.port());
        let ws_pings = ws_pings::PingWheel::new(config.ws_ping_interval);
        Self {
            hub,
            config,
            signer,
            limits,
            started_unix: crate::hub::now_unix(),
            process_unique_id,
            connections: AtomicUsize::new(0),
            trusted_connections: AtomicUsize::new(0),
            ops: Default::default(),
            outbound: Default::default(),
            ws_pings,
        }
    }

    /// A rejected request: counted by `code` (the protocol code, or the HTTP status when
    /// there is none) and kept for the status page; logged at debug only, as a client's
    /// mistake is not the operator's event (`/metrics` shows the rate).
    pub fn bad_request(&self, code: u16, what: &str) {
        self.hub
            .counters
            .bad_requests
            .fetch_add(1, Ordering::Relaxed);
        self.ops.bad_request(code);
        crate::logging::recent::note("client", format!("bad request: {what}"));
        tracing::debug!("bad request: {what}");
    }

    /// Open trusted connections: the publish listener's and the PHP socket's.
    pub fn trusted_open(&self) -> usize {
        let php = self
            .hub
            .counters
            .ingress
            .connections
            .load(Ordering::Relaxed);
        self.trusted_connections.load(Ordering::Relaxed) + php.max(0) as usize
    }

    /// Whether one more connection of this kind fits its budget.
    pub fn has_room(&self, kind: Listener) -> bool {
        match kind {
            Listener::Sub => {
                let all = self.connections.load(Ordering::Relaxed);
                let trusted = self.trusted_connections.load(Ordering::Relaxed);
                all.saturating_sub(trusted) < self.config.max_connections
            }
            Listener::Pub => self.trusted_open() < self.config.max_trusted_connections,
        }
    }

    /// Count a refused connection; at most one warning a second (`warn_limit`), so a
    /// flood does not flood the log too.
    pub fn refuse(&self, kind: Listener, peer: &dyn std::fmt::Display, warn_limit: &mut Instant) {
        self.hub
            .counters
            .refused_connections
            .fetch_add(1, Ordering::Relaxed);
        if warn_limit.elapsed() >= Duration::from_secs(1) {
            *warn_limit = Instant::now();
            let (what, limit) = match kind {
                Listener::Sub => ("max_connections", self.config.max_connections),
                Listener::Pub => (
                    "max_trusted_connections",
                    self.config.max_trusted_connections,
                ),
            };
            tracing::warn!(%peer, limit, "connection refused: {what} reached");
        }
    }

    /// Count a live connection of one kind for as long as the guard lives.
    pub fn gauge(&self, field: fn(&Counters) -> &AtomicI64) -> Gauge {
        field(&self.hub.counters).fetch_add(1, Ordering::Relaxed);
        Gauge {
            hub: self.hub.clone(),
            field,
        }
    }
}

/// Decrements a connection gauge of the hub's counters when dropped.
pub struct Gauge {
    hub: Arc<Hub>,
    field: fn(&Counters) -> &AtomicI64,
}

impl Drop for Gauge {
    fn drop(&mut self) {
        (self.field)(&self.hub.counters).fetch_sub(1, Ordering::Relaxed);
    }
}

/// A subscriber registered in the hub, unregistered when dropped (however the
/// connection ends: normal close, error, cancelled request future).
pub struct Attached {
    hub: Arc<Hub>,
    pub sub: Arc<Subscriber>,
}

impl Attached {
    pub fn new(hub: Arc<Hub>, sub: Arc<Subscriber>) -> Self {
        Self { hub, sub }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.sub);
    }
}

/// Counts one open connection in `App::connections` (and a trusted one in
/// `App::trusted_connections`) while it lives. An upgraded WebSocket takes its own guard:
/// hyper's connection task ends at the upgrade.
pub struct ConnGuard(Arc<App>, Listener);

impl ConnGuard {
    pub fn new(app: &Arc<App>, kind: Listener) -> Self {
        app.connections.fetch_add(1, Ordering::Relaxed);
        if kind == Listener::Pub {
            app.trusted_connections.fetch_add(1, Ordering::Relaxed);
        }
        ConnGuard(app.clone(), kind)
    }
}

impl ConnGuard {
    /// Hand the count over to a holder that undoes it itself (a WebSocket's `Conn`, whose
    /// `Drop` decrements it): counted once more, then this guard's drop undoes its own.
    pub fn hand_over(self) {
        debug_assert!(self.1 == Listener::Sub);
        self.0.connections.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.1 == Listener::Pub {
            self.0.trusted_connections.fetch_sub(1, Ordering::Relaxed);
        }
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Sub,
    Pub,
}

/// Accept connections until `stop` turns true.
pub async fn accept_loop(
    app: Arc<App>,
    listener: TcpListener,
    kind: Listener,
    mut stop: watch::Receiver<bool>,
) {
    // One warning per second at most when refusing: a flood must not flood the log too.
    let mut warn_limit = Instant::now() - Duration::from_secs(2);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning, and say so at
                    // most once a second (the retries would be 20 lines a second).
                    if warn_limit.elapsed() >= Duration::from_secs(1) {
                        warn_limit = std::time::Instant::now();
                        if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                            tracing::warn!(error = %e, "accept failed: out of file descriptors; raise LimitNOFILE (ulimit -n) above max_connections, or lower max_connections");
                        } else {
                            tracing::warn!(error = %e, "accept failed");
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        if !app.has_room(kind) {
            app.refuse(kind, &peer, &mut warn_limit);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let guard = ConnGuard::new(&app, kind);
        let app = app.clone();
        match kind {
            // Long polls on the raw socket, the rest handed to hyper (`sub_conn`).
            Listener::Sub => tokio::spawn(sub_conn::serve(app, stream, peer, guard)),
            Listener::Pub => tokio::spawn(serve_hyper(
                app,
                kind,
                sub_conn::Prefixed::new(Bytes::new(), stream),
                peer,
                guard,
            )),
        };
    }
}

/// The connection's I/O under hyper (what a WebSocket upgrade downcasts to).
pub type HyperIo = TokioIo<write_deadline::WriteDeadline<sub_conn::Prefixed<TcpStream>>>;

/// Serve a connection with hyper until it ends (`stream` starts with what was read of it
/// before, if anything).
pub async fn serve_hyper(
    app: Arc<App>,
    kind: Listener,
    stream: sub_conn::Prefixed<TcpStream>,
    peer: std::net::SocketAddr,
    guard: ConnGuard,
) {
    let _guard = guard;
    let svc_app = app.clone();
    let service = service_fn(move |req| route(svc_app.clone(), kind, req));
    let stream =
        write_deadline::WriteDeadline::new(stream, app.config.write_timeout, app.outbound.clone());
    // half_close: a client may send its request and shut its sending side down
    // (`shutdown(SHUT_WR)`) while it waits; without this hyper took the EOF that
    // arrived before the answer was ready for a dead peer and dropped the request
    // unanswered (issue 10: 31 of 300). The cost: a long poll whose client closed
    // is noticed when its answer is written, not at once.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(sub_conn::HEAD_TIMEOUT)
        .half_close(true)
        .serve_connection(HyperIo::new(stream), service)
        .with_upgrades();
    // Resets and malformed requests are the clients' business: debug, counted.
    if let Err(e) = conn.await {
        app.ops.conn_error(ops_counters::ConnError::Http);
        tracing::debug!(%peer, error = %e, "connection error");
    }
}

fn path_is(path: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| path.starts_with(p))
}

pub(crate) const SUB_PATHS: &[&str] = &["/bitrix/subws/", "/bitrix/sub/"];
const REST_PATHS: &[&str] = &["/bitrix/rest/", "/bitrix/pubweb/"];

async fn route(
    app: Arc<App>,
    kind: Listener,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let resp = match (kind, &method) {
        (_, &Method::OPTIONS)
            if path_is(&path, SUB_PATHS)
                || path_is(&path, REST_PATHS)
                || path.starts_with("/bitrix/pub/") =>
        {
            http::options()
        }
        (Listener::Sub, &Method::GET) if path_is(&path, SUB_PATHS) => subscribe(app, req).await,
        (_, &Method::POST) if path_is(&path, REST_PATHS) => {
            client_publish::serve_http(app, req).await
        }
        (Listener::Pub, &Method::POST | &Method::GET) if path.starts_with("/bitrix/pub/") => {
            publish::serve(app, req).await
        }
        (Listener::Pub, &Method::GET) if path.starts_with("/server-stat/") => {
            server_stat::serve(&app)
        }
        (Listener::Pub, &Method::GET) if path == "/metrics" => metrics::serve(&app),
        (Listener::Pub, &Method::GET) if status_page::handles(&path) => {
            status_page::serve(&app, &path)
        }
        _ => http::not_found(),
    };
    Ok(resp)
}

/// `GET /bitrix/sub(ws)/`: WebSocket upgrade, SSE stream or long poll.
async fn subscribe(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let parsed = subscribe::parse(req.uri().query(), app.signer.as_ref());
    if is_websocket_upgrade(&req) {
        return upgrade(app, req, parsed);
    }
    let mut parsed = match parsed {
        Ok(p) => p,
        Err(code) => {
            app.bad_request(code.code(), &format!("subscribe: {}", code.reason()));
            return http::error(code);
        }
    };
    let wants_sse = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if wants_sse {
        if let Some(mid) = req
            .headers()
            .get("Last-Event-ID")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::protocol::MessageId::parse)
        {
            parsed.mid = Some(mid);
        }
        return sse::serve(app, parsed);
    }
    longpoll::serve(app, parsed).await
}

/// RFC 6455 §4.2.1: the key is the base64 of 16 bytes: 22 base64 characters and `==`.
fn websocket_key_ok(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

fn is_websocket_upgrade(req: &Request<Incoming>) -> bool {
    let has = |name: header::HeaderName, want: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

/// Upgrade to a WebSocket, or refuse with HTTP 400 and the protocol's error body when
/// the channel list does not verify. Not accept-then-close-4010: Bitrix's default client
/// answers a 4010 close by reloading its config after a "5–35 s" delay it passes to
/// `setTimeout` as milliseconds, so one tab of a site whose keys differ opened 31
/// WebSockets and 32 `pull.config.get` hits a second, forever. An HTTP error makes the same
/// client back off (15 s, 45 s, … up to an hour), as with the Node server, which refuses
/// such an upgrade the same way; the client still re-checks its channels' expiry every
/// 60 s by itself, so nothing is lost by refusing.
fn upgrade(
    app: Arc<App>,
    mut req: Request<Incoming>,
    parsed: Result<subscribe::SubscribeRequest, crate::protocol::ErrorCode>,
) -> Response<Body> {
    let path = req.uri().path();
    // The ws library upgrades only on the exact route path.
    if path != "/bitrix/subws/" && path != "/bitrix/sub/" {
        return http::not_found();
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return http::text(StatusCode::BAD_REQUEST, "Missing Sec-WebSocket-Key");
    };
    if !websocket_key_ok(key.as_bytes()) {
        app.bad_request(400, "websocket upgrade: malformed Sec-WebSocket-Key");
        return http::text(StatusCode::BAD_REQUEST, "Malformed Sec-WebSocket-Key");
    }
    let version_ok = req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    if !version_ok {
        let mut r = http::text(StatusCode::BAD_REQUEST, "Unsupported WebSocket version");
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return r;
    }
    let parsed = match parsed {
        Ok(p) => p,
        Err(code) => {
            app.bad_request(
                code.code(),
                &format!("websocket subscribe: {}", code.reason()),
            );
            return http::error(code);
        }
    };
    // The protocol has no frame for "your resume point is lost"; the handshake's
    // answer can say it (a header, as on long polling), for clients that read it.
    let gap = parsed
        .mid
        .is_some_and(|mid| app.hub.history_gap(&parsed.channels, mid));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let guard = ConnGuard::new(&app, Listener::Sub);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => websocket::serve(app, upgraded, parsed, guard).await,
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let accept = derive_accept_key(key.as_bytes());
    let mut r = Response::new(http::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if gap {
        h.insert("X-Bxpush-History-Gap", HeaderValue::from_static("1"));
    }
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is ascii"),
    );
    r
}
