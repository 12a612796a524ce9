//! The in-memory queue of one forwarder, shared by the PHP thread (which appends) and the
//! forwarder thread (which sends and drops what the owner acknowledged), and how much of
//! it goes in one batch.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::link::SocketSlot;

/// Items and bytes per batch the forwarder sends (below the wire's hard limits).
const BATCH_ITEMS: usize = 1000;
const BATCH_BYTES: usize = 4 << 20;

pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) bytes: Bytes,
}

pub(super) struct State {
    /// Unacknowledged, unspooled items; seqs increasing and contiguous.
    pub(super) queue: VecDeque<Pending>,
    pub(super) queue_bytes: usize,
    pub(super) next_seq: u64,
    /// Highest seq sent on the current connection.
    pub(super) sent_upto: u64,
    /// Highest seq of this origin the owner acknowledged.
    pub(super) acked_seq: u64,
    /// Bumped whenever this forwarder writes a spool file.
    pub(super) spool_gen: u64,
    /// The spool directory may hold files to replay.
    pub(super) spool_dirty: bool,
    /// After shutdown: submit spools directly.
    pub(super) closed: bool,
    /// The thread has exited.
    pub(super) done: bool,
    pub(super) connected: bool,
    /// Index in `owners` of the owner connected to.
    pub(super) owner: Option<usize>,
    pub(super) last_error: Option<String>,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Wakes the thread: items, spool files, stop.
    pub(super) work: Condvar,
    /// Wakes flushers and shutdown: acks, spooling, thread exit.
    pub(super) progress: Condvar,
    pub(super) stop: AtomicBool,
    pub(super) socket: SocketSlot,
    pub(super) submitted: AtomicU64,
    pub(super) acked: AtomicU64,
    pub(super) spooled: AtomicU64,
    pub(super) replayed: AtomicU64,
    pub(super) rejected: AtomicU64,
    /// Connections made to another owner than the previous one.
    pub(super) failovers: AtomicU64,
}

impl Shared {
    pub(super) fn new() -> Shared {
        Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queue_bytes: 0,
                next_seq: 1,
                sent_upto: 0,
                acked_seq: 0,
                spool_gen: 0,
                spool_dirty: true,
                closed: false,
                done: false,
                connected: false,
                owner: None,
                last_error: None,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            stop: AtomicBool::new(false),
            socket: SocketSlot::default(),
            submitted: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            spooled: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
        }
    }

    pub(super) fn note_error(&self, e: impl fmt::Display) {
        let text = e.to_string();
        tracing::debug!(error = %text, "bxpush forwarder");
        self.state.lock().last_error = Some(text);
    }

    /// Owner acknowledged everything of this origin up to `seq`.
    pub(super) fn on_ack(&self, st: &mut State, seq: u64) {
        st.acked_seq = st.acked_seq.max(seq);
        let mut n = 0;
        while st.queue.front().is_some_and(|p| p.seq <= seq) {
            let p = st.queue.pop_front().expect("front exists");
            st.queue_bytes -= p.bytes.len();
            n += 1;
        }
        if n > 0 {
            self.acked.fetch_add(n, Ordering::Relaxed);
            self.progress.notify_all();
        }
    }
}

/// How many of `items` go in one batch (at least one).
pub(super) fn take_batch<'b>(items: impl Iterator<Item = &'b Bytes>) -> usize {
    let mut n = 0;
    let mut bytes = 0;
    for b in items {
        if n > 0 && (n >= BATCH_ITEMS || bytes + b.len() > BATCH_BYTES) {
            break;
        }
        n += 1;
        bytes += b.len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_item_and_byte_limits() {
        let small: Vec<Bytes> = (0..2500).map(|_| Bytes::from_static(b"12345")).collect();
        assert_eq!(take_batch(small.iter()), BATCH_ITEMS);
        let big: Vec<Bytes> = (0..3).map(|_| Bytes::from(vec![0u8; 3 << 20])).collect();
        assert_eq!(take_batch(big.iter()), 1);
        assert_eq!(take_batch(std::iter::empty()), 0);
    }
}
