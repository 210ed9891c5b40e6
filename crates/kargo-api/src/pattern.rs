//! Kargo's `pkg/pattern`: the `glob:`, `regex:`/`regexp:` and plain
//! patterns users write for Stage selectors (plain = exact name) and git
//! path filters (plain = base directory), plus the parsing of the
//! `kargo.akuity.io/authorized-stage` annotation, which takes no patterns.

use crate::freight_id::go_path_clean;
use crate::glob::Glob;
use regex::Regex;
use std::fmt;

const GLOB: &str = "glob:";
const REGEX: &str = "regex:";
const REGEXP: &str = "regexp:";

/// One parsed pattern.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Plain name pattern: equal strings only.
    Exact(String),
    /// `glob:` pattern.
    Glob(Glob),
    /// `regex:`/`regexp:` pattern, unanchored as in Go.
    Regex(String, Regex),
    /// Plain path pattern: the directory and everything under it.
    BaseDir(String),
}

/// Which pattern was refused and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

fn regex(p: &str) -> Result<Matcher, PatternError> {
    Regex::new(p)
        .map(|r| Matcher::Regex(p.to_string(), r))
        .map_err(|e| PatternError(format!("invalid regular expression {p:?}: {e}")))
}

fn prefixed(p: &str) -> Option<Result<Matcher, PatternError>> {
    if let Some(g) = p.strip_prefix(GLOB) {
        Some(
            Glob::new(g)
                .map(Matcher::Glob)
                .map_err(|e| PatternError(e.to_string())),
        )
    } else {
        p.strip_prefix(REGEX)
            .or_else(|| p.strip_prefix(REGEXP))
            .map(regex)
    }
}

/// Kargo's `ParseNamePattern`: `glob:`, `regex:`, `regexp:`, else exact.
/// Compiled once per pattern: a Stage reconcile matches its project's
/// policy selectors each time, and compiling a glob or regex costs far
/// more than matching it.
pub fn parse_name_pattern(p: &str) -> Result<Matcher, PatternError> {
    /// Patterns kept at most; past that the memo starts over.
    const KEPT: usize = 1024;
    static COMPILED: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, Result<Matcher, PatternError>>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut compiled = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = compiled.get(p) {
        return m.clone();
    }
    let m = prefixed(p).unwrap_or_else(|| Ok(Matcher::Exact(p.to_string())));
    if compiled.len() >= KEPT {
        compiled.clear();
    }
    compiled.insert(p.to_string(), m.clone());
    m
}

/// Kargo's `ParsePathPattern`: `glob:`, `regex:`, `regexp:`, else a base
/// directory. Paths use `/`.
pub fn parse_path_pattern(p: &str) -> Result<Matcher, PatternError> {
    prefixed(p).unwrap_or_else(|| Ok(Matcher::BaseDir(p.to_string())))
}

/// Go's `filepath.Rel` on `/`-separated paths; `None` where Go errors.
fn go_rel(base: &str, target: &str) -> Option<String> {
    let base = go_path_clean(base);
    let targ = go_path_clean(target);
    if targ == base {
        return Some(".".into());
    }
    let base = if base == "." { String::new() } else { base };
    if base.starts_with('/') != targ.starts_with('/') {
        return None;
    }
    let (bb, tb) = (base.as_bytes(), targ.as_bytes());
    let (bl, tl) = (bb.len(), tb.len());
    let (mut b0, mut bi, mut t0, mut ti) = (0, 0, 0, 0);
    loop {
        while bi < bl && bb[bi] != b'/' {
            bi += 1;
        }
        while ti < tl && tb[ti] != b'/' {
            ti += 1;
        }
        if targ[t0..ti] != base[b0..bi] {
            break;
        }
        if bi < bl {
            bi += 1;
        }
        if ti < tl {
            ti += 1;
        }
        b0 = bi;
        t0 = ti;
    }
    if &base[b0..bi] == ".." {
        return None;
    }
    if b0 != bl {
        let ups = base[b0..].matches('/').count() + 1;
        let mut out = vec![".."; ups].join("/");
        if t0 != tl {
            out.push('/');
            out.push_str(&targ[t0..]);
        }
        return Some(out);
    }
    Some(targ[t0..].to_string())
}

impl Matcher {
    /// Whether `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(p) => p == s,
            Matcher::Glob(g) => g.is_match(s),
            Matcher::Regex(_, r) => r.is_match(s),
            // As Kargo: the path relative to the base must not climb out
            // (any `..` in it counts, even inside a file name).
            Matcher::BaseDir(base) => go_rel(base, s).is_some_and(|rel| !rel.contains("..")),
        }
    }

    /// The pattern without its prefix.
    pub fn as_str(&self) -> &str {
        match self {
            Matcher::Exact(p) | Matcher::BaseDir(p) | Matcher::Regex(p, _) => p,
            Matcher::Glob(g) => g.as_str(),
        }
    }
}

/// Several patterns; a string matches when any of them does.
#[derive(Debug, Clone, Default)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Whether any pattern matches `s`.
    pub fn matches(&self, s: &str) -> bool {
        self.0.iter().any(|m| m.matches(s))
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = self.0.iter().map(Matcher::as_str).collect();
        f.write_str(&parts.join(", "))
    }
}

/// Checks a Stage selector name as Kargo's ProjectConfig webhook does: a
/// name with a `:` must be a valid `glob:`, `regex:` or `regexp:` pattern.
pub fn check_stage_selector(name: &str) -> Result<(), PatternError> {
    let Some((kind, _)) = name.split_once(':') else {
        return Ok(());
    };
    match parse_name_pattern(name)? {
        Matcher::Exact(_) => Err(PatternError(format!(
            "invalid pattern identifier {kind:?}: must be \"regex\", \"regexp\" or \"glob\""
        ))),
        _ => Ok(()),
    }
}

/// Parses a `kargo.akuity.io/authorized-stage` value: comma-separated
/// `<project>:<stage>` entries, blanks ignored; globs are refused, as by
/// Kargo, which dropped them. Returns `(project, stage)` pairs.
pub fn authorized_stages(value: &str) -> Result<Vec<(String, String)>, PatternError> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (project, stage) = entry.split_once(':').unwrap_or((entry, ""));
        let (project, stage) = (project.trim(), stage.trim());
        if project.is_empty() || stage.is_empty() || !entry.contains(':') {
            return Err(PatternError(format!(
                "invalid authorized Stage {entry:?}: expected format \"<project>:<stage>\""
            )));
        }
        if project.contains('*') || stage.contains('*') {
            return Err(PatternError(format!(
                "invalid authorized Stage {entry:?}: deprecated glob expressions are no longer supported"
            )));
        }
        out.push((project.to_string(), stage.to_string()));
    }
    if out.is_empty() {
        return Err(PatternError(format!(
            "no authorized Stages found in {value:?}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_as_go() {
        assert_eq!(go_rel("configs", "configs").as_deref(), Some("."));
        assert_eq!(go_rel("configs", "configs/a/b").as_deref(), Some("a/b"));
        assert_eq!(go_rel("a/b", "a/c/d").as_deref(), Some("../c/d"));
        assert_eq!(go_rel("a/b/c", "x").as_deref(), Some("../../../x"));
        assert_eq!(go_rel("", "x/y").as_deref(), Some("x/y"));
        assert_eq!(go_rel("/a", "b"), None);
        assert_eq!(go_rel("..", "b"), None);
    }

    #[test]
    fn stage_selector_identifiers() {
        assert!(check_stage_selector("prod").is_ok());
        assert!(check_stage_selector("glob:prod-*").is_ok());
        assert!(check_stage_selector("regex:^prod").is_ok());
        let e = check_stage_selector("foo:bar").unwrap_err();
        assert!(e.0.contains("\"foo\""), "{e}");
        assert!(check_stage_selector("glob:[").is_err());
    }
}
