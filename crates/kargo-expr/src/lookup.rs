//! The data Kargo's expression functions read, behind a trait so this crate
//! needs no store, client or network: the Freight collection, ConfigMaps,
//! Secrets, Freight and Stage metadata, and the statuses of earlier steps.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Status of one earlier step of the running promotion, as Kargo records it
/// in `status.stepExecutionMetadata` (`alias`, `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepStatus {
    /// The step's alias; inside a PromotionTask, `task-alias::step-alias`.
    pub alias: String,
    /// `Succeeded`, `Failed`, `Errored`, `Skipped`, `Aborted`, `Running`, ...
    pub status: String,
}

/// Separator between a PromotionTask's alias and its steps' aliases.
pub const ALIAS_SEPARATOR: &str = "::";

/// Read access to what the functions need. Every method has an empty
/// default, so an implementation provides only what its context has.
///
/// Freight values use Kargo's JSON shape: `{name, alias, origin: {kind,
/// name}, commits: [{repoURL, id, tag, branch, message, author, committer}],
/// images: [{repoURL, tag, digest, annotations}], charts: [{repoURL, name,
/// version}]}`.
pub trait Lookup: Sync {
    /// The Freight the Stage works with (its FreightCollection), the target
    /// Freight first.
    fn freight_collection(&self) -> &[Value] {
        &[]
    }
    /// `data` of the ConfigMap `name` in the Project's namespace.
    fn config_map(&self, _name: &str) -> Option<BTreeMap<String, String>> {
        None
    }
    /// Decoded `data` of the Secret `name` in the Project's namespace.
    fn secret(&self, _name: &str) -> Option<BTreeMap<String, String>> {
        None
    }
    /// `status.metadata` of the Freight `name`; `None` if there is no such Freight.
    fn freight_metadata(&self, _name: &str) -> Option<Map<String, Value>> {
        None
    }
    /// The whole `status` of the Freight `name` (JSON, as stored); `None` if
    /// there is no such Freight.
    fn freight_status(&self, _name: &str) -> Option<Map<String, Value>> {
        None
    }
    /// `status.metadata` of the Stage `name` (any Stage of the Project);
    /// `None` if there is no such Stage.
    fn stage_metadata(&self, _name: &str) -> Option<Map<String, Value>> {
        None
    }
    /// Statuses of the steps that ran before the one being evaluated.
    fn step_statuses(&self) -> &[StepStatus] {
        &[]
    }
    /// Alias of the step being evaluated (scopes `status()` inside tasks).
    fn current_step_alias(&self) -> &str {
        ""
    }
}

/// A [`Lookup`] over plain in-memory data, for tests and simple callers.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    pub freight: Vec<Value>,
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    pub freight_metadata: BTreeMap<String, Map<String, Value>>,
    pub freight_status: BTreeMap<String, Map<String, Value>>,
    pub stage_metadata: BTreeMap<String, Map<String, Value>>,
    pub steps: Vec<StepStatus>,
    pub current_step: String,
}

impl Lookup for StaticLookup {
    fn freight_collection(&self) -> &[Value] {
        &self.freight
    }
    fn config_map(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.config_maps.get(name).cloned()
    }
    fn secret(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.secrets.get(name).cloned()
    }
    fn freight_metadata(&self, name: &str) -> Option<Map<String, Value>> {
        self.freight_metadata.get(name).cloned()
    }
    fn freight_status(&self, name: &str) -> Option<Map<String, Value>> {
        self.freight_status.get(name).cloned()
    }
    fn stage_metadata(&self, name: &str) -> Option<Map<String, Value>> {
        self.stage_metadata.get(name).cloned()
    }
    fn step_statuses(&self) -> &[StepStatus] {
        &self.steps
    }
    fn current_step_alias(&self) -> &str {
        &self.current_step
    }
}

/// A [`Lookup`] with no data: every function sees an empty world.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLookup;

impl Lookup for NoLookup {}
