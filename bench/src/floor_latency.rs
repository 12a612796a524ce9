//! The machine's floor for publish → receive latency (`--scenario latency`), measured in
//! the same run: the same two hops without a server. The bench's publisher thread (pinned
//! where the bench runs) writes the publish request the scenario sends (the same POST
//! bytes) to one loopback socket at the scenario's rate, open loop; a thread pinned where
//! the server ran reads each request whole (blocking `read`: it sleeps in the kernel as an
//! idle server does) and writes the WebSocket frame the subscriber receives
//! (`floor_frame::server_bytes`) to a second socket; the bench's reader thread reads each
//! frame whole. Latency = the request's `write` → its frame read, as the scenario measures
//! publish → receive (its publisher stamps the message when it sends it). What is left is
//! the kernel's part: two loopback segments, two wake-ups across the CPUs, four syscalls.
//!
//! The arithmetic is pure and unit-tested ([`summarize`]); the sockets are in [`measure`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::worker::{new_histogram, now_ns};
use crate::{procstat, Quantiles};

/// What to measure.
#[derive(Debug, Clone)]
pub struct LatencyFloorSpec {
    /// Requests published (one frame each).
    pub samples: u32,
    /// Requests per second, scheduled whatever the replies (open loop).
    pub rate: f64,
    /// The publish request, whole (head and body), as the scenario's publisher sends it.
    pub request: Vec<u8>,
    /// The frame the subscriber receives for it.
    pub frame: Vec<u8>,
    /// CPU of the thread standing in for the server, and of the bench's two threads.
    pub server_cpu: Option<String>,
    pub bench_cpu: Option<String>,
}

/// The floor's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencyFloorResult {
    pub request_bytes: usize,
    pub frame_bytes: usize,
    pub rate: f64,
    /// Requests written.
    pub sent: u64,
    /// Request `write` → frame read, per request whose frame arrived.
    pub latency: Quantiles,
}

/// Send and receive times (unix ns, one clock) → figures. Frames arrive in order on one
/// stream, so the i-th frame read answers the i-th request; a receive time before its
/// send (a clock error) is left out, as are requests whose frame never came.
pub fn summarize(
    sent_ns: &[u64],
    received_ns: &[u64],
    request_bytes: usize,
    frame_bytes: usize,
    rate: f64,
) -> LatencyFloorResult {
    let mut h = new_histogram();
    for (s, r) in sent_ns.iter().zip(received_ns) {
        if let Some(d) = r.checked_sub(*s) {
            h.saturating_record(d.max(1));
        }
    }
    LatencyFloorResult {
        request_bytes,
        frame_bytes,
        rate,
        sent: sent_ns.len() as u64,
        latency: Quantiles::of(&h),
    }
}

/// No read waits longer than this (a lost peer fails the floor instead of hanging it).
const READ_LIMIT: Duration = Duration::from_secs(10);

/// Runs the floor: the server thread and the bench's reader connect first, then the
/// publisher sends `samples` requests at `rate`.
pub fn measure(spec: &LatencyFloorSpec) -> Result<LatencyFloorResult, String> {
    if spec.samples == 0 || spec.rate <= 0.0 || spec.request.is_empty() || spec.frame.is_empty() {
        return Err("latency floor: needs samples, a rate, a request and a frame".into());
    }
    let bind =
        || TcpListener::bind("127.0.0.1:0").map_err(|e| format!("latency floor: listen: {e}"));
    let (pub_l, sub_l) = (bind()?, bind()?);
    let (pub_addr, sub_addr) = (
        pub_l.local_addr().map_err(|e| e.to_string())?,
        sub_l.local_addr().map_err(|e| e.to_string())?,
    );
    let server = {
        let (cpu, req_len, frame) = (
            spec.server_cpu.clone(),
            spec.request.len(),
            spec.frame.clone(),
        );
        std::thread::spawn(move || relay(pub_l, sub_l, cpu, req_len, &frame))
    };
    // The subscriber is connected before anything is published, as in the scenario.
    let sub = TcpStream::connect(sub_addr).map_err(|e| format!("latency floor: connect: {e}"))?;
    let reader = {
        let (cpu, n, len) = (spec.bench_cpu.clone(), spec.samples, spec.frame.len());
        std::thread::spawn(move || read_frames(sub, cpu, n, len))
    };
    let sent = publish(spec, pub_addr);
    // Whatever happened, the relay sees the publisher's socket close and the reader its
    // frames or an error: both threads end.
    let received = reader
        .join()
        .map_err(|_| "latency floor: the reader panicked".to_string())?;
    let relayed = server
        .join()
        .map_err(|_| "latency floor: the server thread panicked".to_string())?;
    let sent = sent?;
    relayed?;
    let received = received?;
    Ok(summarize(
        &sent,
        &received,
        spec.request.len(),
        spec.frame.len(),
        spec.rate,
    ))
}

/// The publisher (on the calling thread, pinned where the bench runs): each request at
/// its scheduled time, its send time taken just before its `write`.
fn publish(spec: &LatencyFloorSpec, addr: std::net::SocketAddr) -> Result<Vec<u64>, String> {
    if let Some(c) = &spec.bench_cpu {
        procstat::pin_self(c)?;
    }
    let mut s = TcpStream::connect(addr).map_err(|e| format!("latency floor: connect: {e}"))?;
    let _ = s.set_nodelay(true);
    let step = Duration::from_secs_f64(1.0 / spec.rate);
    let t0 = Instant::now();
    let mut sent = Vec::with_capacity(spec.samples as usize);
    for i in 0..spec.samples {
        let due = t0 + step * i;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        sent.push(now_ns());
        s.write_all(&spec.request)
            .map_err(|e| format!("latency floor: publish: {e}"))?;
    }
    Ok(sent)
}

/// The server's stand-in: read each request whole, write its frame to the subscriber;
/// ends when the publisher closes its socket.
fn relay(
    pub_l: TcpListener,
    sub_l: TcpListener,
    cpu: Option<String>,
    req_len: usize,
    frame: &[u8],
) -> Result<(), String> {
    if let Some(c) = &cpu {
        procstat::pin_self(c)?;
    }
    let accept = |l: &TcpListener| -> Result<TcpStream, String> {
        let (s, _) = l
            .accept()
            .map_err(|e| format!("latency floor: accept: {e}"))?;
        // As the server's accepted sockets.
        let _ = s.set_nodelay(true);
        s.set_read_timeout(Some(READ_LIMIT))
            .map_err(|e| e.to_string())?;
        Ok(s)
    };
    let mut sub = accept(&sub_l)?;
    let mut publ = accept(&pub_l)?;
    let mut req = vec![0u8; req_len];
    loop {
        match publ.read_exact(&mut req) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(format!("latency floor: read a request: {e}")),
        }
        sub.write_all(frame)
            .map_err(|e| format!("latency floor: write a frame: {e}"))?;
    }
}

/// The subscriber: `n` frames of `len` bytes, each one's time once read whole.
fn read_frames(
    mut s: TcpStream,
    cpu: Option<String>,
    n: u32,
    len: usize,
) -> Result<Vec<u64>, String> {
    if let Some(c) = &cpu {
        procstat::pin_self(c)?;
    }
    s.set_read_timeout(Some(READ_LIMIT))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; len];
    let mut got = Vec::with_capacity(n as usize);
    for _ in 0..n {
        s.read_exact(&mut buf).map_err(|e| {
            format!(
                "latency floor: frame {} of {n} not read: {e}",
                got.len() + 1
            )
        })?;
        got.push(now_ns());
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_frame_answers_the_request_of_its_rank() {
        // 100 requests, the i-th answered (i % 10 + 1) × 10 µs later: ten each of
        // 10, 20, … 100 µs.
        let sent: Vec<u64> = (0..100u64).map(|i| 1_000_000_000 + i * 5_000_000).collect();
        let recv: Vec<u64> = sent
            .iter()
            .enumerate()
            .map(|(i, s)| s + (i as u64 % 10 + 1) * 10_000)
            .collect();
        let r = summarize(&sent, &recv, 400, 380, 200.0);
        assert_eq!(r.sent, 100);
        assert_eq!(r.latency.count, 100);
        assert!((r.latency.p50_ms - 0.050).abs() < 0.001, "{r:?}");
        assert!((r.latency.max_ms - 0.100).abs() < 0.001, "{r:?}");
        assert!((r.latency.mean_ms - 0.055).abs() < 0.001, "{r:?}");
        assert_eq!((r.request_bytes, r.frame_bytes, r.rate), (400, 380, 200.0));
        // The scenario's p99 over this floor's, as the report states it.
        assert_eq!(
            crate::floor::ratio(0.5, r.latency.p99_ms).map(|x| (x * 100.0).round()),
            Some(500.0)
        );
    }

    #[test]
    fn missing_frames_and_clock_errors_are_not_samples() {
        let sent = [1_000, 2_000, 3_000];
        // The third frame never came; the second was "read" before it was sent.
        let r = summarize(&sent, &[1_500, 1_900], 10, 10, 1.0);
        assert_eq!(r.sent, 3);
        assert_eq!(r.latency.count, 1);
        let none = summarize(&[], &[], 10, 10, 1.0);
        assert_eq!(none.latency.count, 0);
        assert_eq!(none.latency.p99_ms, 0.0);
        assert_eq!(crate::floor::ratio(0.5, none.latency.p99_ms), None);
    }
}
