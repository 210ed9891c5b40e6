//! The ClusterConfig controller: acknowledges a refresh (`kargo refresh
//! clusterconfig`: the `kargo.akuity.io/refresh` annotation on the
//! ClusterConfig named `cluster`) in `status.lastHandledRefresh`, with
//! `status.observedGeneration`, as Kargo's does, so `--wait` sees it end.
//! The ClusterConfig's settings themselves are read where they apply.

use crate::project_config::pending_refresh;
use futures::StreamExt;
use kargo_api::ClusterConfig;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Runs the controller on its own watch of ClusterConfigs (there is one).
pub async fn run(client: kube::Client) {
    Controller::new(
        Api::<ClusterConfig>::all(client.clone()),
        watcher::Config::default(),
    )
    .run(
        reconcile,
        |_, _, _| Action::requeue(Duration::from_secs(10)),
        Arc::new(client),
    )
    .for_each(|_| async {})
    .await;
}

async fn reconcile(
    cc: Arc<ClusterConfig>,
    client: Arc<kube::Client>,
) -> Result<Action, kube::Error> {
    let status = cc.status.clone().unwrap_or_default();
    let generation = cc.metadata.generation;
    let refresh = pending_refresh(&cc.metadata, &status.last_handled_refresh);
    if refresh.is_some() || status.observed_generation != generation {
        let mut patch = json!({"status": {"observedGeneration": generation}});
        if let Some(token) = refresh {
            patch["status"]["lastHandledRefresh"] = json!(token);
        }
        Api::<ClusterConfig>::all((*client).clone())
            .patch_status(
                &cc.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
    }
    Ok(Action::await_change())
}
