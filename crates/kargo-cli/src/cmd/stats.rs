//! `kargo stats -p P [--window 7d] [-o json]`: delivery statistics per
//! Stage (deployment frequency, lead time, change failure rate, time to
//! restore), computed by [`kargo_api::delivery_stats`] from the project's
//! Stages, Promotions, AnalysisRuns, Freight and Warehouses as the API
//! serves them now (cut to what the figures read by
//! [`kargo_api::delivery_inputs`]).

use crate::format::Format;
use crate::resources::explain;
use anyhow::Result;
use kargo_api::delivery_inputs::Collected;
use kargo_api::delivery_stats::compute;
use kargo_api::delivery_text;
use kargo_api::{AnalysisRun, Freight, Promotion, Stage, Warehouse};
use kube::api::{Api, ListParams};
use serde_json::json;
use std::time::Duration;

/// Reads a window: whole days (`7d`) or a Go duration (`36h`, `90m`).
pub fn parse_window(s: &str) -> Result<Duration> {
    delivery_text::parse_window(s).map_err(|e| anyhow::anyhow!("--{e}"))
}

async fn list<K>(client: &kube::Client, project: &str) -> Result<Vec<K>>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Ok(Api::<K>::namespaced(client.clone(), project)
        .list(&ListParams::default())
        .await
        .map_err(explain)?
        .items)
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
    let collected = Collected::of(
        &stages,
        promotions.iter().map(kargo_api::delivery_inputs::promotion),
        &freight,
        &analysis_runs,
        &warehouses,
    );
    let figures = compute(collected.inputs(), now, window);
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
            let headers: Vec<String> = delivery_text::HEADERS.map(String::from).to_vec();
            let rows: Vec<Vec<String>> = figures
                .iter()
                .map(|s| delivery_text::cells(s).to_vec())
                .collect();
            crate::cmd::get::print_table(&headers, &rows, false)
        }
    }
}
