//! Building kube-rs clients for a kargo server over HTTPS: from its URL,
//! token and CA (PEM), as the CLI and tests do; dynamic API descriptions
//! of registered kinds.

use base64::Engine;
use std::time::Duration;

/// Problems building a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA data is not PEM certificates.
    #[error("CA data: {0}")]
    Pem(String),
    /// The address is not a URL.
    #[error("invalid server address {0:?}")]
    Address(String),
    /// kube-rs refused the configuration.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Decodes every certificate in a PEM text to DER.
pub fn pem_to_der(pem: &str) -> Result<Vec<Vec<u8>>, ClientError> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            cur = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            let b64 = cur
                .take()
                .ok_or_else(|| ClientError::Pem("END without BEGIN".into()))?;
            out.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| ClientError::Pem(e.to_string()))?,
            );
        } else if let Some(c) = cur.as_mut() {
            c.push_str(line);
        }
    }
    if out.is_empty() {
        return Err(ClientError::Pem("no certificate found".into()));
    }
    Ok(out)
}

/// A client for `url`, authenticating with `token` (if any), trusting
/// `ca_pem` (if any) or nothing at all when `insecure`.
pub fn https_client(
    url: &str,
    token: Option<&str>,
    ca_pem: Option<&str>,
    insecure: bool,
) -> Result<kube::Client, ClientError> {
    Ok(kube::Client::try_from(https_config(
        url, token, ca_pem, insecure,
    )?)?)
}

/// The kube-rs configuration [`https_client`] builds its client from, for
/// callers that change it first (the CLI sets its own timeouts).
pub fn https_config(
    url: &str,
    token: Option<&str>,
    ca_pem: Option<&str>,
    insecure: bool,
) -> Result<kube::Config, ClientError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| ClientError::Address(url.to_string()))?;
    let mut c = kube::Config::new(uri);
    c.default_namespace = "default".into();
    c.accept_invalid_certs = insecure;
    if let Some(ca) = ca_pem.filter(|c| !c.is_empty())
        && !insecure
    {
        c.root_cert = Some(pem_to_der(ca)?);
    }
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        c.auth_info.token = Some(t.to_string().into());
    }
    c.read_timeout = Some(Duration::from_secs(300));
    Ok(c)
}

/// The kube-rs description of a registered kind, for dynamic `Api`s.
pub fn api_resource(info: &kargo_api::ResourceInfo) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: info.group.into(),
        version: info.version.into(),
        api_version: info.api_version(),
        kind: info.kind.into(),
        plural: info.plural.into(),
    }
}
