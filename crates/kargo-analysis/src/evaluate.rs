//! Judging one measured value against a metric's conditions, as Rollouts'
//! `utils/evaluate` does: expr-lang conditions with `result` bound to the
//! value (plus Rollouts' `asInt`, `asFloat`, `isNaN`, `isInf`, and any
//! extra variables a provider adds, e.g. the web provider's `response`).
//!
//! | successCondition | failureCondition | outcome |
//! |---|---|---|
//! | none | none | Successful |
//! | set | none | true: Successful, false: Failed |
//! | none | set | true: Failed, false: Successful |
//! | set | set | failure true: Failed (wins); success true: Successful; neither: Inconclusive |
//! | evaluation error or non-bool | | Error |
//!
//! Messages name the measured value and the condition (plus "no data" for
//! an empty result), which Rollouts does not.

use expr::{Context, Environment, Value};
use kargo_api::analysis::Metric;

use crate::phase::Phase;

/// The phase of one measurement and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Successful, Failed, Inconclusive or Error.
    pub phase: Phase,
    /// Empty when Successful; else names the value and the condition.
    pub message: String,
}

/// Judges `result` (shown to users as `shown`) against `metric`'s
/// conditions; `extra` holds additional variables.
pub fn judge(metric: &Metric, result: &Value, shown: &str, extra: &[(String, Value)]) -> Judgement {
    let mut ctx = Context::default();
    ctx.insert("result", result.clone());
    for (k, v) in extra {
        ctx.insert(k.clone(), v.clone());
    }
    let env = environment();
    let measured = describe_value(result, shown);
    let eval = |label: &str, cond: &str| -> Result<bool, Judgement> {
        match env.eval(cond, &ctx) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(Judgement {
                phase: Phase::Error,
                message: format!(
                    "measured {measured}: {label} condition {cond:?} returned {other}, not a bool"
                ),
            }),
            Err(e) => Err(Judgement {
                phase: Phase::Error,
                message: format!("measured {measured}: evaluating {label} condition {cond:?}: {e}"),
            }),
        }
    };
    let success = &metric.success_condition;
    let failure = &metric.failure_condition;
    let s = if success.is_empty() {
        None
    } else {
        match eval("success", success) {
            Ok(b) => Some(b),
            Err(j) => return j,
        }
    };
    let f = if failure.is_empty() {
        None
    } else {
        match eval("failure", failure) {
            Ok(b) => Some(b),
            Err(j) => return j,
        }
    };
    let ok = Judgement {
        phase: Phase::Successful,
        message: String::new(),
    };
    match (s, f) {
        (None, None) | (Some(true), None) | (None, Some(false)) | (Some(true), Some(false)) => ok,
        (Some(false), None) => Judgement {
            phase: Phase::Failed,
            message: format!("measured {measured} against success condition {success:?}"),
        },
        (_, Some(true)) => Judgement {
            phase: Phase::Failed,
            message: format!("measured {measured}: failure condition {failure:?} is true"),
        },
        (Some(false), Some(false)) => Judgement {
            phase: Phase::Inconclusive,
            message: format!(
                "measured {measured}: neither success condition {success:?} nor failure condition {failure:?} is true"
            ),
        },
    }
}

/// The value as shown in messages, saying "no data" plainly when empty.
fn describe_value(result: &Value, shown: &str) -> String {
    let empty = match result {
        Value::Array(a) => a.is_empty(),
        Value::Nil => true,
        _ => false,
    };
    let shown = if shown.is_empty() { "null" } else { shown };
    if empty {
        format!("{shown} (no data: the query returned no result)")
    } else {
        shown.to_string()
    }
}

/// expr-lang with Rollouts' condition functions.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_function("asInt", |c| {
        let s = one_string(&c.ident, &c.args)?;
        s.trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|e| expr::Error::ExprError(format!("asInt({s:?}): {e}")))
    });
    env.add_function("asFloat", |c| {
        let s = one_string(&c.ident, &c.args)?;
        s.trim()
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|e| expr::Error::ExprError(format!("asFloat({s:?}): {e}")))
    });
    env.add_function("isNaN", |c| {
        Ok(Value::Bool(
            matches!(c.args.first(), Some(Value::Float(f)) if f.is_nan()),
        ))
    });
    env.add_function("isInf", |c| {
        Ok(Value::Bool(
            matches!(c.args.first(), Some(Value::Float(f)) if f.is_infinite()),
        ))
    });
    env
}

fn one_string(ident: &str, args: &[Value]) -> Result<String, expr::Error> {
    match args {
        [Value::String(s)] => Ok(s.clone()),
        [Value::Integer(i)] => Ok(i.to_string()),
        [Value::Float(f)] => Ok(f.to_string()),
        _ => Err(expr::Error::ExprError(format!(
            "{ident}() expects one string argument"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(success: &str, failure: &str) -> Metric {
        Metric {
            name: "m".into(),
            success_condition: success.into(),
            failure_condition: failure.into(),
            ..Default::default()
        }
    }

    #[test]
    fn measurement_phase_table() {
        let v = Value::Array(vec![Value::Float(0.08)]);
        let cases = [
            ("", "", Phase::Successful),
            ("result[0] < 0.05", "", Phase::Failed),
            ("result[0] < 0.1", "", Phase::Successful),
            ("", "result[0] > 0.05", Phase::Failed),
            ("", "result[0] > 0.1", Phase::Successful),
            ("result[0] < 0.1", "result[0] > 0.05", Phase::Failed),
            ("result[0] < 0.1", "result[0] > 0.5", Phase::Successful),
            ("result[0] < 0.01", "result[0] > 0.5", Phase::Inconclusive),
            ("result[0] <", "", Phase::Error),
            ("result[0]", "", Phase::Error),
            ("", "nosuchfn(result)", Phase::Error),
            ("asFloat(\"0.01\") < result[0]", "", Phase::Successful),
            ("asInt(\"x\") == 1", "", Phase::Error),
        ];
        for (s, f, want) in cases {
            let j = judge(&metric(s, f), &v, "[0.08]", &[]);
            assert_eq!(j.phase, want, "success={s:?} failure={f:?}: {}", j.message);
        }
    }

    #[test]
    fn messages_name_value_and_condition() {
        let j = judge(
            &metric("result[0] < 0.05", ""),
            &Value::Array(vec![Value::Float(0.08)]),
            "[0.08]",
            &[],
        );
        assert_eq!(
            j.message,
            "measured [0.08] against success condition \"result[0] < 0.05\""
        );
        let j = judge(
            &metric("len(result) > 0 && result[0] < 0.05", ""),
            &Value::Array(vec![]),
            "[]",
            &[],
        );
        assert_eq!(j.phase, Phase::Failed);
        assert!(j.message.contains("no data"), "{}", j.message);
    }

    #[test]
    fn nan_helpers() {
        let j = judge(
            &metric("", "isNaN(result)"),
            &Value::Float(f64::NAN),
            "NaN",
            &[],
        );
        assert_eq!(j.phase, Phase::Failed);
    }
}
