//! Project, ProjectConfig and ClusterConfig: a Project is a namespace
//! managed by Kargo; ProjectConfig holds its promotion policies and
//! webhook receivers; ClusterConfig holds cluster-wide settings.

use crate::common::Condition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

kargo_object!(
    /// A Kargo project: owns a namespace of the same name.
    Project, ProjectSpec, ProjectStatus,
    group = crate::KARGO_GROUP, kind = "Project", plural = "projects", namespaced = false
);

kargo_object!(
    /// Per-project settings; its name must equal the project's.
    ProjectConfig, ProjectConfigSpec, ConfigStatus,
    group = crate::KARGO_GROUP, kind = "ProjectConfig", plural = "projectconfigs", namespaced = true
);

kargo_object!(
    /// Cluster-wide settings; a singleton named `cluster`.
    ClusterConfig, ClusterConfigSpec, ConfigStatus,
    group = crate::KARGO_GROUP, kind = "ClusterConfig", plural = "clusterconfigs", namespaced = false
);

/// Deprecated Project spec (policies moved to ProjectConfig).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Deprecated: use ProjectConfig.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotion_policies: Vec<PromotionPolicy>,
}

/// Observed state of a Project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    /// Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Counts of Warehouses and Stages by health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Value>,
}

/// `spec` of a ProjectConfig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectConfigSpec {
    /// Which Stages auto-promote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotion_policies: Vec<PromotionPolicy>,
    /// Inbound webhook receivers that refresh Warehouses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_receivers: Vec<WebhookReceiverConfig>,
}

/// `spec` of a ClusterConfig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfigSpec {
    /// Inbound webhook receivers that refresh Warehouses in every project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_receivers: Vec<WebhookReceiverConfig>,
}

/// Status of ProjectConfig and ClusterConfig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Last refresh token handled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_handled_refresh: String,
    /// Receivers with their generated URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_receivers: Vec<serde_json::Value>,
}

/// Auto-promotion policy for one Stage (by name or selector).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionPolicy {
    /// Stage name (deprecated form).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stage: String,
    /// Stage selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_selector: Option<StageSelector>,
    /// Promote new Freight automatically.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_promotion_enabled: bool,
}

/// Selects Stages by name (exact, `glob:`, `regex:`) or labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageSelector {
    /// Name pattern.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Label equality requirements.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Label expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<serde_json::Value>,
}

/// One webhook receiver: a name and one provider block naming a Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReceiverConfig {
    /// Receiver name.
    pub name: String,
    /// Provider blocks (`github`, `gitlab`, `quay`, `dockerhub`, `artifactory`, `azure`, `bitbucket`, `gitea`, `generic`).
    #[serde(flatten)]
    pub providers: BTreeMap<String, serde_json::Value>,
}
