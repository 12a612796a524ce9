//! A small TCP fault proxy on loopback for the fault tests: it sits between clients and
//! bxpush (or between PHP workers and the owner) and, per direction and under the test's
//! control, passes bytes, delays them, drops them (blackhole), stalls (stops reading, so
//! the sender's socket buffers fill and it sees backpressure), and cuts every open
//! connection with a RST or a FIN.
//!
//! It runs on a thread of its own with its own runtime, so sync and async tests alike can
//! drive it; dropping it stops the thread and closes everything.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Which way bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client → server (a subscriber's requests, a worker's frames).
    Up,
    /// Server → client (deliveries, acks).
    Down,
}

/// What a direction does with its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Each chunk is held this long before it is forwarded (order is kept).
    Delay(Duration),
    /// Read and thrown away: the sender believes it was sent.
    Blackhole,
    /// Not read at all: the sender's writes back up until its own bounds act.
    Stall,
}

/// How [`FaultProxy::cut`] ends the open connections (both sides of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// SO_LINGER 0, then close: the peers get a reset.
    Rst,
    /// Shutdown of both write halves: the peers read end-of-file.
    Fin,
}

/// Counters the tests read.
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    /// Connections whose server side ended first (EOF or error while reading from it):
    /// the server closed them (e.g. a slow reader cut off).
    pub closed_by_server: AtomicU64,
    pub open: AtomicU64,
    pub up_bytes: AtomicU64,
    pub down_bytes: AtomicU64,
    pub dropped_bytes: AtomicU64,
}

struct Shared {
    up: watch::Sender<Mode>,
    down: watch::Sender<Mode>,
    /// Bumped by every cut; connections compare with the value they started with.
    cuts: watch::Sender<(u64, Cut)>,
    stats: Stats,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward each connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let (up, _) = watch::channel(Mode::Pass);
        let (down, _) = watch::channel(Mode::Pass);
        let (cuts, _) = watch::channel((0, Cut::Fin));
        let shared = Arc::new(Shared {
            up,
            down,
            cuts,
            stats: Stats::default(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let l = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
                    addr_tx.send(l.local_addr().unwrap()).unwrap();
                    tokio::select! {
                        _ = accept_loop(l, upstream, sh) => {}
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime drops every connection task and its sockets.
            })
            .expect("proxy thread");
        FaultProxy {
            addr: addr_rx.recv().expect("proxy address"),
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn set(&self, dir: Dir, mode: Mode) {
        let tx = match dir {
            Dir::Up => &self.shared.up,
            Dir::Down => &self.shared.down,
        };
        tx.send_replace(mode);
    }

    /// Both directions back to [`Mode::Pass`].
    pub fn heal(&self) {
        self.set(Dir::Up, Mode::Pass);
        self.set(Dir::Down, Mode::Pass);
    }

    /// End every connection open now; new ones are accepted as before.
    pub fn cut(&self, how: Cut) {
        self.shared.cuts.send_modify(|(n, c)| {
            *n += 1;
            *c = how;
        });
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub fn open(&self) -> u64 {
        self.shared.stats.open.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(l: TcpListener, upstream: SocketAddr, sh: Arc<Shared>) {
    loop {
        let Ok((client, _)) = l.accept().await else {
            continue;
        };
        sh.stats.accepted.fetch_add(1, Ordering::SeqCst);
        let sh = sh.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return; // the client sees its connection closed
            };
            sh.stats.open.fetch_add(1, Ordering::SeqCst);
            connection(client, server, &sh).await;
            sh.stats.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Why a pump stopped.
enum End {
    /// Its source ended (EOF or error).
    SourceClosed,
    /// Writing to its destination failed.
    SinkClosed,
}

async fn connection(client: TcpStream, server: TcpStream, sh: &Shared) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut cuts = sh.cuts.subscribe();
    let started = cuts.borrow_and_update().0;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let how = {
        let up = pump(
            &mut cr,
            &mut sw,
            sh.up.subscribe(),
            &sh.stats.up_bytes,
            &sh.stats,
        );
        let down = pump(
            &mut sr,
            &mut cw,
            sh.down.subscribe(),
            &sh.stats.down_bytes,
            &sh.stats,
        );
        let cut = async {
            loop {
                if cuts.changed().await.is_err() {
                    return std::future::pending::<Cut>().await;
                }
                let (n, how) = *cuts.borrow_and_update();
                if n != started {
                    return how;
                }
            }
        };
        // Either side ending ends the connection (our clients never half-close).
        tokio::select! {
            how = cut => Some(how),
            end = down => {
                if matches!(end, End::SourceClosed) {
                    sh.stats.closed_by_server.fetch_add(1, Ordering::SeqCst);
                }
                None
            }
            _ = up => None,
        }
    };
    let (c, s) = (cr.reunite(cw).ok(), sr.reunite(sw).ok());
    match how {
        Some(Cut::Rst) => {
            for t in [&c, &s].into_iter().flatten() {
                let _ = socket2::SockRef::from(t).set_linger(Some(Duration::ZERO));
            }
        }
        _ => {
            for t in [c.as_ref(), s.as_ref()].into_iter().flatten() {
                let _ = socket2::SockRef::from(t).shutdown(std::net::Shutdown::Write);
            }
        }
    }
    drop((c, s));
}

async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    passed: &AtomicU64,
    stats: &Stats,
) -> End {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Stalled: read nothing until the mode changes.
        while *mode.borrow_and_update() == Mode::Stall {
            if mode.changed().await.is_err() {
                return End::SourceClosed;
            }
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return End::SourceClosed,
                Ok(n) => n,
            },
            // A mode change (to Stall) takes effect even while waiting for bytes.
            _ = mode.changed() => continue,
        };
        let now = *mode.borrow();
        match now {
            Mode::Blackhole => {
                stats.dropped_bytes.fetch_add(n as u64, Ordering::SeqCst);
                continue;
            }
            Mode::Delay(d) => tokio::time::sleep(d).await,
            Mode::Pass | Mode::Stall => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return End::SinkClosed;
        }
        passed.fetch_add(n as u64, Ordering::SeqCst);
    }
}
