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

mod background;
mod upkeep;

pub use background::Background;
use upkeep::{ingress_upkeep, upkeep};

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
            max_channel_bytes: config.max_history_bytes_per_channel,
            max_publisher_bytes: config.max_history_bytes_per_publisher,
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
                client_publish_rate: config.client_publish_rate,
                channel_publish_rate: config.channel_publish_rate,
            },
        ));
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
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
        #[cfg(feature = "redis")]
        if let crate::store::StoreKind::Redis(url) = &app.config.store {
            let id = app.process_unique_id.clone();
            let started =
                crate::cluster::Cluster::start(url.clone(), &hub, id, stop_rx.clone()).await;
            let (c, task) = match started {
                Ok(x) => x,
                Err(e) => {
                    if let Some(f) = &php_socket {
                        f.remove();
                    }
                    return Err(e);
                }
            };
            tasks.push(task);
            // Written into the `stats` hash every second, read by every node's /server-stat/.
            let weak = Arc::downgrade(&app);
            c.set_stats_source(Box::new(move || {
                weak.upgrade().map_or(serde_json::Value::Null, |app| {
                    crate::transport::server_stat::json(&app)
                })
            }));
        }
        tasks.push(tokio::spawn(accept_loop(
            app.clone(),
            sub,
            Listener::Sub,
            stop_rx.clone(),
        )));
        tasks.push(tokio::spawn(accept_loop(
            app.clone(),
            publ,
            Listener::Pub,
            stop_rx.clone(),
        )));
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
        crate::listen_policy::warn_allowed(&app.config);
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
