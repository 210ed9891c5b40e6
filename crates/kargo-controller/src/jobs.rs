//! The job metric provider on a cluster, as Argo Rollouts' (`metricproviders/job`):
//! each measurement is a `batch/v1` Job named `<run uid>.<metric>.<n>`
//! (n: the metric's count + errors + 1; the metric name cut so the name
//! fits 63 characters), labelled `analysisrun.argoproj.io/uid` (its pods
//! too), annotated with the run's name, namespace and metric, and owned
//! by the AnalysisRun (a controller reference). Creating a Job that
//! exists already for the same run reuses it, so a controller restarted
//! mid-measurement picks its Job up again. The measurement is
//! Successful when the Job has a `Complete` condition and Failed when it
//! has a `Failed` one; while it runs, the Job is read again after
//! √(2·elapsed) seconds (1 s to 10 s), and the AnalysisRun with it: a
//! run terminated or deleted meanwhile deletes the Job (foreground
//! propagation, as Rollouts) and the measurement is Inconclusive. The
//! measurement's metadata holds `job-name` and `job-namespace`, which
//! `kargo logs` reads.

use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kargo_analysis::{JobRunner, Observation, Phase, RunRef};
use kargo_api::AnalysisRun;
use kargo_api::analysis::{JobMetric, Metric};
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Label on a measurement's Job and its pods: the AnalysisRun's uid.
pub const RUN_UID_LABEL: &str = "analysisrun.argoproj.io/uid";
/// Annotation on a Job: the AnalysisRun's name.
pub const RUN_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/name";
/// Annotation on a Job: the AnalysisRun's namespace.
pub const RUN_NAMESPACE_ANNOTATION: &str = "analysisrun.argoproj.io/namespace";
/// Annotation on a Job: the metric it measures.
pub const METRIC_ANNOTATION: &str = "analysisrun.argoproj.io/metric-name";
/// Measurement metadata: the Job's name.
pub const JOB_NAME_KEY: &str = "job-name";
/// Measurement metadata: the Job's namespace.
pub const JOB_NAMESPACE_KEY: &str = "job-namespace";
/// Longest Job name (Rollouts' `Kubernetes_DNS_Limit`).
const NAME_LIMIT: usize = 63;
/// Longest one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Consecutive failed reads of a running Job before the measurement is an Error.
const READ_ATTEMPTS: u32 = 5;

/// Runs job metrics as Jobs through `client`.
#[derive(Clone)]
pub struct ClusterJobs {
    client: kube::Client,
}

impl std::fmt::Debug for ClusterJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterJobs")
    }
}

impl ClusterJobs {
    /// Jobs in the cluster `client` reaches.
    pub fn new(client: kube::Client) -> ClusterJobs {
        ClusterJobs { client }
    }
}

impl JobRunner for ClusterJobs {
    fn measure<'a>(
        &'a self,
        run: &'a RunRef,
        metric: &'a Metric,
        job: &'a JobMetric,
    ) -> BoxFuture<'a, Observation> {
        Box::pin(measure(self.client.clone(), run, metric, job))
    }
}

/// Rollouts' `newJobName`.
pub fn job_name(run: &RunRef, metric: &str) -> String {
    let n = run.next_of(metric);
    let name = format!("{}.{metric}.{n}", run.uid);
    if name.len() <= NAME_LIMIT {
        return name;
    }
    let keep = metric.len().saturating_sub(name.len() - NAME_LIMIT);
    let cut: String = metric.chars().take(keep).collect();
    format!("{}.{cut}.{n}", run.uid)
}

fn string_map(v: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Rollouts' `newMetricJob`.
pub fn build_job(run: &RunRef, metric: &Metric, job: &JobMetric) -> Job {
    let md = job.metadata.as_ref();
    let mut labels = string_map(md.and_then(|m| m.get("labels")));
    labels.insert(RUN_UID_LABEL.into(), run.uid.clone());
    let mut annotations = string_map(md.and_then(|m| m.get("annotations")));
    annotations.insert(RUN_NAME_ANNOTATION.into(), run.name.clone());
    annotations.insert(RUN_NAMESPACE_ANNOTATION.into(), run.namespace.clone());
    annotations.insert(METRIC_ANNOTATION.into(), metric.name.clone());
    let mut spec = job.spec.clone();
    let pod_md = spec.template.metadata.get_or_insert_with(Default::default);
    pod_md
        .labels
        .get_or_insert_with(Default::default)
        .insert(RUN_UID_LABEL.into(), run.uid.clone());
    let mut out = Job {
        spec: Some(spec),
        ..Default::default()
    };
    out.metadata.name = Some(job_name(run, &metric.name));
    out.metadata.namespace = Some(run.namespace.clone());
    out.metadata.labels = Some(labels);
    out.metadata.annotations = Some(annotations);
    out.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "AnalysisRun".into(),
        name: run.name.clone(),
        uid: run.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    out
}

/// Bounds one API call.
async fn call<T>(
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    crate::bounded(CALL_TIMEOUT, f).await
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Creates the measurement's Job (or takes the one this run made
/// already) and waits for its outcome.
async fn measure(
    client: kube::Client,
    run: &RunRef,
    metric: &Metric,
    job: &JobMetric,
) -> Observation {
    let jobs: Api<Job> = Api::namespaced(client.clone(), &run.namespace);
    let wanted = build_job(run, metric, job);
    let name = wanted.metadata.name.clone().unwrap_or_default();
    match call(jobs.create(&PostParams::default(), &wanted)).await {
        Ok(_) => tracing::info!(job = %name, namespace = %run.namespace, "job created"),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = match call(jobs.get(&name)).await {
                Ok(j) => j,
                Err(e) => return Observation::Error(format!("job create (verify) {name}: {e}")),
            };
            let owner = existing
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true))
                .map(|o| o.uid.as_str());
            if owner != Some(run.uid.as_str()) {
                return Observation::Error(format!(
                    "job create (uid check) {name}: a Job of that name exists and belongs to another AnalysisRun"
                ));
            }
            tracing::info!(job = %name, "duplicate job create detected: following the existing Job");
        }
        Err(e) => return Observation::Error(format!("job create {name} failed: {e}")),
    }
    let mut metadata = BTreeMap::new();
    metadata.insert(JOB_NAME_KEY.to_string(), name.clone());
    metadata.insert(JOB_NAMESPACE_KEY.to_string(), run.namespace.clone());
    let decided =
        |phase: Phase, message: String, metadata: BTreeMap<String, String>| Observation::Decided {
            phase,
            value: String::new(),
            message,
            metadata,
        };
    let runs: Api<AnalysisRun> = Api::namespaced(client, &run.namespace);
    let started = Instant::now();
    let mut failed_reads = 0;
    loop {
        let elapsed = started.elapsed().as_secs_f64();
        let delay = (2.0 * elapsed).sqrt().clamp(1.0, 10.0);
        tokio::time::sleep(Duration::from_secs_f64(delay)).await;
        match call(jobs.get(&name)).await {
            Ok(j) => {
                failed_reads = 0;
                if let Some((phase, message)) = outcome(&j) {
                    tracing::info!(job = %name, phase = phase.as_str(), "job completed");
                    return decided(phase, message, metadata);
                }
            }
            Err(e) if not_found(&e) => {
                return Observation::Error(format!("job {name} was deleted before it completed"));
            }
            Err(e) => {
                failed_reads += 1;
                if failed_reads >= READ_ATTEMPTS {
                    return Observation::Error(format!("reading job {name}: {e}"));
                }
            }
        }
        let terminated = match call(runs.get(&run.name)).await {
            Ok(ar) => ar.spec.terminate || ar.metadata.uid.as_deref() != Some(run.uid.as_str()),
            Err(e) => not_found(&e),
        };
        if terminated {
            let dp = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                ..Default::default()
            };
            if let Err(e) = call(jobs.delete(&name, &dp)).await
                && !not_found(&e)
            {
                return Observation::Error(format!("deleting job {name}: {e}"));
            }
            tracing::info!(job = %name, "job terminated");
            return decided(Phase::Inconclusive, String::new(), metadata);
        }
    }
}

/// The Job's outcome from its conditions (Rollouts' `Resume`): `Complete`
/// is Successful, `Failed` is Failed; None while it runs.
pub fn outcome(job: &Job) -> Option<(Phase, String)> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let mut out = None;
    for c in conditions.iter().filter(|c| c.status != "False") {
        match c.type_.as_str() {
            "Complete" => out = Some((Phase::Successful, String::new())),
            "Failed" => out = Some((Phase::Failed, c.message.clone().unwrap_or_default())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunRef {
        RunRef {
            name: "dev.01abc".into(),
            namespace: "p".into(),
            uid: "0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3".into(),
            next: BTreeMap::from([("smoke".to_string(), 3)]),
        }
    }

    #[test]
    fn names_are_rollouts_and_fit_63_characters() {
        let r = run();
        assert_eq!(
            job_name(&r, "smoke"),
            "0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3.smoke.3"
        );
        assert_eq!(
            job_name(&r, "fresh"),
            "0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3.fresh.1"
        );
        let long = job_name(&r, "a-very-long-metric-name-that-does-not-fit");
        assert_eq!(long.len(), 63);
        assert!(long.starts_with("0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3.a-very-long-metric-name"));
        assert!(long.ends_with(".1"));
    }

    #[test]
    fn jobs_carry_rollouts_labels_annotations_and_owner() {
        let job: JobMetric = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"team": "a"}, "annotations": {"note": "n"}},
            "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}
        }))
        .unwrap();
        let metric = Metric {
            name: "smoke".into(),
            ..Default::default()
        };
        let j = build_job(&run(), &metric, &job);
        let md = &j.metadata;
        assert_eq!(md.labels.as_ref().unwrap()["team"], "a");
        assert_eq!(md.labels.as_ref().unwrap()[RUN_UID_LABEL], run().uid);
        let a = md.annotations.as_ref().unwrap();
        assert_eq!(a[RUN_NAME_ANNOTATION], "dev.01abc");
        assert_eq!(a[RUN_NAMESPACE_ANNOTATION], "p");
        assert_eq!(a[METRIC_ANNOTATION], "smoke");
        assert_eq!(a["note"], "n");
        let owner = &md.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("AnalysisRun", run().uid.as_str(), Some(true))
        );
        let spec = j.spec.unwrap();
        assert_eq!(spec.backoff_limit, Some(1));
        assert_eq!(
            spec.template.metadata.unwrap().labels.unwrap()[RUN_UID_LABEL],
            run().uid
        );
    }

    #[test]
    fn conditions_decide() {
        let with = |t: &str| -> Job {
            serde_json::from_value(serde_json::json!({"status": {"conditions": [
                {"type": t, "status": "True", "message": "BackoffLimitExceeded"}]}}))
            .unwrap()
        };
        assert_eq!(outcome(&with("Complete")).unwrap().0, Phase::Successful);
        assert_eq!(outcome(&with("Failed")).unwrap().0, Phase::Failed);
        assert_eq!(outcome(&with("Suspended")), None);
        assert_eq!(outcome(&Job::default()), None);
    }
}
