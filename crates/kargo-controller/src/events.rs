//! Kubernetes Events (core `v1`) about kargo objects, so `kubectl
//! describe` shows what happened to a Warehouse, Stage or Promotion.
//! Each Event is also logged at info level. Emitting is best effort: a
//! failure is logged, never fatal.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

/// Normal or Warning.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Something went as planned.
    Normal,
    /// Something needs attention.
    Warning,
}

/// Records an Event about `obj`.
pub async fn emit<K>(client: &kube::Client, obj: &K, kind: Kind, reason: &str, message: &str)
where
    K: Resource<DynamicType = ()>,
{
    let Some(ns) = obj.namespace() else { return };
    // Credentials in URLs never reach an Event or the log.
    let message = &kargo_api::redact::redact(message);
    // The same story goes to the server's log (`kubectl logs -n kargo deploy/kargo-controller`).
    let object = format!("{}/{}", K::kind(&()).to_lowercase(), obj.name_any());
    let level = match kind {
        Kind::Normal => "Normal",
        Kind::Warning => "Warning",
    };
    tracing::info!(namespace = %ns, %object, reason, r#type = level, "{message}");
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": format!("{}.", obj.name_any()), "namespace": ns},
        "involvedObject": {
            "apiVersion": K::api_version(&()), "kind": K::kind(&()), "name": obj.name_any(),
            "namespace": ns, "uid": obj.meta().uid.clone().unwrap_or_default(),
        },
        "reason": reason,
        "message": message,
        "type": level,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "source": {"component": "kargo-controller"},
        "reportingComponent": "kargo-controller",
    });
    let Ok(ev) = serde_json::from_value::<Event>(ev) else {
        return;
    };
    if let Err(e) = Api::<Event>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &ev)
        .await
    {
        tracing::debug!(error = %e, reason, "recording an event");
    }
}
