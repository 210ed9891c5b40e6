//! What the watch caches keep of an object. Every kind drops
//! `managedFields` (field ownership, which only the API server reads). A
//! finished Promotion also drops what only running it needs: its copy of
//! the steps and variables, its step records and Freight collection, and
//! its step state except the Argo CD outputs the Stage's `argocd-context`
//! annotation is built from. A Stage keeps up to the garbage collector's
//! limit of finished Promotions (20 by default), read from the cache only
//! for their phase, Freight, times, message, health checks and
//! annotations, so at 1,000 Stages the rest would be most of the cache.
//! (The Stage controller reads a newly finished Promotion whole, once,
//! for the Stage's `lastPromotion`.)

use kargo_api::{AnalysisRun, Application, Freight, ProjectConfig, Promotion, Stage, Warehouse};

/// What a watch cache keeps of an object of this kind.
pub trait Trim: kube::Resource {
    /// Drops what no controller reads from the cache: by default
    /// `metadata.managedFields`.
    fn trim(&mut self) {
        self.meta_mut().managed_fields = None;
    }
}

impl Trim for Stage {}
impl Trim for Freight {}
impl Trim for AnalysisRun {}
impl Trim for ProjectConfig {}
impl Trim for Warehouse {}
impl Trim for Application {}

impl Trim for Promotion {
    fn trim(&mut self) {
        promotion(self);
    }
}

/// Drops a finished Promotion's steps, variables, step records, Freight
/// collection and step state (but the Argo CD outputs), and its
/// `managedFields`; a Promotion not yet finished is kept whole, as
/// running it reads all of it.
fn promotion(p: &mut Promotion) {
    p.metadata.managed_fields = None;
    let Some(st) = p.status.as_mut() else {
        return;
    };
    if !st.phase.unwrap_or_default().is_terminal() {
        return;
    }
    p.spec.steps = Vec::new();
    p.spec.vars = Vec::new();
    st.step_execution_metadata = Vec::new();
    st.freight_collection = None;
    st.current_step = None;
    st.last_handled_refresh = String::new();
    st.state = st
        .state
        .as_ref()
        .and_then(crate::argocd_context::kept_state);
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
    fn a_finished_promotion_keeps_what_its_stage_reads() {
        for phase in ["Succeeded", "Failed", "Errored", "Aborted"] {
            let whole = promotion_in(phase);
            let mut p = whole.clone();
            p.trim();
            assert!(p.metadata.managed_fields.is_none());
            assert!(p.spec.steps.is_empty() && p.spec.vars.is_empty());
            let (st, was) = (p.status.as_ref().unwrap(), whole.status.as_ref().unwrap());
            assert_eq!(st.phase, was.phase);
            assert_eq!(st.message, was.message);
            assert_eq!(st.finished_at, was.finished_at);
            assert_eq!(st.freight, was.freight);
            assert_eq!(st.health_checks, was.health_checks);
            assert!(st.step_execution_metadata.is_empty() && st.freight_collection.is_none());
            assert_eq!(
                st.state,
                Some(json!({"steps": [{"uses": "argocd-update", "as": "sync"}],
                    "outputs": {"sync": {"apps": [{"name": "a", "namespace": "argocd"}]}}}))
            );
            assert_eq!(
                crate::argocd_context::value(Some(&p)),
                crate::argocd_context::value(Some(&whole))
            );
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
            assert!(p.metadata.managed_fields.is_none());
            assert_eq!(p.spec.steps.len(), 2);
            assert_eq!(p.spec.vars.len(), 1);
            assert_eq!(p.status, whole.status);
        }
    }
}
