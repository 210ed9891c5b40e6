//! One OpenAPI v3 schema per kind, generated from the Rust types
//! (`schemars`) and made structural as Kubernetes requires of a CRD: every
//! subschema inlined, no `nullable`, `const` or one-of-constants (enums
//! become `enum`), free-form JSON marked `x-kubernetes-preserve-unknown-fields`,
//! zero-value defaults (serde's `#[serde(default)]`) dropped so only
//! meaningful defaults remain, and fields marked `x-kargo-required` listed
//! in `required`. The CRDs, `/openapi/v2` and `/openapi/v3`
//! all read these.

use crate::registry::ResourceInfo;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

fn generate<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

/// The raw (not yet structural) schema of a kind with a Rust type.
fn raw(group: &str, kind: &str) -> Option<Value> {
    use crate::{analysis, freight, notification, project, promotion, stage, target, warehouse};
    let v = match (group, kind) {
        (crate::KARGO_GROUP, "Project") => generate::<project::Project>(),
        (crate::KARGO_GROUP, "ProjectConfig") => generate::<project::ProjectConfig>(),
        (crate::KARGO_GROUP, "ClusterConfig") => generate::<project::ClusterConfig>(),
        (crate::KARGO_GROUP, "Warehouse") => generate::<warehouse::Warehouse>(),
        (crate::KARGO_GROUP, "Freight") => generate::<freight::Freight>(),
        (crate::KARGO_GROUP, "Stage") => generate::<stage::Stage>(),
        (crate::KARGO_GROUP, "Promotion") => generate::<promotion::Promotion>(),
        (crate::KARGO_GROUP, "PromotionTask") => generate::<promotion::PromotionTask>(),
        (crate::KARGO_GROUP, "ClusterPromotionTask") => {
            generate::<promotion::ClusterPromotionTask>()
        }
        (crate::KARGO_GROUP, "Target") => generate::<target::Target>(),
        (crate::KARGO_GROUP, "PromotionRequest") => generate::<target::PromotionRequest>(),
        (crate::ARGO_GROUP, "AnalysisTemplate") => generate::<analysis::AnalysisTemplate>(),
        (crate::ARGO_GROUP, "ClusterAnalysisTemplate") => {
            generate::<analysis::ClusterAnalysisTemplate>()
        }
        (crate::ARGO_GROUP, "AnalysisRun") => generate::<analysis::AnalysisRun>(),
        (crate::EE_GROUP, "MessageChannel") => generate::<notification::MessageChannel>(),
        (crate::EE_GROUP, "ClusterMessageChannel") => {
            generate::<notification::ClusterMessageChannel>()
        }
        (crate::EE_GROUP, "EventRouter") => generate::<notification::EventRouter>(),
        _ => return None,
    };
    Some(v)
}

/// The structural OpenAPI v3 schema of a kind (`openAPIV3Schema` of its
/// CRD), or `None` for kinds without a typed schema (core kinds and the
/// Argo CD Application, which this server keeps open).
pub fn kind_schema(info: &ResourceInfo) -> Option<Value> {
    let mut v = raw(info.group, info.kind)?;
    structural(&mut v);
    let obj = v.as_object_mut()?;
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        // As every CRD: the API server owns metadata's schema.
        props.insert("metadata".into(), json!({"type": "object"}));
        // A kind without a status subresource whose status is untyped
        // has no status at all (as upstream's CRDs).
        if !info.has_status && props.get("status").is_some_and(is_free_form) {
            props.remove("status");
        }
    }
    // As upstream: the kinds whose spec carries required fields require it.
    if SPEC_REQUIRED.contains(&info.kind) {
        obj.insert("required".into(), json!(["spec"]));
    }
    Some(v)
}

/// The mark a field carries (`#[schemars(extend("x-kargo-required" = true))]`)
/// to be listed in its object's `required` although serde defaults it:
/// schemars leaves every field with `#[serde(default)]` optional, while
/// Kubernetes (and Kargo's CRDs) require some that decode has a default for.
const REQUIRED_MARK: &str = "x-kargo-required";

/// Kinds whose CRD requires `spec` (as upstream's).
const SPEC_REQUIRED: &[&str] = &[
    "Warehouse",
    "Stage",
    "Promotion",
    "PromotionTask",
    "ClusterPromotionTask",
    "PromotionRequest",
    "AnalysisTemplate",
    "ClusterAnalysisTemplate",
    "AnalysisRun",
];

fn is_free_form(v: &Value) -> bool {
    v.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        && v.get("properties").is_none()
}

const SHAPE_KEYS: &[&str] = &[
    "type",
    "properties",
    "items",
    "additionalProperties",
    "enum",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "anyOf",
    "oneOf",
    "allOf",
];

/// Rewrites a generated schema in place into a structural one.
pub fn structural(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else {
        // `true` (any value) as a subschema.
        *v = json!({"x-kubernetes-preserve-unknown-fields": true});
        return;
    };
    for k in ["$schema", "nullable", "$defs", "definitions", "examples"] {
        obj.remove(k);
    }
    merge_title(obj);
    merge_single_choice(obj);
    if let Some(Value::Array(types)) = obj.get("type") {
        let rest: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        let t = if rest.len() == 1 {
            rest[0].clone()
        } else {
            Value::Array(rest)
        };
        obj.insert("type".into(), t);
    }
    if let Some(c) = obj.remove("const") {
        obj.insert("enum".into(), json!([c]));
    }
    collapse_constant_choices(obj);
    if let Some(Value::Array(e)) = obj.get_mut("enum") {
        e.retain(|x| !x.is_null());
        if !obj.contains_key("type") {
            obj.insert("type".into(), json!("string"));
        }
    }
    if let Some(d) = obj.get("default")
        && is_zero(d)
    {
        obj.remove("default");
    }
    strip_unsigned(obj);
    if obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        && !obj.contains_key("anyOf")
    {
        obj.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if obj.get("additionalProperties") == Some(&Value::Bool(true)) {
        if obj.contains_key("properties") {
            // A flattened map beside named fields: keep the fields, let the
            // rest through.
            obj.remove("additionalProperties");
            obj.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
        } else {
            obj.insert(
                "additionalProperties".into(),
                json!({"x-kubernetes-preserve-unknown-fields": true}),
            );
        }
    }
    let mut marked = Vec::new();
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        for (k, p) in props.iter_mut() {
            structural(p);
            if p.as_object_mut().and_then(|o| o.remove(REQUIRED_MARK)) == Some(Value::Bool(true)) {
                marked.push(Value::String(k.clone()));
            }
        }
    }
    if !marked.is_empty()
        && let Some(list) = obj
            .entry("required")
            .or_insert_with(|| json!([]))
            .as_array_mut()
    {
        list.extend(marked);
    }
    for k in ["items", "additionalProperties"] {
        if let Some(s) = obj.get_mut(k)
            && !s.is_boolean()
        {
            structural(s);
        }
    }
    for k in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(a)) = obj.get_mut(k) {
            a.iter_mut().for_each(structural);
        }
    }
    if !SHAPE_KEYS.iter().any(|k| obj.contains_key(*k)) {
        obj.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    }
}

/// schemars puts a doc comment's first paragraph in `title`; Kubernetes
/// shows only `description`, so the two are joined again.
fn merge_title(obj: &mut Map<String, Value>) {
    if let Some(Value::String(t)) = obj.remove("title") {
        let d = match obj.get("description").and_then(Value::as_str) {
            Some(d) => format!("{t}\n\n{d}"),
            None => t,
        };
        obj.insert("description".into(), Value::String(d));
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
        || v.get("const").is_some_and(Value::is_null)
        || v.get("enum") == Some(&json!([null]))
}

/// `Option<T>` comes out as `anyOf: [T, null]`: the null choice goes
/// (absent is how Kubernetes says none) and a lone choice left is merged
/// into the node, keeping the field's own description.
fn merge_single_choice(obj: &mut Map<String, Value>) {
    for k in ["anyOf", "oneOf"] {
        let Some(Value::Array(choices)) = obj.get_mut(k) else {
            continue;
        };
        choices.retain(|c| !is_null_schema(c));
        if choices.len() == 1 {
            let Some(Value::Object(only)) = choices.pop() else {
                continue;
            };
            obj.remove(k);
            for (key, v) in only {
                obj.entry(key).or_insert(v);
            }
        }
    }
}

/// An enum with documented variants comes out as `oneOf` constants: one
/// `enum` list instead (OpenAPI has no per-value descriptions).
fn collapse_constant_choices(obj: &mut Map<String, Value>) {
    for k in ["oneOf", "anyOf"] {
        let Some(Value::Array(choices)) = obj.get(k) else {
            continue;
        };
        let mut values = Vec::new();
        for c in choices {
            match (c.get("const"), c.get("enum")) {
                (Some(v), _) => values.push(v.clone()),
                (None, Some(Value::Array(e))) => values.extend(e.iter().cloned()),
                _ => return,
            }
        }
        obj.remove(k);
        obj.insert("type".into(), json!("string"));
        obj.insert("enum".into(), Value::Array(values));
    }
}

/// Unsigned Rust integers carry `format: uint*` and `minimum: 0`; Kubernetes
/// knows `int32`/`int64` only, so the format becomes the signed one of the
/// same width and the bound stays.
fn strip_unsigned(obj: &mut Map<String, Value>) {
    let f = match obj.get("format").and_then(Value::as_str) {
        Some("uint8" | "uint16" | "uint32" | "uint") => "int32",
        Some("uint64") => "int64",
        Some("int8" | "int16") => "int32",
        _ => return,
    };
    obj.insert("format".into(), json!(f));
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        // A struct's `Default` written out by serde's `default`.
        Value::Object(o) => o.values().all(is_zero),
    }
}
