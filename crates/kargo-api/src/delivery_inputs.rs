//! What [`delivery_stats`](crate::delivery_stats) reads of each object,
//! cut from the typed objects into small JSON values (only the fields the
//! figures use), and a project's worth of them. Every reader of the
//! figures goes through these: `kargo stats`, the standalone server's
//! `/metrics` (a page of stored objects at a time), `kargo controller`'s
//! `/metrics` (its watch-fed caches) and the web UI, so they all compute
//! from the same fields and agree.

use crate::delivery_stats::{Inputs, PROMOTION_ANNOTATION, PromotionCut, ROLLBACK_ANNOTATION};
use crate::{AnalysisRun, Freight, Promotion, Stage, Warehouse};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

fn annotation<'a>(m: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    m.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The creation time as Kubernetes writes it (`metav1.Time`: whole
/// seconds), the text every client reads back.
fn created(m: &ObjectMeta) -> Value {
    serde_json::to_value(&m.creation_timestamp).unwrap_or_default()
}

/// A Stage: its name and whether it verifies.
pub fn stage(s: &Stage) -> Value {
    json!({
        "metadata": {"name": s.metadata.name},
        "spec": {"verification": s.spec.verification},
    })
}

/// A Promotion: name, rollback annotation, Stage, Freight, phase, end.
pub fn promotion(p: &Promotion) -> PromotionCut {
    let st = p.status.as_ref();
    promotion_of(&PromotionFields {
        name: p.metadata.name.as_deref().unwrap_or_default(),
        rollback: annotation(&p.metadata, ROLLBACK_ANNOTATION) == Some("true"),
        stage: &p.spec.stage,
        freight: &p.spec.freight,
        phase: st.and_then(|s| s.phase),
        finished_at: st.and_then(|s| s.finished_at.as_deref()),
    })
}

/// What the figures read of a Promotion, wherever it is kept (the
/// controller's index holds finished Promotions as these fields only).
pub struct PromotionFields<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// It carries `kargo.akuity.io/rollback: "true"`.
    pub rollback: bool,
    /// `spec.stage`.
    pub stage: &'a str,
    /// `spec.freight`.
    pub freight: &'a str,
    /// `status.phase`.
    pub phase: Option<crate::promotion::PromotionPhase>,
    /// `status.finishedAt`.
    pub finished_at: Option<&'a str>,
}

/// A Promotion cut from its fields, as [`promotion`] cuts a whole one.
pub fn promotion_of(p: &PromotionFields<'_>) -> PromotionCut {
    PromotionCut {
        name: p.name.to_string(),
        rollback: p.rollback,
        stage: p.stage.to_string(),
        freight: p.freight.to_string(),
        phase: p.phase,
        finished_at: p.finished_at.and_then(|t| t.parse().ok()),
    }
}

/// A Freight: name, creation time and its commits' ids.
pub fn freight(f: &Freight) -> Value {
    let commits: Vec<Value> = f.commits.iter().map(|c| json!({"id": c.id})).collect();
    json!({
        "metadata": {"name": f.metadata.name, "creationTimestamp": created(&f.metadata)},
        "commits": commits,
    })
}

/// An AnalysisRun: the Promotion it verifies, its creation and phase.
pub fn analysis_run(r: &AnalysisRun) -> Value {
    json!({
        "metadata": {
            "creationTimestamp": created(&r.metadata),
            "annotations": {PROMOTION_ANNOTATION: annotation(&r.metadata, PROMOTION_ANNOTATION)},
        },
        "status": {"phase": r.status.as_ref().map(|s| s.phase.as_str())},
    })
}

/// A Warehouse: the ids and times of the commits it discovered.
pub fn warehouse(w: &Warehouse) -> Value {
    let git: Vec<Value> = w
        .status
        .as_ref()
        .and_then(|s| s.discovered_artifacts.as_ref())
        .map(|d| d.git.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|g| {
            let commits: Vec<Value> = g
                .commits
                .iter()
                .map(|c| json!({"id": c.id, "creatorDate": c.creator_date}))
                .collect();
            json!({"commits": commits})
        })
        .collect();
    json!({"status": {"discoveredArtifacts": {"git": git}}})
}

/// One project's objects as the figures read them.
#[derive(Clone, Debug, Default)]
pub struct Collected {
    /// [`stage`]s.
    pub stages: Vec<Value>,
    /// [`promotion`]s.
    pub promotions: Vec<PromotionCut>,
    /// [`freight`].
    pub freight: Vec<Value>,
    /// [`analysis_run`]s.
    pub analysis_runs: Vec<Value>,
    /// [`warehouse`]s.
    pub warehouses: Vec<Value>,
}

impl Collected {
    /// From typed objects of one project, its Promotions already cut (by
    /// [`promotion`] or [`promotion_of`]).
    pub fn of<'a>(
        stages: impl IntoIterator<Item = &'a Stage>,
        promotions: impl IntoIterator<Item = PromotionCut>,
        freight_: impl IntoIterator<Item = &'a Freight>,
        analysis_runs: impl IntoIterator<Item = &'a AnalysisRun>,
        warehouses: impl IntoIterator<Item = &'a Warehouse>,
    ) -> Collected {
        let mut c = Collected {
            stages: stages.into_iter().map(stage).collect(),
            promotions: promotions.into_iter().collect(),
            analysis_runs: analysis_runs.into_iter().map(analysis_run).collect(),
            warehouses: warehouses.into_iter().map(warehouse).collect(),
            ..Default::default()
        };
        let promoted = c.promoted_freight();
        c.freight = freight_
            .into_iter()
            .filter(|f| {
                f.metadata
                    .name
                    .as_ref()
                    .is_some_and(|n| promoted.contains(n))
            })
            .map(freight)
            .collect();
        c
    }

    /// The names of the Freight some Promotion names: the only Freight
    /// the figures read (lead time is from a promoted Freight's creation),
    /// so of 10,000 Freight only these are cut.
    pub fn promoted_freight(&self) -> std::collections::HashSet<String> {
        self.promotions.iter().map(|p| p.freight.clone()).collect()
    }

    /// What [`compute`](crate::delivery_stats::compute) takes.
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            stages: &self.stages,
            promotions: &self.promotions,
            freight: &self.freight,
            analysis_runs: &self.analysis_runs,
            warehouses: &self.warehouses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery_stats::compute;

    /// The cut objects give the figures the whole objects give.
    #[test]
    fn cut_objects_give_the_figures_whole_ones_do() {
        let stage: Stage = serde_json::from_value(
            json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": "prod", "namespace": "p"},
            "spec": {"verification": {"analysisTemplates": [{"name": "t"}]}}}),
        )
        .unwrap();
        let freight_: Freight = serde_json::from_value(json!({"metadata": {"name": "f1", "namespace": "p",
            "creationTimestamp": "2026-01-01T00:00:00.5Z"}, "origin": {"kind": "Warehouse", "name": "w"},
            "commits": [{"repoURL": "r", "id": "c1"}]}))
        .unwrap();
        let warehouse_: Warehouse =
            serde_json::from_value(json!({"metadata": {"name": "w", "namespace": "p"},
            "spec": {"subscriptions": []},
            "status": {"discoveredArtifacts": {"git": [{"repoURL": "r", "commits": [
                {"id": "c1", "creatorDate": "2025-12-31T23:00:00Z"}]}]}}}))
            .unwrap();
        let promo = |name: &str, phase: &str, end: &str, rollback: bool| -> Promotion {
            let mut p = json!({"metadata": {"name": name, "namespace": "p"},
                "spec": {"stage": "prod", "freight": "f1"},
                "status": {"phase": phase, "finishedAt": end}});
            if rollback {
                p["metadata"]["annotations"] = json!({ROLLBACK_ANNOTATION: "true"});
            }
            serde_json::from_value(p).unwrap()
        };
        let promotions = [
            promo("a", "Succeeded", "2026-01-01T01:00:00Z", false),
            promo("b", "Succeeded", "2026-01-01T02:00:00Z", false),
            promo("c", "Succeeded", "2026-01-01T04:00:00Z", true),
        ];
        let run: AnalysisRun = serde_json::from_value(json!({"metadata": {"name": "r", "namespace": "p",
            "creationTimestamp": "2026-01-01T04:01:00Z", "annotations": {PROMOTION_ANNOTATION: "c"}},
            "spec": {"metrics": []}, "status": {"phase": "Successful"}}))
        .unwrap();
        let cut = Collected::of(
            [&stage],
            promotions.iter().map(promotion),
            [&freight_],
            [&run],
            [&warehouse_],
        );
        fn whole<T: serde::Serialize>(v: &[&T]) -> Vec<Value> {
            v.iter().map(|o| serde_json::to_value(o).unwrap()).collect()
        }
        let (stages, freights) = (whole(&[&stage]), whole(&[&freight_]));
        let (runs, whs) = (whole(&[&run]), whole(&[&warehouse_]));
        // A Promotion's cut is its own type; the rest are JSON either way.
        let promos: Vec<PromotionCut> = promotions.iter().map(promotion).collect();
        let full = Inputs {
            stages: &stages,
            promotions: &promos,
            freight: &freights,
            analysis_runs: &runs,
            warehouses: &whs,
        };
        let now: jiff::Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let week = std::time::Duration::from_secs(7 * 86_400);
        let figures = compute(cut.inputs(), now, week);
        assert_eq!(figures, compute(full, now, week));
        // b was rolled back (c carries the annotation), restored by c 2 h
        // later; the commit came an hour before the Freight.
        let prod = &figures[0];
        assert_eq!((prod.failures, prod.restored), (1, 1));
        assert_eq!(prod.time_to_restore_seconds, Some(7_200.0));
        // Creation times count in whole seconds, as Kubernetes writes them.
        assert_eq!(prod.lead_time_seconds, Some(7_200.0));
        assert_eq!(prod.commit_lead_time_seconds, Some(10_800.0));
    }
}
