//! Helm chart discovery: classic HTTP(S) repositories (their
//! `index.yaml`, read with a size bound) and OCI repositories (`oci://`,
//! the repository's tags through the shared registry client). Versions
//! are semantic versions, filtered by `semverConstraint`, greatest
//! first, at most `discoveryLimit`. The same client fetches chart
//! packages for the `helm-update-chart` step: a classic repository's
//! `.tgz` by its index URL, an OCI chart's content layer.

use crate::registry::{Registries, RegistryError, parse_repo};
use kargo_api::warehouse::ChartSubscription;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;

/// Largest `index.yaml` read (big public repositories run to tens of MiB).
pub const MAX_INDEX_BYTES: usize = 64 << 20;

/// Largest chart package fetched.
pub const MAX_CHART_BYTES: usize = 64 << 20;

/// Media type of a Helm chart's content layer in an OCI registry.
pub const CHART_LAYER_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Chart discovery failures, each safe to show a user (no credentials).
#[derive(Debug, Error)]
pub enum ChartError {
    /// An OCI registry could not be reached or refused a request.
    #[error("chart {0}")]
    Registry(#[from] RegistryError),
    /// A classic repository could not be read.
    #[error("chart repository {repo}: {message}")]
    Http {
        /// Repository URL without credentials.
        repo: String,
        /// What went wrong.
        message: String,
    },
    /// The subscription cannot be applied, or the repository's content is
    /// not what a Helm repository serves.
    #[error("chart repository {repo}: {message}")]
    Invalid {
        /// Repository URL without credentials.
        repo: String,
        /// Field or content and what was expected.
        message: String,
    },
}

/// Credentials for one chart repository.
#[derive(Clone, Default)]
pub struct ChartCredentials {
    /// Username.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for ChartCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Counters, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChartStats {
    /// `index.yaml` downloads.
    pub index_fetches: u64,
    /// OCI tag listings.
    pub tag_lists: u64,
}

#[derive(Deserialize)]
struct RepoIndex {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Deserialize)]
struct IndexEntry {
    #[serde(default)]
    version: String,
    #[serde(default)]
    urls: Vec<String>,
}

/// A classic repository's `index.yaml`.
pub struct ChartIndex {
    repo_url: String,
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

impl ChartIndex {
    /// The greatest version of `name` that satisfies `constraint` and has
    /// a download URL, as Helm's resolver picks it, with that URL resolved
    /// against the repository URL (Helm's `ResolveReferenceURL`). None
    /// when no version fits; an error when the chart is not in the index.
    pub fn best(&self, name: &str, constraint: &str) -> Result<Option<(String, String)>, String> {
        let entries = self
            .entries
            .get(name)
            .ok_or_else(|| format!("{name} chart not found in repo {}", self.repo_url))?;
        let usable = entries
            .iter()
            .filter(|e| !e.urls.is_empty())
            .map(|e| e.version.clone());
        let Some(version) = order_versions(usable, constraint)?.into_iter().next() else {
            return Ok(None);
        };
        let Some(entry) = entries.iter().find(|e| e.version == version) else {
            return Ok(None);
        };
        let url = resolve_reference_url(&self.repo_url, &entry.urls[0])?;
        Ok(Some((version, url)))
    }
}

/// Helm's `repo.ResolveReferenceURL`: `reference` as it is when absolute,
/// else relative to `base` taken as a directory, with `base`'s query.
fn resolve_reference_url(base: &str, reference: &str) -> Result<String, String> {
    if reqwest::Url::parse(reference).is_ok() {
        return Ok(reference.to_string());
    }
    let mut b = reqwest::Url::parse(base).map_err(|e| format!("repository URL: {e}"))?;
    let query = b.query().map(str::to_string);
    let path = format!("{}/", b.path().trim_end_matches('/'));
    b.set_path(&path);
    let mut u = b
        .join(reference)
        .map_err(|e| format!("chart URL {reference:?}: {e}"))?;
    u.set_query(query.as_deref());
    Ok(u.to_string())
}

/// Discovers chart versions; share one per process.
#[derive(Default)]
pub struct ChartDiscoverer {
    registries: Registries,
    http: Mutex<Option<reqwest::Client>>,
    stats: Mutex<ChartStats>,
}

/// A URL for messages: no user info, no query.
fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// Versions that parse (leniently, as Helm does) and satisfy the
/// constraint, greatest first, without duplicates.
fn order_versions(
    versions: impl IntoIterator<Item = String>,
    constraint: &str,
) -> Result<Vec<String>, String> {
    let c = if constraint.trim().is_empty() {
        None
    } else {
        Some(
            kargo_expr::Constraint::parse(constraint)
                .map_err(|e| format!("semverConstraint {constraint:?}: {e}"))?,
        )
    };
    let mut v: Vec<(kargo_expr::semver::Version, String)> = versions
        .into_iter()
        .filter_map(|s| crate::git::parse_tag_version(&s, false).map(|v| (v, s)))
        .filter(|(v, _)| c.as_ref().is_none_or(|c| c.matches(v)))
        .collect();
    v.sort_by(|a, b| kargo_expr::semver::compare(&b.0, &a.0).then(b.1.cmp(&a.1)));
    v.dedup_by(|a, b| a.1 == b.1);
    Ok(v.into_iter().map(|(_, s)| s).collect())
}

impl ChartDiscoverer {
    /// A discoverer with no clients yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bounds each repository or registry request (the server's
    /// `--http-timeout`).
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.registries.timeout = Some(timeout);
        self
    }

    /// Counters so far.
    pub fn stats(&self) -> ChartStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self, f: impl FnOnce(&mut ChartStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Versions a subscription can see, greatest first, at most
    /// `discoveryLimit` (default 20, at most 100).
    pub async fn discover(
        &self,
        sub: &ChartSubscription,
        creds: Option<&ChartCredentials>,
    ) -> Result<Vec<String>, ChartError> {
        let repo = display_url(&sub.repo_url);
        let invalid = |message: String| ChartError::Invalid {
            repo: repo.clone(),
            message,
        };
        let limit = sub.discovery_limit.unwrap_or(20).clamp(1, 100) as usize;
        let url = sub.repo_url.trim();
        let versions: Vec<String> = if url.starts_with("oci://") {
            if !sub.name.is_empty() {
                return Err(invalid(
                    "name: must be empty for an oci:// repository; repoURL names the chart".into(),
                ));
            }
            let target = parse_repo(url).map_err(invalid)?;
            let session = self.registries.session(
                &target,
                false,
                creds.map(|c| (c.username.as_str(), c.password.as_str())),
            )?;
            let tags = session.list_tags().await?;
            self.bump(|s| s.tag_lists += 1);
            // OCI tags cannot hold `+`; Helm pushes build metadata as `_`.
            tags.into_iter().map(|t| t.replace('_', "+")).collect()
        } else if url.starts_with("http://") || url.starts_with("https://") {
            if sub.name.is_empty() {
                return Err(invalid(
                    "name: the chart name is required for an HTTP(S) repository".into(),
                ));
            }
            let parsed = self.index(url, creds).await?;
            let Some(entries) = parsed.entries.get(&sub.name) else {
                return Err(invalid(format!(
                    "chart {:?} is not in index.yaml",
                    sub.name
                )));
            };
            entries
                .iter()
                .map(|e| e.version.clone())
                .collect::<Vec<_>>()
        } else {
            return Err(invalid(
                "repoURL: expected an http://, https:// or oci:// URL".into(),
            ));
        };
        let mut out = order_versions(versions, &sub.semver_constraint).map_err(invalid)?;
        out.truncate(limit);
        Ok(out)
    }

    fn client(&self, repo: &str) -> Result<reqwest::Client, ChartError> {
        let mut slot = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        crate::tls::ensure_crypto_provider();
        let c = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(
                self.registries
                    .timeout
                    .unwrap_or(crate::registry::DEFAULT_HTTP_TIMEOUT),
            )
            .build()
            .map_err(|e| ChartError::Http {
                repo: repo.into(),
                message: format!("cannot create HTTP client: {}", e.without_url()),
            })?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Reads the `index.yaml` of the classic repository `url`.
    pub async fn index(
        &self,
        url: &str,
        creds: Option<&ChartCredentials>,
    ) -> Result<ChartIndex, ChartError> {
        let repo = display_url(url);
        let index_url = format!("{}/index.yaml", url.trim_end_matches('/'));
        let body = self
            .get(&index_url, &repo, "index.yaml", MAX_INDEX_BYTES, creds)
            .await?;
        self.bump(|s| s.index_fetches += 1);
        let parsed: RepoIndex = yaml_serde::from_slice(&body).map_err(|e| ChartError::Invalid {
            repo: repo.clone(),
            message: format!("index.yaml is not a valid Helm index: {e}"),
        })?;
        Ok(ChartIndex {
            repo_url: url.to_string(),
            entries: parsed.entries,
        })
    }

    /// Fetches the chart package at `url` (from the index of the classic
    /// repository `repo_url`). As Helm, the repository's credentials go
    /// only to the repository's own scheme and host.
    pub async fn fetch_chart(
        &self,
        url: &str,
        repo_url: &str,
        creds: Option<&ChartCredentials>,
    ) -> Result<Vec<u8>, ChartError> {
        let origin = |u: &str| {
            reqwest::Url::parse(u).ok().map(|u| {
                (
                    u.scheme().to_string(),
                    u.host_str().map(str::to_string),
                    u.port(),
                )
            })
        };
        let creds = creds.filter(|_| origin(url).is_some() && origin(url) == origin(repo_url));
        let what = url.rsplit('/').next().unwrap_or(url).to_string();
        self.get(url, &display_url(repo_url), &what, MAX_CHART_BYTES, creds)
            .await
    }

    /// Pulls the content layer of the OCI chart `repo_url/name:version`
    /// (`+` in the version is `_` in the tag, as Helm pushes it).
    pub async fn pull_oci_chart(
        &self,
        repo_url: &str,
        name: &str,
        version: &str,
        creds: Option<&ChartCredentials>,
    ) -> Result<Vec<u8>, ChartError> {
        use crate::oci_artifact::{ArtifactRef, Transfer, pull_layer};
        let reference = format!(
            "{}/{name}:{}",
            repo_url.trim_end_matches('/'),
            version.replace('+', "_")
        );
        let src = ArtifactRef::parse(&reference).map_err(|message| ChartError::Invalid {
            repo: display_url(repo_url),
            message,
        })?;
        let t = Transfer {
            src_login: creds.map(|c| (c.username.clone(), c.password.clone())),
            read_timeout: self.registries.timeout,
            ..Transfer::default()
        };
        let mut out = Vec::new();
        pull_layer(
            &src,
            Some(CHART_LAYER_TYPE),
            &t,
            MAX_CHART_BYTES as u64,
            &mut out,
        )
        .await?;
        Ok(out)
    }

    /// GETs `url` (shown as `what` of `repo`), at most `limit` bytes.
    async fn get(
        &self,
        url: &str,
        repo: &str,
        what: &str,
        limit: usize,
        creds: Option<&ChartCredentials>,
    ) -> Result<Vec<u8>, ChartError> {
        let http_err = |message: String| ChartError::Http {
            repo: repo.into(),
            message,
        };
        let client = self.client(repo)?;
        let mut req = client.get(url);
        if let Some(c) = creds {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| http_err(format!("GET {what}: {}", describe(e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(http_err(format!("GET {what}: HTTP {status}")));
        }
        let too_big = || http_err(format!("{what} is larger than {limit} bytes"));
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| http_err(format!("reading {what}: {}", describe(e))))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A reqwest error without its URL (which may carry user info), with
/// its causes.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering() {
        let v = [
            "1.0.0",
            "1.2.0",
            "0.9.0",
            "1.10.0",
            "junk",
            "1.2.0",
            "2.0.0-beta.1",
        ]
        .map(String::from);
        assert_eq!(
            order_versions(v.clone(), "").unwrap(),
            vec!["2.0.0-beta.1", "1.10.0", "1.2.0", "1.0.0", "0.9.0"]
        );
        assert_eq!(
            order_versions(v, ">=1.0.0 <1.5.0").unwrap(),
            vec!["1.2.0", "1.0.0"]
        );
    }

    #[test]
    fn urls_for_messages_drop_userinfo() {
        assert_eq!(
            display_url("https://bob:hunter2@charts.example.com/stable/?token=x"),
            "https://charts.example.com/stable"
        );
    }
}
