//! The cluster scenario's rows in the report and in BENCHMARKS.md: its phases one by
//! one (a single run publishes at several rates), the search's end, and what each
//! node's `/server-stat/` lists.

use super::cluster::{ClusterResult, Outcome, PhaseResult};
use super::render::{check, ms, q};
use super::{BenchResult, Check};

/// The sequencer holds a later id for at most this long while a gap fills (DESIGN.md
/// "One order per node"): beyond it a message waits on queues, not on the protocol.
const HOLD_MS: f64 = 100.0;
/// Rates up to this have a latency target; above, the phase measures capacity.
const LATENCY_TARGET_UP_TO: f64 = 1_000.0;

fn rate(r: f64) -> String {
    format!("{r:.0} msg/s")
}

pub fn checks(r: &BenchResult, c: &ClusterResult) -> Vec<Check> {
    let mut out = Vec::new();
    for p in &c.phases {
        let targeted = p.rate <= LATENCY_TARGET_UP_TO;
        let target = if targeted {
            "≤ 100 ms (the sequencer holds a gap 100 ms at most)"
        } else {
            "(none set)"
        };
        let mut latency = |whose: &str, qs: &super::Quantiles| {
            if qs.count == 0 {
                return;
            }
            out.push(check(
                &format!(
                    "cross-node publish → receive p99 at {}, subscribers on {whose}",
                    rate(p.rate)
                ),
                target,
                format!("{} (p50 {})", ms(qs.p99_ms), ms(qs.p50_ms)),
                targeted.then_some(qs.p99_ms <= HOLD_MS),
            ));
        };
        latency("the publishing node", &p.same_node);
        latency("the other nodes", &p.other_nodes);
        out.push(check(
            &format!("published at {} for {:.0} s", rate(p.rate), p.seconds),
            "(none set)",
            format!("{:.0}/s, {} failed", p.published_per_sec, p.failed),
            None,
        ));
        out.push(check(
            &format!("lost at {}", rate(p.rate)),
            "0",
            p.tally.lost.to_string(),
            Some(p.tally.lost == 0),
        ));
    }
    let t = &r.delivery.tally;
    out.push(check(
        "duplicated / out of order, every phase (search included)",
        "0 / 0",
        format!("{} / {}", t.dup, t.reordered),
        Some(t.dup == 0 && t.reordered == 0),
    ));
    out.push(check(
        "largest rate with 0 lost (step search)",
        "(none set)",
        c.search_end.clone(),
        None,
    ));
    out.push(check(
        &format!(
            "/server-stat/ of {} lists all {} nodes",
            if c.spawned {
                "each node"
            } else {
                "the --pub node"
            },
            c.nodes
        ),
        &format!("{} of {}", c.nodes, c.nodes),
        c.server_stat
            .iter()
            .map(|v| match &v.error {
                Some(e) => e.clone(),
                None => format!("{} of {}", v.listed.len(), c.nodes),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(c.all_listed()),
    ));
    out
}

fn phase_line(p: &PhaseResult) -> String {
    let cpu = p
        .servers_cpu_pct
        .map(|c| format!("; servers' CPU {c:.0}% of a core"))
        .unwrap_or_default();
    format!(
        "published {:.0}/s ({} failed; request {}); delivered {} of {}{}; lost / dup / out of order {} / {} / {}; publishing node: {}; other nodes: {}{cpu}; {}",
        p.published_per_sec,
        p.failed,
        q(&p.request_latency),
        p.delivered,
        p.expected,
        if p.drained { "" } else { " (drain timed out)" },
        p.tally.lost,
        p.tally.dup,
        p.tally.reordered,
        q(&p.same_node),
        q(&p.other_nodes),
        p.outcome.unwrap_or(Outcome::Clean).describe()
    )
}

pub fn figures(r: &BenchResult, c: &ClusterResult) -> Vec<(String, String)> {
    let s = &r.settings;
    let mut v: Vec<(String, String)> = Vec::new();
    let nodes = if c.spawned {
        format!(
            "{} bxpush nodes (--store redis://…), {}",
            c.nodes,
            c.redis.as_deref().unwrap_or("redis-server")
        )
    } else {
        format!("{} node(s) given: {}", c.nodes, c.sub_addrs.join(", "))
    };
    v.push(("nodes".into(), nodes));
    v.push((
        "subscribers".into(),
        format!(
            "{} {} round-robin over the nodes ({} per node); publishing on {}{}",
            s.subscribers,
            s.transport.name(),
            c.subscribers_per_node
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" / "),
            c.pub_addr,
            match c.pub_node {
                Some(k) => format!(" (node {k})"),
                None => " (a node without subscribers of the run)".into(),
            }
        ),
    ));
    v.push((
        "connect".into(),
        format!(
            "{} ok, {} failed in {:.2} s; warm-up (one message from the publishing node) {} of {} in {:.2} s",
            r.connect.ok,
            r.connect.failed,
            r.connect.seconds,
            r.connect.warm,
            r.connect.ok,
            r.connect.warm_seconds
        ),
    ));
    for p in c.phases.iter().chain(&c.search) {
        v.push((
            format!("{} {} × {:.0} s", p.kind, rate(p.rate), p.seconds),
            phase_line(p),
        ));
    }
    v.push(("largest rate with 0 lost".into(), c.search_end.clone()));
    for st in &c.server_stat {
        v.push((
            format!("/server-stat/ of {}", st.node),
            match &st.error {
                Some(e) => e.clone(),
                None => format!("{} processes: {}", st.listed.len(), st.listed.join(", ")),
            },
        ));
    }
    let d = &r.delivery;
    v.push((
        "all phases: delivered, lost / dup / out of order / unexpected".into(),
        format!(
            "{} of {}; {} / {} / {} / {}",
            d.delivered,
            d.expected,
            d.tally.lost,
            d.tally.dup,
            d.tally.reordered,
            d.tally.unexpected
        ),
    ));
    v.push((
        "connections closed during the run".into(),
        d.closed.to_string(),
    ));
    v
}
