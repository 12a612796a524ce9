//! Server configuration: one set of keys, read from (highest first) command-line flags,
//! `BXPUSH_*` environment variables, a TOML file with the same keys, the Node
//! push-server's own JSON config, and the defaults below.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::handoff::PhpTarget;
use crate::protocol::SignatureAlgo;

/// The resolved configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Subscribers: WebSocket, long polling, SSE and client publishing.
    pub listen_sub: SocketAddr,
    /// Trusted publishing (`/bitrix/pub/`) and `/server-stat/`.
    pub listen_pub: SocketAddr,
    /// The socket PHP workers hand events to (unix socket or TCP); `None` = not served.
    pub listen_php: Option<PhpTarget>,
    /// The pull module's `signature_key`; `None` = channels are not signed.
    pub signature_key: Option<String>,
    pub signature_algo: SignatureAlgo,
    /// Where history survives restarts; `None` = memory only.
    pub data_dir: Option<PathBuf>,
    pub long_poll_timeout: Duration,
    pub ws_ping_interval: Duration,
    pub sse_heartbeat: Duration,
    pub message_ttl: u32,
    pub online_ttl: u64,
    pub max_payload: usize,
    pub max_conn_per_channel: usize,
    pub max_messages_per_request: usize,
    pub max_channels_per_request: usize,
    pub max_history_per_channel: usize,
    /// Body bytes kept in history in all; the oldest messages go first.
    pub max_history_bytes: u64,
    pub max_queue_per_connection: usize,
    pub max_connections: usize,
    pub fsync: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen_sub: "127.0.0.1:8010".parse().expect("literal address"),
            listen_pub: "127.0.0.1:9010".parse().expect("literal address"),
            listen_php: None,
            signature_key: None,
            signature_algo: SignatureAlgo::Sha1,
            data_dir: None,
            long_poll_timeout: Duration::from_secs(40),
            ws_ping_interval: Duration::from_secs(120),
            sse_heartbeat: Duration::from_secs(15),
            message_ttl: 86_400,
            online_ttl: 130,
            max_payload: 1_048_576,
            max_conn_per_channel: 100,
            max_messages_per_request: 100,
            max_channels_per_request: 100,
            max_history_per_channel: 1000,
            max_history_bytes: 256 * 1024 * 1024,
            max_queue_per_connection: 1024,
            // A process here may hold about 19,900 descriptors; keep room for files.
            max_connections: 19_000,
            fsync: false,
        }
    }
}

/// One source of settings; every key optional. The TOML file uses exactly these keys,
/// the flags are the same names with dashes, the environment `BXPUSH_` + upper case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub listen_sub: Option<SocketAddr>,
    pub listen_pub: Option<SocketAddr>,
    pub listen_php: Option<PhpTarget>,
    pub signature_key: Option<String>,
    pub signature_algo: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub long_poll_timeout: Option<u64>,
    pub ws_ping_interval: Option<u64>,
    pub sse_heartbeat: Option<u64>,
    pub message_ttl: Option<u32>,
    pub online_ttl: Option<u64>,
    pub max_payload: Option<usize>,
    pub max_conn_per_channel: Option<usize>,
    pub max_messages_per_request: Option<usize>,
    pub max_channels_per_request: Option<usize>,
    pub max_history_per_channel: Option<usize>,
    pub max_history_bytes: Option<u64>,
    pub max_queue_per_connection: Option<usize>,
    pub max_connections: Option<usize>,
    pub fsync: Option<bool>,
}

macro_rules! merge_fields {
    ($hi:expr, $lo:expr, $($f:ident),*) => { Layer { $($f: $hi.$f.or($lo.$f)),* } };
}

impl Layer {
    /// `self` wins over `lower` key by key.
    pub fn over(self, lower: Layer) -> Layer {
        merge_fields!(
            self,
            lower,
            listen_sub,
            listen_pub,
            listen_php,
            signature_key,
            signature_algo,
            data_dir,
            long_poll_timeout,
            ws_ping_interval,
            sse_heartbeat,
            message_ttl,
            online_ttl,
            max_payload,
            max_conn_per_channel,
            max_messages_per_request,
            max_channels_per_request,
            max_history_per_channel,
            max_history_bytes,
            max_queue_per_connection,
            max_connections,
            fsync
        )
    }

    /// Apply on top of the defaults, checking values. Errors name the key and the fix.
    pub fn resolve(self) -> Result<Config, String> {
        let d = Config::default();
        let secs = |v: Option<u64>, def: Duration, key: &str| -> Result<Duration, String> {
            match v {
                Some(0) => Err(format!("{key} must be at least 1 second")),
                Some(s) => Ok(Duration::from_secs(s)),
                None => Ok(def),
            }
        };
        let signature_algo = match self.signature_algo {
            Some(a) => a
                .parse::<SignatureAlgo>()
                .map_err(|e| format!("signature_algo: {e}"))?,
            None => d.signature_algo,
        };
        let positive = |v: Option<usize>, def: usize, key: &str| -> Result<usize, String> {
            match v {
                Some(0) => Err(format!("{key} must be greater than 0")),
                Some(n) => Ok(n),
                None => Ok(def),
            }
        };
        Ok(Config {
            listen_sub: self.listen_sub.unwrap_or(d.listen_sub),
            listen_pub: self.listen_pub.unwrap_or(d.listen_pub),
            listen_php: self.listen_php,
            signature_key: self.signature_key.filter(|k| !k.is_empty()),
            signature_algo,
            data_dir: self.data_dir,
            long_poll_timeout: secs(
                self.long_poll_timeout,
                d.long_poll_timeout,
                "long_poll_timeout",
            )?,
            ws_ping_interval: secs(
                self.ws_ping_interval,
                d.ws_ping_interval,
                "ws_ping_interval",
            )?,
            sse_heartbeat: secs(self.sse_heartbeat, d.sse_heartbeat, "sse_heartbeat")?,
            message_ttl: self.message_ttl.unwrap_or(d.message_ttl),
            online_ttl: self.online_ttl.unwrap_or(d.online_ttl),
            max_payload: positive(self.max_payload, d.max_payload, "max_payload")?,
            max_conn_per_channel: positive(
                self.max_conn_per_channel,
                d.max_conn_per_channel,
                "max_conn_per_channel",
            )?,
            max_messages_per_request: positive(
                self.max_messages_per_request,
                d.max_messages_per_request,
                "max_messages_per_request",
            )?,
            max_channels_per_request: positive(
                self.max_channels_per_request,
                d.max_channels_per_request,
                "max_channels_per_request",
            )?,
            max_history_per_channel: positive(
                self.max_history_per_channel,
                d.max_history_per_channel,
                "max_history_per_channel",
            )?,
            max_history_bytes: match self.max_history_bytes {
                Some(0) => return Err("max_history_bytes must be greater than 0".into()),
                Some(n) => n,
                None => d.max_history_bytes,
            },
            max_queue_per_connection: positive(
                self.max_queue_per_connection,
                d.max_queue_per_connection,
                "max_queue_per_connection",
            )?,
            max_connections: positive(self.max_connections, d.max_connections, "max_connections")?,
            fsync: self.fsync.unwrap_or(d.fsync),
        })
    }

    /// Read a config file: `*.json` is the Node push-server's format, anything else TOML.
    pub fn from_file(path: &Path) -> Result<Layer, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::from_node_json(&text).map_err(|e| format!("{}: {e}", path.display()))
        } else {
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
        }
    }

    /// The Node push-server's config (`push-server-sub-8010.json` and friends): servers
    /// with a `sub` route set `listen_sub`, with a `pub` route `listen_pub`; `security`,
    /// `storage` and `limits` map to our keys. Keys we do not use are ignored, as Node does.
    pub fn from_node_json(text: &str) -> Result<Layer, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let mut l = Layer::default();
        if let Some(servers) = v.get("servers").and_then(|s| s.as_array()) {
            for s in servers {
                let Some(port) = s.get("port").and_then(|p| p.as_u64()) else {
                    continue;
                };
                // Node listens on every address when `hostname` is absent.
                let host = s
                    .get("hostname")
                    .and_then(|h| h.as_str())
                    .unwrap_or("0.0.0.0");
                let addr: SocketAddr = format!("{host}:{port}")
                    .parse()
                    .or_else(|_| format!("[{host}]:{port}").parse())
                    .map_err(|_| format!("servers[].hostname {host:?} is not an IP address"))?;
                let routes = s.get("routes");
                if routes.and_then(|r| r.get("sub")).is_some() {
                    l.listen_sub = Some(addr);
                }
                if routes.and_then(|r| r.get("pub")).is_some() {
                    l.listen_pub = Some(addr);
                }
            }
        }
        let sec = v.get("security");
        l.signature_key = sec
            .and_then(|s| s.get("key"))
            .and_then(|k| k.as_str())
            .map(str::to_string);
        l.signature_algo = sec
            .and_then(|s| s.get("algo"))
            .and_then(|k| k.as_str())
            .map(str::to_string);
        let num = |section: &str, key: &str| {
            v.get(section)
                .and_then(|s| s.get(key))
                .and_then(|n| n.as_u64())
        };
        l.message_ttl = num("storage", "messageTTL").map(|n| n.min(u32::MAX as u64) as u32);
        if let Some(ttl) = num("storage", "onlineTTL") {
            l.online_ttl = Some(ttl + num("storage", "onlineDelta").unwrap_or(10));
        }
        l.max_payload = num("limits", "maxPayload").map(|n| n as usize);
        l.max_conn_per_channel = num("limits", "maxConnPerChannel").map(|n| n as usize);
        l.max_messages_per_request = num("limits", "maxMessagesPerRequest").map(|n| n as usize);
        l.max_channels_per_request = num("limits", "maxChannelsPerRequest").map(|n| n as usize);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_sub_config_maps_to_our_keys() {
        let json = r#"{"servers":[{"name":"sub-8010","port":8010,"hostname":"127.0.0.1",
            "backlog":1024,"routes":{"sub":"/bitrix/subws/"}}],"processUniqueId":"sub-8010",
            "storage":{"type":"redis","socket":"/tmp/redis.sock","messageTLL":86400,"onlineTTL":120,"onlineDelta":10},
            "security":{"key":"secret","algo":"sha256"},
            "limits":{"maxPayload":65536,"maxConnPerChannel":7,"maxMessagesPerRequest":5,"maxChannelsPerRequest":6}}"#;
        let c = Layer::from_node_json(json).unwrap().resolve().unwrap();
        assert_eq!(c.listen_sub, "127.0.0.1:8010".parse().unwrap());
        assert_eq!(c.listen_pub, Config::default().listen_pub);
        assert_eq!(c.signature_key.as_deref(), Some("secret"));
        assert_eq!(c.signature_algo, SignatureAlgo::Sha256);
        // The shipped configs misspell messageTTL as messageTLL: Node runs the default.
        assert_eq!(c.message_ttl, 86_400);
        assert_eq!(c.online_ttl, 130);
        assert_eq!(c.max_payload, 65536);
        assert_eq!(c.max_conn_per_channel, 7);
        assert_eq!(c.max_messages_per_request, 5);
        assert_eq!(c.max_channels_per_request, 6);
    }

    #[test]
    fn node_pub_config_sets_listen_pub() {
        let json = r#"{"servers":[{"port":9010,"hostname":"127.0.0.1",
            "routes":{"pub":"/bitrix/pub/","stat":"/server-stat/","rest":"/bitrix/rest/"}}],"publishMode":true}"#;
        let c = Layer::from_node_json(json).unwrap().resolve().unwrap();
        assert_eq!(c.listen_pub, "127.0.0.1:9010".parse().unwrap());
    }

    #[test]
    fn higher_layer_wins_and_bad_values_name_the_key() {
        let hi = Layer {
            long_poll_timeout: Some(5),
            ..Default::default()
        };
        let lo = Layer {
            long_poll_timeout: Some(9),
            ws_ping_interval: Some(7),
            ..Default::default()
        };
        let c = hi.over(lo).resolve().unwrap();
        assert_eq!(c.long_poll_timeout, Duration::from_secs(5));
        assert_eq!(c.ws_ping_interval, Duration::from_secs(7));
        let bad = Layer {
            signature_algo: Some("md5".into()),
            ..Default::default()
        };
        assert!(bad.resolve().unwrap_err().contains("signature_algo"));
        let zero = Layer {
            max_payload: Some(0),
            ..Default::default()
        };
        assert!(zero.resolve().unwrap_err().contains("max_payload"));
    }

    #[test]
    fn toml_uses_the_same_keys() {
        let l: Layer = toml::from_str("listen_sub = \"127.0.0.1:18010\"\nfsync = true\n").unwrap();
        let c = l.resolve().unwrap();
        assert_eq!(c.listen_sub.port(), 18010);
        assert!(c.fsync);
        assert_eq!(c.listen_php, None);
        let l: Layer = toml::from_str("listen_php = \"/run/bxpush/php.sock\"").unwrap();
        assert_eq!(
            l.resolve().unwrap().listen_php,
            Some(PhpTarget::Unix("/run/bxpush/php.sock".into()))
        );
        let e = toml::from_str::<Layer>("listen_php = \"localhost:1\"").unwrap_err();
        assert!(e.to_string().contains("accepted forms"), "{e}");
        assert!(toml::from_str::<Layer>("no_such_key = 1").is_err());
    }
}
