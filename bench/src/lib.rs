//! `bxpush bench` (the `bxpush-bench` binary): a load generator for any server that speaks
//! the Bitrix pull protocol (bxpush, or Bitrix's Node push-server for comparison).
//!
//! The coordinator (this process) optionally starts the server pinned to a CPU, forks
//! worker processes of itself (`bxpush-bench --worker`, each holding at most
//! `--per-worker` subscriber connections: a process may hold ~19,900 sockets), publishes
//! at an open-loop rate through `/bitrix/pub/`, samples the server's memory, CPU and open
//! files from `/proc`, and merges what the workers measured: publish→receive latency,
//! time to the last delivery of each fan-out, connects per second, and lost, duplicated
//! and out-of-order messages. Progress goes to stderr, a table to stdout, everything to
//! `--json FILE`. `--render DIR` turns a directory of such JSON files into BENCHMARKS.md.
//!
//! The `soak` scenario has a coordinator of its own ([`soak`]), as has `cluster`
//! ([`cluster`]: a redis-server and several nodes, subscribers spread over them).
//!
//! Not covered yet: publishing from PHP through the extension (`BxPush\publish`).

pub mod accounting;
pub mod body;
pub mod cluster;
mod epoll;
pub mod floor;
pub mod floor_frame;
pub mod floor_latency;
pub mod floor_ping;
pub mod floor_storm;
pub mod floor_sustained;
pub mod http;
pub mod plan;
pub mod procstat;
pub mod publisher;
pub mod render;
pub mod render_cluster;
mod resend_gate;
pub mod soak;
pub mod worker;

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use accounting::Tally;
use plan::{Layout, Plan};
use procstat::{Machine, Sample};
use publisher::{PubConfig, PublishMode};
use worker::{new_histogram, now_ns, Event, Transport, WorkerConfig};

/// The standard scenarios of BENCHMARKS.md: each sets defaults (every flag still wins)
/// and the targets its figures are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// 19,000 idle WebSocket subscribers: memory per connection, idle CPU with pings.
    Idle,
    /// One 200-byte message to 10,000 WebSocket subscribers of one channel.
    Fanout,
    /// One private channel, one subscriber: publish→receive latency.
    Latency,
    /// 2,000 subscribers on 20 channels, 2,500 messages/s (protobuf batches of 100) for 60 s.
    Sustained,
    /// 19,000 WebSocket handshakes + subscriptions as fast as they go.
    Storm,
    /// 5,000 parked long polls released by one message at a time.
    Longpoll,
    /// 5,000 SSE streams, one message at a time.
    Sse,
    /// 19,000 WebSocket subscribers for 30 minutes, 200 reconnecting per second, 5,000
    /// messages/s: memory drift, open files and hub maps after everyone left (run by hand).
    Soak,
    /// Several nodes sharing one Redis (3 bxpush nodes with --spawn-server): 3,000
    /// WebSocket subscribers spread over them, publishing on one at 1,000 and 10,000
    /// messages/s, then a step search for the largest rate with nothing lost.
    Cluster,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::Idle,
        Scenario::Fanout,
        Scenario::Latency,
        Scenario::Sustained,
        Scenario::Storm,
        Scenario::Longpoll,
        Scenario::Sse,
        Scenario::Soak,
        Scenario::Cluster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Idle => "idle",
            Scenario::Fanout => "fanout",
            Scenario::Latency => "latency",
            Scenario::Sustained => "sustained",
            Scenario::Storm => "storm",
            Scenario::Longpoll => "longpoll",
            Scenario::Sse => "sse",
            Scenario::Soak => "soak",
            Scenario::Cluster => "cluster",
        }
    }
}

/// `bxpush bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// A standard scenario: sets the defaults below and the targets of the report.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,
    /// Subscriber address of the server (WebSocket, long polling, SSE). Default
    /// 127.0.0.1:8010. Several (repeat the flag or separate by commas): the nodes of one
    /// cluster, subscribers spread over them round-robin.
    #[arg(long = "sub", value_delimiter = ',')]
    pub sub_addr: Vec<SocketAddr>,
    /// Trusted publish address (`/bitrix/pub/`). Default 127.0.0.1:9010.
    #[arg(long = "pub")]
    pub pub_addr: Option<SocketAddr>,
    /// Subscription path. Default /bitrix/subws/ (the Node server's route).
    #[arg(long)]
    pub path: Option<String>,
    /// ws, ws-binary, longpoll, longpoll-binary or sse. Default ws.
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// Subscriber connections. Default 1000.
    #[arg(long)]
    pub subscribers: Option<u32>,
    /// private: each subscriber its own channel; shared: each also on one of --channels
    /// shared channels, which the messages go to. Default private.
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,
    /// Shared channels (layout shared). Default 1.
    #[arg(long)]
    pub channels: Option<u32>,
    /// Messages published per second (open loop). Default 100; 0 = no publishing.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of publishing. Default 5.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds of idle measurement once everyone is connected, before publishing. Default 0.
    #[arg(long)]
    pub idle: Option<f64>,
    /// Message body size, bytes. Default 200.
    #[arg(long)]
    pub message_size: Option<usize>,
    /// text (one message per POST, Message-Expiry) or protobuf (RequestBatch). Default text.
    #[arg(long, value_enum)]
    pub publish_mode: Option<PublishMode>,
    /// Messages per protobuf request. Default 1.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Keep-alive publish connections. Default 4.
    #[arg(long)]
    pub pub_conns: Option<usize>,
    /// Message-Expiry / protobuf expiry of published messages, seconds. Default 600.
    #[arg(long)]
    pub expiry: Option<u32>,
    /// Worker processes. Default: subscribers / --per-worker, rounded up.
    #[arg(long)]
    pub workers: Option<u32>,
    /// Most connections one worker process holds. Default 15000.
    #[arg(long)]
    pub per_worker: Option<u32>,
    /// Connection attempts in flight per worker. Default 256.
    #[arg(long)]
    pub connect_concurrency: Option<usize>,
    /// Connection attempts per second over all workers; 0 = as fast as they complete. Default 0.
    #[arg(long)]
    pub connect_rate: Option<f64>,
    /// The server's signature key (empty: unsigned channel ids). With --spawn-server a
    /// fixed bench key is used unless given.
    #[arg(long, hide_env_values = true)]
    pub signature_key: Option<String>,
    /// sha1 or sha256. Default sha1.
    #[arg(long)]
    pub signature_algo: Option<String>,
    /// Sample this server process (/proc/PID): memory, CPU, open files.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Start this server binary (`PATH serve …` on free loopback ports) and stop it after.
    #[arg(long)]
    pub spawn_server: Option<PathBuf>,
    /// Extra argument for the spawned server (repeat the flag for several).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// --ws-ping-interval given to the spawned server, seconds.
    #[arg(long)]
    pub ws_ping_interval: Option<u64>,
    /// CPUs the spawned server is pinned to ("0", "0-1"; "any" = not pinned). Default 0
    /// when the machine has 2+.
    #[arg(long)]
    pub server_cpu: Option<String>,
    /// CPUs the bench (coordinator and workers) is pinned to ("1"; "any" = not pinned).
    /// Default 1 when the machine has 2+ and the server is spawned.
    #[arg(long)]
    pub cpu: Option<String>,
    /// Seconds to wait for every subscriber's warm-up message. Default 60.
    #[arg(long)]
    pub warmup_timeout: Option<f64>,
    /// Seconds to wait for the last deliveries after publishing. Default 10.
    #[arg(long)]
    pub drain_timeout: Option<f64>,
    /// Server sampling period, milliseconds. Default 500.
    #[arg(long)]
    pub sample_ms: Option<u64>,
    /// Write the full results here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Render BENCHMARKS.md from the JSON results in this directory (no run).
    #[arg(long)]
    pub render: Option<PathBuf>,
    /// Where --render writes (default stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Rounds of the machine's floor measured before the run, the same traffic on as many
    /// loopback sockets without a server (see the floor section of BENCHMARKS.md): in the
    /// fanout, longpoll and sse scenarios a round is the same frame (long poll: response;
    /// SSE: chunk) written to every socket (default 20), in the idle scenario one ping
    /// interval of the same pings and pongs (default 2, after one that warms up), in the
    /// latency scenario one publish request relayed as the subscriber's frame, at --rate
    /// (default 600), in the storm scenario one pass of the same handshakes (default 1), in
    /// the sustained scenario one batch's frames to every socket at full speed (default
    /// 100);
    /// 0 = not measured (the default of the other scenarios).
    #[arg(long)]
    pub floor_rounds: Option<u32>,
    /// Measure only the floor (for --subscribers sockets and --message-size; with
    /// --scenario idle the ping floor, every --ws-ping-interval; with --scenario latency
    /// the two hops' floor; with --scenario storm the handshakes' floor; with --scenario
    /// sustained the frames' floor), no server.
    #[arg(long)]
    pub floor_only: bool,
    /// Soak: subscribers that reconnect per second (each resumes with its last mid).
    /// Default 0 (200 in the soak scenario).
    #[arg(long)]
    pub churn_rate: Option<f64>,
    /// Soak: seconds into the run where the memory drift is measured from. Default 300.
    #[arg(long)]
    pub soak_warmup: Option<f64>,
    /// Soak: largest resident memory drift between the warm-up mark and the end, %.
    /// Default 2.
    #[arg(long)]
    pub max_drift_pct: Option<f64>,
    /// Cluster: bxpush nodes started with --spawn-server (and one redis-server). Default 3.
    #[arg(long)]
    pub nodes: Option<u32>,
    /// Cluster: which --sub address is on the node --pub publishes to (0-based), so that
    /// its subscribers' latency is told apart from the other nodes'. Default: 0 with
    /// --spawn-server, else none (all count as other nodes, as with Node's publish-only
    /// processes).
    #[arg(long)]
    pub pub_node: Option<u32>,
    /// Cluster: the rates measured one after the other, messages/s (comma list), each
    /// for --duration seconds. Default 1000,10000.
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Cluster: seconds of publishing per step of the search for the largest rate with
    /// nothing lost. Default 3.
    #[arg(long)]
    pub step_seconds: Option<f64>,
    /// Cluster: most steps of that search (doubling, then bisecting); 0 = no search.
    /// Default 6.
    #[arg(long)]
    pub search_steps: Option<u32>,
    /// Run as a worker process (internal).
    #[arg(long, hide = true)]
    pub worker: bool,
    /// Run as a floor drainer process (internal).
    #[arg(long, hide = true)]
    pub floor_drain: bool,
    /// Run as a ping floor peer process (internal).
    #[arg(long, hide = true)]
    pub floor_pong: bool,
}

/// Everything resolved: flags > scenario defaults > global defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub scenario: Option<Scenario>,
    pub sub_addr: SocketAddr,
    pub pub_addr: SocketAddr,
    pub path: String,
    pub transport: Transport,
    pub subscribers: u32,
    pub layout: Layout,
    pub channels: u32,
    pub rate: f64,
    pub duration: f64,
    pub idle: f64,
    pub message_size: usize,
    pub publish_mode: PublishMode,
    pub batch: usize,
    pub pub_conns: usize,
    pub expiry: u32,
    pub workers: u32,
    pub connect_concurrency: usize,
    pub connect_rate: f64,
    pub signature_algo: String,
    pub server_pid: Option<u32>,
    pub spawn_server: Option<String>,
    pub server_args: Vec<String>,
    pub ws_ping_interval: Option<u64>,
    pub server_cpu: Option<String>,
    pub cpu: Option<String>,
    pub warmup_timeout: f64,
    pub drain_timeout: f64,
    pub sample_ms: u64,
    /// Rounds of the floor measurement before the run (0: none).
    #[serde(default)]
    pub floor_rounds: u32,
    /// Most connections one worker (and one floor drainer) process holds.
    #[serde(default)]
    pub per_worker: u32,
    /// Channel ids are signed (a signature key is set).
    #[serde(default)]
    pub signed: bool,
    #[serde(default)]
    pub churn_rate: f64,
    #[serde(default)]
    pub soak_warmup: f64,
    #[serde(default)]
    pub max_drift_pct: f64,
    /// Every subscriber address (several: the nodes of a cluster, round-robin).
    #[serde(default)]
    pub sub_addrs: Vec<SocketAddr>,
    /// Cluster: nodes spawned (or the number of --sub addresses).
    #[serde(default)]
    pub nodes: u32,
    /// Cluster: the index in `sub_addrs` of the node publishing goes to, if known.
    #[serde(default)]
    pub pub_node: Option<u32>,
    /// Cluster: the fixed rates measured, messages/s.
    #[serde(default)]
    pub rates: Vec<f64>,
    #[serde(default)]
    pub step_seconds: f64,
    #[serde(default)]
    pub search_steps: u32,
    #[serde(skip)]
    pub signature_key: String,
}

/// Scenario defaults, as (flag, value) pairs applied where a flag is absent.
fn preset(s: Scenario, a: &mut BenchArgs) {
    fn set<T>(slot: &mut Option<T>, v: T) {
        if slot.is_none() {
            *slot = Some(v);
        }
    }
    match s {
        Scenario::Idle => {
            set(&mut a.transport, Transport::Ws);
            set(&mut a.subscribers, 19_000);
            set(&mut a.layout, Layout::Private);
            set(&mut a.rate, 0.0);
            set(&mut a.idle, 30.0);
            set(&mut a.ws_ping_interval, 5);
            set(&mut a.floor_rounds, 2);
        }
        Scenario::Fanout => {
            set(&mut a.transport, Transport::Ws);
            set(&mut a.subscribers, 10_000);
            set(&mut a.layout, Layout::Shared);
            set(&mut a.channels, 1);
            set(&mut a.rate, 10.0);
            set(&mut a.duration, 20.0);
            set(&mut a.message_size, 200);
            set(&mut a.floor_rounds, 20);
        }
        Scenario::Latency => {
            set(&mut a.transport, Transport::Ws);
            set(&mut a.subscribers, 1);
            set(&mut a.layout, Layout::Private);
            set(&mut a.rate, 200.0);
            set(&mut a.duration, 10.0);
            set(&mut a.pub_conns, 1);
            // p99 against the same two hops without a server: 600 requests at the
            // scenario's rate (3 s; the 6th-worst is the p99).
            set(&mut a.floor_rounds, 600);
        }
        Scenario::Sustained => {
            // 250,000 deliveries/s: 2,500 messages/s to 20 channels of 100 subscribers,
            // published as the pull module's protobuf mode does (RequestBatch of up to
            // 100 messages per POST).
            set(&mut a.transport, Transport::Ws);
            set(&mut a.subscribers, 2_000);
            set(&mut a.layout, Layout::Shared);
            set(&mut a.channels, 20);
            set(&mut a.rate, 2_500.0);
            set(&mut a.duration, 60.0);
            set(&mut a.publish_mode, PublishMode::Protobuf);
            set(&mut a.batch, 100);
            set(&mut a.pub_conns, 1);
            set(&mut a.drain_timeout, 30.0);
            // Deliveries/s against the same frames at full speed without a server: 100
            // batches (1,000,000 deliveries, a few seconds).
            set(&mut a.floor_rounds, 100);
        }
        Scenario::Storm => {
            set(&mut a.transport, Transport::Ws);
            set(&mut a.subscribers, 19_000);
            set(&mut a.layout, Layout::Private);
            set(&mut a.rate, 0.0);
            set(&mut a.connect_concurrency, 512);
            // The rate against the same handshakes without a server, one pass.
            set(&mut a.floor_rounds, 1);
        }
        Scenario::Soak => {
            set(&mut a.transport, Transport::Ws);
            set(&mut a.subscribers, 19_000);
            set(&mut a.layout, Layout::Private);
            set(&mut a.rate, 5_000.0);
            set(&mut a.duration, 1_800.0);
            set(&mut a.publish_mode, PublishMode::Protobuf);
            set(&mut a.batch, 100);
            set(&mut a.pub_conns, 2);
            set(&mut a.churn_rate, 200.0);
            set(&mut a.soak_warmup, 300.0);
            set(&mut a.max_drift_pct, 2.0);
            // History and presence reach a steady state within seconds, so that a leak
            // is not hidden behind their growth and the maps can empty after the run.
            set(&mut a.expiry, 5);
            set(&mut a.drain_timeout, 60.0);
            set(&mut a.connect_concurrency, 512);
            if a.spawn_server.is_some() && a.server_args.is_empty() {
                a.server_args = vec!["--online-ttl".into(), "5".into()];
            }
        }
        Scenario::Cluster => {
            // Each subscriber its own channel, messages round-robin over them: every
            // message crosses from the publishing node to one subscriber, on whichever
            // node it is; every node receives every publication (the layout's cost).
            set(&mut a.transport, Transport::Ws);
            set(&mut a.subscribers, 3_000);
            set(&mut a.layout, Layout::Private);
            set(&mut a.duration, 5.0);
            set(&mut a.nodes, 3);
            // Many PHP workers publish at once on a busy portal: one request at a time
            // per connection would make the publisher, not the cluster, the limit: it
            // offers at most connections / request latency. 64 in flight let the
            // publishing node's group commit fill its batches (16 offered ≈ 3,100 msg/s
            // at the ≈ 5 ms requests of a loaded machine).
            set(&mut a.pub_conns, 64);
            // Stored (history in Redis, as the pull module's messages are), expiring
            // soon so that Redis does not grow through the search.
            set(&mut a.expiry, 60);
            set(&mut a.step_seconds, 3.0);
            set(&mut a.search_steps, 6);
            if a.rates.is_empty() {
                a.rates = vec![1_000.0, 10_000.0];
            }
        }
        Scenario::Longpoll | Scenario::Sse => {
            set(
                &mut a.transport,
                if s == Scenario::Sse {
                    Transport::Sse
                } else {
                    Transport::Longpoll
                },
            );
            set(&mut a.subscribers, 5_000);
            set(&mut a.layout, Layout::Shared);
            set(&mut a.channels, 1);
            set(&mut a.rate, 2.0);
            set(&mut a.duration, 15.0);
            // Release p99 is stated against the floor: the same response (or SSE chunk)
            // written to as many sockets without a server.
            set(&mut a.floor_rounds, 20);
        }
    }
}

/// `any` = not pinned; absent = `default` when `pin`.
fn pin_choice(given: Option<String>, pin: bool, default: &str) -> Option<String> {
    match given {
        Some(g) if g == "any" => None,
        Some(g) => Some(g),
        None => pin.then(|| default.to_string()),
    }
}

const BENCH_KEY: &str = "bxpush-bench-signature-key";

impl BenchArgs {
    fn resolve(mut self) -> Result<Settings, String> {
        if let Some(s) = self.scenario {
            preset(s, &mut self);
        }
        let nproc = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let spawning = self.spawn_server.is_some();
        let cluster = self.scenario == Some(Scenario::Cluster);
        if cluster && !spawning && (self.sub_addr.is_empty() || self.pub_addr.is_none()) {
            return Err("the cluster scenario needs --spawn-server BXPUSH (it starts redis-server and --nodes nodes), or the cluster's --sub addresses (one per node, comma list) and one --pub".into());
        }
        if let Some(k) = self.pub_node {
            if !spawning && k as usize >= self.sub_addr.len() {
                return Err(format!(
                    "--pub-node {k}: there are {} --sub address(es) (0-based index)",
                    self.sub_addr.len()
                ));
            }
        }
        let subscribers = self.subscribers.unwrap_or(1000);
        let per_worker = self.per_worker.unwrap_or(15_000).max(1);
        let workers = self
            .workers
            .unwrap_or_else(|| subscribers.div_ceil(per_worker))
            .max(1)
            .min(subscribers.max(1));
        if subscribers.div_ceil(workers) > 19_500 {
            return Err("more than 19,500 connections per worker: raise --workers".into());
        }
        let key = match (&self.signature_key, spawning) {
            (Some(k), _) => k.clone(),
            (None, true) => BENCH_KEY.to_string(),
            (None, false) => String::new(),
        };
        Ok(Settings {
            scenario: self.scenario,
            sub_addr: self
                .sub_addr
                .first()
                .copied()
                .unwrap_or_else(|| "127.0.0.1:8010".parse().expect("addr")),
            nodes: match (spawning, self.nodes) {
                (true, n) => n.unwrap_or(1).max(1),
                (false, _) => (self.sub_addr.len() as u32).max(1),
            },
            pub_node: self.pub_node.or(spawning.then_some(0)),
            rates: if self.rates.is_empty() {
                vec![self.rate.unwrap_or(100.0)]
            } else {
                self.rates.clone()
            }
            .into_iter()
            .filter(|r| *r > 0.0)
            .collect(),
            step_seconds: self.step_seconds.unwrap_or(3.0).max(0.1),
            search_steps: self.search_steps.unwrap_or(0),
            sub_addrs: if spawning { Vec::new() } else { self.sub_addr },
            pub_addr: self
                .pub_addr
                .unwrap_or_else(|| "127.0.0.1:9010".parse().expect("addr")),
            path: self.path.unwrap_or_else(|| "/bitrix/subws/".into()),
            transport: self.transport.unwrap_or(Transport::Ws),
            subscribers,
            layout: self.layout.unwrap_or(Layout::Private),
            channels: self.channels.unwrap_or(1).max(1),
            rate: self.rate.unwrap_or(100.0).max(0.0),
            duration: self.duration.unwrap_or(5.0).max(0.0),
            idle: self.idle.unwrap_or(0.0).max(0.0),
            message_size: self.message_size.unwrap_or(200),
            publish_mode: self.publish_mode.unwrap_or(PublishMode::Text),
            batch: self.batch.unwrap_or(1).max(1),
            pub_conns: self.pub_conns.unwrap_or(4).max(1),
            expiry: self.expiry.unwrap_or(600),
            workers,
            connect_concurrency: self.connect_concurrency.unwrap_or(256).max(1),
            connect_rate: self.connect_rate.unwrap_or(0.0).max(0.0),
            signature_algo: self.signature_algo.unwrap_or_else(|| "sha1".into()),
            server_pid: self.server_pid,
            spawn_server: self.spawn_server.map(|p| p.display().to_string()),
            server_args: self.server_args,
            ws_ping_interval: self.ws_ping_interval,
            server_cpu: pin_choice(self.server_cpu, spawning && nproc >= 2, "0"),
            cpu: pin_choice(self.cpu, spawning && nproc >= 2, "1"),
            warmup_timeout: self.warmup_timeout.unwrap_or(60.0),
            drain_timeout: self.drain_timeout.unwrap_or(10.0),
            sample_ms: self.sample_ms.unwrap_or(500).max(50),
            floor_rounds: self.floor_rounds.unwrap_or(0),
            per_worker,
            signed: !key.is_empty(),
            signature_key: key,
            churn_rate: self.churn_rate.unwrap_or(0.0).max(0.0),
            soak_warmup: self.soak_warmup.unwrap_or(300.0).max(0.0),
            max_drift_pct: self.max_drift_pct.unwrap_or(2.0),
        })
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Quantiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1e6,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectResult {
    pub attempted: u64,
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
    pub per_sec: f64,
    pub latency: Quantiles,
    pub errors: Vec<String>,
    /// Subscribers whose warm-up message arrived (proves the subscription).
    pub warm: u64,
    pub warm_seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerResult {
    pub pid: Option<u32>,
    pub rss_before_kib: u64,
    pub rss_connected_kib: u64,
    pub rss_end_kib: u64,
    pub rss_max_kib: u64,
    /// (RSS once everyone is connected and warm − RSS before) / connections.
    pub rss_per_conn_kib: Option<f64>,
    /// The same after the idle window (pings exchanged).
    pub rss_per_conn_after_idle_kib: Option<f64>,
    pub fds_max: u64,
    pub idle_seconds: f64,
    pub idle_cpu_pct: Option<f64>,
    pub publish_cpu_pct: Option<f64>,
    pub connect_cpu_pct: Option<f64>,
    /// Server CPU per connection made (handshake + subscription), microseconds.
    pub connect_cpu_us_per_conn: Option<f64>,
    /// Server CPU per delivered message while publishing, microseconds.
    pub publish_cpu_us_per_delivery: Option<f64>,
    /// Server CPU per WebSocket ping + pong while idle, microseconds (idle CPU ×
    /// ping interval / connections).
    pub idle_cpu_us_per_ping: Option<f64>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PublishResult {
    pub messages: u64,
    pub failed: u64,
    pub requests: u64,
    pub seconds: f64,
    pub per_sec: f64,
    /// How late requests left after their scheduled time (open loop).
    pub lateness: Quantiles,
    pub request_latency: Quantiles,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliveryResult {
    /// Deliveries the run should produce (messages × subscribers of their channel).
    pub expected: u64,
    /// Bench messages received (every copy).
    pub delivered: u64,
    pub tally: Tally,
    /// Delivered messages per second, from the first publish to the last delivery.
    pub per_sec: f64,
    pub seconds: f64,
    /// Publish → receive, per delivery.
    pub latency: Quantiles,
    /// Publish → the last subscriber of the channel, per message (complete fan-outs).
    pub time_to_last_delivery: Quantiles,
    /// Messages some subscriber never received.
    pub incomplete_fanouts: u64,
    /// Connections the server closed, or that failed, during the run.
    pub closed: u64,
    pub close_reasons: Vec<String>,
    pub longpoll_requests: u64,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BenchCpu {
    /// CPU used by the bench (coordinator + workers) while publishing, % of one core.
    pub publish_cpu_pct: Option<f64>,
    /// The same while connecting.
    pub connect_cpu_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub figure: String,
    pub target: String,
    pub measured: String,
    /// `None`: no target, reported only.
    pub ok: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    pub command: String,
    pub started: String,
    pub settings: Settings,
    pub machine: Machine,
    pub connect: ConnectResult,
    pub server: ServerResult,
    pub publish: PublishResult,
    pub delivery: DeliveryResult,
    pub bench: BenchCpu,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
    /// The machine's floor for the same fan-out, measured before the run.
    #[serde(default)]
    pub floor: Option<floor::FloorResult>,
    /// The machine's floor for the same idle pings and pongs (idle scenario).
    #[serde(default)]
    pub ping_floor: Option<floor_ping::PingFloorResult>,
    /// The machine's floor for the same two hops, publish → frame (latency scenario).
    #[serde(default)]
    pub latency_floor: Option<floor_latency::LatencyFloorResult>,
    /// The machine's floor for the same handshakes (storm scenario).
    #[serde(default)]
    pub storm_floor: Option<floor_storm::StormFloorResult>,
    /// The machine's floor for the same frames at full speed (sustained scenario).
    #[serde(default)]
    pub sustained_floor: Option<floor_sustained::SustainedFloorResult>,
    /// The soak scenario's figures.
    #[serde(default)]
    pub soak: Option<soak::SoakResult>,
    /// The cluster scenario's figures.
    #[serde(default)]
    pub cluster: Option<cluster::ClusterResult>,
}

/// Entry of `bxpush bench`.
pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.worker {
        return worker::main();
    }
    if args.floor_drain {
        return floor::drain_main();
    }
    if args.floor_pong {
        return floor_ping::pong_main();
    }
    if let Some(dir) = &args.render {
        let md = render::render_dir(dir)?;
        return match &args.out {
            Some(p) => std::fs::write(p, md).map_err(|e| format!("{}: {e}", p.display())),
            None => {
                print!("{md}");
                Ok(())
            }
        };
    }
    let json = args.json.clone();
    let floor_only = args.floor_only;
    let settings = args.resolve()?;
    if floor_only {
        return run_floor_only(&settings, json);
    }
    if let Some(cpus) = &settings.cpu {
        procstat::pin_self(cpus)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    // The machine's floor for the same fan-out (or, idle, the same pings and pongs),
    // measured before the run (nothing else of ours runs yet), and the publish rate paced
    // to it (see `floor::paced_rate`).
    let mut settings = settings;
    let mut floor_notes = Vec::new();
    let measured = settings.floor_rounds > 0 && settings.subscribers > 0;
    let idle = settings.scenario == Some(Scenario::Idle);
    // The latency scenario's floor is its two hops (`floor_latency`), the storm's its
    // handshakes (`floor_storm`).
    let latency = settings.scenario == Some(Scenario::Latency);
    let storm = settings.scenario == Some(Scenario::Storm);
    let sustained = settings.scenario == Some(Scenario::Sustained);
    let floor = (measured && !idle && !latency && !storm && !sustained)
        .then(|| measure_floor(&settings, settings.subscribers, &mut floor_notes))
        .flatten();
    // The idle scenario's floor is its pings and pongs (`floor_ping`).
    let ping_floor = (measured && idle)
        .then(|| measure_ping_floor(&settings, settings.subscribers, &mut floor_notes))
        .flatten();
    let latency_floor = (measured && latency)
        .then(|| {
            progress(
                Instant::now(),
                &format!(
                    "latency floor: the same two hops without a server, {} requests",
                    settings.floor_rounds
                ),
            );
            noted(
                "latency floor",
                floor_latency::measure(&latency_floor_spec(&settings)),
                &mut floor_notes,
            )
        })
        .flatten();
    let storm_floor = (measured && storm)
        .then(|| {
            progress(
                Instant::now(),
                &format!(
                    "storm floor: the same {} handshakes without a server",
                    settings.subscribers
                ),
            );
            noted(
                "storm floor",
                floor_storm::measure(&storm_floor_spec(&settings)),
                &mut floor_notes,
            )
        })
        .flatten();
    let sustained_floor = (measured && sustained)
        .then(|| {
            progress(
                Instant::now(),
                &format!(
                    "sustained floor: the same frames to {} loopback sockets at full speed without a server, {} batches",
                    settings.subscribers, settings.floor_rounds
                ),
            );
            noted(
                "sustained floor",
                floor_sustained::measure(&sustained_floor_spec(&settings)),
                &mut floor_notes,
            )
        })
        .flatten();
    if let Some(f) = &floor {
        let paced = floor::paced_rate(settings.rate, f.last_delivery.mean_ms);
        if paced < settings.rate {
            floor_notes.push(format!(
                "publish rate {:.1}/s instead of {}/s: the floor's fan-out takes {:.1} ms on \
                 this machine, and each fan-out is given twice that before the next (as each \
                 floor round starts when the previous one was read)",
                paced, settings.rate, f.last_delivery.mean_ms
            ));
            settings.rate = paced;
        }
    }
    let mut result = if settings.scenario == Some(Scenario::Soak) {
        local.block_on(&rt, soak::coordinate(settings))?
    } else if settings.scenario == Some(Scenario::Cluster) {
        // Interrupted: the run is dropped, and with it the redis-server and the nodes it
        // started (stopped by pid).
        local.block_on(&rt, async {
            tokio::select! {
                r = cluster::coordinate(settings) => r,
                sig = interrupted() => Err(format!("{sig}: stopped the servers it started")),
            }
        })?
    } else {
        local.block_on(&rt, coordinate(settings))?
    };
    if floor.is_some()
        || ping_floor.is_some()
        || latency_floor.is_some()
        || storm_floor.is_some()
        || sustained_floor.is_some()
        || !floor_notes.is_empty()
    {
        result.floor = floor;
        result.ping_floor = ping_floor;
        result.latency_floor = latency_floor;
        result.storm_floor = storm_floor;
        result.sustained_floor = sustained_floor;
        result.notes.extend(floor_notes);
        result.checks = render::checks(&result);
    }
    print!("{}", render::table(&result));
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(&result).expect("serialisable");
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        eprintln!("bench: results written to {}", p.display());
    }
    Ok(())
}

/// Measure the floor for `sockets` subscribers of `s`; a failure becomes a note.
fn measure_floor(
    s: &Settings,
    sockets: u32,
    notes: &mut Vec<String>,
) -> Option<floor::FloorResult> {
    let t0 = Instant::now();
    progress(
        t0,
        &format!(
            "floor: the same bytes to {sockets} loopback sockets without a server, {} rounds",
            s.floor_rounds
        ),
    );
    match floor::measure(&floor_spec(s, sockets)) {
        Ok(f) => Some(f),
        Err(e) => {
            notes.push(format!("floor not measured: {e}"));
            None
        }
    }
}

/// Measure the ping floor for `sockets` subscribers of `s`; a failure becomes a note.
fn measure_ping_floor(
    s: &Settings,
    sockets: u32,
    notes: &mut Vec<String>,
) -> Option<floor_ping::PingFloorResult> {
    progress(
        Instant::now(),
        &format!(
            "ping floor: the same pings and pongs on {sockets} loopback sockets without a server, 1 + {} intervals",
            s.floor_rounds
        ),
    );
    match ping_floor_spec(s, sockets).and_then(|f| floor_ping::measure(&f)) {
        Ok(f) => Some(f),
        Err(e) => {
            notes.push(format!("ping floor not measured: {e}"));
            None
        }
    }
}

/// The floor for `sockets` subscribers of `s`: the writer where the server ran, the
/// drainers where the bench ran.
fn floor_spec(s: &Settings, sockets: u32) -> floor::FloorSpec {
    floor::FloorSpec {
        sockets,
        message_size: s.message_size,
        transport: s.transport,
        rounds: s.floor_rounds.max(1),
        writer_cpu: s.server_cpu.clone(),
        drain_cpu: s.cpu.clone(),
        per_process: s.per_worker.max(1),
    }
}

/// The ping floor for `sockets` subscribers of `s` (idle scenario): the writer where the
/// server ran, the peers where the bench ran, the server's ping interval.
fn ping_floor_spec(s: &Settings, sockets: u32) -> Result<floor_ping::PingFloorSpec, String> {
    let interval = s
        .ws_ping_interval
        .filter(|&p| p > 0)
        .ok_or("the ping floor needs the server's --ws-ping-interval")?;
    Ok(floor_ping::PingFloorSpec {
        sockets,
        interval: Duration::from_secs(interval),
        intervals: s.floor_rounds.max(1),
        writer_cpu: s.server_cpu.clone(),
        peer_cpu: s.cpu.clone(),
        per_process: s.per_worker.max(1),
    })
}

/// A floor's result, or a note saying why it was not measured.
fn noted<T>(what: &str, r: Result<T, String>, notes: &mut Vec<String>) -> Option<T> {
    match r {
        Ok(f) => Some(f),
        Err(e) => {
            notes.push(format!("{what} not measured: {e}"));
            None
        }
    }
}

/// The latency floor of `s`: `floor_rounds` of the publisher's request, at its rate,
/// relayed where the server runs as the frame the subscriber gets.
fn latency_floor_spec(s: &Settings) -> floor_latency::LatencyFloorSpec {
    let cfg = publisher::PubConfig::of(s, 1, plan_of(s));
    let per_request = match s.publish_mode {
        PublishMode::Text => 1,
        PublishMode::Protobuf => s.batch.max(1),
    };
    floor_latency::LatencyFloorSpec {
        samples: s.floor_rounds.max(1),
        // Requests per second at the scenario's message rate.
        rate: if s.rate > 0.0 {
            s.rate / per_request as f64
        } else {
            200.0
        },
        request: publisher::first_request(&cfg),
        frame: floor_frame::server_bytes(s.transport, s.message_size),
        server_cpu: s.server_cpu.clone(),
        bench_cpu: s.cpu.clone(),
    }
}

/// The storm floor of `s`: as many handshakes as subscribers, as many in flight.
fn storm_floor_spec(s: &Settings) -> floor_storm::StormFloorSpec {
    let plan = plan_of(s);
    let signer = plan.signer();
    let mut target = format!(
        "{}?CHANNEL_ID={}",
        s.path,
        plan.channel_query(signer.as_ref(), 0)
    );
    if s.transport.binary() {
        target.push_str("&binaryMode=true");
    }
    floor_storm::StormFloorSpec {
        connections: s.subscribers.max(1),
        concurrency: s.connect_concurrency.clamp(1, 4096) as u32,
        request: floor_storm::upgrade_request(s.sub_addr, &target),
        response: floor_storm::upgrade_response(),
        server_cpu: s.server_cpu.clone(),
        bench_cpu: s.cpu.clone(),
    }
}

/// The sustained floor of `s`: its subscribers' sockets, each its channel's share of
/// `floor_rounds` batches.
fn sustained_floor_spec(s: &Settings) -> floor_sustained::SustainedFloorSpec {
    floor_sustained::SustainedFloorSpec {
        sockets: s.subscribers,
        channels: s.channels.max(1),
        batch: match s.publish_mode {
            PublishMode::Text => 1,
            PublishMode::Protobuf => s.batch.max(1) as u32,
        },
        batches: s.floor_rounds.max(1),
        frame: floor_frame::server_bytes(s.transport, s.message_size),
        server_cpu: s.server_cpu.clone(),
        bench_cpu: s.cpu.clone(),
    }
}

/// `--floor-only`: the floor alone, printed as JSON (and written to `--json`).
fn run_floor_only(s: &Settings, json: Option<PathBuf>) -> Result<(), String> {
    let mut s = s.clone();
    // No server is spawned, so pin as a spawned one would be unless told otherwise.
    let two = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    s.server_cpu = s.server_cpu.or_else(|| two.then(|| "0".into()));
    s.cpu = s.cpu.or_else(|| two.then(|| "1".into()));
    let text = if s.scenario == Some(Scenario::Idle) {
        let f = floor_ping::measure(&ping_floor_spec(&s, s.subscribers)?)?;
        serde_json::to_string_pretty(&f).expect("serialisable")
    } else if s.scenario == Some(Scenario::Latency) {
        let f = floor_latency::measure(&latency_floor_spec(&s))?;
        serde_json::to_string_pretty(&f).expect("serialisable")
    } else if s.scenario == Some(Scenario::Storm) {
        let f = floor_storm::measure(&storm_floor_spec(&s))?;
        serde_json::to_string_pretty(&f).expect("serialisable")
    } else if s.scenario == Some(Scenario::Sustained) {
        let f = floor_sustained::measure(&sustained_floor_spec(&s))?;
        serde_json::to_string_pretty(&f).expect("serialisable")
    } else {
        let f = floor::measure(&floor_spec(&s, s.subscribers))?;
        serde_json::to_string_pretty(&f).expect("serialisable")
    };
    println!("{text}");
    if let Some(p) = json {
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// The first SIGINT or SIGTERM, by name.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

fn progress(t0: Instant, msg: &str) {
    eprintln!("[bench {:7.1}s] {msg}", t0.elapsed().as_secs_f64());
}

/// A server started by the bench; stopped (SIGTERM, then SIGKILL) on drop.
struct SpawnedServer {
    child: Child,
}

impl SpawnedServer {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
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

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn spawn_server(s: &mut Settings) -> Result<SpawnedServer, String> {
    let (server, sub, publ) = start_server(s, &[])?;
    s.sub_addr = sub;
    s.pub_addr = publ;
    s.server_pid = Some(server.pid());
    Ok(server)
}

/// `PATH serve` of `s` on free loopback ports (with `extra` flags), pinned to
/// `s.server_cpu`, once it listens: the server, its subscriber and publish addresses.
fn start_server(
    s: &Settings,
    extra: &[String],
) -> Result<(SpawnedServer, SocketAddr, SocketAddr), String> {
    let path = s.spawn_server.clone().expect("spawning");
    let (sub, publ) = (free_port()?, free_port()?);
    let sub_addr: SocketAddr = format!("127.0.0.1:{sub}").parse().expect("addr");
    let pub_addr: SocketAddr = format!("127.0.0.1:{publ}").parse().expect("addr");
    let mut cmd = Process::new(&path);
    cmd.arg("serve")
        .arg("--listen-sub")
        .arg(sub_addr.to_string())
        .arg("--listen-pub")
        .arg(pub_addr.to_string())
        .arg("--signature-key")
        .arg(&s.signature_key)
        .arg("--signature-algo")
        .arg(&s.signature_algo)
        // Room for every bench connection plus the publishers.
        .arg("--max-connections")
        .arg((u64::from(s.subscribers) + 500).to_string());
    if let Some(p) = s.ws_ping_interval {
        cmd.arg("--ws-ping-interval").arg(p.to_string());
    }
    if std::env::var_os("BXPUSH_LOG").is_none() {
        // One log line per closed bench connection would drown the progress lines.
        cmd.env("BXPUSH_LOG", "warn");
    }
    cmd.args(&s.server_args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    pin_child(&mut cmd, s.server_cpu.as_deref())?;
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {path}: {e}"))?;
    let server = SpawnedServer { child };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if std::net::TcpStream::connect(sub_addr).is_ok()
            && std::net::TcpStream::connect(pub_addr).is_ok()
        {
            return Ok((server, sub_addr, pub_addr));
        }
        if Instant::now() > deadline {
            return Err(format!("{path} did not start listening on {sub_addr}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Between fork and exec of a server the bench starts: pinned to `cpus` if given, and
/// sent SIGTERM if the bench dies before stopping it (killed with SIGKILL, say), so that
/// no server outlives the run.
fn pin_child(cmd: &mut Process, cpus: Option<&str>) -> Result<(), String> {
    let set = cpus.map(procstat::parse_cpus).transpose()?;
    use std::os::unix::process::CommandExt;
    // SAFETY: only prctl and sched_setaffinity (async-signal-safe) run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            match &set {
                Some(set) => procstat::set_affinity(0, set).map_err(std::io::Error::other),
                None => Ok(()),
            }
        });
    }
    Ok(())
}

struct WorkerProc {
    child: Child,
    /// Closed first on drop: a worker exits at the end of its commands.
    stdin: Option<ChildStdin>,
}

impl WorkerProc {
    fn send(&mut self, cmd: &worker::Command) -> Result<(), String> {
        let line = serde_json::to_string(cmd).expect("serialisable");
        let stdin = self.stdin.as_mut().ok_or("worker stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("worker stdin: {e}"))
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum FromWorker {
    Event(Event),
    Gone(u32),
}

fn spawn_workers(
    s: &Settings,
    plan: &Plan,
    tx: mpsc::UnboundedSender<FromWorker>,
) -> Result<Vec<WorkerProc>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let per = s.subscribers.div_ceil(s.workers);
    let mut out = Vec::new();
    for w in 0..s.workers {
        let first = w * per;
        if first >= s.subscribers {
            break;
        }
        let count = per.min(s.subscribers - first);
        let cfg = WorkerConfig {
            worker: w,
            plan: plan.clone(),
            first,
            count,
            sub_addr: s.sub_addr,
            transport: s.transport,
            path: s.path.clone(),
            connect_concurrency: s.connect_concurrency,
            connect_rate: s.connect_rate / f64::from(s.workers),
            // The cluster's phases wait for their deliveries on these reports.
            report_ms: if s.scenario == Some(Scenario::Cluster) {
                100
            } else {
                250
            },
            sub_addrs: s.sub_addrs.clone(),
        };
        let mut child = Process::new(&exe)
            .arg("--worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a worker ({}): {e}", exe.display()))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        writeln!(
            stdin,
            "{}",
            serde_json::to_string(&cfg).expect("serialisable")
        )
        .map_err(|e| format!("worker config: {e}"))?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Event>(&line) {
                    Ok(ev) => {
                        let _ = tx.send(FromWorker::Event(ev));
                    }
                    Err(e) => eprintln!("bench: bad line from worker {w}: {e}"),
                }
            }
            let _ = tx.send(FromWorker::Gone(w));
        });
        out.push(WorkerProc {
            child,
            stdin: Some(stdin),
        });
    }
    Ok(out)
}

fn plan_of(s: &Settings) -> Plan {
    Plan {
        seed: 0x6278_7075_7368 ^ now_ns(),
        subscribers: s.subscribers,
        channels: s.channels,
        layout: s.layout,
        key: s.signature_key.clone(),
        algo: s.signature_algo.clone(),
    }
}

/// The server samples and a few marks, shared by the sampler task and the phases.
struct Sampler {
    pid: Option<u32>,
    t0: Instant,
    samples: RefCell<Vec<Sample>>,
}

impl Sampler {
    fn now(&self) -> Option<Sample> {
        let pid = self.pid?;
        let s = procstat::sample(pid, self.t0.elapsed().as_secs_f64())?;
        self.samples.borrow_mut().push(s);
        Some(s)
    }
}

fn cpu_pct(a: Option<Sample>, b: Option<Sample>) -> Option<f64> {
    let (a, b) = (a?, b?);
    let dt = b.t - a.t;
    (dt > 0.0).then(|| {
        (b.cpu_ticks.saturating_sub(a.cpu_ticks)) as f64 / procstat::clock_ticks_per_sec() / dt
            * 100.0
    })
}

fn self_and_children_ticks(pids: &[u32]) -> u64 {
    let mut t = procstat::cpu_ticks(std::process::id()).unwrap_or(0);
    for &p in pids {
        t += procstat::cpu_ticks(p).unwrap_or(0);
    }
    t
}

async fn coordinate(mut s: Settings) -> Result<BenchResult, String> {
    let t0 = Instant::now();
    let started = httpdate::fmt_http_date(std::time::SystemTime::now());
    let mut machine = procstat::machine();
    let mut notes = Vec::new();
    let _server = if s.spawn_server.is_some() {
        let srv = spawn_server(&mut s)?;
        progress(
            t0,
            &format!(
                "server pid {} on {} / {} (cpu {})",
                s.server_pid.unwrap_or(0),
                s.sub_addr,
                s.pub_addr,
                s.server_cpu.as_deref().unwrap_or("any")
            ),
        );
        Some(srv)
    } else {
        None
    };
    let sampler = Rc::new(Sampler {
        pid: s.server_pid,
        t0,
        samples: RefCell::new(Vec::new()),
    });
    if s.server_pid.is_none() {
        notes.push("no --server-pid: server memory and CPU not sampled".into());
    }
    // Let a freshly started server settle before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = sampler.now();
    let sampling = {
        let sampler = sampler.clone();
        let period = Duration::from_millis(s.sample_ms);
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(period).await;
                if sampler.now().is_none() && sampler.pid.is_some() {
                    return;
                }
            }
        })
    };

    // Connect.
    let plan = plan_of(&s);
    let (tx, mut rx) = mpsc::unbounded_channel();
    progress(
        t0,
        &format!(
            "connecting {} {} subscribers over {} worker(s)",
            s.subscribers,
            s.transport.name(),
            s.workers
        ),
    );
    let connect_start = sampler.now();
    let bench_connect_a = (Instant::now(), self_and_children_ticks(&[]));
    let mut workers = spawn_workers(&s, &plan, tx)?;
    let worker_pids: Vec<u32> = workers.iter().map(|w| w.child.id()).collect();
    let n_workers = workers.len();
    let mut connect_hist = new_histogram();
    let mut connect = ConnectResult {
        attempted: u64::from(s.subscribers),
        ..Default::default()
    };
    let mut failed_subs: Vec<u32> = Vec::new();
    let (mut first_start, mut last_done) = (u64::MAX, 0u64);
    let mut progress_of: Vec<worker::Progress> = Vec::new();
    let mut finals: Vec<worker::FinalReport> = Vec::new();
    let mut reported = 0;
    while reported < n_workers {
        match rx.recv().await {
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
            Some(FromWorker::Event(_)) => {}
            Some(FromWorker::Gone(w)) => return Err(format!("worker {w} exited early")),
            None => return Err("workers gone".into()),
        }
    }
    let connected_at = sampler.now();
    let bench_connect_cpu = {
        let dt = bench_connect_a.0.elapsed().as_secs_f64();
        let ticks = self_and_children_ticks(&worker_pids).saturating_sub(bench_connect_a.1);
        (dt > 0.0).then(|| ticks as f64 / procstat::clock_ticks_per_sec() / dt * 100.0)
    };
    if last_done > first_start {
        connect.seconds = (last_done - first_start) as f64 / 1e9;
        connect.per_sec = connect.ok as f64 / connect.seconds;
    }
    connect.latency = Quantiles::of(&connect_hist);
    progress(
        t0,
        &format!(
            "connected {} ({} failed) in {:.2}s: {:.0}/s",
            connect.ok, connect.failed, connect.seconds, connect.per_sec
        ),
    );

    // Events after the connect phase: progress and finals.
    let handle = |ev: FromWorker,
                  progress_of: &mut Vec<worker::Progress>,
                  finals: &mut Vec<worker::FinalReport>|
     -> Result<(), String> {
        match ev {
            FromWorker::Event(Event::Progress(p)) => {
                let w = p.worker as usize;
                if progress_of.len() <= w {
                    progress_of.resize_with(w + 1, || worker::Progress {
                        worker: 0,
                        delivered: 0,
                        warm: 0,
                        open: 0,
                        closed: 0,
                    });
                }
                progress_of[w] = p;
            }
            FromWorker::Event(Event::Final(f)) => finals.push(*f),
            // Snapshots are asked for by the cluster scenario only.
            FromWorker::Event(Event::Connected(_)) | FromWorker::Event(Event::Snapshot(_)) => {}
            FromWorker::Gone(w) => return Err(format!("worker {w} exited early")),
        }
        Ok(())
    };
    let sum = |p: &Vec<worker::Progress>, f: fn(&worker::Progress) -> u64| -> u64 {
        p.iter().map(f).sum()
    };

    // Warm-up: every subscriber receives one message before anything is measured.
    let warm_start = Instant::now();
    let mut next_warm = Instant::now();
    let warm_deadline = Instant::now() + Duration::from_secs_f64(s.warmup_timeout);
    let mut last_print = Instant::now();
    loop {
        let warm = sum(&progress_of, |p| p.warm);
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
            // Stored only for long polling (a poll being re-issued resumes from history);
            // connected WebSocket and SSE subscribers need no copy in the server's
            // history, which would count as memory per connection.
            let expiry = match s.transport {
                Transport::Longpoll | Transport::LongpollBinary => s.expiry,
                Transport::Ws | Transport::WsBinary | Transport::Sse => 0,
            };
            publisher::warmup(s.pub_addr, &plan, expiry).await?;
            next_warm = Instant::now() + Duration::from_secs(3);
        }
        if last_print.elapsed() > Duration::from_secs(1) {
            progress(t0, &format!("warm-up: {warm}/{}", connect.ok));
            last_print = Instant::now();
        }
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => handle(ev, &mut progress_of, &mut finals)?,
                None => return Err("workers gone".into()),
            },
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    connect.warm = sum(&progress_of, |p| p.warm);
    connect.warm_seconds = warm_start.elapsed().as_secs_f64();
    progress(
        t0,
        &format!(
            "warm: {} subscribers in {:.2}s",
            connect.warm, connect.warm_seconds
        ),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let warm_at = sampler.now();

    // Idle window.
    let mut idle_cpu = None;
    let mut after_idle = None;
    if s.idle > 0.0 {
        progress(t0, &format!("idle for {:.0}s", s.idle));
        let a = sampler.now();
        let end = Instant::now() + Duration::from_secs_f64(s.idle);
        while Instant::now() < end {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => handle(ev, &mut progress_of, &mut finals)?,
                    None => return Err("workers gone".into()),
                },
                _ = tokio::time::sleep_until(end.into()) => {}
            }
        }
        after_idle = sampler.now();
        idle_cpu = cpu_pct(a, after_idle);
    }

    // Publish.
    let messages = (s.rate * s.duration).round() as u64;
    let mut publish = PublishResult::default();
    let mut publish_cpu = None;
    let mut publish_cpu_secs: Option<f64> = None;
    let mut bench_cpu = None;
    let mut pub_start_ns = now_ns();
    let mut failed_msgs: Vec<u64> = Vec::new();
    let (expected, mut drain_done_ns) = if messages > 0 {
        progress(
            t0,
            &format!(
                "publishing {messages} messages at {}/s ({:?}, {} B)",
                s.rate, s.publish_mode, s.message_size
            ),
        );
        let cfg = Rc::new(PubConfig::of(&s, messages, plan.clone()));
        let sent = Rc::new(Cell::new(0u64));
        let a = sampler.now();
        let bench_a = (Instant::now(), self_and_children_ticks(&worker_pids));
        let mut task = tokio::task::spawn_local(publisher::run(cfg, sent.clone()));
        let mut last_print = Instant::now();
        let res = loop {
            tokio::select! {
                r = &mut task => break r.map_err(|e| format!("publisher: {e}"))?,
                ev = rx.recv() => match ev {
                    Some(ev) => handle(ev, &mut progress_of, &mut finals)?,
                    None => return Err("workers gone".into()),
                },
            }
            if last_print.elapsed() > Duration::from_secs(1) {
                progress(
                    t0,
                    &format!(
                        "published {}/{messages}, delivered {}",
                        sent.get(),
                        sum(&progress_of, |p| p.delivered)
                    ),
                );
                last_print = Instant::now();
            }
        };
        let b = sampler.now();
        publish_cpu = cpu_pct(a, b);
        publish_cpu_secs = a.zip(b).and_then(|(a, b)| {
            let ticks = b.cpu_ticks.saturating_sub(a.cpu_ticks);
            (ticks >= 20).then(|| ticks as f64 / procstat::clock_ticks_per_sec())
        });
        let bench_b = (Instant::now(), self_and_children_ticks(&worker_pids));
        let dt = bench_b.0.duration_since(bench_a.0).as_secs_f64();
        if dt > 0.0 {
            bench_cpu = Some(
                bench_b.1.saturating_sub(bench_a.1) as f64 / procstat::clock_ticks_per_sec() / dt
                    * 100.0,
            );
        }
        pub_start_ns = res.start_ns;
        publish = PublishResult {
            messages,
            failed: res.failed.len() as u64,
            requests: res.requests,
            seconds: (res.end_ns.saturating_sub(res.start_ns)) as f64 / 1e9,
            per_sec: 0.0,
            lateness: Quantiles::of(&res.lateness),
            request_latency: Quantiles::of(&res.request_latency),
            errors: res.errors,
        };
        if publish.seconds > 0.0 {
            publish.per_sec = (messages - publish.failed) as f64 / publish.seconds;
        }
        failed_msgs = res.failed;
        // Deliveries to expect: each message × the connected subscribers of its channel.
        let mut failed_on = std::collections::HashMap::<u32, u64>::new();
        for &i in &failed_subs {
            *failed_on.entry(plan.tracked_channel(i)).or_default() += 1;
        }
        let mut expected = 0u64;
        let failed_set: std::collections::HashSet<u64> = failed_msgs.iter().copied().collect();
        for g in 0..messages {
            if failed_set.contains(&g) {
                continue;
            }
            let (_, c, _) = plan.target_of(g);
            expected += u64::from(plan.receivers_of(c))
                .saturating_sub(failed_on.get(&c).copied().unwrap_or(0));
        }
        // Drain.
        let deadline = Instant::now() + Duration::from_secs_f64(s.drain_timeout);
        let mut done = None;
        loop {
            if sum(&progress_of, |p| p.delivered) >= expected {
                done = Some(now_ns());
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => handle(ev, &mut progress_of, &mut finals)?,
                    None => return Err("workers gone".into()),
                },
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        (expected, done)
    } else {
        (0, None)
    };
    let end_sample = sampler.now();

    // Finish: every worker reports its accounting.
    for w in workers.iter_mut() {
        w.send(&worker::Command::Finish {
            published: messages,
            failed: failed_msgs.clone(),
        })?;
    }
    let finish_deadline = Instant::now() + Duration::from_secs(30);
    while finals.len() < n_workers {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(FromWorker::Gone(_)) => {}
                Some(ev) => handle(ev, &mut progress_of, &mut finals)?,
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if Instant::now() > finish_deadline {
                    return Err("workers did not report".into());
                }
            }
        }
    }
    drop(workers);
    sampling.abort();
    machine.loadavg_end = procstat::loadavg();

    // Merge.
    let mut latency = new_histogram();
    let mut ttld: Vec<(u64, u32)> = Vec::new();
    let mut delivery = DeliveryResult {
        expected,
        ..Default::default()
    };
    for f in &finals {
        delivery.delivered += f.delivered;
        delivery.tally += f.tally;
        delivery.closed += f.closed;
        delivery.longpoll_requests += f.longpoll_requests;
        for (v, n) in &f.latency {
            let _ = latency.record_n(*v, *n);
        }
        for r in &f.close_reasons {
            if delivery.close_reasons.len() < 20 {
                delivery.close_reasons.push(r.clone());
            }
        }
        for e in &f.errors {
            if delivery.errors.len() < 20 {
                delivery.errors.push(e.clone());
            }
        }
        let t = worker::decode_ttld(&f.ttld);
        if ttld.len() < t.len() {
            ttld.resize(t.len(), (0, 0));
        }
        for (g, (lat, n)) in t.into_iter().enumerate() {
            ttld[g].0 = ttld[g].0.max(lat);
            ttld[g].1 += n;
        }
    }
    delivery.latency = Quantiles::of(&latency);
    let mut ttld_hist = new_histogram();
    let failed_set: std::collections::HashSet<u64> = failed_msgs.iter().copied().collect();
    let mut failed_per_channel = std::collections::HashMap::<u32, u32>::new();
    for &i in &failed_subs {
        *failed_per_channel
            .entry(plan.tracked_channel(i))
            .or_default() += 1;
    }
    for g in 0..messages {
        if failed_set.contains(&g) {
            continue;
        }
        let (_, c, _) = plan.target_of(g);
        let k = plan
            .receivers_of(c)
            .saturating_sub(failed_per_channel.get(&c).copied().unwrap_or(0));
        if k == 0 {
            continue;
        }
        match ttld.get(g as usize) {
            Some(&(lat, n)) if n >= k => {
                ttld_hist.saturating_record(lat.max(1));
            }
            _ => delivery.incomplete_fanouts += 1,
        }
    }
    delivery.time_to_last_delivery = Quantiles::of(&ttld_hist);
    if messages > 0 {
        let end = drain_done_ns.get_or_insert_with(now_ns);
        delivery.seconds = end.saturating_sub(pub_start_ns) as f64 / 1e9;
        if delivery.seconds > 0.0 {
            delivery.per_sec = delivery.delivered as f64 / delivery.seconds;
        }
    }

    let samples = sampler.samples.borrow().clone();
    let rss = |x: Option<Sample>| x.map(|x| x.rss_kib).unwrap_or(0);
    // Per connection only where there are enough connections to average over.
    let per_conn = |x: Option<Sample>| -> Option<f64> {
        let (b, x) = (before?, x?);
        (connect.ok >= 100).then(|| (x.rss_kib as f64 - b.rss_kib as f64) / connect.ok as f64)
    };
    // Fewer than 20 clock ticks (0.2 s) is too coarse to divide by anything.
    let cpu_secs = |a: Option<Sample>, b: Option<Sample>| -> Option<f64> {
        let (a, b) = (a?, b?);
        let ticks = b.cpu_ticks.saturating_sub(a.cpu_ticks);
        (ticks >= 20).then(|| ticks as f64 / procstat::clock_ticks_per_sec())
    };
    let per = |secs: Option<f64>, n: u64| secs.filter(|_| n > 0).map(|c| c / n as f64 * 1e6);
    let server = ServerResult {
        connect_cpu_us_per_conn: per(cpu_secs(connect_start, connected_at), connect.ok),
        publish_cpu_us_per_delivery: per(publish_cpu_secs, delivery.delivered),
        idle_cpu_us_per_ping: match (idle_cpu, s.ws_ping_interval) {
            (Some(c), Some(p)) if connect.ok > 0 && s.spawn_server.is_some() => {
                Some(c / 100.0 * p as f64 / connect.ok as f64 * 1e6)
            }
            _ => None,
        },
        pid: s.server_pid,
        rss_before_kib: rss(before),
        rss_connected_kib: rss(warm_at),
        rss_end_kib: rss(end_sample),
        rss_max_kib: samples.iter().map(|x| x.rss_kib).max().unwrap_or(0),
        rss_per_conn_kib: per_conn(warm_at),
        rss_per_conn_after_idle_kib: per_conn(after_idle),
        fds_max: samples.iter().map(|x| x.fds).max().unwrap_or(0),
        idle_seconds: s.idle,
        idle_cpu_pct: idle_cpu,
        publish_cpu_pct: publish_cpu,
        connect_cpu_pct: cpu_pct(connect_start, connected_at),
        samples,
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut result = BenchResult {
        command,
        started,
        settings: s,
        machine,
        connect,
        server,
        publish,
        delivery,
        bench: BenchCpu {
            publish_cpu_pct: bench_cpu,
            connect_cpu_pct: bench_connect_cpu,
        },
        checks: Vec::new(),
        notes,
        floor: None,
        ping_floor: None,
        latency_floor: None,
        storm_floor: None,
        sustained_floor: None,
        soak: None,
        cluster: None,
    };
    result.checks = render::checks(&result);
    Ok(result)
}
