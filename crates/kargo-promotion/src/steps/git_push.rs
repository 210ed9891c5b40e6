//! `git-push`: pushes a working tree's HEAD to a branch of `origin`.
//!
//! Idempotent, for crash safety: if the remote branch already contains
//! HEAD (a previous run pushed it, then the process died before recording
//! it), the step succeeds with the same outputs and pushes nothing. When
//! the remote moved on, HEAD is rebased onto it and the push retried, up
//! to `maxAttempts` times; a rebase conflict fails the step (terminal).
//!
//! Config (Kargo's names): `path`, `targetBranch` (default: the checked-out
//! branch), `generateTargetBranch` (push to `kargo/promotion/<promotion>`,
//! forced), `force`, `maxAttempts` (default 10), `provider` (accepted,
//! unused). Outputs: `commit`, `branch`.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::git::{self, Git, Remote};
use crate::step::{Step, StepContext, StepError, StepResult, checkout_info, parse_config};
use crate::steps::git_commit::{DEFAULT_AUTHOR_EMAIL, DEFAULT_AUTHOR_NAME};

const NAME: &str = "git-push";

/// Default number of push attempts.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// Config of `git-push`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitPushConfig {
    /// Working tree, relative to the work directory.
    pub path: String,
    /// Branch to push to.
    #[serde(default)]
    pub target_branch: Option<String>,
    /// Push to `kargo/promotion/<promotion name>`.
    #[serde(default)]
    pub generate_target_branch: bool,
    /// Overwrite the remote branch.
    #[serde(default)]
    pub force: bool,
    /// Push attempts (each rebases first when needed).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Git provider name; accepted for compatibility.
    #[serde(default)]
    pub provider: Option<String>,
}

/// The `git-push` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitPush;

fn git_err(e: git::GitFailure) -> StepError {
    StepError::retryable(NAME, e.to_string())
}

impl Step for GitPush {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg: GitPushConfig = parse_config(NAME, config)?;
        let explicit = cfg.target_branch.clone().filter(|b| !b.is_empty());
        if explicit.is_some() && cfg.generate_target_branch {
            return Err(StepError::config(
                NAME,
                "targetBranch and generateTargetBranch are mutually exclusive",
            ));
        }
        let dir = ctx.working_tree(NAME, &cfg.path)?;
        let git = ctx.git();
        // The URL git-clone cloned (what `origin` is), else asked of git.
        let url = match checkout_info(ctx.shared, &cfg.path)
            .and_then(|c| c.get("repoURL"))
            .and_then(Value::as_str)
        {
            Some(u) => u.to_string(),
            None => git.origin_url(&dir).map_err(git_err)?,
        };
        let remote = Remote {
            credentials: ctx.credentials.git_credentials(&url),
            url,
            insecure_skip_tls_verify: false,
        };
        let (branch, force) = if cfg.generate_target_branch {
            (format!("kargo/promotion/{}", ctx.promotion.promotion), true)
        } else {
            let current = match explicit {
                Some(b) => Some(b),
                None => git.head(&dir).map_err(git_err)?.branch,
            };
            match current {
                Some(b) => (b, cfg.force),
                None => {
                    return Err(StepError::terminal(
                        NAME,
                        "targetBranch: HEAD is detached; set targetBranch or generateTargetBranch",
                    ));
                }
            }
        };
        let attempts = cfg.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
        let tracking = format!("refs/remotes/origin/{branch}");
        let refspec = format!("HEAD:refs/heads/{branch}");
        let mut push_args = vec!["push", "origin", refspec.as_str()];
        if force {
            push_args.push("--force");
        }
        let mut last = String::new();
        let mut pushed = false;
        // Without force, push first: the common case needs no fetch. Only a
        // rejected push fetches, then finds the commit already there (a
        // resumed Promotion) or rebases onto what moved. A forced push
        // always looks first, so it never overwrites commits that already
        // contain this one.
        let mut look_first = force;
        for _ in 0..attempts {
            if look_first {
                let remote_exists = fetch_branch(&git, &dir, &remote, &branch)?;
                if remote_exists {
                    if git.succeeds(
                        Some(&dir),
                        &["merge-base", "--is-ancestor", "HEAD", &tracking],
                    ) {
                        // Already there: a previous run pushed it.
                        pushed = true;
                        break;
                    }
                    if !force
                        && !git.succeeds(
                            Some(&dir),
                            &["merge-base", "--is-ancestor", &tracking, "HEAD"],
                        )
                    {
                        rebase(&git, &dir, &tracking)?;
                    }
                }
            }
            match git.run(Some(&dir), Some(&remote), &push_args) {
                Ok(_) => {
                    pushed = true;
                    break;
                }
                Err(e) if is_non_fast_forward(&e.stderr) => {
                    last = e.to_string();
                    look_first = true;
                }
                Err(e) => return Err(git_err(e)),
            }
        }
        if !pushed
            && look_first
            && fetch_branch(&git, &dir, &remote, &branch)?
            && git.succeeds(
                Some(&dir),
                &["merge-base", "--is-ancestor", "HEAD", &tracking],
            )
        {
            // The last rejection was for a commit the remote already has.
            pushed = true;
        }
        if !pushed {
            return Err(StepError::retryable(
                NAME,
                format!(
                    "the remote branch {branch:?} kept moving after {attempts} attempts: {last}"
                ),
            ));
        }
        let sha = git.head_commit(&dir).map_err(git_err)?;
        let mut outputs = Map::new();
        outputs.insert("commit".into(), json!(sha));
        outputs.insert("branch".into(), json!(branch));
        Ok(StepResult::succeeded(outputs))
    }
}

/// Fetches `branch` into `origin/<branch>`; false when the remote has no
/// such branch.
fn fetch_branch(
    git: &Git<'_>,
    dir: &Path,
    remote: &Remote,
    branch: &str,
) -> Result<bool, StepError> {
    let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    match git.run(Some(dir), Some(remote), &["fetch", "origin", &refspec]) {
        Ok(_) => Ok(true),
        Err(e) if e.stderr.contains("couldn't find remote ref") => Ok(false),
        Err(e) => Err(git_err(e)),
    }
}

fn rebase(git: &Git<'_>, dir: &Path, onto: &str) -> Result<(), StepError> {
    let args = ["rebase", onto];
    let mut cmd = git::command(Some(dir), None, &args);
    if git.run(Some(dir), None, &["config", "user.name"]).is_err() {
        cmd.env("GIT_COMMITTER_NAME", DEFAULT_AUTHOR_NAME)
            .env("GIT_COMMITTER_EMAIL", DEFAULT_AUTHOR_EMAIL);
    }
    let out = git.exit_status(cmd, &args, None).map_err(git_err)?;
    if out.status.success() {
        return Ok(());
    }
    let _ = git.run(Some(dir), None, &["rebase", "--abort"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(StepError::terminal(
        NAME,
        format!(
            "rebasing onto {onto} failed (merge conflict; resolve it by hand): {}",
            git::redact(format!("{} {}", stdout.trim(), stderr.trim()).trim())
        ),
    ))
}

fn is_non_fast_forward(stderr: &str) -> bool {
    stderr.contains("non-fast-forward")
        || stderr.contains("fetch first")
        || stderr.contains("[rejected]")
        || stderr.contains("cannot lock ref")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, bare_repo, cloned, git, with_ctx};
    use crate::steps::git_clone::GitClone;

    #[test]
    fn detached_head_needs_a_target_branch() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (_bare, url) = bare_repo(tmp.path())?;
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work)?;
        let clone = json!({"repoURL": url, "checkout": [{"tag": "v1", "path": "src"}]});
        let empty = Map::new();
        with_ctx(&work, &empty, |ctx| GitClone.run(ctx, &clone))?;
        let err = with_ctx(&work, &empty, |ctx| {
            GitPush.run(ctx, &json!({"path": "src"}))
        });
        assert!(err.is_err_and(|e| e.terminal && e.message.contains("detached")));
        // With a target branch it pushes (the tag's commit is already on main: no-op).
        let res = with_ctx(&work, &empty, |ctx| {
            GitPush.run(ctx, &json!({"path": "src", "targetBranch": "main"}))
        })?;
        assert_eq!(res.outputs["branch"], json!("main"));
        let err = with_ctx(&work, &empty, |ctx| {
            GitPush.run(
                ctx,
                &json!({"path": "src", "targetBranch": "x", "generateTargetBranch": true}),
            )
        });
        assert!(err.is_err_and(|e| e.message.contains("mutually exclusive")));
        Ok(())
    }

    #[test]
    fn racing_pushes_to_one_branch_all_land() -> TestResult {
        use crate::steps::git_commit::GitCommit;
        let tmp = tempfile::tempdir()?;
        let (bare, url) = bare_repo(tmp.path())?;
        const RACERS: usize = 4;
        // Each racer clones main and commits a file of its own.
        let mut racers = Vec::new();
        for i in 0..RACERS {
            let main = json!({"branch": "main", "path": "src"});
            let (work, shared) = cloned(tmp.path(), &url, &format!("w{i}"), main)?;
            std::fs::write(work.join(format!("src/r{i}.yaml")), format!("r: {i}\n"))?;
            let commit = json!({"path": "src", "message": format!("racer {i}")});
            with_ctx(&work, &shared, |ctx| GitCommit.run(ctx, &commit))?;
            racers.push((work, shared));
        }
        let start = std::sync::Barrier::new(RACERS);
        let results: Vec<Result<StepResult, StepError>> = std::thread::scope(|s| {
            let handles: Vec<_> = racers
                .iter()
                .map(|(work, shared)| {
                    let start = &start;
                    s.spawn(move || {
                        start.wait();
                        with_ctx(work, shared, |ctx| {
                            GitPush.run(ctx, &json!({"path": "src"}))
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("racer panicked"))
                .collect()
        });
        let tip = git(&bare, &["rev-parse", "main"])?;
        let mut pushed = Vec::new();
        for ((work, _), r) in racers.iter().zip(results) {
            let r = r?;
            assert_eq!(r.outputs["branch"], json!("main"));
            // The output is the racer's HEAD (rebased if it lost a race), on main.
            let head = git(&work.join("src"), &["rev-parse", "HEAD"])?;
            assert_eq!(r.outputs["commit"], json!(head));
            git(&bare, &["merge-base", "--is-ancestor", &head, &tip])?;
            pushed.push(head);
        }
        assert!(pushed.contains(&tip));
        let log = git(&bare, &["log", "--format=%s", "main"])?;
        let mut subjects: Vec<&str> = log.lines().collect();
        subjects.sort();
        assert_eq!(
            subjects,
            ["one", "racer 0", "racer 1", "racer 2", "racer 3"]
        );
        for i in 0..RACERS {
            assert_eq!(
                git(&bare, &["show", &format!("main:r{i}.yaml")])?,
                format!("r: {i}")
            );
        }
        Ok(())
    }
}
