//! Bitrix-compatible senders: `BxPush\Compat\{Push, Event, CPullWatch, CPullStack}`,
//! aliased as `\Bitrix\Pull\Push`, `\Bitrix\Pull\Event`, `\CPullWatch`, `\CPullStack` by
//! an autoloader when `bxpush.bitrix_compat` is on and the names are free.
//!
//! Like the pull module, `Event::add` and the wrappers queue messages (identical messages
//! to many users are merged into one message with many receivers); the queue is sent at
//! `Event::send()` / `CPullStack::Send()`, or when the request ends. Where Bitrix returns
//! `false` and keeps the reason for `Event::getLastError()`, so do these classes; the
//! instance API of `Push` (no Bitrix counterpart) throws `BxPush\Exception`.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendCallable, ZendClassObject, ZendHashTable, Zval};

use bxcore::handoff::{Item, Query, Reply};
use bxcore::protocol::ChannelKey;

use crate::channels::{self, parse_channel, user_id};
use crate::message::{self, Prepared};
use crate::php::{self, describe, exc};
use crate::{dispatch, settings};

/// Bitrix: a watch row is fresh for 1860 s and deleted after 32 min; the JS client
/// extends its tags every 29 min.
pub const WATCH_TTL: u32 = 1920;

enum Queued {
    Publish {
        merge_key: String,
        body: Bytes,
        expiry: u32,
        kind: String,
        receivers: Vec<ChannelKey>,
    },
    Other(Item),
}

#[derive(Default)]
struct Queue {
    items: Vec<Queued>,
    by_key: HashMap<String, usize>,
}

thread_local! {
    static QUEUE: RefCell<Queue> = RefCell::new(Queue::default());
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

fn enqueue_publish(p: Prepared, receivers: Vec<ChannelKey>) {
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        if let Some(&i) = q.by_key.get(&p.merge_key) {
            if let Some(Queued::Publish { receivers: r, .. }) = q.items.get_mut(i) {
                for k in receivers {
                    if !r.contains(&k) {
                        r.push(k);
                    }
                }
                return;
            }
        }
        let i = q.items.len();
        q.by_key.insert(p.merge_key.clone(), i);
        q.items.push(Queued::Publish {
            merge_key: p.merge_key,
            body: p.body,
            expiry: p.expiry,
            kind: p.kind,
            receivers,
        });
    });
}

fn enqueue(item: Item) {
    QUEUE.with(|q| q.borrow_mut().items.push(Queued::Other(item)));
}

fn to_item(q: Queued) -> Item {
    match q {
        Queued::Publish {
            body,
            expiry,
            kind,
            receivers,
            ..
        } => Item::Publish {
            receivers,
            body,
            expiry,
            kind,
        },
        Queued::Other(i) => i,
    }
}

/// Send everything queued, in order. On a failure the unsent rest stays queued.
pub fn flush_queue() -> Result<usize, String> {
    let items: Vec<Queued> = QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        q.by_key.clear();
        std::mem::take(&mut q.items)
    });
    let total = items.len();
    let mut it = items.into_iter();
    let mut sent = 0;
    while let Some(q) = it.next() {
        let item = to_item(q);
        if let Err(e) = dispatch::submit(item.clone()) {
            let rest: Vec<Queued> = std::iter::once(Queued::Other(item)).chain(it).collect();
            QUEUE.with(|q| q.borrow_mut().items = rest);
            return Err(format!(
                "{e} ({} of {total} queued events not sent)",
                total - sent
            ));
        }
        sent += 1;
    }
    Ok(sent)
}

/// Number of queued events (for `BxPush\status()`).
pub fn queued() -> usize {
    QUEUE.with(|q| q.borrow().items.len())
}

/// RSHUTDOWN: send what is still queued (never dropped silently), forget per-request state.
pub fn request_end() {
    if queued() > 0 {
        if let Err(e) = flush_queue() {
            php::warning(&format!(
                "bxpush: events queued by this request could not be sent at its end: {e}"
            ));
            QUEUE.with(|q| *q.borrow_mut() = Queue::default());
        }
    }
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

fn resolve(rs: &[Recipient], channel_type: &str) -> Result<Vec<ChannelKey>, String> {
    let mut keys: Vec<ChannelKey> = Vec::new();
    for r in rs {
        let add: Vec<ChannelKey> = match r {
            Recipient::Channel(k) => vec![*k],
            Recipient::User(u) => user_channels(*u, channel_type)?,
        };
        for k in add {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    Ok(keys)
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
    enqueue_publish(p, keys);
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

// ----------------------------------------------------------------------------------------

/// `\Bitrix\Pull\Event`: queue pull messages for users or channels, send them at
/// `send()` or at the end of the request.
#[php_class]
#[php(name = "BxPush\\Compat\\Event")]
pub struct Event;

#[php_impl]
impl Event {
    /// Queue a message. `$recipients`: a user id, a 32-hex channel id, a signed channel, or
    /// an array of them. `$params`: `module_id`, `command`, `params`, optional `expiry`
    /// (default 86400), `extra`, `groupId`. Returns false with the reason in
    /// `getLastError()` on bad input (Bitrix's contract).
    #[php(defaults(channel_type = "\"private\""))]
    pub fn add(recipients: &Zval, params: &ZendHashTable, channel_type: String) -> bool {
        bool_result(event_add(recipients, params, &channel_type))
    }

    /// Send what is queued now. False (and a warning) if the hand-off refused it; what
    /// was not sent stays queued for a retry or the end of the request.
    pub fn send() -> bool {
        match flush_queue() {
            Ok(_) => true,
            Err(e) => {
                php::warning(&format!("bxpush: {e}"));
                set_last_error(&e);
                false
            }
        }
    }

    /// The reason the last call returned false, or null.
    pub fn get_last_error() -> Option<String> {
        LAST_ERROR.with(|l| l.borrow().clone())
    }

    /// Replace how user ids become channels for this request:
    /// `fn(int $userId, string $channelType): string|array|null` returning channel ids
    /// (32-hex or signed); null skips the user. `null` restores the derived channels.
    pub fn set_channel_resolver(resolver: Option<&Zval>) -> PhpResult<()> {
        let v = match resolver {
            None => None,
            Some(z) if z.dereference().is_null() => None,
            Some(z) => {
                if !z.is_callable() {
                    return Err(exc(format!(
                        "Event::setChannelResolver(): argument must be callable or null, got {}",
                        describe(z)
                    )));
                }
                Some(z.dereference().shallow_clone())
            }
        };
        let old = RESOLVER.with(|r| std::mem::replace(&mut *r.borrow_mut(), v));
        drop(old);
        Ok(())
    }

    /// Number of queued events (messages, watch changes) not sent yet.
    pub fn get_queue_size() -> i64 {
        queued() as i64
    }
}

// ----------------------------------------------------------------------------------------

/// `\Bitrix\Pull\Push`: the seed's instance form
/// (`(new Push(1))->addUser(2)->setMessage([...])->send()`, which throws
/// `BxPush\Exception` on bad input) and Bitrix's static `Push::add($users, $params)`.
#[php_class]
#[php(name = "BxPush\\Compat\\Push")]
pub struct Push {
    users: Vec<i64>,
    channels: Vec<ChannelKey>,
    message: Option<Prepared>,
    channel_type: String,
}

impl Push {
    fn add_recipients(&mut self, z: &Zval) -> Result<(), String> {
        for r in recipients(z)? {
            match r {
                Recipient::User(u) if !self.users.contains(&u) => self.users.push(u),
                Recipient::Channel(k) if !self.channels.contains(&k) => self.channels.push(k),
                _ => {}
            }
        }
        Ok(())
    }
}

#[php_impl]
impl Push {
    /// `$users`: a user id, a channel id, or an array of them (optional).
    pub fn __construct(users: Option<&Zval>) -> PhpResult<Self> {
        let mut p = Push {
            users: Vec::new(),
            channels: Vec::new(),
            message: None,
            channel_type: "private".into(),
        };
        if let Some(z) = users {
            if !z.dereference().is_null() {
                p.add_recipients(z)
                    .map_err(|e| exc(format!("Push::__construct(): {e}")))?;
            }
        }
        Ok(p)
    }

    /// Add a user id (or an array of them, or channel ids). Returns $this.
    pub fn add_user<'a>(
        self_: &'a mut ZendClassObject<Push>,
        user: &Zval,
    ) -> PhpResult<&'a mut ZendClassObject<Push>> {
        self_
            .add_recipients(user)
            .map_err(|e| exc(format!("Push::addUser(): {e}")))?;
        Ok(self_)
    }

    /// Add a channel id (32-hex or signed) or an array of them. Returns $this.
    pub fn add_channel<'a>(
        self_: &'a mut ZendClassObject<Push>,
        channel: &Zval,
    ) -> PhpResult<&'a mut ZendClassObject<Push>> {
        let signer = settings::get().signer();
        let list = channels::parse_channel_arg(channel, signer.as_ref())
            .map_err(|e| exc(format!("Push::addChannel(): {e}")))?;
        for (_, k) in list {
            if !self_.channels.contains(&k) {
                self_.channels.push(k);
            }
        }
        Ok(self_)
    }

    /// The message, as for `Event::add`: `module_id`, `command`, `params`, `expiry`, `extra`.
    /// Returns $this.
    pub fn set_message<'a>(
        self_: &'a mut ZendClassObject<Push>,
        params: &ZendHashTable,
    ) -> PhpResult<&'a mut ZendClassObject<Push>> {
        let p = message::prepare(params, &settings::get())
            .map_err(|e| exc(format!("Push::setMessage(): {e}")))?;
        self_.message = Some(p);
        Ok(self_)
    }

    /// Channel type for user ids (`private` by default, `shared`). Returns $this.
    #[allow(clippy::needless_lifetimes)]
    pub fn set_channel_type<'a>(
        self_: &'a mut ZendClassObject<Push>,
        channel_type: String,
    ) -> PhpResult<&'a mut ZendClassObject<Push>> {
        self_.channel_type = channel_type;
        Ok(self_)
    }

    /// User ids added so far.
    pub fn get_users(&self) -> Vec<i64> {
        self.users.clone()
    }

    /// Send now (not queued). Throws `BxPush\Exception` without recipients or message,
    /// or if the hand-off refuses it. Returns true.
    pub fn send(&self) -> PhpResult<bool> {
        let Some(m) = &self.message else {
            return Err(exc("Push::send(): no message: call setMessage() first"));
        };
        if self.users.is_empty() && self.channels.is_empty() {
            return Err(exc(
                "Push::send(): no recipients: call addUser() or addChannel() first",
            ));
        }
        let mut rs: Vec<Recipient> = self.users.iter().map(|u| Recipient::User(*u)).collect();
        rs.extend(self.channels.iter().map(|k| Recipient::Channel(*k)));
        let keys =
            resolve(&rs, &self.channel_type).map_err(|e| exc(format!("Push::send(): {e}")))?;
        if keys.is_empty() {
            return Ok(true);
        }
        dispatch::submit(Item::Publish {
            receivers: keys,
            body: m.body.clone(),
            expiry: m.expiry,
            kind: m.kind.clone(),
        })
        .map_err(|e| exc(format!("Push::send(): {e}")))?;
        Ok(true)
    }

    /// Bitrix's `Push::add($users, $params)`: queues the pull part of the message
    /// (`command`/`params`) like `Event::add`; a `push`-only (mobile) message returns
    /// false with the reason in `Event::getLastError()`.
    pub fn add(users: &Zval, params: &ZendHashTable) -> bool {
        bool_result(event_add(users, params, "private"))
    }
}

// ----------------------------------------------------------------------------------------

/// `\CPullWatch`: users watching tags; messages to everyone watching a tag.
#[php_class]
#[php(name = "BxPush\\Compat\\CPullWatch")]
pub struct CPullWatch;

#[php_impl]
impl CPullWatch {
    /// User `$userId` watches `$tag` (for 32 min unless extended). Queued until the
    /// queue is sent, or at once with `$immediate`.
    #[php(name = "Add", defaults(immediate = false))]
    pub fn add(user: &Zval, tag: &Zval, immediate: bool) -> bool {
        bool_result((|| {
            let user_id = user_id(user)?;
            let tags = tags_of(tag)?;
            let item = Item::WatchAdd {
                user_id,
                tags,
                ttl: WATCH_TTL,
            };
            if immediate {
                dispatch::submit(item)
            } else {
                enqueue(item);
                Ok(())
            }
        })())
    }

    /// Send the queued watch additions now (Bitrix writes its deferred rows here).
    #[php(name = "DeferredSql")]
    pub fn deferred_sql(user: Option<&Zval>) -> bool {
        let only = match user.map(|z| z.dereference()) {
            Some(z) if !z.is_false() && !z.is_null() => match user_id(z) {
                Ok(u) => Some(u),
                Err(e) => return bool_result(Err(e)),
            },
            _ => None,
        };
        let picked: Vec<Item> = QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            let mut picked = Vec::new();
            let mut keep = Vec::new();
            for it in std::mem::take(&mut q.items) {
                match it {
                    Queued::Other(Item::WatchAdd { user_id, tags, ttl })
                        if only.is_none_or(|u| u == user_id) =>
                    {
                        picked.push(Item::WatchAdd { user_id, tags, ttl })
                    }
                    other => keep.push(other),
                }
            }
            q.by_key.clear();
            for (i, it) in keep.iter().enumerate() {
                if let Queued::Publish { merge_key, .. } = it {
                    q.by_key.insert(merge_key.clone(), i);
                }
            }
            q.items = keep;
            picked
        });
        bool_result(picked.into_iter().try_for_each(dispatch::submit))
    }

    /// Refresh the user's watches of `$tags` (a tag or an array), now.
    #[php(name = "Extend")]
    pub fn extend(user: &Zval, tags: &Zval) -> bool {
        bool_result((|| {
            let user_id = user_id(user)?;
            dispatch::submit(Item::WatchAdd {
                user_id,
                tags: tags_of(tags)?,
                ttl: WATCH_TTL,
            })
        })())
    }

    /// Stop watching `$tag` (null: every tag of the user), now; also drops queued adds.
    #[php(name = "Delete")]
    pub fn delete(user: &Zval, tag: Option<&Zval>) -> bool {
        bool_result((|| {
            let user_id = user_id(user)?;
            let tag = match tag.map(|t| t.dereference()) {
                None => None,
                Some(t) if t.is_null() => None,
                Some(t) => Some(tags_of(t)?.remove(0)),
            };
            QUEUE.with(|q| {
                let mut q = q.borrow_mut();
                for it in q.items.iter_mut() {
                    if let Queued::Other(Item::WatchAdd { user_id: u, tags, .. }) = it {
                        if *u == user_id {
                            match &tag {
                                None => tags.clear(),
                                Some(t) => tags.retain(|x| x != t),
                            }
                        }
                    }
                }
                q.items.retain(|it| !matches!(it, Queued::Other(Item::WatchAdd { tags, .. }) if tags.is_empty()));
                let keys: Vec<(String, usize)> = q
                    .items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, it)| match it {
                        Queued::Publish { merge_key, .. } => Some((merge_key.clone(), i)),
                        _ => None,
                    })
                    .collect();
                q.by_key = keys.into_iter().collect();
            });
            dispatch::submit(Item::WatchDelete { user_id, tag })
        })())
    }

    /// Queue a message to every user watching `$tag` (a tag or an array), minus
    /// `$params['skip_users']`. The server resolves watchers to their channels.
    #[php(name = "AddToStack", defaults(channel_type = "\"private\""))]
    pub fn add_to_stack(tag: &Zval, params: &ZendHashTable, channel_type: String) -> bool {
        bool_result((|| {
            if channel_type != "private" {
                return Err(format!("AddToStack: channel type \"{channel_type}\" is not supported: watchers get private channels"));
            }
            let tags = tags_of(tag)?;
            let p = message::prepare(params, &settings::get())?;
            enqueue(Item::PublishToTags {
                tags,
                skip_users: p.skip_users,
                body: p.body,
                expiry: p.expiry,
                kind: p.kind,
            });
            Ok(())
        })())
    }

    /// Users watching `$tag`: `[userId => userId]`, as Bitrix returns. Throws
    /// `BxPush\Exception` if the server cannot be asked.
    #[php(name = "GetUserList")]
    pub fn get_user_list(tag: &Zval) -> PhpResult<Vec<(i64, i64)>> {
        let users = watch_users(tag)?;
        Ok(users.into_iter().map(|u| (u, u)).collect())
    }

    /// Users watching `$tag`, as a list.
    #[php(name = "getUsersByTag")]
    pub fn get_users_by_tag(tag: &Zval) -> PhpResult<Vec<i64>> {
        watch_users(tag)
    }
}

fn watch_users(tag: &Zval) -> PhpResult<Vec<i64>> {
    let tags = tags_of(tag).map_err(|e| exc(format!("CPullWatch::GetUserList(): {e}")))?;
    // What this request handed over must be applied before the question is asked.
    if dispatch::submitted_in_request() {
        if let Some(fw) = dispatch::existing_forwarder() {
            let _ = fw.flush(settings::get().flush_timeout());
        }
    }
    match dispatch::query(Query::WatchUsers(tags), crate::api::query_timeout()) {
        Ok(Reply::Users(u)) => Ok(u),
        Ok(other) => Err(exc(format!(
            "CPullWatch::GetUserList(): unexpected reply {other:?}"
        ))),
        Err(e) => Err(exc(format!("CPullWatch::GetUserList(): {e}"))),
    }
}

// ----------------------------------------------------------------------------------------

/// `\CPullStack`: thin wrappers of `Event::add`, and `Send()`.
#[php_class]
#[php(name = "BxPush\\Compat\\CPullStack")]
pub struct CPullStack;

#[php_impl]
impl CPullStack {
    /// Queue a message to one user.
    #[php(name = "AddByUser", defaults(channel_type = "\"private\""))]
    pub fn add_by_user(user: &Zval, message: &ZendHashTable, channel_type: String) -> bool {
        bool_result(match user_id(user) {
            Ok(u) => event_add(&long_zval(u), message, &channel_type),
            Err(e) => Err(e),
        })
    }

    /// Queue a message to several users.
    #[php(name = "AddByUsers", defaults(channel_type = "\"private\""))]
    pub fn add_by_users(users: &Zval, message: &ZendHashTable, channel_type: String) -> bool {
        bool_result(event_add(users, message, &channel_type))
    }

    /// Queue a message to a channel id (or an array of them).
    #[php(name = "AddByChannel")]
    pub fn add_by_channel(channel: &Zval, params: Option<&ZendHashTable>) -> bool {
        bool_result((|| {
            let signer = settings::get().signer();
            let list = channels::parse_channel_arg(channel, signer.as_ref())?;
            let empty = ZendHashTable::new();
            let params = params.unwrap_or(&*empty);
            let p = message::prepare(params, &settings::get())?;
            enqueue_publish(p, list.into_iter().map(|(_, k)| k).collect());
            Ok(())
        })())
    }

    /// Queue a message to the shared (portal-wide) channel.
    #[php(name = "AddShared", defaults(channel_type = "\"shared\""))]
    pub fn add_shared(message: &ZendHashTable, channel_type: String) -> bool {
        bool_result((|| {
            let p = message::prepare(message, &settings::get())?;
            let keys = user_channels(0, &channel_type)?;
            if !keys.is_empty() {
                enqueue_publish(p, keys);
            }
            Ok(())
        })())
    }

    /// Send what is queued now (`Event::send()`).
    #[php(name = "Send")]
    pub fn send() -> bool {
        Event::send()
    }
}

fn long_zval(v: i64) -> Zval {
    let mut z = Zval::new();
    z.set_long(v);
    z
}

// ----------------------------------------------------------------------------------------

/// The Bitrix names and the classes they alias.
pub const ALIASES: [(&str, &str); 4] = [
    ("bitrix\\pull\\push", "BxPush\\Compat\\Push"),
    ("bitrix\\pull\\event", "BxPush\\Compat\\Event"),
    ("cpullwatch", "BxPush\\Compat\\CPullWatch"),
    ("cpullstack", "BxPush\\Compat\\CPullStack"),
];

pub const ALIAS_NAMES: [&str; 4] = [
    "Bitrix\\Pull\\Push",
    "Bitrix\\Pull\\Event",
    "CPullWatch",
    "CPullStack",
];

/// The autoloader registered at request start when `bxpush.bitrix_compat` is on: makes
/// `\Bitrix\Pull\Push`, `\Bitrix\Pull\Event`, `\CPullWatch`, `\CPullStack` aliases of the
/// compat classes when they are autoloaded. Inside a real Bitrix kernel
/// (`\Bitrix\Main\Loader` declared) it does nothing, so Bitrix's own classes win; a class
/// the script declared itself is never autoloaded, so its name stays taken.
#[php_function]
#[php(name = "BxPush\\Compat\\autoload")]
pub fn autoload(class: &str) {
    if !settings::get().bitrix_compat {
        return;
    }
    let want = class.trim_start_matches('\\').to_ascii_lowercase();
    let Some(idx) = ALIASES.iter().position(|(n, _)| *n == want) else {
        return;
    };
    if php::class_declared("Bitrix\\Main\\Loader") {
        return;
    }
    let Some(ce) = ext_php_rs::zend::ClassEntry::try_find(ALIASES[idx].1) else {
        return;
    };
    let alias = ALIAS_NAMES[idx];
    // class_alias() refuses internal classes; the engine's own call does not.
    // SAFETY: a live class entry; the alias is added to this request's class table.
    unsafe {
        zend_register_class_alias_ex(
            alias.as_ptr().cast(),
            alias.len(),
            std::ptr::from_ref(ce).cast_mut().cast(),
            false,
        );
    }
}

extern "C" {
    /// `ZEND_API zend_result zend_register_class_alias_ex(const char *name, size_t
    /// name_len, zend_class_entry *ce, bool persistent)`, unchanged in PHP 8.1–8.4.
    fn zend_register_class_alias_ex(
        name: *const std::ffi::c_char,
        name_len: usize,
        ce: *mut std::ffi::c_void,
        persistent: bool,
    ) -> i32;
}

/// RINIT: register the autoloader (appended: autoloaders registered before it win).
pub fn request_start() {
    if settings::get().bitrix_compat {
        let _ = php::call(
            "spl_autoload_register",
            vec![&"BxPush\\Compat\\autoload", &true, &false],
        );
    }
}

/// The functions of this module, for the module builder.
pub fn functions() -> Vec<ext_php_rs::builders::FunctionBuilder<'static>> {
    vec![wrap_function!(autoload)]
}
