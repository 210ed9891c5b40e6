//! The expression lookup a Promotion's steps see: its Freight collection,
//! ConfigMaps and Secrets loaded when it starts, and any Freight or Stage
//! of the project (`freightMetadata()`, `freightStatus()`,
//! `stageMetadata()`) read from the shared watch caches on demand instead
//! of a list per Promotion.

use kargo_api::{Freight, Stage};
use kargo_expr::lookup::StepStatus;
use kargo_expr::{Lookup, StaticLookup};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A [`Lookup`] over preloaded data plus the Freight and Stage caches.
pub struct CacheLookup {
    /// The Promotion's namespace (its project).
    pub namespace: String,
    /// Freight collection, ConfigMaps and Secrets.
    pub loaded: StaticLookup,
    /// Every Freight.
    pub freight: Store<Freight>,
    /// Every Stage.
    pub stages: Store<Stage>,
}

impl CacheLookup {
    fn freight(&self, name: &str) -> Option<std::sync::Arc<Freight>> {
        self.freight
            .get(&ObjectRef::new(name).within(&self.namespace))
    }
}

impl Lookup for CacheLookup {
    fn freight_collection(&self) -> &[Value] {
        self.loaded.freight_collection()
    }
    fn config_map(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.loaded.config_map(name)
    }
    fn secret(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.loaded.secret(name)
    }
    fn freight_metadata(&self, name: &str) -> Option<Map<String, Value>> {
        let f = self.freight(name)?;
        f.status
            .as_ref()
            .map(|s| s.metadata.clone().into_iter().collect())
    }
    fn freight_status(&self, name: &str) -> Option<Map<String, Value>> {
        let f = self.freight(name)?;
        match f.status.as_ref().map(serde_json::to_value) {
            Some(Ok(Value::Object(m))) => Some(m),
            _ => Some(Map::new()),
        }
    }
    fn stage_metadata(&self, name: &str) -> Option<Map<String, Value>> {
        let s = self
            .stages
            .get(&ObjectRef::new(name).within(&self.namespace))?;
        Some(
            s.status
                .as_ref()
                .map(|st| st.metadata.clone().into_iter().collect())
                .unwrap_or_default(),
        )
    }
    fn step_statuses(&self) -> &[StepStatus] {
        self.loaded.step_statuses()
    }
    fn current_step_alias(&self) -> &str {
        self.loaded.current_step_alias()
    }
}
