//! The machine's floor for idle WebSocket pings (`--scenario idle`), measured in the same
//! run: the same ping + pong traffic without a server. One thread, pinned where the server
//! ran, holds as many accepted loopback sockets as the server had subscribers and does what
//! the kernel makes any server do for them: it writes the server's ping frame
//! (`ws_codec::PING`) to every socket once per ping interval, in as many bursts an interval
//! as the server's ping wheel has buckets, and reads each pong through one level-triggered
//! epoll set, one `read` per readiness, sleeping in `epoll_wait` until the next burst is
//! due. Peer processes (`bxpush-bench --floor-pong`, pinned where the bench ran, as many as
//! the fd limit needs) answer each ping with a masked pong, as the bench's clients do.
//!
//! The writer thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`: the scheduler's clock, which
//! `/proc/PID/stat`'s utime + stime of the server are cut from) over whole intervals,
//! divided by the pings it wrote, is what one ping + pong costs the server's CPU when
//! nothing but the kernel runs there: the `write` (on loopback it also delivers the segment
//! to the peer's socket), the wake-up from `epoll_wait`, the `read` (and the ACK it sends).
//! The idle scenario states its server's figure as a ratio to it.
//!
//! The arithmetic is pure and unit-tested ([`summarize`]); the sockets are in [`measure`]
//! and [`pong_main`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use bxpush::transport::ws_codec::PING;
use bxpush::transport::ws_pings::BUCKETS;

use crate::epoll::Epoll;
use crate::floor::{split, Children};
use crate::procstat;

/// What to measure.
#[derive(Debug, Clone)]
pub struct PingFloorSpec {
    /// Sockets pinged (the idle scenario's subscribers).
    pub sockets: u32,
    /// The server's `--ws-ping-interval`.
    pub interval: Duration,
    /// Intervals measured, after one that warms up (every socket pinged once).
    pub intervals: u32,
    /// CPUs of the writer thread (the server's), and of the peers (the bench's).
    pub writer_cpu: Option<String>,
    pub peer_cpu: Option<String>,
    /// Most sockets one peer process holds.
    pub per_process: u32,
}

/// What the writer thread counted over the measured intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// The thread's CPU time.
    pub cpu_ns: u64,
    pub wall_ns: u64,
    /// Pings written (one `write` each).
    pub pings: u64,
    /// Pongs read (whole frames).
    pub pongs: u64,
    pub reads: u64,
    pub epoll_waits: u64,
}

impl Counted {
    /// What happened between `self` (earlier) and `later`.
    pub fn until(&self, later: &Counted) -> Counted {
        Counted {
            cpu_ns: later.cpu_ns.saturating_sub(self.cpu_ns),
            wall_ns: later.wall_ns.saturating_sub(self.wall_ns),
            pings: later.pings.saturating_sub(self.pings),
            pongs: later.pongs.saturating_sub(self.pongs),
            reads: later.reads.saturating_sub(self.reads),
            epoll_waits: later.epoll_waits.saturating_sub(self.epoll_waits),
        }
    }
}

/// The floor's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PingFloorResult {
    pub sockets: u32,
    pub ping_bytes: usize,
    pub pong_bytes: usize,
    pub interval_s: f64,
    /// Bursts of pings per interval (the server's wheel buckets).
    pub bursts: u32,
    pub peers: u32,
    pub intervals: u32,
    pub seconds: f64,
    pub pings: u64,
    pub pongs: u64,
    pub cpu_seconds: f64,
    /// The writer thread's CPU per ping + pong, microseconds.
    pub us_per_ping_pong: f64,
    /// The writer thread's CPU, % of one core (comparable with the server's idle CPU).
    pub cpu_pct: f64,
    /// Syscalls per ping + pong besides its one `write`.
    pub reads_per_ping: f64,
    pub epoll_waits_per_ping: f64,
}

/// Counts → figures; zeros, never NaN, when nothing was measured.
pub fn summarize(c: &Counted, spec: &PingFloorSpec, peers: u32) -> PingFloorResult {
    let per_ping = |v: f64| {
        if c.pings == 0 {
            0.0
        } else {
            v / c.pings as f64
        }
    };
    PingFloorResult {
        sockets: spec.sockets,
        ping_bytes: PING.len(),
        pong_bytes: client_pong().len(),
        interval_s: spec.interval.as_secs_f64(),
        bursts: BUCKETS as u32,
        peers,
        intervals: spec.intervals,
        seconds: c.wall_ns as f64 / 1e9,
        pings: c.pings,
        pongs: c.pongs,
        cpu_seconds: c.cpu_ns as f64 / 1e9,
        us_per_ping_pong: per_ping(c.cpu_ns as f64 / 1e3),
        cpu_pct: if c.wall_ns == 0 {
            0.0
        } else {
            c.cpu_ns as f64 / c.wall_ns as f64 * 100.0
        },
        reads_per_ping: per_ping(c.reads as f64),
        epoll_waits_per_ping: per_ping(c.epoll_waits as f64),
    }
}

/// What the bench's clients (tungstenite) answer the server's ping with: a pong echoing
/// its payload, masked as every client frame is (RFC 6455 §5.3; the key is arbitrary).
pub fn client_pong() -> Vec<u8> {
    const KEY: [u8; 4] = [0x5b, 0x1e, 0x9c, 0x27];
    let payload = &PING[2..];
    let mut f = vec![0x8a, 0x80 | payload.len() as u8];
    f.extend_from_slice(&KEY);
    f.extend(payload.iter().zip(KEY.iter().cycle()).map(|(b, k)| b ^ k));
    f
}

/// Which of `sockets` a burst writes to: the wheel's buckets, socket `i` in bucket
/// `i % BUCKETS`, as the server's sockets join the bucket visited last while they connect.
fn burst(sockets: usize, bucket: usize) -> impl Iterator<Item = usize> {
    (bucket..sockets).step_by(BUCKETS)
}

/// A peer's instructions (first line of its stdin).
#[derive(Debug, Serialize, Deserialize)]
struct PeerConfig {
    addr: SocketAddr,
    sockets: u32,
    cpu: Option<String>,
}

/// What a peer prints once its sockets are connected.
#[derive(Debug, Serialize, Deserialize)]
struct PeerReady {
    sockets: u32,
}

/// Runs the floor: peers connect, the writer thread accepts, warms up one interval, then
/// measures `intervals`.
pub fn measure(spec: &PingFloorSpec) -> Result<PingFloorResult, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("ping floor: listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shares = split(spec.sockets, spec.per_process);
    let exe = std::env::current_exe().map_err(|e| format!("ping floor: own path: {e}"))?;
    let (tx, rx) = mpsc::channel::<(usize, Result<PeerReady, String>)>();
    let mut children = Children(Vec::new());
    for (i, &n) in shares.iter().enumerate() {
        let mut child = Process::new(&exe)
            .arg("--floor-pong")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("ping floor: cannot start a peer: {e}"))?;
        let cfg = PeerConfig {
            addr,
            sockets: n,
            cpu: spec.peer_cpu.clone(),
        };
        let mut stdin = child.stdin.take().expect("piped");
        writeln!(
            stdin,
            "{}",
            serde_json::to_string(&cfg).expect("serialisable")
        )
        .map_err(|e| format!("ping floor: peer config: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            let ev = match BufReader::new(stdout).read_line(&mut line) {
                Ok(0) => Err("exited before it was ready".to_string()),
                Ok(_) => serde_json::from_str(&line).map_err(|e| format!("{e}: {line}")),
                Err(e) => Err(e.to_string()),
            };
            let _ = tx.send((i, ev));
        });
        children.0.push((child, stdin));
    }
    drop(tx);

    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let writer = {
        let spec = spec.clone();
        std::thread::spawn(move || write_pings(listener, &spec, ready_tx, go_rx))
    };
    let deadline = Duration::from_secs(60);
    for _ in &shares {
        match rx.recv_timeout(deadline) {
            Ok((_, Ok(_))) => {}
            Ok((i, Err(e))) => return Err(format!("ping floor: peer {i}: {e}")),
            Err(_) => return Err(format!("ping floor: no peer ready within {deadline:?}")),
        }
    }
    ready_rx
        .recv_timeout(deadline)
        .map_err(|_| "ping floor: connections not accepted in time".to_string())??;
    go_tx
        .send(())
        .map_err(|_| "ping floor: writer gone".to_string())?;
    let (counted, socks) = writer
        .join()
        .map_err(|_| "ping floor: the writer thread panicked".to_string())??;
    // The peers go first: a socket closed under a peer that still runs reads, on its side,
    // like a broken floor.
    drop(children);
    drop(socks);
    Ok(summarize(&counted, spec, shares.len() as u32))
}

/// The writer thread: accept every socket, then ping them as the server's wheel does and
/// read the pongs; returns what the measured intervals cost, and the sockets (closed by
/// the caller once the peers are stopped).
fn write_pings(
    listener: TcpListener,
    spec: &PingFloorSpec,
    ready: mpsc::Sender<Result<(), String>>,
    go: mpsc::Receiver<()>,
) -> Result<(Counted, Vec<TcpStream>), String> {
    let fail = |e: String| {
        let _ = ready.send(Err(e.clone()));
        e
    };
    if let Some(c) = &spec.writer_cpu {
        procstat::pin_self(c).map_err(fail)?;
    }
    let mut socks = Vec::with_capacity(spec.sockets as usize);
    while socks.len() < spec.sockets as usize {
        let (s, _) = listener
            .accept()
            .map_err(|e| fail(format!("ping floor: accept: {e}")))?;
        // As the server's accepted sockets.
        let _ = s.set_nodelay(true);
        s.set_nonblocking(true)
            .map_err(|e| fail(format!("ping floor: {e}")))?;
        socks.push(s);
    }
    let epoll = Epoll::new().map_err(fail)?;
    for (i, s) in socks.iter().enumerate() {
        epoll.add(s.as_raw_fd(), i as u64).map_err(fail)?;
    }
    let _ = ready.send(Ok(()));
    go.recv()
        .map_err(|_| "ping floor: never told to start".to_string())?;

    let mut w = Pinger {
        socks: &socks,
        epoll,
        events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
        buf: vec![0u8; 4096],
        pong_bytes: 0,
        pong_len: client_pong().len() as u64,
        counted: Counted::default(),
        t0: Instant::now(),
    };
    let step = spec.interval / BUCKETS as u32;
    let mut next = Instant::now() + step;
    let mut start = None;
    for visit in 0..(spec.intervals as usize + 1) * BUCKETS {
        w.wait_until(next)?;
        if visit == BUCKETS {
            // The warm-up interval is over: every socket was pinged once. Its last pongs
            // are in before the mark, so the window counts its own pings and pongs only.
            w.answered(Duration::from_secs(5))?;
            start = Some(w.now());
        }
        w.ping(burst(socks.len(), visit % BUCKETS))?;
        next += step;
    }
    // The last step of the last interval: its pongs come back meanwhile.
    w.wait_until(next)?;
    w.answered(Duration::from_secs(5))?;
    let end = w.now();
    drop(w);
    Ok((start.unwrap_or(end).until(&end), socks))
}

/// The writer's loop state.
struct Pinger<'a> {
    socks: &'a [TcpStream],
    epoll: Epoll,
    events: Vec<libc::epoll_event>,
    buf: Vec<u8>,
    pong_bytes: u64,
    pong_len: u64,
    counted: Counted,
    t0: Instant,
}

impl Pinger<'_> {
    /// The counts so far, with the clocks read now.
    fn now(&mut self) -> Counted {
        self.counted.cpu_ns = thread_cpu_ns();
        self.counted.wall_ns = self.t0.elapsed().as_nanos() as u64;
        self.counted
    }

    /// Read pongs as they come until `until`.
    fn wait_until(&mut self, until: Instant) -> Result<(), String> {
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            // Whole milliseconds, rounded up, as tokio's timer sleeps.
            let ms = (until - now)
                .as_micros()
                .div_ceil(1000)
                .min(i32::MAX as u128) as i32;
            let n = self.epoll.wait(&mut self.events, ms)?;
            self.counted.epoll_waits += 1;
            for ev in &self.events[..n] {
                let i = ev.u64 as usize;
                self.counted.reads += 1;
                match (&self.socks[i]).read(&mut self.buf) {
                    Ok(0) => return Err("ping floor: a peer closed its socket".into()),
                    Ok(got) => {
                        self.pong_bytes += got as u64;
                        self.counted.pongs = self.pong_bytes / self.pong_len;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(format!("ping floor: read: {e}")),
                }
            }
        }
    }

    /// Read pongs until every ping written so far is answered, at most `limit`.
    fn answered(&mut self, limit: Duration) -> Result<(), String> {
        let late = Instant::now() + limit;
        while self.counted.pongs < self.counted.pings {
            if Instant::now() > late {
                return Err(format!(
                    "ping floor: {} pings unanswered after {limit:?}",
                    self.counted.pings - self.counted.pongs
                ));
            }
            self.wait_until(Instant::now() + Duration::from_millis(10))?;
        }
        Ok(())
    }

    /// One `write` of the ping to each socket of a burst.
    fn ping(&mut self, burst: impl Iterator<Item = usize>) -> Result<(), String> {
        for i in burst {
            match (&self.socks[i]).write(PING) {
                Ok(n) if n == PING.len() => self.counted.pings += 1,
                Ok(n) => return Err(format!("ping floor: a socket took {n} bytes of a ping")),
                Err(e) => return Err(format!("ping floor: write: {e}")),
            }
        }
        Ok(())
    }
}

/// The calling thread's CPU time, nanoseconds.
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `bxpush-bench --floor-pong`: connect, report ready, answer every ping with a pong until
/// stdin closes.
pub fn pong_main() -> Result<(), String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("ping floor peer: config: {e}"))?;
    let cfg: PeerConfig =
        serde_json::from_str(&line).map_err(|e| format!("ping floor peer: bad config: {e}"))?;
    if let Some(c) = &cfg.cpu {
        procstat::pin_self(c)?;
    }
    let mut socks = Vec::with_capacity(cfg.sockets as usize);
    for _ in 0..cfg.sockets {
        let s =
            TcpStream::connect(cfg.addr).map_err(|e| format!("ping floor peer: connect: {e}"))?;
        let _ = s.set_nodelay(true);
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        socks.push(s);
    }
    let epoll = Epoll::new()?;
    for (i, s) in socks.iter().enumerate() {
        epoll.add(s.as_raw_fd(), i as u64)?;
    }
    const STDIN: u64 = u64::MAX;
    epoll.add(0, STDIN)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            serde_json::to_string(&PeerReady {
                sockets: cfg.sockets
            })
            .expect("serialisable")
        )
        .and_then(|()| out.flush())
        .map_err(|e| format!("ping floor peer: report: {e}"))?;
    }
    let pong = client_pong();
    // Ping bytes read and pongs sent per socket: a ping split over two reads is answered
    // once whole.
    let mut read = vec![0u64; socks.len()];
    let mut answered = vec![0u64; socks.len()];
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    loop {
        let n = epoll.wait(&mut events, -1)?;
        for ev in &events[..n] {
            if ev.u64 == STDIN {
                // The coordinator is done (or gone): its end of the pipe closed.
                let mut b = [0u8; 64];
                // SAFETY: reading into a valid buffer of its length from our stdin.
                let r = unsafe { libc::read(0, b.as_mut_ptr().cast(), b.len()) };
                if r <= 0 {
                    return Ok(());
                }
                continue;
            }
            let i = ev.u64 as usize;
            match (&socks[i]).read(&mut buf) {
                Ok(0) => return Err("ping floor peer: the writer closed a socket".into()),
                Ok(k) => read[i] += k as u64,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(format!("ping floor peer: read: {e}")),
            }
            let owed = read[i] / PING.len() as u64 - answered[i];
            if owed == 0 {
                continue;
            }
            out.clear();
            for _ in 0..owed {
                out.extend_from_slice(&pong);
            }
            (&socks[i])
                .write_all(&out)
                .map_err(|e| format!("ping floor peer: write: {e}"))?;
            answered[i] += owed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sockets: u32, interval_s: u64, intervals: u32) -> PingFloorSpec {
        PingFloorSpec {
            sockets,
            interval: Duration::from_secs(interval_s),
            intervals,
            writer_cpu: None,
            peer_cpu: None,
            per_process: 15_000,
        }
    }

    #[test]
    fn cost_per_ping_pong_and_share_of_a_core() {
        // 19,000 sockets pinged every 5 s for 2 intervals: 38,000 pings in 10 s; 190 ms
        // of the thread's CPU = 5 µs per ping + pong, 1.9% of a core.
        let c = Counted {
            cpu_ns: 190_000_000,
            wall_ns: 10_000_000_000,
            pings: 38_000,
            pongs: 38_000,
            reads: 38_000,
            epoll_waits: 19_000,
        };
        let r = summarize(&c, &spec(19_000, 5, 2), 2);
        assert!((r.us_per_ping_pong - 5.0).abs() < 1e-9, "{r:?}");
        assert!((r.cpu_pct - 1.9).abs() < 1e-9, "{r:?}");
        assert!((r.seconds - 10.0).abs() < 1e-9);
        assert!((r.cpu_seconds - 0.19).abs() < 1e-9);
        assert_eq!(r.reads_per_ping, 1.0);
        assert_eq!(r.epoll_waits_per_ping, 0.5);
        assert_eq!(
            (r.sockets, r.peers, r.intervals, r.bursts),
            (19_000, 2, 2, 64)
        );
        assert_eq!(r.interval_s, 5.0);
        // The server's figure over this floor, as the idle scenario states it.
        assert_eq!(crate::floor::ratio(11.7, r.us_per_ping_pong), Some(2.34));
    }

    #[test]
    fn nothing_measured_gives_zeros_not_nan() {
        let r = summarize(&Counted::default(), &spec(10, 5, 2), 1);
        assert_eq!(r.us_per_ping_pong, 0.0);
        assert_eq!(r.cpu_pct, 0.0);
        assert_eq!(r.reads_per_ping, 0.0);
        assert_eq!(crate::floor::ratio(11.7, r.us_per_ping_pong), None);
    }

    #[test]
    fn the_measured_window_is_the_difference_of_two_marks() {
        let a = Counted {
            cpu_ns: 10,
            wall_ns: 100,
            pings: 3,
            pongs: 2,
            reads: 4,
            epoll_waits: 5,
        };
        let b = Counted {
            cpu_ns: 30,
            wall_ns: 400,
            pings: 13,
            pongs: 13,
            reads: 15,
            epoll_waits: 9,
        };
        assert_eq!(
            a.until(&b),
            Counted {
                cpu_ns: 20,
                wall_ns: 300,
                pings: 10,
                pongs: 11,
                reads: 11,
                epoll_waits: 4,
            }
        );
        // Never negative.
        assert_eq!(b.until(&a), Counted::default());
    }

    #[test]
    fn every_socket_is_pinged_once_per_interval() {
        for n in [0usize, 1, 63, 64, 65, 19_000] {
            let mut seen = vec![0u32; n];
            for b in 0..BUCKETS {
                for i in burst(n, b) {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&k| k == 1), "{n} sockets");
        }
    }

    #[test]
    fn the_pong_is_a_masked_echo_of_the_servers_ping() {
        let p = client_pong();
        let payload = &PING[2..];
        assert_eq!(p[0], 0x8a, "FIN + pong");
        assert_eq!(p[1], 0x80 | payload.len() as u8, "masked, same length");
        let key = &p[2..6];
        let unmasked: Vec<u8> = p[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        assert_eq!(unmasked, payload);
        assert_eq!(p.len(), 2 + 4 + payload.len());
        // The server's reader takes it as a pong.
        let mut r = bxpush::transport::ws_codec::Reader::new(1 << 20);
        let got = r.feed(&mut &p[..]).expect("a valid client frame");
        assert!(matches!(
            got,
            Some(bxpush::transport::ws_codec::Event::Pong)
        ));
    }
}
