//! The client config of the stock Bitrix JS client (`BX.PullClient`): what the pull
//! module's `\Bitrix\Pull\Config::get(['JSON' => true])` returns at server version 4,
//! personal mode (spec §8), for channels derived with [`crate::users`].
//!
//! The layout (keys, their order, nesting) and the API revisions live here; a host only
//! renders the tree: the PHP extension turns it into a PHP array (times with PHP's own
//! `date('c')`, so they follow the site's time zone as Bitrix's do).

use crate::protocol::descriptor::{
    public_signature, sign_private_descriptor, sign_public_descriptor,
};
use crate::protocol::Signer;
use crate::users::{self, CHANNEL_TTL};

/// `api.revision_web`: the JS client reloads when its own revision differs.
pub const REVISION_WEB: i64 = 19;
/// `api.revision_mobile`.
pub const REVISION_MOBILE: i64 = 3;
/// `server.version`: the Node push-server ("Bitrix Push server 2.0").
pub const SERVER_VERSION: i64 = 4;

/// One value of the config tree.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Int(i64),
    Bool(bool),
    Str(String),
    /// Unix seconds, rendered as ISO 8601 by the host (`date('c')` in PHP).
    Time(u64),
    /// Keys in the order the client config has them.
    Map(Vec<(String, ConfigValue)>),
}

impl ConfigValue {
    /// The value at `path` (map keys), for tests and hosts that need one field.
    pub fn get(&self, path: &[&str]) -> Option<&ConfigValue> {
        path.iter().try_fold(self, |v, key| match v {
            ConfigValue::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        })
    }
}

fn map(entries: Vec<(&str, ConfigValue)>) -> ConfigValue {
    ConfigValue::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn s(v: impl Into<String>) -> ConfigValue {
    ConfigValue::Str(v.into())
}

/// Where the client reaches the push endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `server.hostname`: the host without port (`[::1]` keeps its brackets).
    pub hostname: String,
    /// Host and port as URLs carry them.
    pub hostport: String,
    /// Path before `/bitrix/…`, without a trailing slash; empty for none.
    pub prefix: String,
}

impl Endpoints {
    /// From a base URL `scheme://host[:port][/prefix]` (the scheme is dropped: the config
    /// lists both plain and secure URLs).
    pub fn from_public_url(url: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        match rest.split_once('/') {
            Some((host, path)) => Self::new(host, path),
            None => Self::new(rest, ""),
        }
    }

    /// From the request's `Host` (`host[:port]`), no prefix.
    pub fn from_host(hostport: &str) -> Self {
        Self::new(hostport, "")
    }

    fn new(hostport: &str, path: &str) -> Self {
        let path = path.trim_matches('/');
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        };
        let hostname = if hostport.starts_with('[') {
            hostport
                .split_once(']')
                .map_or_else(|| hostport.to_owned(), |(h, _)| format!("{h}]"))
        } else {
            hostport.split(':').next().unwrap_or("").to_owned()
        };
        Endpoints {
            hostname,
            hostport: hostport.to_owned(),
            prefix,
        }
    }

    fn url(&self, scheme: &str, path: &str) -> ConfigValue {
        s(format!("{scheme}://{}{}{path}", self.hostport, self.prefix))
    }
}

/// User 0 is the shared channel, not a user: it has no config of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAUser;

/// The config of `user_id` at `now_unix`: its signed private channel (`private:public.sig`),
/// the shared channel, its public channel; each valid `channel_ttl` seconds from the start
/// of its period (at most Bitrix's [`CHANNEL_TTL`]). `key` is the signature key `signer`
/// was made with (the channels are derived from it).
pub fn for_user(
    signer: &Signer,
    key: &[u8],
    user_id: i64,
    now_unix: u64,
    channel_ttl: u64,
    endpoints: &Endpoints,
) -> Result<ConfigValue, NotAUser> {
    if user_id == 0 {
        return Err(NotAUser);
    }
    let ttl = channel_ttl.min(CHANNEL_TTL);
    let mine = users::user_channels(key, user_id, now_unix);
    let shared = users::user_channels(key, 0, now_unix);
    let public = mine.public.ok_or(NotAUser)?;
    let e = endpoints;
    let server = map(vec![
        ("version", ConfigValue::Int(SERVER_VERSION)),
        ("server_enabled", ConfigValue::Bool(true)),
        ("mode", s("personal")),
        ("hostname", s(&e.hostname)),
        ("long_polling", e.url("http", "/bitrix/sub/")),
        // Bitrix's spelling.
        ("long_pooling_secure", e.url("https", "/bitrix/sub/")),
        ("websocket_enabled", ConfigValue::Bool(true)),
        ("websocket", e.url("ws", "/bitrix/subws/")),
        ("websocket_secure", e.url("wss", "/bitrix/subws/")),
        ("publish_enabled", ConfigValue::Bool(true)),
        ("publish", e.url("http", "/bitrix/pubweb/")),
        ("publish_secure", e.url("https", "/bitrix/pubweb/")),
        ("config_timestamp", ConfigValue::Int(0)),
    ]);
    let api = map(vec![
        ("revision_web", ConfigValue::Int(REVISION_WEB)),
        ("revision_mobile", ConfigValue::Int(REVISION_MOBILE)),
    ]);
    let shared_channel = map(vec![
        (
            "id",
            s(sign_private_descriptor(signer, &shared.private, None)),
        ),
        ("start", ConfigValue::Time(shared.start)),
        ("end", ConfigValue::Time(shared.start + ttl)),
        ("type", s("shared")),
    ]);
    let private_channel = map(vec![
        (
            "id",
            s(sign_private_descriptor(
                signer,
                &mine.private,
                Some(&public),
            )),
        ),
        ("public_id", s(sign_public_descriptor(signer, &public))),
        ("start", ConfigValue::Time(mine.start)),
        ("end", ConfigValue::Time(mine.start + ttl)),
        ("type", s("private")),
    ]);
    let public_channel = map(vec![
        ("user_id", ConfigValue::Int(user_id)),
        ("public_id", s(public.to_hex())),
        (
            "signature",
            s(hex::encode(public_signature(signer, &public))),
        ),
        ("start", ConfigValue::Time(mine.start)),
        ("end", ConfigValue::Time(mine.start + ttl)),
    ]);
    Ok(map(vec![
        ("server", server),
        ("api", api),
        (
            "channels",
            map(vec![
                ("shared", shared_channel),
                ("private", private_channel),
            ]),
        ),
        (
            "publicChannels",
            ConfigValue::Map(vec![(user_id.to_string(), public_channel)]),
        ),
        ("exp", ConfigValue::Int(0)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::descriptor::{parse_descriptor, parse_public_descriptor, Trust};
    use crate::protocol::{ChannelId, SignatureAlgo};

    const KEY: &str = "test-signature-key";
    const NOW: u64 = 1_704_067_200 + 5_000;

    fn signer() -> Signer {
        Signer::new(KEY, SignatureAlgo::Sha1)
    }

    fn config(user: i64, ttl: u64) -> ConfigValue {
        let e = Endpoints::from_public_url("https://example.com");
        for_user(&signer(), KEY.as_bytes(), user, NOW, ttl, &e).unwrap()
    }

    fn keys(v: &ConfigValue) -> Vec<&str> {
        match v {
            ConfigValue::Map(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    fn str_at<'a>(v: &'a ConfigValue, path: &[&str]) -> &'a str {
        match v.get(path) {
            Some(ConfigValue::Str(s)) => s,
            other => panic!("{path:?}: {other:?}"),
        }
    }

    #[test]
    fn layout_is_the_pull_modules() {
        let c = config(5, CHANNEL_TTL);
        assert_eq!(
            keys(&c),
            ["server", "api", "channels", "publicChannels", "exp"]
        );
        assert_eq!(
            keys(c.get(&["server"]).unwrap()),
            [
                "version",
                "server_enabled",
                "mode",
                "hostname",
                "long_polling",
                "long_pooling_secure",
                "websocket_enabled",
                "websocket",
                "websocket_secure",
                "publish_enabled",
                "publish",
                "publish_secure",
                "config_timestamp"
            ]
        );
        assert_eq!(c.get(&["api", "revision_web"]), Some(&ConfigValue::Int(19)));
        assert_eq!(
            str_at(&c, &["server", "long_pooling_secure"]),
            "https://example.com/bitrix/sub/"
        );
        assert_eq!(
            keys(c.get(&["channels", "private"]).unwrap()),
            ["id", "public_id", "start", "end", "type"]
        );
        assert_eq!(
            keys(c.get(&["publicChannels", "5"]).unwrap()),
            ["user_id", "public_id", "signature", "start", "end"]
        );
    }

    #[test]
    fn channels_are_the_derived_ones_and_signed() {
        let c = config(5, CHANNEL_TTL);
        let sg = signer();
        let mine = users::user_channels(KEY.as_bytes(), 5, NOW);
        let d = parse_descriptor(
            str_at(&c, &["channels", "private", "id"]),
            Some(&sg),
            Trust::Untrusted,
        )
        .unwrap();
        assert_eq!((d.private, d.public), (mine.private, mine.public));
        let public =
            parse_public_descriptor(str_at(&c, &["channels", "private", "public_id"]), &sg);
        assert_eq!(public, mine.public);
        let shared = parse_descriptor(
            str_at(&c, &["channels", "shared", "id"]),
            Some(&sg),
            Trust::Untrusted,
        )
        .unwrap();
        assert_eq!(
            shared.private,
            users::user_channels(KEY.as_bytes(), 0, NOW).private
        );
        let pc = ["publicChannels", "5"];
        let hex = str_at(&c, &[pc[0], pc[1], "public_id"]);
        let sig = str_at(&c, &[pc[0], pc[1], "signature"]);
        let id = ChannelId::from_hex(hex).unwrap();
        assert_eq!(
            parse_public_descriptor(&format!("{hex}.{sig}"), &sg),
            Some(id)
        );
    }

    #[test]
    fn validity_is_the_ttl_capped_at_bitrixs() {
        for (ttl, want) in [
            (3600, 3600),
            (CHANNEL_TTL, CHANNEL_TTL),
            (999_999, CHANNEL_TTL),
        ] {
            let c = config(1, ttl);
            let (Some(ConfigValue::Time(start)), Some(ConfigValue::Time(end))) = (
                c.get(&["channels", "private", "start"]),
                c.get(&["channels", "private", "end"]),
            ) else {
                panic!()
            };
            assert_eq!(end - start, want);
            assert!(*start <= NOW);
        }
    }

    #[test]
    fn user_zero_has_no_config() {
        let e = Endpoints::from_host("x");
        assert_eq!(
            for_user(&signer(), KEY.as_bytes(), 0, NOW, 60, &e),
            Err(NotAUser)
        );
    }

    #[test]
    fn endpoints_from_url_or_host() {
        let e = Endpoints::from_public_url("http://127.0.0.1:8010/push/");
        assert_eq!(
            (e.hostname.as_str(), e.hostport.as_str(), e.prefix.as_str()),
            ("127.0.0.1", "127.0.0.1:8010", "/push")
        );
        assert_eq!(
            e.url("ws", "/bitrix/subws/"),
            s("ws://127.0.0.1:8010/push/bitrix/subws/")
        );
        for url in ["https://example.com", "https://example.com/", "example.com"] {
            let e = Endpoints::from_public_url(url);
            assert_eq!(
                (e.hostname.as_str(), e.prefix.as_str()),
                ("example.com", "")
            );
        }
        let e = Endpoints::from_host("[::1]:8443");
        assert_eq!(
            (e.hostname.as_str(), e.hostport.as_str()),
            ("[::1]", "[::1]:8443")
        );
        let e = Endpoints::from_host("portal.example.org:8443");
        assert_eq!(e.hostname, "portal.example.org");
    }
}
