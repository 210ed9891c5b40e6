//! Kargo's `NormalizeGit`: one spelling for every way of writing a git
//! remote, so the same repository always compares (and hashes) equal.

use super::gourl::GoUrl;
use super::{go_lower, sanitize};
use regex::Regex;
use std::sync::LazyLock;

/// SCP-style `[user@]host[:path]`; `\w` is ASCII-only, as in Go.
static SCP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^((?:[0-9A-Za-z_-]+@)?[0-9A-Za-z_-]+(?:\.[0-9A-Za-z_-]+)*)(?::(.*))?$")
        .expect("static pattern compiles")
});

/// Normalises a git URL: lower case, sanitised, no trailing `/` or `.git`.
/// `http(s)://` URLs lose their user information; `ssh://` URLs keep it;
/// SCP-style `[user@]host:path` becomes `ssh://[user@]host/path`. URLs
/// with query parameters, and anything unrecognisable, come back as given.
pub fn normalize_git(repo: &str) -> String {
    let orig = repo;
    let repo = sanitize(&go_lower(repo));

    let is_http = repo.starts_with("http://") || repo.starts_with("https://");
    if is_http || repo.starts_with("ssh://") {
        let Some(mut u) = GoUrl::parse(&repo) else {
            return orig.to_string();
        };
        if u.has_query_params() {
            return orig.to_string();
        }
        if is_http {
            u.clear_user();
        }
        u.trim_path_suffix("/");
        u.trim_path_suffix(".git");
        return u.to_go_string();
    }

    let Some(caps) = SCP.captures(&repo) else {
        return orig.to_string();
    };
    let user_host = caps.get(1).map_or("", |m| m.as_str());
    let path = caps.get(2).map_or("", |m| m.as_str());
    let Some(mut p) = GoUrl::parse(path) else {
        return orig.to_string();
    };
    p.trim_path_suffix("/");
    p.trim_path_suffix(".git");
    if p.path_is_empty() {
        return format!("ssh://{user_host}");
    }
    format!("ssh://{user_host}/{}", p.to_go_string())
}
