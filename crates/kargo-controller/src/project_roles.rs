//! The default user roles of a Project, as Kargo's management controller
//! creates them (`ensureDefaultUserRoles`): ServiceAccounts, Roles and
//! RoleBindings `kargo-admin`, `kargo-promoter` and `kargo-viewer` in the
//! project's namespace, all annotated `rbac.kargo.akuity.io/managed`, with
//! Kargo's rules; the ServiceAccounts carry the project creator's OIDC
//! claim; and the ClusterRole + ClusterRoleBinding
//! `kargo-project-admin-<project>` letting `kargo-admin` update or delete
//! the Project itself.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// Annotation marking objects Kargo manages.
pub const MANAGED: &str = "rbac.kargo.akuity.io/managed";
/// Annotation mapping OIDC claims to a ServiceAccount.
pub const CLAIMS: &str = "rbac.kargo.akuity.io/claims";
const RBAC: &str = "rbac.authorization.k8s.io";

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

const READ: &[&str] = &["get", "list", "watch"];

/// Kargo's rules of each default role.
pub fn default_rules(role: &str) -> Vec<Value> {
    let k = kargo_api::KARGO_GROUP;
    let ro = "argoproj.io";
    match role {
        "kargo-admin" => vec![
            rule(&[""], &["events"], READ),
            rule(&[""], &["configmaps", "secrets", "serviceaccounts"], &["*"]),
            rule(&[RBAC], &["rolebindings", "roles"], &["*"]),
            rule(
                &[k],
                &[
                    "freights",
                    "projectconfigs",
                    "promotiontasks",
                    "stages",
                    "targets",
                    "warehouses",
                ],
                &["*"],
            ),
            rule(&[k], &["stages"], &["promote"]),
            rule(
                &[k],
                &["promotions"],
                &["create", "delete", "get", "list", "watch", "patch"],
            ),
            rule(&[k], &["freights/status"], &["patch"]),
            rule(
                &[ro],
                &["analysisruns"],
                &["delete", "get", "list", "watch"],
            ),
            rule(&[ro], &["analysistemplates"], &["*"]),
        ],
        "kargo-viewer" => vec![
            rule(&[""], &["configmaps", "events", "serviceaccounts"], READ),
            rule(&[RBAC], &["rolebindings", "roles"], READ),
            rule(
                &[k],
                &[
                    "freights",
                    "projectconfigs",
                    "promotions",
                    "stages",
                    "targets",
                    "warehouses",
                ],
                READ,
            ),
            rule(&[ro], &["analysisruns", "analysistemplates"], READ),
        ],
        "kargo-promoter" => vec![
            rule(&[""], &["configmaps", "events", "serviceaccounts"], READ),
            rule(&[RBAC], &["rolebindings", "roles"], READ),
            rule(
                &[k],
                &["freights", "stages", "warehouses", "projectconfigs"],
                READ,
            ),
            rule(&[k], &["stages"], &["promote"]),
            rule(&[k], &["promotions"], &["create", "get", "list", "watch"]),
            rule(&[k], &["freights/status"], &["patch"]),
            rule(&[ro], &["analysisruns", "analysistemplates"], READ),
        ],
        _ => Vec::new(),
    }
}

/// Every object a Project's default roles consist of. The cluster-scoped
/// ones are owned by the Project (`uid`), so deleting the Project deletes
/// them; the namespaced ones go with the Project's namespace.
pub fn desired(
    project: &str,
    creator: Option<&str>,
    uid: Option<&str>,
) -> Vec<(&'static str, Value)> {
    let managed = json!({MANAGED: "true"});
    let mut sa_ann = managed.clone();
    if let Some((claim, value)) = creator
        .filter(|c| !c.starts_with("kubernetes:"))
        .and_then(|c| c.split_once(':'))
    {
        sa_ann[CLAIMS] = json!(json!({claim: [value]}).to_string());
    }
    let mut out = Vec::new();
    for role in ["kargo-admin", "kargo-viewer", "kargo-promoter"] {
        let meta = |ann: &Value| json!({"name": role, "namespace": project, "annotations": ann});
        out.push((
            "ServiceAccount",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(&sa_ann)}),
        ));
        out.push((
            "Role",
            json!({"apiVersion": format!("{RBAC}/v1"), "kind": "Role", "metadata": meta(&managed),
            "rules": default_rules(role)}),
        ));
        out.push(("RoleBinding", json!({"apiVersion": format!("{RBAC}/v1"), "kind": "RoleBinding", "metadata": meta(&managed),
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": role, "namespace": project}]})));
    }
    let name = format!("kargo-project-admin-{project}");
    let owners = match uid {
        Some(uid) => json!([{"apiVersion": format!("{}/v1alpha1", kargo_api::KARGO_GROUP),
            "kind": "Project", "name": project, "uid": uid}]),
        None => json!([]),
    };
    out.push(("ClusterRole", json!({"apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRole",
        "metadata": {"name": name, "annotations": managed, "ownerReferences": owners},
        "rules": [{"apiGroups": [kargo_api::KARGO_GROUP], "resources": ["projects"], "resourceNames": [project], "verbs": ["delete", "update"]}]})));
    out.push((
        "ClusterRoleBinding",
        json!({"apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "annotations": managed, "ownerReferences": owners},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "kargo-admin", "namespace": project}]}),
    ));
    out
}

/// Creates what is missing and puts back rules, roleRefs and subjects
/// that were changed (ServiceAccounts are only created, as Kargo does).
pub async fn ensure(
    client: &kube::Client,
    project: &str,
    creator: Option<&str>,
    uid: Option<&str>,
) -> Result<(), kube::Error> {
    for (kind, want) in desired(project, creator, uid) {
        let (group, version) = if kind == "ServiceAccount" {
            ("", "v1")
        } else {
            (RBAC, "v1")
        };
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = if kind.starts_with("Cluster") {
            Api::all_with(client.clone(), &ar)
        } else {
            Api::namespaced_with(client.clone(), project, &ar)
        };
        let name = want["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match api.get_opt(&name).await? {
            None => {
                let obj: DynamicObject =
                    serde_json::from_value(want).map_err(kube::Error::SerdeError)?;
                match api.create(&PostParams::default(), &obj).await {
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    other => {
                        other?;
                    }
                }
            }
            Some(have) => {
                let mut patch = serde_json::Map::new();
                for field in ["rules", "roleRef", "subjects"] {
                    if want.get(field).is_some() && have.data.get(field) != want.get(field) {
                        patch.insert(field.into(), want[field].clone());
                    }
                }
                let owners = &want["metadata"]["ownerReferences"];
                if owners.as_array().is_some_and(|o| !o.is_empty())
                    && serde_json::to_value(&have.metadata.owner_references)
                        .ok()
                        .as_ref()
                        != Some(owners)
                {
                    patch.insert("metadata".into(), json!({"ownerReferences": owners}));
                }
                if !patch.is_empty() && kind != "ServiceAccount" {
                    api.patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(Value::Object(patch)),
                    )
                    .await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_bindings_and_accounts_as_kargo_creates_them() {
        let objs = desired("p", Some("email:ana@example.com"), Some("u1"));
        assert_eq!(objs.len(), 11);
        let sa = &objs[0].1;
        assert_eq!(
            sa["metadata"]["annotations"][CLAIMS],
            r#"{"email":["ana@example.com"]}"#
        );
        assert_eq!(sa["metadata"]["annotations"][MANAGED], "true");
        let promoter: Vec<_> = objs
            .iter()
            .filter(|(_, o)| o["metadata"]["name"] == "kargo-promoter")
            .collect();
        assert_eq!(promoter.len(), 3);
        assert!(default_rules("kargo-promoter").contains(&rule(
            &[kargo_api::KARGO_GROUP],
            &["stages"],
            &["promote"]
        )));
        assert!(
            !default_rules("kargo-viewer")
                .iter()
                .any(|r| r["verbs"].to_string().contains("promote"))
        );
        // A creator known only to Kubernetes gets no claim.
        let objs = desired("p", Some("kubernetes:system:serviceaccount:x:y"), None);
        assert!(objs[0].1["metadata"]["annotations"].get(CLAIMS).is_none());
    }
}
