//! Access to Argo CD Applications for the `argocd-update` step: the runner
//! is synchronous and knows no Kubernetes client, so the caller provides
//! this (the controller implements it over the API; tests over a map).

use serde_json::Value;

/// Reads and patches Argo CD `Application` objects.
pub trait ArgoCdApps: Sync {
    /// The Application as JSON, or `None` when it does not exist.
    fn get(&self, namespace: &str, name: &str) -> Result<Option<Value>, String>;
    /// Applies a JSON merge patch to the Application.
    fn patch(&self, namespace: &str, name: &str, patch: &Value) -> Result<(), String>;
}
