//! Targets `log_recover` and `log_file`: the history log `messages.log` as found at start.
//!
//! `log_recover` hands arbitrary bytes (the part of a file after its first bad record) to
//! `store::log_recovery::recover`. Properties: the gaps and the recovered records tile the
//! bytes exactly, in order; every recovered record has a length in bounds, a matching
//! crc32 and decodes (the reader never returns a record with a bad crc); recovered message
//! ids never go back (resync never yields mids out of order) and start at the last id read
//! before the damage; each gap names the first id read after it.
//!
//! `log_file` writes a real log of messages (from the input), damages up to four bytes and
//! may tear its tail, then opens it with `LogFile::open`. Properties: every message whose
//! record bytes the damage left intact is read back, exactly; nothing else is read back;
//! ids come back in order; the damaged file is kept aside exactly when records were read
//! past damage; and opening the rewritten log again reads the same messages with no damage
//! left.

use std::path::PathBuf;

use arbitrary::{Result, Unstructured};
use bxpush::message::{Message, Sender};
use bxpush::protocol::{ChannelId, ChannelKey, MessageId};
use bxpush::store::log::{self, LogFile, Record, LOG_FILE, MAGIC, MAX_PAYLOAD};
use bxpush::store::log_recovery::recover;
use bytes::Bytes;

pub fn check_recover(data: &[u8]) {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    // Optionally the id of the last message read before the damage.
    let (last, rest) = match rest.split_first_chunk::<13>() {
        Some((mid, rest)) if flag & 1 == 1 => (Some(MessageId(*mid)), rest),
        _ => (None, rest),
    };
    // The reader calls recover only at a record that failed: there is at least one byte.
    if rest.is_empty() {
        return;
    }
    const BASE: u64 = 8;
    let mut seen = Vec::new();
    let bound = 4 * rest.len() + (4 << 20);
    let rec = super::alloc::bounded("log recovery", bound, || {
        recover(rest, BASE, "fuzz".into(), last, |r, len| {
            seen.push((r, len))
        })
    });
    assert_eq!(
        seen.len(),
        rec.frames.len(),
        "one callback per recovered record"
    );

    // Tiling: gap, records…, gap, records…; together exactly 0..len.
    let mut spans: Vec<(usize, usize, Option<usize>)> = rec
        .gaps
        .iter()
        .map(|g| {
            (
                (g.bytes.start - BASE) as usize,
                (g.bytes.end - BASE) as usize,
                None,
            )
        })
        .chain(
            rec.frames
                .iter()
                .enumerate()
                .map(|(i, f)| (f.start, f.end, Some(i))),
        )
        .collect();
    spans.sort();
    let mut at = 0;
    for &(s, e, _) in &spans {
        assert_eq!(s, at, "gaps and records tile the bytes: {spans:?}");
        assert!(e > s, "empty span: {spans:?}");
        at = e;
    }
    assert_eq!(
        at,
        rest.len(),
        "gaps and records cover the bytes: {spans:?}"
    );

    let mut prev = last;
    for (i, f) in rec.frames.iter().enumerate() {
        let raw = &rest[f.clone()];
        let len = u32::from_le_bytes(raw[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(raw[4..8].try_into().unwrap());
        assert!(len > 0 && len <= MAX_PAYLOAD && len + 8 == raw.len());
        assert_eq!(crc32fast::hash(&raw[8..]), crc, "a record with a bad crc");
        assert!(log::decode(Bytes::copy_from_slice(&raw[8..])).is_ok());
        assert_eq!(seen[i].1 as usize, raw.len());
        if let Record::Message(m) = &seen[i].0 {
            assert!(prev.is_none_or(|p| m.mid >= p), "mid out of order");
            prev = Some(m.mid);
        }
    }
    // Each gap's before_mid is the first message id recovered after it (before the next).
    for g in &rec.gaps {
        let end = (g.bytes.end - BASE) as usize;
        let next_gap = rec
            .gaps
            .iter()
            .map(|h| (h.bytes.start - BASE) as usize)
            .filter(|&s| s >= end)
            .min()
            .unwrap_or(usize::MAX);
        let first_after = rec
            .frames
            .iter()
            .zip(&seen)
            .filter(|(f, _)| f.start >= end && f.start < next_gap)
            .find_map(|(_, (r, _))| match r {
                Record::Message(m) => Some(m.mid),
                _ => None,
            });
        assert_eq!(g.before_mid, first_after);
    }
}

fn letters<const N: usize>(u: &mut Unstructured) -> Result<[u8; N]> {
    let mut a = [0u8; N];
    for b in &mut a {
        *b = b'a' + u.int_in_range(0..=25)?;
    }
    Ok(a)
}

/// Messages whose fields cannot spell a plausible record header (letters and small
/// numbers), so that a record found past damage can only be a real one.
fn messages(u: &mut Unstructured) -> Result<Vec<Message>> {
    let n = u.int_in_range(1..=12)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // Ids increase, with holes (as live-only messages leave in a real log).
        let mid = MessageId::new(1_700_000_000, 1 + 4 * i as u64 + u.int_in_range(0..=3)?);
        let receivers = (0..u.int_in_range(1..=3)?)
            .map(|_| {
                Ok(ChannelKey {
                    id: ChannelId(letters(u)?),
                    public: u.arbitrary()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let body_len = u.int_in_range(0..=300)?;
        let body: Vec<u8> = (0..body_len)
            .map(|_| Ok(b'a' + u.int_in_range(0..=25)?))
            .collect::<Result<_>>()?;
        let sender = if u.arbitrary()? {
            Sender::Client(ChannelId(letters(u)?))
        } else {
            Sender::Backend
        };
        let published_ms = 1_700_000_000_000 + u.int_in_range(0..=1_000_000)?;
        let m = Message::new(
            mid,
            receivers,
            Bytes::from(body),
            u.int_in_range(1..=86_400)?,
            published_ms,
            sender,
        );
        out.push(m);
    }
    Ok(out)
}

fn same(a: &Message, b: &Message) -> bool {
    a.mid == b.mid
        && a.body == b.body
        && a.expiry == b.expiry
        && a.created == b.created
        && a.published_ms == b.published_ms
        && a.sender == b.sender
        && a.receivers == b.receivers
}

fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "bxpush-fuzz-log-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn open_all(dir: &std::path::Path) -> Vec<Message> {
    let mut got = Vec::new();
    LogFile::open(dir, false, |r, _| {
        if let Record::Message(m) = r {
            got.push(m.into_message());
        }
    })
    .expect("a log with our header opens");
    got
}

pub fn check_file(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(msgs) = messages(&mut u) else {
        return;
    };
    let mut file = MAGIC.to_vec();
    let mut spans = Vec::new();
    for m in &msgs {
        let start = file.len();
        log::encode_message(m, &mut file).expect("encodes");
        spans.push(start..file.len());
    }
    // Damage: up to four bytes past the header changed; then perhaps a torn tail.
    let original = file.clone();
    for _ in 0..u.int_in_range(0..=4).unwrap_or(0) {
        let (Ok(at), Ok(x)) = (
            u.int_in_range(MAGIC.len()..=file.len() - 1),
            u.int_in_range(1..=255u8),
        ) else {
            break;
        };
        file[at] ^= x;
    }
    // Two changes of one byte may cancel out: what counts is what differs.
    let damaged: Vec<usize> = (0..file.len())
        .filter(|&i| file[i] != original[i])
        .collect();
    let cut = u.int_in_range(0..=40usize).unwrap_or(0);
    file.truncate((file.len() - cut).max(MAGIC.len()));

    let dir = scratch_dir();
    std::fs::write(dir.join(LOG_FILE), &file).expect("write the log");
    let got = open_all(&dir);

    let intact =
        |s: &std::ops::Range<usize>| s.end <= file.len() && !damaged.iter().any(|d| s.contains(d));
    for w in got.windows(2) {
        assert!(w[0].mid < w[1].mid, "ids out of order");
    }
    for g in &got {
        assert!(
            msgs.iter().any(|m| same(m, g)),
            "read back a message that was never written: {:?}",
            g.mid
        );
    }
    for (m, s) in msgs.iter().zip(&spans) {
        if intact(s) {
            assert!(
                got.iter().any(|g| same(m, g)),
                "intact message {:?} lost (damage at {damaged:?}, file {} bytes)",
                m.mid,
                file.len()
            );
        }
    }
    // Kept aside exactly when something was read past the first failing record.
    let first_bad = spans.iter().position(|s| !intact(s));
    let past_damage = first_bad.is_some_and(|i| {
        msgs[i + 1..]
            .iter()
            .any(|m| got.iter().any(|g| g.mid == m.mid))
    });
    let aside = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains(".damaged-"));
    assert_eq!(
        aside,
        past_damage,
        "damaged file kept aside iff read past damage: records {spans:?}, damage at \
         {damaged:?}, file {} bytes, read back {:?}",
        file.len(),
        got.iter().map(|g| g.mid.to_string()).collect::<Vec<_>>()
    );

    let again = open_all(&dir);
    assert_eq!(again.len(), got.len(), "reopening reads the same messages");
    for (a, b) in again.iter().zip(&got) {
        assert!(same(a, b));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
