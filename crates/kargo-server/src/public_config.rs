//! Kargo's public server configuration, `GET
//! /v1beta1/system/public-server-config` (no token needed): whether admin
//! password sign-in is on and, when SSO is on, the OpenID Connect issuer,
//! client ids and scopes, so `kargo login --sso` and the UI know how to
//! sign in.

use crate::oidc::OidcConfig;
use axum::Router;
use axum::response::IntoResponse;
use serde_json::json;
use std::sync::Arc;

/// Where the configuration is served.
pub const PATH: &str = "/v1beta1/system/public-server-config";

/// The document, as Kargo's `PublicConfig`.
pub fn document(admin_enabled: bool, oidc: Option<&OidcConfig>) -> serde_json::Value {
    let mut doc = json!({"adminAccountEnabled": admin_enabled, "skipAuth": false});
    if let Some(o) = oidc {
        let mut c =
            json!({"issuerUrl": o.issuer_url, "clientId": o.client_id, "scopes": o.scopes()});
        if let Some(cli) = &o.cli_client_id {
            c["cliClientId"] = json!(cli);
        }
        doc["oidcConfig"] = c;
    }
    doc
}

/// The route.
pub fn router(admin_enabled: bool, oidc: Option<Arc<OidcConfig>>) -> Router {
    let doc = document(admin_enabled, oidc.as_deref());
    Router::new().route(
        PATH,
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc).into_response() }
        }),
    )
}
