//! An in-test Argo CD application controller: it watches Applications on
//! a `kargo server` and does to them what Argo CD does (Kargo's reference
//! "stand-in must" list): takes a requested `operation` (clears it,
//! writes `status.operationState` Running, then Succeeded or Failed with
//! `finishedAt` and `syncResult`), reports `status.sync`, `status.health`
//! (Progressing for a while, then the outcome the test chose) and
//! conditions, keeps `status.reconciledAt` at or after `finishedAt`,
//! answers `argocd.argoproj.io/refresh` by reconciling and removing it,
//! and records Events.

use futures::StreamExt;
use kargo_api::Application;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REFRESH: &str = "argocd.argoproj.io/refresh";

/// How a sync of one Application ends.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Health once it settles (`Healthy`, `Degraded`, ...).
    pub health: String,
    /// Argo CD's health message.
    pub message: String,
    /// How long health stays `Progressing` after the sync.
    pub progressing: Duration,
    /// The sync itself fails with this message.
    pub sync_error: Option<String>,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            health: "Healthy".into(),
            message: String::new(),
            progressing: Duration::from_secs(2),
            sync_error: None,
        }
    }
}

/// The running stand-in; it stops with the test process.
#[derive(Clone, Default)]
pub struct ArgoCd {
    outcomes: Arc<Mutex<HashMap<String, Outcome>>>,
    /// Syncs performed, by Application name.
    pub syncs: Arc<Mutex<HashMap<String, u32>>>,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl ArgoCd {
    /// Starts watching the server `kubeconfig` points at.
    pub fn start(kubeconfig: &Path) -> ArgoCd {
        let me = ArgoCd::default();
        let run = me.clone();
        let kubeconfig = kubeconfig.to_path_buf();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(run.watch(kubeconfig));
        });
        me
    }

    /// What syncs of `app` lead to from now on.
    pub fn set(&self, app: &str, outcome: Outcome) {
        self.outcomes.lock().unwrap().insert(app.into(), outcome);
    }

    /// Syncs of `app` so far.
    pub fn syncs_of(&self, app: &str) -> u32 {
        self.syncs.lock().unwrap().get(app).copied().unwrap_or(0)
    }

    async fn watch(self, kubeconfig: std::path::PathBuf) {
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(cfg).unwrap();
        let apps: Api<Application> = Api::all(client.clone());
        let mut events = std::pin::pin!(watcher::watcher(apps, watcher::Config::default()));
        let busy: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        while let Some(ev) = events.next().await {
            let app = match ev {
                Ok(watcher::Event::Apply(a) | watcher::Event::InitApply(a)) => a,
                _ => continue,
            };
            let name = app.metadata.name.clone().unwrap_or_default();
            let ns = app.metadata.namespace.clone().unwrap_or_default();
            let api: Api<Application> = Api::namespaced(client.clone(), &ns);
            if let Some(op) = app.operation.clone() {
                if !busy.lock().unwrap().insert(name.clone()) {
                    continue;
                }
                let me = self.clone();
                let (busy, client) = (busy.clone(), client.clone());
                tokio::spawn(async move {
                    me.sync(&api, &client, &app, op).await;
                    busy.lock().unwrap().remove(&name);
                });
            } else if app
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(REFRESH))
                && !busy.lock().unwrap().contains(&name)
            {
                patch(&api, &name, json!({"metadata": {"annotations": {REFRESH: null}}, "status": {"reconciledAt": now()}})).await;
            }
        }
    }

    async fn sync(
        &self,
        api: &Api<Application>,
        client: &kube::Client,
        app: &Application,
        op: Value,
    ) {
        let name = app.metadata.name.clone().unwrap_or_default();
        *self.syncs.lock().unwrap().entry(name.clone()).or_default() += 1;
        let outcome = self
            .outcomes
            .lock()
            .unwrap()
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let started = now();
        patch(api, &name, json!({
            "operation": null,
            "metadata": {"annotations": {REFRESH: null}},
            "status": {"operationState": {"operation": op, "phase": "Running", "message": "syncing", "startedAt": started},
                "sync": {"status": "OutOfSync"}, "health": {"status": "Progressing"}, "reconciledAt": started},
        }))
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // What was synced: each source's targetRevision.
        let spec = &app.spec;
        let (result, sync) = match spec.get("sources").and_then(Value::as_array) {
            Some(srcs) if !srcs.is_empty() => {
                let revs: Vec<Value> = srcs.iter().map(|s| s["targetRevision"].clone()).collect();
                (
                    json!({"revisions": revs}),
                    json!({"status": "Synced", "revisions": revs}),
                )
            }
            _ => {
                let rev = spec
                    .pointer("/source/targetRevision")
                    .cloned()
                    .unwrap_or(Value::Null);
                (
                    json!({"revision": rev}),
                    json!({"status": "Synced", "revision": rev}),
                )
            }
        };
        let finished = now();
        if let Some(err) = &outcome.sync_error {
            patch(api, &name, json!({"status": {"operationState": {"phase": "Failed", "message": err, "finishedAt": finished, "syncResult": result},
                "reconciledAt": finished}}))
            .await;
            event(
                client,
                app,
                "Warning",
                "OperationCompleted",
                &format!("Sync operation failed: {err}"),
            )
            .await;
            return;
        }
        patch(api, &name, json!({"status": {
            "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)", "finishedAt": finished, "syncResult": result},
            "sync": sync, "health": {"status": "Progressing"}, "reconciledAt": finished}}))
        .await;
        event(
            client,
            app,
            "Normal",
            "OperationCompleted",
            "Sync operation succeeded",
        )
        .await;
        tokio::time::sleep(outcome.progressing).await;
        let mut health = json!({"status": outcome.health});
        if !outcome.message.is_empty() {
            health["message"] = json!(outcome.message);
        }
        patch(
            api,
            &name,
            json!({"status": {"health": health, "reconciledAt": now()}}),
        )
        .await;
        event(
            client,
            app,
            "Normal",
            "ResourceUpdated",
            &format!("Updated health status: Progressing -> {}", outcome.health),
        )
        .await;
    }
}

async fn patch(api: &Api<Application>, name: &str, p: Value) {
    if let Err(e) = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&p))
        .await
    {
        eprintln!("argo cd stand-in: patching {name}: {e}");
    }
}

async fn event(client: &kube::Client, app: &Application, type_: &str, reason: &str, message: &str) {
    let ns = app.metadata.namespace.clone().unwrap_or_default();
    let name = app.metadata.name.clone().unwrap_or_default();
    let ev: k8s_openapi::api::core::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}.{:x}", jiff::Timestamp::now().as_nanosecond()), "namespace": ns},
        "involvedObject": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "name": name, "namespace": ns},
        "type": type_, "reason": reason, "message": message, "source": {"component": "argocd-application-controller"},
        "firstTimestamp": now(), "lastTimestamp": now(), "count": 1,
    }))
    .unwrap();
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
    let _ = api.create(&PostParams::default(), &ev).await;
}
