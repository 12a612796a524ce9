//! Server configuration: one set of keys, read from (highest first) command-line flags,
//! `BXPUSH_*` environment variables, a TOML file with the same keys, the Node
//! push-server's own JSON config, and the defaults below.
//!
//! Every key is declared once, in the [`settings!`] table at the end of this comment's
//! module: its documentation (also the `--help` text), its type in a [`Layer`] (what a
//! flag, a variable or the file gives), its type in the resolved [`Config`], its default,
//! the check that turns one into the other, and its environment variable. The macro
//! writes [`Config`], its `Default`, [`Layer`] (serde for the file; `clap::Args` for the
//! flags, derived only with the `cli` feature so the library the PHP extension links
//! never compiles clap), [`Layer::over`] and [`Layer::resolve`]. Adding a setting is one
//! entry.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::handoff::PhpTarget;
use crate::protocol::SignatureAlgo;
use crate::store::StoreKind;

/// Declares every key once (see the module doc). Entry:
/// `/// doc` `name: LayerType => ConfigType = default, check, "BXPUSH_NAME" [, clap(args)];`
/// where `check(value, "name") -> Result<ConfigType, String>`.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident : $layer:ty => $config:ty = $default:expr, $check:expr, $env:literal
        $(, clap($($cli:tt)*))? ;
    )*) => {
        /// The resolved configuration of a running server.
        #[derive(Debug, Clone)]
        pub struct Config {
            $( $(#[doc = $doc])* pub $name: $config, )*
        }

        impl Default for Config {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        /// One source of settings; every key optional. The TOML file uses exactly these
        /// keys, the flags are the same names with dashes, the environment `BXPUSH_` +
        /// upper case.
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[cfg_attr(feature = "cli", derive(clap::Args))]
        pub struct Layer {
            $(
                $(#[doc = $doc])*
                #[cfg_attr(feature = "cli", arg(long, env = $env $(, $($cli)*)?))]
                pub $name: Option<$layer>,
            )*
        }

        impl Layer {
            /// `self` wins over `lower` key by key.
            pub fn over(self, lower: Layer) -> Layer {
                Layer { $( $name: self.$name.or(lower.$name), )* }
            }

            /// Apply on top of the defaults, checking values, then the rules between keys
            /// (trusted listeners on loopback: [`crate::listen_policy`]). Errors name the
            /// key and the fix.
            pub fn resolve(self) -> Result<Config, String> {
                let d = Config::default();
                let config = Config {
                    $( $name: match self.$name {
                        Some(v) => ($check)(v, stringify!($name))?,
                        None => d.$name,
                    }, )*
                };
                crate::listen_policy::check(&config)?;
                Ok(config)
            }
        }
    };
}

/// Taken as given.
fn any<T>(v: T, _key: &str) -> Result<T, String> {
    Ok(v)
}

/// Optional in the config (no default), taken as given.
fn some<T>(v: T, _key: &str) -> Result<Option<T>, String> {
    Ok(Some(v))
}

fn positive<T: PartialEq + Default>(v: T, key: &str) -> Result<T, String> {
    if v == T::default() {
        return Err(format!("{key} must be greater than 0"));
    }
    Ok(v)
}

fn seconds(v: u64, key: &str) -> Result<Duration, String> {
    if v == 0 {
        return Err(format!("{key} must be at least 1 second"));
    }
    Ok(Duration::from_secs(v))
}

/// Empty = channels are not signed.
fn key(v: String, _key: &str) -> Result<Option<String>, String> {
    Ok(Some(v).filter(|k| !k.is_empty()))
}

fn algo(v: String, key: &str) -> Result<SignatureAlgo, String> {
    v.parse().map_err(|e| format!("{key}: {e}"))
}

/// `--store`: `memory` or a Redis URL, checked now (a typo is refused at start-up, not
/// retried for ever as an unreachable server).
fn store(v: String, key: &str) -> Result<StoreKind, String> {
    v.parse().map_err(|e| format!("{key}: {e}"))
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("literal address")
}

settings! {
    /// Subscribers (WebSocket, long polling, SSE, client publish). Default 127.0.0.1:8010.
    listen_sub: SocketAddr => SocketAddr = addr("127.0.0.1:8010"), any, "BXPUSH_LISTEN_SUB";
    /// Trusted publishing (`/bitrix/pub/`) and stats. Default 127.0.0.1:9010.
    listen_pub: SocketAddr => SocketAddr = addr("127.0.0.1:9010"), any, "BXPUSH_LISTEN_PUB";
    /// Where PHP-FPM workers (extension=bxpush) hand events over: a unix socket path
    /// (`/run/bxpush/php.sock`, `unix:/path`) or `127.0.0.1:PORT` (frames authenticated with
    /// the signature key). Default: none.
    listen_php: PhpTarget => Option<PhpTarget> = None, some, "BXPUSH_LISTEN_PHP";
    /// The pull module's signature key. Absent: one is generated (and kept in
    /// --data-dir). Empty: channels are not signed.
    signature_key: String => Option<String> = None, key, "BXPUSH_SIGNATURE_KEY",
        clap(hide_env_values = true);
    /// sha1 (default) or sha256, as the pull module's signature_algo.
    signature_algo: String => SignatureAlgo = SignatureAlgo::Sha1, algo, "BXPUSH_SIGNATURE_ALGO";
    /// Where history survives restarts. Absent: memory only.
    data_dir: PathBuf => Option<PathBuf> = None, some, "BXPUSH_DATA_DIR";
    /// Where ids, history and presence live: `memory` (default: this process, with
    /// --data-dir) or a Redis shared by several nodes and Node push-servers,
    /// `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` or
    /// `redis+unix:///path/redis.sock[?db=DB&password=PASSWORD]`.
    store: String => StoreKind = StoreKind::Memory, store, "BXPUSH_STORE",
        clap(hide_env_values = true);
    /// This node's name in a cluster: its `processUniqueId` in `/server-stat/` and its
    /// field in Redis's `stats` hash (Node's `processUniqueId`). Default
    /// `bxpush-<hostname>-<port of --listen-sub>`: unique per host and port, the same
    /// after a restart.
    node_id: String => Option<String> = None, crate::node_id::check, "BXPUSH_NODE_ID";
    /// Seconds a long poll is held before 304. Default 40.
    long_poll_timeout: u64 => Duration = Duration::from_secs(40), seconds,
        "BXPUSH_LONG_POLL_TIMEOUT";
    /// Seconds between WebSocket pings; a peer that misses one is dropped. Default 120.
    ws_ping_interval: u64 => Duration = Duration::from_secs(120), seconds,
        "BXPUSH_WS_PING_INTERVAL";
    /// Seconds between SSE heartbeat comments. Default 15.
    sse_heartbeat: u64 => Duration = Duration::from_secs(15), seconds, "BXPUSH_SSE_HEARTBEAT";
    /// Longest a message is kept in history, seconds (`Message-Expiry` is capped to it).
    /// Default 86400.
    message_ttl: u32 => u32 = 86_400, any, "BXPUSH_MESSAGE_TTL";
    /// Seconds a channel stays online after its last activity. Default 130.
    online_ttl: u64 => u64 = 130, any, "BXPUSH_ONLINE_TTL";
    /// Largest request body or WebSocket frame, bytes. Default 1048576.
    max_payload: usize => usize = 1_048_576, positive, "BXPUSH_MAX_PAYLOAD";
    /// Connections per public channel; the oldest is closed with 4029. Default 100.
    max_conn_per_channel: usize => usize = 100, positive, "BXPUSH_MAX_CONN_PER_CHANNEL";
    /// Messages per publish request. Default 100.
    max_messages_per_request: usize => usize = 100, positive,
        "BXPUSH_MAX_MESSAGES_PER_REQUEST";
    /// Channels per request. Default 100.
    max_channels_per_request: usize => usize = 100, positive,
        "BXPUSH_MAX_CHANNELS_PER_REQUEST";
    /// Messages kept per channel. Default 1000.
    max_history_per_channel: usize => usize = 1000, positive, "BXPUSH_MAX_HISTORY_PER_CHANNEL";
    /// Bytes history holds in all (bodies plus ~200 bytes of bookkeeping per message and
    /// 32 per receiver: what it costs in memory); the oldest go first. Default 268435456
    /// (256 MiB).
    max_history_bytes: u64 => u64 = 256 * 1024 * 1024, positive, "BXPUSH_MAX_HISTORY_BYTES";
    /// Body bytes one channel's history holds; its oldest go first. Default 16777216.
    max_history_bytes_per_channel: u64 => u64 = 16 * 1024 * 1024, positive,
        "BXPUSH_MAX_HISTORY_BYTES_PER_CHANNEL";
    /// Bytes the messages of one client publisher (WebSocket, `/bitrix/rest/`) hold in
    /// history; over it, its own oldest go first, never others'. Default 4194304.
    max_history_bytes_per_publisher: u64 => u64 = 4 * 1024 * 1024, positive,
        "BXPUSH_MAX_HISTORY_BYTES_PER_PUBLISHER";
    /// Client publishes per second one publisher may make (bursts of ten seconds'
    /// worth); more are refused (429 / close 1008) and counted. Default 10.
    client_publish_rate: u32 => u32 = 10, positive, "BXPUSH_CLIENT_PUBLISH_RATE";
    /// Client publishes per second into one channel, from all publishers together
    /// (bursts of ten seconds' worth); more are refused and counted. Default 50.
    channel_publish_rate: u32 => u32 = 50, positive, "BXPUSH_CHANNEL_PUBLISH_RATE";
    /// Messages queued for one connection before it is cut off. Default 1024.
    max_queue_per_connection: usize => usize = 1024, positive,
        "BXPUSH_MAX_QUEUE_PER_CONNECTION";
    /// Open subscriber connections. Default 19000 (a process here may hold about 19,900
    /// descriptors; the rest is room for files and the trusted budget).
    max_connections: usize => usize = 19_000, positive, "BXPUSH_MAX_CONNECTIONS";
    /// Open trusted connections (publish listener and PHP socket), a budget of their own
    /// so subscribers can never lock publishing out. Default 1024.
    max_trusted_connections: usize => usize = 1024, positive,
        "BXPUSH_MAX_TRUSTED_CONNECTIONS";
    /// Seconds a request body, an unfinished WebSocket message or a started PHP hand-off
    /// frame may take to arrive. Default 30.
    read_timeout: u64 => Duration = Duration::from_secs(30), seconds, "BXPUSH_READ_TIMEOUT";
    /// Seconds a subscriber connection may accept no byte of what it is sent (a reply, a
    /// replay chunk, a frame); then it is cut (counted as stalled). Default 30.
    write_timeout: u64 => Duration = Duration::from_secs(30), seconds, "BXPUSH_WRITE_TIMEOUT";
    /// Most message bytes in one WebSocket frame, long-poll reply or SSE write: replays and
    /// batches are split at it (one larger message goes alone), so it bounds what a
    /// stalled connection holds. Default 1048576.
    max_send_chunk: usize => usize = 1_048_576, positive, "BXPUSH_MAX_SEND_CHUNK";
    /// fsync the history log after every stored message (survives power loss).
    fsync: bool => bool = false, any, "BXPUSH_FSYNC";
    /// Allow --listen-pub (and a TCP --listen-php) on a non-loopback address: anyone who
    /// reaches it can publish. Use only behind a firewall; warned about at every start.
    allow_remote_publish: bool => bool = false, any, "BXPUSH_ALLOW_REMOTE_PUBLISH",
        clap(num_args = 0..=1, default_missing_value = "true");
}

impl Layer {
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
        l.store = node_storage(v.get("storage"))?;
        l.node_id = v
            .get("processUniqueId")
            .and_then(|p| p.as_str())
            .map(str::to_string);
        l.message_ttl = num("storage", "messageTTL").map(|n| n.min(u32::MAX as u64) as u32);
        if let Some(ttl) = num("storage", "onlineTTL") {
            // Saturating: a huge value must not wrap round to a few seconds.
            l.online_ttl = Some(ttl.saturating_add(num("storage", "onlineDelta").unwrap_or(10)));
        }
        l.max_payload = num("limits", "maxPayload").map(|n| n as usize);
        l.max_conn_per_channel = num("limits", "maxConnPerChannel").map(|n| n as usize);
        l.max_messages_per_request = num("limits", "maxMessagesPerRequest").map(|n| n as usize);
        l.max_channels_per_request = num("limits", "maxChannelsPerRequest").map(|n| n as usize);
        Ok(l)
    }
}

/// Node's `storage` section: `type: "redis"` with `socket`, or `host`/`port` (Node's
/// defaults 127.0.0.1:6379), and `password`/`database` when given; any other type is
/// the memory store.
fn node_storage(storage: Option<&serde_json::Value>) -> Result<Option<String>, String> {
    let Some(st) = storage else { return Ok(None) };
    if st.get("type").and_then(|t| t.as_str()) != Some("redis") {
        return Ok(None);
    }
    let text = |k: &str| st.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty());
    let number = |k: &str| {
        st.get(k).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let password = text("password").map(percent_encode);
    let db = number("database").or_else(|| number("db")).unwrap_or(0);
    Ok(Some(match text("socket") {
        Some(sock) => {
            let mut url = format!("redis+unix://{sock}?db={db}");
            if let Some(p) = password {
                url.push_str(&format!("&password={p}"));
            }
            url
        }
        None => {
            let host = text("host").unwrap_or("127.0.0.1");
            let port = number("port").unwrap_or(6379);
            let cred = password.map(|p| format!(":{p}@")).unwrap_or_default();
            format!("redis://{cred}{host}:{port}/{db}")
        }
    }))
}

/// `%XX` for everything but unreserved characters (a password may hold `@`, `/`, `&`).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_layer_resolves_to_the_defaults() {
        let c = Layer::default().resolve().unwrap();
        assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
    }

    /// The table spells each environment variable (a macro cannot upper-case a name):
    /// every one must be `BXPUSH_` + its key, and every key a `--flag-with-dashes`.
    #[cfg(feature = "cli")]
    #[test]
    fn every_flag_and_variable_is_named_after_its_key() {
        use clap::Args;
        let cmd = Layer::augment_args(clap::Command::new("serve"));
        let mut n = 0;
        for arg in cmd.get_arguments() {
            let key = arg.get_id().as_str();
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            assert_eq!(env, format!("BXPUSH_{}", key.to_uppercase()), "{key}");
            assert_eq!(
                arg.get_long(),
                Some(key.replace('_', "-").as_str()),
                "{key}"
            );
            n += 1;
        }
        assert!(n > 0, "no flags derived");
    }

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
        assert_eq!(c.node_id.as_deref(), Some("sub-8010"));
        // The shipped configs misspell messageTTL as messageTLL: Node runs the default.
        assert_eq!(c.message_ttl, 86_400);
        assert_eq!(c.online_ttl, 130);
        assert_eq!(c.max_payload, 65536);
        assert_eq!(c.max_conn_per_channel, 7);
        assert_eq!(c.max_messages_per_request, 5);
        assert_eq!(c.max_channels_per_request, 6);
    }

    #[cfg(feature = "redis")]
    #[test]
    fn store_takes_memory_or_a_redis_url_and_never_echoes_a_password() {
        let store = |v: &str| {
            Layer {
                store: Some(v.into()),
                ..Default::default()
            }
            .resolve()
            .map(|c| c.store.to_string())
        };
        assert_eq!(Layer::default().resolve().unwrap().store, StoreKind::Memory);
        assert_eq!(store("memory").unwrap(), "memory");
        assert_eq!(
            store("redis://:s3cret@127.0.0.1:6380/2").unwrap(),
            "redis://:***@127.0.0.1:6380/2"
        );
        assert_eq!(
            store("redis+unix:///run/redis.sock?db=1").unwrap(),
            "redis+unix:///run/redis.sock?db=1"
        );
        let e = store("rediss://:s3cret@host/0").unwrap_err();
        assert!(e.starts_with("store: "), "{e}");
        assert!(e.contains("redis://[[USER]:PASSWORD@]HOST"), "{e}");
        assert!(e.contains("`memory`"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn node_storage_type_redis_selects_the_redis_store() {
        let c = |storage: &str| {
            let json = format!(r#"{{"storage":{storage}}}"#);
            Layer::from_node_json(&json)
                .unwrap()
                .resolve()
                .unwrap()
                .store
        };
        let url = |s: &str| StoreKind::Redis(s.parse().unwrap());
        assert_eq!(
            c(r#"{"type":"redis","socket":"/tmp/redis.sock"}"#),
            url("redis+unix:///tmp/redis.sock?db=0")
        );
        assert_eq!(
            c(r#"{"type":"redis","host":"10.1.2.3","port":6380}"#),
            url("redis://10.1.2.3:6380/0")
        );
        assert_eq!(c(r#"{"type":"redis"}"#), url("redis://127.0.0.1:6379/0"));
        let StoreKind::Redis(u) = c(r#"{"type":"redis","password":"p@ss/w:rd","database":"3"}"#)
        else {
            panic!("redis expected");
        };
        assert_eq!((u.password.as_deref(), u.db), (Some("p@ss/w:rd"), 3));
        assert_eq!(c(r#"{"type":"memory"}"#), StoreKind::Memory);
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
