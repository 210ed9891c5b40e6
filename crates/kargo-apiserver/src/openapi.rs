//! OpenAPI documents for clients that ask for them. kubectl reads
//! `/openapi/v3` to learn that the server validates fields itself
//! (`fieldValidation`), so it sends objects without client-side schema
//! checks. The schemas are open (`x-kubernetes-preserve-unknown-fields`):
//! the server's typed validation is the authority.

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use kargo_api::resources;
use serde_json::{Value, json};

use crate::status::ApiError;

/// `/openapi/v2`: not served (kubectl falls back to v3).
pub async fn v2() -> Response {
    ApiError::no_route("/openapi/v2").into_response()
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of group-version documents.
pub async fn v3_index() -> Json<Value> {
    let mut paths = serde_json::Map::new();
    for r in resources() {
        let p = gv_path(r.group, r.version);
        paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", env!("CARGO_PKG_VERSION"))}));
    }
    Json(json!({"paths": paths}))
}

/// `/openapi/v3/{api/v1 | apis/g/v}`: one document per group-version.
pub async fn v3_group(Path(rest): Path<String>) -> Response {
    let segs: Vec<&str> = rest.split('/').collect();
    let (group, version) = match segs.as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return ApiError::no_route(&rest).into_response(),
    };
    let kinds: Vec<_> = resources()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if kinds.is_empty() {
        return ApiError::no_route(&rest).into_response();
    }
    let mut schemas = serde_json::Map::new();
    let mut paths = serde_json::Map::new();
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
    ]);
    for r in kinds {
        let id = format!(
            "{}.{}.{}",
            if group.is_empty() {
                "io.k8s.api.core"
            } else {
                group
            },
            version,
            r.kind
        );
        schemas.insert(
            id.clone(),
            json!({
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": r.kind}]
            }),
        );
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
    Json(json!({
        "openapi": "3.0.0",
        "info": {"title": "kargo", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
    .into_response()
}
