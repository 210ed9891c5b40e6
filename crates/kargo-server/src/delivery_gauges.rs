//! The delivery-statistics (DORA) gauges of `/metrics`, per Stage over
//! the last [`DELIVERY_WINDOW`], computed by
//! [`kargo_api::delivery_stats`] one project at a time from the fields
//! [`kargo_api::delivery_inputs`] cuts. Two sources feed them: `kargo
//! server` reads its store a page at a time ([`from_store`]), `kargo
//! controller` its watch-fed caches ([`from_caches`]); the names, labels
//! and help text are the same (docs/metrics.md).

use kargo_api::delivery_inputs::{Collected, PromotionFields};
use kargo_api::delivery_stats::compute;
use kargo_controller::informers::Caches;
use kargo_controller::metrics::{FloatGauge, StageLabels};
use kargo_store::Store;
use kube::ResourceExt;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The window the gauges cover.
pub const DELIVERY_WINDOW: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Every project's objects from the store, each kind read a page at a
/// time and cut as it is read (a scrape holds the cut fields, never every
/// object decoded at once).
pub(crate) fn from_store(store: &Store) -> HashMap<String, Collected> {
    use kargo_api::delivery_inputs as cut;
    let mut projects: HashMap<String, Collected> = HashMap::new();
    let (k, argo) = ("kargo.akuity.io/v1alpha1", "argoproj.io/v1alpha1");
    pass(store, &mut projects, (k, "Stage"), cut::stage, |c| {
        &mut c.stages
    });
    pass(
        store,
        &mut projects,
        (k, "Warehouse"),
        cut::warehouse,
        |c| &mut c.warehouses,
    );
    pass(
        store,
        &mut projects,
        (k, "Promotion"),
        cut::promotion,
        |c| &mut c.promotions,
    );
    // Promotions before Freight: only the Freight they name is kept.
    let promoted: HashMap<String, std::collections::HashSet<String>> = projects
        .iter()
        .map(|(ns, c)| (ns.clone(), c.promoted_freight()))
        .collect();
    crate::metrics::each(store, k, "Freight", |ns, f: kargo_api::Freight| {
        let named = f.metadata.name.as_deref();
        if named.is_some_and(|n| promoted.get(&ns).is_some_and(|p| p.contains(n))) {
            projects
                .entry(ns)
                .or_default()
                .freight
                .push(cut::freight(&f));
        }
    });
    pass(
        store,
        &mut projects,
        (argo, "AnalysisRun"),
        cut::analysis_run,
        |c| &mut c.analysis_runs,
    );
    projects
}

/// One kind's pass over the store: each object cut into its project.
fn pass<T: serde::de::DeserializeOwned, C>(
    store: &Store,
    projects: &mut HashMap<String, Collected>,
    (api_version, kind): (&str, &str),
    cut: fn(&T) -> C,
    into: fn(&mut Collected) -> &mut Vec<C>,
) {
    crate::metrics::each(store, api_version, kind, |ns, o: T| {
        into(projects.entry(ns).or_default()).push(cut(&o));
    });
}

/// The cached objects of a kind, by namespace (shared pointers only).
fn by_project<K: kube::Resource>(objects: Vec<Arc<K>>) -> HashMap<String, Vec<Arc<K>>> {
    let mut out: HashMap<String, Vec<Arc<K>>> = HashMap::new();
    for o in objects {
        out.entry(o.namespace().unwrap_or_default())
            .or_default()
            .push(o);
    }
    out
}

/// Every project's objects from the controller's caches (Promotions from
/// its index), cut one project at a time as the iterator is drawn (the
/// caches already hold the objects; a scrape adds one project's cut
/// fields). Empty until the
/// caches hold their first full lists.
pub(crate) fn from_caches(c: &Caches) -> impl Iterator<Item = (String, Collected)> + use<> {
    use futures::FutureExt;
    let ready = c.wait_until_ready().now_or_never().is_some();
    let (mut stages, mut promotions, mut freight, mut runs, mut warehouses) = if ready {
        (
            by_project(c.stages.state()),
            c.index.all_promotions(),
            by_project(c.freight.state()),
            by_project(c.analysis_runs.state()),
            by_project(c.warehouses.state()),
        )
    } else {
        Default::default()
    };
    let projects: BTreeSet<String> = stages.keys().chain(promotions.keys()).cloned().collect();
    projects.into_iter().map(move |ns| {
        let (s, p) = (
            take(&mut stages, &ns),
            promotions.remove(&ns).unwrap_or_default(),
        );
        let (f, r) = (take(&mut freight, &ns), take(&mut runs, &ns));
        let w = take(&mut warehouses, &ns);
        let collected = Collected::of(
            s.iter().map(|o| &**o),
            p.iter().map(|p| {
                kargo_api::delivery_inputs::promotion_of(&PromotionFields {
                    name: &p.created.1,
                    rollback: p.summary.rollback,
                    stage: &p.stage,
                    freight: &p.summary.freight,
                    phase: Some(p.summary.phase),
                    finished_at: p.summary.finished_at.as_deref(),
                })
            }),
            f.iter().map(|o| &**o),
            r.iter().map(|o| &**o),
            w.iter().map(|o| &**o),
        );
        (ns, collected)
    })
}

fn take<K>(m: &mut HashMap<String, Vec<Arc<K>>>, ns: &str) -> Vec<Arc<K>> {
    m.remove(ns).unwrap_or_default()
}

/// Registers the gauges, computing each project's figures as `projects`
/// yields it; a figure with nothing to measure is absent.
pub(crate) fn register(
    reg: &mut Registry,
    projects: impl IntoIterator<Item = (String, Collected)>,
    now: jiff::Timestamp,
) {
    let families: [(&str, &str, Family<StageLabels, FloatGauge>); 5] = [
        (
            "kargo_stage_deployments_per_day",
            "Succeeded Promotions per day over the last 7 days, by Stage",
            Family::default(),
        ),
        (
            "kargo_stage_lead_time_seconds",
            "Median time from Freight creation to its Promotion's end, over the last 7 days",
            Family::default(),
        ),
        (
            "kargo_stage_commit_lead_time_seconds",
            "Median time from the Freight's newest commit to its Promotion's end, over the last 7 days",
            Family::default(),
        ),
        (
            "kargo_stage_change_failure_ratio",
            "Promotions that failed, errored, failed verification or were rolled back, over all that finished in the last 7 days",
            Family::default(),
        ),
        (
            "kargo_stage_time_to_restore_seconds",
            "Median time from a failure to the Stage's next succeeded and verified Promotion, over the last 7 days",
            Family::default(),
        ),
    ];
    for (ns, p) in projects {
        for s in compute(p.inputs(), now, DELIVERY_WINDOW) {
            let labels = StageLabels {
                project: ns.clone(),
                stage: s.stage.clone(),
            };
            let values = [
                Some(s.deployments_per_day),
                s.lead_time_seconds,
                s.commit_lead_time_seconds,
                s.change_failure_rate,
                s.time_to_restore_seconds,
            ];
            for ((_, _, family), v) in families.iter().zip(values) {
                if let Some(v) = v {
                    family.get_or_create(&labels).set(v);
                }
            }
        }
    }
    for (name, help, family) in families {
        reg.register(name, help, family);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;

    /// Fills a cache with the stored objects of a kind, as its watch's
    /// first list would.
    fn fill<K>(writer: &mut Writer<K>, store: &Store, api_version: &str, kind: &str)
    where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned,
    {
        first_list(store, api_version, kind, |e| writer.apply_watcher_event(e));
    }

    /// The events of a watch's first list of the stored objects of a
    /// kind, each handed to `on_event`.
    fn first_list<K>(
        store: &Store,
        api_version: &str,
        kind: &str,
        mut on_event: impl FnMut(&Event<K>),
    ) where
        K: serde::de::DeserializeOwned,
    {
        on_event(&Event::Init);
        for (_, v) in crate::stored(store, api_version, kind, None) {
            if let Ok(o) = serde_json::from_value::<K>(v) {
                on_event(&Event::InitApply(o));
            }
        }
        on_event(&Event::InitDone);
    }

    /// The registry's text with its lines sorted: a family's series come
    /// out in its hash map's order, which differs between registries.
    fn text(reg: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, reg).unwrap();
        let mut lines: Vec<&str> = out.lines().collect();
        lines.sort_unstable();
        lines.join("\n")
    }

    /// `kargo server` (its store, a page at a time) and `kargo controller`
    /// (its caches) serve the same gauges for the same objects, and none
    /// before the caches hold their first lists.
    #[test]
    fn the_store_and_the_caches_give_the_same_gauges() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        crate::ui::stats::tests::known_story(&store);
        let now = jiff::Timestamp::now();
        let mut served = Registry::default();
        register(&mut served, from_store(&store), now);
        let served = text(&served);
        assert!(
            served.contains(
                "kargo_stage_change_failure_ratio{project=\"p\",stage=\"prod\"} 0.3333333333333333"
            ),
            "{served}"
        );
        assert!(
            served.contains(
                "kargo_stage_commit_lead_time_seconds{project=\"p\",stage=\"prod\"} 14400"
            ),
            "{served}"
        );

        let (caches, mut w, _triggers) = Caches::new();
        assert_eq!(from_caches(&caches).count(), 0, "caches not filled yet");
        let k = "kargo.akuity.io/v1alpha1";
        fill(&mut w.stages, &store, k, "Stage");
        fill(&mut w.freight, &store, k, "Freight");
        // The index is what holds finished Promotions.
        first_list(&store, k, "Promotion", |e| {
            w.promotions.apply_watcher_event(e);
            caches.on_promotion(e);
        });
        fill(&mut w.warehouses, &store, k, "Warehouse");
        fill(&mut w.project_configs, &store, k, "ProjectConfig");
        fill(
            &mut w.analysis_runs,
            &store,
            "argoproj.io/v1alpha1",
            "AnalysisRun",
        );
        let mut cached = Registry::default();
        register(&mut cached, from_caches(&caches), now);
        assert_eq!(text(&cached), served);
    }
}
