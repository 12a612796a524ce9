//! One subscribed connection (WebSocket, parked long poll, SSE stream) as the hub sees it.
//!
//! The queue is a lazily allocated `VecDeque` plus the waker of the connection's task (an
//! `AtomicWaker`: one consumer per subscriber, and polling it needs no future state, unlike
//! a `Notify`'s 64-byte `Notified`): an idle connection costs no buffer (a tokio mpsc
//! would allocate a 32-slot block up front, about 2.3 KiB). It is
//! bounded: a reader that falls `max_queue` messages behind is cut off with
//! [`CloseReason::SlowReader`] instead of growing without limit.
//!
//! The writer pass: a connection that can take a message straight to its socket (a
//! WebSocket, a parked long poll, an SSE stream: [`Direct`]) is handed it by [`Subscriber::push`] itself, in the publisher's
//! fan-out, when nothing is ahead of it: the queue is empty and the connection's task is
//! not writing what it took (`Queue::busy`). No queue, no wake-up, no task poll. Whatever
//! the socket does not take at once stays with the connection and its task finishes it,
//! in order, before anything queued behind it: order and exactly-once hold because every
//! decision is made under this subscriber's queue lock, which the task also takes to take
//! messages and to say it is done with them ([`Subscriber::done`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

use crate::message::Message;
use crate::protocol::{ChannelKey, ErrorCode, MessageId};

/// Why the hub ended a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Too many connections on one of its public channels; this was the oldest (4029).
    TooManyConnections,
    /// Its queue overflowed: the reader is too slow.
    SlowReader,
    /// The server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// WebSocket close code and reason text.
    pub fn ws_close(self) -> (u16, String) {
        match self {
            CloseReason::TooManyConnections => (
                ErrorCode::TooManyConnections.code(),
                ErrorCode::TooManyConnections.reason(),
            ),
            // 1008 policy violation: the client reconnects with its mid and resumes.
            CloseReason::SlowReader => (1008, "slow reader: send queue overflow".into()),
            // 1001 going away: the Bitrix client treats it as SERVER_DIE and reconnects.
            CloseReason::Shutdown => (1001, "server shutdown".into()),
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            CloseReason::TooManyConnections => 1,
            CloseReason::SlowReader => 2,
            CloseReason::Shutdown => 3,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(CloseReason::TooManyConnections),
            2 => Some(CloseReason::SlowReader),
            3 => Some(CloseReason::Shutdown),
            _ => None,
        }
    }
}

/// What a connection's socket did with a message offered by [`Subscriber::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Written whole.
    Written,
    /// Part of it was written; the connection keeps the rest and its task must finish it
    /// (it is woken).
    Started,
    /// Nothing was written (the socket is full or busy): queue it.
    Declined,
    /// The connection takes nothing more: its one answer is out (a long poll between its
    /// reply and its next request). Not queued: the next poll reads it from history
    /// (live-only messages between two polls were never promised to long polling).
    Finished,
}

/// A connection that can take a message straight to its socket without waiting.
pub trait Direct: Send + Sync {
    /// Write `msg` now, without blocking. Called under the subscriber's queue lock with
    /// nothing ahead of `msg` for this connection.
    fn offer(&self, msg: &Arc<Message>) -> Offer;
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Arc<Message>>,
    /// The last message pushed. Not a second de-duplication of receivers (the hub's gate
    /// made them distinct): a message addressed to two *different* channels this one
    /// connection listens to (its private and the shared channel, or private and public)
    /// reaches it once per channel in the fan-out loop, and is queued once here (the Node
    /// server sends it twice).
    last_mid: Option<MessageId>,
    /// The task took messages (or has the rest of a frame to finish) and has not said it
    /// is done ([`Subscriber::done`]): what comes now goes behind them, through the queue.
    busy: bool,
    /// The task must run once even with nothing queued: it has the rest of a frame to
    /// finish.
    poked: bool,
}

pub struct Subscriber {
    /// Monotonic: smaller = older (used to pick the oldest connection to kick).
    pub id: u64,
    /// The channels it receives (private ids and their public ids).
    pub channels: Box<[ChannelKey]>,
    queue: Mutex<Queue>,
    waker: AtomicWaker,
    closed: AtomicU8,
    max_queue: usize,
    /// Set once the connection can take messages straight to its socket.
    direct: OnceLock<Box<dyn Direct>>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").field("id", &self.id).finish()
    }
}

impl Subscriber {
    pub(crate) fn new(id: u64, channels: Box<[ChannelKey]>, max_queue: usize) -> Self {
        Self {
            id,
            channels,
            queue: Mutex::new(Queue::default()),
            waker: AtomicWaker::new(),
            closed: AtomicU8::new(0),
            max_queue,
            direct: OnceLock::new(),
        }
    }

    /// Queue a message (called by the hub under its lock). Returns false when the queue
    /// was full and the subscriber has been closed as a slow reader.
    pub(crate) fn push(&self, msg: &Arc<Message>) -> bool {
        self.push_with(msg, true)
    }

    /// [`Subscriber::push`]; without `direct` the message goes through the queue even when
    /// the socket could take it now (more of a batch follows: the task writes them
    /// together).
    pub(crate) fn push_with(&self, msg: &Arc<Message>, direct: bool) -> bool {
        if self.closed.load(Ordering::Relaxed) != 0 {
            return true;
        }
        let mut q = self.queue.lock();
        // At or below the last id queued: already had it. On one node ids only grow under
        // the hub lock; with Redis this is what keeps replay + live exactly-once and a
        // late id from going out of order (DESIGN.md "Several nodes").
        if q.last_mid.is_some_and(|last| msg.mid <= last) {
            return true;
        }
        if direct && q.items.is_empty() && !q.busy {
            if let Some(direct) = self.direct.get() {
                match direct.offer(msg) {
                    Offer::Written => {
                        q.last_mid = Some(msg.mid);
                        return true;
                    }
                    Offer::Started => {
                        q.last_mid = Some(msg.mid);
                        q.busy = true;
                        q.poked = true;
                        drop(q);
                        self.waker.wake();
                        return true;
                    }
                    Offer::Finished => return true,
                    Offer::Declined => {}
                }
            }
        }
        if q.items.len() >= self.max_queue {
            drop(q);
            self.close(CloseReason::SlowReader);
            return false;
        }
        q.last_mid = Some(msg.mid);
        q.items.push_back(msg.clone());
        drop(q);
        self.waker.wake();
        true
    }

    /// Let the publishers' fan-out write to the connection's socket from now on (once it
    /// sent what it had to send first: its replay).
    pub fn attach(&self, direct: Box<dyn Direct>) {
        let _ = self.direct.set(direct);
    }

    /// The task wrote everything it took with [`Subscriber::recv`]: messages may go
    /// straight to the socket again when nothing is queued.
    pub fn done(&self) {
        self.queue.lock().busy = false;
    }

    /// End the subscription; the reader sees `reason` on its next `recv`.
    pub fn close(&self, reason: CloseReason) {
        let _ =
            self.closed
                .compare_exchange(0, reason.to_u8(), Ordering::AcqRel, Ordering::Acquire);
        self.waker.wake();
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        CloseReason::from_u8(self.closed.load(Ordering::Acquire))
    }

    /// Wait for queued messages and take all of them (what is already queued is sent as
    /// one frame: coalescing without a timer). A close wins over pending messages only
    /// when the queue is empty, so what was queued before a shutdown is still delivered.
    /// With a [`Direct`] socket: an empty list when the task must finish a frame the
    /// fan-out started; until [`Subscriber::done`], nothing goes to the socket but
    /// through the task.
    pub async fn recv(&self) -> Result<Vec<Arc<Message>>, CloseReason> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`Subscriber::recv`] as a poll (one task per subscriber polls it: the waker of the
    /// last poll is the one woken).
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Vec<Arc<Message>>, CloseReason>> {
        if let Some(r) = self.try_take() {
            return Poll::Ready(r);
        }
        self.waker.register(cx.waker());
        // A push or close between the first look and the registration woke nobody.
        match self.try_take() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }

    fn try_take(&self) -> Option<Result<Vec<Arc<Message>>, CloseReason>> {
        let mut q = self.queue.lock();
        if !q.items.is_empty() || q.poked {
            q.poked = false;
            q.busy = self.direct.get().is_some();
            let items: Vec<_> = q.items.drain(..).collect();
            // Release the ring's capacity: an idle connection should hold nothing.
            if q.items.capacity() > 16 {
                q.items = VecDeque::new();
            }
            return Some(Ok(items));
        }
        drop(q);
        self.close_reason().map(Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Sender;
    use bytes::Bytes;
    use std::sync::atomic::AtomicBool;

    /// A socket that takes whole messages until it is `full`.
    struct Fake {
        wire: Arc<Mutex<Vec<MessageId>>>,
        full: Arc<AtomicBool>,
    }

    impl Direct for Fake {
        fn offer(&self, msg: &Arc<Message>) -> Offer {
            if self.full.load(Ordering::Relaxed) {
                return Offer::Declined;
            }
            self.wire.lock().push(msg.mid);
            Offer::Written
        }
    }

    fn msg(i: u64) -> Arc<Message> {
        Arc::new(Message::new(
            MessageId::new(1_700_000_000, i),
            Vec::new(),
            Bytes::new(),
            0,
            1_700_000_000_000,
            Sender::Backend,
        ))
    }

    fn ids(v: &[u64]) -> Vec<MessageId> {
        v.iter()
            .map(|&i| MessageId::new(1_700_000_000, i))
            .collect()
    }

    /// The pass writes straight to the socket only with nothing ahead: never before the
    /// replay (not attached yet), never past what is queued or what the task took and
    /// has not written; what the task writes and what the pass writes make one ordered
    /// stream, each message once.
    #[tokio::test]
    async fn direct_writes_never_overtake_what_is_queued_or_taken() {
        let sub = Subscriber::new(1, Box::new([]), 100);
        let wire = Arc::new(Mutex::new(Vec::new()));
        let full = Arc::new(AtomicBool::new(false));
        let task_writes = |taken: Vec<Arc<Message>>| {
            wire.lock().extend(taken.iter().map(|m| m.mid));
            sub.done();
        };
        sub.push(&msg(1)); // before attach (the replay is being sent): queued
        sub.attach(Box::new(Fake {
            wire: wire.clone(),
            full: full.clone(),
        }));
        sub.push(&msg(2)); // 1 is queued: 2 goes behind it
        let taken = sub.recv().await.unwrap();
        sub.push(&msg(3)); // the task took 1 and 2 and has not written them
        assert!(wire.lock().is_empty());
        task_writes(taken);
        sub.push(&msg(4)); // 3 is still queued
        task_writes(sub.recv().await.unwrap());
        sub.push(&msg(5)); // nothing ahead: straight to the socket
        sub.push(&msg(5)); // once
        assert_eq!(*wire.lock(), ids(&[1, 2, 3, 4, 5]));
        full.store(true, Ordering::Relaxed);
        sub.push(&msg(6)); // the socket is full: queued, the task sends it
        full.store(false, Ordering::Relaxed);
        sub.push(&msg(7)); // behind 6
        task_writes(sub.recv().await.unwrap());
        sub.push(&msg(8));
        assert_eq!(*wire.lock(), ids(&[1, 2, 3, 4, 5, 6, 7, 8]));
    }

    /// A batch's messages are taken by the task together (one `writev`), not written one
    /// by one from the fan-out; the first message after the batch is direct again.
    #[tokio::test]
    async fn a_batch_goes_through_the_queue_and_is_taken_whole() {
        let sub = Subscriber::new(1, Box::new([]), 100);
        let wire = Arc::new(Mutex::new(Vec::new()));
        sub.attach(Box::new(Fake {
            wire: wire.clone(),
            full: Arc::new(AtomicBool::new(false)),
        }));
        sub.push_with(&msg(1), false);
        sub.push_with(&msg(2), false);
        sub.push(&msg(3)); // the batch's last: 1 and 2 are ahead of it
        assert!(wire.lock().is_empty());
        let taken = sub.recv().await.unwrap();
        assert_eq!(
            taken.iter().map(|m| m.mid).collect::<Vec<_>>(),
            ids(&[1, 2, 3])
        );
        sub.done();
        sub.push(&msg(4));
        assert_eq!(*wire.lock(), ids(&[4]));
    }
}
