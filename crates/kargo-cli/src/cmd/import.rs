//! `kargo import -f FILE`: loads what `kargo export` wrote into any API
//! server (a cluster, or another `kargo server`). Objects are written in
//! dependency order ([`super::export::ORDER`]) with server-side apply
//! (field manager `kargo-import`, conflicts forced: the file is the
//! authority, as `kubectl apply --server-side --force-conflicts`), then
//! each Freight's and Stage's status through the status subresource, so
//! Freight keep their names, aliases and `verifiedIn` and Stages the
//! Freight they hold.
//!
//! Freight are created in the order they were discovered (the export's),
//! and that order must survive: the controllers take a Warehouse's newest
//! Freight by `creationTimestamp`. An API server that stamps whole seconds
//! (Kubernetes) would give Freight created in the same second equal
//! times, so against one the import lets a second pass between two
//! Freight of the same Warehouse.

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
    let mut order = FreightOrder::default();
    let (mut objects, mut statuses) = (0, 0);
    for m in &ms {
        let origin = (m.info.kind == "Freight").then(|| freight_origin(&m.obj));
        if let Some(o) = &origin {
            order.wait_turn(o).await;
        }
        let (kept, created) = import_one(client, m, &mut namespaces)
            .await
            .with_context(|| m.source.clone())?;
        if let (Some(o), Some(t)) = (origin, created) {
            order.created(o, t);
        }
        objects += 1;
        statuses += usize::from(kept);
    }
    outln!("imported {objects} objects ({statuses} with their status)")?;
    Ok(())
}

/// `kind/name` of the Warehouse (or other origin) a Freight came from.
fn freight_origin(f: &Value) -> String {
    let text = |p: &str| f.pointer(p).and_then(Value::as_str).unwrap_or("");
    format!("{}/{}", text("/origin/kind"), text("/origin/name"))
}

/// Keeps Freight of one origin in creation order on a server whose
/// `creationTimestamp` has whole seconds: the last Freight created per
/// origin, and when, if that server stamped it without a fraction.
#[derive(Default)]
struct FreightOrder {
    whole_second: std::collections::HashMap<String, Instant>,
}

impl FreightOrder {
    /// Waits until a Freight of `origin` created now is stamped after the
    /// last one.
    async fn wait_turn(&self, origin: &str) {
        if let Some(at) = self.whole_second.get(origin) {
            tokio::time::sleep_until((*at + Duration::from_secs(1)).into()).await;
        }
    }

    /// A Freight of `origin` now exists, stamped `stamp` by the server.
    fn created(&mut self, origin: String, stamp: jiff::Timestamp) {
        if stamp.subsec_nanosecond() == 0 {
            self.whole_second.insert(origin, Instant::now());
        } else {
            self.whole_second.remove(&origin);
        }
    }
}

/// Writes one object, then its status: whether a status was written, and
/// the object's `creationTimestamp` on the server.
async fn import_one(
    client: &kube::Client,
    m: &Manifest,
    namespaces: &mut Vec<String>,
) -> Result<(bool, Option<jiff::Timestamp>)> {
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
    let written = a
        .patch(&name, &pp, &Patch::Apply(&obj))
        .await
        .map_err(explain)?;
    let created = written.metadata.creation_timestamp.map(|t| t.0);
    if m.info.kind == "Project" {
        wait_for_namespace(client, &name, namespaces).await?;
    }
    let qn = qualified_name(m.info, &name);
    let Some(status) = status.filter(|s| s.as_object().is_some_and(|o| !o.is_empty())) else {
        outln!("{qn} imported")?;
        return Ok((false, created));
    };
    a.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map_err(explain)?;
    outln!("{qn} imported with its status")?;
    Ok((true, created))
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn elapsed(order: &FreightOrder, origin: &str) -> Duration {
        let start = Instant::now();
        order.wait_turn(origin).await;
        start.elapsed()
    }

    #[tokio::test]
    async fn freight_of_one_origin_wait_a_second_only_on_a_whole_second_server() {
        let mut order = FreightOrder::default();
        let whole: jiff::Timestamp = "2026-11-30T22:22:39Z".parse().unwrap();
        let micro: jiff::Timestamp = "2026-11-30T22:22:39.035284Z".parse().unwrap();

        order.created("Warehouse/a".into(), micro);
        assert!(elapsed(&order, "Warehouse/a").await < Duration::from_millis(100));

        order.created("Warehouse/a".into(), whole);
        assert!(elapsed(&order, "Warehouse/b").await < Duration::from_millis(100));
        let waited = elapsed(&order, "Warehouse/a").await;
        assert!(waited >= Duration::from_millis(900), "{waited:?}");

        order.created("Warehouse/a".into(), micro);
        assert!(elapsed(&order, "Warehouse/a").await < Duration::from_millis(100));
    }

    #[test]
    fn a_freight_origin_is_kind_and_name() {
        let f = json!({"origin": {"kind": "Warehouse", "name": "w"}});
        assert_eq!(freight_origin(&f), "Warehouse/w");
    }
}
