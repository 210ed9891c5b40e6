//! `kargo version [--client] [-o json|yaml|...]`: the client's and the
//! server's versions, as lines (`Client Version: …`) or, with `-o`, as
//! Kargo prints them: a `ComponentVersions` object with `client` and
//! `server` (`version`, `buildDate`, `gitCommit`, `gitTreeDirty`,
//! `compiler`, `platform`), read from each side's `/version` document.

use crate::format::Format;
use crate::resources::explain;
use anyhow::{Result, bail};
use serde_json::{Value, json};

/// One component's version in Kargo's shape, from a Kubernetes `/version`
/// document (`gitVersion` `v1.34.0+kargo-0.1.0` gives `0.1.0`).
fn component(info: &Value) -> Value {
    let s = |k: &str| info[k].as_str().unwrap_or("").to_string();
    let git_version = s("gitVersion");
    let version = git_version
        .split_once("+kargo-")
        .map_or(git_version.clone(), |(_, v)| v.to_string());
    json!({
        "version": version,
        "buildDate": s("buildDate"),
        "gitCommit": s("gitCommit"),
        "gitTreeDirty": !matches!(s("gitTreeState").as_str(), "clean" | ""),
        "compiler": s("compiler"),
        "platform": s("platform"),
    })
}

/// Runs `kargo version`.
pub async fn run(
    flags: &crate::client::ConnectFlags,
    client_only: bool,
    output: Option<Format>,
) -> Result<()> {
    let client = component(&kargo_apiserver::version());
    // As Kargo: no server configured, no server version (and no error).
    let server = if client_only {
        None
    } else {
        match crate::client::client(flags).await {
            Ok(c) => Some(server_version(&c).await),
            Err(_) => None,
        }
    };
    let Some(format) = output else {
        outln!(
            "Client Version: {}",
            client["version"].as_str().unwrap_or("")
        )?;
        return match server {
            None => Ok(()),
            Some(Ok(v)) => outln!("Server Version: {}", v["version"].as_str().unwrap_or("")),
            Some(Err(e)) => Err(e.context("reading the server's version")),
        };
    };
    if format.is_table() {
        bail!("-o: use json, yaml, jsonpath=… or go-template=… (tables are for `kargo get`)");
    }
    let mut doc = json!({
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "ComponentVersions",
        "client": client,
    });
    let failed = match server {
        Some(Ok(v)) => {
            doc["server"] = v;
            None
        }
        Some(Err(e)) => Some(e.context("reading the server's version")),
        None => None,
    };
    format.print_doc(None, &doc)?;
    // As Kargo: the versions known are printed, then the server's error.
    failed.map_or(Ok(()), Err)
}

async fn server_version(c: &kube::Client) -> Result<Value> {
    let req = http::Request::get("/version")
        .body(Vec::new())
        .map_err(anyhow::Error::from)?;
    let info: Value = c.request(req).await.map_err(explain)?;
    Ok(component(&info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_kargo_prints_them() {
        let v = component(&kargo_apiserver::version());
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["compiler"], "rustc");
        assert_eq!(v["gitTreeDirty"], false);
    }
}
