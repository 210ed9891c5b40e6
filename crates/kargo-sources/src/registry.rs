//! OCI registry access shared by image and OCI chart discovery:
//! repository URL parsing and Docker Hub normalisation, plain HTTP for
//! loopback or `http://` registries, one client per (registry, TLS
//! setting, credentials) so tokens are never shared across credentials,
//! and errors that name the repository and never carry a secret.
//!
//! `oci-client` answers the registry's auth challenge once per session
//! (a bearer token, basic credentials or nothing); the requests
//! themselves go out over reqwest with that answer, so no request pays
//! an extra `/v2/` round trip (oci-client pings `/v2/` before every
//! request to a registry that wants no token). Tags are listed in as few
//! requests as the registry allows: the whole list, then the pages its
//! `Link` headers name. Manifests and blobs read by digest are checked
//! against it.

use crate::image_ref::ImageRef;
use oci_client::RegistryOperation;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use reqwest::header::{ACCEPT, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// Safety bound on `tags/list` pages followed through `Link` headers.
const MAX_TAG_PAGES: usize = 10_000;
/// Largest `tags/list` page we read (about two million tags).
const MAX_TAG_PAGE_BYTES: usize = 64 << 20;
/// Largest manifest or config blob we accept.
pub(crate) const MAX_METADATA_BYTES: usize = 4 << 20;

/// A registry request failed; safe to show a user.
#[derive(Debug, Error)]
#[error("{repo}: {op}: {message}")]
pub struct RegistryError {
    /// Normalised repository (`docker.io/library/nginx`).
    pub repo: String,
    /// What we were doing.
    pub op: String,
    /// The registry's or the transport's explanation, without secrets.
    pub message: String,
}

/// One repository, parsed from a `repoURL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RepoTarget {
    /// Registry host\[:port\] as written (Docker Hub is `docker.io`).
    pub registry: String,
    /// Repository path inside the registry.
    pub repository: String,
    /// Talk plain HTTP (`http://` given, or a loopback host).
    pub plain_http: bool,
}

impl RepoTarget {
    /// `registry/repository`, the normalised name reported to users.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Reference to a tag of this repository.
    pub fn tag(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_string(),
        )
    }
}

/// Whether `registry` (host\[:port\]) is a loopback address.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses a repository URL: `nginx`, `ghcr.io/org/app`,
/// `127.0.0.1:5000/app`, optionally prefixed with `http://`, `https://`
/// or `oci://`. Tags and digests are refused: a subscription names a
/// repository.
pub(crate) fn parse_repo(url: &str) -> Result<RepoTarget, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("repoURL is empty".into());
    }
    let (rest, scheme_http) = if let Some(r) = url.strip_prefix("http://") {
        (r, Some(true))
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, Some(false))
    } else if let Some(r) = url.strip_prefix("oci://") {
        (r, None)
    } else {
        (url, None)
    };
    let rest = rest.trim_end_matches('/');
    let parsed = ImageRef::parse(rest)
        .map_err(|e| format!("repoURL {url:?} is not a valid image repository: {e}"))?;
    if parsed.tag.is_some() || parsed.digest.is_some() {
        return Err(format!(
            "repoURL {url:?} must name a repository, without a tag or digest"
        ));
    }
    let plain_http = scheme_http.unwrap_or_else(|| is_loopback(&parsed.registry));
    Ok(RepoTarget {
        repository: parsed.repository,
        registry: parsed.registry,
        plain_http,
    })
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    registry: String,
    insecure: bool,
    plain_http: bool,
    /// SHA-1 of the credentials, in memory only: separates token caches.
    creds: String,
}

/// Username and password for one registry.
pub(crate) type Login<'a> = Option<(&'a str, &'a str)>;

/// A pool of registry clients.
#[derive(Default)]
pub(crate) struct Registries {
    clients: Mutex<HashMap<ClientKey, Clients>>,
    /// Longest one request may take (`--http-timeout`); None: 5 minutes.
    pub timeout: Option<Duration>,
}

/// The default limit on one registry or chart repository request.
pub(crate) const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(300);

/// The registry client and, for the tag list (whose `Link` headers
/// `oci-client` does not show), a plain HTTP client with the same TLS
/// setting.
#[derive(Clone)]
struct Clients {
    oci: Arc<Client>,
    http: reqwest::Client,
}

/// One repository reached with one client and one set of credentials.
pub(crate) struct Session {
    pub target: RepoTarget,
    client: Arc<Client>,
    http: reqwest::Client,
    auth: RegistryAuth,
    secret: Option<String>,
    /// `scheme://registry/v2/repository/`.
    base: Url,
    /// The auth challenge's answer: `None` until asked, then the bearer
    /// token if the registry issued one.
    token: tokio::sync::Mutex<Option<Option<String>>>,
}

/// The media types a manifest request accepts.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// `sha256:<hex>` of `data`.
fn sha256_digest(data: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
    )
}

/// The messages of an OCI error envelope, else the start of the body.
fn error_text(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|x| format!("{} ({})", x.message, x.code))
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::from_utf8_lossy(&body[..body.len().min(512)])
            .trim()
            .to_string(),
    }
}

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// The target of a `Link: <url>; rel="next"` header, resolved against
/// the request's URL.
fn next_link(headers: &reqwest::header::HeaderMap, base: &reqwest::Url) -> Option<reqwest::Url> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let is_next = params.split(';').any(|p| {
                p.trim()
                    .strip_prefix("rel=")
                    .is_some_and(|r| r.trim_matches('"') == "next")
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| base.join(target).ok()).flatten()
        })
}

impl Registries {
    /// A session for `target`, reusing a client when the registry, TLS
    /// setting and credentials are the same.
    pub fn session(
        &self,
        target: &RepoTarget,
        insecure: bool,
        login: Login<'_>,
    ) -> Result<Session, RegistryError> {
        crate::tls::ensure_crypto_provider();
        let (auth, fingerprint, secret) = match login {
            Some((u, p)) if !u.is_empty() || !p.is_empty() => {
                let mut h = Sha1::new();
                h.update(u.as_bytes());
                h.update([0]);
                h.update(p.as_bytes());
                (
                    RegistryAuth::Basic(u.to_string(), p.to_string()),
                    hex::encode(h.finalize()),
                    (!p.is_empty()).then(|| p.to_string()),
                )
            }
            _ => (RegistryAuth::Anonymous, String::new(), None),
        };
        let key = ClientKey {
            registry: target.registry.clone(),
            insecure,
            plain_http: target.plain_http,
            creds: fingerprint,
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let clients = match clients.get(&key) {
            Some(c) => c.clone(),
            None => {
                let config = ClientConfig {
                    protocol: if target.plain_http {
                        ClientProtocol::Http
                    } else {
                        ClientProtocol::Https
                    },
                    accept_invalid_certificates: insecure,
                    platform_resolver: None,
                    connect_timeout: Some(Duration::from_secs(10)),
                    read_timeout: Some(
                        Duration::from_secs(60).min(self.timeout.unwrap_or(DEFAULT_HTTP_TIMEOUT)),
                    ),
                    ..ClientConfig::default()
                };
                let failed = |message: String| RegistryError {
                    repo: target.name(),
                    op: "create registry client".into(),
                    message,
                };
                let oci = Arc::new(Client::try_from(config).map_err(|e| failed(e.to_string()))?);
                let http = reqwest::Client::builder()
                    .danger_accept_invalid_certs(insecure)
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(Duration::from_secs(60))
                    .timeout(self.timeout.unwrap_or(DEFAULT_HTTP_TIMEOUT))
                    .build()
                    .map_err(|e| failed(e.without_url().to_string()))?;
                let c = Clients { oci, http };
                clients.insert(key, c.clone());
                c
            }
        };
        let probe = target.tag("latest");
        let scheme = if target.plain_http { "http" } else { "https" };
        let base = Url::parse(&format!(
            "{scheme}://{}/v2/{}/",
            probe.resolve_registry(),
            target.repository
        ))
        .map_err(|e| RegistryError {
            repo: target.name(),
            op: "registry URL".into(),
            message: e.to_string(),
        })?;
        Ok(Session {
            target: target.clone(),
            client: clients.oci,
            http: clients.http,
            auth,
            secret,
            base,
            token: tokio::sync::Mutex::new(None),
        })
    }
}

impl Session {
    /// Builds an error for `op`, with the cause chain and no secret.
    pub fn error(&self, op: impl Into<String>, err: &dyn std::error::Error) -> RegistryError {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            let m = s.to_string();
            if !message.contains(&m) {
                message.push_str(": ");
                message.push_str(&m);
            }
            source = s.source();
        }
        self.failure(op, message)
    }

    /// Builds an error for `op` from a message, with no secret.
    pub fn failure(&self, op: impl Into<String>, message: impl Into<String>) -> RegistryError {
        let mut message: String = message.into();
        if let Some(s) = &self.secret {
            message = message.replace(s.as_str(), "<redacted>");
        }
        RegistryError {
            repo: self.target.name(),
            op: op.into(),
            message,
        }
    }

    /// The auth challenge's answer, asked once per session (again with
    /// `renew`, after a 401 on a token that may have expired).
    async fn token(&self, renew: bool) -> Result<Option<String>, RegistryError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|_| !renew) {
            return Ok(t.clone());
        }
        let t = self
            .client
            .auth(
                &self.target.tag("latest"),
                &self.auth,
                RegistryOperation::Pull,
            )
            .await
            .map_err(|e| self.error("authenticate", &e))?;
        *slot = Some(t.clone());
        Ok(t)
    }

    /// Sends one request with the session's credentials; a 401 on a
    /// bearer token renews it once.
    async fn send(
        &self,
        op: &str,
        method: Method,
        url: &Url,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut renew = false;
        loop {
            let token = self.token(renew).await?;
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            req = match (&token, &self.auth) {
                (Some(t), _) => req.bearer_auth(t),
                (None, RegistryAuth::Basic(u, p)) => req.basic_auth(u, Some(p)),
                _ => req,
            };
            let res = req
                .send()
                .await
                .map_err(|e| self.error(op, &e.without_url()))?;
            if res.status() == StatusCode::UNAUTHORIZED && token.is_some() && !renew {
                renew = true;
                continue;
            }
            return Ok(res);
        }
    }

    /// Reads a successful response's body, at most `limit` bytes; any
    /// other status is an error with the registry's explanation.
    async fn body(
        &self,
        op: &str,
        mut res: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let status = res.status();
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| self.error(op, &e.without_url()))?
        {
            if body.len() + chunk.len() > limit {
                if !status.is_success() {
                    break;
                }
                return Err(self.failure(op, format!("larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(self.failure(op, format!("{status}: {}", error_text(&body))));
        }
        Ok(body)
    }

    fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.base
            .join(path)
            .map_err(|e| self.failure(path.to_string(), format!("bad registry URL: {e}")))
    }

    /// All tags of the repository: the whole list in one request where
    /// the registry allows it (no `n`, so a registry that reads its whole
    /// tag directory per request reads it once), then every page its
    /// `Link` headers name.
    pub async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        let op = "list tags";
        let mut url = self.url("tags/list")?;
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..MAX_TAG_PAGES {
            let res = self.send(op, Method::GET, &url, None).await?;
            let next = next_link(res.headers(), &url);
            let body = self.body(op, res, MAX_TAG_PAGE_BYTES).await?;
            let page: TagPage = serde_json::from_slice(&body)
                .map_err(|e| self.failure(op, format!("not a tag list: {e}")))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) if n != url => url = n,
                _ => break,
            }
        }
        Ok(tags)
    }

    /// The digest a tag points to now (a HEAD request; a GET when the
    /// registry sends no `Docker-Content-Digest`).
    pub async fn tag_digest(&self, tag: &str) -> Result<String, RegistryError> {
        let op = format!("resolve tag {tag:?}");
        let url = self.url(&format!("manifests/{tag}"))?;
        let res = self
            .send(&op, Method::HEAD, &url, Some(MANIFEST_TYPES))
            .await?;
        let header = |h: &HeaderMap| {
            h.get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        if let Some(d) = header(res.headers()).filter(|_| res.status().is_success()) {
            return Ok(d);
        }
        // No digest header, or a failure (a HEAD answer has no body to
        // explain it): GET says what the registry means.
        let res = self
            .send(&op, Method::GET, &url, Some(MANIFEST_TYPES))
            .await?;
        let named = header(res.headers());
        let body = self.body(&op, res, MAX_METADATA_BYTES).await?;
        Ok(named.unwrap_or_else(|| sha256_digest(&body)))
    }

    /// Reads content addressed by `digest` and checks it against it.
    async fn by_digest(
        &self,
        op: &str,
        path: &str,
        digest: &str,
        accept: Option<&str>,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = self.url(path)?;
        let res = self.send(op, Method::GET, &url, accept).await?;
        let body = self.body(op, res, limit).await?;
        if digest.starts_with("sha256:") && sha256_digest(&body) != digest {
            return Err(self.failure(op, "content does not match its digest"));
        }
        Ok(body)
    }

    /// Raw manifest (image manifest, index or list) by digest.
    pub async fn manifest(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        self.by_digest(
            &format!("read manifest {digest}"),
            &format!("manifests/{digest}"),
            digest,
            Some(MANIFEST_TYPES),
            MAX_METADATA_BYTES,
        )
        .await
    }

    /// A small blob (an image config) by digest; `size` is the
    /// descriptor's declared size, checked before reading.
    pub async fn small_blob(&self, digest: &str, size: i64) -> Result<Vec<u8>, RegistryError> {
        let op = format!("read config {digest}");
        if size < 0 || size as usize > MAX_METADATA_BYTES {
            return Err(self.failure(
                op,
                format!("declared size {size} is outside 0..={MAX_METADATA_BYTES} bytes"),
            ));
        }
        self.by_digest(
            &op,
            &format!("blobs/{digest}"),
            digest,
            None,
            MAX_METADATA_BYTES,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let t = parse_repo("nginx").unwrap();
        assert_eq!(t.name(), "docker.io/library/nginx");
        assert!(!t.plain_http);
        assert_eq!(
            parse_repo("ghcr.io/akuity/kargo").unwrap().name(),
            "ghcr.io/akuity/kargo"
        );
        let t = parse_repo("127.0.0.1:5000/team/app").unwrap();
        assert_eq!(t.registry, "127.0.0.1:5000");
        assert_eq!(t.repository, "team/app");
        assert!(t.plain_http);
        assert!(parse_repo("localhost:5000/app").unwrap().plain_http);
        assert!(
            parse_repo("http://registry.test:80/app")
                .unwrap()
                .plain_http
        );
        assert!(!parse_repo("https://127.0.0.1:5000/app").unwrap().plain_http);
        assert_eq!(
            parse_repo("oci://registry.test/charts/web").unwrap().name(),
            "registry.test/charts/web"
        );
        assert!(parse_repo("nginx:1.25").is_err());
        assert!(parse_repo("ghcr.io/a/b:v1").is_err());
        assert!(parse_repo("ghcr.io/a/b@sha256:00").is_err());
        assert!(parse_repo("").is_err());
        assert!(parse_repo("team/UPPER").is_err());
    }

    #[test]
    fn follows_next_links() {
        let base = reqwest::Url::parse("https://r.test/v2/app/tags/list").unwrap();
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(next_link(&h, &base), None);
        h.insert(
            reqwest::header::LINK,
            r#"</v2/app/tags/list?last=b&n=2>; rel="next""#.parse().unwrap(),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "https://r.test/v2/app/tags/list?last=b&n=2"
        );
        h.insert(
            reqwest::header::LINK,
            r#"<https://r.test/x>; rel="prev", <https://r.test/y?last=c>; rel=next"#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "https://r.test/y?last=c"
        );
    }
}
