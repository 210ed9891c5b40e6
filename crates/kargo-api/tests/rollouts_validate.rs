//! Argo Rollouts' `utils/analysis/factory_test.go` `TestValidateMetrics`
//! as data: every assertion of its 15 subtests, through
//! `kargo_api::analysis::validate_metrics`, with Rollouts' messages.

use kargo_api::analysis::{Metric, validate_metrics};
use regex::Regex;
use serde_json::json;

/// Expected outcome: Ok, an exact error, or an error matching a regexp.
enum Want {
    Ok,
    Exact(&'static str),
    Matches(&'static str),
}

fn prom(extra: serde_json::Value) -> serde_json::Value {
    let mut m = json!({"name": "success-rate", "provider": {"prometheus": {}}});
    if let (Some(m), Some(e)) = (m.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

fn rows() -> Vec<(&'static str, serde_json::Value, Want)> {
    vec![
        (
            "Ensure count >= failureLimit + consecutiveSuccessLimit",
            json!([prom(json!({"count": 1, "failureLimit": 2}))]),
            Want::Exact(
                "metrics[0]: count (1) must be >= failureLimit + consecutiveSuccessLimit (2 + 0) if both >= 0",
            ),
        ),
        (
            "Ensure count >= failureLimit + consecutiveSuccessLimit (count 0)",
            json!([prom(json!({"count": 0, "failureLimit": 2}))]),
            Want::Ok,
        ),
        (
            "Ensure count must be >= inconclusiveLimit",
            json!([prom(json!({"count": 1, "inconclusiveLimit": 2}))]),
            Want::Exact("metrics[0]: count must be >= inconclusiveLimit"),
        ),
        (
            "Ensure count must be >= inconclusiveLimit (count 0)",
            json!([prom(json!({"count": 0, "inconclusiveLimit": 2}))]),
            Want::Ok,
        ),
        (
            "Validate metric",
            json!([prom(
                json!({"count": 2, "interval": "60s", "failureLimit": 2})
            )]),
            Want::Ok,
        ),
        (
            "Ensure valid internal string",
            json!([prom(
                json!({"count": 2, "interval": "60s-typo", "failureLimit": 2})
            )]),
            Want::Matches(
                r#"metrics\[0\]: invalid interval string: time: unknown unit (")?s-typo(")? in duration (")?60s-typo(")?"#,
            ),
        ),
        (
            "Ensure valid initialDelay string",
            json!([prom(
                json!({"count": 2, "interval": "60s", "initialDelay": "60s-typo", "failureLimit": 2})
            )]),
            Want::Matches(
                r#"metrics\[0\]: invalid startDelay string: time: unknown unit (")?s-typo(")? in duration (")?60s-typo(")?"#,
            ),
        ),
        (
            "Ensure metric provider listed",
            json!([]),
            Want::Exact("no metrics specified"),
        ),
        (
            "Ensure interval set when count > 1",
            json!([prom(json!({"count": 2}))]),
            Want::Exact("metrics[0]: interval must be specified when count > 1"),
        ),
        (
            "Ensure no duplicate metric names",
            json!([prom(json!({})), prom(json!({}))]),
            Want::Exact("metrics[1]: duplicate name 'success-rate'"),
        ),
        (
            "Ensure failureLimit >= -1",
            json!([prom(json!({"failureLimit": -2}))]),
            Want::Exact("metrics[0]: failureLimit must be >= 0, or -1 to be disabled"),
        ),
        (
            "Ensure inconclusiveLimit >= 0",
            json!([prom(json!({"inconclusiveLimit": -1}))]),
            Want::Exact("metrics[0]: inconclusiveLimit must be >= 0"),
        ),
        (
            "Ensure consecutiveErrorLimit >= 0",
            json!([prom(json!({"consecutiveErrorLimit": -1}))]),
            Want::Exact("metrics[0]: consecutiveErrorLimit must be >= 0"),
        ),
        (
            "Ensure metric has provider",
            json!([{"name": "success-rate", "count": 1}]),
            Want::Exact("metrics[0]: no provider specified"),
        ),
        (
            "Ensure metric does not have more than 1 provider",
            json!([{"name": "success-rate", "provider": {
                "prometheus": {}, "job": {"spec": {"template": {}}}, "wavefront": {}, "kayenta": {}, "web": {},
                "datadog": {}, "newRelic": {}, "cloudWatch": {}, "graphite": {}, "influxdb": {}}}]),
            Want::Exact("metrics[0]: multiple providers specified"),
        ),
        (
            "Ensure consecutiveSuccessLimit >= 0",
            json!([prom(json!({"consecutiveSuccessLimit": -1}))]),
            Want::Exact("metrics[0]: consecutiveSuccessLimit must be >= 0"),
        ),
        (
            "Ensure consecutiveSuccessLimit and failureLimit are not both disabled",
            json!([prom(
                json!({"consecutiveSuccessLimit": 0, "failureLimit": -1})
            )]),
            Want::Exact(
                "metrics[0]: failureLimit and consecutiveSuccessLimit cannot both be disabled",
            ),
        ),
    ]
}

#[test]
fn validate_metrics_rows() {
    let rows = rows();
    assert_eq!(rows.len(), 17, "upstream assertions");
    for (name, metrics, want) in rows {
        let metrics: Vec<Metric> = serde_json::from_value(metrics).expect("metrics decode");
        let got = validate_metrics(&metrics);
        match (want, &got) {
            (Want::Ok, Ok(())) => {}
            (Want::Exact(e), Err(g)) => assert_eq!(g, e, "{name}"),
            (Want::Matches(re), Err(g)) => {
                assert!(Regex::new(re).expect("regex").is_match(g), "{name}: {g}")
            }
            (_, got) => panic!("{name}: unexpected {got:?}"),
        }
    }
}

/// The rules the brief's open points were about, checked against the
/// current Rollouts source: `failureLimit: -1` needs a
/// `consecutiveSuccessLimit`, and then `count` must cover the latter only.
#[test]
fn failure_limit_off_with_consecutive_success_limit() {
    let ok: Vec<Metric> = serde_json::from_value(json!([prom(json!({
        "count": 3, "interval": "1s", "failureLimit": -1, "consecutiveSuccessLimit": 3}))]))
    .expect("decode");
    assert_eq!(validate_metrics(&ok), Ok(()));
    let short: Vec<Metric> = serde_json::from_value(json!([prom(json!({
        "count": 2, "interval": "1s", "failureLimit": -1, "consecutiveSuccessLimit": 3}))]))
    .expect("decode");
    assert_eq!(
        validate_metrics(&short),
        Err("metrics[0]: count must be >= consecutiveSuccessLimit".into())
    );
    let both: Vec<Metric> = serde_json::from_value(json!([prom(json!({
        "count": 4, "interval": "1s", "failureLimit": 2, "consecutiveSuccessLimit": 3}))]))
    .expect("decode");
    assert_eq!(
        validate_metrics(&both),
        Err("metrics[0]: count (4) must be >= failureLimit + consecutiveSuccessLimit (2 + 3) if both >= 0".into())
    );
    // IntValue(): a limit that is not a number reads as 0, no error.
    let text: Vec<Metric> =
        serde_json::from_value(json!([prom(json!({"failureLimit": "many"}))])).expect("decode");
    assert_eq!(validate_metrics(&text), Ok(()));
}
