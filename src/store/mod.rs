//! Message history: what a client that reconnects with its last `mid` gets replayed
//! (spec §4.4), kept in memory and persisted in a data directory so that it survives a
//! restart of the runtime.
//!
//! - [`ids`]: message id allocation, strictly increasing across restarts;
//! - [`index`]: the in-memory history (per-channel bounded queues of shared messages);
//! - [`log`]: the append-only file format of `messages.log`;
//! - [`log_recovery`]: reading past damage in it;
//! - [`compaction`]: rewriting the log, the heavy part outside the hub lock;
//! - [`memory`]: [`MemoryStore`], the engine gluing them together.
//!
//! The trait exists so that a Redis engine (several nodes) can take the same place.

use std::path::PathBuf;
use std::sync::Arc;

use crate::message::Message;
use crate::protocol::{ChannelKey, MessageId};

pub mod compaction;
pub mod ids;
pub mod index;
pub mod log;
pub mod log_recovery;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

pub use memory::MemoryStore;

/// Which engine keeps ids, history and presence (`--store`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreKind {
    /// This process: memory, persisted in `--data-dir` when given (one node).
    #[default]
    Memory,
    /// A Redis shared by several nodes (Node push-server 2.x layout).
    #[cfg(feature = "redis")]
    Redis(redis::RedisUrl),
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    /// `memory`, or a Redis URL (refusals name the accepted forms and never echo the
    /// password).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("memory") {
            return Ok(StoreKind::Memory);
        }
        #[cfg(feature = "redis")]
        {
            s.parse::<redis::RedisUrl>()
                .map(StoreKind::Redis)
                .map_err(|e| format!("{e}; or `memory` (the default)"))
        }
        #[cfg(not(feature = "redis"))]
        {
            Err("this build has no Redis engine (library built without the `redis` feature); use `memory`".into())
        }
    }
}

impl std::fmt::Display for StoreKind {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreKind::Memory => f.write_str("memory"),
            #[cfg(feature = "redis")]
            StoreKind::Redis(url) => url.fmt(f),
        }
    }
}

/// How a store keeps history.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Where `messages.log` and `startdate` live; `None` = memory only (lost on restart,
    /// and ids of the next run are only ordered after this run's by the clock).
    pub data_dir: Option<PathBuf>,
    /// Messages kept per channel, oldest evicted first (nginx push-stream's
    /// `push_stream_max_messages_stored_per_channel`, default 1000).
    pub max_per_channel: usize,
    /// Upper bound of a message's TTL in seconds: TTL = min(expiry, max_ttl) (Node's
    /// `storage.messageTTL`, default 86400).
    pub max_ttl: u32,
    /// Bytes kept in all (bodies plus bookkeeping, see [`index::MESSAGE_OVERHEAD`]),
    /// oldest messages evicted first: the number of channels is not bounded by anything
    /// else, so this is what bounds the history's memory.
    pub max_bytes: u64,
    /// Body bytes one channel keeps, its oldest evicted first.
    pub max_channel_bytes: u64,
    /// Bytes the messages of one client publisher keep, its own oldest evicted first.
    pub max_publisher_bytes: u64,
    /// fsync after each append. Off by default: a write(2) that returned survives a crash
    /// of the process (even SIGKILL); fsync only adds safety against power loss.
    pub fsync: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            max_per_channel: 1000,
            max_ttl: 86400,
            max_bytes: 256 * 1024 * 1024,
            max_channel_bytes: 16 * 1024 * 1024,
            max_publisher_bytes: 4 * 1024 * 1024,
            fsync: false,
        }
    }
}

/// Counters for `/server-stat/`, `bxpush stats` and the doctor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Distinct messages held (a message to several channels counts once).
    pub messages: usize,
    /// Channels with at least one message in history.
    pub channels: usize,
    /// Body bytes of the held messages (each body counted once: bodies are shared).
    pub bytes: u64,
    /// What `max_bytes` bounds: bodies plus bookkeeping.
    pub held_bytes: u64,
    /// Messages evicted by a byte limit (total, channel, publisher) since start.
    pub evicted_by_bytes: u64,
    /// Emptied channels that still remember what they lost (gap detection).
    pub tombstones: usize,
    /// Current size of `messages.log` (0 without a data dir).
    pub log_bytes: u64,
    /// Failed history operations since start (appends, purges/rewrites, flushes): each
    /// is also logged once as an error; `/metrics` exports the count.
    pub errors: u64,
}

/// A history engine. Single owner (`&mut self` to write): the hub serialises access.
pub trait Store: Send {
    /// Allocate the next message id (strictly increasing, also across restarts).
    fn next_mid(&mut self, now_unix: u64) -> MessageId;
    /// Keep a message in the history of each of its receivers (only called with
    /// expiry > 0); persist before returning (write(2) to the log; fsync if configured).
    fn append(&mut self, msg: Arc<Message>) -> std::io::Result<()>;
    /// Stored, unexpired messages with mid > after on any of `channels`, sorted by mid,
    /// each once (a message addressed to two of the channels appears once).
    fn since(&self, channels: &[ChannelKey], after: MessageId, now_unix: u64) -> Vec<Arc<Message>>;
    /// Was `after` older than the oldest message still kept for these channels, with
    /// something dropped (by the cap or by expiry) after it? Then the client's resume
    /// point is lost and it must be told so.
    fn gap_after(&self, channels: &[ChannelKey], after: MessageId) -> bool;
    /// The newest unexpired stored mid across `channels`.
    fn newest(&self, channels: &[ChannelKey], now_unix: u64) -> Option<MessageId>;
    /// Drop expired messages (called every few seconds).
    fn purge(&mut self, now_unix: u64) -> std::io::Result<()>;
    /// Start compacting the log when it holds mostly dead records (or a write broke it):
    /// the returned job is written without the hub lock, then handed to
    /// [`Store::finish_compaction`] under it. `None`: nothing to do now (no log, one is
    /// already running, or backing off after a failure).
    fn begin_compaction(
        &mut self,
        _now_unix: u64,
    ) -> std::io::Result<Option<compaction::Compaction>> {
        Ok(None)
    }
    /// Finish a compaction begun by [`Store::begin_compaction`]; `written` is what
    /// [`compaction::Compaction::write`] returned.
    fn finish_compaction(
        &mut self,
        _job: compaction::Compaction,
        _written: std::io::Result<()>,
    ) -> std::io::Result<()> {
        Ok(())
    }
    /// Flush and fsync (graceful shutdown).
    fn flush(&mut self) -> std::io::Result<()>;
    fn stats(&self) -> StoreStats;
}

/// Unix second from which `msg` is no longer replayed: TTL = min(expiry, max_ttl) from
/// its creation (spec §4.4). Expired means `now >= expires_at`.
pub fn expires_at(msg: &Message, max_ttl: u32) -> u64 {
    msg.created as u64 + msg.expiry.min(max_ttl) as u64
}

/// Build an `io::Error` that says what was being done, keeping the original kind.
pub(crate) fn io_context(e: std::io::Error, what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use bytes::Bytes;

    use crate::message::{Message, Sender};
    use crate::protocol::{ChannelId, ChannelKey, MessageId};

    /// A fresh, empty directory under the system temp dir, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> Self {
            static SEQ: AtomicU32 = AtomicU32::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let p = std::env::temp_dir().join(format!(
                "bxpush-store-{tag}-{}-{}-{nanos}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("create temp dir");
            Self(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub fn ch(n: u8) -> ChannelKey {
        ChannelKey::private(ChannelId([n; 16]))
    }

    pub fn pubch(n: u8) -> ChannelKey {
        ChannelKey::public(ChannelId([n; 16]))
    }

    pub fn mid(counter: u64) -> MessageId {
        MessageId::new(1_700_000_000, counter)
    }

    /// A backend message created at unix second `created`.
    pub fn msg(
        mid: MessageId,
        receivers: &[ChannelKey],
        body: &str,
        expiry: u32,
        created: u32,
    ) -> Arc<Message> {
        Arc::new(Message::new(
            mid,
            receivers.to_vec(),
            Bytes::copy_from_slice(body.as_bytes()),
            expiry,
            created as u64 * 1000 + 123,
            Sender::Backend,
        ))
    }

    pub fn mids(v: &[Arc<Message>]) -> Vec<MessageId> {
        v.iter().map(|m| m.mid).collect()
    }
}
