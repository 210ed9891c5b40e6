//! Freight identity: Kargo's content-addressed Freight ID (SHA-1 over the
//! origin and the sorted artifact parts, `pkg/api/freight.go`), and Go's
//! `path.Join`/`path.Clean` that the chart part is built with.

use crate::common::{Chart, FreightOrigin, GitCommit, Image};
use crate::urls::{normalize_chart, normalize_git};
use sha1::{Digest, Sha1};

/// The URL normalisers under the names older callers use; they are
/// [`crate::urls`]' functions, not copies.
pub use crate::urls::{
    normalize_chart as normalize_chart_repo_url, normalize_git as normalize_git_url,
};

/// Computes the Freight ID exactly as Kargo does:
/// `sha1("<kind>/<name>:" + join(sorted(parts), "|"))` in lowercase hex.
pub fn freight_id(
    origin: &FreightOrigin,
    commits: &[GitCommit],
    images: &[Image],
    charts: &[Chart],
) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(commits.len() + images.len() + charts.len());
    parts.extend(commits.iter().map(commit_part));
    parts.extend(images.iter().map(image_part));
    parts.extend(charts.iter().map(chart_part));
    parts.sort();
    let input = format!("{}/{}:{}", origin.kind, origin.name, parts.join("|"));
    hex::encode(Sha1::digest(input.as_bytes()))
}

/// `:<subscriptionName>` when the artifact came from a named subscription.
fn with_subscription(base: String, subscription_name: &str) -> String {
    if subscription_name.is_empty() {
        base
    } else {
        format!("{base}:{subscription_name}")
    }
}

/// `<normalised repo>[:<tag>]:<id>[:<subscription>]`: the tag is part of
/// the identity, so a commit tagged again makes new Freight.
fn commit_part(c: &GitCommit) -> String {
    let repo = normalize_git(&c.repo_url);
    let base = if c.tag.is_empty() {
        format!("{repo}:{}", c.id)
    } else {
        format!("{repo}:{}:{}", c.tag, c.id)
    };
    with_subscription(base, &c.subscription_name)
}

/// `<repoURL as written>:<tag>@<digest>[:<subscription>]`: both tag and
/// digest, so a re-pushed mutable tag and a re-tagged digest are both new.
fn image_part(i: &Image) -> String {
    with_subscription(
        format!("{}:{}@{}", i.repo_url, i.tag, i.digest),
        &i.subscription_name,
    )
}

/// `path.Join(<normalised repo>, <name>):<version>[:<subscription>]`.
fn chart_part(c: &Chart) -> String {
    let joined = go_path_join(&[&normalize_chart(&c.repo_url), &c.name]);
    with_subscription(format!("{joined}:{}", c.version), &c.subscription_name)
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
