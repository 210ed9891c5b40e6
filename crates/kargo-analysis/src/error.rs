//! The crate's errors: argument resolution, spec validation and template
//! merging. Measurement failures are not errors here: they are recorded in
//! the run's status.

use thiserror::Error;

/// `{{args.NAME}}` could not be resolved (Rollouts' wording).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArgError {
    /// Declared with neither `value` nor a Secret.
    #[error("argument \"{0}\" was not supplied")]
    NotSupplied(String),
    /// A `{{...}}` tag that names no argument with a value.
    #[error("failed to resolve {{{{{0}}}}}")]
    Unresolved(String),
    /// The Secret or key is missing.
    #[error("key '{key}' does not exist in secret '{secret}'")]
    SecretNotFound {
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
