//! `apiextensions.k8s.io/v1` CustomResourceDefinitions for the kinds with a
//! Rust type: names, scope, short names, categories, printer columns and
//! the status subresource from the registry, the schema from
//! [`crate::schema`]. `kargo install crds` prints them.

use crate::registry::{ResourceInfo, resources};
use serde_json::{Value, json};

/// The CRD of one kind, or `None` for kinds without a typed schema.
pub fn crd(info: &ResourceInfo) -> Option<Value> {
    let schema = crate::schema::kind_schema(info)?;
    let mut columns: Vec<Value> = info
        .columns
        .iter()
        .map(|c| {
            let mut col = json!({"jsonPath": c.json_path, "name": c.name, "type": c.type_});
            if c.priority != 0 {
                col["priority"] = json!(c.priority);
            }
            col
        })
        .collect();
    columns.push(json!({"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}));
    let mut names = json!({
        "kind": info.kind,
        "listKind": format!("{}List", info.kind),
        "plural": info.plural,
        "singular": info.singular,
    });
    if !info.short_names.is_empty() {
        names["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        names["categories"] = json!(info.categories);
    }
    let mut version = json!({
        "additionalPrinterColumns": columns,
        "name": info.version,
        "schema": {"openAPIV3Schema": schema},
        "served": true,
        "storage": true,
    });
    if info.has_status {
        version["subresources"] = json!({"status": {}});
    }
    Some(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{}", info.plural, info.group)},
        "spec": {
            "group": info.group,
            "names": names,
            "scope": if info.namespaced() { "Namespaced" } else { "Cluster" },
            "versions": [version],
        },
    }))
}

/// Every CRD, in registry order.
pub fn crds() -> Vec<Value> {
    resources().iter().filter_map(crd).collect()
}
