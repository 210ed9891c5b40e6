//! Kargo's URL normalisation (`pkg/urls`): the canonical spelling of git,
//! Helm chart and container image repository URLs that Freight IDs,
//! subscription uniqueness and credential look-ups compare. One normaliser
//! per artifact kind, each returning its input unchanged when it cannot
//! make sense of it, exactly as Kargo does. `repo_url` says which
//! repository URLs are accepted at all.

mod git;
mod gourl;
mod helm;
mod image;
mod repo_url;

pub use git::normalize_git;
pub use helm::normalize_chart;
pub use image::normalize_image;
pub use repo_url::{check_chart_repo_url, check_git_repo_url};

use regex::Regex;
use std::sync::LazyLock;

/// Everything Go's `unicode.IsPrint` rejects: all but letters, marks,
/// numbers, punctuation, symbols and the ASCII space.
static NON_PRINTABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[^\p{L}\p{M}\p{N}\p{P}\p{S} ]").expect("static pattern compiles")
});

/// Kargo's `SanitizeURL`: drops non-printable characters (byte order marks,
/// zero-width spaces, tabs, newlines, ...) anywhere in the string, then
/// leading and trailing spaces. Pasted URLs often carry them unseen.
pub fn sanitize(url: &str) -> String {
    NON_PRINTABLE.replace_all(url, "").trim().to_string()
}

/// Go's `strings.ToLower`: one lower-case character for each character
/// (Rust's `to_lowercase` can expand one into two, e.g. `İ`).
pub(crate) fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_lower_maps_one_to_one() {
        assert_eq!(go_lower("HTTPS://GitHub.COM/İ"), "https://github.com/i");
    }
}
