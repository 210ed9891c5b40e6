//! `kargo export [--project P] [--include-secrets]`: every object an
//! installation is made of, as multi-document YAML in dependency order
//! with server-owned metadata stripped, for `kargo import` into another
//! API server (a cluster). Freight keep their names (IDs), aliases and
//! status (`verifiedIn`, `approvedFor`); Stages keep the Freight they hold
//! and its verification history, so nothing has to be promoted or
//! verified again.

use crate::resources::{api, explain};
use anyhow::Result;
use kargo_api::{ResourceInfo, labels, lookup_kind};
use kube::api::{DynamicObject, ListParams};
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
/// at a time; a kind the server does not serve (404) is none.
async fn list(
    client: &kube::Client,
    info: &ResourceInfo,
    ns: Option<&str>,
    selector: Option<&str>,
) -> Result<Vec<Value>> {
    let a = match (info.namespaced(), ns) {
        (true, None) => kube::Api::<DynamicObject>::all_with(
            client.clone(),
            &crate::resources::api_resource(info),
        ),
        _ => api(client, info, ns)?,
    };
    let mut out = Vec::new();
    let mut lp = ListParams::default().limit(500);
    if let Some(s) = selector {
        lp = lp.labels(s);
    }
    loop {
        let page = match a.list(&lp).await {
            Ok(p) => p,
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(out),
            Err(e) => return Err(explain(e)),
        };
        for mut o in page.items {
            o.types = Some(kube::api::TypeMeta {
                api_version: info.api_version(),
                kind: info.kind.to_string(),
            });
            out.push(serde_json::to_value(o)?);
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => return Ok(out),
        }
    }
}

fn name_of(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn created(o: &Value) -> &str {
    o.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .unwrap_or("")
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
            objs.sort_by(|a, b| created(a).cmp(created(b)).then(name_of(a).cmp(name_of(b))));
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
