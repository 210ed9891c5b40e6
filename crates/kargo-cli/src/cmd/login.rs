//! `kargo login` and `kargo config set-project`: write the CLI config.
//! `kargo login` signs in with a token, as the admin (`--admin`) or
//! through OpenID Connect (`--sso`, `sso.rs`); a bare `kargo login`
//! signs in again to the saved server the way it last did, as Kargo's.

use crate::client;
use crate::config::{self, CliConfig};
use anyhow::{Result, bail};

/// Flags of `kargo login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Server address, e.g. https://127.0.0.1:8443 (default: the saved one).
    pub url: Option<String>,
    /// Bearer token (the server's `<data-dir>/admin-token`, or an API token).
    #[arg(long)]
    pub token: Option<String>,
    /// Sign in as the admin with the admin password (a short-lived token).
    #[arg(long, conflicts_with = "token")]
    pub admin: bool,
    /// Sign in through the server's OpenID Connect provider in a browser
    /// (authorization code with PKCE; the address to open is printed).
    #[arg(long, conflicts_with_all = ["token", "admin"])]
    pub sso: bool,
    /// Port of the loopback callback for --sso (0: any free port).
    #[arg(long, alias = "callback-port", default_value_t = 0)]
    pub port: u16,
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
pub async fn login(mut a: LoginArgs, flags: &client::ConnectFlags) -> Result<()> {
    let saved = config::load()?.unwrap_or_default();
    let url = match a.url.clone() {
        Some(u) => u,
        None if !saved.api_address.is_empty() => {
            // A bare `kargo login`: the saved server, signed in to as before.
            if a.token.is_none() && !a.admin && !a.sso {
                match saved.auth_method.as_str() {
                    "sso" => a.sso = true,
                    "admin" => a.admin = true,
                    _ => bail!("pass --token, --admin or --sso"),
                }
            }
            if a.port == 0 {
                a.port = saved.callback_port;
            }
            saved.api_address.clone()
        }
        None => bail!("give the server's address: kargo login URL (--token T | --admin | --sso)"),
    };
    let ca_data = match a.ca_file.as_ref().or(flags.certificate_authority.as_ref()) {
        Some(p) => client::read_ca(p)?,
        None if saved.api_address == url => saved.ca_data.clone(),
        None => String::new(),
    };
    let insecure = a.insecure_skip_tls_verify;
    let (token, refresh, method, port) = match (&a.token, a.admin, a.sso) {
        (Some(t), _, _) => (t.clone(), String::new(), "", 0),
        (None, true, _) => (
            admin_token(&a, &url, &ca_data, insecure, flags).await?,
            String::new(),
            "admin",
            0,
        ),
        (None, false, true) => {
            let c = client::build(&url, "", &ca_data, insecure, flags.request_timeout)?;
            let s = super::sso::sign_in(&c, insecure, a.port).await?;
            let port = if a.port == 0 { 0 } else { s.port };
            (
                s.tokens.id_token,
                s.tokens.refresh_token.unwrap_or_default(),
                "sso",
                port,
            )
        }
        (None, false, false) => bail!("pass --token, --admin or --sso"),
    };
    // Another server: start from a clean configuration, as Kargo does.
    let base = if saved.api_address == url {
        saved
    } else {
        CliConfig::default()
    };
    let cfg = CliConfig {
        api_address: url.clone(),
        bearer_token: token.clone(),
        ca_data,
        insecure_skip_tls_verify: a.insecure_skip_tls_verify,
        auth_method: method.to_string(),
        refresh_token: refresh,
        callback_port: port,
        ..base
    };
    let c = client::build(
        &url,
        &token,
        &cfg.ca_data,
        cfg.insecure_skip_tls_verify,
        flags.request_timeout,
    )?;
    c.apiserver_version()
        .await
        .map_err(crate::resources::explain)?;
    let p = config::save(&cfg)?;
    outln!("logged in to {url} (configuration in {})", p.display())?;
    Ok(())
}

/// Signs in as the admin (`POST /v1beta1/login` with the password, as
/// Kargo's CLI does) and returns the token the server issued.
async fn admin_token(
    a: &LoginArgs,
    url: &str,
    ca_data: &str,
    insecure: bool,
    flags: &client::ConnectFlags,
) -> Result<String> {
    let password = crate::password::read(a.password.clone(), a.password_stdin)?;
    let c = client::build(url, "", ca_data, insecure, flags.request_timeout)?;
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
