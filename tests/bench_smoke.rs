//! Smoke runs of `bxpush bench` against the real binary: the tool connects, publishes,
//! and counts right on a clean run (every delivery accounted for, nothing lost,
//! duplicated or reordered). No speed thresholds: this machine is shared. Loss,
//! duplicate and reorder detection are unit-tested in `bench/src/accounting.rs`.
//!
//! `bxpush bench` execs the `bxpush-bench` binary beside `bxpush`: `cargo test` (the
//! workspace's default members) and `make build` build it; `cargo test --test bench_smoke`
//! alone does not (run `cargo build --release -p bxpush-bench` first).

use std::path::{Path, PathBuf};
use std::process::Command;

use bxpush_bench::BenchResult;

const BIN: &str = env!("CARGO_BIN_EXE_bxpush");

/// `bxpush` as `bxpush bench` runs it, after checking that it has something to run.
fn bxpush() -> Command {
    let bench = Path::new(BIN).with_file_name("bxpush-bench");
    assert!(
        bench.is_file(),
        "{} is missing: cargo build --release -p bxpush-bench",
        bench.display()
    );
    Command::new(BIN)
}

/// A directory of its own for each run (the render test reads a whole directory).
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bxpush-bench-smoke-{}/{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn bench(name: &str, args: &[&str]) -> BenchResult {
    let json = dir(name).join("result.json");
    let out = bxpush()
        .args([
            "bench",
            "--spawn-server",
            BIN,
            "--cpu",
            "any",
            "--server-cpu",
            "any",
        ])
        .args(["--json", json.to_str().unwrap()])
        .args(["--warmup-timeout", "20", "--drain-timeout", "10"])
        .args(args)
        .output()
        .expect("bxpush bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench {name} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("bxpush bench"), "table on stdout: {stdout}");
    let text = std::fs::read_to_string(&json).expect("json written");
    serde_json::from_str(&text).expect("json parses")
}

fn assert_clean(r: &BenchResult, subscribers: u64) {
    assert_eq!(r.connect.ok, subscribers, "connected: {:?}", r.connect);
    assert_eq!(r.connect.failed, 0);
    assert_eq!(r.connect.warm, subscribers, "every subscription proven");
    let d = &r.delivery;
    assert!(d.expected > 0);
    assert_eq!(d.delivered, d.expected, "{d:?}");
    assert_eq!(d.tally.received, d.expected);
    assert_eq!(d.tally.lost, 0);
    assert_eq!(d.tally.dup, 0);
    assert_eq!(d.tally.reordered, 0);
    assert_eq!(d.tally.unexpected, 0);
    assert_eq!(d.incomplete_fanouts, 0);
    assert_eq!(d.latency.count, d.delivered);
    assert_eq!(
        d.time_to_last_delivery.count,
        r.publish.messages - r.publish.failed
    );
    assert_eq!(r.publish.failed, 0);
    assert_eq!(d.closed, 0);
    // The spawned server was sampled.
    assert!(r.server.pid.is_some());
    assert!(r.server.rss_connected_kib > 0);
    assert!(r.server.fds_max >= subscribers);
}

#[test]
fn websocket_text_shared_channels_two_workers() {
    let r = bench(
        "ws",
        &[
            "--subscribers",
            "200",
            "--layout",
            "shared",
            "--channels",
            "4",
            "--rate",
            "100",
            "--duration",
            "2",
            "--per-worker",
            "120",
        ],
    );
    assert_eq!(r.settings.workers, 2);
    assert_clean(&r, 200);
    // 200 messages round-robin over 4 channels of 50 subscribers each.
    assert_eq!(r.delivery.expected, 200 * 50);
    assert!(
        r.checks.iter().all(|c| c.ok != Some(false)),
        "{:?}",
        r.checks
    );

    // BENCHMARKS.md renders from the JSON results.
    let out = bxpush()
        .args(["bench", "--render", dir("ws").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("## Machine"), "{md}");
    assert!(md.contains("bxpush bench"), "{md}");
}

/// The idle scenario's floor on its own (`--floor-only`): every ping of the measured
/// interval is written, answered and counted once, and its cost is a figure. Small: 200
/// sockets pinged every second, one interval measured after one that warms up.
#[test]
fn the_ping_floor_counts_each_ping_and_pong_once() {
    let json = dir("ping-floor").join("floor.json");
    let out = bxpush()
        .args(["bench", "--floor-only", "--scenario", "idle"])
        .args(["--subscribers", "200", "--ws-ping-interval", "1"])
        .args(["--floor-rounds", "1", "--cpu", "any", "--server-cpu", "any"])
        .args(["--json", json.to_str().unwrap()])
        .output()
        .expect("bxpush bench runs");
    assert!(
        out.status.success(),
        "ping floor failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("json written");
    let f: bxpush_bench::floor_ping::PingFloorResult =
        serde_json::from_str(&text).expect("json parses");
    assert_eq!((f.sockets, f.peers, f.intervals), (200, 1, 1), "{f:?}");
    assert_eq!((f.pings, f.pongs), (200, 200), "{f:?}");
    assert!(f.reads_per_ping >= 1.0, "a read per pong at least: {f:?}");
    assert!(f.us_per_ping_pong > 0.0 && f.cpu_pct > 0.0, "{f:?}");
    assert_eq!(f.ping_bytes, bxpush::transport::ws_codec::PING.len());
}

/// `bxpush bench --floor-only` for `args`, its JSON parsed as `T`.
fn floor_only<T: serde::de::DeserializeOwned>(name: &str, args: &[&str]) -> T {
    let json = dir(name).join("floor.json");
    let out = bxpush()
        .args(["bench", "--floor-only"])
        .args(args)
        .args(["--cpu", "any", "--server-cpu", "any"])
        .args(["--json", json.to_str().unwrap()])
        .output()
        .expect("bxpush bench runs");
    assert!(
        out.status.success(),
        "{name} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("json written");
    serde_json::from_str(&text).expect("json parses")
}

/// The latency scenario's floor on its own: every request published is relayed and its
/// frame read once, each a sample. Small: 50 requests at 500/s.
#[test]
fn the_latency_floor_times_each_request_to_its_frame() {
    let f: bxpush_bench::floor_latency::LatencyFloorResult = floor_only(
        "latency-floor",
        &[
            "--scenario",
            "latency",
            "--floor-rounds",
            "50",
            "--rate",
            "500",
        ],
    );
    assert_eq!((f.sent, f.latency.count), (50, 50), "{f:?}");
    assert_eq!(f.rate, 500.0);
    assert!(
        f.latency.p50_ms > 0.0 && f.latency.max_ms >= f.latency.p99_ms,
        "{f:?}"
    );
    // The scenario's request (a text POST of a 200 B message) and the frame of its
    // envelope.
    assert!(f.request_bytes > 200 && f.frame_bytes > 200, "{f:?}");
}

/// The storm scenario's floor on its own: every connection's exchange completes once,
/// never more in flight than the concurrency. Small: 300 connections, 32 at a time.
#[test]
fn the_storm_floor_completes_every_handshake_once() {
    let f: bxpush_bench::floor_storm::StormFloorResult = floor_only(
        "storm-floor",
        &[
            "--scenario",
            "storm",
            "--subscribers",
            "300",
            "--connect-concurrency",
            "32",
        ],
    );
    assert_eq!((f.connections, f.concurrency), (300, 32), "{f:?}");
    assert_eq!(f.exchange.count, 300, "{f:?}");
    assert!(f.per_sec > 0.0 && f.server_cpu_us_per_conn > 0.0, "{f:?}");
    assert!(f.request_bytes > 100 && f.response_bytes > 100, "{f:?}");
}

/// The sustained scenario's floor on its own: every frame of every batch is written and
/// drained once. Small: 60 sockets on 3 channels, 20 batches of 10 messages.
#[test]
fn the_sustained_floor_drains_every_frame_once() {
    let f: bxpush_bench::floor_sustained::SustainedFloorResult = floor_only(
        "sustained-floor",
        &[
            "--scenario",
            "sustained",
            "--subscribers",
            "60",
            "--channels",
            "3",
            "--batch",
            "10",
            "--floor-rounds",
            "20",
        ],
    );
    // 10 messages over 3 channels (4, 3, 3) to 20 sockets each: 200 a batch.
    assert_eq!(f.deliveries, 20 * 200, "{f:?}");
    assert_eq!((f.sockets, f.channels, f.batch, f.batches), (60, 3, 10, 20));
    assert!(
        f.per_sec > 0.0 && f.writer_cpu_us_per_delivery > 0.0,
        "{f:?}"
    );
}

#[test]
fn binary_websocket_protobuf_publish_private_channels() {
    let r = bench(
        "wsbin",
        &[
            "--transport",
            "ws-binary",
            "--subscribers",
            "50",
            "--layout",
            "private",
            "--rate",
            "100",
            "--duration",
            "1",
            "--publish-mode",
            "protobuf",
            "--batch",
            "5",
        ],
    );
    assert_clean(&r, 50);
    assert_eq!(r.delivery.expected, 100);
}

#[test]
fn long_polling_and_sse() {
    for t in ["longpoll", "sse"] {
        let r = bench(
            t,
            &[
                "--transport",
                t,
                "--subscribers",
                "50",
                "--layout",
                "shared",
                "--channels",
                "1",
                "--rate",
                "20",
                "--duration",
                "1",
            ],
        );
        assert_clean(&r, 50);
        assert_eq!(r.delivery.expected, 20 * 50);
    }
}
