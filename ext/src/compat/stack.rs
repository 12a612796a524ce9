//! `\CPullStack`: thin wrappers of `Event::add`, and `Send()`.

use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};

use super::{bool_result, event_add, queue_publish, user_channels, Event};
use crate::channels::{self, user_id};
use crate::php::zlong;
use crate::{message, settings};

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
            Ok(u) => event_add(&zlong(u), message, &channel_type),
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
            queue_publish(p, list.into_iter().map(|(_, k)| k).collect());
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
                queue_publish(p, keys);
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
