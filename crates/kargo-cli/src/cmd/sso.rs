//! `kargo login --sso`, as Kargo's CLI signs in: reads the server's
//! public configuration (`/v1beta1/system/public-server-config`) for the
//! OpenID Connect issuer, client id and scopes, listens on a loopback port
//! (`--port`, or any free one) for the callback
//! `http://localhost:PORT/auth/callback`, sends the user to the
//! provider's authorize URL (printed, and opened in a browser when there
//! is a display) with PKCE (S256), checks the returned `state`, and trades
//! the code and verifier for the ID token (and a refresh token when the
//! provider offers `offline_access`). Also refreshes a saved sign-in.

use anyhow::{Context, Result, bail};
use kargo_server::oidc::{flow, http::OidcHttp};
use std::time::Duration;

/// How long the user has to finish signing in (Kargo's: 5 minutes).
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// The server's OpenID Connect settings, from its public configuration.
struct Public {
    issuer: String,
    client_id: String,
    scopes: Vec<String>,
}

async fn public(c: &kube::Client) -> Result<Public> {
    let req = http::Request::get(kargo_server::public_config::PATH).body(Vec::new())?;
    let text = c
        .request_text(req)
        .await
        .map_err(crate::resources::explain)
        .context("reading the server's public configuration")?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let Some(o) = v.get("oidcConfig") else {
        bail!(
            "the server does not support OpenID Connect (start it with --oidc-issuer-url and --oidc-client-id)"
        );
    };
    let s = |k: &str| o.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let cli = s("cliClientId");
    Ok(Public {
        issuer: s("issuerUrl"),
        client_id: if cli.is_empty() { s("clientId") } else { cli },
        scopes: o
            .get("scopes")
            .and_then(|x| x.as_array())
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
    })
}

/// What a sign-in gave.
pub struct SignedIn {
    /// The ID token (the bearer token) and refresh token.
    pub tokens: flow::Tokens,
    /// The callback port used.
    pub port: u16,
}

/// Signs in through the browser against the server `c` talks to.
pub async fn sign_in(c: &kube::Client, insecure: bool, port: u16) -> Result<SignedIn> {
    let p = public(c).await?;
    let http = OidcHttp::new(insecure).map_err(|e| anyhow::anyhow!(e.0))?;
    let metadata = flow::discover(&p.issuer, &http)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut scopes = p.scopes.clone();
    if flow::offers_refresh(&metadata) && !scopes.iter().any(|s| s == "offline_access") {
        scopes.push("offline_access".into());
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening for the sign-in callback on port {port}"))?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://localhost:{port}/auth/callback");
    let started =
        flow::begin(&metadata, &p.client_id, &redirect, &scopes).map_err(anyhow::Error::msg)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<flow::Callback>(1);
    let app = axum::Router::new().route(
        "/auth/callback",
        axum::routing::get(move |q: axum::extract::Query<flow::Callback>| {
            let tx = tx.clone();
            async move {
                let failed = !q.error.is_empty();
                let _ = tx.send(q.0).await;
                axum::response::Html(if failed {
                    "<p>Sign-in failed; see the terminal.</p>"
                } else {
                    "<p>Signed in to Kargo. You can close this window.</p>"
                })
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    eprintln!(
        "Sign in at this address (opening it in your browser if one is available):\n{}",
        started.url
    );
    open_browser(&started.url);
    let outcome = async {
        loop {
            let cb = tokio::time::timeout(SIGN_IN_TIMEOUT, rx.recv())
                .await
                .context("timed out waiting for the sign-in to finish")?
                .context("the callback listener stopped")?;
            if !cb.error.is_empty() {
                bail!(
                    "the identity provider refused the sign-in: {} {}",
                    cb.error,
                    cb.error_description
                );
            }
            // A callback with another state is not ours (or forged): ignore it.
            if cb.state == started.state && !cb.code.is_empty() {
                return Ok(cb.code);
            }
            eprintln!("ignored a sign-in callback with the wrong state");
        }
    }
    .await;
    server.abort();
    let code = outcome?;
    let tokens = flow::finish(
        &metadata,
        &p.client_id,
        None,
        &redirect,
        &code,
        &started.verifier,
        &http,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    Ok(SignedIn { tokens, port })
}

/// Trades a saved refresh token for a new ID token.
pub async fn refresh(
    c: &kube::Client,
    insecure: bool,
    refresh_token: &str,
) -> Result<flow::Tokens> {
    let p = public(c).await?;
    let http = OidcHttp::new(insecure).map_err(|e| anyhow::anyhow!(e.0))?;
    let metadata = flow::discover(&p.issuer, &http)
        .await
        .map_err(anyhow::Error::msg)?;
    flow::refresh(&metadata, &p.client_id, refresh_token, &http)
        .await
        .map_err(anyhow::Error::msg)
}

/// Opens `url` with the desktop's opener when there is a display; the
/// printed address is the fallback. Whether an opener was started.
pub fn open_browser(url: &str) -> bool {
    let display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !display || std::env::var_os("KARGO_NO_BROWSER").is_some() {
        return false;
    }
    std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

/// Seconds until the JWT `token` expires (negative: expired); None when
/// it is not a JWT with an `exp`.
pub fn expires_in(token: &str) -> Option<i64> {
    let claims = kargo_server::oidc::verify::unverified_claims(token)?;
    let exp = claims.get("exp")?.as_i64()?;
    Some(exp - jiff::Timestamp::now().as_second())
}
