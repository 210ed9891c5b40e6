//! `kargo webhook-server`: Kargo's admission as Kubernetes admission
//! webhooks (AdmissionReview `admission.k8s.io/v1` over TLS), running the
//! very admission code `kargo server` stores objects through —
//! [`kargo_apiserver::admit`] (defaulting, the shard label, Freight naming,
//! aliases and immutability, Promotion naming and availability, typed
//! validation, the step registry's check) and
//! [`kargo_apiserver::authz::kargo_write_checks`] (the `promote` verb,
//! decided here by a SubjectAccessReview, and the create-actor
//! annotation) — with its reads made against the cluster
//! ([`ClusterStore`]). A mutating path answers with a JSONPatch from the
//! object as sent to the object as admitted; a validating path allows or
//! denies with Kargo's message. On start it takes its certificates from
//! (or makes them into) a Secret and writes the webhook configurations
//! with that CA as their `caBundle`.

use crate::cluster_admission::ClusterStore;
use crate::webhook_configs::{self, Target};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kargo_apiserver::{AdmissionSettings, ApiError, FieldValidation, UserInfo};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Settings of `kargo webhook-server`.
#[derive(Clone, Debug)]
pub struct WebhookServerConfig {
    /// The kubeconfig (None: `--context` in the default one, else the
    /// in-cluster configuration).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context.
    pub context: Option<String>,
    /// Where to listen (Kargo's: `:9443`).
    pub listen: SocketAddr,
    /// The Kargo namespace (the certificate Secret lives there).
    pub namespace: String,
    /// The webhook server's Service (`kargo-webhooks-server`).
    pub service: String,
    /// Extra names or addresses for the serving certificate.
    pub extra_sans: Vec<String>,
    /// Register the configurations with this URL base instead of the
    /// Service (a server outside the cluster).
    pub url: Option<String>,
    /// Write the webhook configurations on start.
    pub register: bool,
    /// `--allow-file-repos`, as `kargo server`'s.
    pub allow_file_repos: bool,
}

/// What a started server tells its caller.
#[derive(Clone, Debug)]
pub struct Started {
    /// `https://ADDR`.
    pub url: String,
    /// The CA the configurations trust.
    pub ca_pem: String,
}

struct Ctx {
    store: ClusterStore,
    settings: AdmissionSettings,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The user an AdmissionReview names.
fn user_of(request: &Value) -> UserInfo {
    UserInfo::new(
        text(request, "/userInfo/username"),
        kargo_apiserver::strings_at(request, "/userInfo/groups"),
    )
}

/// Admission of one request: Ok(object as admitted, warnings), or the
/// refusal.
fn admit_request(ctx: &Ctx, request: &Value) -> Result<Option<(Value, Vec<String>)>, ApiError> {
    let api_version = match text(request, "/kind/group") {
        "" => text(request, "/kind/version").to_string(),
        g => format!("{g}/{}", text(request, "/kind/version")),
    };
    let Some(info) = kargo_api::lookup_kind(&api_version, text(request, "/kind/kind")) else {
        return Ok(None); // not a kind Kargo admits
    };
    let ns = text(request, "/namespace");
    let user = user_of(request);
    let promote = |stage: &str| ctx.store.require_promote(&user, ns, stage);
    if text(request, "/operation") == "DELETE" {
        // As Kargo: deleting a Promotion needs `promote` on its Stage.
        if info.kind == "Promotion" {
            let stage = text(request, "/oldObject/spec/stage");
            if !stage.is_empty() {
                promote(stage)?;
            }
        }
        return Ok(None);
    }
    let obj = request.get("object").cloned().unwrap_or(Value::Null);
    let old = request.get("oldObject").filter(|o| !o.is_null());
    let mut admitted = kargo_apiserver::admit(
        &ctx.store,
        &ctx.settings,
        info,
        ns,
        obj,
        old,
        FieldValidation::Ignore,
    )?;
    kargo_apiserver::authz::kargo_write_checks(
        &ctx.store,
        &user,
        info.kind,
        ns,
        &mut admitted.obj,
        old,
    )?;
    Ok(Some((admitted.obj, admitted.warnings)))
}

/// The AdmissionReview answering `review` on a mutating or validating
/// path.
fn answer(ctx: &Ctx, mutating: bool, review: &Value) -> Value {
    let request = review.get("request").cloned().unwrap_or(Value::Null);
    let mut response =
        json!({"uid": request.get("uid").cloned().unwrap_or(json!("")), "allowed": true});
    match admit_request(ctx, &request) {
        Ok(None) => {}
        Ok(Some((admitted, warnings))) => {
            if !warnings.is_empty() {
                response["warnings"] = json!(warnings);
            }
            let sent = request.get("object").cloned().unwrap_or(Value::Null);
            let patch = json_patch::diff(&sent, &admitted);
            if mutating && !patch.0.is_empty() {
                use base64::Engine;
                let bytes = serde_json::to_vec(&patch).unwrap_or_default();
                response["patchType"] = json!("JSONPatch");
                response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
        }
        Err(e) => {
            response["allowed"] = json!(false);
            response["status"] = e.to_status();
        }
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    })
}

async fn review(
    State(ctx): State<Arc<Ctx>>,
    Path(hook): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some((mutating, kind)) =
        webhook_configs::paths().find(|(m, k)| webhook_configs::path(*m, k) == format!("/{hook}"))
    else {
        return (StatusCode::NOT_FOUND, format!("no webhook at /{hook}\n")).into_response();
    };
    let review: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not an AdmissionReview: {e}\n"),
            )
                .into_response();
        }
    };
    if text(&review, "/request/kind/kind").to_ascii_lowercase() != kind {
        let a = answer_wrong_kind(&review, kind);
        return axum::Json(a).into_response();
    }
    let out = tokio::task::spawn_blocking(move || answer(&ctx, mutating, &review)).await;
    match out {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// A review of another kind than the path's is let through untouched (a
/// misregistered rule must not block the cluster), and says so.
fn answer_wrong_kind(review: &Value, kind: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": review.pointer("/request/uid").cloned().unwrap_or(json!("")),
            "allowed": true,
            "warnings": [format!("the {kind} webhook was sent a {}; not admitted here", text(review, "/request/kind/kind"))],
        },
    })
}

/// Creates or replaces one webhook configuration.
async fn apply(client: &kube::Client, doc: Value) -> Result<(), String> {
    let kind = text(&doc, "/kind").to_string();
    let ar = ApiResource {
        group: "admissionregistration.k8s.io".into(),
        version: "v1".into(),
        api_version: "admissionregistration.k8s.io/v1".into(),
        plural: format!("{}s", kind.to_ascii_lowercase()),
        kind: kind.clone(),
    };
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let mut obj: DynamicObject = serde_json::from_value(doc).map_err(|e| format!("{kind}: {e}"))?;
    let t = Duration::from_secs(10);
    let call = async {
        match api.get_opt(webhook_configs::NAME).await? {
            None => api.create(&PostParams::default(), &obj).await.map(|_| ()),
            Some(old) => {
                obj.metadata.resource_version = old.metadata.resource_version;
                api.replace(webhook_configs::NAME, &PostParams::default(), &obj)
                    .await
                    .map(|_| ())
            }
        }
    };
    match tokio::time::timeout(t, call).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("writing {kind} {}: {e}", webhook_configs::NAME)),
        Err(_) => Err(format!("writing {kind}: no answer within {t:?}")),
    }
}

/// Gets the certificates, registers the configurations (when asked),
/// listens; `started` is told where; serves until `shutdown`.
pub async fn run(
    cfg: WebhookServerConfig,
    started: impl FnOnce(&Started),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let (client, _) =
        crate::controller_process::client(cfg.kubeconfig.as_deref(), cfg.context.as_deref())
            .await
            .map_err(|e| e.to_string())?;
    let sans = crate::webhook_certs::sans(&cfg.namespace, &cfg.service, &cfg.extra_sans);
    let certs = crate::webhook_certs::load_or_create(client.clone(), &cfg.namespace, &sans).await?;
    let listener =
        std::net::TcpListener::bind(cfg.listen).map_err(|e| format!("{}: {e}", cfg.listen))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("{}: {e}", cfg.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("{}: {e}", cfg.listen))?;
    if cfg.register {
        let target = match &cfg.url {
            Some(u) => Target::Url(u.replace("{port}", &addr.port().to_string())),
            None => Target::Service {
                namespace: cfg.namespace.clone(),
                name: cfg.service.clone(),
            },
        };
        apply(
            &client,
            webhook_configs::mutating(&target, Some(&certs.ca_pem)),
        )
        .await?;
        apply(
            &client,
            webhook_configs::validating(&target, Some(&certs.ca_pem)),
        )
        .await?;
    }
    let rustls = axum_server::tls_rustls::RustlsConfig::from_pem(
        certs.cert_pem.clone().into_bytes(),
        certs.key_pem.clone().into_bytes(),
    )
    .await
    .map_err(|e| format!("TLS: {e}"))?;
    let ctx = Arc::new(Ctx {
        store: ClusterStore::new(client, tokio::runtime::Handle::current()),
        settings: AdmissionSettings {
            allow_file_repos: cfg.allow_file_repos,
            step_check: Some(crate::check_step),
        },
    });
    let router = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(|| async { "ok" }))
        .route("/{hook}", axum::routing::post(review))
        .layer(axum::extract::DefaultBodyLimit::max(
            kargo_apiserver::MAX_BODY,
        ))
        .with_state(ctx);
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    started(&Started {
        url: format!("https://{addr}"),
        ca_pem: certs.ca_pem.clone(),
    });
    axum_server::from_tcp(listener)
        .map_err(|e| format!("{addr}: {e}"))?
        .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(rustls))
        .handle(handle)
        .serve(router.into_make_service())
        .await
        .map_err(|e| format!("{addr}: {e}"))
}
