//! Automatic rollback (ProjectConfig `promotionPolicies[].autoRollback`,
//! Kargo's shape): when the Stage's last Promotion ends in a phase of
//! `onPromotion` (`Failed`, `Errored`; none by default), or the
//! verification of its current Freight ends in a phase of
//! `onVerification` (`Failed`, `Error`; `[Failed]` by default), the
//! Stage is promoted back to the newest Freight of its history that was
//! verified there. The rollback Promotion is marked
//! `kargo.akuity.io/rollback: "true"` and carries Kargo's hold intent for
//! its origin, so auto-promotion holds once it ends.
//!
//! It never loops: a rollback that fails, or a verification failing on
//! Freight a rollback put there, starts nothing and records an
//! `AutoRollbackFailed` Event instead. A verification a user aborted
//! starts nothing. Windows gate rollbacks like any Promotion (the caller
//! waits while they are closed), and the Promotion's name is derived from
//! what triggered it, so one failure makes one rollback however often
//! the Stage is reconciled.

use crate::events;
use crate::index::PromotionSummary;
use crate::informers::Caches;
use crate::verification::ABORTED_BY_USER;
use kargo_api::labels::{AUTO_PROMOTION_HOLD, CREATE_ACTOR, ROLLBACK};
use kargo_api::project::{AutoRollback, PromotionPolicy};
use kargo_api::promotion::PromotionPhase;
use kargo_api::stage::StageStatus;
use kargo_api::{Promotion, Stage};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use serde_json::{Value, json};

/// Event reason: a rollback Promotion was created.
pub const AUTO_ROLLBACK: &str = "AutoRollback";
/// Event reason: a rollback was needed but is not attempted (it failed
/// itself, or there is nothing verified to go back to).
pub const AUTO_ROLLBACK_FAILED: &str = "AutoRollbackFailed";

/// What went wrong, and with which Freight of which origin.
struct Trigger {
    /// "verification Failed", "Promotion Errored", ...
    what: String,
    /// Verification id or Promotion name: one rollback per trigger.
    id: String,
    /// When it happened (the rollback Promotion's name sorts after it).
    at: Option<String>,
    /// The Freight that failed.
    freight: String,
    /// Its origin key.
    origin: String,
    /// Whether the Freight was put there by a rollback (then stop).
    after_rollback: bool,
}

/// The Stage's rollback settings: the first matching policy's.
fn config<'a>(policies: &'a [PromotionPolicy], stage: &Stage) -> Option<&'a AutoRollback> {
    kargo_api::policy_selector::policy_for(policies, &stage.name_any(), stage.labels())?
        .auto_rollback
        .as_ref()
}

/// What calls for a rollback now, if anything.
fn trigger(
    cfg: &AutoRollback,
    st: &StageStatus,
    promotion: &dyn Fn(&str) -> Option<PromotionSummary>,
) -> Option<Trigger> {
    let last = st.last_promotion.as_ref();
    let last_obj = last.and_then(|l| promotion(&l.name));
    if let Some(l) = last
        && let Some(phase) = l.status.as_ref().and_then(|s| s.phase)
        && matches!(phase, PromotionPhase::Failed | PromotionPhase::Errored)
        && cfg.on_promotion.iter().any(|p| *p == format!("{phase:?}"))
    {
        let f = l.freight.clone().unwrap_or_default();
        return Some(Trigger {
            what: format!("Promotion {:?} {phase:?}", l.name),
            id: l.name.clone(),
            at: l.finished_at.clone(),
            origin: format!("{}/{}", f.origin.kind, f.origin.name),
            freight: f.name,
            after_rollback: last_obj.as_ref().is_some_and(|p| p.rollback),
        });
    }
    let current = st.freight_history.first()?;
    let v = current.verification_history.first()?;
    let phases: Vec<&str> = if cfg.on_verification.is_empty() {
        vec!["Failed"]
    } else {
        cfg.on_verification.iter().map(String::as_str).collect()
    };
    if !phases.contains(&v.phase.as_str()) || v.message == ABORTED_BY_USER {
        return None;
    }
    let (origin, freight) = current.items.iter().next()?;
    // Put there by a rollback: the last Promotion, a success, was one.
    let after_rollback = last_obj
        .as_ref()
        .is_some_and(|p| p.rollback && p.freight == freight.name)
        || st
            .auto_promotion_holds
            .values()
            .any(|h| !h.promotion_name.is_empty() && h.freight_name == freight.name);
    Some(Trigger {
        what: format!("verification {} {}", v.id, v.phase),
        id: v.id.clone(),
        at: v.finish_time.clone(),
        freight: freight.name.clone(),
        origin: origin.clone(),
        after_rollback,
    })
}

/// The newest Freight of `origin` in the Stage's history, other than
/// `failed`, that was verified in the Stage.
fn target(caches: &Caches, stage: &Stage, st: &StageStatus, t: &Trigger) -> Option<String> {
    let ns = stage.namespace().unwrap_or_default();
    let name = stage.name_any();
    st.freight_history
        .iter()
        .filter_map(|c| c.items.get(&t.origin))
        .map(|r| r.name.clone())
        .filter(|f| *f != t.freight)
        .find(|f| {
            caches
                .freight
                .get(&ObjectRef::new(f).within(&ns))
                .and_then(|f| f.status.clone())
                .is_some_and(|s| s.verified_in.contains_key(&name))
        })
}

/// What [`run`] did.
pub enum Outcome {
    /// Nothing called for a rollback.
    Nothing,
    /// A rollback is due but windows are closed: wait.
    Waiting,
    /// A rollback Promotion exists (created now or before).
    Created(String),
}

/// Rolls the Stage back when its policy and state call for it. `old`:
/// the status before this reconcile (to tell a new failure from one
/// already reported); `closed`: windows forbid promotions now.
pub async fn run(
    client: &kube::Client,
    caches: &Caches,
    stage: &Stage,
    old: &StageStatus,
    st: &StageStatus,
    policies: &[PromotionPolicy],
    closed: bool,
) -> Result<Outcome, kube::Error> {
    let Some(cfg) = config(policies, stage) else {
        return Ok(Outcome::Nothing);
    };
    let ns = stage.namespace().unwrap_or_default();
    let stage_name = stage.name_any();
    let promotion = |n: &str| {
        caches
            .index
            .promotion(&ns, &stage_name, n)
            .map(|p| p.summary)
    };
    let Some(t) = trigger(cfg, st, &promotion) else {
        return Ok(Outcome::Nothing);
    };
    let stage_value = serde_json::to_value(stage).unwrap_or(Value::Null);
    if t.after_rollback {
        // Report once: when this failure is new to the status.
        if trigger(cfg, old, &promotion).is_none_or(|o| o.id != t.id) {
            let message = format!(
                "{} on Freight {:?}, which an automatic rollback put in Stage {stage_name:?}: no further rollback is attempted",
                t.what, t.freight
            );
            report(client, &stage_value, AUTO_ROLLBACK_FAILED, &message).await;
        }
        return Ok(Outcome::Nothing);
    }
    let Some(freight) = target(caches, stage, st, &t) else {
        if trigger(cfg, old, &promotion).is_none_or(|o| o.id != t.id) {
            let message = format!(
                "{} on Freight {:?} in Stage {stage_name:?}: no earlier Freight was verified there, so nothing is rolled back",
                t.what, t.freight
            );
            report(client, &stage_value, AUTO_ROLLBACK_FAILED, &message).await;
        }
        return Ok(Outcome::Nothing);
    };
    if closed {
        return Ok(Outcome::Waiting);
    }
    let id = format!("rollback/{}/{}", stage.uid().unwrap_or_default(), t.id);
    let name = crate::names::derived(&stage_name, &freight, &id, t.at.as_deref());
    let p: Promotion = serde_json::from_value(json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
        "metadata": {"name": name, "namespace": ns, "annotations": {
            CREATE_ACTOR: kargo_api::event::controller_actor(events::STAGE_CONTROLLER),
            ROLLBACK: "true",
            AUTO_PROMOTION_HOLD: t.origin,
        }},
        "spec": {"stage": stage_name, "freight": freight},
    }))
    .map_err(kube::Error::SerdeError)?;
    match Api::<Promotion>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &p)
        .await
    {
        Ok(created) => {
            let message = format!(
                "{} on Freight {:?}: rolling Stage {stage_name:?} back to Freight {freight:?}, the newest verified there; auto-promotion of {} is held",
                t.what, t.freight, t.origin
            );
            tracing::info!(stage = %stage_name, promotion = %name, "{message}");
            if let Ok(pv) = serde_json::to_value(&created) {
                let fv = caches
                    .freight
                    .get(&ObjectRef::new(&freight).within(&ns))
                    .and_then(|f| f.to_value_without_status().ok());
                let ev = events::promotion(
                    &pv,
                    fv.as_ref(),
                    AUTO_ROLLBACK,
                    &message,
                    events::STAGE_CONTROLLER,
                );
                events::record(client, ev).await;
            }
            Ok(Outcome::Created(name))
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Outcome::Created(name)),
        Err(kube::Error::Api(e)) if e.code == 422 => {
            // Refused (e.g. a window closed in between): tried again later.
            tracing::info!(stage = %stage_name, reason = %e.message, "rollback refused");
            Ok(Outcome::Waiting)
        }
        Err(e) => Err(e),
    }
}

/// Records an Event about the Stage.
async fn report(client: &kube::Client, stage: &Value, reason: &str, message: &str) {
    let project = stage
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let actor = kargo_api::event::controller_actor(events::STAGE_CONTROLLER);
    let a = kargo_api::event::common(project, Some(&actor));
    let ev = kargo_api::event::event(stage, "Stage", reason, message, a, events::STAGE_CONTROLLER);
    events::record(client, ev).await;
}
