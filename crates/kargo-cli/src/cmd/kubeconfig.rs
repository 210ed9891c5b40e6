//! `kargo config kubeconfig`: prints a kubeconfig whose `kargo` context
//! reaches the server the CLI is configured for (address, CA, token; the
//! global `--server`, `--token` and `--certificate-authority` flags win),
//! so `kargo config kubeconfig > kc && KUBECONFIG=kc kubectl ...` works
//! for any server, not only the local one.

use crate::client::{self, ConnectFlags};
use crate::config;
use anyhow::{Result, bail};
use kargo_server::kubeconfig;

/// Prints the kubeconfig.
pub fn print(flags: &ConnectFlags) -> Result<()> {
    let cfg = config::load()?.unwrap_or_default();
    let server = flags.server.clone().unwrap_or(cfg.api_address);
    if server.is_empty() {
        bail!(
            "no server configured: start one with `kargo server`, or run `kargo login URL --token TOKEN`"
        );
    }
    let ca = match &flags.certificate_authority {
        Some(p) => client::read_ca(p)?,
        None => cfg.ca_data,
    };
    let token = flags.token.clone().unwrap_or(cfg.bearer_token);
    let mut doc = kubeconfig::document(&server, &token, Some(&ca));
    if (flags.insecure_skip_tls_verify || cfg.insecure_skip_tls_verify)
        && let Some(cluster) = doc["clusters"][0]
            .get_mut("cluster")
            .and_then(|c| c.as_mapping_mut())
    {
        cluster.insert("insecure-skip-tls-verify".into(), true.into());
    }
    out!("{}", kubeconfig::to_text(&doc))?;
    Ok(())
}
