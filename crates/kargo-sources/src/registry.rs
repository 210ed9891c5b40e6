//! OCI registry access shared by image and OCI chart discovery, over
//! `oci-client`: repository URL parsing and Docker Hub normalisation,
//! plain HTTP for loopback or `http://` registries, one client per
//! (registry, TLS setting, credentials) so tokens are never shared across
//! credentials, paginated tag listing, and errors that name the
//! repository and never carry a secret.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// Tags asked for per page of `tags/list`.
const TAG_PAGE: usize = 1000;
/// Safety bound on pages (a million tags).
const MAX_TAG_PAGES: usize = 1000;
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

    /// Reference to a digest of this repository.
    pub fn digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.to_string(),
        )
    }
}

fn is_loopback(registry: &str) -> bool {
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
    let last = rest.rsplit('/').next().unwrap_or(rest);
    let has_tag = if rest.contains('/') {
        last.contains(':')
    } else {
        rest.contains(':')
    };
    if rest.contains('@') || has_tag {
        return Err(format!(
            "repoURL {url:?} must name a repository, without a tag or digest"
        ));
    }
    let parsed: Reference = rest
        .parse()
        .map_err(|e| format!("repoURL {url:?} is not a valid image repository: {e}"))?;
    let registry = parsed.registry().to_string();
    let plain_http = scheme_http.unwrap_or_else(|| is_loopback(&registry));
    Ok(RepoTarget {
        repository: parsed.repository().to_string(),
        registry,
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
    clients: Mutex<HashMap<ClientKey, Arc<Client>>>,
}

/// One repository reached with one client and one set of credentials.
pub(crate) struct Session {
    pub target: RepoTarget,
    client: Arc<Client>,
    auth: RegistryAuth,
    secret: Option<String>,
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
        let client = match clients.get(&key) {
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
                    read_timeout: Some(Duration::from_secs(60)),
                    ..ClientConfig::default()
                };
                let c = Arc::new(Client::try_from(config).map_err(|e| RegistryError {
                    repo: target.name(),
                    op: "create registry client".into(),
                    message: e.to_string(),
                })?);
                clients.insert(key, c.clone());
                c
            }
        };
        Ok(Session {
            target: target.clone(),
            client,
            auth,
            secret,
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

    /// All tags of the repository, following `n`/`last` pagination.
    pub async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        let reference = self.target.tag("latest");
        let mut tags: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        for _ in 0..MAX_TAG_PAGES {
            let page = self
                .client
                .list_tags(&reference, &self.auth, Some(TAG_PAGE), last.as_deref())
                .await
                .map_err(|e| self.error("list tags", &e))?;
            let n = page.tags.len();
            let next = page.tags.last().cloned();
            tags.extend(page.tags);
            if n < TAG_PAGE || next.is_none() || next == last {
                break;
            }
            last = next;
        }
        Ok(tags)
    }

    /// The digest a tag points to now (a HEAD request).
    pub async fn tag_digest(&self, tag: &str) -> Result<String, RegistryError> {
        self.client
            .fetch_manifest_digest(&self.target.tag(tag), &self.auth)
            .await
            .map_err(|e| self.error(format!("resolve tag {tag:?}"), &e))
    }

    /// Raw manifest (image manifest, index or list) by digest.
    pub async fn manifest(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(
                &self.target.digest(digest),
                &self.auth,
                &[
                    OCI_IMAGE_MEDIA_TYPE,
                    OCI_IMAGE_INDEX_MEDIA_TYPE,
                    IMAGE_MANIFEST_MEDIA_TYPE,
                    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
                ],
            )
            .await
            .map_err(|e| self.error(format!("read manifest {digest}"), &e))?;
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(self.failure(
                format!("read manifest {digest}"),
                format!("manifest is larger than {MAX_METADATA_BYTES} bytes"),
            ));
        }
        Ok(bytes.to_vec())
    }

    /// A small blob (an image config) by digest; `size` is the
    /// descriptor's declared size, checked before reading.
    pub async fn small_blob(&self, digest: &str, size: i64) -> Result<Vec<u8>, RegistryError> {
        let op = || format!("read config {digest}");
        if size < 0 || size as usize > MAX_METADATA_BYTES {
            return Err(self.failure(
                op(),
                format!("declared size {size} is outside 0..={MAX_METADATA_BYTES} bytes"),
            ));
        }
        let mut out: Vec<u8> = Vec::with_capacity(size as usize);
        self.client
            .pull_blob(&self.target.digest(digest), digest, &mut out)
            .await
            .map_err(|e| self.error(op(), &e))?;
        Ok(out)
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
}
