//! `kargo install` against an API server: its whole output — Namespace,
//! CRDs, ServiceAccounts, RBAC, Deployments, Services, webhook
//! configurations — applied with kubectl to a `kargo server
//! --disable-controllers`, every object accepted and then readable as
//! written.

mod common;

use common::{ServerProc, ok};
use serde_json::Value;

#[test]
fn the_install_output_applies_and_every_object_is_stored() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    let out = s.kargo(&[
        "install",
        "--image",
        "registry.example/kargo:test",
        "--namespace",
        "kargo-system",
        "--replicas",
        "2",
        "--shards",
        "east,west",
    ]);
    let yaml = ok(&out);
    let file = home.path().join("install.yaml");
    std::fs::write(&file, &yaml).unwrap();
    // Server-side: the analysis CRDs exceed client-side apply's
    // annotation limit, as on a real cluster.
    let applied = ok(&s.kubectl(&["apply", "--server-side", "-f", file.to_str().unwrap()]));
    // Every document was applied, and every one can be read back.
    let mut texts = vec![String::new()];
    for line in yaml.lines() {
        if line == "---" {
            texts.push(String::new());
        } else {
            let last = texts.last_mut().unwrap();
            last.push_str(line);
            last.push('\n');
        }
    }
    let docs: Vec<Value> = texts
        .iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let v: yaml_serde::Value = yaml_serde::from_str(d).unwrap();
            serde_json::to_value(v).unwrap()
        })
        .collect();
    assert_eq!(
        applied
            .lines()
            .filter(|l| l.contains("serverside-applied"))
            .count(),
        docs.len(),
        "{applied}"
    );
    let mut kinds = std::collections::BTreeSet::new();
    for d in &docs {
        let kind = d["kind"].as_str().unwrap();
        let name = d["metadata"]["name"].as_str().unwrap();
        let group = d["apiVersion"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("");
        let resource = if group.is_empty() {
            kind.to_ascii_lowercase()
        } else {
            format!("{}.{group}", kind.to_ascii_lowercase())
        };
        let mut args = vec!["get", resource.as_str(), name, "-o", "json"];
        if let Some(ns) = d["metadata"]["namespace"].as_str() {
            args.extend(["-n", ns]);
        }
        let got: Value = serde_json::from_str(&ok(&s.kubectl(&args))).unwrap();
        for key in ["spec", "rules", "roleRef", "subjects", "webhooks", "data"] {
            if let Some(want) = d.get(key).filter(|_| kind != "CustomResourceDefinition") {
                assert_eq!(
                    strip_defaults(&got[key]),
                    strip_defaults(want),
                    "{kind} {name} {key}"
                );
            }
        }
        kinds.insert(kind.to_string());
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "CustomResourceDefinition",
            "Deployment",
            "MutatingWebhookConfiguration",
            "Namespace",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ValidatingWebhookConfiguration"
        ]
    );
    // The shape the flags asked for.
    let deploys: Value = serde_json::from_str(&ok(&s.kubectl(&[
        "get",
        "deployments",
        "-n",
        "kargo-system",
        "-o",
        "json",
    ])))
    .unwrap();
    let mut names: Vec<&str> = deploys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "kargo-controller-east",
            "kargo-controller-west",
            "kargo-server",
            "kargo-webhooks-server"
        ]
    );
}

/// Drops what a server may add to an object's fields (nulls, empty maps).
fn strip_defaults(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_defaults(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_defaults).collect()),
        v => v.clone(),
    }
}
