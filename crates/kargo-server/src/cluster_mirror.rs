//! `kargo server --kubeconfig`: the UI, `/metrics` and the authorizer
//! read a local store, as in standalone; here that store is a mirror of
//! the cluster fed by one watch per kind they read (the kinds of the
//! pipeline and the RBAC kinds), so their code is the same either way.
//! The mirror is never written otherwise: writes go to the cluster and
//! come back through the watches.

use crate::client::api_resource;
use futures::StreamExt;
use kargo_api::{ResourceInfo, lookup_kind};
use kargo_store::Store;
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::HashSet;

/// What is mirrored: what the UI, `/metrics` and RBAC read.
pub const KINDS: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("kargo.akuity.io/v1alpha1", "Project"),
    ("kargo.akuity.io/v1alpha1", "ProjectConfig"),
    ("kargo.akuity.io/v1alpha1", "Warehouse"),
    ("kargo.akuity.io/v1alpha1", "Freight"),
    ("kargo.akuity.io/v1alpha1", "Stage"),
    ("kargo.akuity.io/v1alpha1", "Promotion"),
    ("argoproj.io/v1alpha1", "AnalysisRun"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
];

/// Starts one watch per kind of [`KINDS`] into `store`.
pub fn start(cluster: kube::Client, store: Store) -> Vec<tokio::task::JoinHandle<()>> {
    KINDS
        .iter()
        .filter_map(|(av, k)| lookup_kind(av, k))
        .map(|info| tokio::spawn(follow(cluster.clone(), store.clone(), info)))
        .collect()
}

fn key(o: &DynamicObject) -> (String, String) {
    (
        o.metadata.namespace.clone().unwrap_or_default(),
        o.metadata.name.clone().unwrap_or_default(),
    )
}

fn put(store: &Store, info: &'static ResourceInfo, o: DynamicObject) {
    let (ns, name) = key(&o);
    let mut v = match serde_json::to_value(&o) {
        Ok(v) => v,
        Err(_) => return,
    };
    v["apiVersion"] = info.api_version().into();
    v["kind"] = info.kind.into();
    if let Err(e) = store.mirror_put(info, &ns, v) {
        tracing::warn!(kind = info.kind, %ns, %name, error = %e, "mirroring");
    }
}

fn delete(store: &Store, info: &'static ResourceInfo, ns: &str, name: &str) {
    if let Err(e) = store.mirror_delete(info, ns, name) {
        tracing::warn!(kind = info.kind, %ns, %name, error = %e, "mirroring a deletion");
    }
}

/// Follows one kind for as long as the server runs: a (re-)list replaces
/// what the mirror holds of the kind, then each change is applied. A kind
/// the cluster does not serve is retried with back-off.
async fn follow(cluster: kube::Client, store: Store, info: &'static ResourceInfo) {
    let api: Api<DynamicObject> = Api::all_with(cluster, &api_resource(info));
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut listed: HashSet<(String, String)> = HashSet::new();
    while let Some(ev) = events.next().await {
        match ev {
            Ok(Event::Init) => listed.clear(),
            Ok(Event::InitApply(o)) => {
                listed.insert(key(&o));
                put(&store, info, o);
            }
            Ok(Event::InitDone) => {
                let Ok((rows, _)) = store.list(info, None, None, 0) else {
                    continue;
                };
                for r in rows {
                    if !listed.contains(&(r.ns.clone(), r.name.clone())) {
                        delete(&store, info, &r.ns, &r.name);
                    }
                }
                listed.clear();
            }
            Ok(Event::Apply(o)) => put(&store, info, o),
            Ok(Event::Delete(o)) => {
                let (ns, name) = key(&o);
                delete(&store, info, &ns, &name);
            }
            Err(e) => tracing::debug!(kind = info.kind, error = %e, "watching the cluster"),
        }
    }
}
