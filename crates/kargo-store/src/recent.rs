//! Parsed copies of the objects the store last wrote for a
//! read-modify-write (a PATCH, a status update), each with the
//! resourceVersion it was stored at, so the next read of the object finds
//! it without parsing its text again. A copy is used only while the stored
//! resourceVersion is still its own, so it is never stale; the copies are
//! bounded by the bytes of their stored text.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The stored text the copies may stand for in all (their parsed form is
/// a few times larger).
const BUDGET: usize = 512 * 1024;
/// Objects with more stored text than this are not kept.
const LARGEST: usize = 128 * 1024;

/// The key of an object: resource, namespace and name.
pub(crate) fn key(res: &str, ns: &str, name: &str) -> String {
    format!("{res}\0{ns}\0{name}")
}

/// The copies, oldest first out.
#[derive(Default)]
pub(crate) struct Recent {
    by_key: HashMap<String, (u64, Arc<Value>, usize)>,
    /// Keys in the order they were kept, with the resourceVersion kept
    /// (a key kept again leaves its older entry behind, skipped on the
    /// way out).
    order: VecDeque<(String, u64)>,
    bytes: usize,
}

impl Recent {
    /// The copy of `key` and the resourceVersion it was stored at.
    pub(crate) fn get(&self, key: &str) -> Option<(u64, Arc<Value>)> {
        self.by_key.get(key).map(|(rv, v, _)| (*rv, v.clone()))
    }

    /// Keeps `obj`, stored at `rv` as `bytes` of text, in place of any
    /// older copy; drops the oldest copies beyond the budget.
    pub(crate) fn keep(&mut self, key: String, rv: u64, obj: Arc<Value>, bytes: usize) {
        if bytes > LARGEST {
            if let Some((_, _, b)) = self.by_key.remove(&key) {
                self.bytes -= b;
            }
            return;
        }
        if let Some((_, _, b)) = self.by_key.insert(key.clone(), (rv, obj, bytes)) {
            self.bytes -= b;
        }
        self.bytes += bytes;
        self.order.push_back((key, rv));
        while self.bytes > BUDGET || self.order.len() > 2 * self.by_key.len() + 64 {
            let Some((k, rv)) = self.order.pop_front() else {
                break;
            };
            if self.by_key.get(&k).is_some_and(|(kept, _, _)| *kept == rv)
                && let Some((_, _, b)) = self.by_key.remove(&k)
            {
                self.bytes -= b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_newest_copy_within_the_budget() {
        let mut r = Recent::default();
        r.keep(key("cm", "p", "a"), 1, Arc::new(json!(1)), 100);
        r.keep(key("cm", "p", "a"), 2, Arc::new(json!(2)), 200);
        assert_eq!(r.get(&key("cm", "p", "a")).map(|(rv, _)| rv), Some(2));
        assert_eq!(r.bytes, 200);
        // Rewriting one object many times keeps one copy and a short queue.
        for rv in 3..1_000 {
            r.keep(key("cm", "p", "a"), rv, Arc::new(json!(rv)), 200);
        }
        assert_eq!(r.by_key.len(), 1);
        assert!(r.order.len() <= 66, "{}", r.order.len());
        assert_eq!(r.get(&key("cm", "p", "a")).map(|(rv, _)| rv), Some(999));
        // Past the budget the oldest copies go first.
        for i in 0..100 {
            r.keep(
                key("cm", "p", &format!("b{i}")),
                2_000 + i,
                Arc::new(json!(i)),
                10_000,
            );
        }
        assert!(r.bytes <= BUDGET);
        assert!(r.get(&key("cm", "p", "a")).is_none());
        assert!(r.get(&key("cm", "p", "b99")).is_some());
        assert!(r.get(&key("cm", "p", "b0")).is_none());
        // Too large to keep: an older copy of it goes too.
        r.keep(
            key("cm", "p", "b99"),
            3_000,
            Arc::new(json!(0)),
            LARGEST + 1,
        );
        assert!(r.get(&key("cm", "p", "b99")).is_none());
        let sum: usize = r.by_key.values().map(|(_, _, b)| b).sum();
        assert_eq!(r.bytes, sum);
    }
}
