//! The `cluster` scenario: several nodes sharing one Redis, subscribers spread over the
//! nodes round-robin, every message published on one node. With `--spawn-server` the
//! bench starts a `redis-server` of its own (loopback port, no persistence) and `--nodes`
//! bxpush nodes on it, all pinned where a spawned server goes (`--server-cpu`), and stops
//! them by pid at the end, on an error and on SIGINT/SIGTERM (and, through
//! `PR_SET_PDEATHSIG`, when the bench is killed). Without it, it drives any cluster that
//! speaks the Bitrix protocol (Node push-server processes too): `--sub` lists the nodes,
//! `--pub` is where it publishes.
//!
//! The subscribers connect once; then the run publishes at each of `--rates` for
//! `--duration` seconds, then searches for the largest rate with nothing lost
//! ([`StepSearch`]: doubling from the best clean rate, then bisecting, `--step-seconds`
//! each, at most `--search-steps`). Each phase waits for its deliveries, then asks the
//! workers for a snapshot: lost / duplicated / out of order so far (the difference to
//! the last snapshot is the phase's) and the phase's publish → receive latency per node,
//! reported for the subscribers on the publishing node and on the others apart. Last,
//! `/server-stat/` of each node (or of `--pub`) must list every node.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command as Process, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::accounting::Tally;
use super::http::HttpConn;
use super::plan::Plan;
use super::publisher::{self, PubConfig};
use super::worker::{self, new_histogram, Event, FinalReport};
use super::{
    free_port, pin_child, procstat, progress, start_server, BenchResult, FromWorker, Quantiles,
    Settings, SpawnedServer, WorkerProc,
};

/// A phase missed its rate when the publisher got fewer than this share of it out.
pub const KEPT_RATE: f64 = 0.9;
/// The search stops once the smallest failing rate is within this ratio of the largest
/// clean one.
pub const SEARCH_PRECISION: f64 = 1.1;
/// Where the search starts when no fixed rate was clean, and below which it gives up.
pub const SEARCH_START: f64 = 1_000.0;
pub const SEARCH_FLOOR: f64 = 50.0;

/// How a phase ended, for the search: clean, or the first reason it was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Clean,
    /// Some publish requests failed (the server answered an error or the connection broke).
    PublishFailed,
    /// A subscriber did not get a message that was published.
    Lost,
    /// A subscriber got a message twice, or after a later one.
    Disorder,
    /// The publisher got less than [`KEPT_RATE`] of the rate out (the server answered
    /// too slowly, or the bench's CPU was the limit).
    PublisherBehind,
}

impl Outcome {
    pub fn of(p: &PhaseResult) -> Outcome {
        if p.failed > 0 {
            Outcome::PublishFailed
        } else if p.tally.lost > 0 {
            Outcome::Lost
        } else if p.tally.dup > 0 || p.tally.reordered > 0 {
            Outcome::Disorder
        } else if p.published_per_sec < KEPT_RATE * p.rate {
            Outcome::PublisherBehind
        } else {
            Outcome::Clean
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Outcome::Clean => "clean",
            Outcome::PublishFailed => "publish requests failed",
            Outcome::Lost => "messages lost",
            Outcome::Disorder => "duplicated or out of order",
            Outcome::PublisherBehind => "the publisher could not keep the rate",
        }
    }
}

/// The search for the largest rate with nothing lost: double the largest clean rate
/// until a rate fails, then bisect between the two until they are within
/// [`SEARCH_PRECISION`] of each other (rates rounded to 100/s), at most `max_steps`.
#[derive(Debug, Clone)]
pub struct StepSearch {
    pub clean: Option<f64>,
    pub failed: Option<f64>,
    pub steps: u32,
    pub max_steps: u32,
}

impl StepSearch {
    pub fn new(max_steps: u32) -> Self {
        Self {
            clean: None,
            failed: None,
            steps: 0,
            max_steps,
        }
    }

    /// What a phase at `rate` showed (the fixed rates seed the search this way).
    pub fn record(&mut self, rate: f64, clean: bool) {
        if clean {
            self.clean = Some(self.clean.map_or(rate, |c| c.max(rate)));
        } else {
            self.failed = Some(self.failed.map_or(rate, |f| f.min(rate)));
        }
    }

    /// The next rate to try, or `None`: the search is over.
    pub fn next_rate(&mut self) -> Option<f64> {
        if self.steps >= self.max_steps {
            return None;
        }
        let rate = match (self.clean, self.failed) {
            (None, None) => SEARCH_START,
            (Some(c), None) => round_rate(c * 2.0),
            (None, Some(f)) => {
                let r = round_rate(f / 2.0);
                if r < SEARCH_FLOOR {
                    return None;
                }
                r
            }
            (Some(c), Some(f)) => {
                if f <= c * SEARCH_PRECISION {
                    return None;
                }
                let r = round_rate((c + f) / 2.0);
                if r <= c || r >= f {
                    return None;
                }
                r
            }
        };
        self.steps += 1;
        Some(rate)
    }
}

/// To 100/s (10/s below 1,000/s): the steps read as round figures.
fn round_rate(r: f64) -> f64 {
    let unit = if r >= 1_000.0 { 100.0 } else { 10.0 };
    ((r / unit).round() * unit).max(unit)
}

/// One phase: messages published at one rate, and what the subscribers saw of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseResult {
    /// "fixed" or "search".
    pub kind: String,
    /// Asked for, messages/s.
    pub rate: f64,
    pub seconds: f64,
    pub messages: u64,
    pub failed: u64,
    /// Got out (acknowledged), messages/s.
    pub published_per_sec: f64,
    pub publish_errors: Vec<String>,
    /// How late the publish requests left (open loop), and their round trip.
    pub lateness: Quantiles,
    pub request_latency: Quantiles,
    /// Deliveries the phase should produce, and the ones that arrived.
    pub expected: u64,
    pub delivered: u64,
    /// Every delivery arrived before the drain timeout.
    pub drained: bool,
    /// This phase's lost / duplicated / out of order (difference of the workers' totals).
    pub tally: Tally,
    /// Connections closed during the phase.
    pub closed: u64,
    /// Publish → receive of the subscribers on the publishing node, on the other nodes,
    /// and per node (in `sub_addrs` order).
    pub same_node: Quantiles,
    pub other_nodes: Quantiles,
    pub per_node: Vec<Quantiles>,
    /// CPU of every server process the bench started (nodes + redis), % of one core.
    pub servers_cpu_pct: Option<f64>,
    pub outcome: Option<Outcome>,
}

/// `/server-stat/` of one node: the processes it lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatView {
    /// The publish address asked.
    pub node: String,
    /// `processUniqueId` of each process listed.
    pub listed: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterResult {
    pub nodes: u32,
    /// The bench started redis-server and the nodes.
    pub spawned: bool,
    /// `redis-server --version`, port and pid (spawned).
    pub redis: Option<String>,
    pub redis_pid: Option<u32>,
    pub node_pids: Vec<u32>,
    pub sub_addrs: Vec<String>,
    pub pub_addr: String,
    pub pub_node: Option<u32>,
    pub subscribers_per_node: Vec<u32>,
    pub phases: Vec<PhaseResult>,
    pub search: Vec<PhaseResult>,
    pub largest_clean_rate: Option<f64>,
    /// Why the search stopped, in words.
    pub search_end: String,
    pub server_stat: Vec<StatView>,
}

impl ClusterResult {
    /// Every node asked lists at least `nodes` distinct processes.
    pub fn all_listed(&self) -> bool {
        !self.server_stat.is_empty()
            && self.server_stat.iter().all(|v| {
                v.error.is_none()
                    && v.listed.iter().collect::<HashSet<_>>().len() >= self.nodes as usize
            })
    }
}

/// The redis-server of a spawned cluster: loopback, no persistence; stopped by pid.
struct RedisProc {
    child: Child,
    port: u16,
}

impl RedisProc {
    fn start(cpus: Option<&str>) -> Result<Self, String> {
        let port = free_port()?;
        let mut cmd = Process::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        pin_child(&mut cmd, cpus)?;
        let mut child = cmd.spawn().map_err(|e| {
            format!("cannot run redis-server ({e}): install the Debian package redis-server")
        })?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads its log to the end, so that the pipe never fills and stalls it.
        std::thread::spawn(move || {
            let mut ready = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("Ready to accept connections") {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        let redis = RedisProc { child, port };
        rx.recv_timeout(Duration::from_secs(15))
            .map_err(|_| format!("redis-server on port {port} did not become ready in 15 s"))?;
        Ok(redis)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `redis-server 7.0.15` (from `Redis server v=7.0.15 sha=… malloc=…`).
fn redis_version() -> String {
    let out = Process::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    match out.split_whitespace().find_map(|w| w.strip_prefix("v=")) {
        Some(v) => format!("redis-server {v}"),
        None => "redis-server".into(),
    }
}

/// The worker processes and what they reported.
struct Fleet {
    workers: Vec<WorkerProc>,
    rx: mpsc::UnboundedReceiver<FromWorker>,
    /// Per worker: (delivered, warm, closed), from its progress reports.
    progress: HashMap<u32, (u64, u64, u64)>,
    snapshots: Vec<FinalReport>,
    finals: Vec<FinalReport>,
    /// Told to finish: a worker that exits now has reported.
    finishing: bool,
}

impl Fleet {
    fn on(&mut self, ev: Option<FromWorker>) -> Result<(), String> {
        match ev {
            Some(FromWorker::Event(Event::Progress(p))) => {
                self.progress
                    .insert(p.worker, (p.delivered, p.warm, p.closed));
            }
            Some(FromWorker::Event(Event::Snapshot(f))) => self.snapshots.push(*f),
            Some(FromWorker::Event(Event::Final(f))) => self.finals.push(*f),
            Some(FromWorker::Event(Event::Connected(_))) => {}
            Some(FromWorker::Gone(w)) => {
                if !self.finishing {
                    return Err(format!("worker {w} exited early"));
                }
            }
            None => return Err("workers gone".into()),
        }
        Ok(())
    }

    /// Take worker reports until `deadline` or until one arrives (whichever is first).
    async fn pump_until(&mut self, deadline: Instant) -> Result<(), String> {
        tokio::select! {
            ev = self.rx.recv() => self.on(ev),
            _ = tokio::time::sleep_until(deadline.into()) => Ok(()),
        }
    }

    fn sum(&self, f: fn(&(u64, u64, u64)) -> u64) -> u64 {
        self.progress.values().map(f).sum()
    }

    fn send_all(&mut self, cmd: &worker::Command) -> Result<(), String> {
        self.workers.iter_mut().try_for_each(|w| w.send(cmd))
    }

    /// Every worker's report on `cmd` (a snapshot or the final one).
    async fn collect(&mut self, cmd: worker::Command) -> Result<Vec<FinalReport>, String> {
        let finishing = matches!(cmd, worker::Command::Finish { .. });
        self.finishing |= finishing;
        self.snapshots.clear();
        self.send_all(&cmd)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let have = if finishing {
                self.finals.len()
            } else {
                self.snapshots.len()
            };
            if have >= self.workers.len() {
                break;
            }
            if Instant::now() > deadline {
                return Err("workers did not report".into());
            }
            self.pump_until(deadline).await?;
        }
        Ok(if finishing {
            std::mem::take(&mut self.finals)
        } else {
            std::mem::take(&mut self.snapshots)
        })
    }
}

/// The cluster as the bench sees it, and the numbering of messages across phases.
struct Run {
    s: Settings,
    plan: Plan,
    t0: Instant,
    fleet: Fleet,
    /// Subscribers that could not connect, per channel of the message layout.
    failed_on: HashMap<u32, u32>,
    /// Messages published so far (the next phase starts at this number).
    published: u64,
    /// Every message whose publish failed, sorted.
    failed: Vec<u64>,
    /// Deliveries expected so far.
    expected: u64,
    /// The workers' totals at the last snapshot.
    last_tally: Tally,
    last_delivered: u64,
    last_closed: u64,
    /// Server processes whose CPU is sampled (nodes + redis when spawned).
    server_pids: Vec<u32>,
}

impl Run {
    async fn phase(&mut self, kind: &str, rate: f64, seconds: f64) -> Result<PhaseResult, String> {
        let messages = (rate * seconds).round().max(1.0) as u64;
        let first = self.published;
        progress(
            self.t0,
            &format!(
                "{kind}: {messages} messages at {rate:.0}/s to {}",
                self.s.pub_addr
            ),
        );
        let mut cfg = PubConfig::of(&self.s, messages, self.plan.clone());
        cfg.rate = rate;
        cfg.first = first;
        let sent = Rc::new(Cell::new(0u64));
        let cpu_a = (Instant::now(), self.server_ticks());
        let mut task = tokio::task::spawn_local(publisher::run(Rc::new(cfg), sent.clone()));
        let res = loop {
            tokio::select! {
                r = &mut task => break r.map_err(|e| format!("publisher: {e}"))?,
                ev = self.fleet.rx.recv() => self.fleet.on(ev)?,
            }
        };
        self.published = first + messages;
        let mut failed_now = res.failed.clone();
        self.failed.append(&mut failed_now);
        self.failed.sort_unstable();
        let failed_set: HashSet<u64> = res.failed.iter().copied().collect();
        let mut expected = 0u64;
        for g in first..first + messages {
            if failed_set.contains(&g) {
                continue;
            }
            let (_, c, _) = self.plan.target_of(g);
            expected += u64::from(
                self.plan
                    .receivers_of(c)
                    .saturating_sub(self.failed_on.get(&c).copied().unwrap_or(0)),
            );
        }
        self.expected += expected;
        // Drain: every delivery of the phase, or the timeout.
        let deadline = Instant::now() + Duration::from_secs_f64(self.s.drain_timeout);
        let mut drained = false;
        loop {
            if self.fleet.sum(|p| p.0) >= self.expected {
                drained = true;
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            self.fleet.pump_until(deadline).await?;
        }
        let cpu_b = (Instant::now(), self.server_ticks());
        let snaps = self
            .fleet
            .collect(worker::Command::Snapshot {
                published: self.published,
                failed: self.failed.clone(),
            })
            .await?;
        let nodes = self.s.sub_addrs.len().max(1);
        let mut per_node: Vec<_> = (0..nodes).map(|_| new_histogram()).collect();
        let (mut tally, mut delivered, mut closed) = (Tally::default(), 0u64, 0u64);
        for f in &snaps {
            tally += f.tally;
            delivered += f.delivered;
            closed += f.closed;
            for (k, pairs) in f.latency_by_node.iter().enumerate().take(nodes) {
                for &(v, n) in pairs {
                    let _ = per_node[k].record_n(v, n);
                }
            }
        }
        let (mut same, mut other) = (new_histogram(), new_histogram());
        for (k, h) in per_node.iter().enumerate() {
            if self.s.pub_node == Some(k as u32) {
                let _ = same.add(h);
            } else {
                let _ = other.add(h);
            }
        }
        let seconds_out = res.end_ns.saturating_sub(res.start_ns) as f64 / 1e9;
        let ok = messages - res.failed.len() as u64;
        let mut p = PhaseResult {
            kind: kind.into(),
            rate,
            seconds,
            messages,
            failed: res.failed.len() as u64,
            published_per_sec: ok as f64 / seconds_out.max(1e-9),
            publish_errors: res.errors,
            lateness: Quantiles::of(&res.lateness),
            request_latency: Quantiles::of(&res.request_latency),
            expected,
            delivered: delivered - self.last_delivered,
            drained,
            tally: diff(tally, self.last_tally),
            closed: closed - self.last_closed,
            same_node: Quantiles::of(&same),
            other_nodes: Quantiles::of(&other),
            per_node: per_node.iter().map(Quantiles::of).collect(),
            servers_cpu_pct: cpu_pct(cpu_a, cpu_b, !self.server_pids.is_empty()),
            outcome: None,
        };
        p.outcome = Some(Outcome::of(&p));
        self.last_tally = tally;
        self.last_delivered = delivered;
        self.last_closed = closed;
        progress(
            self.t0,
            &format!(
                "{kind} {rate:.0}/s: published {:.0}/s, delivered {} of {}, lost {} dup {} out of order {}; same node p99 {:.2} ms, other nodes p99 {:.2} ms: {}",
                p.published_per_sec,
                p.delivered,
                p.expected,
                p.tally.lost,
                p.tally.dup,
                p.tally.reordered,
                p.same_node.p99_ms,
                p.other_nodes.p99_ms,
                p.outcome.map_or("", |o| o.describe())
            ),
        );
        Ok(p)
    }

    fn server_ticks(&self) -> u64 {
        self.server_pids
            .iter()
            .map(|&p| procstat::cpu_ticks(p).unwrap_or(0))
            .sum()
    }
}

fn cpu_pct(a: (Instant, u64), b: (Instant, u64), sampled: bool) -> Option<f64> {
    let dt = b.0.duration_since(a.0).as_secs_f64();
    (sampled && dt > 0.0)
        .then(|| b.1.saturating_sub(a.1) as f64 / procstat::clock_ticks_per_sec() / dt * 100.0)
}

/// `now - before`, field by field (a late arrival can lower a total: not below 0).
fn diff(now: Tally, before: Tally) -> Tally {
    Tally {
        received: now.received.saturating_sub(before.received),
        lost: now.lost.saturating_sub(before.lost),
        dup: now.dup.saturating_sub(before.dup),
        reordered: now.reordered.saturating_sub(before.reordered),
        unexpected: now.unexpected.saturating_sub(before.unexpected),
    }
}

/// The `processUniqueId`s `/server-stat/` at `publ` lists.
async fn listed(publ: SocketAddr) -> Result<Vec<String>, String> {
    let mut c = HttpConn::connect(publ)
        .await
        .map_err(|e| format!("server-stat: {e}"))?;
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        c.request(b"GET /server-stat/ HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"),
    )
    .await
    .map_err(|_| "server-stat: no answer in 5 s".to_string())?
    .map_err(|e| format!("server-stat: {e}"))?;
    if r.head.status != 200 {
        return Err(format!("server-stat: status {}", r.head.status));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("server-stat: {e}"))?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .map(|o| match &o["processUniqueId"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default())
}

/// `/server-stat/` of each of `nodes`, until each lists `want` processes (stats are
/// written once a second) or 5 s.
async fn server_stats(nodes: &[SocketAddr], want: usize) -> Vec<StatView> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut views = Vec::new();
        for &n in nodes {
            let (listed, error) = match listed(n).await {
                Ok(l) => (l, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            views.push(StatView {
                node: n.to_string(),
                listed,
                error,
            });
        }
        let complete = views
            .iter()
            .all(|v| v.listed.iter().collect::<HashSet<_>>().len() >= want);
        if complete || Instant::now() > deadline {
            return views;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn coordinate(mut s: Settings) -> Result<BenchResult, String> {
    let t0 = Instant::now();
    let started = httpdate::fmt_http_date(std::time::SystemTime::now());
    let mut machine = procstat::machine();
    let mut notes = Vec::new();

    // The servers first, so that they are dropped (stopped) after the workers.
    let mut redis_line = None;
    let mut redis_proc = None;
    let mut node_procs: Vec<SpawnedServer> = Vec::new();
    let mut node_pids = Vec::new();
    let mut pub_addrs = Vec::new();
    if s.spawn_server.is_some() {
        let redis = RedisProc::start(s.server_cpu.as_deref())?;
        let url = format!("redis://127.0.0.1:{}", redis.port);
        redis_line = Some(format!(
            "{} on 127.0.0.1:{}, pid {}, no persistence",
            redis_version(),
            redis.port,
            redis.pid()
        ));
        node_pids.push(redis.pid());
        redis_proc = Some(redis);
        let mut subs = Vec::new();
        for _ in 0..s.nodes {
            let (node, sub, publ) = start_server(&s, &["--store".into(), url.clone()])?;
            node_pids.push(node.pid());
            subs.push(sub);
            pub_addrs.push(publ);
            node_procs.push(node);
        }
        let k = s.pub_node.unwrap_or(0) as usize;
        s.sub_addrs = subs;
        s.sub_addr = s.sub_addrs[0];
        s.pub_addr = pub_addrs[k.min(pub_addrs.len() - 1)];
        s.server_pid = Some(node_pids[1 + k.min(pub_addrs.len() - 1)]);
        progress(
            t0,
            &format!(
                "{} bxpush nodes on {} (cpu {}), pids {:?}; {}; publishing to {}",
                s.nodes,
                url,
                s.server_cpu.as_deref().unwrap_or("any"),
                &node_pids[1..],
                redis_line.as_deref().unwrap_or(""),
                s.pub_addr
            ),
        );
    } else {
        pub_addrs.push(s.pub_addr);
        notes.push("servers not started by the bench: their CPU is not sampled".into());
    }
    let nodes = s.sub_addrs.len().max(1) as u32;
    s.nodes = nodes;

    // Connect.
    let plan = super::plan_of(&s);
    let (tx, rx) = mpsc::unbounded_channel();
    progress(
        t0,
        &format!(
            "connecting {} {} subscribers over {} node(s), {} worker(s)",
            s.subscribers,
            s.transport.name(),
            nodes,
            s.workers
        ),
    );
    let workers = super::spawn_workers(&s, &plan, tx)?;
    let mut fleet = Fleet {
        workers,
        rx,
        progress: HashMap::new(),
        snapshots: Vec::new(),
        finals: Vec::new(),
        finishing: false,
    };
    let mut connect = super::ConnectResult {
        attempted: u64::from(s.subscribers),
        ..Default::default()
    };
    let mut connect_hist = new_histogram();
    let mut failed_subs = Vec::new();
    let (mut first_start, mut last_done) = (u64::MAX, 0u64);
    let mut reported = 0;
    while reported < fleet.workers.len() {
        let ev = fleet.rx.recv().await;
        match ev {
            Some(FromWorker::Event(Event::Connected(c))) => {
                reported += 1;
                connect.ok += c.ok;
                connect.failed += c.failed;
                failed_subs.extend(c.failed_subscribers);
                first_start = first_start.min(c.first_start_ns);
                last_done = last_done.max(c.last_done_ns);
                for (v, n) in c.latency {
                    let _ = connect_hist.record_n(v, n);
                }
                for e in c.errors {
                    if connect.errors.len() < 20 {
                        connect.errors.push(e);
                    }
                }
            }
            ev @ Some(FromWorker::Event(_)) => fleet.on(ev)?,
            Some(FromWorker::Gone(w)) => return Err(format!("worker {w} exited early")),
            None => return Err("workers gone".into()),
        }
    }
    if last_done > first_start {
        connect.seconds = (last_done - first_start) as f64 / 1e9;
        connect.per_sec = connect.ok as f64 / connect.seconds;
    }
    connect.latency = Quantiles::of(&connect_hist);
    progress(
        t0,
        &format!(
            "connected {} ({} failed) in {:.2}s",
            connect.ok, connect.failed, connect.seconds
        ),
    );
    if connect.ok == 0 {
        return Err(format!(
            "no subscriber could connect: {:?}",
            connect.errors.first()
        ));
    }

    // Warm-up: every subscriber, on whichever node, gets one message published on the
    // publishing node (proves its subscription across the cluster).
    let warm_start = Instant::now();
    let warm_deadline = warm_start + Duration::from_secs_f64(s.warmup_timeout);
    let mut next_warm = Instant::now();
    loop {
        let warm = fleet.sum(|p| p.1);
        if warm >= connect.ok {
            break;
        }
        if Instant::now() > warm_deadline {
            notes.push(format!(
                "warm-up incomplete: {warm} of {} subscribers received their warm-up message",
                connect.ok
            ));
            break;
        }
        if Instant::now() >= next_warm {
            publisher::warmup(s.pub_addr, &plan, 0).await?;
            next_warm = Instant::now() + Duration::from_secs(3);
        }
        fleet
            .pump_until(Instant::now() + Duration::from_millis(50))
            .await?;
    }
    connect.warm = fleet.sum(|p| p.1);
    connect.warm_seconds = warm_start.elapsed().as_secs_f64();
    progress(
        t0,
        &format!(
            "warm: {} subscribers in {:.2}s",
            connect.warm, connect.warm_seconds
        ),
    );

    let mut failed_on = HashMap::new();
    for &i in &failed_subs {
        *failed_on.entry(plan.tracked_channel(i)).or_default() += 1;
    }
    let mut subscribers_per_node = vec![0u32; nodes as usize];
    for i in 0..s.subscribers {
        subscribers_per_node[(i % nodes) as usize] += 1;
    }
    let server_pids = if s.spawn_server.is_some() {
        node_pids.clone()
    } else {
        Vec::new()
    };
    let mut run = Run {
        s: s.clone(),
        plan,
        t0,
        fleet,
        failed_on,
        published: 0,
        failed: Vec::new(),
        expected: 0,
        last_tally: Tally::default(),
        last_delivered: 0,
        last_closed: 0,
        server_pids,
    };

    // The fixed rates, then the search.
    let mut search = StepSearch::new(s.search_steps);
    let mut phases = Vec::new();
    for &rate in &s.rates {
        let p = run.phase("fixed", rate, s.duration).await?;
        search.record(rate, p.outcome == Some(Outcome::Clean));
        phases.push(p);
    }
    let mut steps: Vec<PhaseResult> = Vec::new();
    while let Some(rate) = search.next_rate() {
        let p = run.phase("search", rate, s.step_seconds).await?;
        search.record(rate, p.outcome == Some(Outcome::Clean));
        steps.push(p);
    }
    let all: Vec<&PhaseResult> = phases.iter().chain(&steps).collect();
    let search_end = search_end(&search, &all);
    progress(t0, &format!("search: {search_end}"));

    // Every node lists every node.
    let stat_nodes = if s.spawn_server.is_some() {
        pub_addrs.clone()
    } else {
        vec![s.pub_addr]
    };
    let server_stat = server_stats(&stat_nodes, nodes as usize).await;

    // Totals.
    let finals = run
        .fleet
        .collect(worker::Command::Finish {
            published: run.published,
            failed: run.failed.clone(),
        })
        .await?;
    machine.loadavg_end = procstat::loadavg();
    let mut delivery = super::DeliveryResult {
        expected: run.expected,
        ..Default::default()
    };
    let mut latency = new_histogram();
    for f in &finals {
        delivery.delivered += f.delivered;
        delivery.tally += f.tally;
        delivery.closed += f.closed;
        for r in f.close_reasons.iter().chain(&f.errors) {
            if delivery.errors.len() < 20 {
                delivery.errors.push(r.clone());
            }
        }
        for &(v, n) in &f.latency {
            let _ = latency.record_n(v, n);
        }
    }
    delivery.latency = Quantiles::of(&latency);
    let publish = super::PublishResult {
        messages: run.published,
        failed: run.failed.len() as u64,
        seconds: all.iter().map(|p| p.seconds).sum(),
        errors: all
            .iter()
            .flat_map(|p| p.publish_errors.iter().cloned())
            .take(20)
            .collect(),
        ..Default::default()
    };
    let cluster = ClusterResult {
        nodes,
        spawned: s.spawn_server.is_some(),
        redis: redis_line,
        redis_pid: redis_proc.as_ref().map(RedisProc::pid),
        node_pids: node_pids
            .iter()
            .skip(usize::from(redis_proc.is_some()))
            .copied()
            .collect(),
        sub_addrs: s.sub_addrs.iter().map(|a| a.to_string()).collect(),
        pub_addr: s.pub_addr.to_string(),
        pub_node: s.pub_node,
        subscribers_per_node,
        largest_clean_rate: search.clean,
        search_end,
        phases,
        search: steps,
        server_stat,
    };
    let mut result = BenchResult {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started,
        settings: s,
        machine,
        connect,
        server: super::ServerResult::default(),
        publish,
        delivery,
        bench: Default::default(),
        checks: Vec::new(),
        notes,
        floor: None,
        ping_floor: None,
        latency_floor: None,
        storm_floor: None,
        sustained_floor: None,
        soak: None,
        cluster: Some(cluster),
    };
    result.server.pid = result.settings.server_pid;
    result.checks = super::render::checks(&result);
    Ok(result)
}

/// Why the search stopped, in words: the largest clean rate and what the next one did.
fn search_end(search: &StepSearch, phases: &[&PhaseResult]) -> String {
    let failed = search.failed.and_then(|f| {
        phases
            .iter()
            .find(|p| p.rate == f && p.outcome != Some(Outcome::Clean))
    });
    let clean = match search.clean {
        Some(c) => format!("{c:.0} msg/s clean"),
        None => "no rate clean".into(),
    };
    match failed {
        Some(p) => format!(
            "{clean}; at {:.0} msg/s {} (published {:.0}/s, lost {}){}",
            p.rate,
            p.outcome.map_or("?", |o| o.describe()),
            p.published_per_sec,
            p.tally.lost,
            if search.max_steps == 0 {
                "; no search (--search-steps 0)"
            } else if search.steps >= search.max_steps {
                "; step limit reached"
            } else {
                ""
            }
        ),
        None if search.max_steps == 0 => format!("{clean}; no search (--search-steps 0)"),
        None => format!(
            "{clean}; nothing failed within {} step(s): the limit is higher",
            search.steps
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_best_clean_rate_then_bisects() {
        let mut s = StepSearch::new(10);
        s.record(1_000.0, true);
        s.record(10_000.0, true);
        assert_eq!(s.next_rate(), Some(20_000.0));
        s.record(20_000.0, true);
        assert_eq!(s.next_rate(), Some(40_000.0));
        s.record(40_000.0, false);
        assert_eq!(s.next_rate(), Some(30_000.0));
        s.record(30_000.0, false);
        assert_eq!(s.next_rate(), Some(25_000.0));
        s.record(25_000.0, true);
        assert_eq!(s.next_rate(), Some(27_500.0));
        s.record(27_500.0, true);
        // 30,000 ≤ 27,500 × 1.1: close enough.
        assert_eq!(s.next_rate(), None);
        assert_eq!(s.clean, Some(27_500.0));
        assert_eq!(s.failed, Some(30_000.0));
        assert_eq!(s.steps, 5);
    }

    #[test]
    fn bisects_below_a_failing_fixed_rate() {
        let mut s = StepSearch::new(10);
        s.record(1_000.0, true);
        s.record(10_000.0, false);
        assert_eq!(s.next_rate(), Some(5_500.0));
        s.record(5_500.0, true);
        assert_eq!(s.next_rate(), Some(7_800.0)); // 7,750 rounded to 100/s
        s.record(7_800.0, false);
        assert_eq!(s.next_rate(), Some(6_700.0)); // 6,650
        s.record(6_700.0, true);
        assert_eq!(s.next_rate(), Some(7_300.0)); // 7,250
        s.record(7_300.0, true);
        // 7,800 ≤ 7,300 × 1.1.
        assert_eq!(s.next_rate(), None);
        assert_eq!(s.clean, Some(7_300.0));
        assert_eq!(s.steps, 4);
    }

    #[test]
    fn halves_when_nothing_was_clean_and_gives_up_at_the_floor() {
        let mut s = StepSearch::new(20);
        s.record(1_000.0, false);
        let mut tried = Vec::new();
        while let Some(r) = s.next_rate() {
            tried.push(r);
            s.record(r, false);
        }
        // 125 and 65 rounded to 10/s; 35 would be below the floor.
        assert_eq!(tried, [500.0, 250.0, 130.0, 70.0]);
        assert_eq!(s.clean, None);
    }

    #[test]
    fn starts_at_the_start_rate_and_stops_at_the_step_limit() {
        let mut s = StepSearch::new(2);
        assert_eq!(s.next_rate(), Some(SEARCH_START));
        s.record(SEARCH_START, true);
        assert_eq!(s.next_rate(), Some(2.0 * SEARCH_START));
        s.record(2.0 * SEARCH_START, true);
        assert_eq!(s.next_rate(), None, "two steps only");
        assert_eq!(StepSearch::new(0).next_rate(), None);
    }

    #[test]
    fn a_clean_rate_above_a_failed_one_ends_the_search() {
        // Noise: the failure below the clean rate leaves nothing to bisect.
        let mut s = StepSearch::new(10);
        s.record(10_000.0, true);
        s.record(5_000.0, false);
        assert_eq!(s.next_rate(), None);
    }

    fn phase(rate: f64, published: f64) -> PhaseResult {
        PhaseResult {
            rate,
            published_per_sec: published,
            ..Default::default()
        }
    }

    #[test]
    fn outcome_names_the_first_reason() {
        assert_eq!(Outcome::of(&phase(1_000.0, 995.0)), Outcome::Clean);
        assert_eq!(
            Outcome::of(&phase(1_000.0, 850.0)),
            Outcome::PublisherBehind
        );
        let mut p = phase(1_000.0, 850.0);
        p.tally.reordered = 1;
        assert_eq!(Outcome::of(&p), Outcome::Disorder);
        p.tally.lost = 3;
        assert_eq!(Outcome::of(&p), Outcome::Lost);
        p.failed = 1;
        assert_eq!(Outcome::of(&p), Outcome::PublishFailed);
    }

    #[test]
    fn a_phase_tally_is_the_difference_of_totals() {
        let a = Tally {
            received: 100,
            lost: 2,
            ..Default::default()
        };
        let b = Tally {
            received: 250,
            lost: 1,
            dup: 1,
            ..Default::default()
        };
        let d = diff(b, a);
        assert_eq!((d.received, d.lost, d.dup), (150, 0, 1));
    }
}
