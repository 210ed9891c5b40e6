//! Auto-promotion holds as Kargo models them: `status.autoPromotionHolds`
//! (durable, by origin key `Warehouse/<name>`) is updated by replaying the
//! Stage's Promotions that ended since the last one recorded — a
//! Promotion carrying `kargo.akuity.io/auto-promotion-hold` holds its
//! origin, one carrying `kargo.akuity.io/auto-promotion-resume` releases
//! it, an aborted one does neither — and
//! `status.effectiveAutoPromotionHolds` adds the newest intent of the
//! Promotions still in flight. Holds mean nothing, and are cleared, while
//! auto-promotion is off.
//!
//! Two Stage annotations are ours: `kargo.akuity.io/auto-promotion-hold`
//! (`kargo hold stage`: JSON `{reason, actor, at}`, the actor set by the
//! API server) holds every requested origin while it is there, and
//! `kargo.akuity.io/auto-promotion-resume` (`kargo release stage`: an
//! RFC 3339 time) releases every hold made before it.

use kargo_api::Promotion;
use kargo_api::Stage;
use kargo_api::labels::{AUTO_PROMOTION_HOLD, AUTO_PROMOTION_RESUME};
use kargo_api::promotion::PromotionPhase;
use kargo_api::stage::{AutoPromotionHold, StageStatus};
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A hold asked for on the Stage (`kargo hold stage`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ManualHold {
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// Who (set by the API server).
    #[serde(default)]
    pub actor: String,
    /// When (RFC 3339).
    #[serde(default)]
    pub at: String,
}

/// The Stage's manual hold, if any.
pub fn manual(stage: &Stage) -> Option<ManualHold> {
    serde_json::from_str(stage.annotations().get(AUTO_PROMOTION_HOLD)?).ok()
}

fn phase(p: &Promotion) -> PromotionPhase {
    p.status.as_ref().and_then(|s| s.phase).unwrap_or_default()
}

fn hold_from(p: &Promotion, stage: &Stage, origin_key: &str) -> Option<AutoPromotionHold> {
    let req = stage
        .spec
        .requested_freight
        .iter()
        .find(|r| format!("{}/{}", r.origin.kind, r.origin.name) == origin_key)?;
    Some(AutoPromotionHold {
        actor: p
            .annotations()
            .get(kargo_api::labels::CREATE_ACTOR)
            .cloned()
            .unwrap_or_default(),
        created_at: p.creation_timestamp().map(|t| t.0.to_string()),
        freight_name: p.spec.freight.clone(),
        origin: Some(req.origin.clone()),
        promotion_name: p.name_any(),
    })
}

/// Whether `p` holds (Some(true)) or releases (Some(false)) `origin`.
fn intent(p: &Promotion, origin: &str) -> Option<bool> {
    let a = p.annotations();
    if a.get(AUTO_PROMOTION_HOLD).map(String::as_str) == Some(origin) {
        Some(true)
    } else if a.get(AUTO_PROMOTION_RESUME).map(String::as_str) == Some(origin) {
        Some(false)
    } else {
        None
    }
}

/// Updates both hold maps in `st`. `promotions`: the Stage's Promotions;
/// `last_recorded`: the name of the last Promotion the status had
/// recorded before this reconcile; `auto`: auto-promotion is on.
pub fn update(
    stage: &Stage,
    st: &mut StageStatus,
    promotions: &[Arc<Promotion>],
    last_recorded: Option<&str>,
    auto: bool,
) {
    if !auto {
        st.auto_promotion_holds.clear();
        st.effective_auto_promotion_holds.clear();
        return;
    }
    let origins: Vec<String> = stage
        .spec
        .requested_freight
        .iter()
        .map(|r| format!("{}/{}", r.origin.kind, r.origin.name))
        .collect();
    let durable = &mut st.auto_promotion_holds;
    durable.retain(|k, _| origins.contains(k));
    let newer = |p: &&Arc<Promotion>| last_recorded.is_none_or(|l| p.name_any().as_str() > l);
    let mut ended: Vec<&Arc<Promotion>> = promotions
        .iter()
        .filter(newer)
        .filter(|p| phase(p).is_terminal() && phase(p) != PromotionPhase::Aborted)
        .collect();
    ended.sort_by_key(|p| p.name_any());
    for p in ended {
        for o in &origins {
            match intent(p, o) {
                Some(true) => {
                    if let Some(h) = hold_from(p, stage, o) {
                        durable.insert(o.clone(), h);
                    }
                }
                Some(false) => {
                    durable.remove(o);
                }
                None => {}
            }
        }
    }
    let current: BTreeMap<String, String> = st
        .freight_history
        .first()
        .map(|c| {
            c.items
                .iter()
                .map(|(k, r)| (k.clone(), r.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = manual(stage) {
        for req in &stage.spec.requested_freight {
            let key = format!("{}/{}", req.origin.kind, req.origin.name);
            durable.entry(key.clone()).or_insert(AutoPromotionHold {
                actor: m.actor.clone(),
                created_at: Some(m.at.clone()).filter(|t| !t.is_empty()),
                freight_name: current.get(&key).cloned().unwrap_or_default(),
                origin: Some(req.origin.clone()),
                promotion_name: String::new(),
            });
        }
    }
    if let Some(released) = stage
        .annotations()
        .get(AUTO_PROMOTION_RESUME)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    {
        durable.retain(|_, h| {
            h.created_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t > released)
        });
    }
    let mut effective = durable.clone();
    let in_flight: Vec<&Arc<Promotion>> = promotions
        .iter()
        .filter(newer)
        .filter(|p| !phase(p).is_terminal())
        .collect();
    for o in &origins {
        let newest = in_flight
            .iter()
            .filter_map(|p| intent(p, o).map(|h| (p.name_any(), h, p)))
            .max_by(|a, b| a.0.cmp(&b.0));
        match newest {
            Some((_, true, p)) => {
                if let Some(h) = hold_from(p, stage, o) {
                    effective.insert(o.clone(), h);
                }
            }
            Some((_, false, _)) => {
                effective.remove(o);
            }
            None => {}
        }
    }
    st.effective_auto_promotion_holds = effective;
}

#[cfg(test)]
#[path = "holds_tests.rs"]
mod tests;
