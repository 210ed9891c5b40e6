//! Argo Rollouts' `analysis/analysis_test.go` as data: the
//! `TestAssessMetricStatus*` limits matrix (through
//! [`assess_metric_status`]) and `TestCalculateNextReconcile*` (through
//! [`next_reconcile_time`]).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kargo_analysis::{Phase, assess_metric_status, next_reconcile_time};
use kargo_api::analysis::{AnalysisRunStatus, Measurement, Metric, MetricResult};

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
