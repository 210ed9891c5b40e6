//! `kargo refresh warehouse|stage NAME [--wait]`, `kargo refresh
//! clusterconfig` and `kargo refresh projectconfig`: asks the controller
//! to look again now (annotation `kargo.akuity.io/refresh`) and, with
//! `--wait`, follows it until the object reports the refresh handled
//! (`status.lastHandledRefresh`), as Kargo's CLI does. A Warehouse also
//! reports how its discovery went (non-zero exit when it failed).

use crate::progress::Progress;
use crate::resources::explain;
use anyhow::{Result, bail};
use kargo_api::{ClusterConfig, ProjectConfig, Stage, Warehouse, labels};
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use std::time::Duration;

/// What `kargo refresh` can refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Discover artifacts now.
    Warehouse,
    /// Re-evaluate the Stage now.
    Stage,
    /// Re-read the ClusterConfig (named `cluster`).
    ClusterConfig,
    /// Re-read a project's ProjectConfig (named after the project).
    ProjectConfig,
}

/// The parts of a refreshed object's status `--wait` reads.
struct Handled {
    token: String,
    /// `Some(message)` when the Ready condition is False.
    failed: Option<String>,
    message: String,
}

/// The Ready condition's message, and whether it is False.
fn ready(conditions: &[kargo_api::common::Condition]) -> (String, bool) {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.message.clone(), c.status == "False"))
        .unwrap_or_default()
}

fn handled_warehouse(w: Warehouse) -> Handled {
    let st = w.status.unwrap_or_default();
    let (message, not_ready) = ready(&st.conditions);
    Handled {
        token: st.last_handled_refresh,
        failed: not_ready.then(|| message.clone()),
        message,
    }
}

fn handled_stage(s: Stage) -> Handled {
    let st = s.status.unwrap_or_default();
    Handled {
        token: st.last_handled_refresh,
        failed: None,
        message: ready(&st.conditions).0,
    }
}

fn handled_config(status: Option<kargo_api::project::ConfigStatus>) -> Handled {
    let st = status.unwrap_or_default();
    Handled {
        token: st.last_handled_refresh,
        failed: None,
        message: ready(&st.conditions).0,
    }
}

/// Refreshes a Warehouse or a Stage of `project`, the ClusterConfig, or
/// the ProjectConfig `name` of `project`.
pub async fn run(
    client: &kube::Client,
    target: Target,
    name: &str,
    project: &str,
    wait: bool,
    timeout: Duration,
) -> Result<()> {
    let wait = wait.then_some(timeout);
    let c = client.clone();
    match target {
        Target::Warehouse => {
            let api = Api::namespaced(c, project);
            refresh::<Warehouse>(api, "warehouse", name, wait, handled_warehouse).await
        }
        Target::Stage => {
            let api = Api::namespaced(c, project);
            refresh::<Stage>(api, "stage", name, wait, handled_stage).await
        }
        Target::ClusterConfig => {
            let handled = |o: ClusterConfig| handled_config(o.status);
            refresh::<ClusterConfig>(Api::all(c), "clusterconfig", name, wait, handled).await
        }
        Target::ProjectConfig => {
            let handled = |o: ProjectConfig| handled_config(o.status);
            let api = Api::namespaced(c, project);
            refresh::<ProjectConfig>(api, "projectconfig", name, wait, handled).await
        }
    }
}

async fn refresh<K>(
    api: Api<K>,
    kind: &str,
    name: &str,
    wait: Option<Duration>,
    handled: fn(K) -> Handled,
) -> Result<()>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let token = jiff::Timestamp::now().to_string();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {labels::REFRESH: token}}})),
    )
    .await
    .map_err(explain)?;
    let Some(timeout) = wait else {
        outln!("{kind}.kargo.akuity.io/{name} refresh requested")?;
        return Ok(());
    };
    let mut progress = Progress::start(&format!("refreshing {kind} {name}"));
    loop {
        let h = handled(api.get(name).await.map_err(explain)?);
        if h.token == token {
            if let Some(why) = h.failed {
                bail!("{kind} {name} refreshed but discovery failed: {why}");
            }
            return progress.finish(&format!(
                "{kind}.kargo.akuity.io/{name} refreshed: {}",
                h.message
            ));
        }
        progress.deadline(timeout, || {
            format!(
                "{kind} {name} did not finish refreshing within {}s (is the server's controller running?)",
                timeout.as_secs()
            )
        })?;
        progress.state(&format!("refreshing {kind} {name}"))?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
