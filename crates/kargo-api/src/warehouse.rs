//! Warehouse: subscriptions to git repos, container images and Helm charts,
//! from which Freight is produced.

use crate::common::{Condition, GitCommit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

kargo_object!(
    /// A Warehouse watches artifact sources and produces Freight.
    Warehouse, WarehouseSpec, WarehouseStatus,
    group = crate::KARGO_GROUP, kind = "Warehouse", plural = "warehouses", namespaced = true
);

/// How a Warehouse turns discovered artifacts into Freight.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum FreightCreationPolicy {
    /// Create Freight for every new combination of artifacts.
    #[default]
    Automatic,
    /// Only discover; Freight is created by hand.
    Manual,
}

/// Desired state of a Warehouse.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseSpec {
    /// The shard whose controller reconciles this Warehouse (copied to the
    /// `kargo.akuity.io/shard` label); empty for the default controller.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shard: String,
    /// How often to look for new artifacts, as a Go duration (`5m0s` by
    /// default). Webhook receivers and `kargo refresh` trigger discovery
    /// sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(s|m|h))+$"), extend("default" = "5m0s"), extend("x-kargo-required" = true))]
    pub interval: Option<String>,
    /// `Automatic` (the default): new Freight is created as soon as new
    /// artifacts are discovered; `Manual`: artifacts are only discovered, and
    /// Freight is created by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Automatic"))]
    pub freight_creation_policy: Option<FreightCreationPolicy>,
    /// The artifact sources this Warehouse watches; at least one. Each entry
    /// subscribes to exactly one of a git repository, a container image
    /// repository or a Helm chart; every new combination of what they find
    /// becomes a piece of Freight.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub subscriptions: Vec<RepoSubscription>,
    /// Extra condition Freight must meet to be created automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight_creation_criteria: Option<FreightCreationCriteria>,
}

/// `freightCreationCriteria`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightCreationCriteria {
    /// Expression that must evaluate to true.
    #[serde(default)]
    pub expression: String,
}

/// One subscription: exactly one of `git`, `image`, `chart`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepoSubscription {
    /// Optional name (a DNS-1123 label, unique in the Warehouse); recorded
    /// on what the subscription discovers and part of the Freight ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSubscription>,
    /// A container image repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSubscription>,
    /// A Helm chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartSubscription>,
    /// A generic subscription (Kargo's extension point; no subscriber here yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<GenericSubscription>,
}

/// `subscriptions[].subscription`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenericSubscription {
    /// The kind of subscription.
    #[serde(default)]
    pub subscription_type: String,
    /// Opaque configuration for its subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// Max artifacts to discover (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_limit: Option<i64>,
}

/// How to choose commits from a git repository.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum CommitSelectionStrategy {
    /// Newest commit on a branch.
    #[default]
    NewestFromBranch,
    /// Tag with the greatest semantic version.
    SemVer,
    /// Lexically greatest tag.
    Lexical,
    /// Most recently created tag.
    NewestTag,
}

/// Subscription to a git repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSubscription {
    /// Repository URL.
    #[serde(rename = "repoURL", default)]
    pub repo_url: String,
    /// Selection strategy (default `NewestFromBranch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_selection_strategy: Option<CommitSelectionStrategy>,
    /// Branch for `NewestFromBranch`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    /// Only accept strict semantic versions (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_semvers: Option<bool>,
    /// Masterminds semver constraint for `SemVer`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub semver_constraint: String,
    /// Expression filtering commits or tags.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expression_filter: String,
    /// Deprecated single regex of tags to allow.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub allow_tags: String,
    /// Regexes of tags to allow (`allowTagsRegex` is accepted too).
    #[serde(
        default,
        alias = "allowTagsRegex",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow_tags_regexes: Vec<String>,
    /// Deprecated list of tags to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_tags: Vec<String>,
    /// Regexes of tags to ignore (`ignoreTagsRegex` is accepted too).
    #[serde(
        default,
        alias = "ignoreTagsRegex",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignore_tags_regexes: Vec<String>,
    /// Only commits touching these paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_paths: Vec<String>,
    /// Ignore commits touching only these paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_paths: Vec<String>,
    /// Max commits/tags to discover (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_limit: Option<i64>,
    /// Skip TLS verification.
    #[serde(
        rename = "insecureSkipTLSVerify",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_tls_verify: Option<bool>,
    /// Only consider commits/tags newer than this (RFC 3339 or expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Clone without blobs (stored; discovery here always uses a bare mirror).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobless: Option<bool>,
}

/// How to choose image tags.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ImageSelectionStrategy {
    /// Greatest semantic version.
    #[default]
    SemVer,
    /// Lexically greatest tag.
    Lexical,
    /// Most recently built.
    NewestBuild,
    /// Track the digest of a mutable tag.
    Digest,
}

/// Subscription to a container image repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSubscription {
    /// Image repository.
    #[serde(rename = "repoURL", default)]
    pub repo_url: String,
    /// Selection strategy (default `SemVer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_selection_strategy: Option<ImageSelectionStrategy>,
    /// Only accept strict semantic versions (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_semvers: Option<bool>,
    /// Semver constraint (SemVer) or the mutable tag (Digest).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub constraint: String,
    /// Deprecated name of `constraint` for SemVer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub semver_constraint: String,
    /// Deprecated single regex of tags to allow.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub allow_tags: String,
    /// Regexes of tags to allow (`allowTagsRegex` is accepted too).
    #[serde(
        default,
        alias = "allowTagsRegex",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow_tags_regexes: Vec<String>,
    /// Deprecated list of tags to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_tags: Vec<String>,
    /// Regexes of tags to ignore (`ignoreTagsRegex` is accepted too).
    #[serde(
        default,
        alias = "ignoreTagsRegex",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignore_tags_regexes: Vec<String>,
    /// `os/arch[/variant]` to pick from a manifest list.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// Skip TLS verification.
    #[serde(
        rename = "insecureSkipTLSVerify",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_tls_verify: Option<bool>,
    /// Max tags to discover (default 20, max 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_limit: Option<i64>,
    /// Cache image metadata by tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_by_tag: Option<bool>,
    /// Deprecated: git repository the image is built from.
    #[serde(
        rename = "gitRepoURL",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub git_repo_url: String,
}

/// Subscription to a Helm chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartSubscription {
    /// Repository URL (HTTP(S) or `oci://`).
    #[serde(rename = "repoURL", default)]
    pub repo_url: String,
    /// Chart name (classic repositories only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Masterminds semver constraint.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub semver_constraint: String,
    /// Max versions to discover (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_limit: Option<i64>,
    /// Skip TLS verification.
    #[serde(
        rename = "insecureSkipTLSVerify",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_tls_verify: Option<bool>,
}

/// Observed state of a Warehouse.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseStatus {
    /// Ready, Reconciling, Healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Last refresh token handled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_handled_refresh: String,
    /// Generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ID of the last Freight produced.
    #[serde(
        rename = "lastFreightID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub last_freight_id: String,
    /// What the last discovery found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered_artifacts: Option<DiscoveredArtifacts>,
}

/// Results of the last discovery.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredArtifacts {
    /// When discovery ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub discovered_at: Option<String>,
    /// Per git subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub git: Vec<GitDiscoveryResult>,
    /// Per image subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageDiscoveryResult>,
    /// Per chart subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<ChartDiscoveryResult>,
    /// Per generic subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<DiscoveryResult>,
}

/// Artifacts found by one generic subscription.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryResult {
    /// The subscription's name.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub name: String,
    /// Artifacts, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifact_references: Vec<crate::common::ArtifactReference>,
}

/// Commits found in one repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitDiscoveryResult {
    /// Repository URL.
    #[serde(rename = "repoURL")]
    #[schemars(length(min = 1))]
    pub repo_url: String,
    /// Commits, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<DiscoveredCommit>,
    /// Name of the subscription that found these, when it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subscription_name: String,
    /// The refs seen at discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_refs: Option<ObservedRefs>,
}

/// Refs seen in a repository at discovery.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedRefs {
    /// Head commit of the branch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch_head: String,
    /// Tags and their commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<ObservedTag>,
}

/// A tag and its commit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedTag {
    /// Tag name.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub name: String,
    /// Commit ID.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub id: String,
}

/// One discovered commit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredCommit {
    /// Commit SHA.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub id: String,
    /// Branch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    /// Tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// Subject line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Author.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// Committer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub committer: String,
    /// Commit or tag creation date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub creator_date: Option<String>,
}

impl DiscoveredCommit {
    /// The commit as Freight carries it in `commits[]`: found in the
    /// repository `repo_url` by the subscription named
    /// `subscription_name` (empty when it has none); the subject line
    /// becomes the message. The Warehouse controller, `kargo create
    /// freight` and the UI's Freight assembly all make Freight commits
    /// here.
    pub fn to_freight_commit(&self, repo_url: &str, subscription_name: &str) -> GitCommit {
        GitCommit {
            repo_url: repo_url.to_string(),
            id: self.id.clone(),
            branch: self.branch.clone(),
            tag: self.tag.clone(),
            message: self.subject.clone(),
            author: self.author.clone(),
            committer: self.committer.clone(),
            subscription_name: subscription_name.to_string(),
        }
    }
}

/// Images found in one repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageDiscoveryResult {
    /// Image repository.
    #[serde(rename = "repoURL")]
    #[schemars(length(min = 1))]
    pub repo_url: String,
    /// Platform constraint used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// References, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<DiscoveredImageReference>,
    /// Name of the subscription that found these, when it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subscription_name: String,
}

/// One discovered image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredImageReference {
    /// Tag.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[\w.\-\_]+$"), extend("x-kargo-required" = true))]
    pub tag: String,
    /// Digest.
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = r"^[a-z0-9]+:[a-f0-9]+$"), extend("x-kargo-required" = true))]
    pub digest: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Build time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub created_at: Option<String>,
}

/// Chart versions found in one repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartDiscoveryResult {
    /// Repository URL.
    #[serde(rename = "repoURL")]
    #[schemars(length(min = 1))]
    pub repo_url: String,
    /// Chart name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Constraint used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub semver_constraint: String,
    /// Versions, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Name of the subscription that found these, when it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subscription_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field a discovered commit has reaches the Freight commit,
    /// the subject line as its message.
    #[test]
    fn discovered_commits_become_freight_commits() {
        let found = DiscoveredCommit {
            id: "0123456789abcdef0123456789abcdef01234567".into(),
            branch: "main".into(),
            tag: "v1.0.0".into(),
            subject: "Bump the image".into(),
            author: "Ann <ann@example.com>".into(),
            committer: "Bob <bob@example.com>".into(),
            creator_date: Some("2024-01-02T03:04:05Z".into()),
        };
        assert_eq!(
            found.to_freight_commit("https://example.com/repo.git", "config"),
            GitCommit {
                repo_url: "https://example.com/repo.git".into(),
                id: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: "main".into(),
                tag: "v1.0.0".into(),
                message: "Bump the image".into(),
                author: "Ann <ann@example.com>".into(),
                committer: "Bob <bob@example.com>".into(),
                subscription_name: "config".into(),
            }
        );
    }
}
