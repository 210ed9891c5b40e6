//! Authentication: every request but the health endpoints needs
//! `Authorization: Bearer <token>`: the admin token (generated on first
//! start into `<data-dir>/admin-token`, mode 0600; it authenticates as
//! `admin` in `system:masters`), an admin sign-in token (`admin_login.rs`),
//! an ID token of the configured OpenID Connect provider (`oidc/`;
//! dispatched on its `iss` claim, as Kargo does) or a ServiceAccount's
//! token. The user is handed on as a request extension for authorization.

use crate::{ServerError, io_err};
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kargo_apiserver::{ApiError, Authorizer, UserInfo};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

/// Reads the admin token, creating it on first start.
pub fn load_or_create_token(data_dir: &Path) -> Result<String, ServerError> {
    load_or_create_secret(data_dir, "admin-token")
}

/// Reads `<data-dir>/<file>` (mode 0600), first filling it with 32 random
/// bytes in hex.
pub(crate) fn load_or_create_secret(data_dir: &Path, file: &str) -> Result<String, ServerError> {
    let path = data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => {
            // Keep the file private even if someone loosened it.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err(&path))?;
            Ok(t.trim().to_string())
        }
        Ok(_) | Err(_) => {
            let bytes: [u8; 32] = rand::random();
            let token = hex::encode(bytes);
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_err(&path))?;
            f.write_all(format!("{token}\n").as_bytes())
                .map_err(io_err(&path))?;
            f.sync_all().map_err(io_err(&path))?;
            Ok(token)
        }
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who a bearer token is: the admin token or an admin sign-in token
/// (`admin`), an OpenID Connect user, or a ServiceAccount's token.
#[derive(Clone)]
pub struct Authenticator {
    token: Arc<String>,
    authz: Authorizer,
    account: Arc<crate::admin_login::AdminAccount>,
    oidc: Option<Arc<crate::oidc::OidcVerifier>>,
}

impl Authenticator {
    /// Over the admin `token`, the RBAC index and the admin account.
    pub fn new(
        token: String,
        authz: Authorizer,
        account: Arc<crate::admin_login::AdminAccount>,
    ) -> Self {
        Self {
            token: Arc::new(token),
            authz,
            account,
            oidc: None,
        }
    }

    /// Also accepts ID tokens `verifier` verifies.
    pub fn with_oidc(self, verifier: Option<Arc<crate::oidc::OidcVerifier>>) -> Self {
        Self {
            oidc: verifier,
            ..self
        }
    }

    /// The OpenID Connect verifier, when sign-in with SSO is on.
    pub fn oidc(&self) -> Option<&Arc<crate::oidc::OidcVerifier>> {
        self.oidc.as_ref()
    }

    /// The admin account (password sign-in).
    pub fn account(&self) -> &Arc<crate::admin_login::AdminAccount> {
        &self.account
    }

    /// The user `bearer` authenticates, or why it does not.
    pub async fn authenticate(&self, bearer: &str) -> Result<UserInfo, String> {
        if constant_time_eq(bearer.as_bytes(), self.token.as_bytes())
            || self.account.verify_token(bearer)
        {
            return Ok(UserInfo::admin());
        }
        if let Some(v) = &self.oidc
            && v.claims_issuer(bearer)
        {
            return v.verify(bearer).await;
        }
        self.authz
            .authenticate_token(bearer)
            .ok_or_else(|| "the bearer token is not valid for this server".to_string())
    }

    /// The authorizer the users' requests are checked by.
    pub fn authorizer(&self) -> &Authorizer {
        &self.authz
    }
}

/// Wraps `router` so that only holders of a token `auth` knows get
/// through, as that user.
pub fn require_token(router: Router, auth: Authenticator) -> Router {
    router.layer(axum::middleware::from_fn(move |mut req: Request, next: Next| {
        let auth = auth.clone();
        async move {
            let path = req.uri().path();
            if matches!(path, "/healthz" | "/livez" | "/readyz") {
                return next.run(req).await;
            }
            let presented = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let user = match presented {
                Some(t) => match auth.authenticate(t).await {
                    Ok(u) => u,
                    Err(e) => return unauthorized(&e),
                },
                None => return unauthorized("authentication required: send Authorization: Bearer <token> (see <data-dir>/admin-token, or run `kargo login`)"),
            };
            req.extensions_mut().insert(user);
            next.run(req).await
        }
    }))
}

fn unauthorized(msg: &str) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", msg).into_response();
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    r
}
