//! The in-process Kubernetes client: kube-rs `Client` over the API router
//! as a tower service — no socket, no TLS, no token — so controllers use
//! one code path whether the API is embedded or a real kube-apiserver.
//! Every request is counted (`request_counts`) for `/metrics`.

use kargo_store::Store;
use tower::ServiceBuilder;

/// A kube client that calls the embedded API directly, with the default
/// admission settings.
pub fn in_process_client(store: Store) -> kube::Client {
    in_process_client_with(store, kargo_apiserver::AdmissionSettings::default())
}

/// [`in_process_client`] with the server's admission settings (the
/// controllers' writes are admitted by the same rules as the users').
pub fn in_process_client_with(
    store: Store,
    admission: kargo_apiserver::AdmissionSettings,
) -> kube::Client {
    let router = kargo_apiserver::router_with(store, admission);
    let service = ServiceBuilder::new()
        .map_request(|req: http::Request<kube::client::Body>| {
            crate::request_counts::count(req.method(), req.uri());
            req.map(axum::body::Body::new)
        })
        .service(router);
    kube::Client::new(service, "default")
}
