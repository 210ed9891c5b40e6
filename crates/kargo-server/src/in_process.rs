//! The in-process Kubernetes client: kube-rs `Client` over the API router
//! as a tower service — no socket, no TLS, no token — so controllers use
//! one code path whether the API is embedded or a real kube-apiserver.

use kargo_store::Store;
use tower::ServiceBuilder;

/// A kube client that calls the embedded API directly.
pub fn in_process_client(store: Store) -> kube::Client {
    let router = kargo_apiserver::router(store);
    let service = ServiceBuilder::new()
        .map_request(|req: http::Request<kube::client::Body>| req.map(axum::body::Body::new))
        .service(router);
    kube::Client::new(service, "default")
}
