//! The machine's floor for a connection storm (`--scenario storm`), measured in the same
//! run: the same connection pattern without a server. A thread pinned where the server
//! ran accepts each connection, reads the WebSocket upgrade request the scenario's
//! clients send (the same bytes) and writes a `101 Switching Protocols` answer of the
//! server's size, then closes its end; one bench thread, pinned where the bench ran,
//! keeps the scenario's number of handshakes in flight (`--connect-concurrency`): it
//! connects, writes the request, and reads the answer whole through one epoll set.
//! What is left is what the kernel makes any server pay per connection: the TCP
//! handshake on loopback, `accept`, one `read`, one `write`, `close`.
//!
//! The storm holds its 19,000 connections open; the floor closes each after its
//! exchange (the same number of connections, never more than the concurrency open at
//! once: the fd limit is 20,000 per process). The server's rate is stated as a ratio to
//! the floor's.
//!
//! The arithmetic is pure and unit-tested ([`summarize`]); the sockets are in [`measure`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::epoll::Epoll;
use crate::floor_ping::thread_cpu_ns;
use crate::worker::{new_histogram, now_ns};
use crate::{procstat, Quantiles};

/// What to measure.
#[derive(Debug, Clone)]
pub struct StormFloorSpec {
    /// Connections made (the storm's subscribers).
    pub connections: u32,
    /// Most handshakes in flight at once (the storm's `--connect-concurrency`).
    pub concurrency: u32,
    /// The client's upgrade request, whole.
    pub request: Vec<u8>,
    /// The server's answer, whole.
    pub response: Vec<u8>,
    /// CPU of the accepting thread (the server's), and of the connecting one (the bench's).
    pub server_cpu: Option<String>,
    pub bench_cpu: Option<String>,
}

/// The floor's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StormFloorResult {
    pub connections: u64,
    pub concurrency: u32,
    pub request_bytes: usize,
    pub response_bytes: usize,
    /// First `connect` → last answer read.
    pub seconds: f64,
    /// Exchanges completed per second.
    pub per_sec: f64,
    /// `connect` → answer read, per connection.
    pub exchange: Quantiles,
    /// The accepting thread's CPU per connection (its `CLOCK_THREAD_CPUTIME_ID`, the
    /// clock the server's `/proc` CPU figures are cut from), microseconds.
    #[serde(default)]
    pub server_cpu_us_per_conn: f64,
}

/// Counts → figures; zeros, never NaN, when nothing was measured.
pub fn summarize(
    spec: &StormFloorSpec,
    completed: u64,
    wall_ns: u64,
    exchange: &Histogram<u64>,
    server_cpu_ns: u64,
) -> StormFloorResult {
    let seconds = wall_ns as f64 / 1e9;
    let per_conn = |v: f64| {
        if completed == 0 {
            0.0
        } else {
            v / completed as f64
        }
    };
    StormFloorResult {
        connections: completed,
        concurrency: spec.concurrency,
        request_bytes: spec.request.len(),
        response_bytes: spec.response.len(),
        seconds,
        per_sec: if wall_ns == 0 {
            0.0
        } else {
            completed as f64 / seconds
        },
        exchange: Quantiles::of(exchange),
        server_cpu_us_per_conn: per_conn(server_cpu_ns as f64 / 1e3),
    }
}

/// The upgrade request the scenario's clients (tungstenite) send for `target` (path and
/// query) on `host`: the same headers, a key of the same length.
pub fn upgrade_request(host: SocketAddr, target: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
    )
    .into_bytes()
}

/// A client key (16 bytes in base64, as every client's).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The server's answer to [`upgrade_request`]: hyper's `101` head with the accept key
/// and its `date` header.
pub fn upgrade_response() -> Vec<u8> {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(KEY.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {accept}\r\ndate: {}\r\n\r\n",
        httpdate()
    )
    .into_bytes()
}

/// An IMF-fixdate of the right length (the bytes matter, not the day).
fn httpdate() -> &'static str {
    "Thu, 03 Dec 2026 10:00:00 GMT"
}

/// No read waits longer than this (a lost peer fails the floor instead of hanging it).
const READ_LIMIT: Duration = Duration::from_secs(10);

/// Runs the floor: every connection's exchange, `concurrency` at a time.
pub fn measure(spec: &StormFloorSpec) -> Result<StormFloorResult, String> {
    if spec.connections == 0 || spec.concurrency == 0 {
        return Err("storm floor: needs connections and a concurrency".into());
    }
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("storm floor: listen: {e}"))?;
    // Room for every handshake in flight in the accept queue, as tokio's listener
    // (backlog 1024) gives the server: std's 128 would drop SYNs at 512 in flight.
    // SAFETY: `listen` again on our listening socket only changes its backlog.
    if unsafe { libc::listen(listener.as_raw_fd(), 1024) } < 0 {
        return Err(format!(
            "storm floor: listen: {}",
            std::io::Error::last_os_error()
        ));
    }
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = {
        let (cpu, n, req_len, resp) = (
            spec.server_cpu.clone(),
            spec.connections,
            spec.request.len(),
            spec.response.clone(),
        );
        std::thread::spawn(move || answer(listener, cpu, n, req_len, &resp))
    };
    let connected = connect_all(spec, addr);
    if connected.is_err() {
        // The bench's sockets are closed (a read waiting on one ends); one more
        // connection, closed at once, ends an `accept` waiting for the rest.
        drop(TcpStream::connect(addr));
    }
    let answered = server
        .join()
        .map_err(|_| "storm floor: the server thread panicked".to_string())?;
    let (completed, wall_ns, h) = connected?;
    let server_cpu_ns = answered?;
    Ok(summarize(spec, completed, wall_ns, &h, server_cpu_ns))
}

/// The server's stand-in: accept, read the request whole, write the answer, close.
/// Returns the thread's CPU time over the connections.
fn answer(
    listener: TcpListener,
    cpu: Option<String>,
    n: u32,
    req_len: usize,
    response: &[u8],
) -> Result<u64, String> {
    if let Some(c) = &cpu {
        procstat::pin_self(c)?;
    }
    let cpu0 = thread_cpu_ns();
    let mut req = vec![0u8; req_len];
    for _ in 0..n {
        let (mut s, _) = listener
            .accept()
            .map_err(|e| format!("storm floor: accept: {e}"))?;
        // As the server's accepted sockets.
        let _ = s.set_nodelay(true);
        s.set_read_timeout(Some(READ_LIMIT))
            .map_err(|e| e.to_string())?;
        s.read_exact(&mut req)
            .map_err(|e| format!("storm floor: read a request: {e}"))?;
        s.write_all(response)
            .map_err(|e| format!("storm floor: write an answer: {e}"))?;
    }
    Ok(thread_cpu_ns().saturating_sub(cpu0))
}

/// One connection in flight on the bench's side.
struct InFlight {
    stream: TcpStream,
    start_ns: u64,
    got: usize,
}

/// The bench's side: every connection, `concurrency` in flight; returns how many
/// completed, first connect → last answer (ns), and each exchange's time.
fn connect_all(
    spec: &StormFloorSpec,
    addr: SocketAddr,
) -> Result<(u64, u64, Histogram<u64>), String> {
    if let Some(c) = &spec.bench_cpu {
        procstat::pin_self(c)?;
    }
    let epoll = Epoll::new()?;
    let mut slots: Vec<Option<InFlight>> = (0..spec.concurrency).map(|_| None).collect();
    let mut free: Vec<usize> = (0..slots.len()).rev().collect();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; spec.response.len().max(512)];
    let mut h = new_histogram();
    let (mut started, mut completed) = (0u32, 0u64);
    let t0 = now_ns();
    while completed < u64::from(spec.connections) {
        while started < spec.connections {
            let Some(slot) = free.pop() else { break };
            let start_ns = now_ns();
            let mut stream =
                TcpStream::connect(addr).map_err(|e| format!("storm floor: connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            stream
                .write_all(&spec.request)
                .map_err(|e| format!("storm floor: write a request: {e}"))?;
            stream.set_nonblocking(true).map_err(|e| e.to_string())?;
            epoll.add(stream.as_raw_fd(), slot as u64)?;
            slots[slot] = Some(InFlight {
                stream,
                start_ns,
                got: 0,
            });
            started += 1;
        }
        let n = epoll.wait(&mut events, READ_LIMIT.as_millis() as i32)?;
        if n == 0 {
            return Err(format!(
                "storm floor: no answer within {READ_LIMIT:?} ({completed} of {} done)",
                spec.connections
            ));
        }
        for ev in &events[..n] {
            let slot = ev.u64 as usize;
            let Some(c) = slots[slot].as_mut() else {
                continue;
            };
            match (&c.stream).read(&mut buf) {
                Ok(0) => {
                    return Err(format!(
                        "storm floor: closed after {} of {} answer bytes",
                        c.got,
                        spec.response.len()
                    ))
                }
                Ok(k) => c.got += k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(format!("storm floor: read an answer: {e}")),
            }
            if c.got >= spec.response.len() {
                h.saturating_record(now_ns().saturating_sub(c.start_ns).max(1));
                // Closing the fd takes it out of the epoll set.
                slots[slot] = None;
                free.push(slot);
                completed += 1;
            }
        }
    }
    Ok((completed, now_ns().saturating_sub(t0), h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StormFloorSpec {
        StormFloorSpec {
            connections: 19_000,
            concurrency: 512,
            request: vec![b'r'; 300],
            response: vec![b'a'; 160],
            server_cpu: None,
            bench_cpu: None,
        }
    }

    #[test]
    fn rate_is_connections_over_the_whole_storm() {
        let mut h = new_histogram();
        for us in [100u64, 200, 300, 400] {
            h.record(us * 1000).unwrap();
        }
        // 19,000 exchanges in 0.5 s: 38,000/s.
        let r = summarize(&spec(), 19_000, 500_000_000, &h, 380_000_000);
        assert!((r.per_sec - 38_000.0).abs() < 1e-6, "{r:?}");
        assert!((r.seconds - 0.5).abs() < 1e-12);
        assert_eq!((r.connections, r.concurrency), (19_000, 512));
        assert_eq!((r.request_bytes, r.response_bytes), (300, 160));
        assert_eq!(r.exchange.count, 4);
        assert!((r.exchange.mean_ms - 0.25).abs() < 0.001, "{r:?}");
        // 380 ms of the accepting thread's CPU over 19,000 connections: 20 µs each.
        assert!((r.server_cpu_us_per_conn - 20.0).abs() < 1e-9, "{r:?}");
        // The storm's rate over this floor's, as the report states it.
        assert_eq!(
            crate::floor::ratio(11_400.0, r.per_sec).map(|x| (x * 100.0).round()),
            Some(30.0)
        );
    }

    #[test]
    fn nothing_measured_gives_zeros_not_nan() {
        let r = summarize(&spec(), 0, 0, &new_histogram(), 0);
        assert_eq!(r.per_sec, 0.0);
        assert_eq!(r.server_cpu_us_per_conn, 0.0);
        assert_eq!(r.exchange.count, 0);
        assert_eq!(crate::floor::ratio(11_400.0, r.per_sec), None);
    }

    /// The request carries the upgrade headers and the answer is the server's `101`
    /// with the accept key derived from the request's key.
    #[test]
    fn the_answer_completes_the_clients_handshake() {
        let req = upgrade_request("127.0.0.1:1".parse().unwrap(), "/sub/?CHANNEL_ID=ab");
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("GET /sub/?CHANNEL_ID=ab HTTP/1.1\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let resp = String::from_utf8(upgrade_response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        // RFC 6455 §1.3's example key and accept value.
        assert!(resp.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(resp.ends_with("\r\n\r\n"));
        // The date is an IMF-fixdate's 29 characters, as hyper writes it.
        assert_eq!(httpdate().len(), 29);
    }
}
