//! Tag watches (`CPullWatch`): user U watches tag T until an expiry. The owner answers
//! "who watches these tags" for `PublishToTags` items and `WatchUsers` queries.
//!
//! Bounded: at most `max` (tag, user) pairs; adding past it evicts the pair added or
//! extended longest ago (counted in `evicted`). Expired pairs are invisible at once and
//! removed by [`Watches::purge`] (hub upkeep).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Default bound on (tag, user) pairs.
pub const MAX_WATCH_PAIRS: usize = 100_000;

#[derive(Clone, Copy)]
struct Entry {
    expires: u64,
    stamp: u64,
}

#[derive(Default)]
struct State {
    by_tag: HashMap<String, HashMap<i64, Entry>>,
    by_user: HashMap<i64, HashSet<String>>,
    /// Pairs by the time they were added or extended (oldest first).
    order: BTreeMap<u64, (String, i64)>,
    next_stamp: u64,
}

impl State {
    fn remove(&mut self, tag: &str, user: i64) {
        if let Some(users) = self.by_tag.get_mut(tag) {
            if let Some(e) = users.remove(&user) {
                self.order.remove(&e.stamp);
            }
            if users.is_empty() {
                self.by_tag.remove(tag);
            }
        }
        if let Some(tags) = self.by_user.get_mut(&user) {
            tags.remove(tag);
            if tags.is_empty() {
                self.by_user.remove(&user);
            }
        }
    }
}

pub struct Watches {
    state: Mutex<State>,
    max: usize,
    evicted: AtomicU64,
}

impl Default for Watches {
    fn default() -> Self {
        Self::new(MAX_WATCH_PAIRS)
    }
}

impl Watches {
    pub fn new(max: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            max: max.max(1),
            evicted: AtomicU64::new(0),
        }
    }

    /// `user` watches each of `tags` until `now + ttl` (adding or extending). A ttl of 0
    /// expires at once.
    pub fn add(&self, user: i64, tags: &[String], ttl: u32, now: u64) {
        let expires = now + ttl as u64;
        let mut st = self.state.lock();
        let mut evicted = 0;
        for tag in tags {
            let stamp = st.next_stamp;
            st.next_stamp += 1;
            let old = st
                .by_tag
                .entry(tag.clone())
                .or_default()
                .insert(user, Entry { expires, stamp });
            match old {
                Some(e) => {
                    st.order.remove(&e.stamp);
                }
                None => {
                    st.by_user.entry(user).or_default().insert(tag.clone());
                }
            }
            st.order.insert(stamp, (tag.clone(), user));
            while st.order.len() > self.max {
                let (_, (t, u)) = st.order.pop_first().expect("not empty");
                st.remove(&t, u);
                evicted += 1;
            }
        }
        drop(st);
        if evicted > 0 {
            self.evicted.fetch_add(evicted, Ordering::Relaxed);
            tracing::warn!(
                evicted,
                limit = self.max,
                "tag watch limit reached: oldest watches dropped"
            );
        }
    }

    /// Stop `user` watching `tag`, or every tag when `None`.
    pub fn delete(&self, user: i64, tag: Option<&str>) {
        let mut st = self.state.lock();
        match tag {
            Some(t) => st.remove(t, user),
            None => {
                let tags: Vec<String> = st
                    .by_user
                    .get(&user)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                for t in tags {
                    st.remove(&t, user);
                }
            }
        }
    }

    /// Users watching any of `tags` at `now`, sorted and deduplicated.
    pub fn users(&self, tags: &[String], now: u64) -> Vec<i64> {
        let st = self.state.lock();
        let mut out: Vec<i64> = tags
            .iter()
            .filter_map(|t| st.by_tag.get(t))
            .flat_map(|users| users.iter())
            .filter(|(_, e)| e.expires > now)
            .map(|(u, _)| *u)
            .collect();
        drop(st);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Drop expired pairs; returns how many.
    pub fn purge(&self, now: u64) -> usize {
        let mut st = self.state.lock();
        let expired: Vec<(String, i64)> = st
            .by_tag
            .iter()
            .flat_map(|(t, users)| {
                users
                    .iter()
                    .filter(|(_, e)| e.expires <= now)
                    .map(move |(u, _)| (t.clone(), *u))
            })
            .collect();
        for (t, u) in &expired {
            st.remove(t, *u);
        }
        expired.len()
    }

    /// (tag, user) pairs held, expired ones included until purged.
    pub fn len(&self) -> usize {
        self.state.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pairs dropped because the bound was reached.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_extend_delete_and_lookup() {
        let w = Watches::new(100);
        w.add(2, &tags(&["A", "B"]), 60, 1000);
        w.add(1, &tags(&["A"]), 60, 1000);
        w.add(3, &tags(&["C"]), 60, 1000);
        assert_eq!(w.users(&tags(&["A", "B"]), 1000), vec![1, 2]);
        assert_eq!(w.users(&tags(&["C", "Z"]), 1000), vec![3]);
        assert_eq!(w.len(), 4);
        w.delete(2, Some("A"));
        assert_eq!(w.users(&tags(&["A"]), 1000), vec![1]);
        assert_eq!(w.users(&tags(&["B"]), 1000), vec![2]);
        w.delete(2, None);
        assert!(w.users(&tags(&["B"]), 1000).is_empty());
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn watches_expire_and_extend() {
        let w = Watches::new(100);
        w.add(1, &tags(&["A"]), 10, 1000);
        assert_eq!(w.users(&tags(&["A"]), 1009), vec![1]);
        assert!(w.users(&tags(&["A"]), 1010).is_empty());
        // Extending moves the expiry.
        w.add(1, &tags(&["A"]), 10, 1005);
        assert_eq!(w.users(&tags(&["A"]), 1014), vec![1]);
        assert_eq!(w.purge(1014), 0);
        assert_eq!(w.purge(1015), 1);
        assert!(w.is_empty());
    }

    #[test]
    fn bound_evicts_the_oldest_and_counts() {
        let w = Watches::new(3);
        w.add(1, &tags(&["A"]), 60, 0);
        w.add(2, &tags(&["A"]), 60, 0);
        w.add(3, &tags(&["A"]), 60, 0);
        w.add(1, &tags(&["A"]), 60, 0); // extended: now the newest
        w.add(4, &tags(&["A"]), 60, 0);
        assert_eq!(w.users(&tags(&["A"]), 0), vec![1, 3, 4]);
        assert_eq!(w.evicted(), 1);
        assert_eq!(w.len(), 3);
    }
}
