//! `kargo login` and `kargo config set-project`: write the CLI config.

use crate::client;
use crate::config::{self, CliConfig};
use anyhow::Result;

/// Flags of `kargo login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Server address, e.g. https://127.0.0.1:8443.
    pub url: String,
    /// Bearer token (the server's `<data-dir>/admin-token`).
    #[arg(long)]
    pub token: String,
    /// CA certificate file to trust.
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Do not verify the server's certificate.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

/// Saves the connection after checking that it works.
pub async fn login(a: LoginArgs, flags: &client::ConnectFlags) -> Result<()> {
    let ca_data = match a.ca_file.as_ref().or(flags.certificate_authority.as_ref()) {
        Some(p) => client::read_ca(p)?,
        None => String::new(),
    };
    let mut cfg = config::load()?.unwrap_or_default();
    cfg = CliConfig {
        api_address: a.url.clone(),
        bearer_token: a.token.clone(),
        ca_data,
        insecure_skip_tls_verify: a.insecure_skip_tls_verify,
        ..cfg
    };
    let c = client::build(
        &a.url,
        &a.token,
        &cfg.ca_data,
        cfg.insecure_skip_tls_verify,
        flags.request_timeout,
    )?;
    c.apiserver_version()
        .await
        .map_err(crate::resources::explain)?;
    let p = config::save(&cfg)?;
    outln!("logged in to {} (configuration in {})", a.url, p.display())?;
    Ok(())
}

/// Sets the default project.
pub fn set_project(project: &str) -> Result<()> {
    let mut cfg = config::load()?.unwrap_or_default();
    // As Kargo's CLI: trimmed, lower case; `""` unsets it.
    cfg.project = project.trim().to_lowercase();
    config::save(&cfg)?;
    if cfg.project.is_empty() {
        outln!("default project unset")
    } else {
        outln!("default project set to {}", cfg.project)
    }
}
