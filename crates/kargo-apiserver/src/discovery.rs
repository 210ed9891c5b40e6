//! Discovery documents: `/version`, `/api`, `/apis`, `/apis/{group}` and
//! the per-version resource lists kubectl and kube-rs read.

use kargo_api::resources;
use serde_json::{Value, json};

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "34",
        "gitVersion": concat!("v1.34.0+kargo-", env!("CARGO_PKG_VERSION")),
        "gitCommit": "", "gitTreeState": "clean", "buildDate": "",
        "goVersion": "", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)
    })
}

/// `/api`.
pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

fn groups() -> Vec<&'static str> {
    let mut g: Vec<&str> = resources()
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    g.dedup();
    g.sort();
    g.dedup();
    g
}

fn group_doc(group: &str) -> Value {
    // Each group serves one version (kargo.akuity.io and argoproj.io
    // v1alpha1, apps v1).
    let version = resources()
        .iter()
        .find(|r| r.group == group)
        .map_or(kargo_api::VERSION, |r| r.version);
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`.
pub fn group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups().into_iter().map(group_doc).collect::<Vec<_>>()})
}

/// `/apis/{group}`.
pub fn group(group: &str) -> Option<Value> {
    groups().contains(&group).then(|| {
        let mut d = group_doc(group);
        d["kind"] = json!("APIGroup");
        d["apiVersion"] = json!("v1");
        d
    })
}

/// `/api/v1` and `/apis/{group}/{version}`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut list = Vec::new();
    for r in resources()
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        list.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced(), "kind": r.kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            "shortNames": r.short_names, "categories": r.categories,
        }));
        if r.kind == "Pod" {
            list.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        }
        if r.has_status {
            list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced(), "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    if list.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}
