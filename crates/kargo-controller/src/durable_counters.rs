//! The counters of `kargo controller` (cluster mode), kept on the API
//! server so they never go down across a restart or garbage collection.
//! In standalone mode the store counts each write in its own transaction;
//! against a kube-apiserver there is no such transaction, so the counts
//! are derived from the objects themselves and kept in a ConfigMap
//! (`kargo-controller-counters[-<shard>]` in the Kargo namespace):
//!
//! - `counters`: `[[name, encoded labels, value], ...]`, as the store
//!   keeps them, rendered by [`crate::metrics::register_counters`];
//! - `counted`: for each object that counted, `{"<kind>/<uid>": state}`
//!   (its final phase, `created`, or the failed discovery's time).
//!
//! A watch on Promotions, AnalysisRuns, Freight and Warehouses (this
//! shard's) gives each object's state; a state that counts
//! ([`crate::metrics::counted_state`]) and differs from the one recorded
//! adds what [`crate::metrics::transitions`] counts and records it, in the
//! same ConfigMap write, made with the `resourceVersion` read (a 409
//! re-reads and applies again). Why this is crash-safe: the counts and
//! the record of what was counted change in one atomic write, so a crash
//! before it loses nothing (the objects still hold their final state and
//! are counted when the watch lists them again at start) and a crash
//! after it doubles nothing (the record says they were counted). Deleted
//! objects leave the record, never the counts. What it cannot see: two
//! failed discoveries of one Warehouse between two states the watch
//! delivers (a relist after the watch expired) count once. Only the
//! replica that reconciles runs it; `/metrics` serves what was written.

use crate::metrics::{counted_state, transitions};
use crate::shard::Shard;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Longest one ConfigMap call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often pending counts are written.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// The ConfigMap's name for a shard.
pub fn config_map_name(shard: &Shard) -> String {
    match shard {
        Shard::Named { name, .. } if !name.is_empty() => {
            format!("kargo-controller-counters-{name}")
        }
        _ => "kargo-controller-counters".into(),
    }
}

/// The counted rows `/metrics` renders: `(name, encoded labels, value)`.
pub type Rows = Arc<RwLock<Vec<(String, String, u64)>>>;

/// What the ConfigMap holds.
#[derive(Clone, Debug, Default, PartialEq)]
struct Ledger {
    counters: BTreeMap<(String, String), u64>,
    counted: BTreeMap<String, String>,
}

/// One thing the watch said.
#[derive(Debug)]
enum Change {
    /// An object's state now.
    Seen(&'static str, Value),
    /// An object is gone.
    Gone(&'static str, String),
    /// These are all the objects of a kind (a watch's initial list).
    All(&'static str, BTreeSet<String>),
}

fn key(kind: &str, obj: &Value) -> String {
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{kind}/{uid}")
}

impl Ledger {
    fn from_config_map(cm: &ConfigMap) -> Ledger {
        let data = cm.data.clone().unwrap_or_default();
        let rows: Vec<(String, String, u64)> = data
            .get("counters")
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        Ledger {
            counters: rows.into_iter().map(|(n, l, v)| ((n, l), v)).collect(),
            counted: data
                .get("counted")
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
        }
    }

    fn data(&self) -> BTreeMap<String, String> {
        let counted = serde_json::to_string(&self.counted).unwrap_or_default();
        BTreeMap::from([
            (
                "counters".to_string(),
                serde_json::to_string(&self.rows()).unwrap_or_default(),
            ),
            ("counted".to_string(), counted),
        ])
    }

    fn rows(&self) -> Vec<(String, String, u64)> {
        self.counters
            .iter()
            .map(|((n, l), v)| (n.clone(), l.clone(), *v))
            .collect()
    }

    fn apply(&mut self, change: &Change) {
        match change {
            Change::Seen(kind, obj) => {
                let Some(state) = counted_state(kind, obj) else {
                    return;
                };
                let k = key(kind, obj);
                if self.counted.get(&k) == Some(&state) {
                    return;
                }
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                for (name, labels) in transitions(kind, ns, None, obj) {
                    *self.counters.entry((name.to_string(), labels)).or_default() += 1;
                }
                self.counted.insert(k, state);
            }
            Change::Gone(kind, k) => {
                if k.starts_with(&format!("{kind}/")) {
                    self.counted.remove(k);
                }
            }
            Change::All(kind, keys) => {
                let prefix = format!("{kind}/");
                self.counted
                    .retain(|k, _| !k.starts_with(&prefix) || keys.contains(k));
            }
        }
    }
}

/// Keeps the counters of `shard`'s objects in the ConfigMap `name` in
/// `namespace`, publishing what was written to `rows`. Runs until
/// dropped.
pub async fn run(client: kube::Client, namespace: String, shard: Shard, rows: Rows) {
    let name = config_map_name(&shard);
    let api = Api::<ConfigMap>::namespaced(client.clone(), &namespace);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
    for (group, version, kind, plural) in [
        ("kargo.akuity.io", "v1alpha1", "Promotion", "promotions"),
        ("argoproj.io", "v1alpha1", "AnalysisRun", "analysisruns"),
        ("kargo.akuity.io", "v1alpha1", "Freight", "freights"),
        ("kargo.akuity.io", "v1alpha1", "Warehouse", "warehouses"),
    ] {
        let ar = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: format!("{group}/{version}"),
            kind: kind.into(),
            plural: plural.into(),
        };
        let objects = Api::<DynamicObject>::all_with(client.clone(), &ar);
        tokio::spawn(watch(objects, kind, shard.watcher_config(), tx.clone()));
    }
    drop(tx);
    let mut committed: Option<(Ledger, String)> = None;
    let mut pending: Vec<Change> = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            change = rx.recv() => match change {
                Some(c) => pending.push(c),
                None => return,
            },
            _ = tick.tick() => {
                if committed.is_none() {
                    match crate::bounded(CALL_TIMEOUT, load(&api, &name)).await {
                        Ok(loaded) => {
                            publish(&rows, &loaded.0);
                            committed = Some(loaded);
                        }
                        Err(e) => {
                            tracing::warn!(configmap = %name, error = %e, "reading the counters");
                            continue;
                        }
                    }
                }
                let Some((ledger, rv)) = committed.as_ref() else { continue };
                if pending.is_empty() {
                    continue;
                }
                let mut next = ledger.clone();
                for c in &pending {
                    next.apply(c);
                }
                if &next == ledger {
                    pending.clear();
                    continue;
                }
                match crate::bounded(CALL_TIMEOUT, store(&api, &name, rv, &next)).await {
                    Ok(rv) => {
                        publish(&rows, &next);
                        committed = Some((next, rv));
                        pending.clear();
                    }
                    Err(e) => {
                        // Someone else wrote (409) or the call failed:
                        // read it again and apply the same changes on top.
                        tracing::debug!(configmap = %name, error = %e, "writing the counters");
                        committed = None;
                    }
                }
            }
        }
    }
}

fn publish(rows: &Rows, ledger: &Ledger) {
    if let Ok(mut r) = rows.write() {
        *r = ledger.rows();
    }
}

/// The ConfigMap's ledger and resourceVersion, made empty when missing.
async fn load(api: &Api<ConfigMap>, name: &str) -> Result<(Ledger, String), kube::Error> {
    if let Some(cm) = api.get_opt(name).await? {
        let rv = cm.metadata.resource_version.clone().unwrap_or_default();
        return Ok((Ledger::from_config_map(&cm), rv));
    }
    let mut cm = ConfigMap {
        data: Some(Ledger::default().data()),
        ..Default::default()
    };
    cm.metadata.name = Some(name.to_string());
    let created = api.create(&PostParams::default(), &cm).await?;
    let rv = created.metadata.resource_version.unwrap_or_default();
    Ok((Ledger::default(), rv))
}

/// Replaces the ConfigMap if it still has `rv`; its new resourceVersion.
async fn store(
    api: &Api<ConfigMap>,
    name: &str,
    rv: &str,
    ledger: &Ledger,
) -> Result<String, kube::Error> {
    let mut cm = ConfigMap {
        data: Some(ledger.data()),
        ..Default::default()
    };
    cm.metadata.name = Some(name.to_string());
    cm.metadata.resource_version = Some(rv.to_string());
    let replaced = api.replace(name, &PostParams::default(), &cm).await?;
    Ok(replaced.metadata.resource_version.unwrap_or_default())
}

/// Sends what the watch on `api` says as [`Change`]s.
async fn watch(
    api: Api<DynamicObject>,
    kind: &'static str,
    config: watcher::Config,
    tx: tokio::sync::mpsc::UnboundedSender<Change>,
) {
    let mut listed = BTreeSet::new();
    let mut events = std::pin::pin!(watcher::watcher(api, config));
    while let Some(ev) = events.next().await {
        let value = |o: &DynamicObject| serde_json::to_value(o).unwrap_or(Value::Null);
        let change = match ev {
            Ok(Event::Init) => {
                listed.clear();
                continue;
            }
            Ok(Event::InitApply(o)) => {
                let v = value(&o);
                listed.insert(key(kind, &v));
                Change::Seen(kind, v)
            }
            Ok(Event::InitDone) => Change::All(kind, std::mem::take(&mut listed)),
            Ok(Event::Apply(o)) => Change::Seen(kind, value(&o)),
            Ok(Event::Delete(o)) => Change::Gone(kind, key(kind, &value(&o))),
            Err(e) => {
                tracing::debug!(kind, error = %e, "counter watch");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if tx.send(change).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn promotion(uid: &str, phase: &str) -> Value {
        json!({"metadata": {"uid": uid, "namespace": "p"}, "spec": {"stage": "dev"},
            "status": {"phase": phase}})
    }

    #[test]
    fn an_object_counts_once_and_deletion_keeps_the_count() {
        let mut l = Ledger::default();
        l.apply(&Change::Seen("Promotion", promotion("a", "Running")));
        assert!(l.counters.is_empty());
        for _ in 0..3 {
            l.apply(&Change::Seen("Promotion", promotion("a", "Failed")));
        }
        let failed = (
            crate::metrics::PROMOTIONS.to_string(),
            r#"{"project":"p","stage":"dev","phase":"Failed"}"#.to_string(),
        );
        assert_eq!(l.counters[&failed], 1);
        // Restart: the ConfigMap read back, the object listed again.
        let cm = ConfigMap {
            data: Some(l.data()),
            ..Default::default()
        };
        let mut again = Ledger::from_config_map(&cm);
        assert_eq!(again, l);
        again.apply(&Change::Seen("Promotion", promotion("a", "Failed")));
        assert_eq!(again.counters[&failed], 1);
        // Garbage collected: out of the record, still counted.
        again.apply(&Change::All("Promotion", BTreeSet::new()));
        assert!(again.counted.is_empty());
        assert_eq!(again.counters[&failed], 1);
    }
}
