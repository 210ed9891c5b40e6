//! What the OCI steps (`oci-push`, `oci-download`) share: Kargo's
//! reference patterns from their schemas, parsing a reference, the
//! registry credentials for it (as the caller's [`CredentialLookup`]
//! resolves them) and running a transfer under the Promotion's limits.
//!
//! [`CredentialLookup`]: crate::CredentialLookup

use std::future::Future;
use std::sync::LazyLock;

use kargo_sources::RegistryError;
use kargo_sources::oci_artifact::{ArtifactRef, Login};
use regex::Regex;
use serde_json::Value;

use super::files::ConfigCheck;
use crate::step::{StepContext, StepError};

/// A reference with a tag or a digest (`srcRef`, `imageRef`).
pub static TAG_OR_DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(oci://)?[a-zA-Z0-9._-]+(:\d+)?(/[a-zA-Z0-9._-]+)*[@:][a-zA-Z0-9._:-]+$")
        .unwrap_or_else(|e| panic!("built-in regex: {e}"))
});

/// A reference with a tag (`destRef`).
pub static WITH_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(oci://)?[a-zA-Z0-9._-]+(:\d+)?(/[a-zA-Z0-9._-]+)*[:][a-zA-Z0-9._-]+$")
        .unwrap_or_else(|e| panic!("built-in regex: {e}"))
});

/// A problem for `field` when it is set and does not match `re` (the
/// schema's pattern of a reference with `what`).
pub fn check_ref(c: &mut ConfigCheck<'_>, field: &str, re: &Regex, what: &str) {
    if let Some(v) = c.get(field).and_then(Value::as_str)
        && !v.is_empty()
        && !re.is_match(v)
    {
        c.problem(format!(
            "{field}: {v:?} is not a reference with {what} (registry/repository:tag)"
        ));
    }
}

/// Parses the reference in config field `field`; a bad one is terminal.
pub fn parse_ref(step: &str, field: &str, value: &str) -> Result<ArtifactRef, StepError> {
    ArtifactRef::parse(value)
        .map_err(|e| StepError::terminal(step, format!("failed to parse {field} {value:?}: {e}")))
}

/// The registry credentials the caller has for `r`.
pub fn login(ctx: &StepContext<'_>, r: &ArtifactRef) -> Login {
    ctx.credentials
        .registry_credentials(&r.name())
        .map(|c| (c.username, c.password))
}

/// Runs a registry transfer under the Promotion's limits (the server's
/// `--http-timeout` for the whole transfer, and the abort flag); a
/// registry failure may pass, so it is retryable.
pub fn transfer<T>(
    step: &str,
    ctx: &StepContext<'_>,
    fut: impl Future<Output = Result<T, RegistryError>>,
) -> Result<T, StepError> {
    ctx.limits
        .block_on(fut, ctx.limits.http_timeout)
        .map_err(|why| StepError::retryable(step, format!("registry transfer {why}")))?
        .map_err(|e| StepError::retryable(step, e.to_string()))
}
