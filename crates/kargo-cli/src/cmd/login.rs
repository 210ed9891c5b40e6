//! `kargo login` and `kargo config set-project`: write the CLI config.

use crate::client;
use crate::config::{self, CliConfig};
use anyhow::{Result, bail};

/// Flags of `kargo login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Server address, e.g. https://127.0.0.1:8443.
    pub url: String,
    /// Bearer token (the server's `<data-dir>/admin-token`, or an API token).
    #[arg(long, required_unless_present = "admin")]
    pub token: Option<String>,
    /// Sign in as the admin with the admin password (a short-lived token).
    #[arg(long, conflicts_with = "token")]
    pub admin: bool,
    /// The admin password (prefer --password-stdin).
    #[arg(long, requires = "admin", conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the admin password from stdin.
    #[arg(long, requires = "admin")]
    pub password_stdin: bool,
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
    let insecure = a.insecure_skip_tls_verify;
    let token = match &a.token {
        Some(t) => t.clone(),
        None => admin_token(&a, &ca_data, insecure, flags).await?,
    };
    let mut cfg = config::load()?.unwrap_or_default();
    cfg = CliConfig {
        api_address: a.url.clone(),
        bearer_token: token.clone(),
        ca_data,
        insecure_skip_tls_verify: a.insecure_skip_tls_verify,
        ..cfg
    };
    let c = client::build(
        &a.url,
        &token,
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

/// Signs in as the admin (`POST /v1beta1/login` with the password, as
/// Kargo's CLI does) and returns the token the server issued.
async fn admin_token(
    a: &LoginArgs,
    ca_data: &str,
    insecure: bool,
    flags: &client::ConnectFlags,
) -> Result<String> {
    let password = crate::password::read(a.password.clone(), a.password_stdin)?;
    let c = client::build(&a.url, "", ca_data, insecure, flags.request_timeout)?;
    let req = http::Request::post("/v1beta1/login")
        .header(http::header::AUTHORIZATION, format!("Bearer {password}"))
        .body(Vec::new())?;
    let answer = c
        .request_text(req)
        .await
        .map_err(crate::resources::explain)?;
    let v: serde_json::Value = serde_json::from_str(&answer)?;
    match v.get("idToken").and_then(serde_json::Value::as_str) {
        Some(t) => Ok(t.to_string()),
        None => bail!("the server answered without a token"),
    }
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
