//! Counts the requests the in-process client (the controllers) sends to
//! the API, by verb (`list`, `watch`, `get`, `create`, ...) and resource
//! plural, so `/metrics`, tests and benchmarks can check that a
//! reconcile lists nothing and a change costs requests in proportion to
//! what it concerns.

use std::collections::BTreeMap;
use std::sync::Mutex;

static COUNTS: Mutex<BTreeMap<(&'static str, String), u64>> = Mutex::new(BTreeMap::new());

/// The verb and resource plural of a request, as Kubernetes audits it.
pub fn classify(method: &http::Method, uri: &http::Uri) -> Option<(&'static str, String)> {
    let path = uri.path();
    let rest = if let Some(r) = path.strip_prefix("/apis/") {
        r.splitn(3, '/').nth(2)?
    } else {
        path.strip_prefix("/api/")?.split_once('/')?.1
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (plural, collection) = match segs.as_slice() {
        ["namespaces", _, plural, tail @ ..] => (*plural, tail.is_empty()),
        [plural, tail @ ..] => (*plural, tail.is_empty()),
        [] => return None,
    };
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET if collection => "list",
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if collection => "deletecollection",
        http::Method::DELETE => "delete",
        _ => return None,
    };
    Some((verb, plural.to_string()))
}

/// Counts one request.
pub fn count(method: &http::Method, uri: &http::Uri) {
    if let Some(k) = classify(method, uri) {
        *COUNTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(k)
            .or_default() += 1;
    }
}

/// Requests so far: ((verb, resource), count).
pub fn snapshot() -> Vec<((&'static str, String), u64)> {
    COUNTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(m: http::Method, u: &str) -> Option<(&'static str, String)> {
        classify(&m, &u.parse().expect("uri"))
    }

    #[test]
    fn verbs_and_resources_as_kubernetes_names_them() {
        let g = http::Method::GET;
        let list = |r: &str| Some(("list", r.to_string()));
        assert_eq!(
            c(
                g.clone(),
                "/apis/kargo.akuity.io/v1alpha1/freights?limit=500"
            ),
            list("freights")
        );
        assert_eq!(
            c(
                g.clone(),
                "/apis/kargo.akuity.io/v1alpha1/namespaces/p/stages"
            ),
            list("stages")
        );
        assert_eq!(c(g.clone(), "/api/v1/namespaces"), list("namespaces"));
        assert_eq!(
            c(g.clone(), "/api/v1/namespaces/p/secrets"),
            list("secrets")
        );
        assert_eq!(
            c(
                g.clone(),
                "/apis/kargo.akuity.io/v1alpha1/namespaces/p/stages/dev"
            ),
            Some(("get", "stages".into()))
        );
        assert_eq!(
            c(
                g,
                "/apis/kargo.akuity.io/v1alpha1/promotions?watch=true&resourceVersion=5"
            ),
            Some(("watch", "promotions".into()))
        );
        assert_eq!(
            c(
                http::Method::PATCH,
                "/apis/kargo.akuity.io/v1alpha1/namespaces/p/freights/f/status"
            ),
            Some(("patch", "freights".into()))
        );
    }
}
