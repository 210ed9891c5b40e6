//! Freight status writes, coalesced per Freight. While one write of a
//! Freight is on the wire, the merge patches that come for the same
//! Freight wait and then go together, composed into one patch. A Freight
//! verified in every Stage of a large pipeline is written by each Stage
//! when it arrives and again when it leaves, each write as large as the
//! pipeline: n writes of n entries (n² bytes) become a few.
//!
//! Two kinds of write. [`FreightWrites::merge_status`] goes out at once
//! (or right after the write on the wire) and returns when it is stored:
//! a Freight arriving in a Stage, which wakes the Stages downstream.
//! [`FreightWrites::merge_status_soon`] lingers up to [`LINGER`] for
//! others to join and returns at once: a Freight leaving a Stage, which
//! nothing waits for. Should the process stop before such a write is
//! stored, the Stage controller finds the stale entry in the index and
//! writes it again (`stage::repair_currently_in`). Patches of one Freight
//! are sent in the order they came; an immediate write sends whatever
//! lingers before it at once.

use kargo_api::Freight;
use kube::api::Api;
use kube::core::Status;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How long a deferred write waits for others to join it.
pub const LINGER: Duration = Duration::from_millis(100);

/// What a write's callers learn of it (kube's error is not `Clone`).
#[derive(Clone, Debug)]
enum Outcome {
    Stored,
    Refused(Box<Status>),
    Failed(String),
}

impl Outcome {
    fn of(r: kube::Result<()>) -> Self {
        match r {
            Ok(()) => Outcome::Stored,
            Err(kube::Error::Api(s)) => Outcome::Refused(s),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    fn into_result(self) -> kube::Result<()> {
        match self {
            Outcome::Stored => Ok(()),
            Outcome::Refused(s) => Err(kube::Error::Api(s)),
            Outcome::Failed(m) => Err(kube::Error::Service(m.into())),
        }
    }
}

/// Patches going as one write, and who waits for it.
struct Batch {
    patch: Value,
    done: watch::Sender<Option<Outcome>>,
    /// Not sent before (None: as soon as the writes before it are done).
    not_before: Option<Instant>,
}

/// One Freight's writes: a task sends its batches one after another
/// (the slot exists exactly while that task runs).
struct Slot {
    queue: VecDeque<Batch>,
    /// Wakes the task from a linger when a batch becomes urgent.
    urgent: Arc<Notify>,
}

type Slots = Arc<Mutex<HashMap<(String, String), Slot>>>;

/// The Stage controller's Freight status writes.
#[derive(Default)]
pub struct FreightWrites {
    slots: Slots,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FreightWrites {
    /// Merge-patches `name`'s status through `api` (namespaced), together
    /// with other patches of it that wait meanwhile; returns once the
    /// write carrying `patch` is stored (or refused).
    pub async fn merge_status(
        &self,
        api: &Api<Freight>,
        name: &str,
        patch: Value,
    ) -> kube::Result<()> {
        let mut done = self.enqueue(api, name, patch, None);
        match done.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Outcome::Stored).into_result(),
            Err(_) => Err(kube::Error::Service(
                format!("the write of Freight {name:?} was abandoned").into(),
            )),
        }
    }

    /// Merge-patches `name`'s status within [`LINGER`], together with the
    /// patches of it that come meanwhile; does not wait. A failure is
    /// logged (a Freight gone meanwhile needs no write).
    pub fn merge_status_soon(&self, api: &Api<Freight>, name: &str, patch: Value) {
        drop(self.enqueue(api, name, patch, Some(Instant::now() + LINGER)));
    }

    /// Whether a write of Freight `name` of namespace `ns` is queued or on
    /// the wire.
    pub fn pending(&self, ns: &str, name: &str) -> bool {
        lock(&self.slots).contains_key(&(ns.to_string(), name.to_string()))
    }

    fn enqueue(
        &self,
        api: &Api<Freight>,
        name: &str,
        patch: Value,
        not_before: Option<Instant>,
    ) -> watch::Receiver<Option<Outcome>> {
        let key = (
            api.namespace().unwrap_or_default().to_string(),
            name.to_string(),
        );
        let mut slots = lock(&self.slots);
        let start = !slots.contains_key(&key);
        let slot = slots.entry(key.clone()).or_insert_with(|| Slot {
            queue: VecDeque::new(),
            urgent: Arc::new(Notify::new()),
        });
        let joined = slot
            .queue
            .back_mut()
            .and_then(|b| compose(&b.patch, &patch).map(|p| (b, p)))
            .map(|(b, p)| {
                b.patch = p;
                b.done.subscribe()
            });
        let rx = match joined {
            Some(rx) => rx,
            None => {
                let (tx, rx) = watch::channel(None);
                slot.queue.push_back(Batch {
                    patch,
                    done: tx,
                    not_before,
                });
                rx
            }
        };
        if not_before.is_none() {
            // Everything queued before an immediate write goes first.
            for b in &mut slot.queue {
                b.not_before = None;
            }
            slot.urgent.notify_one();
        }
        if start {
            tokio::spawn(send_batches(self.slots.clone(), api.clone(), key));
        }
        rx
    }
}

/// Sends `key`'s batches, oldest first, each when its linger is over,
/// until none is left; then the slot goes (under the lock, so a patch
/// coming later starts a new task).
async fn send_batches(slots: Slots, api: Api<Freight>, key: (String, String)) {
    // Should the task end any other way (a panic, the runtime shutting
    // down), the slot goes with it: its waiters learn the write was
    // abandoned, and the next patch starts a new task.
    let mut gone = RemoveOnDrop {
        slots: slots.clone(),
        key: key.clone(),
        armed: true,
    };
    loop {
        let (not_before, urgent) = {
            let mut guard = lock(&slots);
            let Some(slot) = guard.get_mut(&key) else {
                gone.armed = false;
                return;
            };
            match slot.queue.front() {
                Some(b) => (b.not_before, slot.urgent.clone()),
                None => {
                    guard.remove(&key);
                    // A patch coming now starts a new task and slot,
                    // which this one must leave alone.
                    gone.armed = false;
                    return;
                }
            }
        };
        if let Some(t) = not_before.filter(|t| *t > Instant::now()) {
            tokio::select! {
                _ = tokio::time::sleep_until(t) => {}
                _ = urgent.notified() => {}
            }
            continue;
        }
        let Some(batch) = lock(&slots).get_mut(&key).and_then(|s| s.queue.pop_front()) else {
            continue;
        };
        let r = crate::status_patch::merge_status(&api, &key.1, &batch.patch).await;
        match &r {
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) if batch.done.receiver_count() == 0 => {
                tracing::warn!(freight = %key.1, namespace = %key.0, error = %e, "Freight status write");
            }
            _ => {}
        }
        let _ = batch.done.send(Some(Outcome::of(r)));
    }
}

/// Removes a slot when its task ends other than by emptying it.
struct RemoveOnDrop {
    slots: Slots,
    key: (String, String),
    armed: bool,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.slots).remove(&self.key);
        }
    }
}

/// One JSON merge patch (RFC 7386) with the effect of applying `a`, then
/// `b`; None when no single patch has it (`a` removes or replaces with a
/// non-object a key that `b` merges an object into: applying them in
/// turn drops the key's old fields, one patch would merge into them).
pub fn compose(a: &Value, b: &Value) -> Option<Value> {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return Some(b.clone());
    };
    let mut out = a.clone();
    for (k, v) in b {
        let merged = match (out.get(k), v) {
            (Some(old @ Value::Object(_)), Value::Object(_)) => compose(old, v)?,
            (Some(_), Value::Object(_)) => return None,
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7386 applied to a copy.
    fn apply(target: &Value, patch: &Value) -> Value {
        fn merge(t: &mut Value, p: &Value) {
            let Value::Object(p) = p else {
                *t = p.clone();
                return;
            };
            if !t.is_object() {
                *t = json!({});
            }
            let t = t.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        let mut t = target.clone();
        merge(&mut t, patch);
        t
    }

    #[test]
    fn a_composed_patch_does_what_the_two_do_in_turn() {
        let target = json!({"status": {
            "currentlyIn": {"s1": {"since": "t0"}, "s2": {"since": "t0"}},
            "verifiedIn": {"s1": {"verifiedAt": "t0", "longestSoak": "5s"}, "s2": {"verifiedAt": "t0"}},
        }});
        let pairs = [
            // Two Stages leaving: disjoint keys.
            (
                json!({"status": {"currentlyIn": {"s1": null}, "verifiedIn": {"s1": {"longestSoak": "9s"}}}}),
                json!({"status": {"currentlyIn": {"s2": null}}}),
            ),
            // Two Stages arriving.
            (
                json!({"status": {"currentlyIn": {"s3": {"since": "t1"}}, "verifiedIn": {"s3": {"verifiedAt": "t1"}}}}),
                json!({"status": {"currentlyIn": {"s4": {"since": "t1"}}}}),
            ),
            // One Stage's key written twice: the later wins, fields merge.
            (
                json!({"status": {"verifiedIn": {"s1": {"verifiedAt": "t2"}}}}),
                json!({"status": {"verifiedIn": {"s1": {"longestSoak": "7s"}}}}),
            ),
            // A key set, then removed.
            (
                json!({"status": {"currentlyIn": {"s1": {"since": "t3"}}}}),
                json!({"status": {"currentlyIn": {"s1": null}}}),
            ),
        ];
        for (a, b) in pairs {
            let c = compose(&a, &b).expect("composable");
            assert_eq!(
                apply(&target, &c),
                apply(&apply(&target, &a), &b),
                "{a} then {b}"
            );
        }
    }

    #[test]
    fn a_removal_then_an_object_is_not_composed() {
        // Applied in turn, s1 loses `longestSoak`; merged into one patch it
        // would keep it.
        let a = json!({"status": {"verifiedIn": {"s1": null}}});
        let b = json!({"status": {"verifiedIn": {"s1": {"verifiedAt": "t1"}}}});
        assert_eq!(compose(&a, &b), None);
        let a = json!({"status": {"verifiedIn": {"s1": "x"}}});
        assert_eq!(compose(&a, &b), None);
    }
}
