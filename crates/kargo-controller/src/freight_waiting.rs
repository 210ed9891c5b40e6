//! "Freight waits too long": when a project's ProjectConfig sets
//! `freightWaitingThreshold`, the Stage controller records one
//! `FreightWaiting` Event (about the Freight, for the Stage) once the
//! newest Freight available to a Stage from an origin has waited longer
//! than that without being promoted there, so an EventRouter can send
//! it. A reconcile pays only what auto-promotion already pays (the walk
//! over the index to the newest available Freight, from the caches); the
//! reconcile is requeued for the moment the threshold passes. The Event
//! is named after (Freight, Stage) ([`kargo_api::event::name_once`]), and
//! the Stage's `kargo.akuity.io/freight-waiting-notified` annotation
//! remembers, per origin, the Freight reported, so neither a second
//! reconcile nor a restart (nor an expired Event) reports it again.

use crate::informers::Caches;
use kargo_api::stage::{FreightCollection, FreightRequest};
use kargo_api::{Freight, Stage, availability};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Event's reason (added here: Kargo has no such event).
pub const REASON: &str = "FreightWaiting";
/// Annotation on the Stage: origin (`Warehouse/name`) → the Freight last
/// reported waiting for it (JSON).
pub const NOTIFIED: &str = "kargo.akuity.io/freight-waiting-notified";
/// Event annotation: since when the Freight has been available (RFC 3339).
pub const WAITING_SINCE: &str = "event.kargo.akuity.io/waiting-since";

/// Longest the annotation write may take.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What one Stage reconcile hands over.
pub(crate) struct Input<'a> {
    pub client: &'a kube::Client,
    pub caches: &'a Caches,
    pub stage: &'a Stage,
    /// The ProjectConfig's `freightWaitingThreshold`.
    pub threshold: Option<&'a str>,
    /// The Stage's current Freight.
    pub current: Option<&'a FreightCollection>,
    /// Whether a Promotion of this Freight to the Stage runs, waits or
    /// succeeded.
    pub promoted: &'a (dyn Fn(&str) -> bool + Sync),
    pub now_ms: i64,
}

fn millis(t: Option<&str>) -> Option<i64> {
    t?.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Since when `f` has been available to the Stage (milliseconds): the
/// earliest of its approval for the Stage, its creation when the Stage
/// takes Freight directly, and a verification upstream plus the required
/// soak.
fn available_since(stage: &Stage, f: &Freight, req: &FreightRequest) -> Option<i64> {
    let st = f.status.as_ref();
    let approved = st
        .and_then(|s| s.approved_for.get(&stage.name_any()))
        .and_then(|a| millis(a.approved_at.as_deref()));
    let created = req
        .sources
        .direct
        .then(|| f.creation_timestamp().map(|t| t.0.as_millisecond()))
        .flatten();
    let soak_ms = req
        .sources
        .required_soak_time
        .as_deref()
        .and_then(kargo_api::validate::parse_go_duration)
        .map_or(0, |s| (s * 1000.0) as i64);
    let upstream = req
        .sources
        .stages
        .iter()
        .filter_map(|u| millis(st?.verified_in.get(u)?.verified_at.as_deref()))
        .min()
        .map(|t| t + soak_ms);
    [approved, created, upstream].into_iter().flatten().min()
}

/// Records the Events that are due; returns when the next threshold
/// passes (None: nothing to wait for, or the setting is off).
pub(crate) async fn check(i: Input<'_>) -> Option<i64> {
    let threshold_ms = i
        .threshold
        .and_then(kargo_api::validate::parse_go_duration)
        .filter(|s| *s > 0.0)
        .map(|s| (s * 1000.0) as i64)?;
    let stage = i.stage;
    let ns = stage.namespace().unwrap_or_default();
    let before: BTreeMap<String, String> = stage
        .annotations()
        .get(NOTIFIED)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    let mut notified = before.clone();
    let mut due: Option<i64> = None;
    for req in &stage.spec.requested_freight {
        let mut newest = None;
        crate::stage::walk_candidates(i.caches, stage, req, |f| {
            let ok = availability::check(stage, &f, i.now_ms).is_ok();
            if ok {
                newest = Some(f);
            }
            ok
        });
        let Some(f) = newest else { continue };
        let fname = f.name_any();
        let origin = crate::index::origin_key(&req.origin);
        let in_use = i
            .current
            .and_then(|c| c.items.values().find(|r| r.origin == req.origin))
            .and_then(|r| {
                i.caches
                    .freight
                    .get(&kube::runtime::reflector::ObjectRef::new(&r.name).within(&ns))
            });
        // Nothing waits when the newest is in use, or older than what is.
        if in_use.as_ref().is_some_and(|c| {
            c.name_any() == fname || c.creation_timestamp() > f.creation_timestamp()
        }) || (i.promoted)(&fname)
            || notified.get(&origin) == Some(&fname)
        {
            continue;
        }
        let Some(since) = available_since(stage, &f, req) else {
            continue;
        };
        let deadline = since + threshold_ms;
        if i.now_ms < deadline {
            due = Some(due.map_or(deadline, |d| d.min(deadline)));
            continue;
        }
        record(i.client, stage, &f, since, i.now_ms).await;
        notified.insert(origin, fname);
    }
    if notified != before {
        // Requested origins only: what the Stage no longer takes goes.
        notified.retain(|o, _| {
            stage
                .spec
                .requested_freight
                .iter()
                .any(|r| crate::index::origin_key(&r.origin) == *o)
        });
        let value = serde_json::to_string(&notified).unwrap_or_default();
        let patch = serde_json::json!({"metadata": {"annotations": {NOTIFIED: value}}});
        let api = Api::<Stage>::namespaced(i.client.clone(), &ns);
        let (pp, patch) = (PatchParams::default(), Patch::Merge(patch));
        if let Err(e) =
            crate::bounded(CALL_TIMEOUT, api.patch(&stage.name_any(), &pp, &patch)).await
        {
            // The Event's name keeps the next attempt from a second one.
            tracing::warn!(stage = %stage.name_any(), namespace = %ns, error = %e, "noting a FreightWaiting event");
        }
    }
    due
}

/// Records the `FreightWaiting` Event of `f` for the Stage.
async fn record(client: &kube::Client, stage: &Stage, f: &Arc<Freight>, since: i64, now_ms: i64) {
    let sname = stage.name_any();
    let Ok(fv) = f.to_value_without_status() else {
        return;
    };
    let waited = std::time::Duration::from_secs(((now_ms - since).max(0) / 1000) as u64);
    let message = format!(
        "Freight has been available to Stage {sname:?} for {} without being promoted there",
        kargo_api::validate::format_duration(waited)
    );
    let controller = crate::events::STAGE_CONTROLLER;
    let actor = kargo_api::event::controller_actor(controller);
    let mut event = crate::events::freight(&fv, &sname, REASON, &message, &actor, controller);
    if let Ok(t) = jiff::Timestamp::from_millisecond(since) {
        event["metadata"]["annotations"][WAITING_SINCE] =
            serde_json::Value::String(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    kargo_api::event::name_once(&mut event, &[&sname, REASON]);
    crate::events::record(client, event).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ms(t: &str) -> i64 {
        t.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn available_since_is_the_earliest_way_in() {
        let stage: Stage = serde_json::from_value(json!({"metadata": {"name": "prod"},
            "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"},
                "sources": {"stages": ["uat", "qa"], "requiredSoakTime": "1h"}}]}}))
        .unwrap();
        let mut f: Freight = serde_json::from_value(json!({
            "metadata": {"name": "f", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "origin": {"kind": "Warehouse", "name": "w"},
            "status": {"verifiedIn": {"uat": {"verifiedAt": "2026-01-01T02:00:00Z"},
                "qa": {"verifiedAt": "2026-01-01T01:00:00Z"}}}}))
        .unwrap();
        let mut req = stage.spec.requested_freight[0].clone();
        // The first verification upstream, plus the soak.
        assert_eq!(
            available_since(&stage, &f, &req),
            Some(ms("2026-01-01T02:00:00Z"))
        );
        // An approval before that.
        f.status.as_mut().unwrap().approved_for.insert(
            "prod".into(),
            serde_json::from_value(json!({"approvedAt": "2026-01-01T00:30:00Z"})).unwrap(),
        );
        assert_eq!(
            available_since(&stage, &f, &req),
            Some(ms("2026-01-01T00:30:00Z"))
        );
        // Straight from the Warehouse: since its creation.
        req.sources.direct = true;
        assert_eq!(
            available_since(&stage, &f, &req),
            Some(ms("2026-01-01T00:00:00Z"))
        );
    }
}
