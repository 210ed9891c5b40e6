//! Which repository URLs are accepted at all: Kargo's schema patterns for
//! git (`https`, `http`, `ssh`, SCP-style `user@host:path`) and chart
//! (`https`, `http`, `oci`) repository URLs, plus the rules that keep a URL
//! from ever reaching `git` as an option or a remote helper: nothing that
//! starts with `-`, no `<helper>::` (`ext::`, `fd::`), no host or user
//! that starts with `-`, and `file://` only where the server allows it
//! (`kargo server --allow-file-repos`).

use regex::Regex;
use std::sync::LazyLock;

/// Kargo's `pkg/subscription/schemas/git.json` `repoURL` pattern, with
/// Go's ASCII `\w` and `\d` spelled as ASCII classes (Rust's are Unicode)
/// and its two anchored alternatives written under one anchor.
static GIT_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:(?:(ssh|https?)://(?:([A-Za-z0-9_-]+)(:(.+))?@)?",
        r"([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)(?::([0-9]{1,5}))?(/.*))",
        r"|(?:([A-Za-z0-9_-]+)@([A-Za-z0-9_+]+(?:\.[A-Za-z0-9_-]+)*):(/?.*)))$",
    ))
    .expect("static pattern compiles")
});

/// Kargo's `pkg/subscription/schemas/chart.json` `repoURL` pattern
/// (`^(((https?)|(oci))://)(([\w\d\.\-]+)(:([\d]+)?)?(/.*)*)$`), ASCII.
static CHART_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:https?)|(?:oci))://(?:[A-Za-z0-9_.-]+)(?::(?:[0-9]+)?)?(?:/.*)*$")
        .expect("static pattern compiles")
});

/// The `<helper>` of git's `<helper>::<address>` remote-helper syntax
/// (git's `transport_get`: URL-scheme characters, then `::`).
fn remote_helper(url: &str) -> Option<&str> {
    let end = url
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || "+.-".contains(c))))
        })
        .map(|(i, _)| i)
        .unwrap_or(url.len());
    (end > 0 && url[end..].starts_with("::")).then(|| &url[..end])
}

fn no_leading_dash(url: &str) -> Result<(), String> {
    if url.starts_with('-') {
        return Err(format!(
            "{url:?} must not start with '-' (git would read it as an option)"
        ));
    }
    Ok(())
}

/// Checks a git repository URL (a Warehouse's `git.repoURL`, a
/// `git-clone` step's `repoURL`). `allow_file`: the server runs with
/// `--allow-file-repos`, so `file://` URLs are accepted too. The error
/// says why, without the field (the caller names it).
pub fn check_git_repo_url(url: &str, allow_file: bool) -> Result<(), String> {
    if url.is_empty() {
        return Err("required: the git repository URL".into());
    }
    no_leading_dash(url)?;
    if let Some(helper) = remote_helper(url) {
        return Err(format!(
            "{url:?} uses git's \"{helper}::\" remote-helper syntax, which is not allowed"
        ));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !allow_file {
            return Err(format!(
                "{url:?}: file:// repositories are allowed only when the server runs with --allow-file-repos"
            ));
        }
        if path.is_empty() {
            return Err(format!("{url:?}: a file:// URL needs a path"));
        }
        return Ok(());
    }
    let Some(caps) = GIT_PATTERN.captures(url) else {
        return Err(format!(
            "{url:?} is not a supported git repository URL: expected https://, http://, ssh:// or SCP-style user@host:path"
        ));
    };
    // Kargo's pattern lets a user or host start with '-', which ssh would
    // read as an option; git refuses such hosts itself, and so do we.
    for group in [2, 5] {
        if caps.get(group).is_some_and(|m| m.as_str().starts_with('-')) {
            return Err(format!(
                "{url:?}: a user or host name must not start with '-'"
            ));
        }
    }
    Ok(())
}

/// Checks a chart repository URL (a Warehouse's `chart.repoURL`):
/// `https://`, `http://` or `oci://` as Kargo's pattern has it.
pub fn check_chart_repo_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("required: the chart repository URL".into());
    }
    no_leading_dash(url)?;
    if !CHART_PATTERN.is_match(url) {
        return Err(format!(
            "{url:?} is not a supported chart repository URL: expected an http://, https:// or oci:// URL"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kargo's `pkg/subscription/git_test.go` `TestGitSubscriber_Validate`
    /// rows that vary `repoURL` (URL, valid).
    const UPSTREAM_GIT: &[(&str, bool)] = &[
        ("", false),
        ("bogus", false),
        ("https://github.com/akuity/kargo.git", true),
    ];

    /// Kargo's `pkg/subscription/chart_test.go` `TestChartSubscriber_Validate`
    /// rows' distinct `repoURL`s (URL, valid).
    const UPSTREAM_CHART: &[(&str, bool)] = &[
        ("", false),
        ("bogus-url", false),
        ("https://charts.example.com", true),
        ("oci://ghcr.io/example/chart", true),
        ("http://charts.example.com", true),
    ];

    #[test]
    fn upstream_rows() {
        assert_eq!(UPSTREAM_GIT.len(), 3);
        for (url, ok) in UPSTREAM_GIT {
            assert_eq!(check_git_repo_url(url, false).is_ok(), *ok, "{url:?}");
        }
        assert_eq!(UPSTREAM_CHART.len(), 5);
        for (url, ok) in UPSTREAM_CHART {
            assert_eq!(check_chart_repo_url(url).is_ok(), *ok, "{url:?}");
        }
    }

    #[test]
    fn schemes_options_and_helpers() {
        // (URL, accepted without --allow-file-repos, accepted with it,
        // words the refusal must contain)
        let rows: &[(&str, bool, bool, &str)] = &[
            ("https://github.com/example/repo.git", true, true, ""),
            ("http://localhost:8080/r.git", true, true, ""),
            ("ssh://git@github.com/example/repo.git", true, true, ""),
            ("ssh://git@github.com:2222/example/repo.git", true, true, ""),
            ("git@github.com:example/repo.git", true, true, ""),
            (
                "file:///srv/git/repo.git",
                false,
                true,
                "--allow-file-repos",
            ),
            ("file://", false, false, ""),
            (
                "--upload-pack=touch /tmp/x",
                false,
                false,
                "must not start with '-'",
            ),
            ("-u", false, false, "must not start with '-'"),
            (
                "ext::sh -c touch% /tmp/x",
                false,
                false,
                "\"ext::\" remote-helper",
            ),
            ("fd::3", false, false, "\"fd::\" remote-helper"),
            (
                "ssh://-oProxyCommand=x/r",
                false,
                false,
                "not a supported git",
            ),
            (
                "ssh://-oProxyCommand/r",
                false,
                false,
                "must not start with '-'",
            ),
            ("ssh://-u@host/r", false, false, "must not start with '-'"),
            (
                "ftp://example.com/r.git",
                false,
                false,
                "not a supported git",
            ),
            (
                "git://example.com/r.git",
                false,
                false,
                "not a supported git",
            ),
            ("/srv/git/repo.git", false, false, "not a supported git"),
            (
                "HTTPS://github.com/example/repo.git",
                false,
                false,
                "not a supported git",
            ),
        ];
        for (url, without, with, words) in rows {
            let a = check_git_repo_url(url, false);
            let b = check_git_repo_url(url, true);
            assert_eq!(a.is_ok(), *without, "{url:?} without: {a:?}");
            assert_eq!(b.is_ok(), *with, "{url:?} with: {b:?}");
            if let Err(e) = a {
                assert!(e.contains(words), "{url:?}: {e}");
            }
        }
        assert!(check_chart_repo_url("-oci://x").is_err());
        assert!(check_chart_repo_url("file:///charts").is_err());
    }
}
