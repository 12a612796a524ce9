//! Reports: the checks of a scenario against its targets, the table printed after a run,
//! and BENCHMARKS.md rendered from a directory of JSON results.

use std::fmt::Write;
use std::path::Path;

use super::worker::Transport;
use super::{
    floor, floor_latency, floor_ping, floor_storm, floor_sustained, BenchResult, Check, Quantiles,
    Scenario,
};

pub(crate) fn check(figure: &str, target: &str, measured: String, ok: Option<bool>) -> Check {
    Check {
        figure: figure.into(),
        target: target.into(),
        measured,
        ok,
    }
}

pub(crate) fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{:.3} ms", v)
    } else {
        format!("{:.1} ms", v)
    }
}

fn opt_pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}%"))
        .unwrap_or_else(|| "not sampled".into())
}

/// The figures of `r`'s scenario against their targets.
pub fn checks(r: &BenchResult) -> Vec<Check> {
    if let Some(c) = &r.cluster {
        return super::render_cluster::checks(r, c);
    }
    let mut out = Vec::new();
    let s = &r.settings;
    let d = &r.delivery;
    // The soak does not account messages one by one (its subscribers come and go).
    let messages = r.publish.messages > 0 && r.soak.is_none();
    if let Some(k) = &r.soak {
        out.extend(soak_checks(r, k));
    }
    match s.scenario {
        Some(Scenario::Idle) => {
            let per = r
                .server
                .rss_per_conn_after_idle_kib
                .or(r.server.rss_per_conn_kib);
            out.push(check(
                &format!(
                    "resident memory per idle WebSocket connection at {}",
                    r.connect.ok
                ),
                "≤ 2 KiB",
                per.map(|v| format!("{v:.2} KiB"))
                    .unwrap_or_else(|| "not sampled".into()),
                per.map(|v| v <= 2.0),
            ));
            out.push(check(
                &format!(
                    "server CPU while idle ({:.0} s, ping every {} s)",
                    s.idle,
                    s.ws_ping_interval
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "?".into())
                ),
                "≤ 2% of a core",
                opt_pct(r.server.idle_cpu_pct),
                r.server.idle_cpu_pct.map(|v| v <= 2.0),
            ));
            if let Some(f) = &r.ping_floor {
                out.push(ping_floor_check(r.server.idle_cpu_us_per_ping, f));
            }
            out.push(check(
                "connections dropped while idle",
                "0",
                d.closed.to_string(),
                Some(d.closed == 0),
            ));
        }
        Some(Scenario::Fanout) => {
            let t = &d.time_to_last_delivery;
            out.push(check(
                &format!(
                    "time to last delivery p99, one {} B message to {} subscribers",
                    s.message_size, r.connect.ok
                ),
                "≤ 30 ms",
                ms(t.p99_ms),
                Some(t.count > 0 && t.p99_ms <= 30.0),
            ));
            if let Some(f) = &r.floor {
                out.push(floor_check(
                    "time to last delivery p99",
                    t.p99_ms,
                    t.count,
                    f,
                ));
            }
        }
        Some(Scenario::Latency) => {
            out.push(check(
                "publish → receive p99, one private channel, one subscriber",
                "≤ 1 ms",
                ms(d.latency.p99_ms),
                Some(d.latency.count > 0 && d.latency.p99_ms <= 1.0),
            ));
            if let Some(f) = &r.latency_floor {
                out.push(latency_floor_check(d.latency.p99_ms, d.latency.count, f));
            }
        }
        Some(Scenario::Sustained) => {
            out.push(check(
                &format!(
                    "delivered messages/s, server on {} core(s), {:.0} s",
                    s.server_cpu
                        .as_deref()
                        .map(|c| c.split(',').count().to_string())
                        .unwrap_or_else(|| "all".into()),
                    s.duration
                ),
                "≥ 200,000/s",
                format!("{:.0}/s", d.per_sec),
                Some(d.per_sec >= 200_000.0),
            ));
            if let Some(f) = &r.sustained_floor {
                out.extend(sustained_floor_checks(
                    d.per_sec,
                    r.server.publish_cpu_us_per_delivery,
                    f,
                ));
            }
        }
        Some(Scenario::Storm) => {
            out.push(check(
                "WebSocket handshakes + subscriptions per second",
                "≥ 10,000/s",
                format!("{:.0}/s", r.connect.per_sec),
                Some(r.connect.per_sec >= 10_000.0),
            ));
            if let Some(f) = &r.storm_floor {
                out.push(storm_floor_check(r.connect.per_sec, f));
                out.push(storm_cpu_check(r.server.connect_cpu_us_per_conn, f));
            }
            let errors = r.connect.failed + (r.connect.ok - r.connect.warm.min(r.connect.ok));
            out.push(check(
                "connect or subscription errors",
                "0",
                errors.to_string(),
                Some(errors == 0),
            ));
        }
        Some(Scenario::Soak) | Some(Scenario::Cluster) => {}
        Some(Scenario::Longpoll) | Some(Scenario::Sse) => {
            out.push(check(
                &format!(
                    "release latency p99, {} parked {} subscribers",
                    r.connect.ok,
                    s.transport.name()
                ),
                "(none set)",
                ms(d.latency.p99_ms),
                None,
            ));
            if let Some(f) = &r.floor {
                out.push(floor_check(
                    "release latency p99",
                    d.latency.p99_ms,
                    d.latency.count,
                    f,
                ));
            }
            out.push(check(
                "time to last delivery p99 (all subscribers)",
                "(none set)",
                ms(d.time_to_last_delivery.p99_ms),
                None,
            ));
        }
        None => {}
    }
    if messages {
        out.push(check(
            "lost",
            "0",
            d.tally.lost.to_string(),
            Some(d.tally.lost == 0),
        ));
        out.push(check(
            "duplicated / out of order",
            "0 / 0",
            format!("{} / {}", d.tally.dup, d.tally.reordered),
            Some(d.tally.dup == 0 && d.tally.reordered == 0),
        ));
    }
    out
}

/// The idle server's CPU per ping + pong against the kernel's alone for the same traffic.
fn ping_floor_check(server_us: Option<f64>, f: &floor_ping::PingFloorResult) -> Check {
    let ratio = server_us.and_then(|us| floor::ratio(us, f.us_per_ping_pong));
    check(
        &format!(
            "server CPU per ping + pong / the machine's floor ({:.2} µs: the same {} B pings and {} B pongs on {} sockets, no server)",
            f.us_per_ping_pong, f.ping_bytes, f.pong_bytes, f.sockets
        ),
        "(none set)",
        match (server_us, ratio) {
            (Some(us), Some(x)) => format!("{us:.2} µs = {x:.2}×"),
            _ => "not measured".into(),
        },
        None,
    )
}

/// Publish → receive p99 against the same two hops' p99 without a server: reported, no
/// target (issue 11 sets none for latency).
fn latency_floor_check(p99_ms: f64, count: u64, f: &floor_latency::LatencyFloorResult) -> Check {
    let ratio = (count > 0)
        .then(|| floor::ratio(p99_ms, f.latency.p99_ms))
        .flatten();
    check(
        &format!(
            "publish → receive p99 / the machine's floor p99 ({}: the same {} B request and {} B frame over the same two loopback hops, no server)",
            ms(f.latency.p99_ms),
            f.request_bytes,
            f.frame_bytes
        ),
        "(none set)",
        ratio
            .map(|x| format!("{x:.2}×"))
            .unwrap_or_else(|| "not measured".into()),
        None,
    )
}

/// The storm's handshakes per second as a share of the kernel's rate for the same
/// exchanges without a server: reported, no target.
fn storm_floor_check(per_sec: f64, f: &floor_storm::StormFloorResult) -> Check {
    let ratio = floor::ratio(per_sec, f.per_sec);
    check(
        &format!(
            "handshakes per second / the machine's floor ({:.0}/s: the same {} B requests and {} B answers on {} connections, {} in flight, no server)",
            f.per_sec, f.request_bytes, f.response_bytes, f.connections, f.concurrency
        ),
        "(none set)",
        ratio
            .map(|x| format!("{x:.2}×"))
            .unwrap_or_else(|| "not measured".into()),
        None,
    )
}

/// The server's CPU per connection while connecting against the floor's accepting
/// thread's for the same exchange: what the server adds on its own core, whatever limits
/// the rate (on loopback the client's CPU also runs the TCP handshake of both ends).
fn storm_cpu_check(server_us: Option<f64>, f: &floor_storm::StormFloorResult) -> Check {
    let ratio = server_us.and_then(|us| floor::ratio(us, f.server_cpu_us_per_conn));
    check(
        &format!(
            "server CPU per connection / the machine's floor ({:.1} µs: accept, read, write and close of the same bytes, no server)",
            f.server_cpu_us_per_conn
        ),
        "(none set)",
        match (server_us, ratio) {
            (Some(us), Some(x)) => format!("{us:.1} µs = {x:.2}×"),
            _ => "not measured".into(),
        },
        None,
    )
}

/// Sustained delivery against the same frames written at full speed without a server:
/// the rate (the scenario's is its publisher's offered rate when the server keeps up) and
/// the CPU per delivery (what the server spends on its core per delivery, the publish
/// requests included, over the kernel's alone). Reported, no target.
fn sustained_floor_checks(
    per_sec: f64,
    server_us: Option<f64>,
    f: &floor_sustained::SustainedFloorResult,
) -> Vec<Check> {
    let rate = floor::ratio(per_sec, f.per_sec);
    let cpu = server_us.and_then(|us| floor::ratio(us, f.writer_cpu_us_per_delivery));
    vec![
        check(
            &format!(
                "delivered messages/s / the machine's floor ({:.0}/s: the same {} B frames, {} a batch to each of {} sockets, written at full speed, no server)",
                f.per_sec,
                f.frame_bytes,
                floor_sustained::frames_per_socket(0, f.channels, f.batch),
                f.sockets
            ),
            "(none set)",
            rate.map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "not measured".into()),
            None,
        ),
        check(
            &format!(
                "server CPU per delivery / the machine's floor ({:.2} µs: the writer's CPU per frame written, no server)",
                f.writer_cpu_us_per_delivery
            ),
            "(none set)",
            match (server_us, cpu) {
                (Some(us), Some(x)) => format!("{us:.2} µs = {x:.2}×"),
                _ => "not measured".into(),
            },
            None,
        ),
    ]
}

/// `figure` (a p99 over `count` samples) against the floor's mean for the same bytes to
/// the same sockets: target ≤ 1.5× (issue 11, items 2 and 4).
fn floor_check(figure: &str, p99_ms: f64, count: u64, f: &floor::FloorResult) -> Check {
    let ratio = floor::ratio(p99_ms, f.last_delivery.mean_ms);
    check(
        &format!(
            "{figure} / the machine's floor (mean {} for the same {} B to {} sockets, no server)",
            ms(f.last_delivery.mean_ms),
            f.frame_bytes,
            f.sockets
        ),
        "≤ 1.5×",
        ratio
            .map(|x| format!("{x:.2}×"))
            .unwrap_or_else(|| "not measured".into()),
        ratio.map(|x| count > 0 && x <= 1.5),
    )
}

/// The soak's figures: nothing accumulates while connections churn, nothing stays after.
fn soak_checks(r: &BenchResult, k: &super::soak::SoakResult) -> Vec<Check> {
    let mut out = Vec::new();
    let drift_ok = k.rss_drift_pct.is_finite() && k.rss_drift_pct <= k.max_drift_pct;
    out.push(check(
        &format!(
            "server resident memory drift, {:.0} s into the run → its end ({:.0} s), {} subscribers, {:.0} reconnects/s",
            k.warmup_seconds, k.seconds, k.subscribers, k.churn_rate
        ),
        &format!("≤ {}%", k.max_drift_pct),
        format!(
            "{:+.2}% ({} → {} KiB)",
            k.rss_drift_pct, k.rss_warm_kib, k.rss_end_kib
        ),
        Some(drift_ok),
    ));
    out.push(check(
        "server open files after everyone left",
        &format!("baseline {} (+1: the stat request)", k.fds_baseline),
        format!(
            "{} (with everyone connected: {})",
            k.fds_after_leave, k.fds_connected
        ),
        Some(k.fds_after_leave <= k.fds_baseline + 1),
    ));
    let h = &k.after_leave;
    out.push(check(
        "hub after everyone left: connections / channels / channel entries / stored messages / stored channels",
        "0 / 0 / 0 / 0 / 0",
        format!(
            "{} / {} / {} / {} / {} (after {:.1} s)",
            h.connections.max(h.websockets),
            h.channels,
            h.channel_entries,
            h.stored_messages,
            h.stored_channels,
            k.leave_seconds
        ),
        Some(h.empty()),
    ));
    out.push(check(
        "reconnects per second",
        &format!("≥ 90% of {:.0}", k.churn_rate),
        format!("{:.1}", k.reconnects_per_sec),
        Some(k.reconnects_per_sec >= 0.9 * k.churn_rate),
    ));
    out.push(check(
        "connections the server closed / connect failures",
        "0 / 0",
        format!("{} / {}", r.delivery.closed, k.connect_failures),
        Some(r.delivery.closed == 0 && k.connect_failures == 0),
    ));
    out
}

/// The soak's own lines (its subscribers live in the bench process and come and go, so
/// the per-message figures of the other scenarios do not apply).
fn soak_figures(r: &BenchResult, k: &super::soak::SoakResult) -> Vec<(String, String)> {
    let s = &r.settings;
    let p = &r.publish;
    let v = &r.server;
    vec![
        (
            "subscribers".into(),
            format!(
                "{} WebSocket subscribers in the bench process; {:.0}/s of them reconnect with their last mid",
                k.subscribers, k.churn_rate
            ),
        ),
        (
            "connect".into(),
            format!(
                "all {} in {:.1} s, then {} reconnects in {:.0} s ({:.1}/s), {} failed",
                k.subscribers, k.connect_seconds, k.reconnects, k.seconds, k.reconnects_per_sec,
                k.connect_failures
            ),
        ),
        (
            "published".into(),
            format!(
                "{} messages ({:?} batches of {}, {} B, expiry {} s) in {:.0} s = {:.0}/s, {} failed",
                p.messages, s.publish_mode, s.batch, s.message_size, s.expiry, p.seconds, p.per_sec,
                p.failed
            ),
        ),
        (
            "delivered".into(),
            format!("{} ({:.0}/s)", r.delivery.delivered, r.delivery.per_sec),
        ),
        (
            "server memory (VmRSS)".into(),
            format!(
                "before {} KiB, all connected {}, at {:.0} s {} (mean of 10 s), at the end {} (mean of 10 s), max {}, after everyone left {}",
                v.rss_before_kib, v.rss_connected_kib, k.warmup_seconds, k.rss_warm_kib,
                k.rss_end_kib, v.rss_max_kib, k.rss_after_leave_kib
            ),
        ),
        (
            "server open files".into(),
            format!(
                "baseline {}, all connected {}, max {}, after everyone left {} ({:.1} s after)",
                k.fds_baseline, k.fds_connected, v.fds_max, k.fds_after_leave, k.leave_seconds
            ),
        ),
        (
            "connections the server closed".into(),
            r.delivery.closed.to_string(),
        ),
    ]
}

pub(crate) fn q(qs: &Quantiles) -> String {
    if qs.count == 0 {
        return "—".into();
    }
    format!(
        "p50 {} · p99 {} · p99.9 {} · max {} (n={})",
        ms(qs.p50_ms),
        ms(qs.p99_ms),
        ms(qs.p999_ms),
        ms(qs.max_ms),
        qs.count
    )
}

/// The key figures of one run, as lines of `name: value`.
fn figures(r: &BenchResult) -> Vec<(String, String)> {
    if let Some(k) = &r.soak {
        return soak_figures(r, k);
    }
    if let Some(c) = &r.cluster {
        return super::render_cluster::figures(r, c);
    }
    let s = &r.settings;
    let mut v: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, val: String| v.push((k.to_string(), val));
    add(
        "subscribers",
        format!(
            "{} {} ({:?} layout, {} channel(s)), {} worker process(es)",
            s.subscribers,
            s.transport.name(),
            s.layout,
            s.channels,
            s.workers
        )
        .to_lowercase(),
    );
    add(
        "connect",
        format!(
            "{} ok, {} failed in {:.2} s = {:.0}/s; handshake {}",
            r.connect.ok,
            r.connect.failed,
            r.connect.seconds,
            r.connect.per_sec,
            q(&r.connect.latency)
        ),
    );
    if let Some(c) = r.bench.connect_cpu_pct {
        add("bench CPU while connecting", format!("{c:.0}% of a core"));
    }
    add(
        "warm-up (subscription proven)",
        format!(
            "{} of {} in {:.2} s",
            r.connect.warm, r.connect.ok, r.connect.warm_seconds
        ),
    );
    if let Some(pid) = r.server.pid {
        let sv = &r.server;
        add(
            "server memory (VmRSS)",
            format!(
                "pid {pid}: before {} KiB, connected {} KiB, end {} KiB, max {} KiB",
                sv.rss_before_kib, sv.rss_connected_kib, sv.rss_end_kib, sv.rss_max_kib
            ),
        );
        if let Some(p) = sv.rss_per_conn_kib {
            let after = sv
                .rss_per_conn_after_idle_kib
                .map(|a| format!("; after the idle window {a:.2} KiB"))
                .unwrap_or_default();
            add("memory per connection", format!("{p:.2} KiB{after}"));
        }
        add(
            "server CPU (% of one core)",
            format!(
                "connecting {}, idle {}, publishing {}",
                opt_pct(sv.connect_cpu_pct),
                opt_pct(sv.idle_cpu_pct),
                opt_pct(sv.publish_cpu_pct)
            ),
        );
        if let Some(us) = sv.connect_cpu_us_per_conn {
            add(
                "server CPU per connection (handshake + subscription)",
                format!("{us:.1} µs (≈ {:.0}/s on one core)", 1e6 / us.max(0.001)),
            );
        }
        if let Some(us) = sv.publish_cpu_us_per_delivery {
            add(
                "server CPU per delivered message (incl. the publish requests)",
                format!("{us:.2} µs (≈ {:.0}/s on one core)", 1e6 / us.max(0.001)),
            );
        }
        if let Some(us) = sv.idle_cpu_us_per_ping {
            let n = r.connect.ok as f64;
            add(
                "server CPU per ping + pong",
                format!(
                    "{us:.1} µs; at the default 120 s interval {n:.0} connections would cost {:.2}%",
                    us * n / 120.0 / 1e4
                ),
            );
        }
        add("server open files (max)", sv.fds_max.to_string());
    }
    if r.publish.messages > 0 {
        let p = &r.publish;
        add(
            "published",
            format!(
                "{} messages ({} failed) in {} requests over {:.2} s = {:.0}/s ({:?}, {} B, expiry {} s)",
                p.messages,
                p.failed,
                p.requests,
                p.seconds,
                p.per_sec,
                s.publish_mode,
                s.message_size,
                s.expiry
            ),
        );
        add("publish request latency", q(&p.request_latency));
        add("publisher lateness (open loop)", q(&p.lateness));
        let d = &r.delivery;
        add(
            "delivered",
            format!(
                "{} of {} expected in {:.2} s = {:.0}/s",
                d.delivered, d.expected, d.seconds, d.per_sec
            ),
        );
        add(
            "lost / duplicated / out of order / unexpected",
            format!(
                "{} / {} / {} / {}",
                d.tally.lost, d.tally.dup, d.tally.reordered, d.tally.unexpected
            ),
        );
        add("publish → receive", q(&d.latency));
        add(
            "time to last delivery (per message)",
            format!(
                "{}; incomplete fan-outs {}",
                q(&d.time_to_last_delivery),
                d.incomplete_fanouts
            ),
        );
        if let Some(c) = r.bench.publish_cpu_pct {
            add("bench CPU while publishing", format!("{c:.0}% of a core"));
        }
    }
    add(
        "connections closed during the run",
        r.delivery.closed.to_string(),
    );
    if let Some(f) = &r.ping_floor {
        add(
            "floor: same pings and pongs, same sockets, no server",
            format!(
                "{} sockets pinged every {} s in {} bursts an interval, {} pong peer process(es), {} intervals: {:.2} µs of CPU per ping + pong, {:.2}% of a core; per ping + pong 1 write, {:.2} reads, {:.2} epoll waits",
                f.sockets,
                f.interval_s,
                f.bursts,
                f.peers,
                f.intervals,
                f.us_per_ping_pong,
                f.cpu_pct,
                f.reads_per_ping,
                f.epoll_waits_per_ping
            ),
        );
    }
    if let Some(f) = &r.latency_floor {
        add(
            "floor: same two hops, no server",
            format!(
                "{} requests of {} B at {:.0}/s (open loop), each read whole where the server ran and answered with its {} B frame: request write → frame read {}",
                f.sent,
                f.request_bytes,
                f.rate,
                f.frame_bytes,
                q(&f.latency)
            ),
        );
    }
    if let Some(f) = &r.sustained_floor {
        add(
            "floor: same frames at full speed, no server",
            format!(
                "{} batches of {} messages over {} channels: each of {} sockets its share ({} B frames back to back, one write), drained with epoll: {} deliveries in {:.2} s = {:.0}/s; {:.2} µs of the writer's CPU per delivery",
                f.batches,
                f.batch,
                f.channels,
                f.sockets,
                f.frame_bytes,
                f.deliveries,
                f.seconds,
                f.per_sec,
                f.writer_cpu_us_per_delivery
            ),
        );
    }
    if let Some(f) = &r.storm_floor {
        add(
            "floor: same handshakes, no server",
            format!(
                "{} connections, {} in flight, each a {} B upgrade request read whole and a {} B answer, then closed: {:.2} s = {:.0}/s; connect → answer read {}; {:.1} µs of the accepting thread's CPU per connection",
                f.connections,
                f.concurrency,
                f.request_bytes,
                f.response_bytes,
                f.seconds,
                f.per_sec,
                q(&f.exchange),
                f.server_cpu_us_per_conn
            ),
        );
    }
    if let Some(f) = &r.floor {
        add(
            "floor: same frame, same sockets, no server",
            format!(
                "{} rounds of {} B to {} sockets ({} drainer process(es)): last frame {}; writes alone {} ({:.2} µs per write)",
                f.rounds,
                f.frame_bytes,
                f.sockets,
                f.drainers,
                q(&f.last_delivery),
                q(&f.writes),
                f.write_us_per_socket
            ),
        );
    }
    v
}

/// The table printed on stdout after a run.
pub fn table(r: &BenchResult) -> String {
    let mut out = String::new();
    let title = r
        .settings
        .scenario
        .map(|s| s.name())
        .unwrap_or("custom run");
    let _ = writeln!(out, "bxpush bench: {title}");
    for (k, v) in figures(r) {
        let _ = writeln!(out, "  {k:<46} {v}");
    }
    if !r.checks.is_empty() {
        let _ = writeln!(out, "  targets:");
        for c in &r.checks {
            let _ = writeln!(
                out,
                "    [{}] {}: {} (target {})",
                verdict(c.ok),
                c.figure,
                c.measured,
                c.target
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    for e in r.connect.errors.iter().chain(&r.delivery.errors).take(5) {
        let _ = writeln!(out, "  error: {e}");
    }
    for e in r.delivery.close_reasons.iter().take(5) {
        let _ = writeln!(out, "  closed: {e}");
    }
    out
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "ok",
        Some(false) => "MISSED",
        None => "info",
    }
}

fn pinning(r: &BenchResult) -> String {
    let servers = match &r.cluster {
        Some(c) if c.spawned => format!("servers ({} nodes and redis-server)", c.nodes),
        _ => "server".into(),
    };
    format!(
        "{servers} on CPU {}, bench on CPU {}",
        r.settings.server_cpu.as_deref().unwrap_or("(any)"),
        r.settings.cpu.as_deref().unwrap_or("(any)")
    )
}

/// How the subscribers were set up and the server started, in words.
fn setup(r: &BenchResult) -> String {
    let s = &r.settings;
    let signed = if s.signed { "signed" } else { "unsigned" };
    let mut out = match s.layout {
        super::plan::Layout::Private if r.cluster.is_some() => format!(
            "Each subscriber connects with its own {signed} `private:public` descriptor (spec §3.2) \
             to one of the {} nodes, round-robin; messages go round-robin to those private \
             channels, every one published on one node (`/bitrix/pub/`, {:?}, {} keep-alive \
             connections, expiry {} s: stored in Redis), so each crosses the cluster.",
            s.nodes, s.publish_mode, s.pub_conns, s.expiry
        ),
        super::plan::Layout::Private => format!(
            "Each subscriber connects with its own {signed} `private:public` descriptor (spec §3.2); \
             messages go round-robin to those private channels."
        ),
        super::plan::Layout::Shared => format!(
            "Each subscriber connects with its own {signed} `private:public` descriptor plus the \
             {signed} private-only descriptor of one of {} shared channel(s), as Bitrix's shared \
             channel (so the per-public-channel limit `--max-conn-per-channel` does not apply); \
             messages go round-robin to the shared channels.",
            s.channels
        ),
    };
    if matches!(s.transport, Transport::Longpoll | Transport::LongpollBinary) {
        out.push_str(
            " A released poll sends its next request once a turn of the bench's runtime \
             reads no reply: one core stands in for all the browsers, and one's next request \
             (a loopback write) must not delay another's receipt.",
        );
    }
    if let Some(p) = s.ws_ping_interval {
        let _ = write!(out, " Server started with `--ws-ping-interval {p}`.");
    }
    if !s.server_args.is_empty() {
        let _ = write!(out, " Extra server flags: `{}`.", s.server_args.join(" "));
    }
    out
}

/// BENCHMARKS.md from the `*.json` results in `dir` (plus the table rows of
/// `dir/php-row.md`, and `dir/php.md`, `dir/analysis.md` appended).
pub fn render_dir(dir: &Path) -> Result<String, String> {
    let mut results: Vec<BenchResult> = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let r: BenchResult =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            results.push(r);
        }
    }
    let order = |r: &BenchResult| {
        r.settings
            .scenario
            .and_then(|s| Scenario::ALL.iter().position(|x| *x == s))
            .unwrap_or(usize::MAX)
    };
    results.sort_by_key(order);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# bxpush benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `make bench` (`scripts/bench.sh`), which runs `bxpush bench` (the\n\
         `bxpush-bench` binary built beside `bxpush`, crate `bench/`) once per scenario against\n\
         a freshly started `target/release/bxpush serve` and renders this file from the JSON\n\
         results with `bxpush bench --render DIR`. Every figure stands beside its\n\
         target (from the project's design); each scenario lists the command that reproduces it.\n\
         Latencies are measured from the publisher's clock right before the publish request to\n\
         the subscriber's clock when its frame is read (same machine, `CLOCK_REALTIME`), so they\n\
         include the load generator's own queueing.\n"
    );
    if let Some(first) = results.first() {
        let m = &first.machine;
        let _ = writeln!(w, "## Machine\n");
        let _ = writeln!(w, "| | |\n|---|---|");
        let _ = writeln!(w, "| CPUs (nproc) | {} |", m.nproc);
        let _ = writeln!(w, "| CPU model | {} |", m.cpu_model);
        let _ = writeln!(w, "| kernel | {} |", m.kernel);
        let _ = writeln!(
            w,
            "| memory | {:.1} GiB |",
            m.mem_total_kib as f64 / 1024.0 / 1024.0
        );
        let _ = writeln!(w, "| run | {} |", first.started);
        let loads: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "{}: {} → {}",
                    r.settings.scenario.map(|s| s.name()).unwrap_or("?"),
                    r.machine.loadavg_start,
                    r.machine.loadavg_end
                )
            })
            .collect();
        let _ = writeln!(
            w,
            "| load average (1/5/15 min) at start → end of each scenario | {} |",
            loads.join("; ")
        );
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "## Figures against targets\n");
    let _ = writeln!(w, "| scenario | figure | target | measured | |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    for r in &results {
        let name = r.settings.scenario.map(|s| s.name()).unwrap_or("custom");
        for c in &r.checks {
            let _ = writeln!(
                w,
                "| {name} | {} | {} | {} | {} |",
                c.figure,
                c.target,
                c.measured,
                verdict(c.ok)
            );
        }
    }
    // Rows measured outside `bxpush bench` (the PHP publisher, scripts/bench-php.sh).
    if let Ok(rows) = std::fs::read_to_string(dir.join("php-row.md")) {
        for row in rows.lines().filter(|l| l.starts_with('|')) {
            let _ = writeln!(w, "{row}");
        }
    }
    // Sections written beside the results: the PHP measurement, then the analysis.
    let notes: String = ["php.md", "analysis.md"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .map(|t| format!("{}\n\n", t.trim_end()))
        .collect();
    let _ = writeln!(w);
    for r in &results {
        let name = r.settings.scenario.map(|s| s.name()).unwrap_or("custom");
        let _ = writeln!(w, "## {name}\n");
        let _ = writeln!(w, "```sh\n{}\n```\n", reproduce(r));
        let _ = writeln!(w, "Pinning: {}. {}\n", pinning(r), setup(r));
        let _ = writeln!(w, "| | |\n|---|---|");
        for (k, v) in figures(r) {
            let _ = writeln!(w, "| {k} | {v} |");
        }
        for n in &r.notes {
            let _ = writeln!(w, "| note | {n} |");
        }
        for e in r.connect.errors.iter().chain(&r.delivery.errors).take(3) {
            let _ = writeln!(w, "| error (sample) | `{e}` |");
        }
        for e in r.delivery.close_reasons.iter().take(3) {
            let _ = writeln!(w, "| closed (sample) | `{e}` |");
        }
        let _ = writeln!(w);
    }
    if !notes.is_empty() {
        let _ = write!(w, "{notes}");
    }
    Ok(out)
}

/// The command line of a run, with the binary path made relative to the repository and
/// the output file left out.
fn reproduce(r: &BenchResult) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut skip = false;
    for (i, a) in r.command.split(' ').enumerate() {
        if skip {
            skip = false;
            continue;
        }
        if a == "--json" {
            skip = true;
            continue;
        }
        if i == 0 {
            parts.push("target/release/bxpush".into());
            // `bxpush bench ARGS` execs `bxpush-bench ARGS`: what ran is `bxpush bench`.
            if a.ends_with("bxpush-bench") {
                parts.push("bench".into());
            }
            continue;
        }
        if let Some(idx) = a.find("target/release/") {
            parts.push(a[idx..].to_string());
            continue;
        }
        parts.push(a.to_string());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor_of(mean_ms: f64) -> floor::FloorResult {
        floor::FloorResult {
            sockets: 5_000,
            frame_bytes: 520,
            rounds: 20,
            last_delivery: Quantiles {
                count: 20,
                mean_ms,
                ..Quantiles::default()
            },
            ..floor::FloorResult::default()
        }
    }

    /// The release (or fan-out) p99 over the floor's mean, met at 1.5× and not above;
    /// no samples or no floor is not a pass.
    #[test]
    fn a_p99_is_checked_as_a_ratio_to_the_floors_mean() {
        let c = floor_check("release latency p99", 30.0, 100, &floor_of(20.0));
        assert_eq!((c.measured.as_str(), c.ok), ("1.50×", Some(true)));
        assert!(c
            .figure
            .contains("20.0 ms for the same 520 B to 5000 sockets"));
        let c = floor_check("release latency p99", 30.2, 100, &floor_of(20.0));
        assert_eq!((c.measured.as_str(), c.ok), ("1.51×", Some(false)));
        let c = floor_check("release latency p99", 10.0, 0, &floor_of(20.0));
        assert_eq!(c.ok, Some(false));
        let c = floor_check("release latency p99", 10.0, 5, &floor_of(0.0));
        assert_eq!((c.measured.as_str(), c.ok), ("not measured", None));
    }

    /// Latency and storm are stated against their floors as information (issue 11 sets
    /// no target for them): the server's p99 over the floor's p99, the server's rate and
    /// CPU per connection over the floor's.
    #[test]
    fn latency_and_storm_are_stated_as_ratios_to_their_floors() {
        let lf = floor_latency::LatencyFloorResult {
            request_bytes: 364,
            frame_bytes: 344,
            rate: 200.0,
            sent: 600,
            latency: Quantiles {
                count: 600,
                p99_ms: 0.2,
                ..Quantiles::default()
            },
        };
        let c = latency_floor_check(0.5, 2_000, &lf);
        assert_eq!((c.measured.as_str(), c.ok), ("2.50×", None));
        assert!(c
            .figure
            .contains("(0.200 ms: the same 364 B request and 344 B frame"));
        let c = latency_floor_check(0.5, 0, &lf);
        assert_eq!(c.measured, "not measured");

        let sf = floor_storm::StormFloorResult {
            connections: 19_000,
            concurrency: 512,
            request_bytes: 284,
            response_bytes: 166,
            seconds: 1.0,
            per_sec: 20_000.0,
            server_cpu_us_per_conn: 25.0,
            ..Default::default()
        };
        let c = storm_floor_check(11_000.0, &sf);
        assert_eq!((c.measured.as_str(), c.ok), ("0.55×", None));
        assert!(c
            .figure
            .contains("(20000/s: the same 284 B requests and 166 B answers"));
        let c = storm_cpu_check(Some(45.0), &sf);
        assert_eq!((c.measured.as_str(), c.ok), ("45.0 µs = 1.80×", None));
        assert_eq!(storm_cpu_check(None, &sf).measured, "not measured");

        let uf = floor_sustained::SustainedFloorResult {
            sockets: 2_000,
            channels: 20,
            batch: 100,
            per_sec: 400_000.0,
            writer_cpu_us_per_delivery: 1.5,
            frame_bytes: 344,
            ..Default::default()
        };
        let c = sustained_floor_checks(250_000.0, Some(2.7), &uf);
        assert_eq!((c[0].measured.as_str(), c[0].ok), ("0.62×", None));
        assert!(c[0]
            .figure
            .contains("344 B frames, 5 a batch to each of 2000 sockets"));
        assert_eq!((c[1].measured.as_str(), c[1].ok), ("2.70 µs = 1.80×", None));
        assert_eq!(
            sustained_floor_checks(250_000.0, None, &uf)[1].measured,
            "not measured"
        );
    }
}
