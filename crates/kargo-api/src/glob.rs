//! Glob patterns as Kargo users write them: `glob:` path filters, `glob:`
//! Stage selectors in ProjectConfig policies, and the
//! `kargo.akuity.io/authorized-stage` annotation. `*` matches within one
//! path segment, `**` across segments, `?` one character (not `/`);
//! everything else is literal. Names contain no `/`, so for them `*`
//! simply matches anything.

/// The anchored regular expression equivalent to `glob`.
pub fn to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

/// Whether `text` matches `glob` in full.
pub fn matches(glob: &str, text: &str) -> bool {
    regex::Regex::new(&to_regex(glob)).is_ok_and(|r| r.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_literals() {
        assert!(matches("charts/**/values.yaml", "charts/a/b/values.yaml"));
        assert!(!matches("charts/*/values.yaml", "charts/a/b/values.yaml"));
        assert!(matches("charts/*/values.yaml", "charts/a/values.yaml"));
        assert!(matches("prod-*", "prod-us"));
        assert!(matches("*", "my-web-app"));
        assert!(matches("stage-?", "stage-1"));
        assert!(!matches("stage-?", "stage-10"));
        assert!(!matches("a.b", "axb"), "dots are literal");
        assert!(!matches("prod", "prod-us"), "anchored");
    }
}
