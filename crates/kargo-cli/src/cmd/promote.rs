//! `kargo promote` (create a Promotion, optionally following it step by
//! step) and `kargo approve` (manual approval of Freight for a Stage).

use crate::resources::explain;
use anyhow::{Context, Result, bail};
use kargo_api::promotion::PromotionPhase;
use kargo_api::verification_request::VerificationRequest;
use kargo_api::{Freight, Promotion, labels};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};

/// Finds Freight by name or alias.
pub async fn resolve_freight(
    client: &kube::Client,
    project: &str,
    name_or_alias: &str,
) -> Result<Freight> {
    let api = Api::<Freight>::namespaced(client.clone(), project);
    if let Some(f) = api.get_opt(name_or_alias).await.map_err(explain)? {
        return Ok(f);
    }
    let by_alias = api
        .list(&ListParams::default().labels(&format!("{}={name_or_alias}", labels::ALIAS)))
        .await
        .map_err(explain)?;
    by_alias.items.into_iter().next().with_context(|| {
        format!("no Freight named or aliased {name_or_alias:?} in project {project}")
    })
}

/// Creates a Promotion and, with `wait`, follows it to the end.
pub async fn promote(
    client: &kube::Client,
    project: &str,
    stage: &str,
    freight: &str,
    wait: bool,
    timeout: Duration,
) -> Result<()> {
    let f = resolve_freight(client, project, freight).await?;
    let fname = f.metadata.name.clone().unwrap_or_default();
    let promo: Promotion = serde_json::from_value(json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
        "metadata": {"namespace": project},
        "spec": {"stage": stage, "freight": fname},
    }))?;
    let api = Api::<Promotion>::namespaced(client.clone(), project);
    let created = api
        .create(&PostParams::default(), &promo)
        .await
        .map_err(explain)?;
    let name = created.metadata.name.clone().unwrap_or_default();
    outln!(
        "promotion.kargo.akuity.io/{name} created: {} ({}) -> {stage}",
        f.alias().unwrap_or(&fname),
        &fname[..fname.len().min(7)]
    )?;
    if wait {
        follow(&api, &name, timeout).await?;
    }
    Ok(())
}

/// Prints each step as it changes until the Promotion ends.
pub async fn follow(api: &Api<Promotion>, name: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut shown: Vec<String> = Vec::new();
    let mut last_phase = None;
    loop {
        let p = api.get(name).await.map_err(explain)?;
        let st = p.status.clone().unwrap_or_default();
        for (i, m) in st.step_execution_metadata.iter().enumerate() {
            // The expanded steps are in the saved state; fall back to the spec.
            let uses = st
                .state
                .as_ref()
                .and_then(|s| s.pointer(&format!("/steps/{i}/uses")))
                .and_then(serde_json::Value::as_str)
                .map(String::from)
                .or_else(|| p.spec.steps.get(i).map(|s| s.uses.clone()))
                .unwrap_or_default();
            let message = if m.message.is_empty() {
                String::new()
            } else {
                format!(": {}", m.message)
            };
            let line = format!(
                "  step {} {:<14} {:<16} {}{message}",
                i + 1,
                uses,
                m.alias,
                m.status
            );
            if shown.get(i) != Some(&line) {
                outln!("{line}")?;
                if i < shown.len() {
                    shown[i] = line;
                } else {
                    shown.push(line);
                }
            }
        }
        let phase = st.phase.unwrap_or_default();
        if last_phase != Some(phase) {
            last_phase = Some(phase);
            if !phase.is_terminal() {
                outln!("promotion {name}: {phase:?}")?;
            }
        }
        if phase.is_terminal() {
            let msg = if st.message.is_empty() {
                String::new()
            } else {
                format!(": {}", st.message)
            };
            if phase == PromotionPhase::Succeeded {
                outln!("promotion {name}: Succeeded{msg}")?;
                return Ok(());
            }
            bail!("promotion {name}: {phase:?}{msg}");
        }
        if start.elapsed() > timeout {
            bail!(
                "promotion {name} is still {phase:?} after {}s (is the server's controller running?)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Approves Freight for a Stage (bypasses upstream verification and soak).
pub async fn approve(
    client: &kube::Client,
    project: &str,
    freight: &str,
    stage: &str,
) -> Result<()> {
    let f = resolve_freight(client, project, freight).await?;
    let name = f.metadata.name.clone().unwrap_or_default();
    // As Kargo's approve endpoint: the Stage must exist and request
    // Freight from this origin, or the approval could never be acted upon.
    let shown = f.alias().unwrap_or(&name).to_string();
    let refuse = |why: String| {
        anyhow::anyhow!("cannot approve Freight {shown:?} for Stage {stage:?}: {why}")
    };
    let s = Api::<kargo_api::Stage>::namespaced(client.clone(), project)
        .get_opt(stage)
        .await
        .map_err(explain)?
        .ok_or_else(|| {
            refuse(format!(
                "could not find Stage {stage:?} in namespace {project:?}"
            ))
        })?;
    if kargo_api::availability::request_for(&s, &f).is_none() {
        return Err(refuse(format!(
            "Stage {stage:?} does not request Freight from origin \"{}/{}\"",
            f.origin.kind, f.origin.name
        )));
    }
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let patch = json!({"status": {"approvedFor": {stage: {"approvedAt": now}}}});
    Api::<Freight>::namespaced(client.clone(), project)
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(explain)?;
    outln!(
        "freight {} ({}) approved for Stage {stage}",
        f.alias().unwrap_or(&name),
        &name[..name.len().min(7)]
    )?;
    Ok(())
}

/// Aborts a Promotion (annotation `kargo.akuity.io/abort`).
pub async fn abort(client: &kube::Client, project: &str, name: &str) -> Result<()> {
    let patch =
        json!({"metadata": {"annotations": {labels::ABORT: jiff::Timestamp::now().to_string()}}});
    Api::<Promotion>::namespaced(client.clone(), project)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(explain)?;
    outln!("promotion.kargo.akuity.io/{name} abort requested")?;
    Ok(())
}

/// Re-runs verification of a Stage (annotation `kargo.akuity.io/reverify`),
/// or aborts the running one (`kargo.akuity.io/abort`). As in Kargo, the
/// request names the id of the Stage's current verification, so it acts on
/// that verification once and never on a later one.
pub async fn verify(client: &kube::Client, project: &str, stage: &str, abort: bool) -> Result<()> {
    let api = Api::<kargo_api::Stage>::namespaced(client.clone(), project);
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
    if abort && kargo_api::verification_request::is_terminal(&current.phase) {
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
    Ok(())
}

/// `kargo logs analysisrun NAME`: the output job metrics kept, and every
/// measurement's value and message.
pub async fn logs(client: &kube::Client, project: &str, name: &str) -> Result<()> {
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
    for m in &st.metric_results {
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
