//! OpenAPI documents: `/openapi/v3` (an index and one document per
//! group-version) and `/openapi/v2` (swagger 2.0 JSON). Kinds with a Rust
//! type carry the same structural schema as their CRD
//! ([`kargo_api::schema`]), so `kubectl explain stage.spec.promotionTemplate`
//! works; the rest (core kinds, the Argo CD Application) stay open
//! (`x-kubernetes-preserve-unknown-fields`). Every path declares
//! `fieldValidation`, which tells kubectl the server validates fields
//! itself, so it sends objects without client-side schema checks. The
//! documents are built once; the index's `hash` changes with their content.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use kargo_api::{ResourceInfo, resources};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use crate::status::ApiError;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The definition name of a kind (`io.k8s.api.core.v1.Secret`,
/// `kargo.akuity.io.v1alpha1.Stage`).
fn definition_id(r: &ResourceInfo) -> String {
    let group = if r.group.is_empty() {
        "io.k8s.api.core"
    } else {
        r.group
    };
    format!("{group}.{}.{}", r.version, r.kind)
}

/// A kind's schema with its group-version-kind.
fn kind_schema(r: &ResourceInfo) -> Value {
    let mut s = kargo_api::schema::kind_schema(r)
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    s["x-kubernetes-group-version-kind"] =
        json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
    s
}

/// One OpenAPI v3 document for a group-version.
fn v3_document(group: &str, version: &str) -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
    ]);
    for r in resources()
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let id = definition_id(r);
        schemas.insert(id.clone(), kind_schema(r));
        let body = json!({"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{id}")}}}});
        let base = if r.namespaced() {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(group, version),
                r.plural
            )
        } else {
            format!("/{}/{}", gv_path(group, version), r.plural)
        };
        let gvk = json!({"group": group, "version": version, "kind": r.kind});
        paths.insert(base.clone(), json!({"post": {"parameters": params, "requestBody": body, "x-kubernetes-group-version-kind": gvk, "responses": {}}}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "put": {"parameters": params, "requestBody": body, "x-kubernetes-group-version-kind": gvk, "responses": {}},
                "patch": {"parameters": params, "x-kubernetes-group-version-kind": gvk, "responses": {}}
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "kargo", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"schemas": schemas}
    })
}

/// Every group-version's v3 document and its content hash, by path
/// (`api/v1`, `apis/kargo.akuity.io/v1alpha1`).
fn v3_documents() -> &'static BTreeMap<String, (Value, String)> {
    static DOCS: OnceLock<BTreeMap<String, (Value, String)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for r in resources() {
            let p = gv_path(r.group, r.version);
            if out.contains_key(&p) {
                continue;
            }
            let doc = v3_document(r.group, r.version);
            let mut h = DefaultHasher::new();
            doc.to_string().hash(&mut h);
            out.insert(p, (doc, format!("{:016X}", h.finish())));
        }
        out
    })
}

/// `/openapi/v3`: the index of group-version documents.
pub async fn v3_index() -> Json<Value> {
    let paths: Map<String, Value> = v3_documents()
        .iter()
        .map(|(p, (_, hash))| {
            (
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
            )
        })
        .collect();
    Json(json!({"paths": paths}))
}

/// `/openapi/v3/{api/v1 | apis/g/v}`: one document per group-version.
pub async fn v3_group(Path(rest): Path<String>) -> Response {
    match v3_documents().get(&rest) {
        Some((doc, _)) => Json(doc.clone()).into_response(),
        None => ApiError::no_route(&rest).into_response(),
    }
}

/// Drops what swagger 2.0 has no words for (`anyOf`, `oneOf`, `nullable`).
fn to_v2(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for k in ["anyOf", "oneOf", "nullable"] {
                o.remove(k);
            }
            o.values_mut().for_each(to_v2);
        }
        Value::Array(a) => a.iter_mut().for_each(to_v2),
        _ => {}
    }
}

fn v2_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut definitions = Map::new();
        for r in resources() {
            let mut s = kind_schema(r);
            to_v2(&mut s);
            definitions.insert(definition_id(r), s);
        }
        json!({
            "swagger": "2.0",
            "info": {"title": "kargo", "version": env!("CARGO_PKG_VERSION")},
            "paths": {},
            "definitions": definitions
        })
    })
}

/// `/openapi/v2`: swagger 2.0 JSON. A client that accepts only the
/// protobuf form (client-go's default) is told 404, as by an API server
/// without OpenAPI v2, and goes on with OpenAPI v3 (kubectl's validation
/// and `explain` do).
pub async fn v2(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json_ok = accept.is_empty()
        || accept
            .split(',')
            .any(|a| a.contains("json") || a.trim().starts_with("*/*"));
    if !json_ok {
        return ApiError::no_route("/openapi/v2 (protobuf)").into_response();
    }
    Json(v2_document().clone()).into_response()
}
