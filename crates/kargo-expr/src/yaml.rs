//! YAML text as Go's `gopkg.in/yaml.v3` `Marshal` writes it, for Kargo's
//! `asYAML()`: four-space indentation (a mapping inside a sequence item
//! starts after `-   `), map keys in yaml.v3's natural order (`a2` before
//! `a10`), strings plain when they read back as strings, double-quoted when
//! they would read as another type (`"true"`, `"42"`, `""`), single-quoted
//! when plain style cannot hold them (`'a: b'`), literal blocks for text
//! with newlines.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

const INDENT: usize = 4;

/// The YAML document for `value`, ending in a newline.
pub fn go_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_block(&mut out, value, 0, false),
        Value::Array(a) if !a.is_empty() => write_block(&mut out, value, 0, false),
        scalar => {
            write_scalar(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// Writes the entries of a non-empty map or list at column `col`; with
/// `inline`, the first entry continues the current line (already padded).
fn write_block(out: &mut String, value: &Value, col: usize, inline: bool) {
    let pad = " ".repeat(col);
    let mut first = true;
    let mut start_line = |out: &mut String| {
        if !(first && inline) {
            out.push_str(&pad);
        }
        first = false;
    };
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| natural_cmp(a, b));
            for key in keys {
                start_line(out);
                write_string(out, key, col);
                out.push(':');
                let v = &map[key.as_str()];
                write_entry_value(out, v, col);
            }
        }
        Value::Array(items) => {
            for item in items {
                start_line(out);
                out.push('-');
                if is_block(item) {
                    out.push_str(&" ".repeat(INDENT - 1));
                    write_block(out, item, col + INDENT, true);
                } else {
                    out.push(' ');
                    write_scalar(out, item, col);
                    out.push('\n');
                }
            }
        }
        _ => {}
    }
}

fn write_entry_value(out: &mut String, v: &Value, col: usize) {
    if is_block(v) {
        out.push('\n');
        write_block(out, v, col + INDENT, false);
    } else {
        out.push(' ');
        write_scalar(out, v, col);
        out.push('\n');
    }
}

/// A scalar (or an empty map/list) on the current line; literal blocks'
/// lines go one indent deeper than `col`.
fn write_scalar(out: &mut String, v: &Value, col: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.is_f64(), n.as_f64()) {
            (true, Some(f)) => out.push_str(&go_g_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_string(out, s, col),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` as yaml.v3 writes floats.
fn go_g_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-4..1e21).contains(&abs) {
        return format!("{f}");
    }
    let text = format!("{f:e}");
    let Some((mantissa, exp)) = text.split_once('e') else {
        return text;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

static NUMBER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?0x[0-9a-fA-F_]+|[-+]?0o?[0-7_]+|[-+]?0b[01_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .unwrap_or_else(|e| panic!("built-in regex: {e}"))
});
static BASE60_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
        .unwrap_or_else(|e| panic!("built-in regex: {e}"))
});

/// Whether yaml.v3 would read `s` back as something other than a string
/// (or treats it as a YAML 1.1 bool or base-60 number), so it must be
/// double-quoted.
fn needs_double_quotes(s: &str) -> bool {
    matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "<<"
    ) || NUMBER_RE.is_match(s)
        || BASE60_RE.is_match(s)
}

/// Whether libyaml's emitter can write `s` as a plain scalar.
fn plain_allowed(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    let second = s.chars().nth(1);
    if matches!(first, '-' | '?' | ':') && second.is_none_or(|c| c == ' ') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains('\t') {
        return false;
    }
    s.chars().all(|c| !c.is_control() && c != '\u{feff}')
}

fn write_string(out: &mut String, s: &str, col: usize) {
    if s.contains('\n') {
        write_literal(out, s, col);
    } else if needs_double_quotes(s) || s.chars().any(|c| c.is_control()) {
        out.push_str(&double_quoted(s));
    } else if plain_allowed(s) {
        out.push_str(s);
    } else {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal block (`|`, `|-` or `|+` by trailing newlines) with its lines
/// one indent deeper than `col`.
fn write_literal(out: &mut String, s: &str, col: usize) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push('|');
    if s.starts_with(' ') {
        out.push_str(&INDENT.to_string());
    }
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let pad = " ".repeat(col + INDENT);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// yaml.v3's key order: letters compare as characters, runs of digits as
/// numbers, a letter sorts before a digit after digits and after one
/// otherwise.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut digits = false;
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            digits = ar[i].is_ascii_digit();
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            let a_first = if digits { al } else { bl };
            return if a_first {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i128, 0i128);
        if ar[i] == '0' || br[i] == '0' {
            for j in (0..i).rev() {
                if !ar[j].is_ascii_digit() {
                    break;
                }
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.saturating_mul(10) + i128::from(ar[ai] as u8 - b'0');
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.saturating_mul(10) + i128::from(br[bi] as u8 - b'0');
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_and_lists_like_yaml_v3() {
        assert_eq!(go_yaml(&json!(["one", "two"])), "- one\n- two\n");
        assert_eq!(
            go_yaml(&json!({"foo": "bar", "count": 2})),
            "count: 2\nfoo: bar\n"
        );
        assert_eq!(
            go_yaml(&json!({"a": {"b": [1, {"c": "d", "e": []}]}})),
            "a:\n    b:\n        - 1\n        -   c: d\n            e: []\n"
        );
        assert_eq!(go_yaml(&json!({})), "{}\n");
        assert_eq!(go_yaml(&json!("x")), "x\n");
    }

    #[test]
    fn strings_quoted_only_when_needed() {
        let y = go_yaml(&json!({
            "a": "true", "b": "42", "c": "", "d": "a: b", "e": "it's", "f": "- x",
            "g": "line1\nline2", "h": "end\n", "i": "1.5e3", "j": "yes", "k": "plain text",
        }));
        assert_eq!(
            y,
            "a: \"true\"\nb: \"42\"\nc: \"\"\nd: 'a: b'\ne: it's\nf: '- x'\ng: |-\n    line1\n    line2\nh: |\n    end\ni: \"1.5e3\"\nj: \"yes\"\nk: plain text\n"
        );
    }

    #[test]
    fn keys_sort_naturally() {
        let mut keys = vec!["a10", "a2", "b", "a1", "A"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(keys, vec!["A", "a1", "a2", "a10", "b"]);
    }
}
