//! [`Background`]: a [`Server`] on a thread of its own, for hosts without a tokio runtime
//! (the PHP extension's `BxPush\Server::start()`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Server;
use crate::config::Config;
use crate::handoff::{Item, PhpTarget, Query, Reply};
use crate::ingress::Ingress;

/// A [`Server`] on a thread of its own, with its own tokio runtime (2 worker threads,
/// every signal blocked in them): what `BxPush\Server::start()` in a PHP CLI script uses.
/// The caller needs no runtime; [`Background::apply`] and [`Background::query`] run on
/// the calling thread (sync, under the hub lock).
///
/// It belongs to the process that started it: its threads do not exist in a forked child.
/// Keep it in a [`crate::forward::PerProcess`] slot (as the extension does), which makes
/// a child forget it — never use or drop it.
pub struct Background {
    ingress: Arc<Ingress>,
    sub_addr: SocketAddr,
    pub_addr: SocketAddr,
    php_target: Option<PhpTarget>,
    stop_tx: Option<tokio::sync::oneshot::Sender<Duration>>,
    done_rx: std::sync::mpsc::Receiver<io::Result<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
    /// Stops the server with a 1 s grace if `stop` was not called. Never reached in a
    /// forked child: `PerProcess` forgets it there.
    fn drop(&mut self) {
        let _ = self.stop_and_wait(Duration::from_secs(1));
    }
}
