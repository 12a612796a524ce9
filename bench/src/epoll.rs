//! A level-triggered epoll set over raw fds: what the floors' socket loops wait on (the
//! drainers of `floor`, the writer and the peers of `floor_ping`), with nothing of a
//! runtime between them and the kernel.

/// An epoll instance; its fd is closed on drop.
pub(crate) struct Epoll(i32);

impl Epoll {
    pub(crate) fn new() -> Result<Self, String> {
        // SAFETY: plain syscall; the fd is owned by the returned value.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(format!(
                "epoll_create1: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Self(fd))
    }

    /// Watch `fd` for input (level-triggered), reported with `token`.
    pub(crate) fn add(&self, fd: i32, token: u64) -> Result<(), String> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both fds are open; `ev` outlives the call.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(format!("epoll_ctl: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Ready events into `events`, waiting at most `timeout_ms` (-1: no limit); 0 on a
    /// signal.
    pub(crate) fn wait(
        &self,
        events: &mut [libc::epoll_event],
        timeout_ms: i32,
    ) -> Result<usize, String> {
        // SAFETY: `events` is a valid buffer of its length.
        let n = unsafe {
            libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms)
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(format!("epoll_wait: {e}"));
        }
        Ok(n as usize)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closing the fd this value owns.
        unsafe {
            libc::close(self.0);
        }
    }
}
