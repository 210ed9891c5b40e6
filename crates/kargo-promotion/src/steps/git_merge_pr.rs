//! `git-merge-pr`: merges a pull request.
//!
//! One attempt per run. Merged (now or before) → `Succeeded` with output
//! `commit` (the merge commit). Not ready yet (checks pending, draft,
//! mergeability unknown) → `Running`, called again after `pollInterval`
//! (default 10s), when `wait` is set, else `Failed`. A forge error
//! (closed unmerged, conflicts, refused, unreachable) fails the step, as
//! Kargo's terminal error does. Config (Kargo's `GitMergePRConfig`):
//! `repoURL`, `prNumber` (≥ 1), `provider`, `insecureSkipTLSVerify`,
//! `wait`, `pollInterval`, `mergeMethod` (provider-specific: GitHub
//! `merge`/`squash`/`rebase`; GitLab `merge`/`squash`; Gitea `merge`,
//! `rebase`, `rebase-merge`, `squash`, `fast-forward-only`,
//! `manually-merged`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::files::ConfigCheck;
use super::pr;
use crate::forge::Forge;
use crate::step::{Step, StepContext, StepError, StepResult, StepStatus};

const NAME: &str = "git-merge-pr";

/// Kargo's default `pollInterval` while the pull request is not ready.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Config of `git-merge-pr`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitMergePrConfig {
    /// The repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The pull request.
    pub pr_number: i64,
    /// Git provider (inferred from the URL when absent).
    #[serde(default)]
    pub provider: Option<String>,
    /// Skip TLS verification of the forge.
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
    /// Keep trying while the pull request is not ready.
    #[serde(default)]
    pub wait: bool,
    /// How long to wait before trying again.
    #[serde(default)]
    pub poll_interval: Option<String>,
    /// How to merge.
    #[serde(default)]
    pub merge_method: Option<String>,
}

/// Checks and decodes a `git-merge-pr` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<GitMergePrConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    pr::check_repo_and_provider(&mut c);
    pr::check_pr_number_and_poll(&mut c);
    c.non_empty("mergeMethod");
    c.parse(NAME, config)
}

/// The `git-merge-pr` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitMergePr;

impl Step for GitMergePr {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let c = parse(config)?;
        let forge = pr::forge_for(
            NAME,
            ctx,
            &c.repo_url,
            c.provider.as_deref(),
            c.insecure_skip_tls_verify,
        )?;
        merge(&c, forge.as_ref())
    }
}

/// One merge attempt.
pub fn merge(c: &GitMergePrConfig, forge: &dyn Forge) -> Result<StepResult, StepError> {
    let n = c.pr_number;
    let merged = forge
        .merge_pull_request(n, c.merge_method.as_deref().unwrap_or(""))
        .map_err(|e| StepError::terminal(NAME, format!("error merging pull request {n}: {e}")))?;
    match merged {
        Some(pr) => {
            let mut outputs = Map::new();
            outputs.insert("commit".into(), json!(pr.merge_commit_sha));
            Ok(StepResult::succeeded(outputs))
        }
        None if c.wait => Ok(StepResult {
            status: Some(StepStatus::Running),
            message: format!("pull request {n} is not ready to merge; trying again"),
            retry_after: Some(pr::poll_interval(
                NAME,
                c.poll_interval.as_deref(),
                DEFAULT_POLL_INTERVAL,
            )?),
            ..Default::default()
        }),
        None => Err(StepError::terminal(
            NAME,
            format!("pull request {n} is not ready to merge and wait is disabled"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::{ForgeError, PullRequest};
    use crate::steps::files::fixture::check_configs;
    use crate::steps::pr::fake::{self, FakeForge};

    #[test]
    fn upstream_config_rows() {
        let gh = "https://github.com/example/repo.git";
        let mut rows = fake::pr_number_rows();
        rows.push((
            "valid with wait enabled",
            json!({"provider": "github", "prNumber": 42, "repoURL": gh, "wait": true}),
            &[],
        ));
        rows.push((
            "valid with merge method",
            json!({"provider": "github", "prNumber": 42, "repoURL": gh, "mergeMethod": "squash"}),
            &[],
        ));
        rows.extend(fake::poll_rows(
            json!({"prNumber": 42, "repoURL": gh, "wait": true, "pollInterval": "30s"}),
        ));
        assert_eq!(rows.len(), 11); // Kargo's Test_gitPRMerger_convert: 11 rows
        check_configs(parse, &rows);
    }

    #[test]
    fn upstream_run_rows() {
        type Check = fn(Result<StepResult, StepError>);
        let answer = |r: Result<Option<PullRequest>, ForgeError>| FakeForge {
            merge: Some(Box::new(move || r.clone())),
            ..Default::default()
        };
        let merged = |sha: &str| {
            Ok(Some(PullRequest {
                merge_commit_sha: sha.into(),
                ..Default::default()
            }))
        };
        let cfg = |n: i64, wait: bool, poll: Option<&str>, method: Option<&str>| GitMergePrConfig {
            repo_url: "https://github.com/example/repo".into(),
            pr_number: n,
            wait,
            poll_interval: poll.map(String::from),
            merge_method: method.map(String::from),
            ..Default::default()
        };
        let rows: Vec<(&str, FakeForge, GitMergePrConfig, &str, Check)> = vec![
            (
                "error during merge attempt",
                answer(Err(ForgeError::other("authentication failed"))),
                cfg(42, false, None, None),
                "merge 42 ",
                |r| {
                    let e = r.unwrap_err();
                    assert!(e.terminal);
                    assert!(e.message.contains("error merging pull request"), "{e}");
                    assert!(e.message.contains("authentication failed"), "{e}");
                },
            ),
            (
                "PR not ready to merge with wait enabled",
                answer(Ok(None)),
                cfg(42, true, None, None),
                "merge 42 ",
                |r| {
                    let r = r.unwrap();
                    assert_eq!(r.status(), StepStatus::Running);
                    assert!(r.outputs.is_empty());
                    assert_eq!(r.retry_after, Some(DEFAULT_POLL_INTERVAL));
                },
            ),
            (
                "PR not ready to merge with wait and explicit pollInterval",
                answer(Ok(None)),
                cfg(42, true, Some("45s"), None),
                "merge 42 ",
                |r| {
                    let r = r.unwrap();
                    assert_eq!(r.status(), StepStatus::Running);
                    assert_eq!(r.retry_after, Some(Duration::from_secs(45)));
                },
            ),
            (
                "PR not ready to merge with wait disabled",
                answer(Ok(None)),
                cfg(42, false, None, None),
                "merge 42 ",
                |r| {
                    let e = r.unwrap_err();
                    assert!(e.terminal);
                    assert!(
                        e.message
                            .contains("not ready to merge and wait is disabled"),
                        "{e}"
                    );
                },
            ),
            (
                "PR number validation",
                answer(merged("commit456")),
                cfg(123, false, None, None),
                "merge 123 ",
                |r| assert_eq!(r.unwrap().outputs["commit"], json!("commit456")),
            ),
            (
                "successful merge with empty merge commit SHA",
                answer(merged("")),
                cfg(42, false, None, None),
                "merge 42 ",
                |r| {
                    let r = r.unwrap();
                    assert_eq!(r.status(), StepStatus::Succeeded);
                    assert_eq!(r.outputs["commit"], json!(""));
                },
            ),
            (
                "successful PR merge",
                answer(merged("abc123")),
                cfg(42, false, None, None),
                "merge 42 ",
                |r| assert_eq!(r.unwrap().outputs["commit"], json!("abc123")),
            ),
            (
                "successful merge with explicit method",
                answer(merged("squash123")),
                cfg(42, false, None, Some("squash")),
                "merge 42 squash",
                |r| assert_eq!(r.unwrap().outputs["commit"], json!("squash123")),
            ),
        ];
        assert_eq!(rows.len(), 8); // Kargo's Test_gitPRMerger_run: 8 rows
        for (name, forge, c, call, check) in rows {
            eprintln!("row: {name}");
            check(merge(&c, &forge));
            assert_eq!(*forge.calls.lock().unwrap(), vec![call.to_string()]);
        }
    }

    #[test]
    fn upstream_poll_interval_rows() {
        // Kargo's Test_resolvePollInterval.
        let rows: &[(&str, Option<&str>, Option<Duration>)] = &[
            (
                "empty falls back to default",
                None,
                Some(DEFAULT_POLL_INTERVAL),
            ),
            (
                "explicit value takes precedence",
                Some("2m"),
                Some(Duration::from_secs(120)),
            ),
            ("invalid value returns an error", Some("soon"), None),
        ];
        assert_eq!(rows.len(), 3); // Kargo's Test_resolvePollInterval: 3 rows
        for (name, configured, want) in rows {
            let got = pr::poll_interval(NAME, *configured, DEFAULT_POLL_INTERVAL).ok();
            assert_eq!(got, *want, "{name}");
        }
    }
}
