//! `kargo logs [analysisrun] NAME [--metric M]`: an AnalysisRun's
//! measurements, and the output its job metrics kept (Kargo streams the
//! logs of the job's pods; here jobs run in-process and keep their output
//! in the measurement). Promotions have no logs, as in Kargo.

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
        }
    }
    Ok(())
}
