//! Container image discovery, as Kargo's `internal/image` selectors do it:
//! list a repository's tags, filter them (allow/ignore regexes), order
//! them by the subscription's strategy (SemVer, Lexical, NewestBuild,
//! Digest), and read each candidate's manifest and config for its digest,
//! build time and platform, best first, at most `discoveryLimit`.
//!
//! Tags are mutable, so each is resolved to a digest on every discovery
//! (a HEAD request, unless `cacheByTag`); what a digest says is immutable,
//! so manifests and configs are read once per digest and cached, with
//! one reader per digest even under concurrency (Kargo issue 2836).

use crate::filters::TagFilter;
use crate::registry::{MAX_METADATA_BYTES, Registries, RegistryError, Session, parse_repo};
use futures::{StreamExt, TryStreamExt, stream};
use kargo_api::warehouse::{DiscoveredImageReference, ImageSelectionStrategy, ImageSubscription};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::sync::OnceCell;

/// Parallel metadata reads per discovery.
const CONCURRENCY: usize = 8;
/// Bound on cached digests and tags; the cache is dropped when it fills.
const MAX_CACHED: usize = 50_000;

/// Image discovery failures, each safe to show a user (no credentials).
#[derive(Debug, Error)]
pub enum ImageError {
    /// The registry could not be reached or refused a request.
    #[error("image {0}")]
    Registry(#[from] RegistryError),
    /// The subscription cannot be applied.
    #[error("image {repo}: {message}")]
    Invalid {
        /// The repository as given.
        repo: String,
        /// Field and what was expected.
        message: String,
    },
}

/// Credentials for one image repository.
#[derive(Clone, Default)]
pub struct ImageCredentials {
    /// Username.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for ImageCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Counters, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageStats {
    /// Tag list requests (pages).
    pub tag_lists: u64,
    /// Tag-to-digest resolutions (HEAD requests).
    pub digest_lookups: u64,
    /// Manifest bodies read.
    pub manifest_reads: u64,
    /// Image config blobs read.
    pub config_reads: u64,
}

/// `os/arch[/variant]`; matching is exact, as in Kargo.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Platform {
    os: String,
    arch: String,
    variant: String,
}

impl Platform {
    fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().splitn(3, '/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: (*os).into(),
                arch: (*arch).into(),
                variant: parts.get(2).map(|v| v.to_string()).unwrap_or_default(),
            }),
            _ => Err(format!("platform {s:?}: expected os/arch[/variant]")),
        }
    }

    fn matches(&self, os: &str, arch: &str, variant: &str) -> bool {
        self.os == os && self.arch == arch && self.variant == variant
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

/// One platform entry of an index.
#[derive(Debug)]
struct IndexEntry {
    digest: String,
    os: String,
    arch: String,
    variant: String,
}

/// What a digest says; immutable, so cached forever.
#[derive(Debug)]
enum Meta {
    Image {
        os: String,
        arch: String,
        variant: String,
        created: Option<jiff::Timestamp>,
        annotations: BTreeMap<String, String>,
    },
    Index {
        entries: Vec<IndexEntry>,
        annotations: BTreeMap<String, String>,
    },
}

/// One image found for a tag.
#[derive(Clone, Debug)]
struct Found {
    tag: String,
    digest: String,
    created: Option<jiff::Timestamp>,
    annotations: BTreeMap<String, String>,
}

type MetaCell = Arc<OnceCell<Arc<Meta>>>;

/// Discovers images; share one per process so caches and clients are
/// shared between Warehouses.
#[derive(Default)]
pub struct ImageDiscoverer {
    registries: Registries,
    meta: Mutex<HashMap<String, MetaCell>>,
    tag_digests: Mutex<HashMap<String, String>>,
    stats: Mutex<ImageStats>,
}

impl ImageDiscoverer {
    /// A discoverer with empty caches.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bounds each registry request (the server's `--http-timeout`).
    pub fn with_http_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.registries.timeout = Some(timeout);
        self
    }

    /// Counters so far.
    pub fn stats(&self) -> ImageStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self, f: impl FnOnce(&mut ImageStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Lists what a subscription can see, best first, at most
    /// `discoveryLimit` (default 20, at most 100).
    pub async fn discover(
        &self,
        sub: &ImageSubscription,
        creds: Option<&ImageCredentials>,
    ) -> Result<Vec<DiscoveredImageReference>, ImageError> {
        let invalid = |message: String| ImageError::Invalid {
            repo: sub.repo_url.clone(),
            message,
        };
        let target = parse_repo(&sub.repo_url).map_err(invalid)?;
        let limit = sub.discovery_limit.unwrap_or(20).clamp(1, 100) as usize;
        let platform = if sub.platform.trim().is_empty() {
            None
        } else {
            Some(Platform::parse(&sub.platform).map_err(invalid)?)
        };
        let constraint = if sub.constraint.trim().is_empty() {
            sub.semver_constraint.trim()
        } else {
            sub.constraint.trim()
        };
        let session = self.registries.session(
            &target,
            sub.insecure_skip_tls_verify.unwrap_or(false),
            creds.map(|c| (c.username.as_str(), c.password.as_str())),
        )?;
        let ctx = Ctx {
            d: self,
            s: &session,
            platform: platform.as_ref(),
            cache_by_tag: sub.cache_by_tag.unwrap_or(false),
        };
        let strategy = sub.image_selection_strategy.unwrap_or_default();
        let found = if strategy == ImageSelectionStrategy::Digest {
            if constraint.is_empty() {
                return Err(invalid(
                    "constraint: the Digest strategy needs the mutable tag to track".into(),
                ));
            }
            ctx.image_by_tag(constraint).await?.into_iter().collect()
        } else {
            let filter = TagFilter::new(
                &sub.allow_tags,
                &sub.allow_tags_regexes,
                &sub.ignore_tags,
                &sub.ignore_tags_regexes,
            )
            .map_err(|e| invalid(format!("allowTags/ignoreTags: {e}")))?;
            let mut tags = session.list_tags().await?;
            self.bump(|s| s.tag_lists += 1);
            tags.retain(|t| filter.allows(t));
            match strategy {
                ImageSelectionStrategy::Lexical => {
                    tags.sort_by(|a, b| b.cmp(a));
                    ctx.first_n(&tags, limit).await?
                }
                ImageSelectionStrategy::NewestBuild => {
                    let mut all = ctx.all(&tags).await?;
                    all.sort_by(|a, b| b.created.cmp(&a.created).then(b.tag.cmp(&a.tag)));
                    all.truncate(limit);
                    all
                }
                _ => {
                    let tags = semver_order(tags, constraint, sub.strict_semvers.unwrap_or(true))
                        .map_err(invalid)?;
                    ctx.first_n(&tags, limit).await?
                }
            }
        };
        Ok(found
            .into_iter()
            .map(|f| DiscoveredImageReference {
                tag: f.tag,
                digest: f.digest,
                annotations: f.annotations,
                created_at: f.created.map(|t| {
                    jiff::Timestamp::from_second(t.as_second())
                        .unwrap_or(t)
                        .to_string()
                }),
            })
            .collect())
    }

    fn cell(&self, key: String) -> MetaCell {
        let mut m = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_CACHED && !m.contains_key(&key) {
            m.clear();
        }
        m.entry(key).or_default().clone()
    }
}

/// Tags that parse as versions (strictly unless `strictSemvers: false`)
/// and satisfy the constraint, greatest first; equal versions are ordered
/// lexically, greatest first (`1.0.0` before `1.0`).
fn semver_order(tags: Vec<String>, constraint: &str, strict: bool) -> Result<Vec<String>, String> {
    let c = if constraint.is_empty() {
        None
    } else {
        Some(
            kargo_expr::Constraint::parse(constraint)
                .map_err(|e| format!("constraint {constraint:?}: {e}"))?,
        )
    };
    let mut v: Vec<(kargo_expr::semver::Version, String)> = tags
        .into_iter()
        .filter_map(|t| crate::git::parse_tag_version(&t, strict).map(|v| (v, t)))
        .filter(|(v, _)| c.as_ref().is_none_or(|c| c.matches(v)))
        .collect();
    v.sort_by(|a, b| kargo_expr::semver::compare(&b.0, &a.0).then(b.1.cmp(&a.1)));
    Ok(v.into_iter().map(|(_, t)| t).collect())
}

/// One discovery's view: discoverer, session and options.
struct Ctx<'a> {
    d: &'a ImageDiscoverer,
    s: &'a Session,
    platform: Option<&'a Platform>,
    cache_by_tag: bool,
}

impl Ctx<'_> {
    /// Images for the first tags (in order) that match the platform,
    /// reading only as many tags as are still needed, in parallel.
    async fn first_n(&self, tags: &[String], limit: usize) -> Result<Vec<Found>, ImageError> {
        let mut out = Vec::new();
        let mut i = 0;
        while out.len() < limit && i < tags.len() {
            let need = (limit - out.len()).min(CONCURRENCY);
            let window = &tags[i..(i + need).min(tags.len())];
            i += window.len();
            // Owned items keep the futures free of higher-ranked borrows,
            // so callers can hold them across `Send` boundaries.
            let got: Vec<Option<Found>> = stream::iter(window.iter().cloned())
                .map(|t| async move { self.image_by_tag(&t).await })
                .buffered(CONCURRENCY)
                .try_collect()
                .await?;
            out.extend(got.into_iter().flatten());
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Images for every tag that matches the platform, in parallel.
    async fn all(&self, tags: &[String]) -> Result<Vec<Found>, ImageError> {
        let got: Vec<Option<Found>> = stream::iter(tags.iter().cloned())
            .map(|t| async move { self.image_by_tag(&t).await })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(got.into_iter().flatten().collect())
    }

    /// The image a tag points to now, or None when it has no manifest
    /// for the platform.
    async fn image_by_tag(&self, tag: &str) -> Result<Option<Found>, ImageError> {
        let tag_key = format!("{}:{tag}", self.s.target.name());
        let cached = if self.cache_by_tag {
            self.d
                .tag_digests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&tag_key)
                .cloned()
        } else {
            None
        };
        let digest = match cached {
            Some(d) => d,
            None => {
                let d = self.s.tag_digest(tag).await?;
                self.d.bump(|s| s.digest_lookups += 1);
                if self.cache_by_tag {
                    let mut m = self.d.tag_digests.lock().unwrap_or_else(|p| p.into_inner());
                    if m.len() >= MAX_CACHED {
                        m.clear();
                    }
                    m.insert(tag_key, d.clone());
                }
                d
            }
        };
        let meta = self.meta(&digest).await?;
        let op = || format!("tag {tag:?} ({digest})");
        match meta.as_ref() {
            Meta::Image {
                os,
                arch,
                variant,
                created,
                annotations,
            } => {
                if self.platform.is_some_and(|p| !p.matches(os, arch, variant)) {
                    return Ok(None);
                }
                Ok(Some(Found {
                    tag: tag.into(),
                    digest,
                    created: *created,
                    annotations: annotations.clone(),
                }))
            }
            Meta::Index {
                entries,
                annotations,
            } => {
                if entries.is_empty() {
                    return Err(self
                        .s
                        .failure(op(), "empty manifest list or OCI index is not supported")
                        .into());
                }
                let mut annotations = annotations.clone();
                let created = if let Some(p) = self.platform {
                    let Some(e) = entries
                        .iter()
                        .find(|e| p.matches(&e.os, &e.arch, &e.variant))
                    else {
                        return Ok(None);
                    };
                    match self.meta(&e.digest).await?.as_ref() {
                        Meta::Image {
                            created,
                            annotations: inner,
                            ..
                        } => {
                            for (k, v) in inner {
                                annotations.entry(k.clone()).or_insert_with(|| v.clone());
                            }
                            *created
                        }
                        Meta::Index { .. } => {
                            return Err(self
                                .s
                                .failure(op(), format!("{} is a nested index", e.digest))
                                .into());
                        }
                    }
                } else {
                    // An index has no build time of its own: use the
                    // newest of its images, as Kargo does.
                    let digests: Vec<String> = entries.iter().map(|e| e.digest.clone()).collect();
                    let metas: Vec<Arc<Meta>> = stream::iter(digests)
                        .map(|d| async move { self.meta(&d).await })
                        .buffered(CONCURRENCY)
                        .try_collect()
                        .await?;
                    metas
                        .iter()
                        .filter_map(|m| match m.as_ref() {
                            Meta::Image { created, .. } => *created,
                            Meta::Index { .. } => None,
                        })
                        .max()
                };
                Ok(Some(Found {
                    tag: tag.into(),
                    digest,
                    created,
                    annotations,
                }))
            }
        }
    }

    /// What a digest says, from the cache or read once.
    async fn meta(&self, digest: &str) -> Result<Arc<Meta>, ImageError> {
        let cell = self.d.cell(format!("{}@{digest}", self.s.target.name()));
        let m = cell.get_or_try_init(|| self.read_meta(digest)).await?;
        Ok(m.clone())
    }

    async fn read_meta(&self, digest: &str) -> Result<Arc<Meta>, ImageError> {
        let bytes = self.s.manifest(digest).await?;
        self.d.bump(|s| s.manifest_reads += 1);
        let op = || format!("read manifest {digest}");
        let raw: RawManifest = serde_json::from_slice(&bytes)
            .map_err(|e| self.s.failure(op(), format!("not a valid manifest: {e}")))?;
        let is_index = raw.manifests.is_some()
            || raw
                .media_type
                .as_deref()
                .is_some_and(|m| m.contains("manifest.list") || m.contains("image.index"));
        if is_index {
            let entries = raw
                .manifests
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| {
                    let p = d.platform?;
                    // Attestations and other non-images have no real
                    // platform; skip them as Kargo does.
                    let known = |s: &str| !s.is_empty() && s != "unknown";
                    (known(&p.os) && known(&p.architecture)).then(|| IndexEntry {
                        digest: d.digest,
                        os: p.os,
                        arch: p.architecture,
                        variant: p.variant.unwrap_or_default(),
                    })
                })
                .collect();
            return Ok(Arc::new(Meta::Index {
                entries,
                annotations: raw.annotations,
            }));
        }
        let Some(config) = raw.config else {
            return Err(self
                .s
                .failure(op(), "neither an image manifest nor an index (no config)")
                .into());
        };
        let size = if config.size == 0 {
            MAX_METADATA_BYTES as i64
        } else {
            config.size
        };
        let blob = self.s.small_blob(&config.digest, size).await?;
        self.d.bump(|s| s.config_reads += 1);
        // Non-image artifacts may carry any config; a missing or foreign
        // config just means no build time and no platform.
        let cfg: RawConfig = serde_json::from_slice(&blob).unwrap_or_default();
        let created = cfg
            .created
            .as_deref()
            .and_then(|c| c.parse::<jiff::Timestamp>().ok());
        Ok(Arc::new(Meta::Image {
            os: cfg.os,
            arch: cfg.architecture,
            variant: cfg.variant.unwrap_or_default(),
            created,
            annotations: raw.annotations,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert!(p.matches("linux", "arm64", "v8"));
        assert!(!p.matches("linux", "arm64", ""));
        let p = Platform::parse("linux/amd64").unwrap();
        assert!(p.matches("linux", "amd64", ""));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("/amd64").is_err());
    }

    #[test]
    fn semver_ordering() {
        let tags: Vec<String> = ["v1.2.0", "1.10.0", "1.2", "latest", "1.9.9", "2.0.0-rc.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            semver_order(tags.clone(), "", true).unwrap(),
            vec!["2.0.0-rc.1", "1.10.0", "1.9.9", "v1.2.0"]
        );
        assert_eq!(
            semver_order(tags.clone(), "", false).unwrap(),
            vec!["2.0.0-rc.1", "1.10.0", "1.9.9", "v1.2.0", "1.2"]
        );
        assert_eq!(
            semver_order(tags.clone(), "^1.0.0", true).unwrap(),
            vec!["1.10.0", "1.9.9", "v1.2.0"]
        );
        assert!(semver_order(tags, "not a constraint", true).is_err());
    }

    #[test]
    fn credentials_debug_redacts() {
        let c = ImageCredentials {
            username: "bot".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
