//! The ClusterRoles the server makes on start when missing, as a cluster
//! installation of Kargo ships them: `kargo-metrics-reader` (`get` on the
//! non-resource URL `/metrics`), so a Prometheus token bound to it can
//! scrape without holding anything else.

use kargo_store::{Store, StoreError};
use serde_json::json;

/// Name of the ClusterRole that may read `/metrics`.
pub const METRICS_READER: &str = "kargo-metrics-reader";

/// Creates the bootstrap ClusterRoles that do not exist.
pub fn ensure(store: &Store) -> Result<(), StoreError> {
    let info = kargo_api::lookup_kind("rbac.authorization.k8s.io/v1", "ClusterRole")
        .expect("ClusterRole is registered");
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": METRICS_READER, "labels": {"app.kubernetes.io/part-of": "kargo"}},
        "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]});
    match store.create(info, "", role) {
        Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
