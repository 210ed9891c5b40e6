//! Freight identity: Kargo's content-addressed Freight ID (SHA-1 over the
//! origin and the sorted, normalised artifact parts) and the URL
//! normalisation it depends on.

use crate::common::{Chart, FreightOrigin, GitCommit, Image};
use sha1::{Digest, Sha1};

/// Computes the Freight ID exactly as Kargo does:
/// `sha1("<kind>/<name>:" + join(sorted(parts), "|"))` in lowercase hex.
pub fn freight_id(
    origin: &FreightOrigin,
    commits: &[GitCommit],
    images: &[Image],
    charts: &[Chart],
) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(commits.len() + images.len() + charts.len());
    for c in commits {
        let repo = normalize_git_url(&c.repo_url);
        if c.tag.is_empty() {
            parts.push(format!("{repo}:{}", c.id));
        } else {
            parts.push(format!("{repo}:{}:{}", c.tag, c.id));
        }
    }
    for i in images {
        parts.push(format!("{}:{}@{}", i.repo_url, i.tag, i.digest));
    }
    for c in charts {
        let joined = go_path_join(&[&normalize_chart_repo_url(&c.repo_url), &c.name]);
        parts.push(format!("{joined}:{}", c.version));
    }
    parts.sort();
    let input = format!("{}/{}:{}", origin.kind, origin.name, parts.join("|"));
    hex::encode(Sha1::digest(input.as_bytes()))
}

/// Normalises a git URL: lowercase, no user info, no trailing `/` or `.git`.
/// SCP-style (`git@host:path`) URLs lose their user too.
pub fn normalize_git_url(repo: &str) -> String {
    let lower = repo.trim().to_lowercase();
    let strip = |p: &str| -> String {
        let p = p.trim_end_matches('/');
        p.strip_suffix(".git")
            .unwrap_or(p)
            .trim_end_matches('/')
            .to_string()
    };
    if let Some((scheme, rest)) = lower.split_once("://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return format!("{scheme}://{host}{}", strip(path));
    }
    // SCP-style: [user@]host:path
    if let Some((authority, path)) = lower.split_once(':') {
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return format!("{host}:{}", strip(path));
    }
    strip(&lower)
}

/// Normalises a Helm chart repository URL: lowercase, no trailing `/`.
pub fn normalize_chart_repo_url(repo: &str) -> String {
    repo.trim().to_lowercase().trim_end_matches('/').to_string()
}

/// Go's `path.Join`: joins non-empty elements with `/` and cleans the result
/// (which, as in Kargo, turns `https://x` into `https:/x`).
pub fn go_path_join(elems: &[&str]) -> String {
    let joined: Vec<&str> = elems.iter().copied().filter(|e| !e.is_empty()).collect();
    if joined.is_empty() {
        return String::new();
    }
    go_path_clean(&joined.join("/"))
}

/// Go's `path.Clean`.
pub fn go_path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> FreightOrigin {
        FreightOrigin {
            kind: "Warehouse".into(),
            name: "my-warehouse".into(),
        }
    }

    #[test]
    fn git_urls_normalise() {
        assert_eq!(
            normalize_git_url("https://GitHub.com/My-Org/Repo.git/"),
            "https://github.com/my-org/repo"
        );
        assert_eq!(
            normalize_git_url("https://user:pw@github.com/a/b.git"),
            "https://github.com/a/b"
        );
        assert_eq!(
            normalize_git_url("git@github.com:a/b.git"),
            "github.com:a/b"
        );
        assert_eq!(
            normalize_git_url("ssh://git@host:22/a/b/"),
            "ssh://host:22/a/b"
        );
        assert_eq!(
            normalize_git_url("file:///tmp/repo.git"),
            "file:///tmp/repo"
        );
    }

    #[test]
    fn go_path_join_matches_go() {
        assert_eq!(
            go_path_join(&["https://charts.example.com", "nginx"]),
            "https:/charts.example.com/nginx"
        );
        assert_eq!(
            go_path_join(&["oci://reg.io/charts/app", ""]),
            "oci:/reg.io/charts/app"
        );
        assert_eq!(go_path_clean("/a/../../b/./c/"), "/b/c");
        assert_eq!(go_path_clean("a/../.."), "..");
    }

    /// Golden values: sha1 of the exact strings Kargo hashes, computed
    /// independently with `printf '%s' '<input>' | sha1sum`.
    #[test]
    fn golden_ids() {
        let img = Image {
            repo_url: "myacr.azurecr.io/my-web-app".into(),
            tag: "1.5.0".into(),
            digest: "sha256:abc".into(),
            ..Default::default()
        };
        // input: Warehouse/my-warehouse:myacr.azurecr.io/my-web-app:1.5.0@sha256:abc
        assert_eq!(
            freight_id(&origin(), &[], std::slice::from_ref(&img), &[]),
            "17db1e06721fdbe7da342d5ec3a9d473419e157a"
        );
        let commit = GitCommit {
            repo_url: "https://github.com/My-Org/Infra-Config.git".into(),
            id: "0123456789abcdef0123456789abcdef01234567".into(),
            ..Default::default()
        };
        let chart = Chart {
            repo_url: "https://Charts.Example.com/".into(),
            name: "nginx".into(),
            version: "1.2.3".into(),
            ..Default::default()
        };
        // input (byte-sorted parts): Warehouse/my-warehouse:https://github.com/my-org/infra-config:0123...4567|https:/charts.example.com/nginx:1.2.3|myacr.azurecr.io/my-web-app:1.5.0@sha256:abc
        assert_eq!(
            freight_id(&origin(), &[commit], &[img], &[chart]),
            "3414836cb8be9b29d5107a3336c20217f789000a"
        );
    }

    #[test]
    fn tag_changes_id_and_order_does_not() {
        let a = GitCommit {
            repo_url: "https://h/a".into(),
            id: "1".into(),
            ..Default::default()
        };
        let b = GitCommit {
            repo_url: "https://h/b".into(),
            id: "2".into(),
            ..Default::default()
        };
        let ab = freight_id(&origin(), &[a.clone(), b.clone()], &[], &[]);
        assert_eq!(ab, freight_id(&origin(), &[b, a.clone()], &[], &[]));
        let tagged = GitCommit {
            tag: "v1".into(),
            ..a.clone()
        };
        assert_ne!(
            freight_id(&origin(), &[a], &[], &[]),
            freight_id(&origin(), &[tagged], &[], &[])
        );
    }
}
