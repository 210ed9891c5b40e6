//! Judging one measured value against a metric's conditions exactly as
//! Rollouts' `utils/evaluate` does: expr conditions over `result` (plus
//! any extra variables a provider adds, e.g. the web provider's
//! `response`) and Rollouts' functions `asInt`, `asFloat`, `isNaN`,
//! `isInf`, `isNil` and `default`.
//!
//! | successCondition | failureCondition | outcome |
//! |---|---|---|
//! | none | none | Successful |
//! | set | none | true: Successful, false: Failed |
//! | none | set | true: Failed, false: Successful |
//! | set | set | failure true: Failed (wins); success true: Successful; neither: Inconclusive |
//! | does not compile, fails, or is not a bool | | Error |
//!
//! Rollouts' quirks are kept: `isNil(x)` and `default(x, d)` ignore `x`
//! and look at the whole `result`; `asInt` truncates floats and parses
//! strings strictly (`"1.1"` is an error); a comparison of mismatched
//! static types is a compile error (see [`crate::typecheck`]). Only
//! errors carry a message, worded as Rollouts words it.

use expr::{Context, Environment, Value};
use kargo_api::analysis::Metric;

use crate::phase::Phase;
use crate::typecheck::{self, GoType};

/// The phase of one measurement and, for an Error, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Successful, Failed, Inconclusive or Error.
    pub phase: Phase,
    /// Empty unless the phase is Error.
    pub message: String,
}

/// Rollouts' `EvaluateResult`: `result` (whose Go type is `result_type`)
/// against `metric`'s conditions; `extra` holds additional variables.
pub fn judge(
    metric: &Metric,
    result: &Value,
    result_type: &GoType,
    extra: &[(String, Value)],
) -> Judgement {
    let eval = |kind: &str, cond: &str| -> Result<bool, Judgement> {
        eval_condition(result, result_type, extra, cond).map_err(|e| Judgement {
            phase: Phase::Error,
            message: if is_nil_or_empty(result) {
                format!(
                    "could not evaluate {kind} \"{cond}\": metric result is nil or empty: no data returned from the metric provider"
                )
            } else {
                format!("could not evaluate {kind} \"{cond}\": {e}")
            },
        })
    };
    let success = &metric.success_condition;
    let failure = &metric.failure_condition;
    let mut s = false;
    let mut f = false;
    if !success.is_empty() {
        match eval("successCondition", success) {
            Ok(b) => s = b,
            Err(j) => return j,
        }
    }
    if !failure.is_empty() {
        match eval("failureCondition", failure) {
            Ok(b) => f = b,
            Err(j) => return j,
        }
    }
    let phase = match (success.is_empty(), failure.is_empty()) {
        (true, true) => Phase::Successful,
        (false, true) => {
            if s {
                Phase::Successful
            } else {
                Phase::Failed
            }
        }
        (true, false) => {
            if f {
                Phase::Failed
            } else {
                Phase::Successful
            }
        }
        (false, false) => {
            if f {
                Phase::Failed
            } else if s {
                Phase::Successful
            } else {
                Phase::Inconclusive
            }
        }
    };
    Judgement {
        phase,
        message: String::new(),
    }
}

/// Rollouts' `EvalCondition`: compiles `cond` against the variables'
/// types, runs it, and requires a bool.
pub fn eval_condition(
    result: &Value,
    result_type: &GoType,
    extra: &[(String, Value)],
    cond: &str,
) -> Result<bool, String> {
    let mut types: Vec<(&str, GoType)> = vec![("result", result_type.clone())];
    for (k, v) in extra {
        types.push((k.as_str(), static_type(v)));
    }
    for f in FUNCTIONS {
        types.push((f, GoType::Unknown));
    }
    if let Some(e) = typecheck::check(cond, &types) {
        return Err(e);
    }
    let mut ctx = Context::default();
    ctx.insert("result", result.clone());
    for (k, v) in extra {
        ctx.insert(k.clone(), v.clone());
    }
    match environment(result).eval(cond, &ctx) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("expected bool, but got {}", go_type_name(&other))),
        Err(e) => Err(rollouts_error(&e.to_string())),
    }
}

const FUNCTIONS: [&str; 6] = ["asInt", "asFloat", "isNaN", "isInf", "isNil", "default"];

/// The Go type expr would see for a value a provider hands over as
/// `interface {}` in a map (extra variables).
fn static_type(v: &Value) -> GoType {
    match v {
        Value::Map(_) => GoType::Map,
        _ => GoType::Unknown,
    }
}

/// expr-lang's wording where it differs from Go expr's.
fn rollouts_error(e: &str) -> String {
    match e.strip_prefix("unknown variable: ") {
        Some(name) => format!("unknown name {name}"),
        None => e.to_string(),
    }
}

/// Go's `%T` of a value as Rollouts' providers produce them.
pub fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Integer(_) => "int",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) | Value::KeyedMap(_) => "map[string]interface {}",
        Value::Bytes(_) => "[]uint8",
        Value::DateTime(_) => "time.Time",
        Value::Duration(_) => "time.Duration",
        Value::Timezone(_) => "*time.Location",
        Value::Month(_) => "time.Month",
        Value::Weekday(_) => "time.Weekday",
    }
}

/// Rollouts' `isNilOrEmpty`: nil, or an empty list.
pub fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Rollouts' `asInt`: integers as they are, floats truncated, strings
/// parsed as base-10 integers; anything else is an error.
pub fn as_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Integer(i) => Ok(*i),
        Value::Float(f) => Ok(*f as i64),
        Value::String(s) => s.parse::<i64>().map_err(|e| {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            format!("strconv.ParseInt: parsing {s:?}: {why}")
        }),
        other => Err(format!(
            "asInt() not supported on {} {}",
            go_type_name(other),
            go_display(other)
        )),
    }
}

/// Rollouts' `asFloat`: numbers as float64, strings parsed as floats;
/// anything else is an error.
pub fn as_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::String(s) => s
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!(
            "asFloat() not supported on {} {}",
            go_type_name(other),
            go_display(other)
        )),
    }
}

/// Go's `%v` of a non-number value, for messages.
fn go_display(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        other => other.to_string(),
    }
}

fn one_arg<'v>(ident: &str, args: &'v [Value]) -> Result<&'v Value, expr::Error> {
    match args {
        [a] => Ok(a),
        _ => Err(expr::Error::ExprError(format!(
            "invalid number of arguments for {ident} (expected 1, got {})",
            args.len()
        ))),
    }
}

fn float_arg(ident: &str, args: &[Value]) -> Result<f64, expr::Error> {
    match one_arg(ident, args)? {
        Value::Float(f) => Ok(*f),
        Value::Integer(i) => Ok(*i as f64),
        other => Err(expr::Error::ExprError(format!(
            "cannot use {} as argument (type float64) to call {ident}",
            go_type_name(other)
        ))),
    }
}

/// expr with Rollouts' condition functions; `isNil` and `default` are
/// bound to the whole `result`, as in Rollouts.
fn environment(result: &Value) -> Environment<'static> {
    let mut env = Environment::new();
    env.add_function("asInt", |c| {
        as_int(one_arg(&c.ident, &c.args)?)
            .map(Value::Integer)
            .map_err(expr::Error::ExprError)
    });
    env.add_function("asFloat", |c| {
        as_float(one_arg(&c.ident, &c.args)?)
            .map(Value::Float)
            .map_err(expr::Error::ExprError)
    });
    env.add_function("isNaN", |c| {
        float_arg(&c.ident, &c.args).map(|f| Value::Bool(f.is_nan()))
    });
    env.add_function("isInf", |c| {
        float_arg(&c.ident, &c.args).map(|f| Value::Bool(f.is_infinite()))
    });
    let nil = result.is_nil();
    env.add_function("isNil", move |c| {
        one_arg(&c.ident, &c.args)?;
        Ok(Value::Bool(nil))
    });
    let whole = result.clone();
    env.add_function("default", move |c| match c.args.as_slice() {
        [_, d] => Ok(if whole.is_nil() {
            d.clone()
        } else {
            whole.clone()
        }),
        _ => Err(expr::Error::ExprError(format!(
            "invalid number of arguments for default (expected 2, got {})",
            c.args.len()
        ))),
    });
    env
}
