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
