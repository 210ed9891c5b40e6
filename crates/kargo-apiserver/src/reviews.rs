//! The review kinds answered without storing anything, as kube-apiserver
//! answers them: SelfSubjectAccessReview and SubjectAccessReview (`kubectl
//! auth can-i`), SelfSubjectRulesReview (`can-i --list`), TokenReview and
//! SelfSubjectReview (`kubectl auth whoami`).

use crate::authz::Authorizer;
use crate::status::{ApiError, ApiResult};
use kargo_rbac::{Attributes, UserInfo};
use serde_json::{Value, json};

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The strings of the array at `pointer` (a user's groups in a review).
pub fn strings_at(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// What a review's `spec` asks about.
fn attributes(spec: &Value) -> ApiResult<Attributes> {
    if let Some(r) = spec.get("resourceAttributes") {
        let resource = text(r, "/resource");
        let sub = text(r, "/subresource");
        let combined = if sub.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}/{sub}")
        };
        return Ok(Attributes::resource(
            text(r, "/verb"),
            text(r, "/group"),
            &combined,
            text(r, "/namespace"),
            text(r, "/name"),
        ));
    }
    if let Some(n) = spec.get("nonResourceAttributes") {
        return Ok(Attributes::non_resource(text(n, "/verb"), text(n, "/path")));
    }
    Err(ApiError::invalid(
        "SubjectAccessReview",
        "authorization.k8s.io",
        "",
        &[kargo_api::validate::FieldError {
            path: "spec.resourceAttributes".into(),
            message: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
        }],
    ))
}

/// Answers the review posted to `resource` by `user`.
pub fn answer(
    authz: &Authorizer,
    user: &UserInfo,
    resource: &str,
    mut review: Value,
) -> ApiResult<Value> {
    let spec = review.get("spec").cloned().unwrap_or(json!({}));
    let status = match resource {
        "selfsubjectaccessreviews" => access(authz, user, &spec)?,
        "subjectaccessreviews" => {
            let subject = UserInfo {
                name: text(&spec, "/user").to_string(),
                groups: strings_at(&spec, "/groups"),
                oidc: None,
            };
            access(authz, &subject, &spec)?
        }
        "selfsubjectrulesreviews" => rules(authz, user, text(&spec, "/namespace")),
        "selfsubjectreviews" => json!({"userInfo": {"username": user.name, "groups": user.groups}}),
        "tokenreviews" => match authz.authenticate_token(text(&spec, "/token")) {
            Some(u) => {
                json!({"authenticated": true, "user": {"username": u.name, "groups": u.groups}})
            }
            None => json!({"authenticated": false, "error": "invalid bearer token"}),
        },
        other => return Err(ApiError::no_route(other)),
    };
    review["status"] = status;
    if review.get("metadata").is_none() {
        review["metadata"] = json!({});
    }
    Ok(review)
}

fn access(authz: &Authorizer, user: &UserInfo, spec: &Value) -> ApiResult<Value> {
    let d = authz.authorize(user, &attributes(spec)?);
    let mut s = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        s["reason"] = json!(d.reason);
    }
    Ok(s)
}

fn rules(authz: &Authorizer, user: &UserInfo, ns: &str) -> Value {
    let (mut resource, mut non_resource) = (Vec::new(), Vec::new());
    for r in authz.rules_for(user, ns) {
        if r.non_resource_urls.is_empty() {
            resource.push(json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources, "resourceNames": r.resource_names}));
        } else {
            non_resource.push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
    }
    json!({"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": false})
}
