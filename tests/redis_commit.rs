//! The group commit of the Redis engine (DESIGN.md "Several nodes", "Group commit")
//! against a real `redis-server` and real nodes: many concurrent publishers on one node
//! share batches, and subscribers on every node still get each message once, in id
//! order, with consecutive ids; a Redis killed while batches are in flight leaves every
//! publisher either answered OK with its message kept, or refused with it nowhere.

mod common;
mod ops_support;
mod redis_support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use common::{envelopes, get, ws_connect, Channel, Ws};
use futures_util::StreamExt;
use ops_support::{Bxpush, Scratch};
use redis_support::RedisServer;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use bytes::Bytes;
use redis::AsyncCommands;

use bxpush::message::{Message, Sender};
use bxpush::protocol::{ChannelId, ChannelKey, MessageId};
use bxpush::store::redis::conn::{publish_commands, BatchItem, Fenced};
use bxpush::store::redis::{layout, RedisConn};

const THREADS: u64 = 32;
const EACH: u64 = 200;

fn node(redis_port: u16) -> Bxpush {
    // A subscriber queue that holds a whole run: the test reads as fast as it can, but
    // a 2-CPU machine under load must not turn it into a slow reader that is cut.
    Bxpush::start(
        &format!("store = \"redis://127.0.0.1:{redis_port}\"\nmax_queue_per_connection = 100000"),
        &[],
    )
}

/// One publish of `{"n":N}` to `c` over its own connection (as a PHP worker does);
/// the HTTP status (0: no answer).
fn publish(publ: SocketAddr, c: &Channel, n: u64) -> u16 {
    let path = format!("/bitrix/pub/?CHANNEL_ID={}", c.private.to_hex());
    ops_support::request(
        publ,
        "POST",
        &path,
        "Message-Expiry: 3600\r\n",
        &format!("{{\"n\":{n}}}"),
    )
    .status
}

/// `THREADS` threads × `EACH` publishes, each thread its own numbers in order; `ok`
/// counts the answers 200 as they come. The status of every number.
async fn publish_concurrently(
    publ: SocketAddr,
    c: Channel,
    ok: Arc<AtomicU64>,
) -> HashMap<u64, u16> {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (c, ok) = (c.clone(), ok.clone());
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let n = t * EACH + i;
                        let status = publish(publ, &c, n);
                        if status == 200 {
                            ok.fetch_add(1, Ordering::Relaxed);
                        } else {
                            // A refused publisher backs off before its next message,
                            // as the PHP forwarder does, rather than spending its
                            // numbers on an outage in a few milliseconds.
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        (n, status)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    })
    .await
    .unwrap()
}

/// Read a subscriber until `want` messages or `secs`; (mid, n) of each, as received.
async fn read(ws: &mut Ws, want: usize, secs: u64) -> Vec<(MessageId, u64)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut got = Vec::new();
    while got.len() < want {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => {
                for e in envelopes(&t) {
                    let mid = MessageId::parse(e["mid"].as_str().unwrap()).unwrap();
                    got.push((mid, e["text"]["n"].as_u64().unwrap()));
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    got
}

/// A subscriber on `node` that reads (in a task) until the target sent on the returned
/// channel (known once the publishers are done) is reached, or nothing came for 20 s.
async fn subscriber(
    node: &Bxpush,
    c: &Channel,
) -> (
    watch::Sender<usize>,
    tokio::task::JoinHandle<Vec<(MessageId, u64)>>,
) {
    let mut ws = ws_connect(node.sub, &format!("CHANNEL_ID={}", c.descriptor())).await;
    common::wait_online(node.publ, c).await;
    let (target, mut want) = watch::channel(0usize);
    let task = tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            let target = *want.borrow_and_update();
            if target > 0 && got.len() >= target {
                return got;
            }
            tokio::select! {
                changed = want.changed() => {
                    if changed.is_err() {
                        return got;
                    }
                }
                // Returns as soon as one frame brought messages: nothing is lost when
                // the target's change wins the race.
                more = read(&mut ws, 1, 20) => {
                    if more.is_empty() {
                        return got;
                    }
                    got.extend(more);
                }
            }
        }
    });
    (target, task)
}

/// Each message once, in strictly increasing id order.
fn assert_once_in_order(got: &[(MessageId, u64)], who: &str) {
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0),
        "{who}: ids not strictly increasing"
    );
    let distinct: HashSet<u64> = got.iter().map(|&(_, n)| n).collect();
    assert_eq!(distinct.len(), got.len(), "{who}: a message came twice");
}

async fn redis_stat(publ: SocketAddr) -> serde_json::Value {
    let stat: Vec<serde_json::Value> =
        serde_json::from_str(&get(publ, "/server-stat/").await.text()).unwrap();
    stat[0]["bxpush"]["redis"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_share_batches_and_every_node_gets_consecutive_ids_once() {
    let redis = RedisServer::start();
    let (a, b) = (node(redis.port), node(redis.port));
    let ch = Channel::random();
    let (want_a, on_a) = subscriber(&a, &ch).await;
    let (want_b, on_b) = subscriber(&b, &ch).await;

    let statuses = publish_concurrently(a.publ, ch.clone(), Arc::new(AtomicU64::new(0))).await;
    let total = (THREADS * EACH) as usize;
    assert!(
        statuses.values().all(|&s| s == 200),
        "every publish answered 200"
    );
    want_a.send(total).unwrap();
    want_b.send(total).unwrap();

    let mut orders = Vec::new();
    for (who, sub) in [("node A", on_a), ("node B", on_b)] {
        let got = sub.await.unwrap();
        assert_eq!(got.len(), total, "{who}: every message");
        assert_once_in_order(&got, who);
        // Consecutive ids: one counter, no id burnt.
        assert!(
            got.windows(2)
                .all(|w| w[1].0.counter() == w[0].0.counter() + 1),
            "{who}: a gap in the ids"
        );
        // Each publisher's messages in the order it published them.
        for t in 0..THREADS {
            let mine: Vec<u64> = got
                .iter()
                .map(|&(_, n)| n)
                .filter(|n| n / EACH == t)
                .collect();
            assert_eq!(mine, (t * EACH..(t + 1) * EACH).collect::<Vec<_>>());
        }
        orders.push(got);
    }
    assert_eq!(orders[0], orders[1], "one order on both nodes");
    // They shared round trips: fewer commits than messages.
    let stat = redis_stat(a.publ).await;
    let (commits, committed) = (
        stat["commits"].as_u64().unwrap(),
        stat["committed"].as_u64().unwrap(),
    );
    // The subscriptions' warm-up publishes nothing: every committed message is ours.
    assert_eq!(committed, total as u64);
    assert!(
        commits < committed && stat["largestCommit"].as_u64().unwrap() > 1,
        "no batch of more than one message: {stat}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_killed_mid_batch_leaves_each_publish_kept_once_or_refused_and_nowhere() {
    // Redis with its data on disk, so that what it acknowledged survives the kill: the
    // AOF is written before any reply (and `always` never postpones that write).
    let dir = Scratch::new("aof");
    let dir_arg = dir.0.to_string_lossy().into_owned();
    let aof = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        dir_arg.as_str(),
    ];
    let port = RedisServer::free_port();
    let redis = RedisServer::start_with(port, &aof);
    let (a, b) = (node(port), node(port));
    let ch = Channel::random();
    let (want_b, on_b) = subscriber(&b, &ch).await;

    let ok = Arc::new(AtomicU64::new(0));
    let publishing = tokio::spawn(publish_concurrently(a.publ, ch.clone(), ok.clone()));
    // Killed three times while the 32 publishers keep batches in flight (each time
    // after 800 more were accepted), started again at once on its data. A kill lands
    // between a batch's AOF write and its reply often, not every time.
    let mut kills = 0;
    let mut redis = Some(redis);
    let mut next = 800;
    while kills < 3 && !publishing.is_finished() {
        if ok.load(Ordering::Relaxed) < next {
            tokio::task::yield_now().await;
            continue;
        }
        let mut old = redis.take().unwrap();
        old.kill();
        drop(old);
        redis = Some(RedisServer::start_with(port, &aof));
        kills += 1;
        next = ok.load(Ordering::Relaxed) + 800;
    }
    let redis = redis.unwrap();
    assert!(kills > 0, "the publishers ended before the first kill");
    let statuses = publishing.await.unwrap();

    let accepted: HashSet<u64> = statuses
        .iter()
        .filter(|&(_, &s)| s == 200)
        .map(|(&n, _)| n)
        .collect();
    let refused = statuses.len() - accepted.len();
    assert!(refused > 0, "the kills refused nothing");
    assert!(
        statuses.values().all(|&s| s == 200 || s == 503),
        "only 200 or 503"
    );

    // In Redis: every accepted message once, no refused one.
    let key = ChannelKey::private(ch.private);
    // Started again on its AOF (loaded before it said it was ready), and every
    // publisher answered: what is stored now is final.
    let mut conn = RedisConn::connect(&redis.url()).await.unwrap();
    let history = conn
        .history_after(&[key], &MessageId([0; 13]))
        .await
        .unwrap();
    let kept: Vec<u64> = history
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
            v["n"].as_u64().unwrap()
        })
        .collect();
    let kept_set: HashSet<u64> = kept.iter().copied().collect();
    assert_eq!(kept_set.len(), kept.len(), "a message stored twice");
    let lost: Vec<_> = accepted.difference(&kept_set).collect();
    let ghosts: Vec<_> = kept_set.difference(&accepted).collect();
    assert!(lost.is_empty(), "answered 200 but not stored: {lost:?}");
    assert!(ghosts.is_empty(), "answered 503 but stored: {ghosts:?}");

    // On the other node: each accepted message once, in id order (live, or read back
    // after its reconnection), and none of the refused ones.
    want_b.send(accepted.len()).unwrap();
    let got = on_b.await.unwrap();
    assert_once_in_order(&got, "node B");
    let got_set: HashSet<u64> = got.iter().map(|&(_, n)| n).collect();
    assert_eq!(
        got_set, accepted,
        "node B delivered exactly the accepted messages"
    );
}

/// One `MULTI` for three messages, the second a hand-off item whose origin's mark another
/// owner already moved past it: that item alone is refused (its writes skipped), the
/// others are stored and their marks move; a command Redis refuses fails its own item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refuses_only_the_item_its_mark_or_redis_refuses() {
    const NOW: u32 = 1_700_000_000;
    let redis = RedisServer::start();
    let mut conn = RedisConn::connect(&redis.url()).await.unwrap();
    let mut other = redis_support::raw(&redis).await;
    let _: () = other.set(layout::handoff_mark_key(7), "5").await.unwrap();
    let ch = ChannelKey::private(ChannelId([9; 16]));
    let batch =
        async |conn: &mut RedisConn, marks: [Option<(u64, u64)>; 3], to: [ChannelKey; 3]| {
            let mids = conn.allocate_mids(NOW, 3).await.unwrap();
            assert!(mids
                .windows(2)
                .all(|w| w[1].counter() == w[0].counter() + 1));
            let items: Vec<BatchItem> = mids
                .iter()
                .zip(marks)
                .zip(to)
                .enumerate()
                .map(|(i, ((mid, mark), key))| {
                    let body = Bytes::from(format!("{{\"n\":{}}}", mid.counter() * 10 + i as u64));
                    let msg = Message::new(
                        *mid,
                        vec![key],
                        body,
                        60,
                        NOW as u64 * 1000,
                        Sender::Backend,
                    );
                    BatchItem {
                        commands: publish_commands(&msg, "bxnode01"),
                        mark,
                    }
                })
                .collect();
            conn.store_and_publish_batch(&items).await.unwrap()
        };
    let got = batch(&mut conn, [None, Some((7, 5)), Some((8, 1))], [ch; 3]).await;
    assert!(matches!(got[0], Ok(Fenced::Applied)));
    assert!(matches!(got[1], Ok(Fenced::AlreadyAt(5))));
    assert!(matches!(got[2], Ok(Fenced::Applied)));
    let n = |m: &bxpush::message::Message| {
        serde_json::from_slice::<serde_json::Value>(&m.body).unwrap()["n"]
            .as_u64()
            .unwrap()
    };
    let stored: Vec<u64> = conn
        .history_after(&[ch], &MessageId([0; 13]))
        .await
        .unwrap()
        .iter()
        .map(n)
        .collect();
    assert_eq!(
        stored,
        [10, 32],
        "the first and the third, not the refused one"
    );
    assert_eq!(conn.handoff_mark(7).await.unwrap(), 5);
    assert_eq!(conn.handoff_mark(8).await.unwrap(), 1);

    // A channel whose history key holds a string: that item's ZADD is refused.
    let broken = ChannelKey::private(ChannelId([4; 16]));
    let _: () = other
        .set(layout::history_key(&broken), "not a zset")
        .await
        .unwrap();
    let got = batch(&mut conn, [None, None, Some((8, 2))], [ch, broken, ch]).await;
    assert!(matches!(got[0], Ok(Fenced::Applied)));
    assert!(got[1]
        .as_ref()
        .is_err_and(|e| e.code() == Some("WRONGTYPE")));
    assert!(matches!(got[2], Ok(Fenced::Applied)));
    assert_eq!(conn.handoff_mark(8).await.unwrap(), 2);
}
