//! The spool directory: items a worker could not get acknowledged in time, one file per
//! spooling, replayed in name order by the next forwarder (of any worker) that reaches
//! the owner.
//!
//! Names: `<unix_nanos:020>-<pid:010>-<origin:016x>-<first_seq:020>.spool`, so that
//! lexical order is creation order (nanos are strictly increasing within a process). Each
//! file is written as `.<name>.tmp` and renamed, so a reader never sees half a file.
//! Replay holds an exclusive `flock` on `.lock` in the directory. A file that cannot be
//! decoded is renamed to `<name>.bad` and left for inspection.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::handoff::wire::{self, Spool};

pub const LOCK_FILE: &str = ".lock";
pub const SUFFIX: &str = ".spool";

fn stamp() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(l) => last = l,
        }
    }
}

pub fn file_name(nanos: u64, pid: u32, origin: u64, first_seq: u64) -> String {
    format!("{nanos:020}-{pid:010}-{origin:016x}-{first_seq:020}{SUFFIX}")
}

/// The origin a spool file name belongs to.
pub fn origin_of(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SUFFIX)?;
    let origin = stem.split('-').nth(2)?;
    u64::from_str_radix(origin, 16).ok()
}

fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

/// Write items of one origin (consecutive seqs from `first_seq`) as a new spool file.
pub fn write(dir: &Path, origin: u64, first_seq: u64, items: &[&[u8]]) -> io::Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| ctx(e, "create the spool directory", dir))?;
    let name = file_name(stamp(), std::process::id(), origin, first_seq);
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let data = wire::encode_spool(origin, first_seq, items);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&data)?;
        drop(f);
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(ctx(e, "write the spool file", &path));
    }
    Ok(path)
}

/// Spool file names in replay order; a missing directory has none.
pub fn list(dir: &Path) -> io::Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ctx(e, "read the spool directory", dir)),
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && n.ends_with(SUFFIX))
        .collect();
    names.sort_unstable();
    Ok(names)
}

pub fn read(path: &Path) -> io::Result<Spool> {
    let data = fs::read(path).map_err(|e| ctx(e, "read the spool file", path))?;
    wire::decode_spool(Bytes::from(data)).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

/// Set a file that cannot be replayed aside (`.bad`), so replay goes on with the others.
/// False when it could be neither renamed nor removed.
pub fn quarantine(path: &Path) -> bool {
    let mut bad = path.as_os_str().to_owned();
    bad.push(".bad");
    fs::rename(path, &bad).is_ok() || fs::remove_file(path).is_ok()
}

/// The exclusive right to replay, held until dropped.
pub struct ReplayLock(#[allow(dead_code)] File);

/// Take the replay lock without waiting: `None` when another process or forwarder holds it.
pub fn try_lock(dir: &Path) -> io::Result<Option<ReplayLock>> {
    fs::create_dir_all(dir).map_err(|e| ctx(e, "create the spool directory", dir))?;
    let path = dir.join(LOCK_FILE);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ctx(e, "open", &path))?;
    // SAFETY: flock on an fd we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(Some(ReplayLock(f)));
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(None)
    } else {
        Err(ctx(e, "lock", &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_creation_and_carry_the_origin() {
        let a = file_name(stamp(), 7, 0xabc, 1);
        let b = file_name(stamp(), 3, 0x1, 99);
        assert!(a < b);
        assert_eq!(origin_of(&a), Some(0xabc));
        assert_eq!(origin_of(&b), Some(1));
        assert_eq!(origin_of("x.tmp"), None);
    }

    #[test]
    fn lock_is_exclusive_between_descriptors() {
        let dir = std::env::temp_dir().join(format!("bxpush-spool-lock-{}", std::process::id()));
        let l1 = try_lock(&dir).unwrap();
        assert!(l1.is_some());
        assert!(try_lock(&dir).unwrap().is_none());
        drop(l1);
        assert!(try_lock(&dir).unwrap().is_some());
        let _ = fs::remove_dir_all(&dir);
    }
}
