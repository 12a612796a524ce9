//! `\Bitrix\Pull\Event`: queue pull messages for users or channels, send them at
//! `send()` or at the end of the request.

use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};

use super::{bool_result, event_add, set_last_error, LAST_ERROR, RESOLVER};
use crate::php::{self, describe, exc};
use crate::request_queue;

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
        match request_queue::flush() {
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
        request_queue::len() as i64
    }
}
