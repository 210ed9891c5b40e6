//! Writes to the Project's own Stages and Freight for the `set-metadata`
//! and `set-freight-alias` steps: the runner is synchronous and knows no
//! Kubernetes client, so the caller provides this (the controller over the
//! API, tests over a map), as it does Argo CD Applications ([`crate::apps`]).

use serde_json::{Map, Value};

/// Which object `set-metadata` writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataTarget {
    /// A Stage's `status.metadata`.
    Stage,
    /// A Freight's `status.metadata`.
    Freight,
}

impl MetadataTarget {
    /// The kind's name.
    pub fn kind(self) -> &'static str {
        match self {
            MetadataTarget::Stage => "Stage",
            MetadataTarget::Freight => "Freight",
        }
    }
}

/// Why a write did not happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// No such object in the Project.
    #[error("not found")]
    NotFound,
    /// The API refused the change (e.g. the alias is taken); retrying
    /// will not help.
    #[error("{0}")]
    Refused(String),
    /// The API could not be reached or failed; a retry may help.
    #[error("{0}")]
    Failed(String),
}

/// The Project's Stages and Freight, for the steps that write to them.
pub trait ProjectObjects: Sync {
    /// Upserts `values` into the object's `status.metadata`.
    fn merge_metadata(
        &self,
        target: MetadataTarget,
        name: &str,
        values: &Map<String, Value>,
    ) -> Result<(), ObjectError>;
    /// Sets the Freight's alias (its `alias` field and the
    /// `kargo.akuity.io/alias` label); returns the alias it had.
    fn set_freight_alias(&self, name: &str, alias: &str) -> Result<String, ObjectError>;
    /// A (Cluster)MessageChannel with its Secret, for `send-message`
    /// (`kind` is `MessageChannel` or `ClusterMessageChannel`).
    fn message_channel(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<crate::message::Channel, ObjectError> {
        let _ = (kind, name);
        Err(ObjectError::NotFound)
    }
}

/// An in-memory Project for the steps' tests: metadata and aliases by
/// name; an alias another Freight has is refused; writes to the (kind,
/// name) pairs in `broken` fail, as a patch of an object with a bad
/// resourceVersion does.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct FakeProject {
    pub metadata:
        std::sync::Mutex<std::collections::BTreeMap<(String, String), Map<String, Value>>>,
    pub aliases: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    pub broken: std::sync::Mutex<std::collections::BTreeSet<(String, String)>>,
}

#[cfg(test)]
impl FakeProject {
    fn check_broken(&self, kind: &str, name: &str) -> Result<(), ObjectError> {
        if self
            .broken
            .lock()
            .unwrap()
            .contains(&(kind.to_string(), name.to_string()))
        {
            return Err(ObjectError::Failed(
                "can not convert resourceVersion \"invalid\"".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
impl ProjectObjects for FakeProject {
    fn merge_metadata(
        &self,
        target: MetadataTarget,
        name: &str,
        values: &Map<String, Value>,
    ) -> Result<(), ObjectError> {
        let mut all = self.metadata.lock().unwrap();
        let entry = all
            .get_mut(&(target.kind().to_string(), name.to_string()))
            .ok_or(ObjectError::NotFound)?;
        self.check_broken(target.kind(), name)?;
        for (k, v) in values {
            entry.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn set_freight_alias(&self, name: &str, alias: &str) -> Result<String, ObjectError> {
        let mut aliases = self.aliases.lock().unwrap();
        if aliases.iter().any(|(n, a)| a == alias && n != name) {
            return Err(ObjectError::Refused(format!(
                "alias {alias:?} is already used"
            )));
        }
        let old = aliases.get(name).cloned().ok_or(ObjectError::NotFound)?;
        self.check_broken("Freight", name)?;
        aliases.insert(name.to_string(), alias.to_string());
        Ok(old)
    }
}
