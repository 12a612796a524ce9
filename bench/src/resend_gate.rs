//! When a long-poll subscriber sends its next poll. One worker core stands in for
//! thousands of browsers; if each sent its next request (a loopback `write`, about as
//! costly as the server's write of the reply) as soon as it read its reply, the replies
//! still waiting in other sockets would be read later by that much, and the release
//! latency would measure the bench's own work. A browser's next request delays no other
//! browser, so the bench sends a next poll only in a turn of its runtime that read no
//! reply: every reply already in is read and timestamped first.
//!
//! One waiting subscriber watches (yields a turn at a time, comparing the count of
//! replies read) and lets one other waiter go per quiet turn; a burst of sends let go
//! at once would hold up the replies that arrive meanwhile just the same.

use std::cell::Cell;

use tokio::sync::Notify;

#[derive(Default)]
pub struct ResendGate {
    /// Replies read so far (any subscriber of this worker).
    read: Cell<u64>,
    /// Subscribers waiting, the watcher included.
    waiting: Cell<u64>,
    watching: Cell<bool>,
    next: Notify,
}

impl ResendGate {
    /// A reply was read.
    pub fn note_read(&self) {
        self.read.set(self.read.get() + 1);
    }

    /// Wait for a turn of the runtime that reads no reply.
    pub async fn wait(&self) {
        self.waiting.set(self.waiting.get() + 1);
        if self.watching.get() {
            // `notify_one` stores a permit when nobody is polled yet: none is lost.
            self.next.notified().await;
            return;
        }
        self.watching.set(true);
        loop {
            let seen = self.read.get();
            // `yield_now` runs this task again after the runtime polled its I/O driver
            // and ran the tasks that woke: the readers of replies that came in meanwhile.
            tokio::task::yield_now().await;
            if self.read.get() != seen {
                continue;
            }
            // A quiet turn: one waiter goes (the watcher itself when it is the last).
            self.waiting.set(self.waiting.get() - 1);
            if self.waiting.get() == 0 {
                break;
            }
            self.next.notify_one();
        }
        self.watching.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixStream;

    /// While replies keep coming in (one per turn of the runtime here), a waiting
    /// subscriber does not send its next poll; once they stop, every waiter goes.
    #[test]
    fn a_next_poll_waits_while_replies_come_in() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let gate = Rc::new(ResendGate::default());
            let sent = Rc::new(Cell::new(0u32));
            let mut peers = Vec::new();
            let mut readers = Vec::new();
            for _ in 0..64 {
                let (mut ours, theirs) = UnixStream::pair().unwrap();
                peers.push(theirs);
                let (g, s) = (gate.clone(), sent.clone());
                readers.push(tokio::task::spawn_local(async move {
                    let mut buf = [0u8; 16];
                    assert_eq!(ours.read(&mut buf).await.unwrap(), 5);
                    g.note_read();
                    s.get()
                }));
            }
            let mut waiters = Vec::new();
            for _ in 0..3 {
                let (g, s) = (gate.clone(), sent.clone());
                waiters.push(tokio::task::spawn_local(async move {
                    g.wait().await;
                    s.set(s.get() + 1);
                }));
            }
            // The server's pass: one reply per turn.
            for p in &peers {
                p.try_write(b"reply").unwrap();
                tokio::task::yield_now().await;
            }
            for r in readers {
                let sent_before = r.await.unwrap();
                assert_eq!(sent_before, 0, "a next poll went while replies came in");
            }
            for w in waiters {
                w.await.unwrap();
            }
            assert_eq!(sent.get(), 3);
            // The gate works again after it let everyone go.
            gate.wait().await;
        });
    }
}
