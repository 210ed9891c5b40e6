//! `kargo refresh warehouse NAME [--wait]`: asks the controller to
//! discover now (annotation `kargo.akuity.io/refresh`) and, with `--wait`,
//! follows it until the Warehouse reports the refresh handled.

use crate::resources::explain;
use anyhow::{Result, bail};
use kargo_api::{Warehouse, labels};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::time::{Duration, Instant};

/// Refreshes a Warehouse.
pub async fn warehouse(
    client: &kube::Client,
    name: &str,
    project: &str,
    wait: bool,
    timeout: Duration,
) -> Result<()> {
    let api: Api<Warehouse> = Api::namespaced(client.clone(), project);
    let token = jiff::Timestamp::now().to_string();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {labels::REFRESH: token}}})),
    )
    .await
    .map_err(explain)?;
    if !wait {
        outln!("warehouse.kargo.akuity.io/{name} refresh requested")?;
        return Ok(());
    }
    let start = Instant::now();
    loop {
        let w = api.get(name).await.map_err(explain)?;
        let st = w.status.unwrap_or_default();
        if st.last_handled_refresh == token {
            let ready = st.conditions.iter().find(|c| c.type_ == "Ready");
            match ready {
                Some(c) if c.status == "False" => bail!(
                    "warehouse {name} refreshed but discovery failed: {}",
                    c.message
                ),
                _ => {
                    let msg = ready.map(|c| c.message.clone()).unwrap_or_default();
                    outln!("warehouse.kargo.akuity.io/{name} refreshed: {msg}")?;
                    return Ok(());
                }
            }
        }
        if start.elapsed() > timeout {
            bail!(
                "warehouse {name} did not finish refreshing within {}s (is the server's controller running?)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
