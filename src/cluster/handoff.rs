//! The Redis engine's side of the PHP hand-off with several owners (DESIGN.md
//! "Exactly-once", "Several owners"): the per-origin marks every owner shares, moved in
//! one atomic step with an item's writes (`RedisConn::fenced`), and the tag watches kept
//! in Redis (`store::redis::watches`) so that every owner sees every watch.

use std::io;
use std::sync::atomic::Ordering;

use super::{reply_lost, unavailable, Cluster};
use crate::hub::watch::MAX_WATCH_PAIRS;
use crate::hub::{HandoffMark, WatchChange};
use crate::store::redis::conn::Fenced;
use crate::store::redis::watches;

impl Cluster {
    /// `ClusterEngine::handoff_mark`: the origin's shared mark, for a Welcome.
    pub(super) fn read_handoff_mark(&self, origin: u64) -> io::Result<u64> {
        let Some(mut conn) = self.current() else {
            return Err(unavailable("not connected"));
        };
        self.block_on(async move { conn.handoff_mark(origin).await })
            .map_err(|e| {
                self.suspect.notify_one();
                unavailable(e)
            })
    }

    /// `ClusterEngine::move_handoff_mark`: the mark alone, through the fenced script.
    pub(super) fn fence_handoff_mark(&self, mark: HandoffMark) -> io::Result<Option<u64>> {
        if self.degraded.load(Ordering::Acquire) {
            return Err(unavailable("degraded"));
        }
        let Some(mut conn) = self.current() else {
            return Err(unavailable("not connected yet"));
        };
        let result = self.block_on(async move {
            match conn.fenced(mark.origin, mark.seq, &[]).await {
                Ok(Fenced::Applied) => Ok(None),
                Ok(Fenced::AlreadyAt(at)) => Ok(Some(at)),
                // Lost reply: the mark says whether it moved (same connection).
                Err(e) if reply_lost(&e) => match conn.handoff_mark(mark.origin).await {
                    Ok(at) if at >= mark.seq => Ok(None),
                    _ => Err(e),
                },
                Err(e) => Err(e),
            }
        });
        result.map_err(|e| {
            self.suspect.notify_one();
            unavailable(e)
        })
    }

    /// `ClusterEngine::watch_change`: the watch keys' writes, fenced by the item's mark.
    pub(super) fn change_watches(
        &self,
        change: &WatchChange,
        now: u64,
        mark: Option<HandoffMark>,
    ) -> io::Result<Option<u64>> {
        if self.degraded.load(Ordering::Acquire) {
            return Err(unavailable("degraded"));
        }
        let Some(mut conn) = self.current() else {
            return Err(unavailable("not connected yet"));
        };
        let change = change.clone();
        let result = self.block_on(async move {
            let commands = match &change {
                WatchChange::Add { user, tags, ttl } => {
                    watches::add_commands(*user, tags, now + *ttl as u64)
                }
                WatchChange::Delete {
                    user,
                    tag: Some(tag),
                } => watches::delete_commands(*user, std::slice::from_ref(tag)),
                // Read first: a tag another owner adds meanwhile stays (as if added after).
                WatchChange::Delete { user, tag: None } => {
                    let tags = conn.watched_tags(*user).await?;
                    watches::delete_commands(*user, &tags)
                }
            };
            let outcome = match mark {
                None => conn.multi(&commands).await.map(|()| None),
                Some(m) => match conn.fenced(m.origin, m.seq, &commands).await {
                    Ok(Fenced::Applied) => Ok(None),
                    Ok(Fenced::AlreadyAt(at)) => Ok(Some(at)),
                    // Lost reply: the mark says whether it ran (same connection).
                    Err(e) if reply_lost(&e) => match conn.handoff_mark(m.origin).await {
                        Ok(at) if at >= m.seq => Ok(None),
                        _ => Err(e),
                    },
                    Err(e) => Err(e),
                },
            }?;
            // The bound, right after the add that may pass it. The change is applied
            // whatever this says: a failed trim is made up by the next one.
            let mut trim = None;
            if outcome.is_none() && matches!(change, WatchChange::Add { .. }) {
                trim = conn.trim_watches(now, MAX_WATCH_PAIRS).await.ok();
            }
            Ok::<_, redis::RedisError>((outcome, trim))
        });
        match result {
            Ok((outcome, trim)) => {
                if let Some((evicted, held)) = trim {
                    self.counters.watch_pairs.store(held, Ordering::Relaxed);
                    if evicted > 0 {
                        self.counters
                            .watches_evicted
                            .fetch_add(evicted, Ordering::Relaxed);
                        tracing::warn!(
                            evicted,
                            limit = MAX_WATCH_PAIRS,
                            "tag watch limit reached in Redis: the watches expiring first dropped"
                        );
                    }
                }
                Ok(outcome)
            }
            Err(e) => {
                self.suspect.notify_one();
                Err(unavailable(e))
            }
        }
    }

    /// `ClusterEngine::watch_users`.
    pub(super) fn watchers(&self, tags: &[String], now: u64) -> io::Result<Vec<i64>> {
        let Some(mut conn) = self.current() else {
            return Err(unavailable("not connected"));
        };
        let tags = tags.to_vec();
        self.block_on(async move { conn.watch_users(&tags, now).await })
            .map_err(|e| {
                self.suspect.notify_one();
                unavailable(e)
            })
    }
}
