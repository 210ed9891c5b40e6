//! Kargo's expression functions in one expr-lang function table, built
//! once and shared by every evaluation ([`table`]): expr-lang's built-ins,
//! then `quote`, `unsafeQuote`, `asJSON`, `asYAML`, `warehouse`, `commitFrom`,
//! `imageFrom`, `chartFrom`, `semverDiff`, `semverParse`, `configMap`,
//! `secret`, `freightMetadata`, `freightStatus`, `stageMetadata`, and the
//! step-status functions
//! `success`, `failure`, `always`, `status`. Their data comes from the
//! [`Lookup`] of the evaluation running on the thread
//! ([`crate::current_lookup`]); argument checks and messages follow Kargo's
//! `pkg/expressions/function`.

use std::sync::LazyLock;

use expr::{Environment, Value};
use serde_json::{Map, Value as Json};

use crate::convert::{go_json, to_expr, to_json};
use crate::current_lookup::lookup;
use crate::freight::{ArtifactKind, find_artifact, origin_of, origin_value};
use crate::lookup::{ALIAS_SEPARATOR, Lookup};
use crate::semver::parse_version;
use crate::yaml::go_yaml;

/// Names of every function this module registers.
pub const FUNCTION_NAMES: &[&str] = &[
    "quote",
    "unsafeQuote",
    "asJSON",
    "asYAML",
    "warehouse",
    "commitFrom",
    "imageFrom",
    "chartFrom",
    "semverDiff",
    "semverParse",
    "configMap",
    "secret",
    "freightMetadata",
    "freightStatus",
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
        Value::DateTime(_) => "time",
        Value::Duration(_) => "duration",
        Value::Timezone(_) => "timezone",
        Value::Month(_) => "month",
        Value::Weekday(_) => "weekday",
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
            format!("{what} must be string, got {}", type_name(other)),
        )),
        None => Err(fail(ident, format!("missing {what}"))),
    }
}

/// The single string argument of a one-argument function; `what` names it
/// in the "must be string" message and `empty` in the "must not be empty"
/// one, as Kargo words them.
fn nonempty_string_arg<'v>(
    ident: &str,
    args: &'v [Value],
    what: &str,
    empty: &str,
) -> Result<&'v str, expr::Error> {
    let s = string_arg(ident, args, 0, what)?;
    if s.is_empty() {
        return Err(fail(ident, format!("{empty} must not be empty")));
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
            "{position} argument must be FreightOrigin (from warehouse(\"name\")), got {}",
            type_name(v)
        ),
    ))
}

fn unsafe_quote(v: &Value) -> String {
    format!("\"{}\"", go_json(&to_json(v), false))
}

/// `status.metadata` as Kargo's functions return it: nil when the object
/// does not exist or has no metadata.
fn metadata(map: Option<Map<String, Json>>) -> Value {
    match map {
        Some(m) if !m.is_empty() => to_expr(&Json::Object(m)),
        _ => Value::Nil,
    }
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

/// Status of the step `alias` in the current step's PromotionTask (or
/// outside any), empty if it has not run.
fn step_status(lookup: &dyn Lookup, alias: &str) -> String {
    let (current_ns, _) = split_alias(lookup.current_step_alias());
    lookup
        .step_statuses()
        .iter()
        .find(|s| split_alias(&s.alias) == (current_ns, alias))
        .map_or(String::new(), |s| s.status.clone())
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
            Value::Map(_) => origin = Some(origin_arg(ident, second, "second")?),
            other if kind == ArtifactKind::Chart => {
                return Err(fail(
                    ident,
                    format!(
                        "second argument must be string or FreightOrigin, got {}",
                        type_name(other)
                    ),
                ));
            }
            other => origin = Some(origin_arg(ident, other, "second")?),
        }
    }
    if let Some(third) = args.get(2) {
        if chart_name.is_none() {
            return Err(fail(
                ident,
                format!(
                    "when using three arguments, second argument must be string, got {}",
                    args.get(1).map_or("nil", type_name)
                ),
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

/// expr-lang's built-ins and Kargo's functions, built on first use.
static TABLE: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    register(&mut env);
    env
});

/// The function table every evaluation shares. The functions that read
/// data call [`Lookup`]s through [`crate::current_lookup`], so an
/// evaluation runs its programs inside
/// [`with_lookup`](crate::current_lookup::with_lookup).
pub fn table() -> &'static Environment<'static> {
    &TABLE
}

/// Registers every Kargo function on `env`; the ones that read data use
/// this thread's lookup at call time.
fn register(env: &mut Environment<'_>) {
    env.add_function("quote", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        Ok(Value::String(match &c.args[0] {
            Value::String(s) => crate::go_value::go_quote(s),
            other => unsafe_quote(other),
        }))
    });
    env.add_function("unsafeQuote", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        Ok(Value::String(unsafe_quote(&c.args[0])))
    });
    env.add_function("asJSON", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let pretty = go_json(&to_json(&c.args[0]), true);
        Ok(Value::String(format!("\"{pretty}\n\"")))
    });
    env.add_function("asYAML", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        Ok(Value::String(format!(
            "\"{}\"",
            go_yaml(&to_json(&c.args[0]))
        )))
    });
    env.add_function("warehouse", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = nonempty_string_arg(&c.ident, &c.args, "argument", "name")?;
        Ok(to_expr(&origin_value(name)))
    });
    env.add_function("commitFrom", |c| {
        lookup(|l| artifact_from(l, ArtifactKind::Commit, &c.ident, &c.args))
    });
    env.add_function("imageFrom", |c| {
        lookup(|l| artifact_from(l, ArtifactKind::Image, &c.ident, &c.args))
    });
    env.add_function("chartFrom", |c| {
        lookup(|l| artifact_from(l, ArtifactKind::Chart, &c.ident, &c.args))
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
    env.add_function("configMap", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = string_arg(&c.ident, &c.args, 0, "argument")?;
        Ok(string_map(lookup(|l| l.config_map(name))))
    });
    env.add_function("secret", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = string_arg(&c.ident, &c.args, 0, "argument")?;
        Ok(string_map(lookup(|l| l.secret(name))))
    });
    env.add_function("freightMetadata", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = nonempty_string_arg(&c.ident, &c.args, "first argument", "freight ref name")?;
        Ok(metadata(lookup(|l| l.freight_metadata(name))))
    });
    env.add_function("freightStatus", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = nonempty_string_arg(&c.ident, &c.args, "first argument", "freight ref name")?;
        Ok(lookup(|l| l.freight_status(name)).map_or(Value::Nil, |s| to_expr(&Json::Object(s))))
    });
    env.add_function("stageMetadata", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let name = nonempty_string_arg(&c.ident, &c.args, "argument", "stage name")?;
        Ok(metadata(lookup(|l| l.stage_metadata(name))))
    });
    env.add_function("always", |c| {
        arity(&c.ident, &c.args, 0, 0)?;
        Ok(Value::Bool(true))
    });
    env.add_function("failure", |c| {
        arity(&c.ident, &c.args, 0, 0)?;
        Ok(Value::Bool(lookup(step_has_failures)))
    });
    env.add_function("success", |c| {
        arity(&c.ident, &c.args, 0, 0)?;
        Ok(Value::Bool(!lookup(step_has_failures)))
    });
    env.add_function("status", |c| {
        arity(&c.ident, &c.args, 1, 1)?;
        let alias = nonempty_string_arg(&c.ident, &c.args, "argument", "argument")?;
        Ok(Value::String(lookup(|l| step_status(l, alias))))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes_like_strconv() {
        assert_eq!(crate::go_value::go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(crate::go_value::go_quote("\u{1}é"), "\"\\x01é\"");
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
