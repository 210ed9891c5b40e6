//! `kargo server --kubeconfig`: the Kubernetes API it serves (to the CLI,
//! kubectl and the UI's actions) is the cluster's, reached through a
//! reverse proxy. The caller was authenticated here (the admin token, an
//! admin sign-in, OpenID Connect); the request goes on with this server's
//! own cluster credentials and, for anyone but the admin, the caller's
//! identity as `Impersonate-User` / `Impersonate-Group`, so the cluster's
//! RBAC decides what the caller may do (the admin acts as this server, as
//! Kargo's API server does for its admin). Responses stream back as they
//! come (watches included).

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, StatusCode};
use kargo_rbac::UserInfo;
use serde_json::json;

/// The largest request body forwarded (kube-apiserver's own limit is 3 MiB
/// for an object; a list of patches stays well under this).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Request headers passed on to the cluster; everything else (the
/// caller's `Authorization`, cookies, any `Impersonate-*` the caller sent)
/// stays here.
const FORWARDED: &[HeaderName] = &[
    http::header::ACCEPT,
    http::header::CONTENT_TYPE,
    http::header::ACCEPT_ENCODING,
    http::header::USER_AGENT,
];

/// Response headers passed back.
const RETURNED: &[HeaderName] = &[
    http::header::CONTENT_TYPE,
    http::header::CONTENT_ENCODING,
    http::header::WARNING,
    http::header::CACHE_CONTROL,
];

/// Whether `user` is this server's admin (acts with the server's own
/// cluster credentials, not impersonated).
fn is_admin(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == "system:masters")
}

fn failure(code: StatusCode, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": "ServiceUnavailable",
        "code": code.as_u16()
    });
    (code, axum::Json(body)).into_response()
}

/// Forwards one request to the cluster.
async fn forward(State(cluster): State<kube::Client>, req: Request) -> Response {
    let user = req.extensions().get::<UserInfo>().cloned();
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return failure(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut out = http::Request::builder().method(parts.method).uri(path);
    for name in FORWARDED {
        for v in parts.headers.get_all(name) {
            out = out.header(name, v);
        }
    }
    if let Some(u) = user.as_ref().filter(|u| !is_admin(u)) {
        out = out.header("Impersonate-User", &u.name);
        for g in &u.groups {
            out = out.header("Impersonate-Group", g);
        }
    }
    let out = match out.body(kube::client::Body::from(bytes.to_vec())) {
        Ok(r) => r,
        Err(e) => return failure(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let res = match cluster.send(out).await {
        Ok(r) => r,
        Err(e) => {
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the cluster's API server did not answer: {e}"),
            );
        }
    };
    let (rparts, rbody) = res.into_parts();
    let mut back = Response::builder().status(rparts.status);
    for name in RETURNED {
        for v in rparts.headers.get_all(name) {
            back = back.header(name, v);
        }
    }
    back.body(Body::new(rbody))
        .unwrap_or_else(|e| failure(StatusCode::BAD_GATEWAY, e.to_string()))
}

/// Every path not served here goes to the cluster.
pub fn router(cluster: kube::Client) -> Router {
    Router::new().fallback(forward).with_state(cluster)
}
