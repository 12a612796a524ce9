//! The `--store` URL of the Redis engine, checked before anything connects, so that a
//! typo is refused at start-up with the forms that are accepted rather than retried for
//! ever as an unreachable server.

use std::fmt;
use std::path::PathBuf;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

/// What an error message lists as accepted.
pub const ACCEPTED_FORMS: &str = "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or \
     redis+unix:///path/redis.sock[?db=DB&password=PASSWORD]";

/// Node's default port (`storage.port`).
const DEFAULT_PORT: u16 = 6379;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisAddr {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// A parsed Redis URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub addr: RedisAddr,
    pub db: i64,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A refused URL: says what is wrong and which forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRedisUrl(pub String);

impl fmt::Display for BadRedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; accepted: {ACCEPTED_FORMS}", self.0)
    }
}

impl std::error::Error for BadRedisUrl {}

fn bad(what: impl Into<String>) -> BadRedisUrl {
    BadRedisUrl(what.into())
}

/// `%XX` escapes of a password or user name (so that `@`, `:` and `/` can be written).
fn percent_decode(s: &str) -> Result<String, BadRedisUrl> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("bad %-escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("credentials are not UTF-8"))
}

fn parse_db(s: &str) -> Result<i64, BadRedisUrl> {
    s.parse::<u16>()
        .map(i64::from)
        .map_err(|_| bad(format!("database {s:?} is not a number")))
}

fn parse_tcp(rest: &str) -> Result<RedisUrl, BadRedisUrl> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if path.contains(['?', '#']) {
        return Err(bad("query parameters are not accepted in redis:// URLs"));
    }
    let db = if path.is_empty() { 0 } else { parse_db(path)? };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(ui) => match ui.split_once(':') {
            Some((u, p)) => (
                (!u.is_empty()).then(|| percent_decode(u)).transpose()?,
                Some(percent_decode(p)?),
            ),
            None => {
                return Err(bad(
                    "credentials must be written USER:PASSWORD or :PASSWORD",
                ))
            }
        },
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in an IPv6 host"))?;
        match after {
            "" => (h, None),
            p => (
                h,
                Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad(format!("port {p:?} is not a port number"))),
        },
    };
    Ok(RedisUrl {
        addr: RedisAddr::Tcp {
            host: host.to_owned(),
            port,
        },
        db,
        username,
        password,
    })
}

fn parse_unix(rest: &str) -> Result<RedisUrl, BadRedisUrl> {
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    if !path.starts_with('/') || path.len() < 2 {
        return Err(bad(
            "a unix socket URL needs an absolute path: redis+unix:///path",
        ));
    }
    let mut url = RedisUrl {
        addr: RedisAddr::Unix(PathBuf::from(percent_decode(path)?)),
        db: 0,
        username: None,
        password: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "db" => url.db = parse_db(v)?,
            "password" | "pass" => url.password = Some(percent_decode(v)?),
            "user" => url.username = Some(percent_decode(v)?),
            _ => return Err(bad(format!("unknown parameter {k:?}"))),
        }
    }
    Ok(url)
}

impl std::str::FromStr for RedisUrl {
    type Err = BadRedisUrl;

    fn from_str(s: &str) -> Result<Self, BadRedisUrl> {
        if let Some(rest) = s.strip_prefix("redis://") {
            parse_tcp(rest)
        } else if let Some(rest) = s.strip_prefix("redis+unix://") {
            parse_unix(rest)
        } else {
            Err(bad(format!("{:?} is not a Redis URL", redacted(s))))
        }
    }
}

/// `s` with anything between `://` and `@` hidden (an unknown scheme may still carry a
/// password, and error messages end up in logs).
fn redacted(s: &str) -> String {
    match (s.find("://"), s.rfind('@')) {
        (Some(a), Some(b)) if b > a => format!("{}://***{}", &s[..a], &s[b..]),
        _ => s.to_owned(),
    }
}

impl RedisUrl {
    /// What redis-rs connects with.
    pub fn connection_info(&self) -> ConnectionInfo {
        let addr = match &self.addr {
            RedisAddr::Tcp { host, port } => ConnectionAddr::Tcp(host.clone(), *port),
            RedisAddr::Unix(p) => ConnectionAddr::Unix(p.clone()),
        };
        let mut settings = RedisConnectionInfo::default().set_db(self.db);
        if let Some(u) = &self.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &self.password {
            settings = settings.set_password(p);
        }
        addr.into_connection_info()
            .expect("a ConnectionAddr always converts")
            .set_redis_settings(settings)
    }
}

/// The URL without its password (for logs and `/server-stat/`).
impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pw = if self.password.is_some() { "***" } else { "" };
        match &self.addr {
            RedisAddr::Tcp { host, port } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                let cred = match (&self.username, self.password.is_some()) {
                    (Some(u), _) => format!("{u}:{pw}@"),
                    (None, true) => format!(":{pw}@"),
                    (None, false) => String::new(),
                };
                write!(f, "redis://{cred}{host}:{port}/{}", self.db)
            }
            RedisAddr::Unix(p) => {
                write!(f, "redis+unix://{}?db={}", p.display(), self.db)?;
                if self.password.is_some() {
                    write!(f, "&password={pw}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> RedisUrl {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn tcp(host: &str, port: u16) -> RedisAddr {
        RedisAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn tcp_forms() {
        let u = url("redis://127.0.0.1:6380/2");
        assert_eq!(
            (u.addr, u.db, u.password),
            (tcp("127.0.0.1", 6380), 2, None)
        );
        let u = url("redis://redis.local");
        assert_eq!((u.addr, u.db), (tcp("redis.local", 6379), 0));
        let u = url("redis://:s%40cret@10.0.0.2:6379/");
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!(u.username, None);
        let u = url("redis://push:pw@[::1]:7000/1");
        assert_eq!(u.addr, tcp("::1", 7000));
        assert_eq!(u.username.as_deref(), Some("push"));
        assert_eq!(u.to_string(), "redis://push:***@[::1]:7000/1");
    }

    #[test]
    fn unix_forms() {
        let u = url("redis+unix:///run/redis/redis.sock");
        assert_eq!(u.addr, RedisAddr::Unix("/run/redis/redis.sock".into()));
        let u = url("redis+unix:///run/redis.sock?db=3&password=x%26y");
        assert_eq!((u.db, u.password.as_deref()), (3, Some("x&y")));
        assert_eq!(
            u.to_string(),
            "redis+unix:///run/redis.sock?db=3&password=***"
        );
    }

    #[test]
    fn bad_urls_are_refused_naming_the_accepted_forms() {
        for s in [
            "http://127.0.0.1:6379",
            "127.0.0.1:6379",
            "redis://",
            "redis://:6379",
            "redis://host:0",
            "redis://host:99999",
            "redis://host:port",
            "redis://host/db",
            "redis://host/1?x=y",
            "redis://user@host",
            "redis://[::1",
            "redis://h/%zz",
            "redis+unix://relative.sock",
            "redis+unix:///s.sock?db=x",
            "redis+unix:///s.sock?timeout=1",
        ] {
            let e = s.parse::<RedisUrl>().expect_err(s).to_string();
            assert!(e.contains(ACCEPTED_FORMS), "{s}: {e}");
        }
    }

    #[test]
    fn a_refused_url_does_not_echo_its_password() {
        let e = "rediss://:hunter2@host".parse::<RedisUrl>().unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn connection_info_carries_db_and_credentials() {
        let info = url("redis://u:p@h:1/5").connection_info();
        assert_eq!(info.addr(), &ConnectionAddr::Tcp("h".into(), 1));
        assert_eq!(info.redis_settings().db(), 5);
        assert_eq!(info.redis_settings().password(), Some("p"));
        assert_eq!(info.redis_settings().username(), Some("u"));
    }
}
