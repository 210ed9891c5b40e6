//! kargo-analysis: AnalysisRuns executed in-process with Argo Rollouts'
//! semantics, and the `web`, `prometheus` and `job` metric providers.
//!
//! Map of the crate:
//! - [`engine`]: the clock-injected step function over an AnalysisRun's
//!   spec and status ([`reconcile`], [`reconcile_async`]): scheduling
//!   (`interval`, `initialDelay`, `count`), limits, dry-run, retention,
//!   terminate, run summaries, next wake-up;
//! - [`evaluate`]: a measured value against `successCondition` /
//!   `failureCondition` (expr-lang, `result` bound to the value);
//! - [`typecheck`]: the static type check Rollouts' expr compiler applies;
//! - [`args`]: `{{args.NAME}}` resolution, secret-backed arguments;
//! - [`merge`]: several AnalysisTemplates into one AnalysisRun spec;
//! - [`provider`]: what a provider reports ([`Observation`]) and the
//!   dispatcher ([`Providers`]);
//! - [`web`], [`prometheus`], [`job`]: the providers (a [`JobRunner`] runs
//!   job metrics elsewhere, e.g. a cluster's Jobs); [`jsonpath`]: the
//!   Kubernetes JSONPath subset the web provider uses;
//! - [`phase`]: [`Phase`]; [`error`]: the crate's errors.
//!
//! The caller owns time and persistence: call [`reconcile_async`] (or the
//! synchronous [`reconcile`] with your own measuring closure), persist the
//! returned status, and call again at `next_reconcile`.

pub mod args;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod job;
pub mod jsonpath;
pub mod merge;
pub mod phase;
pub mod prometheus;
pub mod provider;
pub mod status_patch;
pub mod typecheck;
pub mod web;

pub mod http;

pub use crate::args::{NoSecrets, SecretLookup, StaticSecrets};
pub use crate::engine::{
    DEFAULT_CONSECUTIVE_ERROR_LIMIT, DEFAULT_ERROR_RETRY_INTERVAL, DEFAULT_MEASUREMENT_RETENTION,
    Reconciled, assess_metric_limits, assess_metric_status, assess_run_status, dry_run_metrics,
    is_terminating, next_reconcile_time, reconcile, reconcile_async,
};
pub use crate::error::{ArgError, MergeError, SpecError};
pub use crate::merge::merge_templates;
pub use crate::phase::Phase;
pub use crate::provider::{JobRunner, Observation, Observed, Providers, RunRef};
