//! `kargo delete KIND NAME...` and `kargo delete -f FILE`.

use crate::manifest;
use crate::resources::{api, explain, qualified_name, resolve};
use anyhow::{Result, bail};
use kube::api::DeleteParams;
use serde_json::Value;

/// Deletes objects by kind and name.
pub async fn by_name(
    client: &kube::Client,
    kind: &str,
    names: &[String],
    project: Option<&str>,
) -> Result<()> {
    let info = resolve(kind)?;
    let a = api(client, info, project)?;
    let mut failed = 0;
    for n in names {
        match a.delete(n, &DeleteParams::default()).await {
            Ok(_) => outln!("{} deleted", qualified_name(info, n))?,
            Err(e) => {
                eprintln!("error: {}", explain(e));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} deletions failed", names.len());
    }
    Ok(())
}

/// Deletes what the manifests describe.
pub async fn by_files(
    client: &kube::Client,
    files: &[String],
    project: Option<&str>,
) -> Result<()> {
    let mut ms = manifest::read_all(files)?;
    manifest::order(&mut ms);
    ms.reverse();
    let mut failed = 0;
    for m in &ms {
        let name = m
            .obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = m
            .obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .or(project);
        let res = match api(client, m.info, ns) {
            Ok(a) => a
                .delete(name, &DeleteParams::default())
                .await
                .map_err(explain),
            Err(e) => Err(e),
        };
        match res {
            Ok(_) => outln!("{} deleted", qualified_name(m.info, name))?,
            Err(e) => {
                eprintln!("error: {}: {e}", m.source);
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} deletions failed", ms.len());
    }
    Ok(())
}
