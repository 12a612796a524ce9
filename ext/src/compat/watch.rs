//! `\CPullWatch`: users watching tags; messages to everyone watching a tag. Watches live
//! in the owner (`Item::WatchAdd`/`WatchDelete`); adds are queued like Bitrix's deferred rows.

use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};

use bxcore::handoff::{Item, Query, Reply};

use super::{bool_result, tags_of};
use crate::channels::user_id;
use crate::php::exc;
use crate::{dispatch, message, query, request_queue, settings};

/// Bitrix: a watch row is fresh for 1860 s and deleted after 32 min; the JS client
/// extends its tags every 29 min.
pub const WATCH_TTL: u32 = 1920;

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
                request_queue::with(|q| q.push(item));
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
        let picked = request_queue::with(|q| q.take_watch_adds(only));
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
            request_queue::with(|q| q.drop_watch_tags(user_id, tag.as_deref()));
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
            request_queue::with(|q| {
                q.push(Item::PublishToTags {
                    tags,
                    skip_users: p.skip_users,
                    body: p.body,
                    expiry: p.expiry,
                    kind: p.kind,
                })
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
    match query::ask(Query::WatchUsers(tags)) {
        Ok(Reply::Users(u)) => Ok(u),
        Ok(other) => Err(exc(format!(
            "CPullWatch::GetUserList(): unexpected reply {other:?}"
        ))),
        Err(e) => Err(exc(format!("CPullWatch::GetUserList(): {e}"))),
    }
}
