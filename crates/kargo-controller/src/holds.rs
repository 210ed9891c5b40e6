//! Auto-promotion holds as Kargo models them: `status.autoPromotionHolds`
//! (durable, by origin key `Warehouse/<name>`) follows the newest ended
//! Promotion with an intent for the origin — one carrying
//! `kargo.akuity.io/auto-promotion-hold` holds it, one carrying
//! `kargo.akuity.io/auto-promotion-resume` releases it, an aborted one
//! does neither (Kargo replays the Promotions named after the last one
//! recorded; derived names here carry whole-second times, so creation
//! times decide) — and
//! `status.effectiveAutoPromotionHolds` adds the newest intent of the
//! Promotions still in flight. Holds mean nothing, and are cleared, while
//! auto-promotion is off.
//!
//! Two Stage annotations are ours: `kargo.akuity.io/auto-promotion-hold`
//! (`kargo hold stage`: JSON `{reason, actor, at}`, the actor set by the
//! API server) holds every requested origin while it is there, and
//! `kargo.akuity.io/auto-promotion-resume` (`kargo release stage`: an
//! RFC 3339 time) releases every hold made before it.

use crate::index::{Created, PromotionSummary};
use kargo_api::Stage;
use kargo_api::labels::{AUTO_PROMOTION_HOLD, AUTO_PROMOTION_RESUME};
use kargo_api::promotion::PromotionPhase;
use kargo_api::stage::{AutoPromotionHold, StageStatus};
use kube::ResourceExt;
use std::collections::BTreeMap;

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

/// One of the Stage's Promotions, as the index holds it.
type Indexed = (Created, PromotionSummary);

fn hold_from(
    ((at, name), p): &Indexed,
    stage: &Stage,
    origin_key: &str,
) -> Option<AutoPromotionHold> {
    let req = stage
        .spec
        .requested_freight
        .iter()
        .find(|r| format!("{}/{}", r.origin.kind, r.origin.name) == origin_key)?;
    Some(AutoPromotionHold {
        actor: p
            .intent
            .as_ref()
            .map(|i| i.actor.clone())
            .unwrap_or_default(),
        created_at: at.as_ref().map(|t| t.0.to_string()),
        freight_name: p.freight.clone(),
        origin: Some(req.origin.clone()),
        promotion_name: name.clone(),
    })
}

/// Whether `p` holds (Some(true)) or releases (Some(false)) `origin`.
fn intent(p: &PromotionSummary, origin: &str) -> Option<bool> {
    let i = p.intent.as_ref()?;
    if i.hold.as_deref() == Some(origin) {
        Some(true)
    } else if i.resume.as_deref() == Some(origin) {
        Some(false)
    } else {
        None
    }
}

/// When `p` was created.
fn created(((at, _), _): &Indexed) -> Option<jiff::Timestamp> {
    at.as_ref().map(|t| t.0)
}

fn parse(t: Option<&str>) -> Option<jiff::Timestamp> {
    t?.parse().ok()
}

/// Updates both hold maps in `st`. `promotions`: the Stage's Promotions
/// (from the index);
/// `auto`: auto-promotion is on.
///
/// Per origin, the newest ended (not aborted) Promotion with an intent
/// for it decides, unless the durable hold is newer than it (set by hand)
/// or a release came after it; a hold whose Promotion was since deleted
/// stays until something newer decides.
pub fn update(stage: &Stage, st: &mut StageStatus, promotions: &[Indexed], auto: bool) {
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
    let released = parse(
        stage
            .annotations()
            .get(AUTO_PROMOTION_RESUME)
            .map(String::as_str),
    );
    let after_release =
        |t: Option<jiff::Timestamp>| released.is_none_or(|r| t.is_some_and(|t| t > r));
    let newest = |o: &str, ended: bool| {
        promotions
            .iter()
            .filter(|(_, p)| p.phase != PromotionPhase::Aborted && p.phase.is_terminal() == ended)
            .filter(|p| after_release(created(p)))
            .filter_map(|p| intent(&p.1, o).map(|h| (created(p), p.0.1.clone(), h, p)))
            .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
    };
    let durable = &mut st.auto_promotion_holds;
    durable.retain(|k, h| origins.contains(k) && after_release(parse(h.created_at.as_deref())));
    for o in &origins {
        let Some((at, _, hold, p)) = newest(o, true) else {
            continue;
        };
        let current = durable.get(o).and_then(|h| parse(h.created_at.as_deref()));
        if current.is_some_and(|c| at.is_none_or(|at| c > at)) {
            continue;
        }
        if hold {
            if let Some(h) = hold_from(p, stage, o) {
                durable.insert(o.clone(), h);
            }
        } else {
            durable.remove(o);
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
    if let Some(m) = manual(stage).filter(|m| after_release(parse(Some(&m.at)))) {
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
    let mut effective = durable.clone();
    for o in &origins {
        match newest(o, false) {
            Some((_, _, true, p)) => {
                if let Some(h) = hold_from(p, stage, o) {
                    effective.insert(o.clone(), h);
                }
            }
            Some((_, _, false, _)) => {
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
