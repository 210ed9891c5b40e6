//! `kargo install`: prints a whole cluster installation (see
//! [`crate::install_manifests`]) as one multi-document YAML stream; `kargo
//! install crds` prints only the CustomResourceDefinitions of every kind
//! with a schema (Kargo's and Argo Rollouts' analysis kinds).

use anyhow::Result;
use std::io::Write;

/// The CRDs as a multi-document YAML stream.
pub fn crds_yaml() -> Result<String> {
    let mut out = String::new();
    for crd in kargo_api::crd::crds() {
        out.push_str("---\n");
        out.push_str(&yaml_serde::to_string(&crd)?);
    }
    Ok(out)
}

/// Runs `kargo install crds`.
pub fn crds() -> Result<()> {
    std::io::stdout()
        .lock()
        .write_all(crds_yaml()?.as_bytes())?;
    Ok(())
}

/// Flags of `kargo install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The image every Deployment runs (see the Dockerfile).
    #[arg(long, default_value = concat!("ghcr.io/kargo-rs/kargo:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// The namespace Kargo's processes run in.
    #[arg(long, default_value = "kargo")]
    pub namespace: String,
    /// Replicas of each Deployment; with more than one, the controllers
    /// elect a leader.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub replicas: u32,
    /// Controller shards, comma-separated: one controller Deployment per
    /// shard (the first also takes what is labelled for no shard).
    #[arg(long, value_delimiter = ',')]
    pub shards: Vec<String>,
}

/// Runs `kargo install`.
pub fn all(args: InstallArgs) -> Result<()> {
    let o = crate::install_manifests::InstallOptions {
        image: args.image,
        namespace: args.namespace,
        replicas: args.replicas,
        shards: args.shards.into_iter().filter(|s| !s.is_empty()).collect(),
    };
    std::io::stdout()
        .lock()
        .write_all(crate::install_manifests::yaml(&o)?.as_bytes())?;
    Ok(())
}
