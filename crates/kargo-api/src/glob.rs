//! The one glob matcher, on `globset`, with the doublestar semantics of
//! Kargo's `pkg/pattern` (bmatcuk/doublestar v4): `*` and `?` stay within a
//! path segment, `**` as a whole segment spans segments (and `a/**` matches
//! `a` itself), `[a-z]`/`[!a-z]` classes, `{yaml,yml}` alternation (nested
//! too), `\` escapes. Used for `glob:` path filters and Stage selectors.
//! Names contain no `/`, so for them `*` simply matches anything.

use globset::{GlobBuilder, GlobMatcher};

/// Why a glob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid glob pattern {pattern:?}: {reason}")]
pub struct GlobError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A compiled glob.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    matchers: Vec<GlobMatcher>,
}

/// doublestar's `ValidatePattern`: a trailing `\`, an unclosed or empty
/// class, or unbalanced braces make a pattern invalid.
fn doublestar_check(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 1;
                if i >= b.len() {
                    return Err("dangling escape '\\' at the end");
                }
            }
            b'[' => {
                i += 1;
                if i < b.len() && (b[i] == b'^' || b[i] == b'!') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b']' {
                    return Err("unclosed or empty character class");
                }
                loop {
                    if i >= b.len() {
                        return Err("unclosed character class");
                    }
                    if b[i] == b'\\' {
                        i += 1;
                    } else if b[i] == b']' {
                        break;
                    }
                    i += 1;
                }
            }
            b'{' => depth += 1,
            b'}' => {
                if depth == 0 {
                    return Err("'}' without a matching '{'");
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    if depth == 0 {
        Ok(())
    } else {
        Err("'{' without a matching '}'")
    }
}

fn compile(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

impl Glob {
    /// Compiles `pattern`, refusing what doublestar refuses.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let fail = |reason: String| GlobError {
            pattern: pattern.to_string(),
            reason,
        };
        doublestar_check(pattern).map_err(|r| fail(r.to_string()))?;
        let mut matchers = vec![compile(pattern).map_err(fail)?];
        // doublestar: a trailing `/**` also matches the directory itself.
        if let Some(dir) = pattern.strip_suffix("/**")
            && !dir.is_empty()
        {
            matchers.push(compile(dir).map_err(fail)?);
        }
        Ok(Glob {
            pattern: pattern.to_string(),
            matchers,
        })
    }

    /// Whether `text` matches in full.
    pub fn is_match(&self, text: &str) -> bool {
        self.matchers.iter().any(|m| m.is_match(text))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

/// Whether `text` matches `glob` in full; an invalid glob matches nothing.
pub fn matches(glob: &str, text: &str) -> bool {
    Glob::new(glob).is_ok_and(|g| g.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_literals() {
        assert!(matches("charts/**/values.yaml", "charts/a/b/values.yaml"));
        assert!(matches("charts/**/values.yaml", "charts/values.yaml"));
        assert!(!matches("charts/*/values.yaml", "charts/a/b/values.yaml"));
        assert!(matches("charts/*/values.yaml", "charts/a/values.yaml"));
        assert!(matches("prod-*", "prod-us"));
        assert!(matches("*", "my-web-app"));
        assert!(matches("stage-?", "stage-1"));
        assert!(!matches("stage-?", "stage-10"));
        assert!(!matches("a.b", "axb"), "dots are literal");
        assert!(!matches("prod", "prod-us"), "anchored");
        assert!(matches("a/**", "a"), "doublestar: a/** matches a");
        assert!(matches("a/**", "a/b/c"));
        assert!(matches("{a,{b,c}}x", "cx"), "nested alternation");
        assert!(matches("a{,b}", "a"), "empty alternative");
        assert!(matches("[!a]", "b"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "x"));
    }

    #[test]
    fn refusals_name_the_problem() {
        // `[z-a]`: doublestar accepts it and never matches; globset refuses
        // it (a documented difference).
        for bad in ["[", "[]", "[!]", "a\\", "{a,b", "a}", "[a-", "[z-a]"] {
            let e = Glob::new(bad).expect_err(bad);
            assert_eq!(e.pattern, bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
