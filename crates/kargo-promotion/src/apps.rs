//! Access to Argo CD Applications for the `argocd-update` and
//! `argocd-wait` steps: the runner is synchronous and knows no Kubernetes
//! client, so the caller provides this (the controller implements it over
//! the Argo CD cluster's API; tests over a map). A runner without it
//! (`StepContext::apps` is `None`) has Argo CD integration disabled.

use serde_json::Value;

/// Reads and patches Argo CD `Application` objects, and records Events
/// next to them.
pub trait ArgoCdApps: Sync {
    /// The Application as JSON, or `None` when it does not exist.
    fn get(&self, namespace: &str, name: &str) -> Result<Option<Value>, String>;
    /// The Applications of `namespace` matching a label selector in the
    /// API's string form (`a=b,c in (x,y),!d`).
    fn list(&self, namespace: &str, selector: &str) -> Result<Vec<Value>, String>;
    /// Applies a JSON merge patch to the Application.
    fn patch(&self, namespace: &str, name: &str, patch: &Value) -> Result<(), String>;
    /// Creates a core `v1` Event in `namespace` (best effort: callers log
    /// a failure and go on, as Kargo does).
    fn create_event(&self, namespace: &str, event: &Value) -> Result<(), String>;
    /// The namespace used when a step names none (Kargo's
    /// `ARGOCD_NAMESPACE`, default `argocd`).
    fn default_namespace(&self) -> &str {
        "argocd"
    }
}
