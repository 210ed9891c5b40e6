//! Kargo's templating: finds `${{ expr }}` (or `${% expr %}`) in strings,
//! evaluates each with expr-lang, joins the results, then types the whole
//! result the way Kargo's `EvaluateTemplate` does; also evaluates whole
//! configuration blocks recursively and step `if` conditions.
//!
//! Typing rules (from Kargo's `pkg/expressions/json_templates.go`):
//! - a string without any delimiter is returned untouched (`"42"` stays a
//!   string);
//! - a string result is inserted as is, any other result as compact JSON;
//! - one trailing newline is set aside; a result wrapped in double quotes
//!   (what `quote()` produces) loses the quotes and stays a string;
//! - otherwise a result that parses as a number becomes a number, then one
//!   that parses as a Go bool (`true`, `False`, `t`, ...) a bool, then one
//!   that is valid JSON (object, array, `null`) that JSON; else a string.
//!
//! The typing applies to the joined result, as in Kargo: `${{ 1 }}` is the
//! number 1 and `v${{ 1 }}` the string `v1`, but `${{ 1 }}.${{ 2 }}` is the
//! number 1.2 (use `quote()` to keep a string).
//!
//! Compiled expressions are kept by their text (a bounded process-wide
//! cache), so a step's expressions are parsed once, not at every run. An
//! [`Evaluator`] only borrows: the function table is shared by every
//! evaluation ([`functions::table`]), the lookup is lent to Kargo's
//! functions while an expression runs ([`with_lookup`]), and the
//! variables are read from the [`Env`], which converts each one to an
//! expr-lang value once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use expr::{Context, ContextProvider};
use serde_json::Value as Json;

use crate::convert::{float_to_json, interpolation_text, to_json};
use crate::current_lookup::with_lookup;
use crate::env::Env;
use crate::error::{ExprError, Location};
use crate::freight::check_access;
use crate::functions;
use crate::lookup::Lookup;

/// Opening and closing delimiters Kargo accepts.
const DELIMITERS: &[(&str, &str)] = &[("${{", "}}"), ("${%", "%}")];

/// Whether `s` contains an expression delimiter at all.
pub fn has_expression(s: &str) -> bool {
    DELIMITERS.iter().any(|(open, _)| s.contains(open))
}

/// Evaluates templates and expressions against one [`Env`] and [`Lookup`].
pub struct Evaluator<'a> {
    variables: Variables<'a>,
    lookup: &'a dyn Lookup,
    /// A variable named like a templating function, which Kargo refuses.
    reserved: Option<&'static str>,
}

/// The variables an expression reads: the [`Env`]'s, plus `null`.
struct Variables<'a>(&'a Env);

/// Go's expr reads `null` as nil (Kargo's `quote(null)`); the Rust parser
/// takes it for a variable name, so it is one, holding nil, unless the
/// [`Env`] has its own.
static NULL: expr::Value = expr::Value::Nil;

impl ContextProvider for Variables<'_> {
    fn get(&self, key: &str) -> Option<&expr::Value> {
        self.0
            .expr_value(key)
            .or_else(|| (key == "null").then_some(&NULL))
    }

    fn to_context(&self) -> Context {
        let mut context = self.0.to_context();
        if context.get("null").is_none() {
            context.insert("null", expr::Value::Nil);
        }
        context
    }
}

/// Function names no variable may take (Kargo's `EvaluateJSONTemplate`).
const RESERVED: &[&str] = &["quote", "asYAML", "asJSON"];

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator").finish_non_exhaustive()
    }
}

impl<'a> Evaluator<'a> {
    /// An evaluator with expr-lang's built-ins, Kargo's functions reading
    /// `lookup`, and the variables of `env`. Cheap: it only borrows them.
    pub fn new(env: &'a Env, lookup: &'a dyn Lookup) -> Evaluator<'a> {
        Evaluator {
            variables: Variables(env),
            lookup,
            reserved: RESERVED
                .iter()
                .copied()
                .find(|name| env.get(name).is_some()),
        }
    }

    fn check_reserved(&self) -> Result<(), ExprError> {
        match self.reserved {
            Some(name) => Err(ExprError::Reserved { name }),
            None => Ok(()),
        }
    }

    /// Evaluates one template string (see the module docs for the typing).
    pub fn evaluate_template(&self, template: &str) -> Result<Json, ExprError> {
        self.check_reserved()?;
        if !has_expression(template) {
            return Ok(Json::String(template.to_string()));
        }
        let mut out = String::new();
        let mut rest = template;
        loop {
            let next = DELIMITERS
                .iter()
                .filter_map(|(open, close)| rest.find(open).map(|i| (i, *open, *close)))
                .min_by_key(|(i, _, _)| *i);
            let Some((start, open, close)) = next else {
                out.push_str(rest);
                break;
            };
            let offset = template.len() - rest.len() + start;
            let body_start = start + open.len();
            let Some(len) = rest[body_start..].find(close) else {
                return Err(ExprError::Unclosed {
                    template: template.to_string(),
                    offset,
                    expected: close,
                });
            };
            let end = body_start + len + close.len();
            out.push_str(&rest[..start]);
            let location = Location {
                template: template.to_string(),
                segment: rest[start..end].to_string(),
                offset,
            };
            let value = self.run(&rest[body_start..body_start + len], location)?;
            out.push_str(&interpolation_text(&value));
            rest = &rest[end..];
        }
        Ok(coerce(out))
    }

    /// Evaluates every string value in `config`, at any depth; keys are left
    /// alone. Errors carry the field path (`updates[0].value`).
    pub fn evaluate_config(&self, config: &Json) -> Result<Json, ExprError> {
        self.check_reserved()?;
        self.walk(config, "")
    }

    fn walk(&self, value: &Json, path: &str) -> Result<Json, ExprError> {
        Ok(match value {
            Json::String(s) => self.evaluate_template(s).map_err(|e| e.at_path(path))?,
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.walk(v, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        Ok((k.clone(), self.walk(v, &p)?))
                    })
                    .collect::<Result<_, ExprError>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Evaluates a bare expression (no delimiters) and returns its value
    /// with its own type, untouched by the template typing rules.
    pub fn evaluate_expression(&self, expression: &str) -> Result<Json, ExprError> {
        let location = Location {
            template: expression.to_string(),
            segment: expression.to_string(),
            offset: 0,
        };
        Ok(to_json(&self.run(expression, location)?))
    }

    /// Evaluates a step's `if`: either a template (`${{ ctx.stage == "prod"
    /// }}`, as Kargo writes it) or a bare expression (`ctx.stage == "prod"`);
    /// anything but a bool is an error.
    pub fn evaluate_condition(&self, condition: &str) -> Result<bool, ExprError> {
        let value = if has_expression(condition) {
            self.evaluate_template(condition)?
        } else {
            self.evaluate_expression(condition)?
        };
        match value {
            Json::Bool(b) => Ok(b),
            other => Err(ExprError::NotBool {
                condition: condition.to_string(),
                got: other.to_string(),
            }),
        }
    }

    /// Evaluates a bare expression the way Kargo's git `expressionFilter`
    /// reads its result: a bool is the answer; any other result is printed
    /// as Go's `%v` prints it and read with Go's `strconv.ParseBool`, so `1`,
    /// `0`, `"true"` or `"F"` decide too and anything else is an error.
    pub fn evaluate_filter(&self, expression: &str) -> Result<bool, ExprError> {
        let location = Location {
            template: expression.to_string(),
            segment: expression.to_string(),
            offset: 0,
        };
        let value = self.run(expression, location)?;
        if let expr::Value::Bool(b) = value {
            return Ok(b);
        }
        let printed = match &value {
            expr::Value::Integer(i) => i.to_string(),
            expr::Value::Float(f) => f.to_string(),
            expr::Value::String(s) => s.clone(),
            expr::Value::Nil => "<nil>".to_string(),
            other => interpolation_text(other),
        };
        parse_go_bool(&printed).ok_or_else(|| ExprError::NotBool {
            condition: expression.to_string(),
            got: format!("{printed:?}"),
        })
    }

    fn run(&self, expression: &str, location: Location) -> Result<expr::Value, ExprError> {
        if expression.trim().is_empty() {
            return Err(ExprError::Eval {
                location,
                message: "empty expression".to_string(),
            });
        }
        if let Some(freight) = self.variables.0.get("freight") {
            check_access(expression, freight).map_err(|message| ExprError::Eval {
                location: location.clone(),
                message,
            })?;
        }
        // The expr-lang parser panics on some input it cannot handle; that
        // must be the user's error message, never a crashed Promotion.
        let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compiled(expression).and_then(|program| {
                with_lookup(self.lookup, || {
                    functions::table().run(&program, &self.variables)
                })
            })
        }))
        .map_err(|panic| ExprError::Eval {
            location: location.clone(),
            message: format!(
                "the expression could not be parsed ({})",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unsupported syntax")
            ),
        })?;
        let value = evaluated.map_err(|e| ExprError::from_expr(location.clone(), &e))?;
        if has_non_finite(&value) {
            return Err(ExprError::Eval {
                location,
                message: format!("result {value} is not a finite number and has no JSON form"),
            });
        }
        Ok(value)
    }
}

/// Compiled programs kept by expression text: a step's expressions are
/// the same Promotion after Promotion, and parsing is most of their cost.
/// Bounded: emptied when full.
static PROGRAMS: std::sync::LazyLock<Mutex<HashMap<String, Arc<expr::Program>>>> =
    std::sync::LazyLock::new(Mutex::default);

/// Programs [`PROGRAMS`] holds at most.
const MAX_PROGRAMS: usize = 4096;

/// The compiled program of `expression`, from [`PROGRAMS`] or compiled
/// now (a parse error is not kept).
fn compiled(expression: &str) -> expr::Result<Arc<expr::Program>> {
    let cached = PROGRAMS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(expression)
        .cloned();
    if let Some(program) = cached {
        return Ok(program);
    }
    let program = Arc::new(expr::compile(expression)?);
    let mut programs = PROGRAMS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if programs.len() >= MAX_PROGRAMS {
        programs.clear();
    }
    programs.insert(expression.to_string(), program.clone());
    Ok(program)
}

/// Evaluates one template with a throwaway [`Evaluator`].
pub fn evaluate_template(
    template: &str,
    env: &Env,
    lookup: &dyn Lookup,
) -> Result<Json, ExprError> {
    Evaluator::new(env, lookup).evaluate_template(template)
}

/// Evaluates one template against plain variables and no lookups,
/// keeping only a string result (what Kargo's event code accepts as an
/// Argo CD Application's name or namespace).
pub fn evaluate_to_string(template: &str, vars: &serde_json::Map<String, Json>) -> Option<String> {
    let env = vars
        .iter()
        .fold(Env::new(), |env, (k, v)| env.set(k, v.clone()));
    match evaluate_template(template, &env, &crate::NoLookup) {
        Ok(Json::String(s)) => Some(s),
        _ => None,
    }
}

/// Evaluates a whole configuration block with a throwaway [`Evaluator`].
pub fn evaluate_config(config: &Json, env: &Env, lookup: &dyn Lookup) -> Result<Json, ExprError> {
    Evaluator::new(env, lookup).evaluate_config(config)
}

/// Whether a value holds an infinite or NaN float anywhere (`1/0`), which
/// Kargo fails to marshal.
fn has_non_finite(value: &expr::Value) -> bool {
    match value {
        expr::Value::Float(f) => !f.is_finite(),
        expr::Value::Array(items) => items.iter().any(has_non_finite),
        expr::Value::Map(map) => map.values().any(has_non_finite),
        expr::Value::KeyedMap(pairs) => pairs.iter().any(|(_, v)| has_non_finite(v)),
        _ => false,
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat` for finite decimal numbers, as JSON (integers
/// stay exact).
fn parse_number(s: &str) -> Option<Json> {
    if s.is_empty() || s.trim() != s {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Json::from(i));
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(Json::from(u));
    }
    let f: f64 = s.parse().ok()?;
    f.is_finite().then(|| float_to_json(f))
}

/// Kargo's typing of an evaluated template (see the module docs).
fn coerce(result: String) -> Json {
    let (body, newline) = match result.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (result.as_str(), ""),
    };
    if body.len() > 1 && body.starts_with('"') && body.ends_with('"') {
        return Json::String(format!("{}{newline}", &body[1..body.len() - 1]));
    }
    if let Some(n) = parse_number(body) {
        return n;
    }
    if let Some(b) = parse_go_bool(body) {
        return Json::Bool(b);
    }
    if let Ok(v) = serde_json::from_str::<Json>(body) {
        return v;
    }
    Json::String(format!("{body}{newline}"))
}

#[cfg(test)]
mod tests;
