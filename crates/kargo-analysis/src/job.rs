//! The `job` provider in standalone mode: the first container's `command`
//! and `args` run as a local process (no image: the command must exist on
//! this host) with a clean environment holding only `PATH` and the
//! container's `env` values; `activeDeadlineSeconds` bounds all attempts
//! together and `backoffLimit` (default 6, as Kubernetes) is the number of
//! retries. Exit 0 is Successful, anything else (or the deadline) Failed;
//! a command that cannot be started is an Error. The last 64 KiB of the
//! last attempt's output (stdout, then stderr) are kept in the
//! measurement's metadata (`output`).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use kargo_api::analysis::JobMetric;
use tokio::process::Command;
use tokio::time::Instant;

use crate::phase::Phase;
use crate::provider::Observation;

/// Output kept per measurement.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// Kubernetes' default `backoffLimit`.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;

/// Runs the job to completion.
pub async fn measure(job: &JobMetric) -> Observation {
    let spec = &job.spec;
    let Some(container) = spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.first())
    else {
        return Observation::Error("job has no container".into());
    };
    let mut argv: Vec<String> = container.command.clone().unwrap_or_default();
    argv.extend(container.args.clone().unwrap_or_default());
    let Some((program, rest)) = argv.split_first() else {
        return Observation::Error(format!(
            "container {:?} has no command: standalone mode runs commands, not images",
            container.name
        ));
    };
    let mut env = Vec::new();
    for e in container.env.iter().flatten() {
        if e.value_from.is_some() {
            return Observation::Error(format!(
                "env {:?}: valueFrom is not supported in standalone mode",
                e.name
            ));
        }
        env.push((e.name.clone(), e.value.clone().unwrap_or_default()));
    }
    let deadline = spec
        .active_deadline_seconds
        .filter(|s| *s > 0)
        .map(|s| Instant::now() + Duration::from_secs(s as u64));
    let retries = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT).max(0);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut cmd = Command::new(program);
        cmd.args(rest)
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = container.working_dir.as_deref().filter(|d| !d.is_empty()) {
            cmd.current_dir(dir);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Observation::Error(format!("cannot start {program:?}: {e}")),
        };
        let waited = match deadline {
            Some(d) => match tokio::time::timeout_at(d, child.wait_with_output()).await {
                Ok(r) => r,
                Err(_) => {
                    return decided(
                        Phase::Failed,
                        format!(
                            "job exceeded activeDeadlineSeconds ({}s) in attempt {attempts}",
                            spec.active_deadline_seconds.unwrap_or_default()
                        ),
                        "",
                        attempts,
                        None,
                    );
                }
            },
            None => child.wait_with_output().await,
        };
        let out = match waited {
            Ok(o) => o,
            Err(e) => return Observation::Error(format!("waiting for {program:?}: {e}")),
        };
        let mut text = out.stdout;
        text.extend_from_slice(&out.stderr);
        let output = tail(&text);
        let code = out.status.code();
        if out.status.success() {
            return decided(Phase::Successful, String::new(), &output, attempts, code);
        }
        if attempts > retries {
            let how = match code {
                Some(c) => format!("exit code {c}"),
                None => "killed by a signal".to_string(),
            };
            return decided(
                Phase::Failed,
                format!("job failed with {how} after {attempts} attempt(s)"),
                &output,
                attempts,
                code,
            );
        }
    }
}

fn decided(
    phase: Phase,
    message: String,
    output: &str,
    attempts: i32,
    code: Option<i32>,
) -> Observation {
    let mut metadata = BTreeMap::new();
    metadata.insert("output".to_string(), output.to_string());
    metadata.insert("attempts".to_string(), attempts.to_string());
    if let Some(c) = code {
        metadata.insert("exitCode".to_string(), c.to_string());
    }
    Observation::Decided {
        phase,
        value: code.map(|c| c.to_string()).unwrap_or_default(),
        message,
        metadata,
    }
}

/// The last [`MAX_OUTPUT`] bytes, cut at a character boundary.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(MAX_OUTPUT);
    let s = String::from_utf8_lossy(&bytes[start..]).into_owned();
    s.trim_start_matches('\u{FFFD}').to_string()
}
