//! Every field of Kargo's published CRDs is modelled: for each upstream
//! CRD (copied from akuity/kargo `charts/kargo/resources/crds`, Apache-2.0,
//! into `tests/data/crds/`) this builds one object that sets every property
//! of its `openAPIV3Schema`, decodes it as our typed kind exactly as
//! admission does, and checks that no field is unknown, nothing fails to
//! decode, and the object serialises back unchanged (so nothing is lost).

use kargo_api::validate::{Outcome, decode};
use kargo_api::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/crds")
}

/// Fields the CRD types as a plain string that Kargo fills from a fixed
/// set (Go constants without a kubebuilder enum); our types use enums, so
/// the walk gives them a value from that set.
const ENUM_STRINGS: &[(&str, &str)] = &[
    ("Promotion.status.phase", "Succeeded"),
    ("Stage.status.currentPromotion.status.phase", "Running"),
    ("Stage.status.lastPromotion.status.phase", "Failed"),
];

/// A value for `schema` that sets every property it declares.
fn example(schema: &Value, path: &str, count: &mut usize) -> Value {
    *count += 1;
    if let Some((_, v)) = ENUM_STRINGS.iter().find(|(p, _)| *p == path) {
        return json!(v);
    }
    if path == "Warehouse.spec.subscriptions[]" {
        return subscription(count);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if schema["x-kubernetes-int-or-string"] == json!(true) {
        return json!(1);
    }
    match schema["type"].as_str() {
        Some("string") => match schema["format"].as_str() {
            Some("date-time") => json!("2025-01-02T03:04:05Z"),
            _ => json!(format!("{path}-value")),
        },
        Some("boolean") => json!(true),
        Some("integer") => json!(schema["minimum"].as_i64().unwrap_or(0).max(1)),
        Some("number") => json!(1.5),
        Some("array") => json!([example(&schema["items"], &format!("{path}[]"), count)]),
        Some("object") => {
            let mut m = Map::new();
            if let Some(props) = schema["properties"].as_object() {
                for (k, s) in props {
                    m.insert(k.clone(), example(s, &format!("{path}.{k}"), count));
                }
            } else if schema["additionalProperties"].is_object() {
                m.insert(
                    "key".into(),
                    example(
                        &schema["additionalProperties"],
                        &format!("{path}{{}}"),
                        count,
                    ),
                );
            } else {
                // A free-form object (x-kubernetes-preserve-unknown-fields
                // or an untyped map): anything nested must survive.
                m.insert("anyKey".into(), json!({"nested": ["anything", 1, true]}));
            }
            Value::Object(m)
        }
        // An untyped value (preserve-unknown-fields without a type).
        _ => json!({"nested": ["anything", 1, true]}),
    }
}

/// A Warehouse subscription. The CRD leaves `subscriptions[]` schemaless
/// (Kargo validates it in its webhook), so its fields come from Kargo's
/// subscription JSON schemas (`pkg/subscription/schemas/*.json`, copied to
/// `tests/data/crds/subscriptions/`) and `RepoSubscription`'s own fields.
fn subscription(count: &mut usize) -> Value {
    let schema = |name: &str| -> Value {
        let path = crd_dir().join("subscriptions").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).expect("subscription schema");
        serde_json::from_str(&text).expect("schema JSON")
    };
    json!({
        "name": "every-field",
        "git": example(&schema("git"), "git", count),
        "image": example(&schema("image"), "image", count),
        "chart": example(&schema("chart"), "chart", count),
        "subscription": {"subscriptionType": "custom", "config": {"any": ["thing"]}, "discoveryLimit": 20},
    })
}

/// Decodes `v` as admission does and checks it comes back unchanged.
fn check<T: DeserializeOwned + Serialize>(kind: &str, v: &Value) -> Result<(), String> {
    let mut out = Outcome::default();
    let typed: Option<T> = decode(v, &mut out);
    if !out.errors.is_empty() {
        return Err(format!(
            "{kind}: the every-field object does not decode: {:?}",
            out.errors
        ));
    }
    if !out.unknown_fields.is_empty() {
        return Err(format!(
            "{kind}: fields of the upstream CRD are not modelled: {:?}",
            out.unknown_fields
        ));
    }
    let back = serde_json::to_value(typed).map_err(|e| e.to_string())?;
    if back != *v {
        let want = serde_json::to_string_pretty(v).unwrap_or_default();
        let got = serde_json::to_string_pretty(&back).unwrap_or_default();
        return Err(format!(
            "{kind}: the object changed on its round trip\nwant:\n{want}\ngot:\n{got}"
        ));
    }
    Ok(())
}

fn check_kind(kind: &str, v: &Value) -> Result<(), String> {
    // The kind's validator may find rule errors in this synthetic object,
    // but it must not find unknown fields (some kinds check nested blocks
    // beyond the typed decode).
    let info = lookup_kind("", kind).ok_or(format!("{kind} is not served"))?;
    let unknown = (info.validate)(v).unknown_fields;
    if !unknown.is_empty() {
        return Err(format!(
            "{kind}: the validator reports unknown fields: {unknown:?}"
        ));
    }
    match kind {
        "Project" => check::<Project>(kind, v),
        "ProjectConfig" => check::<ProjectConfig>(kind, v),
        "ClusterConfig" => check::<ClusterConfig>(kind, v),
        "Warehouse" => check::<Warehouse>(kind, v),
        "Freight" => check::<Freight>(kind, v),
        "Stage" => check::<Stage>(kind, v),
        "Promotion" => check::<Promotion>(kind, v),
        "PromotionTask" => check::<PromotionTask>(kind, v),
        "ClusterPromotionTask" => check::<ClusterPromotionTask>(kind, v),
        "Target" => check::<Target>(kind, v),
        "PromotionRequest" => check::<PromotionRequest>(kind, v),
        other => Err(format!("no typed kind for upstream CRD {other}")),
    }
}

/// The upstream CRD files, with the kinds they define.
const CRDS: &[(&str, &str)] = &[
    ("kargo.akuity.io_clusterconfigs.yaml", "ClusterConfig"),
    (
        "kargo.akuity.io_clusterpromotiontasks.yaml",
        "ClusterPromotionTask",
    ),
    ("kargo.akuity.io_freights.yaml", "Freight"),
    ("kargo.akuity.io_projectconfigs.yaml", "ProjectConfig"),
    ("kargo.akuity.io_projects.yaml", "Project"),
    ("kargo.akuity.io_promotionrequests.yaml", "PromotionRequest"),
    ("kargo.akuity.io_promotions.yaml", "Promotion"),
    ("kargo.akuity.io_promotiontasks.yaml", "PromotionTask"),
    ("kargo.akuity.io_stages.yaml", "Stage"),
    ("kargo.akuity.io_targets.yaml", "Target"),
    ("kargo.akuity.io_warehouses.yaml", "Warehouse"),
];

#[test]
fn every_field_of_every_upstream_crd_is_modelled() {
    let mut files: Vec<String> = std::fs::read_dir(crd_dir())
        .expect("tests/data/crds")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    let listed: Vec<&str> = CRDS.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, listed, "every upstream CRD file has a row here");
    assert_eq!(CRDS.len(), 11, "upstream publishes 11 Kargo CRDs");
    let mut total_fields = 0;
    let mut failures = Vec::new();
    for (file, kind) in CRDS {
        let text = std::fs::read_to_string(crd_dir().join(file)).expect("read CRD");
        let crd: Value = yaml_serde::from_str(&text).expect("CRD YAML");
        assert_eq!(crd["spec"]["names"]["kind"], json!(kind), "{file}");
        let group = crd["spec"]["group"].as_str().expect("group");
        let info = lookup_kind(&format!("{group}/v1alpha1"), kind)
            .unwrap_or_else(|| panic!("{kind} is not served"));
        let versions = crd["spec"]["versions"].as_array().expect("versions");
        assert_eq!(versions.len(), 1, "{file}: one served version");
        assert_eq!(versions[0]["name"], json!(VERSION));
        let scope = crd["spec"]["scope"].as_str().expect("scope");
        assert_eq!(
            info.namespaced(),
            scope == "Namespaced",
            "{kind}: scope {scope}"
        );
        assert_eq!(
            crd["spec"]["names"]["plural"],
            json!(info.plural),
            "{kind} plural"
        );
        let schema = &versions[0]["schema"]["openAPIV3Schema"];
        let mut fields = 0;
        let mut obj = example(schema, kind, &mut fields);
        obj["apiVersion"] = json!(info.api_version());
        obj["kind"] = json!(kind);
        obj["metadata"] = if info.namespaced() {
            json!({"name": "every-field", "namespace": "p"})
        } else {
            json!({"name": "every-field"})
        };
        if let Err(e) = check_kind(kind, &obj) {
            failures.push(e);
        }
        total_fields += fields;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // A guard against the walk silently covering less than it should.
    assert!(
        total_fields > 1000,
        "walked only {total_fields} schema nodes"
    );
}

#[test]
fn a_typo_is_reported_with_its_path() {
    let stage = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
        "metadata": {"name": "s", "namespace": "p"},
        "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}],
            "promotionTemplate": {"spec": {"stpes": []}}, "verifcation": {}}});
    let mut out = Outcome::default();
    let _: Option<Stage> = decode(&stage, &mut out);
    assert_eq!(
        out.unknown_fields,
        ["spec.promotionTemplate.spec.stpes", "spec.verifcation"]
    );
}
