//! `kargo webhook-server`: Kargo's admission (defaulting and validation)
//! as Kubernetes admission webhooks over TLS, against the API server of
//! the kubeconfig (or in-cluster configuration); see
//! `kargo_server::webhook_server`.

use anyhow::{Context, Result};
use kargo_server::webhook_server::{Started, WebhookServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags of `kargo webhook-server`.
#[derive(Debug, clap::Args)]
pub struct WebhookServerArgs {
    /// The kubeconfig context to use (default: its current context); with
    /// no kubeconfig and no context, the pod's in-cluster configuration.
    #[arg(long)]
    pub context: Option<String>,
    /// Where to listen (HTTPS), as Kargo's webhook server: `:9443`.
    #[arg(long, default_value = "0.0.0.0:9443")]
    pub bind_address: SocketAddr,
    /// The Kargo namespace: the certificate Secret
    /// (`kargo-webhooks-server-cert`) and the Service are there.
    #[arg(long, env = "KARGO_NAMESPACE", default_value = "kargo")]
    pub namespace: String,
    /// The webhook server's Service, whose DNS names the certificate
    /// covers and the configurations point at.
    #[arg(long, default_value = "kargo-webhooks-server")]
    pub service: String,
    /// Another DNS name or IP address for the serving certificate
    /// (repeatable).
    #[arg(long = "tls-san", value_name = "NAME")]
    pub tls_sans: Vec<String>,
    /// Point the webhook configurations at this URL base instead of the
    /// Service, for a server outside the cluster (`{port}` is replaced by
    /// the port listened on), e.g. `https://127.0.0.1:{port}`.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Do not write the Mutating/ValidatingWebhookConfiguration `kargo`
    /// on start (they must then carry the CA some other way).
    #[arg(long)]
    pub no_register: bool,
    /// Let Warehouses subscribe to file:// repositories, as `kargo server
    /// --allow-file-repos` (off: they are refused).
    #[arg(long)]
    pub allow_file_repos: bool,
}

/// Serves until SIGINT/SIGTERM.
pub async fn run(args: WebhookServerArgs, kubeconfig: Option<PathBuf>) -> Result<()> {
    let cfg = WebhookServerConfig {
        kubeconfig: kubeconfig
            .or_else(|| std::env::var_os("KUBECONFIG").map(PathBuf::from))
            .filter(|p| !p.as_os_str().is_empty()),
        context: args.context,
        listen: args.bind_address,
        namespace: args.namespace,
        service: args.service,
        extra_sans: args.tls_sans,
        url: args.url,
        register: !args.no_register,
        allow_file_repos: args.allow_file_repos,
    };
    let started = |s: &Started| {
        // The one line scripts and tests wait for.
        let _ = outln!("kargo webhook-server listening at {}", s.url);
    };
    let shutdown = crate::cmd::server::shutdown_signal();
    kargo_server::webhook_server::run(cfg, started, shutdown)
        .await
        .map_err(anyhow::Error::msg)
        .context("kargo webhook-server")
}
