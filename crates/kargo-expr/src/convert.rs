//! Conversions between `serde_json::Value` (how Kargo data travels) and
//! `expr::Value` (what expr-lang evaluates), and the JSON text of a result as
//! Go's `json.Marshal` would write it (sorted keys, HTML-safe escaping, Go's
//! float notation) for template interpolation, `quote()` and `asJSON()`.

use expr::Value;
use serde_json::{Map, Number, Value as Json};
use std::fmt::Write as _;

/// Largest integer a float64 holds exactly; integral floats below it are
/// written without a fraction, as Go's `json.Marshal` does.
const EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

/// JSON data into an expr value (objects keep their key order).
pub fn to_expr(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Integer(i)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_expr).collect()),
        Json::Object(map) => Value::Map(map.iter().map(|(k, v)| (k.clone(), to_expr(v))).collect()),
    }
}

/// An expr value back into JSON. Non-finite floats become `null`, byte
/// strings become arrays of numbers, and maps with non-string keys use the
/// keys' text.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Integer(i) => Json::Number((*i).into()),
        Value::Float(f) => float_to_json(*f),
        Value::String(s) => Json::String(s.clone()),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Bytes(bytes) => Json::Array(bytes.iter().map(|b| Json::from(*b)).collect()),
        Value::Map(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::DateTime(t) => Json::String(go_time(t)),
        Value::Duration(ns) => Json::Number((*ns).into()),
        Value::Month(n) | Value::Weekday(n) => Json::Number((*n).into()),
        // Go marshals a *time.Location, which has no exported fields, as {}.
        Value::Timezone(_) => Json::Object(Map::new()),
        Value::KeyedMap(pairs) => {
            let mut out = Map::new();
            for (k, v) in pairs {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Json::Object(out)
        }
    }
}

/// A float as JSON: integral values within float64's exact range become
/// integers (`2.0` is written `2`, as Go writes it).
pub fn float_to_json(f: f64) -> Json {
    if !f.is_finite() {
        return Json::Null;
    }
    if f.fract() == 0.0 && f.abs() < EXACT_FLOAT_INT {
        return Json::Number((f as i64).into());
    }
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// A time as Go's `json.Marshal` writes a `time.Time` (RFC 3339 with
/// nanoseconds, trailing zeros dropped, `Z` for UTC).
pub fn go_time(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    let offset = t.offset().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let abs = offset.unsigned_abs();
        let sign = if offset < 0 { '-' } else { '+' };
        let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60);
    }
    out
}

/// The text an expression result contributes to a template: strings as they
/// are, everything else as Go's `json.Marshal` writes it (Kargo marshals
/// non-strings).
pub fn interpolation_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => go_json(&to_json(other), false),
    }
}

/// JSON text as Go's `encoding/json` writes it: object keys sorted, `<`, `>`,
/// `&`, U+2028 and U+2029 escaped, floats in Go's notation; `pretty` is
/// `MarshalIndent` with a two-space indent.
pub fn go_json(value: &Json, pretty: bool) -> String {
    let mut out = String::new();
    write_go_json(&mut out, value, pretty, 0);
    out
}

fn newline(out: &mut String, pretty: bool, depth: usize) {
    if pretty {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    }
}

fn write_go_json(out: &mut String, value: &Json, pretty: bool, depth: usize) {
    match value {
        Json::Null | Json::Bool(_) => out.push_str(&value.to_string()),
        Json::Number(n) => match (n.is_f64(), n.as_f64()) {
            (true, Some(f)) => out.push_str(&go_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Json::String(s) => write_go_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, pretty, depth + 1);
                write_go_json(out, item, pretty, depth + 1);
            }
            if !items.is_empty() {
                newline(out, pretty, depth);
            }
            out.push(']');
        }
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, pretty, depth + 1);
                write_go_string(out, key);
                out.push(':');
                if pretty {
                    out.push(' ');
                }
                if let Some(v) = map.get(*key) {
                    write_go_json(out, v, pretty, depth + 1);
                }
            }
            if !keys.is_empty() {
                newline(out, pretty, depth);
            }
            out.push('}');
        }
    }
}

/// A JSON string literal with Go's HTML-safe escaping.
fn write_go_string(out: &mut String, s: &str) {
    let quoted = Json::String(s.to_string()).to_string();
    for c in quoted.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

/// A float as Go's `encoding/json` writes it: plain decimal for magnitudes
/// in [1e-6, 1e21), otherwise exponent notation with a signed two-digit
/// exponent (`1e+21`, `1.5e-07`).
fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_types_and_order() {
        let data = json!({"b": 1, "a": [true, null, 1.5, "x"], "c": {"d": -3}});
        let back = to_json(&to_expr(&data));
        assert_eq!(back, data);
        assert_eq!(back.to_string(), data.to_string(), "key order is kept");
    }

    #[test]
    fn floats_are_written_like_go() {
        assert_eq!(float_to_json(2.0), json!(2));
        assert_eq!(float_to_json(1.5), json!(1.5));
        assert_eq!(float_to_json(f64::NAN), Json::Null);
        assert_eq!(interpolation_text(&Value::Float(4.0)), "4");
    }

    #[test]
    fn go_json_sorts_keys_and_escapes_html() {
        let v = json!({"b": "<a&b>", "a": [1.5, 1e21, 1.5e-7, {}], "c": {}});
        assert_eq!(
            go_json(&v, false),
            r#"{"a":[1.5,1e+21,1.5e-07,{}],"b":"\u003ca\u0026b\u003e","c":{}}"#
        );
        assert_eq!(
            go_json(&json!({"z": [1], "y": []}), true),
            "{\n  \"y\": [],\n  \"z\": [\n    1\n  ]\n}"
        );
    }

    #[test]
    fn times_marshal_like_go() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:00:00.5+02:00").ok();
        assert_eq!(
            t.as_ref().map(go_time).as_deref(),
            Some("2024-05-01T10:00:00.5+02:00")
        );
        let utc = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:00:00+00:00").ok();
        assert_eq!(
            utc.as_ref().map(go_time).as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
    }

    #[test]
    fn interpolation_marshals_non_strings() {
        assert_eq!(interpolation_text(&Value::String("a\"b".into())), "a\"b");
        assert_eq!(interpolation_text(&Value::Nil), "null");
        assert_eq!(
            interpolation_text(&to_expr(&json!({"k": [1, "v"]}))),
            r#"{"k":[1,"v"]}"#
        );
    }
}
