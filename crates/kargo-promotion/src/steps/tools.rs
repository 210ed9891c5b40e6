//! External programs the steps run in place of a library Kargo embeds
//! (`kustomize` or `kubectl kustomize` for `kustomize-build`, `helm` for
//! `helm-template`): finding them on `PATH` and running them under the
//! Promotion's [`crate::limits::Limits`] (the per-process timeout and the
//! abort flag), with their stderr in the error.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::limits::ChildError;
use crate::step::{StepContext, StepError};

/// The executable `name` on `PATH` (a name with a `/` is taken as given
/// when it exists).
pub fn find(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `cmd` (shown as `shown` in errors) under the step's limits and
/// returns its stdout; a non-zero exit is a retryable error of `step`
/// carrying the program's stderr.
pub fn run(
    step: &str,
    ctx: &StepContext<'_>,
    mut cmd: Command,
    shown: &str,
) -> Result<Vec<u8>, StepError> {
    cmd.env("LC_ALL", "C");
    let out = ctx
        .limits
        .output(&mut cmd, None, ctx.limits.git_timeout)
        .map_err(|e| match e {
            ChildError::Interrupted(why) => StepError::retryable(step, format!("`{shown}` {why}")),
            ChildError::Io(e) => StepError::retryable(step, format!("cannot run `{shown}`: {e}")),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(StepError::retryable(
            step,
            format!("`{shown}` failed: {}", stderr.trim()),
        ));
    }
    Ok(out.stdout)
}
