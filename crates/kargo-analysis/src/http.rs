//! The HTTP client set-up the web and prometheus providers (and the
//! promotion `http` step) share: rustls
//! with the `ring` provider installed once, per-metric timeout and
//! `insecure`, and reqwest errors described without URLs (which may carry
//! credentials).

use std::sync::Once;
use std::time::Duration;

static INSTALL: Once = Once::new();

fn ensure_crypto_provider() {
    INSTALL.call_once(|| {
        // An Err only means a provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client with `timeout` for the whole request and optional TLS
/// verification.
pub fn client(timeout: Duration, insecure: bool) -> Result<reqwest::Client, String> {
    ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| format!("cannot create HTTP client: {}", describe(e)))
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
