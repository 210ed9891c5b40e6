//! `kargo stats -p P [--window 7d] [-o json]`: delivery statistics per
//! Stage (deployment frequency, lead time, change failure rate, time to
//! restore), computed by [`kargo_api::delivery_stats`] from the project's
//! Stages, Promotions, AnalysisRuns, Freight and Warehouses as the API
//! serves them now.

use crate::format::Format;
use crate::resources::explain;
use anyhow::{Result, bail};
use kargo_api::delivery_stats::{Inputs, StageStats, compute};
use kargo_api::{AnalysisRun, Freight, Promotion, Stage, Warehouse};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::time::Duration;

/// Reads a window: whole days (`7d`) or a Go duration (`36h`, `90m`).
pub fn parse_window(s: &str) -> Result<Duration> {
    let s = s.trim();
    let d = match s.strip_suffix('d').map(str::parse::<u64>) {
        Some(Ok(days)) => Duration::from_secs(days * 86_400),
        _ => {
            let d: kube::core::Duration = s
                .parse()
                .map_err(|e| anyhow::anyhow!("--window {s:?}: {e} (e.g. 7d, 36h)"))?;
            if d.is_negative() {
                bail!("--window {s:?}: must be longer than zero");
            }
            d.into()
        }
    };
    if d.is_zero() {
        bail!("--window {s:?}: must be longer than zero");
    }
    Ok(d)
}

async fn list<K>(client: &kube::Client, project: &str) -> Result<Vec<Value>>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let items = Api::<K>::namespaced(client.clone(), project)
        .list(&ListParams::default())
        .await
        .map_err(explain)?
        .items;
    Ok(items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect())
}

/// A duration in seconds as `1d2h`, `5h30m`, `42s`.
pub fn human(seconds: f64) -> String {
    let s = seconds.round().max(0.0) as u64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let parts = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")];
    let out: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if out.is_empty() { "0s".into() } else { out }
}

fn row(s: &StageStats) -> Vec<String> {
    let opt = |v: Option<f64>| v.map(human).unwrap_or_else(|| "-".into());
    vec![
        s.stage.clone(),
        s.promotions.to_string(),
        s.deployments.to_string(),
        format!("{:.2}", s.deployments_per_day),
        opt(s.lead_time_seconds),
        opt(s.commit_lead_time_seconds),
        s.change_failure_rate
            .map(|r| format!("{:.0}% ({}/{})", r * 100.0, s.failures, s.promotions))
            .unwrap_or_else(|| "-".into()),
        match (s.time_to_restore_seconds, s.unrestored) {
            (t, 0) => opt(t),
            (t, n) => format!("{} ({n} open)", opt(t)),
        },
    ]
}

/// Prints the project's figures over the window ending at `now`.
pub async fn stats(
    client: &kube::Client,
    project: &str,
    window: Duration,
    now: jiff::Timestamp,
    output: Option<Format>,
) -> Result<()> {
    let stages = list::<Stage>(client, project).await?;
    let promotions = list::<Promotion>(client, project).await?;
    let freight = list::<Freight>(client, project).await?;
    let analysis_runs = list::<AnalysisRun>(client, project).await?;
    let warehouses = list::<Warehouse>(client, project).await?;
    let inputs = Inputs {
        stages: &stages,
        promotions: &promotions,
        freight: &freight,
        analysis_runs: &analysis_runs,
        warehouses: &warehouses,
    };
    let figures = compute(inputs, now, window);
    match output {
        Some(f) if !f.is_table() => {
            let doc = json!({
                "project": project,
                "windowSeconds": window.as_secs(),
                "now": now.to_string(),
                "stages": figures,
            });
            f.print_doc(None, &doc)
        }
        _ => {
            let headers: Vec<String> = [
                "STAGE",
                "PROMOTIONS",
                "DEPLOYMENTS",
                "PER DAY",
                "LEAD TIME",
                "FROM COMMIT",
                "CHANGE FAILURE RATE",
                "TIME TO RESTORE",
            ]
            .map(String::from)
            .to_vec();
            let rows: Vec<Vec<String>> = figures.iter().map(row).collect();
            crate::cmd::get::print_table(&headers, &rows, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_durations_read_and_print() {
        assert_eq!(parse_window("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_window("36h").unwrap(), Duration::from_secs(129_600));
        assert!(parse_window("0d").is_err());
        assert!(parse_window("soon").is_err());
        assert_eq!(human(9_000.0), "2h30m");
        assert_eq!(human(183_600.0), "2d3h");
        assert_eq!(human(0.0), "0s");
    }
}
