//! The name a node goes by in a cluster: its `processUniqueId` in `/server-stat/` and the
//! field it writes its stats under in Redis's `stats` hash (spec §9.1).
//!
//! Every process of a cluster writes `HSET stats <processUniqueId> <JSON>` and leaves out
//! its own id when it lists the others, so two processes with one id overwrite each other
//! and neither lists the other. The id was `bxpush-<port>`, which every host running on
//! the default port shares; the default is now `bxpush-<hostname>-<port>`: unique across
//! the hosts of a cluster (one port serves one process per host) and the same after a
//! restart, so a restarted node replaces its own entry instead of leaving a stale twin
//! for the 70 s a dead entry is kept. Node's own default (`hostname-pid`) changes at
//! every restart. The `node_id` setting (Node's `processUniqueId`) overrides it, e.g.
//! where hostnames repeat (containers).

/// Longest `node_id`: it is a Redis hash field and a JSON string on every stats read.
pub const MAX_LEN: usize = 128;

/// `bxpush-<hostname>-<port>`.
pub fn default_for(hostname: &str, port: u16) -> String {
    format!("bxpush-{hostname}-{port}")
}

/// This machine's host name, `localhost` if the system has none.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer it is given.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..len]).trim().to_string();
    if rc != 0 || name.is_empty() {
        return "localhost".into();
    }
    name
}

/// The id of a node whose subscriber listener is on `port`: `configured`, else the default.
pub fn resolve(configured: Option<&str>, port: u16) -> String {
    match configured {
        Some(id) => id.to_string(),
        None => default_for(&hostname(), port),
    }
}

/// The check of the `node_id` setting: printable, not empty, at most [`MAX_LEN`] bytes.
pub fn check(v: String, key: &str) -> Result<Option<String>, String> {
    if v.trim().is_empty() {
        return Err(format!(
            "{key} is empty: leave it out for the default bxpush-<hostname>-<port>, or name this node uniquely in its cluster"
        ));
    }
    if v.len() > MAX_LEN {
        return Err(format!("{key} is longer than {MAX_LEN} bytes"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{key} contains a control character"));
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_differs_between_hosts_on_the_same_port_and_is_stable() {
        let a = default_for("web1", 8010);
        let b = default_for("web2", 8010);
        assert_ne!(a, b, "two hosts on the default port must not share an id");
        assert_eq!(
            a,
            default_for("web1", 8010),
            "same node, same id after a restart"
        );
        assert_ne!(a, default_for("web1", 8011), "two nodes on one host");
        assert_eq!(a, "bxpush-web1-8010");
    }

    #[test]
    fn this_hosts_default_names_the_host_and_the_port() {
        let host = hostname();
        assert!(!host.is_empty());
        let id = resolve(None, 8010);
        assert_eq!(id, format!("bxpush-{host}-8010"));
        assert_eq!(resolve(None, 8010), id, "stable");
        assert_eq!(resolve(Some("sub-8010"), 8010), "sub-8010");
    }

    #[test]
    fn the_setting_is_checked() {
        assert_eq!(
            check("web1".into(), "node_id").unwrap(),
            Some("web1".into())
        );
        assert!(check(" ".into(), "node_id")
            .unwrap_err()
            .contains("node_id is empty"));
        assert!(check("a\nb".into(), "node_id").is_err());
        assert!(check("x".repeat(MAX_LEN + 1), "node_id").is_err());
    }
}
