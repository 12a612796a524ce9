//! A real nginx (Debian's package) on loopback, configured with exactly what
//! `bxpush nginx-conf` prints, in front of a real `bxpush serve`: a message published to
//! bxpush arrives through nginx over WebSocket, long polling (also after being parked)
//! and SSE; a long poll with nothing to say is held the full hold time and answered 304
//! (not nginx's 504); /bitrix/pub/ is refused by nginx.
mod common;
mod ops_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{enc, envelopes, php_body, ws_connect, ws_next, Channel};
use ops_support::{get, request, run, wait_until, Bxpush, Nginx};

const HOLD: u64 = 3;

fn start() -> (Bxpush, Nginx) {
    let b = Bxpush::start(
        &format!("long_poll_timeout = {HOLD}\nsse_heartbeat = 1"),
        &[],
    );
    let (code, conf, err) = run(&[
        "nginx-conf",
        "--config",
        b.config.to_str().unwrap(),
        "--listen",
        "{listen}",
        "--server-name",
        "localhost",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        conf.contains(&format!("proxy_read_timeout {}s;", 120 + 5 + 5)),
        "{conf}"
    );
    let n = Nginx::start(&conf);
    (b, n)
}

fn publish(b: &Bxpush, ch: &Channel, text: &str) {
    let body = php_body("test", text);
    let r = request(
        b.publ,
        "POST",
        &format!("/bitrix/pub/?CHANNEL_ID={}", ch.private.to_hex()),
        "Message-Expiry: 600\r\n",
        &body,
    );
    assert_eq!(r.status, 200, "{r:?}");
}

/// Long polls bxpush holds now (`/server-stat/` `pollings`).
fn parked_polls(b: &Bxpush) -> i64 {
    let v: serde_json::Value = serde_json::from_str(&get(b.publ, "/server-stat/").body).unwrap();
    v[0]["pollings"].as_i64().unwrap()
}

/// True once bxpush reports the channel online (a subscriber is registered).
fn online(b: &Bxpush, ch: &Channel) -> bool {
    let hex = ch.private.to_hex();
    get(b.publ, &format!("/bitrix/pub/?CHANNEL_ID={hex}"))
        .body
        .contains(&hex)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_through_nginx() {
    let (b, n) = start();
    let ch = Channel::random();
    let mut ws = ws_connect(n.addr(), &format!("CHANNEL_ID={}", enc(&ch.descriptor()))).await;
    wait_until(10, "subscriber online", || online(&b, &ch));
    publish(&b, &ch, "via-websocket");
    let frame = ws_next(&mut ws, 10).await;
    let e = envelopes(frame.to_text().unwrap());
    assert_eq!(e[0]["text"]["params"]["text"], "via-websocket", "{e:?}");
    drop(n);
}

#[test]
fn long_poll_through_nginx_is_parked_then_answered() {
    let (b, n) = start();
    let ch = Channel::random();
    let path = format!("/bitrix/sub/?CHANNEL_ID={}", enc(&ch.descriptor()));

    // Parked: nothing published, held the full hold time, then bxpush's 304.
    let t = Instant::now();
    let r = get(n.addr(), &path);
    let held = t.elapsed();
    assert_eq!(r.status, 304, "{r:?}\n{}", n.error_log());
    assert!(r.header("Last-Message-Id").is_some(), "{r:?}");
    assert!(held >= Duration::from_secs(HOLD), "answered after {held:?}");

    // Parked, then a message arrives through nginx.
    let addr = n.addr();
    let p = path.clone();
    let poll = std::thread::spawn(move || get(addr, &p));
    // Presence lingers after the first poll (online_ttl): the parked-poll gauge is the signal.
    wait_until(10, "long poll parked in bxpush", || parked_polls(&b) == 1);
    publish(&b, &ch, "via-long-poll");
    let r = poll.join().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let e = envelopes(&r.body);
    assert_eq!(e[0]["text"]["params"]["text"], "via-long-poll", "{e:?}");

    // The trusted endpoint is not served through nginx.
    let r = request(n.addr(), "POST", "/bitrix/pub/?CHANNEL_ID=00", "", "x");
    assert_eq!(r.status, 403, "{r:?}");
}

#[test]
fn sse_through_nginx_is_not_buffered() {
    let (b, n) = start();
    let ch = Channel::random();
    let mut s = TcpStream::connect(n.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /bitrix/sub/?CHANNEL_ID={} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n",
        enc(&ch.descriptor())
    )
    .unwrap();
    let mut lines = BufReader::new(s);
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    assert!(line.contains(" 200 "), "{line}");
    wait_until(10, "SSE subscriber online", || online(&b, &ch));
    publish(&b, &ch, "via-sse");
    // Chunked framing lines and heartbeats come first; the data line arrives unbuffered.
    loop {
        line.clear();
        lines
            .read_line(&mut line)
            .expect("SSE data through nginx in time");
        if let Some(data) = line.strip_prefix("data: ") {
            let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
            assert_eq!(v["text"]["params"]["text"], "via-sse", "{v}");
            break;
        }
    }
}
