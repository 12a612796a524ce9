//! The socket PHP workers connect to (`listen_php`): a unix socket, or TCP with every frame
//! authenticated under the signature key. One tokio task per connection speaks the
//! protocol of [`crate::handoff::wire`]: Challenge → Hello → Welcome, then Batch → Ack and
//! Query → Reply, one at a time.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Ingress;
use crate::handoff::os_random;
use crate::handoff::wire::{
    self, check_len, hello_mac, macs_equal, session_key, welcome_mac, ErrorCode, Frame, Role,
    Session, WireError, MAC_LEN, VERSION,
};
use crate::handoff::PhpTarget;
use crate::transport::Listener;

/// A worker must send its Hello this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame accepted before the peer is authenticated.
const MAX_HANDSHAKE_FRAME: usize = 4096;
/// Rejected items reported one by one per batch; the rest are summed up in one more frame.
const MAX_REJECT_FRAMES: usize = 10;

/// A bound hand-off listener.
pub enum PhpListener {
    Unix {
        listener: UnixListener,
        socket: SocketFile,
    },
    Tcp(TcpListener),
}

/// The socket file a unix listener created, removed at shutdown if it is still ours.
#[derive(Debug, Clone)]
pub struct SocketFile {
    pub path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Remove the file unless another process has replaced it since.
    pub fn remove(&self) {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if m.dev() == self.dev && m.ino() == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

impl PhpListener {
    /// Bind `target`. A unix socket file left by a dead process is replaced, a live one
    /// is an error; the new file gets mode 0660. TCP needs the signature key (to
    /// authenticate frames) and should be loopback (a warning otherwise: frames are
    /// authenticated but not encrypted).
    pub async fn bind(target: &PhpTarget, has_key: bool) -> io::Result<PhpListener> {
        match target {
            PhpTarget::Unix(path) => {
                let (listener, socket) = bind_unix(path)?;
                Ok(PhpListener::Unix { listener, socket })
            }
            PhpTarget::Tcp(addr) => {
                if !has_key {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("listen_php {addr} is TCP, which authenticates PHP workers with the signature key, and there is none: set --signature-key, or use a unix socket (--listen-php /run/bxpush/php.sock)"),
                    ));
                }
                let l = TcpListener::bind(addr).await.map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot listen on {addr} (listen_php): {e}; is another push server running there? choose another address with --listen-php"),
                    )
                })?;
                if !addr.ip().is_loopback() {
                    tracing::warn!(%addr, "listen_php is not on loopback (allowed by allow_remote_publish): PHP events cross the network authenticated but unencrypted; make sure a firewall admits only your PHP servers, or use 127.0.0.1 or a unix socket");
                }
                Ok(PhpListener::Tcp(l))
            }
        }
    }

    /// Where it actually listens (the real port when bound to port 0).
    pub fn target(&self) -> PhpTarget {
        match self {
            PhpListener::Unix { socket, .. } => PhpTarget::Unix(socket.path.clone()),
            PhpListener::Tcp(l) => PhpTarget::Tcp(l.local_addr().expect("bound socket")),
        }
    }

    pub fn socket_file(&self) -> Option<SocketFile> {
        match self {
            PhpListener::Unix { socket, .. } => Some(socket.clone()),
            PhpListener::Tcp(_) => None,
        }
    }
}

fn bind_unix(path: &Path) -> io::Result<(UnixListener, SocketFile)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another process is listening on the PHP socket {shown} (another bxpush?); stop it or choose another --listen-php"),
                ));
            }
            match std::fs::remove_file(path) {
                Ok(()) => tracing::info!(path = %shown, "removed a stale PHP socket file"),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot remove the stale PHP socket {shown}: {e}"),
                    ))
                }
            }
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{shown} exists and is not a socket: remove it or choose another --listen-php"
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot use the PHP socket path {shown}: {e}"),
            ))
        }
    }
    let listener = UnixListener::bind(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on the PHP socket {shown} (listen_php): {e}; check that the directory exists and is writable"),
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot chmod {shown}: {e}")))?;
    let m = std::fs::symlink_metadata(path)?;
    Ok((
        listener,
        SocketFile {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
        },
    ))
}

/// Accept workers until `stop` turns true; then every connection task is aborted.
pub async fn accept_loop(
    ingress: Arc<Ingress>,
    listener: PhpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let mut warn_limit = std::time::Instant::now() - Duration::from_secs(2);
    loop {
        tokio::select! {
            r = accept(&listener) => match r {
                // The PHP socket shares the trusted budget with the publish listener.
                Ok(_) if !ingress.app().has_room(Listener::Pub) => {
                    ingress.app().refuse(Listener::Pub, &"PHP worker", &mut warn_limit);
                }
                Ok(Conn::Unix(s)) => {
                    conns.spawn(serve(ingress.clone(), s, false));
                }
                Ok(Conn::Tcp(s)) => {
                    let _ = s.set_nodelay(true);
                    conns.spawn(serve(ingress.clone(), s, true));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "PHP socket accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    conns.abort_all();
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(l: &PhpListener) -> io::Result<Conn> {
    match l {
        PhpListener::Unix { listener, .. } => listener.accept().await.map(|(s, _)| Conn::Unix(s)),
        PhpListener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
    }
}

struct ConnGauge(Arc<Ingress>);

impl Drop for ConnGauge {
    fn drop(&mut self) {
        self.0
            .app()
            .hub
            .counters
            .ingress
            .connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(ingress: Arc<Ingress>, mut s: S, tcp: bool) {
    ingress
        .app()
        .hub
        .counters
        .ingress
        .connections
        .fetch_add(1, Ordering::Relaxed);
    let _gauge = ConnGauge(ingress.clone());
    if let Err(e) = conversation(&ingress, &mut s, tcp).await {
        tracing::debug!(error = %e, "PHP worker connection ended");
    }
    let _ = s.shutdown().await;
}

enum ReadErr {
    Io(io::Error),
    Wire(WireError),
}

/// One frame; `None` at a clean end of stream between frames. Waiting for a frame to
/// begin is unbounded (a worker's connection idles between requests), but once its first
/// byte is in, the rest must arrive within `timeout`: a worker that stalls mid-frame must
/// not pin a buffer of up to 16 MiB.
async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    session: &mut Session,
    max: usize,
    timeout: Duration,
) -> Result<Option<Frame>, ReadErr> {
    let mut len = [0u8; 4];
    match r.read(&mut len[..1]).await {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(ReadErr::Io(e)),
    }
    let rest = async {
        r.read_exact(&mut len[1..]).await.map_err(ReadErr::Io)?;
        let raw = u32::from_be_bytes(len);
        let n = check_len(raw).map_err(ReadErr::Wire)?;
        if n > max {
            return Err(ReadErr::Wire(WireError::new(
                ErrorCode::FrameTooLarge,
                format!("handshake frame of {n} bytes exceeds the limit of {max} bytes"),
            )));
        }
        let mut body = vec![0u8; n];
        r.read_exact(&mut body).await.map_err(ReadErr::Io)?;
        Ok(body)
    };
    let body = match tokio::time::timeout(timeout, rest).await {
        Ok(b) => b?,
        Err(_) => {
            return Err(ReadErr::Wire(WireError::new(
                ErrorCode::BadFrame,
                format!(
                    "frame not complete within {} ms of its first byte (read_timeout)",
                    timeout.as_millis()
                ),
            )))
        }
    };
    session.open(body).map(Some).map_err(ReadErr::Wire)
}

async fn send<W: AsyncWrite + Unpin>(
    w: &mut W,
    session: &mut Session,
    frame: &Frame,
) -> io::Result<()> {
    let bytes = session.seal(frame).map_err(io::Error::from)?;
    w.write_all(&bytes).await
}

/// Answer an Error frame, count the refusal, and end the conversation.
async fn refuse<W: AsyncWrite + Unpin>(
    ingress: &Ingress,
    w: &mut W,
    session: &mut Session,
    e: WireError,
) -> io::Result<()> {
    ingress
        .app()
        .hub
        .counters
        .ingress
        .refused
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(reason = %e, "PHP worker connection refused");
    let _ = send(w, session, &e.to_frame()).await;
    Ok(())
}

async fn conversation<S: AsyncRead + AsyncWrite + Unpin>(
    ingress: &Ingress,
    s: &mut S,
    tcp: bool,
) -> io::Result<()> {
    let read_timeout = ingress.app().config.read_timeout;
    let mut plain = Session::plain(Role::Owner);
    let nonce = os_random::<16>();
    send(
        s,
        &mut plain,
        &Frame::Challenge {
            version: VERSION,
            auth: tcp,
            nonce,
        },
    )
    .await?;
    let hello = tokio::time::timeout(
        HELLO_TIMEOUT,
        read_frame(s, &mut plain, MAX_HANDSHAKE_FRAME, HELLO_TIMEOUT),
    )
    .await;
    let (origin, worker_nonce) = match hello {
        Ok(Ok(Some(Frame::Hello {
            version,
            origin,
            nonce: wn,
            mac,
        }))) => {
            if version != VERSION {
                let e = WireError::new(
                    ErrorCode::Version,
                    format!("the PHP extension speaks hand-off version {version}, this bxpush speaks {VERSION}: install matching versions"),
                );
                return refuse(ingress, s, &mut plain, e).await;
            }
            if tcp {
                let key = ingress.key.as_deref().unwrap_or_default();
                if !macs_equal(&hello_mac(key, version, origin, &nonce, &wn), &mac) {
                    let e = WireError::new(
                        ErrorCode::Auth,
                        "authentication failed: the PHP worker's signature key differs from the push server's; set the same key in php.ini (bxpush.signature_key) and in bxpush (--signature-key)",
                    );
                    return refuse(ingress, s, &mut plain, e).await;
                }
            }
            (origin, wn)
        }
        Ok(Ok(Some(other))) => {
            let e = WireError::new(
                ErrorCode::Unexpected,
                format!("expected Hello, got {}", other.name()),
            );
            return refuse(ingress, s, &mut plain, e).await;
        }
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(ReadErr::Wire(e))) => return refuse(ingress, s, &mut plain, e).await,
        Ok(Err(ReadErr::Io(e))) => return Err(e),
        Err(_) => {
            let e = WireError::new(
                ErrorCode::Unexpected,
                format!("no Hello within {} s", HELLO_TIMEOUT.as_secs()),
            );
            return refuse(ingress, s, &mut plain, e).await;
        }
    };
    let applied = ingress.applied(origin);
    let (mac, mut session) = match (tcp, ingress.key.as_deref()) {
        (true, Some(key)) => (
            welcome_mac(key, &nonce, &worker_nonce, origin, applied),
            Session::keyed(&session_key(key, &nonce, &worker_nonce), Role::Owner),
        ),
        _ => ([0u8; MAC_LEN], Session::plain(Role::Owner)),
    };
    send(s, &mut plain, &Frame::Welcome { applied, mac }).await?;
    loop {
        let frame = match read_frame(s, &mut session, wire::MAX_FRAME, read_timeout).await {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(ReadErr::Io(e)) => return Err(e),
            Err(ReadErr::Wire(e)) => return refuse(ingress, s, &mut session, e).await,
        };
        match frame {
            Frame::Batch {
                origin,
                first_seq,
                items,
            } => {
                let out = ingress.apply_batch(origin, first_seq, items);
                for text in out.rejected.iter().take(MAX_REJECT_FRAMES) {
                    let f = Frame::Error {
                        code: ErrorCode::Rejected,
                        text: format!("item rejected: {text}"),
                    };
                    send(s, &mut session, &f).await?;
                }
                if out.rejected.len() > MAX_REJECT_FRAMES {
                    let f = Frame::Error {
                        code: ErrorCode::Rejected,
                        text: format!(
                            "{} more items of the batch rejected",
                            out.rejected.len() - MAX_REJECT_FRAMES
                        ),
                    };
                    send(s, &mut session, &f).await?;
                }
                send(
                    s,
                    &mut session,
                    &Frame::Ack {
                        origin,
                        seq: out.applied,
                    },
                )
                .await?;
                if let Some(text) = out.error {
                    let f = Frame::Error {
                        code: ErrorCode::Unavailable,
                        text,
                    };
                    send(s, &mut session, &f).await?;
                    return Ok(());
                }
            }
            Frame::Query(q) => {
                let reply = ingress.query(q);
                send(s, &mut session, &Frame::Reply(reply)).await?;
            }
            other => {
                let e = WireError::new(
                    ErrorCode::Unexpected,
                    format!("unexpected {} frame from a PHP worker", other.name()),
                );
                return refuse(ingress, s, &mut session, e).await;
            }
        }
    }
}
