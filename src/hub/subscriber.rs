//! One subscribed connection (WebSocket, parked long poll, SSE stream) as the hub sees it.
//!
//! The queue is a lazily allocated `VecDeque` plus the waker of the connection's task (an
//! `AtomicWaker`: one consumer per subscriber, and polling it needs no future state, unlike
//! a `Notify`'s 64-byte `Notified`): an idle connection costs no buffer (a tokio mpsc
//! would allocate a 32-slot block up front, about 2.3 KiB). It is
//! bounded: a reader that falls `max_queue` messages behind is cut off with
//! [`CloseReason::SlowReader`] instead of growing without limit.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
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

#[derive(Default)]
struct Queue {
    items: VecDeque<Arc<Message>>,
    /// The last message pushed. Not a second de-duplication of receivers (the hub's gate
    /// made them distinct): a message addressed to two *different* channels this one
    /// connection listens to (its private and the shared channel, or private and public)
    /// reaches it once per channel in the fan-out loop, and is queued once here (the Node
    /// server sends it twice).
    last_mid: Option<MessageId>,
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
        }
    }

    /// Queue a message (called by the hub under its lock). Returns false when the queue
    /// was full and the subscriber has been closed as a slow reader.
    pub(crate) fn push(&self, msg: &Arc<Message>) -> bool {
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
        if !q.items.is_empty() {
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
