//! `git-tag`: creates an annotated tag at HEAD of a working tree, as
//! Kargo's `git_tagger.go` does (`git tag -a <tag> -m <message>
//! [--force]`); `git-push` with `tag` then pushes it.
//!
//! Config (Kargo's `GitTagConfig`): `path`, `tag`, `message` (all
//! required, non-empty), `force` (default false: an existing tag fails
//! the step). Output: `commit` (HEAD's SHA). The tagger is `git-clone`'s
//! `author`, else `Kargo <no-reply@kargo.local>`.
//!
//! Idempotent: run again after a crash, a tag that already names HEAD is
//! left as it is and the step succeeds.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::files::ConfigCheck;
use crate::git;
use crate::step::{Step, StepContext, StepError, StepResult};
use crate::steps::git_commit::identity;

const NAME: &str = "git-tag";

/// Config of `git-tag`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitTagConfig {
    /// Working tree, relative to the work directory.
    pub path: String,
    /// The tag to create.
    pub tag: String,
    /// The annotation message.
    pub message: String,
    /// Overwrite an existing tag of the same name.
    #[serde(default)]
    pub force: bool,
}

/// Checks and decodes a `git-tag` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<GitTagConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    c.required_string("path")
        .required_string("tag")
        .required_string("message");
    c.parse(NAME, config)
}

/// The `git-tag` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitTag;

fn git_err(e: git::GitFailure) -> StepError {
    StepError::retryable(NAME, e.to_string())
}

impl Step for GitTag {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let dir = ctx.working_tree(NAME, &cfg.path)?;
        let git = ctx.git();
        let head = git.head_commit(&dir).map_err(git_err)?;
        let tagged = format!("refs/tags/{}^{{commit}}", cfg.tag);
        let existing = git
            .run(
                Some(&dir),
                None,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    "--end-of-options",
                    &tagged,
                ],
            )
            .ok();
        // A resumed Promotion finds its own tag: nothing to do.
        if existing.as_deref() != Some(head.as_str()) {
            if existing.is_some() && !cfg.force {
                return Err(StepError::terminal(
                    NAME,
                    format!(
                        "error creating annotated tag {:?}: it already exists at another commit (set force to move it)",
                        cfg.tag
                    ),
                ));
            }
            let mut args = vec!["tag", "-a", "-m", cfg.message.as_str()];
            if cfg.force {
                args.push("--force");
            }
            args.extend(["--", cfg.tag.as_str()]);
            let (name, email) = identity(ctx, &cfg.path, None);
            let mut cmd = git::command(Some(&dir), None, &args);
            cmd.env("GIT_COMMITTER_NAME", &name)
                .env("GIT_COMMITTER_EMAIL", &email);
            git.finish(cmd, &args, None, None).map_err(|e| {
                StepError::terminal(
                    NAME,
                    format!("error creating annotated tag {:?}: {e}", cfg.tag),
                )
            })?;
        }
        Ok(StepResult::succeeded(Map::from_iter([(
            "commit".to_string(),
            json!(head),
        )])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, bare_repo, cloned, git, with_ctx};
    use crate::steps::files::fixture::check_configs;

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_gitTagger_convert.
        let rows: &[(&str, Value, &[&str])] = &[
            (
                "path not specified",
                json!({"tag": "v1.0.0", "message": "hello"}),
                &["path: required"],
            ),
            (
                "path is empty string",
                json!({"path": "", "tag": "v1.0.0", "message": "hello"}),
                &["path: must not be empty"],
            ),
            (
                "tag not specified",
                json!({"path": "/tmp/foo", "message": "hello"}),
                &["tag: required"],
            ),
            (
                "tag is empty string",
                json!({"path": "/tmp/foo", "tag": "", "message": "hello"}),
                &["tag: must not be empty"],
            ),
            (
                "message not specified",
                json!({"path": "/tmp/foo"}),
                &["message: required"],
            ),
            (
                "message is empty string",
                json!({"path": "/tmp/foo", "tag": "v1.0.0", "message": ""}),
                &["message: must not be empty"],
            ),
            (
                "valid config",
                json!({"path": "/tmp/foo", "tag": "v1.0.0", "message": "hello"}),
                &[],
            ),
            (
                "valid config with force",
                json!({"path": "/tmp/foo", "tag": "v1.0.0", "message": "hello", "force": true}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 8); // Kargo's Test_gitTagger_convert: 8 rows
        check_configs(parse, rows);
    }

    #[test]
    fn tags_head_and_resumes() -> TestResult {
        // Kargo's Test_gitTagger_run (1 row): the tag exists locally at HEAD
        // and the output is HEAD's commit.
        let tmp = tempfile::tempdir()?;
        let (_bare, url) = bare_repo(tmp.path())?;
        let (work, shared) = cloned(
            tmp.path(),
            &url,
            "w",
            json!({"branch": "main", "path": "src"}),
        )?;
        let src = work.join("src");
        let cfg = json!({"path": "src", "tag": "v2.0.0", "message": "release -m 2"});
        let res = with_ctx(&work, &shared, |ctx| GitTag.run(ctx, &cfg))?;
        let head = git(&src, &["rev-parse", "HEAD"])?;
        assert_eq!(res.outputs["commit"], json!(head));
        assert_eq!(git(&src, &["cat-file", "-t", "v2.0.0"])?, "tag");
        assert_eq!(git(&src, &["rev-parse", "v2.0.0^{commit}"])?, head);
        assert_eq!(
            git(
                &src,
                &["tag", "-l", "--format=%(contents:subject)", "v2.0.0"]
            )?,
            "release -m 2"
        );
        // Run again (a resumed Promotion): the same tag, success.
        let again = with_ctx(&work, &shared, |ctx| GitTag.run(ctx, &cfg))?;
        assert_eq!(again.outputs, res.outputs);

        // The clone's v1 is on the same commit; a tag elsewhere needs force.
        std::fs::write(src.join("b.yaml"), "b: 1\n")?;
        git(&src, &["add", "."])?;
        git(&src, &["commit", "-q", "-m", "two"])?;
        let err = with_ctx(&work, &shared, |ctx| GitTag.run(ctx, &cfg));
        assert!(err.is_err_and(|e| e.terminal && e.message.contains("already exists")));
        let forced = json!({"path": "src", "tag": "v2.0.0", "message": "moved", "force": true});
        let res = with_ctx(&work, &shared, |ctx| GitTag.run(ctx, &forced))?;
        let head = git(&src, &["rev-parse", "HEAD"])?;
        assert_eq!(res.outputs["commit"], json!(head));
        assert_eq!(git(&src, &["rev-parse", "v2.0.0^{commit}"])?, head);
        // A name git refuses is refused, never read as an option.
        let bad = json!({"path": "src", "tag": "--force", "message": "x"});
        let err = with_ctx(&work, &shared, |ctx| GitTag.run(ctx, &bad));
        assert!(err.is_err_and(|e| e.message.contains("not a valid tag name")));
        Ok(())
    }
}
