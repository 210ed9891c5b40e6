//! A Kubernetes-compatible HTTP API over the kargo store: discovery,
//! CRUD, list (selectors, paging, Tables), watch, patch and the status
//! subresource, with errors as Kubernetes `Status` objects, JSON, YAML and
//! (for kubectl's create verbs) protobuf request bodies — enough that
//! unmodified kubectl and kube-rs work against it.
//!
//! Authentication and TLS are not here: `kargo-server` wraps this router.

mod admission;
mod admission_store;
pub mod authz;
mod discovery;
mod handlers;
mod kargo_events;
mod list_stream;
mod object_meta;
mod openapi;
mod patch;
mod promotion_admission;
mod protobuf;
mod protobuf_reviews;
mod reviews;
mod route;
mod selector;
mod status;
mod table;
mod watch;
mod window_admission;

pub use admission::{AdmissionSettings, Admitted, FieldValidation, StepCheck, admit};
pub use admission_store::AdmissionStore;
pub use authz::Authorizer;
pub use discovery::version;
pub use handlers::MAX_BODY;
pub use kargo_rbac::{Attributes, UserInfo};
pub use patch::{json_patch, merge_patch};
pub use promotion_admission::CREATE_ACTOR;
pub use reviews::strings_at;
pub use selector::{FieldSelector, LabelSelector};
pub use status::ApiError;
pub use table::human_duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use http::{HeaderMap, Method, Uri};
use kargo_store::Store;

/// Shared state of the API.
#[derive(Clone)]
pub struct ApiServer {
    /// The object store.
    pub store: Store,
    /// The server's settings that admission applies.
    pub admission: AdmissionSettings,
    /// RBAC for requests that carry a [`UserInfo`] (None: in-process
    /// callers, which are the server itself).
    pub authz: Option<Authorizer>,
}

async fn api(
    State(s): State<ApiServer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    user: Option<axum::Extension<UserInfo>>,
    body: Body,
) -> axum::response::Response {
    let user = user.map(|axum::Extension(u)| u);
    handlers::handle(s, method, uri, headers, user, body).await
}

/// Ready, or 503 naming the condition while the store is read-only
/// because its disk (or database) is full; reads still work meanwhile.
async fn readyz(State(s): State<ApiServer>) -> axum::response::Response {
    if s.store.storage_full() {
        return (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "storage full: the server is read-only until disk space is freed",
        )
            .into_response();
    }
    "ok".into_response()
}

/// The API router: `/version`, `/api`, `/apis`, `/openapi` and health,
/// with the default admission settings (no `file://` repositories).
pub fn router(store: Store) -> Router {
    router_with(store, AdmissionSettings::default())
}

/// [`router`] with the server's admission settings.
pub fn router_with(store: Store, admission: AdmissionSettings) -> Router {
    router_secured(store, admission, None)
}

/// [`router_with`] whose writes also run the RBAC checks inside writes
/// ([`Authorizer::admit`]) for the request's [`UserInfo`]; wrap it with
/// [`authz::enforce`] (and authentication) to authorize every request.
pub fn router_secured(
    store: Store,
    admission: AdmissionSettings,
    authz: Option<Authorizer>,
) -> Router {
    let state = ApiServer {
        store,
        admission,
        authz,
    };
    Router::new()
        .route(
            "/version",
            get(|| async { axum::Json(discovery::version()) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api", any(api))
        .route("/api/{*rest}", any(api))
        .route("/apis", any(api))
        .route("/apis/{*rest}", any(api))
        .route("/openapi/v2", get(openapi::v2))
        .route("/openapi/v3", get(openapi::v3_index))
        .route("/openapi/v3/{*rest}", get(openapi::v3_group))
        .fallback(|uri: Uri| async move { status::ApiError::no_route(uri.path()).into_response() })
        .with_state(state)
}
