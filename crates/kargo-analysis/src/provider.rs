//! What a provider reports for one measurement ([`Observation`]) and the
//! dispatcher that picks the provider of a metric ([`Providers`]).

use std::collections::BTreeMap;

use std::sync::Arc;

use kargo_api::analysis::{JobMetric, Metric};

use crate::phase::Phase;
use crate::typecheck::GoType;

/// A value for the engine to judge with the metric's conditions.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Bound to `result` in conditions.
    pub result: expr::Value,
    /// The Go type Rollouts' provider would hand to expr for `result`
    /// (what the condition's static type check sees).
    pub result_type: GoType,
    /// The value as recorded in the measurement (`value`).
    pub shown: String,
    /// Additional condition variables (the web provider's `response`).
    pub extra: Vec<(String, expr::Value)>,
    /// Measurement metadata.
    pub metadata: BTreeMap<String, String>,
}

/// The outcome of asking a provider for one measurement.
#[derive(Debug, Clone)]
pub enum Observation {
    /// A value, judged by the metric's conditions.
    Value(Observed),
    /// A phase the provider decided itself (the job provider).
    Decided {
        /// Successful or Failed.
        phase: Phase,
        /// Recorded value.
        value: String,
        /// Message.
        message: String,
        /// Measurement metadata.
        metadata: BTreeMap<String, String>,
    },
    /// The measurement could not be taken (an Error measurement).
    Error(String),
}

impl Observation {
    /// A JSON value as Go decodes it (numbers are `float64`), shown as its
    /// compact JSON (tests, simple callers).
    pub fn json(value: serde_json::Value) -> Observation {
        Observation::Value(Observed {
            result: kargo_expr::convert::to_expr(&value),
            result_type: GoType::of_json(&value),
            shown: value.to_string(),
            extra: Vec::new(),
            metadata: BTreeMap::new(),
        })
    }
}

/// The AnalysisRun a measurement is taken for: the job provider names
/// and owns its Job by it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRef {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: String,
    /// Per metric, the number of its next measurement (count + errors + 1,
    /// Rollouts' job-name suffix).
    pub next: BTreeMap<String, i32>,
}

impl RunRef {
    /// The run named by `name`/`namespace`/`uid`, with the measurement
    /// numbers read from its status.
    pub fn new(
        name: &str,
        namespace: &str,
        uid: &str,
        status: &kargo_api::analysis::AnalysisRunStatus,
    ) -> RunRef {
        RunRef {
            name: name.to_string(),
            namespace: namespace.to_string(),
            uid: uid.to_string(),
            next: status
                .metric_results
                .iter()
                .map(|r| (r.name.clone(), r.count + r.error + 1))
                .collect(),
        }
    }

    /// The number of `metric`'s next measurement.
    pub fn next_of(&self, metric: &str) -> i32 {
        self.next.get(metric).copied().unwrap_or(1)
    }
}

/// Runs a job metric's measurement elsewhere than in this process (a
/// cluster's `batch/v1` Jobs), to completion.
pub trait JobRunner: Send + Sync + std::fmt::Debug {
    /// One measurement of `metric` for `run`.
    fn measure<'a>(
        &'a self,
        run: &'a RunRef,
        metric: &'a Metric,
        job: &'a JobMetric,
    ) -> futures::future::BoxFuture<'a, Observation>;
}

/// Runs metrics with the built-in providers.
#[derive(Debug, Default, Clone)]
pub struct Providers {
    /// Where job metrics run: None, a local process (standalone).
    jobs: Option<Arc<dyn JobRunner>>,
    /// The run being measured (for [`JobRunner`]s).
    run: Option<Arc<RunRef>>,
}

impl Providers {
    /// The built-in providers: web, prometheus, job (a local process).
    pub fn new() -> Providers {
        Providers::default()
    }

    /// Job metrics run through `jobs` instead of as local processes.
    pub fn with_job_runner(mut self, jobs: Arc<dyn JobRunner>) -> Providers {
        self.jobs = Some(jobs);
        self
    }

    /// These providers measuring for `run`.
    pub fn for_run(&self, run: RunRef) -> Providers {
        Providers {
            jobs: self.jobs.clone(),
            run: Some(Arc::new(run)),
        }
    }

    /// Takes one measurement of `metric` (arguments already resolved).
    pub async fn measure(&self, metric: &Metric) -> Observation {
        let p = &metric.provider;
        if let Some(web) = &p.web {
            crate::web::measure(metric, web).await
        } else if let Some(prom) = &p.prometheus {
            crate::prometheus::measure(prom).await
        } else if let Some(job) = &p.job {
            match (&self.jobs, &self.run) {
                (Some(jobs), Some(run)) => jobs.measure(run, metric, job).await,
                (Some(_), None) => Observation::Error(format!(
                    "metric \"{}\": a job runs for an AnalysisRun, and none was given",
                    metric.name
                )),
                (None, _) => crate::job::measure(job).await,
            }
        } else {
            Observation::Error(format!(
                "metric \"{}\": provider {} is not supported (supported: web, prometheus, job)",
                metric.name,
                p.names().join(", ")
            ))
        }
    }
}
