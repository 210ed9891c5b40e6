//! ConfigMaps, as Kargo's CLI manages them: plain key/value settings
//! (`--set`) with a description, in a project, the shared resources or
//! the system resources, for steps and expressions to read
//! (`configMap()`). Shown as they are stored; the table counts the keys.

use super::key_values::Family;
use super::resource_views::{View, annotation};
use kargo_api::labels;
use serde_json::{Value, json};

/// Kargo's spellings of the kind.
pub const ALIASES: &[&str] = &["configmaps", "configmap", "cm"];

/// How ConfigMaps are listed and shown.
pub static VIEW: View = View {
    kind: "ConfigMap",
    noun: "configmaps",
    system: true,
    selector: None,
    refuse: |_| None,
    show: |v| v,
    headers: &["NAME", "DESCRIPTION", "KEYS"],
    cells,
};

/// What `create`/`update configmap` write.
pub static FAMILY: Family = Family {
    view: &VIEW,
    labels: || json!({}),
    secret: false,
    empty_refusal: "ConfigMap data cannot be empty after patch",
};

fn cells(v: &Value) -> Vec<String> {
    let keys = v["data"].as_object().map_or(0, |m| m.len());
    vec![
        v["metadata"]["name"].as_str().unwrap_or("").to_string(),
        annotation(v, labels::DESCRIPTION).to_string(),
        keys.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_counts_keys() {
        let v = json!({"metadata": {"name": "c", "annotations": {labels::DESCRIPTION: "d"}},
                       "data": {"A": "1", "B": "2"}});
        assert_eq!(cells(&v), ["c", "d", "2"]);
    }
}
