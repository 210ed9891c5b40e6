//! The Stage's `status.promotionWindowStatus`, from the ProjectConfig in
//! the shared cache and the ClusterConfig (read at most every few seconds
//! per process; the Project's labels only when a cluster window selects
//! Projects by label). Advisory, as in Kargo: admission is the arbiter.
//! The Stage controller does not auto-promote or roll back while the
//! schedule is closed, and re-checks the Stage when it next changes.

use crate::informers::Caches;
use kargo_api::project::ClusterConfigSpec;
use kargo_api::promotion_window::{self, Subject};
use kargo_api::stage::PromotionWindowStatus;
use kargo_api::{ClusterConfig, Project, Stage};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a read ClusterConfig is used before reading it again.
const CLUSTER_TTL: Duration = Duration::from_secs(5);

/// The ClusterConfig's spec as last read.
#[derive(Default)]
pub struct ClusterWindows {
    read: Mutex<Option<(Instant, Option<ClusterConfigSpec>)>>,
}

impl ClusterWindows {
    async fn spec(&self, client: &kube::Client) -> Option<ClusterConfigSpec> {
        {
            let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, spec)) = read.as_ref()
                && at.elapsed() < CLUSTER_TTL
            {
                return spec.clone();
            }
        }
        let spec = match Api::<ClusterConfig>::all(client.clone())
            .get_opt("cluster")
            .await
        {
            Ok(c) => c.map(|c| c.spec),
            Err(e) => {
                tracing::debug!(error = %e, "reading the ClusterConfig");
                None
            }
        };
        *self.read.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), spec.clone()));
        spec
    }
}

/// The schedule gating `stage` at `now_ms` (None: no window applies).
pub async fn status(
    client: &kube::Client,
    cluster: &ClusterWindows,
    caches: &Caches,
    stage: &Stage,
    now_ms: i64,
) -> Option<PromotionWindowStatus> {
    let ns = stage.namespace().unwrap_or_default();
    let pc = caches.project_configs.get(&ObjectRef::new(&ns).within(&ns));
    let cc = cluster.spec(client).await;
    let by_label = cc.as_ref().is_some_and(|c| {
        c.promotion_windows.iter().any(|w| {
            w.project_selector
                .as_ref()
                .is_some_and(|s| !s.match_labels.is_empty() || !s.match_expressions.is_empty())
        })
    });
    let project_labels = if by_label {
        Api::<Project>::all(client.clone())
            .get_opt(&ns)
            .await
            .ok()
            .flatten()
            .map(|p| p.labels().clone())
            .unwrap_or_default()
    } else {
        Default::default()
    };
    let name = stage.name_any();
    let who = Subject {
        stage: &name,
        stage_labels: stage.labels(),
        project: &ns,
        project_labels: &project_labels,
    };
    let windows = promotion_window::applicable(pc.as_ref().map(|p| &p.spec), cc.as_ref(), &who);
    promotion_window::evaluate(&windows, promotion_window::instant(now_ms))
}

/// When the status next changes, in milliseconds since the epoch.
pub fn due(status: Option<&PromotionWindowStatus>) -> Option<i64> {
    status
        .and_then(promotion_window::next_change)
        .map(|t| t.timestamp_millis())
}

/// Whether the schedule forbids promotions now.
pub fn closed(status: Option<&PromotionWindowStatus>) -> bool {
    status.is_some_and(|s| s.closed)
}
