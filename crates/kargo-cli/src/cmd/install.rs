//! `kargo install crds`: prints the CustomResourceDefinitions of every kind
//! with a schema (Kargo's and Argo Rollouts' analysis kinds) as one
//! multi-document YAML stream, for `kubectl apply -f -` on a cluster.

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
