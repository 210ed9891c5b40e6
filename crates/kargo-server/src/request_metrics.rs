//! The axum layer that times every API request for
//! `kargo_api_request_duration_seconds{verb,resource,code}`: verb and
//! resource as kube-apiserver reads the request (non-resource URLs have
//! an empty resource). Watches stay open for as long as the client likes,
//! so they are not timed; `kargo_api_watchers` counts them instead.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Times the request and records it by verb, resource and status code.
pub async fn observe(req: Request, next: Next) -> Response {
    let a = kargo_rbac::Attributes::from_request(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query(),
    );
    if a.verb == "watch" {
        return next.run(req).await;
    }
    let started = Instant::now();
    let resp = next.run(req).await;
    let resource = if a.resource_request {
        a.combined_resource()
    } else {
        String::new()
    };
    kargo_controller::metrics::observe_request(
        &a.verb,
        &resource,
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}
