//! The namespaces a Kargo installation has besides its projects, made on
//! every start as Kargo's Helm chart makes them: `kargo` (the objects
//! that stand for the server, see `process_logs`),
//! `kargo-shared-resources` (credentials and ConfigMaps every project may
//! use: `kargo create repo-credentials --shared`) and
//! `kargo-system-resources` (the installation's own:
//! `kargo create generic-credentials --system`).

use kargo_api::namespaces::{SHARED_RESOURCES, SYSTEM_RESOURCES};
use kargo_store::{Store, StoreError};
use serde_json::json;

/// Creates the namespace `name` unless it exists.
pub(crate) fn ensure(store: &Store, name: &str) -> Result<(), StoreError> {
    let info = kargo_api::lookup_kind("v1", "Namespace").expect("Namespace is served");
    match store.get(info, "", name) {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => store
            .create(
                info,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            )
            .map(|_| ()),
        Err(e) => Err(e),
    }
}

/// Creates the shared- and system-resources namespaces unless they exist.
pub(crate) fn ensure_resource_namespaces(store: &Store) -> Result<(), StoreError> {
    for ns in [SHARED_RESOURCES, SYSTEM_RESOURCES] {
        ensure(store, ns)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_both_namespaces_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db")).expect("store");
        ensure_resource_namespaces(&store).expect("first");
        ensure_resource_namespaces(&store).expect("again");
        let info = kargo_api::lookup_kind("v1", "Namespace").expect("served");
        for ns in [SHARED_RESOURCES, SYSTEM_RESOURCES] {
            let v = store.get(info, "", ns).expect("exists");
            assert_eq!(v["metadata"]["name"], ns);
        }
    }
}
