//! The ProjectConfig controller: publishes each webhook receiver's path
//! and URL in `status.webhookReceivers`, so users know where to point
//! their forge or registry. The path token is SHA-256 of the project, the
//! receiver's name and its secret (as Kargo derives it). A refresh
//! (`kargo refresh projectconfig`: the `kargo.akuity.io/refresh`
//! annotation) re-reads the receivers' Secrets and is acknowledged in
//! `status.lastHandledRefresh`.

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use k8s_openapi::api::core::v1::Secret;
use kargo_api::ProjectConfig;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The Secret key holding each provider's shared secret (as Kargo).
pub fn secret_key(provider: &str) -> &'static str {
    match provider {
        "gitlab" | "artifactory" => "secret-token",
        "harbor" => "auth-header",
        _ => "secret",
    }
}

/// The path token of a receiver.
pub fn receiver_token(project: &str, receiver: &str, secret: &str) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{project}{receiver}{secret}").as_bytes(),
    );
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The refresh token (`kargo.akuity.io/refresh`) an object asks for and
/// its status has not acknowledged yet.
pub fn pending_refresh(meta: &kube::api::ObjectMeta, last_handled: &str) -> Option<String> {
    meta.annotations
        .as_ref()?
        .get(kargo_api::labels::REFRESH)
        .filter(|t| t.as_str() != last_handled)
        .cloned()
}

/// What the reconciler needs.
pub struct Context {
    client: kube::Client,
    public_url: String,
}

impl Context {
    /// A context publishing URLs under `public_url`.
    pub fn new(client: kube::Client, public_url: String) -> Self {
        Context { client, public_url }
    }
}

/// Runs the controller on the hub's ProjectConfig stream.
pub async fn run(
    client: kube::Client,
    ctx: Arc<Context>,
    configs: Store<ProjectConfig>,
    trigger: UnboundedReceiver<ObjectRef<ProjectConfig>>,
) {
    crate::informers::controller(configs)
        .reconcile_on(trigger)
        // A receiver's Secret may come after its ProjectConfig: a Secret change
        // wakes the project's ProjectConfig (named after the project).
        .watches(
            Api::<Secret>::all(client),
            watcher::Config::default(),
            |s: Secret| {
                s.namespace().map(|ns| {
                    kube::runtime::reflector::ObjectRef::<ProjectConfig>::new(&ns).within(&ns)
                })
            },
        )
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(10)),
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

async fn reconcile(pc: Arc<ProjectConfig>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let ns = pc.namespace().unwrap_or_default();
    let mut receivers = Vec::new();
    for r in &pc.spec.webhook_receivers {
        for (provider, cfg) in &r.providers() {
            let Some(secret_name) = cfg.pointer("/secretRef/name").and_then(Value::as_str) else {
                continue;
            };
            let secret = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
                .get_opt(secret_name)
                .await?;
            let value = secret
                .as_ref()
                .and_then(|s| s.data.as_ref())
                .and_then(|d| d.get(secret_key(provider)))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned());
            match value {
                Some(v) => {
                    let path = format!("/webhooks/{provider}/{}", receiver_token(&ns, &r.name, &v));
                    receivers.push(json!({"name": r.name, "path": path, "url": format!("{}{path}", ctx.public_url)}));
                }
                None => receivers.push(json!({"name": r.name, "path": "", "url": "", "message": format!("Secret {secret_name:?} has no key {:?}", secret_key(provider))})),
            }
        }
    }
    let status = pc.status.clone().unwrap_or_default();
    let refresh = pending_refresh(&pc.metadata, &status.last_handled_refresh);
    if status.webhook_receivers != receivers || refresh.is_some() {
        let mut patch = json!({"status": {"webhookReceivers": receivers}});
        if let Some(token) = refresh {
            patch["status"]["lastHandledRefresh"] = json!(token);
        }
        Api::<ProjectConfig>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &pc.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
    }
    // Secrets can change without the ProjectConfig changing.
    Ok(Action::requeue(Duration::from_secs(60)))
}
