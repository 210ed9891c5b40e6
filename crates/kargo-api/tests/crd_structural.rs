//! Every generated CRD is one a Kubernetes API server accepts as
//! structural (apiextensions.k8s.io/v1): each schema node has a type
//! (or is int-or-string or free-form), no `$ref`, `const` or `nullable`,
//! logical junctors only in the int-or-string form, and no object that has
//! both `properties` and `additionalProperties`; and every CRD decodes as
//! the typed `CustomResourceDefinition` with no field left over.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kargo_api::crd::crds;
use serde_json::{Value, json};

fn check(node: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(o) = node.as_object() else {
        problems.push(format!("{at}: not an object schema"));
        return;
    };
    for k in ["$ref", "const", "nullable", "definitions", "$defs", "title"] {
        if o.contains_key(k) {
            problems.push(format!("{at}: has {k}"));
        }
    }
    let flag = |k: &str| o.get(k) == Some(&Value::Bool(true));
    let int_or_string = flag("x-kubernetes-int-or-string");
    if !o.contains_key("type") && !int_or_string && !flag("x-kubernetes-preserve-unknown-fields") {
        problems.push(format!("{at}: no type"));
    }
    for k in ["anyOf", "oneOf", "allOf", "not"] {
        if let Some(j) = o.get(k) {
            let allowed = int_or_string
                && k == "anyOf"
                && *j == json!([{"type": "integer"}, {"type": "string"}]);
            if !allowed {
                problems.push(format!("{at}: {k} outside the int-or-string form"));
            }
        }
    }
    if o.contains_key("properties") && o.contains_key("additionalProperties") {
        problems.push(format!("{at}: properties and additionalProperties"));
    }
    if let Some(p) = o.get("properties").and_then(Value::as_object) {
        for (k, v) in p {
            check(v, &format!("{at}.{k}"), problems);
        }
    }
    if let Some(i) = o.get("items") {
        check(i, &format!("{at}[]"), problems);
    }
    if let Some(a) = o.get("additionalProperties").filter(|a| a.is_object()) {
        check(a, &format!("{at}{{}}"), problems);
    }
}

#[test]
fn generated_crds_are_structural() {
    let all = crds();
    assert!(all.len() >= 14, "{} CRDs", all.len());
    let mut problems = Vec::new();
    for crd in &all {
        let name = crd["metadata"]["name"].as_str().unwrap().to_string();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        check(schema, &name, &mut problems);
        assert_eq!(
            schema["properties"]["metadata"],
            json!({"type": "object"}),
            "{name}"
        );
        let mut unknown = Vec::new();
        let typed: CustomResourceDefinition =
            serde_ignored::deserialize(crd, |path| unknown.push(path.to_string()))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(unknown.is_empty(), "{name}: unknown fields {unknown:?}");
        assert_eq!(typed.spec.versions.len(), 1, "{name}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
