//! The PHP hand-off over real sockets and threads: forwarders (as PHP-FPM workers run them)
//! → the owner's `listen_php` socket → subscribers; spooling while the owner is down and
//! replay in order; exactly-once across a lost ack and an owner restart; bounded flush;
//! tag watches; queries.
mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bxpush::config::Config;
use bxpush::forward::link::Link;
use bxpush::forward::{spool, Forwarder, ForwarderConfig};
use bxpush::handoff::wire::{self, ErrorCode, Frame, Role, Session};
use bxpush::handoff::{Item, PhpTarget, Query, Reply};
use bxpush::protocol::descriptor::sign_private_descriptor;
use bxpush::protocol::{ChannelId, ChannelKey};
use bxpush::runtime::Background;
use bxpush::users;
use bytes::Bytes;
use common::{
    enc, envelopes, php_body, signer, test_config, ws_connect, Channel, SmallDisk, TempDir, Ws, KEY,
};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn owner_config(data: &Path, php: PhpTarget) -> Config {
    let mut c = test_config();
    c.data_dir = Some(data.to_path_buf());
    c.listen_php = Some(php);
    c
}

fn start_owner(data: &Path, php: PhpTarget) -> Background {
    Background::start(owner_config(data, php)).expect("owner starts")
}

fn unix(dir: &TempDir, name: &str) -> PhpTarget {
    PhpTarget::Unix(dir.0.join(name))
}

fn fwd_config(target: PhpTarget, spool: &Path) -> ForwarderConfig {
    let mut c = ForwarderConfig::new(target, spool);
    c.signature_key = Some(KEY.into());
    c.connect_timeout = Duration::from_millis(200);
    c
}

fn publish(key: ChannelKey, text: &str) -> Item {
    Item::Publish {
        receivers: vec![key],
        body: Bytes::from(php_body("message", text)),
        expiry: 3600,
        kind: "im".into(),
    }
}

/// A WebSocket subscriber driven by its own small runtime (the test thread stays sync, as
/// a PHP worker's would).
struct Sub {
    rt: tokio::runtime::Runtime,
    ws: Ws,
    key: ChannelKey,
}

impl Sub {
    fn connect(bg: &Background, descriptor: &str, key: ChannelKey) -> Sub {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let q = format!("CHANNEL_ID={}&revision=19", enc(descriptor));
        let ws = rt.block_on(ws_connect(bg.sub_addr(), &q));
        wait_until(5, || {
            bg.query(Query::ChannelStats(vec![key])) == Reply::ChannelStats(vec![true])
        });
        Sub { rt, ws, key }
    }

    fn channel(bg: &Background, c: &Channel) -> Sub {
        Sub::connect(bg, &c.descriptor(), ChannelKey::private(c.private))
    }

    /// The `params.text` of the next `n` messages, in arrival order.
    fn texts(&mut self, n: usize, secs: u64) -> Vec<String> {
        let ws = &mut self.ws;
        self.rt.block_on(async {
            let mut out = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
            while out.len() < n {
                let m = tokio::time::timeout_at(deadline, ws.next())
                    .await
                    .unwrap_or_else(|_| panic!("only {} of {n} messages: {out:?}", out.len()));
                match m {
                    Some(Ok(WsMessage::Text(t))) => {
                        for e in envelopes(t.as_str()) {
                            out.push(e["text"]["params"]["text"].as_str().unwrap().to_string());
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("websocket ended: {other:?}"),
                }
            }
            out
        })
    }

    /// Assert that nothing else reaches this subscriber before a sentinel: the sentinel is
    /// applied in the owner after everything applied so far, and one channel's messages
    /// arrive in the order they were applied, so anything delivered before it (a
    /// duplicate, a message for someone else) is seen first, however slow the machine.
    fn nothing_before_sentinel(&mut self, bg: &Background, what: &str) {
        bg.apply(publish(self.key, "sentinel")).unwrap();
        assert_eq!(self.texts(1, 5), ["sentinel"], "{what}");
    }
}

fn wait_until(secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("condition not reached in {secs} s");
}

fn ingress_stats(bg: &Background) -> serde_json::Value {
    match bg.query(Query::ServerStats) {
        Reply::ServerStats(json) => {
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            v["bxpush"]["ingress"].clone()
        }
        other => panic!("{other:?}"),
    }
}

fn spool_count(dir: &Path) -> usize {
    spool::list(dir)
        .unwrap()
        .iter()
        .map(|n| spool::read(&dir.join(n)).unwrap().items.len())
        .sum()
}

fn texts(prefix: &str, r: std::ops::Range<usize>) -> Vec<String> {
    r.map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn unix_socket_delivers_in_order_and_acks() {
    let dir = TempDir::new("ho-unix");
    let target = unix(&dir, "php.sock");
    let bg = start_owner(&dir.0.join("data"), target.clone());
    assert_eq!(bg.php_target(), Some(&target));
    let c = Channel::random();
    let mut sub = Sub::channel(&bg, &c);
    let f = Forwarder::new(fwd_config(target, &dir.0.join("spool")));
    for t in texts("u", 0..50) {
        f.submit(publish(ChannelKey::private(c.private), &t))
            .unwrap();
    }
    let r = f.flush(Duration::from_secs(5));
    assert_eq!((r.acked, r.spooled), (50, 0), "{r:?}");
    assert!(r.complete());
    assert_eq!(sub.texts(50, 5), texts("u", 0..50));
    let st = f.stats();
    assert_eq!((st.submitted, st.acked, st.queued), (50, 50, 0));
    assert!(st.connected);
    assert_eq!(st.pid, std::process::id());
    assert_eq!(ingress_stats(&bg)["applied"], 50);
    let s = f.shutdown(Duration::from_secs(1));
    assert_eq!(s.spooled, 0);
    bg.stop(Duration::from_millis(200)).unwrap();
    // The socket file is removed at shutdown.
    assert!(!dir.0.join("php.sock").exists());
}

#[test]
fn tcp_delivers_with_the_key_and_refuses_a_wrong_one() {
    let dir = TempDir::new("ho-tcp");
    let bg = start_owner(
        &dir.0.join("data"),
        PhpTarget::Tcp("127.0.0.1:0".parse().unwrap()),
    );
    let target = bg.php_target().unwrap().clone();
    let PhpTarget::Tcp(addr) = target else {
        panic!("tcp")
    };
    assert_ne!(addr.port(), 0);
    let c = Channel::random();
    let mut sub = Sub::channel(&bg, &c);
    let f = Forwarder::new(fwd_config(target.clone(), &dir.0.join("spool")));
    for t in texts("t", 0..5) {
        f.submit(publish(ChannelKey::private(c.private), &t))
            .unwrap();
    }
    assert_eq!(f.flush(Duration::from_secs(5)).acked, 5);
    assert_eq!(sub.texts(5, 5), texts("t", 0..5));

    // A wrong key: refused with an error that names the fix, nothing applied.
    let e = bxpush::forward::query(
        &target,
        Some("wrong-key"),
        Query::ServerStats,
        Duration::from_secs(2),
    )
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("signature key"), "{e}");
    let mut bad = fwd_config(target.clone(), &dir.0.join("spool-bad"));
    bad.signature_key = Some("wrong-key".into());
    let fb = Forwarder::new(bad);
    fb.submit(publish(ChannelKey::private(c.private), "never"))
        .unwrap();
    let r = fb.flush(Duration::from_millis(300));
    assert_eq!((r.acked, r.spooled), (0, 1));
    assert!(fb.last_error().unwrap().contains("signature key"));
    assert!(!fb.stats().connected);
    fb.shutdown(Duration::ZERO);
    // No key at all over TCP: refused before connecting.
    let e = bxpush::forward::query(&target, None, Query::ServerStats, Duration::from_secs(1))
        .unwrap_err();
    assert!(e.to_string().contains("signature_key"), "{e}");
    sub.nothing_before_sentinel(&bg, "a refused worker's item was applied");
    assert!(ingress_stats(&bg)["refused"].as_u64().unwrap() >= 2);
    f.shutdown(Duration::from_secs(1));
    bg.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn owner_down_spools_then_another_worker_replays_in_order_first() {
    let dir = TempDir::new("ho-spool");
    let target = unix(&dir, "php.sock");
    let spool_dir = dir.0.join("spool");
    let c = Channel::random();
    let key = ChannelKey::private(c.private);

    // Worker A: the owner is not running.
    let a = Forwarder::new(fwd_config(target.clone(), &spool_dir));
    for t in texts("m", 0..5) {
        a.submit(publish(key, &t)).unwrap();
    }
    let started = Instant::now();
    let r = a.flush(Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_millis(800));
    assert_eq!((r.acked, r.spooled), (0, 5));
    // More after the flush, then the worker ends (MSHUTDOWN).
    for t in texts("m", 5..8) {
        a.submit(publish(key, &t)).unwrap();
    }
    assert_eq!(a.shutdown(Duration::from_millis(100)).spooled, 3);
    assert_eq!(a.stats().spooled, 8);
    assert_eq!(spool_count(&spool_dir), 8);
    drop(a);

    // A torn file (first in replay order) is set aside, not a reason to stop.
    let torn = spool_dir.join(spool::file_name(1, 1, 1, 1));
    std::fs::write(&torn, b"BXSP\x00\x01 torn").unwrap();

    // The owner comes back; worker B (another process in production) sends its own.
    let bg = start_owner(&dir.0.join("data"), target.clone());
    let mut sub = Sub::channel(&bg, &c);
    let b = Forwarder::new(fwd_config(target, &spool_dir));
    for t in texts("m", 8..12) {
        b.submit(publish(key, &t)).unwrap();
    }
    let r = b.flush(Duration::from_secs(5));
    assert_eq!((r.acked, r.spooled), (4, 0));
    assert_eq!(sub.texts(12, 5), texts("m", 0..12));
    assert_eq!(b.stats().replayed, 8);
    assert!(spool::list(&spool_dir).unwrap().is_empty());
    assert!(spool_dir
        .join(format!(
            "{}.bad",
            torn.file_name().unwrap().to_str().unwrap()
        ))
        .exists());
    assert!(b.last_error().unwrap().contains("spool file"));
    b.shutdown(Duration::from_secs(1));
    bg.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn full_queue_spools_from_submit_and_nothing_is_lost() {
    let dir = TempDir::new("ho-full");
    let target = unix(&dir, "php.sock");
    let spool_dir = dir.0.join("spool");
    let c = Channel::random();
    let key = ChannelKey::private(c.private);
    let mut cfg = fwd_config(target.clone(), &spool_dir);
    cfg.queue_items = 5;
    let a = Forwarder::new(cfg);
    for t in texts("q", 0..12) {
        a.submit(publish(key, &t)).unwrap();
    }
    // Items 1-6 and 7-12 went to disk from submit (queue + the item, in order).
    assert_eq!(a.stats().spooled, 12);
    assert_eq!(a.stats().queued, 0);
    assert_eq!(spool::list(&spool_dir).unwrap().len(), 2);
    assert_eq!(spool_count(&spool_dir), 12);
    // The byte bound too.
    let mut cfg = fwd_config(target.clone(), &spool_dir);
    cfg.queue_bytes = 1;
    let small = Forwarder::new(cfg);
    small.submit(publish(key, "q12")).unwrap();
    assert_eq!(small.stats().spooled, 1);
    small.shutdown(Duration::ZERO);
    a.shutdown(Duration::ZERO);

    let bg = start_owner(&dir.0.join("data"), target.clone());
    let mut sub = Sub::channel(&bg, &c);
    let b = Forwarder::new(fwd_config(target, &spool_dir));
    b.submit(publish(key, "q13")).unwrap();
    assert_eq!(b.flush(Duration::from_secs(5)).acked, 1);
    assert_eq!(sub.texts(14, 5), texts("q", 0..14));
    b.shutdown(Duration::from_secs(1));
    bg.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn flush_is_bounded_when_the_owner_is_unreachable_or_silent() {
    let dir = TempDir::new("ho-bound");
    let key = ChannelKey::private(ChannelId([1; 16]));
    // Nobody listens at the path.
    let f = Forwarder::new(fwd_config(unix(&dir, "none.sock"), &dir.0.join("s1")));
    f.submit(publish(key, "x")).unwrap();
    let timeout = Duration::from_millis(250);
    let t = Instant::now();
    let r = f.flush(timeout);
    assert!(
        t.elapsed() < timeout + Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(t.elapsed() >= timeout - Duration::from_millis(10));
    assert_eq!(r.spooled, 1);
    let t = Instant::now();
    f.shutdown(Duration::ZERO);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );

    // A socket that accepts and never answers (a hung owner).
    let silent = dir.0.join("silent.sock");
    let _l = UnixListener::bind(&silent).unwrap();
    let mut cfg = fwd_config(PhpTarget::Unix(silent.clone()), &dir.0.join("s2"));
    cfg.connect_timeout = Duration::from_secs(5);
    let f = Forwarder::new(cfg);
    f.submit(publish(key, "y")).unwrap();
    let t = Instant::now();
    let r = f.flush(timeout);
    assert!(
        t.elapsed() < timeout + Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.spooled, 1);
    let t = Instant::now();
    f.shutdown(Duration::from_millis(50));
    assert!(
        t.elapsed() < Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    // A query too.
    let t = Instant::now();
    let e = bxpush::forward::query(&PhpTarget::Unix(silent), None, Query::ServerStats, timeout)
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(t.elapsed() < timeout + Duration::from_millis(500));
    // A blackholed TCP address (non-routable): bounded by the connect timeout.
    let mut cfg = fwd_config(
        PhpTarget::Tcp("10.255.255.1:9".parse().unwrap()),
        &dir.0.join("s3"),
    );
    cfg.connect_timeout = Duration::from_secs(10);
    let f = Forwarder::new(cfg);
    f.submit(publish(key, "z")).unwrap();
    let t = Instant::now();
    assert_eq!(f.flush(timeout).spooled, 1);
    f.shutdown(Duration::ZERO);
    assert!(
        t.elapsed() < timeout + Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
}

#[derive(Clone, Copy)]
enum ProxyMode {
    /// Cut the first connection as soon as the owner's Ack comes back (the worker never
    /// sees it); on later connections claim in Welcome that nothing was applied (so the
    /// worker resends).
    DropFirstAck,
    /// Hold every Ack this long.
    DelayAcks(Duration),
}

/// A unix-socket proxy between a worker and the owner that interferes with acks.
fn ack_proxy(listen: PathBuf, owner: PathBuf, stop: Arc<AtomicBool>, mode: ProxyMode) {
    let l = UnixListener::bind(&listen).unwrap();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut first = true;
        while !stop.load(Ordering::Relaxed) {
            let (w, _) = match l.accept() {
                Ok(x) => x,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            };
            w.set_nonblocking(false).unwrap();
            let o = UnixStream::connect(&owner).unwrap();
            let (mut w_in, mut o_out) = (w.try_clone().unwrap(), o.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut w_in, &mut o_out);
            });
            let drop_ack = first && matches!(mode, ProxyMode::DropFirstAck);
            let rewrite_welcome = !first && matches!(mode, ProxyMode::DropFirstAck);
            first = false;
            std::thread::spawn(move || {
                let (mut o, mut w) = (o, w);
                loop {
                    let mut len = [0u8; 4];
                    if o.read_exact(&mut len).is_err() {
                        break;
                    }
                    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                    if o.read_exact(&mut body).is_err() {
                        break;
                    }
                    match (body[0], mode) {
                        (5, _) if drop_ack => break, // Ack: cut both sides instead
                        (3, _) if rewrite_welcome => {
                            body[1..9].copy_from_slice(&0u64.to_be_bytes())
                        }
                        (5, ProxyMode::DelayAcks(d)) => std::thread::sleep(d),
                        _ => {}
                    }
                    if w.write_all(&len).and_then(|_| w.write_all(&body)).is_err() {
                        break;
                    }
                }
                let _ = o.shutdown(std::net::Shutdown::Both);
                let _ = w.shutdown(std::net::Shutdown::Both);
            });
        }
    });
}

#[test]
fn exactly_once_when_the_ack_is_lost() {
    let dir = TempDir::new("ho-retry");
    let owner_sock = dir.0.join("php.sock");
    let bg = start_owner(&dir.0.join("data"), PhpTarget::Unix(owner_sock.clone()));
    let c = Channel::random();
    let key = ChannelKey::private(c.private);
    let mut sub = Sub::channel(&bg, &c);
    let proxy = dir.0.join("proxy.sock");
    let stop = Arc::new(AtomicBool::new(false));
    ack_proxy(
        proxy.clone(),
        owner_sock,
        stop.clone(),
        ProxyMode::DropFirstAck,
    );
    let f = Forwarder::new(fwd_config(PhpTarget::Unix(proxy), &dir.0.join("spool")));
    for t in texts("r", 0..3) {
        f.submit(publish(key, &t)).unwrap();
    }
    let r = f.flush(Duration::from_secs(5));
    assert_eq!((r.acked, r.spooled), (3, 0), "{r:?}");
    assert_eq!(sub.texts(3, 5), texts("r", 0..3));
    sub.nothing_before_sentinel(&bg, "a duplicate was delivered");
    let s = ingress_stats(&bg);
    assert_eq!(s["applied"], 3 + 1, "the items and the sentinel: {s}");
    assert_eq!(s["duplicates"], 3, "{s}");
    stop.store(true, Ordering::Relaxed);
    f.shutdown(Duration::ZERO);
    bg.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn exactly_once_when_a_delivered_item_was_also_spooled() {
    let dir = TempDir::new("ho-slowack");
    let owner_sock = dir.0.join("php.sock");
    let bg = start_owner(&dir.0.join("data"), PhpTarget::Unix(owner_sock.clone()));
    let c = Channel::random();
    let key = ChannelKey::private(c.private);
    let mut sub = Sub::channel(&bg, &c);
    let proxy = dir.0.join("proxy.sock");
    let stop = Arc::new(AtomicBool::new(false));
    ack_proxy(
        proxy.clone(),
        owner_sock,
        stop.clone(),
        ProxyMode::DelayAcks(Duration::from_millis(600)),
    );
    let spool_dir = dir.0.join("spool");
    let f = Forwarder::new(fwd_config(PhpTarget::Unix(proxy), &spool_dir));
    for t in texts("s", 0..3) {
        f.submit(publish(key, &t)).unwrap();
    }
    // Applied by the owner, but the ack comes after the flush gave up: spooled too.
    let r = f.flush(Duration::from_millis(200));
    assert_eq!(r.spooled, 3, "{r:?}");
    assert_eq!(sub.texts(3, 5), texts("s", 0..3));
    // The forwarder replays its own spool file; the owner skips every item of it.
    wait_until(5, || spool::list(&spool_dir).unwrap().is_empty());
    sub.nothing_before_sentinel(&bg, "a spooled copy was delivered again");
    let s = ingress_stats(&bg);
    assert_eq!(
        (s["applied"].as_u64(), s["duplicates"].as_u64()),
        (Some(3 + 1), Some(3)),
        "{s}"
    );
    stop.store(true, Ordering::Relaxed);
    f.shutdown(Duration::ZERO);
    bg.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn exactly_once_across_a_graceful_owner_restart() {
    let dir = TempDir::new("ho-restart");
    let data = dir.0.join("data");
    let target = unix(&dir, "php.sock");
    let c = Channel::random();
    let key = ChannelKey::private(c.private);
    let origin = 0x5eed_0000_0000_0001;
    let batch = |first: u64, names: &[&str]| Frame::Batch {
        origin,
        first_seq: first,
        items: names.iter().map(|n| Ok(publish(key, n))).collect(),
    };
    let stop = AtomicBool::new(false);
    let (stop_ref, target_ref) = (&stop, &target);
    let connect = move || {
        let d = Instant::now() + Duration::from_secs(2);
        Link::connect(target_ref, None, origin, d, d, stop_ref, None).unwrap()
    };

    let bg = start_owner(&data, target.clone());
    let mut sub = Sub::channel(&bg, &c);
    let (mut link, applied) = connect();
    assert_eq!(applied, 0);
    let d = Instant::now() + Duration::from_secs(2);
    link.send(&batch(1, &["a", "b", "c"]), d).unwrap();
    assert_eq!(link.recv(d).unwrap(), Frame::Ack { origin, seq: 3 });
    assert_eq!(sub.texts(3, 5), ["a", "b", "c"]);
    drop(link);
    bg.stop(Duration::from_millis(200)).unwrap();
    assert!(std::fs::read_to_string(data.join("ingress.state"))
        .unwrap()
        .contains(&format!("{origin:016x} 3 ")));

    let bg = start_owner(&data, target.clone());
    let mut sub = Sub::channel(&bg, &c);
    let (mut link, applied) = connect();
    assert_eq!(applied, 3, "the high-water mark survived the restart");
    // A resend (its ack was lost with the old owner) plus one new item.
    link.send(&batch(2, &["b", "c", "d"]), d + Duration::from_secs(2))
        .unwrap();
    assert_eq!(
        link.recv(Instant::now() + Duration::from_secs(2)).unwrap(),
        Frame::Ack { origin, seq: 4 }
    );
    assert_eq!(sub.texts(1, 5), ["d"]);
    sub.nothing_before_sentinel(&bg, "a resent item was applied again");
    assert_eq!(ingress_stats(&bg)["duplicates"], 2);
    drop(link);
    bg.stop(Duration::from_millis(200)).unwrap();
}

fn user_sub(bg: &Background, user: i64) -> Sub {
    let now = bxpush::hub::now_unix();
    let ch = users::user_channels(KEY.as_bytes(), user, now);
    let d = sign_private_descriptor(&signer(), &ch.private, ch.public.as_ref());
    Sub::connect(bg, &d, ChannelKey::private(ch.private))
}

#[test]
fn watches_route_publish_to_tags_to_derived_user_channels() {
    let dir = TempDir::new("ho-watch");
    let target = unix(&dir, "php.sock");
    let bg = start_owner(&dir.0.join("data"), target.clone());
    let mut u7 = user_sub(&bg, 7);
    let mut u8 = user_sub(&bg, 8);
    let f = Forwarder::new(fwd_config(target.clone(), &dir.0.join("spool")));
    let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    f.submit(Item::WatchAdd {
        user_id: 7,
        tags: tags(&["IM_CHAT_1", "OTHER"]),
        ttl: 1920,
    })
    .unwrap();
    f.submit(Item::WatchAdd {
        user_id: 8,
        tags: tags(&["IM_CHAT_1"]),
        ttl: 1920,
    })
    .unwrap();
    f.submit(Item::WatchAdd {
        user_id: 9,
        tags: tags(&["SHORT"]),
        ttl: 1,
    })
    .unwrap();
    f.submit(Item::PublishToTags {
        tags: tags(&["IM_CHAT_1"]),
        skip_users: vec![8],
        body: Bytes::from(php_body("typing", "to-watchers")),
        expiry: 0,
        kind: "im".into(),
    })
    .unwrap();
    assert_eq!(f.flush(Duration::from_secs(5)).acked, 4);
    assert_eq!(u7.texts(1, 5), ["to-watchers"]);
    u8.nothing_before_sentinel(&bg, "a skipped user got the message");

    // The same answers over the socket and in-process.
    let q = Query::WatchUsers(tags(&["IM_CHAT_1", "OTHER", "NOBODY"]));
    let r = bxpush::forward::query(&target, None, q.clone(), Duration::from_secs(2)).unwrap();
    assert_eq!(r, Reply::Users(vec![7, 8]));
    assert_eq!(bg.query(q), Reply::Users(vec![7, 8]));

    f.submit(Item::WatchDelete {
        user_id: 7,
        tag: Some("IM_CHAT_1".into()),
    })
    .unwrap();
    f.submit(Item::WatchDelete {
        user_id: 8,
        tag: None,
    })
    .unwrap();
    f.flush(Duration::from_secs(5));
    assert_eq!(
        bg.query(Query::WatchUsers(tags(&["IM_CHAT_1", "OTHER"]))),
        Reply::Users(vec![7])
    );
    // A 1 s watch expires.
    wait_until(4, || {
        bg.query(Query::WatchUsers(tags(&["SHORT"]))) == Reply::Users(vec![])
    });
    assert_eq!(ingress_stats(&bg)["watches"], 2); // 7:OTHER, 9:SHORT until purged
    f.shutdown(Duration::ZERO);
    bg.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn publish_to_tags_without_a_key_is_rejected_and_skipped() {
    let dir = TempDir::new("ho-nokey");
    let target = unix(&dir, "php.sock");
    let mut cfg = owner_config(&dir.0.join("data"), target.clone());
    cfg.signature_key = None;
    let bg = Background::start(cfg).unwrap();
    let c = Channel::random();
    let f = Forwarder::new(fwd_config(target, &dir.0.join("spool")));
    f.submit(Item::PublishToTags {
        tags: vec!["T".into()],
        skip_users: vec![],
        body: Bytes::from_static(b"{}"),
        expiry: 0,
        kind: String::new(),
    })
    .unwrap();
    f.submit(publish(ChannelKey::private(c.private), "after"))
        .unwrap();
    let r = f.flush(Duration::from_secs(5));
    assert_eq!(r.acked, 2, "a rejected item does not block the stream");
    assert_eq!(f.stats().rejected, 1);
    assert!(f.last_error().unwrap().contains("signature key"));
    let s = ingress_stats(&bg);
    assert_eq!(
        (s["rejected"].as_u64(), s["applied"].as_u64()),
        (Some(1), Some(1))
    );
    f.shutdown(Duration::ZERO);
    bg.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn queries_and_the_in_process_path() {
    let dir = TempDir::new("ho-query");
    let target = unix(&dir, "php.sock");
    let bg = start_owner(&dir.0.join("data"), target.clone());
    let on = Channel::random();
    let off = Channel::random();
    let mut sub = Sub::channel(&bg, &on);
    let q = Query::ChannelStats(vec![
        ChannelKey::private(on.private),
        ChannelKey::private(off.private),
    ]);
    let t = Duration::from_secs(2);
    assert_eq!(
        bxpush::forward::query(&target, None, q.clone(), t).unwrap(),
        Reply::ChannelStats(vec![true, false])
    );
    assert_eq!(bg.query(q), Reply::ChannelStats(vec![true, false]));
    // In-process apply (a PHP CLI hosting the runtime): no socket involved.
    bg.apply(publish(ChannelKey::private(on.private), "direct"))
        .unwrap();
    assert_eq!(sub.texts(1, 5), ["direct"]);
    let Reply::ServerStats(json) =
        bxpush::forward::query(&target, None, Query::ServerStats, t).unwrap()
    else {
        panic!("stats")
    };
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["pid"], std::process::id());
    assert_eq!(v["bxpush"]["ingress"]["applied"], 1);
    assert!(v["bxpush"]["ingress"]["queries"].as_u64().unwrap() >= 2);
    bg.stop(Duration::from_millis(200)).unwrap();
}

/// The PHP path goes through the hub's one publishing gate: a channel named twice
/// (`a/b/a`) gets the message once, live and from history; a worker's items are counted
/// under their labels, and 10,000 distinct labels leave the daily map at its bound.
#[test]
fn php_publishes_pass_the_hubs_gate() {
    let dir = TempDir::new("ho-gate");
    let target = unix(&dir, "php.sock");
    let bg = start_owner(&dir.0.join("data"), target.clone());
    let (a, b) = (Channel::random(), Channel::random());
    let (ka, kb) = (
        ChannelKey::private(a.private),
        ChannelKey::private(b.private),
    );
    let mut sub = Sub::channel(&bg, &a);
    let f = Forwarder::new(fwd_config(target, &dir.0.join("spool")));
    let Item::Publish { body, .. } = publish(ka, "aba") else {
        unreachable!()
    };
    let aba = Item::Publish {
        receivers: vec![ka, kb, ka],
        body,
        expiry: 3600,
        kind: "im_message".into(),
    };
    f.submit(aba).unwrap();
    assert_eq!(f.flush(Duration::from_secs(5)).acked, 1);
    assert_eq!(sub.texts(1, 5), ["aba"]);
    sub.nothing_before_sentinel(&bg, "a/b/a was delivered twice");
    // From history too: a resume on `a` replays it once (then the sentinel).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let q = format!("CHANNEL_ID={}&mid={}", enc(&a.descriptor()), "0".repeat(26));
    let ws = rt.block_on(ws_connect(bg.sub_addr(), &q));
    let mut replay = Sub { rt, ws, key: ka };
    assert_eq!(replay.texts(2, 5), ["aba", "sentinel"]);

    for i in 0..10_000 {
        let Item::Publish { body, .. } = publish(kb, "label") else {
            unreachable!()
        };
        let item = Item::Publish {
            receivers: vec![kb],
            body,
            expiry: 0,
            kind: format!("label_{i}"),
        };
        bg.apply(item).unwrap();
    }
    let Reply::ServerStats(json) = bg.query(Query::ServerStats) else {
        panic!("stats")
    };
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let messages = v["daily"]["messages"].as_object().unwrap();
    assert_eq!(
        messages.len(),
        bxpush::hub::stats::MAX_DAILY_LABELS,
        "{messages:?}"
    );
    assert_eq!(messages["im_message"], 1);
    let total: u64 = messages.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total, 1 + 1 + 10_000, "aba, the sentinel, the labels");
    assert_eq!(v["bxpush"]["published"], 1 + 1 + 10_000);
    f.shutdown(Duration::ZERO);
    bg.stop(Duration::from_millis(200)).unwrap();
}

/// The raw bytes of a frame and a plain session, for protocol-violation tests.
fn raw_handshake(path: &Path) -> UnixStream {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let f = read_raw(&mut s);
    assert!(matches!(f, Frame::Challenge { auth: false, .. }), "{f:?}");
    let mut sess = Session::plain(Role::Worker);
    let hello = Frame::Hello {
        version: wire::VERSION,
        origin: 1,
        nonce: [0; 16],
        mac: [0; 32],
    };
    s.write_all(&sess.seal(&hello).unwrap()).unwrap();
    assert!(matches!(read_raw(&mut s), Frame::Welcome { .. }));
    s
}

fn read_raw(s: &mut UnixStream) -> Frame {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    Frame::decode(&body).unwrap()
}

#[test]
fn limits_and_bad_peers_get_an_error_frame_naming_the_limit() {
    let dir = TempDir::new("ho-limits");
    let path = dir.0.join("php.sock");
    let bg = start_owner(&dir.0.join("data"), PhpTarget::Unix(path.clone()));

    let mut s = raw_handshake(&path);
    s.write_all(&((wire::MAX_FRAME + 1) as u32).to_be_bytes())
        .unwrap();
    match read_raw(&mut s) {
        Frame::Error { code, text } => {
            assert_eq!(code, ErrorCode::FrameTooLarge);
            assert!(text.contains("16 MiB"), "{text}");
        }
        f => panic!("{f:?}"),
    }

    let mut s = raw_handshake(&path);
    let mut body = vec![0, 0, 0, 0, 4];
    body.extend_from_slice(&1u64.to_be_bytes());
    body.extend_from_slice(&1u64.to_be_bytes());
    body.extend_from_slice(&10_001u32.to_be_bytes());
    let frame = Session::plain(Role::Worker).seal_body(body).unwrap();
    s.write_all(&frame).unwrap();
    match read_raw(&mut s) {
        Frame::Error { code, text } => {
            assert_eq!(code, ErrorCode::TooManyItems);
            assert!(text.contains("10000"), "{text}");
        }
        f => panic!("{f:?}"),
    }

    // Not our protocol at all.
    let mut s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    read_raw(&mut s);
    s.write_all(b"\x00\x00\x00\x05GET /").unwrap();
    assert!(matches!(
        read_raw(&mut s),
        Frame::Error {
            code: ErrorCode::BadFrame,
            ..
        }
    ));
    assert!(ingress_stats(&bg)["refused"].as_u64().unwrap() >= 3);
    bg.stop(Duration::from_millis(200)).unwrap();
}

/// Issue 10, finding 8: a worker that stalls in the middle of a frame after the handshake
/// is refused once `read_timeout` has passed since the frame's first byte (it pinned a
/// buffer of up to 16 MiB for as long as it stayed connected).
#[test]
fn a_frame_stalled_after_the_handshake_is_refused_after_the_read_timeout() {
    let dir = TempDir::new("ho-stall");
    let path = dir.0.join("php.sock");
    let mut c = owner_config(&dir.0.join("data"), PhpTarget::Unix(path.clone()));
    c.read_timeout = Duration::from_millis(300);
    let bg = Background::start(c).expect("owner starts");
    let mut s = raw_handshake(&path);
    s.write_all(&(wire::MAX_FRAME as u32).to_be_bytes())
        .unwrap();
    s.write_all(&[0u8; 1000]).unwrap();
    // raw_handshake set a 2 s read timeout: before the fix this read failed with it.
    match read_raw(&mut s) {
        Frame::Error { code, text } => {
            assert_eq!(code, ErrorCode::BadFrame);
            assert!(text.contains("read_timeout"), "{text}");
        }
        f => panic!("{f:?}"),
    }
    assert_eq!(s.read(&mut [0u8; 1]).unwrap(), 0, "the owner closed");
    // An idle worker between frames is not cut off.
    let mut idle = raw_handshake(&path);
    std::thread::sleep(Duration::from_millis(600));
    let q = Session::plain(Role::Worker)
        .seal(&Frame::Query(Query::ServerStats))
        .unwrap();
    idle.write_all(&q).unwrap();
    assert!(matches!(read_raw(&mut idle), Frame::Reply(_)));
    bg.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn stale_socket_files_are_replaced_and_live_ones_refused() {
    let dir = TempDir::new("ho-stale");
    let path = dir.0.join("php.sock");
    drop(UnixListener::bind(&path).unwrap()); // a crashed owner's leftover
    assert!(path.exists());
    let bg = start_owner(&dir.0.join("data"), PhpTarget::Unix(path.clone()));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o660
    );
    let e = Background::start(owner_config(
        &dir.0.join("data2"),
        PhpTarget::Unix(path.clone()),
    ))
    .err()
    .expect("a second owner on a live socket is refused");
    assert!(
        e.to_string().contains("another process is listening"),
        "{e}"
    );
    bg.stop(Duration::from_millis(200)).unwrap();
    let not_socket = dir.0.join("file");
    std::fs::write(&not_socket, "x").unwrap();
    let e = Background::start(owner_config(
        &dir.0.join("data3"),
        PhpTarget::Unix(not_socket),
    ))
    .err()
    .unwrap();
    assert!(e.to_string().contains("not a socket"), "{e}");
    // TCP without a key cannot authenticate workers: refused at start with the fix.
    let mut cfg = owner_config(
        &dir.0.join("data4"),
        PhpTarget::Tcp("127.0.0.1:0".parse().unwrap()),
    );
    cfg.signature_key = None;
    let e = Background::start(cfg).err().unwrap();
    assert!(e.to_string().contains("--signature-key"), "{e}");
}

#[test]
fn two_workers_interleave_without_loss_or_reordering() {
    let dir = TempDir::new("ho-two");
    let target = unix(&dir, "php.sock");
    let bg = start_owner(&dir.0.join("data"), target.clone());
    let c = Channel::random();
    let key = ChannelKey::private(c.private);
    let mut sub = Sub::channel(&bg, &c);
    let spool_dir = dir.0.join("spool");
    let workers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|p| {
            let cfg = fwd_config(target.clone(), &spool_dir);
            std::thread::spawn(move || {
                let f = Forwarder::new(cfg);
                for i in 0..200 {
                    f.submit(publish(key, &format!("{p}{i}"))).unwrap();
                }
                f.shutdown(Duration::from_secs(5))
            })
        })
        .collect();
    for w in workers {
        let r = w.join().unwrap();
        assert_eq!((r.acked, r.spooled), (200, 0), "{r:?}");
    }
    let got = sub.texts(400, 10);
    for p in ["a", "b"] {
        let mine: Vec<_> = got.iter().filter(|t| t.starts_with(p)).cloned().collect();
        assert_eq!(mine, texts(p, 0..200), "worker {p} out of order");
    }
    bg.stop(Duration::from_millis(200)).unwrap();
}

fn server_stats(bg: &Background) -> serde_json::Value {
    match bg.query(Query::ServerStats) {
        Reply::ServerStats(json) => {
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            v["bxpush"].clone()
        }
        other => panic!("{other:?}"),
    }
}

/// Issue 10 finding 3 on the hand-off: with the owner's disk full, items are refused
/// (not stored, not delivered, the origin's mark not advanced) and the worker retries;
/// once the disk has room the retry applies each exactly once, in memory and in the log.
#[test]
fn a_full_disk_refuses_items_and_the_retry_applies_them_once() {
    let dir = TempDir::new("ho-full");
    let disk = SmallDisk::mount("ho-full-disk", 1024);
    let target = unix(&dir, "php.sock");
    let bg = start_owner(&disk.data(), target.clone());
    let c = Channel::random();
    let key = ChannelKey::private(c.private);
    let mut sub = Sub::channel(&bg, &c);
    // Bodies over a page: each write to the full tmpfs needs a new one.
    let pad = "x".repeat(8000);
    let f = Forwarder::new(fwd_config(target.clone(), &dir.0.join("spool")));
    f.submit(publish(key, &format!("a{pad}"))).unwrap();
    assert!(f.flush(Duration::from_secs(5)).complete());
    let trim = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|t| t.trim_end_matches('x').to_string())
            .collect()
    };
    assert_eq!(trim(sub.texts(1, 5)), ["a"]);
    assert_eq!(server_stats(&bg)["storedMessages"], 1);

    disk.fill();
    f.submit(publish(key, &format!("b{pad}"))).unwrap();
    f.submit(publish(key, &format!("c{pad}"))).unwrap();
    // Refused, and retried by the worker: at least twice.
    wait_until(20, || {
        server_stats(&bg)["refusedNotStored"].as_u64().unwrap() >= 2
    });
    assert_eq!(server_stats(&bg)["storedMessages"], 1);
    assert_eq!(ingress_stats(&bg)["applied"], 1);

    disk.free();
    let r = f.flush(Duration::from_secs(10));
    assert!(r.complete(), "{r:?}");
    assert_eq!(trim(sub.texts(2, 5)), ["b", "c"]);
    sub.nothing_before_sentinel(&bg, "each retried item once");
    assert_eq!(server_stats(&bg)["storedMessages"], 4);
    f.shutdown(Duration::from_secs(1));
    bg.stop(Duration::from_millis(200)).unwrap();

    let bg = start_owner(&disk.data(), target);
    assert_eq!(server_stats(&bg)["storedMessages"], 4);
    bg.stop(Duration::from_millis(200)).unwrap();
}
