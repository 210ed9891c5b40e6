//! `kargo export [--project P] [--include-secrets]`: every object an
//! installation is made of, as multi-document YAML in dependency order
//! with server-owned metadata stripped, for `kargo import` into another
//! API server (a cluster). Freight keep their names (IDs), aliases and
//! status (`verifiedIn`, `approvedFor`); Stages keep the Freight they hold
//! and its verification history, so nothing has to be promoted or
//! verified again.

use crate::resources::{collection_path, explain};
use anyhow::Result;
use kargo_api::{ResourceInfo, labels, lookup_kind};
use kube::api::ListParams;
use serde_json::{Map, Value};

/// Flags of `kargo export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Only this project (its Project, ProjectConfig and what lives in its
    /// namespace); without it, every project and the cluster-scoped kinds.
    #[arg(short = 'p', long, add = clap_complete::ArgValueCompleter::new(crate::complete::projects))]
    pub project: Option<String>,
    /// Also write the credentials Secrets (labelled
    /// `kargo.akuity.io/cred-type`), data included.
    #[arg(long)]
    pub include_secrets: bool,
}

/// What an export holds, in the order an import writes it: what an
/// object refers to comes before it (a Freight's Warehouse, a Stage's
/// Freight). ProjectConfigs come last: auto-promotion starts only once
/// every Stage holds its imported status.
pub const ORDER: &[(&str, &str)] = &[
    ("kargo.akuity.io/v1alpha1", "Project"),
    ("kargo.akuity.io/v1alpha1", "ClusterConfig"),
    ("v1", "Secret"),
    ("argoproj.io/v1alpha1", "ClusterAnalysisTemplate"),
    ("argoproj.io/v1alpha1", "AnalysisTemplate"),
    ("kargo.akuity.io/v1alpha1", "ClusterPromotionTask"),
    ("kargo.akuity.io/v1alpha1", "PromotionTask"),
    ("kargo.akuity.io/v1alpha1", "Warehouse"),
    ("kargo.akuity.io/v1alpha1", "Freight"),
    ("kargo.akuity.io/v1alpha1", "Stage"),
    ("kargo.akuity.io/v1alpha1", "ProjectConfig"),
];

/// The position of a kind in [`ORDER`] (unknown kinds go last).
pub fn rank(info: &ResourceInfo) -> usize {
    ORDER
        .iter()
        .position(|(av, k)| *k == info.kind && info.api_version() == *av)
        .unwrap_or(ORDER.len())
}

/// Metadata the API server sets: meaningless (or harmful: owner uids,
/// finalizers) on another server.
const SERVER_OWNED_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "selfLink",
    "generateName",
];

/// One-shot requests (a refresh, a re-verification, an abort) and
/// client-side apply's record: not part of an object's state.
const REQUEST_ANNOTATIONS: &[&str] = &[
    labels::REFRESH,
    labels::REVERIFY,
    labels::ABORT,
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// The parts of a Stage's status that are history (what it holds, how
/// that was verified, the holds users set); the rest (conditions, health,
/// a running Promotion, observed generations) the controllers recompute.
const STAGE_STATUS_KEPT: &[&str] = &[
    "freightHistory",
    "freightSummary",
    "lastPromotion",
    "metadata",
    "autoPromotionHolds",
];

/// `obj` with server-owned metadata and controller-computed status removed.
pub fn portable(kind: &str, mut obj: Value) -> Value {
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SERVER_OWNED_METADATA {
            md.remove(*k);
        }
        if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
            for k in REQUEST_ANNOTATIONS {
                a.remove(*k);
            }
            if a.is_empty() {
                md.remove("annotations");
            }
        }
    }
    let Some(o) = obj.as_object_mut() else {
        return obj;
    };
    match kind {
        // Freight status is its history: verifiedIn, approvedFor, metadata.
        "Freight" => {}
        "Stage" => {
            if let Some(Value::Object(st)) = o.get_mut("status") {
                st.retain(|k, _| STAGE_STATUS_KEPT.contains(&k.as_str()));
            }
        }
        _ => {
            o.remove("status");
        }
    }
    if o.get("status")
        .is_some_and(|s| s.as_object().is_some_and(Map::is_empty))
    {
        o.remove("status");
    }
    obj
}

/// Every object of `info` in `ns` (all namespaces when `None`), a page
/// at a time; a kind the server does not serve (404) is none. Read as the
/// server wrote them: a typed `ObjectMeta` would round `creationTimestamp`
/// to the second, and Freight are exported (so imported) in creation
/// order.
async fn list(
    client: &kube::Client,
    info: &ResourceInfo,
    ns: Option<&str>,
    selector: Option<&str>,
) -> Result<Vec<Value>> {
    let path = collection_path(info, ns);
    let mut out = Vec::new();
    let mut lp = ListParams::default().limit(500);
    if let Some(s) = selector {
        lp = lp.labels(s);
    }
    loop {
        let req = kube::core::Request::new(&path)
            .list(&lp)
            .map_err(kube::Error::BuildRequest)
            .map_err(explain)?;
        let mut page = match client.request::<Value>(req).await {
            Ok(p) => p,
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(out),
            Err(e) => return Err(explain(e)),
        };
        if let Some(Value::Array(items)) = page.get_mut("items").map(Value::take) {
            for mut o in items {
                if let Some(m) = o.as_object_mut() {
                    m.insert("apiVersion".into(), info.api_version().into());
                    m.insert("kind".into(), info.kind.into());
                }
                out.push(o);
            }
        }
        match page
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            Some(c) => lp = lp.continue_token(c),
            None => return Ok(out),
        }
    }
}

fn name_of(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// When `o` was created (`None` when unset or unreadable).
fn created(o: &Value) -> Option<jiff::Timestamp> {
    o.pointer("/metadata/creationTimestamp")?
        .as_str()?
        .parse()
        .ok()
}

/// The exported objects, in [`ORDER`]; Freight oldest first, so an
/// import creates them in the order they were discovered.
pub async fn collect(client: &kube::Client, args: &ExportArgs) -> Result<Vec<Value>> {
    let project = args.project.as_deref();
    let mut out = Vec::new();
    for (av, kind) in ORDER {
        let info = lookup_kind(av, kind).expect("registered kind");
        let mut objs = match (*kind, project) {
            ("Secret", _) if !args.include_secrets => continue,
            // Shared and system credentials belong to no project: exported
            // only without --project.
            ("Secret", p) => list(client, info, p, Some(labels::CRED_TYPE)).await?,
            ("Project", Some(p)) => list(client, info, None, None)
                .await?
                .into_iter()
                .filter(|o| name_of(o) == p)
                .collect(),
            (_, Some(_)) if !info.namespaced() => continue,
            _ => list(client, info, project, None).await?,
        };
        if *kind == "Freight" {
            objs.sort_by_cached_key(|o| (created(o), name_of(o).to_string()));
        }
        out.extend(objs.into_iter().map(|o| portable(kind, o)));
    }
    Ok(out)
}

/// Runs `kargo export`.
pub async fn run(client: &kube::Client, args: ExportArgs) -> Result<()> {
    let objs = collect(client, &args).await?;
    for o in &objs {
        crate::output::write(format_args!("---\n{}", yaml_serde::to_string(o)?))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_owned_metadata_and_computed_status_go() {
        let stage = json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": "dev", "namespace": "p", "uid": "u", "resourceVersion": "7",
                "generation": 2, "creationTimestamp": "t", "finalizers": ["kargo.akuity.io/finalizer"],
                "labels": {"kargo.akuity.io/shard": "a"},
                "annotations": {"kargo.akuity.io/refresh": "x"}},
            "spec": {"requestedFreight": []},
            "status": {"freightSummary": "abc", "freightHistory": [{"id": "1"}],
                "conditions": [{"type": "Ready"}], "observedGeneration": 2,
                "currentPromotion": {"name": "x"}, "lastHandledRefresh": "x"}
        });
        assert_eq!(
            portable("Stage", stage),
            json!({
                "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
                "metadata": {"name": "dev", "namespace": "p", "labels": {"kargo.akuity.io/shard": "a"}},
                "spec": {"requestedFreight": []},
                "status": {"freightSummary": "abc", "freightHistory": [{"id": "1"}]}
            })
        );
        let w = json!({"kind": "Warehouse", "metadata": {"name": "w"}, "status": {"lastFreightID": "x"}});
        assert_eq!(
            portable("Warehouse", w),
            json!({"kind": "Warehouse", "metadata": {"name": "w"}})
        );
        let f = json!({"kind": "Freight", "metadata": {"name": "f", "labels": {"kargo.akuity.io/alias": "a"}},
            "status": {"verifiedIn": {"dev": {}}}});
        assert_eq!(portable("Freight", f.clone()), f);
    }

    #[test]
    fn every_kind_in_the_order_is_registered() {
        for (i, (av, k)) in ORDER.iter().enumerate() {
            let info = lookup_kind(av, k).unwrap_or_else(|| panic!("{av} {k}"));
            assert_eq!(rank(info), i);
        }
    }
}
