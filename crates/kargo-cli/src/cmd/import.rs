//! `kargo import -f FILE`: loads what `kargo export` wrote into any API
//! server (a cluster, or another `kargo server`). Objects are written in
//! dependency order ([`super::export::ORDER`]) with server-side apply
//! (field manager `kargo-import`, conflicts forced: the file is the
//! authority, as `kubectl apply --server-side --force-conflicts`), then
//! each Freight's and Stage's status through the status subresource, so
//! Freight keep their names, aliases and `verifiedIn` and Stages the
//! Freight they hold.

use super::export::rank;
use crate::manifest::{self, Manifest};
use crate::resources::{api, explain, qualified_name};
use anyhow::{Context, Result, bail};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The field manager of the objects an import writes.
pub const FIELD_MANAGER: &str = "kargo-import";

/// How long an import waits for a Project's namespace (a cluster's Kargo
/// creates it on admission or in its management controller).
const NAMESPACE_WAIT: Duration = Duration::from_secs(60);

/// Runs `kargo import -f FILE...`.
pub async fn run(client: &kube::Client, files: &[String]) -> Result<()> {
    let mut ms = manifest::read_all(files)?;
    // Stable: Freight stay oldest first, as exported.
    ms.sort_by_key(|m| rank(m.info));
    let mut namespaces = Vec::new();
    let (mut objects, mut statuses) = (0, 0);
    for m in &ms {
        let kept = import_one(client, m, &mut namespaces)
            .await
            .with_context(|| m.source.clone())?;
        objects += 1;
        statuses += usize::from(kept);
    }
    outln!("imported {objects} objects ({statuses} with their status)")?;
    Ok(())
}

/// Writes one object, then its status; true when a status was written.
async fn import_one(
    client: &kube::Client,
    m: &Manifest,
    namespaces: &mut Vec<String>,
) -> Result<bool> {
    let mut obj = m.obj.clone();
    let status = obj.as_object_mut().and_then(|o| o.remove("status"));
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .context("metadata.name is required")?
        .to_string();
    let ns = if m.info.namespaced() {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .context("metadata.namespace is required")?
            .to_string();
        if m.info.group == kargo_api::KARGO_GROUP || m.info.group == kargo_api::ARGO_GROUP {
            wait_for_namespace(client, &ns, namespaces).await?;
        } else {
            super::apply::ensure_namespace(client, &ns, namespaces).await?;
        }
        Some(ns)
    } else {
        None
    };
    let a = api(client, m.info, ns.as_deref())?;
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    a.patch(&name, &pp, &Patch::Apply(&obj))
        .await
        .map_err(explain)?;
    if m.info.kind == "Project" {
        wait_for_namespace(client, &name, namespaces).await?;
    }
    let qn = qualified_name(m.info, &name);
    let Some(status) = status.filter(|s| s.as_object().is_some_and(|o| !o.is_empty())) else {
        outln!("{qn} imported")?;
        return Ok(false);
    };
    a.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map_err(explain)?;
    outln!("{qn} imported with its status")?;
    Ok(true)
}

/// Waits until namespace `ns` exists (a Project's, which Kargo creates).
async fn wait_for_namespace(client: &kube::Client, ns: &str, seen: &mut Vec<String>) -> Result<()> {
    if seen.iter().any(|s| s == ns) {
        return Ok(());
    }
    let info = kargo_api::lookup_kind("v1", "Namespace").expect("registered");
    let nsapi = api(client, info, None)?;
    let start = Instant::now();
    while nsapi.get_opt(ns).await.map_err(explain)?.is_none() {
        if start.elapsed() > NAMESPACE_WAIT {
            bail!(
                "namespace {ns:?} does not exist after {}s: import its Project first",
                NAMESPACE_WAIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    seen.push(ns.to_string());
    Ok(())
}
