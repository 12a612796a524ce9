//! Message bodies: raw strings, arrays encoded by PHP's own `json_encode`, and pull
//! messages prepared exactly as Bitrix's `\Bitrix\Pull\Event::prepareParameters` does.

use bytes::Bytes;
use ext_php_rs::types::{ArrayKey, ZendHashTable, Zval};

use bxcore::client_config::{REVISION_MOBILE, REVISION_WEB};
use bxcore::protocol::pull_batch;

use crate::php::{self, describe};
use crate::settings::Settings;

/// The server's default `max_payload`: a bigger body would be refused by the server.
pub const MAX_BODY: usize = 1 << 20;
/// Bitrix's default message expiry.
pub const DEFAULT_EXPIRY: u32 = 86_400;

fn check_body_size(len: usize) -> Result<(), String> {
    if len > MAX_BODY {
        return Err(format!(
            "message body is {len} bytes, over the 1 MiB limit ({MAX_BODY} bytes) of the push server"
        ));
    }
    Ok(())
}

fn check_body(b: Vec<u8>) -> Result<Bytes, String> {
    check_body_size(b.len())?;
    if std::str::from_utf8(&b).is_err() {
        return Err("invalid UTF-8 in the message body: clients parse it as JSON text".into());
    }
    Ok(Bytes::from(b))
}

/// `<module>_<command>` with every non-word character removed (the protobuf `type`, the
/// statistics label): the pull module's rule, written once in the core.
pub fn kind(module: &str, command: &str) -> String {
    pull_batch::label(module.as_bytes(), command.as_bytes())
}

/// A message given to `BxPush\publish`: a string is the body as is; an array is
/// `json_encode($m, JSON_UNESCAPED_UNICODE)`. Returns the body and, for an array with
/// `module_id` and `command`, the default type.
pub fn raw_body(z: &Zval) -> Result<(Bytes, String), String> {
    let z = z.dereference();
    if let Some(s) = z.zend_str() {
        return Ok((check_body(s.as_bytes().to_vec())?, String::new()));
    }
    if let Some(arr) = z.array() {
        // One copy, straight out of PHP's buffer. json_encode's output is valid UTF-8 by
        // construction (invalid input fails the encode), so only the size is checked here.
        let body = php::json_encode_with(z, php::JSON_UNESCAPED_UNICODE, |json| {
            check_body_size(json.len()).map(|()| Bytes::copy_from_slice(json))
        })??;
        let field = |name: &str| {
            arr.get(name)
                .and_then(|v| v.dereference().zend_str().map(|s| s.as_bytes()))
        };
        let k = match (field("module_id"), field("command")) {
            (Some(m), Some(c)) => pull_batch::label(m, c),
            _ => String::new(),
        };
        return Ok((body, k));
    }
    Err(format!(
        "message must be an array or a string, got {}",
        describe(z)
    ))
}

/// A prepared pull message.
pub struct Prepared {
    pub body: Bytes,
    pub expiry: u32,
    pub kind: String,
    /// Identical messages (ignoring `extra.server_time*`) share this key and are merged.
    pub merge_key: String,
    /// `skip_users` of the parameters (for `CPullWatch::AddToStack`).
    pub skip_users: Vec<i64>,
}

fn copy_array(src: &ZendHashTable, skip: &[&str]) -> Zval {
    let mut out = Zval::new_array();
    let dst = out.array_mut().expect("new array");
    for (k, v) in src.iter() {
        let v = v.dereference().shallow_clone();
        let _ = match k {
            ArrayKey::Long(i) => dst.insert_at_index(i, v),
            ArrayKey::String(s) => {
                if skip.contains(&s.as_str()) {
                    continue;
                }
                dst.insert(s.as_str(), v)
            }
            ArrayKey::Str(s) => {
                if skip.contains(&s) {
                    continue;
                }
                dst.insert(s, v)
            }
            ArrayKey::ZendString(zs) => {
                let s = zs.as_str().unwrap_or("").to_string();
                if skip.contains(&s.as_str()) {
                    continue;
                }
                dst.insert(s.as_str(), v)
            }
        };
    }
    out
}

fn nonempty_str(params: &ZendHashTable, key: &str) -> Option<String> {
    let v = params.get(key)?.dereference();
    let s = if let Some(s) = v.str() {
        s.to_string()
    } else if v.is_long() || v.is_double() {
        v.coerce_to_string()?
    } else {
        return None;
    };
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// The server name put in `extra.server_name`: `bxpush.server_name`, else
/// `$_SERVER['SERVER_NAME']`, else `$_SERVER['HTTP_HOST']`, else "".
pub fn server_name(s: &Settings) -> String {
    if !s.server_name.is_empty() {
        return s.server_name.clone();
    }
    php::server_var("SERVER_NAME")
        .or_else(|| php::server_var("HTTP_HOST"))
        .unwrap_or_default()
}

/// Bitrix's `prepareParameters` + the body of the text/protobuf transports:
/// `{"module_id": lower(module_id), "command", "params", "extra": {…, server_time,
/// server_time_unix, server_name, revision_web, revision_mobile}}`.
pub fn prepare(params: &ZendHashTable, s: &Settings) -> Result<Prepared, String> {
    let module =
        nonempty_str(params, "module_id").ok_or("module_id is required (non-empty string)")?;
    let module = module.to_lowercase();
    let Some(command) = nonempty_str(params, "command") else {
        if params.get("push").is_some() || params.get("pushParamsCallback").is_some() {
            return Err("mobile push messages (only `push`, no `command`) are not delivered by bxpush: it carries pull messages only".into());
        }
        return Err("command is required (non-empty string)".into());
    };
    let expiry = match params.get("expiry") {
        None => DEFAULT_EXPIRY,
        Some(v) => {
            let v = v.dereference();
            if v.is_null() {
                DEFAULT_EXPIRY
            } else {
                let n = if let Some(l) = v.long() {
                    Some(l)
                } else if let Some(s) = v.str() {
                    s.trim().parse::<i64>().ok()
                } else {
                    v.double().filter(|d| d.is_finite()).map(|d| d as i64)
                };
                let n =
                    n.ok_or_else(|| format!("expiry must be an integer, got {}", describe(v)))?;
                n.clamp(0, u32::MAX as i64) as u32
            }
        }
    };

    let mut msg = Zval::new_array();
    let arr = msg.array_mut().expect("new array");
    arr.insert("module_id", module.as_str())
        .map_err(|e| e.to_string())?;
    arr.insert("command", command.as_str())
        .map_err(|e| e.to_string())?;
    let p = match params.get("params") {
        Some(v) if !v.dereference().is_null() => v.dereference().shallow_clone(),
        _ => Zval::new_array(),
    };
    arr.insert("params", p).map_err(|e| e.to_string())?;

    // extra: the caller's keys first (server_time* kept if given), then ours.
    let mut extra = match params.get("extra").map(|v| v.dereference()) {
        Some(v) if v.is_array() => copy_array(v.array().expect("array"), &[]),
        _ => Zval::new_array(),
    };
    let ex = extra.array_mut().expect("array");
    if ex.get("server_time").is_none() {
        ex.insert("server_time", php::date_c())
            .map_err(|e| e.to_string())?;
    }
    if ex.get("server_time_unix").is_none() {
        ex.insert("server_time_unix", php::microtime())
            .map_err(|e| e.to_string())?;
    }
    ex.insert("server_name", server_name(s).as_str())
        .map_err(|e| e.to_string())?;
    ex.insert("revision_web", REVISION_WEB)
        .map_err(|e| e.to_string())?;
    ex.insert("revision_mobile", REVISION_MOBILE)
        .map_err(|e| e.to_string())?;
    let key_extra = copy_array(ex, &["server_time", "server_time_unix"]);
    arr.insert("extra", extra).map_err(|e| e.to_string())?;
    let params_copy = arr
        .get("params")
        .map(|v| v.shallow_clone())
        .unwrap_or_else(Zval::new_array);

    let body = check_body(php::json_encode(&msg, php::JSON_UNESCAPED_UNICODE)?)?;

    let merge_key = match nonempty_str(params, "groupId") {
        Some(g) => format!("group:{g}"),
        None => {
            let mut key = Zval::new_array();
            let k = key.array_mut().expect("array");
            k.insert("m", module.as_str()).map_err(|e| e.to_string())?;
            k.insert("c", command.as_str()).map_err(|e| e.to_string())?;
            k.insert("p", params_copy).map_err(|e| e.to_string())?;
            k.insert("x", key_extra).map_err(|e| e.to_string())?;
            k.insert("e", expiry as i64).map_err(|e| e.to_string())?;
            let enc = php::json_encode(&key, php::JSON_UNESCAPED_UNICODE)?;
            format!("msg:{}", String::from_utf8_lossy(&enc))
        }
    };

    let mut skip_users = Vec::new();
    if let Some(v) = params.get("skip_users") {
        let v = v.dereference();
        if let Some(a) = v.array() {
            for (_, u) in a.iter() {
                skip_users
                    .push(crate::channels::user_id(u).map_err(|e| format!("skip_users: {e}"))?);
            }
        } else if !v.is_null() {
            skip_users.push(crate::channels::user_id(v).map_err(|e| format!("skip_users: {e}"))?);
        }
    }

    Ok(Prepared {
        body,
        expiry,
        kind: kind(&module, &command),
        merge_key,
        skip_users,
    })
}
