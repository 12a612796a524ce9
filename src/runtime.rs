//! Start and stop a whole server: store, hub, both listeners and upkeep. The `bxpush
//! serve` command and (later) the PHP extension host the same [`Server`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::hub::{Hub, HubOptions};
use crate::store::{MemoryStore, StoreOptions};
use crate::transport::{accept_loop, App, Listener};

/// How often history is purged of expired messages and presence of stale channels.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

pub struct Server {
    app: Arc<App>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    sub_addr: SocketAddr,
    pub_addr: SocketAddr,
}

impl Server {
    /// Open the store (replaying the data dir), bind both listeners and start serving.
    /// Must run inside a tokio runtime. Port 0 binds a free port (see the `*_addr`s).
    pub async fn start(config: Config) -> io::Result<Server> {
        let store = MemoryStore::open(StoreOptions {
            data_dir: config.data_dir.clone(),
            max_per_channel: config.max_history_per_channel,
            max_ttl: config.message_ttl,
            fsync: config.fsync,
            ..StoreOptions::default()
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
        let sub_addr = sub.local_addr()?;
        let pub_addr = publ.local_addr()?;
        let app = Arc::new(App::new(hub.clone(), config));
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
        tasks.push(tokio::spawn(upkeep(hub, stop_rx)));
        let stats = app.hub.store_stats();
        tracing::info!(
            %sub_addr, %pub_addr,
            stored_messages = stats.messages,
            "bxpush serving"
        );
        Ok(Server {
            app,
            stop,
            tasks,
            sub_addr,
            pub_addr,
        })
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

async fn bind(addr: SocketAddr, key: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} ({key}): {e}; is another push server running there? choose another address with --{}", key.replace('_', "-")),
        )
    })
}

async fn upkeep(hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(UPKEEP_PERIOD);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = hub.maintain() {
                    tracing::error!(error = %e, "history upkeep failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}
