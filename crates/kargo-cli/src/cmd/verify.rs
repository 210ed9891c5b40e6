//! `kargo verify stage NAME [--abort] [--wait]` (and the seed's
//! `kargo verify --project P --stage S`): asks for a new verification of a
//! Stage's current Freight (annotation `kargo.akuity.io/reverify`) or stops
//! the running one (`kargo.akuity.io/abort`), and with `--wait` follows
//! it to its end.

use crate::progress::Progress;
use crate::resources::explain;
use crate::style;
use anyhow::{Result, bail};
use kargo_api::verification_request::{VerificationRequest, is_terminal};
use kargo_api::{Stage, labels};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::time::Duration;

/// Re-runs verification of a Stage (annotation `kargo.akuity.io/reverify`),
/// or aborts the running one (`kargo.akuity.io/abort`). As in Kargo, the
/// request names the id of the Stage's current verification, so it acts on
/// that verification once and never on a later one.
pub async fn verify(
    client: &kube::Client,
    project: &str,
    stage: &str,
    abort: bool,
    wait: Option<Duration>,
) -> Result<()> {
    let api = Api::<Stage>::namespaced(client.clone(), project);
    let s = api.get(stage).await.map_err(explain)?;
    let has_freight = s
        .status
        .as_ref()
        .and_then(|st| st.freight_history.first())
        .is_some_and(|c| !c.items.is_empty());
    if !has_freight {
        anyhow::bail!(
            "Stage {stage:?} in project {project:?} has no current Freight to verify: promote Freight to it first"
        );
    }
    let Some(current) = kargo_api::verification_request::current(&s) else {
        anyhow::bail!(
            "Stage {stage:?} in project {project:?} has no verification yet: wait for the first one to start"
        );
    };
    if abort && is_terminal(&current.phase) {
        outln!(
            "stage.kargo.akuity.io/{stage}: no verification is running (the latest ended {})",
            current.phase
        )?;
        return Ok(());
    }
    let key = if abort {
        labels::ABORT
    } else {
        labels::REVERIFY
    };
    // Until per-user sign-in exists every request is the admin's.
    let request = VerificationRequest::new(current.id.clone(), "admin");
    let patch = json!({"metadata": {"annotations": {key: request.to_annotation()}}});
    api.patch(stage, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(explain)?;
    if abort {
        outln!("stage.kargo.akuity.io/{stage}: verification abort requested")?;
    } else {
        outln!("stage.kargo.akuity.io/{stage}: verification requested")?;
    }
    match wait {
        Some(timeout) => follow(&api, stage, &current.id, abort, timeout).await,
        None => Ok(()),
    }
}

/// Waits for the verification the request was about to end (`abort`) or
/// for the new one it started to end; the exit code is 0 only when it
/// succeeded (or, for an abort, ended).
async fn follow(
    api: &Api<Stage>,
    stage: &str,
    requested_for: &str,
    abort: bool,
    timeout: Duration,
) -> Result<()> {
    let mut progress = Progress::start(&format!("verification of {stage}"));
    loop {
        let s = api.get(stage).await.map_err(explain)?;
        let history = s
            .status
            .as_ref()
            .and_then(|st| st.freight_history.first())
            .map(|c| c.verification_history.clone())
            .unwrap_or_default();
        // The one to follow: the requested one when aborting, else the newer one.
        let v = if abort {
            history.iter().find(|v| v.id == requested_for)
        } else {
            history.first().filter(|v| v.id != requested_for)
        };
        if let Some(v) = v {
            let phase = if v.phase.is_empty() {
                "Pending"
            } else {
                &v.phase
            };
            let run = v
                .analysis_run
                .as_ref()
                .map(|r| format!(" (analysisrun {})", r.name))
                .unwrap_or_default();
            if is_terminal(phase) {
                let msg = if v.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", v.message)
                };
                let line = format!(
                    "stage.kargo.akuity.io/{stage}: verification {}{msg}{run}",
                    style::phase(phase)
                );
                if phase == "Successful" || abort {
                    return progress.finish(&line);
                }
                bail!("Stage {stage:?}: verification {phase}{msg}{run}");
            }
            progress.state(&format!("verification of {stage}: {phase}{run}"))?;
        } else {
            progress.state(&format!("verification of {stage}: waiting for it to start"))?;
        }
        progress.deadline(timeout, || {
            format!(
                "the verification of Stage {stage:?} did not end within {}s",
                timeout.as_secs()
            )
        })?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
