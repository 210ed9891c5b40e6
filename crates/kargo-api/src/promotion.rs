//! Promotion, PromotionTask and ClusterPromotionTask: a request to move
//! Freight into a Stage, the steps that do it, and reusable step lists.

use crate::common::{ExpressionVariable, FreightOrigin, FreightReference};
use crate::stage::FreightCollection;
use serde::{Deserialize, Serialize};

kargo_object!(
    /// A request to promote one piece of Freight into one Stage.
    Promotion, PromotionSpec, PromotionStatus,
    group = crate::KARGO_GROUP, kind = "Promotion", plural = "promotions", namespaced = true
);

kargo_object!(
    /// A reusable list of steps within a project.
    PromotionTask, PromotionTaskSpec, serde_json::Value,
    group = crate::KARGO_GROUP, kind = "PromotionTask", plural = "promotiontasks", namespaced = true
);

kargo_object!(
    /// A reusable list of steps for every project.
    ClusterPromotionTask, PromotionTaskSpec, serde_json::Value,
    group = crate::KARGO_GROUP, kind = "ClusterPromotionTask", plural = "clusterpromotiontasks", namespaced = false
);

/// Desired state of a Promotion. Immutable once created.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"message": "exactly one of freight or origin must be set", "rule": "has(self.freight) != has(self.origin)"}]))]
pub struct PromotionSpec {
    /// Target Stage.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"), extend("x-kargo-required" = true))]
    pub stage: String,
    /// Freight name (ID) to promote.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub freight: String,
    /// Alternatively: promote the newest Freight from this origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<FreightOrigin>,
    /// Variables for the steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<ExpressionVariable>,
    /// Steps, copied from the Stage's template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<PromotionStep>,
    /// The Target promoted to, when the Promotion belongs to a PromotionRequest.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        length(max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub target: String,
}

/// One promotion step: `uses` a built-in step or runs a `task`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStep {
    /// Name of the built-in step, e.g. `git-clone`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1))]
    pub uses: String,
    /// A PromotionTask or ClusterPromotionTask to expand here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<PromotionTaskReference>,
    /// Alias by which later steps refer to this step's outputs.
    #[serde(rename = "as", default, skip_serializing_if = "String::is_empty")]
    pub as_: String,
    /// Expression deciding whether the step runs.
    #[serde(rename = "if", default, skip_serializing_if = "String::is_empty")]
    pub if_: String,
    /// Keep going when this step fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_error: bool,
    /// Retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<PromotionStepRetry>,
    /// Step variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<ExpressionVariable>,
    /// Step configuration; its shape depends on `uses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

/// A reference to a (Cluster)PromotionTask.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionTaskReference {
    /// Task name.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// `PromotionTask` (default) or `ClusterPromotionTask`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("enum" = ["PromotionTask", "ClusterPromotionTask"]))]
    pub kind: String,
}

/// `retry`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStepRetry {
    /// Give up after this long (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Consecutive errors tolerated before failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_threshold: Option<u32>,
}

/// Spec of a (Cluster)PromotionTask.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionTaskSpec {
    /// Task inputs with defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<ExpressionVariable>,
    /// Steps.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub steps: Vec<PromotionStep>,
}

/// Phases of a Promotion.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum PromotionPhase {
    /// Waiting to run.
    #[default]
    Pending,
    /// Running.
    Running,
    /// Done, all steps succeeded.
    Succeeded,
    /// A step failed.
    Failed,
    /// An unexpected error ended it.
    Errored,
    /// A user aborted it.
    Aborted,
}

impl PromotionPhase {
    /// True once the Promotion can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Errored | Self::Aborted
        )
    }
}

/// Observed state of a Promotion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    /// Last refresh token handled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_handled_refresh: String,
    /// Phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PromotionPhase>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The Freight being promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight: Option<FreightReference>,
    /// The Stage's Freight collection after the promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight_collection: Option<FreightCollection>,
    /// Health checks steps asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheckStep>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
    /// Index of the step being executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<i64>,
    /// Per-step execution details.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_execution_metadata: Vec<StepExecutionMetadata>,
    /// Step outputs and shared state, persisted step by step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
}

impl PromotionStatus {
    /// The index of the step running now: the one saved as `Running`, or,
    /// of a Running Promotion, the step at `currentStep` before anything
    /// of it is saved (the runner saves a fresh run's first step only when
    /// it ends).
    pub fn running_step(&self) -> Option<usize> {
        let meta = &self.step_execution_metadata;
        if let Some(i) = meta.iter().position(|m| m.status == "Running") {
            return Some(i);
        }
        let current = usize::try_from(self.current_step.unwrap_or(0)).ok()?;
        (self.phase == Some(PromotionPhase::Running) && current >= meta.len()).then_some(current)
    }
}

/// Per-step status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepExecutionMetadata {
    /// Step alias.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,
    /// Finish time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
    /// Consecutive errors so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_count: Option<u32>,
    /// `Succeeded`, `Failed`, `Errored`, `Skipped`, `Aborted`, `Running`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Whether the step was allowed to fail.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_error: bool,
}

/// A health check a promotion step asked for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckStep {
    /// The health checker.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub uses: String,
    /// Its configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(v: serde_json::Value) -> PromotionStatus {
        serde_json::from_value(v).expect("status")
    }

    #[test]
    fn the_running_step_is_the_saved_one_or_the_unsaved_current_one() {
        let saved = status(serde_json::json!({"phase": "Running", "currentStep": 1,
            "stepExecutionMetadata": [{"status": "Succeeded"}, {"status": "Running"}]}));
        assert_eq!(saved.running_step(), Some(1));
        // A fresh run's first step, not saved yet.
        let unsaved = status(serde_json::json!({"phase": "Running", "currentStep": 0}));
        assert_eq!(unsaved.running_step(), Some(0));
        // Nothing runs in a Promotion that is not Running.
        let pending = status(serde_json::json!({}));
        assert_eq!(pending.running_step(), None);
        let done = status(serde_json::json!({"phase": "Succeeded", "currentStep": 1,
            "stepExecutionMetadata": [{"status": "Succeeded"}]}));
        assert_eq!(done.running_step(), None);
    }
}
