//! What the pull-request steps (`git-open-pr`, `git-wait-for-pr`,
//! `git-merge-pr`) share: their common schema checks, the forge client
//! for a step (provider named or inferred; the token is the repository
//! credential's password) and `pollInterval`.

use std::time::Duration;

use serde_json::Value;

use super::files::ConfigCheck;
use crate::forge::{self, Forge};
use crate::git::provider;
use crate::step::{StepContext, StepError};

/// Checks `repoURL` (required, non-empty) and `provider` (one of Kargo's).
pub fn check_repo_and_provider(c: &mut ConfigCheck<'_>) {
    c.required_string("repoURL");
    if let Some(p) = c.get("provider").and_then(Value::as_str)
        && !provider::PROVIDERS.contains(&p)
    {
        c.problem(format!(
            "provider: {p:?} must be one of the following: {}",
            provider::PROVIDERS.join(", ")
        ));
    }
}

/// Checks `prNumber` (required, at least 1) and `pollInterval` (a Go
/// duration such as `30s`).
pub fn check_pr_number_and_poll(c: &mut ConfigCheck<'_>) {
    c.required("prNumber");
    if c.get("prNumber")
        .and_then(Value::as_f64)
        .is_some_and(|n| n < 1.0)
    {
        c.problem("prNumber: must be greater than or equal to 1".into());
    }
    if let Some(p) = c.get("pollInterval").and_then(Value::as_str)
        && kargo_api::validate::parse_go_duration(p).is_none()
    {
        c.problem(format!(
            "pollInterval: {p:?} does not match pattern (a duration such as 30s)"
        ));
    }
}

/// `pollInterval` as a duration, `default` when unset.
pub fn poll_interval(
    step: &str,
    configured: Option<&str>,
    default: Duration,
) -> Result<Duration, StepError> {
    match configured.filter(|p| !p.is_empty()) {
        None => Ok(default),
        Some(p) => kargo_api::validate::parse_go_duration(p)
            .filter(|s| *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| StepError::config(step, format!("error parsing pollInterval {p:?}"))),
    }
}

/// The forge client for `repo_url` (which must be a repository URL the
/// server allows) as step `step` reaches it. An unsupported provider
/// fails the step (no retry helps); anything else is retryable (Kargo:
/// Errored).
pub fn forge_for<'a>(
    step: &str,
    ctx: &StepContext<'a>,
    repo_url: &str,
    provider: Option<&str>,
    insecure_skip_tls_verify: bool,
) -> Result<Box<dyn Forge + 'a>, StepError> {
    ctx.check_repo_url(step, "repoURL", repo_url)?;
    let opts = forge::Options {
        provider,
        token: ctx
            .credentials
            .git_credentials(repo_url)
            .map(|c| c.password),
        insecure_skip_tls_verify,
    };
    forge::open(repo_url, &opts, ctx.limits).map_err(|e| {
        let message = format!("error creating git provider service: {e}");
        if e.message.contains("is not supported") {
            StepError::terminal(step, message)
        } else {
            StepError::retryable(step, message)
        }
    })
}

/// `{"pr": {"id": …, "url": …}}` and friends: the `pr` output object.
pub fn pr_output(pr: &forge::PullRequest, with_state: bool) -> Value {
    let mut o = serde_json::json!({"id": pr.number, "url": pr.url});
    if with_state {
        o["open"] = Value::Bool(pr.open);
        o["merged"] = Value::Bool(pr.merged);
    }
    o
}

/// A forge whose answers a test sets (Kargo's `gitprovider.Fake`), and
/// the config rows `git-wait-for-pr` and `git-merge-pr` share.
#[cfg(test)]
pub mod fake {
    use std::sync::Mutex;

    use serde_json::{Value, json};

    /// A config row: name, config, the problems expected (none: valid).
    pub type Row = (&'static str, Value, &'static [&'static str]);

    const GH: &str = "https://github.com/example/repo.git";

    /// The first seven rows of Kargo's `Test_gitPRWaiter_convert` and
    /// `Test_gitPRMerger_convert` (the same in both).
    pub fn pr_number_rows() -> Vec<Row> {
        vec![
            ("repoURL not specified", json!({}), &["repoURL: required"]),
            (
                "repoURL is empty string",
                json!({"repoURL": ""}),
                &["repoURL: must not be empty"],
            ),
            (
                "prNumber not specified",
                json!({"repoURL": GH}),
                &["prNumber: required"],
            ),
            (
                "prNumber is less than 1",
                json!({"prNumber": 0}),
                &["prNumber: must be greater than or equal to 1"],
            ),
            (
                "provider is an invalid value",
                json!({"provider": "bogus"}),
                &["provider: \"bogus\" must be one of the following:"],
            ),
            (
                "valid without explicit provider",
                json!({"prNumber": 42, "repoURL": GH}),
                &[],
            ),
            (
                "valid with explicit provider",
                json!({"provider": "github", "prNumber": 42, "repoURL": GH}),
                &[],
            ),
        ]
    }

    /// Their two `pollInterval` rows; `valid` is the valid config.
    pub fn poll_rows(valid: Value) -> Vec<Row> {
        vec![
            (
                "pollInterval is not a valid duration",
                json!({"prNumber": 42, "repoURL": GH, "pollInterval": "soon"}),
                &["pollInterval: \"soon\" does not match pattern"],
            ),
            ("valid with pollInterval", valid, &[]),
        ]
    }

    use crate::forge::{Forge, ForgeError, NewPullRequest, PullRequest};

    type Answer<T> = Box<dyn Fn() -> Result<T, ForgeError> + Send + Sync>;

    /// Each call answers with its closure; unset ones panic.
    #[derive(Default)]
    pub struct FakeForge {
        pub get: Option<Answer<PullRequest>>,
        pub list: Option<Answer<Vec<PullRequest>>>,
        pub create: Option<Answer<PullRequest>>,
        pub merge: Option<Answer<Option<PullRequest>>>,
        /// What was asked: `create <head>-><base> <title>|<body>|<labels>`,
        /// `merge <n> <method>`, `get <n>`, `list <head> <base> <sha>`.
        pub calls: Mutex<Vec<String>>,
    }

    impl FakeForge {
        fn note(&self, s: String) {
            self.calls.lock().unwrap().push(s);
        }
    }

    impl Forge for FakeForge {
        fn create_pull_request(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, ForgeError> {
            self.note(format!(
                "create {}->{} {}|{}|{}",
                pr.head,
                pr.base,
                pr.title,
                pr.description,
                pr.labels.join(",")
            ));
            (self.create.as_ref().expect("create"))()
        }
        fn get_pull_request(&self, number: i64) -> Result<PullRequest, ForgeError> {
            self.note(format!("get {number}"));
            (self.get.as_ref().expect("get"))()
        }
        fn list_open_pull_requests(
            &self,
            head: &str,
            base: &str,
            head_sha: &str,
        ) -> Result<Vec<PullRequest>, ForgeError> {
            self.note(format!("list {head} {base} {head_sha}"));
            (self.list.as_ref().expect("list"))()
        }
        fn merge_pull_request(
            &self,
            number: i64,
            method: &str,
        ) -> Result<Option<PullRequest>, ForgeError> {
            self.note(format!("merge {number} {method}"));
            (self.merge.as_ref().expect("merge"))()
        }
    }
}
