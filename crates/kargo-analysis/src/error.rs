//! The crate's errors: argument resolution, spec validation and template
//! merging. Measurement failures are not errors here: they are recorded in
//! the run's status.

use thiserror::Error;

/// `{{args.NAME}}` could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArgError {
    /// Declared without `value` or `valueFrom`.
    #[error("argument \"{0}\" has no value")]
    NoValue(String),
    /// Referenced by a metric but not declared.
    #[error("argument \"{0}\" is referenced by metric \"{1}\" but not declared")]
    Undeclared(String, String),
    /// Both `value` and `valueFrom`.
    #[error("argument \"{0}\" has both value and valueFrom")]
    Both(String),
    /// `valueFrom` other than `secretKeyRef`.
    #[error("argument \"{0}\": only valueFrom.secretKeyRef is supported")]
    UnsupportedValueFrom(String),
    /// The Secret or key is missing.
    #[error("argument \"{arg}\": key \"{key}\" of secret \"{secret}\" not found")]
    SecretNotFound {
        /// Argument name.
        arg: String,
        /// Secret name.
        secret: String,
        /// Key.
        key: String,
    },
    /// The resolved metric is not a valid metric any more.
    #[error("metric \"{0}\": resolved arguments make it invalid: {1}")]
    Invalid(String, String),
}

/// The run's spec is invalid (Rollouts: "Analysis spec invalid").
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// Templates cannot be merged into one run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MergeError {
    /// Two templates define the same metric.
    #[error(
        "metric \"{metric}\" is defined by both template \"{first}\" and template \"{second}\""
    )]
    DuplicateMetric {
        /// Metric name.
        metric: String,
        /// Template defining it first.
        first: String,
        /// Template defining it again.
        second: String,
    },
    /// Same argument, different values.
    #[error("argument \"{name}\" is given different values: \"{first}\" and \"{second}\"")]
    ConflictingArg {
        /// Argument name.
        name: String,
        /// First value.
        first: String,
        /// Second value.
        second: String,
    },
}
