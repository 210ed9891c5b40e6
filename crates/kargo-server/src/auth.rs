//! Authentication: every request but the health endpoints needs
//! `Authorization: Bearer <token>`. The admin token is generated on first
//! start into `<data-dir>/admin-token` (mode 0600).

use crate::{ServerError, io_err};
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kargo_apiserver::ApiError;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

/// Reads the admin token, creating it on first start.
pub fn load_or_create_token(data_dir: &Path) -> Result<String, ServerError> {
    let path = data_dir.join("admin-token");
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

/// Wraps `router` so that only holders of `token` get through.
pub fn require_token(router: Router, token: String) -> Router {
    let token = Arc::new(token);
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let token = token.clone();
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
            match presented {
                Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => next.run(req).await,
                Some(_) => unauthorized("the bearer token is not valid for this server"),
                None => unauthorized("authentication required: send Authorization: Bearer <token> (see <data-dir>/admin-token, or run `kargo login`)"),
            }
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
