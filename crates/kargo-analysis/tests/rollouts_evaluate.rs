//! Argo Rollouts' `utils/evaluate/evaluate_test.go` as data: every
//! assertion of every test, the one-function-per-case tests as rows.
//! Inputs are given as the value a provider hands over plus its Go type
//! (what Rollouts' expr checker sees).

use expr::Value;
use kargo_analysis::Phase;
use kargo_analysis::evaluate::{as_float, as_int, eval_condition, is_nil_or_empty, judge};
use kargo_analysis::typecheck::GoType;
use kargo_api::analysis::Metric;
use regex::Regex;

type Input = (Value, GoType);

fn b(v: bool) -> Input {
    (Value::Bool(v), GoType::Bool)
}
fn i(v: i64) -> Input {
    (Value::Integer(v), GoType::Int("int"))
}
fn f(v: f64) -> Input {
    (Value::Float(v), GoType::Float)
}
fn s(v: &str) -> Input {
    (Value::String(v.into()), GoType::String)
}
/// A nil pointer or nil slice: `result` is nil.
fn nil() -> Input {
    (Value::Nil, GoType::Nil)
}
fn floats(v: &[f64]) -> Input {
    (
        Value::Array(v.iter().map(|x| Value::Float(*x)).collect()),
        GoType::Array(Box::new(GoType::Float)),
    )
}
fn strings(v: &[&str]) -> Input {
    (
        Value::Array(v.iter().map(|x| Value::String((*x).into())).collect()),
        GoType::Array(Box::new(GoType::String)),
    )
}
fn json(v: serde_json::Value) -> Input {
    (kargo_expr::convert::to_expr(&v), GoType::of_json(&v))
}

const INVALID_REF: &str = "a == true";

/// `EvaluateResult(input, Metric{success, failure})`: the phase and the
/// substrings the upstream test asserts in the error (None: no error).
struct ResultRow {
    test: &'static str,
    input: fn() -> Input,
    success: &'static str,
    failure: &'static str,
    phase: Phase,
    error_contains: Option<&'static [&'static str]>,
}

const EVALUATE_RESULT: [ResultRow; 12] = [
    ResultRow {
        test: "TestEvaluateResultWithSuccess",
        input: || b(true),
        success: "true",
        failure: "false",
        phase: Phase::Successful,
        error_contains: None,
    },
    ResultRow {
        test: "TestEvaluateResultWithFailure",
        input: || b(true),
        success: "true",
        failure: "true",
        phase: Phase::Failed,
        error_contains: None,
    },
    ResultRow {
        test: "TestEvaluateResultInconclusive",
        input: || b(true),
        success: "false",
        failure: "false",
        phase: Phase::Inconclusive,
        error_contains: None,
    },
    ResultRow {
        test: "TestEvaluateResultNoSuccessConditionAndNotFailing",
        input: || b(true),
        success: "",
        failure: "false",
        phase: Phase::Successful,
        error_contains: None,
    },
    ResultRow {
        test: "TestEvaluateResultNoFailureConditionAndNotSuccessful",
        input: || b(true),
        success: "false",
        failure: "",
        phase: Phase::Failed,
        error_contains: None,
    },
    ResultRow {
        test: "TestEvaluateResultNoFailureConditionAndNoSuccessCondition",
        input: || b(true),
        success: "",
        failure: "",
        phase: Phase::Successful,
        error_contains: None,
    },
    ResultRow {
        test: "TestEvaluateResultWithErrorOnSuccessCondition",
        input: || b(true),
        success: INVALID_REF,
        failure: "true",
        phase: Phase::Error,
        error_contains: Some(&[]),
    },
    ResultRow {
        test: "TestEvaluateResultWithErrorOnFailureCondition",
        input: || b(true),
        success: "true",
        failure: INVALID_REF,
        phase: Phase::Error,
        error_contains: Some(&[]),
    },
    ResultRow {
        test: "TestEvaluateResultErrorMessageWithNilResult",
        input: nil,
        success: "result[0] >= 0.95",
        failure: "",
        phase: Phase::Error,
        error_contains: Some(&["metric result is nil or empty", "successCondition"]),
    },
    ResultRow {
        test: "TestEvaluateResultErrorMessageWithEmptySlice",
        input: || floats(&[]),
        success: "result[0] >= 0.95",
        failure: "",
        phase: Phase::Error,
        error_contains: Some(&["metric result is nil or empty", "successCondition"]),
    },
    ResultRow {
        test: "TestEvaluateResultErrorMessageWithInvalidExpression",
        input: || b(true),
        success: INVALID_REF,
        failure: "",
        phase: Phase::Error,
        error_contains: Some(&["could not evaluate successCondition", INVALID_REF]),
    },
    ResultRow {
        test: "TestEvaluateResultErrorMessageOnFailureCondition",
        input: || b(true),
        success: "true",
        failure: "invalidVar == true",
        phase: Phase::Error,
        error_contains: Some(&["could not evaluate failureCondition", "invalidVar == true"]),
    },
];

#[test]
fn evaluate_result_rows() {
    assert_eq!(EVALUATE_RESULT.len(), 12, "upstream rows");
    for row in &EVALUATE_RESULT {
        let (v, t) = (row.input)();
        let metric = Metric {
            success_condition: row.success.into(),
            failure_condition: row.failure.into(),
            ..Default::default()
        };
        let j = judge(&metric, &v, &t, &[]);
        assert_eq!(j.phase, row.phase, "{}: {}", row.test, j.message);
        match row.error_contains {
            None => assert!(j.message.is_empty(), "{}: {}", row.test, j.message),
            Some(parts) => {
                assert!(!j.message.is_empty(), "{}: an error message", row.test);
                for p in parts {
                    assert!(
                        j.message.contains(p),
                        "{}: {:?} lacks {p:?}",
                        row.test,
                        j.message
                    );
                }
            }
        }
    }
}

/// `EvalCondition(input, cond)`: `Ok(bool)`, or an error matching a
/// regular expression (`""`: any error).
struct ConditionRow {
    test: &'static str,
    input: fn() -> Input,
    cond: &'static str,
    want: Result<bool, &'static str>,
}

const EVAL_CONDITION: [ConditionRow; 21] = [
    ConditionRow {
        test: "TestEvaluateConditionWithSuccess",
        input: || b(true),
        cond: "result == true",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateConditionWithFailure",
        input: || b(true),
        cond: "result == false",
        want: Ok(false),
    },
    ConditionRow {
        test: "TestErrorWithNonBoolReturn",
        input: || b(true),
        cond: "1",
        want: Err("^expected bool, but got int$"),
    },
    ConditionRow {
        test: "TestErrorWithInvalidReference",
        input: || b(true),
        cond: "invalidVariable",
        want: Err("^unknown name invalidVariable$"),
    },
    ConditionRow {
        test: "TestEvaluateArray",
        input: || {
            json(
                serde_json::json!({"service_apdex": {"label": null, "values": {"values": [2.0, 2.0]}}}),
            )
        },
        cond: "all(result.service_apdex.values.values, {# > 1})",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateInOperator",
        input: || floats(&[2.0, 2.0]),
        cond: "2 in result",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateFloat64",
        input: || f(5.0),
        cond: "result > 1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateInvalidStruct",
        input: || b(true),
        cond: "result.Name() == 'hi'",
        want: Err(""),
    },
    ConditionRow {
        test: "TestEvaluateAsIntPanic",
        input: || s("1.1"),
        cond: "asInt(result) == 1.1",
        want: Err(""),
    },
    ConditionRow {
        test: "TestEvaluateAsInt[0]",
        input: || s("1"),
        cond: "asInt(result) == 1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsInt[1]",
        input: || i(1),
        cond: "asInt(result) == 1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsInt[2]",
        input: || f(1.123),
        cond: "asInt(result) == 1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsFloatError[0]",
        input: || s("NotANum"),
        cond: "asFloat(result) == 1.1",
        want: Err(r#"strconv.ParseFloat: parsing "NotANum": invalid syntax"#),
    },
    ConditionRow {
        test: "TestEvaluateAsFloatError[1]",
        input: || s("1.1"),
        cond: "asFloat(result) == \"1.1\"",
        want: Err(r"invalid operation: == \(mismatched types float64 and string\)"),
    },
    ConditionRow {
        test: "TestEvaluateAsFloat[0]",
        input: || s("1.1"),
        cond: "asFloat(result) == 1.1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsFloat[1]",
        input: || s("1.1"),
        cond: "asFloat(result) >= 1.1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsFloat[2]",
        input: || s("1.1"),
        cond: "asFloat(result) <= 1.1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsFloat[3]",
        input: || f(1.1),
        cond: "asFloat(result) == 1.1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsFloat[4]",
        input: || i(1),
        cond: "asFloat(result) == 1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsFloat[5]",
        input: || i(1),
        cond: "asFloat(result) >= 1",
        want: Ok(true),
    },
    ConditionRow {
        test: "TestEvaluateAsFloat[6]",
        input: || i(1),
        cond: "asFloat(result) >= 1",
        want: Ok(true),
    },
];

#[test]
fn eval_condition_rows() {
    assert_eq!(EVAL_CONDITION.len(), 21, "upstream rows");
    for row in &EVAL_CONDITION {
        let (v, t) = (row.input)();
        let got = eval_condition(&v, &t, &[], row.cond);
        match (row.want, &got) {
            (Ok(want), Ok(b)) => assert_eq!(*b, want, "{}", row.test),
            (Err(re), Err(e)) => assert!(
                Regex::new(re).expect("regex").is_match(e),
                "{}: {e:?} does not match {re:?}",
                row.test
            ),
            _ => panic!("{}: want {:?}, got {got:?}", row.test, row.want),
        }
    }
}

/// `TestAsInt` and `TestAsFloat`: the string input, the value, or an
/// error where upstream panics.
#[test]
fn as_int_and_as_float_rows() {
    let as_int_rows: [(&str, Option<i64>); 3] = [("1", Some(1)), ("notint", None), ("1.1", None)];
    let as_float_rows: [(&str, Option<f64>); 3] =
        [("1", Some(1.0)), ("notfloat", None), ("1.1", Some(1.1))];
    assert_eq!(as_int_rows.len() + as_float_rows.len(), 6, "upstream rows");
    for (input, want) in as_int_rows {
        let got = as_int(&Value::String(input.into()));
        assert_eq!(
            got.as_ref().ok().copied(),
            want,
            "asInt({input:?}): {got:?}"
        );
    }
    for (input, want) in as_float_rows {
        let got = as_float(&Value::String(input.into()));
        assert_eq!(
            got.as_ref().ok().copied(),
            want,
            "asFloat({input:?}): {got:?}"
        );
    }
    // The message Rollouts' recovered panic carries.
    assert_eq!(
        as_int(&Value::String("1.1".into())),
        Err("strconv.ParseInt: parsing \"1.1\": invalid syntax".into())
    );
}

/// The helper tests, each assertion a condition over `result` (the value
/// Rollouts' `valueFromPointer` binds): `TestIsInf` (2), `TestDefaultFunc`
/// (4), `TestIsNilFunc` (6), `TestIsNil` (6), `TestValueFromPointer` (6).
/// (upstream test, input, condition, expected answer).
type HelperRow = (&'static str, fn() -> Input, &'static str, bool);

const HELPERS: [HelperRow; 24] = [
    ("TestIsInf[inf]", || f(f64::INFINITY), "isInf(result)", true),
    ("TestIsInf[0]", || f(0.0), "isInf(result)", false),
    (
        "TestDefaultFunc[nil,0]",
        nil,
        "default(result, 0) == 0",
        true,
    ),
    (
        "TestDefaultFunc[nil,1]",
        nil,
        "default(result, 1) == 1",
        true,
    ),
    (
        "TestDefaultFunc[nil,2]",
        nil,
        "default(result, 2) == 2",
        true,
    ),
    (
        "TestDefaultFunc[*1.0,0]",
        || f(1.0),
        "default(result, 0) == 1.0",
        true,
    ),
    ("TestIsNilFunc[nilFloat]", nil, "isNil(result)", true),
    ("TestIsNilFunc[nilArr]", nil, "isNil(result)", true),
    ("TestIsNilFunc[oneFloat]", || f(1.0), "isNil(result)", false),
    (
        "TestIsNilFunc[twoArr]",
        || strings(&["hi", "hello"]),
        "isNil(result)",
        false,
    ),
    ("TestIsNilFunc[1]", || i(1), "isNil(result)", false),
    ("TestIsNilFunc[false]", || b(false), "isNil(result)", false),
    ("TestIsNil[nilFloat]", nil, "isNil(nil)", true),
    ("TestIsNil[nilArr]", nil, "isNil(1)", true),
    ("TestIsNil[oneFloat]", || f(1.0), "isNil(nil)", false),
    (
        "TestIsNil[twoArr]",
        || strings(&["hi", "hello"]),
        "isNil(nil)",
        false,
    ),
    ("TestIsNil[1]", || i(1), "isNil(nil)", false),
    ("TestIsNil[false]", || b(false), "isNil(nil)", false),
    ("TestValueFromPointer[nilFloat]", nil, "result == nil", true),
    ("TestValueFromPointer[nilArr]", nil, "result == nil", true),
    (
        "TestValueFromPointer[twoArr]",
        || strings(&["hi", "hello"]),
        "len(result) == 2 && result[0] == \"hi\" && result[1] == \"hello\"",
        true,
    ),
    (
        "TestValueFromPointer[*1.0]",
        || f(1.0),
        "result == 1.0",
        true,
    ),
    ("TestValueFromPointer[1]", || i(1), "result == 1", true),
    (
        "TestValueFromPointer[false]",
        || b(false),
        "result == false",
        true,
    ),
];

#[test]
fn helper_rows() {
    assert_eq!(HELPERS.len(), 24, "upstream rows");
    for (test, input, cond, want) in HELPERS {
        let (v, t) = input();
        assert_eq!(
            eval_condition(&v, &t, &[], cond),
            Ok(want),
            "{test}: {cond}"
        );
    }
}

/// `TestIsNilOrEmpty` (6).
#[test]
fn is_nil_or_empty_rows() {
    let rows: [(Input, bool); 6] = [
        (nil(), true),
        (floats(&[]), true),
        (strings(&[]), true),
        (floats(&[1.0]), false),
        (i(42), false),
        (s("hello"), false),
    ];
    assert_eq!(rows.len(), 6, "upstream rows");
    for ((v, _), want) in rows {
        assert_eq!(is_nil_or_empty(&v), want, "{v:?}");
    }
}

/// Upstream assertions with no counterpart here, and why (also listed in
/// docs/verification.md): `TestEqual` (3) tests a string-set helper the
/// analysis engine does not use; `TestEvalTimeWithSuccessExpr`,
/// `TestEvalTimeWithNotTimeResult` and `TestEvalTimeWithInvalidExpression`
/// (3) test `EvalTime`, used only by Prometheus `rangeQuery`, which the
/// Prometheus provider here does not offer.
const NOT_PORTED: [(&str, usize); 4] = [
    ("TestEqual", 3),
    ("TestEvalTimeWithSuccessExpr", 1),
    ("TestEvalTimeWithNotTimeResult", 1),
    ("TestEvalTimeWithInvalidExpression", 1),
];

#[test]
fn every_upstream_assertion_is_accounted_for() {
    let not_ported: usize = NOT_PORTED.iter().map(|(_, n)| n).sum();
    // 12 + 21 + 6 + 24 + 6 ported, 6 not ported: evaluate_test.go's 75.
    assert_eq!(
        EVALUATE_RESULT.len() + EVAL_CONDITION.len() + 6 + HELPERS.len() + 6 + not_ported,
        75
    );
}
