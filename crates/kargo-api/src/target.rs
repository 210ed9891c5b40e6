//! Target and PromotionRequest: a Target is one destination (a cluster,
//! for instance) that Stages promote to, holding target-specific values
//! for their steps; a PromotionRequest asks a Stage to promote one piece
//! of Freight to a set of Targets. Both are stored as Kargo defines them;
//! no controller here acts on them yet.

use crate::common::Condition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

kargo_object!(
    /// A single destination that Stages promote Freight to.
    Target, TargetSpec, serde_json::Map<String, serde_json::Value>,
    group = crate::KARGO_GROUP, kind = "Target", plural = "targets", namespaced = true
);

kargo_object!(
    /// The intent to promote one piece of Freight to a set of Targets.
    PromotionRequest, PromotionRequestSpec, PromotionRequestStatus,
    group = crate::KARGO_GROUP, kind = "PromotionRequest", plural = "promotionrequests", namespaced = true
);

/// Desired state of a Target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetSpec {
    /// Arbitrary target-specific values (any JSON) that promotion steps
    /// reference as `target.params.<key>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// Desired state of a PromotionRequest; fixed for its lifetime.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRequestSpec {
    /// The Stage that promotes the Freight.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"), extend("x-kargo-required" = true))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf"}]))]
    pub stage: String,
    /// The Freight promoted.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"), extend("x-kargo-required" = true))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf"}]))]
    pub freight: String,
    /// The Targets promoted to. Empty means the Stage governed none when
    /// the request was made; absent asks for them to be resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kargo-required" = true))]
    pub targets: Option<Vec<PromotionRequestTarget>>,
}

/// A Target named by a PromotionRequest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRequestTarget {
    /// Target name.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
}

/// Observed state of a PromotionRequest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRequestStatus {
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Aggregate phase.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// When work started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,
    /// When it reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
    /// Counts of child Promotions by phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PromotionRequestSummary>,
    /// Progress per Target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<PromotionRequestTargetStatus>,
}

/// Child Promotions by phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRequestSummary {
    /// Pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<i32>,
    /// Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<i32>,
    /// Succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i32>,
    /// Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Errored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errored: Option<i32>,
    /// Aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<i32>,
}

/// The state of one Target of a PromotionRequest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRequestTargetStatus {
    /// Target name.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Phase of the child Promotion.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// The child Promotion.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub promotion: String,
}

/// Validates a Target (typed decode: `params` holds any JSON).
pub fn validate_target(v: &serde_json::Value) -> crate::validate::Outcome {
    let mut out = crate::validate::Outcome::default();
    crate::validate::decode::<Target>(v, &mut out);
    out
}

/// Validates a PromotionRequest: Stage and Freight named, Target names
/// valid and unique (as Kargo's webhook checks).
pub fn validate_promotion_request(v: &serde_json::Value) -> crate::validate::Outcome {
    use crate::validate::{FieldError, is_dns1123_subdomain};
    let mut out = crate::validate::Outcome::default();
    let Some(r) = crate::validate::decode::<PromotionRequest>(v, &mut out) else {
        return out;
    };
    let mut err = |path: String, message: String| out.errors.push(FieldError { path, message });
    for (field, value) in [("stage", &r.spec.stage), ("freight", &r.spec.freight)] {
        if !is_dns1123_subdomain(value) {
            err(
                format!("spec.{field}"),
                format!("required: a {field} name (lowercase RFC 1123 subdomain); got {value:?}"),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in r.spec.targets.iter().flatten().enumerate() {
        if !is_dns1123_subdomain(&t.name) {
            err(
                format!("spec.targets[{i}].name"),
                format!("invalid Target name {:?}", t.name),
            );
        } else if !seen.insert(t.name.as_str()) {
            err(
                format!("spec.targets[{i}].name"),
                format!("Target {:?} is listed more than once", t.name),
            );
        }
    }
    out
}
