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

/// How a worker reaches the owner.
#[derive(Clone, PartialEq)]
pub struct ForwarderConfig {
    pub target: PhpTarget,
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
    pub fn new(target: PhpTarget, spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            target,
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
            .field("target", &self.target)
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
    fn config_debug_hides_the_key() {
        let mut c = ForwarderConfig::new(PhpTarget::Unix("/nowhere.sock".into()), "/tmp");
        c.signature_key = Some("very-secret".into());
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
