//! The AnalysisRun controller: executes AnalysisRuns in-process with
//! `kargo-analysis` (Argo Rollouts' semantics; web, Prometheus and job
//! providers; job metrics as local processes or, in cluster mode, as
//! `batch/v1` Jobs through `jobs.rs`). Each reconcile takes the measurements that are due,
//! persists what changed of the status as a JSON patch, and asks to be woken when the next one is.

use crate::work_queue::Action;
use futures::channel::mpsc::UnboundedReceiver;
use k8s_openapi::api::core::v1::Secret;
use kargo_analysis::{Providers, RunRef, StaticSecrets, reconcile_async};
use kargo_api::AnalysisRun;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::Store;
use std::sync::Arc;
use std::time::Duration;

/// What the reconciler needs.
pub struct Context {
    client: kube::Client,
    providers: Providers,
}

impl Context {
    /// A context with the built-in providers, job metrics run where
    /// `jobs` says.
    pub fn new(client: kube::Client, jobs: crate::JobProvider) -> Self {
        let providers = match jobs {
            crate::JobProvider::Local => Providers::new(),
            crate::JobProvider::Cluster => Providers::new()
                .with_job_runner(Arc::new(crate::jobs::ClusterJobs::new(client.clone()))),
        };
        Context { client, providers }
    }
}

/// Runs the controller on the hub's AnalysisRun stream, at most
/// `concurrency` reconciles (measurements) at once.
pub async fn run(
    ctx: Arc<Context>,
    runs: Store<AnalysisRun>,
    trigger: UnboundedReceiver<ObjectRef<AnalysisRun>>,
    concurrency: u16,
) {
    crate::work_queue::run(
        runs,
        trigger,
        concurrency,
        ctx,
        |ar, ctx| crate::metrics::timed("analysisrun", reconcile(ar, ctx)),
        |_, e: &kube::Error, _| {
            tracing::warn!(error = %e, "analysisrun reconcile failed");
            Action::requeue(Duration::from_secs(5))
        },
        |_| crate::stats::reconciled(crate::stats::ANALYSIS_RUN),
    )
    .await;
}

async fn reconcile(ar: Arc<AnalysisRun>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let status = ar.status.clone().unwrap_or_default();
    if kargo_analysis::phase::completed(&status.phase) {
        return Ok(Action::await_change());
    }
    let ns = ar.namespace().unwrap_or_default();
    // Arguments may come from Secrets in the run's namespace.
    let mut secrets = StaticSecrets::default();
    if ar.spec.args.iter().any(|a| {
        a.value_from
            .as_ref()
            .is_some_and(|v| v.secret_key_ref.is_some())
    }) {
        for s in Api::<Secret>::namespaced(ctx.client.clone(), &ns)
            .list(&ListParams::default())
            .await?
            .items
        {
            for (k, v) in s.data.clone().unwrap_or_default() {
                secrets = secrets.with(&s.name_any(), &k, &String::from_utf8_lossy(&v.0));
            }
        }
    }
    let clock = || jiff::Timestamp::now();
    let run = RunRef::new(&ar.name_any(), &ns, &ar.uid().unwrap_or_default(), &status);
    let providers = ctx.providers.for_run(run);
    let mut out = reconcile_async(&ar.spec, &status, &clock, &secrets, &providers).await;
    if kargo_analysis::phase::completed(&out.status.phase) && out.status.completed_at.is_none() {
        out.status.completed_at = Some(crate::now());
    }
    // Only what changed is written: a measurement is an append and its
    // counters, guarded by the counts this step read.
    let ops = kargo_analysis::status_patch::status_patch(&status, &out.status);
    if !ops.is_empty() {
        let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))
            .map_err(kube::Error::SerdeError)?;
        Api::<AnalysisRun>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &ar.name_any(),
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            )
            .await?;
        if kargo_analysis::phase::completed(&out.status.phase)
            && let Some(took) = crate::metrics::since(out.status.started_at.as_deref())
        {
            let stage = ar.labels().get(crate::verification::STAGE_LABEL).cloned();
            crate::metrics::observe_verification(&ns, stage.as_deref().unwrap_or(""), took);
        }
    }
    Ok(match out.next_reconcile {
        Some(at) => {
            let ms = (at.as_millisecond() - jiff::Timestamp::now().as_millisecond()).max(50);
            Action::requeue(Duration::from_millis(ms as u64))
        }
        None => Action::await_change(),
    })
}
