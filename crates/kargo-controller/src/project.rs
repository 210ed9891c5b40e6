//! The Project controller: fills in a Project's status as Kargo's does
//! (`pkg/controller/management/projects`): `Ready` True with reason
//! `Synced` once its namespace exists, and `stats` counting the project's
//! Warehouses and (non-control-flow) Stages and how many of each are
//! Healthy. It reads the project's Stages and Warehouses from the shared
//! watch caches (by namespace), and a change of one wakes only its
//! Project: a change costs one pass over that project's objects, never a
//! list call or a scan of other projects.

use crate::informers::Caches;
use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use k8s_openapi::api::core::v1::Namespace;
use kargo_api::{Project, Stage, Warehouse};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// What the reconciler needs.
pub struct Context {
    client: kube::Client,
    caches: Arc<Caches>,
    /// Projects whose default roles were last ensured: (uid, creator) and
    /// when. Ensuring reads eleven objects; it is done again only when
    /// these change or [`ROLES_RECHECK`] has passed.
    ensured: std::sync::Mutex<std::collections::HashMap<String, Ensured>>,
}

/// A Project's uid and creator when its default roles were last ensured,
/// and when.
type Ensured = (Option<String>, Option<String>, std::time::Instant);

/// How often a Project's default roles are checked for drift.
const ROLES_RECHECK: Duration = Duration::from_secs(600);

fn healthy(status: Option<&[kargo_api::common::Condition]>) -> bool {
    crate::conditions::get(status.unwrap_or_default(), "Healthy")
        .is_some_and(|c| c.status == "True")
}

/// Runs the controller: Projects from their own watch, woken when a Stage
/// or Warehouse of theirs changes (the shared caches' hubs say which).
pub async fn run(
    client: kube::Client,
    caches: Arc<Caches>,
    wake: UnboundedReceiver<ObjectRef<Project>>,
) {
    let ctx = Arc::new(Context {
        client: client.clone(),
        caches,
        ensured: Default::default(),
    });
    Controller::new(Api::<Project>::all(client), watcher::Config::default())
        .with_config(Config::default().debounce(Duration::from_millis(500)))
        .reconcile_on(wake)
        .run(
            reconcile,
            |_, e: &kube::Error, _| {
                tracing::debug!(error = %e, "project reconcile");
                Action::requeue(Duration::from_secs(5))
            },
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

/// Kargo's stats for the objects of one project.
fn stats(project: &str, stages: &[Arc<Stage>], warehouses: &[Arc<Warehouse>]) -> Value {
    let in_project = |ns: Option<String>| ns.as_deref() == Some(project);
    let stages: Vec<_> = stages
        .iter()
        .filter(|s| in_project(s.namespace()))
        // Control-flow Stages (no steps) are not counted, as in Kargo.
        .filter(|s| {
            s.spec
                .promotion_template
                .as_ref()
                .is_some_and(|t| !t.effective_steps().is_empty())
        })
        .collect();
    let warehouses: Vec<_> = warehouses
        .iter()
        .filter(|w| in_project(w.namespace()))
        .collect();
    let healthy_stages = stages
        .iter()
        .filter(|s| healthy(s.status.as_ref().map(|st| &st.conditions[..])))
        .count();
    let healthy_warehouses = warehouses
        .iter()
        .filter(|w| healthy(w.status.as_ref().map(|st| &st.conditions[..])))
        .count();
    // Kargo's fields are omitempty: zero counts are left out.
    let counts = |count: usize, healthy: usize| {
        let mut o = serde_json::Map::new();
        if count > 0 {
            o.insert("count".into(), json!(count));
        }
        if healthy > 0 {
            o.insert("health".into(), json!({"healthy": healthy}));
        }
        Value::Object(o)
    };
    json!({
        "warehouses": counts(warehouses.len(), healthy_warehouses),
        "stages": counts(stages.len(), healthy_stages),
    })
}

async fn reconcile(project: Arc<Project>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    if project.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = project.name_any();
    let namespace = Api::<Namespace>::all(ctx.client.clone())
        .get_opt(&name)
        .await?;
    if namespace.is_some() {
        let creator = project
            .annotations()
            .get(kargo_api::labels::CREATE_ACTOR)
            .cloned();
        let uid = project.meta().uid.clone();
        let fresh = ctx
            .ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
            .is_some_and(|(u, c, at)| *u == uid && *c == creator && at.elapsed() < ROLES_RECHECK);
        if !fresh {
            crate::project_roles::ensure(&ctx.client, &name, creator.as_deref(), uid.as_deref())
                .await?;
            ctx.ensured
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), (uid, creator, std::time::Instant::now()));
        }
    }
    let generation = project.meta().generation;
    let ready = match namespace {
        Some(_) => json!({
            "type": "Ready", "status": "True", "reason": "Synced",
            "message": "Project is synced and ready for use",
        }),
        None => json!({
            "type": "Ready", "status": "False", "reason": "EnsuringNamespaceFailed",
            "message": format!("Failed to ensure existence of project namespace: namespace {name:?} does not exist"),
        }),
    };
    let stats = stats(
        &name,
        &ctx.caches.stages_of(&name),
        &ctx.caches.warehouses_of(&name),
    );
    let old = serde_json::to_value(&project.status).unwrap_or(Value::Null);
    let old_ready = old
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let unchanged_ready = old_ready.is_some_and(|c| {
        c["status"] == ready["status"]
            && c["reason"] == ready["reason"]
            && c["message"] == ready["message"]
    });
    if unchanged_ready && old.get("stats") == Some(&stats) {
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    let mut ready = ready;
    ready["observedGeneration"] = json!(generation);
    ready["lastTransitionTime"] = match old_ready {
        Some(c) if c["status"] == ready["status"] => c["lastTransitionTime"].clone(),
        _ => json!(crate::now()),
    };
    let patch = json!({"status": {"conditions": [ready], "stats": stats}});
    Api::<Project>::all(ctx.client.clone())
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(ns: &str, steps: bool, healthy: bool) -> Arc<Stage> {
        let mut s: Stage = serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": "s", "namespace": ns},
            "spec": {"requestedFreight": []},
            "status": {"conditions": [{"type": "Healthy", "status": if healthy {"True"} else {"Unknown"}}]},
        }))
        .unwrap();
        if steps {
            s.spec.promotion_template = serde_json::from_value(
                json!({"spec": {"steps": [{"uses": "git-clone", "config": {}}]}}),
            )
            .unwrap();
        }
        Arc::new(s)
    }

    #[test]
    fn stats_count_as_kargo() {
        let stages = vec![
            stage("p", true, true),
            stage("p", true, false),
            stage("p", false, true), // control flow: not counted
            stage("other", true, true),
        ];
        let v = stats("p", &stages, &[]);
        assert_eq!(
            v,
            json!({"warehouses": {}, "stages": {"count": 2, "health": {"healthy": 1}}})
        );
    }
}
