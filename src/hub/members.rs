//! The subscribers of one channel, oldest first.
//!
//! Each carries its id beside it, and the list is kept in id order: leaving is a binary
//! search over ids held here (no pointer chased per step into each `Subscriber`, a cache
//! miss each in a channel of thousands) and a removal that moves the shorter side. Long
//! polls released by one message leave in about the order they joined, from the front of
//! a channel whose newcomers join at the back; with a `Vec`, every leave moved the whole
//! rest of the list (and the search chased 13 pointers in a channel of 5,000), 11% of the
//! server's CPU when 5,000 parked polls were released (issue 11, item 4).
//!
//! Most channels have one or two subscribers: an empty list allocates nothing, a
//! one-entry list 16 bytes.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Subscriber;

#[derive(Default)]
pub struct Members(VecDeque<Member>);

pub struct Member {
    id: u64,
    sub: Arc<Subscriber>,
}

impl Members {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Oldest first (by id).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<Subscriber>> + '_ {
        self.0.iter().map(|m| &m.sub)
    }

    /// Add `sub` at its place by id: the back, but for a subscribe that raced (its id
    /// taken before the hub lock, after another's).
    pub fn add(&mut self, sub: Arc<Subscriber>) {
        let id = sub.id;
        if self.0.capacity() == 0 {
            // Most channels keep one subscriber (a user's own): room for one, 16 bytes,
            // not the 4 a first push would make (64 bytes, twice per idle WebSocket).
            self.0.reserve_exact(1);
        }
        let at = match self.0.back() {
            Some(last) if last.id > id => self.0.partition_point(|m| m.id < id),
            _ => self.0.len(),
        };
        self.0.insert(at, Member { id, sub });
    }

    /// Remove the subscriber with `id`, if here.
    pub fn remove(&mut self, id: u64) -> Option<Arc<Subscriber>> {
        let i = self.0.binary_search_by_key(&id, |m| m.id).ok()?;
        let gone = self.0.remove(i).map(|m| m.sub);
        if self.0.is_empty() {
            // An emptied channel may stay for presence (`online_ttl`): it holds no buffer.
            self.0 = VecDeque::new();
        }
        gone
    }

    /// Remove the oldest subscriber (the one a crowded public channel closes).
    pub fn pop_oldest(&mut self) -> Option<Arc<Subscriber>> {
        self.0.pop_front().map(|m| m.sub)
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = &'a Arc<Subscriber>;
    type IntoIter = std::iter::Map<
        std::collections::vec_deque::Iter<'a, Member>,
        fn(&'a Member) -> &'a Arc<Subscriber>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|m| &m.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChannelId, ChannelKey};

    fn sub(id: u64) -> Arc<Subscriber> {
        let key = ChannelKey::private(ChannelId([1; 16]));
        Arc::new(Subscriber::new(id, vec![key].into_boxed_slice(), 8))
    }

    fn ids(m: &Members) -> Vec<u64> {
        m.iter().map(|s| s.id).collect()
    }

    /// Whatever the order they join in (racing subscribes), members are kept by id, and
    /// each leaves once from any place: front, middle, back.
    #[test]
    fn members_stay_in_id_order_and_leave_from_any_place() {
        let mut m = Members::default();
        for id in [1, 2, 4, 3, 5, 7, 6, 0] {
            m.add(sub(id));
        }
        assert_eq!(ids(&m), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(m.remove(0).map(|s| s.id), Some(0));
        assert_eq!(m.remove(0).map(|s| s.id), None);
        assert_eq!(m.remove(4).map(|s| s.id), Some(4));
        assert_eq!(m.remove(7).map(|s| s.id), Some(7));
        assert_eq!(m.remove(9).map(|s| s.id), None);
        assert_eq!(ids(&m), [1, 2, 3, 5, 6]);
        assert_eq!(m.pop_oldest().map(|s| s.id), Some(1));
        m.add(sub(8));
        assert_eq!(
            (&m).into_iter().map(|s| s.id).collect::<Vec<_>>(),
            [2, 3, 5, 6, 8]
        );
        for id in [2, 3, 5, 6, 8] {
            assert!(m.remove(id).is_some());
        }
        assert!(m.is_empty());
        assert_eq!(m.len(), 0);
    }
}
