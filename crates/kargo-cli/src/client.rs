//! Builds the kube-rs client the commands use: from the kargo config
//! (server, token, CA), from flags, or from a kubeconfig for a real
//! cluster (`--kubeconfig` / `KUBECONFIG`).

use crate::config::{self, CliConfig};
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;

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

/// Decodes every certificate in a PEM text to DER.
pub fn pem_to_der(pem: &str) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            cur = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            let b64 = cur
                .take()
                .ok_or_else(|| anyhow!("malformed PEM: END without BEGIN"))?;
            out.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .context("malformed PEM certificate")?,
            );
        } else if let Some(c) = cur.as_mut() {
            c.push_str(line);
        }
    }
    if out.is_empty() {
        bail!("no certificate found in the CA data");
    }
    Ok(out)
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
    let url: http::Uri = address
        .parse()
        .with_context(|| format!("invalid server address {address:?}"))?;
    let mut c = kube::Config::new(url);
    c.default_namespace = "default".into();
    c.accept_invalid_certs = insecure || cfg.insecure_skip_tls_verify;
    if !cfg.ca_data.is_empty() && !c.accept_invalid_certs {
        c.root_cert = Some(pem_to_der(&cfg.ca_data)?);
    }
    if !token.is_empty() {
        c.auth_info.token = Some(token.to_string().into());
    }
    c.read_timeout = Some(std::time::Duration::from_secs(300));
    kube::Client::try_from(c).context("building the client")
}

/// The project from the flag, else the config's default.
pub fn project(flag: Option<&str>) -> Result<Option<String>> {
    if let Some(p) = flag {
        return Ok(Some(p.to_string()));
    }
    Ok(config::load()?.map(|c| c.project).filter(|p| !p.is_empty()))
}
