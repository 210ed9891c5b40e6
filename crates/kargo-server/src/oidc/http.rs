//! The HTTP client the `openidconnect` crate talks to the identity
//! provider with: the workspace's reqwest client (rustls, a timeout on
//! every call, from `kargo_analysis::http`) behind the crate's
//! `AsyncHttpClient` trait, so no second HTTP stack is linked.

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How long one call to the identity provider may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A failed call to the identity provider (the URL left out).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

/// reqwest, as the `openidconnect` crate's HTTP client.
#[derive(Clone)]
pub struct OidcHttp(reqwest::Client);

impl OidcHttp {
    /// A client with [`TIMEOUT`]; `insecure` skips TLS verification.
    pub fn new(insecure: bool) -> Result<Self, HttpError> {
        kargo_analysis::http::client(TIMEOUT, insecure)
            .map(Self)
            .map_err(HttpError)
    }
}

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let res = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(kargo_analysis::http::describe(e)))?;
            let mut out = http::Response::builder().status(res.status());
            if let Some(h) = out.headers_mut() {
                *h = res.headers().clone();
            }
            let body = res
                .bytes()
                .await
                .map_err(|e| HttpError(kargo_analysis::http::describe(e)))?;
            out.body(body.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}
