//! The log as an operator reads it: no colour codes in a redirected file, one line per
//! start and stop, client resets and bad requests at debug only (and counted in
//! `/metrics`), JSON lines with BXPUSH_LOG_FORMAT=json, and trusted listeners refused off
//! loopback unless --allow-remote-publish.
#[allow(unused)]
mod common;
mod ops_support;

use std::io::Write;
use std::net::TcpStream;

use ops_support::*;

/// A connection hyper cannot parse, then a subscribe with a bad channel list.
fn misbehave(b: &Bxpush) {
    let mut s = TcpStream::connect(b.sub).unwrap();
    s.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    drop(s);
    let r = get(b.sub, "/bitrix/sub/?CHANNEL_ID=nothex");
    assert_eq!(r.status, 400, "{r:?}");
}

fn metric(b: &Bxpush, line_start: &str) -> Option<f64> {
    get(b.publ, "/metrics")
        .body
        .lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
}

#[test]
fn redirected_text_log_has_no_colour_and_no_per_connection_noise() {
    let mut b = Bxpush::start("", &[]);
    misbehave(&b);
    wait_until(10, "the bad connection is counted", || {
        metric(&b, "bxpush_connection_errors_total{kind=\"http\"}").unwrap_or(0.0) >= 1.0
    });
    assert_eq!(
        metric(&b, "bxpush_bad_requests_total{code=\"4010\"}"),
        Some(1.0)
    );
    assert!(b.stop().success());
    let log = b.log();
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in a redirected log:\n{log}"
    );
    assert!(log.contains("bxpush serving"), "{log}");
    assert!(log.contains("bxpush stopped"), "{log}");
    assert!(!log.contains("connection error"), "{log}");
    assert!(!log.contains("bad request"), "{log}");
    assert!(
        !log.contains(KEY),
        "the signature key is in the log:\n{log}"
    );
}

#[test]
fn debug_level_shows_what_info_hides() {
    let mut b = Bxpush::start("", &[("BXPUSH_LOG", "debug")]);
    misbehave(&b);
    wait_until(10, "the bad connection is counted", || {
        metric(&b, "bxpush_connection_errors_total{kind=\"http\"}").unwrap_or(0.0) >= 1.0
    });
    b.stop();
    let log = b.log();
    assert!(log.contains("bad request: subscribe: 4010"), "{log}");
}

#[test]
fn json_format_writes_one_object_per_line() {
    let mut b = Bxpush::start("", &[("BXPUSH_LOG_FORMAT", "json")]);
    b.stop();
    let log = b.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 2, "{log}");
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        assert!(v["message"].is_string(), "{l}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"bxpush serving\"")),
        "{log}"
    );
}

#[test]
fn unknown_log_format_is_refused_naming_the_values() {
    let out = std::process::Command::new(BIN)
        .args(["serve"])
        .env("BXPUSH_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BXPUSH_LOG_FORMAT") && err.contains("json"),
        "{err}"
    );
}

#[test]
fn remote_publish_listener_is_refused_then_allowed_with_a_warning() {
    let publ = free_port();
    let sub = free_port();
    let (code, _, err) = run(&[
        "serve",
        "--listen-sub",
        &format!("127.0.0.1:{sub}"),
        "--listen-pub",
        &format!("0.0.0.0:{publ}"),
        "--signature-key",
        KEY,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("listen_pub 0.0.0.0:"), "{err}");
    assert!(
        err.contains(&format!("--listen-pub 127.0.0.1:{publ}")),
        "{err}"
    );
    assert!(err.contains("--allow-remote-publish"), "{err}");

    let mut b = Bxpush::start("allow_remote_publish = true", &[]);
    b.stop();
    // listen_pub itself is loopback here: no warning then.
    assert!(!b.log().contains("not on loopback"), "{}", b.log());
    let dir = Scratch::new("remote");
    let cfg = dir.write(
        "r.toml",
        &format!("listen_sub = \"127.0.0.1:{sub}\"\nlisten_pub = \"0.0.0.0:{publ}\"\nsignature_key = \"{KEY}\"\n"),
    );
    let stderr = dir.path("err.log");
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--allow-remote-publish", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    wait_until(10, "bxpush listens", || {
        TcpStream::connect(("127.0.0.1", publ)).is_ok()
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        log.contains("WARN") && log.contains("listen_pub is not on loopback"),
        "{log}"
    );
}

/// A periodic write that fails (the hand-off's marks on a full disk, retried every second)
/// is one error line, not one a second; its recovery is one line with the count.
#[test]
fn a_write_failing_every_second_is_logged_once_and_its_recovery_once() {
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    use bxpush::forward::link::Link;
    use bxpush::handoff::wire::Frame;
    use bxpush::handoff::{Item, PhpTarget};
    use bxpush::protocol::{ChannelId, ChannelKey};

    let disk = common::SmallDisk::mount("log-streak", 1024);
    let sock = Scratch::new("log-streak-sock").path("php.sock");
    let b = Bxpush::start(
        &format!(
            "data_dir = \"{}\"\nlisten_php = \"{}\"",
            disk.data().display(),
            sock.display()
        ),
        &[("BXPUSH_LOG", "bxpush=debug")],
    );
    wait_until(10, "the PHP socket", || sock.exists());
    disk.fill();
    // One live-only item: nothing for the history, but the origin's mark must be written.
    let origin = 0x10_6000_0000_0001;
    let stop = AtomicBool::new(false);
    let d = Instant::now() + Duration::from_secs(5);
    let (mut link, _) =
        Link::connect(&PhpTarget::Unix(sock), None, origin, d, d, &stop, None).unwrap();
    let item = Item::Publish {
        receivers: vec![ChannelKey::private(
            ChannelId::from_hex(&"ab".repeat(16)).unwrap(),
        )],
        body: bytes::Bytes::from_static(b"{}"),
        expiry: 0,
        kind: "im".into(),
    };
    let batch = Frame::Batch {
        origin,
        first_seq: 1,
        items: vec![Ok(item)],
    };
    link.send(&batch, d).unwrap();
    assert_eq!(link.recv(d).unwrap(), Frame::Ack { origin, seq: 1 });
    let failures = |log: &str| log.matches("cannot write the PHP hand-off state").count();
    wait_until(15, "three failed writes of the marks", || {
        failures(&b.log()) >= 3
    });
    disk.free();
    wait_until(10, "the recovery line", || {
        b.log().contains("PHP hand-off state written again")
    });
    let log = b.log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("PHP hand-off state"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line for the streak:\n{log}");
    let recovery = log
        .lines()
        .find(|l| l.contains("PHP hand-off state written again"))
        .unwrap();
    let n: u64 = recovery
        .split("failed=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no count in {recovery:?}"));
    assert!(n >= 3, "the recovery counts the failed writes: {recovery}");
    assert!(std::fs::read_to_string(disk.data().join("ingress.state"))
        .unwrap()
        .contains(&format!("{origin:016x} 1 ")));
}
