//! Project, ProjectConfig and ClusterConfig: a Project is a namespace
//! managed by Kargo; ProjectConfig holds its promotion policies, promotion
//! windows, deep links and webhook receivers; ClusterConfig holds the
//! cluster-wide ones and the git client identity.

use crate::common::{Condition, LocalRef};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Deprecated: use ProjectConfig.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotion_policies: Vec<PromotionPolicy>,
}

/// Observed state of a Project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    /// Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Counts of Warehouses and Stages by health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ProjectStats>,
}

/// `status.stats` of a Project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStats {
    /// Warehouses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouses: Option<KindStats>,
    /// Stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<KindStats>,
}

/// How many objects of a kind a Project has, and how many are healthy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KindStats {
    /// Total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// By health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStats>,
}

/// Counts by health.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthStats {
    /// Healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<i64>,
}

/// `spec` of a ProjectConfig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectConfigSpec {
    /// Which Stages auto-promote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotion_policies: Vec<PromotionPolicy>,
    /// Inbound webhook receivers that refresh Warehouses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_receivers: Vec<WebhookReceiverConfig>,
    /// Links shown with each piece of Freight in a UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freight_links: Vec<DeepLink>,
    /// Links shown with each Stage in a UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_links: Vec<DeepLink>,
    /// When promotions may (Allow) or may not (Deny) run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub promotion_windows: Vec<PromotionWindow>,
    /// How long Freight may be available to a Stage of this project
    /// without being promoted there before a `FreightWaiting` Event is
    /// recorded about it (a Go duration such as `24h`; unset: never).
    /// Added here: not in Kargo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight_waiting_threshold: Option<String>,
}

/// `spec` of a ClusterConfig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfigSpec {
    /// Inbound webhook receivers that refresh Warehouses in every project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_receivers: Vec<WebhookReceiverConfig>,
    /// Identity of the git client for commits made by promotion steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_client: Option<GitClientConfig>,
    /// Links shown with each piece of Freight in a UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freight_links: Vec<DeepLink>,
    /// Links shown with each Stage in a UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_links: Vec<DeepLink>,
    /// Promotion windows for every project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub promotion_windows: Vec<PromotionWindow>,
}

/// `spec.gitClient` of the ClusterConfig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitClientConfig {
    /// Committer name.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub name: String,
    /// Committer email.
    #[serde(default)]
    #[schemars(length(min = 1), extend("format" = "email"), extend("x-kargo-required" = true))]
    pub email: String,
    /// Secret holding a signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_secret: Option<LocalRef>,
}

/// A link template (`freightLinks`, `stageLinks`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeepLink {
    /// Link text.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub title: String,
    /// URL (may be an expression).
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub url: String,
    /// Tooltip.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Expression deciding whether the link is shown.
    #[serde(rename = "if", default, skip_serializing_if = "String::is_empty")]
    pub if_: String,
}

/// Whether a promotion window allows or denies promotions.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum PromotionWindowKind {
    /// Promotions may run only inside the window.
    #[default]
    Allow,
    /// Promotions may not run inside the window.
    Deny,
}

/// A recurring window (iCalendar RRULE) in which promotions are allowed or denied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionWindow {
    /// Window name.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"), extend("x-kargo-required" = true))]
    pub name: String,
    /// Stages it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_selector: Option<StageSelector>,
    /// Projects it applies to (ClusterConfig).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_selector: Option<StageSelector>,
    /// `Allow` or `Deny`.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub kind: PromotionWindowKind,
    /// iCalendar recurrence rule.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rrule: String,
    /// Start of the first occurrence.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dtstart: String,
    /// End of the first occurrence.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dtend: String,
}

/// Status of ProjectConfig and ClusterConfig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"message": "PromotionPolicy must have exactly one of stage or stageSelector set", "rule": "has(self.stage) ? !has(self.stageSelector) : has(self.stageSelector)"}]))]
pub struct PromotionPolicy {
    /// Stage name (deprecated form).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(
        pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ))]
    pub stage: String,
    /// Stage selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_selector: Option<StageSelector>,
    /// Promote new Freight automatically.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_promotion_enabled: bool,
    /// Promote the previous Freight again when a promotion or verification ends in these phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<AutoRollback>,
}

/// `promotionPolicies[].autoRollback`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoRollback {
    /// Promotion phases that trigger a rollback (e.g. `Failed`, `Errored`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2))]
    #[schemars(extend("x-kubernetes-list-type" = "set", "x-kubernetes-validations" = [
        {"message": "onPromotion[0] must be Failed or Errored", "rule": "self.size() == 0 || self[0] == 'Failed' || self[0] == 'Errored'"},
        {"message": "onPromotion[1] must be Failed or Errored", "rule": "self.size() <= 1 || self[1] == 'Failed' || self[1] == 'Errored'"}
    ]))]
    pub on_promotion: Vec<String>,
    /// Verification phases that trigger a rollback (e.g. `Failed`, `Error`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2))]
    #[schemars(extend("x-kubernetes-list-type" = "set", "x-kubernetes-validations" = [
        {"message": "onVerification[0] must be Failed or Error", "rule": "self.size() == 0 || self[0] == 'Failed' || self[0] == 'Error'"},
        {"message": "onVerification[1] must be Failed or Error", "rule": "self.size() <= 1 || self[1] == 'Failed' || self[1] == 'Error'"}
    ]))]
    pub on_verification: Vec<String>,
}

/// Selects Stages by name (exact, `glob:`, `regex:`) or labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One webhook receiver: a name and one provider block naming a Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReceiverConfig {
    /// Receiver name.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Bitbucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket: Option<SecretRefReceiver>,
    /// Docker Hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerhub: Option<SecretRefReceiver>,
    /// GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<SecretRefReceiver>,
    /// GitLab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<SecretRefReceiver>,
    /// Harbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harbor: Option<SecretRefReceiver>,
    /// Quay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quay: Option<SecretRefReceiver>,
    /// Artifactory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifactory: Option<ArtifactoryReceiver>,
    /// Azure (Container Registry and DevOps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<SecretRefReceiver>,
    /// Gitea.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitea: Option<SecretRefReceiver>,
    /// Any sender, with actions chosen by expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<GenericReceiver>,
}

impl WebhookReceiverConfig {
    /// The provider blocks that are set, by provider name, as JSON.
    pub fn providers(&self) -> Vec<(&'static str, serde_json::Value)> {
        fn js<T: Serialize>(v: &Option<T>) -> Option<serde_json::Value> {
            v.as_ref().and_then(|v| serde_json::to_value(v).ok())
        }
        [
            ("bitbucket", js(&self.bitbucket)),
            ("dockerhub", js(&self.dockerhub)),
            ("github", js(&self.github)),
            ("gitlab", js(&self.gitlab)),
            ("harbor", js(&self.harbor)),
            ("quay", js(&self.quay)),
            ("artifactory", js(&self.artifactory)),
            ("azure", js(&self.azure)),
            ("gitea", js(&self.gitea)),
            ("generic", js(&self.generic)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }

    /// One provider's block as JSON, when set.
    pub fn provider(&self, name: &str) -> Option<serde_json::Value> {
        self.providers()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// A provider block that names only the Secret holding its token.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRefReceiver {
    /// The Secret.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub secret_ref: LocalRef,
}

/// `artifactory`: the Secret and, optionally, the virtual repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactoryReceiver {
    /// The Secret.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub secret_ref: LocalRef,
    /// Virtual repository the pushes arrive through.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub virtual_repo_name: String,
}

/// `generic`: the Secret and the actions to take.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenericReceiver {
    /// The Secret.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub secret_ref: LocalRef,
    /// Actions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub actions: Vec<GenericWebhookAction>,
}

/// One action of a generic receiver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenericWebhookAction {
    /// The action (`Refresh`).
    #[serde(default)]
    #[schemars(extend("enum" = ["Refresh"]), extend("x-kargo-required" = true))]
    pub action: String,
    /// Expression deciding whether the action runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub when_expression: String,
    /// Parameters (values may be expressions).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Which objects the action applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub target_selection_criteria: Vec<GenericWebhookTarget>,
}

/// Objects a generic action applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenericWebhookTarget {
    /// Kind (`Warehouse`).
    #[serde(default)]
    #[schemars(extend("enum" = ["Warehouse"]), extend("x-kargo-required" = true))]
    pub kind: String,
    /// Name (may be an expression).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Index selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_selector: Option<IndexSelector>,
}

/// Selects objects by Kargo's indices (`subscribedURLs`, `receiverPaths`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexSelector {
    /// Requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub match_indices: Vec<IndexSelectorRequirement>,
}

/// One index requirement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexSelectorRequirement {
    /// Index name.
    #[serde(default)]
    #[schemars(extend("enum" = ["subscribedURLs", "receiverPaths"]), extend("x-kargo-required" = true))]
    pub key: String,
    /// `Equal` or `NotEqual`.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub operator: String,
    /// Value (may be an expression).
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub value: String,
}
