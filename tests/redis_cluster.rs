//! Several `bxpush serve --store redis://…` nodes sharing one real `redis-server` (no
//! persistence, loopback): publish on one node and receive on the others exactly once;
//! a node killed with SIGKILL while publishing, its clients resuming on another node
//! with their `mid`; Redis stopped for 5 s and continued.

mod common;
mod ops_support;
mod redis_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{get, ns, numbered, post, read_until, ws_connect, Channel};
use futures_util::StreamExt;
use ops_support::Bxpush;
use parking_lot::Mutex;
use redis_support::RedisServer;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use bxpush::forward::{Forwarder, ForwarderConfig};
use bxpush::handoff::{Item, PhpTarget};
use bxpush::protocol::ChannelKey;

fn node(redis: &RedisServer) -> Bxpush {
    Bxpush::start(
        &format!("store = \"redis://127.0.0.1:{}\"", redis.port),
        &[],
    )
}

/// Publish `body` on `c` through `publ` (stored for an hour); the HTTP status.
async fn publish(publ: SocketAddr, c: &Channel, body: &str) -> u16 {
    let path = format!("/bitrix/pub/?CHANNEL_ID={}", c.private.to_hex());
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nMessage-Expiry: 3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    common::raw(publ, &req).await.status
}

/// `c` has a subscriber registered on the node of `publ` (its own presence), so what is
/// released there from now on reaches it.
async fn registered(publ: SocketAddr, c: &Channel) {
    common::wait_online(publ, c).await;
}

async fn server_stat(publ: SocketAddr) -> Vec<serde_json::Value> {
    serde_json::from_str(&get(publ, "/server-stat/").await.text()).unwrap()
}

async fn degraded(publ: SocketAddr) -> bool {
    server_stat(publ).await[0]["bxpush"]["redis"]["degraded"]
        .as_bool()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_on_one_node_received_once_on_every_node_and_resumed_across_nodes() {
    let redis = RedisServer::start();
    let (a, b, c) = (node(&redis), node(&redis), node(&redis));
    let ch = Channel::random();
    let query = format!("CHANNEL_ID={}", ch.descriptor());
    let mut subs = Vec::new();
    for n in [&a, &b, &c] {
        subs.push(ws_connect(n.sub, &query).await);
        registered(n.publ, &ch).await;
    }
    for i in 1..=50 {
        assert_eq!(publish(a.publ, &ch, &format!("{{\"n\":{i}}}")).await, 200);
    }
    let want: Vec<u64> = (1..=50).collect();
    let mut mids = Vec::new();
    for ws in &mut subs {
        let mut got = Vec::new();
        read_until(ws, &mut got, 50, 10).await;
        assert_eq!(
            ns(&got),
            want,
            "every node delivers each message once, in order"
        );
        mids.push(got.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>());
    }
    // The publishing node fans out from the stream too: the same ids everywhere.
    assert!(mids.windows(2).all(|w| w[0] == w[1]));
    // Nothing more arrives (no second copy from any path).
    assert_eq!(publish(a.publ, &ch, "{\"n\":51}").await, 200);
    for ws in &mut subs {
        let mut got = Vec::new();
        read_until(ws, &mut got, 1, 10).await;
        assert_eq!(ns(&got), [51]);
    }
    // A client that got 1..=25 on C resumes on B with its mid: 26..=51, once.
    let resume = format!("{query}&mid={}", mids[2][24]);
    let mut moved = ws_connect(b.sub, &resume).await;
    let mut got = Vec::new();
    read_until(&mut moved, &mut got, 26, 10).await;
    assert_eq!(ns(&got), (26..=51).collect::<Vec<_>>());
    // Presence crosses nodes: a channel with a subscriber only on B is online on A.
    let only_b = Channel::random();
    let _ws = ws_connect(b.sub, &format!("CHANNEL_ID={}", only_b.descriptor())).await;
    registered(a.publ, &only_b).await;
    // /server-stat/ of any node lists all three processes.
    common::eventually(10, async || server_stat(c.publ).await.len() == 3).await;
    let stat = server_stat(a.publ).await;
    assert_eq!(stat[0]["clusterMode"], true);
    assert_eq!(stat[0]["bxpush"]["published"], 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_on_two_nodes_reach_every_node_in_id_order() {
    const PER_PUBLISHER: u64 = 250;
    let redis = RedisServer::start();
    let (a, b, c) = (node(&redis), node(&redis), node(&redis));
    let ch = Channel::random();
    let query = format!("CHANNEL_ID={}", ch.descriptor());
    let mut subs = Vec::new();
    for n in [&a, &b, &c] {
        subs.push(ws_connect(n.sub, &query).await);
        registered(n.publ, &ch).await;
    }
    // Four publishers, two per node, racing: Redis runs their PUBLISHes in another
    // order than their INCRs now and then, which each node's sequencer puts right.
    let mut publishers = Vec::new();
    for p in 0..4u64 {
        let publ = if p % 2 == 0 { a.publ } else { b.publ };
        let ch = Channel {
            private: ch.private,
            public: ch.public,
        };
        publishers.push(tokio::spawn(async move {
            for i in 0..PER_PUBLISHER {
                let n = p * PER_PUBLISHER + i;
                assert_eq!(publish(publ, &ch, &format!("{{\"n\":{n}}}")).await, 200);
            }
        }));
    }
    for p in publishers {
        p.await.unwrap();
    }
    let total = 4 * PER_PUBLISHER as usize;
    let mut seen = Vec::new();
    for ws in &mut subs {
        let mut got = Vec::new();
        read_until(ws, &mut got, total, 20).await;
        let mids: Vec<&String> = got.iter().map(|(m, _)| m).collect();
        assert!(
            mids.windows(2).all(|w| w[0] < w[1]),
            "ids in increasing order"
        );
        let mut all = ns(&got);
        all.sort_unstable();
        let missing: Vec<u64> = (0..total as u64)
            .filter(|n| all.binary_search(n).is_err())
            .collect();
        assert!(missing.is_empty(), "lost: {missing:?}");
        assert_eq!(all.len(), total, "each message once");
        seen.push(mids.into_iter().cloned().collect::<Vec<_>>());
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "one order on every node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_messages_flow_neither_skips_nor_repeats() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis), node(&redis));
    let ch = Channel::random();
    let query = format!("CHANNEL_ID={}", ch.descriptor());
    // A reference subscriber on A sees the whole sequence.
    let mut reference = ws_connect(a.sub, &query).await;
    registered(a.publ, &ch).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (stop, ch, publ) = (stop.clone(), ch.clone(), a.publ);
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(publish(publ, &ch, &format!("{{\"n\":{n}}}")).await, 200);
                n += 1;
            }
        })
    };
    let mut seen = Vec::new();
    for _ in 0..30 {
        // Resume on B a few messages back, while the publisher keeps going: the history
        // read and the live stream overlap, and must join without a hole or a repeat.
        let want = seen.len() + 5;
        read_until(&mut reference, &mut seen, want, 10).await;
        let (mid, from) = seen[seen.len() - 3].clone();
        let mut ws = ws_connect(b.sub, &format!("{query}&mid={mid}")).await;
        let mut got = Vec::new();
        read_until(&mut ws, &mut got, 10, 10).await;
        let want: Vec<u64> = (from + 1..).take(got.len()).collect();
        assert!(got.len() >= 10, "{} messages after the resume", got.len());
        assert_eq!(ns(&got), want, "resumed after n={from}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    publisher.await.unwrap();
}

/// One client of the failover test: subscribed on `first`, moved to `second` with its
/// `mid` when the first node dies; reads until it has `total` messages (known once the
/// publisher is done). Returns what it got and the time from the loss to the first
/// message on the second node.
async fn failover_client(
    first: SocketAddr,
    second: SocketAddr,
    query: String,
    mut total: watch::Receiver<Option<usize>>,
) -> (Vec<(String, u64)>, Duration) {
    let mut got = Vec::new();
    let mut ws = ws_connect(first, &query).await;
    // Until the node dies (the socket ends without a close frame).
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) => got.extend(numbered(&t)),
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    let lost_at = Instant::now();
    let (last_mid, _) = got.last().cloned().expect("messages before the kill");
    let mut ws = ws_connect(second, &format!("{query}&mid={last_mid}")).await;
    let mut recovered = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if total.borrow().is_some_and(|t| got.len() >= t) {
            break;
        }
        tokio::select! {
            r = tokio::time::timeout_at(deadline, ws.next()) => match r {
                Ok(Some(Ok(WsMessage::Text(t)))) => {
                    recovered.get_or_insert_with(|| lost_at.elapsed());
                    got.extend(numbered(&t));
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            },
            _ = total.changed() => {}
        }
    }
    (got, recovered.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_publishing_1000_per_second_loses_and_repeats_nothing() {
    const CHANNELS: usize = 8;
    const MESSAGES: u64 = 3000;
    let redis = RedisServer::start();
    let (mut a, b) = (node(&redis), node(&redis));
    let channels: Vec<Channel> = (0..CHANNELS).map(|_| Channel::random()).collect();
    let acked: Vec<Arc<Mutex<Vec<u64>>>> = (0..CHANNELS)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let mut clients = Vec::new();
    for ch in &channels {
        let query = format!("CHANNEL_ID={}", ch.descriptor());
        let (total_tx, total_rx) = watch::channel(None);
        let client = failover_client(a.sub, b.sub, query, total_rx);
        clients.push((total_tx, tokio::spawn(client)));
        registered(a.publ, ch).await;
    }
    // Publish on B at 1,000 messages/s, round robin over the channels; A is killed after
    // a third of them.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut refused = 0;
    for i in 0..MESSAGES {
        tick.tick().await;
        let k = i as usize % CHANNELS;
        if i == MESSAGES / 3 {
            unsafe { libc::kill(a.pid() as i32, libc::SIGKILL) };
        }
        match publish(b.publ, &channels[k], &format!("{{\"n\":{i}}}")).await {
            200 => acked[k].lock().push(i),
            _ => refused += 1,
        }
    }
    let _ = a.child.wait();
    let mut worst = Duration::ZERO;
    for ((total_tx, client), exp) in clients.into_iter().zip(&acked) {
        let _ = total_tx.send(Some(exp.lock().len()));
        let (got, recovered) = client.await.unwrap();
        let exp = exp.lock().clone();
        let got_ns = ns(&got);
        let mut dedup = got_ns.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), got_ns.len(), "no message twice");
        assert_eq!(got_ns, exp, "every acknowledged message, in order");
        worst = worst.max(recovered);
    }
    assert_eq!(refused, 0, "B kept publishing while A died");
    eprintln!(
        "failover: {MESSAGES} messages at 1000/s, {CHANNELS} clients moved from the killed node: 0 lost, 0 duplicated; first message on the new node within {} ms of the loss",
        worst.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_for_5_s_then_continued_nodes_recover_and_history_is_kept() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis), node(&redis));
    let ch = Channel::random();
    let query = format!("CHANNEL_ID={}", ch.descriptor());
    let mut ws = ws_connect(b.sub, &query).await;
    registered(b.publ, &ch).await;
    for i in 1..=10 {
        assert_eq!(publish(a.publ, &ch, &format!("{{\"n\":{i}}}")).await, 200);
    }
    let mut got = Vec::new();
    read_until(&mut ws, &mut got, 10, 10).await;
    assert_eq!(ns(&got), (1..=10).collect::<Vec<_>>());

    // Stopped, not killed: Redis keeps its data, the nodes' connections stay open and
    // simply get no answer.
    let stopped = Instant::now();
    unsafe { libc::kill(redis.pid() as i32, libc::SIGSTOP) };
    // A publish now is refused with the protocol's error, never acknowledged.
    let r = post(
        a.publ,
        &format!("/bitrix/pub/?CHANNEL_ID={}", ch.private.to_hex()),
        b"{\"n\":0}",
    )
    .await;
    assert_eq!(r.status, 503);
    assert!(r.text().starts_with("503"), "{}", r.text());
    common::eventually(10, async || {
        degraded(a.publ).await && degraded(b.publ).await
    })
    .await;
    let r = post(
        a.publ,
        &format!("/bitrix/pub/?CHANNEL_ID={}", ch.private.to_hex()),
        b"{\"n\":0}",
    )
    .await;
    assert!(
        r.status == 503 && r.text().starts_with("503"),
        "refused at once while degraded"
    );
    // The outage lasts 5 s (the scenario, not a wait for a result).
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed())).await;
    unsafe { libc::kill(redis.pid() as i32, libc::SIGCONT) };
    let continued = Instant::now();
    common::eventually(15, async || {
        !degraded(a.publ).await && !degraded(b.publ).await
    })
    .await;
    let recovery = continued.elapsed();

    // Clients were kept: the same socket receives what is published after recovery.
    for i in 11..=15 {
        assert_eq!(publish(a.publ, &ch, &format!("{{\"n\":{i}}}")).await, 200);
    }
    read_until(&mut ws, &mut got, 15, 10).await;
    assert_eq!(ns(&got), (1..=15).collect::<Vec<_>>());
    // What was stored before the outage is still replayable, on any node.
    let first = &got[0].0;
    let mut late = ws_connect(a.sub, &format!("{query}&mid={first}")).await;
    let mut replay = Vec::new();
    read_until(&mut late, &mut replay, 14, 10).await;
    assert_eq!(ns(&replay), (2..=15).collect::<Vec<_>>());
    // One log line into the outage and one out of it, per node.
    for n in [&a, &b] {
        let log = n.log();
        assert_eq!(log.matches("Redis unreachable").count(), 1, "{log}");
        assert_eq!(log.matches("Redis reachable again").count(), 1, "{log}");
    }
    eprintln!(
        "redis outage: 5 s stopped; nodes publishing again {} ms after it continued",
        recovery.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_items_refused_while_redis_is_stopped_stay_spooled_and_arrive_once_after() {
    let redis = RedisServer::start();
    let dir = common::TempDir::new("redis-php");
    let sock = dir.0.join("php.sock");
    let a = Bxpush::start(
        &format!(
            "store = \"redis://127.0.0.1:{}\"\nlisten_php = \"{}\"",
            redis.port,
            sock.display()
        ),
        &[],
    );
    let b = node(&redis);
    let ch = Channel::random();
    let mut ws = ws_connect(b.sub, &format!("CHANNEL_ID={}", ch.descriptor())).await;
    registered(b.publ, &ch).await;
    let mut cfg = ForwarderConfig::new(PhpTarget::Unix(sock), dir.0.join("spool"));
    cfg.signature_key = Some(ops_support::KEY.into());
    let f = Arc::new(Forwarder::new(cfg));
    let item = |n: u64| Item::Publish {
        receivers: vec![ChannelKey::private(ch.private)],
        body: format!("{{\"n\":{n}}}").into(),
        expiry: 3600,
        kind: "im".into(),
    };
    let flush = |f: &Arc<Forwarder>, secs| {
        let f = f.clone();
        tokio::task::spawn_blocking(move || f.flush(Duration::from_secs(secs)))
    };
    for n in 0..5 {
        f.submit(item(n)).unwrap();
    }
    assert_eq!(flush(&f, 5).await.unwrap().acked, 5);
    unsafe { libc::kill(redis.pid() as i32, libc::SIGSTOP) };
    common::eventually(10, async || degraded(a.publ).await).await;
    for n in 5..25 {
        f.submit(item(n)).unwrap();
    }
    // The owner refuses them (Redis is down): nothing is acknowledged, the worker keeps
    // the items.
    let r = flush(&f, 1).await.unwrap();
    assert_eq!(r.acked, 0, "{r:?}");
    assert_eq!(r.spooled + r.failed, 20, "{r:?}");
    let refused = server_stat(a.publ).await[0]["bxpush"]["redis"]["refused"].clone();
    assert!(refused.as_u64().unwrap() > 0, "{refused}");
    unsafe { libc::kill(redis.pid() as i32, libc::SIGCONT) };
    common::eventually(15, async || !degraded(a.publ).await).await;
    // The next send replays the spool first; the owner's marks skip anything it applied.
    f.submit(item(25)).unwrap();
    let r = flush(&f, 10).await.unwrap();
    assert!(r.complete(), "{r:?}");
    let mut got = Vec::new();
    read_until(&mut ws, &mut got, 26, 15).await;
    assert_eq!(
        ns(&got),
        (0..26).collect::<Vec<_>>(),
        "each item once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_keeps_losing_redis_reads_back_what_its_clients_missed() {
    let dir = common::TempDir::new("redis-catch-up");
    let sock = dir.0.join("redis.sock");
    let port = RedisServer::free_port();
    let redis = RedisServer::start_with(
        port,
        &[
            "--unixsocket",
            sock.to_str().unwrap(),
            "--unixsocketperm",
            "700",
        ],
    );
    // A reaches Redis over TCP, B over the unix socket: killing the clients of the socket
    // cuts B alone, while A goes on publishing.
    let a = node(&redis);
    let b = Bxpush::start(&format!("store = \"redis+unix://{}\"", sock.display()), &[]);
    let ch = Channel::random();
    let mut ws = ws_connect(b.sub, &format!("CHANNEL_ID={}", ch.descriptor())).await;
    registered(b.publ, &ch).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        let mut admin = redis_support::raw(&redis).await;
        let laddr = format!("{}:0", sock.display());
        tokio::spawn(async move {
            let mut kills = 0u64;
            let mut every = tokio::time::interval(Duration::from_millis(150));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                every.tick().await;
                let n: u64 = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("LADDR")
                    .arg(&laddr)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                kills += n;
            }
            kills
        })
    };
    const TOTAL: u64 = 1500;
    for n in 0..TOTAL {
        assert_eq!(publish(a.publ, &ch, &format!("{{\"n\":{n}}}")).await, 200);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let kills = killer.await.unwrap();
    let mut got = Vec::new();
    read_until(&mut ws, &mut got, TOTAL as usize, 20).await;
    let got = ns(&got);
    let missing: Vec<u64> = (0..TOTAL).filter(|n| !got.contains(n)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert_eq!(got, (0..TOTAL).collect::<Vec<_>>(), "once each, in order");
    let redis_stat = server_stat(b.publ).await[0]["bxpush"]["redis"].clone();
    assert!(
        kills > 0 && redis_stat["outages"].as_u64().unwrap() > 0,
        "{redis_stat}"
    );
    eprintln!("catch-up: {kills} connections of B killed while A published {TOTAL}: {redis_stat}");
}
