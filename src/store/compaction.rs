//! Rewriting `messages.log` with only the held messages, with the heavy part out of the
//! hub lock.
//!
//! Compacting 256 MiB of history inside the lock stopped every publish for 0.63 s
//! (issue 10 finding 8). The lock orders id allocation, the history append and the
//! fan-out (DESIGN.md "Ordering and exactly-once"), so the rewrite is cut in three:
//!
//! 1. under the lock, [`super::MemoryStore::begin_compaction`] takes a snapshot: an
//!    `Arc` per held message (no body is copied) and each channel's oldest held id,
//!    and starts a temp file; from then on every record appended to the old log is
//!    also kept in a tail buffer;
//! 2. without the lock, [`Compaction::write`] encodes the snapshot and writes and
//!    fsyncs it (the 256 MiB);
//! 3. under the lock again, [`super::MemoryStore::finish_compaction`] appends the tail
//!    and the current "dropped up to" marks, fsyncs that, and renames the file over
//!    the log.
//!
//! So the new log holds every record the old one got, in mid order. A message dropped
//! (evicted, expired) while step 2 ran is written anyway, as a dead record, as it would
//! be between any two compactions: the next start drops it again by the same rules.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use crate::message::Message;
use crate::protocol::{ChannelKey, MessageId};

use super::log::{self, Rewrite};

/// One compaction in progress (see the module doc).
#[derive(Debug)]
pub struct Compaction {
    pub(super) messages: Vec<Arc<Message>>,
    /// Each channel's oldest held id at the snapshot: a queue holds every indexed
    /// message to it from its front on (only the channel's caps take messages off
    /// the front; anything else drops a message everywhere), so whether a channel still
    /// holds a message is one lookup here.
    pub(super) fronts: HashMap<ChannelKey, MessageId>,
    pub(super) rewrite: Rewrite,
    /// Messages written with fewer receivers than their first record had, and the
    /// length of their new record.
    pub(super) shrunk: Vec<(MessageId, u32)>,
    /// Log length when it began (for the log line).
    pub(super) before: u64,
    /// How long the snapshot and the write took (for the log line: the first is time
    /// under the hub lock, the second is not).
    pub(super) snapshot: std::time::Duration,
    pub(super) written_in: std::time::Duration,
}

impl Compaction {
    /// Write the snapshot to the temp file and fsync it. Touches nothing shared: call it
    /// without the hub lock.
    pub fn write(&mut self) -> io::Result<()> {
        let started = std::time::Instant::now();
        let r = self.write_snapshot();
        self.written_in = started.elapsed();
        r
    }

    fn write_snapshot(&mut self) -> io::Result<()> {
        let mut buf = Vec::with_capacity(64 << 10);
        let mut held = Vec::new();
        for m in std::mem::take(&mut self.messages) {
            held.clear();
            held.extend(
                m.receivers
                    .iter()
                    .filter(|k| self.fronts.get(k).is_some_and(|f| *f <= m.mid)),
            );
            if held.is_empty() {
                continue;
            }
            let len = log::encode_message_for(&m, &held, &mut buf)?;
            if held.len() != m.receivers.len() {
                self.shrunk
                    .push((m.mid, u32::try_from(len).unwrap_or(u32::MAX)));
            }
            if buf.len() >= 64 << 10 {
                self.rewrite.write_all(&buf)?;
                buf.clear();
            }
        }
        self.rewrite.write_all(&buf)?;
        self.fronts = HashMap::new();
        self.rewrite.sync()
    }
}
