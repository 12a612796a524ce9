//! A PHP request's queue of [`Item`]s before they are handed off: what Bitrix's
//! `\Bitrix\Pull\Event` queue does (`Event::add`, `CPullWatch::AddToStack`, … queue;
//! `Event::send()` or the end of the request sends).
//!
//! Items keep their order. A publish carries a merge key (the message without its
//! send-time fields, or its `groupId`): a publish whose key is already queued adds its
//! receivers to the queued one instead of becoming a second message, so one message to
//! 500 users is one item with 500 receivers. The queue owns the index from merge key to
//! position and keeps it right whatever is taken out; repeated receivers are left to the
//! hub's publishing gate.

use std::collections::HashMap;

use bytes::Bytes;

use super::Item;
use crate::protocol::ChannelKey;

#[derive(Debug, Default)]
pub struct RequestQueue {
    items: Vec<Item>,
    /// Merge key → position in `items` of a queued `Item::Publish`.
    merge_index: HashMap<String, usize>,
}

impl RequestQueue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Queue an item as it is (watch changes, publishes to tags).
    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    /// Queue a publish, or add `receivers` to the queued publish with the same `merge_key`.
    pub fn push_publish(
        &mut self,
        merge_key: String,
        receivers: Vec<ChannelKey>,
        body: Bytes,
        expiry: u32,
        kind: String,
    ) {
        if let Some(&i) = self.merge_index.get(&merge_key) {
            if let Some(Item::Publish { receivers: r, .. }) = self.items.get_mut(i) {
                r.extend(receivers);
                return;
            }
        }
        self.merge_index.insert(merge_key, self.items.len());
        self.items.push(Item::Publish {
            receivers,
            body,
            expiry,
            kind,
        });
    }

    /// Everything queued, in order; the queue is empty afterwards.
    pub fn take_all(&mut self) -> Vec<Item> {
        self.merge_index.clear();
        std::mem::take(&mut self.items)
    }

    /// Put items that could not be sent back in front, in their order. They are not merge
    /// targets any more (their merge keys are gone), so a later publish queues anew.
    pub fn restore(&mut self, unsent: Vec<Item>) {
        let n = unsent.len();
        self.items.splice(0..0, unsent);
        for i in self.merge_index.values_mut() {
            *i += n;
        }
    }

    /// Take the queued `WatchAdd`s (of `user` only, if given), in order; the rest stays.
    pub fn take_watch_adds(&mut self, user: Option<i64>) -> Vec<Item> {
        self.extract(|item| {
            matches!(item, Item::WatchAdd { user_id, .. } if user.is_none_or(|u| u == *user_id))
        })
    }

    /// Forget `tag` (every tag if `None`) in the queued `WatchAdd`s of `user`; one left
    /// without tags is dropped.
    pub fn drop_watch_tags(&mut self, user: i64, tag: Option<&str>) {
        self.extract(|item| match item {
            Item::WatchAdd { user_id, tags, .. } if *user_id == user => {
                match tag {
                    None => tags.clear(),
                    Some(t) => tags.retain(|x| x != t),
                }
                tags.is_empty()
            }
            _ => false,
        });
    }

    /// Remove the items `take` says yes to (it may change the others), returning them in
    /// order; positions in the merge index follow the items that stay.
    fn extract(&mut self, mut take: impl FnMut(&mut Item) -> bool) -> Vec<Item> {
        let mut new_position = Vec::with_capacity(self.items.len());
        let mut kept = Vec::with_capacity(self.items.len());
        let mut taken = Vec::new();
        for mut item in std::mem::take(&mut self.items) {
            if take(&mut item) {
                new_position.push(None);
                taken.push(item);
            } else {
                new_position.push(Some(kept.len()));
                kept.push(item);
            }
        }
        self.merge_index
            .retain(|_, i| new_position[*i].inspect(|&n| *i = n).is_some());
        self.items = kept;
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChannelId;

    fn key(n: u8) -> ChannelKey {
        ChannelKey::private(ChannelId([n; 16]))
    }

    fn publish(q: &mut RequestQueue, merge: &str, to: &[u8]) {
        let body = Bytes::from(merge.to_owned());
        let receivers = to.iter().map(|n| key(*n)).collect();
        q.push_publish(merge.into(), receivers, body, 60, "im".into());
    }

    fn watch(user: i64, tags: &[&str]) -> Item {
        Item::WatchAdd {
            user_id: user,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ttl: 1920,
        }
    }

    /// (body, receivers) of each publish, "watch:<user>:<tags>" for each watch.
    fn shape(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                Item::Publish {
                    body, receivers, ..
                } => {
                    let to: Vec<String> = receivers.iter().map(|k| k.id.0[0].to_string()).collect();
                    format!("{}>{}", String::from_utf8_lossy(body), to.join(","))
                }
                Item::WatchAdd { user_id, tags, .. } => {
                    format!("watch:{user_id}:{}", tags.join(","))
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn identical_messages_merge_and_order_is_kept() {
        let mut q = RequestQueue::default();
        publish(&mut q, "m1", &[1]);
        q.push(watch(7, &["t"]));
        publish(&mut q, "m2", &[2]);
        publish(&mut q, "m1", &[3, 1]);
        assert_eq!(q.len(), 3);
        assert_eq!(shape(&q.take_all()), ["m1>1,3,1", "watch:7:t", "m2>2"]);
        assert!(q.is_empty());
        // The index went with the items: m1 is a new message now.
        publish(&mut q, "m1", &[4]);
        publish(&mut q, "m1", &[5]);
        assert_eq!(shape(&q.take_all()), ["m1>4,5"]);
    }

    #[test]
    fn merging_still_works_after_watch_adds_are_taken_from_before_it() {
        let mut q = RequestQueue::default();
        q.push(watch(1, &["a"]));
        q.push(watch(2, &["b"]));
        publish(&mut q, "m", &[1]);
        q.push(watch(1, &["c"]));
        assert_eq!(
            shape(&q.take_watch_adds(Some(1))),
            ["watch:1:a", "watch:1:c"]
        );
        publish(&mut q, "m", &[2]);
        assert_eq!(shape(&q.take_watch_adds(None)), ["watch:2:b"]);
        publish(&mut q, "m", &[3]);
        assert_eq!(shape(&q.take_all()), ["m>1,2,3"]);
    }

    #[test]
    fn dropping_watch_tags_keeps_the_index_right() {
        let mut q = RequestQueue::default();
        q.push(watch(1, &["a", "b"]));
        q.push(watch(2, &["a"]));
        q.push(watch(1, &["a"]));
        publish(&mut q, "m", &[1]);
        q.drop_watch_tags(1, Some("a"));
        publish(&mut q, "m", &[2]);
        assert_eq!(shape(&q.take_all()), ["watch:1:b", "watch:2:a", "m>1,2"]);
        q.push(watch(1, &["a", "b"]));
        q.push(watch(3, &["a"]));
        q.drop_watch_tags(1, None);
        assert_eq!(shape(&q.take_all()), ["watch:3:a"]);
    }

    #[test]
    fn unsent_items_go_back_in_front_and_are_not_merged_into() {
        let mut q = RequestQueue::default();
        publish(&mut q, "m", &[1]);
        q.push(watch(1, &["t"]));
        let mut items = q.take_all();
        let unsent = items.split_off(1);
        publish(&mut q, "later", &[9]);
        q.restore(unsent);
        publish(&mut q, "later", &[8]);
        publish(&mut q, "m", &[2]);
        assert_eq!(shape(&q.take_all()), ["watch:1:t", "later>9,8", "m>2"]);
    }
}
