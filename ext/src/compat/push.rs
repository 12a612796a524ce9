//! `\Bitrix\Pull\Push`: the seed's instance form and Bitrix's static `Push::add`.

use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendClassObject, ZendHashTable, Zval};

use bxcore::handoff::Item;
use bxcore::protocol::ChannelKey;

use super::{bool_result, event_add, recipients, resolve, Recipient};
use crate::message::{self, Prepared};
use crate::php::exc;
use crate::{channels, dispatch, settings};

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
                // `getUsers()` lists each user once, as Bitrix's does.
                Recipient::User(u) if !self.users.contains(&u) => self.users.push(u),
                Recipient::User(_) => {}
                Recipient::Channel(k) => self.channels.push(k),
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
        self_.channels.extend(list.into_iter().map(|(_, k)| k));
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
