//! bxpush behind the fault proxy (tests/fault_proxy/): connections delayed, blackholed,
//! stalled and cut (RST and FIN) while messages flow, against a real `bxpush serve`
//! process (so that its resident memory can be read from /proc).
//!
//! - WebSocket and long-poll subscribers that reconnect with their last `mid` through
//!   cuts lose nothing and see nothing twice;
//! - stalled readers are cut off at their queue bound and the server's memory stays
//!   bounded;
//! - PHP workers' items through cuts, stalls and lost acks on the TCP hand-off socket are
//!   applied exactly once, in each worker's order, and the owner's memory stays bounded.
mod common;
mod fault_proxy;
mod ops_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bxpush::forward::{Forwarder, ForwarderConfig};
use bxpush::handoff::{Item, PhpTarget};
use bxpush::protocol::proto;
use bxpush::protocol::ChannelKey;
use bytes::Bytes;
use common::{enc, envelopes, php_body, Channel};
use fault_proxy::{Cut, Dir, FaultProxy, Mode};
use futures_util::StreamExt;
use ops_support::{free_port, Bxpush};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The first id there is: a resume from it replays the channel's whole history, so a
/// subscriber can start before the publisher without a race.
const MID_ZERO: &str = "00000000000000000000000000";

fn vm_rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// `/server-stat/`'s object (one process).
fn server_stat(publ: SocketAddr) -> serde_json::Value {
    let r = ops_support::get(publ, "/server-stat/");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v[0].clone()
}

/// Poll `f` (a counter, a state) every 20 ms until it holds; panics after `secs`.
async fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached in {secs} s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `(number, mid)` of each message in `body` (text envelopes whose `params.text` is a
/// number).
fn numbered(body: &str) -> Vec<(usize, String)> {
    envelopes(body)
        .iter()
        .map(|e| {
            let n = e["text"]["params"]["text"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            (n, e["mid"].as_str().unwrap().to_string())
        })
        .collect()
}

async fn publish_numbered(publ: SocketAddr, c: &Channel, n: usize) {
    publish_text(publ, c, &n.to_string()).await;
}

/// A WebSocket subscriber that reconnects with its last mid whenever its connection ends
/// (cut, reset, refused), until it has `total` messages.
async fn ws_resuming(
    addr: SocketAddr,
    c: Channel,
    total: usize,
    got: Arc<AtomicUsize>,
) -> (Vec<usize>, usize) {
    let mut seen = Vec::new();
    let mut connections = 0;
    let mut mid = MID_ZERO.to_string();
    while seen.len() < total {
        let q = format!("CHANNEL_ID={}&revision=19&mid={mid}", enc(&c.descriptor()));
        let url = format!("ws://{addr}/bitrix/subws/?{q}");
        let Ok(stream) = TcpStream::connect(addr).await else {
            continue;
        };
        let Ok((mut ws, _)) = tokio_tungstenite::client_async(url, stream).await else {
            continue;
        };
        connections += 1;
        while let Some(Ok(m)) = ws.next().await {
            if let WsMessage::Text(t) = m {
                for (n, m) in numbered(t.as_str()) {
                    seen.push(n);
                    mid = m;
                }
                got.store(seen.len(), Ordering::SeqCst);
                if seen.len() >= total {
                    break;
                }
            }
        }
    }
    (seen, connections)
}

/// One long poll through `addr`: the body when the whole response arrived with status 200,
/// `Some("")` on 304, None when the connection was cut before the response was complete.
async fn long_poll(addr: SocketAddr, query: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = format!("GET /bitrix/sub/?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    // A reset may come after some bytes: what was read is judged below.
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let r = common::parse_reply(&buf);
    match r.status {
        304 => Some(String::new()),
        200 => {
            let len: usize = r.header("content-length")?.parse().ok()?;
            (buf.len() - end - 4 == len).then(|| r.text())
        }
        other => panic!("long poll answered {other}: {}", r.text()),
    }
}

async fn lp_resuming(
    addr: SocketAddr,
    c: Channel,
    total: usize,
    got: Arc<AtomicUsize>,
) -> Vec<usize> {
    let mut seen = Vec::new();
    let mut mid = MID_ZERO.to_string();
    while seen.len() < total {
        let q = format!("CHANNEL_ID={}&revision=19&mid={mid}", enc(&c.descriptor()));
        if let Some(body) = long_poll(addr, &q).await {
            for (n, m) in numbered(&body) {
                seen.push(n);
                mid = m;
            }
            got.store(seen.len(), Ordering::SeqCst);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_resume_with_mid_through_cuts_lose_nothing_and_see_nothing_twice() {
    const N: usize = 300;
    let srv = Bxpush::start("long_poll_timeout = 5", &[]);
    let proxy = FaultProxy::start(srv.sub);
    let c = Channel::random();
    let (ws_got, lp_got) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let ws = tokio::spawn(ws_resuming(proxy.addr, c.clone(), N, ws_got.clone()));
    let lp = tokio::spawn(lp_resuming(proxy.addr, c.clone(), N, lp_got.clone()));

    // The publisher keeps at most 40 messages ahead of the slower subscriber, so that
    // cuts fall on live deliveries as well as on replays.
    let publ = srv.publ;
    let (wg, lg) = (ws_got.clone(), lp_got.clone());
    let c2 = c.clone();
    let publisher = tokio::spawn(async move {
        for i in 0..N {
            until(30, "subscribers keep up", || {
                wg.load(Ordering::SeqCst).min(lg.load(Ordering::SeqCst)) + 40 > i
            })
            .await;
            publish_numbered(publ, &c2, i).await;
        }
    });

    // Faults, each when both subscribers have made progress since the last one.
    type Fault = Box<dyn Fn(&FaultProxy)>;
    let faults: [(&str, Fault); 6] = [
        ("rst", Box::new(|p| p.cut(Cut::Rst))),
        ("fin", Box::new(|p| p.cut(Cut::Fin))),
        (
            "delay",
            Box::new(|p| p.set(Dir::Down, Mode::Delay(Duration::from_millis(3)))),
        ),
        ("rst while delayed", Box::new(|p| p.cut(Cut::Rst))),
        (
            "heal, fin",
            Box::new(|p| {
                p.heal();
                p.cut(Cut::Fin)
            }),
        ),
        ("rst", Box::new(|p| p.cut(Cut::Rst))),
    ];
    for (i, (what, fault)) in faults.iter().enumerate() {
        let at = (i + 1) * N / (faults.len() + 1);
        until(60, &format!("{at} delivered before fault {what}"), || {
            ws_got
                .load(Ordering::SeqCst)
                .min(lp_got.load(Ordering::SeqCst))
                >= at
        })
        .await;
        fault(&proxy);
    }
    publisher.await.unwrap();
    let want: Vec<usize> = (0..N).collect();
    let progress = || {
        format!(
            "websocket has {}, long polling {} of {N}; proxy {:?}",
            ws_got.load(Ordering::SeqCst),
            lp_got.load(Ordering::SeqCst),
            proxy.stats()
        )
    };
    let ws = tokio::time::timeout(Duration::from_secs(30), ws)
        .await
        .unwrap_or_else(|_| panic!("websocket not done: {}", progress()))
        .unwrap();
    let lp = tokio::time::timeout(Duration::from_secs(30), lp)
        .await
        .unwrap_or_else(|_| panic!("long polling not done: {}", progress()))
        .unwrap();
    let (ws, ws_connections) = ws;
    assert_eq!(ws, want, "websocket: every message once, in order");
    // The cuts ended WebSockets in use (five cuts; one may fall on a reconnect in progress).
    assert!(
        ws_connections >= 4,
        "only {ws_connections} WebSocket connections"
    );
    assert_eq!(lp, want, "long polling: every message once, in order");
}

/// A protobuf publish of one message per channel (up to 100 per request).
fn batch_publish(publ: SocketAddr, channels: &[Channel], body: &[u8]) {
    let messages = channels
        .iter()
        .map(|c| proto::IncomingMessage {
            receivers: vec![proto::Receiver {
                id: c.private.0.to_vec(),
                is_private: true,
                signature: Vec::new(),
            }],
            sender: None,
            body: Bytes::copy_from_slice(body),
            expiry: 0,
            r#type: String::new(),
        })
        .collect();
    let req = proto::RequestBatch {
        requests: vec![proto::Request {
            command: Some(proto::request::Command::IncomingMessages(
                proto::IncomingMessagesRequest { messages },
            )),
        }],
    }
    .encode_to_vec();
    let mut head = format!(
        "POST /bitrix/pub/?binaryMode=true HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        req.len()
    )
    .into_bytes();
    head.extend_from_slice(&req);
    let mut s = std::net::TcpStream::connect(publ).unwrap();
    std::io::Write::write_all(&mut s, &head).unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_are_cut_at_their_bound_and_server_memory_stays_bounded() {
    const SUBS: usize = 20;
    const MESSAGES: usize = 300;
    const BODY: usize = 32 * 1024;
    const QUEUE: usize = 32;
    let srv = Bxpush::start(&format!("max_queue_per_connection = {QUEUE}"), &[]);
    let proxy = FaultProxy::start(srv.sub);
    let channels: Vec<Channel> = (0..SUBS).map(|_| Channel::random()).collect();
    let mut subs = Vec::new();
    for c in &channels {
        let q = format!("CHANNEL_ID={}&revision=19", enc(&c.descriptor()));
        subs.push(common::ws_connect(proxy.addr, &q).await);
    }
    for c in &channels {
        common::wait_online(srv.publ, c).await;
    }
    let rss_before = vm_rss_kib(srv.pid());

    // The readers stop reading; every subscriber gets MESSAGES messages of its own.
    proxy.set(Dir::Down, Mode::Stall);
    let publ = srv.publ;
    let chans = channels.clone();
    tokio::task::spawn_blocking(move || {
        let body = "x".repeat(BODY);
        for _ in 0..MESSAGES {
            batch_publish(publ, &chans, body.as_bytes());
        }
    })
    .await
    .unwrap();
    let mut cut = 0;
    until(30, "every stalled reader cut off", || {
        cut = server_stat(publ)["bxpush"]["slowReadersCut"]
            .as_u64()
            .unwrap_or(0);
        cut >= SUBS as u64
    })
    .await;
    let rss_stalled = vm_rss_kib(srv.pid());
    // Without a bound this would be ~ SUBS × MESSAGES × BODY (about 190 MiB of bodies,
    // more with their encodings) minus what the kernel's socket buffers took; with it,
    // SUBS × (QUEUE messages + a write buffer).
    let grown_mib = rss_stalled.saturating_sub(rss_before) / 1024;
    eprintln!("server VmRSS {rss_before} KiB before, {rss_stalled} KiB with {SUBS} stalled readers cut ({cut} cut)");
    assert!(
        grown_mib < 120,
        "server grew by {grown_mib} MiB with {SUBS} stalled readers (before {rss_before} KiB, after {rss_stalled} KiB)"
    );

    // Let the bytes through: each stalled connection ends (the server closed it).
    proxy.heal();
    for ws in &mut subs {
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await
        .expect("a cut reader's stream ends");
    }
    until(10, "the proxy saw the server close each connection", || {
        proxy.stats().closed_by_server.load(Ordering::SeqCst) >= SUBS as u64
    })
    .await;
    until(10, "no subscriber left", || {
        server_stat(publ)["websockets"].as_u64() == Some(0)
    })
    .await;
}

/// A WebSocket subscriber (not through the proxy) collecting `params.text` of everything
/// on `c` from the start of its history, until it has `total` texts and then `sentinel`.
async fn texts_until_sentinel(
    addr: SocketAddr,
    c: Channel,
    total: usize,
    got: Arc<AtomicUsize>,
) -> Vec<String> {
    let q = format!(
        "CHANNEL_ID={}&revision=19&mid={MID_ZERO}",
        enc(&c.descriptor())
    );
    let mut ws = common::ws_connect(addr, &q).await;
    let mut out = Vec::new();
    loop {
        let WsMessage::Text(t) = common::ws_next(&mut ws, 120).await else {
            continue;
        };
        for e in envelopes(t.as_str()) {
            let text = e["text"]["params"]["text"].as_str().unwrap().to_string();
            if text == "sentinel" {
                assert!(
                    out.len() >= total,
                    "sentinel after only {} texts",
                    out.len()
                );
                return out;
            }
            out.push(text);
        }
        got.store(out.len(), Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_through_cuts_stalls_and_lost_acks_is_exactly_once_in_worker_order() {
    const WORKERS: usize = 3;
    const N: usize = 400;
    const TOTAL: usize = WORKERS * N;
    let php = free_port();
    let srv = Bxpush::start(&format!("listen_php = \"127.0.0.1:{php}\""), &[]);
    let php: SocketAddr = format!("127.0.0.1:{php}").parse().unwrap();
    until(10, "the PHP socket listens", || {
        std::net::TcpStream::connect(php).is_ok()
    })
    .await;
    let rss_before = vm_rss_kib(srv.pid());
    let proxy = Arc::new(FaultProxy::start(php));
    let spool = common::TempDir::new("faults-spool");
    let c = Channel::random();
    let got = Arc::new(AtomicUsize::new(0));
    let sub = tokio::spawn(texts_until_sentinel(srv.sub, c.clone(), TOTAL, got.clone()));

    let forwarders: Vec<Arc<Forwarder>> = (0..WORKERS)
        .map(|_| {
            let mut cfg = ForwarderConfig::new(PhpTarget::Tcp(proxy.addr), &spool.0);
            cfg.signature_key = Some(ops_support::KEY.into());
            cfg.connect_timeout = Duration::from_millis(200);
            Arc::new(Forwarder::new(cfg))
        })
        .collect();
    let queued = {
        let f = forwarders.clone();
        move || f.iter().map(|f| f.stats().queued).sum::<usize>()
    };

    // Workers submit in their own order, one sixth of their items per stage; each fault
    // below is set up, then the next sixth is released, so it falls on busy connections.
    let allowed = Arc::new(AtomicUsize::new(N / 6));
    let mut submitters = Vec::new();
    for (w, f) in forwarders.iter().enumerate() {
        let (f, allowed, key) = (f.clone(), allowed.clone(), ChannelKey::private(c.private));
        submitters.push(std::thread::spawn(move || {
            for i in 0..N {
                while allowed.load(Ordering::SeqCst) <= i {
                    std::thread::sleep(Duration::from_millis(5));
                }
                f.submit(Item::Publish {
                    receivers: vec![key],
                    body: Bytes::from(php_body("message", &format!("w{w}-{i}"))),
                    expiry: 3600,
                    kind: "im".into(),
                })
                .unwrap();
            }
        }));
    }
    let release = |stage: usize| allowed.store(stage * N / 6, Ordering::SeqCst);
    let delivered = |stage: usize| {
        let got = got.clone();
        move || got.load(Ordering::SeqCst) >= WORKERS * (stage * N / 6)
    };
    until(60, "stage 1 delivered", delivered(1)).await;

    // Reset while items flow.
    release(2);
    proxy.cut(Cut::Rst);
    until(60, "stage 2 delivered", delivered(2)).await;

    // The owner stops reading: items queue up in the workers.
    proxy.set(Dir::Up, Mode::Stall);
    release(3);
    until(30, "items queue up behind the stalled socket", || {
        queued() >= 30
    })
    .await;
    proxy.heal();
    until(60, "stage 3 delivered", delivered(3)).await;

    // Acks vanish: the owner applied what the workers think unsent; then a FIN.
    proxy.set(Dir::Down, Mode::Blackhole);
    release(4);
    let p = proxy.clone();
    until(30, "an ack lost", move || {
        p.stats().dropped_bytes.load(Ordering::SeqCst) > 0
    })
    .await;
    proxy.cut(Cut::Fin);
    proxy.heal();
    until(60, "stage 4 delivered", delivered(4)).await;

    // Acks stall while frames are delayed; then a reset. First every worker is back on a
    // connection and knows that stage 4 was applied (so the next bytes up are a batch).
    let fs = forwarders.clone();
    until(30, "workers reconnected after the FIN", move || {
        fs.iter()
            .all(|f| f.stats().connected && f.stats().acked >= 4 * N as u64 / 6)
    })
    .await;
    let up_before = proxy.stats().up_bytes.load(Ordering::SeqCst);
    proxy.set(Dir::Up, Mode::Delay(Duration::from_millis(2)));
    proxy.set(Dir::Down, Mode::Stall);
    release(5);
    let p = proxy.clone();
    until(30, "a batch sent whose ack is stalled", move || {
        p.stats().up_bytes.load(Ordering::SeqCst) > up_before
    })
    .await;
    proxy.cut(Cut::Rst);
    proxy.heal();
    until(60, "stage 5 delivered", delivered(5)).await;

    release(6);
    proxy.cut(Cut::Fin);

    for s in submitters {
        s.join().unwrap();
    }
    for f in &forwarders {
        let f = f.clone();
        let r = tokio::task::spawn_blocking(move || f.flush(Duration::from_secs(30)))
            .await
            .unwrap();
        assert!(r.complete(), "flush: {r:?}");
    }
    until(60, "everything delivered", delivered(6)).await;
    // Anything applied twice would reach the subscriber before this.
    publish_text(srv.publ, &c, "sentinel").await;
    let texts = tokio::time::timeout(Duration::from_secs(30), sub)
        .await
        .expect("sentinel delivered")
        .unwrap();
    for w in 0..WORKERS {
        let prefix = format!("w{w}-");
        let mine: Vec<&str> = texts
            .iter()
            .filter(|t| t.starts_with(&prefix))
            .map(String::as_str)
            .collect();
        let want: Vec<String> = (0..N).map(|i| format!("{prefix}{i}")).collect();
        assert_eq!(mine, want, "worker {w}: every item once, in its order");
    }
    assert_eq!(texts.len(), TOTAL, "nothing else delivered");
    let rss_after = vm_rss_kib(srv.pid());
    eprintln!(
        "owner VmRSS {rss_before} KiB before, {rss_after} KiB after; proxy {:?}",
        proxy.stats()
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 64 * 1024,
        "owner grew from {rss_before} KiB to {rss_after} KiB"
    );
    for f in &forwarders {
        f.shutdown(Duration::from_secs(1));
    }
}

async fn publish_text(publ: SocketAddr, c: &Channel, text: &str) {
    let body = php_body("message", text);
    let req = format!(
        "POST /bitrix/pub/?CHANNEL_ID={} HTTP/1.1\r\nHost: x\r\nMessage-Expiry: 3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        c.private.to_hex(),
        body.len()
    );
    let r = common::raw(publ, req.as_bytes()).await;
    assert_eq!(r.status, 200, "publish {text}");
}
