//! [`MemoryStore`]: history in memory, persisted in an append-only log when a data
//! directory is configured, so that a restart of the runtime loses nothing.
//!
//! Reads ([`Store::since`], [`Store::gap_after`], [`Store::newest`]) never touch the disk.
//! Writes are one `write(2)` per message. Expired and evicted messages leave dead records
//! behind; [`Store::purge`] rewrites the log when it is mostly dead.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::message::Message;
use crate::protocol::{ChannelKey, MessageId};

use super::compaction::Compaction;
use super::ids::MidAllocator;
use super::index::{Index, Limits};
use super::log::{self, LogFile, Record, StoredMessage, MAX_BODY};
use super::{io_context, Store, StoreOptions, StoreStats};

/// The log is rewritten only above this size (and only when less than half is live):
/// below it the dead bytes cost less than the rewrite.
pub const COMPACT_MIN_BYTES: u64 = 8 << 20;
/// A failed rewrite is retried after this many seconds, not at every purge.
const REWRITE_RETRY_SECS: u64 = 60;
/// Name of the lock file that keeps two processes from sharing a data dir.
pub const LOCK_FILE: &str = "lock";

/// History in memory, optionally persisted in `data_dir`.
#[derive(Debug)]
pub struct MemoryStore {
    opts: StoreOptions,
    ids: MidAllocator,
    index: Index,
    log: Option<LogFile>,
    /// Held for its `flock`: two runtimes appending to one log would corrupt it.
    _lock: Option<File>,
    /// Bytes of "dropped up to" records in the log. Each rewrite writes them anew, so they
    /// count as live when deciding whether a rewrite is worth it.
    mark_bytes: u64,
    /// No rewrite before this unix second (backoff after a failed one).
    rewrite_not_before: u64,
    /// A [`Compaction`] is out (between begin and finish).
    compacting: bool,
    /// While compacting: the records appended to the old log since the snapshot, which
    /// the new log gets at the finish.
    tail: Vec<u8>,
    compact_min_bytes: u64,
    /// Reused encoding buffer for appends.
    scratch: Vec<u8>,
    /// Failed appends, purges and flushes (`StoreStats::errors`).
    errors: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl MemoryStore {
    /// [`Store::append`] without the error count.
    fn append_unchecked(&mut self, msg: Arc<Message>) -> io::Result<()> {
        if msg.expiry == 0 || msg.receivers.is_empty() || self.index.contains(&msg.mid) {
            return Ok(());
        }
        if self.log.is_none() {
            if msg.body.len() > MAX_BODY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("message {} not stored: body over {MAX_BODY} bytes", msg.mid),
                ));
            }
            self.index.insert(msg, 0);
            return Ok(());
        }
        self.scratch.clear();
        let len = log::encode_message(&msg, &mut self.scratch)?;
        let len = u32::try_from(len).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "message record over 4 GiB")
        })?;
        // The log first, memory only once the record is written: a message whose write
        // failed is refused to its publisher, so it must not be replayed either, nor be
        // written later by a rewrite from memory (a retry would then store it twice).
        let result = match self.log.as_mut() {
            Some(log) => log.append(&self.scratch),
            None => Ok(()),
        };
        if result.is_ok() && self.compacting {
            self.tail.extend_from_slice(&self.scratch);
        }
        if self.scratch.capacity() > 1 << 20 {
            self.scratch = Vec::new();
        }
        result?;
        self.index.insert(msg, len);
        Ok(())
    }

    /// Open the store: lock the data dir, read back the log (cutting a torn tail), drop
    /// what expired meanwhile, and persist this run's startdate before any id is issued.
    pub fn open(opts: StoreOptions) -> io::Result<Self> {
        Self::open_at(opts, unix_now())
    }

    /// [`MemoryStore::open`] with an explicit clock (tests, tools).
    pub fn open_at(opts: StoreOptions, now_unix: u64) -> io::Result<Self> {
        let mut index = Index::new(Limits {
            max_per_channel: opts.max_per_channel,
            max_ttl: opts.max_ttl,
            max_bytes: opts.max_bytes,
            max_channel_bytes: opts.max_channel_bytes,
            max_publisher_bytes: opts.max_publisher_bytes,
        });
        let Some(dir) = opts.data_dir.clone() else {
            return Ok(Self {
                ids: MidAllocator::open(None, now_unix, None)?,
                index,
                log: None,
                _lock: None,
                mark_bytes: 0,
                rewrite_not_before: 0,
                compacting: false,
                tail: Vec::new(),
                compact_min_bytes: COMPACT_MIN_BYTES,
                scratch: Vec::new(),
                errors: 0,
                opts,
            });
        };
        fs::create_dir_all(&dir)
            .map_err(|e| io_context(e, format_args!("create data dir {}", dir.display())))?;
        let lock = lock_dir(&dir)?;

        let mut loader = Loader {
            index: &mut index,
            now_unix,
            max_ttl: opts.max_ttl,
            pending: None,
            marks: HashMap::new(),
            floor: None,
            mark_bytes: 0,
            expired: 0,
        };
        let log = LogFile::open(&dir, opts.fsync, |rec, len| loader.record(rec, len))?;
        let (floor, mark_bytes, expired) = loader.finish();
        let ids = MidAllocator::open(Some(&dir), now_unix, floor)?;

        let mut store = Self {
            ids,
            index,
            log: Some(log),
            _lock: Some(lock),
            mark_bytes,
            rewrite_not_before: 0,
            compacting: false,
            tail: Vec::new(),
            compact_min_bytes: COMPACT_MIN_BYTES,
            scratch: Vec::new(),
            errors: 0,
            opts,
        };
        tracing::info!(
            dir = %dir.display(),
            messages = store.index.message_count(),
            channels = store.index.channel_count(),
            expired,
            log_bytes = store.log_len(),
            startdate = store.ids.startdate(),
            "message history loaded"
        );
        if store.compaction_worthwhile() {
            store.compact_now()?;
        }
        Ok(store)
    }

    fn log_len(&self) -> u64 {
        self.log.as_ref().map_or(0, LogFile::len)
    }

    /// More than `compact_min_bytes` of log, less than half of it live.
    fn compaction_worthwhile(&self) -> bool {
        let len = self.log_len();
        let live = log::MAGIC.len() as u64 + self.index.record_bytes() + self.mark_bytes;
        len > self.compact_min_bytes && live.saturating_mul(2) < len
    }

    /// Drop what expired, then compact the log in one go if it is worth it (tools,
    /// tests: the hub runs the parts of a compaction around its lock instead).
    pub fn purge_and_compact(&mut self, now_unix: u64) -> io::Result<()> {
        self.purge(now_unix)?;
        if let Some(mut job) = self.begin_compaction(now_unix)? {
            let written = job.write();
            self.finish_compaction(job, written)?;
        }
        Ok(())
    }

    /// A whole compaction now, whatever the thresholds (at open).
    fn compact_now(&mut self) -> io::Result<()> {
        if let Some(mut job) = self.start_compaction()? {
            let written = job.write();
            self.finish_compaction(job, written)?;
        }
        Ok(())
    }

    /// Step 1 of [`super::compaction`]: the snapshot and the temp file.
    fn start_compaction(&mut self) -> io::Result<Option<Compaction>> {
        let Some(log) = self.log.as_ref() else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let rewrite = log.begin_rewrite()?;
        self.compacting = true;
        self.tail.clear();
        let mut job = Compaction {
            messages: self.index.messages().cloned().collect(),
            fronts: self.index.fronts().collect(),
            rewrite,
            shrunk: Vec::new(),
            before: log.len(),
            snapshot: Default::default(),
            written_in: Default::default(),
        };
        job.snapshot = started.elapsed();
        Ok(Some(job))
    }

    /// Override the size above which the log may be compacted (tests, tools).
    pub fn set_compact_min_bytes(&mut self, bytes: u64) {
        self.compact_min_bytes = bytes;
    }

    /// The options it was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.opts
    }

    /// Messages held for one channel.
    pub fn channel_len(&self, key: &ChannelKey) -> usize {
        self.index.channel_len(key)
    }
}

impl Store for MemoryStore {
    fn next_mid(&mut self, _now_unix: u64) -> MessageId {
        self.ids.next_mid()
    }

    /// All or nothing: when writing the record to the log fails (a full disk, an
    /// unwritable data dir) the message is not kept in memory either and the error is
    /// returned for the caller to refuse the publish. Messages with expiry 0, without
    /// receivers or with an id already held are ignored; a body over 32 MiB is refused
    /// with `InvalidInput` and not kept.
    fn append(&mut self, msg: Arc<Message>) -> io::Result<()> {
        let r = self.append_unchecked(msg);
        self.errors += u64::from(r.is_err());
        r
    }

    fn since(&self, channels: &[ChannelKey], after: MessageId, now_unix: u64) -> Vec<Arc<Message>> {
        self.index.since(channels, after, now_unix)
    }

    fn gap_after(&self, channels: &[ChannelKey], after: MessageId) -> bool {
        self.index.gap_after(channels, after)
    }

    fn newest(&self, channels: &[ChannelKey], now_unix: u64) -> Option<MessageId> {
        self.index.newest(channels, now_unix)
    }

    fn purge(&mut self, now_unix: u64) -> io::Result<()> {
        self.index.remove_expired(now_unix);
        Ok(())
    }

    fn begin_compaction(&mut self, now_unix: u64) -> io::Result<Option<Compaction>> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        if self.compacting || now_unix < self.rewrite_not_before {
            return Ok(None);
        }
        if !(log.is_broken() || self.compaction_worthwhile()) {
            return Ok(None);
        }
        self.start_compaction().inspect_err(|_| {
            self.errors += 1;
            self.rewrite_not_before = now_unix + REWRITE_RETRY_SECS;
        })
    }

    fn finish_compaction(&mut self, job: Compaction, written: io::Result<()>) -> io::Result<()> {
        let started = std::time::Instant::now();
        self.compacting = false;
        let mut tail = std::mem::take(&mut self.tail);
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        let mut marks: Vec<(ChannelKey, MessageId)> = self.index.watermarks().collect();
        marks.sort_unstable();
        let mark_bytes = log::encode_watermarks(&marks, &mut tail) as u64;
        if let Err(e) = log.finish_rewrite_with(job.rewrite, written, &tail) {
            self.errors += 1;
            self.rewrite_not_before = unix_now() + REWRITE_RETRY_SECS;
            return Err(e);
        }
        for (mid, len) in job.shrunk {
            self.index.set_record_len(&mid, len);
        }
        self.mark_bytes = mark_bytes;
        tracing::info!(
            before = job.before,
            after = log.len(),
            messages = self.index.message_count(),
            snapshot_ms = job.snapshot.as_millis() as u64,
            write_ms = job.written_in.as_millis() as u64,
            finish_ms = started.elapsed().as_millis() as u64,
            "message log compacted"
        );
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = match self.log.as_mut() {
            Some(log) => log.sync(),
            None => Ok(()),
        };
        self.errors += u64::from(r.is_err());
        r
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            messages: self.index.message_count(),
            channels: self.index.channel_count(),
            bytes: self.index.body_bytes(),
            held_bytes: self.index.held_bytes(),
            evicted_by_bytes: self.index.evicted_by_bytes(),
            tombstones: self.index.tombstone_count(),
            log_bytes: self.log_len(),
            errors: self.errors,
        }
    }
}

/// Rebuilds the index from log records as they are read.
struct Loader<'a> {
    index: &'a mut Index,
    now_unix: u64,
    max_ttl: u32,
    /// The last message read, held back in case the next record continues it (a message
    /// with more than 65535 receivers spans several records).
    pending: Option<(StoredMessage, u64)>,
    /// "Dropped up to" marks: from kind-2 records and from messages that expired.
    marks: HashMap<ChannelKey, MessageId>,
    /// The largest id seen anywhere in the log.
    floor: Option<MessageId>,
    mark_bytes: u64,
    expired: usize,
}

impl Loader<'_> {
    fn record(&mut self, rec: Record, len: u64) {
        match rec {
            Record::Message(m) => {
                self.see(m.mid);
                if let Some((p, plen)) = &mut self.pending {
                    if p.mid == m.mid {
                        p.receivers.extend(m.receivers);
                        *plen += len;
                        return;
                    }
                }
                if let Some(done) = self.pending.replace((m, len)) {
                    self.settle(done);
                }
            }
            Record::Watermarks(marks) => {
                self.mark_bytes += len;
                for (key, mid) in marks {
                    self.see(mid);
                    self.mark(key, mid);
                }
            }
        }
    }

    fn see(&mut self, mid: MessageId) {
        if self.floor.is_none_or(|f| f < mid) {
            self.floor = Some(mid);
        }
    }

    fn mark(&mut self, key: ChannelKey, mid: MessageId) {
        let e = self.marks.entry(key).or_insert(mid);
        if *e < mid {
            *e = mid;
        }
    }

    fn settle(&mut self, (m, len): (StoredMessage, u64)) {
        let expires_at = m.created as u64 + m.expiry.min(self.max_ttl) as u64;
        if self.now_unix >= expires_at {
            self.expired += 1;
            for key in &m.receivers {
                self.mark(*key, m.mid);
            }
            return;
        }
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.index.insert(Arc::new(m.into_message()), len);
    }

    /// Returns (largest id seen, bytes of mark records, messages that had expired).
    fn finish(mut self) -> (Option<MessageId>, u64, usize) {
        if let Some(done) = self.pending.take() {
            self.settle(done);
        }
        for (key, mid) in &self.marks {
            // An emptied channel's mark is kept for a TTL from now: when its messages
            // were dropped is not in the log.
            let forget_at = self.now_unix + self.max_ttl as u64;
            self.index.raise_watermark(key, *mid, forget_at);
        }
        (self.floor, self.mark_bytes, self.expired)
    }
}

/// Take an exclusive `flock` on `dir/lock` for as long as the returned file is open.
fn lock_dir(dir: &Path) -> io::Result<File> {
    let path = dir.join(LOCK_FILE);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_context(e, format_args!("open {}", path.display())))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "data dir {} is in use by another bxpush process (lock held on {})",
                dir.display(),
                path.display()
            ),
        )),
        Err(TryLockError::Error(e)) => Err(io_context(e, format_args!("lock {}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Sender;
    use crate::protocol::ChannelId;
    use crate::store::index;
    use crate::store::log::{LOG_FILE, MAGIC};
    use crate::store::testutil::{ch, mid, mids, msg, pubch, TempDir};
    use bytes::Bytes;
    use std::io::Write;

    const NOW: u64 = 1_700_000_000;

    fn opts(dir: &TempDir) -> StoreOptions {
        StoreOptions {
            data_dir: Some(dir.path().to_path_buf()),
            ..StoreOptions::default()
        }
    }

    fn open(dir: &TempDir, now: u64) -> MemoryStore {
        MemoryStore::open_at(opts(dir), now).unwrap()
    }

    /// Append a backend message created now with a fresh id; returns the id.
    fn put(s: &mut MemoryStore, to: &[ChannelKey], body: &str, expiry: u32) -> MessageId {
        let id = s.next_mid(NOW);
        s.append(msg(id, to, body, expiry, NOW as u32)).unwrap();
        id
    }

    fn bodies(v: &[Arc<Message>]) -> Vec<String> {
        v.iter()
            .map(|m| String::from_utf8(m.body.to_vec()).unwrap())
            .collect()
    }

    fn log_path(dir: &TempDir) -> std::path::PathBuf {
        dir.path().join(LOG_FILE)
    }

    #[test]
    fn without_data_dir() {
        let mut s = MemoryStore::open_at(StoreOptions::default(), NOW).unwrap();
        let a = put(&mut s, &[ch(1)], "one", 60);
        let b = put(&mut s, &[ch(1), ch(2)], "two", 60);
        assert_eq!(a, MessageId::new(NOW as u32, 1));
        assert!(b > a);
        assert_eq!(mids(&s.since(&[ch(1), ch(2)], mid(0), NOW)), vec![a, b]);
        assert_eq!(
            s.stats(),
            StoreStats {
                messages: 2,
                channels: 2,
                bytes: 6,
                held_bytes: 6 + 2 * index::MESSAGE_OVERHEAD + 3 * index::RECEIVER_OVERHEAD,
                evicted_by_bytes: 0,
                tombstones: 0,
                log_bytes: 0,
                errors: 0
            }
        );
        s.purge_and_compact(NOW + 60).unwrap();
        assert_eq!(s.stats().messages, 0);
        s.flush().unwrap();
        let big = Arc::new(Message::new(
            s.next_mid(NOW),
            vec![ch(1)],
            Bytes::from(vec![0u8; MAX_BODY + 1]),
            60,
            NOW * 1000,
            Sender::Backend,
        ));
        assert_eq!(
            s.append(big).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(s.stats().messages, 0);
    }

    #[test]
    fn ignores_live_only_duplicates_and_unaddressed() {
        let dir = TempDir::new("mem-ignore");
        let mut s = open(&dir, NOW);
        let empty_log = s.stats().log_bytes;
        assert_eq!(empty_log, MAGIC.len() as u64);
        let id = s.next_mid(NOW);
        s.append(msg(id, &[ch(1)], "live", 0, NOW as u32)).unwrap();
        s.append(msg(id, &[], "nobody", 60, NOW as u32)).unwrap();
        assert_eq!(s.stats().log_bytes, empty_log);
        s.append(msg(id, &[ch(1)], "first", 60, NOW as u32))
            .unwrap();
        let after_one = s.stats().log_bytes;
        s.append(msg(id, &[ch(1)], "again", 60, NOW as u32))
            .unwrap();
        assert_eq!(s.stats().log_bytes, after_one);
        assert_eq!(bodies(&s.since(&[ch(1)], mid(0), NOW)), vec!["first"]);
    }

    #[test]
    fn restart_restores_history_and_ids_keep_increasing() {
        let dir = TempDir::new("mem-restart");
        let (a, b, c) = (ch(1), pubch(2), ch(3));
        let mut s = open(&dir, NOW);
        let m1 = put(&mut s, &[a, b], "{\"n\":1}", 3600);
        let id = s.next_mid(NOW);
        let mut client = Message::new(
            id,
            vec![c],
            Bytes::from_static(b"from a client"),
            100,
            NOW * 1000 + 999,
            Sender::Client(ChannelId([9; 16])),
        );
        client.created = NOW as u32 - 1;
        s.append(Arc::new(client)).unwrap();
        let m3 = put(&mut s, &[a], "{\"n\":3}", 3600);
        // Ids handed out for live-only messages, never stored.
        let live_only: Vec<MessageId> = (0..3).map(|_| s.next_mid(NOW)).collect();
        let before = s.stats();
        drop(s);

        // Same clock second: the new run must still sort after.
        let mut s = open(&dir, NOW);
        assert_eq!(s.stats().messages, before.messages);
        assert_eq!(s.stats().log_bytes, before.log_bytes);
        let got = s.since(&[a, b, c], mid(0), NOW);
        assert_eq!(mids(&got), vec![m1, id, m3]);
        assert_eq!(bodies(&got)[0], "{\"n\":1}");
        let back = &got[1];
        assert_eq!(back.sender, Sender::Client(ChannelId([9; 16])));
        assert_eq!(back.created, NOW as u32 - 1);
        assert_eq!(back.published_ms, NOW * 1000 + 999);
        assert_eq!(back.expiry, 100);
        assert_eq!(&*back.receivers, &[c]);
        assert_eq!(&*got[0].receivers, &[a, b]);
        // The body of a message to two channels is shared after reload too.
        assert_eq!(
            s.since(&[a], mid(0), NOW)[0].body.as_ptr(),
            s.since(&[b], mid(0), NOW)[0].body.as_ptr()
        );
        let fresh = s.next_mid(NOW);
        assert!(live_only.iter().all(|old| fresh > *old));
        assert_eq!(fresh, MessageId::new(NOW as u32 + 1, 1));
        assert_eq!(s.newest(&[a, b, c], NOW), Some(m3));
        drop(s);

        // Clock stepped backwards: still increasing.
        let mut s = open(&dir, NOW - 1000);
        assert!(s.next_mid(NOW) > fresh);
    }

    #[test]
    fn second_open_of_a_locked_dir_fails() {
        let dir = TempDir::new("mem-lock");
        let s = open(&dir, NOW);
        let e = MemoryStore::open_at(opts(&dir), NOW).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(s);
        open(&dir, NOW);
    }

    #[test]
    fn torn_tail_is_cut_and_appends_continue() {
        let dir = TempDir::new("mem-torn");
        let mut s = open(&dir, NOW);
        put(&mut s, &[ch(1)], "one", 3600);
        put(&mut s, &[ch(1)], "two", 3600);
        let good = s.stats().log_bytes;
        put(&mut s, &[ch(1)], "three", 3600);
        let full = s.stats().log_bytes;
        drop(s);

        // Cut the last record in the middle, as a crash during its write would.
        let f = OpenOptions::new().write(true).open(log_path(&dir)).unwrap();
        f.set_len(full - 5).unwrap();
        drop(f);

        let mut s = open(&dir, NOW);
        assert_eq!(fs::metadata(log_path(&dir)).unwrap().len(), good);
        assert_eq!(s.stats().log_bytes, good);
        assert_eq!(bodies(&s.since(&[ch(1)], mid(0), NOW)), vec!["one", "two"]);
        put(&mut s, &[ch(1)], "four", 3600);
        drop(s);

        let s = open(&dir, NOW);
        assert_eq!(
            bodies(&s.since(&[ch(1)], mid(0), NOW)),
            vec!["one", "two", "four"]
        );

        // A tail shorter than a record header.
        drop(s);
        let len = fs::metadata(log_path(&dir)).unwrap().len();
        let mut f = OpenOptions::new()
            .append(true)
            .open(log_path(&dir))
            .unwrap();
        f.write_all(&[1, 2, 3]).unwrap();
        drop(f);
        let s = open(&dir, NOW);
        assert_eq!(fs::metadata(log_path(&dir)).unwrap().len(), len);
        assert_eq!(s.stats().messages, 3);
    }

    #[test]
    fn corrupt_record_costs_only_itself() {
        let dir = TempDir::new("mem-crc");
        let mut s = open(&dir, NOW);
        put(&mut s, &[ch(1)], "one", 3600);
        let first_end = s.stats().log_bytes;
        put(&mut s, &[ch(1)], "two", 3600);
        put(&mut s, &[ch(1)], "three", 3600);
        drop(s);

        // Flip the last byte of the second record's body.
        let mut bytes = fs::read(log_path(&dir)).unwrap();
        let second_len = u32::from_le_bytes(
            bytes[first_end as usize..first_end as usize + 4]
                .try_into()
                .unwrap(),
        ) as usize;
        let at = first_end as usize + 8 + second_len - 1;
        assert_eq!(bytes[at], b'o');
        bytes[at] = b'X';
        fs::write(log_path(&dir), &bytes).unwrap();

        let mut s = open(&dir, NOW);
        assert_eq!(
            bodies(&s.since(&[ch(1)], mid(0), NOW)),
            vec!["one", "three"]
        );
        // The log now holds exactly the intact records; the damaged file was kept aside.
        let third_len = bytes.len() as u64 - first_end - 8 - second_len as u64;
        assert_eq!(
            fs::metadata(log_path(&dir)).unwrap().len(),
            first_end + third_len
        );
        assert!(fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("messages.log.damaged-")));
        // Ids stay above every stored one.
        let id = put(&mut s, &[ch(1)], "four", 3600);
        assert!(id > MessageId::new(NOW as u32, 3));
    }

    #[test]
    fn expired_while_down_are_dropped_and_leave_a_gap_mark() {
        let dir = TempDir::new("mem-expired");
        let a = ch(1);
        let mut s = open(&dir, NOW);
        let m1 = put(&mut s, &[a], "short", 10);
        let m2 = put(&mut s, &[a], "long", 3600);
        let m3 = put(&mut s, &[a], "mid", 100);
        drop(s);
        let s = open(&dir, NOW + 50);
        assert_eq!(mids(&s.since(&[a], mid(0), NOW + 50)), vec![m2, m3]);
        assert_eq!(s.stats().messages, 2);
        assert!(s.gap_after(&[a], mid(0)));
        assert!(!s.gap_after(&[a], m1));
        assert_eq!(s.newest(&[a], NOW + 50), Some(m3));
        assert_eq!(s.newest(&[a], NOW + 100), Some(m2));
    }

    #[test]
    fn max_ttl_caps_expiry_across_restart() {
        let dir = TempDir::new("mem-maxttl");
        let mut o = opts(&dir);
        o.max_ttl = 30;
        let mut s = MemoryStore::open_at(o.clone(), NOW).unwrap();
        let id = put(&mut s, &[ch(1)], "x", 86400);
        assert_eq!(mids(&s.since(&[ch(1)], mid(0), NOW + 29)), vec![id]);
        assert!(s.since(&[ch(1)], mid(0), NOW + 30).is_empty());
        drop(s);
        let s = MemoryStore::open_at(o, NOW + 30).unwrap();
        assert_eq!(s.stats().messages, 0);
    }

    #[test]
    fn cap_is_applied_on_reload_and_gap_survives() {
        let dir = TempDir::new("mem-cap");
        let mut o = opts(&dir);
        o.max_per_channel = 3;
        let mut s = MemoryStore::open_at(o.clone(), NOW).unwrap();
        let ids: Vec<MessageId> = (0..5)
            .map(|i| put(&mut s, &[ch(1)], &format!("m{i}"), 3600))
            .collect();
        assert_eq!(mids(&s.since(&[ch(1)], mid(0), NOW)), ids[2..].to_vec());
        assert!(s.gap_after(&[ch(1)], ids[0]));
        assert!(!s.gap_after(&[ch(1)], ids[1]));
        drop(s);
        let s = MemoryStore::open_at(o, NOW).unwrap();
        assert_eq!(mids(&s.since(&[ch(1)], mid(0), NOW)), ids[2..].to_vec());
        assert_eq!(s.channel_len(&ch(1)), 3);
        assert!(s.gap_after(&[ch(1)], ids[0]));
        assert!(!s.gap_after(&[ch(1)], ids[1]));
    }

    #[test]
    fn compaction_keeps_exactly_the_live_messages() {
        let dir = TempDir::new("mem-compact");
        let mut o = opts(&dir);
        o.max_per_channel = 50;
        o.fsync = true;
        let mut s = MemoryStore::open_at(o.clone(), NOW).unwrap();
        s.set_compact_min_bytes(4096);
        let body = "x".repeat(100);
        let mut keep = Vec::new();
        for i in 0..200 {
            // Channel 1: 150 short-lived. Channel 2: 50 long-lived, 10 of them also to
            // channel 3, which overflows its cap of 50 with 40 more short ones.
            if i < 150 {
                put(&mut s, &[ch(1)], &body, 10);
            } else if i < 160 {
                keep.push(put(&mut s, &[ch(2), ch(3)], &body, 3600));
            } else {
                keep.push(put(&mut s, &[ch(2)], &body, 3600));
            }
        }
        for _ in 0..45 {
            put(&mut s, &[ch(3)], "short", 10);
        }
        let big = s.stats().log_bytes;
        // Nothing expired yet: the dead records are too few to compact.
        s.purge_and_compact(NOW + 1).unwrap();
        assert_eq!(s.stats().log_bytes, big);
        s.purge_and_compact(NOW + 10).unwrap();
        let small = s.stats().log_bytes;
        assert!(small * 3 < big, "{small} vs {big}");
        assert_eq!(s.stats().messages, 50);
        assert!(!dir.path().join(log::LOG_TMP_FILE).exists());
        // Channel 3 lost 5 of its 10 long-lived ones to the cap, then the short ones to
        // expiry: a resume from before them is a gap, after restart too.
        let ch3 = mids(&s.since(&[ch(3)], mid(0), NOW + 10));
        assert_eq!(ch3, keep[5..10].to_vec());
        assert!(s.gap_after(&[ch(3)], keep[0]));
        // Appends after the rewrite land in the new file.
        let last = put(&mut s, &[ch(4)], "after", 3600);
        keep.push(last);
        drop(s);

        let s = MemoryStore::open_at(o, NOW + 10).unwrap();
        let all = s.since(&[ch(1), ch(2), ch(3), ch(4)], mid(0), NOW + 10);
        assert_eq!(mids(&all), keep);
        assert_eq!(
            mids(&s.since(&[ch(3)], mid(0), NOW + 10)),
            keep[5..10].to_vec()
        );
        assert!(s.gap_after(&[ch(3)], keep[0]));
        assert!(!s.gap_after(&[ch(2)], keep[0]));
        assert_eq!(s.since(&[ch(1)], mid(0), NOW + 10).len(), 0);
    }

    #[test]
    fn compaction_on_open_and_at_purge() {
        let dir = TempDir::new("mem-compact-open");
        let mut s = open(&dir, NOW);
        for _ in 0..100 {
            put(&mut s, &[ch(1)], &"y".repeat(200), 10);
        }
        let live = put(&mut s, &[ch(2)], "live", 3600);
        let big = s.stats().log_bytes;
        drop(s);
        // Below the threshold nothing is rewritten on open.
        let s = open(&dir, NOW + 20);
        assert_eq!(s.stats().log_bytes, big);
        drop(s);
        let mut s = open(&dir, NOW + 20);
        s.set_compact_min_bytes(1024);
        s.purge_and_compact(NOW + 20).unwrap();
        assert!(s.stats().log_bytes < big / 10);
        drop(s);
        let s = open(&dir, NOW + 20);
        assert_eq!(
            mids(&s.since(&[ch(1), ch(2)], mid(0), NOW + 20)),
            vec![live]
        );
    }

    /// Issue 10 finding 3: a message whose log write failed was kept in memory, replayed,
    /// and written by the next rewrite, although its publisher was told it failed.
    #[test]
    fn a_failed_append_keeps_nothing_and_a_retry_is_stored_once() {
        let dir = TempDir::new("mem-failed-append");
        let mut s = open(&dir, NOW);
        let before = put(&mut s, &[ch(1)], "before", 3600);
        let good_len = s.stats().log_bytes;
        s.log.as_mut().unwrap().fail_writes_for_test();
        let id = s.next_mid(NOW);
        let refused = msg(id, &[ch(1)], "refused", 3600, NOW as u32);
        assert!(s.append(refused).is_err());
        assert_eq!(s.stats().errors, 1);
        assert_eq!(s.stats().messages, 1);
        assert_eq!(mids(&s.since(&[ch(1)], mid(0), NOW)), vec![before]);
        // The next purge repairs the log from memory, which lacks the refused message.
        s.purge_and_compact(NOW).unwrap();
        assert_eq!(s.stats().log_bytes, good_len);
        // The publisher retries: one copy, in memory and after a restart.
        let retry = put(&mut s, &[ch(1)], "refused", 3600);
        drop(s);
        let s = open(&dir, NOW);
        assert_eq!(
            bodies(&s.since(&[ch(1)], mid(0), NOW)),
            vec!["before", "refused"]
        );
        assert_eq!(mids(&s.since(&[ch(1)], mid(0), NOW)), vec![before, retry]);
    }

    /// A store whose log is mostly 50 expired messages (worth compacting) and one kept.
    fn expired_log_and_one_kept(dir: &TempDir) -> (MemoryStore, MessageId) {
        let mut s = open(dir, NOW);
        s.set_compact_min_bytes(1024);
        for _ in 0..50 {
            put(&mut s, &[ch(1)], &"d".repeat(100), 10);
        }
        let kept = put(&mut s, &[ch(2)], "kept", 3600);
        s.purge(NOW + 10).unwrap();
        (s, kept)
    }

    /// Issue 10 finding 8: the rewrite's heavy part runs between begin and finish, with
    /// the store free for appends (the hub releases its lock there); nothing appended
    /// meanwhile is lost, and the order stays.
    #[test]
    fn appends_during_a_compaction_land_in_the_new_log() {
        let dir = TempDir::new("mem-compact-concurrent");
        let (mut s, kept) = expired_log_and_one_kept(&dir);
        let mut job = s
            .begin_compaction(NOW + 10)
            .unwrap()
            .expect("worth compacting");
        assert!(
            s.begin_compaction(NOW + 10).unwrap().is_none(),
            "one at a time"
        );
        let during: Vec<MessageId> = (0..3)
            .map(|i| put(&mut s, &[ch(2)], &format!("during{i}"), 3600))
            .collect();
        job.write().unwrap();
        let after_write = put(&mut s, &[ch(2)], "after write", 3600);
        s.finish_compaction(job, Ok(())).unwrap();
        let last = put(&mut s, &[ch(2)], "last", 3600);
        let mut want = vec![kept];
        want.extend(&during);
        want.extend([after_write, last]);
        assert_eq!(mids(&s.since(&[ch(2)], mid(0), NOW + 10)), want);
        let small = s.stats().log_bytes;
        assert!(small < 2048, "{small}");
        drop(s);
        let s = open(&dir, NOW + 10);
        assert_eq!(mids(&s.since(&[ch(1), ch(2)], mid(0), NOW + 10)), want);
        assert_eq!(s.stats().log_bytes, small);
        // A resume from before the expired ones still learns of them.
        assert!(s.gap_after(&[ch(1)], mid(0)));
    }

    /// A failed write leaves the old log, which has everything, and backs off.
    #[test]
    fn a_failed_compaction_keeps_the_old_log() {
        let dir = TempDir::new("mem-compact-fail");
        let (mut s, kept) = expired_log_and_one_kept(&dir);
        let job = s.begin_compaction(NOW + 10).unwrap().unwrap();
        let during = put(&mut s, &[ch(2)], "during", 3600);
        let big = s.stats().log_bytes;
        let e = s.finish_compaction(job, Err(io::Error::other("disk gone")));
        assert!(e.is_err());
        assert_eq!(s.stats().errors, 1);
        assert!(!dir.path().join(log::LOG_TMP_FILE).exists());
        assert!(s.begin_compaction(NOW + 11).unwrap().is_none(), "backs off");
        assert_eq!(s.stats().log_bytes, big);
        drop(s);
        let s = open(&dir, NOW + 10);
        assert_eq!(
            mids(&s.since(&[ch(2)], mid(0), NOW + 10)),
            vec![kept, during]
        );
    }

    #[test]
    fn compaction_on_open_when_mostly_dead() {
        let dir = TempDir::new("mem-compact-open-big");
        let mut s = open(&dir, NOW);
        let body = "z".repeat(1024);
        for _ in 0..(COMPACT_MIN_BYTES / 1024 + 100) {
            put(&mut s, &[ch(1)], &body, 10);
        }
        let live = put(&mut s, &[ch(2)], "live", 3600);
        assert!(s.stats().log_bytes > COMPACT_MIN_BYTES);
        drop(s);
        let s = open(&dir, NOW + 10);
        assert!(s.stats().log_bytes < 4096, "{}", s.stats().log_bytes);
        assert_eq!(
            fs::metadata(log_path(&dir)).unwrap().len(),
            s.stats().log_bytes
        );
        assert_eq!(
            mids(&s.since(&[ch(1), ch(2)], mid(0), NOW + 10)),
            vec![live]
        );
        // Channel 1 holds nothing, but its mark survives the rewrite as a tombstone: a
        // resume from before its messages is told it missed them.
        assert!(s.gap_after(&[ch(1)], mid(0)));
        assert_eq!(s.stats().tombstones, 1);
    }

    #[test]
    fn store_is_object_safe_and_send() {
        fn assert_send<T: Send>() {}
        assert_send::<MemoryStore>();
        let s: Box<dyn Store> =
            Box::new(MemoryStore::open_at(StoreOptions::default(), NOW).unwrap());
        assert_eq!(s.stats().messages, 0);
    }
}
