//! The machine's floor for a fan-out, measured in the same run (`--scenario fanout`,
//! `longpoll`, `sse`): the same work without a server. One thread, pinned where the
//! server ran, writes the bytes the server would write for one message (a WebSocket frame,
//! a long poll's response, an SSE chunk: `floor_frame`) to every one of N connected loopback sockets;
//! drainer processes (`bxpush-bench --floor-drain`, pinned where the bench ran, as many as
//! the fd limit needs) read them with epoll and report when their last socket got the
//! whole frame. Time to the last frame of a round = the latest drainer's report − the
//! round's first write. The kernel's per-socket work (the `write`, the loopback receive
//! path, waking the reader) is all there is, so a server's fan-out can be stated as a
//! ratio to it.
//!
//! The arithmetic (rounds → quantiles, ratios) is pure and unit-tested; the sockets are in
//! [`measure`] and [`drain_main`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::epoll::Epoll;
use crate::worker::{new_histogram, now_ns, Transport};
use crate::{floor_frame, procstat, Quantiles};

/// What to measure.
#[derive(Debug, Clone)]
pub struct FloorSpec {
    /// Sockets written per round (the fan-out's subscribers).
    pub sockets: u32,
    /// Body size of the message.
    pub message_size: usize,
    /// What the server writes per socket for one message: a WebSocket frame, a long
    /// poll's whole response or an SSE chunk ([`floor_frame::server_bytes`]).
    pub transport: Transport,
    pub rounds: u32,
    /// CPUs of the writer thread (the server's), and of the drainers (the bench's).
    pub writer_cpu: Option<String>,
    pub drain_cpu: Option<String>,
    /// Most sockets one drainer process holds.
    pub per_process: u32,
}

/// The floor's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloorResult {
    pub sockets: u32,
    pub frame_bytes: usize,
    pub drainers: u32,
    pub rounds: u32,
    /// First write → the last socket's whole frame read, per round.
    pub last_delivery: Quantiles,
    /// First write → last write returned, per round (the writer's side alone).
    pub writes: Quantiles,
    /// Mean cost of one `write` of the frame, microseconds.
    pub write_us_per_socket: f64,
}

/// One round as reported: when the writer started and finished, and when each drainer's
/// last socket completed (unix nanoseconds, one clock for every process).
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub write_start_ns: u64,
    pub write_end_ns: u64,
    pub drained_ns: Vec<u64>,
}

impl Round {
    /// First write → the latest drainer's last frame. `None` if a drainer reported a
    /// time before the first write (a clock or protocol error: the round is not counted).
    pub fn last_delivery_ns(&self) -> Option<u64> {
        let last = *self.drained_ns.iter().max()?;
        last.checked_sub(self.write_start_ns)
    }

    pub fn writes_ns(&self) -> u64 {
        self.write_end_ns.saturating_sub(self.write_start_ns)
    }
}

/// Rounds → figures. Rounds without a valid last delivery are left out of both quantiles.
pub fn summarize(rounds: &[Round], sockets: u32, frame_bytes: usize, drainers: u32) -> FloorResult {
    let mut last: Histogram<u64> = new_histogram();
    let mut writes: Histogram<u64> = new_histogram();
    let mut write_total_ns = 0u128;
    let mut counted = 0u32;
    for r in rounds {
        let Some(l) = r.last_delivery_ns() else {
            continue;
        };
        last.saturating_record(l.max(1));
        writes.saturating_record(r.writes_ns().max(1));
        write_total_ns += u128::from(r.writes_ns());
        counted += 1;
    }
    let writes_made = u128::from(counted) * u128::from(sockets);
    FloorResult {
        sockets,
        frame_bytes,
        drainers,
        rounds: counted,
        last_delivery: Quantiles::of(&last),
        writes: Quantiles::of(&writes),
        write_us_per_socket: if writes_made == 0 {
            0.0
        } else {
            write_total_ns as f64 / writes_made as f64 / 1e3
        },
    }
}

/// `figure_ms / floor_ms`, the way BENCHMARKS.md states a fan-out against the floor;
/// `None` when either side was not measured.
pub fn ratio(figure_ms: f64, floor_ms: f64) -> Option<f64> {
    (figure_ms > 0.0 && floor_ms > 0.0).then(|| figure_ms / floor_ms)
}

/// The publish rate for a run compared with the floor: at most one message per two floor
/// times, so that each fan-out starts on an idle server as each floor round starts on an
/// idle writer (fan-outs queued behind each other would measure the queue, not the
/// fan-out). `requested` when the floor was not measured.
pub fn paced_rate(requested: f64, floor_mean_ms: f64) -> f64 {
    if floor_mean_ms > 0.0 {
        requested.min(1000.0 / (2.0 * floor_mean_ms))
    } else {
        requested
    }
}

/// How many drainer processes for `sockets`, at most `per_process` each; and each one's share.
pub fn split(sockets: u32, per_process: u32) -> Vec<u32> {
    let n = sockets.div_ceil(per_process.max(1)).max(1);
    (0..n)
        .map(|i| sockets / n + u32::from(i < sockets % n))
        .filter(|&k| k > 0)
        .collect()
}

/// A drainer's instructions (first line of its stdin).
#[derive(Debug, Serialize, Deserialize)]
struct DrainConfig {
    addr: SocketAddr,
    sockets: u32,
    frame_bytes: usize,
    rounds: u32,
    cpu: Option<String>,
}

/// What a drainer prints, one JSON object per line.
#[derive(Debug, Serialize, Deserialize)]
enum DrainEvent {
    Ready { sockets: u32 },
    Round { round: u32, last_ns: u64 },
}

/// Runs the floor: drainers connect, the writer thread accepts and writes `rounds` rounds,
/// one after the other (a round starts when every drainer reported the previous one).
pub fn measure(spec: &FloorSpec) -> Result<FloorResult, String> {
    let frame = floor_frame::server_bytes(spec.transport, spec.message_size);
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("floor: listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shares = split(spec.sockets, spec.per_process);
    let exe = std::env::current_exe().map_err(|e| format!("floor: own path: {e}"))?;
    let (tx, rx) = mpsc::channel::<(usize, Result<DrainEvent, String>)>();
    let mut children = Children(Vec::new());
    for (i, &n) in shares.iter().enumerate() {
        let mut child = Process::new(&exe)
            .arg("--floor-drain")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("floor: cannot start a drainer: {e}"))?;
        let cfg = DrainConfig {
            addr,
            sockets: n,
            frame_bytes: frame.len(),
            rounds: spec.rounds,
            cpu: spec.drain_cpu.clone(),
        };
        let mut stdin = child.stdin.take().expect("piped");
        writeln!(
            stdin,
            "{}",
            serde_json::to_string(&cfg).expect("serialisable")
        )
        .map_err(|e| format!("floor: drainer config: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let ev = line
                    .map_err(|e| e.to_string())
                    .and_then(|l| serde_json::from_str(&l).map_err(|e| format!("{e}: {l}")));
                let stop = ev.is_err();
                if tx.send((i, ev)).is_err() || stop {
                    return;
                }
            }
            let _ = tx.send((i, Err("drainer exited".into())));
        });
        children.0.push((child, stdin));
    }
    drop(tx);

    // The writer: accept every connection, then write rounds when told.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<Result<(u64, u64), String>>();
    let total = spec.sockets;
    let writer_cpu = spec.writer_cpu.clone();
    let writer_frame = frame.clone();
    let writer = std::thread::spawn(move || {
        if let Some(c) = &writer_cpu {
            if let Err(e) = procstat::pin_self(c) {
                let _ = done_tx.send(Err(e));
                return;
            }
        }
        let mut socks = Vec::with_capacity(total as usize);
        while socks.len() < total as usize {
            match listener.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    socks.push(s);
                }
                Err(e) => {
                    let _ = done_tx.send(Err(format!("floor: accept: {e}")));
                    return;
                }
            }
        }
        let _ = done_tx.send(Ok((0, 0)));
        while go_rx.recv().is_ok() {
            let t0 = now_ns();
            let mut failed = None;
            for s in &mut socks {
                if let Err(e) = s.write_all(&writer_frame) {
                    failed = Some(format!("floor: write: {e}"));
                    break;
                }
            }
            let t1 = now_ns();
            let _ = done_tx.send(failed.map_or(Ok((t0, t1)), Err));
        }
    });

    let deadline = Duration::from_secs(60);
    let recv_event = |want: &str| -> Result<(usize, DrainEvent), String> {
        match rx.recv_timeout(deadline) {
            Ok((i, Ok(ev))) => Ok((i, ev)),
            Ok((i, Err(e))) => Err(format!("floor: drainer {i}: {e}")),
            Err(_) => Err(format!("floor: no drainer {want} within {deadline:?}")),
        }
    };
    for _ in &shares {
        match recv_event("ready")? {
            (_, DrainEvent::Ready { .. }) => {}
            (i, other) => return Err(format!("floor: drainer {i}: {other:?} before ready")),
        }
    }
    done_rx
        .recv_timeout(deadline)
        .map_err(|_| "floor: connections not accepted in time".to_string())??;
    let mut rounds = Vec::with_capacity(spec.rounds as usize);
    for round in 0..spec.rounds {
        go_tx
            .send(())
            .map_err(|_| "floor: writer gone".to_string())?;
        let (t0, t1) = done_rx
            .recv_timeout(deadline)
            .map_err(|_| "floor: writer did not finish a round".to_string())??;
        let mut drained = Vec::with_capacity(shares.len());
        while drained.len() < shares.len() {
            match recv_event("round")? {
                (_, DrainEvent::Round { round: r, last_ns }) if r == round => drained.push(last_ns),
                (i, other) => {
                    return Err(format!("floor: drainer {i}: {other:?} in round {round}"))
                }
            }
        }
        rounds.push(Round {
            write_start_ns: t0,
            write_end_ns: t1,
            drained_ns: drained,
        });
    }
    drop(go_tx);
    let _ = writer.join();
    Ok(summarize(
        &rounds,
        spec.sockets,
        frame.len(),
        shares.len() as u32,
    ))
}

/// The floors' helper processes (drainers here, the ping floor's peers), killed on drop
/// (they also exit when their stdin closes).
pub(crate) struct Children(pub(crate) Vec<(Child, std::process::ChildStdin)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (mut child, stdin) in self.0.drain(..) {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `bxpush-bench --floor-drain`: connect, report ready, then read every socket with epoll
/// and report each round's completion time.
pub fn drain_main() -> Result<(), String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("floor drainer: config: {e}"))?;
    let cfg: DrainConfig =
        serde_json::from_str(&line).map_err(|e| format!("floor drainer: bad config: {e}"))?;
    if let Some(c) = &cfg.cpu {
        procstat::pin_self(c)?;
    }
    let mut socks = Vec::with_capacity(cfg.sockets as usize);
    for _ in 0..cfg.sockets {
        let s = TcpStream::connect(cfg.addr).map_err(|e| format!("floor drainer: connect: {e}"))?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        socks.push(s);
    }
    let epoll = Epoll::new()?;
    for (i, s) in socks.iter().enumerate() {
        epoll.add(s.as_raw_fd(), i as u64)?;
    }
    let mut out = std::io::stdout().lock();
    let mut say = |ev: DrainEvent| -> Result<(), String> {
        writeln!(out, "{}", serde_json::to_string(&ev).expect("serialisable"))
            .and_then(|()| out.flush())
            .map_err(|e| format!("floor drainer: report: {e}"))
    };
    say(DrainEvent::Ready {
        sockets: cfg.sockets,
    })?;
    // Bytes each socket has read so far; a socket completes round r at (r + 1) frames.
    let frame = cfg.frame_bytes as u64;
    let mut read_so_far = vec![0u64; socks.len()];
    let mut complete = vec![0u32; cfg.rounds as usize];
    let mut next_round = 0u32;
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let idle_limit = Instant::now() + Duration::from_secs(600);
    while next_round < cfg.rounds {
        if Instant::now() > idle_limit {
            return Err("floor drainer: rounds did not complete in 10 minutes".into());
        }
        let n = epoll.wait(&mut events, 1000)?;
        for ev in &events[..n] {
            let i = ev.u64 as usize;
            loop {
                match (&socks[i]).read(&mut buf) {
                    Ok(0) => return Err("floor drainer: the writer closed a socket".into()),
                    Ok(k) => {
                        let before = read_so_far[i] / frame;
                        read_so_far[i] += k as u64;
                        let after = (read_so_far[i] / frame).min(u64::from(cfg.rounds));
                        for r in before..after {
                            complete[r as usize] += 1;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("floor drainer: read: {e}")),
                }
            }
        }
        while next_round < cfg.rounds && complete[next_round as usize] == cfg.sockets {
            say(DrainEvent::Round {
                round: next_round,
                last_ns: now_ns(),
            })?;
            next_round += 1;
        }
    }
    // Stay until the coordinator closes our stdin: an exit now would read, on its side, like
    // a drainer that died while others still report the last round.
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(start: u64, end: u64, drained: &[u64]) -> Round {
        Round {
            write_start_ns: start,
            write_end_ns: end,
            drained_ns: drained.to_vec(),
        }
    }

    #[test]
    fn a_round_lasts_until_the_latest_drainer() {
        let r = round(1_000, 4_000, &[9_000, 12_000, 7_000]);
        assert_eq!(r.last_delivery_ns(), Some(11_000));
        assert_eq!(r.writes_ns(), 3_000);
        // Only the latest drainer counts; one whose time is before the first write can
        // only be a clock or protocol error, never a negative duration.
        assert_eq!(
            round(5_000, 6_000, &[4_000, 9_000]).last_delivery_ns(),
            Some(4_000)
        );
        assert_eq!(round(5_000, 6_000, &[4_000]).last_delivery_ns(), None);
        assert_eq!(round(5_000, 6_000, &[]).last_delivery_ns(), None);
    }

    #[test]
    fn summary_counts_valid_rounds_and_the_cost_per_write() {
        // 3 rounds over 1,000 sockets: last deliveries 40, 50, 60 ms; writes 30, 31, 32 ms.
        let ms = 1_000_000u64;
        let rounds = vec![
            round(0, 30 * ms, &[40 * ms, 39 * ms]),
            round(100 * ms, 131 * ms, &[150 * ms, 120 * ms]),
            round(200 * ms, 232 * ms, &[250 * ms, 260 * ms]),
            round(300 * ms, 330 * ms, &[299 * ms]), // invalid: left out
        ];
        let s = summarize(&rounds, 1_000, 240, 2);
        assert_eq!(s.rounds, 3);
        assert_eq!(s.last_delivery.count, 3);
        assert!(
            (s.last_delivery.mean_ms - 50.0).abs() < 0.1,
            "{:?}",
            s.last_delivery
        );
        assert!((s.last_delivery.max_ms - 60.0).abs() < 0.1);
        assert!((s.writes.mean_ms - 31.0).abs() < 0.1);
        // 93 ms of writes over 3,000 writes = 31 µs each.
        assert!(
            (s.write_us_per_socket - 31.0).abs() < 1e-9,
            "{}",
            s.write_us_per_socket
        );
        assert_eq!((s.sockets, s.frame_bytes, s.drainers), (1_000, 240, 2));
    }

    #[test]
    fn nothing_measured_gives_zeros_not_nan() {
        let s = summarize(&[], 10_000, 240, 1);
        assert_eq!(s.rounds, 0);
        assert_eq!(s.write_us_per_socket, 0.0);
        assert_eq!(s.last_delivery.count, 0);
        assert_eq!(ratio(98.0, s.last_delivery.mean_ms), None);
    }

    #[test]
    fn the_rate_leaves_a_floor_time_between_fan_outs() {
        // 100 ms to the floor's last frame: one fan-out per 200 ms at most.
        assert_eq!(paced_rate(10.0, 100.0), 5.0);
        // 40 ms: 12.5/s would do, the 10/s asked is kept.
        assert_eq!(paced_rate(10.0, 40.0), 10.0);
        assert_eq!(paced_rate(10.0, 0.0), 10.0);
    }

    #[test]
    fn ratio_is_figure_over_floor() {
        assert_eq!(ratio(75.0, 50.0), Some(1.5));
        assert_eq!(ratio(0.0, 50.0), None);
    }

    #[test]
    fn drainers_share_sockets_evenly_under_the_limit() {
        assert_eq!(split(10_000, 15_000), vec![10_000]);
        assert_eq!(split(30_001, 15_000), vec![10_001, 10_000, 10_000]);
        assert_eq!(split(5, 2), vec![2, 2, 1]);
        assert_eq!(split(1, 0), vec![1]);
        assert!(split(0, 100).is_empty());
    }
}
