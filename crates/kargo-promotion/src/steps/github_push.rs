//! `github-push` (beta in Kargo): here an alias of `git-push` with
//! `provider: github`.
//!
//! Kargo's `github-push` replays the local commits through GitHub's REST
//! API so that GitHub signs them ("Verified"), then moves the branch. This
//! implementation pushes over git, as `git-push` does: the branch, commit
//! and outputs are the same, but the commits are not re-created or signed
//! by GitHub. Config (Kargo's `GitHubPushConfig`): `path`, `targetBranch`,
//! `generateTargetBranch`, `force`, `maxAttempts`, `insecureSkipTLSVerify`
//! (TLS verification of the git remote). Outputs: `commit`, `branch`,
//! `commitURL`.

use serde::Deserialize;
use serde_json::Value;

use super::files::ConfigCheck;
use super::git_push::{GitPushConfig, check_common, push};
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "github-push";

/// Config of `github-push`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitHubPushConfig {
    /// Working tree, relative to the work directory.
    pub path: String,
    /// Branch to push to.
    #[serde(default)]
    pub target_branch: Option<String>,
    /// Push to `kargo/promotion/<promotion name>`.
    #[serde(default)]
    pub generate_target_branch: Option<bool>,
    /// Overwrite the remote branch.
    #[serde(default)]
    pub force: Option<bool>,
    /// Push attempts.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Skip TLS verification of the remote.
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
}

/// Checks and decodes a `github-push` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<GitHubPushConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    check_common(&mut c);
    c.parse(NAME, config)
}

/// The `github-push` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitHubPush;

impl Step for GitHubPush {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let c = parse(config)?;
        let cfg = GitPushConfig {
            path: c.path,
            target_branch: c.target_branch,
            generate_target_branch: c.generate_target_branch,
            force: c.force,
            max_attempts: c.max_attempts,
            provider: Some("github".into()),
            tag: None,
        };
        push(NAME, ctx, &cfg, c.insecure_skip_tls_verify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, bare_repo, cloned, git, with_ctx};
    use crate::steps::files::fixture::check_configs;
    use serde_json::json;

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_githubPusher_convert.
        let ok = &[][..];
        let rows: &[(&str, Value, &[&str])] = &[
            ("path not specified", json!({}), &["path: required"]),
            (
                "path is empty string",
                json!({"path": ""}),
                &["path: must not be empty"],
            ),
            (
                "maxAttempts < 1",
                json!({"maxAttempts": 0}),
                &["maxAttempts: must be greater than or equal to 1"],
            ),
            (
                "maxAttempts > 2147483647",
                json!({"maxAttempts": 2_147_483_648_u64}),
                &["maxAttempts: must be less than or equal to 2147483647"],
            ),
            (
                "generateTargetBranch is true",
                json!({"path": "/fake/path", "generateTargetBranch": true}),
                ok,
            ),
            (
                "generateTargetBranch is true and targetBranch is specified",
                json!({"path": "/fake/path", "generateTargetBranch": true, "targetBranch": "fake-branch"}),
                &["mutually exclusive"],
            ),
            ("only path specified", json!({"path": "/fake/path"}), ok),
            (
                "targetBranch specified",
                json!({"path": "/fake/path", "targetBranch": "fake-branch"}),
                ok,
            ),
            (
                "force is true",
                json!({"path": "/fake/path", "force": true}),
                ok,
            ),
            (
                "insecureSkipTLSVerify is true",
                json!({"path": "/fake/path", "insecureSkipTLSVerify": true}),
                ok,
            ),
        ];
        assert_eq!(rows.len(), 10); // Kargo's Test_githubPusher_convert: 10 rows
        check_configs(parse, rows);
        // git-push's tag and provider are not github-push fields.
        check_configs(
            parse,
            &[(
                "tag",
                json!({"path": "p", "tag": "v1"}),
                &["unknown field `tag`"],
            )],
        );
    }

    #[test]
    fn pushes_like_git_push() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (bare, url) = bare_repo(tmp.path())?;
        let (work, shared) = cloned(
            tmp.path(),
            &url,
            "w",
            json!({"branch": "main", "path": "src"}),
        )?;
        let head = git(&work.join("src"), &["rev-parse", "HEAD"])?;
        let cfg = json!({"path": "src", "targetBranch": "env/prod"});
        let res = with_ctx(&work, &shared, |ctx| GitHubPush.run(ctx, &cfg))?;
        assert_eq!(res.outputs["branch"], json!("env/prod"));
        assert_eq!(res.outputs["commit"], json!(head));
        assert_eq!(git(&bare, &["rev-parse", "env/prod"])?, head);
        Ok(())
    }
}
