//! The AnalysisRun engine: one reconcile step over a run's spec and status
//! with Argo Rollouts' rules (`analysis/analysis.go`), the clock injected.
//!
//! Each step: resolve `{{args.NAME}}` (a missing value makes the run
//! Error, naming the argument), validate, take the measurements that are
//! due (`initialDelay` after the start, then every `interval`, errors
//! retried after 10 s), count them, assess each metric (`failureLimit`,
//! `inconclusiveLimit`, `consecutiveErrorLimit`, `consecutiveSuccessLimit`,
//! `count`), assess the run (worst completed non-dry-run metric: Failed >
//! Error > Inconclusive > Successful), trim measurements to the retention,
//! and say when to call again. A completed run is returned untouched.
//!
//! Messages are Rollouts' (`Metric "m" assessed Failed due to failed (1) >
//! failureLimit (0)`). Differences from Rollouts, both compatible:
//! measurements are taken to completion within the step (no in-flight
//! measurements), and a metric that fails terminates the other metrics in
//! the same step rather than the next.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use kargo_api::analysis::{
    AnalysisRunSpec, AnalysisRunStatus, Measurement, Metric, MetricResult, RunSummary, int_value,
    parse_go_duration_strict, validate_metrics,
};
use regex::Regex;

use crate::args::{ResolvedArgs, SecretLookup, resolve_metric, resolve_values};
use crate::error::SpecError;
use crate::evaluate::judge;
use crate::phase::{self, Phase};
use crate::provider::{Observation, Providers};

/// Measurements kept per metric unless `measurementRetention` says otherwise.
pub const DEFAULT_MEASUREMENT_RETENTION: usize = 10;
/// Consecutive errors tolerated unless `consecutiveErrorLimit` is set.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i32 = 4;
/// Delay before an errored measurement is retried.
pub const DEFAULT_ERROR_RETRY_INTERVAL: SignedDuration = SignedDuration::from_secs(10);

/// The result of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    /// The new status, to persist.
    pub status: AnalysisRunStatus,
    /// When to call again; `None` once the run is complete.
    pub next_reconcile: Option<Timestamp>,
}

/// One reconcile step, measuring due metrics with `measure` (called with
/// the metric, arguments resolved).
pub fn reconcile(
    spec: &AnalysisRunSpec,
    status: &AnalysisRunStatus,
    now: Timestamp,
    secrets: &dyn SecretLookup,
    measure: &mut dyn FnMut(&Metric) -> Observation,
) -> Reconciled {
    match prepare(spec, status, now, secrets) {
        Step::Done(r) => r,
        Step::Measure(p) => {
            let obs: Vec<Observation> = p.due.iter().map(measure).collect();
            p.finish(obs, now)
        }
    }
}

/// One reconcile step measuring with the built-in providers, in parallel;
/// `clock` gives the start and end times of the measurements.
pub async fn reconcile_async(
    spec: &AnalysisRunSpec,
    status: &AnalysisRunStatus,
    clock: &(dyn Fn() -> Timestamp + Sync),
    secrets: &dyn SecretLookup,
    providers: &Providers,
) -> Reconciled {
    match prepare(spec, status, clock(), secrets) {
        Step::Done(r) => r,
        Step::Measure(p) => {
            let obs = futures::future::join_all(p.due.iter().map(|m| providers.measure(m))).await;
            p.finish(obs, clock())
        }
    }
}

enum Step {
    Done(Reconciled),
    Measure(Prepared),
}

struct Prepared {
    metrics: Vec<(Metric, Params)>,
    status: AnalysisRunStatus,
    args: ResolvedArgs,
    dry_run: BTreeSet<String>,
    retention: BTreeMap<String, usize>,
    due: Vec<Metric>,
    started: Timestamp,
    terminate: bool,
}

/// A metric's scheduling and limits, parsed.
#[derive(Debug, Clone, Copy)]
struct Params {
    interval: Option<SignedDuration>,
    initial_delay: Option<SignedDuration>,
    /// `None`: runs until terminated.
    count: Option<i32>,
    failure_limit: i32,
    inconclusive_limit: i32,
    consecutive_error_limit: i32,
    consecutive_success_limit: i32,
}

fn error_run(status: &AnalysisRunStatus, now: Timestamp, message: String) -> Step {
    let mut status = status.clone();
    status.phase = Phase::Error.as_str().to_string();
    status.message = message;
    if status.started_at.is_none() {
        status.started_at = Some(now.to_string());
    }
    Step::Done(Reconciled {
        status,
        next_reconcile: None,
    })
}

fn prepare(
    spec: &AnalysisRunSpec,
    status: &AnalysisRunStatus,
    now: Timestamp,
    secrets: &dyn SecretLookup,
) -> Step {
    if phase::completed(&status.phase) {
        return Step::Done(Reconciled {
            status: status.clone(),
            next_reconcile: None,
        });
    }
    let args = match resolve_values(&spec.args, secrets) {
        Ok(a) => a,
        Err(e) => {
            return error_run(
                status,
                now,
                format!("Unable to resolve metric arguments: {e}"),
            );
        }
    };
    let mut metrics = Vec::with_capacity(spec.metrics.len());
    for m in &spec.metrics {
        match resolve_metric(m, &args) {
            Ok(r) => metrics.push(r),
            Err(e) => {
                return error_run(
                    status,
                    now,
                    args.redact(&format!("Unable to resolve metric arguments: {e}")),
                );
            }
        }
    }
    let checked = validate(&metrics).and_then(|params| {
        let dry = dry_run_metrics(&spec.dry_run, &metrics)?;
        let mut retention = BTreeMap::new();
        for (i, r) in spec.measurement_retention.iter().enumerate() {
            let names = match_rules("measurementRetention", [r.metric_name.as_str()], &metrics)
                .map_err(|e| SpecError(e.0.replace("[0]", &format!("[{i}]"))))?;
            if r.limit > 0 {
                for n in names {
                    retention.insert(n, r.limit as usize);
                }
            }
        }
        Ok((params, dry, retention))
    });
    let (params, dry_run, retention) = match checked {
        Ok(x) => x,
        Err(e) => return error_run(status, now, format!("Analysis spec invalid: {e}")),
    };
    let mut status = status.clone();
    if status.started_at.is_none() {
        status.started_at = Some(now.to_string());
    }
    let started = status
        .started_at
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok())
        .unwrap_or(now);
    let metrics: Vec<(Metric, Params)> = metrics.into_iter().zip(params).collect();
    let terminating = is_terminating(spec.terminate, &status);
    let mut due = Vec::new();
    for (m, p) in &metrics {
        let result = status.metric_results.iter().find(|r| r.name == m.name);
        if result.is_some_and(|r| phase::completed(&r.phase)) || terminating {
            continue;
        }
        let last = result.and_then(|r| r.measurements.last());
        let Some(last) = last else {
            if let Some(d) = p.initial_delay
                && started + d > now
            {
                continue;
            }
            due.push(m.clone());
            continue;
        };
        if let (Some(c), Some(r)) = (p.count, result)
            && r.count >= c
        {
            continue;
        }
        let interval = if last.phase == Phase::Error.as_str() {
            DEFAULT_ERROR_RETRY_INTERVAL
        } else {
            p.interval.unwrap_or(DEFAULT_ERROR_RETRY_INTERVAL)
        };
        match finished_at(last) {
            Some(f) if f + interval > now => {}
            _ => due.push(m.clone()),
        }
    }
    Step::Measure(Prepared {
        metrics,
        status,
        args,
        dry_run,
        retention,
        due,
        started: now,
        terminate: spec.terminate,
    })
}

impl Prepared {
    fn finish(mut self, observations: Vec<Observation>, now: Timestamp) -> Reconciled {
        let due = std::mem::take(&mut self.due);
        for (metric, obs) in due.iter().zip(observations) {
            self.record(metric, obs, now);
        }
        self.assess();
        self.collect_garbage();
        let next_reconcile = if phase::completed(&self.status.phase) {
            None
        } else {
            self.next_reconcile()
        };
        Reconciled {
            status: self.status,
            next_reconcile,
        }
    }

    fn record(&mut self, metric: &Metric, obs: Observation, now: Timestamp) {
        let (phase, value, message, metadata) = match obs {
            Observation::Value(o) => {
                let j = judge(metric, &o.result, &o.result_type, &o.extra);
                // Rollouts records no value for a measurement in Error.
                let value = if j.phase == Phase::Error {
                    String::new()
                } else {
                    o.shown
                };
                (j.phase, value, j.message, o.metadata)
            }
            Observation::Decided {
                phase,
                value,
                message,
                metadata,
            } => (phase, value, message, metadata),
            Observation::Error(m) => (Phase::Error, String::new(), m, BTreeMap::new()),
        };
        let measurement = Measurement {
            phase: phase.as_str().to_string(),
            message: self.args.redact(&message),
            started_at: Some(self.started.to_string()),
            finished_at: Some(now.to_string()),
            value: self.args.redact(&value),
            metadata,
            resume_at: None,
        };
        let dry = self.dry_run.contains(&metric.name);
        let idx = match self
            .status
            .metric_results
            .iter()
            .position(|r| r.name == metric.name)
        {
            Some(i) => i,
            None => {
                self.status.metric_results.push(MetricResult {
                    name: metric.name.clone(),
                    phase: Phase::Running.as_str().to_string(),
                    dry_run: dry,
                    ..Default::default()
                });
                self.status.metric_results.len() - 1
            }
        };
        let r = &mut self.status.metric_results[idx];
        let cs = r.consecutive_success.unwrap_or(0);
        match phase {
            Phase::Successful => {
                r.successful += 1;
                r.count += 1;
                r.consecutive_error = 0;
                r.consecutive_success = Some(cs + 1);
            }
            Phase::Failed => {
                r.failed += 1;
                r.count += 1;
                r.consecutive_error = 0;
                r.consecutive_success = Some(0);
            }
            Phase::Inconclusive => {
                r.inconclusive += 1;
                r.count += 1;
                r.consecutive_error = 0;
                r.consecutive_success = Some(0);
            }
            _ => {
                r.error += 1;
                r.consecutive_error += 1;
            }
        }
        r.measurements.push(measurement);
    }

    /// Assesses the run; when a metric completed badly in this pass, once
    /// more with the run terminating (Rollouts does that in its next
    /// reconcile).
    fn assess(&mut self) {
        let before = is_terminating(self.terminate, &self.status);
        let mut outcome = assess_run(
            &self.metrics,
            &self.dry_run,
            self.terminate,
            &mut self.status,
        );
        if !before && is_terminating(self.terminate, &self.status) {
            outcome = assess_run(
                &self.metrics,
                &self.dry_run,
                self.terminate,
                &mut self.status,
            );
        }
        let (phase, message) = outcome;
        if self.status.phase != phase.as_str() {
            self.status.phase = phase.as_str().to_string();
            self.status.message = message;
        }
    }

    fn collect_garbage(&mut self) {
        for r in &mut self.status.metric_results {
            let limit = self
                .retention
                .get(&r.name)
                .copied()
                .unwrap_or(DEFAULT_MEASUREMENT_RETENTION);
            if r.measurements.len() > limit {
                let drop = r.measurements.len() - limit;
                r.measurements.drain(..drop);
            }
        }
    }

    fn next_reconcile(&self) -> Option<Timestamp> {
        let metrics: Vec<Metric> = self.metrics.iter().map(|(m, _)| m.clone()).collect();
        next_reconcile_time(&metrics, &self.status)
    }
}

/// Rollouts' `assessRunStatus` over a run's (resolved) spec: updates each
/// metric's phase and message and the summaries in `status`, and returns
/// the run's phase and message (the caller writes them when the phase
/// changes, as Rollouts does).
pub fn assess_run_status(
    spec: &AnalysisRunSpec,
    status: &mut AnalysisRunStatus,
) -> Result<(Phase, String), SpecError> {
    let dry = dry_run_metrics(&spec.dry_run, &spec.metrics)?;
    let metrics: Vec<(Metric, Params)> = spec
        .metrics
        .iter()
        .map(|m| (m.clone(), Params::of(m)))
        .collect();
    Ok(assess_run(&metrics, &dry, spec.terminate, status))
}

fn assess_run(
    metrics: &[(Metric, Params)],
    dry_run: &BTreeSet<String>,
    terminate: bool,
    status: &mut AnalysisRunStatus,
) -> (Phase, String) {
    let terminating = is_terminating(terminate, status);
    let mut worst: Option<Phase> = None;
    let mut worst_message = if terminate {
        "Run Terminated".to_string()
    } else {
        String::new()
    };
    let mut everything_completed = true;
    let mut run = RunSummary::default();
    let mut dry = RunSummary::default();
    for (m, p) in metrics {
        let is_dry = dry_run.contains(&m.name);
        let summary = if is_dry { &mut dry } else { &mut run };
        summary.count += 1;
        let Some(r) = status.metric_results.iter_mut().find(|r| r.name == m.name) else {
            // Not started yet (e.g. an initialDelay).
            everything_completed = false;
            continue;
        };
        let metric_status = assess(p, r, terminating);
        if metric_status.as_str() != r.phase {
            if let Some(last) = r.measurements.last() {
                r.message = last.message.clone();
            }
            r.phase = metric_status.as_str().to_string();
        }
        if !metric_status.completed() {
            everything_completed = false;
            continue;
        }
        let (phase, message) = limit_breached(p, r);
        match phase {
            Some(Phase::Error) => summary.error += 1,
            Some(Phase::Failed) => summary.failed += 1,
            Some(Phase::Inconclusive) => summary.inconclusive += 1,
            _ => summary.successful += 1,
        }
        if is_dry {
            worst.get_or_insert(Phase::Successful);
            if !message.is_empty() {
                r.message = format!("Metric assessed {metric_status} due to {message}");
            }
            continue;
        }
        if worst.is_none_or(|w| metric_status.is_worse_than(w)) {
            worst = Some(metric_status);
            if !message.is_empty() {
                worst_message = format!(
                    "Metric \"{}\" assessed {metric_status} due to {message}",
                    m.name
                );
                if !r.message.is_empty() {
                    worst_message.push_str(&format!(": \"Error Message: {}\"", r.message));
                }
            }
        }
    }
    status.run_summary = Some(run);
    status.dry_run_summary = Some(dry);
    let worst_message = worst_message.trim().to_string();
    if terminating {
        return (worst.unwrap_or(Phase::Successful), worst_message);
    }
    match worst {
        Some(w) if everything_completed => (w, worst_message),
        _ => (Phase::Running, String::new()),
    }
}

/// Rollouts' `calculateNextReconcileTime`: the earliest of each unfinished
/// metric's next event: the end of its `initialDelay` (not measured yet),
/// `resumeAt` (in flight), 10 s after an Error, `interval` after the last
/// measurement. `None` when nothing is due again.
pub fn next_reconcile_time(metrics: &[Metric], status: &AnalysisRunStatus) -> Option<Timestamp> {
    let started = status
        .started_at
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok());
    let mut next: Option<Timestamp> = None;
    let mut consider = |t: Timestamp| {
        if next.is_none_or(|n| t < n) {
            next = Some(t);
        }
    };
    for m in metrics {
        let p = Params::of(m);
        let r = status.metric_results.iter().find(|r| r.name == m.name);
        if r.is_some_and(|r| phase::completed(&r.phase)) {
            continue;
        }
        let Some((r, last)) = r.and_then(|r| Some((r, r.measurements.last()?))) else {
            if let (Some(d), Some(s)) = (p.initial_delay, started) {
                consider(s + d);
            }
            continue;
        };
        let Some(finished) = finished_at(last) else {
            if let Some(t) = last.resume_at.as_deref().and_then(|t| t.parse().ok()) {
                consider(t);
            }
            continue;
        };
        if p.count.is_some_and(|c| r.count >= c) {
            continue;
        }
        let interval = if last.phase == Phase::Error.as_str() {
            Some(DEFAULT_ERROR_RETRY_INTERVAL)
        } else {
            p.interval
        };
        if let Some(i) = interval {
            consider(finished + i);
        }
    }
    next
}

/// Rollouts' `assessMetricStatus`: the phase of `metric` given its
/// `result`, when the run is `terminating` or not.
pub fn assess_metric_status(metric: &Metric, result: &MetricResult, terminating: bool) -> Phase {
    assess(&Params::of(metric), result, terminating)
}

fn assess(p: &Params, r: &MetricResult, terminating: bool) -> Phase {
    if let Some(done) = Phase::parse(&r.phase).filter(|ph| ph.completed()) {
        return done;
    }
    let Some(last) = r.measurements.last() else {
        return if terminating {
            Phase::Successful
        } else {
            Phase::Pending
        };
    };
    if !phase::completed(&last.phase) {
        return Phase::Running;
    }
    if let (Some(breached), _) = limit_breached(p, r) {
        return breached;
    }
    let csl = p.consecutive_success_limit;
    if csl > 0 && r.consecutive_success.unwrap_or(0) >= csl {
        return Phase::Successful;
    }
    if let Some(c) = p.count
        && r.count >= c
    {
        if csl > 0 {
            // Count reached without the consecutive successes: with a
            // failure limit in force that is Inconclusive, with
            // `failureLimit: -1` it is Failed.
            return if p.failure_limit >= 0 {
                Phase::Inconclusive
            } else {
                Phase::Failed
            };
        }
        return Phase::Successful;
    }
    if terminating {
        return Phase::Successful;
    }
    Phase::Running
}

/// Rollouts' `assessMetricFailureInconclusiveOrError`: the limit a
/// metric's counters exceed (strictly), later checks overriding earlier
/// ones, and Rollouts' wording of it.
pub fn assess_metric_limits(metric: &Metric, result: &MetricResult) -> (Option<Phase>, String) {
    limit_breached(&Params::of(metric), result)
}

fn limit_breached(p: &Params, r: &MetricResult) -> (Option<Phase>, String) {
    let mut out = (None, String::new());
    if p.failure_limit >= 0 && r.failed > p.failure_limit {
        out = (
            Some(Phase::Failed),
            format!("failed ({}) > failureLimit ({})", r.failed, p.failure_limit),
        );
    }
    if r.inconclusive > p.inconclusive_limit {
        out = (
            Some(Phase::Inconclusive),
            format!(
                "inconclusive ({}) > inconclusiveLimit ({})",
                r.inconclusive, p.inconclusive_limit
            ),
        );
    }
    if r.consecutive_error > p.consecutive_error_limit {
        out = (
            Some(Phase::Error),
            format!(
                "consecutiveErrors ({}) > consecutiveErrorLimit ({})",
                r.consecutive_error, p.consecutive_error_limit
            ),
        );
    }
    out
}

/// Rollouts' `IsTerminating`: terminate requested, or a non-dry-run metric
/// ended Failed, Error or Inconclusive.
pub fn is_terminating(terminate: bool, status: &AnalysisRunStatus) -> bool {
    terminate
        || status.metric_results.iter().any(|r| {
            !r.dry_run
                && matches!(
                    Phase::parse(&r.phase),
                    Some(Phase::Failed | Phase::Error | Phase::Inconclusive)
                )
        })
}

fn finished_at(m: &Measurement) -> Option<Timestamp> {
    m.finished_at.as_deref()?.parse().ok()
}

impl Params {
    /// A metric's parameters read as Rollouts reads them (`IntValue()`:
    /// a non-integer string is 0; durations that do not parse are unset,
    /// which validation has already rejected).
    fn of(m: &Metric) -> Params {
        let duration = |v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .and_then(|s| parse_go_duration_strict(s).ok())
                .filter(|d| d.is_finite())
                .map(|d| SignedDuration::from_secs_f64(d.max(0.0)))
        };
        Params {
            interval: duration(&m.interval),
            initial_delay: duration(&m.initial_delay),
            count: m.effective_count(),
            failure_limit: int_value(&m.failure_limit).unwrap_or(0),
            inconclusive_limit: int_value(&m.inconclusive_limit).unwrap_or(0),
            consecutive_error_limit: int_value(&m.consecutive_error_limit)
                .unwrap_or(DEFAULT_CONSECUTIVE_ERROR_LIMIT),
            consecutive_success_limit: int_value(&m.consecutive_success_limit).unwrap_or(0),
        }
    }
}

/// Rollouts' `ValidateMetrics`, and the parsed parameters of each metric.
fn validate(metrics: &[Metric]) -> Result<Vec<Params>, SpecError> {
    validate_metrics(metrics).map_err(SpecError)?;
    Ok(metrics.iter().map(Params::of).collect())
}

/// Rollouts' `GetDryRunMetrics`: the metrics the `dryRun` rules name.
pub fn dry_run_metrics(
    rules: &[kargo_api::analysis::DryRun],
    metrics: &[Metric],
) -> Result<BTreeSet<String>, SpecError> {
    match_rules(
        "dryRun",
        rules.iter().map(|d| d.metric_name.as_str()),
        metrics,
    )
}

/// Metric names matched by `dryRun` / `measurementRetention` rules, as
/// Rollouts matches them: each rule an unanchored regular expression (one
/// that does not compile, such as `*`, matches nothing); a rule matching
/// nothing is an error.
fn match_rules<'a>(
    field: &str,
    rules: impl IntoIterator<Item = &'a str>,
    metrics: &[Metric],
) -> Result<BTreeSet<String>, SpecError> {
    let mut out = BTreeSet::new();
    for (i, rule) in rules.into_iter().enumerate() {
        let re = Regex::new(rule).ok();
        let mut matched = false;
        for m in metrics {
            if re.as_ref().is_some_and(|r| r.is_match(&m.name)) {
                out.insert(m.name.clone());
                matched = true;
            }
        }
        if !matched {
            return Err(SpecError(format!(
                "{field}[{i}]: Rule didn't match any metric name(s)"
            )));
        }
    }
    Ok(out)
}
