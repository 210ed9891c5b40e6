//! Builds the kube-rs client the commands use: from the kargo config
//! (server, token, CA), from flags, or from a kubeconfig for a real
//! cluster (`--kubeconfig` / `KUBECONFIG`).

use crate::config::{self, CliConfig};
use anyhow::{Context, Result, bail};

/// Connection flags shared by every command.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConnectFlags {
    /// Use this kubeconfig (a real cluster) instead of the kargo config.
    #[arg(long, global = true, env = "KARGO_KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Server address, overriding the config.
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// Bearer token, overriding the config.
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Skip TLS certificate verification.
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
}

/// The kube client for this invocation.
pub async fn client(flags: &ConnectFlags) -> Result<kube::Client> {
    let cfg = config::load()?;
    let use_kubeconfig = flags.kubeconfig.is_some()
        || (cfg.is_none() && flags.server.is_none() && std::env::var_os("KUBECONFIG").is_some());
    if use_kubeconfig {
        let kc = match &flags.kubeconfig {
            Some(p) => kube::config::Kubeconfig::read_from(p)
                .with_context(|| format!("reading kubeconfig {}", p.display()))?,
            None => kube::config::Kubeconfig::read().context("reading KUBECONFIG")?,
        };
        let c = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .context("loading kubeconfig")?;
        return kube::Client::try_from(c).context("building the Kubernetes client");
    }
    let cfg = cfg.unwrap_or_default();
    let address = flags.server.clone().unwrap_or(cfg.api_address.clone());
    if address.is_empty() {
        bail!(
            "no server configured: start one with `kargo server`, or run `kargo login URL --token TOKEN`"
        );
    }
    build(
        &address,
        flags.token.as_deref().unwrap_or(&cfg.bearer_token),
        &cfg,
        flags.insecure_skip_tls_verify,
    )
}

/// Builds a client for `address` with `token`.
pub fn build(address: &str, token: &str, cfg: &CliConfig, insecure: bool) -> Result<kube::Client> {
    let insecure = insecure || cfg.insecure_skip_tls_verify;
    kargo_server::client::https_client(address, Some(token), Some(&cfg.ca_data), insecure)
        .context("building the client")
}

/// The project from the flag, else the config's default.
pub fn project(flag: Option<&str>) -> Result<Option<String>> {
    if let Some(p) = flag {
        return Ok(Some(p.to_string()));
    }
    Ok(config::load()?.map(|c| c.project).filter(|p| !p.is_empty()))
}

/// The project from the flag or the config, or an error saying how to give one.
pub fn require_project(flag: Option<&str>) -> Result<String> {
    project(flag)?.ok_or_else(|| {
        anyhow::anyhow!("pass --project (-p) or set a default with `kargo config set-project`")
    })
}
