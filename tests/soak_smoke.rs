//! The soak scenario's 60-second version against the real binary (`bxpush bench
//! --scenario soak`, the 30-minute run's code with smaller figures): 5,000 WebSocket
//! subscribers, 200 of them reconnecting every second with their last mid, 2,000
//! messages/s. Thresholds of this short run: resident memory drift ≤ 10% between its
//! warm-up mark (30 s) and its end (the 30-minute run: ≤ 2% from minute 5); open files
//! back to the baseline and the hub's maps empty once everyone has left.
//!
//! Needs the bench binary beside `bxpush` (`cargo build --release -p bxpush-bench`;
//! `cargo test` of the workspace builds it).

use std::path::Path;
use std::process::Command;

use bxpush_bench::BenchResult;

const BIN: &str = env!("CARGO_BIN_EXE_bxpush");
const SUBSCRIBERS: u32 = 5_000;
const SECONDS: f64 = 60.0;
const CHURN: f64 = 200.0;

#[test]
fn soak_60s_no_drift_and_nothing_left_after_everyone_leaves() {
    let bench = Path::new(BIN).with_file_name("bxpush-bench");
    assert!(
        bench.is_file(),
        "{} is missing: cargo build --release -p bxpush-bench",
        bench.display()
    );
    let dir = std::env::temp_dir().join(format!("bxpush-soak-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("soak.json");
    let out = Command::new(BIN)
        .args(["bench", "--scenario", "soak", "--spawn-server", BIN])
        .args(["--cpu", "any", "--server-cpu", "any"])
        .args(["--subscribers", &SUBSCRIBERS.to_string()])
        .args(["--duration", &SECONDS.to_string(), "--soak-warmup", "30"])
        .args(["--rate", "2000", "--churn-rate", &CHURN.to_string()])
        .args(["--max-drift-pct", "10", "--drain-timeout", "30"])
        .args(["--json", json.to_str().unwrap()])
        .output()
        .expect("bxpush bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "soak failed\n{stdout}\n{stderr}");
    let r: BenchResult =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("json parses");
    let _ = std::fs::remove_dir_all(&dir);
    let k = r.soak.as_ref().expect("soak figures");
    eprintln!("{stdout}");

    assert!(
        k.rss_drift_pct.is_finite() && k.rss_drift_pct <= 10.0,
        "RSS drift {:+.2}% ({} → {} KiB)",
        k.rss_drift_pct,
        k.rss_warm_kib,
        k.rss_end_kib
    );
    assert!(
        k.fds_connected >= k.fds_baseline + u64::from(SUBSCRIBERS),
        "the server held the connections: {k:?}"
    );
    assert!(
        k.fds_after_leave <= k.fds_baseline + 1,
        "open files left: {k:?}"
    );
    assert!(k.after_leave.empty(), "hub not empty: {:?}", k.after_leave);
    assert!(
        k.reconnects as f64 >= 0.9 * CHURN * SECONDS,
        "churn: {} reconnects",
        k.reconnects
    );
    assert!(k.delivered > 0 && r.publish.failed == 0, "{:?}", r.publish);
    assert_eq!((r.delivery.closed, k.connect_failures), (0, 0));
    assert!(
        r.checks.iter().all(|c| c.ok != Some(false)),
        "{:#?}",
        r.checks
    );
}
