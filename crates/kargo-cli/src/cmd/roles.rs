//! Kargo Roles: `kargo create role`, `get roles`, `grant`, `revoke` and
//! `delete role` in Kargo's forms. A Kargo Role is a ServiceAccount, a
//! Role and a RoleBinding all named alike and annotated
//! `rbac.kargo.akuity.io/managed`; OIDC claims mapped to it live in the
//! ServiceAccount's `rbac.kargo.akuity.io/claims` annotation.

use crate::resources::explain;
use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;

/// Annotation marking what Kargo manages.
pub const MANAGED: &str = "rbac.kargo.akuity.io/managed";
/// Annotation holding the OIDC claims mapped to a ServiceAccount.
pub const CLAIMS: &str = "rbac.kargo.akuity.io/claims";
const DESCRIPTION: &str = "kargo.akuity.io/description";
const RBAC: &str = "rbac.authorization.k8s.io";

/// Flags of `kargo create role`.
#[derive(Debug, clap::Args)]
pub struct CreateRoleArgs {
    /// Role name.
    pub name: String,
    /// Project.
    #[arg(short = 'p', long)]
    pub project: Option<String>,
    /// OIDC claim mapped to the role, `name=value` (repeatable).
    #[arg(long = "claim")]
    pub claims: Vec<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
}

/// Flags of `kargo grant` and `kargo revoke`.
#[derive(Debug, clap::Args)]
pub struct GrantArgs {
    /// Project.
    #[arg(short = 'p', long)]
    pub project: Option<String>,
    /// The Kargo Role.
    #[arg(long)]
    pub role: String,
    /// OIDC claim `name=value` (repeatable).
    #[arg(long = "claim", conflicts_with_all = ["verbs", "resource_type"])]
    pub claims: Vec<String>,
    /// Verb (repeatable; `*` for all).
    #[arg(long = "verb", requires = "resource_type")]
    pub verbs: Vec<String>,
    /// Resource type (`stages`, `promotions`, `freights/status`, ...).
    #[arg(long)]
    pub resource_type: Option<String>,
    /// Resource name (repeatable).
    #[arg(long = "resource-name", requires = "resource_type")]
    pub resource_names: Vec<String>,
}

fn managed(ann: Option<&BTreeMap<String, String>>) -> bool {
    ann.and_then(|a| a.get(MANAGED))
        .is_some_and(|v| v == "true")
}

fn parse_claims(claims: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in claims {
        let Some((k, v)) = c
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        else {
            bail!("invalid claim {c:?}: expected name=value");
        };
        let vals = out.entry(k.to_string()).or_default();
        if !vals.iter().any(|x| x == v) {
            vals.push(v.to_string());
        }
    }
    Ok(out)
}

fn claims_of(sa: &ServiceAccount) -> BTreeMap<String, Vec<String>> {
    sa.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CLAIMS))
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default()
}

/// `kargo create role NAME [--claim name=value]... [--description D]`.
pub async fn create(client: &kube::Client, project: &str, a: CreateRoleArgs) -> Result<()> {
    let claims = parse_claims(&a.claims)?;
    let mut ann = json!({MANAGED: "true"});
    if let Some(d) = &a.description {
        ann[DESCRIPTION] = json!(d);
    }
    let mut sa_ann = ann.clone();
    if !claims.is_empty() {
        sa_ann[CLAIMS] = json!(serde_json::to_string(&claims)?);
    }
    let meta =
        |ann: &serde_json::Value| json!({"name": a.name, "namespace": project, "annotations": ann});
    let pp = PostParams::default();
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": meta(&sa_ann)}))?;
    Api::<ServiceAccount>::namespaced(client.clone(), project)
        .create(&pp, &sa)
        .await
        .map_err(explain)?;
    let role: Role = serde_json::from_value(json!({"metadata": meta(&ann), "rules": []}))?;
    Api::<Role>::namespaced(client.clone(), project)
        .create(&pp, &role)
        .await
        .map_err(explain)?;
    let rb: RoleBinding = serde_json::from_value(json!({"metadata": meta(&ann),
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": a.name},
        "subjects": [{"kind": "ServiceAccount", "name": a.name, "namespace": project}]}))?;
    Api::<RoleBinding>::namespaced(client.clone(), project)
        .create(&pp, &rb)
        .await
        .map_err(explain)?;
    outln!("role.rbac.kargo.akuity.io/{} created", a.name)?;
    Ok(())
}

/// The three parts of a Kargo Role, refused unless all are managed.
async fn parts(client: &kube::Client, project: &str, name: &str) -> Result<(ServiceAccount, Role)> {
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), project)
        .get(name)
        .await
        .map_err(explain)?;
    let role = Api::<Role>::namespaced(client.clone(), project)
        .get_opt(name)
        .await
        .map_err(explain)?;
    let Some(role) = role else {
        bail!(
            "ServiceAccount {name:?} in namespace {project:?} has no Role of the same name: it is not a Kargo Role"
        );
    };
    if !managed(sa.metadata.annotations.as_ref()) || !managed(role.metadata.annotations.as_ref()) {
        bail!(
            "Role {name:?} in namespace {project:?} is not managed by Kargo (annotation {MANAGED}: \"true\"); edit it with kubectl instead"
        );
    }
    Ok((sa, role))
}

/// `*` as Kargo expands it for a resource type.
fn expand_verbs(verbs: &[String], resource: &str) -> Vec<String> {
    let mut out = Vec::new();
    for v in verbs {
        if v == "*" {
            let mut all = vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ];
            if resource == "stages" {
                all.push("promote");
            }
            out.extend(all.into_iter().map(String::from));
        } else {
            out.push(v.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The API group of a resource type the server serves.
fn group_of(resource: &str) -> Result<String> {
    let base = resource.split('/').next().unwrap_or(resource);
    match kargo_api::registry::resources()
        .iter()
        .find(|r| r.plural == base)
    {
        Some(r) => Ok(r.group.to_string()),
        None => bail!("unknown resource type {resource:?}"),
    }
}

/// `kargo grant` (`revoke` = false) or `kargo revoke`.
pub async fn grant(client: &kube::Client, project: &str, a: GrantArgs, revoke: bool) -> Result<()> {
    let (mut sa, mut role) = parts(client, project, &a.role).await?;
    if !a.claims.is_empty() {
        let mut have = claims_of(&sa);
        for (k, vs) in parse_claims(&a.claims)? {
            let list = have.entry(k.clone()).or_default();
            for v in vs {
                if revoke {
                    list.retain(|x| *x != v);
                } else if !list.contains(&v) {
                    list.push(v);
                }
            }
            if list.is_empty() {
                have.remove(&k);
            }
        }
        let ann = sa.metadata.annotations.get_or_insert_with(Default::default);
        if have.is_empty() {
            ann.remove(CLAIMS);
        } else {
            ann.insert(CLAIMS.into(), serde_json::to_string(&have)?);
        }
        Api::<ServiceAccount>::namespaced(client.clone(), project)
            .replace(&a.role, &PostParams::default(), &sa)
            .await
            .map_err(explain)?;
    } else {
        let Some(resource) = a.resource_type.as_deref() else {
            bail!(
                "say what to {}: --verb V --resource-type T [--resource-name N], or --claim name=value",
                if revoke { "revoke" } else { "grant" }
            );
        };
        if a.verbs.is_empty() {
            bail!("--verb is required with --resource-type");
        }
        let group = group_of(resource)?;
        let verbs = expand_verbs(&a.verbs, resource);
        let mut rules = role.rules.take().unwrap_or_default();
        if revoke {
            for r in &mut rules {
                let same_target = r
                    .resources
                    .as_ref()
                    .is_some_and(|x| x.iter().any(|x| x == resource))
                    && r.api_groups.as_ref().is_some_and(|g| g.contains(&group))
                    && (a.resource_names.is_empty()
                        || r.resource_names
                            .as_ref()
                            .is_some_and(|n| a.resource_names.iter().all(|x| n.contains(x))));
                if same_target {
                    r.verbs.retain(|v| !verbs.contains(v));
                }
            }
            rules.retain(|r| !r.verbs.is_empty());
        } else {
            rules.push(PolicyRule {
                api_groups: Some(vec![group]),
                resources: Some(vec![resource.to_string()]),
                resource_names: (!a.resource_names.is_empty()).then(|| a.resource_names.clone()),
                verbs,
                non_resource_urls: None,
            });
        }
        role.rules = Some(rules);
        Api::<Role>::namespaced(client.clone(), project)
            .replace(&a.role, &PostParams::default(), &role)
            .await
            .map_err(explain)?;
    }
    outln!(
        "role.rbac.kargo.akuity.io/{} {}",
        a.role,
        if revoke {
            "updated (revoked)"
        } else {
            "updated (granted)"
        }
    )?;
    Ok(())
}

/// `kargo get roles [NAME...]`: the project's Kargo Roles.
pub async fn get(client: &kube::Client, project: &str, names: &[String]) -> Result<()> {
    let roles = Api::<Role>::namespaced(client.clone(), project)
        .list(&ListParams::default())
        .await
        .map_err(explain)?;
    let sas = Api::<ServiceAccount>::namespaced(client.clone(), project)
        .list(&ListParams::default())
        .await
        .map_err(explain)?;
    let mut rows = Vec::new();
    for r in &roles.items {
        let name = r.metadata.name.clone().unwrap_or_default();
        if !names.is_empty() && !names.contains(&name) {
            continue;
        }
        let sa = sas
            .items
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(&name));
        let claims = sa.map(claims_of).unwrap_or_default();
        let claims = claims
            .iter()
            .map(|(k, v)| format!("{k}={}", v.join(",")))
            .collect::<Vec<_>>()
            .join(" ");
        let rules = r.rules.as_deref().unwrap_or_default().len();
        rows.push(vec![
            name,
            managed(r.metadata.annotations.as_ref()).to_string(),
            rules.to_string(),
            claims,
        ]);
    }
    if rows.is_empty() && !names.is_empty() {
        bail!("role {:?} not found in project {project:?}", names[0]);
    }
    outln!(
        "{:<24} {:<14} {:<6} CLAIMS",
        "NAME",
        "KARGO MANAGED",
        "RULES"
    )?;
    for r in rows {
        outln!("{:<24} {:<14} {:<6} {}", r[0], r[1], r[2], r[3])?;
    }
    Ok(())
}

/// `kargo delete role NAME`: the ServiceAccount, Role and RoleBinding.
pub async fn delete(client: &kube::Client, project: &str, name: &str) -> Result<()> {
    parts(client, project, name).await?;
    let dp = DeleteParams::default();
    Api::<RoleBinding>::namespaced(client.clone(), project)
        .delete(name, &dp)
        .await
        .map_err(explain)?;
    Api::<Role>::namespaced(client.clone(), project)
        .delete(name, &dp)
        .await
        .map_err(explain)?;
    Api::<ServiceAccount>::namespaced(client.clone(), project)
        .delete(name, &dp)
        .await
        .map_err(explain)?;
    outln!("role.rbac.kargo.akuity.io/{name} deleted")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_expands_as_kargo_expands_it() {
        let v = expand_verbs(&["*".into()], "stages");
        assert!(v.contains(&"promote".to_string()) && v.contains(&"deletecollection".to_string()));
        assert!(!expand_verbs(&["*".into()], "warehouses").contains(&"promote".to_string()));
        assert_eq!(
            parse_claims(&["email=a@b".into(), "email=c@d".into()]).unwrap()["email"].len(),
            2
        );
        assert!(parse_claims(&["nope".into()]).is_err());
    }
}
