//! The UI's "Sign in with SSO": the server-side authorization-code flow
//! with PKCE (S256). `GET /ui/sso` starts a sign-in (state, nonce, code
//! verifier kept on the server for ten minutes; the state also in a
//! `SameSite=Lax` cookie binding it to this browser) and sends the
//! browser to the provider; `GET /ui/sso/callback` checks the state
//! against both, trades the code and verifier for the ID token (with the
//! client secret when one is set), verifies it as every bearer token is
//! verified, and opens a session for it (its claims decide what the
//! pages show, through the same authorizer). A page that moves on to
//! `/ui` itself follows, so the `SameSite=Strict` session cookie is sent.

use super::{UiState, esc, login_page, page, start_session};
use crate::oidc::flow;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STATE_COOKIE: &str = "kargo_sso_state";
/// How long a started sign-in may take.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// One sign-in under way: code verifier, redirect URI, when it started.
type Started = (String, String, Instant);

/// Sign-ins under way, by state.
#[derive(Clone, Default)]
pub(crate) struct Pending(Arc<Mutex<HashMap<String, Started>>>);

impl Pending {
    fn insert(&self, state: String, verifier: String, redirect: String) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, (_, _, at)| at.elapsed() < PENDING_TTL);
        m.insert(state, (verifier, redirect, Instant::now()));
    }

    fn take(&self, state: &str) -> Option<(String, String)> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(state)
            .filter(|(_, _, at)| at.elapsed() < PENDING_TTL)
            .map(|(v, r, _)| (v, r))
    }
}

/// `https://<host>/ui/sso/callback` for the address the browser used
/// (HTTP/2's `:authority`, else the `Host` header).
fn redirect_uri(uri: &axum::http::Uri, headers: &HeaderMap) -> String {
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(String::from)
        })
        .unwrap_or_else(|| "localhost".into());
    format!("https://{host}/ui/sso/callback")
}

/// `GET /ui/sso`.
pub(crate) async fn start(
    State(st): State<UiState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let Some(v) = st.auth.oidc().cloned() else {
        return login_page(
            &st,
            StatusCode::NOT_FOUND,
            "Sign-in with SSO is not set up.",
        );
    };
    let metadata = match v.metadata().await {
        Ok(m) => m,
        Err(e) => return login_page(&st, StatusCode::BAD_GATEWAY, &e),
    };
    let redirect = redirect_uri(&uri, &headers);
    let cfg = v.config();
    let started = match flow::begin(&metadata, &cfg.client_id, &redirect, &cfg.scopes()) {
        Ok(s) => s,
        Err(e) => return login_page(&st, StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    st.pending
        .insert(started.state.clone(), started.verifier, redirect);
    let cookie = format!(
        "{STATE_COOKIE}={}; Path=/ui/sso; HttpOnly; Secure; SameSite=Lax; Max-Age=600",
        started.state
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&started.url)).into_response()
}

/// `GET /ui/sso/callback`.
pub(crate) async fn callback(
    State(st): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<flow::Callback>,
) -> Response {
    let Some(v) = st.auth.oidc().cloned() else {
        return login_page(
            &st,
            StatusCode::NOT_FOUND,
            "Sign-in with SSO is not set up.",
        );
    };
    if !q.error.is_empty() {
        let msg = format!(
            "The identity provider refused: {} {}",
            q.error, q.error_description
        );
        return login_page(&st, StatusCode::UNAUTHORIZED, &msg);
    }
    let bound = super::cookie(&headers, STATE_COOKIE).is_some_and(|c| c == q.state);
    let Some((verifier, redirect)) = st.pending.take(&q.state).filter(|_| bound) else {
        return login_page(
            &st,
            StatusCode::BAD_REQUEST,
            "That sign-in was not started here or has expired; sign in again.",
        );
    };
    let tokens = match v.metadata().await {
        Ok(m) => {
            let cfg = v.config();
            flow::finish(
                &m,
                &cfg.client_id,
                cfg.client_secret.as_deref(),
                &redirect,
                &q.code,
                &verifier,
                v.http(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let token = match tokens {
        Ok(t) => t.id_token,
        Err(e) => return login_page(&st, StatusCode::BAD_GATEWAY, &e),
    };
    let user = match st.auth.authenticate(&token).await {
        Ok(u) => u,
        Err(e) => return login_page(&st, StatusCode::UNAUTHORIZED, &e),
    };
    tracing::info!(target: "kargo::audit", actor = %user.actor(), verb = "login", code = 200u16, "signed in to the UI with SSO");
    let session = start_session(&st, token);
    let clear = format!("{STATE_COOKIE}=; Path=/ui/sso; HttpOnly; Secure; SameSite=Lax; Max-Age=0");
    let body = format!(
        "<p>Signed in as {}. <a href=\"/ui\">Continue</a></p>",
        esc(&user.name)
    );
    let mut r = Html(page("Signed in", &body, false).replace(
        "<head>",
        "<head><meta http-equiv=\"refresh\" content=\"0;url=/ui\">",
    ))
    .into_response();
    for c in [session, clear] {
        if let Ok(v) = c.parse() {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}
