//! What a provider reports for one measurement ([`Observation`]) and the
//! dispatcher that picks the provider of a metric ([`Providers`]).

use std::collections::BTreeMap;

use kargo_api::analysis::Metric;

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

/// Runs metrics with the built-in providers.
#[derive(Debug, Default, Clone)]
pub struct Providers {
    _private: (),
}

impl Providers {
    /// The built-in providers: web, prometheus, job (a local process).
    pub fn new() -> Providers {
        Providers::default()
    }

    /// Takes one measurement of `metric` (arguments already resolved).
    pub async fn measure(&self, metric: &Metric) -> Observation {
        let p = &metric.provider;
        if let Some(web) = &p.web {
            crate::web::measure(metric, web).await
        } else if let Some(prom) = &p.prometheus {
            crate::prometheus::measure(prom).await
        } else if let Some(job) = &p.job {
            crate::job::measure(job).await
        } else {
            Observation::Error(format!(
                "metric \"{}\": provider {} is not supported (supported: web, prometheus, job)",
                metric.name,
                p.names().join(", ")
            ))
        }
    }
}
