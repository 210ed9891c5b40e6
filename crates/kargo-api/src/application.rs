//! Argo CD Application, stored with a light schema so the argocd-update
//! step and Stage health can be exercised; nothing deploys it standalone.

kargo_object!(
    /// An Argo CD Application (spec and status kept as written).
    Application, serde_json::Value, serde_json::Value,
    group = crate::ARGO_GROUP, kind = "Application", plural = "applications", namespaced = true
);
