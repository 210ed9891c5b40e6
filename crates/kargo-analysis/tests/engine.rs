//! Engine rules against an injected clock: no sleeping, no network.

mod common;

use common::*;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kargo_analysis::{
    MergeError, NoSecrets, Observation, Phase, StaticSecrets, merge_templates, reconcile,
};
use kargo_api::analysis::{
    AnalysisRunSpec, AnalysisRunStatus, AnalysisTemplateSpec, Argument, DryRun,
    MeasurementRetention, Metric, SecretKeyRef, ValueFrom, WebMetric,
};
use serde_json::json;
use std::collections::VecDeque;

fn metric(name: &str) -> Metric {
    let mut m = Metric {
        name: name.into(),
        ..Default::default()
    };
    m.provider.web = Some(WebMetric {
        url: "http://example.invalid/".into(),
        ..Default::default()
    });
    m
}

fn int(i: i32) -> Option<IntOrString> {
    Some(IntOrString::Int(i))
}

fn run(metrics: Vec<Metric>) -> AnalysisRunSpec {
    AnalysisRunSpec {
        metrics,
        ..Default::default()
    }
}

/// Answers from a queue of observations, last one repeated.
fn script(values: Vec<Observation>) -> impl FnMut(&Metric) -> Observation {
    let mut q: VecDeque<Observation> = values.into();
    move |_| {
        if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            q.front().cloned().unwrap()
        }
    }
}

fn v(x: f64) -> Observation {
    Observation::json(json!([x]))
}

fn result<'a>(
    r: &'a kargo_analysis::Reconciled,
    name: &str,
) -> &'a kargo_api::analysis::MetricResult {
    r.status
        .metric_results
        .iter()
        .find(|m| m.name == name)
        .unwrap()
}

#[test]
fn seed_error_rate_fails_after_three_failures_with_clear_message() {
    let t = seed_template("error-rate-check");
    let spec = run(t.spec.metrics.clone());
    let (r, times) = drive_simple(&spec, 20, &mut script(vec![v(0.08)]));
    assert_eq!(r.status.phase, "Failed");
    assert_eq!(times, vec![t0(), t0() + secs(30), t0() + secs(60)]);
    let m = result(&r, "error-rate");
    assert_eq!((m.count, m.failed), (3, 3));
    // Rollouts' wording: a Failed measurement carries no message, the run
    // names the limit; the measured value is in each measurement.
    assert_eq!(m.message, "");
    assert_eq!(m.measurements.last().unwrap().value, "[0.08]");
    assert_eq!(
        r.status.message,
        "Metric \"error-rate\" assessed Failed due to failed (3) > failureLimit (2)"
    );
    assert_eq!(r.next_reconcile, None);
    let s = r.status.run_summary.clone().unwrap();
    assert_eq!((s.count, s.failed), (1, 1));
}

#[test]
fn seed_error_rate_succeeds_with_failures_within_limit() {
    let t = seed_template("error-rate-check");
    let spec = run(t.spec.metrics.clone());
    let (r, times) = drive_simple(
        &spec,
        20,
        &mut script(vec![v(0.08), v(0.01), v(0.09), v(0.01), v(0.01)]),
    );
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
    assert_eq!(times.len(), 5);
    let m = result(&r, "error-rate");
    assert_eq!((m.count, m.successful, m.failed), (5, 3, 2));
}

#[test]
fn no_count_no_interval_is_one_measurement() {
    let mut m = metric("once");
    m.success_condition = "result[0] > 1".into();
    let (r, times) = drive_simple(&run(vec![m]), 5, &mut script(vec![v(2.0)]));
    assert_eq!(r.status.phase, "Successful");
    assert_eq!(times.len(), 1);
}

#[test]
fn interval_without_count_runs_until_terminated() {
    let mut m = metric("forever");
    m.interval = Some("5s".into());
    let mut spec = run(vec![m]);
    let (r, times) = drive_simple(&spec, 6, &mut script(vec![v(1.0)]));
    assert_eq!(r.status.phase, "Running");
    assert_eq!(times.len(), 6);
    assert_eq!(times[5], t0() + secs(25));
    spec.terminate = true;
    let t = reconcile(&spec, &r.status, t0() + secs(26), &NoSecrets, &mut |_| {
        panic!("no measurement while terminating")
    });
    assert_eq!(t.status.phase, "Successful");
    assert_eq!(t.status.message, "Run Terminated");
    assert_eq!(t.next_reconcile, None);
}

#[test]
fn initial_delay_and_interval_schedule() {
    let mut m = metric("delayed");
    m.initial_delay = Some("1m".into());
    m.interval = Some("10s".into());
    m.count = int(2);
    let spec = run(vec![m]);
    let r = reconcile(
        &spec,
        &AnalysisRunStatus::default(),
        t0(),
        &NoSecrets,
        &mut |_| panic!("measured during initialDelay"),
    );
    assert_eq!(r.status.phase, "Running");
    assert_eq!(r.next_reconcile, Some(t0() + secs(60)));
    // Too early: nothing happens.
    let r2 = reconcile(&spec, &r.status, t0() + secs(59), &NoSecrets, &mut |_| {
        panic!("measured too early")
    });
    assert_eq!(r2.status.metric_results.len(), 0);
    let r3 = reconcile(&spec, &r2.status, t0() + secs(60), &NoSecrets, &mut |_| {
        v(1.0)
    });
    assert_eq!(r3.next_reconcile, Some(t0() + secs(70)));
    let r4 = reconcile(&spec, &r3.status, t0() + secs(65), &NoSecrets, &mut |_| {
        panic!("measured before interval")
    });
    let r5 = reconcile(&spec, &r4.status, t0() + secs(70), &NoSecrets, &mut |_| {
        v(1.0)
    });
    assert_eq!(r5.status.phase, "Successful");
    assert_eq!(
        r5.status.started_at.as_deref(),
        Some("2025-01-01T00:00:00Z")
    );
}

#[test]
fn consecutive_errors_retry_after_10s_and_error_past_limit() {
    let mut m = metric("flaky");
    m.interval = Some("1m".into());
    m.count = int(3);
    let (r, times) = drive_simple(
        &run(vec![m.clone()]),
        20,
        &mut script(vec![Observation::Error("connection refused".into())]),
    );
    assert_eq!(r.status.phase, "Error");
    // 5 errors (> default limit 4), retried every 10 s despite the 1m interval.
    assert_eq!(times.len(), 5);
    assert_eq!(times[4], t0() + secs(40));
    let res = result(&r, "flaky");
    assert_eq!((res.error, res.count, res.consecutive_error), (5, 0, 5));
    assert_eq!(res.message, "connection refused");
    assert_eq!(
        r.status.message,
        "Metric \"flaky\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): \"Error Message: connection refused\""
    );
    // Errors do not count toward count, and a success resets the streak.
    m.consecutive_error_limit = int(1);
    let (r, times) = drive_simple(
        &run(vec![m]),
        20,
        &mut script(vec![
            Observation::Error("e".into()),
            v(1.0),
            Observation::Error("e".into()),
            v(1.0),
            v(1.0),
        ]),
    );
    assert_eq!(r.status.phase, "Successful");
    assert_eq!(times.len(), 5);
    assert_eq!(times[1], t0() + secs(10));
    assert_eq!(times[2], t0() + secs(70));
}

#[test]
fn inconclusive_limit() {
    let mut m = metric("unsure");
    m.interval = Some("1s".into());
    m.count = int(5);
    m.success_condition = "result[0] < 0.01".into();
    m.failure_condition = "result[0] > 0.5".into();
    m.inconclusive_limit = int(1);
    let (r, times) = drive_simple(&run(vec![m]), 20, &mut script(vec![v(0.1)]));
    assert_eq!(r.status.phase, "Inconclusive");
    assert_eq!(times.len(), 2);
    assert_eq!(
        r.status.message,
        "Metric \"unsure\" assessed Inconclusive due to inconclusive (2) > inconclusiveLimit (1)"
    );
}

#[test]
fn failure_condition_wins_and_only_failure_condition() {
    let mut m = metric("f");
    m.failure_condition = "result[0] > 0.5".into();
    let (r, _) = drive_simple(&run(vec![m.clone()]), 5, &mut script(vec![v(0.1)]));
    assert_eq!(r.status.phase, "Successful");
    let (r, _) = drive_simple(&run(vec![m.clone()]), 5, &mut script(vec![v(0.9)]));
    assert_eq!(r.status.phase, "Failed");
    m.success_condition = "result[0] > 0.5".into();
    let (r, _) = drive_simple(&run(vec![m]), 5, &mut script(vec![v(0.9)]));
    assert_eq!(r.status.phase, "Failed", "failure condition wins");
}

#[test]
fn consecutive_success_limit_with_unlimited_failures() {
    let mut m = metric("healthy");
    m.interval = Some("1s".into());
    m.count = int(10);
    m.failure_limit = int(-1);
    m.consecutive_success_limit = int(3);
    m.success_condition = "result[0] < 0.05".into();
    let (r, times) = drive_simple(
        &run(vec![m.clone()]),
        30,
        &mut script(vec![v(0.1), v(0.01), v(0.1), v(0.01), v(0.01), v(0.01)]),
    );
    assert_eq!(r.status.phase, "Successful");
    assert_eq!(times.len(), 6);
    assert_eq!(result(&r, "healthy").consecutive_success, Some(3));
    // Never reached within count: Failed.
    let mut n = 0;
    let (r, times) = drive_simple(&run(vec![m]), 30, &mut |_| {
        n += 1;
        if n % 3 == 0 { v(0.1) } else { v(0.01) }
    });
    assert_eq!(r.status.phase, "Failed");
    assert_eq!(times.len(), 10);
    // No limit was exceeded, so Rollouts gives the run no message.
    assert_eq!(r.status.message, "");
}

#[test]
fn dry_run_metrics_do_not_affect_the_phase() {
    let mut bad = metric("experimental");
    bad.success_condition = "result[0] < 0.05".into();
    let good = metric("basic");
    let mut spec = run(vec![bad, good]);
    spec.dry_run = vec![DryRun {
        metric_name: "experimental".into(),
    }];
    let (r, _) = drive_simple(&spec, 5, &mut script(vec![v(0.9)]));
    assert_eq!(r.status.phase, "Successful");
    let dry = r.status.dry_run_summary.clone().unwrap();
    assert_eq!((dry.count, dry.failed), (1, 1));
    let run_s = r.status.run_summary.clone().unwrap();
    assert_eq!((run_s.count, run_s.successful), (1, 1));
    assert!(result(&r, "experimental").dry_run);
    assert_eq!(result(&r, "experimental").phase, "Failed");
    // `.*` makes every metric a dry run; `*` is not a regular expression, so
    // it matches nothing and the spec is invalid, as in Rollouts.
    spec.dry_run = vec![DryRun {
        metric_name: ".*".into(),
    }];
    let (r, _) = drive_simple(&spec, 5, &mut script(vec![v(0.9)]));
    assert_eq!(r.status.phase, "Successful");
    spec.dry_run = vec![DryRun {
        metric_name: "*".into(),
    }];
    let (r, _) = drive_simple(&spec, 5, &mut script(vec![v(0.9)]));
    assert_eq!(
        r.status.message,
        "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)"
    );
    // A rule matching nothing is invalid, as in Rollouts.
    spec.dry_run = vec![DryRun {
        metric_name: "^nope$".into(),
    }];
    let (r, _) = drive_simple(&spec, 5, &mut script(vec![v(0.9)]));
    assert_eq!(r.status.phase, "Error");
    assert!(
        r.status.message.contains("dryRun[0]"),
        "{}",
        r.status.message
    );
}

#[test]
fn failing_metric_terminates_the_others() {
    let mut bad = metric("bad");
    bad.success_condition = "result[0] < 0.05".into();
    let mut forever = metric("forever");
    forever.interval = Some("10s".into());
    let (r, times) = drive_simple(&run(vec![bad, forever]), 5, &mut |m| {
        if m.name == "bad" { v(0.9) } else { v(0.0) }
    });
    assert_eq!(r.status.phase, "Failed");
    assert_eq!(times.len(), 2);
    assert_eq!(result(&r, "forever").phase, "Successful");
    assert!(
        r.status
            .message
            .starts_with("Metric \"bad\" assessed Failed"),
        "{}",
        r.status.message
    );
}

#[test]
fn measurement_retention() {
    let mut m = metric("many");
    m.interval = Some("1s".into());
    m.count = int(15);
    let mut spec = run(vec![m]);
    let (r, _) = drive_simple(&spec, 30, &mut script(vec![v(1.0)]));
    let res = result(&r, "many");
    assert_eq!((res.count, res.measurements.len()), (15, 10));
    spec.measurement_retention = vec![MeasurementRetention {
        metric_name: "many".into(),
        limit: 2,
    }];
    let (r, _) = drive_simple(&spec, 30, &mut script(vec![v(1.0)]));
    assert_eq!(result(&r, "many").measurements.len(), 2);
}

#[test]
fn args_missing_value_errors_naming_it() {
    let mut m = metric("web");
    m.provider.web.as_mut().unwrap().url = "http://{{args.service-name}}/healthz".into();
    let mut spec = run(vec![m]);
    spec.args = vec![Argument {
        name: "service-name".into(),
        ..Default::default()
    }];
    let (r, times) = drive_simple(&spec, 5, &mut script(vec![v(1.0)]));
    assert_eq!(r.status.phase, "Error");
    assert!(times.is_empty());
    assert_eq!(
        r.status.message,
        "Unable to resolve metric arguments: argument \"service-name\" was not supplied"
    );
}

#[test]
fn args_from_secret_are_substituted_and_redacted() {
    let mut m = metric("web");
    m.provider.web.as_mut().unwrap().url = "http://svc/?token={{args.token}}".into();
    m.count = Some(IntOrString::String("{{args.n}}".into()));
    m.interval = Some("{{args.every}}".into());
    let mut spec = run(vec![m]);
    spec.args = vec![
        Argument {
            name: "token".into(),
            value: None,
            value_from: Some(ValueFrom {
                secret_key_ref: Some(SecretKeyRef {
                    name: "creds".into(),
                    key: "token".into(),
                }),
                field_ref: None,
            }),
        },
        Argument {
            name: "n".into(),
            value: Some("2".into()),
            value_from: None,
        },
        Argument {
            name: "every".into(),
            value: Some("5s".into()),
            value_from: None,
        },
    ];
    let secrets = StaticSecrets::default().with("creds", "token", "s3cr3t");
    let mut seen = Vec::new();
    let (r, times) = drive(&spec, &secrets, 10, &mut |m| {
        seen.push(m.provider.web.as_ref().unwrap().url.clone());
        Observation::Error("GET http://svc/?token=s3cr3t failed".into())
    });
    assert_eq!(seen[0], "http://svc/?token=s3cr3t");
    assert_eq!(times.len(), 5);
    assert_eq!(r.status.phase, "Error");
    let last = result(&r, "web").measurements.last().unwrap();
    assert_eq!(last.message, "GET http://svc/?token=***** failed");
    assert!(!r.status.message.contains("s3cr3t"));
    // A Secret that does not exist is an Error naming the Secret and key.
    let (r, _) = drive(&spec, &NoSecrets, 10, &mut |_| v(1.0));
    assert_eq!(r.status.phase, "Error");
    assert_eq!(
        r.status.message,
        "Unable to resolve metric arguments: key 'token' does not exist in secret 'creds'"
    );
}

#[test]
fn invalid_specs() {
    let mut two = metric("two");
    two.provider.job = Some(Default::default());
    let (r, _) = drive_simple(&run(vec![two]), 2, &mut script(vec![v(1.0)]));
    assert_eq!(r.status.phase, "Error");
    assert!(
        r.status.message == "Analysis spec invalid: metrics[0]: multiple providers specified",
        "{}",
        r.status.message
    );
    let (r, _) = drive_simple(
        &run(vec![metric("a"), metric("a")]),
        2,
        &mut script(vec![v(1.0)]),
    );
    assert!(
        r.status.message == "Analysis spec invalid: metrics[1]: duplicate name 'a'",
        "{}",
        r.status.message
    );
    let mut m = metric("m");
    m.count = int(3);
    let (r, _) = drive_simple(&run(vec![m]), 2, &mut script(vec![v(1.0)]));
    assert!(
        r.status.message
            == "Analysis spec invalid: metrics[0]: interval must be specified when count > 1",
        "{}",
        r.status.message
    );
}

#[test]
fn completed_run_is_left_alone() {
    let status = AnalysisRunStatus {
        phase: "Failed".into(),
        ..Default::default()
    };
    let r = reconcile(
        &run(vec![metric("m")]),
        &status,
        t0(),
        &NoSecrets,
        &mut |_| panic!("measured a completed run"),
    );
    assert_eq!(r.status, status);
    assert_eq!(r.next_reconcile, None);
    assert!(Phase::Failed.is_worse_than(Phase::Error));
    assert!(Phase::Error.is_worse_than(Phase::Inconclusive));
    assert!(Phase::Inconclusive.is_worse_than(Phase::Successful));
}

#[test]
fn merging_templates() {
    let a = seed_template("http-health-check").spec;
    let b = seed_template("error-rate-check").spec;
    let merged =
        merge_templates(&[("http-health-check", &a), ("error-rate-check", &b)], &[]).unwrap();
    assert_eq!(
        merged
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["webcheck", "error-rate"]
    );
    assert_eq!(
        merge_templates(&[("a", &a), ("a2", &a)], &[]),
        Err(MergeError::DuplicateMetric {
            metric: "webcheck".into(),
            first: "a".into(),
            second: "a2".into()
        })
    );
    let with_arg = |v: Option<&str>| AnalysisTemplateSpec {
        args: vec![Argument {
            name: "svc".into(),
            value: v.map(str::to_string),
            value_from: None,
        }],
        ..Default::default()
    };
    let (x, y, none) = (with_arg(Some("x")), with_arg(Some("y")), with_arg(None));
    assert!(matches!(
        merge_templates(&[("x", &x), ("y", &y)], &[]),
        Err(MergeError::ConflictingArg { .. })
    ));
    let m = merge_templates(&[("none", &none), ("x", &x)], &[]).unwrap();
    assert_eq!(m.args[0].value.as_deref(), Some("x"));
    let over = [Argument {
        name: "svc".into(),
        value: Some("z".into()),
        value_from: None,
    }];
    let m = merge_templates(&[("x", &x)], &over).unwrap();
    assert_eq!(m.args.len(), 1);
    assert_eq!(m.args[0].value.as_deref(), Some("z"));
}
