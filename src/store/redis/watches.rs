//! Tag watches (`CPullWatch`) in Redis, shared by every owner of a cluster, so that a
//! watch added through one owner is seen by a `PublishToTags` sent to another. bxpush's
//! own keys (under [`layout::BXPUSH_PREFIX`]; the Node layout has no watches: Bitrix keeps
//! them in its database):
//!
//! - `bxpush:watch:tag:<tag>`: zset, member = user id (decimal), score = expiry (unix s);
//!   a reader takes the members scored above now; the key expires with its last member;
//! - `bxpush:watch:user:<user id>`: set of the user's tags (for "delete all of a user's
//!   watches"), expiring likewise;
//! - `bxpush:watch:pairs`: zset of every pair (`<user id>:<tag>`) by expiry: the bound.
//!   After each add, [`RedisConn::trim_watches`] drops expired pairs and, past
//!   [`crate::hub::watch::MAX_WATCH_PAIRS`], the ones expiring first (counted), as the
//!   in-memory registry evicts its oldest.

use redis::RedisResult;

use super::conn::Command;
use super::layout::BXPUSH_PREFIX;
use super::RedisConn;

/// Key prefixes and the index, as the scripts need them as strings.
fn tag_prefix() -> String {
    format!("{BXPUSH_PREFIX}watch:tag:")
}

fn user_prefix() -> String {
    format!("{BXPUSH_PREFIX}watch:user:")
}

fn pairs_key() -> String {
    format!("{BXPUSH_PREFIX}watch:pairs")
}

fn tag_key(tag: &str) -> Vec<u8> {
    format!("{}{tag}", tag_prefix()).into_bytes()
}

fn user_key(user: i64) -> Vec<u8> {
    format!("{}{user}", user_prefix()).into_bytes()
}

fn pair(user: i64, tag: &str) -> Vec<u8> {
    format!("{user}:{tag}").into_bytes()
}

fn cmd(name: &'static str, args: Vec<Vec<u8>>) -> Command {
    Command { name, args }
}

fn num(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// The writes of "`user` watches `tags` until `expires`" (adding or extending). A key's
/// expiry only ever moves later (`EXPIREAT … NX` sets it on a new key, `… GT` extends it),
/// so a short watch never shortens a longer one on the same key.
pub fn add_commands(user: i64, tags: &[String], expires: u64) -> Vec<Command> {
    let mut out = Vec::with_capacity(tags.len() * 7);
    let u = user_key(user);
    for tag in tags {
        let t = tag_key(tag);
        out.push(cmd("ZADD", vec![t.clone(), num(expires), num(user)]));
        out.push(cmd(
            "EXPIREAT",
            vec![t.clone(), num(expires), b"NX".to_vec()],
        ));
        out.push(cmd("EXPIREAT", vec![t, num(expires), b"GT".to_vec()]));
        out.push(cmd("SADD", vec![u.clone(), tag.clone().into_bytes()]));
        out.push(cmd(
            "ZADD",
            vec![pairs_key().into_bytes(), num(expires), pair(user, tag)],
        ));
    }
    if !tags.is_empty() {
        out.push(cmd(
            "EXPIREAT",
            vec![u.clone(), num(expires), b"NX".to_vec()],
        ));
        out.push(cmd("EXPIREAT", vec![u, num(expires), b"GT".to_vec()]));
    }
    out
}

/// The writes of "`user` stops watching `tags`".
pub fn delete_commands(user: i64, tags: &[String]) -> Vec<Command> {
    let mut out = Vec::with_capacity(tags.len() * 3);
    for tag in tags {
        out.push(cmd("ZREM", vec![tag_key(tag), num(user)]));
        out.push(cmd("SREM", vec![user_key(user), tag.clone().into_bytes()]));
        out.push(cmd("ZREM", vec![pairs_key().into_bytes(), pair(user, tag)]));
    }
    out
}

/// KEYS[1] the pair index; ARGV: now, the bound, the tag and user key prefixes. Drops up
/// to 1,000 expired pairs, then the pairs expiring first beyond the bound (from their tag
/// zset and user set too); returns {evicted by the bound, pairs left}.
const TRIM_SCRIPT: &str = r#"
local function drop(member)
  local sep = string.find(member, ':', 1, true)
  if sep then
    local user = string.sub(member, 1, sep - 1)
    local tag = string.sub(member, sep + 1)
    redis.call('ZREM', ARGV[3] .. tag, user)
    redis.call('SREM', ARGV[4] .. user, tag)
  end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, m in ipairs(expired) do
  drop(m)
  redis.call('ZREM', KEYS[1], m)
end
local card = redis.call('ZCARD', KEYS[1])
local over = card - tonumber(ARGV[2])
if over <= 0 then return {0, card} end
local popped = redis.call('ZPOPMIN', KEYS[1], over)
for i = 1, #popped, 2 do drop(popped[i]) end
return {over, card - over}
"#;

impl RedisConn {
    /// Users watching any of `tags` at `now`, sorted and deduplicated: one
    /// `ZRANGEBYSCORE (now +inf` per tag, pipelined.
    pub async fn watch_users(&mut self, tags: &[String], now: u64) -> RedisResult<Vec<i64>> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for tag in tags {
            pipe.cmd("ZRANGEBYSCORE")
                .arg(tag_key(tag))
                .arg(format!("({now}"))
                .arg("+inf");
        }
        let per_tag: Vec<Vec<String>> = pipe.query_async(self.raw()).await?;
        let mut users: Vec<i64> = per_tag
            .into_iter()
            .flatten()
            .filter_map(|u| u.parse().ok())
            .collect();
        users.sort_unstable();
        users.dedup();
        Ok(users)
    }

    /// Every tag `user` watches (expired ones included until trimmed).
    pub async fn watched_tags(&mut self, user: i64) -> RedisResult<Vec<String>> {
        redis::cmd("SMEMBERS")
            .arg(user_key(user))
            .query_async(self.raw())
            .await
    }

    /// Apply `commands` in one `MULTI` (a watch change without a hand-off mark).
    pub async fn multi(&mut self, commands: &[Command]) -> RedisResult<()> {
        if commands.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for c in commands {
            pipe.add_command(c.to_cmd()).ignore();
        }
        pipe.query_async(self.raw()).await
    }

    /// Keep the pairs within `max` (see the module doc); returns (how many the bound
    /// evicted, how many pairs are left).
    pub async fn trim_watches(&mut self, now: u64, max: usize) -> RedisResult<(u64, u64)> {
        redis::cmd("EVAL")
            .arg(TRIM_SCRIPT)
            .arg(1)
            .arg(pairs_key())
            .arg(now)
            .arg(max)
            .arg(tag_prefix())
            .arg(user_prefix())
            .query_async(self.raw())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_under_the_bxpush_prefix() {
        for c in add_commands(7, &["a:b".to_string()], 100)
            .iter()
            .chain(&delete_commands(7, &["a:b".to_string()]))
        {
            assert!(c.args[0].starts_with(b"bxpush:watch:"), "{c:?}");
        }
        // The pair splits at the first colon: user ids have none, tags may.
        assert_eq!(pair(7, "a:b"), b"7:a:b");
    }
}
