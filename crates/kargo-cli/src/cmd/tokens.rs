//! API tokens for automation, as Kargo makes them: `kargo create token
//! --project P --role R NAME` is a Secret of type
//! `kubernetes.io/service-account-token` for the Kargo Role's
//! ServiceAccount (labelled `rbac.kargo.akuity.io/api-token`, owned by the
//! ServiceAccount); the server fills in the token, which works until
//! `kargo delete token` removes the Secret.

use crate::resources::explain;
use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

const API_TOKEN: &str = "rbac.kargo.akuity.io/api-token";
const SA_TOKEN: &str = "kubernetes.io/service-account-token";
const SA_NAME: &str = "kubernetes.io/service-account.name";

/// Flags of `kargo create token`.
#[derive(Debug, clap::Args)]
pub struct CreateTokenArgs {
    /// Token name.
    pub name: String,
    /// Project.
    #[arg(short = 'p', long)]
    pub project: Option<String>,
    /// The Kargo Role whose permissions the token carries.
    #[arg(long)]
    pub role: String,
}

/// Creates the token Secret and prints the token (shown once).
pub async fn create(client: &kube::Client, project: &str, a: CreateTokenArgs) -> Result<()> {
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), project)
        .get(&a.role)
        .await
        .map_err(explain)?;
    let managed = sa
        .metadata
        .annotations
        .as_ref()
        .and_then(|m| m.get(crate::cmd::roles::MANAGED))
        .is_some_and(|v| v == "true");
    if !managed {
        bail!(
            "ServiceAccount {:?} in project {project:?} is not a Kargo Role",
            a.role
        );
    }
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": a.name, "namespace": project,
            "labels": {API_TOKEN: "true"},
            "annotations": {SA_NAME: a.role, crate::cmd::roles::MANAGED: "true"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "ServiceAccount", "name": a.role,
                "uid": sa.metadata.uid.unwrap_or_default()}]},
        "type": SA_TOKEN,
    }))?;
    let api = Api::<Secret>::namespaced(client.clone(), project);
    let mut created = api
        .create(&PostParams::default(), &secret)
        .await
        .map_err(explain)?;
    // Kubernetes fills the token in asynchronously: look again a few times.
    for _ in 0..5 {
        if let Some(t) = created.data.as_ref().and_then(|d| d.get("token")) {
            outln!("{}", String::from_utf8_lossy(&t.0))?;
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        created = api.get(&a.name).await.map_err(explain)?;
    }
    bail!("the server did not fill in token {:?}", a.name)
}

/// `kargo get tokens`: the project's API tokens and their roles.
pub async fn get(client: &kube::Client, project: &str, names: &[String]) -> Result<()> {
    let list = Api::<Secret>::namespaced(client.clone(), project)
        .list(&ListParams::default().labels(&format!("{API_TOKEN}=true")))
        .await
        .map_err(explain)?;
    outln!("{:<24} ROLE", "NAME")?;
    for s in list.items {
        let name = s.metadata.name.clone().unwrap_or_default();
        if !names.is_empty() && !names.contains(&name) {
            continue;
        }
        let role = s
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SA_NAME))
            .cloned()
            .unwrap_or_default();
        outln!("{name:<24} {role}")?;
    }
    Ok(())
}

/// `kargo delete token NAME`: revokes it at once.
pub async fn delete(client: &kube::Client, project: &str, name: &str) -> Result<()> {
    let api = Api::<Secret>::namespaced(client.clone(), project);
    let s = api.get(name).await.map_err(explain)?;
    if s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(API_TOKEN))
        .is_none_or(|v| v != "true")
    {
        bail!("Secret {name:?} in project {project:?} is not an API token");
    }
    api.delete(name, &DeleteParams::default())
        .await
        .map_err(explain)?;
    outln!("token {name} deleted")?;
    Ok(())
}
