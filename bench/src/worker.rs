//! A worker process (`bxpush bench --worker`): holds up to ~15,000 subscriber
//! connections of one slice of the plan, accounts for what they receive and reports to
//! the coordinator as JSON lines on stdout. Commands come as JSON lines on stdin (the
//! first line is its [`WorkerConfig`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::accounting::{Tally, Tracker};
use super::body::{self, Fields};
use super::http::HttpConn;
use super::plan::Plan;
use super::resend_gate::ResendGate;

/// How subscribers connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// WebSocket, text envelopes.
    Ws,
    /// WebSocket with `binaryMode=true` (protobuf frames).
    WsBinary,
    /// Long polling, text envelopes.
    Longpoll,
    /// Long polling with `binaryMode=true`.
    LongpollBinary,
    /// Server-sent events (bxpush only).
    Sse,
}

impl Transport {
    pub fn binary(self) -> bool {
        matches!(self, Transport::WsBinary | Transport::LongpollBinary)
    }
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::WsBinary => "ws-binary",
            Transport::Longpoll => "longpoll",
            Transport::LongpollBinary => "longpoll-binary",
            Transport::Sse => "sse",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerConfig {
    pub worker: u32,
    pub plan: Plan,
    /// Subscribers `first .. first + count` of the plan.
    pub first: u32,
    pub count: u32,
    pub sub_addr: SocketAddr,
    pub transport: Transport,
    /// Subscription path (`/bitrix/subws/`).
    pub path: String,
    pub connect_concurrency: usize,
    /// Connection attempts per second for this worker; 0 = as fast as they complete.
    pub connect_rate: f64,
    pub report_ms: u64,
    /// Several nodes of one cluster: subscriber `i` connects to `sub_addrs[i % len]`
    /// (round-robin); empty = every subscriber on `sub_addr`.
    #[serde(default)]
    pub sub_addrs: Vec<SocketAddr>,
}

impl WorkerConfig {
    /// The address subscriber `i` connects to, and its node's index in `sub_addrs`.
    pub fn node_of(&self, i: u32) -> (SocketAddr, usize) {
        match self.sub_addrs.len() {
            0 => (self.sub_addr, 0),
            n => {
                let k = i as usize % n;
                (self.sub_addrs[k], k)
            }
        }
    }
}

/// Coordinator → worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Command {
    /// Stop receiving and report: the run published messages `0..published` except
    /// `failed`.
    Finish { published: u64, failed: Vec<u64> },
    /// Report as `Finish` does, but keep receiving; the latency histograms start afresh
    /// (one phase of a run that publishes at several rates).
    Snapshot { published: u64, failed: Vec<u64> },
}

/// Worker → coordinator.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "lowercase")]
pub enum Event {
    Connected(ConnectReport),
    Progress(Progress),
    Final(Box<FinalReport>),
    /// The answer to [`Command::Snapshot`].
    Snapshot(Box<FinalReport>),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectReport {
    pub worker: u32,
    pub ok: u64,
    pub failed: u64,
    /// Indices of the subscribers that could not connect.
    pub failed_subscribers: Vec<u32>,
    pub first_start_ns: u64,
    pub last_done_ns: u64,
    /// Connect (+ handshake) latency histogram, ns: (value, count).
    pub latency: Vec<(u64, u64)>,
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Progress {
    pub worker: u32,
    pub delivered: u64,
    pub warm: u64,
    pub open: u64,
    pub closed: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FinalReport {
    pub worker: u32,
    pub tally: Tally,
    /// Bench messages received (every copy).
    pub delivered: u64,
    /// Connections the server closed or that failed during the run.
    pub closed: u64,
    pub close_reasons: Vec<String>,
    /// Publish → receive latency histogram, ns: (value, count).
    pub latency: Vec<(u64, u64)>,
    /// The same per node of `sub_addrs` (one entry when there is one address).
    #[serde(default)]
    pub latency_by_node: Vec<Vec<(u64, u64)>>,
    /// Per message of the run: the latest arrival (unix ns minus publish ns) and the
    /// number of arrivals, as hex of 12 little-endian bytes each.
    pub ttld: String,
    pub longpoll_requests: u64,
    pub errors: Vec<String>,
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

pub fn histogram_pairs(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// Most arrivals tracked per message for time-to-last-delivery (bounds the memory).
const MAX_TTLD_MESSAGES: u64 = 20_000_000;
const MAX_ERRORS: usize = 20;

struct Shared {
    cfg: WorkerConfig,
    latency: RefCell<Histogram<u64>>,
    /// Indexed by the node of `cfg.sub_addrs`.
    latency_by_node: RefCell<Vec<Histogram<u64>>>,
    connect: RefCell<Histogram<u64>>,
    ttld: RefCell<Vec<(u64, u32)>>,
    delivered: Cell<u64>,
    warm: Cell<u64>,
    open: Cell<u64>,
    closed: Cell<u64>,
    attempts_done: Cell<u64>,
    failed: RefCell<Vec<u32>>,
    first_start: Cell<u64>,
    last_done: Cell<u64>,
    lp_requests: Cell<u64>,
    /// When a long poll sends its next request (after the replies already in are read).
    resend: ResendGate,
    errors: RefCell<Vec<String>>,
    close_reasons: RefCell<Vec<String>>,
    /// Per subscriber of this worker (`i - cfg.first`): its accounting once connected.
    /// Here rather than in the subscriber's task so that a snapshot can read it mid-run.
    trackers: RefCell<Vec<Option<(u32, Tracker)>>>,
    finished: Cell<u64>,
    /// Bench messages of a channel the subscriber is not on.
    foreign: Cell<u64>,
}

struct SubState {
    index: u32,
    channel: u32,
    /// Index of its node in `cfg.sub_addrs`.
    node: usize,
    warm: bool,
    mid: Option<String>,
}

impl Shared {
    fn error(&self, e: String) {
        let mut errs = self.errors.borrow_mut();
        if errs.len() < MAX_ERRORS {
            errs.push(e);
        }
    }

    fn closed(&self, why: String) {
        self.closed.set(self.closed.get() + 1);
        self.open.set(self.open.get().saturating_sub(1));
        let mut r = self.close_reasons.borrow_mut();
        if r.len() < MAX_ERRORS {
            r.push(why);
        }
    }

    fn on_message(&self, st: &mut SubState, f: Option<Fields>, recv_ns: u64) {
        let Some(f) = f else { return };
        if f.warmup {
            if !st.warm {
                st.warm = true;
                self.warm.set(self.warm.get() + 1);
            }
            return;
        }
        self.delivered.set(self.delivered.get() + 1);
        let lat = recv_ns.saturating_sub(f.sent_ns).max(1);
        self.latency.borrow_mut().saturating_record(lat);
        if let Some(h) = self.latency_by_node.borrow_mut().get_mut(st.node) {
            h.saturating_record(lat);
        }
        if f.channel == st.channel {
            let k = (st.index - self.cfg.first) as usize;
            if let Some(Some((_, t))) = self.trackers.borrow_mut().get_mut(k) {
                t.observe(f.seq);
            }
        } else {
            // Not this subscriber's channel.
            self.foreign.set(self.foreign.get() + 1);
        }
        if f.global < MAX_TTLD_MESSAGES {
            let mut t = self.ttld.borrow_mut();
            let g = f.global as usize;
            if t.len() <= g {
                t.resize(g + 1, (0, 0));
            }
            let e = &mut t[g];
            e.0 = e.0.max(lat);
            e.1 += 1;
        }
    }
}

fn emit(ev: &Event) {
    let line = serde_json::to_string(ev).expect("serialisable");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Entry of `bxpush bench --worker`.
pub fn main() -> Result<(), String> {
    let stdin = std::io::stdin();
    let mut first = String::new();
    stdin
        .lock()
        .read_line(&mut first)
        .map_err(|e| format!("worker: reading the config: {e}"))?;
    let cfg: WorkerConfig =
        serde_json::from_str(&first).map_err(|e| format!("worker: bad config: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel::<Option<Command>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Command>(&line) {
                Ok(c) => {
                    if tx.send(Some(c)).is_err() {
                        return;
                    }
                }
                Err(e) => eprintln!("bench worker: bad command {line:?}: {e}"),
            }
        }
        let _ = tx.send(None);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("worker runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(cfg, rx))
}

async fn run(
    cfg: WorkerConfig,
    mut rx: mpsc::UnboundedReceiver<Option<Command>>,
) -> Result<(), String> {
    let sh = Rc::new(Shared {
        cfg: cfg.clone(),
        latency: RefCell::new(new_histogram()),
        latency_by_node: RefCell::new(
            (0..cfg.sub_addrs.len().max(1))
                .map(|_| new_histogram())
                .collect(),
        ),
        connect: RefCell::new(new_histogram()),
        ttld: RefCell::new(Vec::new()),
        delivered: Cell::new(0),
        warm: Cell::new(0),
        open: Cell::new(0),
        closed: Cell::new(0),
        attempts_done: Cell::new(0),
        failed: RefCell::new(Vec::new()),
        first_start: Cell::new(u64::MAX),
        last_done: Cell::new(0),
        lp_requests: Cell::new(0),
        resend: ResendGate::default(),
        errors: RefCell::new(Vec::new()),
        close_reasons: RefCell::new(Vec::new()),
        trackers: RefCell::new(vec![None; cfg.count as usize]),
        finished: Cell::new(0),
        foreign: Cell::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Rc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let signer = cfg.plan.signer();
    let start = tokio::time::Instant::now();
    for k in 0..cfg.count {
        let i = cfg.first + k;
        let query = cfg.plan.channel_query(signer.as_ref(), i);
        let not_before = if cfg.connect_rate > 0.0 {
            start + Duration::from_secs_f64(f64::from(k) / cfg.connect_rate)
        } else {
            start
        };
        tokio::task::spawn_local(subscriber(
            sh.clone(),
            i,
            query,
            sem.clone(),
            not_before,
            stop_rx.clone(),
        ));
    }
    drop(stop_rx);
    while sh.attempts_done.get() < u64::from(cfg.count) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failed = sh.failed.borrow().clone();
    emit(&Event::Connected(ConnectReport {
        worker: cfg.worker,
        ok: u64::from(cfg.count) - failed.len() as u64,
        failed: failed.len() as u64,
        failed_subscribers: failed,
        first_start_ns: sh.first_start.get(),
        last_done_ns: sh.last_done.get(),
        latency: histogram_pairs(&sh.connect.borrow()),
        errors: sh.errors.borrow().clone(),
    }));
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.report_ms.max(50)));
    let (published, failed) = loop {
        tokio::select! {
            c = rx.recv() => match c {
                Some(Some(Command::Finish { published, failed })) => break (published, failed),
                Some(Some(Command::Snapshot { published, failed })) => {
                    emit(&Event::Snapshot(Box::new(report(&sh, published, failed, false))));
                    for h in sh.latency_by_node.borrow_mut().iter_mut() {
                        h.reset();
                    }
                    sh.latency.borrow_mut().reset();
                }
                // The coordinator is gone.
                Some(None) | None => return Ok(()),
            },
            _ = tick.tick() => emit(&Event::Progress(Progress {
                worker: cfg.worker,
                delivered: sh.delivered.get(),
                warm: sh.warm.get(),
                open: sh.open.get(),
                closed: sh.closed.get(),
            })),
        }
    };
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sh.finished.get() < u64::from(cfg.count) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emit(&Event::Final(Box::new(report(
        &sh, published, failed, true,
    ))));
    Ok(())
}

/// What this worker measured so far, the run having published messages `0..published`
/// except `failed`; `ttld`: with the per-message arrivals (the final report only).
fn report(sh: &Shared, published: u64, failed: Vec<u64>, ttld: bool) -> FinalReport {
    let cfg = &sh.cfg;
    // Failed publishes per channel, as numbers on that channel.
    let mut failed_on: HashMap<u32, Vec<u32>> = HashMap::new();
    for g in failed {
        let (_, c, s) = cfg.plan.target_of(g);
        failed_on.entry(c).or_default().push(s);
    }
    for v in failed_on.values_mut() {
        v.sort_unstable();
    }
    let mut tally = Tally::default();
    for (channel, tracker) in sh.trackers.borrow().iter().flatten() {
        let expected = cfg.plan.published_on(*channel, published);
        let f = failed_on.get(channel).map(Vec::as_slice).unwrap_or(&[]);
        tally += tracker.tally(expected, f);
    }
    tally.unexpected += sh.foreign.get();
    let ttld = if ttld {
        let t = sh.ttld.borrow();
        let mut bytes = Vec::with_capacity(t.len() * 12);
        for &(lat, n) in t.iter() {
            bytes.extend_from_slice(&lat.to_le_bytes());
            bytes.extend_from_slice(&n.to_le_bytes());
        }
        hex::encode(bytes)
    } else {
        String::new()
    };
    FinalReport {
        worker: cfg.worker,
        tally,
        delivered: sh.delivered.get(),
        closed: sh.closed.get(),
        close_reasons: sh.close_reasons.borrow().clone(),
        latency: histogram_pairs(&sh.latency.borrow()),
        latency_by_node: sh
            .latency_by_node
            .borrow()
            .iter()
            .map(histogram_pairs)
            .collect(),
        ttld,
        longpoll_requests: sh.lp_requests.get(),
        errors: sh.errors.borrow().clone(),
    }
}

/// Decode the `ttld` field of a [`FinalReport`].
pub fn decode_ttld(hexed: &str) -> Vec<(u64, u32)> {
    let bytes = hex::decode(hexed).unwrap_or_default();
    bytes
        .chunks_exact(12)
        .map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
                u32::from_le_bytes(c[8..].try_into().expect("4 bytes")),
            )
        })
        .collect()
}

/// Source addresses a loopback target is reached from: Linux hands connect() the even
/// ports of the ephemeral range first and searches the whole range once those are taken
/// (about 14,000 connections to one address), which would make the bench's own connects
/// the bottleneck; spread over several source addresses each stays far below that.
const SOURCE_ADDRS: u32 = 16;

/// A TCP connection to `addr` for subscriber `i`, ready for the bench (see [`prepare`]).
pub(crate) async fn open(addr: SocketAddr, i: u32) -> std::io::Result<TcpStream> {
    use std::os::fd::AsRawFd;
    let stream = match addr {
        SocketAddr::V4(v4) if v4.ip().is_loopback() => {
            let sock = tokio::net::TcpSocket::new_v4()?;
            let on: libc::c_int = 1;
            // SAFETY: a valid socket fd and a correctly sized option value.
            unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            let src = std::net::Ipv4Addr::new(127, 0, 1, 1 + (i % SOURCE_ADDRS) as u8);
            sock.bind(SocketAddr::from((src, 0)))?;
            sock.connect(addr).await?
        }
        _ => TcpStream::connect(addr).await?,
    };
    prepare(&stream);
    Ok(stream)
}

/// No Nagle; and close with a reset: tens of thousands of bench sockets left in
/// TIME_WAIT by one scenario would make the next one's connects search the port space
/// (and skew its connect rate).
fn prepare(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let _ = stream.set_nodelay(true);
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

enum Conn {
    Ws(Box<tokio_tungstenite::WebSocketStream<TcpStream>>),
    LongPoll(HttpConn),
    Sse(HttpConn, bool),
}

fn request_line(cfg: &WorkerConfig, i: u32, query: &str, mid: Option<&str>, sse: bool) -> Vec<u8> {
    let mut target = format!("{}?CHANNEL_ID={query}", cfg.path);
    if cfg.transport.binary() {
        target.push_str("&binaryMode=true");
    }
    if let Some(mid) = mid {
        target.push_str("&mid=");
        target.push_str(mid);
    }
    let accept = if sse { "text/event-stream" } else { "*/*" };
    format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nUser-Agent: bxpush-bench\r\n\r\n",
        cfg.node_of(i).0
    )
    .into_bytes()
}

async fn connect(sh: &Shared, i: u32, query: &str) -> Result<Conn, String> {
    let cfg = &sh.cfg;
    let addr = cfg.node_of(i).0;
    let stream = open(addr, i).await.map_err(|e| format!("connect: {e}"))?;
    match cfg.transport {
        Transport::Ws | Transport::WsBinary => {
            let mut url = format!("ws://{addr}{}?CHANNEL_ID={query}", cfg.path);
            if cfg.transport.binary() {
                url.push_str("&binaryMode=true");
            }
            let config = WebSocketConfig::default()
                .read_buffer_size(8 * 1024)
                .write_buffer_size(0)
                .max_message_size(Some(64 << 20))
                .max_frame_size(Some(64 << 20));
            let (ws, resp) =
                tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config))
                    .await
                    .map_err(|e| format!("websocket handshake: {e}"))?;
            if resp.status().as_u16() != 101 {
                return Err(format!("websocket handshake: status {}", resp.status()));
            }
            Ok(Conn::Ws(Box::new(ws)))
        }
        Transport::Longpoll | Transport::LongpollBinary => {
            let mut c = HttpConn::new(stream);
            c.send(&request_line(cfg, i, query, None, false))
                .await
                .map_err(|e| format!("long poll request: {e}"))?;
            sh.lp_requests.set(sh.lp_requests.get() + 1);
            Ok(Conn::LongPoll(c))
        }
        Transport::Sse => {
            let mut c = HttpConn::new(stream);
            c.send(&request_line(cfg, i, query, None, true))
                .await
                .map_err(|e| format!("sse request: {e}"))?;
            let head = c.read_head().await.map_err(|e| format!("sse: {e}"))?;
            if head.status != 200 {
                return Err(format!("sse: status {}", head.status));
            }
            let chunked = head
                .header("transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
            Ok(Conn::Sse(c, chunked))
        }
    }
}

async fn subscriber(
    sh: Rc<Shared>,
    i: u32,
    query: String,
    sem: Rc<Semaphore>,
    not_before: tokio::time::Instant,
    mut stop: watch::Receiver<bool>,
) {
    tokio::time::sleep_until(not_before).await;
    let permit = sem.acquire().await.expect("semaphore never closed");
    let t0 = now_ns();
    sh.first_start.set(sh.first_start.get().min(t0));
    let res = connect(&sh, i, &query).await;
    let t1 = now_ns();
    drop(permit);
    sh.last_done.set(sh.last_done.get().max(t1));
    sh.attempts_done.set(sh.attempts_done.get() + 1);
    let conn = match res {
        Ok(c) => c,
        Err(e) => {
            sh.failed.borrow_mut().push(i);
            sh.error(e);
            sh.finished.set(sh.finished.get() + 1);
            return;
        }
    };
    sh.connect.borrow_mut().saturating_record((t1 - t0).max(1));
    sh.open.set(sh.open.get() + 1);
    let mut st = SubState {
        index: i,
        channel: sh.cfg.plan.tracked_channel(i),
        node: sh.cfg.node_of(i).1,
        warm: false,
        mid: None,
    };
    sh.trackers.borrow_mut()[(i - sh.cfg.first) as usize] = Some((st.channel, Tracker::default()));
    match conn {
        Conn::Ws(ws) => ws_loop(&sh, *ws, &mut st, &mut stop).await,
        Conn::LongPoll(c) => longpoll_loop(&sh, c, &query, &mut st, &mut stop).await,
        Conn::Sse(c, chunked) => sse_loop(&sh, c, chunked, &mut st, &mut stop).await,
    }
    sh.finished.set(sh.finished.get() + 1);
}

async fn ws_loop(
    sh: &Shared,
    mut ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    st: &mut SubState,
    stop: &mut watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            m = ws.next() => match m {
                Some(Ok(WsMessage::Text(t))) => {
                    let now = now_ns();
                    if std::env::var_os("BXPUSH_BENCH_DEBUG").is_some() {
                        eprintln!("bench worker: frame {t}");
                    }
                    body::for_each_text(t.as_bytes(), |f, _| sh.on_message(st, f, now));
                }
                Some(Ok(WsMessage::Binary(b))) => {
                    let now = now_ns();
                    if !body::for_each_binary(&b, |f, _| sh.on_message(st, f, now)) {
                        sh.error("undecodable binary frame".into());
                    }
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    sh.closed(match frame {
                        Some(f) => format!("close {} {}", u16::from(f.code), f.reason),
                        None => "close".into(),
                    });
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    sh.closed(format!("error: {e}"));
                    return;
                }
                None => {
                    sh.closed("eof".into());
                    return;
                }
            }
        }
    }
}

async fn longpoll_loop(
    sh: &Shared,
    mut c: HttpConn,
    query: &str,
    st: &mut SubState,
    stop: &mut watch::Receiver<bool>,
) {
    let binary = sh.cfg.transport.binary();
    loop {
        let resp = tokio::select! {
            biased;
            _ = stop.changed() => return,
            r = c.read_response() => r,
        };
        match resp {
            Ok(r) => {
                let now = now_ns();
                sh.resend.note_read();
                match r.head.status {
                    200 => {
                        let mut last = None;
                        if binary {
                            body::for_each_binary(&r.body, |f, mid| {
                                sh.on_message(st, f, now);
                                if mid.is_some() {
                                    last = mid;
                                }
                            });
                        } else {
                            body::for_each_text(&r.body, |f, mid| {
                                sh.on_message(st, f, now);
                                if let Some(m) = mid {
                                    last = Some(String::from_utf8_lossy(m).into_owned());
                                }
                            });
                        }
                        if last.is_some() {
                            st.mid = last;
                        }
                    }
                    304 => {
                        if let Some(m) = r.head.header("last-message-id") {
                            if m.len() == 26 {
                                st.mid = Some(m.to_string());
                            }
                        }
                    }
                    s => {
                        sh.error(format!("long poll: status {s}"));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            Err(e) => {
                sh.error(format!("long poll: {e}"));
                c.closed = true;
            }
        }
        if c.closed {
            match open(sh.cfg.node_of(st.index).0, st.index).await {
                Ok(s) => {
                    c = HttpConn::new(s);
                }
                Err(e) => {
                    sh.closed(format!("long poll reconnect: {e}"));
                    return;
                }
            }
        }
        sh.resend.wait().await;
        let req = request_line(&sh.cfg, st.index, query, st.mid.as_deref(), false);
        if let Err(e) = c.send(&req).await {
            sh.closed(format!("long poll send: {e}"));
            return;
        }
        sh.lp_requests.set(sh.lp_requests.get() + 1);
    }
}

async fn sse_loop(
    sh: &Shared,
    mut c: HttpConn,
    chunked: bool,
    st: &mut SubState,
    stop: &mut watch::Receiver<bool>,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    loop {
        let chunk = tokio::select! {
            biased;
            _ = stop.changed() => return,
            r = async {
                if chunked { c.read_chunk().await } else { c.read_some().await.map(Some) }
            } => r,
        };
        let chunk = match chunk {
            Ok(Some(c)) => c,
            Ok(None) => {
                sh.closed("sse: end of stream".into());
                return;
            }
            Err(e) => {
                sh.closed(format!("sse: {e}"));
                return;
            }
        };
        let now = now_ns();
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(nl) = memchr::memchr(b'\n', &pending[start..]) {
            let line = &pending[start..start + nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                if !data.is_empty() {
                    let (f, mid) = body::envelope_json(&data);
                    sh.on_message(st, f, now);
                    if let Some(m) = mid {
                        st.mid = Some(String::from_utf8_lossy(m).into_owned());
                    }
                    data.clear();
                }
            } else if let Some(d) = line.strip_prefix(b"data:") {
                if !data.is_empty() {
                    data.push(b'\n');
                }
                data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
            }
            start += nl + 1;
        }
        pending.drain(..start);
    }
}
