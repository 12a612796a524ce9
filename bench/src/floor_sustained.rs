//! The machine's floor for sustained delivery (`--scenario sustained`), measured in the
//! same run: the same frames without a server, at full speed. The scenario publishes
//! protobuf batches of `--batch` messages round-robin over `--channels` shared channels;
//! the server writes each subscriber its share of a batch (its channel's messages, one
//! WebSocket frame each) with one `writev`. Here a thread pinned where the server ran
//! writes exactly that, batch after batch with no pause: to each of as many loopback
//! sockets as subscribers, one blocking `write` of its frames (`floor_frame::server_bytes`
//! for the message size, concatenated); a thread pinned where the bench ran drains every
//! socket through one epoll set. Deliveries per second = frames written / (first write →
//! the last byte read): what one core of this machine delivers when the kernel's work is
//! all there is. The writer's CPU per delivery (`CLOCK_THREAD_CPUTIME_ID`) is stated too,
//! against the server's CPU per delivery.
//!
//! Both ends of every socket are in this process: 2 fds a subscriber, within the fd limit
//! for the scenario's 2,000 (larger counts are refused with the limit named).
//!
//! The arithmetic is pure and unit-tested ([`frames_per_socket`], [`summarize`]); the
//! sockets are in [`measure`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::epoll::Epoll;
use crate::floor_ping::thread_cpu_ns;
use crate::procstat;
use crate::worker::now_ns;

/// What to measure.
#[derive(Debug, Clone)]
pub struct SustainedFloorSpec {
    /// Sockets (the scenario's subscribers), socket `i` on channel `i % channels`.
    pub sockets: u32,
    pub channels: u32,
    /// Messages per batch, round-robin over the channels.
    pub batch: u32,
    /// Batches written.
    pub batches: u32,
    /// The frame the server writes per message.
    pub frame: Vec<u8>,
    /// CPU of the writer thread (the server's), and of the drainer (the bench's).
    pub server_cpu: Option<String>,
    pub bench_cpu: Option<String>,
}

/// The floor's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SustainedFloorResult {
    pub sockets: u32,
    pub channels: u32,
    pub batch: u32,
    pub batches: u32,
    pub frame_bytes: usize,
    /// Frames written (deliveries).
    pub deliveries: u64,
    /// First write → last byte read.
    pub seconds: f64,
    pub per_sec: f64,
    /// The writer thread's CPU per delivery, microseconds.
    pub writer_cpu_us_per_delivery: f64,
}

/// Frames socket `i` gets per batch: its channel's share of the round-robin.
pub fn frames_per_socket(i: u32, channels: u32, batch: u32) -> u32 {
    let channels = channels.max(1);
    let c = i % channels;
    batch / channels + u32::from(c < batch % channels)
}

/// Counts → figures; zeros, never NaN, when nothing was measured.
pub fn summarize(
    spec: &SustainedFloorSpec,
    deliveries: u64,
    wall_ns: u64,
    writer_cpu_ns: u64,
) -> SustainedFloorResult {
    let seconds = wall_ns as f64 / 1e9;
    SustainedFloorResult {
        sockets: spec.sockets,
        channels: spec.channels,
        batch: spec.batch,
        batches: spec.batches,
        frame_bytes: spec.frame.len(),
        deliveries,
        seconds,
        per_sec: if wall_ns == 0 {
            0.0
        } else {
            deliveries as f64 / seconds
        },
        writer_cpu_us_per_delivery: if deliveries == 0 {
            0.0
        } else {
            writer_cpu_ns as f64 / 1e3 / deliveries as f64
        },
    }
}

/// No wait lasts longer than this (a stuck peer fails the floor instead of hanging it).
const LIMIT: Duration = Duration::from_secs(10);

/// Runs the floor: connect every socket, then the writer and the drainer at full speed.
pub fn measure(spec: &SustainedFloorSpec) -> Result<SustainedFloorResult, String> {
    if spec.sockets == 0 || spec.batch == 0 || spec.batches == 0 || spec.frame.is_empty() {
        return Err("sustained floor: needs sockets, a batch, batches and a frame".into());
    }
    let limit = procstat::fd_limit();
    if u64::from(spec.sockets) * 2 + 64 > limit {
        return Err(format!(
            "sustained floor: {} sockets need {} fds in one process, the limit is {limit} (fewer --subscribers, or --floor-rounds 0)",
            spec.sockets,
            u64::from(spec.sockets) * 2 + 64
        ));
    }
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("sustained floor: listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // One at a time: each connect is in the accept queue when it returns.
    let mut readers = Vec::with_capacity(spec.sockets as usize);
    let mut writers = Vec::with_capacity(spec.sockets as usize);
    for _ in 0..spec.sockets {
        readers
            .push(TcpStream::connect(addr).map_err(|e| format!("sustained floor: connect: {e}"))?);
        let (w, _) = listener
            .accept()
            .map_err(|e| format!("sustained floor: accept: {e}"))?;
        // As the server's accepted sockets.
        let _ = w.set_nodelay(true);
        w.set_write_timeout(Some(LIMIT))
            .map_err(|e| e.to_string())?;
        writers.push(w);
    }
    // Each socket's share of a batch, its frames back to back (one `writev` in the server).
    let shares: Vec<Vec<u8>> = (0..spec.channels.max(1).min(spec.sockets))
        .map(|c| {
            spec.frame
                .repeat(frames_per_socket(c, spec.channels, spec.batch) as usize)
        })
        .collect();
    let per_batch: u64 = (0..spec.sockets)
        .map(|i| u64::from(frames_per_socket(i, spec.channels, spec.batch)))
        .sum();
    let deliveries = per_batch * u64::from(spec.batches);
    let bytes = deliveries * spec.frame.len() as u64;
    let drainer = {
        let cpu = spec.bench_cpu.clone();
        std::thread::spawn(move || drain(readers, cpu, bytes))
    };
    let writer = {
        let (cpu, batches, channels) = (spec.server_cpu.clone(), spec.batches, spec.channels);
        std::thread::spawn(move || {
            let r = write(&writers, cpu, batches, channels, &shares);
            // Open until the drainer is done (a close would read as a broken floor), or
            // closed now to end the drainer when writing failed.
            r.map(|w| (w, writers))
        })
    };
    let written = writer
        .join()
        .map_err(|_| "sustained floor: the writer panicked".to_string())?;
    let drained = drainer
        .join()
        .map_err(|_| "sustained floor: the drainer panicked".to_string())?;
    let ((start_ns, cpu_ns), writers) = written?;
    let end_ns = drained?;
    drop(writers);
    Ok(summarize(
        spec,
        deliveries,
        end_ns.saturating_sub(start_ns),
        cpu_ns,
    ))
}

/// The writer: `batches` times, each socket its share with one blocking `write` (a full
/// socket waits for the drainer, as the server's queue would). Returns when it started
/// and its CPU time. On an error its sockets close, which ends the drainer too.
fn write(
    socks: &[TcpStream],
    cpu: Option<String>,
    batches: u32,
    channels: u32,
    shares: &[Vec<u8>],
) -> Result<(u64, u64), String> {
    if let Some(c) = &cpu {
        procstat::pin_self(c)?;
    }
    let cpu0 = thread_cpu_ns();
    let start = now_ns();
    for _ in 0..batches {
        for (i, mut s) in socks.iter().enumerate() {
            let share = &shares[i % channels.max(1) as usize];
            if !share.is_empty() {
                s.write_all(share)
                    .map_err(|e| format!("sustained floor: write: {e}"))?;
            }
        }
    }
    Ok((start, thread_cpu_ns().saturating_sub(cpu0)))
}

/// The drainer: read every socket until `bytes` in all; returns when the last came.
fn drain(socks: Vec<TcpStream>, cpu: Option<String>, bytes: u64) -> Result<u64, String> {
    if let Some(c) = &cpu {
        procstat::pin_self(c)?;
    }
    let epoll = Epoll::new()?;
    for (i, s) in socks.iter().enumerate() {
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        epoll.add(s.as_raw_fd(), i as u64)?;
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    while got < bytes {
        let n = epoll.wait(&mut events, LIMIT.as_millis() as i32)?;
        if n == 0 {
            return Err(format!(
                "sustained floor: nothing to read for {LIMIT:?} ({got} of {bytes} bytes)"
            ));
        }
        for ev in &events[..n] {
            match (&socks[ev.u64 as usize]).read(&mut buf) {
                Ok(0) => {
                    return Err(format!(
                        "sustained floor: the writer closed a socket ({got} of {bytes} bytes)"
                    ))
                }
                Ok(k) => got += k as u64,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("sustained floor: read: {e}")),
            }
        }
    }
    Ok(now_ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SustainedFloorSpec {
        SustainedFloorSpec {
            sockets: 2_000,
            channels: 20,
            batch: 100,
            batches: 100,
            frame: vec![0; 350],
            server_cpu: None,
            bench_cpu: None,
        }
    }

    #[test]
    fn each_socket_gets_its_channels_share_of_a_batch() {
        // The scenario: 100 messages over 20 channels, 5 each.
        assert!((0..2_000).all(|i| frames_per_socket(i, 20, 100) == 5));
        // 7 messages over 3 channels: 3, 2, 2; socket 4 is on channel 1.
        assert_eq!(
            (0..3)
                .map(|i| frames_per_socket(i, 3, 7))
                .collect::<Vec<_>>(),
            [3, 2, 2]
        );
        assert_eq!(frames_per_socket(4, 3, 7), 2);
        // Fewer messages than channels: some sockets get none.
        assert_eq!(frames_per_socket(2, 5, 2), 0);
        // One channel: every message to everyone.
        assert_eq!(frames_per_socket(9, 1, 100), 100);
    }

    #[test]
    fn rate_and_cpu_per_delivery() {
        // 1,000,000 deliveries in 2.5 s: 400,000/s; 1.5 s of the writer's CPU: 1.5 µs each.
        let r = summarize(&spec(), 1_000_000, 2_500_000_000, 1_500_000_000);
        assert!((r.per_sec - 400_000.0).abs() < 1e-6, "{r:?}");
        assert!((r.writer_cpu_us_per_delivery - 1.5).abs() < 1e-9, "{r:?}");
        assert_eq!(
            (r.sockets, r.channels, r.batch, r.batches),
            (2_000, 20, 100, 100)
        );
        assert_eq!(r.frame_bytes, 350);
        // The server's rate over this floor's, as the report states it.
        assert_eq!(
            crate::floor::ratio(249_000.0, r.per_sec).map(|x| (x * 1000.0).round()),
            Some(623.0)
        );
    }

    #[test]
    fn nothing_measured_gives_zeros_not_nan() {
        let r = summarize(&spec(), 0, 0, 0);
        assert_eq!((r.per_sec, r.writer_cpu_us_per_delivery), (0.0, 0.0));
        assert_eq!(crate::floor::ratio(249_000.0, r.per_sec), None);
    }
}
