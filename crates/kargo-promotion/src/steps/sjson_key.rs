//! Kargo's key syntax for `yaml-update` (its `pkg/sjson.SplitKey`, the
//! tidwall/sjson path rules): parts are separated by `.`; `\.` is a dot and
//! `\:` a colon inside a part; an unescaped `:` may only open a part (sjson's
//! hint that a numeric-looking part is a mapping key) and is dropped, as
//! Kargo drops it. Surrounding white space is trimmed.

/// Why a key could not be split; the messages are Kargo's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing but white space.
    #[error("empty key")]
    Empty,
    /// A part with no characters (`.a`, `a.`, `a..b`).
    #[error("empty key part in key {0:?}")]
    EmptyPart(String),
    /// A backslash not followed by `.` or `:`.
    #[error("invalid escape sequence in key {0:?}")]
    InvalidEscape(String),
    /// An unescaped `:` after the first character of a part.
    #[error("unexpected colon in key {0:?}")]
    UnexpectedColon(String),
}

/// Splits `key` into its parts.
pub fn split_key(key: &str) -> Result<Vec<String>, KeyError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in key.chars() {
        if escaped {
            match c {
                '.' | ':' => current.push(c),
                _ => return Err(KeyError::InvalidEscape(key.to_string())),
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '.' => {
                if current.is_empty() {
                    return Err(KeyError::EmptyPart(key.to_string()));
                }
                parts.push(std::mem::take(&mut current));
            }
            ':' if !current.is_empty() => {
                return Err(KeyError::UnexpectedColon(key.to_string()));
            }
            // A leading colon: a hint only, not kept.
            ':' => {}
            _ => current.push(c),
        }
    }
    // A trailing backslash escapes nothing and is dropped, as in Kargo.
    if current.is_empty() {
        return Err(KeyError::EmptyPart(key.to_string()));
    }
    parts.push(current);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kargo's `pkg/sjson/split_key_test.go` `TestSplitKey`, row for row:
    /// (name, key, parts, error substring).
    const SPLIT_KEY: &[(&str, &str, &[&str], &str)] = &[
        ("empty key", "", &[], "empty key"),
        ("starts with dot", ".foo", &[], "empty key part in key"),
        ("ends with dot", "foo.", &[], "empty key part in key"),
        ("double dots", "foo..bar", &[], "empty key part in key"),
        (
            "invalid escape sequence",
            r"foo\nbar",
            &[],
            "invalid escape sequence",
        ),
        (
            "invalid use of colon",
            "foo:bar",
            &[],
            "unexpected colon in key",
        ),
        (
            "basic split",
            "foo.bar.bat.baz",
            &["foo", "bar", "bat", "baz"],
            "",
        ),
        (
            "split key with escaped dots",
            r"foo\.bar.bat\.baz",
            &["foo.bar", "bat.baz"],
            "",
        ),
        (
            "split key with escaped colon",
            r"foo.bar\:bat.baz",
            &["foo", "bar:bat", "baz"],
            "",
        ),
        (
            "split key with unescaped colon",
            "foo.bar.:2.baz",
            &["foo", "bar", "2", "baz"],
            "",
        ),
    ];

    #[test]
    fn kargo_split_key_table() {
        assert_eq!(SPLIT_KEY.len(), 10, "rows of upstream TestSplitKey");
        for (name, key, parts, err) in SPLIT_KEY {
            match split_key(key) {
                Ok(got) if err.is_empty() => assert_eq!(got, *parts, "{name}"),
                Ok(got) => panic!("{name}: expected an error containing {err:?}, got {got:?}"),
                Err(e) => assert!(
                    !err.is_empty() && e.to_string().contains(err),
                    "{name}: {e}"
                ),
            }
        }
    }

    #[test]
    fn white_space_is_trimmed_and_a_trailing_backslash_is_dropped() {
        assert_eq!(
            split_key("  image.tag \n"),
            Ok(vec!["image".into(), "tag".into()])
        );
        assert_eq!(split_key("   "), Err(KeyError::Empty));
        assert_eq!(split_key(r"a\"), Ok(vec!["a".into()]));
        assert_eq!(split_key(r"\"), Err(KeyError::EmptyPart(r"\".into())));
        assert_eq!(
            split_key(r"example\.com/version"),
            Ok(vec!["example.com/version".into()])
        );
    }
}
