//! `BxPush\Config`: the client config of the stock Bitrix JS client, as Bitrix's
//! `\Bitrix\Pull\Config::get(['JSON' => true])` returns it. The config itself is the
//! core's ([`bxcore::client_config`]); this file picks its inputs from the ini settings and
//! the request, and renders it as a PHP array.

use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;

use bxcore::client_config::{self, ConfigValue, Endpoints};
use bxcore::hub::now_unix;

use crate::php::{self, exc, zbool, zlong, zstr};
use crate::settings::{self, Settings};

/// From `bxpush.public_url`, else the request's host (`HTTP_HOST`, `SERVER_NAME`,
/// `bxpush.server_name`, `localhost`).
fn endpoints(s: &Settings) -> Endpoints {
    if !s.public_url.is_empty() {
        return Endpoints::from_public_url(&s.public_url);
    }
    let host = php::server_var("HTTP_HOST")
        .or_else(|| php::server_var("SERVER_NAME"))
        .or_else(|| Some(s.server_name.clone()).filter(|x| !x.is_empty()))
        .unwrap_or_else(|| "localhost".into());
    Endpoints::from_host(&host)
}

/// The tree as PHP values; times through PHP's `date('c')` (the site's time zone).
fn to_zval(v: &ConfigValue) -> ext_php_rs::error::Result<Zval> {
    Ok(match v {
        ConfigValue::Int(i) => zlong(*i),
        ConfigValue::Bool(b) => zbool(*b),
        ConfigValue::Str(s) => zstr(s),
        ConfigValue::Time(t) => {
            php::call("date", vec![&"c", &(*t as i64)]).unwrap_or_else(|_| Zval::null())
        }
        ConfigValue::Map(entries) => {
            let mut z = Zval::new_array();
            let a = z.array_mut().expect("a new array");
            for (k, v) in entries {
                a.insert(k.as_str(), to_zval(v)?)?;
            }
            z
        }
    })
}

/// The client config of Bitrix's `\Bitrix\Pull\Config::get(['JSON' => true])`.
#[php_class]
#[php(name = "BxPush\\Config")]
pub struct Config;

#[php_impl]
impl Config {
    /// The JSON config (server version 4, personal mode) for user `$userId`, ready for
    /// the stock Bitrix JS client (`BX.PullClient`): signed private and shared channels
    /// derived from `bxpush.signature_key`, `publicChannels`, URLs from
    /// `bxpush.public_url` or the request's host.
    pub fn for_user(user_id: i64) -> PhpResult<String> {
        let z = Self::to_array(user_id)?;
        let json = php::json_encode(&z, php::JSON_BITRIX_DEFAULT)
            .map_err(|e| exc(format!("BxPush\\Config::forUser(): {e}")))?;
        String::from_utf8(json).map_err(|_| exc("BxPush\\Config::forUser(): invalid UTF-8"))
    }

    /// The same config as a PHP array.
    pub fn to_array(user_id: i64) -> PhpResult<Zval> {
        let f = "BxPush\\Config::forUser()";
        if user_id == 0 {
            return Err(exc(format!(
                "{f}: user id 0 is not a user (the shared channel is part of every user's config)"
            )));
        }
        let s = settings::get();
        let sg = s.signer().ok_or_else(|| {
            exc(format!(
                "{f}: bxpush.signature_key is empty: the config's channels must be signed"
            ))
        })?;
        let key = s.signature_key.as_bytes();
        let ttl = u64::from(s.channel_ttl);
        let config = client_config::for_user(&sg, key, user_id, now_unix(), ttl, &endpoints(&s))
            .map_err(|_| exc(format!("{f}: no public channel for user {user_id}")))?;
        to_zval(&config).map_err(|e| exc(format!("{f}: {e}")))
    }
}
