//! Where Argo CD lives, for the controllers: the client its Applications
//! are read, patched and watched through (the Kargo API's own by default
//! — the embedded server serves Applications — or a remote cluster's from
//! `--argocd-kubeconfig`), the default namespace (`--argocd-namespace`),
//! and [`KubeApps`], the steps' synchronous access to Applications. No
//! connection means the integration is disabled: Argo CD steps error and
//! health checks say so, as in Kargo.

use k8s_openapi::api::core::v1::Event;
use kargo_api::Application;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::Value;
use std::path::PathBuf;

/// Argo CD integration settings (Kargo's `ARGOCD_INTEGRATION_ENABLED`,
/// `ARGOCD_NAMESPACE`, `ARGOCD_KUBECONFIG`).
#[derive(Clone, Debug)]
pub struct ArgoCdConfig {
    /// Off: Argo CD steps are Errored, health checks Unknown.
    pub enabled: bool,
    /// Namespace used when a step names none.
    pub namespace: String,
    /// A kubeconfig for the cluster Argo CD runs in; None: the API the
    /// controllers use (the embedded server standalone, the same cluster
    /// in cluster mode).
    pub kubeconfig: Option<PathBuf>,
    /// Watch Applications in `namespace` only, not in all namespaces
    /// (`ARGOCD_WATCH_ARGOCD_NAMESPACE_ONLY`).
    pub watch_namespace_only: bool,
}

impl Default for ArgoCdConfig {
    fn default() -> Self {
        ArgoCdConfig {
            enabled: true,
            namespace: "argocd".into(),
            kubeconfig: None,
            watch_namespace_only: false,
        }
    }
}

/// A connection to Argo CD's Applications.
#[derive(Clone)]
pub struct ArgoCd {
    /// Client of the cluster holding the Applications.
    pub client: kube::Client,
    /// Default namespace.
    pub namespace: String,
    /// Whether the Application watch covers `namespace` only.
    pub watch_namespace_only: bool,
}

impl ArgoCd {
    /// The connection `cfg` describes (`same` is the controllers' own
    /// client); None when disabled or when the kubeconfig cannot be used
    /// (logged).
    pub async fn connect(cfg: &ArgoCdConfig, same: &kube::Client) -> Option<ArgoCd> {
        if !cfg.enabled {
            return None;
        }
        let client = match &cfg.kubeconfig {
            None => same.clone(),
            Some(path) => match client_from(path).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(kubeconfig = %path.display(), error = %e, "Argo CD integration disabled: cannot use the kubeconfig");
                    return None;
                }
            },
        };
        Some(ArgoCd {
            client,
            namespace: cfg.namespace.clone(),
            watch_namespace_only: cfg.watch_namespace_only,
        })
    }

    /// The API the Application watch lists and watches through: the Argo
    /// CD namespace only, or all namespaces (Kargo's default).
    pub fn watch_api(&self) -> Api<Application> {
        if self.watch_namespace_only {
            Api::namespaced(self.client.clone(), &self.namespace)
        } else {
            Api::all(self.client.clone())
        }
    }
}

/// A client from a kubeconfig file (kube's connect and read timeouts).
pub async fn client_from(path: &std::path::Path) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

/// Applications through the Argo CD client, for steps (which run on a
/// blocking thread, hence `handle`).
pub struct KubeApps {
    /// The connection.
    pub argocd: ArgoCd,
    /// The runtime the calls run on.
    pub handle: tokio::runtime::Handle,
}

impl KubeApps {
    fn api(&self, namespace: &str) -> Api<Application> {
        Api::namespaced(self.argocd.client.clone(), namespace)
    }
}

impl kargo_promotion::ArgoCdApps for KubeApps {
    fn get(&self, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        // Not `get_opt`: a 404 for a resource type the API does not serve
        // must stay an error (retried as Kargo's discovery errors), only a
        // missing object is None.
        let app = match self.handle.block_on(self.api(namespace).get(name)) {
            Ok(app) => app,
            Err(kube::Error::Api(e))
                if e.code == 404
                    && !kargo_promotion::argocd::discovery::is_discovery_error(&e.message) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.to_string()),
        };
        serde_json::to_value(app)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn list(&self, namespace: &str, selector: &str) -> Result<Vec<Value>, String> {
        let list = self
            .handle
            .block_on(
                self.api(namespace)
                    .list(&ListParams::default().labels(selector)),
            )
            .map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .map(|a| serde_json::to_value(a).map_err(|e| e.to_string()))
            .collect()
    }

    fn patch(&self, namespace: &str, name: &str, patch: &Value) -> Result<(), String> {
        self.handle
            .block_on(self.api(namespace).patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(patch),
            ))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn create_event(&self, namespace: &str, event: &Value) -> Result<(), String> {
        let ev: Event = serde_json::from_value(event.clone()).map_err(|e| e.to_string())?;
        let api: Api<Event> = Api::namespaced(self.argocd.client.clone(), namespace);
        self.handle
            .block_on(api.create(&PostParams::default(), &ev))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn default_namespace(&self) -> &str {
        &self.argocd.namespace
    }
}

/// The Stages (namespace, name) an Application's authorized-stage
/// annotation names; an unparsable value names none.
pub fn authorized_stages(app: &Application) -> Vec<(String, String)> {
    app.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(kargo_promotion::argocd::AUTHORIZED_STAGE))
        .and_then(|v| kargo_promotion::argocd::authorized_stages(v).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Application watch's scope: all namespaces, or with
    /// `ARGOCD_WATCH_ARGOCD_NAMESPACE_ONLY` the Argo CD namespace only.
    #[tokio::test]
    async fn watch_scope() {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let cfg = |only| ArgoCdConfig {
            namespace: "cd".into(),
            watch_namespace_only: only,
            ..ArgoCdConfig::default()
        };
        let all = ArgoCd::connect(&cfg(false), &client).await.unwrap();
        assert_eq!(
            all.watch_api().resource_url(),
            "/apis/argoproj.io/v1alpha1/applications"
        );
        let only = ArgoCd::connect(&cfg(true), &client).await.unwrap();
        assert_eq!(
            only.watch_api().resource_url(),
            "/apis/argoproj.io/v1alpha1/namespaces/cd/applications"
        );
    }
}
