//! `messages.log`: the append-only file that makes history survive a restart.
//!
//! Layout (all integers little-endian):
//! ```text
//! file    = magic "BXPLOG\0\x01" (8 bytes) record*
//! record  = len u32 | crc32 u32 (of payload) | payload (len bytes)
//! payload = kind u8 = 1 | mid [13] | expiry u32 | created u32 | published_ms u64
//!           | sender u8 (0 backend, 1 client + id [16])
//!           | receiver count u16 | (public u8 + id [16]) * count
//!           | body len u32 | body
//!         | kind u8 = 2 | count u32 | (public u8 + id [16] + mid [13]) * count
//! ```
//! Kind 1 is a message. A message with more than 65535 receivers is written as several
//! consecutive kind-1 records with the same mid (one `write` call), merged when read.
//! Kind 2 ("dropped up to" marks) is written only when the log is rewritten, so that a
//! channel's knowledge that older messages were evicted survives the loss of their records.
//!
//! Each append is one `write_all` of fully encoded records, with no userspace buffer: what
//! the kernel received survives a kill -9. A crash (or power loss without fsync) can
//! leave a torn last record, which is cut off. Damage anywhere else costs only the records
//! it hit: reading resumes at the next intact record ([`super::log_recovery`]), the log is
//! rewritten without the damage and the damaged file is kept aside as
//! `messages.log.damaged-<unix time>` for inspection.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::message::{Message, Sender};
use crate::protocol::{ChannelId, ChannelKey, MessageId};

use super::ids::sync_dir;
use super::io_context;
use super::log_recovery;

pub const LOG_FILE: &str = "messages.log";
pub const LOG_TMP_FILE: &str = "messages.log.tmp";
pub const MAGIC: &[u8; 8] = b"BXPLOG\x00\x01";

/// Largest body kept in history. Bitrix bodies are a few KiB; this only bounds memory
/// and what a corrupted length field can make the reader allocate.
pub const MAX_BODY: usize = 32 << 20;
/// Largest payload accepted when reading (a full receiver chunk plus the largest body).
pub const MAX_PAYLOAD: usize = MAX_BODY + (64 << 10) * 17 + 64;
pub(crate) const FRAME_HEADER: usize = 8;
const KIND_MESSAGE: u8 = 1;
const KIND_WATERMARKS: u8 = 2;
const RECEIVERS_PER_RECORD: usize = u16::MAX as usize;
const WATERMARKS_PER_RECORD: usize = 1 << 16;

/// A message as read back from the log (one record, or several merged).
#[derive(Debug)]
pub struct StoredMessage {
    pub mid: MessageId,
    pub expiry: u32,
    pub created: u32,
    pub published_ms: u64,
    pub sender: Sender,
    pub receivers: Vec<ChannelKey>,
    pub body: Bytes,
}

impl StoredMessage {
    pub fn into_message(self) -> Message {
        let mut m = Message::new(
            self.mid,
            self.receivers,
            self.body,
            self.expiry,
            self.published_ms,
            self.sender,
        );
        m.created = self.created;
        m
    }
}

/// One decoded record.
#[derive(Debug)]
pub enum Record {
    Message(StoredMessage),
    Watermarks(Vec<(ChannelKey, MessageId)>),
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Append the framed record(s) of `msg` to `out`; returns their total length.
pub fn encode_message(msg: &Message, out: &mut Vec<u8>) -> io::Result<usize> {
    encode_message_for(msg, &msg.receivers, out)
}

/// [`encode_message`] with another receiver list (the channels that still hold it).
pub fn encode_message_for(
    msg: &Message,
    receivers: &[ChannelKey],
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    if msg.body.len() > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "message {} not stored: body of {} bytes exceeds {MAX_BODY}",
                msg.mid,
                msg.body.len()
            ),
        ));
    }
    let start = out.len();
    let mut chunks = receivers.chunks(RECEIVERS_PER_RECORD);
    let first: &[ChannelKey] = chunks.next().unwrap_or(&[]);
    for receivers in std::iter::once(first).chain(chunks) {
        let at = begin_frame(out);
        out.push(KIND_MESSAGE);
        out.extend_from_slice(msg.mid.as_bytes());
        out.extend_from_slice(&msg.expiry.to_le_bytes());
        out.extend_from_slice(&msg.created.to_le_bytes());
        out.extend_from_slice(&msg.published_ms.to_le_bytes());
        match msg.sender {
            Sender::Backend => out.push(0),
            Sender::Client(id) => {
                out.push(1);
                out.extend_from_slice(id.as_bytes());
            }
        }
        out.extend_from_slice(&(receivers.len() as u16).to_le_bytes());
        for r in receivers {
            out.push(r.public as u8);
            out.extend_from_slice(r.id.as_bytes());
        }
        out.extend_from_slice(&(msg.body.len() as u32).to_le_bytes());
        out.extend_from_slice(&msg.body);
        end_frame(out, at);
    }
    Ok(out.len() - start)
}

/// Append kind-2 record(s) holding `marks` to `out`; returns their total length.
pub fn encode_watermarks(marks: &[(ChannelKey, MessageId)], out: &mut Vec<u8>) -> usize {
    let start = out.len();
    for chunk in marks.chunks(WATERMARKS_PER_RECORD) {
        let at = begin_frame(out);
        out.push(KIND_WATERMARKS);
        out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        for (k, mid) in chunk {
            out.push(k.public as u8);
            out.extend_from_slice(k.id.as_bytes());
            out.extend_from_slice(mid.as_bytes());
        }
        end_frame(out, at);
    }
    out.len() - start
}

fn begin_frame(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    at
}

fn end_frame(out: &mut [u8], at: usize) {
    let payload = &out[at + FRAME_HEADER..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A cursor over a payload that fails instead of panicking.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(invalid("record payload too short"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> io::Result<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn flag(&mut self) -> io::Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(invalid("bad flag byte")),
        }
    }
    fn channel(&mut self) -> io::Result<ChannelKey> {
        let public = self.flag()?;
        Ok(ChannelKey {
            id: ChannelId(self.arr()?),
            public,
        })
    }
}

/// Decode one payload (its crc already checked). `payload` is shared so that the body is
/// a slice of it, not a copy.
pub fn decode(payload: Bytes) -> io::Result<Record> {
    let mut c = Cur(&payload);
    let rec = match c.u8()? {
        KIND_MESSAGE => {
            let mid = MessageId(c.arr()?);
            let expiry = c.u32()?;
            let created = c.u32()?;
            let published_ms = c.u64()?;
            let sender = match c.u8()? {
                0 => Sender::Backend,
                1 => Sender::Client(ChannelId(c.arr()?)),
                t => return Err(invalid(format!("bad sender tag {t}"))),
            };
            let n = c.u16()? as usize;
            let mut receivers = Vec::with_capacity(n);
            for _ in 0..n {
                receivers.push(c.channel()?);
            }
            let len = c.u32()? as usize;
            let raw = c.take(len)?;
            // Share the payload's allocation when the body is most of it; otherwise copy,
            // so that the receiver list is not kept alive for as long as the message.
            let body = if payload.len() - len <= 256 {
                let start = payload.len() - c.0.len() - len;
                payload.slice(start..start + len)
            } else {
                Bytes::copy_from_slice(raw)
            };
            Record::Message(StoredMessage {
                mid,
                expiry,
                created,
                published_ms,
                sender,
                receivers,
                body,
            })
        }
        KIND_WATERMARKS => {
            let n = c.u32()? as usize;
            if n > WATERMARKS_PER_RECORD {
                return Err(invalid("too many marks in one record"));
            }
            let mut marks = Vec::with_capacity(n);
            for _ in 0..n {
                let k = c.channel()?;
                marks.push((k, MessageId(c.arr()?)));
            }
            Record::Watermarks(marks)
        }
        k => return Err(invalid(format!("unknown record kind {k}"))),
    };
    if !c.0.is_empty() {
        return Err(invalid("trailing bytes in record"));
    }
    Ok(rec)
}

/// The open log: appends go to its end.
#[derive(Debug)]
pub struct LogFile {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Bytes in the file that are known good (header plus whole records).
    len: u64,
    fsync: bool,
    /// A failed append could not be cut back off the file: appending after the torn bytes
    /// would make every later record unreadable, so appends fail until a rewrite succeeds.
    broken: bool,
}

impl LogFile {
    /// Open (or create) `dir/messages.log`, hand every good record to `on_record` with
    /// its framed length, and cut off a torn or corrupt tail. A file that does not start
    /// with our magic is refused, never truncated.
    pub fn open(
        dir: &Path,
        fsync: bool,
        mut on_record: impl FnMut(Record, u64),
    ) -> io::Result<Self> {
        let path = dir.join(LOG_FILE);
        // Left by a rewrite that a crash interrupted; the log itself is intact.
        let _ = fs::remove_file(dir.join(LOG_TMP_FILE));
        let ctx =
            |what: &str, e: io::Error| io_context(e, format_args!("{what} {}", path.display()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| ctx("open", e))?;
        let file_len = file.metadata().map_err(|e| ctx("stat", e))?.len();

        let mut good = 0u64;
        let mut bad: Option<String> = None;
        let mut last_mid: Option<MessageId> = None;
        if file_len < MAGIC.len() as u64 {
            // New, or torn while its header was written: start it afresh.
            let mut head = Vec::new();
            (&file).read_to_end(&mut head).map_err(|e| ctx("read", e))?;
            if !MAGIC.starts_with(&head) {
                return Err(invalid(format!(
                    "{} is not a bxpush message log (bad header); move it away",
                    path.display()
                )));
            }
            file.set_len(0).map_err(|e| ctx("truncate", e))?;
        } else {
            let mut r = BufReader::with_capacity(64 << 10, &file);
            let mut head = [0u8; 8];
            r.read_exact(&mut head).map_err(|e| ctx("read", e))?;
            if &head != MAGIC {
                return Err(invalid(format!(
                    "{} is not a bxpush message log (bad header); move it away",
                    path.display()
                )));
            }
            good = MAGIC.len() as u64;
            loop {
                let left = file_len - good;
                if left == 0 {
                    break;
                }
                if left < FRAME_HEADER as u64 {
                    bad = Some("truncated record header".into());
                    break;
                }
                let mut h = [0u8; FRAME_HEADER];
                r.read_exact(&mut h).map_err(|e| ctx("read", e))?;
                let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as u64;
                let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
                if len == 0 || len > MAX_PAYLOAD as u64 {
                    bad = Some(format!("bad record length {len}"));
                    break;
                }
                if len > left - FRAME_HEADER as u64 {
                    bad = Some("truncated record".into());
                    break;
                }
                let mut payload = vec![0u8; len as usize];
                r.read_exact(&mut payload).map_err(|e| ctx("read", e))?;
                if crc32fast::hash(&payload) != crc {
                    bad = Some("crc mismatch".into());
                    break;
                }
                match decode(Bytes::from(payload)) {
                    Ok(rec) => {
                        if let Record::Message(m) = &rec {
                            last_mid = Some(m.mid);
                        }
                        on_record(rec, FRAME_HEADER as u64 + len)
                    }
                    Err(e) => {
                        bad = Some(e.to_string());
                        break;
                    }
                }
                good += FRAME_HEADER as u64 + len;
            }
        }
        if let Some(reason) = bad.take() {
            // Everything after the first bad record, read past the damage.
            let mut rest = Vec::with_capacity((file_len - good) as usize);
            (&file)
                .seek(SeekFrom::Start(good))
                .and_then(|_| (&file).read_to_end(&mut rest))
                .map_err(|e| ctx("read", e))?;
            let recovery = log_recovery::recover(&rest, good, reason, last_mid, &mut on_record);
            for g in &recovery.gaps {
                let at_most = log_recovery::at_most(g)
                    .map(|n| format!("at most {n}"))
                    .unwrap_or_else(|| "an unknown number of".into());
                tracing::warn!(
                    path = %path.display(),
                    offset = g.bytes.start,
                    dropped_bytes = g.bytes.end - g.bytes.start,
                    reason = %g.reason,
                    "message log: a damaged stretch was dropped: {at_most} {}",
                    log_recovery::describe(g)
                );
            }
            if recovery.recovered_any() {
                good = Self::rewrite_without_damage(dir, &path, &file, good, &rest, &recovery)?;
            } else {
                // A torn or corrupt tail (what a crash leaves): cut it off.
                file.set_len(good).map_err(|e| ctx("truncate", e))?;
                file.sync_all().map_err(|e| ctx("fsync", e))?;
            }
        }
        if good == 0 {
            (&file)
                .seek(SeekFrom::Start(0))
                .and_then(|_| (&file).write_all(MAGIC))
                .map_err(|e| ctx("write", e))?;
            good = MAGIC.len() as u64;
            file.sync_all().map_err(|e| ctx("fsync", e))?;
            sync_dir(dir)?;
        }
        drop(file);
        let file = open_append(&path)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            path,
            file,
            len: good,
            fsync,
            broken: false,
        })
    }

    /// Replace the log by its intact records (the first `good` bytes, then the frames found
    /// past the damage), keeping the damaged file aside under another name. Returns the new
    /// length.
    fn rewrite_without_damage(
        dir: &Path,
        path: &Path,
        file: &File,
        good: u64,
        rest: &[u8],
        recovery: &log_recovery::Recovery,
    ) -> io::Result<u64> {
        let tmp = dir.join(LOG_TMP_FILE);
        let ctx = |e| io_context(e, format_args!("write {}", tmp.display()));
        let mut w = BufWriter::with_capacity(256 << 10, File::create(&tmp).map_err(ctx)?);
        let mut head = file;
        head.seek(SeekFrom::Start(0)).map_err(ctx)?;
        io::copy(&mut head.take(good), &mut w).map_err(ctx)?;
        for f in &recovery.frames {
            w.write_all(&rest[f.clone()]).map_err(ctx)?;
        }
        let f = w.into_inner().map_err(|e| ctx(e.into_error()))?;
        f.sync_all().map_err(ctx)?;
        let len = f.metadata().map_err(ctx)?.len();
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = dir.join(format!("{LOG_FILE}.damaged-{unix}"));
        fs::hard_link(path, &aside)
            .or_else(|_| fs::copy(path, &aside).map(|_| ()))
            .map_err(|e| io_context(e, format_args!("keep {} aside", path.display())))?;
        fs::rename(&tmp, path).map_err(|e| {
            io_context(
                e,
                format_args!("rename {} to {}", tmp.display(), path.display()),
            )
        })?;
        sync_dir(dir)?;
        tracing::warn!(
            kept_aside = %aside.display(),
            recovered_records = recovery.frames.len(),
            "message log: rewritten without the damage; the damaged file is kept for inspection"
        );
        Ok(len)
    }

    /// Append fully encoded records with one write. On any error the file is cut back to what it held before
    /// (a failed write *and* a failed fsync: a record whose append was refused must not
    /// come back at the next start, or a retried publish would be stored twice), and the
    /// error is returned; if even the cut fails the log is marked broken.
    pub fn append(&mut self, records: &[u8]) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other(format!(
                "{} is unusable after an earlier write error; waiting for a rewrite",
                self.path.display()
            )));
        }
        let written = self.file.write_all(records).and_then(|()| {
            if self.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            if let Err(e2) = self.file.set_len(self.len) {
                self.broken = true;
                tracing::error!(path = %self.path.display(), error = %e2,
                    "cannot cut a failed append off the message log");
            }
            return Err(io_context(
                e,
                format_args!("append to {}", self.path.display()),
            ));
        }
        self.len += records.len() as u64;
        Ok(())
    }

    /// fsync what was appended.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file
            .sync_all()
            .map_err(|e| io_context(e, format_args!("fsync {}", self.path.display())))
    }

    /// Replace the log with what `write` produces (after the header): written to
    /// `messages.log.tmp`, fsynced, renamed over the log. On error the old log stays.
    pub fn rewrite(
        &mut self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut rw = self.begin_rewrite()?;
        let written = write(&mut rw.w).map_err(|e| rw.context(e));
        self.finish_rewrite(rw, written)
    }

    /// Start a rewrite: `messages.log.tmp` with the header. The returned [`Rewrite`] is
    /// written and synced by whoever holds it (without any lock: it touches nothing of
    /// the open log, which keeps taking appends), then handed to
    /// [`LogFile::finish_rewrite`].
    pub fn begin_rewrite(&self) -> io::Result<Rewrite> {
        let tmp = self.dir.join(LOG_TMP_FILE);
        let ctx = |e| io_context(e, format_args!("write {}", tmp.display()));
        let f = File::create(&tmp).map_err(ctx)?;
        let mut w = BufWriter::with_capacity(256 << 10, f);
        w.write_all(MAGIC).map_err(ctx)?;
        Ok(Rewrite { tmp, w })
    }

    /// End a rewrite: when `written` is Ok, append `tail` (what must follow the bulk, such
    /// as records appended to the old log meanwhile), fsync, rename over the log and
    /// append to the new file from now on. On any error the temp file is removed and the
    /// old log stays.
    pub fn finish_rewrite(&mut self, rw: Rewrite, written: io::Result<()>) -> io::Result<()> {
        self.finish_rewrite_with(rw, written, &[])
    }

    /// [`LogFile::finish_rewrite`] with a tail.
    pub fn finish_rewrite_with(
        &mut self,
        mut rw: Rewrite,
        written: io::Result<()>,
        tail: &[u8],
    ) -> io::Result<()> {
        let tmp = rw.tmp.clone();
        let result = written.and_then(|()| {
            rw.w.write_all(tail).map_err(|e| rw.context(e))?;
            let f = rw.into_synced_file()?;
            let len = f
                .metadata()
                .map_err(|e| io_context(e, format_args!("stat {}", tmp.display())))?
                .len();
            drop(f);
            fs::rename(&tmp, &self.path).map_err(|e| {
                io_context(
                    e,
                    format_args!("rename {} to {}", tmp.display(), self.path.display()),
                )
            })?;
            Ok(len)
        });
        let len = match result {
            Ok(len) => len,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        // From here on the new file is the log, whatever happens next.
        let old = std::mem::replace(&mut self.file, open_append(&self.path)?);
        self.len = len;
        self.broken = false;
        // Closing the replaced file frees its blocks, synchronously: for a log of
        // 600 MB that took 0.5 s, which the caller may be holding a lock for. Its last
        // descriptor is closed on a thread of its own instead.
        let retire = std::thread::Builder::new()
            .name("bxpush-log-retire".into())
            .spawn(move || drop(old));
        if let Err(e) = retire {
            tracing::debug!(error = %e, "closing the old message log inline");
        }
        sync_dir(&self.dir)
    }

    /// Make every later write fail as on a full disk (tests): the file is swapped for
    /// `/dev/full`, which also refuses the cut back, so the log counts as broken after
    /// the next append, as a log on a failing disk would.
    #[cfg(test)]
    pub(crate) fn fail_writes_for_test(&mut self) {
        self.file = OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full");
    }

    /// Bytes of the log (header plus whole records).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= MAGIC.len() as u64
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }
}

/// A log rewrite in progress: the temp file being written (see
/// [`LogFile::begin_rewrite`]).
#[derive(Debug)]
pub struct Rewrite {
    tmp: PathBuf,
    w: BufWriter<File>,
}

impl Rewrite {
    fn context(&self, e: io::Error) -> io::Error {
        io_context(e, format_args!("write {}", self.tmp.display()))
    }

    /// Write records.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes).map_err(|e| self.context(e))
    }

    /// Flush and fsync what was written so far: the slow part of a rewrite, done before
    /// [`LogFile::finish_rewrite`] so that finishing only syncs the tail.
    pub fn sync(&mut self) -> io::Result<()> {
        self.w.flush().map_err(|e| self.context(e))?;
        self.w.get_ref().sync_all().map_err(|e| self.context(e))
    }

    fn into_synced_file(self) -> io::Result<File> {
        let ctx = |e| io_context(e, format_args!("write {}", self.tmp.display()));
        let f = self.w.into_inner().map_err(|e| ctx(e.into_error()))?;
        f.sync_all().map_err(ctx)?;
        Ok(f)
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| io_context(e, format_args!("open {} for append", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::{ch, mid, msg, pubch, TempDir};

    fn read_all(dir: &Path) -> (Vec<Record>, u64) {
        let mut v = Vec::new();
        let log = LogFile::open(dir, false, |r, _| v.push(r)).unwrap();
        (v, log.len())
    }

    #[test]
    fn message_round_trip() {
        let mut m = Message::new(
            mid(5),
            vec![ch(1), pubch(2)],
            Bytes::from_static(b"{\"a\":1}"),
            3600,
            1_700_000_000_456,
            Sender::Client(ChannelId([7; 16])),
        );
        m.created = 1_699_999_999;
        let mut buf = Vec::new();
        let n = encode_message(&m, &mut buf).unwrap();
        assert_eq!(n, buf.len());
        // frame 8 + kind 1 + mid 13 + 4 + 4 + 8 + sender 17 + 2 + 2*17 + 4 + body 7
        assert_eq!(n, 8 + 1 + 13 + 4 + 4 + 8 + 17 + 2 + 34 + 4 + 7);
        let Record::Message(s) = decode(Bytes::copy_from_slice(&buf[8..])).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(s.mid, mid(5));
        assert_eq!(s.expiry, 3600);
        assert_eq!(s.created, 1_699_999_999);
        assert_eq!(s.published_ms, 1_700_000_000_456);
        assert_eq!(s.sender, Sender::Client(ChannelId([7; 16])));
        assert_eq!(s.receivers, vec![ch(1), pubch(2)]);
        assert_eq!(&s.body[..], b"{\"a\":1}");
        let back = s.into_message();
        assert_eq!(back.created, 1_699_999_999);
    }

    /// Logs written before the hub's gate made receivers distinct may hold a channel twice
    /// (a trusted protobuf `a/b/a`); such a record loads with each channel once, so the
    /// history index (which no longer checks) holds the message once per channel.
    #[test]
    fn a_record_with_a_repeated_receiver_loads_it_once() {
        let m = Message::new(
            mid(3),
            vec![ch(1)],
            Bytes::from_static(b"x"),
            60,
            0,
            Sender::Backend,
        );
        let mut buf = Vec::new();
        encode_message_for(&m, &[ch(1), ch(2), ch(1)], &mut buf).unwrap();
        let Record::Message(s) = decode(Bytes::copy_from_slice(&buf[8..])).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(s.receivers, vec![ch(1), ch(2), ch(1)]);
        assert_eq!(&*s.into_message().receivers, &[ch(1), ch(2)]);
    }

    #[test]
    fn many_receivers_split_into_records() {
        let receivers: Vec<ChannelKey> = (0..70_000u32)
            .map(|i| {
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&i.to_le_bytes());
                ChannelKey::private(ChannelId(id))
            })
            .collect();
        let m = Message::new(
            mid(1),
            receivers.clone(),
            Bytes::from_static(b"x"),
            60,
            0,
            Sender::Backend,
        );
        let mut buf = Vec::new();
        encode_message(&m, &mut buf).unwrap();
        let first_len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
        let Record::Message(a) = decode(Bytes::copy_from_slice(&buf[8..8 + first_len])).unwrap()
        else {
            panic!()
        };
        let Record::Message(b) = decode(Bytes::copy_from_slice(&buf[8 + first_len + 8..])).unwrap()
        else {
            panic!()
        };
        assert_eq!(a.receivers.len(), 65_535);
        assert_eq!(b.receivers.len(), 70_000 - 65_535);
        assert_eq!(a.mid, b.mid);
        assert_eq!([a.receivers, b.receivers].concat(), receivers);
    }

    #[test]
    fn watermarks_round_trip() {
        let marks = vec![(ch(1), mid(3)), (pubch(2), mid(9))];
        let mut buf = Vec::new();
        encode_watermarks(&marks, &mut buf);
        let Record::Watermarks(w) = decode(Bytes::copy_from_slice(&buf[8..])).unwrap() else {
            panic!()
        };
        assert_eq!(w, marks);
        assert!(encode_watermarks(&[], &mut Vec::new()) == 0);
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(decode(Bytes::new()).is_err());
        assert!(decode(Bytes::from_static(&[9])).is_err());
        assert!(decode(Bytes::from_static(&[1, 0, 0])).is_err());
        let mut buf = Vec::new();
        encode_message(&msg(mid(1), &[ch(1)], "b", 5, 0), &mut buf).unwrap();
        let mut p = buf[8..].to_vec();
        p.push(0);
        assert!(decode(Bytes::from(p)).is_err());
    }

    #[test]
    fn oversized_body_is_refused() {
        let m = Message::new(
            mid(1),
            vec![ch(1)],
            Bytes::from(vec![0u8; MAX_BODY + 1]),
            5,
            0,
            Sender::Backend,
        );
        let e = encode_message(&m, &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn append_reopen_and_torn_header() {
        let dir = TempDir::new("log");
        {
            let (recs, len) = read_all(dir.path());
            assert!(recs.is_empty());
            assert_eq!(len, 8);
        }
        let mut log = LogFile::open(dir.path(), true, |_, _| {}).unwrap();
        let mut buf = Vec::new();
        encode_message(&msg(mid(1), &[ch(1)], "one", 5, 0), &mut buf).unwrap();
        log.append(&buf).unwrap();
        assert_eq!(log.len(), 8 + buf.len() as u64);
        drop(log);
        let (recs, _) = read_all(dir.path());
        assert_eq!(recs.len(), 1);

        // A header torn at creation is restarted; a foreign file is refused untouched.
        let path = dir.path().join(LOG_FILE);
        fs::write(&path, b"BXP").unwrap();
        assert_eq!(read_all(dir.path()).1, 8);
        fs::write(&path, b"hello world, not ours").unwrap();
        let e = LogFile::open(dir.path(), false, |_, _| {}).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(fs::read(&path).unwrap(), b"hello world, not ours");
        fs::write(&path, b"xy").unwrap();
        assert!(LogFile::open(dir.path(), false, |_, _| {}).is_err());
    }

    #[test]
    fn rewrite_replaces_contents() {
        let dir = TempDir::new("log-rewrite");
        let mut log = LogFile::open(dir.path(), false, |_, _| {}).unwrap();
        let mut buf = Vec::new();
        for i in 1..=3 {
            encode_message(&msg(mid(i), &[ch(1)], "x", 5, 0), &mut buf).unwrap();
        }
        log.append(&buf).unwrap();
        let mut one = Vec::new();
        encode_message(&msg(mid(2), &[ch(1)], "x", 5, 0), &mut one).unwrap();
        log.rewrite(|w| w.write_all(&one)).unwrap();
        assert_eq!(log.len(), 8 + one.len() as u64);
        // Appends after a rewrite land in the new file.
        log.append(&one).unwrap();
        drop(log);
        let (recs, len) = read_all(dir.path());
        assert_eq!(recs.len(), 2);
        assert_eq!(len, 8 + 2 * one.len() as u64);
        assert!(!dir.path().join(LOG_TMP_FILE).exists());
        // A failing writer leaves the old log in place.
        let mut log = LogFile::open(dir.path(), false, |_, _| {}).unwrap();
        let e = log.rewrite(|_| Err(io::Error::other("boom"))).unwrap_err();
        assert!(e.to_string().contains("boom"));
        assert!(!dir.path().join(LOG_TMP_FILE).exists());
        drop(log);
        assert_eq!(read_all(dir.path()).0.len(), 2);
        // A temp file left by a crash during a rewrite is removed on open.
        fs::write(dir.path().join(LOG_TMP_FILE), b"partial").unwrap();
        assert_eq!(read_all(dir.path()).0.len(), 2);
        assert!(!dir.path().join(LOG_TMP_FILE).exists());
    }
}
