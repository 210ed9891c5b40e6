//! Tests of templating, typing, functions and errors, starting with the
//! seed's own expressions.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::env::PromotionContext;
use crate::lookup::{NoLookup, StaticLookup, StepStatus};

fn lookup() -> StaticLookup {
    let mut l = StaticLookup {
        freight: vec![
            json!({
                "name": "f1a2b3", "alias": "wonky-wombat",
                "origin": {"kind": "Warehouse", "name": "my-web-app"},
                "images": [{"repoURL": "myacr.azurecr.io/my-web-app", "tag": "1.5.0", "digest": "sha256:abc"}],
                "commits": [{"repoURL": "https://github.com/example/repo.git", "id": "1234abcd", "tag": "v1.5.0", "message": "release"}],
                "charts": [{"repoURL": "oci://registry.example.com/charts/web", "version": "2.3.4"}],
            }),
            json!({
                "name": "e9e9e9",
                "origin": {"kind": "Warehouse", "name": "configs"},
                "charts": [{"repoURL": "https://charts.example.com", "name": "db", "version": "0.9.1"}],
            }),
        ],
        ..Default::default()
    };
    l.config_maps.insert(
        "my-config".into(),
        BTreeMap::from([(
            "repoURL".to_string(),
            "https://git.example.com/cfg".to_string(),
        )]),
    );
    l.secrets.insert(
        "slack".into(),
        BTreeMap::from([("token".to_string(), "xoxb-1".to_string())]),
    );
    let meta = json!({"category": "hotfix", "settings": {"timeout": 30}});
    if let Value::Object(m) = meta {
        l.freight_metadata.insert("f1a2b3".into(), m.clone());
        l.stage_metadata.insert("dev".into(), m);
    }
    l.steps = vec![
        StepStatus {
            alias: "clone".into(),
            status: "Succeeded".into(),
        },
        StepStatus {
            alias: "task-1::update".into(),
            status: "Errored".into(),
        },
    ];
    l
}

fn env() -> Env {
    let ctx = PromotionContext {
        project: "kargo-demo".into(),
        stage: "dev".into(),
        promotion: "dev.01j2".into(),
        target_freight_name: "f1a2b3".into(),
        target_origin_name: "my-web-app".into(),
        actor: "admin".into(),
        ..Default::default()
    };
    Env::for_promotion(&ctx, &lookup().freight)
        .with_vars(json!({"gitRepo": "https://github.com/example/repo.git", "replicas": 3, "obj": {"a": [1, 2]}}))
        .with_outputs(json!({"update-image": {"commitMessage": "bump"}, "commit": {"commit": "cafe"}}))
        .with_task_outputs(json!({"read-version": {"currentVersion": "1.4.0"}}))
}

fn eval(template: &str) -> Result<Value, ExprError> {
    let l = lookup();
    Evaluator::new(&env(), &l).evaluate_template(template)
}

fn ok(template: &str) -> Value {
    eval(template).unwrap_or_else(|e| panic!("{template:?} failed: {e}"))
}

fn err(template: &str) -> String {
    match eval(template) {
        Ok(v) => panic!("{template:?} should fail, got {v}"),
        Err(e) => e.to_string(),
    }
}

// --- the seed ---------------------------------------------------------------

#[test]
fn seed_expressions() {
    assert_eq!(
        ok("apps/my-web-app/${{ ctx.stage }}/values.yaml"),
        json!("apps/my-web-app/dev/values.yaml")
    );
    assert_eq!(
        ok(r#"${{ freight.images["myacr.azurecr.io/my-web-app"].tag }}"#),
        json!("1.5.0")
    );
    assert_eq!(
        ok("promote my-web-app to ${{ ctx.stage }}"),
        json!("promote my-web-app to dev")
    );
    let l = lookup();
    let variables = env();
    let e = Evaluator::new(&variables, &l);
    assert_eq!(e.evaluate_condition(r#"ctx.stage == "prod""#), Ok(false));
    assert_eq!(e.evaluate_condition(r#"ctx.stage == "dev""#), Ok(true));
    assert_eq!(
        e.evaluate_condition(r#"${{ ctx.stage == "dev" }}"#),
        Ok(true)
    );
}

#[test]
fn seed_config_block_recursively() {
    let config = json!({
        "path": "./out",
        "updates": [{
            "file": "apps/my-web-app/${{ ctx.stage }}/values.yaml",
            "key": "image.tag",
            "value": "${{ freight.images[\"myacr.azurecr.io/my-web-app\"].tag }}",
        }],
        "replicas": "${{ vars.replicas }}",
        "${{ not.a.key }}": 1,
        "n": 5,
    });
    let l = lookup();
    let out = evaluate_config(&config, &env(), &l).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["updates"][0]["file"], "apps/my-web-app/dev/values.yaml");
    assert_eq!(out["updates"][0]["value"], "1.5.0");
    assert_eq!(out["replicas"], json!(3));
    assert_eq!(out["${{ not.a.key }}"], json!(1), "keys are not evaluated");
    assert_eq!(out["n"], json!(5));
}

// --- typing -----------------------------------------------------------------

#[test]
fn typing_rules() {
    assert_eq!(ok("${{ 1 + 1 }}"), json!(2));
    assert_eq!(ok("${{ quote(1 + 1) }}"), json!("2"));
    assert_eq!(ok("v${{ 1 }}"), json!("v1"));
    assert_eq!(ok("${{ 40 + 2 }}"), json!(42));
    assert_eq!(ok("${{ 3 / 2 }}"), json!(1.5));
    assert_eq!(ok("${{ true }}"), json!(true));
    assert_eq!(ok("${{ quote(true) }}"), json!("true"));
    assert_eq!(ok("${{ vars.obj }}"), json!({"a": [1, 2]}));
    assert_eq!(ok("${{ [1, 'x'] }}"), json!([1, "x"]));
    assert_eq!(ok("${{ nil }}"), Value::Null);
    assert_eq!(
        ok(r#"${{ "42" }}"#),
        json!(42),
        "string results that look like numbers become numbers"
    );
    assert_eq!(ok(r#"${{ '{"k": "v"}' }}"#), json!({"k": "v"}));
    assert_eq!(ok("42"), json!("42"), "no delimiter: untouched");
    assert_eq!(ok("true"), json!("true"));
    assert_eq!(
        ok("${{ 1 }}.${{ 2 }}"),
        json!(1.2),
        "Kargo types the joined result"
    );
    assert_eq!(ok("${{ 'a' }}${{ 'b' }}"), json!("ab"));
    assert_eq!(ok("x ${{ vars.obj }}"), json!(r#"x {"a":[1,2]}"#));
    assert_eq!(ok("${{ 'T' }}"), json!(true), "Go's ParseBool accepts T");
    assert_eq!(ok("${{ quote('1.5.0') }}"), json!("1.5.0"));
    assert_eq!(
        ok("${{ '12' }}\n"),
        json!(12),
        "a trailing newline is ignored for typing"
    );
    assert_eq!(
        ok("${{ 'text' }}\n"),
        json!("text\n"),
        "and kept on strings"
    );
    assert_eq!(ok("${{ quote(7) }}\n"), json!("7\n"));
    assert_eq!(
        ok("${{ 'NaN' }}"),
        json!("NaN"),
        "non-finite numbers stay strings"
    );
}

#[test]
fn percent_delimiters_work_the_same() {
    assert_eq!(ok("${% 1 + 1 %}"), json!(2));
    assert_eq!(
        ok("${% ctx.stage %}-${{ ctx.project }}"),
        json!("dev-kargo-demo")
    );
}

#[test]
fn bare_expressions_keep_their_type() {
    let l = lookup();
    let variables = env();
    let e = Evaluator::new(&variables, &l);
    assert_eq!(e.evaluate_expression("'42'"), Ok(json!("42")));
    assert_eq!(e.evaluate_expression("vars.replicas * 2"), Ok(json!(6)));
    assert_eq!(
        e.evaluate_expression("ctx.meta.promotion.actor"),
        Ok(json!("admin"))
    );
}

// --- variables --------------------------------------------------------------

#[test]
fn variables() {
    assert_eq!(
        ok("${{ ctx.project }}/${{ ctx.promotion }}"),
        json!("kargo-demo/dev.01j2")
    );
    assert_eq!(ok("${{ ctx.targetFreight.name }}"), json!("f1a2b3"));
    assert_eq!(
        ok("${{ ctx.targetFreight.origin.name }}"),
        json!("my-web-app")
    );
    assert_eq!(
        ok("${{ ctx.targetFreight.origin.kind }}"),
        json!("Warehouse")
    );
    assert_eq!(ok("${{ ctx.meta.promotion.actor }}"), json!("admin"));
    assert_eq!(
        ok("${{ vars.gitRepo }}"),
        json!("https://github.com/example/repo.git")
    );
    assert_eq!(
        ok("${{ outputs['update-image'].commitMessage }}"),
        json!("bump")
    );
    assert_eq!(ok("${{ outputs.commit.commit }}"), json!("cafe"));
    assert_eq!(
        ok("${{ task.outputs['read-version'].currentVersion }}"),
        json!("1.4.0")
    );
    assert_eq!(ok("${{ freight.name }}"), json!("f1a2b3"));
    assert_eq!(ok("${{ freight.alias }}"), json!("wonky-wombat"));
    assert_eq!(
        ok("${{ freight.images['myacr.azurecr.io/my-web-app'].digest }}"),
        json!("sha256:abc")
    );
    assert_eq!(
        ok("${{ freight.commits['https://github.com/example/repo.git'].id }}"),
        json!("1234abcd")
    );
    assert_eq!(
        ok("${{ freight.charts['oci://registry.example.com/charts/web'].version }}"),
        json!("2.3.4")
    );
    assert_eq!(
        ok("${{ freight.charts['https://charts.example.com:db'].version }}"),
        json!("0.9.1")
    );
}

// --- functions --------------------------------------------------------------

#[test]
fn quoting_functions() {
    assert_eq!(ok(r#"${{ quote("string") }}"#), json!("string"));
    assert_eq!(ok(r#"${{ unsafeQuote("string") }}"#), json!("\"string\""));
    assert_eq!(ok("${{ unsafeQuote(40 + 2) }}"), json!("42"));
    assert_eq!(ok("${{ quote(vars.obj) }}"), json!(r#"{"a":[1,2]}"#));
    assert_eq!(ok("${{ asJSON({'a': 1}) }}"), json!("{\n  \"a\": 1\n}\n"));
}

#[test]
fn freight_functions() {
    assert_eq!(
        ok("${{ warehouse('my-web-app').name }}"),
        json!("my-web-app")
    );
    assert_eq!(
        ok("${{ warehouse('my-web-app').kind }}"),
        json!("Warehouse")
    );
    assert_eq!(
        ok("${{ warehouse('my-web-app') }}"),
        json!({"kind": "Warehouse", "name": "my-web-app"})
    );
    assert_eq!(
        ok("${{ imageFrom('myacr.azurecr.io/my-web-app').Tag }}"),
        json!("1.5.0")
    );
    assert_eq!(
        ok("${{ imageFrom('myacr.azurecr.io/my-web-app', warehouse('my-web-app')).Digest }}"),
        json!("sha256:abc")
    );
    assert_eq!(
        ok("${{ imageFrom('myacr.azurecr.io/my-web-app', warehouse('configs')) }}"),
        Value::Null
    );
    assert_eq!(
        ok("${{ imageFrom('nope/nope')?.Tag ?? 'none' }}"),
        json!("none")
    );
    assert_eq!(ok("${{ commitFrom(vars.gitRepo).ID }}"), json!("1234abcd"));
    assert_eq!(
        ok("${{ commitFrom('https://github.com/example/repo').Tag }}"),
        json!("v1.5.0")
    );
    assert_eq!(
        ok("${{ chartFrom('oci://registry.example.com/charts/web').Version }}"),
        json!("2.3.4")
    );
    assert_eq!(
        ok("${{ chartFrom('https://charts.example.com', 'db').Version }}"),
        json!("0.9.1")
    );
    assert_eq!(
        ok(
            "${{ quote(chartFrom('https://charts.example.com', 'db', warehouse('configs')).Version) }}"
        ),
        json!("0.9.1")
    );
    assert_eq!(
        ok("${{ chartFrom('https://charts.example.com', 'web') }}"),
        Value::Null
    );
}

#[test]
fn data_functions() {
    assert_eq!(
        ok("${{ configMap('my-config').repoURL }}"),
        json!("https://git.example.com/cfg")
    );
    assert_eq!(ok("${{ configMap('missing') }}"), json!({}));
    assert_eq!(
        ok("Bearer ${{ secret('slack').token }}"),
        json!("Bearer xoxb-1")
    );
    assert_eq!(
        ok("${{ secret('missing').token ?? 'none' }}"),
        json!("none")
    );
    assert_eq!(
        ok("${{ freightMetadata(ctx.targetFreight.name).category }}"),
        json!("hotfix")
    );
    assert!(
        err("${{ freightMetadata(ctx.targetFreight.name, 'category') }}")
            .contains("expected 1 argument, got 2")
    );
    assert_eq!(
        ok("${{ freightMetadata(ctx.targetFreight.name)?.settings?.timeout ?? 300 }}"),
        json!(30)
    );
    assert_eq!(ok("${{ freightMetadata('other') }}"), Value::Null);
    assert_eq!(
        ok("${{ stageMetadata(ctx.stage)['category'] }}"),
        json!("hotfix")
    );
    assert_eq!(
        ok("${{ stageMetadata('prod')?.tier ?? 'default-tier' }}"),
        json!("default-tier")
    );
    assert_eq!(
        ok("${{ stageMetadata('dev').settings }}"),
        json!({"timeout": 30})
    );
}

#[test]
fn semver_functions() {
    assert_eq!(ok("${{ semverDiff('1.2.3', '2.0.0') }}"), json!("Major"));
    assert_eq!(
        ok(
            "${{ semverDiff(freight.images['myacr.azurecr.io/my-web-app'].tag, task.outputs['read-version'].currentVersion) }}"
        ),
        json!("Minor")
    );
    assert_eq!(ok("${{ semverDiff('1.2.3', '1.2.4') }}"), json!("Patch"));
    assert_eq!(
        ok("${{ semverDiff('1.2.3+a', '1.2.3+b') }}"),
        json!("Metadata")
    );
    assert_eq!(ok("${{ semverDiff('1.2.3', 'v1.2.3') }}"), json!("None"));
    assert_eq!(
        ok("${{ semverDiff('bad', '1.0.0') }}"),
        json!("Incomparable")
    );
    assert_eq!(
        ok("${{ semverParse('v1.2.3-rc.1+build').Major }}"),
        json!(1)
    );
    assert_eq!(ok("${{ semverParse('1.2').Minor }}"), json!(2));
    assert_eq!(
        ok("${{ semverParse('1.2.3-rc.1').Prerelease }}"),
        json!("rc.1")
    );
    assert_eq!(ok("${{ semverParse('1.2.3+b7').Metadata }}"), json!("b7"));
    assert_eq!(ok("${{ semverParse('v1.2.3').String }}"), json!("1.2.3"));
    assert!(err("${{ semverParse('nope') }}").contains("invalid semantic version"));
}

#[test]
fn status_functions() {
    let l = lookup();
    let variables = env();
    let e = Evaluator::new(&variables, &l);
    assert_eq!(e.evaluate_condition("always()"), Ok(true));
    assert_eq!(e.evaluate_condition("failure()"), Ok(true));
    assert_eq!(e.evaluate_condition("success()"), Ok(false));
    assert_eq!(
        e.evaluate_expression("status('clone')"),
        Ok(json!("Succeeded"))
    );
    assert_eq!(
        e.evaluate_expression("status('update')"),
        Ok(json!("")),
        "other task's step"
    );
    let mut in_task = lookup();
    in_task.current_step = "task-1::push".into();
    let t = Evaluator::new(&variables, &in_task);
    assert_eq!(
        t.evaluate_expression("status('update')"),
        Ok(json!("Errored"))
    );
    let mut clean = lookup();
    clean.steps.truncate(1);
    let c = Evaluator::new(&variables, &clean);
    assert_eq!(c.evaluate_condition("${{ success() }}"), Ok(true));
    assert_eq!(c.evaluate_condition("${{ failure() }}"), Ok(false));
}

#[test]
fn dates_and_durations() {
    assert_eq!(ok("${{ date('2024-01-02').Year() }}"), json!(2024));
    assert_eq!(ok("${{ now().After(date('2020-01-01')) }}"), json!(true));
    assert_eq!(
        ok("${{ date('2024-01-02') }}"),
        json!("2024-01-02T00:00:00Z")
    );
    assert_eq!(
        ok("${{ date('2024-01-02T03:04:05.5+02:00') }}"),
        json!("2024-01-02T03:04:05.5+02:00")
    );
    assert_eq!(ok("${{ duration('1h30m').Minutes() }}"), json!(90));
    assert_eq!(
        ok("${{ (date('2024-01-02') + duration('36h')).Format('2006-01-02 15:04') }}"),
        json!("2024-01-03 12:00")
    );
    assert_eq!(
        ok("${{ date('2024-03-01') - date('2024-02-28') > duration('24h') }}"),
        json!(true)
    );
}

#[test]
fn yaml_and_json_text_like_go() {
    let env = Env::new().set("v", json!({"b": {"a": [1, 2]}, "a": "true"}));
    assert_eq!(
        Evaluator::new(&env, &NoLookup).evaluate_template("${{ asYAML(v) }}"),
        Ok(json!("a: \"true\"\nb:\n    a:\n        - 1\n        - 2\n"))
    );
    assert_eq!(
        ok("v=${{ {'b': 1, 'a': '<x>'} }}"),
        json!(r#"v={"a":"\u003cx\u003e","b":1}"#)
    );
}

#[test]
fn expr_lang_builtins_are_available() {
    assert_eq!(ok("${{ upper(ctx.stage) }}"), json!("DEV"));
    assert_eq!(
        ok("${{ ctx.stage + '-' + ctx.project }}"),
        json!("dev-kargo-demo")
    );
    assert_eq!(ok("${{ len(vars.obj.a) }}"), json!(2));
    assert_eq!(
        ok("${{ ctx.stage in ['dev', 'test'] ? 'low' : 'high' }}"),
        json!("low")
    );
    assert_eq!(ok("${{ toJSON(vars.obj.a) }}"), json!([1, 2]));
}

// --- errors -----------------------------------------------------------------

#[test]
fn errors_name_expression_position_and_cause() {
    let typo = err(r#"${{ freight.images["myacr.azurecr.io/my-web-app"].tgs }}"#);
    assert!(
        typo.starts_with(
            r#"evaluating "${{ freight.images[\"myacr.azurecr.io/my-web-app\"].tgs }}""#
        ),
        "{typo}"
    );
    assert!(typo.contains("no field \"tgs\""), "{typo}");
    let missing = err("tag: ${{ freight.images['other/repo'].tag }}");
    assert!(missing.contains("at offset 5 of"), "{missing}");
    assert!(
        missing.contains("no entry \"other/repo\"")
            && missing.contains("myacr.azurecr.io/my-web-app"),
        "{missing}"
    );
    let unknown_var = err("${{ nosuchvar.x }}");
    assert!(
        unknown_var.contains("unknown variable") && unknown_var.contains("nosuchvar"),
        "{unknown_var}"
    );
    let unknown_fn = err("${{ nosuchfn(1) }}");
    assert!(
        unknown_fn.contains("Unknown function") && unknown_fn.contains("nosuchfn"),
        "{unknown_fn}"
    );
    let syntax = err("a/${{ 1 + + }}/b");
    assert!(
        syntax.contains("syntax error at line 1, column"),
        "{syntax}"
    );
    assert!(
        syntax.contains(r#"evaluating "${{ 1 + + }}" at offset 2 of "a/${{ 1 + + }}/b""#),
        "{syntax}"
    );
    let unclosed = err("x ${{ ctx.stage ");
    assert!(
        unclosed.contains("unclosed expression at offset 2") && unclosed.contains("\"}}\""),
        "{unclosed}"
    );
    assert!(err("${{ }}").contains("empty expression"));
    assert!(err("${{ 1 / 0 }}").contains("not a finite number"));
}

#[test]
fn function_argument_errors() {
    assert!(err("${{ warehouse() }}").contains("warehouse(): expected 1 argument, got 0"));
    assert!(err("${{ warehouse('') }}").contains("name must not be empty"));
    assert!(err("${{ warehouse(1) }}").contains("argument must be string, got int"));
    assert!(err("${{ imageFrom('a', 'b') }}").contains("second argument must be FreightOrigin"));
    assert!(err("${{ commitFrom() }}").contains("expected 1-2 arguments, got 0"));
    assert!(
        err("${{ chartFrom('a', warehouse('x'), warehouse('y')) }}")
            .contains("when using three arguments, second argument must be string")
    );
    assert!(err("${{ semverDiff('1.0.0') }}").contains("expected 2 arguments, got 1"));
    assert!(err("${{ freightMetadata('') }}").contains("must not be empty"));
    assert!(err("${{ status('') }}").contains("must not be empty"));
    assert!(err("${{ success(1) }}").contains("expected 0 arguments"));
}

#[test]
fn ambiguous_artifact_needs_origin() {
    let mut l = lookup();
    l.freight[1]["images"] = json!([{"repoURL": "myacr.azurecr.io/my-web-app", "tag": "9.0.0"}]);
    let variables = env();
    let e = Evaluator::new(&variables, &l);
    let ambiguous = e.evaluate_template("${{ imageFrom('myacr.azurecr.io/my-web-app').Tag }}");
    assert!(ambiguous.is_err_and(|e| e.to_string().contains("multiple Freight origins")));
    let chosen = e.evaluate_template(
        "${{ imageFrom('myacr.azurecr.io/my-web-app', warehouse('configs')).Tag }}",
    );
    assert_eq!(chosen, Ok(json!("9.0.0")));
}

#[test]
fn condition_errors() {
    let l = lookup();
    let variables = env();
    let e = Evaluator::new(&variables, &l);
    let not_bool = e.evaluate_condition("ctx.stage");
    assert!(not_bool.is_err_and(|e| e.to_string().contains("expected true or false")));
    assert!(e.evaluate_condition("ctx.stage ==").is_err());
    assert!(e.evaluate_condition("").is_err());
}

#[test]
fn config_errors_carry_the_field_path() {
    let l = lookup();
    let config = json!({"updates": [{"value": "${{ nosuchvar }}"}]});
    let e = evaluate_config(&config, &env(), &l);
    assert!(e.is_err_and(|e| e.to_string().starts_with("updates[0].value: evaluating")));
}

#[test]
fn hostile_input_never_panics() {
    let l = lookup();
    let variables = env();
    let e = Evaluator::new(&variables, &l);
    for input in [
        "${{",
        "${%",
        "}}",
        "${{ ( }}",
        "${{ [ }}",
        "${{ 'unterminated }}",
        "${{ 1/0 }}",
        "${{ -9223372036854775808 - 1 }}",
        "${{ vars.obj.a[99] }}",
        "${{ vars.obj.a[-99] }}",
        "${{ ctx.stage[5:1] }}",
        "${{ 😀 }}",
        "${{ nil.x }}",
        "${{ freight.images }}",
        "${{ quote() }}",
        "${{ quote(1, 2) }}",
        "${{ asJSON() }}",
    ] {
        let _ = e.evaluate_template(input);
        let _ = e.evaluate_condition(input);
    }
}

#[test]
fn no_freight_in_env_means_plain_variables() {
    let env = Env::new().with_ctx(json!({"stage": "dev"}));
    let l = StaticLookup::default();
    let e = Evaluator::new(&env, &l);
    assert_eq!(e.evaluate_template("${{ ctx.stage }}"), Ok(json!("dev")));
    assert!(
        e.evaluate_template("${{ freight.name }}")
            .is_err_and(|e| e.to_string().contains("unknown variable"))
    );
    assert_eq!(
        e.evaluate_template("${{ imageFrom('x') }}"),
        Ok(Value::Null)
    );
}

#[test]
fn map_literals_with_variables_evaluate_or_fail_cleanly() {
    // Literal maps work; wherever the parser gives up, the answer is an
    // error naming the expression, never a panic.
    assert_eq!(ok(r#"${{ quote({"a": 1}) }}"#), json!("{\"a\":1}"));
    match eval(r#"${{ quote({"text": ctx.stage}) }}"#) {
        Ok(v) => assert_eq!(v, json!("{\"text\":\"dev\"}")),
        Err(e) => assert!(e.to_string().contains("ctx.stage"), "{e}"),
    }
}
