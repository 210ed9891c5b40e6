//! Kargo's `NormalizeImage`: container image repositories compared by
//! registry and repository alone, with Docker Hub's names folded away.
//! Reference parsing follows go-containerregistry's `name.ParseReference`
//! with weak validation, which Kargo relies on.

use super::gourl::GoUrl;
use super::{go_lower, sanitize};

const DEFAULT_REGISTRY: &str = "index.docker.io";
const DOCKER_HUB_ALIAS: &str = "docker.io";
const REPOSITORY_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-./";
const TAG_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A parsed repository: registry host and repository path as given.
struct Repository {
    registry: String,
    repository: String,
}

impl Repository {
    /// The repository path, with Docker Hub's implicit `library/`.
    fn repository_str(&self) -> String {
        if !self.repository.contains('/') && self.registry == DEFAULT_REGISTRY {
            format!("library/{}", self.repository)
        } else {
            self.repository.clone()
        }
    }

    fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository_str())
    }
}

fn check_element(element: &str, allowed: &str, min: usize, max: usize) -> bool {
    let n = element.chars().count();
    (min..=max).contains(&n) && element.chars().all(|c| allowed.contains(c))
}

/// A registry must be a valid URI authority: `//name` parses with `name`
/// as its host.
fn check_registry(name: &str) -> bool {
    GoUrl::parse(&format!("//{name}"))
        .is_some_and(|u| u.user.is_none() && u.host == name.as_bytes())
}

fn new_repository(name: &str) -> Option<Repository> {
    if name.is_empty() {
        return None;
    }
    let (registry, repo) = match name.split_once('/') {
        Some((first, rest)) if first == "localhost" || first.contains(['.', ':']) => (first, rest),
        _ => ("", name),
    };
    if !check_element(repo, REPOSITORY_CHARS, 1, 255) || !check_registry(registry) {
        return None;
    }
    let registry = match registry {
        "" | DOCKER_HUB_ALIAS => DEFAULT_REGISTRY,
        r => r,
    };
    Some(Repository {
        registry: registry.to_string(),
        repository: repo.to_string(),
    })
}

/// `name.NewTag`: `repo[:tag]`, where a last `:` part holding a `/` is a
/// port, not a tag.
fn new_tag(name: &str) -> Option<Repository> {
    let base = match name.rsplit_once(':') {
        Some((base, tag)) if !tag.contains('/') => {
            if !check_element(tag, TAG_CHARS, 1, 128) {
                return None;
            }
            base
        }
        _ => name,
    };
    new_repository(base)
}

/// `name.NewDigest`: `repo@sha256:<64 hex>`.
fn new_digest(name: &str) -> Option<Repository> {
    let mut parts = name.split('@');
    let (Some(base), Some(digest), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let hex = digest.strip_prefix("sha256:")?;
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    match new_tag(base) {
        Some(tagged) => new_repository(&tagged.name()),
        None => new_repository(base),
    }
}

/// Normalises an image repository URL: lower case and sanitised; a tag or
/// digest dropped; Docker Hub images (`docker.io`, `index.docker.io`,
/// `registry-1.docker.io`, or no registry) without registry and without
/// `library/`; others as `registry/repository`. Unparseable input comes
/// back as given.
pub fn normalize_image(repo_url: &str) -> String {
    let cleaned = sanitize(&go_lower(repo_url));
    let Some(r) = new_tag(&cleaned).or_else(|| new_digest(&cleaned)) else {
        return repo_url.to_string();
    };
    let repository = r.repository_str();
    if r.registry == DEFAULT_REGISTRY || r.registry == "registry-1.docker.io" {
        return repository
            .strip_prefix("library/")
            .unwrap_or(&repository)
            .to_string();
    }
    format!("{}/{}", r.registry, repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_digests_and_ports() {
        assert_eq!(normalize_image("nginx:1.25"), "nginx");
        assert_eq!(
            normalize_image(&format!("ghcr.io/a/b@sha256:{}", "a".repeat(64))),
            "ghcr.io/a/b"
        );
        assert_eq!(normalize_image("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(normalize_image("nginx:"), "nginx:", "empty tag refused");
        assert_eq!(
            normalize_image("https://charts.example.com/"),
            "https://charts.example.com/",
            "`https:` parses as a registry with an empty port"
        );
    }
}
