//! Argo Rollouts' `analysis/analysis_test.go` as data: the
//! `TestAssessMetricStatus*` limits matrix (through
//! [`assess_metric_status`]), `TestCalculateNextReconcile*` (through
//! [`next_reconcile_time`]), `TestAssessMetricFailureInconclusiveOrError`,
//! and the run-message tests (`TestAssessRunStatus*`, `TestTerminate*`).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kargo_analysis::{NoSecrets, Observation, Phase, assess_metric_status, next_reconcile_time};
use kargo_api::analysis::{
    AnalysisRunSpec, AnalysisRunStatus, DryRun, Measurement, Metric, MetricResult, RunSummary,
};

/// One assertion: the metric's limits, the result's counters, the phase of
/// the last measurement, and the expected phase when not terminating and
/// when terminating (`None`: upstream asserts only the other one).
struct Row {
    test: &'static str,
    /// count, failureLimit, inconclusiveLimit, consecutiveSuccessLimit.
    limits: (Option<i32>, Option<i32>, Option<i32>, Option<i32>),
    interval: bool,
    /// failed, successful, inconclusive, consecutiveError, consecutiveSuccess, count.
    counters: (i32, i32, i32, i32, i32, i32),
    /// Phases of the measurements (empty: none yet).
    measurements: &'static [Phase],
    want: (Option<Phase>, Option<Phase>),
}

use Phase::{Error, Failed, Inconclusive, Pending, Running, Successful};

const fn row(
    test: &'static str,
    limits: (Option<i32>, Option<i32>, Option<i32>, Option<i32>),
    interval: bool,
    counters: (i32, i32, i32, i32, i32, i32),
    measurements: &'static [Phase],
    want: (Option<Phase>, Option<Phase>),
) -> Row {
    Row {
        test,
        limits,
        interval,
        counters,
        measurements,
        want,
    }
}

const N: Option<i32> = None;
const fn s(p: Phase) -> Option<Phase> {
    Some(p)
}

#[rustfmt::skip]
const ASSESS: [Row; 29] = [
    row("NoMeasurements", (N, N, N, N), false, (0, 0, 0, 0, 0, 0), &[], (s(Pending), s(Successful))),
    row("InFlightMeasurement", (N, N, N, N), false, (0, 0, 0, 0, 0, 0), &[Successful, Running], (s(Running), s(Running))),
    row("FailureLimit 2, failed 3", (N, Some(2), N, N), true, (3, 0, 0, 0, 0, 3), &[Failed], (s(Failed), s(Failed))),
    row("FailureLimit 3, failed 3", (N, Some(3), N, N), true, (3, 0, 0, 0, 0, 3), &[Failed], (s(Running), s(Successful))),
    // TestAssessMetricStatusConsecutiveSuccessLimit: failureLimit -1.
    row("CSL indefinite, cs == csl", (N, Some(-1), N, Some(3)), true, (3, 4, 0, 0, 3, 7), &[Failed], (s(Successful), s(Successful))),
    row("CSL indefinite, cs < csl", (N, Some(-1), N, Some(5)), true, (3, 4, 0, 0, 3, 7), &[Failed], (s(Running), s(Successful))),
    row("CSL count reached, cs < csl", (Some(7), Some(-1), N, Some(5)), true, (3, 4, 0, 0, 3, 7), &[Failed], (s(Failed), s(Failed))),
    row("CSL count reached, cs == csl", (Some(7), Some(-1), N, Some(3)), true, (3, 4, 0, 0, 3, 7), &[Failed], (s(Successful), s(Successful))),
    row("CSL count not reached, cs == csl", (Some(9), Some(-1), N, Some(3)), true, (3, 4, 0, 0, 3, 7), &[Failed], (s(Successful), s(Successful))),
    row("CSL count not reached, cs < csl", (Some(9), Some(-1), N, Some(5)), true, (3, 4, 0, 0, 3, 7), &[Failed], (s(Running), s(Successful))),
    // TestAssessMetricStatusFailureLimitAndConsecutiveSuccessLimit: 4 and 4.
    row("FL+CSL indefinite, neither", (N, Some(4), N, Some(4)), true, (3, 4, 0, 0, 3, 7), &[Failed], (s(Running), s(Successful))),
    row("FL+CSL indefinite, FL violated", (N, Some(4), N, Some(4)), true, (5, 9, 0, 0, 0, 9), &[Failed], (s(Failed), s(Failed))),
    row("FL+CSL indefinite, CSL satisfied", (N, Some(4), N, Some(4)), true, (3, 5, 0, 0, 4, 8), &[Failed], (s(Successful), s(Successful))),
    row("FL+CSL indefinite, both", (N, Some(4), N, Some(4)), true, (5, 5, 0, 0, 4, 10), &[Failed], (s(Failed), s(Failed))),
    row("FL+CSL count reached, neither", (Some(10), Some(4), N, Some(4)), true, (4, 6, 0, 0, 3, 10), &[Failed], (s(Inconclusive), s(Inconclusive))),
    row("FL+CSL count reached, FL violated", (Some(10), Some(4), N, Some(4)), true, (5, 5, 0, 0, 3, 10), &[Failed], (s(Failed), s(Failed))),
    row("FL+CSL count reached, CSL satisfied", (Some(10), Some(4), N, Some(4)), true, (4, 6, 0, 0, 4, 10), &[Failed], (s(Successful), s(Successful))),
    row("FL+CSL count reached, both", (Some(10), Some(4), N, Some(4)), true, (5, 5, 0, 0, 4, 10), &[Failed], (s(Failed), s(Failed))),
    row("FL+CSL count not reached, neither", (Some(10), Some(4), N, Some(4)), true, (3, 5, 0, 0, 3, 8), &[Failed], (s(Running), s(Successful))),
    row("FL+CSL count not reached, FL violated", (Some(10), Some(4), N, Some(4)), true, (5, 3, 0, 0, 3, 8), &[Failed], (s(Failed), s(Failed))),
    row("FL+CSL count not reached, CSL satisfied", (Some(10), Some(4), N, Some(4)), true, (3, 5, 0, 0, 4, 8), &[Failed], (s(Successful), s(Successful))),
    row("FL+CSL count not reached, both", (Some(10), Some(4), N, Some(4)), true, (5, 4, 0, 0, 4, 9), &[Failed], (s(Failed), s(Failed))),
    row("InconclusiveLimit 2, inconclusive 3", (N, N, Some(2), N), true, (0, 0, 3, 0, 0, 3), &[Inconclusive], (s(Inconclusive), s(Inconclusive))),
    row("InconclusiveLimit 3, inconclusive 3", (N, N, Some(3), N), true, (0, 0, 3, 0, 0, 3), &[Inconclusive], (s(Running), s(Successful))),
    row("ConsecutiveErrors 5", (N, N, N, N), true, (0, 0, 0, 5, 0, 5), &[Error], (s(Error), s(Error))),
    row("ConsecutiveErrors 4 (terminating)", (N, N, N, N), true, (0, 0, 0, 4, 0, 5), &[Error], (None, s(Successful))),
    row("ConsecutiveErrors 4", (N, N, N, N), true, (0, 0, 0, 4, 0, 5), &[Error], (s(Running), None)),
    row("CountReached, all successful", (Some(10), N, N, N), false, (0, 10, 0, 0, 0, 10), &[Successful], (s(Successful), None)),
    row("CountReached, 5 inconclusive", (Some(10), N, N, N), false, (0, 5, 5, 0, 0, 10), &[Successful], (s(Inconclusive), None)),
];

fn limit(v: Option<i32>) -> Option<IntOrString> {
    v.map(IntOrString::Int)
}

#[test]
fn assess_metric_status_matrix() {
    // 2 + 2 + 4 + 12 + 24 + 4 + 4 + 2 assertions upstream.
    let assertions: usize = ASSESS
        .iter()
        .map(|r| usize::from(r.want.0.is_some()) + usize::from(r.want.1.is_some()))
        .sum();
    assert_eq!(assertions, 54, "upstream assertions");
    let t = "2025-01-01T00:00:00Z".to_string();
    for r in &ASSESS {
        let (count, fl, il, csl) = r.limits;
        let metric = Metric {
            name: "success-rate".into(),
            count: limit(count),
            failure_limit: limit(fl),
            inconclusive_limit: limit(il),
            consecutive_success_limit: limit(csl),
            interval: r.interval.then(|| "60s".to_string()),
            ..Default::default()
        };
        let (failed, successful, inconclusive, consecutive_error, consecutive_success, n) =
            r.counters;
        let result = MetricResult {
            name: "success-rate".into(),
            failed,
            successful,
            inconclusive,
            consecutive_error,
            consecutive_success: Some(consecutive_success),
            count: n,
            measurements: r
                .measurements
                .iter()
                .map(|p| Measurement {
                    phase: p.as_str().into(),
                    value: "99".into(),
                    started_at: Some(t.clone()),
                    finished_at: p.completed().then(|| t.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        if let Some(want) = r.want.0 {
            assert_eq!(
                assess_metric_status(&metric, &result, false),
                want,
                "{} (running)",
                r.test
            );
        }
        if let Some(want) = r.want.1 {
            assert_eq!(
                assess_metric_status(&metric, &result, true),
                want,
                "{} (terminating)",
                r.test
            );
        }
    }
}

fn now() -> Timestamp {
    "2025-01-01T00:10:00Z".parse().expect("time")
}

fn at(offset_secs: i64) -> String {
    (now() + SignedDuration::from_secs(offset_secs)).to_string()
}

fn metric(name: &str, interval: Option<&str>, delay: Option<&str>, count: Option<i32>) -> Metric {
    Metric {
        name: name.into(),
        interval: interval.map(String::from),
        initial_delay: delay.map(String::from),
        count: limit(count),
        ..Default::default()
    }
}

fn measured(
    name: &str,
    phase: Phase,
    metric_phase: Phase,
    started: i64,
    finished: Option<i64>,
    resume: Option<i64>,
) -> MetricResult {
    MetricResult {
        name: name.into(),
        phase: metric_phase.as_str().into(),
        error: i32::from(phase == Phase::Error),
        measurements: vec![Measurement {
            phase: phase.as_str().into(),
            value: "99".into(),
            started_at: Some(at(started)),
            finished_at: finished.map(at),
            resume_at: resume.map(at),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// (assertion, metrics, run start, results, expected wake-up), times in
/// seconds from "now".
type ReconcileRow = (
    &'static str,
    Vec<Metric>,
    Option<i64>,
    Vec<MetricResult>,
    Option<i64>,
);

/// `TestCalculateNextReconcile*`: each assertion's metrics and results, and
/// the expected wake-up as seconds from "now" (`None`: no requeue).
#[test]
fn calculate_next_reconcile_rows() {
    let rows: Vec<ReconcileRow> = vec![
        (
            "TimeInterval: requeue at interval",
            vec![metric("success-rate", Some("60s"), None, None)],
            None,
            vec![measured(
                "success-rate",
                Successful,
                Running,
                -30,
                Some(-30),
                None,
            )],
            Some(30),
        ),
        (
            "TimeInterval: in flight without resumeAt",
            vec![metric("success-rate", Some("60s"), None, None)],
            None,
            vec![measured("success-rate", Running, Running, -30, None, None)],
            None,
        ),
        (
            "TimeInterval: completed metric",
            vec![metric("success-rate", Some("60s"), None, None)],
            None,
            vec![measured(
                "success-rate",
                Successful,
                Successful,
                -120,
                Some(-120),
                None,
            )],
            None,
        ),
        (
            "TimeInitialDelay: after the start delay",
            vec![
                metric("success-rate", Some("60s"), None, None),
                metric("start-delay", Some("60s"), Some("40s"), None),
            ],
            Some(-30),
            vec![measured(
                "success-rate",
                Successful,
                Running,
                -30,
                Some(-30),
                None,
            )],
            Some(10),
        ),
        (
            "TimeInitialDelay: invalid start delay skipped",
            vec![
                metric("success-rate", Some("60s"), None, None),
                metric(
                    "start-delay",
                    Some("60s"),
                    Some("not-valid-start-delay"),
                    None,
                ),
            ],
            Some(-30),
            vec![measured(
                "success-rate",
                Successful,
                Running,
                -30,
                Some(-30),
                None,
            )],
            Some(30),
        ),
        (
            "TimeNoInterval",
            vec![metric("success-rate", None, None, Some(1))],
            None,
            vec![measured(
                "success-rate",
                Successful,
                Successful,
                0,
                Some(0),
                None,
            )],
            None,
        ),
        (
            "EarliestMetric",
            vec![
                metric("success-rate", Some("60s"), None, None),
                metric("latency", Some("60s"), None, None),
            ],
            None,
            vec![
                measured("success-rate", Successful, Running, -30, Some(-30), None),
                measured("latency", Successful, Running, -50, Some(-50), None),
            ],
            Some(10),
        ),
        (
            "HonorResumeAt",
            vec![metric("success-rate", Some("60s"), None, None)],
            None,
            vec![measured(
                "success-rate",
                Successful,
                Running,
                -30,
                None,
                Some(10),
            )],
            Some(10),
        ),
        (
            "UponError",
            vec![metric("success-rate", None, None, None)],
            None,
            vec![measured("success-rate", Error, Running, 0, Some(0), None)],
            Some(10),
        ),
        (
            "UponError with a 5m interval",
            vec![metric("success-rate", Some("5m"), None, None)],
            None,
            vec![measured("success-rate", Error, Running, 0, Some(0), None)],
            Some(10),
        ),
    ];
    assert_eq!(rows.len(), 10, "upstream assertions");
    for (name, metrics, started, results, want) in rows {
        let status = AnalysisRunStatus {
            phase: "Running".into(),
            started_at: started.map(at),
            metric_results: results,
            ..Default::default()
        };
        let got = next_reconcile_time(&metrics, &status);
        assert_eq!(
            got,
            want.map(|w| now() + SignedDuration::from_secs(w)),
            "{name}"
        );
    }
}

/// `TestAssessMetricFailureInconclusiveOrError`: 3 cases, each the phase,
/// the message and `assessMetricStatus(terminating)` (9 assertions).
#[test]
fn assess_metric_failure_inconclusive_or_error_rows() {
    let cases = [
        (Phase::Failed, (1, 0, 0), "failed (1) > failureLimit (0)"),
        (
            Phase::Inconclusive,
            (0, 1, 0),
            "inconclusive (1) > inconclusiveLimit (0)",
        ),
        (
            Phase::Error,
            (0, 0, 5),
            "consecutiveErrors (5) > consecutiveErrorLimit (4)",
        ),
    ];
    let mut assertions = 0;
    for (phase, (failed, inconclusive, consecutive_error), msg) in cases {
        let metric = Metric::default();
        let result = MetricResult {
            failed,
            inconclusive,
            consecutive_error,
            measurements: vec![Measurement {
                phase: phase.as_str().into(),
                finished_at: Some("2025-01-01T00:00:00Z".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let (got, message) = kargo_analysis::assess_metric_limits(&metric, &result);
        assert_eq!(got, Some(phase));
        assert_eq!(message, msg);
        assert_eq!(assess_metric_status(&metric, &result, true), phase);
        assertions += 3;
    }
    assert_eq!(assertions, 9, "upstream assertions");
}

/// Rollouts' `newTerminatingRun(status, isDryRun)` fixture: `run-forever`
/// with a measurement in flight, `failed-metric` completed with `status`.
fn terminating_run(status: Phase, dry: bool) -> (AnalysisRunSpec, AnalysisRunStatus) {
    let job = || {
        let mut m = Metric::default();
        m.provider.job = Some(Default::default());
        m
    };
    let spec = AnalysisRunSpec {
        metrics: vec![
            Metric {
                name: "run-forever".into(),
                ..job()
            },
            Metric {
                name: "failed-metric".into(),
                ..job()
            },
        ],
        dry_run: if dry {
            vec![
                DryRun {
                    metric_name: "run-forever".into(),
                },
                DryRun {
                    metric_name: "failed-metric".into(),
                },
            ]
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    let t = at(-60);
    let mut failed = MetricResult {
        name: "failed-metric".into(),
        count: 1,
        dry_run: dry,
        phase: status.as_str().into(),
        measurements: vec![Measurement {
            phase: status.as_str().into(),
            started_at: Some(t.clone()),
            finished_at: Some(t.clone()),
            ..Default::default()
        }],
        ..Default::default()
    };
    match status {
        Phase::Failed => failed.failed = 1,
        Phase::Inconclusive => failed.inconclusive = 1,
        Phase::Error => failed.error = 1,
        _ => {}
    }
    let status = AnalysisRunStatus {
        phase: "Running".into(),
        started_at: Some(at(-120)),
        metric_results: vec![
            MetricResult {
                name: "run-forever".into(),
                dry_run: dry,
                phase: "Running".into(),
                measurements: vec![Measurement {
                    phase: "Running".into(),
                    started_at: Some(t),
                    ..Default::default()
                }],
                ..Default::default()
            },
            failed,
        ],
        ..Default::default()
    };
    (spec, status)
}

fn summary(count: i32, successful: i32, failed: i32) -> RunSummary {
    RunSummary {
        count,
        successful,
        failed,
        ..Default::default()
    }
}

/// (test, dry run, run-forever's phase and failures, provider message,
/// expected phase, message, dry-run summary).
type RunStatusRow = (
    &'static str,
    bool,
    (Phase, i32),
    &'static str,
    Phase,
    String,
    RunSummary,
);

/// `TestAssessRunStatusErrorMessage*` and `TestAssessRunStatusMultipleFailures*`
/// (status, message and dry-run summary each: 18 assertions).
#[test]
fn assess_run_status_message_rows() {
    let rows: Vec<RunStatusRow> = vec![
        ("ErrorMessageAnalysisPhaseFail", false, (Successful, 0), "", Failed,
            "Metric \"failed-metric\" assessed Failed due to failed (1) > failureLimit (0)".into(), summary(0, 0, 0)),
        ("ErrorMessageAnalysisPhaseFailInDryRunMode", true, (Successful, 0), "", Successful, String::new(), summary(2, 1, 1)),
        ("ErrorMessageFromProvider", false, (Successful, 0), "Provider Error", Failed,
            "Metric \"failed-metric\" assessed Failed due to failed (1) > failureLimit (0): \"Error Message: Provider Error\"".into(), summary(0, 0, 0)),
        ("ErrorMessageFromProviderInDryRunMode", true, (Successful, 0), "Provider Error", Successful, String::new(), summary(2, 1, 1)),
        ("MultipleFailures", false, (Failed, 1), "", Failed,
            "Metric \"run-forever\" assessed Failed due to failed (1) > failureLimit (0)".into(), summary(0, 0, 0)),
        ("MultipleFailuresInDryRunMode", true, (Failed, 1), "", Successful, String::new(), summary(2, 0, 2)),
    ];
    assert_eq!(rows.len() * 3, 18, "upstream assertions");
    for (test, dry, (forever_phase, forever_failed), provider, phase, message, dry_summary) in rows
    {
        let (spec, mut status) = terminating_run(Failed, dry);
        status.metric_results[0].phase = forever_phase.as_str().into();
        status.metric_results[0].failed = forever_failed;
        status.metric_results[1].message = provider.into();
        let (got_phase, got_message) =
            kargo_analysis::assess_run_status(&spec, &mut status).expect("valid spec");
        assert_eq!(got_phase, phase, "{test}");
        assert_eq!(got_message, message, "{test}");
        assert_eq!(status.dry_run_summary, Some(dry_summary), "{test}");
    }
}

/// Upstream tests that reconcile a whole run: our `reconcile` with a
/// provider answering as upstream's mock does.
#[test]
fn reconcile_message_rows() {
    let mut assertions = 0;
    let step = |spec: &AnalysisRunSpec, status: &AnalysisRunStatus, answer: Phase| {
        kargo_analysis::reconcile(spec, status, now(), &NoSecrets, &mut |_| {
            Observation::Decided {
                phase: answer,
                value: String::new(),
                message: String::new(),
                metadata: Default::default(),
            }
        })
        .status
    };
    let job = |name: &str| {
        let mut m = Metric {
            name: name.into(),
            ..Default::default()
        };
        m.provider.job = Some(Default::default());
        m
    };
    let finished = |phase: Phase| Measurement {
        phase: phase.as_str().into(),
        started_at: Some(at(-60)),
        finished_at: Some(at(-60)),
        ..Default::default()
    };

    // TestAssessRunStatusWithOnlyDryRunMetrics.
    let spec = AnalysisRunSpec {
        metrics: vec![job("success-metric")],
        dry_run: vec![DryRun {
            metric_name: "success-metric".into(),
        }],
        ..Default::default()
    };
    let status = AnalysisRunStatus {
        metric_results: vec![MetricResult {
            name: "success-metric".into(),
            count: 1,
            successful: 1,
            dry_run: true,
            phase: "Successful".into(),
            measurements: vec![finished(Successful)],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        step(&spec, &status, Failed).phase,
        "Successful",
        "OnlyDryRunMetrics"
    );
    assertions += 1;

    // TestAssessRunStatusWithMixedMetrics: the in-flight measurement ends
    // Successful (upstream: Resume), the earlier inconclusive one counts.
    let spec = AnalysisRunSpec {
        metrics: vec![job("run-forever"), job("success-metric")],
        dry_run: vec![DryRun {
            metric_name: "success-metric".into(),
        }],
        ..Default::default()
    };
    let status = AnalysisRunStatus {
        metric_results: vec![
            MetricResult {
                name: "run-forever".into(),
                inconclusive: 1,
                phase: "Running".into(),
                measurements: vec![Measurement {
                    phase: "Running".into(),
                    started_at: Some(at(-60)),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricResult {
                name: "success-metric".into(),
                count: 1,
                failed: 1,
                dry_run: true,
                phase: "Successful".into(),
                measurements: vec![finished(Failed)],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let out = step(&spec, &status, Successful);
    assert_eq!(out.phase, "Inconclusive", "MixedMetrics");
    assert_eq!(
        out.message,
        "Metric \"run-forever\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)"
    );
    assertions += 2;

    // TestAssessRunStatusWorstMessageInReconcileAnalysisRun (+ InDryRunMode).
    for dry in [false, true] {
        let (spec, mut status) = terminating_run(Failed, dry);
        status.metric_results[0].phase = "Failed".into();
        status.metric_results[0].failed = 1;
        let out = step(&spec, &status, Failed);
        if dry {
            assert_eq!(out.phase, "Successful");
            assert_eq!(out.message, "");
            assert_eq!(out.dry_run_summary, Some(summary(2, 0, 2)));
            let want = "Metric assessed Failed due to failed (1) > failureLimit (0)";
            assert_eq!(out.metric_results[0].message, want);
            assert_eq!(out.metric_results[1].message, want);
            assertions += 5;
        } else {
            assert_eq!(out.phase, "Failed");
            assert_eq!(
                out.message,
                "Metric \"run-forever\" assessed Failed due to failed (1) > failureLimit (0)"
            );
            assertions += 2;
        }
    }

    // TestTerminateAnalysisRun (+ InDryRunMode).
    for dry in [false, true] {
        let mut m = Metric {
            name: "success-rate".into(),
            initial_delay: Some("20s".into()),
            interval: Some("20s".into()),
            success_condition: "result[0] > 0.90".into(),
            ..Default::default()
        };
        m.provider.web = Some(Default::default());
        let spec = AnalysisRunSpec {
            metrics: vec![m],
            terminate: true,
            dry_run: if dry {
                vec![DryRun {
                    metric_name: "success-rate".into(),
                }]
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        let status = AnalysisRunStatus {
            phase: "Running".into(),
            started_at: Some(now().to_string()),
            ..Default::default()
        };
        let out = step(&spec, &status, Error);
        assert_eq!(out.phase, "Successful");
        assert_eq!(out.message, "Run Terminated");
        assertions += 2;
        if dry {
            assert_eq!(out.dry_run_summary, Some(summary(1, 0, 0)));
            assertions += 1;
        }
    }
    assert_eq!(assertions, 1 + 2 + 7 + 5, "upstream assertions");
}
