//! Kargo's admission webhook registrations as its chart writes them
//! (`charts/kargo/templates/kubernetes-webhooks-server/webhooks.yaml`): one
//! `MutatingWebhookConfiguration` and one `ValidatingWebhookConfiguration`
//! named `kargo`, the same webhook names, paths
//! (`/mutate-kargo-akuity-io-v1alpha1-<kind>`,
//! `/validate-kargo-akuity-io-v1alpha1-<kind>`), rules, side effects and
//! `failurePolicy: Fail`. `kargo install` prints them without a CA bundle;
//! `kargo webhook-server` writes them with its CA on start.

use serde_json::{Value, json};

/// The configurations' name, as Kargo's.
pub const NAME: &str = "kargo";

/// Where the API server sends reviews.
#[derive(Clone, Debug)]
pub enum Target {
    /// The webhook server's Service (port 443), as in a cluster.
    Service {
        /// Its namespace.
        namespace: String,
        /// Its name (`kargo-webhooks-server`).
        name: String,
    },
    /// A URL base (`https://host:port`), for a server outside the cluster.
    Url(String),
}

/// One webhook: the kind's lowercase name, its resources, scope,
/// operations and side effects.
struct Hook {
    kind: &'static str,
    resources: &'static [&'static str],
    cluster: bool,
    operations: &'static [&'static str],
    side_effects: &'static str,
}

const CU: &[&str] = &["CREATE", "UPDATE"];
const CUD: &[&str] = &["CREATE", "UPDATE", "DELETE"];

const fn hook(
    kind: &'static str,
    resources: &'static [&'static str],
    cluster: bool,
    operations: &'static [&'static str],
) -> Hook {
    Hook {
        kind,
        resources,
        cluster,
        operations,
        side_effects: "None",
    }
}

const MUTATING: &[Hook] = &[
    hook("freight", &["freights"], false, CU),
    hook("promotion", &["promotions"], false, CU),
    hook("stage", &["stages"], false, CU),
    hook("warehouse", &["warehouses"], false, CU),
];

const VALIDATING: &[Hook] = &[
    hook("clusterconfig", &["clusterconfigs"], true, CU),
    hook("clusterpromotiontask", &["clusterpromotiontasks"], true, CU),
    hook("freight", &["freights", "freights/status"], false, CUD),
    Hook {
        side_effects: "NoneOnDryRun",
        ..hook("project", &["projects"], true, CU)
    },
    Hook {
        side_effects: "NoneOnDryRun",
        ..hook("projectconfig", &["projectconfigs"], false, CU)
    },
    hook("promotion", &["promotions"], false, CUD),
    hook("promotionrequest", &["promotionrequests"], false, CU),
    hook("promotiontask", &["promotiontasks"], false, CU),
    hook("stage", &["stages"], false, CU),
    hook("warehouse", &["warehouses"], false, CU),
];

/// The path of a webhook: `/mutate-kargo-akuity-io-v1alpha1-stage`.
pub fn path(mutating: bool, kind: &str) -> String {
    let verb = if mutating { "mutate" } else { "validate" };
    format!("/{verb}-kargo-akuity-io-v1alpha1-{kind}")
}

/// Every path served: (mutating, lowercase kind).
pub fn paths() -> impl Iterator<Item = (bool, &'static str)> {
    MUTATING
        .iter()
        .map(|h| (true, h.kind))
        .chain(VALIDATING.iter().map(|h| (false, h.kind)))
}

fn webhooks(hooks: &[Hook], mutating: bool, target: &Target, ca_bundle: Option<&str>) -> Value {
    use base64::Engine;
    let hooks: Vec<Value> = hooks
        .iter()
        .map(|h| {
            let path = path(mutating, h.kind);
            let mut client = match target {
                Target::Service { namespace, name } => json!({"service": {
                    "namespace": namespace, "name": name, "path": path, "port": 443}}),
                Target::Url(base) => {
                    json!({"url": format!("{}{path}", base.trim_end_matches('/'))})
                }
            };
            if let Some(ca) = ca_bundle {
                client["caBundle"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(ca.as_bytes()));
            }
            json!({
                "name": format!("{}.kargo.akuity.io", h.kind),
                "admissionReviewVersions": ["v1"],
                "sideEffects": h.side_effects,
                "clientConfig": client,
                "rules": [{
                    "scope": if h.cluster { "Cluster" } else { "Namespaced" },
                    "apiGroups": [kargo_api::KARGO_GROUP],
                    "apiVersions": ["v1alpha1"],
                    "resources": h.resources,
                    "operations": h.operations,
                }],
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
            })
        })
        .collect();
    Value::Array(hooks)
}

fn configuration(kind: &str, hooks: Value) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": NAME, "labels": {
            "app.kubernetes.io/name": "kargo",
            "app.kubernetes.io/component": "webhooks-server",
        }},
        "webhooks": hooks,
    })
}

/// The `MutatingWebhookConfiguration`.
pub fn mutating(target: &Target, ca_bundle: Option<&str>) -> Value {
    configuration(
        "MutatingWebhookConfiguration",
        webhooks(MUTATING, true, target, ca_bundle),
    )
}

/// The `ValidatingWebhookConfiguration`.
pub fn validating(target: &Target, ca_bundle: Option<&str>) -> Value {
    configuration(
        "ValidatingWebhookConfiguration",
        webhooks(VALIDATING, false, target, ca_bundle),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_names_and_rules_are_kargos() {
        let t = Target::Service {
            namespace: "kargo".into(),
            name: "kargo-webhooks-server".into(),
        };
        let m = mutating(&t, None);
        assert_eq!(m["webhooks"].as_array().unwrap().len(), 4);
        assert_eq!(m["webhooks"][0]["name"], "freight.kargo.akuity.io");
        assert_eq!(
            m["webhooks"][0]["clientConfig"]["service"]["path"],
            "/mutate-kargo-akuity-io-v1alpha1-freight"
        );
        assert!(m["webhooks"][0]["clientConfig"].get("caBundle").is_none());
        let v = validating(&Target::Url("https://127.0.0.1:9443".into()), Some("PEM"));
        let promotion = v["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == "promotion.kargo.akuity.io")
            .unwrap();
        assert_eq!(
            promotion["clientConfig"]["url"],
            "https://127.0.0.1:9443/validate-kargo-akuity-io-v1alpha1-promotion"
        );
        assert_eq!(promotion["clientConfig"]["caBundle"], "UEVN");
        assert_eq!(
            promotion["rules"][0]["operations"],
            json!(["CREATE", "UPDATE", "DELETE"])
        );
        assert_eq!(promotion["failurePolicy"], "Fail");
        assert_eq!(paths().count(), 14);
    }
}
