//! Credentials out of text: the one helper every status message, Event,
//! log line and error passes URLs through, so `https://user:pass@host`
//! never reaches the API, the log or a terminal. The whole userinfo goes
//! (a lone user name is often a token: `https://ghp_…@github.com`); what a
//! URL points at stays readable.

/// What replaces a URL's userinfo.
pub const MASK: &str = "xxxxx";

/// Characters that end a URL inside free text (whitespace and quotes).
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '<' | '>')
}

/// Every `scheme://userinfo@host…` in `text`, with the userinfo replaced
/// by [`MASK`]. A URL that does not parse but carries an `@` loses
/// everything between `://` and its last `@` (a password may hold `/`,
/// `?` or `#` that end the authority early).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(ends_url).unwrap_or(tail.len());
        let token = &tail[..end];
        let authority_end = token.find(['/', '?', '#']).unwrap_or(token.len());
        let scheme_start = head[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |p| p + 1);
        let whole = format!("{}{}", &head[scheme_start..], token);
        let at = match token[..authority_end].rfind('@') {
            Some(at) => Some(at),
            None if url::Url::parse(&whole).is_err() => token.rfind('@'),
            None => None,
        };
        match at {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&token[at..]);
            }
            None => out.push_str(token),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// One URL value for a message: credentials masked when it parses; when it
/// does not, only its scheme is shown, never the whole string (it may be a
/// mistyped `user:pa ss@host`).
pub fn redact_url(url: &str) -> String {
    // `user:secret@host` parses (scheme `user`, opaque path): not a URL we can mask.
    if url::Url::parse(url).is_ok() && (url.contains("://") || !url.contains('@')) {
        return redact(url);
    }
    match url.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            format!("{scheme}://<unparseable URL>")
        }
        _ => "<unparseable URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rows() {
        let rows: &[(&str, &str)] = &[
            (
                "fatal: unable to access 'https://bob:s3cret@git.example.com/r.git/': 403",
                "fatal: unable to access 'https://xxxxx@git.example.com/r.git/': 403",
            ),
            // A lone user name is masked too: it is often a token.
            (
                "GET https://ghp_abc123@github.com/o/r failed",
                "GET https://xxxxx@github.com/o/r failed",
            ),
            ("http://u:p@h:8080", "http://xxxxx@h:8080"),
            (
                "two: https://a:b@x/1 and oci://c:d@y/2",
                "two: https://xxxxx@x/1 and oci://xxxxx@y/2",
            ),
            // '@' in a path of a URL that parses is not userinfo.
            (
                "https://example.com/pkg@v1.2.3",
                "https://example.com/pkg@v1.2.3",
            ),
            // A password holding '/' does not parse: everything up to the last '@' goes.
            ("https://u:pa/ss@host/x", "https://xxxxx@host/x"),
            ("https://u:p#w@host/x", "https://xxxxx@host/x"),
            ("file:///tmp/a.git", "file:///tmp/a.git"),
            ("no url here", "no url here"),
            ("", ""),
            // Query-string tokens are out of scope: left as they are.
            ("https://h/x?token=abc", "https://h/x?token=abc"),
            ("\"https://u:p@h\"", "\"https://xxxxx@h\""),
        ];
        assert_eq!(rows.len(), 12);
        for (input, want) in rows {
            assert_eq!(&redact(input), want, "input {input:?}");
            assert!(!redact(input).contains("s3cret"));
        }
    }

    #[test]
    fn url_rows() {
        assert_eq!(
            redact_url("https://user:pass@example.com/x"),
            "https://xxxxx@example.com/x"
        );
        assert_eq!(
            redact_url("https://user@example.com"),
            "https://xxxxx@example.com"
        );
        assert_eq!(redact_url("https://example.com/a"), "https://example.com/a");
        // Unparseable: never echoed whole.
        let bad = "https://user:pa ss@exa mple.com";
        let shown = redact_url(bad);
        assert_eq!(shown, "https://<unparseable URL>");
        assert!(!shown.contains("pa ss") && !shown.contains("user"));
        assert_eq!(redact_url("user:secret@host"), "<unparseable URL>");
        assert_eq!(redact_url(""), "<unparseable URL>");
    }
}
