//! Freight: an immutable, named bundle of artifacts (commits, images,
//! charts) that moves through Stages. Its fields sit at the top level,
//! so its `kube::Resource` impl is written by hand.

use crate::common::{ArtifactReference, Chart, FreightOrigin, GitCommit, Image};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A piece of Freight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Freight {
    /// `kargo.akuity.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Freight`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata; `name` is the Freight ID.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Deprecated mirror of the `kargo.akuity.io/alias` label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
    /// The Warehouse this Freight came from.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub origin: FreightOrigin,
    /// Git commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<GitCommit>,
    /// Container images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Helm charts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<Chart>,
    /// Artifacts of generic subscriptions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactReference>,
    /// When the Warehouse discovered these artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub discovered_at: Option<String>,
    /// Where the Freight has been verified, approved and is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FreightStatus>,
}

/// Observed state of Freight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightStatus {
    /// Stages that verified this Freight.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub verified_in: BTreeMap<String, VerifiedStage>,
    /// Stages this Freight was manually approved for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approved_for: BTreeMap<String, ApprovedStage>,
    /// Stages currently using this Freight.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub currently_in: BTreeMap<String, CurrentStage>,
    /// Arbitrary metadata set by promotion steps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// `status.verifiedIn[stage]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedStage {
    /// When verification succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub verified_at: Option<String>,
    /// Longest continuous time spent in the Stage (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_soak: Option<String>,
}

/// `status.approvedFor[stage]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovedStage {
    /// When the approval was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub approved_at: Option<String>,
}

/// `status.currentlyIn[stage]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentStage {
    /// Since when the Stage has been using it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub since: Option<String>,
}

impl kube::Resource for Freight {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;
    fn kind(_: &()) -> Cow<'_, str> {
        "Freight".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        crate::KARGO_GROUP.into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        crate::VERSION.into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "freights".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Freight {
    /// The Freight as JSON without its status: its artifacts and metadata.
    /// Step expressions and Events read only those; at 1,000 Stages the
    /// status (where the Freight is verified, approved and in use) is most
    /// of the object, so it is not copied for them.
    pub fn to_value_without_status(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(Freight {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            metadata: self.metadata.clone(),
            alias: self.alias.clone(),
            origin: self.origin.clone(),
            commits: self.commits.clone(),
            images: self.images.clone(),
            charts: self.charts.clone(),
            artifacts: self.artifacts.clone(),
            discovered_at: self.discovered_at.clone(),
            status: None,
        })
    }

    /// The Freight's alias from its label (or the deprecated field).
    pub fn alias(&self) -> Option<&str> {
        self.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(crate::labels::ALIAS))
            .map(String::as_str)
            .or((!self.alias.is_empty()).then_some(self.alias.as_str()))
    }

    /// Computes this Freight's ID from its origin and artifacts.
    pub fn compute_id(&self) -> String {
        crate::freight_id::freight_id(&self.origin, &self.commits, &self.images, &self.charts)
    }
}
