//! Tag filters shared by git and image subscriptions: allow/ignore
//! regexes, and path filters (`glob:`, `regex:`/`regexp:`, else a base
//! directory; `kargo_api::pattern`).

use kargo_api::pattern::{Matchers, parse_path_pattern};
use regex::Regex;

/// Compiled allow/ignore tag filters.
#[derive(Debug, Default)]
pub struct TagFilter {
    allow: Vec<Regex>,
    ignore: Vec<Regex>,
}

impl TagFilter {
    /// Compiles the filters. The deprecated `allowTags` (`allow_single`)
    /// and `ignoreTags` (`ignore_exact`) fail discovery, as in Kargo since
    /// v1.11.0 (admission refuses them too; this covers stored objects).
    pub fn new(
        allow_single: &str,
        allow: &[String],
        ignore_exact: &[String],
        ignore: &[String],
    ) -> Result<Self, String> {
        if !allow_single.is_empty() {
            return Err(
                "allowTags is deprecated and unsupported as of Kargo v1.11.0; use allowTagsRegexes instead".into(),
            );
        }
        if !ignore_exact.is_empty() {
            return Err(
                "ignoreTags is deprecated and unsupported as of Kargo v1.11.0; use ignoreTagsRegexes instead".into(),
            );
        }
        let compile =
            |r: &str| Regex::new(r).map_err(|e| format!("invalid regular expression {r:?}: {e}"));
        Ok(TagFilter {
            allow: allow.iter().map(|r| compile(r)).collect::<Result<_, _>>()?,
            ignore: ignore
                .iter()
                .map(|r| compile(r))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether a tag passes.
    pub fn allows(&self, tag: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|r| r.is_match(tag)))
            && !self.ignore.iter().any(|r| r.is_match(tag))
    }
}

/// Include/exclude path filters for commits, as Kargo's
/// `pattern.ParsePathPattern` reads them.
#[derive(Debug, Default)]
pub struct PathFilter {
    include: Matchers,
    exclude: Matchers,
}

fn patterns(list: &[String]) -> Result<Matchers, String> {
    list.iter()
        .map(|p| parse_path_pattern(p).map_err(|e| format!("path selector {p:?}: {e}")))
        .collect::<Result<_, _>>()
        .map(Matchers)
}

impl PathFilter {
    /// Compiles include and exclude lists.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        Ok(PathFilter {
            include: patterns(include)?,
            exclude: patterns(exclude)?,
        })
    }

    /// True when there is nothing to filter.
    pub fn is_empty(&self) -> bool {
        self.include.0.is_empty() && self.exclude.0.is_empty()
    }

    /// Whether a commit touching `paths` is relevant: some path is
    /// included (or no includes given) and not excluded.
    pub fn accepts(&self, paths: &[String]) -> bool {
        paths.iter().any(|p| {
            (self.include.0.is_empty() || self.include.matches(p)) && !self.exclude.matches(p)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let f = TagFilter::new(
            "",
            &["^v".into()],
            &[],
            &["-rc".into(), "^v2\\.0\\.0$".into()],
        )
        .unwrap();
        assert!(f.allows("v1.0.0"));
        assert!(!f.allows("1.0.0"));
        assert!(!f.allows("v1.1.0-rc.1"));
        assert!(!f.allows("v2.0.0"));
        assert!(TagFilter::new("", &["(".into()], &[], &[]).is_err());
        let e = TagFilter::new("^v", &[], &[], &[]).unwrap_err();
        assert!(e.contains("use allowTagsRegexes instead"), "{e}");
        let e = TagFilter::new("", &[], &["v1".into()], &[]).unwrap_err();
        assert!(e.contains("use ignoreTagsRegexes instead"), "{e}");
    }

    #[test]
    fn paths() {
        let f = PathFilter::new(
            &["apps/web".into(), "glob:charts/**/values.yaml".into()],
            &["regex:.*\\.md$".into()],
        )
        .unwrap();
        assert!(f.accepts(&["apps/web/main.go".into()]));
        assert!(!f.accepts(&["apps/webby/x".into()]));
        assert!(f.accepts(&["charts/a/b/values.yaml".into()]));
        assert!(!f.accepts(&["apps/web/README.md".into()]));
        assert!(f.accepts(&["apps/web/README.md".into(), "apps/web/x.go".into()]));
        let f = PathFilter::new(&["glob:charts/*/values.{yaml,yml}".into()], &[]).unwrap();
        assert!(f.accepts(&["charts/a/values.yml".into()]));
        assert!(!f.accepts(&["charts/a/b/values.yaml".into()]));
        let e = PathFilter::new(&["glob:[".into()], &[]).unwrap_err();
        assert!(e.contains("\"glob:[\""), "{e}");
    }
}
