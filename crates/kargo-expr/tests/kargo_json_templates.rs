//! Kargo's own table for templating (`TestEvaluateJSONTemplate` in
//! `pkg/expressions/json_templates_test.go`), ported as data: the template
//! (JSON text, or YAML that is turned into JSON first as upstream does), and
//! a check of the evaluated object or of the error. The table asserts how
//! many upstream rows it carries (its table rows plus the three
//! "forbidden key" subtests).

#![allow(clippy::approx_constant)] // upstream's aFloat is the literal 3.14

use kargo_expr::{Env, Evaluator, NoLookup};
use serde_json::{Value, json};

/// Upstream's `testEnv`; `aStruct` is a Go struct, so it is written here as
/// the JSON it marshals to (every field, nil ones as null).
fn test_env() -> Env {
    let a_struct = json!({
        "AString": "hello", "AnInt": 42, "AFloat": 0, "ABool": false,
        "AStringMap": null, "AnIntMap": null, "AStringArr": null, "AnIntArr": null,
        "AStruct": null,
    });
    Env::new()
        .set("aString", json!("hello"))
        .set("anInt", json!(42))
        .set("aFloat", json!(3.14))
        .set("aBool", json!(true))
        .set(
            "aStringMap",
            json!({"aString": "hello", "anotherString": "world"}),
        )
        .set("anIntMap", json!({"anInt": 42, "anotherInt": 43}))
        .set("aStringArr", json!(["one", "two", "three"]))
        .set("anIntArr", json!([1, 2, 3]))
        .set("aStruct", a_struct)
}

enum Template {
    Json(&'static str),
    Yaml(&'static str),
}

type Check = fn(Result<Value, String>);

/// Kargo's `EvaluateJSONTemplate`: parse the JSON, evaluate every string
/// value, return the object.
fn evaluate(template: &Template, env: &Env) -> Result<Value, String> {
    let parsed: Value = match template {
        Template::Json(text) => serde_json::from_str(text).map_err(|e| {
            format!("input is not valid JSON; are all expressions enclosed in quotes? {e}")
        })?,
        Template::Yaml(text) => {
            yaml_serde::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?
        }
    };
    Evaluator::new(env, &NoLookup)
        .evaluate_config(&parsed)
        .map_err(|e| e.to_string())
}

fn ok(r: Result<Value, String>) -> Value {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn rows() -> Vec<(&'static str, Template, Check)> {
    vec![
        (
            "template is not valid JSON",
            Template::Json(r#"{ "key": ${{ true }} }"#),
            |r| assert!(r.is_err_and(|e| e.contains("input is not valid JSON"))),
        ),
        (
            "scalar values",
            Template::Json(
                r#"{ "AString": "${{ aString }}", "AnInt": "${{ anInt }}", "AFloat": "${{ aFloat }}", "ABool": "${{ aBool }}" }"#,
            ),
            |r| {
                assert_eq!(
                    ok(r),
                    json!({"AString": "hello", "AnInt": 42, "AFloat": 3.14, "ABool": true})
                )
            },
        ),
        (
            "mixing an expression with string literals",
            Template::Json(r#"{ "AString": "${{ aString }}, world!" }"#),
            |r| assert_eq!(ok(r)["AString"], "hello, world!"),
        ),
        (
            "multiple expressions in one value",
            Template::Json(r#"{ "AString": "${{ aString }}, ${{ anInt }}!" }"#),
            |r| assert_eq!(ok(r)["AString"], "hello, 42!"),
        ),
        (
            "maps",
            Template::Json(
                r#"{ "AStringMap": "${{ aStringMap }}", "AnIntMap": "${{ anIntMap }}" }"#,
            ),
            |r| {
                let v = ok(r);
                assert_eq!(
                    v["AStringMap"],
                    json!({"aString": "hello", "anotherString": "world"})
                );
                assert_eq!(v["AnIntMap"], json!({"anInt": 42, "anotherInt": 43}));
            },
        ),
        (
            "arrays",
            Template::Json(
                r#"{ "AStringArr": "${{ aStringArr }}", "AnIntArr": "${{ anIntArr }}" }"#,
            ),
            |r| {
                let v = ok(r);
                assert_eq!(v["AStringArr"], json!(["one", "two", "three"]));
                assert_eq!(v["AnIntArr"], json!([1, 2, 3]));
            },
        ),
        (
            "structs",
            Template::Json(r#"{ "AStruct": "${{ aStruct }}" }"#),
            |r| {
                let v = ok(r);
                assert_eq!(v["AStruct"]["AString"], "hello");
                assert_eq!(v["AStruct"]["AnInt"], 42);
            },
        ),
        (
            "null",
            Template::Json(r#"{ "AStruct": "${{ \"null\" }}" }"#),
            |r| assert_eq!(ok(r), json!({"AStruct": null})),
        ),
        (
            "test recursion",
            Template::Json(
                r#"{ "AStringMap": { "key": "${{ aString }}" }, "AnIntMap": { "key": "${{ anInt }}" }, "AStringArr": [ "${{ aString }}"], "AnIntArr": [ "${{ anInt }}"] }"#,
            ),
            |r| {
                assert_eq!(
                    ok(r),
                    json!({"AStringMap": {"key": "hello"}, "AnIntMap": {"key": 42}, "AStringArr": ["hello"], "AnIntArr": [42]})
                )
            },
        ),
        (
            "quote function forces null to string",
            Template::Json(r#"{ "AString": "${{ quote(null) }}" }"#),
            |r| assert_eq!(ok(r)["AString"], "null"),
        ),
        (
            "quote function forces bool to string",
            Template::Json(r#"{ "AString": "${{ quote(true) }}" }"#),
            |r| assert_eq!(ok(r)["AString"], "true"),
        ),
        (
            "quote function forces number to string",
            Template::Json(r#"{ "AString": "${{ quote(42) }}" }"#),
            |r| assert_eq!(ok(r)["AString"], "42"),
        ),
        (
            "quote function forces object to string",
            Template::Json(r#"{ "AString": "${{ quote({ 'foo': 'bar' }) }}" }"#),
            |r| assert_eq!(ok(r)["AString"], r#"{"foo":"bar"}"#),
        ),
        (
            "quote function doesn't double quote string input",
            Template::Json(r#"{ "AString": "${{ quote('foo') }}" }"#),
            |r| assert_eq!(ok(r)["AString"], "foo"),
        ),
        (
            "unsafeQuote function does double quote string input",
            Template::Json(r#"{ "AString": "${{ unsafeQuote('foo') }}" }"#),
            |r| assert_eq!(ok(r)["AString"], "\"foo\""),
        ),
        (
            "asYAML function formats map as string",
            Template::Json(r#"{ "AString": "${{ asYAML({ 'foo': 'bar', 'count': 2 }) }}" }"#),
            |r| {
                let v = ok(r);
                let s = v["AString"].as_str().unwrap_or_default();
                assert!(
                    s.contains("foo: bar\n") && s.contains("count: 2\n"),
                    "{s:?}"
                );
            },
        ),
        (
            "asYAML function formats array as string",
            Template::Json(r#"{ "AString": "${{ asYAML([ 'one', 'two' ]) }}" }"#),
            |r| assert_eq!(ok(r)["AString"], "- one\n- two\n"),
        ),
        (
            "asJSON function formats object as pretty JSON string",
            Template::Json(r#"{ "AString": "${{ asJSON({ 'foo': 'bar', 'count': 2 }) }}" }"#),
            |r| {
                let v = ok(r);
                let s = v["AString"].as_str().unwrap_or_default();
                let parsed: Value = serde_json::from_str(s).unwrap_or_default();
                assert_eq!(parsed, json!({"foo": "bar", "count": 2}));
                assert!(s.contains('\n') && s.ends_with('\n'), "{s:?}");
                // Go's encoding/json sorts keys.
                assert_eq!(s, "{\n  \"count\": 2,\n  \"foo\": \"bar\"\n}\n");
            },
        ),
        (
            "a variety of tricky cases dealing with YAML and quotes",
            Template::Yaml(
                r#"
value1: {"foo": "bar"} # This is a JSON object
value2: '${{ quote({"foo": "bar"}) }}' # This is a string
value3: | # This is a string
  {"foo": "bar"}
value4: | # This is a JSON object
  ${{ {"foo": "bar"} }}
value5: | # This is a string
  ${{ quote({"foo": "bar"}) }}
value6: | # Make sure we're not tripped up by multiple newlines
  ${{ quote({"foo": "bar"}) }}
  
value7: 42 # This is a number
value8: "42" # This is a string
value9: '42'	# This is a string
value10: '${{ quote(42) }}' # This is a string
value11: | # This is a string
  42
value12: | # This is a number
  ${{ 42 }}
value13: | # This is a string
  ${{ quote(42) }}
"#,
            ),
            |r| {
                let v = ok(r);
                assert_eq!(v["value1"], json!({"foo": "bar"}));
                assert_eq!(v["value2"], r#"{"foo":"bar"}"#);
                assert_eq!(v["value3"], "{\"foo\": \"bar\"}\n");
                assert_eq!(v["value4"], json!({"foo": "bar"}));
                assert_eq!(v["value5"], "{\"foo\":\"bar\"}\n");
                assert_eq!(v["value6"], "{\"foo\":\"bar\"}\n");
                assert_eq!(v["value7"], json!(42));
                assert_eq!(v["value8"], "42");
                assert_eq!(v["value9"], "42");
                assert_eq!(v["value10"], "42");
                assert_eq!(v["value11"], "42\n");
                assert_eq!(v["value12"], json!(42));
                assert_eq!(v["value13"], "42\n");
            },
        ),
        (
            "missing closing delimiter",
            Template::Json(r#"{ "AString": "${{ aString " }"#),
            |r| assert!(r.is_err_and(|e| e.contains("unclosed expression"))),
        ),
        (
            "closing delimiter in expression body terminates early",
            Template::Json(r#"{ "AString": "${{ '{{.domain}}' }}" }"#),
            // Upstream's text is Go expr's "literal not terminated"; ours is
            // the Rust parser's syntax error for the same cut-short literal.
            |r| {
                assert!(
                    r.is_err_and(|e| e.contains("syntax error")),
                    "cut-short literal"
                )
            },
        ),
        (
            "alternative delimiters allow other end delimiter characters within expression",
            Template::Json(r#"{ "AString": "${% '{{.domain}}' %}" }"#),
            |r| assert_eq!(ok(r)["AString"], "{{.domain}}"),
        ),
        (
            "multiple delimiters can coexist in the same template",
            Template::Json(r#"{ "AString": "foo ${{ aString }} and ${% 'bar' %}" }"#),
            |r| assert_eq!(ok(r)["AString"], "foo hello and bar"),
        ),
    ]
}

#[test]
fn evaluate_json_template_table() {
    let rows = rows();
    assert_eq!(rows.len(), 23, "upstream table rows");
    let env = test_env();
    for (name, template, check) in rows {
        let result = evaluate(&template, &env);
        let shown = format!("{name}: {result:?}");
        if std::panic::catch_unwind(|| check(result)).is_err() {
            panic!("row failed: {shown}");
        }
    }
}

#[test]
fn forbidden_environment_keys() {
    let forbidden = ["quote", "asYAML", "asJSON"];
    assert_eq!(forbidden.len(), 3, "upstream subtests");
    for name in forbidden {
        let env = Env::new().set(name, Value::Null);
        let err = evaluate(&Template::Json("{}"), &env);
        assert!(
            err.as_ref()
                .is_err_and(|e| e.contains(&format!("{name:?} is a forbidden key"))),
            "{name}: {err:?}"
        );
    }
}
