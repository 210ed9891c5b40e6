//! Git providers as `git-push` knows them: which provider serves a
//! repository URL (Kargo's registration predicates) and the web URL of a
//! commit there (each provider's `GetCommitURL`), for the `commitURL`
//! output.

use kargo_api::urls::normalize_git;

/// The providers Kargo knows (`git-push`'s `provider` enum), in the order
/// they are tried when the config names none.
pub const PROVIDERS: [&str; 5] = ["github", "gitlab", "gitea", "azure", "bitbucket"];

/// Scheme, host (with port, without user) and path of a URL, as Go's
/// `url.Parse` splits an absolute `scheme://authority/path` URL; None for
/// anything else (SCP-style `git@host:path` does not parse as a URL in Go).
pub(crate) fn split(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some((scheme, host, path))
}

/// `host` without its `:port`.
fn hostname(host: &str) -> &str {
    if host.starts_with('[') {
        return host;
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// The provider that serves `repo_url` when the config names none:
/// a host containing `github` (or ending in `.ghe.com`), `gitlab` or
/// `gitea`; `dev.azure.com` or `*visualstudio.com`; `bitbucket.org`.
pub fn infer(repo_url: &str) -> Option<&'static str> {
    let (_, host, _) = split(repo_url)?;
    if host.contains("github") || host.ends_with(".ghe.com") {
        Some("github")
    } else if host.contains("gitlab") {
        Some("gitlab")
    } else if host.contains("gitea") {
        Some("gitea")
    } else if host == "dev.azure.com" || host.ends_with("visualstudio.com") {
        Some("azure")
    } else if hostname(host) == "bitbucket.org" {
        Some("bitbucket")
    } else {
        None
    }
}

/// The web URL of commit `sha` of `repo_url` on `provider` (named, or else
/// inferred); None when no provider applies or the URL does not fit it.
pub fn commit_url(provider: Option<&str>, repo_url: &str, sha: &str) -> Option<String> {
    let provider = match provider.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => infer(repo_url)?,
    };
    let normalized = normalize_git(repo_url);
    let (_, host, path) = split(&normalized)?;
    Some(match provider {
        "github" => {
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let [owner, repo] = parts.as_slice() else {
                return None;
            };
            format!("https://{host}/{owner}/{repo}/commit/{sha}")
        }
        "gitlab" => format!("https://{host}{path}/-/commit/{sha}"),
        "gitea" => format!("https://{host}{path}/commit/{sha}"),
        "azure" => format!(
            "https://dev.azure.com{}/commit/{sha}",
            path.strip_prefix("/v3").unwrap_or(path)
        ),
        "bitbucket" => format!("https://{host}{path}/commits/{sha}"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_commit_url_rows() {
        // Each provider's TestGetCommitURL in Kargo's pkg/gitprovider.
        let rows: &[(&str, &str, &str)] = &[
            (
                "azure",
                "ssh://git@ssh.dev.azure.com/akuity/_git/kargo",
                "https://dev.azure.com/akuity/_git/kargo/commit/sha",
            ),
            (
                "azure",
                "git@ssh.dev.azure.com:v3/akuity/_git/kargo",
                "https://dev.azure.com/akuity/_git/kargo/commit/sha",
            ),
            (
                "azure",
                "http://dev.azure.com/akuity/_git/kargo",
                "https://dev.azure.com/akuity/_git/kargo/commit/sha",
            ),
            (
                "bitbucket",
                "ssh://git@bitbucket.org/akuity/kargo.git",
                "https://bitbucket.org/akuity/kargo/commits/sha",
            ),
            (
                "bitbucket",
                "git@bitbucket.org:akuity/kargo.git",
                "https://bitbucket.org/akuity/kargo/commits/sha",
            ),
            (
                "bitbucket",
                "https://username@bitbucket.org/akuity/kargo",
                "https://bitbucket.org/akuity/kargo/commits/sha",
            ),
            (
                "bitbucket",
                "http://bitbucket.org/akuity/kargo.git",
                "https://bitbucket.org/akuity/kargo/commits/sha",
            ),
            (
                "gitea",
                "http://gitea.com/akuity/kargo",
                "https://gitea.com/akuity/kargo/commit/sha",
            ),
            (
                "gitea",
                "ssh://git@gitea.com/akuity/kargo",
                "https://gitea.com/akuity/kargo/commit/sha",
            ),
            (
                "gitea",
                "git@gitea.com:akuity/kargo",
                "https://gitea.com/akuity/kargo/commit/sha",
            ),
            (
                "gitea",
                "git@custom.host.com:akuity/kargo",
                "https://custom.host.com/akuity/kargo/commit/sha",
            ),
            (
                "gitea",
                "http://custom.host.com/akuity/kargo",
                "https://custom.host.com/akuity/kargo/commit/sha",
            ),
            (
                "github",
                "ssh://git@github.com/akuity/kargo.git",
                "https://github.com/akuity/kargo/commit/sha",
            ),
            (
                "github",
                "git@github.com:akuity/kargo.git",
                "https://github.com/akuity/kargo/commit/sha",
            ),
            (
                "github",
                "https://username@github.com/akuity/kargo",
                "https://github.com/akuity/kargo/commit/sha",
            ),
            (
                "github",
                "http://github.com/akuity/kargo.git",
                "https://github.com/akuity/kargo/commit/sha",
            ),
            (
                "gitlab",
                "ssh://git@gitlab.com/akuity/kargo.git",
                "https://gitlab.com/akuity/kargo/-/commit/sha",
            ),
            (
                "gitlab",
                "git@gitlab.com:akuity/kargo.git",
                "https://gitlab.com/akuity/kargo/-/commit/sha",
            ),
            (
                "gitlab",
                "http://gitlab.com/akuity/kargo",
                "https://gitlab.com/akuity/kargo/-/commit/sha",
            ),
        ];
        // Kargo's TestGetCommitURL: azure 3, bitbucket 4, gitea 5, github 4,
        // gitlab 3 rows.
        assert_eq!(rows.len(), 19);
        for (provider, url, want) in rows {
            assert_eq!(
                commit_url(Some(provider), url, "sha").as_deref(),
                Some(*want),
                "{provider} {url}"
            );
        }
    }

    #[test]
    fn provider_is_inferred_from_the_host() {
        let rows = [
            ("https://github.com/akuity/kargo", Some("github")),
            ("https://acme.ghe.com/a/b", Some("github")),
            ("https://gitlab.example.com/a/b", Some("gitlab")),
            ("https://gitea.example.com/a/b", Some("gitea")),
            ("https://dev.azure.com/o/p/_git/r", Some("azure")),
            ("https://acme.visualstudio.com/p/_git/r", Some("azure")),
            ("https://bitbucket.org:443/a/b", Some("bitbucket")),
            ("https://git.example.com/a/b", None),
            // Go's url.Parse refuses SCP-style URLs: nothing is inferred.
            ("git@github.com:akuity/kargo.git", None),
            ("file:///tmp/r.git", None),
        ];
        for (url, want) in rows {
            assert_eq!(infer(url), want, "{url}");
        }
        assert_eq!(
            commit_url(None, "https://github.com/akuity/kargo.git", "abc").as_deref(),
            Some("https://github.com/akuity/kargo/commit/abc")
        );
        assert_eq!(commit_url(None, "file:///tmp/r.git", "abc"), None);
        // GitHub wants exactly owner/repo.
        assert_eq!(
            commit_url(Some("github"), "https://github.com/a/b/c", "abc"),
            None
        );
    }
}
