//! `git-wait-for-pr`: waits until a pull request is merged or closed.
//!
//! Open → `Running`, to be called again after `pollInterval` (default
//! 30s); closed without being merged → `Failed` (terminal); merged →
//! `Succeeded`. Every outcome outputs `pr` {`id`, `url`, `open`,
//! `merged`}; a merged one also `commit` (the merge commit, when the
//! forge reports one). Config (Kargo's `GitWaitForPRConfig`): `repoURL`,
//! `prNumber` (≥ 1), `provider`, `insecureSkipTLSVerify`, `pollInterval`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::files::ConfigCheck;
use super::pr;
use crate::forge::Forge;
use crate::step::{Step, StepContext, StepError, StepResult, StepStatus};

const NAME: &str = "git-wait-for-pr";

/// Kargo's default `pollInterval` while the pull request is open.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Config of `git-wait-for-pr`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitWaitForPrConfig {
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
    /// How long to wait before looking again.
    #[serde(default)]
    pub poll_interval: Option<String>,
}

/// Checks and decodes a `git-wait-for-pr` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<GitWaitForPrConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    pr::check_repo_and_provider(&mut c);
    pr::check_pr_number_and_poll(&mut c);
    c.parse(NAME, config)
}

/// The `git-wait-for-pr` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitWaitForPr;

impl Step for GitWaitForPr {
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
        wait(&c, forge.as_ref())
    }
}

/// One look at the pull request.
pub fn wait(c: &GitWaitForPrConfig, forge: &dyn Forge) -> Result<StepResult, StepError> {
    let n = c.pr_number;
    let pr = forge
        .get_pull_request(n)
        .map_err(|e| StepError::retryable(NAME, format!("error getting pull request {n}: {e}")))?;
    let mut outputs = Map::new();
    outputs.insert("pr".into(), pr::pr_output(&pr, true));
    if !pr.merge_commit_sha.is_empty() {
        outputs.insert("commit".into(), json!(pr.merge_commit_sha));
    }
    if pr.open {
        let after = pr::poll_interval(NAME, c.poll_interval.as_deref(), DEFAULT_POLL_INTERVAL)?;
        return Ok(StepResult {
            status: Some(StepStatus::Running),
            outputs,
            message: format!("pull request {n} is open; waiting for it to be merged or closed"),
            retry_after: Some(after),
            ..Default::default()
        });
    }
    if !pr.merged {
        return Ok(StepResult {
            status: Some(StepStatus::Failed),
            outputs,
            message: format!("{NAME}: pull request {n} was closed without being merged"),
            ..Default::default()
        });
    }
    Ok(StepResult::succeeded(outputs))
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
        rows.extend(fake::poll_rows(
            json!({"prNumber": 42, "repoURL": gh, "pollInterval": "1m"}),
        ));
        assert_eq!(rows.len(), 9); // Kargo's Test_gitPRWaiter_convert: 9 rows
        check_configs(parse, &rows);
    }

    fn pr42(open: bool, merged: bool, sha: &str) -> PullRequest {
        PullRequest {
            number: 42,
            url: "https://github.com/example/repo/pull/42".into(),
            open,
            merged,
            merge_commit_sha: sha.into(),
            ..Default::default()
        }
    }

    #[test]
    fn upstream_run_rows() {
        type Check = fn(Result<StepResult, StepError>);
        let answer = |r: Result<PullRequest, ForgeError>| FakeForge {
            get: Some(Box::new(move || r.clone())),
            ..Default::default()
        };
        let base = GitWaitForPrConfig {
            repo_url: "https://github.com/example/repo".into(),
            pr_number: 42,
            ..Default::default()
        };
        let rows: Vec<(&str, FakeForge, Option<&str>, Check)> = vec![
            (
                "error finding PR",
                answer(Err(ForgeError::other("something went wrong"))),
                None,
                |r| {
                    let e = r.unwrap_err();
                    assert!(!e.terminal);
                    assert!(e.message.contains("error getting pull request"), "{e}");
                    assert!(e.message.contains("something went wrong"), "{e}");
                },
            ),
            ("PR is open", answer(Ok(pr42(true, false, ""))), None, |r| {
                let r = r.unwrap();
                assert_eq!(r.status(), StepStatus::Running);
                assert_eq!(
                    r.outputs["pr"],
                    json!({"id": 42, "url": "https://github.com/example/repo/pull/42", "open": true, "merged": false})
                );
                assert!(!r.outputs.contains_key("commit"));
                assert_eq!(r.retry_after, Some(DEFAULT_POLL_INTERVAL));
            }),
            (
                "PR is open with explicit pollInterval",
                answer(Ok(pr42(true, false, ""))),
                Some("90s"),
                |r| {
                    let r = r.unwrap();
                    assert_eq!(r.status(), StepStatus::Running);
                    assert_eq!(r.retry_after, Some(Duration::from_secs(90)));
                },
            ),
            (
                "PR is closed and not merged",
                answer(Ok(pr42(false, false, ""))),
                None,
                |r| {
                    let r = r.unwrap();
                    assert_eq!(r.status(), StepStatus::Failed);
                    assert!(
                        r.message.contains("closed without being merged"),
                        "{}",
                        r.message
                    );
                    assert_eq!(r.outputs["pr"]["open"], json!(false));
                    assert_eq!(r.outputs["pr"]["merged"], json!(false));
                    assert_eq!(r.outputs["pr"]["id"], json!(42));
                },
            ),
            (
                "PR is closed and merged",
                answer(Ok(pr42(false, true, "abc123def456"))),
                None,
                |r| {
                    let r = r.unwrap();
                    assert_eq!(r.status(), StepStatus::Succeeded);
                    assert_eq!(r.outputs["pr"]["merged"], json!(true));
                    assert_eq!(r.outputs["commit"], json!("abc123def456"));
                },
            ),
        ];
        assert_eq!(rows.len(), 5); // Kargo's Test_gitPRWaiter_run: 5 rows
        for (name, forge, poll, check) in rows {
            let cfg = GitWaitForPrConfig {
                poll_interval: poll.map(String::from),
                ..base.clone()
            };
            eprintln!("row: {name}");
            check(wait(&cfg, &forge));
            assert_eq!(*forge.calls.lock().unwrap(), vec!["get 42".to_string()]);
        }
    }
}
