//! How a worker reaches the owner, and the defaults of the worker side: the only place
//! they are written (the extension's ini defaults are made from these constants; a test
//! checks them against `ext/bxpush.ini`, README.md and DESIGN.md).

use std::ffi::CStr;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::handoff::PhpTarget;

/// Where the owner listens for workers unless told otherwise (`bxpush.server`).
pub const DEFAULT_SERVER: &CStr = c"/run/bxpush/php.sock";
/// Where unacknowledged items wait for the owner (`bxpush.spool_dir`).
pub const DEFAULT_SPOOL_DIR: &CStr = c"/var/spool/bxpush";
/// Queue bound in items (`bxpush.queue_items`).
pub const DEFAULT_QUEUE_ITEMS: usize = 10_000;
/// Queue bound in encoded bytes, 16 MiB (`bxpush.queue_bytes`).
pub const DEFAULT_QUEUE_BYTES: usize = 16 << 20;
/// Bound of one connection attempt, milliseconds (`bxpush.connect_timeout_ms`).
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 100;
/// Longest wait for acknowledgements at request end and shutdown, milliseconds
/// (`bxpush.flush_timeout_ms`).
pub const DEFAULT_FLUSH_TIMEOUT_MS: u64 = 200;

/// Most owners `bxpush.server` may list: a failover list, not a pool (every failed
/// connect costs up to `connect_timeout` while items wait).
pub const MAX_OWNERS: usize = 16;

/// The owners a worker may hand events to, in order of preference (`bxpush.server =
/// "/run/bxpush/php.sock,10.0.0.2:9011"`): never empty, no repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owners(Vec<PhpTarget>);

impl Owners {
    /// The list; at least one owner.
    pub fn all(&self) -> &[PhpTarget] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The preferred (first) owner.
    pub fn first(&self) -> &PhpTarget {
        &self.0[0]
    }
}

impl From<PhpTarget> for Owners {
    fn from(t: PhpTarget) -> Self {
        Owners(vec![t])
    }
}

impl std::str::FromStr for Owners {
    type Err = String;

    /// Comma-separated [`PhpTarget`]s. An empty entry (`a,,b`, a trailing comma), an
    /// entry that does not parse and an owner named twice are refused, each with the
    /// entry's position and the fix: a list that silently lost an entry would fail over
    /// to fewer owners than the administrator wrote.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let entries: Vec<&str> = s.split(',').collect();
        if entries.len() > MAX_OWNERS {
            return Err(format!(
                "{} owners listed, at most {MAX_OWNERS}: list the owners to fail over to, in order",
                entries.len()
            ));
        }
        let several = entries.len() > 1;
        let mut owners: Vec<PhpTarget> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let n = i + 1;
            if several && entry.trim().is_empty() {
                return Err(format!(
                    "entry {n} of the owner list {s:?} is empty: separate owners by exactly one comma, without a trailing one"
                ));
            }
            let target: PhpTarget = entry.parse().map_err(|e| {
                if several {
                    format!("entry {n} of the owner list: {e}")
                } else {
                    e
                }
            })?;
            if let Some(j) = owners.iter().position(|o| *o == target) {
                return Err(format!(
                    "entries {} and {n} of the owner list name the same owner {target}: list each owner once",
                    j + 1
                ));
            }
            owners.push(target);
        }
        Ok(Owners(owners))
    }
}

impl fmt::Display for Owners {
    /// The form [`FromStr`](std::str::FromStr) reads back: the owners joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// How a worker reaches the owner.
#[derive(Clone, PartialEq)]
pub struct ForwarderConfig {
    /// Where to hand events, in order of preference (see [`Owners`], DESIGN.md
    /// "Several owners").
    pub owners: Owners,
    /// Needed for a TCP target (frames are authenticated with it).
    pub signature_key: Option<String>,
    /// Where unacknowledged items wait for the owner (shared by all workers of a host).
    pub spool_dir: PathBuf,
    /// Queue bound in items; past it, submit spools.
    pub queue_items: usize,
    /// Queue bound in encoded bytes; past it, submit spools.
    pub queue_bytes: usize,
    /// Bound of one connection attempt.
    pub connect_timeout: Duration,
}

impl ForwarderConfig {
    /// The defaults above (no key).
    pub fn new(owners: impl Into<Owners>, spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            owners: owners.into(),
            signature_key: None,
            spool_dir: spool_dir.into(),
            queue_items: DEFAULT_QUEUE_ITEMS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
        }
    }
}

impl fmt::Debug for ForwarderConfig {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwarderConfig")
            .field("owners", &self.owners)
            .field(
                "signature_key",
                &self.signature_key.as_ref().map(|_| "<redacted>"),
            )
            .field("spool_dir", &self.spool_dir)
            .field("queue_items", &self.queue_items)
            .field("queue_bytes", &self.queue_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name = default` of the worker-side settings, as the code has them.
    fn code_defaults() -> Vec<(&'static str, String)> {
        let text = |c: &CStr| c.to_str().unwrap().to_string();
        vec![
            ("server", text(DEFAULT_SERVER)),
            ("spool_dir", text(DEFAULT_SPOOL_DIR)),
            ("flush_timeout_ms", DEFAULT_FLUSH_TIMEOUT_MS.to_string()),
            ("connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS.to_string()),
            ("queue_items", DEFAULT_QUEUE_ITEMS.to_string()),
            ("queue_bytes", DEFAULT_QUEUE_BYTES.to_string()),
        ]
    }

    /// The extension's ini defaults are made from these constants; what `make install`
    /// writes (ext/bxpush.ini; phpt/071 checks it against the loaded extension), the
    /// stubs (phpt/070 checks them against the extension), README.md's settings table and
    /// DESIGN.md must say the same.
    #[test]
    fn ini_file_stubs_and_docs_state_the_code_defaults() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let read = |f: &str| std::fs::read_to_string(format!("{root}{f}")).unwrap();
        let ini = read("ext/bxpush.ini");
        let stubs = read("php-stubs/bxpush.stubs.php");
        let readme = read("README.md");
        for (name, value) in code_defaults() {
            let line = format!(";bxpush.{name} = {value}\n");
            assert!(ini.contains(&line), "ext/bxpush.ini lacks {line:?}");
            let tag = format!("@ini bxpush.{name} \"{value}\"");
            assert!(stubs.contains(&tag), "stubs lack {tag:?}");
            let row = readme
                .lines()
                .find(|l| l.starts_with("| `bxpush.") && l.contains(&format!("`bxpush.{name}`")))
                .unwrap_or_else(|| panic!("README has no row for bxpush.{name}"));
            assert!(row.contains(&format!("`{value}`")), "README: {row}");
        }
        let queue = format!(
            "({} {:03} items / {} MiB)",
            DEFAULT_QUEUE_ITEMS / 1000,
            DEFAULT_QUEUE_ITEMS % 1000,
            DEFAULT_QUEUE_BYTES >> 20
        );
        assert!(
            read("DESIGN.md").contains(&queue),
            "DESIGN.md lacks {queue}"
        );
    }

    #[test]
    fn owner_lists_keep_their_order_and_read_back() {
        let o: Owners = "/run/bxpush/php.sock, 10.0.0.2:9011,unix:/tmp/b.sock"
            .parse()
            .unwrap();
        assert_eq!(
            o.all(),
            &[
                PhpTarget::Unix("/run/bxpush/php.sock".into()),
                PhpTarget::Tcp("10.0.0.2:9011".parse().unwrap()),
                PhpTarget::Unix("/tmp/b.sock".into()),
            ]
        );
        assert_eq!(o.to_string().parse::<Owners>().unwrap(), o);
        let one: Owners = "127.0.0.1:9011".parse().unwrap();
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn bad_owner_lists_are_refused_naming_the_fix() {
        let err = |s: &str| s.parse::<Owners>().unwrap_err();
        let e = err("/a.sock,,10.0.0.2:9011");
        assert!(e.contains("entry 2") && e.contains("empty"), "{e}");
        let e = err("/a.sock,");
        assert!(e.contains("entry 2") && e.contains("trailing"), "{e}");
        let e = err("/a.sock,example.com:9011");
        assert!(
            e.contains("entry 2") && e.contains("IP address and port"),
            "{e}"
        );
        let e = err("/a.sock,unix:/a.sock");
        assert!(e.contains("entries 1 and 2") && e.contains("once"), "{e}");
        let e = err("");
        assert!(e.contains("empty"), "{e}");
        let many = vec!["127.0.0.1:1"; MAX_OWNERS + 1].join(",");
        assert!(err(&many).contains("at most"));
    }

    #[test]
    fn config_debug_hides_the_key() {
        let mut c = ForwarderConfig::new(PhpTarget::Unix("/nowhere.sock".into()), "/tmp");
        c.signature_key = Some("very-secret".into());
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
