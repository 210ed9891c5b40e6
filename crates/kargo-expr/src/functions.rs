//! Kargo's expression functions, registered on an expr-lang environment:
//! `quote`, `unsafeQuote`, `asJSON`, `warehouse`, `commitFrom`, `imageFrom`,
//! `chartFrom`, `semverDiff`, `semverParse`, `configMap`, `secret`,
//! `freightMetadata`, `stageMetadata`, and the step-status functions
//! `success`, `failure`, `always`, `status`. Their data comes from a
//! [`Lookup`]; argument checks and messages follow Kargo's
//! `pkg/expressions/function`.

use expr::{Environment, Value};
use serde_json::{Map, Value as Json};

use crate::convert::{to_expr, to_json};
use crate::freight::{ArtifactKind, find_artifact, origin_of, origin_value};
use crate::lookup::{ALIAS_SEPARATOR, Lookup};
use crate::semver::parse_version;

/// Names of every function this module registers.
pub const FUNCTION_NAMES: &[&str] = &[
    "quote",
    "unsafeQuote",
    "asJSON",
    "warehouse",
    "commitFrom",
    "imageFrom",
    "chartFrom",
    "semverDiff",
    "semverParse",
    "configMap",
    "secret",
    "freightMetadata",
    "stageMetadata",
    "success",
    "failure",
    "always",
    "status",
];

type FnResult = Result<Value, expr::Error>;

fn fail(ident: &str, msg: impl std::fmt::Display) -> expr::Error {
    expr::Error::ExprError(format!("{ident}(): {msg}"))
}

fn arity(ident: &str, args: &[Value], min: usize, max: usize) -> Result<(), expr::Error> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min} argument{}", if min == 1 { "" } else { "s" })
        } else {
            format!("{min}-{max} arguments")
        };
        return Err(fail(ident, format!("expected {want}, got {}", args.len())));
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Bool(_) => "bool",
        Value::Integer(_) => "int",
        Value::Float(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Map(_) | Value::KeyedMap(_) => "map",
        Value::Bytes(_) => "bytes",
        #[allow(unreachable_patterns)]
        _ => "value",
    }
}

fn string_arg<'v>(
    ident: &str,
    args: &'v [Value],
    i: usize,
    what: &str,
) -> Result<&'v str, expr::Error> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(fail(
            ident,
            format!("{what} must be a string, got {}", type_name(other)),
        )),
        None => Err(fail(ident, format!("missing {what}"))),
    }
}

fn nonempty_string_arg<'v>(
    ident: &str,
    args: &'v [Value],
    what: &str,
) -> Result<&'v str, expr::Error> {
    let s = string_arg(ident, args, 0, what)?;
    if s.is_empty() {
        return Err(fail(ident, format!("{what} must not be empty")));
    }
    Ok(s)
}

fn origin_arg(ident: &str, v: &Value, position: &str) -> Result<(String, String), expr::Error> {
    if let Value::Map(_) = v
        && let Some(o) = origin_of(&to_json(v))
    {
        return Ok(o);
    }
    Err(fail(
        ident,
        format!(
            "{position} argument must be a FreightOrigin (from warehouse(\"name\")), got {}",
            type_name(v)
        ),
    ))
}

/// Go's `strconv.Quote`, which Kargo's `quote()` applies to strings.
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
            c if c.is_control() => {
                let n = c as u32;
                if n < 0x80 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unsafe_quote(v: &Value) -> String {
    format!("\"{}\"", to_json(v))
}

fn metadata(map: Option<Map<String, Json>>, key: Option<&str>) -> FnResult {
    Ok(match (map, key) {
        (None, _) => Value::Nil,
        (Some(m), None) => to_expr(&Json::Object(m)),
        (Some(m), Some(k)) => m.get(k).map_or(Value::Nil, to_expr),
    })
}

fn string_map(m: Option<std::collections::BTreeMap<String, String>>) -> Value {
    Value::Map(
        m.unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

fn semver_diff(a: &str, b: &str) -> &'static str {
    let (Some(x), Some(y)) = (parse_version(a, false), parse_version(b, false)) else {
        return "Incomparable";
    };
    if x.major != y.major {
        "Major"
    } else if x.minor != y.minor {
        "Minor"
    } else if x.patch != y.patch {
        "Patch"
    } else if x.build != y.build {
        "Metadata"
    } else {
        "None"
    }
}

fn semver_object(input: &str) -> Option<Json> {
    let v = parse_version(input, false)?;
    Some(serde_json::json!({
        "Major": v.major,
        "Minor": v.minor,
        "Patch": v.patch,
        "Prerelease": v.pre.as_str(),
        "Metadata": v.build.as_str(),
        "Original": input,
        "String": v.to_string(),
    }))
}

fn step_has_failures(lookup: &dyn Lookup) -> bool {
    lookup
        .step_statuses()
        .iter()
        .any(|s| s.status == "Failed" || s.status == "Errored")
}

fn split_alias(alias: &str) -> (&str, &str) {
    match alias.split_once(ALIAS_SEPARATOR) {
        Some((ns, short)) if !short.contains(ALIAS_SEPARATOR) => (ns, short),
        _ => ("", alias),
    }
}

fn artifact_from(lookup: &dyn Lookup, kind: ArtifactKind, ident: &str, args: &[Value]) -> FnResult {
    let max = if kind == ArtifactKind::Chart { 3 } else { 2 };
    arity(ident, args, 1, max)?;
    let repo = string_arg(ident, args, 0, "first argument")?;
    let mut chart_name = None;
    let mut origin = None;
    if let Some(second) = args.get(1) {
        match second {
            Value::String(name) if kind == ArtifactKind::Chart => chart_name = Some(name.as_str()),
            other => origin = Some(origin_arg(ident, other, "second")?),
        }
    }
    if let Some(third) = args.get(2) {
        if chart_name.is_none() {
            return Err(fail(
                ident,
                "with three arguments, the second must be the chart name",
            ));
        }
        origin = Some(origin_arg(ident, third, "third")?);
    }
    match find_artifact(
        lookup.freight_collection(),
        kind,
        repo,
        chart_name,
        origin.as_ref(),
    ) {
        Ok(Some(found)) => Ok(to_expr(&found)),
        Ok(None) => Ok(Value::Nil),
        Err(msg) => Err(fail(ident, msg)),
    }
}

/// Registers every Kargo function on `env`, reading data through `lookup`.
pub fn register<'a>(env: &mut Environment<'a>, lookup: &'a dyn Lookup) {
    env.add_function("quote", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        Ok(Value::String(match &c.args[0] {
            Value::String(s) => go_quote(s),
            other => unsafe_quote(other),
        }))
    });
    env.add_function("unsafeQuote", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        Ok(Value::String(unsafe_quote(&c.args[0])))
    });
    env.add_function("asJSON", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let pretty =
            serde_json::to_string_pretty(&to_json(&c.args[0])).map_err(|e| fail(&c.ident, e))?;
        Ok(Value::String(format!("\"{pretty}\n\"")))
    });
    env.add_function("warehouse", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = nonempty_string_arg(&c.ident, &c.args, "name")?;
        Ok(to_expr(&origin_value(name)))
    });
    env.add_function("commitFrom", move |c| {
        artifact_from(lookup, ArtifactKind::Commit, &c.ident, &c.args)
    });
    env.add_function("imageFrom", move |c| {
        artifact_from(lookup, ArtifactKind::Image, &c.ident, &c.args)
    });
    env.add_function("chartFrom", move |c| {
        artifact_from(lookup, ArtifactKind::Chart, &c.ident, &c.args)
    });
    env.add_function("semverDiff", |c| {
        arity(&c.ident, &c.args, 2, 2)?;
        let a = string_arg(&c.ident, &c.args, 0, "first argument")?;
        let b = string_arg(&c.ident, &c.args, 1, "second argument")?;
        Ok(Value::String(semver_diff(a, b).to_string()))
    });
    env.add_function("semverParse", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let s = string_arg(&c.ident, &c.args, 0, "argument")?;
        semver_object(s)
            .map(|o| to_expr(&o))
            .ok_or_else(|| fail(&c.ident, format!("invalid semantic version {s:?}")))
    });
    env.add_function("configMap", move |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = string_arg(&c.ident, &c.args, 0, "argument")?;
        Ok(string_map(lookup.config_map(name)))
    });
    env.add_function("secret", move |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = string_arg(&c.ident, &c.args, 0, "argument")?;
        Ok(string_map(lookup.secret(name)))
    });
    env.add_function("freightMetadata", move |c| {
        arity(&c.ident, &c.args, 1, 2)?;
        let name = nonempty_string_arg(&c.ident, &c.args, "freight name")?;
        let key = match c.args.get(1) {
            Some(_) => Some(string_arg(&c.ident, &c.args, 1, "key")?),
            None => None,
        };
        metadata(lookup.freight_metadata(name), key)
    });
    env.add_function("stageMetadata", move |c| {
        arity(&c.ident, &c.args, 1, 2)?;
        let name = nonempty_string_arg(&c.ident, &c.args, "stage name")?;
        let key = match c.args.get(1) {
            Some(_) => Some(string_arg(&c.ident, &c.args, 1, "key")?),
            None => None,
        };
        metadata(lookup.stage_metadata(name), key)
    });
    env.add_function("always", |c| {
        arity(&c.ident, &c.args, 0, 0)?;
        Ok(Value::Bool(true))
    });
    env.add_function("failure", move |c| {
        arity(&c.ident, &c.args, 0, 0)?;
        Ok(Value::Bool(step_has_failures(lookup)))
    });
    env.add_function("success", move |c| {
        arity(&c.ident, &c.args, 0, 0)?;
        Ok(Value::Bool(!step_has_failures(lookup)))
    });
    env.add_function("status", move |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let alias = nonempty_string_arg(&c.ident, &c.args, "argument")?;
        let (current_ns, _) = split_alias(lookup.current_step_alias());
        let status = lookup
            .step_statuses()
            .iter()
            .find(|s| split_alias(&s.alias) == (current_ns, alias))
            .map_or(String::new(), |s| s.status.clone());
        Ok(Value::String(status))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes_like_strconv() {
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(go_quote("\u{1}é"), "\"\\x01é\"");
    }

    #[test]
    fn semver_diff_levels() {
        assert_eq!(semver_diff("1.2.3", "2.0.0"), "Major");
        assert_eq!(semver_diff("v1.2.3", "1.3.0"), "Minor");
        assert_eq!(semver_diff("1.2.3", "1.2.4"), "Patch");
        assert_eq!(semver_diff("1.2.3+a", "1.2.3+b"), "Metadata");
        assert_eq!(semver_diff("1.2.3-rc.1", "1.2.3-rc.2"), "None");
        assert_eq!(semver_diff("1.2", "1.2.0"), "None");
        assert_eq!(semver_diff("latest", "1.2.3"), "Incomparable");
    }

    #[test]
    fn aliases_split_on_task_separator() {
        assert_eq!(split_alias("task-1::step"), ("task-1", "step"));
        assert_eq!(split_alias("step"), ("", "step"));
    }
}
