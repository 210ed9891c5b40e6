//! Kargo's verification of a Stage's current Freight collection, driven by
//! the Stage controller (`verifyStageFreight` in Kargo's
//! `pkg/controller/stages/regular_stages.go`):
//!
//! - A collection with no verification yet is verified once the Stage is
//!   not promoting and is healthy: the Stage's AnalysisTemplates are merged
//!   into one AnalysisRun (or, with no `verification`, the attempt is
//!   Successful at once).
//! - A running attempt follows its AnalysisRun until it ends; an abort
//!   request naming that attempt's id terminates the run and records it as
//!   Kargo does: `Failed`, "Verification aborted by user".
//! - A finished attempt is re-run only by a re-verify request naming its id.
//!
//! Requests name the attempt they are about (`kargo_api::
//! verification_request`), so each acts once and a stale one is harmless.
//! Attempt ids and AnalysisRun names are derived from what caused the
//! attempt (the Promotion, or the attempt re-run), so a reconcile that is
//! repeated after a lost status write finds the run it already created
//! (409) instead of starting a second one: exactly one AnalysisRun per
//! attempt.

use crate::informers::{Caches, cached_or_get};
use crate::now;
use kargo_api::analysis::{AnalysisRunSpec, Argument};
use kargo_api::stage::{AnalysisRunReference, FreightCollection, StageStatus, VerificationInfo};
use kargo_api::verification_request::VerificationRequest;
use kargo_api::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Freight, Stage, labels};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// Label on AnalysisRuns naming their Stage.
pub const STAGE_LABEL: &str = "kargo.akuity.io/stage";
/// Label on AnalysisRuns naming the Freight collection they verify.
pub const COLLECTION_LABEL: &str = "kargo.akuity.io/freight-collection";
/// Annotation on AnalysisRuns naming the Promotion whose result they verify.
pub const PROMOTION_ANNOTATION: &str = "kargo.akuity.io/promotion";
/// The message Kargo records for a verification a user aborted.
pub const ABORTED_BY_USER: &str = "Verification aborted by user";

pub use kargo_api::verification_request::is_terminal as terminal;

/// Whether the Stage verifies with AnalysisTemplates.
pub fn enabled(stage: &Stage) -> bool {
    stage
        .spec
        .verification
        .as_ref()
        .is_some_and(|v| !v.analysis_templates.is_empty())
}

/// A UUID-shaped id derived from `parts` (the same parts give the same id).
fn derived_id(parts: &[&str]) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = hex::encode(h.finalize());
    format!(
        "{}-{}-{}-{}-{}",
        &d[0..8],
        &d[8..12],
        &d[12..16],
        &d[16..20],
        &d[20..32]
    )
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

/// Why an attempt starts: it decides the attempt's id and run name.
struct Cause<'a> {
    /// The attempt id.
    id: String,
    /// Who asked.
    actor: String,
    /// A stable time for the run name's ULID.
    time: Option<&'a str>,
    /// The Promotion whose result is verified, when that started it.
    promotion: Option<&'a str>,
}

/// Starts an attempt for `coll`; the result is pushed onto its history.
async fn start(
    client: &kube::Client,
    stage: &Stage,
    coll: &mut FreightCollection,
    cause: Cause<'_>,
) -> Result<VerificationInfo, kube::Error> {
    let ns = stage.namespace().unwrap_or_default();
    let mut info = VerificationInfo {
        id: cause.id.clone(),
        actor: cause.actor,
        start_time: Some(now()),
        phase: "Pending".into(),
        ..Default::default()
    };
    if !enabled(stage) {
        // No verification configured: the attempt succeeds at once (Kargo).
        info.phase = "Successful".into();
        info.finish_time = Some(now());
        push(coll, info.clone());
        return Ok(info);
    }
    let name = crate::names::derived(&stage.name_any(), &coll.id, &cause.id, cause.time);
    match build_spec(client, stage, &ns).await {
        Err(message) => {
            info.phase = "Error".into();
            info.message = format!(
                "error building AnalysisRun for Stage {:?} and Freight collection {:?} in namespace {:?}: {message}",
                stage.name_any(),
                coll.id,
                ns
            );
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
            // The Stage's shard runs its verification.
            match stage.labels().get(labels::SHARD) {
                Some(shard) => lbls.insert(labels::SHARD.into(), shard.clone()),
                None => lbls.remove(labels::SHARD),
            };
            let mut annotations = md.annotations.clone();
            if let Some(p) = cause.promotion {
                annotations.insert(PROMOTION_ANNOTATION.into(), p.to_string());
            }
            let mut ar = AnalysisRun {
                api_version: "argoproj.io/v1alpha1".into(),
                kind: "AnalysisRun".into(),
                spec,
                ..Default::default()
            };
            ar.metadata.name = Some(name.clone());
            ar.metadata.namespace = Some(ns.clone());
            ar.metadata.labels = Some(lbls);
            if !annotations.is_empty() {
                ar.metadata.annotations = Some(annotations);
            }
            let created = match Api::<AnalysisRun>::namespaced(client.clone(), &ns)
                .create(&PostParams::default(), &ar)
                .await
            {
                Ok(_) => Ok(()),
                // An earlier pass of this very attempt created it; its status
                // write was lost. Adopt the run instead of starting another.
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 422 || e.code == 400 => Err(format!(
                    "error creating AnalysisRun {name:?} in namespace {ns:?}: {}",
                    e.message
                )),
                Err(e) => return Err(e),
            };
            match created {
                Ok(()) => {
                    info.analysis_run = Some(AnalysisRunReference {
                        name,
                        namespace: ns,
                        phase: String::new(),
                    })
                }
                Err(message) => {
                    info.phase = "Error".into();
                    info.message = message;
                    info.finish_time = Some(now());
                }
            }
        }
    }
    push(coll, info.clone());
    Ok(info)
}

/// Records `info` as the collection's newest attempt (at most 10 kept).
fn push(coll: &mut FreightCollection, info: VerificationInfo) {
    coll.verification_history.retain(|v| v.id != info.id);
    coll.verification_history.insert(0, info);
    coll.verification_history.truncate(10);
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
                &Patch::Merge(json!({"spec": {"terminate": true}})),
            )
            .await?;
        }
    }
    Ok(())
}

/// A new Promotion replaced the collection that `previous` verifies: its
/// running attempt, if any, is stopped and ends Aborted with the reason.
pub async fn supersede(
    client: &kube::Client,
    ns: &str,
    previous: &mut FreightCollection,
    promotion: &str,
) -> Result<(), kube::Error> {
    if let Some(v) = previous.verification_history.first_mut()
        && !terminal(&v.phase)
    {
        terminate(client, ns, v).await?;
        v.phase = "Aborted".into();
        v.message = format!("Promotion {promotion:?} replaced the Freight being verified");
        v.finish_time = Some(now());
    }
    Ok(())
}

/// Marks every Freight of the collection verified in the Stage, except
/// those `already` names (marked by this reconcile when they were
/// promoted: each mark is a write of a whole Freight, which grows with
/// the Stages it has been in).
async fn mark_verified(
    client: &kube::Client,
    stage: &Stage,
    coll: &FreightCollection,
    already: &[String],
) -> Result<(), kube::Error> {
    let ns = stage.namespace().unwrap_or_default();
    let fapi = Api::<Freight>::namespaced(client.clone(), &ns);
    for item in coll.items.values().filter(|i| !already.contains(&i.name)) {
        let patch = json!({"status": {"verifiedIn": {stage.name_any(): {"verifiedAt": now()}}}});
        match crate::status_patch::merge_status(&fapi, &item.name, &patch).await {
            Ok(_) => {}
            // Freight deleted meanwhile: nothing to mark.
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Kargo's `FreightVerification*` Event for each Freight of the
/// collection: the outcome's message (Kargo's own words on success), the
/// Freight's annotations, the verification's times and AnalysisRun, the
/// Promotion that started it, and who asked (a re-verification's actor)
/// or the Stage controller.
async fn record_event(
    client: &kube::Client,
    caches: &Caches,
    stage: &Stage,
    coll: &FreightCollection,
    info: &VerificationInfo,
) {
    use kargo_api::event as kev;
    let ns = stage.namespace().unwrap_or_default();
    let controller = crate::events::STAGE_CONTROLLER;
    let actor = if info.actor.is_empty() {
        kev::controller_actor(controller)
    } else {
        info.actor.clone()
    };
    let message = if info.phase == "Successful" {
        "Freight verification succeeded"
    } else {
        info.message.as_str()
    };
    // The watch caches serve the run and the Freight (what the Event
    // copies from them does not change); the API only when they lag.
    let promotion = match &info.analysis_run {
        Some(r) => cached_or_get(
            &caches.analysis_runs,
            &Api::<AnalysisRun>::namespaced(client.clone(), &ns),
            &ns,
            &r.name,
        )
        .await
        .ok()
        .flatten()
        .and_then(|ar| ar.annotations().get(PROMOTION_ANNOTATION).cloned()),
        None => None,
    };
    let fapi = Api::<Freight>::namespaced(client.clone(), &ns);
    for item in coll.items.values() {
        let Ok(Some(f)) = cached_or_get(&caches.freight, &fapi, &ns, &item.name).await else {
            continue;
        };
        let Ok(fv) = f.to_value_without_status() else {
            continue;
        };
        let mut event = crate::events::freight(
            &fv,
            &stage.name_any(),
            crate::events::verification_reason(&info.phase),
            message,
            &actor,
            controller,
        );
        let a = &mut event["metadata"]["annotations"];
        for (key, value) in [
            (kev::VERIFICATION_START_TIME, info.start_time.as_deref()),
            (kev::VERIFICATION_FINISH_TIME, info.finish_time.as_deref()),
            (
                kev::ANALYSIS_RUN_NAME,
                info.analysis_run.as_ref().map(|r| r.name.as_str()),
            ),
            (kev::PROMOTION_NAME, promotion.as_deref()),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                a[key] = json!(v);
            }
        }
        // One Event per attempt, outcome and Freight: two reconciles that
        // both see the run end (the second on a Stage not yet updated in
        // its cache) write it once.
        let reason = crate::events::verification_reason(&info.phase);
        kev::name_once(&mut event, &[&stage.name_any(), &info.id, reason]);
        crate::events::record(client, event).await;
    }
}

/// Advances verification of the Stage's current collection (`status`
/// already reflects this reconcile's Promotions and health) and sets the
/// `Verified` condition as Kargo does. Runs and Freight are read from the
/// shared watch caches; a run's status changes wake the Stage.
/// `verified_on_promotion`: the Freight this reconcile already marked
/// verified in the Stage when it recorded the last Promotion (a Stage
/// without verification), which a Successful attempt need not write
/// again. Returns whether an attempt is still running.
pub async fn reconcile(
    client: &kube::Client,
    caches: &Caches,
    stage: &Stage,
    status: &mut StageStatus,
    healthy: bool,
    verified_on_promotion: &[String],
) -> Result<bool, kube::Error> {
    let generation = stage.metadata.generation;
    let promoting = status.current_promotion.is_some();
    let last_promotion = status
        .last_promotion
        .as_ref()
        .map(|p| (p.name.clone(), p.finished_at.clone()));
    let Some(coll) = status.freight_history.first_mut() else {
        crate::conditions::set_status(
            &mut status.conditions,
            "Verified",
            "Unknown",
            "NoFreight",
            "Stage has no current Freight to verify",
            generation,
        );
        return Ok(false);
    };
    if !promoting {
        let promoted = (last_promotion, verified_on_promotion);
        advance(client, caches, stage, coll, healthy, promoted).await?;
    }
    let coll = &status.freight_history[0];
    if let Some((state, reason, message)) = verified_condition(coll) {
        crate::conditions::set_status(
            &mut status.conditions,
            "Verified",
            state,
            &reason,
            &message,
            generation,
        );
    }
    Ok(coll
        .verification_history
        .first()
        .is_some_and(|v| !terminal(&v.phase)))
}

/// Starts, follows, aborts or re-runs the collection's attempt.
/// `promoted`: the Stage's last Promotion (name, finish) and the Freight
/// this reconcile marked verified when it recorded that Promotion.
async fn advance(
    client: &kube::Client,
    caches: &Caches,
    stage: &Stage,
    coll: &mut FreightCollection,
    healthy: bool,
    promoted: (Option<(String, Option<String>)>, &[String]),
) -> Result<(), kube::Error> {
    let (last_promotion, verified_on_promotion) = promoted;
    let ns = &stage.namespace().unwrap_or_default();
    let annotations = stage.annotations();
    let stage_uid = stage.uid().unwrap_or_default();
    let last = coll.verification_history.first().cloned();
    match last {
        Some(v) if !terminal(&v.phase) => {
            let abort = VerificationRequest::from_annotations(annotations, labels::ABORT);
            if let Some(req) = abort.filter(|r| r.for_id(&v.id)) {
                terminate(client, ns, &v).await?;
                let info = VerificationInfo {
                    actor: if req.actor.is_empty() {
                        v.actor.clone()
                    } else {
                        req.actor
                    },
                    phase: "Failed".into(),
                    message: ABORTED_BY_USER.into(),
                    finish_time: Some(now()),
                    ..v
                };
                record_event(client, caches, stage, coll, &info).await;
                coll.verification_history[0] = info;
                return Ok(());
            }
            follow(client, caches, stage, ns, coll).await
        }
        Some(v) => {
            let reverify = VerificationRequest::from_annotations(annotations, labels::REVERIFY);
            let Some(req) = reverify.filter(|r| r.for_id(&v.id)) else {
                return Ok(());
            };
            if !healthy {
                return Ok(());
            }
            let id = derived_id(&["reverify", &stage_uid, &coll.id, &req.id]);
            let cause = Cause {
                id,
                actor: req.actor.clone(),
                time: v.finish_time.as_deref(),
                promotion: None,
            };
            let info = start(client, stage, coll, cause).await?;
            after_start(client, caches, stage, coll, &info, &[]).await
        }
        None => {
            if !healthy {
                return Ok(());
            }
            let (promotion, finished) = last_promotion.unzip();
            let finished = finished.flatten();
            let id = derived_id(&[
                "promotion",
                &stage_uid,
                &coll.id,
                promotion.as_deref().unwrap_or(""),
            ]);
            let cause = Cause {
                id,
                actor: String::new(),
                time: finished.as_deref(),
                promotion: promotion.as_deref(),
            };
            let info = start(client, stage, coll, cause).await?;
            after_start(client, caches, stage, coll, &info, verified_on_promotion).await
        }
    }
}

/// An attempt that ended as it started (no templates, or an error) is
/// reported at once; one that runs is followed. `already`: Freight
/// already marked verified in the Stage by this reconcile.
async fn after_start(
    client: &kube::Client,
    caches: &Caches,
    stage: &Stage,
    coll: &mut FreightCollection,
    info: &VerificationInfo,
    already: &[String],
) -> Result<(), kube::Error> {
    if terminal(&info.phase) {
        return finished(client, caches, stage, coll, info, already).await;
    }
    let ns = stage.namespace().unwrap_or_default();
    follow(client, caches, stage, &ns, coll).await
}

/// An attempt ended: an Event says how, and a success marks the
/// collection's Freight verified in the Stage.
async fn finished(
    client: &kube::Client,
    caches: &Caches,
    stage: &Stage,
    coll: &FreightCollection,
    info: &VerificationInfo,
    already: &[String],
) -> Result<(), kube::Error> {
    record_event(client, caches, stage, coll, info).await;
    if info.phase == "Successful" {
        mark_verified(client, stage, coll, already).await?;
    }
    Ok(())
}

/// Reads the running attempt's AnalysisRun and records its phase.
async fn follow(
    client: &kube::Client,
    caches: &Caches,
    stage: &Stage,
    ns: &str,
    coll: &mut FreightCollection,
) -> Result<(), kube::Error> {
    let Some(v) = coll.verification_history.first().cloned() else {
        return Ok(());
    };
    let Some(r) = v.analysis_run.clone() else {
        return Ok(());
    };
    // The watch cache first; one that lacks the run (just created) asks the API.
    let runs = Api::<AnalysisRun>::namespaced(client.clone(), ns);
    let ar = cached_or_get(&caches.analysis_runs, &runs, ns, &r.name).await?;
    let info = match ar {
        Some(ar) => {
            let st = ar.status.clone().unwrap_or_default();
            let phase = if st.phase.is_empty() {
                "Pending".to_string()
            } else {
                st.phase.clone()
            };
            VerificationInfo {
                phase: phase.clone(),
                message: st.message.clone(),
                finish_time: if terminal(&phase) { Some(now()) } else { None },
                analysis_run: Some(AnalysisRunReference { phase, ..r }),
                ..v.clone()
            }
        }
        None => VerificationInfo {
            phase: "Error".into(),
            message: format!(
                "error getting AnalysisRun {:?} in namespace {ns:?}: it was deleted",
                r.name
            ),
            finish_time: Some(now()),
            ..v.clone()
        },
    };
    if terminal(&info.phase) {
        finished(client, caches, stage, coll, &info, &[]).await?;
    }
    coll.verification_history[0] = info;
    Ok(())
}

/// The `Verified` condition for a collection, with Kargo's reasons and
/// messages, from its newest attempt. Kargo keeps `Verified` True once any
/// attempt succeeded; here a later failed re-verification shows (the
/// Freight stays `verifiedIn`, as in Kargo): a status hiding a failed
/// check would lie. docs/ARCHITECTURE.md lists this difference.
fn verified_condition(coll: &FreightCollection) -> Option<(&'static str, String, String)> {
    if coll
        .verification_history
        .first()
        .is_some_and(|v| v.phase == "Successful")
    {
        return Some((
            "True",
            "Verified".into(),
            "Freight has been verified".into(),
        ));
    }
    let v = coll.verification_history.first()?;
    Some(match v.phase.as_str() {
        "Pending" => (
            "Unknown",
            "VerificationPending".into(),
            "Freight is pending verification".into(),
        ),
        "Running" => (
            "Unknown",
            "VerificationRunning".into(),
            "Freight is currently being verified".into(),
        ),
        "Failed" | "Error" => (
            "False",
            format!("Verification{}", v.phase),
            v.message.clone(),
        ),
        "Aborted" => ("False", "VerificationAborted".into(), v.message.clone()),
        "Inconclusive" => (
            "Unknown",
            "VerificationInconclusive".into(),
            v.message.clone(),
        ),
        other => (
            "Unknown",
            "UnknownVerificationPhase".into(),
            format!("Freight verification is in an unknown phase: {other}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_uuid_shaped() {
        let a = derived_id(&["promotion", "uid", "coll", "dev.01abc.1234567"]);
        assert_eq!(
            a,
            derived_id(&["promotion", "uid", "coll", "dev.01abc.1234567"])
        );
        assert_ne!(
            a,
            derived_id(&["promotion", "uid", "coll", "dev.01abd.1234567"])
        );
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        // Parts are separated: ("ab","c") is not ("a","bc").
        assert_ne!(derived_id(&["ab", "c"]), derived_id(&["a", "bc"]));
    }

    fn attempt(id: &str, phase: &str, message: &str) -> VerificationInfo {
        VerificationInfo {
            id: id.into(),
            phase: phase.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn verified_condition_as_kargo() {
        let mut c = FreightCollection::default();
        assert_eq!(verified_condition(&c), None);
        let rows: &[(&str, &str, &str)] = &[
            ("Pending", "Unknown", "VerificationPending"),
            ("Running", "Unknown", "VerificationRunning"),
            ("Failed", "False", "VerificationFailed"),
            ("Error", "False", "VerificationError"),
            ("Aborted", "False", "VerificationAborted"),
            ("Inconclusive", "Unknown", "VerificationInconclusive"),
            ("Bogus", "Unknown", "UnknownVerificationPhase"),
        ];
        for (phase, state, reason) in rows {
            c.verification_history = vec![attempt("a", phase, "m")];
            let (s, r, _) = verified_condition(&c).unwrap();
            assert_eq!((s, r.as_str()), (*state, *reason), "{phase}");
        }
        // The newest attempt decides: a failed re-verification after a success shows.
        c.verification_history = vec![attempt("b", "Failed", "x"), attempt("a", "Successful", "")];
        let (s, r, m) = verified_condition(&c).unwrap();
        assert_eq!(
            (s, r.as_str(), m.as_str()),
            ("False", "VerificationFailed", "x")
        );
        c.verification_history = vec![attempt("b", "Successful", ""), attempt("a", "Failed", "x")];
        let (s, r, m) = verified_condition(&c).unwrap();
        assert_eq!(
            (s, r.as_str(), m.as_str()),
            ("True", "Verified", "Freight has been verified")
        );
    }
}
