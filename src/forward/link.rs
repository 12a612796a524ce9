//! One blocking connection from a worker to the owner: connect (bounded), handshake,
//! frames with deadlines. Plain std sockets; every wait is bounded and can be cut short by
//! a stop flag (checked every [`SLICE`]) or by `shutdown(2)` on the socket from another
//! thread (see [`SocketSlot`]). Sockets are socket2's; only poll(2) is called directly.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::handoff::os_random;
use crate::handoff::wire::{
    check_len, hello_mac, macs_equal, session_key, welcome_mac, ErrorCode, Frame, Role, Session,
    MAC_LEN, VERSION,
};
use crate::handoff::PhpTarget;

/// Longest single blocking wait before the stop flag is looked at again.
pub const SLICE: Duration = Duration::from_millis(50);

/// The live connection's socket, so that another thread can `shutdown(2)` it and wake a
/// blocked read or write at once. It holds a duplicate of the connection's descriptor
/// (shutdown acts on the socket, not on one descriptor), closed when the link drops: no
/// raw descriptor number that could meanwhile name another file.
#[derive(Default)]
pub struct SocketSlot(Mutex<Option<Socket>>);

impl SocketSlot {
    fn set(&self, s: Option<Socket>) {
        *self.0.lock() = s;
    }
    pub fn shutdown(&self) {
        if let Some(s) = &*self.0.lock() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// An established, authenticated connection.
pub struct Link<'a> {
    stream: Socket,
    session: Session,
    stop: &'a AtomicBool,
    slot: Option<&'a SocketSlot>,
}

impl Drop for Link<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            slot.set(None);
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("timed out {what}"))
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "forwarder stopping")
}

impl<'a> Link<'a> {
    /// Connect to `target` before `connect_deadline` and shake hands before
    /// `handshake_deadline`. Returns the link and the owner's high-water mark for `origin`
    /// (items at or below it are applied already).
    pub fn connect(
        target: &PhpTarget,
        key: Option<&str>,
        origin: u64,
        connect_deadline: Instant,
        handshake_deadline: Instant,
        stop: &'a AtomicBool,
        slot: Option<&'a SocketSlot>,
    ) -> io::Result<(Link<'a>, u64)> {
        let stream = match target {
            PhpTarget::Unix(p) => connect_unix(p, connect_deadline, stop)?,
            PhpTarget::Tcp(a) => {
                if key.is_none() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("the bxpush server {a} is TCP, which needs the signature key (bxpush.signature_key) to authenticate; set it, or use a unix socket"),
                    ));
                }
                let s = connect_tcp(a, connect_deadline, stop)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {a}: {e}")))?;
                let _ = s.set_tcp_nodelay(true);
                s
            }
        };
        if let Some(slot) = slot {
            slot.set(Some(stream.try_clone()?));
        }
        let mut link = Link {
            stream,
            session: Session::plain(Role::Worker),
            stop,
            slot,
        };
        let applied = link.handshake(target, key, origin, handshake_deadline)?;
        Ok((link, applied))
    }

    fn handshake(
        &mut self,
        target: &PhpTarget,
        key: Option<&str>,
        origin: u64,
        deadline: Instant,
    ) -> io::Result<u64> {
        let (auth, owner_nonce) = match self.recv(deadline)? {
            Frame::Challenge {
                version,
                auth,
                nonce,
            } => {
                if version != VERSION {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the bxpush server speaks hand-off version {version}, this extension {VERSION}: install matching versions"),
                    ));
                }
                (auth, nonce)
            }
            other => return Err(unexpected(&other, "Challenge")),
        };
        if target.is_tcp() && !auth {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the bxpush server does not authenticate this TCP connection; refusing to send over it",
            ));
        }
        let key = if auth {
            Some(key.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "the bxpush server requires authentication: set bxpush.signature_key to its signature key",
                )
            })?)
        } else {
            None
        };
        let nonce = os_random::<16>();
        let mac = match key {
            Some(k) => hello_mac(k.as_bytes(), VERSION, origin, &owner_nonce, &nonce),
            None => [0u8; MAC_LEN],
        };
        self.send(
            &Frame::Hello {
                version: VERSION,
                origin,
                nonce,
                mac,
            },
            deadline,
        )?;
        match self.recv(deadline)? {
            Frame::Welcome { applied, mac } => {
                if let Some(k) = key {
                    let want = welcome_mac(k.as_bytes(), &owner_nonce, &nonce, origin, applied);
                    if !macs_equal(&want, &mac) {
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            "the bxpush server failed to prove the signature key: it has a different key (or is not bxpush)",
                        ));
                    }
                    self.session = Session::keyed(
                        &session_key(k.as_bytes(), &owner_nonce, &nonce),
                        Role::Worker,
                    );
                }
                Ok(applied)
            }
            other => Err(unexpected(&other, "Welcome")),
        }
    }

    /// Write one frame before `deadline`.
    pub fn send(&mut self, frame: &Frame, deadline: Instant) -> io::Result<()> {
        let bytes = self.session.seal(frame).map_err(io::Error::from)?;
        self.write_all(&bytes, deadline)
    }

    /// Write a body made by [`crate::handoff::wire::batch_body`].
    pub fn send_body(&mut self, body: Vec<u8>, deadline: Instant) -> io::Result<()> {
        let bytes = self.session.seal_body(body).map_err(io::Error::from)?;
        self.write_all(&bytes, deadline)
    }

    fn write_all(&mut self, mut buf: &[u8], deadline: Instant) -> io::Result<()> {
        while !buf.is_empty() {
            if self.stop.load(Ordering::Relaxed) {
                return Err(stopped());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out("writing to the bxpush server"));
            }
            self.stream
                .set_write_timeout(Some(at_least_1ms(left.min(SLICE))))?;
            // MSG_NOSIGNAL: a closed peer is EPIPE, never a SIGPIPE that would kill the
            // PHP process (socket2's plain send does not add it).
            match self.stream.send_with_flags(buf, libc::MSG_NOSIGNAL) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, mut buf: &mut [u8], deadline: Instant) -> io::Result<()> {
        while !buf.is_empty() {
            if self.stop.load(Ordering::Relaxed) {
                return Err(stopped());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out("waiting for the bxpush server"));
            }
            self.stream
                .set_read_timeout(Some(at_least_1ms(left.min(SLICE))))?;
            match (&self.stream).read(buf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the bxpush server closed the connection",
                    ))
                }
                Ok(n) => buf = &mut buf[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Read one frame before `deadline`. An Error frame from the owner is returned as a
    /// frame (the caller decides); a frame we cannot read is an error.
    pub fn recv(&mut self, deadline: Instant) -> io::Result<Frame> {
        let mut len = [0u8; 4];
        self.read_exact(&mut len, deadline)?;
        let n = check_len(u32::from_be_bytes(len)).map_err(io::Error::from)?;
        let mut body = vec![0u8; n];
        self.read_exact(&mut body, deadline)?;
        let frame = self.session.open(body).map_err(io::Error::from)?;
        if let Frame::Error { code, text } = &frame {
            if code.is_fatal() {
                return Err(owner_error(*code, text));
            }
        }
        Ok(frame)
    }
}

/// An Error frame that ends the connection, as an io::Error with the owner's text.
pub fn owner_error(code: ErrorCode, text: &str) -> io::Error {
    let kind = match code {
        ErrorCode::Auth => io::ErrorKind::PermissionDenied,
        ErrorCode::Unavailable => io::ErrorKind::ConnectionAborted,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, format!("the bxpush server refused: {text}"))
}

fn unexpected(f: &Frame, wanted: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "unexpected {} frame from the bxpush server (wanted {wanted})",
            f.name()
        ),
    )
}

/// A zero socket timeout means "none" (block forever): never pass one.
fn at_least_1ms(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

/// Start a non-blocking connect of a new socket (close-on-exec: socket2's default).
/// `Ok(true)`: connected at once; `Ok(false)`: in progress ([`finish_connect`]).
fn start_connect(domain: Domain, addr: &SockAddr) -> io::Result<(Socket, bool)> {
    let s = Socket::new(domain, Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    match s.connect(addr) {
        Ok(()) => Ok((s, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok((s, false)),
        Err(e) => Err(e),
    }
}

/// Wait until a non-blocking connect finishes, in slices (stop flag), before `deadline`.
/// poll(2) is the one call here socket2 does not wrap (it has `connect_timeout`, but that
/// cannot be cut short by a stop flag, which MSHUTDOWN needs within 50 ms).
fn finish_connect(s: &Socket, deadline: Instant, stop: &AtomicBool) -> io::Result<()> {
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(stopped());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out("connecting to the bxpush server"));
        }
        let ms = left.min(SLICE).as_millis().max(1) as libc::c_int;
        let mut p = libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd on a descriptor `s` keeps open.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            continue;
        }
        return match s.take_error()? {
            None => Ok(()),
            Some(e) => Err(e),
        };
    }
}

fn connect_tcp(addr: &SocketAddr, deadline: Instant, stop: &AtomicBool) -> io::Result<Socket> {
    let (s, done) = start_connect(Domain::for_address(*addr), &SockAddr::from(*addr))?;
    if !done {
        finish_connect(&s, deadline, stop)?;
    }
    s.set_nonblocking(false)?;
    Ok(s)
}

/// Connect a unix socket without ever blocking: a listener whose backlog is full answers
/// EAGAIN, retried until `deadline` (a blocking connect would wait forever for an owner
/// that is stopped but still holds the socket).
fn connect_unix(path: &Path, deadline: Instant, stop: &AtomicBool) -> io::Result<Socket> {
    let addr = SockAddr::unix(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("unix socket path {}: {e}", path.display()),
        )
    })?;
    loop {
        let e = match start_connect(Domain::UNIX, &addr) {
            Ok((s, done)) => {
                if !done {
                    finish_connect(&s, deadline, stop)?;
                }
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) => e,
        };
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => {
                if stop.load(Ordering::Relaxed) {
                    return Err(stopped());
                }
                if Instant::now() >= deadline {
                    return Err(timed_out(
                        "connecting to the bxpush server (its socket backlog is full)",
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot connect to {}: {e}", path.display()),
                ))
            }
        }
    }
}
