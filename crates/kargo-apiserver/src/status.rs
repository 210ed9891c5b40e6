//! API errors rendered as Kubernetes `Status` objects with the right code
//! and reason, so kubectl and kube-rs print them as they would for a
//! real kube-apiserver.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kargo_api::validate::FieldError;
use kargo_store::StoreError;
use serde_json::{Value, json};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP code.
    pub code: StatusCode,
    /// Kubernetes reason (`NotFound`, `Invalid`, ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details`, if any.
    pub details: Option<Value>,
}

impl ApiError {
    /// A new error.
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }
    /// 400.
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", m)
    }
    /// 404 for a path that names nothing we serve.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }
    /// 405.
    pub fn method_not_allowed(m: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", m)
    }
    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("request entity too large: limit is {limit} bytes"),
        )
    }
    /// 415.
    pub fn unsupported_media(ct: &str) -> Self {
        Self::unsupported_media_of(
            ct,
            &[
                "application/json",
                "application/yaml",
                crate::protobuf::MEDIA_TYPE,
            ],
        )
    }
    /// 415 listing the media types the request could have used, worded as
    /// kube-apiserver words it.
    pub fn unsupported_media_of(ct: &str, accepted: &[&str]) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({ct:?}) - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }
    /// 422 with one cause per field: `Kind.group "name" is invalid: ...`
    /// (`(unnamed)` instead of `""` for an object that has no name yet).
    pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let subject = if name.is_empty() {
            format!("{qualified} (unnamed)")
        } else {
            format!("{qualified} {name:?}")
        };
        Self::invalid_subject(kind, group, name, &subject, errors)
    }

    /// 422 with one cause per field, the message opening with `subject`
    /// (e.g. `Promotion of Freight "f" to Stage "s"` for an object that
    /// is named only once admitted).
    pub fn invalid_subject(
        kind: &str,
        group: &str,
        name: &str,
        subject: &str,
        errors: &[FieldError],
    ) -> Self {
        let list: Vec<String> = errors
            .iter()
            .map(|e| {
                if e.path.is_empty() {
                    e.message.clone()
                } else {
                    e.to_string()
                }
            })
            .collect();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": "FieldValueInvalid", "message": e.message, "field": e.path}))
            .collect();
        ApiError {
            code: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "Invalid",
            message: format!("{subject} is invalid: {joined}"),
            // kubectl rebuilds the message from `details` as `The Kind "name"
            // is invalid`; without a name it would print `""`, so an unnamed
            // object's refusal goes without details and kubectl prints the
            // message itself (`The request is invalid: <message>`).
            details: (!name.is_empty())
                .then(|| json!({"name": name, "group": group, "kind": kind, "causes": causes})),
        }
    }

    /// The `Status` body (credentials in URLs in the message masked).
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": kargo_api::redact::redact(&self.message), "reason": self.reason, "code": self.code.as_u16()
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound { kind, name } => ApiError {
                code: StatusCode::NOT_FOUND,
                reason: "NotFound",
                message: format!("{kind} {name:?} not found"),
                details: Some(json!({"name": name, "kind": kind})),
            },
            StoreError::AlreadyExists { kind, name } => ApiError {
                code: StatusCode::CONFLICT,
                reason: "AlreadyExists",
                message: format!("{kind} {name:?} already exists"),
                details: Some(json!({"name": name, "kind": kind})),
            },
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "Conflict", m.clone()),
            StoreError::Gone(m) => ApiError::new(StatusCode::GONE, "Expired", m.clone()),
            StoreError::Invalid(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", m.clone())
            }
            // The store logs the transition to read-only once.
            StoreError::InsufficientStorage(m) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "InsufficientStorage",
                m.clone(),
            ),
            StoreError::Internal(m) => {
                tracing::error!(error = %m, "store failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    m.clone(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.code,
            [(http::header::CONTENT_TYPE, "application/json")],
            self.to_status().to_string(),
        )
            .into_response()
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_mask_credentials_in_urls() {
        let e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "spec.subscriptions[0].git.repoURL: \"https://bob:s3cret@h/r.git\" is invalid",
        );
        let s = e.to_status();
        assert_eq!(
            s["message"],
            "spec.subscriptions[0].git.repoURL: \"https://xxxxx@h/r.git\" is invalid"
        );
        let full = ApiError::from(StoreError::InsufficientStorage(
            "the database is full".into(),
        ));
        assert_eq!(full.code, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(full.to_status()["reason"], "InsufficientStorage");
        assert_eq!(full.to_status()["code"], 507);
    }
}
