//! How Go prints values, wherever Kargo's behaviour depends on it: Go's
//! `strconv.Quote` (Kargo's `quote()`), and how a step's value goes into a
//! file and a commit message: `yaml.QuoteIfNecessary` (a string that Go would parse as a
//! float, a bool or JSON gets Go quotes) and `fmt`'s `%v` of a value that
//! came through `encoding/json` (every number is a float64, so `1234567`
//! prints as `1.234567e+06`).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Kargo's `QuoteIfNecessary`: a string that `strconv.ParseFloat`,
/// `strconv.ParseBool` or `json.Valid` accepts comes back Go-quoted (as a
/// string value); anything else comes back as it was.
pub fn quote_if_necessary(value: &Value) -> Value {
    match value {
        Value::String(s) if needs_go_quotes(s) => Value::String(go_quote(s)),
        other => other.clone(),
    }
}

/// Whether Kargo's `QuoteIfNecessary` would quote `s`.
pub fn needs_go_quotes(s: &str) -> bool {
    go_parse_float_ok(s) || go_parse_bool_ok(s) || json_valid(s)
}

/// `fmt.Sprintf("%v", v)` of `v` after `QuoteIfNecessary`, as Kargo writes
/// it, except where Go prints something that is not the value: `null`
/// instead of Go's `<nil>`, and objects and arrays as JSON instead of Go's
/// `map[k:v]` / `[a b]`.
pub fn go_print(value: &Value) -> String {
    match quote_if_necessary(value) {
        Value::String(s) => s,
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format_float(n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
}

/// Go's `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`, the
/// shortest digits that read back as `f`, in exponent form when the
/// exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: d.ddde±x.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = point as usize;
    if digits.len() <= point {
        format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// Go's `strconv.Quote`: double quotes; `\a \b \f \n \r \t \v \\ \"`;
/// other ASCII controls as `\xNN`; characters Go does not count as
/// printable (`unicode.IsPrint`) as `\uNNNN` / `\UNNNNNNNN`. The result is
/// also a valid YAML double-quoted scalar.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols
/// and the ASCII space.
pub fn is_printable(c: char) -> bool {
    static PRINT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").unwrap_or_else(|_| unreachable!())
    });
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let mut buf = [0u8; 4];
    PRINT.is_match(c.encode_utf8(&mut buf))
}

/// Whether Go's `strconv.ParseBool` accepts `s`.
fn go_parse_bool_ok(s: &str) -> bool {
    matches!(
        s,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    )
}

/// Whether `encoding/json`'s `Valid` accepts `s`.
fn json_valid(s: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}

/// Whether Go's `strconv.ParseFloat(s, 64)` returns no error: Go's float
/// syntax (sign; `inf`, `infinity`, `nan` in any case; decimal with
/// optional `.` and `e` exponent; hexadecimal `0x` with a required `p`
/// exponent; `_` between digits) and a finite result.
fn go_parse_float_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let (signed, body) = match b.first() {
        Some(b'+' | b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return true;
    }
    if lower == "nan" {
        return !signed;
    }
    let body = body.as_bytes();
    let hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    let mut i = if hex { 2 } else { 0 };
    let (mut saw_digits, mut saw_dot, mut underscores) = (false, false, false);
    while i < body.len() {
        let c = body[i];
        if c == b'_' {
            underscores = true;
        } else if c == b'.' && !saw_dot {
            saw_dot = true;
        } else if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw_digits = true;
        } else {
            break;
        }
        i += 1;
    }
    if !saw_digits {
        return false;
    }
    let exp_char = if hex { b'p' } else { b'e' };
    if i < body.len() && (body[i] | 0x20) == exp_char {
        i += 1;
        if matches!(body.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !body.get(i).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while i < body.len() && (body[i].is_ascii_digit() || body[i] == b'_') {
            underscores |= body[i] == b'_';
            i += 1;
        }
    } else if hex {
        return false;
    }
    if i != body.len() || (underscores && !go_underscore_ok(s)) {
        return false;
    }
    // A syntactically valid number out of float64's range is an error.
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if hex {
        hex_float_is_finite(&plain)
    } else {
        plain.parse::<f64>().is_ok_and(f64::is_finite)
    }
}

/// Go's `underscoreOK`: each `_` sits between digits (or after a base
/// prefix).
fn go_underscore_ok(s: &str) -> bool {
    let mut s = s.as_bytes();
    if let Some(b'+' | b'-') = s.first() {
        s = &s[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = (s[1] | 0x20) == b'x';
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Whether a syntactically valid Go hex float (`0x1.8p3`) is finite (to
/// within the last few binary orders of float64's range).
fn hex_float_is_finite(s: &str) -> bool {
    let s = s.trim_start_matches(['+', '-']);
    let Some((mantissa, exp)) = s[2..].split_once(['p', 'P']) else {
        return false;
    };
    let exp: i64 = exp.parse().unwrap_or(i64::MAX);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int = int.trim_start_matches('0');
    if int.is_empty() && frac.chars().all(|c| c == '0') {
        return true; // zero
    }
    // Binary exponent of the leading digit.
    let lead = if int.is_empty() {
        let zeros = frac.chars().take_while(|&c| c == '0').count() as i64;
        -4 * (zeros + 1)
    } else {
        4 * (int.len() as i64 - 1)
    };
    exp.saturating_add(lead) < 1020
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Kargo's `pkg/yaml/quote_test.go` `TestQuoteIfNecessary`, row for
    /// row: (input, expected).
    fn quote_table() -> Vec<(Value, Value)> {
        vec![
            (json!(123), json!(123)),
            (json!(123.0), json!(123.0)),
            (json!(true), json!(true)),
            (json!(false), json!(false)),
            (Value::Null, Value::Null),
            (json!("123"), json!(r#""123""#)),
            (json!("true"), json!(r#""true""#)),
            (json!("false"), json!(r#""false""#)),
            (json!("null"), json!(r#""null""#)),
            (json!("[1, 2, 3]"), json!(r#""[1, 2, 3]""#)),
            (
                json!(r#"{"key": "value"}"#),
                json!(r#""{\"key\": \"value\"}""#),
            ),
            (json!("string"), json!("string")),
        ]
    }

    #[test]
    fn kargo_quote_if_necessary_table() {
        let table = quote_table();
        assert_eq!(table.len(), 12, "rows of upstream TestQuoteIfNecessary");
        for (input, expected) in table {
            assert_eq!(quote_if_necessary(&input), expected, "{input}");
        }
    }

    #[test]
    fn go_float_syntax() {
        // Checked against Go's strconv.ParseFloat / ParseBool / json.Valid.
        for s in [
            "1_000", "0x1p-2", "inf", "+Inf", "Infinity", "nan", "NaN", "1e5", "1E5", ".5", "5.",
            "+5", "-0", "0012", "1e5_0",
        ] {
            assert!(go_parse_float_ok(s), "{s}");
        }
        for s in [
            "0x1F", ".inf", "1__0", "_1", "0b101", "0o17", " 1", "1 ", "1e", "", "1e400", "-nan",
            "infin", "0x", ".", "1._5", "1_",
        ] {
            assert!(!go_parse_float_ok(s), "{s}");
        }
        assert!(needs_go_quotes(" 1"), "json.Valid accepts white space");
        assert!(
            needs_go_quotes("1e400"),
            "out of range for ParseFloat, valid JSON"
        );
        assert!(needs_go_quotes("t") && needs_go_quotes("\"abc\""));
        assert!(!needs_go_quotes("yes") && !needs_go_quotes("0x1F") && !needs_go_quotes(".inf"));
    }

    #[test]
    fn go_float_printing() {
        // Go: fmt.Printf("%v", v) of the values json.Unmarshal gives.
        let cases = [
            (json!(42), "42"),
            (json!(1234567), "1.234567e+06"),
            (json!(123456), "123456"),
            (json!(100000), "100000"),
            (json!(1000000), "1e+06"),
            (json!(0.1), "0.1"),
            (json!(1e-5), "1e-05"),
            (json!(0.0001), "0.0001"),
            (json!(1e21), "1e+21"),
            (json!(9007199254740993u64), "9.007199254740992e+15"),
            (json!(1.5e300), "1.5e+300"),
            (json!(12345678901234567890u64), "1.2345678901234567e+19"),
            (json!(3.0), "3"),
            (json!(2.5e-7), "2.5e-07"),
            (json!(0.000123), "0.000123"),
            (json!(-1.5), "-1.5"),
            (json!(-0.0), "-0"),
        ];
        for (v, want) in cases {
            assert_eq!(go_print(&v), want, "{v}");
        }
    }

    #[test]
    fn go_quoting() {
        // Go: fmt.Printf("%q", s).
        assert_eq!(
            go_quote("a\u{0}b\u{7}\u{8}\u{b}\u{c}\u{1b}\u{7f}"),
            r#""a\x00b\a\b\v\f\x1b\x7f""#
        );
        assert_eq!(
            go_quote("é\u{a0}\u{ad}\u{200b}\u{2028}\u{feff}😀\u{e000}\u{85}"),
            r#""é\u00a0\u00ad\u200b\u2028\ufeff😀\ue000\u0085""#
        );
        assert_eq!(
            go_quote("tab\there\r\n\"q\"\\"),
            r#""tab\there\r\n\"q\"\\""#
        );
    }
}
