//! Kargo's own tables for its expression functions
//! (`pkg/expressions/function/functions_test.go`), ported as data: each row
//! is the function call written as an expression, the world it sees (the
//! Freight collection, ConfigMaps, Secrets, metadata, step statuses) and
//! what Kargo answers: a value, nil, or an error containing a text.
//! Each table asserts how many upstream rows it carries.

use kargo_expr::{Env, Evaluator, StaticLookup, StepStatus};
use serde_json::{Map, Value, json};

/// What a row expects.
enum Want {
    Value(Value),
    /// Only these fields of the (object) result are compared.
    Fields(Value),
    Err(&'static str),
}

struct Row {
    name: &'static str,
    expr: &'static str,
    world: StaticLookup,
    want: Want,
}

fn row(name: &'static str, expr: &'static str, world: StaticLookup, want: Want) -> Row {
    Row {
        name,
        expr,
        world,
        want,
    }
}

fn check(table: &str, rows: &[Row], upstream: usize) {
    assert_eq!(rows.len(), upstream, "{table}: upstream row count");
    for r in rows {
        let got = Evaluator::new(&Env::new(), &r.world)
            .evaluate_expression(r.expr)
            .map_err(|e| e.to_string());
        match &r.want {
            Want::Value(v) => assert_eq!(got.as_ref(), Ok(v), "{table} / {}", r.name),
            Want::Fields(fields) => {
                let got = got.unwrap_or_else(|e| panic!("{table} / {}: {e}", r.name));
                for (k, v) in fields.as_object().into_iter().flatten() {
                    assert_eq!(got.get(k), Some(v), "{table} / {}: field {k}", r.name);
                }
            }
            Want::Err(sub) => assert!(
                got.as_ref().is_err_and(|e| e.contains(sub)),
                "{table} / {}: expected an error containing {sub:?}, got {got:?}",
                r.name
            ),
        }
    }
}

fn none() -> StaticLookup {
    StaticLookup::default()
}

/// One Freight from Warehouse `fake-warehouse` with the given artifacts.
fn freight(artifacts: Value) -> StaticLookup {
    let mut f = json!({"name": "f1", "origin": {"kind": "Warehouse", "name": "fake-warehouse"}});
    for (k, v) in artifacts.as_object().into_iter().flatten() {
        f[k] = v.clone();
    }
    StaticLookup {
        freight: vec![f],
        ..Default::default()
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[test]
fn warehouse_table() {
    let rows = [
        row(
            "valid warehouse name",
            r#"warehouse("test-warehouse")"#,
            none(),
            Want::Value(json!({"kind": "Warehouse", "name": "test-warehouse"})),
        ),
        row(
            "no arguments",
            "warehouse()",
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "too many arguments",
            r#"warehouse("test-warehouse", "extra")"#,
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "invalid argument type",
            "warehouse(123)",
            none(),
            Want::Err("argument must be string"),
        ),
        row(
            "empty string name",
            r#"warehouse("")"#,
            none(),
            Want::Err("name must not be empty"),
        ),
    ];
    check("Test_warehouse", &rows, 5);
}

fn commit_world(id: &str) -> StaticLookup {
    freight(json!({"commits": [{"repoURL": "https://github.com/example/repo", "id": id}]}))
}

#[test]
fn commit_from_table() {
    let rows = [
        row(
            "repo URL only",
            r#"commitFrom("https://github.com/example/repo")"#,
            commit_world("abc123"),
            Want::Fields(json!({"RepoURL": "https://github.com/example/repo", "ID": "abc123"})),
        ),
        row(
            "repo URL and origin",
            r#"commitFrom("https://github.com/example/repo", warehouse("fake-warehouse"))"#,
            commit_world("def456"),
            Want::Fields(json!({"RepoURL": "https://github.com/example/repo", "ID": "def456"})),
        ),
        row(
            "no arguments",
            "commitFrom()",
            none(),
            Want::Err("expected 1-2 arguments"),
        ),
        row(
            "too many arguments",
            r#"commitFrom("https://github.com/example/repo", {"kind": "", "name": ""}, "extra")"#,
            none(),
            Want::Err("expected 1-2 arguments"),
        ),
        row(
            "invalid first argument type",
            "commitFrom(123)",
            none(),
            Want::Err("first argument must be string"),
        ),
        row(
            "invalid second argument type",
            r#"commitFrom("https://github.com/example/repo", "invalid")"#,
            none(),
            Want::Err("second argument must be FreightOrigin"),
        ),
    ];
    check("Test_getCommitFromFreight", &rows, 6);
}

fn image_world() -> StaticLookup {
    freight(json!({"images": [{"repoURL": "registry.example.com/app"}]}))
}

#[test]
fn image_from_table() {
    let rows = [
        row(
            "repo URL only",
            r#"imageFrom("registry.example.com/app")"#,
            image_world(),
            Want::Fields(json!({"RepoURL": "registry.example.com/app"})),
        ),
        row(
            "repo URL and origin",
            r#"imageFrom("registry.example.com/app", warehouse("fake-warehouse"))"#,
            image_world(),
            Want::Fields(json!({"RepoURL": "registry.example.com/app"})),
        ),
        row(
            "no arguments",
            "imageFrom()",
            none(),
            Want::Err("expected 1-2 arguments"),
        ),
        row(
            "too many arguments",
            r#"imageFrom("registry.example.com/app", {"kind": "", "name": ""}, "extra")"#,
            none(),
            Want::Err("expected 1-2 arguments"),
        ),
        row(
            "invalid first argument type",
            "imageFrom(123)",
            none(),
            Want::Err("first argument must be string"),
        ),
        row(
            "invalid second argument type",
            r#"imageFrom("registry.example.com/app", "invalid")"#,
            none(),
            Want::Err("second argument must be FreightOrigin"),
        ),
    ];
    check("Test_getImageFromFreight", &rows, 6);
}

fn chart_world(repo: &str, name: &str) -> StaticLookup {
    freight(json!({"charts": [{"repoURL": repo, "name": name}]}))
}

#[test]
fn chart_from_table() {
    let oci = "oci://registry.example.com/chart";
    let https = "https://charts.example.com";
    let rows = [
        row(
            "repo URL only",
            r#"chartFrom("oci://registry.example.com/chart")"#,
            chart_world(oci, ""),
            Want::Fields(json!({"RepoURL": oci})),
        ),
        row(
            "repo URL and chart name",
            r#"chartFrom("https://charts.example.com", "fake-chart")"#,
            chart_world(https, "fake-chart"),
            Want::Fields(json!({"RepoURL": https, "Name": "fake-chart"})),
        ),
        row(
            "repo URL and origin",
            r#"chartFrom("oci://registry.example.com/chart", warehouse("fake-warehouse"))"#,
            chart_world(oci, ""),
            Want::Fields(json!({"RepoURL": oci})),
        ),
        row(
            "repo URL, chart name, and origin",
            r#"chartFrom("https://charts.example.com", "fake-chart", warehouse("fake-warehouse"))"#,
            chart_world(https, "fake-chart"),
            Want::Fields(json!({"RepoURL": https, "Name": "fake-chart"})),
        ),
        row(
            "no arguments",
            "chartFrom()",
            none(),
            Want::Err("expected 1-3 arguments"),
        ),
        row(
            "too many arguments",
            r#"chartFrom("url", "name", {"kind": "", "name": ""}, "extra")"#,
            none(),
            Want::Err("expected 1-3 arguments"),
        ),
        row(
            "invalid first argument type",
            "chartFrom(123)",
            none(),
            Want::Err("first argument must be string"),
        ),
        row(
            "invalid second argument type",
            r#"chartFrom("https://charts.example.com", 123)"#,
            none(),
            Want::Err("second argument must be string or FreightOrigin"),
        ),
        row(
            "invalid third argument with string second argument",
            r#"chartFrom("https://charts.example.com", "fake-chart", "invalid")"#,
            none(),
            Want::Err("third argument must be FreightOrigin"),
        ),
        row(
            "invalid third argument with origin second argument",
            r#"chartFrom("https://charts.example.com", {"kind": "", "name": ""}, "invalid")"#,
            none(),
            Want::Err("when using three arguments, second argument must be string"),
        ),
    ];
    check("Test_getChartFromFreight", &rows, 10);
}

fn config_world() -> StaticLookup {
    let mut l = StaticLookup::default();
    l.config_maps.insert(
        "fake-configmap".into(),
        [("foo".into(), "bar".into())].into(),
    );
    l
}

#[test]
fn config_map_table() {
    let rows = [
        row(
            "no arguments",
            "configMap()",
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "too many arguments",
            r#"configMap("fake-configmap", "extra")"#,
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "invalid argument type",
            "configMap(123)",
            none(),
            Want::Err("argument must be string"),
        ),
        row(
            "ConfigMap not found",
            r#"configMap("fake-configmap")"#,
            none(),
            Want::Value(json!({})),
        ),
        row(
            "success",
            r#"configMap("fake-configmap")"#,
            config_world(),
            Want::Value(json!({"foo": "bar"})),
        ),
        // The cache rows: the Lookup is read once per evaluation, so the
        // answer is the same with or without Kargo's cache.
        row(
            "success with cache",
            r#"configMap("fake-configmap")"#,
            config_world(),
            Want::Value(json!({"foo": "bar"})),
        ),
        row(
            "success from cache",
            r#"configMap("fake-configmap")"#,
            config_world(),
            Want::Value(json!({"foo": "bar"})),
        ),
    ];
    check("Test_getConfigMap", &rows, 7);
}

fn secret_world() -> StaticLookup {
    let mut l = StaticLookup::default();
    l.secrets
        .insert("fake-secret".into(), [("foo".into(), "bar".into())].into());
    l
}

#[test]
fn secret_table() {
    let rows = [
        row(
            "no arguments",
            "secret()",
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "too many arguments",
            r#"secret("fake-secret", "extra")"#,
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "invalid argument type",
            "secret(123)",
            none(),
            Want::Err("argument must be string"),
        ),
        row(
            "Secret not found",
            r#"secret("fake-secret")"#,
            none(),
            Want::Value(json!({})),
        ),
        row(
            "success",
            r#"secret("fake-secret")"#,
            secret_world(),
            Want::Value(json!({"foo": "bar"})),
        ),
        row(
            "success with cache",
            r#"secret("fake-secret")"#,
            secret_world(),
            Want::Value(json!({"foo": "bar"})),
        ),
        row(
            "success from cache",
            r#"secret("fake-secret")"#,
            secret_world(),
            Want::Value(json!({"foo": "bar"})),
        ),
        // Deliberate difference (docs/promotions.md): the two rows below test
        // `sharedSecret()` (Secrets of the shared-resources namespace, only
        // generic credentials), which kargo-rs does not offer.
        row(
            "success with no direct access but is generic",
            r#"sharedSecret("fake-secret")"#,
            secret_world(),
            Want::Err("sharedSecret"),
        ),
        row(
            "no direct access and not generic returns empty data",
            r#"sharedSecret("fake-secret")"#,
            secret_world(),
            Want::Err("sharedSecret"),
        ),
    ];
    check("Test_getSecret", &rows, 9);
}

#[test]
fn config_map_and_secret_do_not_collide() {
    let mut l = StaticLookup::default();
    l.config_maps
        .insert("same".into(), [("type".into(), "configmap".into())].into());
    l.secrets
        .insert("same".into(), [("type".into(), "secret".into())].into());
    let rows = [row(
        "ConfigMap and Secret with identical names",
        r#"[configMap("same"), secret("same")]"#,
        l,
        Want::Value(json!([{"type": "configmap"}, {"type": "secret"}])),
    )];
    check(
        "Test_getConfigMap_getSecret_no_cache_key_collision",
        &rows,
        1,
    );
}

fn steps(current: &str, metas: &[(&str, &str)]) -> StaticLookup {
    StaticLookup {
        steps: metas
            .iter()
            .map(|(alias, status)| StepStatus {
                alias: (*alias).into(),
                status: (*status).into(),
            })
            .collect(),
        current_step: current.into(),
        ..Default::default()
    }
}

#[test]
fn status_table() {
    let rows = [
        row(
            "no arguments",
            "status()",
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "too many arguments",
            r#"status("one", "two")"#,
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "one empty argument",
            r#"status("")"#,
            none(),
            Want::Err("must not be empty"),
        ),
        row(
            "basic usage; no hit",
            r#"status("non-existent-step")"#,
            steps("step-2", &[("step-1", "Succeeded")]),
            Want::Value(json!("")),
        ),
        row(
            "basic usage; hit",
            r#"status("step-1")"#,
            steps("step-2", &[("step-1", "Succeeded")]),
            Want::Value(json!("Succeeded")),
        ),
        row(
            "used in a task; no alias match",
            r#"status("step-1")"#,
            steps(
                "task-2::step-2",
                &[("step-1", "Succeeded"), ("task-1::step-2", "Succeeded")],
            ),
            Want::Value(json!("")),
        ),
        row(
            "used in a task; no namespace match",
            r#"status("step-1")"#,
            steps(
                "task-2::step-2",
                &[("step-1", "Succeeded"), ("task-1::step-2", "Succeeded")],
            ),
            Want::Value(json!("")),
        ),
        row(
            "used in a task; hit",
            r#"status("step-1")"#,
            steps("task-2::step-2", &[("task-2::step-1", "Succeeded")]),
            Want::Value(json!("Succeeded")),
        ),
    ];
    check("Test_getStatus", &rows, 8);
}

fn metadata_value() -> Value {
    json!({
        "deployment-config": {"deployment-id": "abc123", "environment": "staging"},
        "build-number": 42,
        "issue": "#1234",
    })
}

fn freight_md(md: Option<Value>) -> StaticLookup {
    let mut l = StaticLookup::default();
    if let Some(md) = md {
        l.freight_metadata.insert("fake-freight".into(), obj(md));
    }
    l
}

#[test]
fn freight_metadata_table() {
    let rows = [
        row(
            "no arguments",
            "freightMetadata()",
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "too many arguments",
            r#"freightMetadata("fake-freight", "extra")"#,
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "invalid argument type",
            "freightMetadata(123)",
            none(),
            Want::Err("argument must be string"),
        ),
        row(
            "empty freight ref name",
            r#"freightMetadata("")"#,
            none(),
            Want::Err("freight ref name must not be empty"),
        ),
        row(
            "freight not found",
            r#"freightMetadata("fake-freight")"#,
            freight_md(None),
            Want::Value(Value::Null),
        ),
        row(
            "freight exists but no metadata",
            r#"freightMetadata("fake-freight")"#,
            freight_md(Some(json!({}))),
            Want::Value(Value::Null),
        ),
        row(
            "successful metadata retrieval from string map",
            r#"freightMetadata("fake-freight")"#,
            freight_md(Some(metadata_value())),
            Want::Value(metadata_value()),
        ),
    ];
    check("Test_freightMetadata", &rows, 7);
}

fn freight_st(status: Option<Value>) -> StaticLookup {
    let mut l = StaticLookup::default();
    if let Some(s) = status {
        l.freight_status.insert("fake-freight".into(), obj(s));
    }
    l
}

#[test]
fn freight_status_table() {
    let status = json!({
        "currentlyIn": {"staging": {"since": "2026-05-13T14:42:47Z"}},
        "approvedFor": {"prod": {"approvedAt": "2026-07-24T23:11:01Z"}},
        "metadata": {"snow-id": "c2d4dd08833503d4b6207e95eeaad316"},
    });
    let rows = [
        row(
            "no arguments",
            "freightStatus()",
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "too many arguments",
            r#"freightStatus("fake-freight", "extra")"#,
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "invalid argument type",
            "freightStatus(123)",
            none(),
            Want::Err("argument must be string"),
        ),
        row(
            "empty freight ref name",
            r#"freightStatus("")"#,
            none(),
            Want::Err("freight ref name must not be empty"),
        ),
        row(
            "freight not found",
            r#"freightStatus("fake-freight")"#,
            freight_st(None),
            Want::Value(Value::Null),
        ),
        row(
            "freight exists with empty status",
            r#"freightStatus("fake-freight")"#,
            freight_st(Some(json!({}))),
            Want::Value(json!({})),
        ),
        row(
            "successful status retrieval",
            r#"freightStatus("fake-freight")"#,
            freight_st(Some(status.clone())),
            Want::Value(status),
        ),
    ];
    check("Test_freightStatus", &rows, 7);
}

fn stage_md(md: Option<Value>) -> StaticLookup {
    let mut l = StaticLookup::default();
    if let Some(md) = md {
        l.stage_metadata.insert("fake-stage".into(), obj(md));
    }
    l
}

#[test]
fn stage_metadata_table() {
    let md = json!({"deployment-config": {"deployment-id": "abc123", "environment": "staging"}});
    let rows = [
        row(
            "no arguments",
            "stageMetadata()",
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "too many arguments",
            r#"stageMetadata("fake-stage", "extra")"#,
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "invalid argument type",
            "stageMetadata(123)",
            none(),
            Want::Err("argument must be string"),
        ),
        row(
            "empty stage name",
            r#"stageMetadata("")"#,
            none(),
            Want::Err("stage name must not be empty"),
        ),
        row(
            "stage not found",
            r#"stageMetadata("fake-stage")"#,
            stage_md(None),
            Want::Value(Value::Null),
        ),
        row(
            "stage exists but no metadata",
            r#"stageMetadata("fake-stage")"#,
            stage_md(Some(json!({}))),
            Want::Value(Value::Null),
        ),
        row(
            "successful metadata retrieval",
            r#"stageMetadata("fake-stage")"#,
            stage_md(Some(md.clone())),
            Want::Value(md),
        ),
    ];
    check("Test_stageMetadata", &rows, 7);
}

#[test]
fn semver_diff_table() {
    let diff = |name, expr, want: &str| row(name, expr, none(), Want::Value(json!(want)));
    let error = |name, expr, sub| row(name, expr, none(), Want::Err(sub));
    let rows = [
        diff(
            "major version difference",
            r#"semverDiff("1.1.1", "2.2.2")"#,
            "Major",
        ),
        diff(
            "minor version difference",
            r#"semverDiff("1.1.1", "1.2.2")"#,
            "Minor",
        ),
        diff(
            "patch version difference",
            r#"semverDiff("1.1.1", "1.1.2")"#,
            "Patch",
        ),
        diff(
            "metadata difference",
            r#"semverDiff("1.1.1+build1", "1.1.1+build2")"#,
            "Metadata",
        ),
        diff("no difference", r#"semverDiff("1.2.3", "1.2.3")"#, "None"),
        diff(
            "invalid first version",
            r#"semverDiff("invalid", "1.2.3")"#,
            "Incomparable",
        ),
        diff(
            "invalid second version",
            r#"semverDiff("1.2.3", "invalid")"#,
            "Incomparable",
        ),
        diff(
            "both versions invalid",
            r#"semverDiff("invalid1", "invalid2")"#,
            "Incomparable",
        ),
        diff(
            "semver with prerelease",
            r#"semverDiff("1.0.0-alpha", "1.0.0-beta")"#,
            "None",
        ),
        diff(
            "complex semver with metadata and prerelease",
            r#"semverDiff("1.0.0-alpha.1+build.1", "1.0.0-alpha.1+build.2")"#,
            "Metadata",
        ),
        diff(
            "major difference with prerelease",
            r#"semverDiff("1.0.0-alpha", "2.0.0-alpha")"#,
            "Major",
        ),
        diff(
            "minor difference with prerelease",
            r#"semverDiff("1.1.0-alpha", "1.2.0-alpha")"#,
            "Minor",
        ),
        diff(
            "patch difference with prerelease",
            r#"semverDiff("1.1.1-alpha", "1.1.2-alpha")"#,
            "Patch",
        ),
        error("no arguments", "semverDiff()", "expected 2 arguments"),
        error(
            "one argument",
            r#"semverDiff("1.0.0")"#,
            "expected 2 arguments",
        ),
        error(
            "too many arguments",
            r#"semverDiff("1.0.0", "2.0.0", "3.0.0")"#,
            "expected 2 arguments",
        ),
        error(
            "invalid first argument type",
            r#"semverDiff(123, "1.0.0")"#,
            "first argument must be string",
        ),
        error(
            "invalid second argument type",
            r#"semverDiff("1.0.0", 123)"#,
            "second argument must be string",
        ),
        diff(
            "empty version strings",
            r#"semverDiff("", "")"#,
            "Incomparable",
        ),
        diff(
            "loose semver format",
            r#"semverDiff("v1.0.0", "v2.0.0")"#,
            "Major",
        ),
    ];
    check("Test_semverDiff", &rows, 20);
}

#[test]
fn semver_parse_table() {
    let rows = [
        row(
            "no arguments",
            "semverParse()",
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "too many arguments",
            r#"semverParse("1.0.0", "2.0.0")"#,
            none(),
            Want::Err("expected 1 argument"),
        ),
        row(
            "invalid argument type",
            "semverParse(123)",
            none(),
            Want::Err("argument must be string"),
        ),
        row(
            "invalid semver",
            r#"semverParse("invalid")"#,
            none(),
            Want::Err("invalid semantic version"),
        ),
        row(
            "success",
            r#"semverParse("1.2.3")"#,
            none(),
            Want::Fields(json!({"Major": 1, "Minor": 2, "Patch": 3})),
        ),
    ];
    check("Test_semverParse", &rows, 5);
}
