//! The PHP hand-off: what PHP-FPM workers send to the one long-lived owner process that
//! hosts the runtime, and the names both sides share.
//!
//! - [`Item`]: one event (publish, tag watch, publish to watchers), resolved to channels or
//!   tags on the PHP side; applied by the owner ([`crate::ingress`]).
//! - [`Query`] / [`Reply`]: a synchronous question to the owner (channel presence, tag
//!   watchers, server stats).
//! - [`PhpTarget`]: where the owner listens for workers (unix socket or loopback TCP).
//! - [`wire`]: the frame format spoken over that socket, and the spool file format.
//! - [`queue`]: a PHP request's queue of items (Bitrix's `Event` queue), before hand-off.
//!
//! The worker side is [`crate::forward`] (std threads, no tokio); the owner side is
//! [`crate::ingress`] (tokio, inside the runtime).

mod auth;
mod error;
mod frame;
mod item_codec;
mod primitives;
pub mod queue;
mod spool_format;
pub mod wire;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use bytes::Bytes;

use crate::protocol::ChannelKey;

/// One event handed from a PHP worker to the owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// Publish one message to channels (already resolved).
    Publish {
        receivers: Vec<ChannelKey>,
        body: Bytes,
        expiry: u32,
        kind: String,
    },
    /// CPullWatch::Add/Extend: user `user_id` watches `tags` for `ttl` seconds (Bitrix:
    /// 1920 s = 32 min).
    WatchAdd {
        user_id: i64,
        tags: Vec<String>,
        ttl: u32,
    },
    /// CPullWatch::Delete: `tag` None = all of the user's tags.
    WatchDelete { user_id: i64, tag: Option<String> },
    /// CPullWatch::AddToStack: publish to every user watching any of `tags`, minus
    /// `skip_users`; the owner resolves users to channels with [`crate::users`] (derived ids).
    PublishToTags {
        tags: Vec<String>,
        skip_users: Vec<i64>,
        body: Bytes,
        expiry: u32,
        kind: String,
    },
}

/// A synchronous question to the owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Is each channel online (a subscriber connected now or within `online_ttl`)?
    ChannelStats(Vec<ChannelKey>),
    /// Users watching any of the tags, deduplicated and sorted.
    WatchUsers(Vec<String>),
    /// The `/server-stat/` object of the owner.
    ServerStats,
}

/// The owner's answer to a [`Query`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// One flag per queried channel, in the query's order.
    ChannelStats(Vec<bool>),
    /// Sorted, deduplicated user ids.
    Users(Vec<i64>),
    /// JSON of the `/server-stat/` object (one element of its array).
    ServerStats(String),
}

/// Where the owner listens for PHP workers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PhpTarget {
    /// A unix socket path (access is controlled by the file's permissions).
    Unix(PathBuf),
    /// A TCP address; frames are authenticated with HMAC-SHA256 under the signature key.
    Tcp(SocketAddr),
}

impl PhpTarget {
    pub fn is_tcp(&self) -> bool {
        matches!(self, PhpTarget::Tcp(_))
    }
}

impl FromStr for PhpTarget {
    type Err = String;

    /// `/path/x.sock` or `unix:/path/x.sock` → unix socket; `IP:port` (`127.0.0.1:9011`,
    /// `[::1]:9011`) → TCP. Host names are not resolved (no DNS at start-up or per send).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let forms = "accepted forms: a unix socket path (\"/run/bxpush/php.sock\" or \"unix:/run/bxpush/php.sock\") or an IP address and port (\"127.0.0.1:9011\", \"[::1]:9011\")";
        if s.is_empty() {
            return Err(format!("empty PHP hand-off address; {forms}"));
        }
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(format!("\"unix:\" needs a socket path after it; {forms}"));
            }
            return Ok(PhpTarget::Unix(PathBuf::from(p)));
        }
        if s.starts_with('/') || s.starts_with("./") || s.starts_with("../") {
            return Ok(PhpTarget::Unix(PathBuf::from(s)));
        }
        s.parse::<SocketAddr>()
            .map(PhpTarget::Tcp)
            .map_err(|_| format!("{s:?} is not a PHP hand-off address; {forms}"))
    }
}

impl fmt::Display for PhpTarget {
    /// The form [`FromStr`] reads back: `unix:/path` or `ip:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhpTarget::Unix(p) => write!(f, "unix:{}", p.display()),
            PhpTarget::Tcp(a) => write!(f, "{a}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for PhpTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Block every signal in the calling thread, so that signals (PHP's `pcntl` handlers,
/// FPM's SIGTERM/SIGQUIT, the timer of `max_execution_time`) are delivered to the PHP
/// thread and never run on a thread of ours. Call it first thing in every thread we start.
pub fn block_signals_in_this_thread() {
    // SAFETY: sigfillset initialises the set; pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Random bytes from the operating system. Never from a user-space generator: its state
/// is copied by `fork`, and two FPM workers must never draw the same origin or nonce.
pub(crate) fn os_random<const N: usize>() -> [u8; N] {
    use rand::TryRngCore;
    let mut b = [0u8; N];
    if rand::rngs::OsRng.try_fill_bytes(&mut b).is_err() {
        // No getrandom(2): mix what differs between processes and calls.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = (t as u64) ^ ((std::process::id() as u64) << 32) ^ (&b as *const _ as u64);
        let mut x = seed | 1;
        for byte in b.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *byte = x as u8;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        assert_eq!(
            "/run/bxpush/php.sock".parse::<PhpTarget>().unwrap(),
            PhpTarget::Unix("/run/bxpush/php.sock".into())
        );
        assert_eq!(
            "unix:/tmp/x.sock".parse::<PhpTarget>().unwrap(),
            PhpTarget::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            "127.0.0.1:9011".parse::<PhpTarget>().unwrap(),
            PhpTarget::Tcp("127.0.0.1:9011".parse().unwrap())
        );
        assert_eq!(
            "[::1]:9011".parse::<PhpTarget>().unwrap(),
            PhpTarget::Tcp("[::1]:9011".parse().unwrap())
        );
        for t in ["unix:/tmp/x.sock", "127.0.0.1:9011"] {
            assert_eq!(t.parse::<PhpTarget>().unwrap().to_string(), t);
        }
        let e = "localhost:9011".parse::<PhpTarget>().unwrap_err();
        assert!(e.contains("accepted forms"), "{e}");
        assert!("unix:".parse::<PhpTarget>().is_err());
        assert!("".parse::<PhpTarget>().is_err());
    }

    #[test]
    fn os_random_differs() {
        assert_ne!(os_random::<16>(), os_random::<16>());
    }
}
