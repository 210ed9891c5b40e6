//! Defaulting, as Kargo's CRD defaults and mutating webhooks do: applied
//! by the server to every object before validation and storage.

use serde_json::{Value, json};

fn set_if_absent(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key.to_string()).or_insert(v);
    }
}

/// As Kargo's Stage and Warehouse webhooks: the `kargo.akuity.io/shard`
/// label follows `spec.shard` (set when it is non-empty, removed when not).
fn shard_label(obj: &mut Value) {
    let shard = obj
        .pointer("/spec/shard")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    let md = m.entry("metadata").or_insert_with(|| json!({}));
    let Some(md) = md.as_object_mut() else {
        return;
    };
    if shard.is_empty() {
        if let Some(l) = md.get_mut("labels").and_then(Value::as_object_mut) {
            l.remove(crate::labels::SHARD);
        }
        return;
    }
    let labels = md.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    if let Some(l) = labels.as_object_mut() {
        l.insert(crate::labels::SHARD.into(), json!(shard));
    }
}

/// Applies defaults for `kind` in place.
pub fn apply(kind: &str, obj: &mut Value) {
    match kind {
        "Stage" => shard_label(obj),
        "Warehouse" => {
            shard_label(obj);
            let Some(spec) = obj.get_mut("spec") else {
                return;
            };
            set_if_absent(spec, "interval", json!("5m0s"));
            set_if_absent(spec, "freightCreationPolicy", json!("Automatic"));
            if let Some(subs) = spec.get_mut("subscriptions").and_then(Value::as_array_mut) {
                for s in subs {
                    if let Some(g) = s.get_mut("git").filter(|g| g.is_object()) {
                        set_if_absent(g, "commitSelectionStrategy", json!("NewestFromBranch"));
                        set_if_absent(g, "strictSemvers", json!(true));
                        set_if_absent(g, "discoveryLimit", json!(20));
                    }
                    if let Some(i) = s.get_mut("image").filter(|g| g.is_object()) {
                        set_if_absent(i, "imageSelectionStrategy", json!("SemVer"));
                        set_if_absent(i, "strictSemvers", json!(true));
                        set_if_absent(i, "discoveryLimit", json!(20));
                    }
                    if let Some(c) = s.get_mut("chart").filter(|g| g.is_object()) {
                        set_if_absent(c, "discoveryLimit", json!(20));
                    }
                }
            }
        }
        "Freight" => {
            // Keep the deprecated top-level alias and the label in step.
            let label = obj
                .pointer("/metadata/labels/kargo.akuity.io~1alias")
                .cloned();
            match (label, obj.get("alias").cloned()) {
                (Some(l), _) => {
                    if let Some(m) = obj.as_object_mut() {
                        m.insert("alias".into(), l);
                    }
                }
                (None, Some(Value::String(a))) if !a.is_empty() => {
                    let md = obj
                        .as_object_mut()
                        .map(|m| m.entry("metadata").or_insert_with(|| json!({})));
                    if let Some(md) = md.and_then(Value::as_object_mut) {
                        let labels = md.entry("labels").or_insert_with(|| json!({}));
                        if let Some(l) = labels.as_object_mut() {
                            l.insert(crate::labels::ALIAS.into(), json!(a));
                        }
                    }
                }
                _ => {}
            }
        }
        // As kube-apiserver's SetDefaults_Secret: no type means Opaque.
        "Secret" => {
            if obj
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
                && let Some(m) = obj.as_object_mut()
            {
                m.insert("type".into(), json!("Opaque"));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_defaults_fill_only_absent_fields() {
        let mut w = json!({"spec": {"interval": "1m", "subscriptions": [{"image": {"repoURL": "a/b", "discoveryLimit": 5}}]}});
        apply("Warehouse", &mut w);
        assert_eq!(w["spec"]["interval"], "1m");
        assert_eq!(w["spec"]["freightCreationPolicy"], "Automatic");
        assert_eq!(
            w["spec"]["subscriptions"][0]["image"]["imageSelectionStrategy"],
            "SemVer"
        );
        assert_eq!(w["spec"]["subscriptions"][0]["image"]["discoveryLimit"], 5);
    }
}
