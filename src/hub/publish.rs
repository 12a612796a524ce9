//! The one gate every message goes through: HTTP text and protobuf publishes, client
//! publishes (WebSocket, `/bitrix/rest/`) and the PHP hand-off all call [`Hub::publish`].
//!
//! What the gate does once, so that no caller does it (or forgets it):
//! - duplicate receivers are removed, order kept ([`Receivers`]): `a/b/a` is `a/b`;
//! - the message is counted: `published`, and `daily.messages` under its statistics label,
//!   which is validated and bounded there ([`super::stats::valid_label`],
//!   [`super::stats::MAX_DAILY_LABELS`]);
//! - a client publish over its rate quota is refused ([`super::quota`]), counted;
//! - a publish without receivers is refused;
//! - a message is either stored (when it has an expiry) *and* delivered, or refused with
//!   [`PublishError::History`] and neither: the store keeps nothing of a failed write,
//!   and nothing is queued to subscribers. The first failure of a streak is logged, the
//!   rest counted, and the recovery logged with their number.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::{now_ms, HandoffMark, Hub, Subscriber};
use crate::message::{Message, Receivers, Sender};
use crate::protocol::{ChannelKey, ErrorCode, Incoming};

/// One message to publish, as every caller hands it to [`Hub::publish`].
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// The channels it goes to; repeats are allowed here and removed by the gate.
    pub receivers: Vec<ChannelKey>,
    /// The body, opaque.
    pub body: Bytes,
    /// Seconds kept in history (capped at `max_ttl`); 0 = delivered live only.
    pub expiry: u32,
    /// The statistics label (protobuf `type`, PHP `$type`), as given: empty or invalid
    /// ones are counted as `unknown`.
    pub label: String,
    pub sender: Sender,
    /// A PHP hand-off item's (origin, seq): with the Redis engine the gate's write moves
    /// the origin's shared mark atomically with the message (hub/cluster.rs).
    pub handoff: Option<HandoffMark>,
    /// More messages of the same request follow (a protobuf `RequestBatch`, a PHP batch
    /// frame): subscribers get this one through their queue and their task writes the
    /// batch's frames with one `writev`, instead of one write per message straight from
    /// the fan-out (2,000 subscribers × 5 messages of a 100-message batch each: 2.1 µs
    /// per delivery queued, 9.1 µs written one by one). Set on every message of a batch
    /// but its last.
    pub batched: bool,
}

impl Publish {
    /// A trusted publish (`/bitrix/pub/`, PHP): sender `BACKEND`.
    pub fn backend(receivers: Vec<ChannelKey>, body: Bytes, expiry: u32, label: String) -> Self {
        Publish {
            receivers,
            body,
            expiry,
            label,
            sender: Sender::Backend,
            handoff: None,
            batched: false,
        }
    }

    /// The same publish, applying hand-off item `mark` (see [`Publish::handoff`]).
    pub fn with_handoff(mut self, mark: HandoffMark) -> Self {
        self.handoff = Some(mark);
        self
    }

    /// The same publish, with more of its batch to come (see [`Publish::batched`]).
    pub fn batched(mut self, more_follow: bool) -> Self {
        self.batched = more_follow;
        self
    }

    /// A message of a protobuf `incomingMessages` request, published as `sender`.
    pub fn incoming(m: Incoming, sender: Sender) -> Self {
        Publish {
            receivers: m.receivers,
            body: m.body,
            expiry: m.expiry,
            label: m.label,
            sender,
            handoff: None,
            batched: false,
        }
    }
}

/// Why [`Hub::publish`] did not publish.
#[derive(Debug)]
pub enum PublishError {
    /// No receiver: there is nothing to deliver to (the caller's input was wrong).
    NoReceivers,
    /// The history write failed (disk): nothing was stored or delivered; a retry may
    /// succeed.
    History(io::Error),
    /// A client publish over its publisher's or a receiver's rate quota.
    Quota,
    /// The hand-off item was applied already (by another owner sharing the Redis): its
    /// origin's mark is at this seq, at or above the item's. Nothing was published.
    AlreadyApplied(u64),
}

impl PublishError {
    /// The protocol's answer to a publisher.
    pub fn code(&self) -> ErrorCode {
        match self {
            PublishError::NoReceivers => ErrorCode::NoChannels,
            PublishError::History(_) | PublishError::AlreadyApplied(_) => ErrorCode::NotStored,
            PublishError::Quota => ErrorCode::QuotaExceeded,
        }
    }
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::NoReceivers => f.write_str("publish without receivers"),
            PublishError::History(e) => write!(f, "history write failed: {e}"),
            PublishError::Quota => f.write_str("client publish rate quota exceeded"),
            PublishError::AlreadyApplied(m) => {
                write!(
                    f,
                    "hand-off item applied already (its origin's mark is {m})"
                )
            }
        }
    }
}

impl Hub {
    /// Publish one message: allocate its id, keep it in history when `expiry` > 0
    /// (capped at `max_ttl`), queue it for every subscriber of its receivers, count it.
    /// Returns the message as delivered.
    pub fn publish(&self, p: Publish) -> Result<Arc<Message>, PublishError> {
        let receivers = Receivers::new(p.receivers);
        if receivers.is_empty() {
            return Err(PublishError::NoReceivers);
        }
        if let Sender::Client(id) = p.sender {
            if !self.quotas.admit(id, &receivers) {
                self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
                return Err(PublishError::Quota);
            }
        }
        let expiry = p.expiry.min(self.opts.max_ttl);
        if let Some(engine) = self.cluster.get() {
            let (body, sender, mark) = (p.body, p.sender, p.handoff);
            return self.publish_clustered(engine, receivers, expiry, body, sender, &p.label, mark);
        }
        // A body to keep gets its own allocation of its own size: the bytes handed in
        // are a slice of a bigger buffer (hyper's read buffer, a PHP batch frame of up
        // to 4 MiB), which a held slice would pin whole, unseen by the history's byte
        // accounting (64 MiB of 4 KiB bodies held 141 MiB). Copied before the lock.
        let body = if expiry > 0 {
            Bytes::copy_from_slice(&p.body)
        } else {
            p.body
        };
        let mut st = self.state.lock();
        let now = now_ms();
        let mid = st.store.next_mid(now / 1000);
        let msg = Arc::new(Message::new(mid, receivers, body, expiry, now, p.sender));
        if expiry > 0 {
            // History gets its own copy: the one delivered carries the encodings the
            // transports build, and is freed when the last subscriber has sent it.
            if let Err(e) = st.store.append(Arc::new(msg.detached())) {
                let first = st.failed_writes.fail();
                drop(st);
                self.counters
                    .refused_not_stored
                    .fetch_add(1, Ordering::Relaxed);
                if first {
                    tracing::error!(error = %e,
                        "history write failed: message refused (not stored, not delivered); \
                         further failures are counted until a write succeeds");
                } else {
                    tracing::debug!(error = %e, "history write failed: message refused");
                }
                return Err(PublishError::History(e));
            }
            if let Some(refused) = st.failed_writes.succeed() {
                tracing::info!(refused, "history writes work again");
            }
        }
        // The receivers as of this message's id: who subscribes after it reads it from
        // history (or, live-only, subscribed after it was published).
        let mut subs = Vec::new();
        for key in msg.receivers.iter() {
            if let Some(entry) = st.channels.get(key) {
                subs.extend(entry.subs.iter().cloned());
            }
        }
        // The pass runs outside the hub lock (it writes to sockets), but passes never
        // overlap: the fan-out lock is taken before the hub lock is let go, so passes run
        // in id order and each subscriber is offered messages in id order.
        let pass = self.fanout.lock();
        drop(st);
        let cut = fan_out(&msg, &subs, self.spread, !p.batched);
        drop(pass);
        drop(subs);
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        self.counters.count_message(&p.label, now / 1000);
        if cut > 0 {
            self.counters
                .slow_readers_cut
                .fetch_add(cut, Ordering::Relaxed);
            tracing::warn!(mid = %msg.mid, cut, "slow readers cut off: send queue full");
        }
        Ok(msg)
    }
}

/// Below this many receivers a pass runs on the publisher's thread alone.
const SPREAD_MIN: usize = 2048;

/// Offer `msg` to every subscriber in `subs` (the writer pass: with `direct`, most take it
/// straight to their socket, see `subscriber::Direct`; without, it is queued for their
/// task); a large pass is split over `spread` threads (the CPUs this process may use),
/// each taking a disjoint part. Returns how many were cut as slow readers.
fn fan_out(msg: &Arc<Message>, subs: &[Arc<Subscriber>], spread: usize, direct: bool) -> u64 {
    let push =
        |part: &[Arc<Subscriber>]| part.iter().filter(|s| !s.push_with(msg, direct)).count() as u64;
    if spread <= 1 || subs.len() < SPREAD_MIN {
        return push(subs);
    }
    let per = subs.len().div_ceil(spread);
    std::thread::scope(|scope| {
        let mut parts = subs.chunks(per);
        let first = parts.next().unwrap_or(&[]);
        let others: Vec<_> = parts.map(|p| scope.spawn(move || push(p))).collect();
        let mut cut = push(first);
        for t in others {
            cut += t.join().unwrap_or(0);
        }
        cut
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubOptions;
    use crate::protocol::{ChannelId, MessageId};
    use crate::store::{MemoryStore, StoreOptions};

    fn hub() -> Hub {
        let store = MemoryStore::open(StoreOptions::default()).unwrap();
        Hub::new(Box::new(store), HubOptions::default())
    }

    fn key(n: u8) -> ChannelKey {
        ChannelKey::private(ChannelId([n; 16]))
    }

    fn publish(receivers: Vec<ChannelKey>, body: &'static str, label: &str) -> Publish {
        let body = Bytes::from_static(body.as_bytes());
        Publish::backend(receivers, body, 3600, label.into())
    }

    fn bodies(msgs: &[Arc<Message>]) -> Vec<&str> {
        msgs.iter()
            .map(|m| std::str::from_utf8(&m.body).unwrap())
            .collect()
    }

    /// A socket that counts what the fan-out wrote to it straight away.
    struct CountingSocket(Arc<std::sync::atomic::AtomicUsize>);

    impl crate::hub::subscriber::Direct for CountingSocket {
        fn offer(&self, _: &Arc<Message>) -> crate::hub::subscriber::Offer {
            self.0.fetch_add(1, Ordering::Relaxed);
            crate::hub::subscriber::Offer::Written
        }
    }

    /// Every message of a batch but its last is marked `batched`: the subscriber's task
    /// writes the batch together; a lone publish is written straight away.
    #[tokio::test]
    async fn a_batch_is_queued_for_the_task_and_a_lone_publish_written_directly() {
        let hub = hub();
        let a = key(1);
        let sub = hub.subscribe(vec![a], None).subscriber;
        let direct = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        sub.attach(Box::new(CountingSocket(direct.clone())));
        hub.publish(publish(vec![a], "one", "").batched(true))
            .unwrap();
        hub.publish(publish(vec![a], "two", "").batched(false))
            .unwrap();
        assert_eq!(direct.load(Ordering::Relaxed), 0);
        assert_eq!(bodies(&sub.recv().await.unwrap()), ["one", "two"]);
        sub.done();
        hub.publish(publish(vec![a], "three", "")).unwrap();
        assert_eq!(direct.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_b_a_is_delivered_stored_and_replayed_once() {
        let hub = hub();
        let (a, b) = (key(1), key(2));
        let live = hub.subscribe(vec![a], None).subscriber;
        let msg = hub.publish(publish(vec![a, b, a], "aba", "")).unwrap();
        assert_eq!(&*msg.receivers, &[a, b]);
        hub.publish(publish(vec![a], "sentinel", "")).unwrap();
        // Live: the message, then the sentinel: nothing in between.
        assert_eq!(bodies(&live.recv().await.unwrap()), ["aba", "sentinel"]);
        // History: a resume on `a` replays it once.
        let replay = hub.subscribe(vec![a], Some(MessageId([0; 13]))).replay;
        assert_eq!(bodies(&replay), ["aba", "sentinel"]);
        let replay = hub.subscribe(vec![b], Some(MessageId([0; 13]))).replay;
        assert_eq!(bodies(&replay), ["aba"]);
    }

    #[test]
    fn every_publish_is_counted_once_under_its_checked_label() {
        let hub = hub();
        let a = key(1);
        hub.publish(publish(vec![a], "1", "im_message")).unwrap();
        hub.publish(publish(vec![a, a], "2", "im_message")).unwrap();
        hub.publish(publish(vec![a], "3", "")).unwrap();
        hub.publish(publish(vec![a], "4", &"x".repeat(10_000)))
            .unwrap();
        assert_eq!(hub.counters.published.load(Ordering::Relaxed), 4);
        let daily = hub.counters.daily_json(super::super::now_unix());
        assert_eq!(
            daily["messages"],
            serde_json::json!({"im_message": 2, "unknown": 2})
        );
    }

    #[test]
    fn a_publish_without_receivers_is_refused_and_not_counted() {
        let hub = hub();
        let err = hub.publish(publish(vec![], "x", "im")).unwrap_err();
        assert!(matches!(err, PublishError::NoReceivers));
        assert_eq!(err.code(), ErrorCode::NoChannels);
        assert_eq!(hub.counters.published.load(Ordering::Relaxed), 0);
        let daily = hub.counters.daily_json(super::super::now_unix());
        assert_eq!(daily["messages"], serde_json::json!({}));
    }

    #[test]
    fn expiry_is_capped_at_the_message_ttl() {
        let hub = hub();
        let mut p = publish(vec![key(1)], "x", "");
        p.expiry = u32::MAX;
        assert_eq!(
            hub.publish(p).unwrap().expiry,
            HubOptions::default().max_ttl
        );
    }
}
