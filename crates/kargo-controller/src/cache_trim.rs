//! What the watch caches keep of an object. Every kind drops
//! `managedFields` (field ownership, which only the API server reads). A
//! finished Promotion is not kept at all: a Stage keeps up to the garbage
//! collector's limit of them (20 by default), so at 1,000 Stages they
//! would be most of the cache, and what controllers read of them (phase,
//! Freight, times, hold and rollback annotations) is in the index's
//! [`PromotionSummary`](crate::index::PromotionSummary). The Stage
//! controller reads a newly finished Promotion whole, once, through the
//! API, for the Stage's `lastPromotion`.

use kargo_api::{AnalysisRun, Application, Freight, ProjectConfig, Promotion, Stage, Warehouse};

/// What a watch cache keeps of an object of this kind.
pub trait Trim: kube::Resource {
    /// Drops what no controller reads from the cache: by default
    /// `metadata.managedFields`.
    fn trim(&mut self) {
        self.meta_mut().managed_fields = None;
    }

    /// Whether the cache keeps this object at all (by default, yes).
    fn cached(&self) -> bool {
        true
    }
}

impl Trim for Stage {}
impl Trim for Freight {}
impl Trim for AnalysisRun {}
impl Trim for ProjectConfig {}
impl Trim for Warehouse {}
impl Trim for Application {}

impl Trim for Promotion {
    /// Only a Promotion not yet finished: running it reads all of it.
    fn cached(&self) -> bool {
        !self
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or_default()
            .is_terminal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn promotion_in(phase: &str) -> Promotion {
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
            "metadata": {"name": "p", "namespace": "ns",
                "managedFields": [{"manager": "kargo", "operation": "Update"}]},
            "spec": {"stage": "dev", "freight": "f",
                "vars": [{"name": "v", "value": "x"}],
                "steps": [{"uses": "git-clone", "config": {"repoURL": "https://example.com/r.git"}},
                          {"uses": "argocd-update", "as": "sync"}]},
            "status": {"phase": phase, "message": "m", "finishedAt": "2026-11-30T00:00:00Z",
                "freight": {"name": "f", "origin": {"kind": "Warehouse", "name": "w"}},
                "freightCollection": {"id": "c", "items": {"Warehouse/w": {"name": "f", "origin": {"kind": "Warehouse", "name": "w"}}}},
                "currentStep": 1,
                "healthChecks": [{"uses": "argocd-update", "config": {"apps": [{"name": "a"}]}}],
                "stepExecutionMetadata": [{"alias": "sync", "status": "Succeeded"}],
                "state": {"steps": [{"uses": "git-clone", "as": "step-0"}, {"uses": "argocd-update", "as": "sync"}],
                          "outputs": {"step-0": {"commit": "c"}, "sync": {"apps": [{"name": "a", "namespace": "argocd"}]}},
                          "shared": {"git": {"checkouts": {}}}}},
        }))
        .unwrap()
    }

    #[test]
    fn a_finished_promotion_is_not_cached() {
        for phase in ["Succeeded", "Failed", "Errored", "Aborted"] {
            assert!(!promotion_in(phase).cached(), "{phase}");
        }
    }

    #[test]
    fn no_cached_kind_keeps_managed_fields() {
        let mut stage: Stage = serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": "dev", "namespace": "ns",
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "spec": {"requestedFreight": []},
        }))
        .unwrap();
        let whole = stage.clone();
        stage.trim();
        assert!(stage.metadata.managed_fields.is_none());
        assert_eq!(stage.spec, whole.spec);
    }

    #[test]
    fn a_promotion_not_yet_finished_is_kept_whole() {
        for phase in ["Pending", "Running"] {
            let whole = promotion_in(phase);
            let mut p = whole.clone();
            p.trim();
            assert!(p.cached(), "{phase}");
            assert!(p.metadata.managed_fields.is_none());
            assert_eq!(p.spec.steps.len(), 2);
            assert_eq!(p.spec.vars.len(), 1);
            assert_eq!(p.status, whole.status);
        }
    }
}
