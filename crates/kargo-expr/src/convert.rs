//! Conversions between `serde_json::Value` (how Kargo data travels) and
//! `expr::Value` (what expr-lang evaluates), and the JSON text of a result as
//! Go's `json.Marshal` would write it for template interpolation.

use expr::Value;
use serde_json::{Map, Number, Value as Json};

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
        #[allow(unreachable_patterns)]
        other => Json::String(other.to_string()),
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

/// The text an expression result contributes to a template: strings as they
/// are, everything else as compact JSON (Kargo marshals non-strings).
pub fn interpolation_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => to_json(other).to_string(),
    }
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
    fn interpolation_marshals_non_strings() {
        assert_eq!(interpolation_text(&Value::String("a\"b".into())), "a\"b");
        assert_eq!(interpolation_text(&Value::Nil), "null");
        assert_eq!(
            interpolation_text(&to_expr(&json!({"k": [1, "v"]}))),
            r#"{"k":[1,"v"]}"#
        );
    }
}
