//! The work queue of the controllers the watch hub drives (Stages,
//! Promotions, AnalysisRuns): what the hub names is reconciled at once.
//!
//! kube-runtime's `Controller` puts every trigger through a timer wheel
//! whose deadlines are rounded up to the next millisecond and which only
//! learns the time when its own timer fires, so each trigger waits 1–2 ms
//! before its reconcile starts: three times per hop of a pipeline (the
//! Stage whose Promotion ended, the Stage downstream, its new Promotion),
//! a third of a hop's latency. Here a trigger is ready at once and only a
//! requeue the reconcile asked for waits on a timer. The rest is as in
//! kube-runtime: one reconcile per object at a time (a trigger meanwhile
//! runs it again once it ends), triggers for an object already queued
//! merge, at most `concurrency` reconciles at once (0: no cap), and an
//! object the cache no longer holds is skipped. Reconciles run as tasks of
//! their own, so two of them can use both cores; dropping the queue aborts
//! them.

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

/// What a reconcile asks for next (kube-runtime's `Action`, whose delay
/// is not readable outside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Reconcile again after `duration` unless a change comes first.
    #[must_use]
    pub const fn requeue(duration: Duration) -> Self {
        Action {
            requeue_after: Some(duration),
        }
    }

    /// Reconcile again only when something changes.
    #[must_use]
    pub const fn await_change() -> Self {
        Action {
            requeue_after: None,
        }
    }

    /// The delay [`Action::requeue`] asked for.
    pub fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}

/// How long a reconcile that panicked waits before it runs again.
const AFTER_PANIC: Duration = Duration::from_secs(5);

/// One controller's queue: the objects due, running, asked for again
/// while running, and waiting for a requeue.
struct Queue<K: kube::Resource<DynamicType = ()>> {
    ready: VecDeque<ObjectRef<K>>,
    queued: HashSet<ObjectRef<K>>,
    running: HashMap<Id, ObjectRef<K>>,
    busy: HashSet<ObjectRef<K>>,
    again: HashSet<ObjectRef<K>>,
    /// Requeues by when they are due (the sequence number keeps two due
    /// at one instant apart), and each object's entry there.
    later: BTreeMap<(Instant, u64), ObjectRef<K>>,
    due: HashMap<ObjectRef<K>, (Instant, u64)>,
    seq: u64,
}

impl<K: kube::Resource<DynamicType = ()>> Queue<K> {
    fn new() -> Self {
        Queue {
            ready: VecDeque::new(),
            queued: HashSet::new(),
            running: HashMap::new(),
            busy: HashSet::new(),
            again: HashSet::new(),
            later: BTreeMap::new(),
            due: HashMap::new(),
            seq: 0,
        }
    }

    /// A trigger: due now (a pending requeue is dropped, this run covers
    /// it), or once its running reconcile ends.
    fn now(&mut self, key: ObjectRef<K>) {
        if let Some(at) = self.due.remove(&key) {
            self.later.remove(&at);
        }
        if self.busy.contains(&key) {
            self.again.insert(key);
        } else if self.queued.insert(key.clone()) {
            self.ready.push_back(key);
        }
    }

    /// A requeue after `delay`; an earlier one already pending stays.
    fn after(&mut self, key: ObjectRef<K>, delay: Duration) {
        let at = Instant::now() + delay;
        if let Some(&(pending, _)) = self.due.get(&key) {
            if pending <= at {
                return;
            }
            if let Some(old) = self.due.remove(&key) {
                self.later.remove(&old);
            }
        }
        self.seq += 1;
        self.due.insert(key.clone(), (at, self.seq));
        self.later.insert((at, self.seq), key);
    }

    /// The earliest pending requeue.
    fn next_due(&self) -> Option<Instant> {
        self.later.keys().next().map(|(at, _)| *at)
    }

    /// Moves the requeues due by now to the ready queue.
    fn wake_due(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.later.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.due.remove(&key);
            self.now(key);
        }
    }

    /// A reconcile ended: asked for again meanwhile, it runs at once;
    /// otherwise as its action says.
    fn finished(&mut self, key: ObjectRef<K>, requeue_after: Option<Duration>) {
        self.busy.remove(&key);
        if self.again.remove(&key) {
            self.now(key);
        } else if let Some(delay) = requeue_after {
            self.after(key, delay);
        }
    }
}

/// Reconciles the objects `triggers` name, from `store`, until the
/// triggers end and the reconciles running then are done. After each
/// reconcile `done` sees its outcome; an error's requeue comes from
/// `error_policy`.
pub async fn run<K, C, E, Fut>(
    store: Store<K>,
    triggers: impl Stream<Item = ObjectRef<K>>,
    concurrency: u16,
    ctx: Arc<C>,
    reconcile: impl Fn(Arc<K>, Arc<C>) -> Fut,
    error_policy: impl Fn(Arc<K>, &E, Arc<C>) -> Action,
    done: impl Fn(&Result<Action, E>),
) where
    K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
    E: Send + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
{
    let cap = match concurrency {
        0 => usize::MAX,
        n => usize::from(n),
    };
    let mut triggers = std::pin::pin!(triggers.fuse());
    let mut open = true;
    let mut queue = Queue::<K>::new();
    let mut tasks: JoinSet<(Arc<K>, Result<Action, E>)> = JoinSet::new();
    loop {
        while tasks.len() < cap
            && let Some(key) = queue.ready.pop_front()
        {
            queue.queued.remove(&key);
            let Some(obj) = store.get(&key) else {
                tracing::debug!(object = %key, "not in the cache any more: nothing to reconcile");
                continue;
            };
            let span = tracing::info_span!("reconciling object", "object.ref" = %key);
            let run = reconcile(obj.clone(), ctx.clone()).instrument(span);
            let handle = tasks.spawn(async move { (obj, run.await) });
            queue.busy.insert(key.clone());
            queue.running.insert(handle.id(), key);
        }
        if !open && tasks.is_empty() {
            return;
        }
        let wake = queue.next_due();
        tokio::select! {
            biased;
            Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => match joined {
                Ok((id, (obj, result))) => {
                    let action = match &result {
                        Ok(action) => *action,
                        Err(e) => error_policy(obj, e, ctx.clone()),
                    };
                    done(&result);
                    if let Some(key) = queue.running.remove(&id) {
                        queue.finished(key, action.requeue_after);
                    }
                }
                Err(e) => {
                    if let Some(key) = queue.running.remove(&e.id()) {
                        tracing::error!(object = %key, error = %e, "reconcile panicked; it runs again in {AFTER_PANIC:?}");
                        queue.finished(key, Some(AFTER_PANIC));
                    }
                }
            },
            trigger = triggers.next(), if open => match trigger {
                Some(key) => queue.now(key),
                None => open = false,
            },
            () = sleep_until(wake), if wake.is_some() => queue.wake_due(),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn config_map(name: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.namespace = Some("ns".into());
        cm
    }

    fn key(name: &str) -> ObjectRef<ConfigMap> {
        ObjectRef::new(name).within("ns")
    }

    fn store_of(names: &[&str]) -> Store<ConfigMap> {
        let (reader, mut writer) = store::<ConfigMap>();
        for n in names {
            writer.apply_watcher_event(&Event::Apply(config_map(n)));
        }
        reader
    }

    /// Records each reconcile's start and end, and how many ran at once.
    #[derive(Default)]
    struct Log {
        started: Mutex<Vec<(String, Instant)>>,
        at_once: AtomicUsize,
        most_at_once: AtomicUsize,
    }

    async fn reconcile(
        cm: Arc<ConfigMap>,
        log: Arc<Log>,
        hold: Duration,
        then: Action,
    ) -> Result<Action, String> {
        let name = cm.metadata.name.clone().unwrap_or_default();
        log.started
            .lock()
            .unwrap()
            .push((name.clone(), Instant::now()));
        let n = log.at_once.fetch_add(1, Ordering::SeqCst) + 1;
        log.most_at_once.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(hold).await;
        log.at_once.fetch_sub(1, Ordering::SeqCst);
        match name.as_str() {
            "fails" => Err("no".into()),
            _ => Ok(then),
        }
    }

    fn starts(log: &Log, name: &str) -> usize {
        log.started
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .count()
    }

    fn start_times(log: &Log, name: &str) -> Vec<Instant> {
        log.started
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_trigger_runs_at_once_and_repeats_merge() {
        let log = Arc::new(Log::default());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let store = store_of(&["a", "b"]);
        // One at a time, so that a trigger can wait in the queue.
        let runner = tokio::spawn(run(
            store,
            rx,
            1,
            log.clone(),
            |cm, log| reconcile(cm, log, Duration::from_millis(20), Action::await_change()),
            |_, _: &String, _| Action::await_change(),
            |_| {},
        ));
        // The clock stands still until every task waits on a timer: a
        // reconcile that starts at the instant of its trigger waited on none.
        let sent = Instant::now();
        tx.unbounded_send(key("b")).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = start_times(&log, "b");
        assert_eq!(b, vec![sent], "the reconcile starts when it is triggered");
        // Three triggers for an object waiting its turn: one reconcile.
        for _ in 0..3 {
            tx.unbounded_send(key("a")).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(starts(&log, "a"), 1);
        // Triggers while it runs: once more, after it ends, never beside it.
        tx.unbounded_send(key("a")).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        tx.unbounded_send(key("a")).unwrap();
        tx.unbounded_send(key("a")).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let a = start_times(&log, "a");
        assert_eq!(a.len(), 3);
        assert!(a[2].duration_since(a[1]) >= Duration::from_millis(20));
        assert_eq!(log.most_at_once.load(Ordering::SeqCst), 1);
        // An object the cache does not hold is skipped.
        tx.unbounded_send(key("gone")).unwrap();
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), runner)
            .await
            .expect("the queue ends with its triggers")
            .unwrap();
        assert_eq!(starts(&log, "gone"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_capped_and_requeues_wait_their_turn() {
        let log = Arc::new(Log::default());
        let names: Vec<String> = (0..8).map(|i| format!("o{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let store = store_of(&[&refs[..], &["later", "fails"]].concat());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let errors = Arc::new(AtomicUsize::new(0));
        let seen = errors.clone();
        let runner = tokio::spawn(run(
            store,
            rx,
            2,
            log.clone(),
            |cm, log| {
                let then = match cm.metadata.name.as_deref() {
                    Some("later") => Action::requeue(Duration::from_millis(150)),
                    _ => Action::await_change(),
                };
                reconcile(cm, log, Duration::from_millis(10), then)
            },
            |_, _: &String, _| Action::requeue(Duration::from_millis(50)),
            move |r| {
                if r.is_err() {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
        for n in &names {
            tx.unbounded_send(key(n)).unwrap();
        }
        tx.unbounded_send(key("later")).unwrap();
        tx.unbounded_send(key("fails")).unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(log.most_at_once.load(Ordering::SeqCst), 2);
        for n in &names {
            assert_eq!(starts(&log, n), 1, "{n}");
        }
        // The requeue is not due yet; the failed one ran again after 50 ms.
        assert_eq!(starts(&log, "later"), 1);
        assert!(starts(&log, "fails") >= 2);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(starts(&log, "later"), 2);
        assert!(errors.load(Ordering::SeqCst) >= 2);
        // A trigger before a pending requeue is due runs it now, once.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = starts(&log, "later");
        tx.unbounded_send(key("later")).unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(starts(&log, "later"), before + 1);
        runner.abort();
    }
}
