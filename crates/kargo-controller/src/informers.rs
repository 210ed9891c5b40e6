//! One watch per kind (Stage, Freight, Promotion, AnalysisRun,
//! ProjectConfig, Warehouse, and Argo CD's Application where the
//! integration is on), started once and shared by every
//! controller: each watch fills a reflector store, keeps the
//! [`Index`](crate::index::Index) in step, and forwards what an event
//! concerns — the object to its own controller, `ObjectRef`s of the Stages
//! it affects to the Stage controller, the next queued Promotion to the
//! Promotion controller. Reconciles read these stores instead of listing.
//! Only references travel to the controllers (never copies of objects: a
//! controller busy at its concurrency cap would otherwise hold one copy
//! per queued event), and a Stage reaches its controller only when its
//! generation, labels or annotations changed (its own status writes do
//! not wake it).

use crate::cache_trim::Trim;
use crate::index::{Index, Wakes, origin_key};
use crate::shard::Shard;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::{Stream, StreamExt, TryStreamExt};
use kargo_api::{
    AnalysisRun, Application, Freight, Project, ProjectConfig, Promotion, Stage, Warehouse,
};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::watcher::{self, Event};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// The shared stores and indexes, and the channels that wake controllers.
pub struct Caches {
    /// Every Stage.
    pub stages: Store<Stage>,
    /// Every Freight.
    pub freight: Store<Freight>,
    /// Every Promotion.
    pub promotions: Store<Promotion>,
    /// Every AnalysisRun.
    pub analysis_runs: Store<AnalysisRun>,
    /// Every ProjectConfig.
    pub project_configs: Store<ProjectConfig>,
    /// Every Warehouse.
    pub warehouses: Store<Warehouse>,
    /// Argo CD Applications (empty when the integration is off).
    pub applications: Store<Application>,
    /// Reverse indexes over the stores.
    pub index: Index,
    stage_wake: UnboundedSender<ObjectRef<Stage>>,
    promotion_next: UnboundedSender<ObjectRef<Promotion>>,
    project_wake: UnboundedSender<ObjectRef<Project>>,
    /// The resourceVersion of this process's last status write per Stage,
    /// until the Stage watch delivers it (see [`Caches::fenced`]).
    stage_fence: Mutex<std::collections::HashMap<ObjectRef<Stage>, String>>,
    /// Warehouse names by namespace, to wake Stages only when one comes
    /// or goes, and for project stats.
    known_warehouses: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// Of each Stage, the hash of what wakes its controller (generation,
    /// labels, annotations) when last forwarded.
    stage_triggers: Mutex<std::collections::HashMap<ObjectRef<Stage>, u64>>,
    /// Promotions that just finished, whole, until their Stage's
    /// reconcile takes them (see [`Caches::take_finished`]).
    just_finished: Mutex<JustFinished>,
    objects: Forward,
}

/// How many finished Promotions [`Caches::take_finished`] holds at most
/// (the oldest go first): their Stages normally take them within
/// milliseconds.
const JUST_FINISHED: usize = 256;

/// Finished Promotions not yet taken, and the order they came in.
#[derive(Default)]
struct JustFinished {
    whole: std::collections::HashMap<ObjectRef<Promotion>, Arc<Promotion>>,
    order: std::collections::VecDeque<ObjectRef<Promotion>>,
}

/// Where the hub forwards a reference to each applied object (its own
/// controller).
struct Forward {
    stages: UnboundedSender<ObjectRef<Stage>>,
    promotions: UnboundedSender<ObjectRef<Promotion>>,
    analysis_runs: UnboundedSender<ObjectRef<AnalysisRun>>,
    project_configs: UnboundedSender<ObjectRef<ProjectConfig>>,
}

/// The controllers' ends of the channels.
pub struct Triggers {
    /// Stages whose generation, labels or annotations changed.
    pub stages: UnboundedReceiver<ObjectRef<Stage>>,
    /// Stages some other object's change concerns.
    pub stage_wake: UnboundedReceiver<ObjectRef<Stage>>,
    /// Applied Promotions.
    pub promotions: UnboundedReceiver<ObjectRef<Promotion>>,
    /// Promotions that may start (or continue) now.
    pub promotion_next: UnboundedReceiver<ObjectRef<Promotion>>,
    /// Applied AnalysisRuns.
    pub analysis_runs: UnboundedReceiver<ObjectRef<AnalysisRun>>,
    /// Applied ProjectConfigs.
    pub project_configs: UnboundedReceiver<ObjectRef<ProjectConfig>>,
    /// Projects whose Stages or Warehouses changed.
    pub projects: UnboundedReceiver<ObjectRef<Project>>,
}

/// The writers of the stores (the watches, or a test, feed them).
pub struct Writers {
    /// Stages.
    pub stages: Writer<Stage>,
    /// Freight.
    pub freight: Writer<Freight>,
    /// Promotions.
    pub promotions: Writer<Promotion>,
    /// AnalysisRuns.
    pub analysis_runs: Writer<AnalysisRun>,
    /// ProjectConfigs.
    pub project_configs: Writer<ProjectConfig>,
    /// Warehouses.
    pub warehouses: Writer<Warehouse>,
    /// Argo CD Applications.
    pub applications: Writer<Application>,
}

impl Caches {
    /// Empty stores with their writers and the controllers' channel ends.
    pub fn new() -> (Arc<Caches>, Writers, Triggers) {
        let (stages, ws) = reflector::store();
        let (freight, wf) = reflector::store();
        let (promotions, wp) = reflector::store();
        let (analysis_runs, wa) = reflector::store();
        let (project_configs, wc) = reflector::store();
        let (warehouses, ww) = reflector::store();
        let (applications, wapp) = reflector::store();
        let (stage_tx, stage_rx) = unbounded();
        let (wake_tx, wake_rx) = unbounded();
        let (promo_tx, promo_rx) = unbounded();
        let (next_tx, next_rx) = unbounded();
        let (ar_tx, ar_rx) = unbounded();
        let (pc_tx, pc_rx) = unbounded();
        let (pw_tx, pw_rx) = unbounded();
        let caches = Arc::new(Caches {
            stages,
            freight,
            promotions,
            analysis_runs,
            project_configs,
            warehouses,
            applications,
            index: Index::default(),
            stage_wake: wake_tx,
            promotion_next: next_tx,
            project_wake: pw_tx,
            stage_fence: Mutex::new(std::collections::HashMap::new()),
            known_warehouses: Mutex::new(BTreeMap::new()),
            stage_triggers: Mutex::new(std::collections::HashMap::new()),
            just_finished: Mutex::new(JustFinished::default()),
            objects: Forward {
                stages: stage_tx,
                promotions: promo_tx,
                analysis_runs: ar_tx,
                project_configs: pc_tx,
            },
        });
        let writers = Writers {
            stages: ws,
            freight: wf,
            promotions: wp,
            analysis_runs: wa,
            project_configs: wc,
            warehouses: ww,
            applications: wapp,
        };
        let triggers = Triggers {
            stages: stage_rx,
            stage_wake: wake_rx,
            promotions: promo_rx,
            promotion_next: next_rx,
            analysis_runs: ar_rx,
            project_configs: pc_rx,
            projects: pw_rx,
        };
        (caches, writers, triggers)
    }

    /// Waits until every store holds its first full list.
    pub async fn wait_until_ready(&self) {
        let _ = futures::join!(
            self.stages.wait_until_ready(),
            self.freight.wait_until_ready(),
            self.promotions.wait_until_ready(),
            self.analysis_runs.wait_until_ready(),
            self.project_configs.wait_until_ready(),
            self.warehouses.wait_until_ready(),
        );
    }

    /// Asks the Stage controller to reconcile these Stages.
    pub fn wake_stages(&self, wakes: Wakes) {
        for (ns, s) in wakes {
            let _ = self
                .stage_wake
                .unbounded_send(ObjectRef::new(&s).within(&ns));
        }
    }

    /// Asks the Promotion controller to reconcile a Promotion.
    pub fn wake_promotion(&self, ns: &str, name: &str) {
        let _ = self
            .promotion_next
            .unbounded_send(ObjectRef::new(name).within(ns));
    }

    /// Records that this process wrote `resource_version` of a Stage: until
    /// the watch delivers it, the cache holds an older Stage.
    pub fn fence(&self, stage: ObjectRef<Stage>, resource_version: String) {
        // Under the lock `on_stage` takes after the store has the event:
        // a watch faster than the writer's reply leaves no fence behind.
        let mut fences = self.fences();
        let cached = self.stages.get(&stage).and_then(|s| s.resource_version());
        if cached.as_ref() != Some(&resource_version) {
            fences.insert(stage, resource_version);
        }
    }

    /// The version this process wrote that the cache does not hold yet.
    pub fn fenced(&self, stage: &ObjectRef<Stage>) -> Option<String> {
        self.fences().get(stage).cloned()
    }

    /// Drops a fence (the cache is known to be current).
    pub fn unfence(&self, stage: &ObjectRef<Stage>) {
        self.fences().remove(stage);
    }

    fn fences(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<ObjectRef<Stage>, String>> {
        self.stage_fence.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A Stage event (already applied to the store).
    pub fn on_stage(&self, ev: &Event<Stage>) {
        if let Event::Apply(s) = ev {
            let key = ObjectRef::from_obj(s);
            let mut fences = self.fences();
            if fences.get(&key).is_some() && fences.get(&key) == s.resource_version().as_ref() {
                fences.remove(&key);
            }
        }
        self.index.apply_stage(ev);
        self.forward_stage(ev);
        if let Event::Apply(s) | Event::Delete(s) = ev {
            self.wake_project(s.namespace());
        }
    }

    /// Forwards a Stage to its controller if what wakes it changed since
    /// it was last forwarded (kube-runtime's `predicate_filter`, kept here
    /// so only a reference is queued).
    fn forward_stage(&self, ev: &Event<Stage>) {
        use kube::runtime::predicates;
        use kube::runtime::utils::Predicate;
        let changed = predicates::generation
            .combine(predicates::labels)
            .combine(predicates::annotations);
        let mut seen = self
            .stage_triggers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match ev {
            Event::Apply(s) | Event::InitApply(s) => {
                let key = reference(s);
                let hash = changed.hash_property(s);
                if hash.is_none() || seen.get(&key).copied() != hash {
                    if let Some(h) = hash {
                        seen.insert(key.clone(), h);
                    }
                    let _ = self.objects.stages.unbounded_send(key);
                }
            }
            Event::Delete(s) => {
                seen.remove(&reference(s));
            }
            Event::Init | Event::InitDone => {}
        }
    }

    fn wake_project(&self, ns: Option<String>) {
        if let Some(ns) = ns {
            let _ = self.project_wake.unbounded_send(ObjectRef::new(&ns));
        }
    }

    /// The Stages of a project.
    pub fn stages_of(&self, ns: &str) -> Vec<Arc<Stage>> {
        self.index
            .stages_of(ns)
            .into_iter()
            .filter_map(|(ns, s)| self.stages.get(&ObjectRef::new(&s).within(&ns)))
            .collect()
    }

    /// The Warehouses of a project.
    pub fn warehouses_of(&self, ns: &str) -> Vec<Arc<Warehouse>> {
        let names: Vec<String> = self
            .known_warehouses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(ns)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        names
            .iter()
            .filter_map(|n| self.warehouses.get(&ObjectRef::new(n).within(ns)))
            .collect()
    }

    /// A Freight event (already applied to the store).
    pub fn on_freight(&self, ev: &Event<Freight>) {
        self.wake_stages(self.index.apply_freight(ev));
    }

    /// A Promotion event (already applied to the store).
    pub fn on_promotion(&self, ev: &Event<Promotion>) {
        if let Event::Apply(p) = ev
            && !p.cached()
        {
            self.keep_finished(p);
        }
        let (stages, next) = self.index.apply_promotion(ev);
        forward(ev, &self.objects.promotions);
        self.wake_stages(stages);
        for (ns, n) in next {
            self.wake_promotion(&ns, &n);
        }
    }

    /// Holds a Promotion that just finished for its Stage's reconcile.
    fn keep_finished(&self, p: &Promotion) {
        let key = reference(p);
        let mut kept = self.just_finished.lock().unwrap_or_else(|e| e.into_inner());
        if kept
            .whole
            .insert(key.clone(), Arc::new(p.clone()))
            .is_none()
        {
            kept.order.push_back(key);
        }
        while kept.whole.len() > JUST_FINISHED {
            let Some(oldest) = kept.order.pop_front() else {
                break;
            };
            kept.whole.remove(&oldest);
        }
    }

    /// The Promotion `ns/name` as it finished, once: the store keeps no
    /// finished Promotion, and the Stage's reconcile that records the end
    /// would otherwise read it with a GET on the way to the Stages
    /// downstream. None when it was taken already or not seen finishing
    /// (a restart): then a GET.
    pub fn take_finished(&self, ns: &str, name: &str) -> Option<Arc<Promotion>> {
        let mut kept = self.just_finished.lock().unwrap_or_else(|e| e.into_inner());
        let key = ObjectRef::new(name).within(ns);
        let p = kept.whole.remove(&key)?;
        kept.order.retain(|k| *k != key);
        Some(p)
    }

    /// An AnalysisRun event: its Stage follows it.
    pub fn on_analysis_run(&self, ev: &Event<AnalysisRun>) {
        forward(ev, &self.objects.analysis_runs);
        if let Event::Apply(ar) | Event::Delete(ar) = ev
            && let (Some(s), Some(ns)) = (
                ar.labels().get(crate::verification::STAGE_LABEL),
                ar.namespace(),
            )
        {
            self.wake_stages(vec![(ns, s.clone())]);
        }
    }

    /// A ProjectConfig event: its project's Stages re-read the policies.
    pub fn on_project_config(&self, ev: &Event<ProjectConfig>) {
        forward(ev, &self.objects.project_configs);
        if let Event::Apply(c) | Event::Delete(c) = ev
            && let Some(ns) = c.namespace()
        {
            self.wake_stages(self.index.stages_of(&ns));
        }
    }

    /// An Application event: the Stages its authorized-stage annotation
    /// names re-assess their health (as Kargo's Stage watch on
    /// Applications).
    pub fn on_application(&self, ev: &Event<Application>) {
        if let Event::Apply(app) | Event::InitApply(app) | Event::Delete(app) = ev {
            self.wake_stages(crate::argocd::authorized_stages(app));
        }
    }

    /// A Warehouse event: Stages requesting it learn it exists (or not).
    pub fn on_warehouse(&self, ev: &Event<Warehouse>) {
        let (w, present) = match ev {
            Event::Apply(w) | Event::InitApply(w) => (w, true),
            Event::Delete(w) => (w, false),
            _ => return,
        };
        let ns = w.namespace().unwrap_or_default();
        let changed = {
            let mut known = self
                .known_warehouses
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if present {
                known.entry(ns.clone()).or_default().insert(w.name_any())
            } else {
                let set = known.entry(ns.clone()).or_default();
                let removed = set.remove(&w.name_any());
                if set.is_empty() {
                    known.remove(&ns);
                }
                removed
            }
        };
        if !matches!(ev, Event::InitApply(_)) {
            self.wake_project(Some(ns.clone()));
        }
        if changed && !matches!(ev, Event::InitApply(_)) {
            let origin = kargo_api::common::FreightOrigin {
                kind: "Warehouse".into(),
                name: w.name_any(),
            };
            self.wake_stages(self.index.stages_by_origin(&ns, &origin_key(&origin)));
        }
    }
}

/// A reference to `o` by namespace and name only (kube-runtime's
/// `from_obj` also copies its resourceVersion and uid, which neither the
/// scheduler's deduplication nor the store lookup uses).
fn reference<K: kube::Resource<DynamicType = ()>>(o: &K) -> ObjectRef<K> {
    let r = ObjectRef::new(&o.name_any());
    match o.namespace() {
        Some(ns) => r.within(&ns),
        None => r,
    }
}

/// Sends a reference to an applied object on to its controller.
fn forward<K: kube::Resource<DynamicType = ()>>(ev: &Event<K>, tx: &UnboundedSender<ObjectRef<K>>) {
    if let Event::Apply(o) | Event::InitApply(o) = ev {
        let _ = tx.unbounded_send(reference(o));
    }
}

/// A kind the watches cache and the controllers reconcile.
pub trait Cached:
    kube::Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Cached for K where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// `name` in `ns` from the watch cache `store`, or through `api` when the
/// cache does not hold it yet (just created, or the watch lags); None when
/// neither has it.
pub async fn cached_or_get<K: Cached>(
    store: &Store<K>,
    api: &Api<K>,
    ns: &str,
    name: &str,
) -> kube::Result<Option<Arc<K>>> {
    match store.get(&ObjectRef::new(name).within(ns)) {
        Some(o) => Ok(Some(o)),
        None => Ok(api.get_opt(name).await?.map(Arc::new)),
    }
}

/// A controller over `store` that reconciles what its triggers
/// (`reconcile_on`) name: the hub's references, never a stream of objects.
pub fn controller<K: Cached>(store: Store<K>) -> kube::runtime::Controller<K> {
    let objects = futures::stream::pending::<Result<K, watcher::Error>>();
    kube::runtime::Controller::for_stream(objects, store)
}

/// Runs one kind's watch, store first, then the hub: of a sharded kind
/// only what `shard` is responsible for reaches them ([`Shard::All`]:
/// everything).
async fn watch<K: Cached + Trim, F>(api: Api<K>, shard: &Shard, writer: Writer<K>, on_event: F)
where
    F: Fn(&Event<K>),
{
    let events = watcher::watcher(api, shard.watcher_config())
        .default_backoff()
        .try_filter_map(|ev| futures::future::ready(Ok(shard.scope(ev).map(|e| e.modify(K::trim)))))
        .map_ok(store_in(writer));
    drive(events, on_event).await
}

/// What kube's `reflect` does, but for the objects [`Trim::cached`]
/// refuses: each event goes to the store, then on to the hub whole; an
/// object the store does not keep (a finished Promotion) leaves it or
/// never enters it, so the hub's index is all that remembers it.
fn store_in<K: Cached + Trim>(mut writer: Writer<K>) -> impl FnMut(Event<K>) -> Event<K> {
    move |ev| {
        match &ev {
            Event::Apply(o) if !o.cached() => writer.apply_watcher_event(&Event::Delete(o.clone())),
            Event::InitApply(o) if !o.cached() => {}
            _ => writer.apply_watcher_event(&ev),
        }
        ev
    }
}

async fn drive<K, F>(events: impl Stream<Item = Result<Event<K>, watcher::Error>>, on_event: F)
where
    F: Fn(&Event<K>),
{
    let mut events = std::pin::pin!(events);
    while let Some(ev) = events.next().await {
        match ev {
            Ok(ev) => on_event(&ev),
            Err(e) => tracing::warn!(error = %e, "watch"),
        }
    }
}

/// Runs every watch until they end (never, normally); Applications are
/// watched through `argocd` (None: not at all). Stages, Promotions and
/// AnalysisRuns are those of `shard`.
pub async fn run(
    client: kube::Client,
    argocd: Option<Api<kargo_api::Application>>,
    caches: Arc<Caches>,
    w: Writers,
    shard: &Shard,
) {
    let c = &caches;
    let applications = async {
        if let Some(argocd) = argocd {
            watch(argocd, &Shard::All, w.applications, |e| c.on_application(e)).await
        }
    };
    futures::join!(
        applications,
        watch(Api::all(client.clone()), shard, w.stages, |e| c.on_stage(e)),
        watch(Api::all(client.clone()), &Shard::All, w.freight, |e| c
            .on_freight(e)),
        watch(Api::all(client.clone()), shard, w.promotions, |e| c
            .on_promotion(e)),
        watch(Api::all(client.clone()), shard, w.analysis_runs, |e| c
            .on_analysis_run(e)),
        watch(
            Api::all(client.clone()),
            &Shard::All,
            w.project_configs,
            |e| c.on_project_config(e)
        ),
        watch(Api::all(client), &Shard::All, w.warehouses, |e| c
            .on_warehouse(e)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn promotion(phase: &str) -> Promotion {
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
            "metadata": {"name": "dev.01a.f1", "namespace": "p",
                "creationTimestamp": "2026-12-01T00:00:00Z",
                "annotations": {"kargo.akuity.io/rollback": "true",
                    "kargo.akuity.io/auto-promotion-hold": "Warehouse/w",
                    "kargo.akuity.io/create-actor": "admin"}},
            "spec": {"stage": "dev", "freight": "f1"},
            "status": {"phase": phase, "finishedAt": "2026-12-01T00:00:05Z"},
        }))
        .unwrap()
    }

    /// A Promotion leaves the cache when it finishes (and a finished one
    /// never enters it from a list), while the index keeps what the
    /// controllers read of it.
    #[test]
    fn the_cache_keeps_promotions_until_they_finish() {
        let (caches, w, _triggers) = Caches::new();
        let mut store = store_in(w.promotions);
        let key = ObjectRef::new("dev.01a.f1").within("p");
        caches.on_promotion(&store(Event::Apply(promotion("Running"))));
        assert!(caches.promotions.get(&key).is_some());
        caches.on_promotion(&store(Event::Apply(promotion("Succeeded"))));
        assert!(caches.promotions.get(&key).is_none());
        let indexed = caches.index.promotion("p", "dev", "dev.01a.f1").unwrap();
        assert_eq!(indexed.stage, "dev");
        let s = indexed.summary;
        assert_eq!(s.phase, kargo_api::promotion::PromotionPhase::Succeeded);
        assert_eq!(s.freight, "f1");
        assert_eq!(s.finished_at.as_deref(), Some("2026-12-01T00:00:05Z"));
        assert!(s.rollback);
        let intent = s.intent.unwrap();
        assert_eq!(intent.hold.as_deref(), Some("Warehouse/w"));
        assert_eq!(intent.actor, "admin");

        // A relist: the finished one stays out, a pending one comes in.
        let mut pending = promotion("Pending");
        pending.metadata.name = Some("dev.01b.f1".into());
        for ev in [
            Event::Init,
            Event::InitApply(promotion("Succeeded")),
            Event::InitApply(pending),
            Event::InitDone,
        ] {
            caches.on_promotion(&store(ev));
        }
        assert!(caches.promotions.get(&key).is_none());
        assert!(
            caches
                .promotions
                .get(&ObjectRef::new("dev.01b.f1").within("p"))
                .is_some()
        );
        assert_eq!(caches.index.promotions_of("p", "dev").len(), 2);
        // The whole finished Promotion, for its Stage's reconcile, once;
        // a relist holds nothing (after a restart the Stage reads it).
        assert!(caches.take_finished("p", "dev.01b.f1").is_none());
        let whole = caches.take_finished("p", "dev.01a.f1").unwrap();
        assert_eq!(whole.spec.freight, "f1");
        assert!(whole.status.as_ref().unwrap().finished_at.is_some());
        assert!(caches.take_finished("p", "dev.01a.f1").is_none());
    }

    #[test]
    fn finished_promotions_wait_for_their_stage_within_a_bound() {
        let (caches, w, _triggers) = Caches::new();
        let mut store = store_in(w.promotions);
        for i in 0..JUST_FINISHED + 10 {
            let mut p = promotion("Succeeded");
            p.metadata.name = Some(format!("dev.{i}.f1"));
            caches.on_promotion(&store(Event::Apply(p)));
        }
        // The oldest went; the newest are all there.
        assert!(caches.take_finished("p", "dev.0.f1").is_none());
        assert!(caches.take_finished("p", "dev.9.f1").is_none());
        for i in 10..JUST_FINISHED + 10 {
            assert!(
                caches.take_finished("p", &format!("dev.{i}.f1")).is_some(),
                "{i}"
            );
        }
    }
}
