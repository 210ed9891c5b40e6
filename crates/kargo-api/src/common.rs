//! Types shared by several kinds: conditions, Freight origins and
//! references, expression variables, and the artifacts Freight carries.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A status condition, as `metav1.Condition`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    #[schemars(
        length(max = 316),
        regex(
            pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        )
    )]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[schemars(extend("enum" = ["True", "False", "Unknown"]))]
    pub status: String,
    /// One-word reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        length(min = 1, max = 1024),
        regex(pattern = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    )]
    pub reason: String,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 32768))]
    pub message: String,
    /// Generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: Option<String>,
}

/// Where Freight comes from: today always a Warehouse.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct FreightOrigin {
    /// Kind of the origin; only `Warehouse` is valid.
    #[schemars(extend("enum" = ["Warehouse"]))]
    pub kind: String,
    /// Name of the origin.
    pub name: String,
}

/// A name/value pair usable in expressions (`vars`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpressionVariable {
    /// Variable name.
    #[schemars(length(min = 1), regex(pattern = r"^[a-zA-Z_]\w*$"))]
    pub name: String,
    /// Value, possibly an expression.
    #[serde(default)]
    pub value: String,
}

/// A git commit carried by Freight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitCommit {
    /// Repository URL.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Commit ID (SHA).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Branch the commit was found on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    /// Tag the commit was found by.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// Commit message (first line).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Author.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// Committer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub committer: String,
    /// Name of the subscription that found it, when the subscription has
    /// one; part of the Freight ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subscription_name: String,
}

/// A container image carried by Freight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// Digest (`sha256:...`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Image annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Name of the subscription that found it, when the subscription has
    /// one; part of the Freight ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subscription_name: String,
}

/// A Helm chart carried by Freight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    /// Chart repository URL (HTTP(S) or `oci://`).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Chart name (empty for OCI, where the URL names the chart).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Chart version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Name of the subscription that found it, when the subscription has
    /// one; part of the Freight ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subscription_name: String,
}

/// A reference to one piece of Freight and what it carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightReference {
    /// Freight name (its ID).
    #[serde(default)]
    pub name: String,
    /// Freight origin.
    #[serde(default)]
    pub origin: FreightOrigin,
    /// Commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<GitCommit>,
    /// Images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Charts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<Chart>,
    /// Artifacts of generic subscriptions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactReference>,
}

/// An artifact of a generic (not git, image or chart) subscription.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactReference {
    /// Kind of artifact.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub artifact_type: String,
    /// The subscription that found it.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub subscription_name: String,
    /// Its version.
    #[serde(default)]
    #[schemars(length(min = 1), extend("x-kargo-required" = true))]
    pub version: String,
    /// Opaque details from the subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// A reference to an object in the same namespace (`LocalObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalRef {
    /// Name.
    #[serde(default)]
    pub name: String,
}

/// A reference to a Kubernetes object by name (and optionally namespace).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Name.
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}
