//! Argo Rollouts' `utils/analysis/helpers_test.go` as data, for the helpers
//! the engine has: `TestIsWorst`, `TestWorst`, `TestIsTerminating`,
//! `TestIsFastFailTerminating`, `TestGetDryRunMetrics` and
//! `TestGetMeasurementRetentionMetrics` (the retention rules run through
//! the engine, which reports a rule that matches nothing).

use kargo_analysis::{NoSecrets, Observation, Phase, dry_run_metrics, is_terminating, reconcile};
use kargo_api::analysis::{
    AnalysisRunSpec, AnalysisRunStatus, DryRun, MeasurementRetention, Metric, MetricResult,
};

use Phase::{Error, Failed, Inconclusive, Running, Successful};

#[test]
fn is_worse_rows() {
    #[rustfmt::skip]
    let rows = [
        (Successful, Successful, false), (Successful, Inconclusive, true), (Successful, Error, true), (Successful, Failed, true),
        (Inconclusive, Successful, false), (Inconclusive, Inconclusive, false), (Inconclusive, Error, true), (Inconclusive, Failed, true),
        (Error, Error, false), (Error, Successful, false), (Error, Inconclusive, false), (Error, Failed, true),
        (Failed, Successful, false), (Failed, Inconclusive, false), (Failed, Error, false), (Failed, Failed, false),
    ];
    // TestWorst: Worst(Successful, Failed) and Worst(Failed, Successful).
    let worst = [(Successful, Failed, Failed), (Failed, Successful, Failed)];
    assert_eq!(rows.len() + worst.len(), 18, "upstream assertions");
    for (current, new, want) in rows {
        assert_eq!(
            new.is_worse_than(current),
            want,
            "IsWorse({current}, {new})"
        );
    }
    for (l, r, want) in worst {
        let got = if r.is_worse_than(l) { r } else { l };
        assert_eq!(got, want, "Worst({l}, {r})");
    }
}

fn results(phases: &[(&str, Phase, bool)]) -> AnalysisRunStatus {
    AnalysisRunStatus {
        phase: "Running".into(),
        metric_results: phases
            .iter()
            .map(|(name, phase, dry)| MetricResult {
                name: (*name).into(),
                phase: phase.as_str().into(),
                dry_run: *dry,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn is_terminating_rows() {
    let base = [
        ("other-metric", Running, false),
        ("success-rate", Running, false),
    ];
    // TestIsTerminating (3 assertions).
    let mut n = 0;
    assert!(!is_terminating(false, &results(&base)));
    assert!(is_terminating(true, &results(&base)));
    assert!(is_terminating(
        false,
        &results(&[base[0], ("success-rate", Error, false)])
    ));
    n += 3;
    // TestIsFastFailTerminating (8 assertions).
    let four = |success: Phase, dry: Phase, yet: Phase| {
        results(&[
            ("other-metric", Running, false),
            ("success-rate", success, false),
            ("dry-run-metric", dry, true),
            ("yet-another-metric", yet, false),
        ])
    };
    assert!(!is_terminating(false, &four(Running, Running, Running)));
    assert!(
        !is_terminating(false, &four(Running, Error, Running)),
        "a dry-run error does not terminate"
    );
    assert!(is_terminating(false, &four(Running, Error, Error)));
    assert!(is_terminating(false, &four(Error, Error, Error)));
    assert!(is_terminating(false, &four(Failed, Error, Error)));
    assert!(is_terminating(false, &four(Inconclusive, Error, Error)));
    assert!(!is_terminating(
        false,
        &AnalysisRunStatus {
            phase: "Running".into(),
            ..Default::default()
        }
    ));
    assert!(!is_terminating(false, &AnalysisRunStatus::default()));
    n += 8;
    assert_eq!(n, 11, "upstream assertions");
}

fn prom(name: &str) -> Metric {
    let mut m = Metric {
        name: name.into(),
        count: Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1)),
        failure_limit: Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(2)),
        ..Default::default()
    };
    m.provider.prometheus = Some(Default::default());
    m
}

fn dry(names: &[&str]) -> Vec<DryRun> {
    names
        .iter()
        .map(|n| DryRun {
            metric_name: (*n).into(),
        })
        .collect()
}

#[test]
fn get_dry_run_metrics_rows() {
    let mut n = 0;
    let got = dry_run_metrics(&dry(&["success-rate"]), &[prom("success-rate")]).expect("matches");
    assert!(got.contains("success-rate"));
    n += 2;
    let got = dry_run_metrics(&dry(&[".*"]), &[prom("success-rate"), prom("error-rate")])
        .expect("matches");
    assert_eq!(got.len(), 2);
    n += 2;
    let err =
        dry_run_metrics(&dry(&["error-rate"]), &[prom("success-rate")]).expect_err("no match");
    assert_eq!(err.0, "dryRun[0]: Rule didn't match any metric name(s)");
    n += 2; // (upstream also asserts the returned map is empty; we return none)
    assert_eq!(n, 6, "upstream assertions");
}

/// `GetMeasurementRetentionMetrics` has no public counterpart; its rules
/// are exercised through a run: a matching rule keeps the run valid, a
/// rule matching nothing makes it Error with Rollouts' message. (Upstream's
/// fixture metrics, `count: 1` with `failureLimit: 2`, fail
/// `ValidateMetrics`, which a run applies first, so the runs use the same
/// metrics without those limits.)
#[test]
fn get_measurement_retention_metrics_rows() {
    let run = |metrics: Vec<Metric>, rule: &str, limit: i32| {
        let spec = AnalysisRunSpec {
            metrics: metrics
                .into_iter()
                .map(|m: Metric| Metric {
                    count: None,
                    failure_limit: None,
                    ..m
                })
                .collect(),
            measurement_retention: vec![MeasurementRetention {
                metric_name: rule.into(),
                limit,
            }],
            ..Default::default()
        };
        reconcile(
            &spec,
            &AnalysisRunStatus::default(),
            "2025-01-01T00:00:00Z".parse().expect("time"),
            &NoSecrets,
            &mut |_| Observation::json(serde_json::json!(1)),
        )
        .status
    };
    let mut n = 0;
    let s = run(vec![prom("success-rate")], "success-rate", 10);
    assert_eq!(s.phase, "Successful", "{}", s.message);
    n += 2;
    let s = run(vec![prom("success-rate"), prom("error-rate")], ".*", 15);
    assert_eq!(s.phase, "Successful", "{}", s.message);
    assert_eq!(s.metric_results.len(), 2);
    n += 2;
    let s = run(vec![prom("success-rate")], "error-rate", 11);
    assert_eq!(s.phase, "Error");
    assert_eq!(
        s.message,
        "Analysis spec invalid: measurementRetention[0]: Rule didn't match any metric name(s)"
    );
    n += 2;
    assert_eq!(n, 6, "upstream assertions");
}
