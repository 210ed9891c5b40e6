//! Protobuf bodies of the review kinds kubectl posts (`kubectl auth
//! can-i` sends a SelfSubjectAccessReview, `--list` a
//! SelfSubjectRulesReview, `kubectl auth whoami` a SelfSubjectReview),
//! read into their JSON form for `reviews.rs`.

use crate::status::{ApiError, ApiResult};
use k8s_pb::api::authorization::v1 as authz;
use prost::Message;
use serde_json::{Map, Value, json};

fn bad(e: prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!("the request body is not valid protobuf: {e}"))
}

fn attributes(
    resource: Option<authz::ResourceAttributes>,
    non_resource: Option<authz::NonResourceAttributes>,
) -> Map<String, Value> {
    let mut spec = Map::new();
    if let Some(r) = resource {
        let authz::ResourceAttributes {
            namespace,
            verb,
            group,
            version,
            resource,
            subresource,
            name,
            ..
        } = r;
        spec.insert(
            "resourceAttributes".into(),
            json!({"namespace": namespace, "verb": verb, "group": group, "version": version,
                "resource": resource, "subresource": subresource, "name": name}),
        );
    }
    if let Some(n) = non_resource {
        spec.insert(
            "nonResourceAttributes".into(),
            json!({"path": n.path, "verb": n.verb}),
        );
    }
    spec
}

/// The JSON object of a review kind's protobuf `raw` bytes, or None for
/// another kind.
pub fn decode(api_version: &str, kind: &str, raw: &[u8]) -> Option<ApiResult<Map<String, Value>>> {
    let spec = match (api_version, kind) {
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            authz::SelfSubjectAccessReview::decode(raw)
                .map_err(bad)
                .map(|r| {
                    let s = r.spec.unwrap_or_default();
                    attributes(s.resource_attributes, s.non_resource_attributes)
                })
        }
        ("authorization.k8s.io/v1", "SubjectAccessReview") => {
            authz::SubjectAccessReview::decode(raw)
                .map_err(bad)
                .map(|r| {
                    let s = r.spec.unwrap_or_default();
                    let mut spec = attributes(s.resource_attributes, s.non_resource_attributes);
                    spec.insert("user".into(), json!(s.user));
                    spec.insert("groups".into(), json!(s.groups));
                    spec
                })
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            authz::SelfSubjectRulesReview::decode(raw)
                .map_err(bad)
                .map(|r| {
                    let ns = r.spec.and_then(|s| s.namespace);
                    let mut spec = Map::new();
                    spec.insert("namespace".into(), json!(ns));
                    spec
                })
        }
        ("authentication.k8s.io/v1", "SelfSubjectReview") => Ok(Map::new()),
        _ => return None,
    };
    Some(spec.map(|spec| {
        let mut obj = Map::new();
        obj.insert("spec".into(), Value::Object(spec));
        obj
    }))
}
