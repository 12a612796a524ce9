//! The Redis engine's publish path (DESIGN.md "Several nodes", "Group commit"): every
//! publish of the node joins the group commit ([`super::commit`]); the committer writes
//! its batch with one `INCRBY server:messagecounter n` (ids consecutive, in queue order)
//! and one `MULTI` (every message's history write and notification, hand-off items
//! fenced by their mark), then answers each publisher. A lost `EXEC` reply is settled
//! before anyone is answered.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::commit::Refused;
use super::{reply_lost, unavailable, Cluster};
use crate::hub::{HandoffMark, PublishError};
use crate::message::{Message, Receivers, Sender};
use crate::store::redis::conn::{self, BatchItem, Fenced};
use crate::store::redis::RedisConn;

/// How long a committer whose `EXEC` reply was lost with its connection waits for the
/// engine's next connection to ask whether the batch ran (a restarted Redis with its
/// data answers that); past it the batch is refused, which may then be wrong.
pub const LOST_REPLY_WAIT: Duration = Duration::from_secs(3);

/// One publish waiting for its batch: what the gate handed to `ClusterEngine::publish`.
pub struct Pending {
    pub receivers: Receivers,
    pub body: Bytes,
    pub expiry: u32,
    pub now_ms: u64,
    pub sender: Sender,
    pub mark: Option<HandoffMark>,
}

impl Pending {
    /// What it weighs in the commit queue and in a batch: its body and receivers, and a
    /// little for the rest of its commands.
    fn bytes(&self) -> usize {
        self.body.len() + 16 * self.receivers.len() + 128
    }
}

/// A publisher's answer.
pub type Answer = Result<Arc<Message>, PublishError>;

/// One item's fate in Redis.
enum Written {
    Published(Arc<Message>),
    /// A hand-off item another owner applied: its id is burnt (the sequencers give the
    /// gap up after their hold).
    AlreadyAt(u64),
    Failed(redis::RedisError),
}

impl Cluster {
    /// `ClusterEngine::publish`: through the group commit.
    pub(super) fn publish_pending(&self, p: Pending) -> Answer {
        if self.degraded.load(Ordering::Acquire) {
            return Err(PublishError::History(self.refuse(unavailable("degraded"))));
        }
        let bytes = p.bytes();
        let commit = |batch: Vec<Pending>| self.commit_batch(batch);
        match self.blocking(|| self.committer.submit(p, bytes, &commit)) {
            Ok(answer) => answer,
            Err(Refused::Full { queued }) => {
                tracing::debug!(queued, "publish refused: the commit queue is full");
                Err(PublishError::History(self.refuse(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("Redis is not keeping up ({queued} publishes waiting): message not published, retry later"),
                ))))
            }
            Err(Refused::Abandoned) => Err(PublishError::History(self.refuse(io::Error::other(
                "the batch of this message failed inside bxpush (a bug, logged): it may or may not be published",
            )))),
        }
    }

    /// The committer's work: one batch, in queue order; one answer per item.
    fn commit_batch(&self, batch: Vec<Pending>) -> Vec<Answer> {
        let n = batch.len();
        let Some(conn) = self.current() else {
            return (0..n)
                .map(|_| {
                    Err(PublishError::History(
                        self.refuse(unavailable("not connected yet")),
                    ))
                })
                .collect();
        };
        // Subscribed before the first command: a reconnection during the batch is seen.
        let generation = self.generation.subscribe();
        let written = self.rt.block_on(self.write_batch(conn, generation, batch));
        let written = match written {
            Ok(w) => w,
            Err(e) => (0..n).map(|_| Written::Failed(e.clone())).collect(),
        };
        let mut suspect = false;
        let answers = written
            .into_iter()
            .map(|w| match w {
                Written::Published(msg) => Ok(msg),
                Written::AlreadyAt(at) => Err(PublishError::AlreadyApplied(at)),
                Written::Failed(e) => {
                    suspect = true;
                    Err(PublishError::History(self.refuse(unavailable(e))))
                }
            })
            .collect();
        if suspect {
            self.suspect.notify_one();
        }
        answers
    }

    /// `INCRBY` for the batch, then its `MULTI`; `Err` when the batch failed as a whole.
    async fn write_batch(
        &self,
        mut conn: RedisConn,
        generation: watch::Receiver<u64>,
        batch: Vec<Pending>,
    ) -> redis::RedisResult<Vec<Written>> {
        let now_unix = (batch[0].now_ms / 1000) as u32;
        let mids = conn.allocate_mids(now_unix, batch.len()).await?;
        let mut msgs = Vec::with_capacity(batch.len());
        let mut marks = Vec::with_capacity(batch.len());
        let mut items = Vec::with_capacity(batch.len());
        for (p, mid) in batch.into_iter().zip(mids) {
            let msg = Message::new(mid, p.receivers, p.body, p.expiry, p.now_ms, p.sender);
            items.push(BatchItem {
                commands: conn::publish_commands(&msg, &self.uid),
                mark: p.mark.map(|m| (m.origin, m.seq)),
            });
            msgs.push(Arc::new(msg));
            marks.push(p.mark);
        }
        match conn.store_and_publish_batch(&items).await {
            Ok(per_item) => Ok(msgs
                .into_iter()
                .zip(per_item)
                .map(|(msg, r)| match r {
                    Ok(Fenced::Applied) => Written::Published(msg),
                    Ok(Fenced::AlreadyAt(at)) => Written::AlreadyAt(at),
                    Err(e) => Written::Failed(e),
                })
                .collect()),
            Err(e) if reply_lost(&e) => {
                let landed = self.settle(conn, generation, &msgs, &marks, e).await?;
                Ok(msgs
                    .into_iter()
                    .zip(landed)
                    .map(|(msg, (landed, why))| {
                        if landed {
                            Written::Published(msg)
                        } else {
                            Written::Failed(why)
                        }
                    })
                    .collect())
            }
            Err(e) => Err(e),
        }
    }

    /// The `EXEC` reply was lost: Redis may or may not have run the batch. Asked on the
    /// same connection first (Redis answers it after that `EXEC` ran or was discarded),
    /// or, when that connection is gone, on the engine's next one (Redis ran the `EXEC`
    /// or dropped it with the old connection before accepting the new one). The
    /// transaction ran whole or not at all, so one stored message of the batch tells for
    /// all of it; a hand-off item's mark tells for that item (at or above its seq: it is
    /// applied, by this batch or by another owner). Per item: landed, or the error.
    async fn settle(
        &self,
        conn: RedisConn,
        mut generation: watch::Receiver<u64>,
        msgs: &[Arc<Message>],
        marks: &[Option<HandoffMark>],
        lost: redis::RedisError,
    ) -> redis::RedisResult<Vec<(bool, redis::RedisError)>> {
        // The probe: the unmarked stored message that expires last.
        let probe = msgs
            .iter()
            .zip(marks)
            .filter(|(m, mark)| mark.is_none() && m.expiry > 0)
            .max_by_key(|(m, _)| m.expiry)
            .map(|(m, _)| m.mid);
        let origins: Vec<u64> = marks.iter().flatten().map(|m| m.origin).collect();
        let deadline = tokio::time::Instant::now() + LOST_REPLY_WAIT;
        let mut last = lost;
        let mut conn = Some(conn);
        loop {
            if let Some(c) = conn.as_mut() {
                match c.batch_landed(probe.as_ref(), &origins).await {
                    Ok((ran, at)) => {
                        let mut at = at.into_iter();
                        return Ok(marks
                            .iter()
                            .map(|mark| {
                                let ok = match mark {
                                    Some(m) => at.next().is_some_and(|a| a >= m.seq),
                                    None => ran == Some(true),
                                };
                                (ok, last.clone())
                            })
                            .collect());
                    }
                    Err(e) if reply_lost(&e) => last = e,
                    Err(e) => return Err(e),
                }
            }
            match tokio::time::timeout_at(deadline, generation.changed()).await {
                Ok(Ok(())) => conn = self.current(),
                _ => return Err(last),
            }
        }
    }
}
