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

/// Characters with a meaning inside a globset class, depending on where
/// they stand; they are emitted on their own, in safe positions.
const CLASS_SPECIALS: [char; 5] = [']', '-', '[', '!', '^'];

/// Reads a doublestar class body (after `[`) from `chars` and returns its
/// globset spelling, `[...]` or an alternation. doublestar allows `\`
/// escapes in classes and reads `a-b-d` as a range then `-`, `d`; globset
/// takes `\` literally and places `]`, `-`, `!` by position, so the
/// members are re-spelt, not copied.
fn translate_class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let negate = matches!(chars.peek(), Some('!' | '^'));
    if negate {
        chars.next();
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut last: Option<char> = None;
    loop {
        let c = chars.next().ok_or("unclosed character class")?;
        match c {
            ']' if !ranges.is_empty() || last.is_some() => break,
            '-' if last.is_some() && chars.peek().is_some_and(|n| *n != ']') => {
                let mut hi = chars.next().ok_or("unclosed character class")?;
                if hi == '\\' {
                    hi = chars.next().ok_or("unclosed character class")?;
                }
                let lo = last.take().unwrap_or(hi);
                if lo > hi {
                    return Err(format!("invalid range {lo}-{hi} in a character class"));
                }
                ranges.pop();
                ranges.push((lo, hi));
            }
            '\\' => {
                let e = chars.next().ok_or("unclosed character class")?;
                ranges.push((e, e));
                last = Some(e);
            }
            c => {
                ranges.push((c, c));
                last = Some(c);
            }
        }
    }
    // Split the specials out of every range.
    let mut plain: Vec<(char, char)> = Vec::new();
    let mut specials: Vec<char> = Vec::new();
    for (lo, hi) in ranges {
        let mut start = lo as u32;
        for sp in CLASS_SPECIALS
            .iter()
            .map(|c| *c as u32)
            .filter(|c| (lo as u32..=hi as u32).contains(c))
        {
            if start < sp {
                plain.push((
                    char::from_u32(start).unwrap_or(lo),
                    char::from_u32(sp - 1).unwrap_or(lo),
                ));
            }
            let sc = char::from_u32(sp).unwrap_or(lo);
            if !specials.contains(&sc) {
                specials.push(sc);
            }
            start = sp + 1;
        }
        if start <= hi as u32 {
            plain.push((char::from_u32(start).unwrap_or(hi), hi));
        }
    }
    plain.sort();
    let has = |c: char| specials.contains(&c);
    let only_bang_caret = plain.is_empty() && specials.iter().all(|c| matches!(c, '!' | '^'));
    if !negate && only_bang_caret {
        let alts: Vec<String> = specials.iter().map(|c| format!("\\{c}")).collect();
        return Ok(format!("{{{}}}", alts.join(",")));
    }
    // `]` is literal first, `-` first or last, `[` anywhere not before `:`;
    // `!`/`^` must not come first in a class that is not negated.
    let lead = if has(']') {
        Some(']')
    } else if !negate && plain.is_empty() {
        Some(if has('-') { '-' } else { '[' })
    } else {
        None
    };
    let mut out = String::from(if negate { "[!" } else { "[" });
    out.extend(lead);
    for (lo, hi) in &plain {
        out.push(*lo);
        if lo != hi {
            out.push('-');
            out.push(*hi);
        }
    }
    for c in ['!', '^', '[', '-'] {
        if has(c) && lead != Some(c) {
            out.push(c);
        }
    }
    out.push(']');
    Ok(out)
}

/// The globset spelling of a (validated) doublestar pattern.
fn translate(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            '[' => out.push_str(&translate_class(&mut chars)?),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn compile(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(&translate(pattern)?)
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
        // doublestar: a trailing `/**` (or `/**/`) also matches the
        // directory itself.
        if let Some(dir) = pattern
            .strip_suffix("/**")
            .or_else(|| pattern.strip_suffix("/**/"))
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
        // Classes re-spelt for globset: escapes, `-` after a range, `!`,
        // `^` and `[` as members, no POSIX classes.
        assert!(matches("[\\!]", "!") && !matches("[\\!]", "a"));
        assert!(matches("[\\^\\!]", "^") && !matches("[\\^\\!]", "a"));
        assert!(matches("[!!]", "a") && !matches("[!!]", "!"));
        assert!(matches("[[:a]", ":") && !matches("[[:a]", "b"));
        assert!(matches("[a-c\\]]", "]") && matches("[a-c\\]]", "b"));
        assert!(matches("[\\[-]", "-") && matches("[\\[-]", "["));
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
