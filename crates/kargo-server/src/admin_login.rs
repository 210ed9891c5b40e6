//! Admin sign-in as Kargo's API server does it: `POST /v1beta1/login`
//! with `Authorization: Bearer <password>`, checked against a bcrypt hash
//! (`--admin-password-hash` / `ADMIN_ACCOUNT_PASSWORD_HASH`, or the hash
//! stored in `<data-dir>/admin-password-hash`; the password itself is
//! never stored), answers `{"idToken": JWT}`: HS256, subject `admin`,
//! short-lived (`--admin-token-ttl`, default 24h), signed with
//! `<data-dir>/admin-token-signing-key`. Failed attempts are rate-limited
//! (429 after 5 in a minute).

use crate::ServerError;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use kargo_apiserver::ApiError;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `iss` and `aud` of the admin's tokens.
pub const ISSUER: &str = "kargo-admin";
/// File holding the bcrypt hash set at first start.
pub const HASH_FILE: &str = "admin-password-hash";
/// Failed attempts allowed in [`WINDOW`].
const MAX_FAILURES: usize = 5;
const WINDOW: Duration = Duration::from_secs(60);

/// The admin account: password hash, signing key, token lifetime and the
/// failed-attempt window.
pub struct AdminAccount {
    hash: Option<String>,
    key: Vec<u8>,
    ttl: Duration,
    failures: Mutex<VecDeque<Instant>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    jti: String,
    iat: u64,
    exp: u64,
}

/// Hashes a password with bcrypt (cost 10), for `--admin-password-hash`.
pub fn hash_password(password: &str) -> Result<String, ServerError> {
    bcrypt::hash(password, 10).map_err(|e| ServerError::Auth(e.to_string()))
}

impl AdminAccount {
    /// The account of `data_dir`: `hash` if given, else the stored hash
    /// (none: password sign-in is off).
    pub fn load(data_dir: &Path, hash: Option<String>, ttl: Duration) -> Result<Self, ServerError> {
        let hash = match hash.filter(|h| !h.trim().is_empty()) {
            Some(h) => Some(h.trim().to_string()),
            None => std::fs::read_to_string(data_dir.join(HASH_FILE))
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty()),
        };
        if let Some(h) = &hash
            && !h.starts_with("$2")
        {
            return Err(ServerError::Auth(format!(
                "the admin password hash is not a bcrypt hash (it starts with {:?}); make one with `kargo server hash-password`",
                h.chars().take(4).collect::<String>()
            )));
        }
        let key = crate::auth::load_or_create_secret(data_dir, "admin-token-signing-key")?;
        Ok(Self {
            hash,
            key: key.into_bytes(),
            ttl,
            failures: Mutex::new(VecDeque::new()),
        })
    }

    /// Whether password sign-in is on.
    pub fn enabled(&self) -> bool {
        self.hash.is_some()
    }

    /// Whether `token` is a valid, unexpired admin token of this server.
    pub fn verify_token(&self, token: &str) -> bool {
        if token.matches('.').count() != 2 {
            return false;
        }
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[ISSUER]);
        v.leeway = 0;
        jsonwebtoken::decode::<Claims>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(&self.key),
            &v,
        )
        .is_ok_and(|d| d.claims.sub == "admin")
    }

    fn issue(&self) -> Result<String, ServerError> {
        let now = jiff::Timestamp::now().as_second().max(0) as u64;
        let claims = Claims {
            iss: ISSUER.into(),
            sub: "admin".into(),
            aud: ISSUER.into(),
            jti: hex::encode(rand::random::<[u8; 16]>()),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&self.key),
        )
        .map_err(|e| ServerError::Auth(e.to_string()))
    }

    /// Seconds until another attempt is allowed, when the window is full.
    fn throttled(&self) -> Option<u64> {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        while f.front().is_some_and(|t| t.elapsed() > WINDOW) {
            f.pop_front();
        }
        (f.len() >= MAX_FAILURES).then(|| {
            let oldest = f.front().map_or(Duration::ZERO, Instant::elapsed);
            WINDOW.saturating_sub(oldest).as_secs().max(1)
        })
    }

    fn failed(&self) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(Instant::now());
    }
}

/// `POST /v1beta1/login`.
pub fn router(account: Arc<AdminAccount>) -> Router {
    Router::new()
        .route("/v1beta1/login", axum::routing::post(login))
        .with_state(account)
}

/// Why a password sign-in failed.
#[derive(Debug)]
pub enum SignInError {
    /// Password sign-in is off (no hash).
    Off,
    /// Too many failures lately: seconds to wait.
    Throttled(u64),
    /// Not the password.
    Wrong,
    /// The token could not be made.
    Internal(String),
}

impl AdminAccount {
    /// Checks `password` (rate-limited, off the async threads: bcrypt is
    /// slow on purpose) and issues an admin token; every outcome is
    /// written to the audit log.
    pub async fn sign_in(&self, password: String) -> Result<String, SignInError> {
        let Some(hash) = self.hash.clone() else {
            return Err(SignInError::Off);
        };
        if let Some(wait) = self.throttled() {
            return Err(SignInError::Throttled(wait));
        }
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if !ok {
            self.failed();
            tracing::warn!(target: "kargo::audit", actor = "unknown actor", verb = "login", code = 401u16, "admin sign-in refused");
            return Err(SignInError::Wrong);
        }
        let t = self
            .issue()
            .map_err(|e| SignInError::Internal(e.to_string()))?;
        tracing::info!(target: "kargo::audit", actor = "admin", verb = "login", code = 200u16, "admin signed in");
        Ok(t)
    }
}

async fn login(State(account): State<Arc<AdminAccount>>, headers: HeaderMap) -> Response {
    let password = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    match account.sign_in(password).await {
        Ok(t) => axum::Json(serde_json::json!({"idToken": t})).into_response(),
        Err(SignInError::Off) => ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "admin password sign-in is off: start the server with --admin-password-hash (or ADMIN_ACCOUNT_PASSWORD_HASH), a bcrypt hash from `kargo server hash-password`",
        )
        .into_response(),
        Err(SignInError::Throttled(wait)) => {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!("too many failed sign-in attempts: try again in {wait}s"),
            )
            .into_response();
            if let Ok(v) = wait.to_string().parse() {
                r.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
            r
        }
        Err(SignInError::Wrong) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "wrong password").into_response()
        }
        Err(SignInError::Internal(e)) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_they_expire_and_only_with_this_key() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash_with_salt("s3cret", 4, [7u8; 16])
            .unwrap()
            .to_string();
        let a = AdminAccount::load(dir.path(), Some(hash), Duration::from_secs(60)).unwrap();
        let t = a.issue().unwrap();
        assert!(a.verify_token(&t));
        assert!(!a.verify_token(&format!("{t}x")));
        let other = tempfile::tempdir().unwrap();
        let b = AdminAccount::load(other.path(), None, Duration::from_secs(60)).unwrap();
        assert!(!b.enabled());
        assert!(!b.verify_token(&t), "another server's key");
        let expired = AdminAccount {
            ttl: Duration::ZERO,
            ..AdminAccount::load(dir.path(), None, Duration::ZERO).unwrap()
        };
        let t = expired.issue().unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(!expired.verify_token(&t));
        assert!(AdminAccount::load(dir.path(), Some("plain".into()), Duration::ZERO).is_err());
    }

    #[test]
    fn failures_fill_a_window() {
        let dir = tempfile::tempdir().unwrap();
        let a = AdminAccount::load(dir.path(), None, Duration::from_secs(60)).unwrap();
        for _ in 0..MAX_FAILURES {
            assert_eq!(a.throttled(), None);
            a.failed();
        }
        assert!(a.throttled().is_some_and(|s| (1..=60).contains(&s)));
    }
}
