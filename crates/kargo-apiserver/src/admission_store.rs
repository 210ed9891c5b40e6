//! What admission reads besides the object: the few lookups (a Namespace,
//! a Stage, a Freight, a Warehouse, the Freight holding an alias) behind
//! one trait, so the same admission code runs over the embedded store in
//! `kargo server` and over a cluster's API in `kargo webhook-server`.

use kargo_api::ResourceInfo;
use kargo_store::{Store, StoreError};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The reads admission makes. A missing object is
/// [`StoreError::NotFound`].
pub trait AdmissionStore: Sync {
    /// One object.
    fn get(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<Value, StoreError>;
    /// One object, shared: the embedded store hands out the copy it keeps
    /// of a recently written object instead of parsing it again.
    fn get_shared(
        &self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
    ) -> Result<std::sync::Arc<Value>, StoreError> {
        self.get(info, ns, name).map(std::sync::Arc::new)
    }
    /// One object as JSON text, for [`get_as`] to decode straight into a
    /// type.
    fn get_text(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<String, StoreError>;
    /// The names of the objects of a kind in `ns` labelled `key=value`.
    fn names_with_label(
        &self,
        info: &ResourceInfo,
        ns: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError>;
}

impl AdmissionStore for Store {
    fn get(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<Value, StoreError> {
        Store::get(self, info, ns, name)
    }

    fn get_shared(
        &self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
    ) -> Result<std::sync::Arc<Value>, StoreError> {
        Store::get_shared(self, info, ns, name)
    }

    fn get_text(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<String, StoreError> {
        Store::get_text(self, info, ns, name)
    }

    fn names_with_label(
        &self,
        info: &ResourceInfo,
        ns: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        Store::names_with_label(self, info, ns, key, value)
    }
}

/// One object decoded into `T` from its text: one parse, where
/// [`AdmissionStore::get`] and `serde_json::from_value` make two (a large
/// Freight, verified in every Stage of a long pipeline, is read on every
/// Promotion).
pub fn get_as<T: DeserializeOwned>(
    store: &dyn AdmissionStore,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
) -> Result<T, StoreError> {
    Ok(serde_json::from_str(&store.get_text(info, ns, name)?)?)
}
