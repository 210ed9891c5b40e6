//! Kargo's verification wiring, driven by the Stage controller: after a
//! successful Promotion (or on `kargo.akuity.io/reverify`), the Stage's
//! AnalysisTemplates are merged into one AnalysisRun; its outcome is
//! recorded in the current Freight collection's `verificationHistory`
//! (at most 10) and, when Successful, as `verifiedIn[stage]` on every
//! Freight of the collection. A new Promotion or the
//! `kargo.akuity.io/abort` annotation stops the running AnalysisRun.

use crate::now;
use kargo_api::analysis::{AnalysisRunSpec, Argument};
use kargo_api::stage::{AnalysisRunReference, FreightCollection, VerificationInfo};
use kargo_api::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Freight, Stage, labels};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;

/// Label on AnalysisRuns naming their Stage.
pub const STAGE_LABEL: &str = "kargo.akuity.io/stage";
/// Label on AnalysisRuns naming the Freight collection they verify.
pub const COLLECTION_LABEL: &str = "kargo.akuity.io/freight-collection";

fn terminal(phase: &str) -> bool {
    matches!(
        phase,
        "Successful" | "Failed" | "Error" | "Inconclusive" | "Aborted"
    )
}

/// Whether the Stage verifies at all.
pub fn enabled(stage: &Stage) -> bool {
    stage
        .spec
        .verification
        .as_ref()
        .is_some_and(|v| !v.analysis_templates.is_empty())
}

/// What should happen this reconcile.
pub enum Trigger {
    /// A Promotion just succeeded (with its actor).
    Promoted(String),
    /// Nothing new happened.
    None,
}

/// Builds the AnalysisRun spec from the Stage's templates and args.
async fn build_spec(
    client: &kube::Client,
    stage: &Stage,
    ns: &str,
) -> Result<AnalysisRunSpec, String> {
    let Some(v) = &stage.spec.verification else {
        return Err("the Stage has no verification".into());
    };
    let mut spec = AnalysisRunSpec::default();
    for t in &v.analysis_templates {
        let tspec = if t.kind == "ClusterAnalysisTemplate" {
            Api::<ClusterAnalysisTemplate>::all(client.clone())
                .get_opt(&t.name)
                .await
                .map_err(|e| e.to_string())?
                .map(|x| x.spec)
        } else {
            Api::<AnalysisTemplate>::namespaced(client.clone(), ns)
                .get_opt(&t.name)
                .await
                .map_err(|e| e.to_string())?
                .map(|x| x.spec)
        };
        let tspec = tspec.ok_or_else(|| {
            format!(
                "{} {:?} not found",
                if t.kind.is_empty() {
                    "AnalysisTemplate"
                } else {
                    &t.kind
                },
                t.name
            )
        })?;
        for m in tspec.metrics {
            if spec.metrics.iter().any(|x| x.name == m.name) {
                return Err(format!(
                    "metric {:?} is defined by more than one template",
                    m.name
                ));
            }
            spec.metrics.push(m);
        }
        for a in tspec.args {
            match spec.args.iter().find(|x| x.name == a.name) {
                Some(x) if x.value.is_some() && a.value.is_some() && x.value != a.value => {
                    return Err(format!(
                        "argument {:?} has conflicting values in the templates",
                        a.name
                    ));
                }
                Some(_) => {}
                None => spec.args.push(a),
            }
        }
        spec.dry_run.extend(tspec.dry_run);
        spec.measurement_retention
            .extend(tspec.measurement_retention);
    }
    // The Stage's args (expressions over ctx and vars) override the templates' defaults.
    let vars: serde_json::Map<String, serde_json::Value> = stage
        .spec
        .vars
        .iter()
        .map(|v| (v.name.clone(), json!(v.value)))
        .collect();
    let env = kargo_expr::Env::new()
        .with_ctx(json!({"project": ns, "stage": stage.name_any()}))
        .with_vars(serde_json::Value::Object(vars));
    let eval = kargo_expr::Evaluator::new(&env, &kargo_expr::NoLookup);
    for a in &v.args {
        let value = match eval.evaluate_template(&a.value) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(e) => return Err(format!("verification arg {:?}: {e}", a.name)),
        };
        match spec.args.iter_mut().find(|x| x.name == a.name) {
            Some(x) => x.value = Some(value),
            None => spec.args.push(Argument {
                name: a.name.clone(),
                value: Some(value),
                value_from: None,
            }),
        }
    }
    Ok(spec)
}

/// Starts a verification of the current collection.
async fn start(
    client: &kube::Client,
    stage: &Stage,
    coll: &mut FreightCollection,
    id: String,
    actor: String,
) -> Result<(), kube::Error> {
    let ns = stage.namespace().unwrap_or_default();
    let name = format!(
        "{}.{}",
        stage.name_any(),
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let mut info = VerificationInfo {
        id,
        actor,
        start_time: Some(now()),
        phase: "Pending".into(),
        ..Default::default()
    };
    match build_spec(client, stage, &ns).await {
        Err(message) => {
            info.phase = "Error".into();
            info.message = message;
            info.finish_time = Some(now());
        }
        Ok(spec) => {
            let md = stage
                .spec
                .verification
                .as_ref()
                .and_then(|v| v.analysis_run_metadata.clone())
                .unwrap_or_default();
            let mut lbls: BTreeMap<String, String> = md.labels.clone();
            lbls.insert(STAGE_LABEL.into(), stage.name_any());
            lbls.insert(COLLECTION_LABEL.into(), coll.id.clone());
            let mut ar = AnalysisRun {
                api_version: "argoproj.io/v1alpha1".into(),
                kind: "AnalysisRun".into(),
                spec,
                ..Default::default()
            };
            ar.metadata.name = Some(name.clone());
            ar.metadata.namespace = Some(ns.clone());
            ar.metadata.labels = Some(lbls);
            if !md.annotations.is_empty() {
                ar.metadata.annotations = Some(md.annotations.clone());
            }
            match Api::<AnalysisRun>::namespaced(client.clone(), &ns)
                .create(&PostParams::default(), &ar)
                .await
            {
                Ok(_) => {
                    info.analysis_run = Some(AnalysisRunReference {
                        name,
                        namespace: ns,
                        phase: String::new(),
                    })
                }
                Err(kube::Error::Api(e)) if e.code == 422 || e.code == 400 => {
                    info.phase = "Error".into();
                    info.message = format!("the merged AnalysisRun is invalid: {}", e.message);
                    info.finish_time = Some(now());
                }
                Err(e) => return Err(e),
            }
        }
    }
    coll.verification_history.insert(0, info);
    coll.verification_history.truncate(10);
    Ok(())
}

async fn terminate(
    client: &kube::Client,
    ns: &str,
    info: &VerificationInfo,
) -> Result<(), kube::Error> {
    if let Some(r) = &info.analysis_run {
        let api = Api::<AnalysisRun>::namespaced(client.clone(), ns);
        if api.get_opt(&r.name).await?.is_some() {
            api.patch(
                &r.name,
                &PatchParams::default(),
                &kube::api::Patch::Merge(json!({"spec": {"terminate": true}})),
            )
            .await?;
        }
    }
    Ok(())
}

/// Advances verification for the Stage's current collection. Returns the
/// phase of the latest verification, if any.
pub async fn reconcile(
    client: &kube::Client,
    stage: &Stage,
    history: &mut [FreightCollection],
    trigger: Trigger,
) -> Result<Option<(String, String)>, kube::Error> {
    let ns = stage.namespace().unwrap_or_default();
    let Some(coll) = history.first_mut() else {
        return Ok(None);
    };
    if !enabled(stage) {
        return Ok(None);
    }
    let reverify = stage
        .annotations()
        .get(labels::REVERIFY)
        .cloned()
        .filter(|t| !t.is_empty());
    let abort = stage
        .annotations()
        .get(labels::ABORT)
        .cloned()
        .filter(|t| !t.is_empty());
    let latest_running = coll
        .verification_history
        .first()
        .filter(|v| !terminal(&v.phase))
        .cloned();
    match trigger {
        Trigger::Promoted(actor) => {
            if let Some(running) = &latest_running {
                terminate(client, &ns, running).await?;
            }
            start(
                client,
                stage,
                coll,
                ulid::Ulid::new().to_string().to_lowercase(),
                actor,
            )
            .await?;
        }
        Trigger::None => {
            if let Some(token) =
                reverify.filter(|t| !coll.verification_history.iter().any(|v| v.id == *t))
            {
                if let Some(running) = &latest_running {
                    terminate(client, &ns, running).await?;
                    if let Some(v) = coll.verification_history.first_mut() {
                        v.phase = "Aborted".into();
                        v.message = "superseded by a new verification".into();
                        v.finish_time = Some(now());
                    }
                }
                start(client, stage, coll, token, "admin".into()).await?;
            }
        }
    }
    // Abort the running verification once per annotation value.
    if let (Some(token), Some(v)) = (abort, coll.verification_history.first_mut())
        && !terminal(&v.phase)
        && v.message != format!("aborted ({token})")
    {
        terminate(client, &ns, v).await?;
        v.phase = "Aborted".into();
        v.message = format!("aborted ({token})");
        v.finish_time = Some(now());
    }
    // Follow the AnalysisRun.
    let Some(v) = coll.verification_history.first_mut() else {
        return Ok(None);
    };
    if !terminal(&v.phase)
        && let Some(r) = v.analysis_run.clone()
    {
        match Api::<AnalysisRun>::namespaced(client.clone(), &ns)
            .get_opt(&r.name)
            .await?
        {
            Some(ar) => {
                let st = ar.status.clone().unwrap_or_default();
                let phase = if st.phase.is_empty() {
                    "Pending".to_string()
                } else {
                    st.phase.clone()
                };
                v.phase = phase.clone();
                v.analysis_run = Some(AnalysisRunReference {
                    phase: phase.clone(),
                    ..r.clone()
                });
                if terminal(&phase) {
                    v.finish_time = Some(now());
                    v.message = st.message.clone();
                    let kind = if phase == "Successful" {
                        crate::events::Kind::Normal
                    } else {
                        crate::events::Kind::Warning
                    };
                    let text = if st.message.is_empty() {
                        format!("AnalysisRun {} {phase}", r.name)
                    } else {
                        format!("AnalysisRun {} {phase}: {}", r.name, st.message)
                    };
                    crate::events::emit(
                        client,
                        stage,
                        kind,
                        &format!("Verification{phase}"),
                        &text,
                    )
                    .await;
                    if phase == "Successful" {
                        let fapi = Api::<Freight>::namespaced(client.clone(), &ns);
                        for item in coll.items.values() {
                            let patch = json!({"status": {"verifiedIn": {stage.name_any(): {"verifiedAt": now()}}}});
                            fapi.patch_status(
                                &item.name,
                                &PatchParams::default(),
                                &Patch::Merge(patch),
                            )
                            .await?;
                        }
                    }
                }
            }
            None => {
                v.phase = "Error".into();
                v.message = format!("AnalysisRun {} was deleted", r.name);
                v.finish_time = Some(now());
            }
        }
    }
    let v = coll
        .verification_history
        .first()
        .cloned()
        .unwrap_or_default();
    Ok(Some((v.phase, v.message)))
}
