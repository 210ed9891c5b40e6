//! The CLI's own configuration (`~/.config/kargo/config.yaml`, or the
//! file named by `KARGO_CONFIG`): server address, token, CA and the
//! default project.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Contents of the config file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CliConfig {
    /// `https://host:port` of the server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_address: String,
    /// Bearer token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bearer_token: String,
    /// PEM of the CA to trust.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_data: String,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_tls_verify: bool,
    /// Default project for commands that take `--project`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// How `kargo login` signed in (`admin`, `sso`), as Kargo records it:
    /// a bare `kargo login` signs in the same way again.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_method: String,
    /// The OpenID Connect refresh token of an SSO sign-in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub refresh_token: String,
    /// The loopback port of the SSO callback, when one was chosen.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub callback_port: u16,
}

fn is_zero(p: &u16) -> bool {
    *p == 0
}

/// Where the config lives.
pub fn path() -> PathBuf {
    if let Some(p) = std::env::var_os("KARGO_CONFIG") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("kargo").join("config.yaml")
}

/// Loads the config; `None` when there is none yet.
pub fn load() -> Result<Option<CliConfig>> {
    let p = path();
    match std::fs::read_to_string(&p) {
        Ok(s) => Ok(Some(
            yaml_serde::from_str(&s).with_context(|| format!("reading {}", p.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Writes the config (mode 0600: it holds a token).
pub fn save(cfg: &CliConfig) -> Result<PathBuf> {
    use std::io::Write;
    let p = path();
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = yaml_serde::to_string(cfg)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&p)
        .with_context(|| format!("writing {}", p.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(p)
}
