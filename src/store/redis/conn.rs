//! One connection to Redis and the engine's operations, each expressed on the Node
//! layout ([`super::layout`]) so that Node push-server processes sharing the Redis see
//! what bxpush writes and the reverse.
//!
//! A [`RedisConn`] does not reconnect by itself: an operation on a lost connection fails
//! at once with an error, and the owner (the engine task) decides what that means
//! (degraded state, publishes refused) and reconnects with
//! [`RedisConn::connect_with_backoff`]. So a failure is never hidden behind a retry
//! that could apply a write twice.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, RedisResult};

use super::backoff::Backoff;
use super::layout;
use super::url::RedisUrl;
use crate::message::Message;
use crate::protocol::{ChannelKey, MessageId};

/// A connect that takes longer is a failed attempt (then the back-off waits).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A reply that takes longer fails the operation: a publisher is answered with an error
/// instead of waiting on a Redis that stopped answering.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Cheap to clone: the clones share one multiplexed connection (each operation takes
/// a clone, so no lock is held across a round trip).
#[derive(Clone)]
pub struct RedisConn {
    url: RedisUrl,
    conn: MultiplexedConnection,
    /// `server:startdate`, read once per connection: Node caches it per process, and a
    /// Redis that lost its data (restart without persistence) gets a new one, which a
    /// new connection must see.
    startdate: Option<u32>,
}

/// One Redis command as its name and arguments: the same list goes into a `MULTI`
/// ([`RedisConn::store_and_publish`]) or into the fenced script ([`RedisConn::fenced`]).
#[derive(Debug, Clone)]
pub struct Command {
    pub name: &'static str,
    pub args: Vec<Vec<u8>>,
}

impl Command {
    fn new(name: &'static str, args: Vec<Vec<u8>>) -> Self {
        Command { name, args }
    }

    pub(super) fn to_cmd(&self) -> redis::Cmd {
        let mut c = redis::cmd(self.name);
        for a in &self.args {
            c.arg(a.as_slice());
        }
        c
    }
}

/// What [`RedisConn::fenced`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    /// The commands ran and the mark moved to the item's seq.
    Applied,
    /// The mark was already here (≥ the item's seq): nothing was written.
    AlreadyAt(u64),
}

impl Fenced {
    /// The fenced script's reply `{applied, mark}`.
    fn of(applied: i64, mark: u64) -> Self {
        if applied == 1 {
            Fenced::Applied
        } else {
            Fenced::AlreadyAt(mark)
        }
    }
}

/// One message of a batch ([`RedisConn::store_and_publish_batch`]): its writes
/// ([`publish_commands`]) and, for a PHP hand-off item, its (origin, seq) fence.
#[derive(Debug, Clone)]
pub struct BatchItem {
    pub commands: Vec<Command>,
    pub mark: Option<(u64, u64)>,
}

/// `EVAL` of [`FENCED_SCRIPT`] for `commands` fenced by `origin`'s mark at `seq`.
fn fenced_cmd(origin: u64, seq: u64, commands: &[Command]) -> redis::Cmd {
    let mut eval = redis::cmd("EVAL");
    eval.arg(FENCED_SCRIPT)
        .arg(1)
        .arg(layout::handoff_mark_key(origin))
        .arg(seq)
        .arg(layout::HANDOFF_MARK_TTL_SECS);
    for c in commands {
        eval.arg(c.args.len() + 1).arg(c.name);
        for a in &c.args {
            eval.arg(a.as_slice());
        }
    }
    eval
}

/// KEYS[1] the origin's mark; ARGV[1] the item's seq, ARGV[2] the mark's TTL, then each
/// command as its argument count and its arguments. Returns {1, seq} when applied, {0,
/// mark} when the mark was already at or above seq. (Seqs count one worker's items from
/// 1: far below the 2^53 where a Lua number stops being exact.)
const FENCED_SCRIPT: &str = r#"
local mark = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq <= mark then return {0, mark} end
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {1, seq}
"#;

/// The writes of publishing `msg` on the Node layout, in order: when its expiry is > 0,
/// `SETEX message:<id> expiry <OutgoingMessage>` and per receiver `ZADD
/// channel:messages:<id> 0 <id>` + `EXPIRE … NX` (the zset gets the channel TTL only if
/// it has none, Redis ≥ 7.0: Node's TTL-then-EXPIRE in one step); then `PUBLISH
/// pushserver:<uid> <NotificationBatch>`, last, so every node that is notified finds the
/// history written.
pub fn publish_commands(msg: &Message, uid: &str) -> Vec<Command> {
    let num = |n: u64| n.to_string().into_bytes();
    let mut out = Vec::with_capacity(2 + 2 * msg.receivers.len());
    if msg.expiry > 0 {
        out.push(Command::new(
            "SETEX",
            vec![
                layout::message_key(&msg.mid),
                num(msg.expiry as u64),
                layout::encode_stored(msg).to_vec(),
            ],
        ));
        for key in msg.receivers.iter() {
            let zset = layout::history_key(key);
            out.push(Command::new(
                "ZADD",
                vec![zset.clone(), b"0".to_vec(), msg.mid.as_bytes().to_vec()],
            ));
            out.push(Command::new(
                "EXPIRE",
                vec![zset, num(layout::CHANNEL_TTL_SECS), b"NX".to_vec()],
            ));
        }
    }
    out.push(Command::new(
        "PUBLISH",
        vec![
            layout::pubsub_channel(uid).into_bytes(),
            layout::encode_notification(msg),
        ],
    ));
    out
}

fn protocol_error(what: &str) -> RedisError {
    RedisError::from((redis::ErrorKind::Parse, "bad reply", what.to_owned()))
}

impl RedisConn {
    /// One attempt: connect, authenticate, select the database, and check with PING.
    pub async fn connect(url: &RedisUrl) -> RedisResult<Self> {
        let client = Client::open(url.connection_info())?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(Self {
            url: url.clone(),
            conn,
            startdate: None,
        })
    }

    /// Attempt until connected, waiting `backoff` between attempts; `on_failure` sees
    /// each failed attempt and the wait that follows (the engine logs the first one and
    /// reports `degraded`, not one line per attempt).
    pub async fn connect_with_backoff(
        url: &RedisUrl,
        backoff: &mut Backoff,
        mut on_failure: impl FnMut(&RedisError, Duration),
    ) -> Self {
        loop {
            match Self::connect(url).await {
                Ok(c) => {
                    backoff.reset();
                    return c;
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    on_failure(&e, wait);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// The connection itself, for the operations of sibling modules (`watches`).
    pub(super) fn raw(&mut self) -> &mut MultiplexedConnection {
        &mut self.conn
    }

    pub async fn ping(&mut self) -> RedisResult<()> {
        redis::cmd("PING").query_async(&mut self.conn).await
    }

    /// `SETNX server:startdate <now>` then `GET` (the first process of the cluster sets
    /// it), cached for this connection's life.
    pub async fn startdate(&mut self, now_unix: u32) -> RedisResult<u32> {
        if let Some(s) = self.startdate {
            return Ok(s);
        }
        let (_, raw): (i64, Vec<u8>) = redis::pipe()
            .atomic()
            .cmd("SETNX")
            .arg(layout::STARTDATE_KEY)
            .arg(layout::encode_startdate(now_unix))
            .cmd("GET")
            .arg(layout::STARTDATE_KEY)
            .query_async(&mut self.conn)
            .await?;
        let s = layout::decode_startdate(&raw)
            .ok_or_else(|| protocol_error("server:startdate is not 10 decimal digits"))?;
        self.startdate = Some(s);
        Ok(s)
    }

    /// The next message id of the cluster: `INCR server:messagecounter` under the start
    /// date (spec §4.3).
    pub async fn allocate_mid(&mut self, now_unix: u32) -> RedisResult<MessageId> {
        let startdate = self.startdate(now_unix).await?;
        let counter: i64 = redis::cmd("INCR")
            .arg(layout::COUNTER_KEY)
            .query_async(&mut self.conn)
            .await?;
        layout::mid_of(startdate, counter)
            .ok_or_else(|| protocol_error("server:messagecounter out of the 16-digit range"))
    }

    /// `n` consecutive message ids in one `INCRBY server:messagecounter n` (a group
    /// commit's batch), in counter order: the reply is the last one's counter.
    pub async fn allocate_mids(&mut self, now_unix: u32, n: usize) -> RedisResult<Vec<MessageId>> {
        let startdate = self.startdate(now_unix).await?;
        let top: i64 = redis::cmd("INCRBY")
            .arg(layout::COUNTER_KEY)
            .arg(n)
            .query_async(&mut self.conn)
            .await?;
        let first = top - n as i64 + 1;
        (first..=top)
            .map(|c| layout::mid_of(startdate, c))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| protocol_error("server:messagecounter out of the 16-digit range"))
    }

    /// The counter's current value (0 when no id was ever allocated): a node that
    /// (re)subscribes expects the id after it.
    pub async fn counter(&mut self) -> RedisResult<u64> {
        let v: Option<u64> = redis::cmd("GET")
            .arg(layout::COUNTER_KEY)
            .query_async(&mut self.conn)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Whether `message:<mid>` is stored: after a lost `EXEC` reply, asked on the same
    /// connection (Redis runs one connection's commands in order, so the answer comes
    /// after the `EXEC` ran or was discarded).
    pub async fn message_exists(&mut self, mid: &MessageId) -> RedisResult<bool> {
        redis::cmd("EXISTS")
            .arg(layout::message_key(mid))
            .query_async(&mut self.conn)
            .await
    }

    /// After a batch's lost `EXEC` reply: whether `message:<probe>` exists (`None` when
    /// there is no probe) and each of `marks`' origin's mark, in one round trip.
    pub async fn batch_landed(
        &mut self,
        probe: Option<&MessageId>,
        marks: &[u64],
    ) -> RedisResult<(Option<bool>, Vec<u64>)> {
        let mut pipe = redis::pipe();
        if let Some(mid) = probe {
            pipe.cmd("EXISTS").arg(layout::message_key(mid));
        }
        for origin in marks {
            pipe.cmd("GET").arg(layout::handoff_mark_key(*origin));
        }
        if probe.is_none() && marks.is_empty() {
            return Ok((None, Vec::new()));
        }
        let mut replies: Vec<redis::Value> = pipe.query_async(&mut self.conn).await?;
        let exists = match probe {
            Some(_) => Some(redis::from_redis_value::<bool>(replies.remove(0))?),
            None => None,
        };
        let marks = replies
            .into_iter()
            .map(|v| redis::from_redis_value::<Option<u64>>(v).map(|m| m.unwrap_or(0)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((exists, marks))
    }

    /// Store `msg` when its expiry is > 0 and publish its notification on
    /// `pushserver:<uid>`, in one `MULTI`: the history write of every receiver happens
    /// before the notification is seen by any node (a node that reads history after
    /// the notification reached it finds the message), and a failure applies neither.
    pub async fn store_and_publish(&mut self, msg: &Message, uid: &str) -> RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for c in publish_commands(msg, uid) {
            pipe.add_command(c.to_cmd()).ignore();
        }
        pipe.query_async(&mut self.conn).await
    }

    /// The shared hand-off mark of `origin`: the highest seq any owner applied (0 when
    /// none, or forgotten after a day idle).
    pub async fn handoff_mark(&mut self, origin: u64) -> RedisResult<u64> {
        let v: Option<u64> = redis::cmd("GET")
            .arg(layout::handoff_mark_key(origin))
            .query_async(&mut self.conn)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Apply `commands` and move `origin`'s mark to `seq` in one atomic step, unless the
    /// mark is already at or above `seq` (another owner applied the item): then nothing
    /// is written. [`Fenced::Applied`] or [`Fenced::AlreadyAt`] the mark found.
    ///
    /// A Lua script, not a `MULTI`: a transaction cannot make its writes depend on a
    /// value it reads, and `WATCH` is per connection, which the multiplexed connection
    /// shares between every concurrent operation. The script runs as atomically as a
    /// `MULTI` (nothing else runs in between), so the check and the writes cannot be
    /// split by an owner that applies the same item at the same time (a worker that gave
    /// up on a stalled owner and resent to another).
    pub async fn fenced(
        &mut self,
        origin: u64,
        seq: u64,
        commands: &[Command],
    ) -> RedisResult<Fenced> {
        let (applied, mark): (i64, u64) = fenced_cmd(origin, seq, commands)
            .query_async(&mut self.conn)
            .await?;
        Ok(Fenced::of(applied, mark))
    }

    /// Publish a batch in one `MULTI`: each item's commands as they are, or, for a
    /// hand-off item, inside the fenced script (so the others proceed when its mark
    /// refuses it). One answer per item, in order: an item whose command Redis refused
    /// (a key of another type) gets that error, the rest of the batch stands (a
    /// transaction does not roll back). `Err` for the whole batch when nothing ran (the
    /// transaction was refused) or when the reply was lost (see the caller).
    pub async fn store_and_publish_batch(
        &mut self,
        items: &[BatchItem],
    ) -> RedisResult<Vec<RedisResult<Fenced>>> {
        let mut pipe = redis::pipe();
        pipe.atomic().ignore_errors();
        for item in items {
            match item.mark {
                None => {
                    for c in &item.commands {
                        pipe.add_command(c.to_cmd());
                    }
                }
                Some((origin, seq)) => {
                    pipe.add_command(fenced_cmd(origin, seq, &item.commands));
                }
            }
        }
        let replies: Vec<redis::Value> = pipe.query_async(&mut self.conn).await?;
        let mut replies = replies.into_iter();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let n = match item.mark {
                None => item.commands.len(),
                Some(_) => 1,
            };
            let mine: Vec<redis::Value> = replies.by_ref().take(n).collect();
            if mine.len() < n {
                return Err(protocol_error("EXEC answered fewer replies than commands"));
            }
            let failed = mine.iter().find_map(|v| match v {
                redis::Value::ServerError(e) => Some(RedisError::from(e.clone())),
                _ => None,
            });
            out.push(match (failed, item.mark) {
                (Some(e), _) => Err(e),
                (None, None) => Ok(Fenced::Applied),
                (None, Some(_)) => redis::from_redis_value_ref::<(i64, u64)>(&mine[0])
                    .map(|(applied, mark)| Fenced::of(applied, mark))
                    .map_err(RedisError::from),
            });
        }
        Ok(out)
    }

    /// Stored, unexpired messages with id > `after` on any of `channels`, in id order,
    /// each once: one `ZRANGEBYLEX key (after +` per channel (pipelined), then one
    /// `MGET` of the message keys. Ids whose message expired are skipped (spec §4.4), as
    /// are values that do not decode (logged: a foreign writer, not a reason to fail
    /// the resume of every client on the channel).
    pub async fn history_after(
        &mut self,
        channels: &[ChannelKey],
        after: &MessageId,
    ) -> RedisResult<Vec<Message>> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        let min = layout::after_bound(after);
        for key in channels {
            pipe.cmd("ZRANGEBYLEX")
                .arg(layout::history_key(key))
                .arg(&min)
                .arg("+");
        }
        let per_channel: Vec<Vec<Vec<u8>>> = pipe.query_async(&mut self.conn).await?;
        let mut ids: Vec<MessageId> = per_channel
            .into_iter()
            .flatten()
            .filter_map(|raw| MessageId::from_bytes(&raw))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        self.messages(&ids).await
    }

    /// The messages stored under `ids`, in the given order, skipping expired ones.
    pub async fn messages(&mut self, ids: &[MessageId]) -> RedisResult<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for id in ids {
            mget.arg(layout::message_key(id));
        }
        let values: Vec<Option<Vec<u8>>> = mget.query_async(&mut self.conn).await?;
        Ok(values
            .into_iter()
            .flatten()
            .filter_map(|raw| match layout::decode_stored(&raw) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable message in Redis skipped");
                    None
                }
            })
            .collect())
    }

    /// The newest id in the history of any of `channels` (the long-poll 304's
    /// `Last-Message-Id`); it may name an expired message, as in Node.
    pub async fn newest(&mut self, channels: &[ChannelKey]) -> RedisResult<Option<MessageId>> {
        if channels.is_empty() {
            return Ok(None);
        }
        let mut pipe = redis::pipe();
        for key in channels {
            pipe.cmd("ZREVRANGEBYLEX")
                .arg(layout::history_key(key))
                .arg("+")
                .arg("-")
                .arg("LIMIT")
                .arg(0)
                .arg(1);
        }
        let per_channel: Vec<Vec<Vec<u8>>> = pipe.query_async(&mut self.conn).await?;
        Ok(per_channel
            .into_iter()
            .flatten()
            .filter_map(|raw| MessageId::from_bytes(&raw))
            .max())
    }

    /// Mark `channels` online for `ttl_secs`: `SETEX <online key> ttl 1` each, as Node
    /// does on a subscription and on every WebSocket pong (spec §6.2).
    pub async fn set_online(&mut self, channels: &[ChannelKey], ttl_secs: u64) -> RedisResult<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for key in channels {
            pipe.cmd("SETEX")
                .arg(layout::online_key(key))
                .arg(ttl_secs)
                .arg(layout::ONLINE_VALUE)
                .ignore();
        }
        pipe.query_async(&mut self.conn).await
    }

    /// Which of `channels` are online on any node: `MGET` of their online keys (Node
    /// counts a key that exists, whatever its value).
    pub async fn online(&mut self, channels: &[ChannelKey]) -> RedisResult<Vec<bool>> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for key in channels {
            mget.arg(layout::online_key(key));
        }
        let values: Vec<Option<Vec<u8>>> = mget.query_async(&mut self.conn).await?;
        Ok(values.into_iter().map(|v| v.is_some()).collect())
    }

    /// This process's `/server-stat/` object under its processUniqueId in `stats`.
    pub async fn write_stats(&mut self, process_id: &str, json: &str) -> RedisResult<()> {
        redis::cmd("HSET")
            .arg(layout::STATS_KEY)
            .arg(process_id)
            .arg(json)
            .query_async(&mut self.conn)
            .await
    }

    /// Every live process's `/server-stat/` object (Node and bxpush alike); stale
    /// entries are deleted, as Node does.
    pub async fn read_stats(&mut self, now_ms: u64) -> RedisResult<Vec<serde_json::Value>> {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL")
            .arg(layout::STATS_KEY)
            .query_async(&mut self.conn)
            .await?;
        let (live, stale) = layout::live_stats(entries, now_ms);
        if !stale.is_empty() {
            redis::cmd("HDEL")
                .arg(layout::STATS_KEY)
                .arg(stale)
                .query_async::<()>(&mut self.conn)
                .await?;
        }
        Ok(live)
    }
}
