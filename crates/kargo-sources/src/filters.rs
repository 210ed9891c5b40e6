//! Tag filters shared by git and image subscriptions: allow/ignore
//! regexes, and path filters (`glob:`, `regex:`/`regexp:`, else a prefix).

use regex::Regex;

/// Compiled allow/ignore tag filters.
#[derive(Debug, Default)]
pub struct TagFilter {
    allow: Vec<Regex>,
    ignore: Vec<Regex>,
    ignore_exact: Vec<String>,
}

impl TagFilter {
    /// Compiles the filters; `allow_single` is the deprecated single regex.
    pub fn new(
        allow_single: &str,
        allow: &[String],
        ignore_exact: &[String],
        ignore: &[String],
    ) -> Result<Self, String> {
        let compile =
            |r: &str| Regex::new(r).map_err(|e| format!("invalid regular expression {r:?}: {e}"));
        let mut allow_re: Vec<Regex> =
            allow.iter().map(|r| compile(r)).collect::<Result<_, _>>()?;
        if !allow_single.is_empty() {
            allow_re.push(compile(allow_single)?);
        }
        Ok(TagFilter {
            allow: allow_re,
            ignore: ignore
                .iter()
                .map(|r| compile(r))
                .collect::<Result<_, _>>()?,
            ignore_exact: ignore_exact.to_vec(),
        })
    }

    /// Whether a tag passes.
    pub fn allows(&self, tag: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|r| r.is_match(tag)))
            && !self.ignore.iter().any(|r| r.is_match(tag))
            && !self.ignore_exact.iter().any(|t| t == tag)
    }
}

/// One path filter.
#[derive(Debug)]
enum PathPattern {
    Prefix(String),
    Glob(Regex),
    Regex(Regex),
}

/// Include/exclude path filters for commits.
#[derive(Debug, Default)]
pub struct PathFilter {
    include: Vec<PathPattern>,
    exclude: Vec<PathPattern>,
}

fn pattern(p: &str) -> Result<PathPattern, String> {
    let re = |r: &str| Regex::new(r).map_err(|e| format!("invalid path pattern {p:?}: {e}"));
    if let Some(g) = p.strip_prefix("glob:") {
        Ok(PathPattern::Glob(re(&kargo_api::glob::to_regex(g))?))
    } else if let Some(r) = p
        .strip_prefix("regex:")
        .or_else(|| p.strip_prefix("regexp:"))
    {
        Ok(PathPattern::Regex(re(r)?))
    } else {
        Ok(PathPattern::Prefix(p.trim_start_matches("./").to_string()))
    }
}

impl PathPattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Prefix(p) => {
                path == p
                    || path.starts_with(&format!("{}/", p.trim_end_matches('/')))
                    || p.is_empty()
            }
            PathPattern::Glob(r) | PathPattern::Regex(r) => r.is_match(path),
        }
    }
}

impl PathFilter {
    /// Compiles include and exclude lists.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        Ok(PathFilter {
            include: include
                .iter()
                .map(|p| pattern(p))
                .collect::<Result<_, _>>()?,
            exclude: exclude
                .iter()
                .map(|p| pattern(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// True when there is nothing to filter.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether a commit touching `paths` is relevant: some path is
    /// included (or no includes given) and not excluded.
    pub fn accepts(&self, paths: &[String]) -> bool {
        paths.iter().any(|p| {
            (self.include.is_empty() || self.include.iter().any(|i| i.matches(p)))
                && !self.exclude.iter().any(|e| e.matches(p))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let f = TagFilter::new("", &["^v".into()], &["v2.0.0".into()], &["-rc".into()]).unwrap();
        assert!(f.allows("v1.0.0"));
        assert!(!f.allows("1.0.0"));
        assert!(!f.allows("v1.1.0-rc.1"));
        assert!(!f.allows("v2.0.0"));
        assert!(TagFilter::new("", &["(".into()], &[], &[]).is_err());
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
    }
}
