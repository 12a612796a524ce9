//! The pull module's prepared queue, taken as it is: `BxPush\send_pull_messages()` (what
//! the Bitrix module's transport shim calls instead of POSTing) and
//! `BxPush\encode_pull_batches()` (the exact bodies the stock transport would POST, for a
//! path that must stay HTTP).
//!
//! The contract is `\Bitrix\Pull\ProtobufTransport::sendMessages()`
//! (`shared/spec/pull-transport-vectors.md` §3): select the entries that have channels,
//! `module_id` and `command`; body = PHP's `json_encode` of exactly `module_id`, `command`,
//! `params` (falsy → `[]`) and `extra` (not an array → `[]`) with every
//! `\Bitrix\Main\Type\DateTime` replaced by `date('c', ts)`; label = `module_id_command`
//! filtered; expiry as given. PHP's own encoder is called (not a Rust one) so the bytes
//! are the pull module's, floats and escapes included; the walk, the packing and the
//! hand-off are Rust.

use bytes::Bytes;
use ext_php_rs::binary::Binary;
use ext_php_rs::class::RegisteredClass;
use ext_php_rs::exception::PhpException;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ArrayKey, ZendHashTable, Zval};
use ext_php_rs::zend::ClassEntry;

use bxcore::handoff::Item;
use bxcore::protocol::pull_batch::{self, PullEntry, PullLimits};
use bxcore::protocol::{ChannelId, ChannelKey};

use crate::message::MAX_BODY;
use crate::php::{self, describe};
use crate::{dispatch, BxPushException};

/// `BxPush\Exception` codes the shim maps to the exceptions the stock transport throws.
const CODE_JSON: i32 = 1;
const CODE_NEGATIVE_EXPIRY: i32 = 2;

/// json_encode's own depth limit; deeper values fail there anyway, and the DateTime walk
/// must not follow a self-referencing array forever.
const MAX_DEPTH: usize = 512;

/// Expiry of an entry without one (direct callers only: the queue always sets it).
const DEFAULT_EXPIRY: i64 = 86_400;

fn exc_code(msg: String, code: i32) -> PhpException {
    PhpException::new(msg, code, BxPushException::get_metadata().ce())
}

/// An entry selected from the queue: its key (for messages), and what goes on the wire.
struct Selected {
    key: String,
    entry: PullEntry,
}

fn key_text(k: &ArrayKey) -> String {
    match k {
        ArrayKey::Long(i) => i.to_string(),
        ArrayKey::String(s) => s.clone(),
        ArrayKey::Str(s) => s.to_string(),
        ArrayKey::ZendString(z) => z.as_str().unwrap_or("?").to_string(),
    }
}

/// A short form of a (possibly very long, serialized) queue key for error messages.
fn short(key: &str) -> String {
    if key.len() <= 60 {
        return key.to_string();
    }
    let mut end = 60;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &key[..end])
}

/// PHP truthiness, for `params` (`[]`, null, "", "0", 0, 0.0 and false are falsy).
fn is_falsy(z: &Zval) -> bool {
    if z.is_null() {
        return true;
    }
    if let Some(b) = z.bool() {
        return !b;
    }
    if let Some(l) = z.long() {
        return l == 0;
    }
    if let Some(d) = z.double() {
        return d == 0.0;
    }
    if let Some(s) = z.zend_str() {
        let b = s.as_bytes();
        return b.is_empty() || b == b"0";
    }
    if let Some(a) = z.array() {
        return a.is_empty();
    }
    false
}

/// PHP's string conversion (for the label): strings as they are, the rest through `strval`.
fn php_string(z: &Zval) -> Vec<u8> {
    if let Some(s) = z.zend_str() {
        return s.as_bytes().to_vec();
    }
    if let Some(l) = z.long() {
        return l.to_string().into_bytes();
    }
    php::call("strval", vec![z])
        .ok()
        .and_then(|r| r.zend_str().map(|s| s.as_bytes().to_vec()))
        .unwrap_or_default()
}

/// `$value` with every instance of `datetime` replaced by `date('c', $it->getTimestamp())`;
/// `None` when nothing changed (the common case: no copy at all).
fn replace_datetimes(
    z: &Zval,
    datetime: &ClassEntry,
    depth: usize,
) -> Result<Option<Zval>, String> {
    let z = z.dereference();
    if let Some(obj) = z.object() {
        if !obj.instance_of(datetime) {
            return Ok(None);
        }
        let ts = obj
            .try_call_method("getTimestamp", vec![])
            .map_err(|e| format!("Bitrix\\Main\\Type\\DateTime::getTimestamp() failed: {e}"))?;
        return php::call("date", vec![&"c", &ts]).map(Some);
    }
    let Some(arr) = z.array() else {
        return Ok(None);
    };
    if depth >= MAX_DEPTH {
        return Ok(None);
    }
    let mut replaced: Vec<(usize, Zval)> = Vec::new();
    for (i, (_, v)) in arr.iter().enumerate() {
        if let Some(r) = replace_datetimes(v, datetime, depth + 1)? {
            replaced.push((i, r));
        }
    }
    if replaced.is_empty() {
        return Ok(None);
    }
    let mut out = Zval::new_array();
    let dst = out.array_mut().expect("new array");
    let mut next = replaced.into_iter().peekable();
    for (i, (k, v)) in arr.iter().enumerate() {
        let v = match next.peek() {
            Some((at, _)) if *at == i => next.next().expect("peeked").1,
            _ => v.dereference().shallow_clone(),
        };
        let r = match k {
            ArrayKey::Long(n) => dst.insert_at_index(n, v),
            ArrayKey::String(s) => dst.insert(s.as_str(), v),
            ArrayKey::Str(s) => dst.insert(s, v),
            ArrayKey::ZendString(zs) => dst.insert(zs.as_str().unwrap_or(""), v),
        };
        r.map_err(|e| format!("cannot copy the message parameters: {e}"))?;
    }
    Ok(Some(out))
}

/// `v`, with DateTimes replaced when the class exists at all.
fn prepared(v: &Zval, datetime: Option<&ClassEntry>) -> Result<Zval, String> {
    if let Some(ce) = datetime {
        if let Some(r) = replace_datetimes(v, ce, 0)? {
            return Ok(r);
        }
    }
    Ok(v.dereference().shallow_clone())
}

/// The body: `json_encode(['module_id'=>…, 'command'=>…, 'params'=>…, 'extra'=>…],
/// JSON_UNESCAPED_UNICODE)`. A value JSON cannot hold is code 1 with the message the
/// stock transport's exception carries.
fn body(event: &ZendHashTable, datetime: Option<&ClassEntry>) -> PhpResult<Vec<u8>> {
    let field = |k: &str| event.get(k).map(|v| v.dereference());
    let mut data = Zval::new_array();
    let a = data.array_mut().expect("new array");
    let fail = |e: String| PhpException::from_class::<BxPushException>(e);
    for k in ["module_id", "command"] {
        let v = prepared(field(k).expect("selected entries have it"), datetime).map_err(fail)?;
        a.insert(k, v).map_err(|e| fail(e.to_string()))?;
    }
    let params = match field("params") {
        Some(p) if !is_falsy(p) => prepared(p, datetime).map_err(fail)?,
        _ => Zval::new_array(),
    };
    a.insert("params", params)
        .map_err(|e| fail(e.to_string()))?;
    let extra = match field("extra") {
        Some(x) if x.is_array() => prepared(x, datetime).map_err(fail)?,
        _ => Zval::new_array(),
    };
    a.insert("extra", extra).map_err(|e| fail(e.to_string()))?;

    let r = php::call("json_encode", vec![&data, &php::JSON_UNESCAPED_UNICODE])
        .map_err(|e| exc_code(e, 0))?;
    if let Some(s) = r.zend_str() {
        return Ok(s.as_bytes().to_vec());
    }
    let msg = php::call("json_last_error_msg", vec![])
        .ok()
        .and_then(|z| z.string())
        .unwrap_or_default();
    let code = php::call("json_last_error", vec![])
        .ok()
        .and_then(|z| z.long())
        .unwrap_or(0);
    Err(exc_code(format!("JSON error: {msg} [{code}]"), CODE_JSON))
}

/// A channel as the queue holds it: 32 hex characters (`hex2bin` takes either case).
fn channel(z: &Zval) -> Option<ChannelId> {
    let s = z.dereference().str()?;
    if s.len() != 32 {
        return None;
    }
    ChannelId::from_hex(&s.to_ascii_lowercase())
}

/// Steps 1–3 of the contract for every entry, before anything is handed over.
fn select(messages: &ZendHashTable, f: &str) -> PhpResult<Vec<Selected>> {
    let datetime = php::class_declared("Bitrix\\Main\\Type\\DateTime")
        .then(|| ClassEntry::try_find("Bitrix\\Main\\Type\\DateTime"))
        .flatten();
    let mut out = Vec::with_capacity(messages.len());
    for (k, entry) in messages.iter() {
        let Some(entry) = entry.dereference().array() else {
            continue;
        };
        let Some(chans) = entry.get("channels").and_then(|c| c.dereference().array()) else {
            continue;
        };
        if chans.is_empty() {
            continue;
        }
        let Some(event) = entry.get("event").and_then(|e| e.dereference().array()) else {
            continue;
        };
        let present = |n: &str| event.get(n).is_some_and(|v| !v.dereference().is_null());
        if !present("module_id") || !present("command") {
            continue;
        }
        let key = key_text(&k);
        let mut channels = Vec::with_capacity(chans.len());
        for (i, (_, c)) in chans.iter().enumerate() {
            channels.push(channel(c).ok_or_else(|| {
                PhpException::from_class::<BxPushException>(format!(
                    "{f}: entry \"{}\": channels[{i}] is {}, not a channel id (32 hex digits)",
                    short(&key),
                    describe(c)
                ))
            })?);
        }
        let body = body(event, datetime)?;
        let label = pull_batch::label(
            &php_string(event.get("module_id").expect("present").dereference()),
            &php_string(event.get("command").expect("present").dereference()),
        );
        let expiry = match event.get("expiry") {
            Some(e) => e.dereference().coerce_to_long().unwrap_or(0),
            None => DEFAULT_EXPIRY,
        };
        out.push(Selected {
            key,
            entry: PullEntry {
                channels,
                body,
                expiry,
                label,
            },
        });
    }
    // The stock encoder writes a negative varint only with gmp or bcmath; without either
    // its serializer throws after every body was encoded (vectors case i2).
    if out.iter().any(|s| s.entry.expiry < 0)
        && !php::function_exists("gmp_init")
        && !php::function_exists("bcadd")
    {
        return Err(exc_code(
            "Negative integers are only supported with GMP or BC (64bit) intextensions.".into(),
            CODE_NEGATIVE_EXPIRY,
        ));
    }
    Ok(out)
}

/// Hand the pull module's prepared queue (`ProtobufTransport::sendMessages`'s `$messages`)
/// to bxpush: each selected entry is one message to all its channels, through the owner
/// (spooled while it is down, exactly once). Returns `messages` (handed over),
/// `receivers` (channels in all) and `refused` (`[entry key => reason]`: bodies over the
/// 1 MiB payload limit, which no push server accepts). Throws `BxPush\Exception` code 1
/// (JSON), 2 (negative expiry without gmp/bcmath) or 0, and then hands nothing over.
#[php_function]
#[php(name = "BxPush\\send_pull_messages")]
pub fn send_pull_messages(messages: &ZendHashTable) -> PhpResult<Vec<(&'static str, Zval)>> {
    let f = "BxPush\\send_pull_messages()";
    let selected = select(messages, f)?;
    let mut refused = Zval::new_array();
    let mut items = Vec::with_capacity(selected.len());
    let mut receivers = 0i64;
    for s in selected {
        if s.entry.body.len() > MAX_BODY {
            let why = format!(
                "message body is {} bytes, over the push server's 1 MiB payload limit",
                s.entry.body.len()
            );
            let _ = refused
                .array_mut()
                .expect("array")
                .insert(s.key.as_str(), why);
            continue;
        }
        receivers += s.entry.channels.len() as i64;
        items.push(Item::Publish {
            receivers: s
                .entry
                .channels
                .into_iter()
                .map(ChannelKey::private)
                .collect(),
            body: Bytes::from(s.entry.body),
            expiry: pull_batch::wire_expiry(s.entry.expiry),
            kind: s.entry.label,
        });
    }
    let total = items.len();
    for (n, item) in items.into_iter().enumerate() {
        dispatch::submit(item).map_err(|e| {
            PhpException::from_class::<BxPushException>(format!(
                "{f}: {e} ({n} of {total} messages were handed over before this one)"
            ))
        })?;
    }
    let long = |n: i64| {
        let mut z = Zval::new();
        z.set_long(n);
        z
    };
    Ok(vec![
        ("messages", long(total as i64)),
        ("receivers", long(receivers)),
        ("refused", refused),
    ])
}

fn limits(given: Option<&ZendHashTable>, f: &str) -> PhpResult<PullLimits> {
    let mut l = PullLimits::default();
    let Some(given) = given else { return Ok(l) };
    for (k, v) in given.iter() {
        let name = key_text(&k);
        let n = v
            .dereference()
            .coerce_to_long()
            .filter(|_| !v.dereference().is_array())
            .ok_or_else(|| {
                PhpException::from_class::<BxPushException>(format!(
                    "{f}: limit \"{name}\" must be an integer, got {}",
                    describe(v)
                ))
            })?;
        let positive = || {
            usize::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                PhpException::from_class::<BxPushException>(format!(
                    "{f}: limit \"{name}\" must be at least 1, got {n}"
                ))
            })
        };
        match name.as_str() {
            "max_channels_per_request" => l.channels_per_message = positive()?,
            "max_messages_per_request" => l.messages_per_request = positive()?,
            "max_payload" => l.max_payload = n,
            _ => {
                return Err(PhpException::from_class::<BxPushException>(format!(
                    "{f}: unknown limit \"{name}\"; accepted: max_channels_per_request, \
                     max_messages_per_request, max_payload (the pull module's limit_max_* options)"
                )))
            }
        }
    }
    Ok(l)
}

/// The `RequestBatch` bodies the pull module's own transport would POST for `$messages`,
/// byte for byte (its packing rule and limits: `max_channels_per_request`,
/// `max_messages_per_request`, `max_payload`). Same exceptions as `send_pull_messages`.
#[php_function]
#[php(name = "BxPush\\encode_pull_batches")]
pub fn encode_pull_batches(
    messages: &ZendHashTable,
    limits: Option<&ZendHashTable>,
) -> PhpResult<Vec<Binary<u8>>> {
    let f = "BxPush\\encode_pull_batches()";
    let l = self::limits(limits, f)?;
    let entries: Vec<PullEntry> = select(messages, f)?.into_iter().map(|s| s.entry).collect();
    Ok(pull_batch::batches(&entries, &l)
        .into_iter()
        .map(Binary::from)
        .collect())
}

pub fn functions() -> Vec<ext_php_rs::builders::FunctionBuilder<'static>> {
    vec![
        wrap_function!(send_pull_messages),
        wrap_function!(encode_pull_batches),
    ]
}
