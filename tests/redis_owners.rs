//! Several PHP owners on one real `redis-server` (issue 9 item 5): a worker lists them in
//! `bxpush.server` and fails over between them, and every item is applied exactly once
//! across owners because the per-origin marks live in Redis, moved in the same atomic
//! step as the item's write. Real `bxpush serve` nodes (the binary), the real worker
//! code (`Forwarder`, as the PHP extension runs it) and real WebSocket subscribers.

mod common;
mod fault_proxy;
mod ops_support;
mod redis_support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{get, ns, numbered, read_until, ws_connect, Channel, TempDir, Ws};
use fault_proxy::{Cut, Dir, FaultProxy, Mode};
use futures_util::StreamExt;
use ops_support::Bxpush;
use redis_support::RedisServer;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use bxpush::forward::link::Link;
use bxpush::forward::{spool, Forwarder, ForwarderConfig, Owners};
use bxpush::handoff::wire::{self, Frame};
use bxpush::handoff::{Item, PhpTarget, Query, Reply};
use bxpush::protocol::descriptor::sign_private_descriptor;
use bxpush::protocol::ChannelKey;
use bxpush::users;

/// A node of the cluster on `redis` that owns PHP workers at `php` (a socket path or
/// `IP:port`); `extra` is more TOML.
fn owner(redis: &RedisServer, php: &str, extra: &str) -> Bxpush {
    Bxpush::start(
        &format!(
            "store = \"redis://127.0.0.1:{}\"\nlisten_php = \"{php}\"\n{extra}",
            redis.port
        ),
        &[],
    )
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A worker handing items to `owners` (as `bxpush.server` lists them).
fn worker(owners: &str, spool: &Path) -> Arc<Forwarder> {
    let owners: Owners = owners.parse().expect("a valid owner list");
    let mut cfg = ForwarderConfig::new(owners, spool);
    cfg.signature_key = Some(ops_support::KEY.into());
    Arc::new(Forwarder::new(cfg))
}

fn item(ch: &Channel, n: u64) -> Item {
    Item::Publish {
        receivers: vec![ChannelKey::private(ch.private)],
        body: format!("{{\"n\":{n}}}").into(),
        expiry: 3600,
        kind: "im".into(),
    }
}

/// Flush off the runtime's threads (it blocks); panics unless everything was acked.
async fn flush_all(f: &Arc<Forwarder>, secs: u64) {
    let g = f.clone();
    let r = tokio::task::spawn_blocking(move || g.flush(Duration::from_secs(secs)))
        .await
        .unwrap();
    assert!(r.complete(), "not everything acknowledged: {r:?}");
}

/// Wait until the worker is connected to owner number `index` of its list.
async fn on_owner(f: &Arc<Forwarder>, index: usize) {
    common::eventually(15, async || f.stats().owner == Some(index)).await;
}

/// A subscriber on `node` for `ch`, registered there (what is released from now on
/// reaches it).
async fn subscriber(node: &Bxpush, ch: &Channel) -> Ws {
    let ws = ws_connect(node.sub, &format!("CHANNEL_ID={}", ch.descriptor())).await;
    common::wait_online(node.publ, ch).await;
    ws
}

/// `/server-stat/` `bxpush.ingress` of a node (its hand-off counters).
async fn ingress(publ: SocketAddr) -> serde_json::Value {
    let stat: Vec<serde_json::Value> =
        serde_json::from_str(&get(publ, "/server-stat/").await.text()).unwrap();
    stat[0]["bxpush"]["ingress"].clone()
}

/// A subscriber on `first` that moves to `second` with its last `mid` when the first
/// node dies, and reads until it has `total` messages (known once the worker is done).
async fn moving_subscriber(
    first: SocketAddr,
    second: SocketAddr,
    query: String,
    mut total: watch::Receiver<Option<usize>>,
) -> Vec<(String, u64)> {
    let mut got = Vec::new();
    let mut ws = ws_connect(first, &query).await;
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) => got.extend(numbered(&t)),
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    let (last_mid, _) = got.last().cloned().expect("messages before the kill");
    let mut ws = ws_connect(second, &format!("{query}&mid={last_mid}")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if total.borrow().is_some_and(|t| got.len() >= t) {
            break;
        }
        tokio::select! {
            r = tokio::time::timeout_at(deadline, ws.next()) => match r {
                Ok(Some(Ok(WsMessage::Text(t)))) => got.extend(numbered(&t)),
                Ok(Some(Ok(_))) => {}
                _ => break,
            },
            _ = total.changed() => {}
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_owner_is_killed_moves_to_the_next_and_nothing_is_lost_or_repeated() {
    const ITEMS: u64 = 1000;
    let redis = RedisServer::start();
    let dir = TempDir::new("owners-kill");
    let (sock_a, sock_b) = (dir.0.join("a.sock"), dir.0.join("b.sock"));
    let mut a = owner(&redis, &path(&sock_a), "");
    let b = owner(&redis, &path(&sock_b), "");
    let ch = Channel::random();
    let query = format!("CHANNEL_ID={}", ch.descriptor());
    let mut on_b = subscriber(&b, &ch).await;
    let (total_tx, total_rx) = watch::channel(None);
    let moving = tokio::spawn(moving_subscriber(a.sub, b.sub, query, total_rx));
    common::wait_online(a.publ, &ch).await;
    let f = worker(
        &format!("{},{}", path(&sock_a), path(&sock_b)),
        &dir.0.join("spool"),
    );
    // 1,000 items/s; A is killed with SIGKILL halfway, once it has acknowledged some
    // (so it really was the owner in use, with batches in flight).
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut failover = None;
    for n in 0..ITEMS {
        tick.tick().await;
        if n == ITEMS / 2 {
            common::eventually(10, async || f.stats().acked >= ITEMS / 4).await;
            assert_eq!(f.stats().owner, Some(0), "the first owner is used first");
            let killed = Instant::now();
            unsafe { libc::kill(a.pid() as i32, libc::SIGKILL) };
            let g = f.clone();
            failover = Some(tokio::spawn(async move {
                let acked = g.stats().acked;
                // Failed over: connected to B and acknowledged by it.
                while !(g.stats().owner == Some(1) && g.stats().acked > acked) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                killed.elapsed()
            }));
        }
        f.submit(item(&ch, n)).unwrap();
    }
    flush_all(&f, 15).await;
    let _ = a.child.wait();
    let took = tokio::time::timeout(Duration::from_secs(10), failover.unwrap())
        .await
        .expect("failed over")
        .unwrap();
    let want: Vec<u64> = (0..ITEMS).collect();
    let mut got = Vec::new();
    read_until(&mut on_b, &mut got, ITEMS as usize, 20).await;
    assert_eq!(ns(&got), want, "B's subscriber: each item once, in order");
    let _ = total_tx.send(Some(ITEMS as usize));
    let moved = moving.await.unwrap();
    assert_eq!(
        ns(&moved),
        want,
        "A's subscriber, resumed on B: each item once, in order"
    );
    let st = f.stats();
    assert_eq!((st.owner, st.failovers), (Some(1), 1), "{st:?}");
    let dups = ingress(b.publ).await["duplicates"].clone();
    eprintln!(
        "owner failover: {ITEMS} items at 1000/s, owner A killed (SIGKILL) halfway: 0 lost, 0 duplicated, in order on both subscribers; the worker was acknowledged by B {} ms after the kill ({dups} resent items skipped by B)",
        took.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_applied_by_an_owner_that_died_before_its_ack_is_not_applied_again_by_the_next() {
    let redis = RedisServer::start();
    let dir = TempDir::new("owners-lost-ack");
    let port_a = ops_support::free_port();
    let mut a = owner(&redis, &format!("127.0.0.1:{port_a}"), "");
    let sock_b = dir.0.join("b.sock");
    let b = owner(&redis, &path(&sock_b), "");
    // The worker reaches A through a proxy that can swallow A's acks.
    let proxy = FaultProxy::start(format!("127.0.0.1:{port_a}").parse().unwrap());
    let ch = Channel::random();
    let mut ws = subscriber(&b, &ch).await;
    let f = worker(
        &format!("{},{}", proxy.addr, path(&sock_b)),
        &dir.0.join("spool"),
    );
    f.submit(item(&ch, 1)).unwrap();
    flush_all(&f, 5).await;
    assert_eq!(f.stats().owner, Some(0));
    // A applies item 2 and acknowledges it, but the ack never reaches the worker.
    proxy.set(Dir::Down, Mode::Blackhole);
    f.submit(item(&ch, 2)).unwrap();
    let mut got = Vec::new();
    read_until(&mut ws, &mut got, 2, 10).await;
    assert_eq!(ns(&got), [1, 2], "A applied item 2");
    assert_eq!(f.stats().acked, 1, "its ack was lost");
    // A dies; the worker notices (its connection is reset) and moves to B, which must
    // know from Redis that item 2 is applied.
    unsafe { libc::kill(a.pid() as i32, libc::SIGKILL) };
    let _ = a.child.wait();
    proxy.cut(Cut::Rst);
    f.submit(item(&ch, 3)).unwrap();
    flush_all(&f, 10).await;
    assert_eq!(f.stats().owner, Some(1));
    read_until(&mut ws, &mut got, 3, 10).await;
    // A second copy of 2 would come before 3 (one worker's items keep their order).
    assert_eq!(ns(&got), [1, 2, 3], "item 2 once");
    assert_eq!(ingress(b.publ).await["applied"], 1, "B applied item 3 only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_resent_to_a_second_owner_after_the_first_applied_it_is_skipped_there() {
    // Two owners live at once for one origin: a worker gave up waiting on a stalled A
    // (ack timeout), said Hello to B before A's apply landed, and resends the batch to B.
    // B's Welcome said 0, so only the atomic check in Redis can stop the second apply.
    let redis = RedisServer::start();
    let dir = TempDir::new("owners-fence");
    let (sock_a, sock_b) = (dir.0.join("a.sock"), dir.0.join("b.sock"));
    let a = owner(&redis, &path(&sock_a), "");
    let b = owner(&redis, &path(&sock_b), "");
    let ch = Channel::random();
    let mut ws = subscriber(&b, &ch).await;
    let items: Vec<Vec<u8>> = (1..=3).map(|n| wire::encode_item(&item(&ch, n))).collect();
    let acks = tokio::task::spawn_blocking(move || {
        // Any fresh origin (a real worker takes 64 random bits from the OS).
        let origin = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        let stop = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(5);
        let connect = |sock: &Path| {
            let target = PhpTarget::Unix(sock.to_path_buf());
            Link::connect(&target, None, origin, deadline, deadline, &stop, None).unwrap()
        };
        let batch = |link: &mut Link, first: u64, items: &[Vec<u8>]| {
            let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
            link.send_body(wire::batch_body(origin, first, &refs), deadline)
                .unwrap();
            match link.recv(deadline).unwrap() {
                Frame::Ack { seq, .. } => seq,
                other => panic!("wanted an Ack, got {}", other.name()),
            }
        };
        let (mut to_b, welcome_b) = connect(&sock_b);
        let (mut to_a, _) = connect(&sock_a);
        let a_acked = batch(&mut to_a, 1, &items[..2]);
        let b_acked = batch(&mut to_b, 1, &items);
        (welcome_b, a_acked, b_acked)
    })
    .await
    .unwrap();
    assert_eq!(acks, (0, 2, 3), "(B's Welcome, A's ack, B's ack)");
    let mut got = Vec::new();
    read_until(&mut ws, &mut got, 3, 10).await;
    assert_eq!(ns(&got), [1, 2, 3], "items 1 and 2 once");
    let b_ingress = ingress(b.publ).await;
    assert_eq!(b_ingress["duplicates"], 2, "{b_ingress}");
    assert_eq!(b_ingress["applied"], 1, "{b_ingress}");
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_goes_a_b_a_neither_skips_nor_repeats() {
    let redis = RedisServer::start();
    let dir = TempDir::new("owners-aba");
    let (sock_a, sock_b) = (dir.0.join("a.sock"), dir.0.join("b.sock"));
    // A keeps its local marks in a data dir across its restart: they go stale while the
    // worker is on B.
    let data_a = dir.0.join("data-a");
    let a_toml = format!("data_dir = \"{}\"", path(&data_a));
    let mut a = owner(&redis, &path(&sock_a), &a_toml);
    let mut b = owner(&redis, &path(&sock_b), "");
    let c = owner(&redis, &path(&dir.0.join("c.sock")), "");
    let ch = Channel::random();
    let mut ws = subscriber(&c, &ch).await;
    let spool_dir = dir.0.join("spool");
    let f = worker(&format!("{},{}", path(&sock_a), path(&sock_b)), &spool_dir);
    for n in 1..=100 {
        f.submit(item(&ch, n)).unwrap();
    }
    flush_all(&f, 10).await;
    assert_eq!(f.stats().owner, Some(0));
    a.stop(); // A writes its marks (100) and goes.
    for n in 101..=200 {
        f.submit(item(&ch, n)).unwrap();
    }
    flush_all(&f, 10).await;
    assert_eq!(f.stats().owner, Some(1));
    // A comes back with its stale mark; B goes: the worker returns to A.
    let a = owner(&redis, &path(&sock_a), &a_toml);
    b.stop();
    // A copy of items 151..=200 left in the spool (a flush that timed out while B's acks
    // were on their way): replayed to A, whose own mark says 100.
    let stale: Vec<Vec<u8>> = (151..=200)
        .map(|n| wire::encode_item(&item(&ch, n)))
        .collect();
    let refs: Vec<&[u8]> = stale.iter().map(Vec::as_slice).collect();
    spool::write(&spool_dir, f.origin(), 151, &refs).unwrap();
    for n in 201..=300 {
        f.submit(item(&ch, n)).unwrap();
    }
    flush_all(&f, 15).await;
    let st = f.stats();
    assert_eq!((st.owner, st.failovers), (Some(0), 2), "{st:?}");
    assert!(
        spool::list(&spool_dir).unwrap().is_empty(),
        "spool replayed"
    );
    let mut got = Vec::new();
    read_until(&mut ws, &mut got, 300, 20).await;
    assert_eq!(
        ns(&got),
        (1..=300).collect::<Vec<_>>(),
        "each item once, in order"
    );
    let a_ingress = ingress(a.publ).await;
    assert_eq!(a_ingress["applied"], 100, "{a_ingress}");
    assert_eq!(a_ingress["duplicates"], 50, "{a_ingress}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_list_is_checked_used_in_order_and_a_working_owner_is_kept() {
    // A bad entry is refused with the fix.
    let e = "/run/a.sock,,10.0.0.2:9011".parse::<Owners>().unwrap_err();
    assert!(
        e.contains("entry 2") && e.contains("separate owners by exactly one comma"),
        "{e}"
    );
    let e = "/run/a.sock,localhost:9011".parse::<Owners>().unwrap_err();
    assert!(e.contains("entry 2") && e.contains("IP address"), "{e}");
    let e = "/run/a.sock,unix:/run/a.sock"
        .parse::<Owners>()
        .unwrap_err();
    assert!(e.contains("list each owner once"), "{e}");

    let redis = RedisServer::start();
    let dir = TempDir::new("owners-order");
    let (sock_a, sock_b) = (dir.0.join("a.sock"), dir.0.join("b.sock"));
    let mut a = owner(&redis, &path(&sock_a), "");
    let b = owner(&redis, &path(&sock_b), "");
    let ch = Channel::random();
    let spool = dir.0.join("spool");
    // The list's order decides: B first.
    let f = worker(&format!("{},{}", path(&sock_b), path(&sock_a)), &spool);
    f.submit(item(&ch, 1)).unwrap();
    flush_all(&f, 5).await;
    assert_eq!(f.stats().owner, Some(0));
    assert_eq!(ingress(b.publ).await["applied"], 1);
    assert_eq!(ingress(a.publ).await["applied"], 0);
    // An owner that is not there is passed over.
    let nowhere = path(&dir.0.join("nowhere.sock"));
    let f = worker(&format!("{nowhere},{}", path(&sock_a)), &spool);
    f.submit(item(&ch, 2)).unwrap();
    flush_all(&f, 5).await;
    assert_eq!(f.stats().owner, Some(1));
    assert_eq!(ingress(a.publ).await["applied"], 1);
    // A worker on A moves to B when A stops, and stays there when A is back.
    let f = worker(&format!("{},{}", path(&sock_a), path(&sock_b)), &spool);
    f.submit(item(&ch, 3)).unwrap();
    flush_all(&f, 5).await;
    assert_eq!(f.stats().owner, Some(0));
    a.stop();
    f.submit(item(&ch, 4)).unwrap();
    flush_all(&f, 5).await;
    on_owner(&f, 1).await;
    let a = owner(&redis, &path(&sock_a), "");
    for n in 5..=20 {
        f.submit(item(&ch, n)).unwrap();
        flush_all(&f, 5).await;
    }
    let st = f.stats();
    assert_eq!((st.owner, st.failovers), (Some(1), 1), "{st:?}");
    assert_eq!(
        ingress(a.publ).await["applied"],
        0,
        "no ping-pong back to A"
    );
}

/// A subscriber on `node` to `user`'s derived private channel (where a `PublishToTags`
/// for that user's watches goes).
async fn user_subscriber(node: &Bxpush, user: i64) -> Ws {
    let now = bxpush::hub::now_unix();
    let uc = users::user_channels(ops_support::KEY.as_bytes(), user, now);
    let d = sign_private_descriptor(&common::signer(), &uc.private, uc.public.as_ref());
    let ws = ws_connect(node.sub, &format!("CHANNEL_ID={}", common::enc(&d))).await;
    let ch = Channel {
        private: uc.private,
        public: uc.public.unwrap(),
    };
    common::wait_online(node.publ, &ch).await;
    ws
}

/// The `text` of the numbered envelopes of the next frames, until `want` arrived.
async fn texts(ws: &mut Ws, want: usize) -> Vec<u64> {
    let mut got = Vec::new();
    read_until(ws, &mut got, want, 10).await;
    ns(&got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_added_through_one_owner_routes_a_tag_publish_sent_to_another() {
    let redis = RedisServer::start();
    let dir = TempDir::new("owners-watch");
    let (sock_a, sock_b) = (dir.0.join("a.sock"), dir.0.join("b.sock"));
    let a = owner(&redis, &path(&sock_a), "");
    let b = owner(&redis, &path(&sock_b), "");
    let mut u7 = user_subscriber(&b, 7).await;
    let mut u8 = user_subscriber(&a, 8).await;
    let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let to_tags = |n: u64, skip: Vec<i64>| Item::PublishToTags {
        tags: tags(&["IM_CHAT_1"]),
        skip_users: skip,
        body: format!("{{\"n\":{n}}}").into(),
        expiry: 3600,
        kind: "im".into(),
    };
    let spool = dir.0.join("spool");
    let on_a = worker(&path(&sock_a), &spool);
    let on_b = worker(&path(&sock_b), &spool);
    on_a.submit(Item::WatchAdd {
        user_id: 7,
        tags: tags(&["IM_CHAT_1", "OTHER"]),
        ttl: 1920,
    })
    .unwrap();
    on_a.submit(Item::WatchAdd {
        user_id: 8,
        tags: tags(&["IM_CHAT_1"]),
        ttl: 1920,
    })
    .unwrap();
    flush_all(&on_a, 5).await;
    // Sent to B, which never saw the watches: both users get it, on either node.
    on_b.submit(to_tags(1, vec![])).unwrap();
    on_b.submit(to_tags(2, vec![8])).unwrap();
    flush_all(&on_b, 5).await;
    assert_eq!(texts(&mut u7, 2).await, [1, 2]);
    assert_eq!(texts(&mut u8, 1).await, [1]);
    // Either owner answers who watches.
    let ask = |sock: &Path| {
        let target = PhpTarget::Unix(sock.to_path_buf());
        let q = Query::WatchUsers(tags(&["IM_CHAT_1", "OTHER"]));
        bxpush::forward::query(&target, None, q, Duration::from_secs(2)).unwrap()
    };
    assert_eq!(ask(&sock_b), Reply::Users(vec![7, 8]));
    // A delete through B is seen by A.
    on_b.submit(Item::WatchDelete {
        user_id: 8,
        tag: None,
    })
    .unwrap();
    on_b.submit(Item::WatchDelete {
        user_id: 7,
        tag: Some("OTHER".into()),
    })
    .unwrap();
    flush_all(&on_b, 5).await;
    assert_eq!(ask(&sock_a), Reply::Users(vec![7]));
    on_a.submit(to_tags(3, vec![])).unwrap();
    flush_all(&on_a, 5).await;
    assert_eq!(texts(&mut u7, 1).await, [3]);
    // u8 got nothing after 1: the next thing it sees is a plain publish to it.
    let uc8 = users::user_channels(ops_support::KEY.as_bytes(), 8, bxpush::hub::now_unix());
    on_a.submit(Item::Publish {
        receivers: vec![ChannelKey::private(uc8.private)],
        body: "{\"n\":4}".into(),
        expiry: 3600,
        kind: "im".into(),
    })
    .unwrap();
    flush_all(&on_a, 5).await;
    assert_eq!(texts(&mut u8, 1).await, [4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_pairs_in_redis_expire_and_are_bounded_dropping_those_expiring_first() {
    use bxpush::store::redis::{watches, RedisConn};
    let redis = RedisServer::start();
    let mut conn = RedisConn::connect(&redis.url()).await.unwrap();
    let now = bxpush::hub::now_unix();
    let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // User 1 watches A until now+10, user 2 until now+20, user 3 until now+30 (and B).
    for (user, ttl) in [(1, 10), (2, 20), (3, 30)] {
        conn.multi(&watches::add_commands(user, &tags(&["A"]), now + ttl))
            .await
            .unwrap();
    }
    conn.multi(&watches::add_commands(3, &tags(&["B"]), now + 30))
        .await
        .unwrap();
    assert_eq!(
        conn.watch_users(&tags(&["A"]), now).await.unwrap(),
        [1, 2, 3]
    );
    // Expired pairs are invisible at once, and trimmed.
    assert_eq!(
        conn.watch_users(&tags(&["A"]), now + 10).await.unwrap(),
        [2, 3]
    );
    assert_eq!(conn.trim_watches(now + 10, 100).await.unwrap(), (0, 3));
    // Past the bound, the pairs expiring first go (from every key).
    assert_eq!(conn.trim_watches(now, 2).await.unwrap(), (1, 2));
    assert_eq!(conn.watch_users(&tags(&["A"]), now).await.unwrap(), [3]);
    assert_eq!(conn.watched_tags(2).await.unwrap(), Vec::<String>::new());
    let mut left = conn.watched_tags(3).await.unwrap();
    left.sort();
    assert_eq!(left, ["A", "B"]);
    // A re-add sets the pair's expiry, as the in-memory registry does (the keys' own
    // expiry only ever moves later, so it never cuts another user's longer watch).
    conn.multi(&watches::add_commands(3, &tags(&["A"]), now + 5))
        .await
        .unwrap();
    assert_eq!(
        conn.watch_users(&tags(&["A"]), now + 6).await.unwrap(),
        Vec::<i64>::new()
    );
    conn.multi(&watches::delete_commands(3, &tags(&["A", "B"])))
        .await
        .unwrap();
    assert_eq!(conn.trim_watches(now, 100).await.unwrap(), (0, 0));
}
