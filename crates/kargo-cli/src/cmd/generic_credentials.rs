//! Generic credentials, as Kargo's CLI manages them: a Secret labelled
//! `kargo.akuity.io/cred-type: generic` with any keys (`--set`), for
//! steps and expressions to read, in a project, the shared resources or
//! the system resources. Every value is redacted when shown.

use super::key_values::Family;
use super::resource_views::{self, View, annotation, label};
use kargo_api::labels;
use serde_json::{Value, json};

/// Kargo's spellings of the kind.
pub const ALIASES: &[&str] = &[
    "generic-credentials",
    "generic-credential",
    "generic-creds",
    "generic-cred",
    "genericcredentials",
    "genericcredential",
    "genericcreds",
    "genericcred",
];

/// How generic credentials are listed and shown.
pub static VIEW: View = View {
    kind: "Secret",
    noun: "generic credentials",
    system: true,
    selector: Some("kargo.akuity.io/cred-type=generic"),
    refuse,
    show,
    headers: &["NAME", "DESCRIPTION"],
    cells,
};

/// What `create`/`update generic-credentials` write.
pub static FAMILY: Family = Family {
    view: &VIEW,
    labels: || json!({ labels::CRED_TYPE: labels::CRED_TYPE_GENERIC }),
    secret: true,
    empty_refusal: "cannot have empty secret",
};

fn refuse(v: &Value) -> Option<String> {
    (label(v, labels::CRED_TYPE) != labels::CRED_TYPE_GENERIC).then(|| {
        format!(
            "is not labeled with {}={}",
            labels::CRED_TYPE,
            labels::CRED_TYPE_GENERIC
        )
    })
}

fn show(v: Value) -> Value {
    resource_views::redact_secret(v, &[], &[labels::DESCRIPTION, labels::REPLICATE_TO])
}

fn cells(v: &Value) -> Vec<String> {
    vec![
        v["metadata"]["name"].as_str().unwrap_or("").to_string(),
        annotation(v, labels::DESCRIPTION).to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_redacted() {
        let v = show(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "g", "labels": {labels::CRED_TYPE: "generic"},
                         "annotations": {labels::DESCRIPTION: "api"}},
            "data": {"API_KEY": "czNjcjN0"}
        }));
        assert_eq!(v["stringData"]["API_KEY"], resource_views::REDACTED);
        assert_eq!(cells(&v), ["g", "api"]);
        assert!(refuse(&v).is_none());
        assert!(refuse(&json!({"metadata": {"labels": {labels::CRED_TYPE: "git"}}})).is_some());
    }
}
