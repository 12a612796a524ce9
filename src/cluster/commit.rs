//! Group commit (DESIGN.md "Several nodes", "Group commit"): concurrent publishes on
//! one node share their Redis round trips. Generic over the item and its answer, so the
//! batching is tested here without Redis; `cluster/publish.rs` is the Redis side.
//!
//! Leader/follower, no task and no timer:
//! - a caller queues its item; if no commit is in flight it becomes the committer at
//!   once (a lone publish waits for nothing), else it parks on its own slot;
//! - the committer takes the queue's head, up to [`Bounds::max_batch`] items /
//!   [`Bounds::max_batch_bytes`] (its own item is always first: it found the queue empty,
//!   or was promoted as its head), runs the commit once for them, in queue order, and
//!   hands each caller its own answer;
//! - then it promotes the new head of the queue (if any) to committer and returns, so a
//!   caller never waits longer than its own batch and the one before it;
//! - a caller that finds the queue at its bound is refused at once ([`Refused::Full`]):
//!   it holds a thread and its request while it waits, and a queue that long means Redis
//!   is not keeping up, so an immediate "retry later" is the better answer than a pile-up.
//!
//! Batches never overlap, so everything one batch does in Redis happens before anything
//! the next one does: the order of the queue is the order of the ids and of the writes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// The limits of the queue and of one batch.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Items waiting for a batch (not counting the one being committed).
    pub max_queued: usize,
    /// Their bytes ([`Committer::submit`]'s `bytes`).
    pub max_queued_bytes: usize,
    /// Items in one batch.
    pub max_batch: usize,
    /// Bytes of one batch; a larger single item still goes, alone.
    pub max_batch_bytes: usize,
}

/// The bounds of the cluster publish path: a batch of 256 messages / 1 MiB is one
/// `MULTI` Redis runs in well under a millisecond; 4,096 queued messages are 16 batches,
/// far beyond what the concurrent publishers of a node (one per connection or PHP
/// worker) queue unless Redis stalls.
pub const PUBLISH_BOUNDS: Bounds = Bounds {
    max_queued: 4096,
    max_queued_bytes: 64 << 20,
    max_batch: 256,
    max_batch_bytes: 1 << 20,
};

/// Why an item got no answer from a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is at its bound: nothing was done with the item.
    Full { queued: usize },
    /// The committer of its batch panicked before answering it.
    Abandoned,
}

/// Counters, shown in `/server-stat/` (`bxpush.redis`).
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Batches committed.
    pub batches: AtomicU64,
    /// Items in them.
    pub items: AtomicU64,
    /// The largest batch.
    pub largest: AtomicU64,
    /// Items refused because the queue was full.
    pub full: AtomicU64,
}

enum SlotState<R> {
    Waiting,
    /// Promoted: commit the next batch.
    Lead,
    Done(Result<R, Refused>),
}

/// Where one caller waits for its answer or its turn to commit.
struct Slot<R> {
    state: Mutex<SlotState<R>>,
    woken: Condvar,
}

impl<R> Slot<R> {
    fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState::Waiting),
            woken: Condvar::new(),
        }
    }

    fn set(&self, s: SlotState<R>) {
        *self.state.lock() = s;
        self.woken.notify_one();
    }

    /// Wait until answered (`Some`) or promoted (`None`).
    fn wait(&self) -> Option<Result<R, Refused>> {
        let mut st = self.state.lock();
        loop {
            match std::mem::replace(&mut *st, SlotState::Waiting) {
                SlotState::Waiting => self.woken.wait(&mut st),
                SlotState::Lead => return None,
                SlotState::Done(r) => return Some(r),
            }
        }
    }
}

struct Entry<T, R> {
    item: T,
    bytes: usize,
    slot: Arc<Slot<R>>,
}

struct Queue<T, R> {
    waiting: VecDeque<Entry<T, R>>,
    bytes: usize,
    /// A committer is running (or promoted and about to).
    committing: bool,
}

pub struct Committer<T, R> {
    bounds: Bounds,
    queue: Mutex<Queue<T, R>>,
    pub stats: CommitStats,
}

impl<T, R> Committer<T, R> {
    pub fn new(bounds: Bounds) -> Self {
        Committer {
            bounds,
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                bytes: 0,
                committing: false,
            }),
            stats: CommitStats::default(),
        }
    }

    /// Items waiting for a batch now.
    pub fn queued(&self) -> usize {
        self.queue.lock().waiting.len()
    }

    /// Commit `item` (of `bytes`) in the next batch and return its answer. `commit` runs
    /// one batch, in queue order, and returns one answer per item in the same order; it
    /// is run on the thread of whichever caller commits that batch, so every caller
    /// must pass the same function. Blocks the calling thread until answered.
    pub fn submit(
        &self,
        item: T,
        bytes: usize,
        commit: &dyn Fn(Vec<T>) -> Vec<R>,
    ) -> Result<R, Refused> {
        let slot = Arc::new(Slot::new());
        let lead = {
            let mut q = self.queue.lock();
            let over_bytes =
                !q.waiting.is_empty() && q.bytes + bytes > self.bounds.max_queued_bytes;
            if q.waiting.len() >= self.bounds.max_queued || over_bytes {
                self.stats.full.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::Full {
                    queued: q.waiting.len(),
                });
            }
            q.bytes += bytes;
            q.waiting.push_back(Entry {
                item,
                bytes,
                slot: slot.clone(),
            });
            !std::mem::replace(&mut q.committing, true)
        };
        if !lead {
            if let Some(answer) = slot.wait() {
                return answer;
            }
        }
        self.lead(&slot, commit)
    }

    /// Commit the batch at the head of the queue (`mine` is its first item).
    fn lead(&self, mine: &Arc<Slot<R>>, commit: &dyn Fn(Vec<T>) -> Vec<R>) -> Result<R, Refused> {
        let batch = self.take_batch();
        debug_assert!(batch.first().is_some_and(|e| Arc::ptr_eq(&e.slot, mine)));
        let n = batch.len();
        let mut items = Vec::with_capacity(n);
        let mut slots = Vec::with_capacity(n);
        for e in batch {
            items.push(e.item);
            slots.push(e.slot);
        }
        // Answers every slot still unanswered and promotes the next committer, also
        // when `commit` panics: no caller is left waiting for ever.
        let mut handoff = Handoff {
            committer: self,
            slots,
        };
        let answers = commit(items);
        self.count(n);
        let mut own = Err(Refused::Abandoned);
        if answers.len() == n {
            for (slot, answer) in handoff.slots.drain(..).zip(answers) {
                if Arc::ptr_eq(&slot, mine) {
                    own = Ok(answer);
                } else {
                    slot.set(SlotState::Done(Ok(answer)));
                }
            }
        }
        drop(handoff);
        own
    }

    fn take_batch(&self) -> Vec<Entry<T, R>> {
        let mut q = self.queue.lock();
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(e) = q.waiting.front() {
            let fits = batch.len() < self.bounds.max_batch
                && (batch.is_empty() || bytes + e.bytes <= self.bounds.max_batch_bytes);
            if !fits {
                break;
            }
            bytes += e.bytes;
            batch.extend(q.waiting.pop_front());
        }
        q.bytes -= bytes;
        batch
    }

    fn count(&self, n: usize) {
        let s = &self.stats;
        s.batches.fetch_add(1, Ordering::Relaxed);
        s.items.fetch_add(n as u64, Ordering::Relaxed);
        s.largest.fetch_max(n as u64, Ordering::Relaxed);
    }
}

/// The end of a batch: unanswered slots get [`Refused::Abandoned`], then the head of the
/// queue becomes the committer, or the committer's place is freed.
struct Handoff<'a, T, R> {
    committer: &'a Committer<T, R>,
    slots: Vec<Arc<Slot<R>>>,
}

impl<T, R> Drop for Handoff<'_, T, R> {
    fn drop(&mut self) {
        for slot in self.slots.drain(..) {
            slot.set(SlotState::Done(Err(Refused::Abandoned)));
        }
        let mut q = self.committer.queue.lock();
        match q.waiting.front() {
            Some(next) => next.slot.set(SlotState::Lead),
            None => q.committing = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;

    fn bounds(max_queued: usize, max_batch: usize) -> Bounds {
        Bounds {
            max_queued,
            max_queued_bytes: usize::MAX,
            max_batch,
            max_batch_bytes: usize::MAX,
        }
    }

    /// A stand-in for Redis: `INCRBY n` on a counter, the ids given in queue order;
    /// every batch is recorded; a batch can be held until the test lets it go.
    struct FakeRedis {
        counter: Mutex<u64>,
        batches: Mutex<Vec<Vec<u32>>>,
        hold: Mutex<Option<mpsc::Receiver<()>>>,
    }

    impl FakeRedis {
        fn new() -> Self {
            FakeRedis {
                counter: Mutex::new(0),
                batches: Mutex::new(Vec::new()),
                hold: Mutex::new(None),
            }
        }

        /// The next batch blocks until the returned sender sends (or is dropped).
        fn hold_next(&self) -> mpsc::Sender<()> {
            let (tx, rx) = mpsc::channel();
            *self.hold.lock() = Some(rx);
            tx
        }

        /// Items are (publisher, n); the answer is (publisher, n, id).
        fn commit(&self, items: Vec<(u32, u32)>) -> Vec<(u32, u32, u64)> {
            let held = self.hold.lock().take();
            if let Some(rx) = held {
                let _ = rx.recv();
            }
            self.batches
                .lock()
                .push(items.iter().map(|&(p, n)| p * 1000 + n).collect());
            let mut c = self.counter.lock();
            *c += items.len() as u64;
            let first = *c - items.len() as u64 + 1;
            items
                .into_iter()
                .enumerate()
                .map(|(i, (p, n))| (p, n, first + i as u64))
                .collect()
        }
    }

    fn wait_queued<T, R>(c: &Committer<T, R>, n: usize) {
        // A signal, not a sleep: the committer's own queue length.
        while c.queued() < n {
            thread::yield_now();
        }
    }

    #[test]
    fn a_lone_item_is_committed_at_once_in_a_batch_of_one() {
        let c = Committer::new(PUBLISH_BOUNDS);
        let redis = FakeRedis::new();
        for n in 0..3 {
            let got = c.submit((0, n), 10, &|b| redis.commit(b)).unwrap();
            assert_eq!(got, (0, n, n as u64 + 1));
        }
        assert_eq!(*redis.batches.lock(), vec![vec![0], vec![1], vec![2]]);
        assert_eq!(c.stats.batches.load(Ordering::Relaxed), 3);
        assert_eq!(c.stats.largest.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn items_queued_behind_a_commit_share_the_next_batch_in_queue_order() {
        let c = Arc::new(Committer::new(PUBLISH_BOUNDS));
        let redis = Arc::new(FakeRedis::new());
        let release = redis.hold_next();
        let mut threads = Vec::new();
        // Publisher 0 commits (held); 1..=5 queue behind it, one after the other.
        for p in 0..6u32 {
            let (cc, rr) = (c.clone(), redis.clone());
            threads.push(thread::spawn(move || {
                cc.submit((p, 0), 10, &|b| rr.commit(b)).unwrap()
            }));
            if p == 0 {
                while redis.hold.lock().is_some() {
                    thread::yield_now(); // the first commit took the hold
                }
            } else {
                wait_queued(&c, p as usize);
            }
        }
        release.send(()).unwrap();
        let got: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(
            *redis.batches.lock(),
            vec![vec![0], vec![1000, 2000, 3000, 4000, 5000]]
        );
        // Each caller got its own answer: its id is its place in the queue.
        let ids: Vec<_> = got.iter().map(|&(p, _, id)| (p, id)).collect();
        assert_eq!(ids, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]);
        assert_eq!(c.stats.largest.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn many_publishers_get_consecutive_ids_each_in_its_own_order() {
        const THREADS: u32 = 16;
        const EACH: u32 = 300;
        let c = Arc::new(Committer::new(bounds(4096, 7)));
        let redis = Arc::new(FakeRedis::new());
        let threads: Vec<_> = (0..THREADS)
            .map(|p| {
                let (c, redis) = (c.clone(), redis.clone());
                thread::spawn(move || {
                    (0..EACH)
                        .map(|n| c.submit((p, n), 10, &|b| redis.commit(b)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in threads {
            let mine = t.join().unwrap();
            // One publisher's items: answered in its order, ids increasing.
            assert!(mine
                .windows(2)
                .all(|w| w[0].1 + 1 == w[1].1 && w[0].2 < w[1].2));
            all.extend(mine.into_iter().map(|(_, _, id)| id));
        }
        all.sort_unstable();
        let total = (THREADS * EACH) as u64;
        assert_eq!(all, (1..=total).collect::<Vec<_>>(), "each id once, no gap");
        assert!(redis.batches.lock().iter().all(|b| b.len() <= 7));
        assert_eq!(c.stats.items.load(Ordering::Relaxed), total);
    }

    /// A commit function whose first batch waits for the test's signal, and a way to
    /// see that first batch started (its hold taken).
    type Hold = Arc<Mutex<Option<mpsc::Receiver<()>>>>;

    /// A commit function every test thread calls.
    type SharedCommit<R> = Arc<dyn Fn(Vec<u32>) -> Vec<R> + Send + Sync>;

    fn held() -> (mpsc::Sender<()>, Hold) {
        let (tx, rx) = mpsc::channel();
        (tx, Arc::new(Mutex::new(Some(rx))))
    }

    fn wait_hold_taken(hold: &Hold) {
        while hold.lock().is_some() {
            thread::yield_now();
        }
    }

    #[test]
    fn every_waiter_gets_its_own_answer_and_a_failed_batch_answers_all_of_it() {
        let c = Arc::new(Committer::new(PUBLISH_BOUNDS));
        let (release, hold) = held();
        let batches = AtomicU64::new(0);
        // Batch 1 (item 0) succeeds once let go; batch 2 (items 1..=4) is an error for
        // every item but each error names its own item; batch 3 succeeds again.
        let h = hold.clone();
        let commit = move |items: Vec<u32>| -> Vec<Result<u32, String>> {
            let rx = h.lock().take();
            if let Some(rx) = rx {
                let _ = rx.recv();
            }
            match batches.fetch_add(1, Ordering::Relaxed) {
                1 => items.iter().map(|i| Err(format!("down for {i}"))).collect(),
                _ => items.into_iter().map(Ok).collect(),
            }
        };
        let commit: SharedCommit<Result<u32, String>> = Arc::new(commit);
        let mut threads = Vec::new();
        for i in 0..5u32 {
            let (cc, commit) = (c.clone(), commit.clone());
            threads.push(thread::spawn(move || cc.submit(i, 1, &*commit).unwrap()));
            if i == 0 {
                wait_hold_taken(&hold);
            } else {
                wait_queued(&c, i as usize);
            }
        }
        release.send(()).unwrap();
        let got: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(got[0], Ok(0));
        for (i, g) in got.iter().enumerate().skip(1) {
            assert_eq!(g, &Err(format!("down for {i}")));
        }
        assert_eq!(c.submit(9, 1, &*commit).unwrap(), Ok(9));
    }

    #[test]
    fn over_the_bound_an_item_is_refused_at_once_and_the_queued_ones_still_commit() {
        let c = Arc::new(Committer::new(bounds(3, 2)));
        let redis = Arc::new(FakeRedis::new());
        let release = redis.hold_next();
        let mut threads = Vec::new();
        for p in 0..4u32 {
            let (cc, rr) = (c.clone(), redis.clone());
            threads.push(thread::spawn(move || {
                cc.submit((p, 0), 10, &|b| rr.commit(b))
            }));
            if p == 0 {
                while redis.hold.lock().is_some() {
                    thread::yield_now();
                }
            } else {
                wait_queued(&c, p as usize);
            }
        }
        // One committing, three queued: the fifth is refused without waiting.
        assert_eq!(
            c.submit((9, 0), 10, &|b| redis.commit(b)),
            Err(Refused::Full { queued: 3 })
        );
        assert_eq!(c.stats.full.load(Ordering::Relaxed), 1);
        release.send(()).unwrap();
        let got: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(got.iter().all(Result::is_ok));
        // The batch bound: 1 (held), then 2 + 1.
        let sizes: Vec<usize> = redis.batches.lock().iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 2, 1]);
    }

    #[test]
    fn the_byte_bounds_split_batches_but_a_large_item_goes_alone() {
        let b = Bounds {
            max_queued: 100,
            max_queued_bytes: 1000,
            max_batch: 100,
            max_batch_bytes: 100,
        };
        let c = Arc::new(Committer::new(b));
        let redis = Arc::new(FakeRedis::new());
        let release = redis.hold_next();
        let sizes = [1usize, 60, 60, 500, 30, 30];
        let mut threads = Vec::new();
        for (p, &bytes) in sizes.iter().enumerate() {
            let (cc, rr) = (c.clone(), redis.clone());
            threads.push(thread::spawn(move || {
                cc.submit((p as u32, 0), bytes, &|b| rr.commit(b))
            }));
            if p == 0 {
                while redis.hold.lock().is_some() {
                    thread::yield_now();
                }
            } else {
                wait_queued(&c, p);
            }
        }
        // Queued: 60 + 60 + 500 + 30 + 30 = 680 bytes: 400 more pass the 1,000.
        assert_eq!(
            c.submit((9, 0), 400, &|b| redis.commit(b)),
            Err(Refused::Full { queued: 5 })
        );
        release.send(()).unwrap();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(
            *redis.batches.lock(),
            vec![
                vec![0],
                vec![1000],
                vec![2000],
                vec![3000],
                vec![4000, 5000]
            ]
        );
    }

    #[test]
    fn a_panicking_commit_answers_its_batch_and_the_next_one_commits() {
        let c = Arc::new(Committer::new(PUBLISH_BOUNDS));
        let (release, hold) = held();
        let h = hold.clone();
        let commit = move |items: Vec<u32>| -> Vec<u32> {
            let rx = h.lock().take();
            if let Some(rx) = rx {
                let _ = rx.recv();
            }
            assert!(!items.contains(&1), "a bug while committing");
            items
        };
        let commit: SharedCommit<u32> = Arc::new(commit);
        let mut threads = Vec::new();
        for i in 0..3u32 {
            let (cc, commit) = (c.clone(), commit.clone());
            threads.push(thread::spawn(move || cc.submit(i, 1, &*commit)));
            if i == 0 {
                wait_hold_taken(&hold);
            } else {
                wait_queued(&c, i as usize);
            }
        }
        release.send(()).unwrap();
        let mut got = threads.into_iter().map(|t| t.join());
        assert_eq!(got.next().unwrap().unwrap(), Ok(0));
        // Items 1 and 2 share the batch that panics: the committer's own thread
        // unwinds, the other item is answered, not left waiting.
        let outcomes: Vec<_> = got.collect();
        let abandoned = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Err(Refused::Abandoned))))
            .count();
        let panicked = outcomes.iter().filter(|o| o.is_err()).count();
        assert_eq!((abandoned, panicked), (1, 1));
        assert_eq!(c.submit(7, 1, &*commit), Ok(7));
    }
}
