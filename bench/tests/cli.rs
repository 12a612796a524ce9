//! The `bxpush-bench` binary on its own (the full runs go through `bxpush bench` in the
//! root package's tests/bench_smoke.rs). Having an integration test here also makes
//! `cargo test` build the binary that `bxpush bench` execs.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bxpush-bench");

#[test]
fn help_names_the_command_and_its_scenarios() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Usage: bxpush bench"), "{text}");
    assert!(text.contains("--scenario"), "{text}");
    assert!(text.contains("sustained"), "{text}");
}

#[test]
fn render_reports_a_missing_directory_and_renders_an_empty_one() {
    let missing = std::env::temp_dir().join(format!("bxpush-bench-cli-{}", std::process::id()));
    let out = Command::new(BIN)
        .args(["--render", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bxpush bench: ") && err.contains(missing.to_str().unwrap()),
        "{err}"
    );

    std::fs::create_dir_all(&missing).unwrap();
    let out = Command::new(BIN)
        .args(["--render", missing.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&missing).unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# bxpush benchmarks"));
}

#[test]
fn floor_only_measures_every_round_through_several_drainer_processes() {
    let json = std::env::temp_dir().join(format!("bxpush-bench-floor-{}.json", std::process::id()));
    let out = Command::new(BIN)
        .args([
            "--floor-only",
            "--subscribers",
            "200",
            "--per-worker",
            "80",
            "--floor-rounds",
            "3",
            "--message-size",
            "200",
            "--server-cpu",
            "any",
            "--cpu",
            "any",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).unwrap();
    assert_eq!(f["sockets"], 200);
    // 200 sockets at most 80 per process: three drainers.
    assert_eq!(f["drainers"], 3);
    assert_eq!(f["rounds"], 3);
    assert_eq!(f["last_delivery"]["count"], 3);
    // The server's envelope around a 200-byte body, in a frame with a 16-bit length.
    let frame = f["frame_bytes"].as_u64().unwrap();
    assert!((300..500).contains(&frame), "{frame}");
    assert!(f["last_delivery"]["mean_ms"].as_f64().unwrap() > 0.0);
    assert!(f["write_us_per_socket"].as_f64().unwrap() > 0.0);
}
