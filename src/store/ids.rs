//! Message id allocation.
//!
//! An id is `startdate` (10 digits) followed by a 16-digit counter (spec §4.3), so every
//! id of a run with a larger startdate sorts after every id of a run with a smaller one.
//! Node takes the startdate from Redis once (`SETNX`) and keeps a global counter there; we
//! have no shared counter that survives a restart for free, and persisting the counter on
//! every message would cost a write per publish. Instead each run takes a new startdate,
//! `max(now, previous + 1)`, and persists it (temp file + fsync + rename) *before* it
//! issues an id: even ids that were never stored (live-only messages, expiry 0), which a
//! client may still hold as its resume point, are below every id of the next run, also
//! when the clock stepped backwards or two restarts fall in the same second.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::protocol::MessageId;

use super::io_context;

/// Name of the file holding the startdate of the current (or last) run.
pub const STARTDATE_FILE: &str = "startdate";

/// The largest counter that fits the 16 digits of an id.
const MAX_COUNTER: u64 = 9_999_999_999_999_999;

/// Hands out strictly increasing ids for one run.
#[derive(Debug)]
pub struct MidAllocator {
    startdate: u32,
    /// The counter of the next id (starts at 1 per startdate).
    next: u64,
    /// Where the startdate is persisted (`None` = memory-only store).
    dir: Option<PathBuf>,
}

impl MidAllocator {
    /// Choose and persist this run's startdate. `floor` is the largest id found in the
    /// data dir's log: the startdate also exceeds its startdate, which protects stored ids
    /// if the `startdate` file was lost.
    pub fn open(dir: Option<&Path>, now_unix: u64, floor: Option<MessageId>) -> io::Result<Self> {
        let now = clamp_u32(now_unix);
        let Some(dir) = dir else {
            return Ok(Self {
                startdate: now,
                next: 1,
                dir: None,
            });
        };
        let mut startdate = now;
        if let Some(prev) = read_startdate(dir)? {
            startdate = startdate.max(prev.saturating_add(1));
        }
        if let Some(f) = floor {
            startdate = startdate.max(clamp_u32(f.startdate()).saturating_add(1));
        }
        write_startdate(dir, startdate)?;
        Ok(Self {
            startdate,
            next: 1,
            dir: Some(dir.to_path_buf()),
        })
    }

    /// The next id. After 10^16 - 1 ids (centuries at any real rate) the startdate moves
    /// on by one so that ids keep increasing.
    pub fn next_mid(&mut self) -> MessageId {
        if self.next > MAX_COUNTER {
            self.startdate = self.startdate.saturating_add(1);
            self.next = 1;
            if let Some(dir) = &self.dir {
                if let Err(e) = write_startdate(dir, self.startdate) {
                    tracing::error!(error = %e, "cannot persist the new startdate");
                }
            }
        }
        let id = MessageId::new(self.startdate, self.next);
        self.next += 1;
        id
    }

    /// This run's startdate (unix seconds, possibly ahead of the clock).
    pub fn startdate(&self) -> u32 {
        self.startdate
    }
}

/// Unix seconds as the 10-digit startdate (u32 lasts until 2106).
fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The persisted startdate, if any. A file that does not parse (it is only ever replaced
/// atomically, so this means outside interference) is reported and ignored rather than
/// keeping the server from starting; the log's floor still protects stored ids.
fn read_startdate(dir: &Path) -> io::Result<Option<u32>> {
    let path = dir.join(STARTDATE_FILE);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_context(e, format_args!("read {}", path.display()))),
    };
    let parsed = std::str::from_utf8(&text)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "ignoring unreadable startdate file");
    }
    Ok(parsed)
}

/// Replace `dir/startdate` atomically and durably: a crash leaves either the old or the
/// new value, never a torn one.
fn write_startdate(dir: &Path, startdate: u32) -> io::Result<()> {
    let path = dir.join(STARTDATE_FILE);
    let tmp = dir.join(format!("{STARTDATE_FILE}.tmp"));
    let ctx = |e| io_context(e, format_args!("write {}", tmp.display()));
    let mut f = File::create(&tmp).map_err(ctx)?;
    f.write_all(format!("{startdate}\n").as_bytes())
        .map_err(ctx)?;
    f.sync_all().map_err(ctx)?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| {
        io_context(
            e,
            format_args!("rename {} to {}", tmp.display(), path.display()),
        )
    })?;
    sync_dir(dir)
}

/// fsync a directory so that a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_context(e, format_args!("fsync directory {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::TempDir;

    #[test]
    fn memory_only_uses_the_clock() {
        let mut a = MidAllocator::open(None, 1_700_000_000, None).unwrap();
        assert_eq!(a.next_mid(), MessageId::new(1_700_000_000, 1));
        assert_eq!(a.next_mid(), MessageId::new(1_700_000_000, 2));
    }

    #[test]
    fn startdate_moves_forward_even_if_the_clock_does_not() {
        let dir = TempDir::new("ids");
        let mut a = MidAllocator::open(Some(dir.path()), 1_700_000_000, None).unwrap();
        let last = (0..5).map(|_| a.next_mid()).last().unwrap();
        drop(a);
        // Same second, then the clock stepping backwards.
        let mut b = MidAllocator::open(Some(dir.path()), 1_700_000_000, None).unwrap();
        assert_eq!(b.startdate(), 1_700_000_001);
        let first_b = b.next_mid();
        assert!(first_b > last);
        drop(b);
        let mut c = MidAllocator::open(Some(dir.path()), 1_600_000_000, None).unwrap();
        assert_eq!(c.startdate(), 1_700_000_002);
        assert!(c.next_mid() > first_b);
        // A clock ahead of the persisted value wins.
        let d = MidAllocator::open(Some(dir.path()), 1_800_000_000, None).unwrap();
        assert_eq!(d.startdate(), 1_800_000_000);
    }

    #[test]
    fn floor_from_the_log_protects_stored_ids() {
        let dir = TempDir::new("ids-floor");
        let stored = MessageId::new(1_750_000_000, 7);
        let a = MidAllocator::open(Some(dir.path()), 1_700_000_000, Some(stored)).unwrap();
        assert_eq!(a.startdate(), 1_750_000_001);
    }

    #[test]
    fn garbage_startdate_file_is_ignored() {
        let dir = TempDir::new("ids-garbage");
        fs::write(dir.path().join(STARTDATE_FILE), b"not a number").unwrap();
        let a = MidAllocator::open(Some(dir.path()), 1_700_000_000, None).unwrap();
        assert_eq!(a.startdate(), 1_700_000_000);
        assert_eq!(
            fs::read_to_string(dir.path().join(STARTDATE_FILE)).unwrap(),
            "1700000000\n"
        );
    }

    #[test]
    fn counter_overflow_moves_the_startdate() {
        let mut a = MidAllocator::open(None, 1_700_000_000, None).unwrap();
        a.next = MAX_COUNTER;
        let last = a.next_mid();
        let next = a.next_mid();
        assert!(next > last);
        assert_eq!(next, MessageId::new(1_700_000_001, 1));
    }
}
