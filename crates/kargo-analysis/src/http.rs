//! The HTTP client set-up the web and prometheus providers (and the
//! promotion `http` step) share, and their OAuth2 client-credentials grant: rustls
//! with the `ring` provider installed once, per-metric timeout and
//! `insecure`, one client per (timeout, `insecure`) kept for the process
//! (building one loads the TLS roots: milliseconds of CPU per measurement
//! otherwise, and no connection reuse), and reqwest errors described without URLs (which may carry
//! credentials).

use std::collections::HashMap;
use std::sync::{Mutex, Once};

use kargo_api::analysis::OAuth2Config;
use serde_json::Value as Json;
use std::time::Duration;

static INSTALL: Once = Once::new();

fn ensure_crypto_provider() {
    INSTALL.call_once(|| {
        // An Err only means a provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

static CLIENTS: Mutex<Option<HashMap<(Duration, bool), reqwest::Client>>> = Mutex::new(None);

/// A client with `timeout` for the whole request and optional TLS
/// verification, shared by every caller with the same two settings.
pub fn client(timeout: Duration, insecure: bool) -> Result<reqwest::Client, String> {
    let mut clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    let clients = clients.get_or_insert_with(HashMap::new);
    if let Some(c) = clients.get(&(timeout, insecure)) {
        return Ok(c.clone());
    }
    ensure_crypto_provider();
    let c = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| format!("cannot create HTTP client: {}", describe(e)))?;
    clients.insert((timeout, insecure), c.clone());
    Ok(c)
}

/// A reqwest error without its URL, with its causes.
pub fn describe(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    if timeout && !msg.contains("timed out") {
        msg.push_str(" (timed out)");
    }
    msg
}

/// Reads at most `limit` bytes of a response body.
pub async fn body(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(describe)? {
        if out.len() + chunk.len() > limit {
            return Err(format!("response body is larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An access token from the client-credentials grant.
pub async fn oauth2_token(client: &reqwest::Client, o: &OAuth2Config) -> Result<String, String> {
    // Built before any await: the serializer is not Send.
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        form.append_pair("client_id", &o.client_id);
        form.append_pair("client_secret", &o.client_secret);
        if !o.scopes.is_empty() {
            form.append_pair("scope", &o.scopes.join(" "));
        }
        form.finish()
    };
    let resp = client
        .post(&o.token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| format!("oauth2 token request failed: {}", describe(e)))?;
    let status = resp.status();
    let answer = body(resp, 1024 * 1024).await?;
    if !status.is_success() {
        // golang.org/x/oauth2's wording, which Rollouts reports.
        return Err(format!("oauth2: cannot fetch token: {status}"));
    }
    let doc: Json = serde_json::from_slice(&answer)
        .map_err(|_| "oauth2 token response is not JSON".to_string())?;
    doc["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "oauth2 token response has no access_token".to_string())
}
