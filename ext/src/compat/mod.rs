//! Bitrix-compatible senders: `BxPush\Compat\{Push, Event, CPullWatch, CPullStack}`,
//! aliased as `\Bitrix\Pull\Push`, `\Bitrix\Pull\Event`, `\CPullWatch`, `\CPullStack` by
//! an autoloader when `bxpush.bitrix_compat` is on and the names are free ([`aliases`]).
//!
//! Like the pull module, `Event::add` and the wrappers queue messages in this request's
//! queue ([`crate::request_queue`]: identical messages to many users are merged into one
//! message with many receivers); the queue is sent at `Event::send()` /
//! `CPullStack::Send()`, or when the request ends. Where Bitrix returns `false` and keeps
//! the reason for `Event::getLastError()`, so do these classes; the instance API of `Push`
//! (no Bitrix counterpart) throws `BxPush\Exception`.
//!
//! This file holds what the classes share: the last error, the channel resolver, and
//! recipients (user ids, channels) resolved to channels.

pub mod aliases;
pub mod event;
pub mod push;
pub mod stack;
pub mod watch;

use std::cell::RefCell;

use ext_php_rs::types::{ZendCallable, ZendHashTable, Zval};

use bxcore::protocol::ChannelKey;

use crate::channels::{self, parse_channel, user_id};
use crate::message::{self, Prepared};
use crate::php::{self, describe};
use crate::{request_queue, settings};

pub use event::Event;
pub use push::Push;
pub use stack::CPullStack;
pub use watch::CPullWatch;

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
    static RESOLVER: RefCell<Option<Zval>> = const { RefCell::new(None) };
}

fn set_last_error(e: &str) {
    LAST_ERROR.with(|l| *l.borrow_mut() = Some(e.to_string()));
}

/// Bitrix's contract: `false` and the reason in `getLastError()`. An exception thrown by
/// a PHP callback (the channel resolver) stays pending and propagates.
fn bool_result(r: Result<(), String>) -> bool {
    match r {
        Ok(()) => true,
        Err(e) => {
            set_last_error(&e);
            false
        }
    }
}

/// RSHUTDOWN: send what is still queued, forget per-request state.
pub fn request_end() {
    request_queue::request_end();
    LAST_ERROR.with(|l| l.borrow_mut().take());
    let r = RESOLVER.with(|r| r.borrow_mut().take());
    drop(r);
}

/// The channels of one user for a channel type: the PHP resolver if set, else the derived
/// channels (`private`: the user's; `shared`: the portal-wide one).
fn user_channels(uid: i64, channel_type: &str) -> Result<Vec<ChannelKey>, String> {
    let s = settings::get();
    let resolver = RESOLVER.with(|r| r.borrow().as_ref().map(|z| z.shallow_clone()));
    if let Some(f) = resolver {
        let call = ZendCallable::new(&f)
            .map_err(|_| "the channel resolver is not callable".to_string())?;
        let ret = call
            .try_call(vec![&uid, &channel_type])
            .map_err(|e| format!("the channel resolver failed for user {uid}: {e}"))?;
        if php::exception_pending() {
            return Err(format!("the channel resolver threw for user {uid}"));
        }
        let ret = ret.dereference();
        if ret.is_null() {
            return Ok(Vec::new());
        }
        if ret.is_string() || ret.is_array() {
            if ret.array().is_some_and(|a| a.is_empty()) {
                return Ok(Vec::new());
            }
            let signer = s.signer();
            return channels::parse_channel_arg(ret, signer.as_ref())
                .map(|v| v.into_iter().map(|(_, k)| k).collect())
                .map_err(|e| {
                    format!("the channel resolver returned a bad value for user {uid}: {e}")
                });
        }
        return Err(format!(
            "the channel resolver must return a channel id, an array of them or null, got {} for user {uid}",
            describe(ret)
        ));
    }
    let uid = match channel_type {
        "private" => uid,
        "shared" => 0,
        other => {
            return Err(format!(
                "channel type \"{other}\" has no derived channels (only private and shared): set Event::setChannelResolver()"
            ))
        }
    };
    channels::user_delivery(&s.signature_key, uid)
}

enum Recipient {
    User(i64),
    Channel(ChannelKey),
}

fn recipient(z: &Zval, out: &mut Vec<Recipient>) -> Result<(), String> {
    let z = z.dereference();
    if let Some(a) = z.array() {
        for (_, v) in a.iter() {
            let v = v.dereference();
            if v.is_array() {
                return Err("recipients: nested arrays are not accepted".into());
            }
            recipient(v, out)?;
        }
        return Ok(());
    }
    if let Some(s) = z.str() {
        if s.len() >= 32 && !s.bytes().all(|c| c.is_ascii_digit() || c == b'-') {
            let signer = settings::get().signer();
            out.push(Recipient::Channel(parse_channel(s, signer.as_ref())?));
            return Ok(());
        }
    }
    out.push(Recipient::User(user_id(z)?));
    Ok(())
}

fn recipients(z: &Zval) -> Result<Vec<Recipient>, String> {
    let mut out = Vec::new();
    recipient(z, &mut out)?;
    if out.is_empty() {
        return Err("no recipients given".into());
    }
    Ok(out)
}

/// The channels of `rs`, in order. A channel named twice (a user given twice, a user and
/// their channel) stays twice: the hub's publishing gate keeps one.
fn resolve(rs: &[Recipient], channel_type: &str) -> Result<Vec<ChannelKey>, String> {
    let mut keys: Vec<ChannelKey> = Vec::new();
    for r in rs {
        match r {
            Recipient::Channel(k) => keys.push(*k),
            Recipient::User(u) => keys.extend(user_channels(*u, channel_type)?),
        }
    }
    Ok(keys)
}

/// Queue a prepared message to `receivers` (merged into an identical queued one).
fn queue_publish(p: Prepared, receivers: Vec<ChannelKey>) {
    request_queue::with(|q| q.push_publish(p.merge_key, receivers, p.body, p.expiry, p.kind));
}

/// `Event::add` without the bool/lastError wrapping.
fn event_add(
    recipients_z: &Zval,
    params: &ZendHashTable,
    channel_type: &str,
) -> Result<(), String> {
    let p = message::prepare(params, &settings::get())?;
    let rs = recipients(recipients_z)?;
    let keys = resolve(&rs, channel_type)?;
    if keys.is_empty() {
        // Every user was skipped by the resolver (it returned null): as Bitrix does for
        // inactive users, nothing to send.
        return Ok(());
    }
    queue_publish(p, keys);
    Ok(())
}

fn tags_of(z: &Zval) -> Result<Vec<String>, String> {
    let z = z.dereference();
    let mut tags = Vec::new();
    let mut one = |v: &Zval| -> Result<(), String> {
        let v = v.dereference();
        let t = if v.is_long() {
            v.coerce_to_string().unwrap_or_default()
        } else {
            v.str()
                .map(str::to_string)
                .ok_or_else(|| format!("a tag must be a string, got {}", describe(v)))?
        };
        if t.is_empty() {
            return Err("empty tag".into());
        }
        if t.len() > 255 {
            return Err(format!("tag is {} bytes, over 255", t.len()));
        }
        if !tags.contains(&t) {
            tags.push(t);
        }
        Ok(())
    };
    if let Some(a) = z.array() {
        for (_, v) in a.iter() {
            one(v)?;
        }
    } else {
        one(z)?;
    }
    if tags.is_empty() {
        return Err("no tag given".into());
    }
    Ok(tags)
}
