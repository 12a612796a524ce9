//! Start and stop a whole server: store, hub, both listeners, the PHP hand-off socket and
//! upkeep. The `bxpush serve` command and the PHP extension host the same [`Server`]; a PHP
//! CLI script hosts it on a thread of its own through [`Background`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::handoff::{Item, PhpTarget, Query, Reply};
use crate::hub::{Hub, HubOptions};
use crate::ingress::listener::{PhpListener, SocketFile};
use crate::ingress::Ingress;
use crate::store::{MemoryStore, StoreOptions};
use crate::transport::{accept_loop, App, Listener};

/// How often history is purged of expired messages and presence of stale channels.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// Every 30 s, hand freed heap pages back to the kernel (see [`release_free_memory`]).
const TRIM_EVERY_TICKS: u64 = 6;

/// A connection storm leaves holes in glibc's heap (each handshake's buffers, freed
/// between long-lived connection state) that stay resident: measured 4.0 KiB → 3.3 KiB
/// per idle WebSocket at 5,000 after a trim. `malloc_trim` walks the heap (milliseconds
/// for a few hundred MB) and madvises free pages away.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that is free; no pointer is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often the PHP hand-off's high-water marks are written when they changed.
const INGRESS_PERSIST_PERIOD: Duration = Duration::from_secs(1);

pub struct Server {
    app: Arc<App>,
    ingress: Arc<Ingress>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    sub_addr: SocketAddr,
    pub_addr: SocketAddr,
    php_target: Option<PhpTarget>,
    php_socket: Option<SocketFile>,
}

impl Server {
    /// Open the store (replaying the data dir), bind both listeners and start serving.
    /// Must run inside a tokio runtime. Port 0 binds a free port (see the `*_addr`s).
    pub async fn start(config: Config) -> io::Result<Server> {
        let store = MemoryStore::open(StoreOptions {
            data_dir: config.data_dir.clone(),
            max_per_channel: config.max_history_per_channel,
            max_ttl: config.message_ttl,
            max_bytes: config.max_history_bytes,
            fsync: config.fsync,
        })
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open the history store: {e}")))?;
        let hub = Arc::new(Hub::new(
            Box::new(store),
            HubOptions {
                max_ttl: config.message_ttl,
                online_ttl: config.online_ttl,
                max_conn_per_channel: config.max_conn_per_channel,
                max_queue: config.max_queue_per_connection,
            },
        ));
        let sub = bind(config.listen_sub, "listen_sub").await?;
        let publ = bind(config.listen_pub, "listen_pub").await?;
        let php = match &config.listen_php {
            Some(t) => Some(PhpListener::bind(t, config.signature_key.is_some()).await?),
            None => None,
        };
        let sub_addr = sub.local_addr()?;
        let pub_addr = publ.local_addr()?;
        let php_target = php.as_ref().map(PhpListener::target);
        let php_socket = php.as_ref().and_then(PhpListener::socket_file);
        let app = Arc::new(App::new(hub.clone(), config));
        let ingress = match Ingress::new(app.clone()) {
            Ok(i) => Arc::new(i),
            Err(e) => {
                if let Some(f) = &php_socket {
                    f.remove();
                }
                return Err(e);
            }
        };
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(accept_loop(
                app.clone(),
                sub,
                Listener::Sub,
                stop_rx.clone(),
            )),
            tokio::spawn(accept_loop(
                app.clone(),
                publ,
                Listener::Pub,
                stop_rx.clone(),
            )),
        ];
        if let Some(php) = php {
            tasks.push(tokio::spawn(crate::ingress::listener::accept_loop(
                ingress.clone(),
                php,
                stop_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(ingress_upkeep(
            ingress.clone(),
            stop_rx.clone(),
        )));
        tasks.push(tokio::spawn(upkeep(hub, stop_rx)));
        let stats = app.hub.store_stats();
        tracing::info!(
            %sub_addr, %pub_addr,
            php = %php_target.as_ref().map_or_else(|| "-".to_string(), |t| t.to_string()),
            stored_messages = stats.messages,
            "bxpush serving"
        );
        Ok(Server {
            app,
            ingress,
            stop,
            tasks,
            sub_addr,
            pub_addr,
            php_target,
            php_socket,
        })
    }

    /// Where PHP workers connect (`listen_php` with the real port when bound to port 0).
    pub fn php_target(&self) -> Option<&PhpTarget> {
        self.php_target.as_ref()
    }

    /// The hand-off core: what the socket listener applies items to.
    pub fn ingress(&self) -> &Arc<Ingress> {
        &self.ingress
    }

    /// Apply one item in this process, without the socket (a PHP CLI that hosts the
    /// runtime itself). Sync: publishes under the hub lock and returns.
    pub fn apply(&self, item: Item) -> io::Result<()> {
        self.ingress.apply(item)
    }

    /// Answer a query in this process.
    pub fn query(&self, q: Query) -> Reply {
        self.ingress.query(q)
    }

    pub fn sub_addr(&self) -> SocketAddr {
        self.sub_addr
    }

    pub fn pub_addr(&self) -> SocketAddr {
        self.pub_addr
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stop accepting, close every subscriber with the protocol's codes (WebSocket 1001,
    /// long polls answered 304 with their `Last-Message-Id`), flush history, and wait up to
    /// `grace` for connections to finish.
    pub async fn shutdown(self, grace: Duration) -> io::Result<()> {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
        if let Some(f) = &self.php_socket {
            f.remove();
        }
        // After this no hand-off item is applied, and every applied one is persisted.
        if let Err(e) = self.ingress.close() {
            tracing::error!(error = %e, "cannot write the PHP hand-off state");
        }
        let flushed = self.app.hub.shutdown();
        let deadline = tokio::time::Instant::now() + grace;
        while self.app.connections.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.app.connections.load(Ordering::Relaxed);
        tracing::info!(connections_left = left, "bxpush stopped");
        flushed
    }
}

/// Pending connections the kernel queues before `accept`: tokio's default (128) overflows
/// in a reconnect storm and clients then resend their SYN after a full second. The kernel
/// caps it at `net.core.somaxconn` (4096 on current kernels).
const LISTEN_BACKLOG: u32 = 4096;

async fn bind(addr: SocketAddr, key: &str) -> io::Result<TcpListener> {
    let listen = || -> io::Result<TcpListener> {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} ({key}): {e}; is another push server running there? choose another address with --{}", key.replace('_', "-")),
        )
    })
}

/// Persist the hand-off's high-water marks about every second when they changed, and
/// forget origins idle for a day.
async fn ingress_upkeep(ingress: Arc<Ingress>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(INGRESS_PERSIST_PERIOD);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                if n.is_multiple_of(60) {
                    ingress.forget_idle(crate::hub::now_unix());
                }
                if let Err(e) = ingress.persist() {
                    tracing::error!(error = %e, "cannot write the PHP hand-off state");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

async fn upkeep(hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(UPKEEP_PERIOD);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = hub.maintain() {
                    tracing::error!(error = %e, "history upkeep failed");
                }
                ticks += 1;
                if ticks.is_multiple_of(TRIM_EVERY_TICKS) {
                    release_free_memory();
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// A [`Server`] on a thread of its own, with its own tokio runtime (2 worker threads,
/// every signal blocked in them): what `BxPush\Server::start()` in a PHP CLI script uses.
/// The caller needs no runtime; [`Background::apply`] and [`Background::query`] run on
/// the calling thread (sync, under the hub lock).
pub struct Background {
    ingress: Arc<Ingress>,
    sub_addr: SocketAddr,
    pub_addr: SocketAddr,
    php_target: Option<PhpTarget>,
    stop_tx: Option<tokio::sync::oneshot::Sender<Duration>>,
    done_rx: std::sync::mpsc::Receiver<io::Result<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pid: u32,
}

/// What the runtime thread reports once it listens.
type Ready = (Arc<Ingress>, SocketAddr, SocketAddr, Option<PhpTarget>);

impl Background {
    /// Start the runtime thread and the server in it; returns once every listener is
    /// bound, or with the error that prevented it (address in use, data dir unreadable).
    pub fn start(config: Config) -> io::Result<Background> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<Ready>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<Duration>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("bxpush-runtime".into())
            .spawn(move || {
                crate::handoff::block_signals_in_this_thread();
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("bxpush-rt")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(io::Error::new(
                            e.kind(),
                            format!("cannot start the push server runtime: {e}"),
                        )));
                        return;
                    }
                };
                let result = rt.block_on(async move {
                    let server = match Server::start(config).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return None;
                        }
                    };
                    let _ = ready_tx.send(Ok((
                        server.ingress.clone(),
                        server.sub_addr,
                        server.pub_addr,
                        server.php_target.clone(),
                    )));
                    // A dropped sender (Background dropped without stop) stops too.
                    let grace = stop_rx.await.unwrap_or(Duration::from_secs(1));
                    Some(server.shutdown(grace).await)
                });
                rt.shutdown_timeout(Duration::from_secs(1));
                if let Some(r) = result {
                    let _ = done_tx.send(r);
                }
            })?;
        match ready_rx.recv() {
            Ok(Ok((ingress, sub_addr, pub_addr, php_target))) => Ok(Background {
                ingress,
                sub_addr,
                pub_addr,
                php_target,
                stop_tx: Some(stop_tx),
                done_rx,
                thread: Some(thread),
                pid: std::process::id(),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other(
                    "the push server thread ended while starting",
                ))
            }
        }
    }

    /// Apply one item (see [`Server::apply`]).
    pub fn apply(&self, item: Item) -> io::Result<()> {
        self.ingress.apply(item)
    }

    pub fn query(&self, q: Query) -> Reply {
        self.ingress.query(q)
    }

    pub fn sub_addr(&self) -> SocketAddr {
        self.sub_addr
    }

    pub fn pub_addr(&self) -> SocketAddr {
        self.pub_addr
    }

    /// Where PHP workers connect, if `listen_php` is set.
    pub fn php_target(&self) -> Option<&PhpTarget> {
        self.php_target.as_ref()
    }

    /// Shut the server down (see [`Server::shutdown`]) and end the thread. Bounded: waits
    /// at most `grace` + 3 s; past that the thread is left to finish on its own and
    /// `TimedOut` is returned.
    pub fn stop(mut self, grace: Duration) -> io::Result<()> {
        self.stop_and_wait(grace)
    }

    fn stop_and_wait(&mut self, grace: Duration) -> io::Result<()> {
        let Some(tx) = self.stop_tx.take() else {
            return Ok(());
        };
        let _ = tx.send(grace);
        let limit = grace + Duration::from_secs(3);
        match self.done_rx.recv_timeout(limit) {
            Ok(r) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                r
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                Ok(())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                self.thread.take();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the push server did not stop within {} s",
                        limit.as_secs_f32()
                    ),
                ))
            }
        }
    }
}

impl Drop for Background {
    /// Stops the server with a 1 s grace if `stop` was not called. In a forked child
    /// (the thread does not exist there) nothing is touched.
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            if let Some(t) = self.thread.take() {
                std::mem::forget(t);
            }
            if let Some(tx) = self.stop_tx.take() {
                std::mem::forget(tx);
            }
            return;
        }
        let _ = self.stop_and_wait(Duration::from_secs(1));
    }
}
