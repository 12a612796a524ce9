//! One blocking connection from a worker to the owner: connect (bounded), handshake,
//! frames with deadlines. Plain std sockets; every wait is bounded and can be cut short by
//! a stop flag (checked every [`SLICE`]) or by `shutdown(2)` on the socket from another
//! thread (see [`SocketSlot`]).

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::handoff::os_random;
use crate::handoff::wire::{
    check_len, hello_mac, macs_equal, session_key, welcome_mac, ErrorCode, Frame, Role, Session,
    MAC_LEN, VERSION,
};
use crate::handoff::PhpTarget;

/// Longest single blocking wait before the stop flag is looked at again.
pub const SLICE: Duration = Duration::from_millis(50);

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
        }
    }
    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        let t = Some(t.max(Duration::from_millis(1)));
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }
    fn set_write_timeout(&self, t: Duration) -> io::Result<()> {
        let t = Some(t.max(Duration::from_millis(1)));
        match self {
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Tcp(s) => s.set_write_timeout(t),
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

/// The socket of the live connection, so that another thread can `shutdown(2)` it and
/// wake a blocked read or write at once. The owner of the connection clears the slot
/// (under its lock) before closing the fd, so a shutdown never hits a reused descriptor.
#[derive(Default)]
pub struct SocketSlot(Mutex<Option<RawFd>>);

impl SocketSlot {
    fn set(&self, fd: Option<RawFd>) {
        *self.0.lock() = fd;
    }
    pub fn shutdown(&self) {
        if let Some(fd) = *self.0.lock() {
            // SAFETY: the fd is open while it is in the slot (see the type's doc).
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
    }
}

/// An established, authenticated connection.
pub struct Link<'a> {
    stream: Stream,
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
            PhpTarget::Unix(p) => Stream::Unix(connect_unix(p, connect_deadline, stop)?),
            PhpTarget::Tcp(a) => {
                if key.is_none() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("the bxpush server {a} is TCP, which needs the signature key (bxpush.signature_key) to authenticate; set it, or use a unix socket"),
                    ));
                }
                let s = connect_tcp(a, connect_deadline, stop)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {a}: {e}")))?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        };
        if let Some(slot) = slot {
            slot.set(Some(stream.fd()));
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
        let fd = self.stream.fd();
        while !buf.is_empty() {
            if self.stop.load(Ordering::Relaxed) {
                return Err(stopped());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out("writing to the bxpush server"));
            }
            self.stream.set_write_timeout(left.min(SLICE))?;
            // send(2) with MSG_NOSIGNAL: a closed peer is EPIPE, never a SIGPIPE that
            // would kill the PHP process.
            // SAFETY: buf is a valid slice; fd is open for the lifetime of self.stream.
            let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted
                    | io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut => continue,
                    _ => return Err(e),
                }
            }
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n as usize..];
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
            self.stream.set_read_timeout(left.min(SLICE))?;
            match self.stream.read(buf) {
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

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn new_socket(domain: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned by the returned OwnedFd.
    let fd = cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: fd was just created and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_blocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = cvt(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
        cvt(libc::fcntl(
            fd.as_raw_fd(),
            libc::F_SETFL,
            flags & !libc::O_NONBLOCK,
        ))?;
    }
    Ok(())
}

/// Wait until a non-blocking connect finishes, in slices (stop flag), before `deadline`.
fn finish_connect(fd: &OwnedFd, deadline: Instant, stop: &AtomicBool) -> io::Result<()> {
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
            fd: fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
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
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err/len are valid out-parameters of the right size.
        cvt(unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        })?;
        return if err == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(err))
        };
    }
}

fn connect_tcp(addr: &SocketAddr, deadline: Instant, stop: &AtomicBool) -> io::Result<TcpStream> {
    let (domain, storage, len) = sockaddr_of(addr);
    let fd = new_socket(domain)?;
    // SAFETY: storage holds a valid sockaddr of `len` bytes.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        finish_connect(&fd, deadline, stop)?;
    }
    set_blocking(&fd)?;
    Ok(TcpStream::from(fd))
}

fn sockaddr_of(addr: &SocketAddr) -> (libc::c_int, libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe {
                std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin);
            }
            (
                libc::AF_INET,
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe {
                std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6);
            }
            (
                libc::AF_INET6,
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// Connect a unix socket without ever blocking: a listener whose backlog is full answers
/// EAGAIN, retried until `deadline` (a blocking connect would wait forever for an owner
/// that is stopped but still holds the socket).
fn connect_unix(path: &Path, deadline: Instant, stop: &AtomicBool) -> io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: an all-zero sockaddr_un is valid.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= sun.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "unix socket path {} is longer than {} bytes",
                path.display(),
                sun.sun_path.len() - 1
            ),
        ));
    }
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    loop {
        let fd = new_socket(libc::AF_UNIX)?;
        // SAFETY: sun is a valid sockaddr_un of at least `len` bytes.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&sun as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if r == 0 {
            set_blocking(&fd)?;
            return Ok(UnixStream::from(fd));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINPROGRESS) => {
                finish_connect(&fd, deadline, stop)?;
                set_blocking(&fd)?;
                return Ok(UnixStream::from(fd));
            }
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
