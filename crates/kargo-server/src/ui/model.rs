//! What the pages show, read from the store and derived once: a project's
//! Stages, Warehouses, Freight (newest first) and Promotions, each Stage's
//! state as Kargo's UI ranks it (Promoting > Verifying > Failed > Ready >
//! Unknown) with its current or failed step, the Freight each Stage holds
//! per origin, and each Freight's standing in a Stage as the CLI words it
//! (`verified`, `FAILED`, `current`).

use kargo_api::{Freight, Promotion, Stage, Warehouse};
use kargo_store::Store;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decoded objects of `kind` in `ns`, by name (rows that do not decode
/// are skipped). Decoded straight from the stored text into the typed
/// object: the project page reads every Freight on each render.
pub(crate) fn load<T: DeserializeOwned>(store: &Store, kind: &str, ns: &str) -> Vec<T> {
    let Some(info) = kargo_api::lookup_kind("kargo.akuity.io/v1alpha1", kind) else {
        return Vec::new();
    };
    let Ok((mut rows, _)) = store.list(info, Some(ns), None, 0) else {
        return Vec::new();
    };
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows.iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect()
}

/// An object's name.
pub(crate) fn name(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    m.name.as_deref().unwrap_or("")
}

/// One project as read at one instant.
pub(crate) struct Snapshot {
    pub ns: String,
    pub stages: Vec<Stage>,
    pub warehouses: Vec<Warehouse>,
    /// Newest first.
    pub freight: Vec<Freight>,
    pub promotions: Vec<Promotion>,
    pub now: jiff::Timestamp,
}

impl Snapshot {
    pub(crate) fn load(store: &Store, ns: &str) -> Snapshot {
        let mut freight: Vec<Freight> = load(store, "Freight", ns);
        freight.sort_by(|a, b| {
            created_at(&b.metadata)
                .cmp(&created_at(&a.metadata))
                .then_with(|| name(&a.metadata).cmp(name(&b.metadata)))
        });
        Snapshot {
            ns: ns.to_string(),
            stages: load(store, "Stage", ns),
            warehouses: load(store, "Warehouse", ns),
            freight,
            promotions: load(store, "Promotion", ns),
            now: jiff::Timestamp::now(),
        }
    }

    pub(crate) fn stage(&self, n: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| name(&s.metadata) == n)
    }

    pub(crate) fn freight(&self, n: &str) -> Option<&Freight> {
        self.freight.iter().find(|f| name(&f.metadata) == n)
    }

    pub(crate) fn promotion(&self, n: &str) -> Option<&Promotion> {
        self.promotions.iter().find(|p| name(&p.metadata) == n)
    }

    /// Promotions of Stage `s`, newest first.
    pub(crate) fn promotions_of(&self, s: &str) -> Vec<&Promotion> {
        let mut v: Vec<&Promotion> = self
            .promotions
            .iter()
            .filter(|p| p.spec.stage == s)
            .collect();
        v.sort_by(|a, b| {
            created_at(&b.metadata)
                .cmp(&created_at(&a.metadata))
                .then_with(|| name(&b.metadata).cmp(name(&a.metadata)))
        });
        v
    }
}

/// The creation time (None when unknown).
pub(crate) fn created_at(
    m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<jiff::Timestamp> {
    m.creation_timestamp.as_ref().map(|t| t.0)
}

/// The creation time as RFC 3339 text ("" when unknown).
pub(crate) fn created(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    created_at(m).map(|t| t.to_string()).unwrap_or_default()
}

/// A Freight's short label: alias, else the first 7 of its name.
pub(crate) fn label(f: &Freight) -> String {
    f.alias()
        .map(String::from)
        .unwrap_or_else(|| name(&f.metadata).chars().take(7).collect())
}

/// A Freight's artifacts in one line: image tags, chart versions, commits.
pub(crate) fn artifacts(f: &Freight) -> String {
    let mut out: Vec<String> = Vec::new();
    out.extend(f.images.iter().map(|i| {
        let repo = i.repo_url.rsplit('/').next().unwrap_or(&i.repo_url);
        format!("{repo}:{}", i.tag)
    }));
    out.extend(f.charts.iter().map(|c| format!("{}@{}", c.name, c.version)));
    out.extend(f.commits.iter().map(|c| {
        if c.tag.is_empty() {
            c.id.chars().take(7).collect()
        } else {
            c.tag.clone()
        }
    }));
    out.join(", ")
}

/// A Stage as its node and page show it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StageView {
    /// Promoting, Verifying, Failed, Ready or Unknown.
    pub state: &'static str,
    /// The running step ("step 2/4 git-push") or the failed one.
    pub step: Option<String>,
    /// Why it is Failed, when it is.
    pub why: String,
    /// Phase of the current Freight's latest verification ("" when none).
    pub verification: String,
    /// Health status ("" when none).
    pub health: String,
    /// The Freight it holds, per origin Warehouse.
    pub current: Vec<(String, String)>,
    /// The Promotion running now or last finished: name and phase.
    pub promotion: Option<(String, String)>,
    /// That Promotion rolls the Stage back (see [`is_rollback`]).
    pub rollback: bool,
}

fn step_word(p: &Promotion, i: usize) -> String {
    let st = p.status.clone().unwrap_or_default();
    let uses = st
        .state
        .as_ref()
        .and_then(|s| s.pointer(&format!("/steps/{i}/uses")))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| p.spec.steps.get(i).map(|s| s.uses.clone()))
        .unwrap_or_default();
    let total = st.step_execution_metadata.len().max(p.spec.steps.len());
    let alias = st
        .step_execution_metadata
        .get(i)
        .map(|m| m.alias.clone())
        .filter(|a| !a.is_empty() && *a != format!("step-{i}"))
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    format!("step {}/{total} {uses}{alias}", i + 1)
}

/// The index of the step running now (`Running`, see
/// [`kargo_api::promotion::PromotionStatus::running_step`]) or that
/// failed.
pub(crate) fn step_at(p: &Promotion, statuses: &[&str]) -> Option<usize> {
    let st = p.status.as_ref()?;
    st.step_execution_metadata
        .iter()
        .position(|m| statuses.contains(&m.status.as_str()))
        .or_else(|| {
            statuses
                .contains(&"Running")
                .then(|| st.running_step())
                .flatten()
        })
}

/// The phase word of a Promotion ("Pending" before the controller saw it).
pub(crate) fn promotion_phase(p: &Promotion) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.phase)
        .map(|ph| format!("{ph:?}"))
        .unwrap_or_else(|| "Pending".into())
}

pub(crate) fn stage_view(snap: &Snapshot, s: &Stage) -> StageView {
    let st = s.status.clone().unwrap_or_default();
    let newest = st.freight_history.first();
    let current: Vec<(String, String)> = newest
        .map(|c| {
            c.items
                .values()
                .map(|r| (r.origin.name.clone(), r.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let verification = newest
        .and_then(|c| c.verification_history.first())
        .map(|v| v.phase.clone())
        .unwrap_or_default();
    let health = st
        .health
        .as_ref()
        .map(|h| h.status.clone())
        .unwrap_or_default();
    let running = st
        .current_promotion
        .as_ref()
        .and_then(|r| snap.promotion(&r.name))
        .or_else(|| {
            snap.promotions_of(name(&s.metadata))
                .into_iter()
                .find(|p| matches!(promotion_phase(p).as_str(), "Running" | "Pending"))
        });
    let last = running.or_else(|| snap.promotions_of(name(&s.metadata)).into_iter().next());
    let promotion = last.map(|p| (name(&p.metadata).to_string(), promotion_phase(p)));
    let rollback = last.is_some_and(|p| is_rollback(snap, p));
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready");
    let (state, step, why) = if let Some(p) = running {
        let step = step_at(p, &["Running"]).map(|i| step_word(p, i));
        ("Promoting", step, String::new())
    } else if matches!(verification.as_str(), "Pending" | "Running") {
        ("Verifying", None, String::new())
    } else if let Some(p) =
        last.filter(|p| matches!(promotion_phase(p).as_str(), "Failed" | "Errored"))
    {
        let step = step_at(p, &["Failed", "Errored"]).map(|i| step_word(p, i));
        let msg = p
            .status
            .as_ref()
            .map(|s| s.message.clone())
            .unwrap_or_default();
        ("Failed", step, msg)
    } else if matches!(verification.as_str(), "Failed" | "Error" | "Inconclusive") {
        let msg = newest
            .and_then(|c| c.verification_history.first())
            .map(|v| v.message.clone())
            .unwrap_or_default();
        (
            "Failed",
            None,
            format!("verification {verification}: {msg}"),
        )
    } else if health == "Unhealthy" {
        let issues = st
            .health
            .as_ref()
            .map(|h| h.issues.join("; "))
            .unwrap_or_default();
        ("Failed", None, issues)
    } else if ready.is_some_and(|c| c.status == "True") || !current.is_empty() {
        ("Ready", None, String::new())
    } else {
        (
            "Unknown",
            None,
            ready.map(|c| c.message.clone()).unwrap_or_default(),
        )
    };
    StageView {
        state,
        step,
        why,
        verification,
        health,
        current,
        promotion,
        rollback,
    }
}

/// Kargo's annotation marking a Promotion made to roll back to earlier
/// Freight (its UI draws a rollback icon on such Promotions).
pub(crate) const ROLLBACK: &str = "kargo.akuity.io/rollback";

/// Whether Freight `a` was created before Freight `b` (false when either
/// is unknown).
pub(crate) fn older(snap: &Snapshot, a: &str, b: &str) -> bool {
    match (snap.freight(a), snap.freight(b)) {
        (Some(a), Some(b)) => created_at(&a.metadata) < created_at(&b.metadata),
        _ => false,
    }
}

/// Whether Promotion `p` rolls its Stage back: it carries Kargo's
/// `kargo.akuity.io/rollback: "true"`, or its Freight is older than the
/// Freight of the same origin the Stage's previous successful Promotion
/// brought.
pub(crate) fn is_rollback(snap: &Snapshot, p: &Promotion) -> bool {
    if p.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.get(ROLLBACK).is_some_and(|v| v == "true"))
    {
        return true;
    }
    let Some(origin) = snap.freight(&p.spec.freight).map(|f| &f.origin) else {
        return false;
    };
    snap.promotions_of(&p.spec.stage)
        .into_iter()
        .skip_while(|q| name(&q.metadata) != name(&p.metadata))
        .skip(1)
        .filter(|q| promotion_phase(q) == "Succeeded")
        .find(|q| {
            snap.freight(&q.spec.freight)
                .is_some_and(|f| &f.origin == origin)
        })
        .is_some_and(|q| older(snap, &p.spec.freight, &q.spec.freight))
}

/// Freight `f`'s standing in Stage `s`, as `kargo quickstart` prints it:
/// `verified`, `FAILED` (its verification there failed), or "".
pub(crate) fn standing(s: &Stage, f: &Freight) -> &'static str {
    let fname = name(&f.metadata);
    let sname = name(&s.metadata);
    if f.status
        .as_ref()
        .is_some_and(|st| st.verified_in.contains_key(sname))
    {
        return "verified";
    }
    let failed = s.status.as_ref().is_some_and(|st| {
        st.freight_history.iter().any(|c| {
            c.items.values().any(|r| r.name == fname)
                && c.verification_history.first().is_some_and(|v| {
                    matches!(v.phase.as_str(), "Failed" | "Error" | "Inconclusive")
                })
        })
    });
    if failed { "FAILED" } else { "" }
}

/// Whether `s` holds `f` now.
pub(crate) fn holds(s: &Stage, f: &Freight) -> bool {
    let fname = name(&f.metadata);
    s.status
        .as_ref()
        .and_then(|st| st.freight_history.first())
        .is_some_and(|c| c.items.values().any(|r| r.name == fname))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The quick start's shape: one Warehouse, dev -> staging-us,
    /// staging-eu -> prod-us, each a plain Stage.
    pub(crate) fn quickstart() -> Snapshot {
        let stage = |n: &str, direct: bool, up: &[&str]| -> Stage {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": n, "namespace": "p"},
                "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"},
                    "sources": {"direct": direct, "stages": up}}]}
            }))
            .unwrap()
        };
        let w: Warehouse = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "w", "namespace": "p"},
            "spec": {"subscriptions": [{"image": {"repoURL": "example.com/app"}}]}
        }))
        .unwrap();
        Snapshot {
            ns: "p".into(),
            stages: vec![
                stage("dev", true, &[]),
                stage("prod-us", false, &["staging-us", "staging-eu"]),
                stage("staging-eu", false, &["dev"]),
                stage("staging-us", false, &["dev"]),
            ],
            warehouses: vec![w],
            freight: Vec::new(),
            promotions: Vec::new(),
            now: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_running_promotion_shows_promoting_with_its_step() {
        let mut snap = quickstart();
        let p: Promotion = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "dev.1", "namespace": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"stage": "dev", "freight": "f1", "steps": [{"uses": "git-clone"}, {"uses": "git-push", "as": "push"}]},
            "status": {"phase": "Running", "stepExecutionMetadata": [
                {"alias": "step-0", "status": "Succeeded"}, {"alias": "push", "status": "Running"}]}
        }))
        .unwrap();
        snap.promotions.push(p);
        let v = stage_view(&snap, snap.stage("dev").unwrap());
        assert_eq!(v.state, "Promoting");
        assert_eq!(v.step.as_deref(), Some("step 2/2 git-push (push)"));
        assert_eq!(v.promotion, Some(("dev.1".into(), "Running".into())));
    }

    #[test]
    fn failed_verification_reads_failed_as_the_cli_does() {
        let mut snap = quickstart();
        let f: Freight = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "f1", "namespace": "p"}, "origin": {"kind": "Warehouse", "name": "w"}
        }))
        .unwrap();
        snap.stages[0].status = Some(
            serde_json::from_value(serde_json::json!({"freightHistory": [{"items": {"Warehouse/w":
                {"name": "f1", "origin": {"kind": "Warehouse", "name": "w"}}},
                "verificationHistory": [{"id": "v", "phase": "Failed", "message": "error rate"}]}]}))
            .unwrap(),
        );
        let dev = &snap.stages[0];
        assert_eq!(standing(dev, &f), "FAILED");
        assert!(holds(dev, &f));
        let v = stage_view(&snap, dev);
        assert_eq!(v.state, "Failed");
        assert!(v.why.contains("error rate"), "{}", v.why);
        assert_eq!(v.current, vec![("w".to_string(), "f1".to_string())]);
    }

    #[test]
    fn a_promotion_to_older_freight_is_a_rollback() {
        let mut snap = quickstart();
        for (n, at) in [
            ("old", "2026-01-01T00:00:00Z"),
            ("new", "2026-01-02T00:00:00Z"),
        ] {
            snap.freight.push(
                serde_json::from_value(serde_json::json!({
                    "metadata": {"name": n, "namespace": "p", "creationTimestamp": at},
                    "origin": {"kind": "Warehouse", "name": "w"}
                }))
                .unwrap(),
            );
        }
        let promo = |n: &str, f: &str, at: &str, annotations: serde_json::Value| -> Promotion {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": n, "namespace": "p", "creationTimestamp": at, "annotations": annotations},
                "spec": {"stage": "dev", "freight": f},
                "status": {"phase": "Succeeded"}
            }))
            .unwrap()
        };
        let none = serde_json::json!({});
        snap.promotions = vec![
            promo("dev.1", "old", "2026-01-03T00:00:00Z", none.clone()),
            promo("dev.2", "new", "2026-01-04T00:00:00Z", none.clone()),
            promo("dev.3", "old", "2026-01-05T00:00:00Z", none.clone()),
        ];
        let by = |snap: &Snapshot, n: &str| is_rollback(snap, snap.promotion(n).unwrap());
        assert!(!by(&snap, "dev.1") && !by(&snap, "dev.2") && by(&snap, "dev.3"));
        assert!(stage_view(&snap, snap.stage("dev").unwrap()).rollback);
        // Kargo's annotation marks one whatever the Freight.
        snap.promotions.push(promo(
            "dev.4",
            "new",
            "2026-01-06T00:00:00Z",
            serde_json::json!({ROLLBACK: "true"}),
        ));
        assert!(by(&snap, "dev.4"));
        assert!(!by(&snap, "dev.2"));
    }
}
