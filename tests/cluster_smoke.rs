//! The cluster scenario, small, against the real binary and a real `redis-server`
//! (`bxpush bench --scenario cluster --spawn-server`): three nodes, 300 WebSocket
//! subscribers spread over them, 1,000 messages/s for 3 s published on one node, then a
//! two-step search. Every message reaches its subscriber once and in order whichever
//! node it is on, and each node's `/server-stat/` lists the three (each under its
//! `bxpush-<hostname>-<port>` id). No speed thresholds: this machine is shared. The step
//! search's arithmetic is unit-tested in `bench/src/cluster.rs`.
//!
//! Needs the bench binary beside `bxpush` (`cargo build --release -p bxpush-bench`;
//! `cargo test` of the workspace builds it) and the Debian package redis-server.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bxpush_bench::cluster::Outcome;
use bxpush_bench::BenchResult;

const BIN: &str = env!("CARGO_BIN_EXE_bxpush");

fn bench() -> Command {
    let b = Path::new(BIN).with_file_name("bxpush-bench");
    assert!(
        b.is_file(),
        "{} is missing: cargo build --release -p bxpush-bench",
        b.display()
    );
    let mut c = Command::new(BIN);
    c.args(["bench", "--scenario", "cluster", "--spawn-server", BIN])
        .args(["--cpu", "any", "--server-cpu", "any"]);
    c
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "bxpush-cluster-smoke-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn alive(pid: u32) -> bool {
    // A zombie is gone for every purpose here, but is still in /proc: read its state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(") ").next().and_then(|r| r.chars().next());
            state != Some('Z')
        })
        .unwrap_or(false)
}

#[test]
fn three_nodes_on_redis_deliver_once_in_order_and_list_each_other() {
    let d = dir("run");
    let json = d.join("cluster.json");
    let out = bench()
        .args(["--subscribers", "300", "--rates", "1000", "--duration", "3"])
        .args(["--step-seconds", "1", "--search-steps", "2"])
        .args(["--drain-timeout", "10", "--warmup-timeout", "20"])
        .args(["--json", json.to_str().unwrap()])
        .output()
        .expect("bxpush bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cluster bench failed\n{stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
    let r: BenchResult =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("json parses");
    let _ = std::fs::remove_dir_all(&d);
    let c = r.cluster.as_ref().expect("cluster figures");

    assert!(c.spawned);
    assert_eq!(c.nodes, 3);
    assert_eq!(c.sub_addrs.len(), 3);
    assert_eq!(c.subscribers_per_node, [100, 100, 100]);
    assert_eq!(
        (r.connect.ok, r.connect.warm),
        (300, 300),
        "{:?}",
        r.connect
    );

    // The fixed phase: 3,000 messages, one subscriber each, a third of them on the
    // publishing node (subscriber i is on node i % 3, message g goes to channel g % 300).
    assert_eq!(c.phases.len(), 1);
    let p = &c.phases[0];
    assert_eq!((p.messages, p.failed), (3000, 0), "{:?}", p.publish_errors);
    assert!(p.drained, "{p:?}");
    assert_eq!((p.expected, p.delivered), (3000, 3000));
    assert_eq!(p.tally.received, 3000);
    assert_eq!(
        (
            p.tally.lost,
            p.tally.dup,
            p.tally.reordered,
            p.tally.unexpected
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(p.same_node.count, 1000);
    assert_eq!(p.other_nodes.count, 2000);
    assert_eq!(
        p.per_node.iter().map(|q| q.count).collect::<Vec<_>>(),
        [1000; 3]
    );

    // The search ran its steps; whatever stopped it, nothing was lost, duplicated or
    // reordered on the way.
    assert!(
        !c.search.is_empty() && c.search.len() <= 2,
        "{:?}",
        c.search
    );
    for s in &c.search {
        assert_eq!(s.failed, 0, "{s:?}");
        assert_eq!(
            (s.tally.lost, s.tally.dup, s.tally.reordered),
            (0, 0, 0),
            "{s:?}"
        );
        assert!(s.outcome.is_some());
    }
    assert!(
        c.largest_clean_rate.is_some()
            || c.search.iter().any(|s| s.outcome != Some(Outcome::Clean))
    );
    assert!(!c.search_end.is_empty());
    let t = &r.delivery.tally;
    assert_eq!((t.lost, t.dup, t.reordered, t.unexpected), (0, 0, 0, 0));
    assert_eq!(r.delivery.delivered, r.delivery.expected);
    assert_eq!(r.delivery.closed, 0);

    // Each node lists the three, under ids made of this host's name and its port.
    let host = bxpush::node_id::hostname();
    let want: BTreeSet<String> = c
        .sub_addrs
        .iter()
        .map(|a| {
            let port: u16 = a.rsplit(':').next().unwrap().parse().unwrap();
            bxpush::node_id::default_for(&host, port)
        })
        .collect();
    assert_eq!(c.server_stat.len(), 3);
    for v in &c.server_stat {
        assert_eq!(v.error, None);
        let listed: BTreeSet<String> = v.listed.iter().cloned().collect();
        assert_eq!(listed, want, "/server-stat/ of {}", v.node);
    }
    assert!(c.all_listed());
    // The rows of BENCHMARKS.md: every target met but latency (a shared machine).
    assert!(
        r.checks
            .iter()
            .filter(|k| !k.figure.contains("publish → receive"))
            .all(|k| k.ok != Some(false)),
        "{:#?}",
        r.checks
    );

    // Nothing it started outlives it.
    for pid in c.node_pids.iter().chain(&c.redis_pid) {
        assert!(!alive(*pid), "pid {pid} still running after the bench");
    }
}

#[test]
fn interrupted_it_stops_redis_and_the_nodes() {
    let mut child = bench()
        .args(["--subscribers", "30", "--rates", "100", "--duration", "60"])
        .args(["--search-steps", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bxpush bench runs");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    // "… pids [A, B, C]; redis-server … pid R, …" then the fixed phase starts.
    let mut pids: Vec<u32> = Vec::new();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no publishing phase: {seen:#?}"));
        if let Some(rest) = line.split("pids [").nth(1) {
            let list = rest.split(']').next().unwrap();
            pids.extend(list.split(", ").map(|p| p.parse::<u32>().unwrap()));
            let redis = line.split(" pid ").nth(1).unwrap();
            pids.push(redis.split(',').next().unwrap().parse().unwrap());
        }
        let publishing = line.contains("fixed: ");
        seen.push(line);
        if publishing {
            break;
        }
    }
    assert_eq!(pids.len(), 4, "3 nodes and redis: {seen:#?}");
    assert!(pids.iter().all(|&p| alive(p)));
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the bench did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    // The rest of its stderr, until every holder of the pipe (the bench, its workers and
    // the servers, which inherit it) has closed it.
    let mut rest = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        rest.push(line);
    }
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:#?}");
    for p in pids {
        assert!(
            !alive(p),
            "pid {p} still running after the bench was interrupted"
        );
    }
}
