//! The `soak` scenario: many WebSocket subscribers held for a long time while a share of
//! them reconnects every second (churn, resuming with their last `mid` as the stock client
//! does) and messages are published at a steady rate. What it checks is that nothing
//! accumulates: the server's resident memory at the end is within `--max-drift-pct` of
//! what it was once warm (`--soak-warmup` seconds into the run), and once every
//! subscriber has left, its open files are back to the baseline and its hub maps
//! (`/server-stat/`: connections, channels with subscribers, channel entries kept for
//! presence, stored messages) are empty.
//!
//! The subscribers live in this process (no worker processes): a soak needs each of them
//! to come and go under the coordinator's schedule, and 19,000 sockets fit in one
//! process's descriptor limit.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::http::HttpConn;
use super::procstat::{self, Sample};
use super::publisher::{self, PubConfig};
use super::{body, progress, worker, BenchResult, Settings};

/// Seconds of samples averaged for each end of the drift (RSS moves with every
/// allocation; one sample is noise).
const DRIFT_WINDOW: f64 = 10.0;

/// What `/server-stat/` says once everyone has left.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HubState {
    pub websockets: u64,
    /// Open connections on the subscriber listener.
    pub connections: u64,
    /// Channels with a subscriber.
    pub channels: u64,
    /// Channel entries the hub keeps (also those kept for presence after their last
    /// subscriber left, until `online_ttl`).
    pub channel_entries: u64,
    pub stored_messages: u64,
    pub stored_channels: u64,
}

impl HubState {
    pub fn empty(&self) -> bool {
        self.websockets == 0
            && self.connections == 0
            && self.channels == 0
            && self.channel_entries == 0
            && self.stored_messages == 0
            && self.stored_channels == 0
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoakResult {
    pub subscribers: u32,
    /// Seconds until every subscriber was first connected.
    #[serde(default)]
    pub connect_seconds: f64,
    /// Reconnects per second asked for, and made.
    pub churn_rate: f64,
    pub reconnects: u64,
    pub reconnects_per_sec: f64,
    pub connect_failures: u64,
    /// Seconds of churn and publishing.
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub delivered: u64,
    /// Server RSS averaged over the DRIFT_WINDOW seconds before the warm-up mark, and
    /// before the end.
    pub rss_warm_kib: u64,
    pub rss_end_kib: u64,
    pub rss_drift_pct: f64,
    pub max_drift_pct: f64,
    pub fds_baseline: u64,
    pub fds_connected: u64,
    pub fds_after_leave: u64,
    pub rss_after_leave_kib: u64,
    /// Seconds from "everyone leaves" until files and maps were back (or the timeout).
    pub leave_seconds: f64,
    pub after_leave: HubState,
}

/// Counters shared by the subscriber tasks (one thread).
#[derive(Default)]
struct Shared {
    open: Cell<u64>,
    reconnects: Cell<u64>,
    failures: Cell<u64>,
    closed_by_server: Cell<u64>,
    delivered: Cell<u64>,
    errors: RefCell<Vec<String>>,
}

impl Shared {
    fn error(&self, e: String) {
        let mut v = self.errors.borrow_mut();
        if v.len() < 20 {
            v.push(e);
        }
    }
}

enum Ended {
    Churned,
    Left,
    Closed,
}

async fn connect(
    addr: SocketAddr,
    path: &str,
    i: u32,
    query: &str,
    mid: Option<&str>,
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, String> {
    let stream = worker::open(addr, i)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut url = format!("ws://{addr}{path}?CHANNEL_ID={query}&revision=19");
    if let Some(m) = mid {
        url.push_str("&mid=");
        url.push_str(m);
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config))
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    Ok(ws)
}

/// Subscriber slot `i`: connected until told to churn (then reconnects at once with its
/// last mid) or to leave.
#[allow(clippy::too_many_arguments)]
async fn slot(
    sh: Rc<Shared>,
    s: Rc<Settings>,
    i: u32,
    query: String,
    churn: Rc<Notify>,
    mut leave: watch::Receiver<bool>,
    sem: Rc<Semaphore>,
) {
    let mut mid: Option<String> = None;
    let mut first = true;
    loop {
        if *leave.borrow() {
            return;
        }
        let conn = {
            let _permit = sem.acquire().await;
            connect(s.sub_addr, &s.path, i, &query, mid.as_deref()).await
        };
        let mut ws = match conn {
            Ok(ws) => ws,
            Err(e) => {
                sh.failures.set(sh.failures.get() + 1);
                sh.error(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if !first {
            sh.reconnects.set(sh.reconnects.get() + 1);
        }
        first = false;
        sh.open.set(sh.open.get() + 1);
        let ended = loop {
            tokio::select! {
                _ = churn.notified() => break Ended::Churned,
                _ = leave.changed() => break Ended::Left,
                m = ws.next() => match m {
                    Some(Ok(WsMessage::Text(t))) => {
                        body::for_each_text(t.as_bytes(), |f, m| {
                            if f.is_some_and(|f| !f.warmup) {
                                sh.delivered.set(sh.delivered.get() + 1);
                            }
                            if let Some(m) = m {
                                mid = Some(String::from_utf8_lossy(m).into_owned());
                            }
                        });
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        sh.error(format!("subscriber {i}: {e}"));
                        break Ended::Closed;
                    }
                    None => break Ended::Closed,
                },
            }
        };
        sh.open.set(sh.open.get() - 1);
        match ended {
            Ended::Closed => sh.closed_by_server.set(sh.closed_by_server.get() + 1),
            Ended::Churned | Ended::Left => {
                // A tab closing: a close frame, then the socket goes.
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
            }
        }
        drop(ws);
        if matches!(ended, Ended::Left) {
            return;
        }
    }
}

/// `/server-stat/` of the server at `publ`.
async fn hub_state(publ: SocketAddr) -> Result<HubState, String> {
    let mut c = HttpConn::connect(publ)
        .await
        .map_err(|e| format!("server-stat: {e}"))?;
    let r = c
        .request(b"GET /server-stat/ HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("server-stat: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("server-stat: {e}"))?;
    let o = &v[0];
    let n = |x: &serde_json::Value| x.as_u64().unwrap_or(u64::MAX);
    Ok(HubState {
        websockets: n(&o["websockets"]),
        // Less the trusted ones: this stat request is one of them.
        connections: n(&o["bxpush"]["connections"])
            .saturating_sub(n(&o["bxpush"]["trustedConnections"])),
        channels: n(&o["channels"]),
        channel_entries: n(&o["bxpush"]["channelEntries"]),
        stored_messages: n(&o["bxpush"]["storedMessages"]),
        stored_channels: n(&o["bxpush"]["storedChannels"]),
    })
}

/// Mean RSS of the samples taken in `(t - DRIFT_WINDOW, t]`.
fn rss_around(samples: &[Sample], t: f64) -> u64 {
    let w: Vec<u64> = samples
        .iter()
        .filter(|x| x.t > t - DRIFT_WINDOW && x.t <= t)
        .map(|x| x.rss_kib)
        .collect();
    if w.is_empty() {
        return 0;
    }
    w.iter().sum::<u64>() / w.len() as u64
}

pub async fn coordinate(mut s: Settings) -> Result<BenchResult, String> {
    let t0 = Instant::now();
    let started = httpdate::fmt_http_date(std::time::SystemTime::now());
    let mut machine = procstat::machine();
    let mut notes = Vec::new();
    let _server = match s.spawn_server {
        Some(_) => Some(super::spawn_server(&mut s)?),
        None => None,
    };
    let pid = s
        .server_pid
        .ok_or("the soak samples the server: give --server-pid or --spawn-server")?;
    let sample = |t0: Instant| procstat::sample(pid, t0.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = sample(t0).ok_or("server process gone")?;
    progress(
        t0,
        &format!(
            "soak: server pid {pid}, baseline {} KiB, {} open files",
            before.rss_kib, before.fds
        ),
    );
    let samples: Rc<RefCell<Vec<Sample>>> = Rc::new(RefCell::new(vec![before]));
    let sampling = {
        let (samples, period) = (samples.clone(), Duration::from_millis(s.sample_ms));
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(period).await;
                match procstat::sample(pid, t0.elapsed().as_secs_f64()) {
                    Some(x) => samples.borrow_mut().push(x),
                    None => return,
                }
            }
        })
    };

    // Everyone connects.
    let plan = super::plan_of(&s);
    let signer = plan.signer();
    let s = Rc::new(s);
    let sh = Rc::new(Shared::default());
    let (leave_tx, leave_rx) = watch::channel(false);
    let sem = Rc::new(Semaphore::new(s.connect_concurrency));
    let mut churn = Vec::with_capacity(s.subscribers as usize);
    let mut tasks = Vec::with_capacity(s.subscribers as usize);
    progress(
        t0,
        &format!("soak: connecting {} subscribers", s.subscribers),
    );
    for i in 0..s.subscribers {
        let n = Rc::new(Notify::new());
        churn.push(n.clone());
        // Raw `:` `.` `/` in the query, as the worker processes send it (the server decodes).
        let query = plan.channel_query(signer.as_ref(), i);
        tasks.push(tokio::task::spawn_local(slot(
            sh.clone(),
            s.clone(),
            i,
            query,
            n,
            leave_rx.clone(),
            sem.clone(),
        )));
    }
    let connect_start = Instant::now();
    let deadline = Instant::now() + Duration::from_secs_f64(s.warmup_timeout);
    while sh.open.get() < u64::from(s.subscribers) {
        if Instant::now() > deadline {
            return Err(format!(
                "soak: only {} of {} subscribers connected in {} s: {:?}",
                sh.open.get(),
                s.subscribers,
                s.warmup_timeout,
                sh.errors.borrow()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_seconds = connect_start.elapsed().as_secs_f64();
    let connected = sample(t0).ok_or("server process gone")?;
    progress(
        t0,
        &format!(
            "soak: {} connected: {} KiB, {} open files",
            s.subscribers, connected.rss_kib, connected.fds
        ),
    );

    // Churn and publish for the duration.
    let messages = (s.rate * s.duration).round() as u64;
    let cfg = Rc::new(PubConfig::of(&s, messages, plan.clone()));
    let sent = Rc::new(Cell::new(0u64));
    let run_start = t0.elapsed().as_secs_f64();
    let publishing = tokio::task::spawn_local(publisher::run(cfg, sent.clone()));
    let churning = {
        let (churn, rate) = (churn.clone(), s.churn_rate);
        tokio::task::spawn_local(async move {
            if rate <= 0.0 || churn.is_empty() {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut k = 0usize;
            loop {
                tick.tick().await;
                churn[k % churn.len()].notify_one();
                k += 1;
            }
        })
    };
    let run_end = Instant::now() + Duration::from_secs_f64(s.duration);
    let reconnects_at_start = sh.reconnects.get();
    while Instant::now() < run_end {
        tokio::time::sleep(Duration::from_secs(5).min(run_end - Instant::now())).await;
        let last = samples.borrow().last().copied();
        progress(
            t0,
            &format!(
                "soak: published {}, delivered {}, reconnects {}, open {}, server {} KiB, {} files",
                sent.get(),
                sh.delivered.get(),
                sh.reconnects.get(),
                sh.open.get(),
                last.map_or(0, |x| x.rss_kib),
                last.map_or(0, |x| x.fds)
            ),
        );
    }
    churning.abort();
    let run_secs = t0.elapsed().as_secs_f64() - run_start;
    let reconnects = sh.reconnects.get() - reconnects_at_start;
    let end_sample = sample(t0).ok_or("server process gone")?;
    let pub_res = publishing.await.map_err(|e| format!("publisher: {e}"))?;

    // Everyone leaves.
    progress(t0, "soak: every subscriber leaves");
    let leave_start = Instant::now();
    leave_tx.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
    let leave_deadline = leave_start + Duration::from_secs_f64(s.drain_timeout);
    let (after, hub) = loop {
        let x = sample(t0).ok_or("server process gone")?;
        let hub = hub_state(s.pub_addr).await?;
        // The stat request's own connection is one of the open files: allow it.
        if (x.fds <= before.fds + 1 && hub.empty()) || Instant::now() > leave_deadline {
            break (x, hub);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let leave_seconds = leave_start.elapsed().as_secs_f64();
    sampling.abort();
    machine.loadavg_end = procstat::loadavg();

    let all = samples.borrow().clone();
    let warm_t = run_start + s.soak_warmup;
    let end_t = end_sample.t;
    let rss_warm = rss_around(&all, warm_t);
    let rss_end = rss_around(&all, end_t);
    if warm_t + DRIFT_WINDOW > end_t {
        notes.push(format!(
            "the run ({run_secs:.0} s) is not longer than the warm-up ({:.0} s) plus {DRIFT_WINDOW} s: no drift measured",
            s.soak_warmup
        ));
    }
    let drift = if rss_warm > 0 && warm_t + DRIFT_WINDOW <= end_t {
        (rss_end as f64 - rss_warm as f64) / rss_warm as f64 * 100.0
    } else {
        f64::NAN
    };
    let soak = SoakResult {
        subscribers: s.subscribers,
        connect_seconds,
        churn_rate: s.churn_rate,
        reconnects,
        reconnects_per_sec: reconnects as f64 / run_secs.max(1e-9),
        connect_failures: sh.failures.get(),
        seconds: run_secs,
        warmup_seconds: s.soak_warmup,
        delivered: sh.delivered.get(),
        rss_warm_kib: rss_warm,
        rss_end_kib: rss_end,
        rss_drift_pct: drift,
        max_drift_pct: s.max_drift_pct,
        fds_baseline: before.fds,
        fds_connected: connected.fds,
        fds_after_leave: after.fds,
        rss_after_leave_kib: after.rss_kib,
        leave_seconds,
        after_leave: hub,
    };
    progress(
        t0,
        &format!(
            "soak: RSS {} KiB at the warm-up mark, {} KiB at the end ({drift:+.2}%); files {} → {} → {}",
            rss_warm, rss_end, before.fds, connected.fds, after.fds
        ),
    );

    let settings = Rc::try_unwrap(s).unwrap_or_else(|rc| (*rc).clone());
    let mut result = BenchResult {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started,
        settings,
        machine,
        connect: super::ConnectResult {
            attempted: u64::from(soak.subscribers),
            ok: u64::from(soak.subscribers),
            failed: soak.connect_failures,
            seconds: connect_seconds,
            per_sec: f64::from(soak.subscribers) / connect_seconds.max(1e-9),
            errors: sh.errors.borrow().clone(),
            ..Default::default()
        },
        server: super::ServerResult {
            pid: Some(pid),
            rss_before_kib: before.rss_kib,
            rss_connected_kib: connected.rss_kib,
            rss_end_kib: end_sample.rss_kib,
            rss_max_kib: all.iter().map(|x| x.rss_kib).max().unwrap_or(0),
            fds_max: all.iter().map(|x| x.fds).max().unwrap_or(0),
            samples: all,
            ..Default::default()
        },
        publish: {
            let seconds = pub_res.end_ns.saturating_sub(pub_res.start_ns) as f64 / 1e9;
            let failed = pub_res.failed.len() as u64;
            super::PublishResult {
                messages,
                failed,
                requests: pub_res.requests,
                seconds,
                per_sec: (messages - failed) as f64 / seconds.max(1e-9),
                errors: pub_res.errors,
                ..Default::default()
            }
        },
        delivery: super::DeliveryResult {
            delivered: soak.delivered,
            // Over the publishing time, which runs late when the machine is loaded.
            seconds: pub_res.end_ns.saturating_sub(pub_res.start_ns) as f64 / 1e9,
            per_sec: soak.delivered as f64
                / (pub_res.end_ns.saturating_sub(pub_res.start_ns) as f64 / 1e9).max(1e-9),
            closed: sh.closed_by_server.get(),
            ..Default::default()
        },
        bench: Default::default(),
        checks: Vec::new(),
        notes,
        floor: None,
        ping_floor: None,
        latency_floor: None,
        storm_floor: None,
        sustained_floor: None,
        soak: Some(soak),
        cluster: None,
    };
    result.checks = super::render::checks(&result);
    Ok(result)
}
