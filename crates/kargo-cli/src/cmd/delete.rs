//! `kargo delete KIND NAME...`, `kargo delete freight --name N --alias A`
//! (Freight by name or alias, as Kargo's CLI) and `kargo delete -f FILE`.

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

/// Deletes Freight given by name or alias (positional names may be either).
pub async fn freight(
    client: &kube::Client,
    names: &[String],
    aliases: &[String],
    project: Option<&str>,
) -> Result<()> {
    let Some(project) = project else {
        bail!(
            "Freight lives in a project: pass --project (-p) or set a default with `kargo config set-project`"
        );
    };
    let mut resolved = Vec::new();
    let mut failed = 0;
    let wanted = names
        .iter()
        .map(|n| (Some(n.as_str()), None))
        .chain(aliases.iter().map(|a| (None, Some(a.as_str()))));
    for (name, alias) in wanted {
        match crate::cmd::promote::find(client, project, name, alias).await {
            Ok(f) => resolved.push(f.metadata.name.unwrap_or_default()),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
    let result = if resolved.is_empty() {
        Ok(())
    } else {
        by_name(client, "freight", &resolved, Some(project)).await
    };
    if failed > 0 {
        bail!(
            "{failed} of {} Freight could not be found",
            names.len() + aliases.len()
        );
    }
    result
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
