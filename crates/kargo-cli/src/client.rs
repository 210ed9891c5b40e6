//! Builds the kube-rs client the commands use: from the kargo config
//! (server, token, CA), from flags, or from a kubeconfig for a real
//! cluster (`--kubeconfig` / `KUBECONFIG`).

use crate::config;
use anyhow::{Context, Result, bail};
use std::time::Duration;

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
    /// Trust this CA certificate (PEM file), overriding the config's.
    #[arg(long, global = true, value_name = "FILE")]
    pub certificate_authority: Option<std::path::PathBuf>,
    /// How long to wait for the server to accept a connection (TCP and
    /// TLS) and for each answer: `30s`, `2m`, a number of seconds, or `0`
    /// for no limit.
    #[arg(long, global = true, env = "KARGO_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub request_timeout: Timeout,
}

/// A request timeout; `None` means no limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeout(pub Option<Duration>);

/// Parses `--request-timeout`: a Go duration (`30s`, `1m30s`), a bare
/// number of seconds, or `0` for no limit.
fn parse_timeout(s: &str) -> Result<Timeout, String> {
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let d: kube::core::Duration = s.trim().parse().map_err(|e| {
                format!("{s:?} is not a duration such as 30s, 2m or 0 (no limit): {e}")
            })?;
            if d.is_negative() {
                return Err(format!("{s:?} is negative"));
            }
            d.into()
        }
    };
    Ok(Timeout((!d.is_zero()).then_some(d)))
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
        let mut c = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .context("loading kubeconfig")?;
        crate::unreachable::remember(&c.cluster_url.to_string(), flags.request_timeout.0);
        if let Some(t) = flags.request_timeout.0 {
            c.connect_timeout = Some(t);
            c.read_timeout = Some(t);
        }
        return kube::Client::try_from(c).context("building the Kubernetes client");
    }
    let cfg = cfg.unwrap_or_default();
    let address = flags.server.clone().unwrap_or(cfg.api_address.clone());
    if address.is_empty() {
        bail!(
            "no server configured: start one with `kargo server`, or run `kargo login URL --token TOKEN`"
        );
    }
    let ca = match &flags.certificate_authority {
        Some(p) => read_ca(p)?,
        None => cfg.ca_data.clone(),
    };
    let insecure = flags.insecure_skip_tls_verify || cfg.insecure_skip_tls_verify;
    let token = match &flags.token {
        Some(t) => t.clone(),
        None => fresh_token(cfg, &address, &ca, insecure, flags.request_timeout).await,
    };
    build(&address, &token, &ca, insecure, flags.request_timeout)
}

/// The saved bearer token; an SSO sign-in's ID token that expires within
/// a minute is first refreshed with the saved refresh token (and the
/// config updated), as Kargo's CLI does. When refreshing fails the old
/// token is used and the server's answer says it expired.
async fn fresh_token(
    mut cfg: config::CliConfig,
    address: &str,
    ca: &str,
    insecure: bool,
    timeout: Timeout,
) -> String {
    let stale = crate::cmd::sso::expires_in(&cfg.bearer_token).is_some_and(|s| s < 60);
    if cfg.auth_method != "sso" || cfg.refresh_token.is_empty() || !stale {
        return cfg.bearer_token;
    }
    let refreshed = async {
        let c = build(address, "", ca, insecure, timeout)?;
        crate::cmd::sso::refresh(&c, insecure, &cfg.refresh_token).await
    }
    .await;
    match refreshed {
        Ok(t) => {
            cfg.bearer_token = t.id_token;
            cfg.refresh_token = t.refresh_token.unwrap_or_default();
            if let Err(e) = config::save(&cfg) {
                tracing::warn!(error = %e, "saving the refreshed sign-in");
            }
        }
        Err(e) => {
            eprintln!("warning: could not refresh the SSO sign-in ({e:#}); run `kargo login --sso`")
        }
    }
    cfg.bearer_token
}

/// Reads a CA certificate file (PEM).
pub fn read_ca(p: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(p)
        .with_context(|| format!("reading the CA certificate {}", p.display()))
}

/// Builds a client for `address` with `token`, trusting `ca_pem` (if not
/// empty), with `timeout` for connecting and for each answer.
pub fn build(
    address: &str,
    token: &str,
    ca_pem: &str,
    insecure: bool,
    timeout: Timeout,
) -> Result<kube::Client> {
    crate::unreachable::remember(address, timeout.0);
    let mut c = kargo_server::client::https_config(address, Some(token), Some(ca_pem), insecure)
        .context("building the client")?;
    c.connect_timeout = timeout.0;
    c.read_timeout = timeout.0;
    kube::Client::try_from(c).context("building the client")
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
