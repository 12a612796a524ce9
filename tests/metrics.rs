//! `GET /metrics`: parsed by a Prometheus text-format parser (the `prometheus-parse`
//! crate), every counter checked against a known workload: WebSocket live deliveries,
//! a long-poll replay, refused requests by code, history size.
mod common;

use std::collections::HashMap;

use common::*;
use prometheus_parse::{Scrape, Value};

struct Metrics {
    scrape: Scrape,
}

impl Metrics {
    async fn read(s: &TestServer) -> Metrics {
        let r = get(s.publ, "/metrics").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = r.text();
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        Metrics { scrape }
    }

    /// The value of the one sample `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let hits: Vec<_> = self
            .scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .collect();
        assert_eq!(hits.len(), 1, "{name}{labels:?}: {hits:?}");
        match &hits[0].value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name} is not a scalar: {other:?}"),
        }
    }

    fn histogram(&self, name: &str) -> HashMap<String, f64> {
        let s = self
            .scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("no histogram {name}"));
        let Value::Histogram(buckets) = &s.value else {
            panic!("{name} is not a histogram: {:?}", s.value)
        };
        buckets
            .iter()
            .map(|b| (format!("{}", b.less_than), b.count))
            .collect()
    }
}

#[tokio::test]
async fn counters_match_a_known_workload() {
    let mut s = TestServer::start().await;
    let ch = Channel::random();

    // One WebSocket subscriber gets three live messages.
    let mut ws = ws_connect(s.sub, &format!("CHANNEL_ID={}", enc(&ch.descriptor()))).await;
    eventually(5, async || {
        s.server
            .as_ref()
            .unwrap()
            .app()
            .hub
            .is_online(&bxpush::protocol::ChannelKey::private(ch.private))
    })
    .await;
    let mut mids = Vec::new();
    for i in 0..3 {
        s.publish(&[&ch], &php_body("m", &format!("n{i}")), 3600)
            .await;
    }
    while mids.len() < 3 {
        let frame = ws_next(&mut ws, 10).await;
        for e in envelopes(frame.to_text().unwrap()) {
            mids.push(e["mid"].as_str().unwrap().to_string());
        }
    }

    // A long poll resuming before the first gets the three as a replay.
    let before = format!("{}{:016}", &mids[0][..10], 0);
    let r = get(
        s.sub,
        &format!(
            "/bitrix/sub/?CHANNEL_ID={}&mid={before}",
            enc(&ch.descriptor())
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(envelopes(&r.text()).len(), 3);

    // Refused: two bad channel lists (4010), one body over max_payload (413).
    for _ in 0..2 {
        assert_eq!(get(s.sub, "/bitrix/sub/?CHANNEL_ID=zz").await.status, 400);
    }
    let big = "x".repeat(1_048_577);
    let r = post(
        s.publ,
        &format!("/bitrix/pub/?CHANNEL_ID={}", ch.private.to_hex()),
        big.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 413);

    let m = Metrics::read(&s).await;
    assert_eq!(m.value("bxpush_messages_published_total", &[]), 3.0);
    let delivered = "bxpush_messages_delivered_total";
    assert_eq!(m.value(delivered, &[("transport", "websocket")]), 3.0);
    assert_eq!(m.value(delivered, &[("transport", "longpoll")]), 3.0);
    assert_eq!(m.value(delivered, &[("transport", "sse")]), 0.0);
    assert_eq!(
        m.value("bxpush_connections", &[("transport", "websocket")]),
        1.0
    );
    assert_eq!(
        m.value("bxpush_connections", &[("transport", "longpoll")]),
        0.0
    );
    assert_eq!(
        m.value("bxpush_bad_requests_total", &[("code", "4010")]),
        2.0
    );
    assert_eq!(
        m.value("bxpush_bad_requests_total", &[("code", "413")]),
        1.0
    );
    assert_eq!(m.value("bxpush_store_messages", &[]), 3.0);
    assert_eq!(m.value("bxpush_store_errors_total", &[]), 0.0);
    assert_eq!(m.value("bxpush_deliveries_dropped_total", &[]), 0.0);
    assert_eq!(m.value("bxpush_handoff_items_applied_total", &[]), 0.0);
    assert!(m.value("bxpush_channels", &[]) >= 1.0);
    assert!(
        m.value("bxpush_tcp_connections", &[]) >= 2.0,
        "the WebSocket and this scrape"
    );
    // Live deliveries only (the replay measures the client's absence, not the server).
    let h = m.histogram("bxpush_delivery_latency_seconds");
    assert_eq!(h["inf"], 3.0, "{h:?}");
    assert!(
        h["10"] == 3.0,
        "a loopback delivery takes under 10 s: {h:?}"
    );

    // Every family is documented and typed; counters end in _total.
    let text = get(s.publ, "/metrics").await.text();
    for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut w = l.split(' ').skip(2);
        let (name, kind) = (w.next().unwrap(), w.next().unwrap());
        assert!(name.starts_with("bxpush_"), "{l}");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
        assert_eq!(kind == "counter", name.ends_with("_total"), "{l}");
    }

    // /metrics is on the trusted listener only.
    assert_eq!(get(s.sub, "/metrics").await.status, 404);
    drop(ws);
    s.stop().await;
}
