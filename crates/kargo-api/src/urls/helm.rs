//! Kargo's `NormalizeChart`: Helm chart repository URLs compared without
//! their `oci://` prefix and with Docker Hub's many names folded into one.

use super::gourl::GoUrl;
use super::{go_lower, normalize_image, sanitize};

/// Normalises a chart repository URL: sanitised, lower case, `oci://`
/// removed, then through [`normalize_image`] (so `docker.io/x/y`,
/// `index.docker.io/x/y` and `registry-1.docker.io/x/y` are all `x/y`).
/// Classic `https://` repositories come back lower-cased and otherwise as
/// written. A string Go's URL parser refuses comes back as given.
pub fn normalize_chart(repo: &str) -> String {
    let sanitized = sanitize(repo);
    if GoUrl::parse(&sanitized).is_none() {
        return repo.to_string();
    }
    let lower = go_lower(&sanitized);
    normalize_image(lower.strip_prefix("oci://").unwrap_or(&lower))
}
