//! The engine task: connect (with back-off), subscribe to `pushserver:*`, run the
//! sequencer over the stream and release into the hub; on a lost connection mark the
//! node degraded (one log line), reconnect, and read back what local channels missed.
//! Also the resume of one subscriber (history read outside the hub lock, then merge).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::sequencer::{self, Sequencer};
use super::{presence, Cluster, PRESENCE_PERIOD};
use crate::hub::{now_unix, Hub, Subscriber};
use crate::protocol::MessageId;
use crate::store::redis::{Backoff, Notifications, RedisConn};

/// Both connections of a live session, and where the counter stood when the stream
/// was subscribed.
struct Session {
    conn: RedisConn,
    stream: Notifications,
    startdate: u32,
    counter: u64,
}

async fn open(cluster: &Cluster) -> redis::RedisResult<Session> {
    let mut conn = RedisConn::connect(&cluster.url).await?;
    let startdate = conn.startdate(now_unix() as u32).await?;
    // Subscribe first, then read the counter: every id above it reaches the stream.
    let stream = Notifications::subscribe(&cluster.url).await?;
    let counter = conn.counter().await?;
    Ok(Session {
        conn,
        stream,
        startdate,
        counter,
    })
}

pub async fn run(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    let mut seq = Sequencer::new(sequencer::HOLD, sequencer::MAX_HELD);
    let mut down_since: Option<Instant> = None;
    // W when the connection was lost: the catch-up reads after it, however many
    // attempts the reconnection takes.
    let mut catch_up_from: Option<MessageId> = None;
    loop {
        let session = tokio::select! {
            r = open(&cluster) => r,
            _ = stop.changed() => return,
        };
        let mut s = match session {
            Ok(s) => s,
            Err(e) => {
                enter_degraded(&cluster, &mut down_since, &e.to_string());
                cluster.attempted.notify_one();
                let wait = backoff.next_delay();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        backoff.reset();
        let Some(hub) = cluster.hub.upgrade() else {
            return;
        };
        hub.release(&seq.reset(s.startdate as u64, s.counter + 1));
        // Everything up to the counter read is published or burnt. Counter 0 (no id
        // taken yet) still makes a floor, so a connection lost before the first message
        // is caught up from the start of this date.
        let top = MessageId::new(s.startdate, s.counter);
        hub.note_released(top);
        // After an outage: what this node's subscribers missed meanwhile (other nodes
        // could still publish), read per channel, through the subscribers' own
        // "above the last id" filter.
        if let Some(after) = catch_up_from {
            // Publishes that took their id before the counter was read may still be between
            // their INCR and their EXEC: give them the sequencer's hold to land in history
            // (the stream buffers meanwhile), so the read-back sees them.
            tokio::time::sleep(sequencer::HOLD).await;
            if let Err(e) = catch_up(&cluster, &hub, &mut s.conn, after, top).await {
                drop(hub);
                tracing::debug!(error = %e, "catch-up after the outage failed");
                continue;
            }
        }
        *cluster.conn.write() = Some(s.conn.clone());
        cluster.generation.send_modify(|g| *g += 1);
        leave_degraded(&cluster, &mut down_since);
        cluster.attempted.notify_one();
        let lost = serve(&cluster, &hub, &mut s, &mut seq, &mut stop).await;
        catch_up_from = hub.released();
        drop(hub);
        *cluster.conn.write() = None;
        match lost {
            None => return, // stopping
            Some(why) => enter_degraded(&cluster, &mut down_since, &why),
        }
    }
}

/// The connected loop; returns why the connection was lost (`None`: stop).
async fn serve(
    cluster: &Cluster,
    hub: &Hub,
    s: &mut Session,
    seq: &mut Sequencer,
    stop: &mut watch::Receiver<bool>,
) -> Option<String> {
    let mut tick = tokio::time::interval(PRESENCE_PERIOD);
    loop {
        let deadline = seq.deadline();
        tokio::select! {
            _ = stop.changed() => return None,
            n = s.stream.next() => {
                let Some(n) = n else {
                    return Some("the pub/sub connection closed".into());
                };
                match n.messages {
                    Ok(msgs) => {
                        let now = Instant::now();
                        for m in msgs {
                            cluster.counters.received.fetch_add(1, Ordering::Relaxed);
                            hub.release(&seq.push(Arc::new(m), now));
                        }
                    }
                    Err(e) => {
                        cluster.counters.undecodable.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(from = %n.from_uid, error = %e, "undecodable notification skipped");
                    }
                }
                sync_stats(cluster, seq);
            }
            _ = sleep_until(deadline) => {
                hub.release(&seq.expire(Instant::now()));
                sync_stats(cluster, seq);
            }
            _ = tick.tick() => {
                if let Err(e) = presence::refresh(cluster, hub, &mut s.conn).await {
                    return Some(e.to_string());
                }
            }
            _ = cluster.suspect.notified() => {
                if let Err(e) = s.conn.ping().await {
                    return Some(e.to_string());
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn sync_stats(cluster: &Cluster, seq: &Sequencer) {
    let c = &cluster.counters;
    c.late.store(seq.stats.late, Ordering::Relaxed);
    c.gaps_given_up
        .store(seq.stats.gaps_given_up, Ordering::Relaxed);
}

/// Read back, per local channel, what was stored after `after` up to `upto` (the counter
/// when the stream was subscribed; later ids come from the stream, in order) and deliver it.
async fn catch_up(
    cluster: &Cluster,
    hub: &Hub,
    conn: &mut RedisConn,
    after: MessageId,
    upto: MessageId,
) -> redis::RedisResult<()> {
    for key in hub.local_channels() {
        let mut msgs = conn.history_after(&[key], &after).await?;
        msgs.retain(|m| m.mid <= upto);
        let n = msgs.len() as u64;
        hub.deliver_to_channel(&key, msgs);
        cluster.counters.caught_up.fetch_add(n, Ordering::Relaxed);
    }
    Ok(())
}

fn enter_degraded(cluster: &Cluster, down_since: &mut Option<Instant>, why: &str) {
    if down_since.is_none() {
        *down_since = Some(Instant::now());
        cluster.counters.outages.fetch_add(1, Ordering::Relaxed);
        cluster.degraded.store(true, Ordering::Release);
        tracing::warn!(redis = %cluster.url, error = why, "Redis unreachable: degraded, publishes refused, clients kept; reconnecting");
    }
}

fn leave_degraded(cluster: &Cluster, down_since: &mut Option<Instant>) {
    cluster.degraded.store(false, Ordering::Release);
    match down_since.take() {
        Some(t) => {
            tracing::warn!(redis = %cluster.url, outage_ms = t.elapsed().as_millis() as u64, "Redis reachable again: publishing resumed")
        }
        None => tracing::info!(redis = %cluster.url, uid = %cluster.uid, "Redis engine connected"),
    }
}

/// Read `sub`'s history after `after` and merge it in; retried at every reconnection
/// until it succeeds or the subscriber is gone.
pub async fn resume(cluster: Arc<Cluster>, sub: Arc<Subscriber>, after: MessageId) {
    let mut generation = cluster.generation.subscribe();
    loop {
        let Some(hub) = cluster.hub.upgrade() else {
            return;
        };
        if !hub.is_pending(sub.id) {
            return;
        }
        if let Some(mut conn) = cluster.current() {
            match conn.history_after(&sub.channels, &after).await {
                Ok(history) => {
                    hub.finish_resume(&sub, history);
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "history read failed; retried after reconnecting");
                    cluster.suspect.notify_one();
                }
            }
        }
        drop(hub);
        // Wait for the next connection; look again now and then in case the subscriber
        // left meanwhile (its task ends then).
        let _ = tokio::time::timeout(Duration::from_secs(1), generation.changed()).await;
    }
}
