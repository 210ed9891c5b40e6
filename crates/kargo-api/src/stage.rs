//! Stage: a promotion target. Which Freight it requests and from where,
//! how Freight is promoted into it (steps), and how it is verified.

use crate::common::{Condition, ExpressionVariable, FreightOrigin, FreightReference};
use crate::promotion::PromotionStep;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

kargo_object!(
    /// A Stage promotes Freight through the pipeline.
    Stage, StageSpec, StageStatus,
    group = crate::KARGO_GROUP, kind = "Stage", plural = "stages", namespaced = true
);

/// Desired state of a Stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageSpec {
    /// The shard whose controller reconciles this Stage (copied to the
    /// `kargo.akuity.io/shard` label); empty for the default controller.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shard: String,
    /// Variables available to every promotion step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<ExpressionVariable>,
    /// The Freight this Stage accepts: for each origin (a Warehouse), where
    /// the Freight may come from (straight from the Warehouse and/or from
    /// upstream Stages once verified there). At least one.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub requested_freight: Vec<FreightRequest>,
    /// How Freight is promoted into the Stage: the variables and steps every
    /// Promotion to this Stage runs. Absent for control-flow Stages, which
    /// only pass Freight on to the Stages downstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_template: Option<PromotionTemplate>,
    /// How Freight is verified after each Promotion: the AnalysisTemplates
    /// run as one AnalysisRun, with its metadata and arguments. Without it,
    /// Freight counts as verified once the Stage is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// The Targets this Stage governs (stored; not acted on yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<StageTargets>,
}

/// `spec.targets`: label selectors picking the Targets a Stage governs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageTargets {
    /// A Target matching any selector is governed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kargo-required" = true))]
    pub selectors: Vec<LabelSelector>,
}

/// One origin of Freight the Stage requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightRequest {
    /// The Warehouse the Freight must originate from.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub origin: FreightOrigin,
    /// Where the Freight may be taken from.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub sources: FreightSources,
}

/// How upstream availability is judged when several Stages are listed.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum AvailabilityStrategy {
    /// Verified in any one upstream Stage (Kargo's default).
    OneOf,
    /// Verified in every upstream Stage (the default here: see `availability`).
    #[default]
    All,
}

/// `requestedFreight[].sources`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightSources {
    /// Freight may come straight from the Warehouse.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct: bool,
    /// Freight may come from these upstream Stages once verified there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// Minimum time Freight must have spent in an upstream Stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(s|m|h))+$"))]
    pub required_soak_time: Option<String>,
    /// `All` (the default here, as the seed reads a list of upstream Stages) or `OneOf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_strategy: Option<AvailabilityStrategy>,
    /// How auto-promotion picks Freight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_options: Option<AutoPromotionOptions>,
}

/// `sources.autoPromotionOptions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoPromotionOptions {
    /// `NewestFreight` (default) or `MatchUpstream`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("enum" = ["NewestFreight", "MatchUpstream"]))]
    pub selection_policy: String,
}

/// `promotionTemplate`: Kargo writes `promotionTemplate.spec.steps`; the
/// seed writes `promotionTemplate.steps`. Both are accepted and kept as
/// written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionTemplate {
    /// The (partial) Promotion spec each Promotion copies: its variables and
    /// steps. Kargo's form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PromotionTemplateSpec>,
    /// The seed's short form: steps straight under the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<PromotionStep>,
    /// Variables in the short form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<ExpressionVariable>,
}

impl PromotionTemplate {
    /// The effective steps, whichever form was written.
    pub fn effective_steps(&self) -> &[PromotionStep] {
        match &self.spec {
            Some(s) if !s.steps.is_empty() => &s.steps,
            _ => &self.steps,
        }
    }

    /// The effective template variables, whichever form was written.
    pub fn effective_vars(&self) -> Vec<ExpressionVariable> {
        let mut v = self.vars.clone();
        if let Some(s) = &self.spec {
            v.extend(s.vars.iter().cloned());
        }
        v
    }
}

/// `promotionTemplate.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionTemplateSpec {
    /// Template variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<ExpressionVariable>,
    /// Steps.
    #[serde(default)]
    pub steps: Vec<PromotionStep>,
}

/// `verification`: AnalysisTemplates to run after each promotion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Templates to merge into one AnalysisRun.
    #[serde(default)]
    pub analysis_templates: Vec<AnalysisTemplateReference>,
    /// Labels and annotations for the AnalysisRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<AnalysisRunMetadata>,
    /// Arguments for the templates (values may be expressions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
}

/// A reference to an AnalysisTemplate or ClusterAnalysisTemplate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateReference {
    /// Template name.
    pub name: String,
    /// `AnalysisTemplate` (default) or `ClusterAnalysisTemplate`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("enum" = ["AnalysisTemplate", "ClusterAnalysisTemplate"]))]
    pub kind: String,
}

/// Extra metadata for AnalysisRuns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunMetadata {
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A name/value argument for an AnalysisRun.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunArgument {
    /// Argument name.
    pub name: String,
    /// Value (may be an expression).
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub value: String,
}

/// Observed state of a Stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    /// Ready, Reconciling, Healthy, Verified, Promoting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Last refresh token handled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_handled_refresh: String,
    /// Freight collections the Stage has used, newest first (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freight_history: Vec<FreightCollection>,
    /// Short summary of current Freight.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub freight_summary: String,
    /// Health of what the Stage manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Promotion currently running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_promotion: Option<PromotionReference>,
    /// Last Promotion that finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promotion: Option<PromotionReference>,
    /// Generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Whether auto-promotion is on for this Stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_enabled: Option<bool>,
    /// Arbitrary metadata set by promotion steps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Holds on auto-promotion set on this Stage, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auto_promotion_holds: BTreeMap<String, AutoPromotionHold>,
    /// Holds in force, including ones inherited from elsewhere.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub effective_auto_promotion_holds: BTreeMap<String, AutoPromotionHold>,
    /// PromotionRequest in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_promotion_request: Option<PromotionRequestReference>,
    /// Last PromotionRequest that finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promotion_request: Option<PromotionRequestReference>,
    /// Whether a promotion window is open now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_window_status: Option<PromotionWindowStatus>,
}

/// A hold on auto-promotion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoPromotionHold {
    /// Who set it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub created_at: Option<String>,
    /// Freight it concerns.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub freight_name: String,
    /// Origin it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<FreightOrigin>,
    /// Promotion that caused it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub promotion_name: String,
}

/// A reference to a PromotionRequest from a Stage's status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRequestReference {
    /// Name.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub name: String,
    /// Phase.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// The Freight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight: Option<crate::common::LocalRef>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
}

/// `status.promotionWindowStatus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionWindowStatus {
    /// True while promotions are held back by a window.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub closed: bool,
    /// Why.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// When the next window opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub next_open: Option<String>,
    /// When the current window closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub next_close: Option<String>,
    /// Why it will close.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next_close_reason: String,
}

/// The Freight a Stage used together, one per origin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightCollection {
    /// Collection ID.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub id: String,
    /// Freight by origin key (`Warehouse/name`). Boxed: a map node has
    /// room for eleven entries, and a collection (ten in each Stage's
    /// history, one in each Promotion) mostly holds one, so unboxed
    /// references would make each collection cost about 2 kB more.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, Box<FreightReference>>,
    /// Verification attempts, newest first (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verification_history: Vec<VerificationInfo>,
}

/// One verification attempt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationInfo {
    /// Attempt ID.
    #[serde(default)]
    pub id: String,
    /// Who asked for it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub start_time: Option<String>,
    /// Phase of the AnalysisRun.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// Message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The AnalysisRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_run: Option<AnalysisRunReference>,
    /// Finish time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub finish_time: Option<String>,
}

/// A reference to an AnalysisRun.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunReference {
    /// Name.
    pub name: String,
    /// Namespace.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub namespace: String,
    /// Phase.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
}

/// Health of a Stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `Healthy`, `Unhealthy`, `Progressing`, `Unknown`.
    #[serde(default)]
    pub status: String,
    /// Problems found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<String>,
    /// Health check configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// Raw health output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
}

/// A reference to a Promotion from a Stage's status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionReference {
    /// Promotion name.
    pub name: String,
    /// Freight it promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight: Option<FreightReference>,
    /// Its final status, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::promotion::PromotionStatus>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
}
