//! `git-commit`: stages every change in a working tree and commits it.
//! Nothing to commit is not an error: the step is `Skipped` and outputs
//! the existing HEAD, which also makes it safe to run again after a crash.
//!
//! Config (Kargo's names): `path`, `message` or `messageFromSteps` (aliases
//! of earlier steps whose `commitMessage` outputs are joined), `author:
//! {name, email}`. Author precedence: config, then `git-clone`'s `author`,
//! then `Kargo <no-reply@kargo.local>`. Output: `commit` (the SHA).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::git;
use crate::step::{
    Step, StepContext, StepError, StepResult, StepStatus, checkout_info, parse_config,
};
use crate::steps::git_clone::Author;

const NAME: &str = "git-commit";

/// Default author name.
pub const DEFAULT_AUTHOR_NAME: &str = "Kargo";
/// Default author email.
pub const DEFAULT_AUTHOR_EMAIL: &str = "no-reply@kargo.local";

/// Config of `git-commit`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitCommitConfig {
    /// Working tree, relative to the work directory.
    pub path: String,
    /// Commit message.
    #[serde(default)]
    pub message: Option<String>,
    /// Aliases of steps whose `commitMessage` outputs make the message.
    #[serde(default)]
    pub message_from_steps: Vec<String>,
    /// Author.
    #[serde(default)]
    pub author: Option<Author>,
}

/// The `git-commit` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitCommit;

fn git_err(e: git::GitFailure) -> StepError {
    StepError::retryable(NAME, e.to_string())
}

impl Step for GitCommit {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg: GitCommitConfig = parse_config(NAME, config)?;
        let message = commit_message(ctx, &cfg)?;
        let dir = ctx.working_tree(NAME, &cfg.path)?;
        let (name, email) = identity(ctx, &cfg.path, cfg.author.as_ref());
        let git = ctx.git();
        git.run(Some(&dir), None, &["add", "--all", "--", "."])
            .map_err(git_err)?;
        let commit = |allow_empty: bool| {
            let mut args = vec!["commit", "--no-verify", "--file", "-"];
            if allow_empty {
                args.push("--allow-empty");
            }
            let mut cmd = git::command(Some(&dir), None, &args);
            cmd.env("GIT_AUTHOR_NAME", &name)
                .env("GIT_AUTHOR_EMAIL", &email)
                .env("GIT_COMMITTER_NAME", &name)
                .env("GIT_COMMITTER_EMAIL", &email);
            git.finish(cmd, &args, None, Some(message.as_bytes()))
        };
        // Commit first; only a refusal asks why. Nothing staged on an
        // existing HEAD is nothing to commit; a new, empty branch still
        // gets its first commit.
        let status = match commit(false) {
            Ok(_) => StepStatus::Succeeded,
            Err(e) => {
                if !git.succeeds(Some(&dir), &["diff", "--cached", "--quiet"]) {
                    return Err(git_err(e));
                }
                if git.head(&dir).map_err(git_err)?.commit.is_some() {
                    StepStatus::Skipped
                } else {
                    commit(true).map_err(git_err)?;
                    StepStatus::Succeeded
                }
            }
        };
        let sha = git.head_commit(&dir).map_err(git_err)?;
        let mut result =
            StepResult::succeeded(Map::from_iter([("commit".to_string(), json!(sha))]));
        result.status = Some(status);
        if status == StepStatus::Skipped {
            result.message = "nothing to commit; HEAD is unchanged".into();
        }
        Ok(result)
    }
}

fn commit_message(ctx: &StepContext<'_>, cfg: &GitCommitConfig) -> Result<String, StepError> {
    if let Some(m) = cfg.message.as_ref().filter(|m| !m.trim().is_empty()) {
        return Ok(m.clone());
    }
    let mut parts = Vec::new();
    for (i, alias) in cfg.message_from_steps.iter().enumerate() {
        match ctx
            .outputs
            .get(alias)
            .and_then(|o| o.get("commitMessage"))
            .and_then(Value::as_str)
        {
            Some(m) => parts.push(m.to_string()),
            None => {
                return Err(StepError::config(
                    NAME,
                    format!("messageFromSteps[{i}]: step {alias:?} has no commitMessage output"),
                ));
            }
        }
    }
    if parts.is_empty() {
        return Err(StepError::config(
            NAME,
            "message: a message (or messageFromSteps) is required",
        ));
    }
    Ok(parts.join("\n\n"))
}

/// Who commits (or tags) in the working tree at `path`: `explicit`, else
/// `git-clone`'s `author`, else `Kargo <no-reply@kargo.local>`.
pub fn identity(ctx: &StepContext<'_>, path: &str, explicit: Option<&Author>) -> (String, String) {
    if let Some(a) = explicit {
        return (a.name.clone(), a.email.clone());
    }
    if let Some(a) = checkout_info(ctx.shared, path).and_then(|c| c.get("author"))
        && let (Some(n), Some(e)) = (
            a.get("name").and_then(Value::as_str),
            a.get("email").and_then(Value::as_str),
        )
    {
        return (n.to_string(), e.to_string());
    }
    (
        DEFAULT_AUTHOR_NAME.to_string(),
        DEFAULT_AUTHOR_EMAIL.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, bare_repo, cloned, git, with_ctx};

    #[test]
    fn commits_then_skips_when_clean() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (_bare, url) = bare_repo(tmp.path())?;
        let (work, shared) = cloned(
            tmp.path(),
            &url,
            "work",
            json!({"branch": "main", "path": "src"}),
        )?;
        std::fs::write(work.join("src/a.yaml"), "a: 2\n")?;
        let cfg = json!({"path": "./src", "message": "bump a"});
        let first = with_ctx(&work, &shared, |ctx| GitCommit.run(ctx, &cfg))?;
        assert_eq!(first.status(), StepStatus::Succeeded);
        let head = git(&work.join("src"), &["rev-parse", "HEAD"])?;
        assert_eq!(first.outputs["commit"], json!(head));
        assert_eq!(
            git(&work.join("src"), &["log", "-1", "--format=%s|%an"])?,
            "bump a|Kargo"
        );
        let second = with_ctx(&work, &shared, |ctx| GitCommit.run(ctx, &cfg))?;
        assert_eq!(second.status(), StepStatus::Skipped);
        assert_eq!(second.outputs["commit"], json!(head));
        let err = with_ctx(&work, &shared, |ctx| {
            GitCommit.run(ctx, &json!({"path": "src"}))
        });
        assert!(err.is_err_and(|e| e.terminal && e.message.contains("message")));
        Ok(())
    }

    #[test]
    fn a_new_empty_branch_gets_its_first_commit() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (_bare, url) = bare_repo(tmp.path())?;
        let new_branch = json!({"branch": "env/new", "create": true, "path": "out"});
        let (work, shared) = cloned(tmp.path(), &url, "work", new_branch)?;
        let cfg = json!({"path": "out", "message": "start"});
        let first = with_ctx(&work, &shared, |ctx| GitCommit.run(ctx, &cfg))?;
        assert_eq!(first.status(), StepStatus::Succeeded);
        let out = work.join("out");
        assert_eq!(
            first.outputs["commit"],
            json!(git(&out, &["rev-parse", "HEAD"])?)
        );
        assert_eq!(git(&out, &["log", "--format=%s", "env/new"])?, "start");
        assert_eq!(git(&out, &["ls-tree", "HEAD"])?, "");
        // Now there is a HEAD: nothing more to commit.
        let second = with_ctx(&work, &shared, |ctx| GitCommit.run(ctx, &cfg))?;
        assert_eq!(second.status(), StepStatus::Skipped);
        assert_eq!(second.outputs["commit"], first.outputs["commit"]);
        Ok(())
    }

    #[test]
    fn a_refused_commit_with_changes_is_an_error() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (_bare, url) = bare_repo(tmp.path())?;
        let (work, shared) = cloned(
            tmp.path(),
            &url,
            "work",
            json!({"branch": "main", "path": "src"}),
        )?;
        std::fs::write(work.join("src/a.yaml"), "a: 3\n")?;
        // An author git rejects.
        let cfg = json!({"path": "src", "message": "m", "author": {"name": "<>", "email": "<>"}});
        let err = with_ctx(&work, &shared, |ctx| GitCommit.run(ctx, &cfg));
        assert!(
            err.as_ref()
                .is_err_and(|e| !e.terminal && e.message.contains("git commit")),
            "{err:?}"
        );
        Ok(())
    }
}
