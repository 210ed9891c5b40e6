//! `kargo logs [analysisrun] NAME [--metric M]`: an AnalysisRun's
//! measurements, and the output of its job metrics: what a job run as a
//! local process kept in the measurement (standalone), or, for a job run
//! as a `batch/v1` Job (`kargo controller` on a cluster), the logs of the
//! Job's pods (label `job-name`) as the API server serves them, as Kargo
//! streams them. Promotions have no logs, as in Kargo.

use crate::resources::explain;
use anyhow::{Result, bail};
use kube::api::Api;

/// `kargo logs analysisrun NAME`: the output job metrics kept, and every
/// measurement's value and message.
pub async fn logs(
    client: &kube::Client,
    project: &str,
    name: &str,
    metric: Option<&str>,
) -> Result<()> {
    let ar = Api::<kargo_api::AnalysisRun>::namespaced(client.clone(), project)
        .get(name)
        .await
        .map_err(explain)?;
    let st = ar.status.unwrap_or_default();
    outln!(
        "analysisrun {name}: {}{}",
        if st.phase.is_empty() {
            "Pending"
        } else {
            &st.phase
        },
        if st.message.is_empty() {
            String::new()
        } else {
            format!(" — {}", st.message)
        }
    )?;
    if let Some(want) = metric
        && !st.metric_results.iter().any(|m| m.name == want)
    {
        let names: Vec<&str> = st.metric_results.iter().map(|m| m.name.as_str()).collect();
        bail!(
            "AnalysisRun {name:?} has no metric {want:?} (it has: {})",
            names.join(", ")
        );
    }
    for m in st
        .metric_results
        .iter()
        .filter(|m| metric.is_none_or(|w| m.name == w))
    {
        outln!(
            "\nmetric {} ({}): {} measurement(s), {} successful, {} failed, {} inconclusive, {} error",
            m.name,
            m.phase,
            m.count,
            m.successful,
            m.failed,
            m.inconclusive,
            m.error
        )?;
        for (i, x) in m.measurements.iter().enumerate() {
            let when = x.started_at.as_deref().unwrap_or("");
            outln!(
                "  #{} {when} {} value={}{}",
                i + 1,
                x.phase,
                x.value,
                if x.message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", x.message)
                }
            )?;
            if let Some(out) = x.metadata.get("output").filter(|o| !o.is_empty()) {
                for line in out.lines() {
                    outln!("    | {line}")?;
                }
            }
            if let Some(job) = x.metadata.get("job-name") {
                let ns = x
                    .metadata
                    .get("job-namespace")
                    .map(String::as_str)
                    .unwrap_or(project);
                job_logs(client, ns, job).await?;
            }
        }
    }
    Ok(())
}

/// Longest one request for pods or their logs may take.
const LOG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The logs of a Job's pods, each line as `    | LINE`; a cluster that
/// has none (or serves no logs) is said in one line.
async fn job_logs(client: &kube::Client, ns: &str, job: &str) -> Result<()> {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{ListParams, LogParams};
    outln!("    job {ns}/{job}")?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("job-name={job}"));
    let listed = match tokio::time::timeout(LOG_TIMEOUT, pods.list(&lp)).await {
        Ok(Ok(l)) => l.items,
        Ok(Err(e)) => return outln!("    (its pods cannot be listed: {e})"),
        Err(_) => return outln!("    (its pods cannot be listed: no answer in {LOG_TIMEOUT:?})"),
    };
    if listed.is_empty() {
        return outln!("    (no pods of this Job: the cluster has none, or runs no pods)");
    }
    for pod in listed {
        let name = pod.metadata.name.unwrap_or_default();
        match tokio::time::timeout(LOG_TIMEOUT, pods.logs(&name, &LogParams::default())).await {
            Ok(Ok(text)) => {
                for line in text.lines() {
                    outln!("    | {line}")?;
                }
            }
            Ok(Err(e)) => outln!("    (logs of pod {name}: {e})")?,
            Err(_) => outln!("    (logs of pod {name}: no answer in {LOG_TIMEOUT:?})")?,
        }
    }
    Ok(())
}
