//! `git-push`: pushes a working tree's HEAD to a branch of `origin`, or a
//! tag made by `git-tag`.
//!
//! Idempotent, for crash safety: if the remote branch already contains
//! HEAD (a previous run pushed it, then the process died before recording
//! it), the step succeeds with the same outputs and pushes nothing. When
//! the remote moved on, HEAD is rebased onto it and the push retried, up
//! to `maxAttempts` times; a rebase conflict fails the step (terminal). A
//! target branch the remote lacks is created, as Kargo's push creates it.
//!
//! Config (Kargo's `GitPushConfig`): `path`, `targetBranch` (default: the
//! checked-out branch), `generateTargetBranch` (push to
//! `kargo/promotion/<promotion>`, forced), `tag` (push that tag only; no
//! rebase), `force`, `maxAttempts` (default 10), `provider` (`azure`,
//! `bitbucket`, `gitea`, `github`, `gitlab`; inferred from the URL when
//! absent). At most one of `targetBranch`, `generateTargetBranch` and
//! `tag`; `tag` excludes `force`. Outputs: `commit`, `branch` (when there
//! is one), `commitURL` (the commit's web page, when a provider applies:
//! [`crate::git::provider`]).

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::files::ConfigCheck;
use crate::git::{self, Git, Remote, provider};
use crate::step::{Step, StepContext, StepError, StepResult, checkout_info};
use crate::steps::git_commit::{DEFAULT_AUTHOR_EMAIL, DEFAULT_AUTHOR_NAME};

const NAME: &str = "git-push";

/// Default number of push attempts.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// Config of `git-push`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitPushConfig {
    /// Working tree, relative to the work directory.
    pub path: String,
    /// Branch to push to.
    #[serde(default)]
    pub target_branch: Option<String>,
    /// Push to `kargo/promotion/<promotion name>`.
    #[serde(default)]
    pub generate_target_branch: Option<bool>,
    /// A tag to push (instead of a branch).
    #[serde(default)]
    pub tag: Option<String>,
    /// Overwrite the remote branch.
    #[serde(default)]
    pub force: Option<bool>,
    /// Push attempts (each rebases first when needed).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Git provider, for the `commitURL` output.
    #[serde(default)]
    pub provider: Option<String>,
}

/// The schema checks `git-push` and `github-push` share: `path` required
/// and non-empty, `maxAttempts` within 1..=2147483647, and at most one of
/// `generateTargetBranch: true`, a `targetBranch` and (for `git-push`) a
/// `tag`, which also excludes `force: true` (Kargo's `oneOf`).
pub fn check_common(c: &mut ConfigCheck<'_>) {
    c.required_string("path");
    if let Some(n) = c.get("maxAttempts").and_then(Value::as_f64) {
        if n < 1.0 {
            c.problem("maxAttempts: must be greater than or equal to 1".into());
        } else if n > f64::from(i32::MAX) {
            c.problem(format!(
                "maxAttempts: must be less than or equal to {}",
                i32::MAX
            ));
        }
    }
    let set = |f: &str| match c.get(f) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        _ => false,
    };
    let (generate, branch, tag, force) = (
        set("generateTargetBranch"),
        set("targetBranch"),
        set("tag"),
        set("force"),
    );
    if usize::from(generate) + usize::from(branch) + usize::from(tag) > 1 {
        c.problem("generateTargetBranch, targetBranch and tag are mutually exclusive".into());
    }
    if tag && force {
        c.problem("tag and force are mutually exclusive".into());
    }
}

/// Checks and decodes a `git-push` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<GitPushConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    check_common(&mut c);
    if let Some(p) = c.get("provider").and_then(Value::as_str)
        && !provider::PROVIDERS.contains(&p)
    {
        c.problem(format!(
            "provider: {p:?} must be one of {}",
            provider::PROVIDERS.join(", ")
        ));
    }
    c.parse(NAME, config)
}

/// The `git-push` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitPush;

fn git_err(step: &str, e: git::GitFailure) -> StepError {
    StepError::retryable(step, e.to_string())
}

impl Step for GitPush {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        push(NAME, ctx, &parse(config)?, false)
    }
}

/// Runs a decoded push config as step `step`; `insecure` skips TLS
/// verification (`github-push`'s `insecureSkipTLSVerify`).
pub fn push(
    step: &str,
    ctx: &StepContext<'_>,
    cfg: &GitPushConfig,
    insecure: bool,
) -> Result<StepResult, StepError> {
    let git_err = |e| git_err(step, e);
    let explicit = cfg.target_branch.clone().filter(|b| !b.is_empty());
    let generate = cfg.generate_target_branch.unwrap_or(false);
    let tag = cfg.tag.as_deref().filter(|t| !t.is_empty());
    if usize::from(explicit.is_some()) + usize::from(generate) + usize::from(tag.is_some()) > 1 {
        return Err(StepError::config(
            step,
            "generateTargetBranch, targetBranch and tag are mutually exclusive",
        ));
    }
    let dir = ctx.working_tree(step, &cfg.path)?;
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
        insecure_skip_tls_verify: insecure,
    };
    let branch = match tag {
        Some(tag) => {
            push_tag(step, &git, &dir, &remote, tag)?;
            git.head(&dir).map_err(git_err)?.branch
        }
        None => Some(push_branch(step, ctx, &git, &dir, &remote, cfg, explicit)?),
    };
    let sha = git.head_commit(&dir).map_err(git_err)?;
    let mut outputs = Map::new();
    if let Some(url) = provider::commit_url(cfg.provider.as_deref(), &remote.url, &sha) {
        outputs.insert("commitURL".into(), json!(url));
    }
    outputs.insert("commit".into(), json!(sha));
    if let Some(b) = branch {
        outputs.insert("branch".into(), json!(b));
    }
    Ok(StepResult::succeeded(outputs))
}

/// Pushes `refs/tags/<tag>` (Kargo's `git push origin tag <tag>`). A
/// remote that already has the same tag answers "up to date"; one that has
/// it elsewhere refuses, and no retry changes that.
fn push_tag(
    step: &str,
    git: &Git<'_>,
    dir: &Path,
    remote: &Remote,
    tag: &str,
) -> Result<(), StepError> {
    let refspec = format!("refs/tags/{tag}:refs/tags/{tag}");
    match git.run(Some(dir), Some(remote), &["push", "origin", &refspec]) {
        Ok(_) => Ok(()),
        Err(e) if e.stderr.contains("already exists") => Err(StepError::terminal(
            step,
            format!("error pushing tag: the remote already has tag {tag:?} elsewhere: {e}"),
        )),
        Err(e) => Err(StepError::retryable(
            step,
            format!("error pushing tag: {e}"),
        )),
    }
}

/// Pushes HEAD to the target branch (rebasing onto what moved, up to
/// `maxAttempts` times); returns the branch.
fn push_branch(
    step: &str,
    ctx: &StepContext<'_>,
    git: &Git<'_>,
    dir: &Path,
    remote: &Remote,
    cfg: &GitPushConfig,
    explicit: Option<String>,
) -> Result<String, StepError> {
    let git_err = |e| git_err(step, e);
    let (branch, force) = if cfg.generate_target_branch.unwrap_or(false) {
        (format!("kargo/promotion/{}", ctx.promotion.promotion), true)
    } else {
        let current = match explicit {
            Some(b) => Some(b),
            None => git.head(dir).map_err(git_err)?.branch,
        };
        match current {
            Some(b) => (b, cfg.force.unwrap_or(false)),
            None => {
                return Err(StepError::terminal(
                    step,
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
            let remote_exists = fetch_branch(step, git, dir, remote, &branch)?;
            if remote_exists {
                if git.succeeds(
                    Some(dir),
                    &["merge-base", "--is-ancestor", "HEAD", &tracking],
                ) {
                    // Already there: a previous run pushed it.
                    pushed = true;
                    break;
                }
                if !force
                    && !git.succeeds(
                        Some(dir),
                        &["merge-base", "--is-ancestor", &tracking, "HEAD"],
                    )
                {
                    rebase(step, git, dir, &tracking)?;
                }
            }
        }
        match git.run(Some(dir), Some(remote), &push_args) {
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
        && fetch_branch(step, git, dir, remote, &branch)?
        && git.succeeds(
            Some(dir),
            &["merge-base", "--is-ancestor", "HEAD", &tracking],
        )
    {
        // The last rejection was for a commit the remote already has.
        pushed = true;
    }
    if !pushed {
        return Err(StepError::retryable(
            step,
            format!("the remote branch {branch:?} kept moving after {attempts} attempts: {last}"),
        ));
    }
    Ok(branch)
}

/// Fetches `branch` into `origin/<branch>`; false when the remote has no
/// such branch.
fn fetch_branch(
    step: &str,
    git: &Git<'_>,
    dir: &Path,
    remote: &Remote,
    branch: &str,
) -> Result<bool, StepError> {
    let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    match git.run(Some(dir), Some(remote), &["fetch", "origin", &refspec]) {
        Ok(_) => Ok(true),
        Err(e) if e.stderr.contains("couldn't find remote ref") => Ok(false),
        Err(e) => Err(git_err(step, e)),
    }
}

fn rebase(step: &str, git: &Git<'_>, dir: &Path, onto: &str) -> Result<(), StepError> {
    let args = ["rebase", onto];
    let mut cmd = git::command(Some(dir), None, &args);
    if git.run(Some(dir), None, &["config", "user.name"]).is_err() {
        cmd.env("GIT_COMMITTER_NAME", DEFAULT_AUTHOR_NAME)
            .env("GIT_COMMITTER_EMAIL", DEFAULT_AUTHOR_EMAIL);
    }
    let out = git
        .exit_status(cmd, &args, None)
        .map_err(|e| git_err(step, e))?;
    if out.status.success() {
        return Ok(());
    }
    let _ = git.run(Some(dir), None, &["rebase", "--abort"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(StepError::terminal(
        step,
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
    fn upstream_config_rows() {
        use crate::steps::files::fixture::check_configs;
        // Kargo's Test_gitPusher_convert; JSON schema's "Must validate one
        // and only one schema" reads "mutually exclusive".
        let excl = &["mutually exclusive"][..];
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
                "just generateTargetBranch is true",
                json!({"path": "/fake/path", "generateTargetBranch": true}),
                ok,
            ),
            (
                "generateTargetBranch is true and targetBranch is empty string",
                json!({"path": "/fake/path", "generateTargetBranch": true, "targetBranch": ""}),
                ok,
            ),
            (
                "generateTargetBranch is true and targetBranch is specified",
                json!({"path": "/fake/path", "generateTargetBranch": true, "targetBranch": "fake-branch"}),
                excl,
            ),
            (
                "generateTargetBranch, targetBranch, and tag not specified",
                json!({"path": "/fake/path"}),
                ok,
            ),
            (
                "generateTargetBranch not specified and targetBranch is empty string",
                json!({"path": "/fake/path", "targetBranch": ""}),
                ok,
            ),
            (
                "generateTargetBranch not specified and targetBranch is specified",
                json!({"path": "/fake/path", "targetBranch": "fake-branch"}),
                ok,
            ),
            (
                "just generateTargetBranch is false",
                json!({"path": "/fake/path", "generateTargetBranch": false}),
                ok,
            ),
            (
                "generateTargetBranch is false and targetBranch is empty string",
                json!({"path": "/fake/path", "generateTargetBranch": false, "targetBranch": ""}),
                ok,
            ),
            (
                "generateTargetBranch is false and targetBranch is specified",
                json!({"path": "/fake/path", "targetBranch": "fake-branch"}),
                ok,
            ),
            (
                "force is true",
                json!({"path": "/fake/path", "force": true}),
                ok,
            ),
            (
                "force is false",
                json!({"path": "/fake/path", "force": false}),
                ok,
            ),
            (
                "tag and generateTargetBranch both specified",
                json!({"path": "/fake/path", "generateTargetBranch": true, "tag": "v1.0.0"}),
                excl,
            ),
            (
                "tag and targetBranch both specified",
                json!({"path": "/fake/path", "targetBranch": "fake-branch", "tag": "v1.0.0"}),
                excl,
            ),
        ];
        assert_eq!(rows.len(), 17); // Kargo's Test_gitPusher_convert: 17 rows
        check_configs(parse, rows);
        // The schema's other rules: tag excludes force; provider is an enum.
        let extra: &[(&str, Value, &[&str])] = &[
            (
                "tag and force",
                json!({"path": "p", "tag": "v1", "force": true}),
                &["tag and force are mutually exclusive"],
            ),
            (
                "unknown provider",
                json!({"path": "p", "provider": "sourcehut"}),
                &["provider: \"sourcehut\" must be one of"],
            ),
            (
                "known provider",
                json!({"path": "p", "provider": "gitea"}),
                ok,
            ),
        ];
        check_configs(parse, extra);
    }

    #[test]
    fn upstream_run_rows() -> TestResult {
        // Kargo's Test_gitPusher_run: 2 rows. Its fake provider answers
        // `<repoURL>/commit/<sha>` for any URL; here the provider is named
        // and the remote's URL is github-shaped through a git `insteadOf`.
        use crate::steps::git_tag::GitTag;
        let tmp = tempfile::tempdir()?;
        let (bare, url) = bare_repo(tmp.path())?;
        let (work, shared) = cloned(
            tmp.path(),
            &url,
            "w",
            json!({"branch": "main", "path": "src"}),
        )?;
        let src = work.join("src");
        let tag = json!({"path": "src", "tag": "v1.0.0", "message": "hello"});
        with_ctx(&work, &shared, |ctx| GitTag.run(ctx, &tag))?;
        let head = git(&src, &["rev-parse", "HEAD"])?;

        // "push commit to generated branch", with a provider: commitURL.
        let cfg = json!({"path": "src", "generateTargetBranch": true, "provider": "gitea"});
        let res = with_ctx(&work, &shared, |ctx| GitPush.run(ctx, &cfg))?;
        assert_eq!(res.outputs["branch"], json!("kargo/promotion/dev.01"));
        assert_eq!(res.outputs["commit"], json!(head));
        assert_eq!(git(&bare, &["rev-parse", "kargo/promotion/dev.01"])?, head);
        let want = provider::commit_url(Some("gitea"), &url, &head);
        assert!(want.is_some());
        assert_eq!(
            res.outputs.get("commitURL").and_then(Value::as_str),
            want.as_deref()
        );

        // "push tag": the remote gets the annotated tag; commit is HEAD;
        // without a provider a file:// remote has no commitURL.
        let res = with_ctx(&work, &shared, |ctx| {
            GitPush.run(ctx, &json!({"path": "src", "tag": "v1.0.0"}))
        })?;
        assert_eq!(res.outputs["commit"], json!(head));
        assert_eq!(res.outputs["branch"], json!("main"));
        assert!(!res.outputs.contains_key("commitURL"));
        assert_eq!(git(&bare, &["cat-file", "-t", "v1.0.0"])?, "tag");
        assert_eq!(git(&bare, &["rev-parse", "v1.0.0^{commit}"])?, head);
        // Again (resumed): the remote has it already, success.
        with_ctx(&work, &shared, |ctx| {
            GitPush.run(ctx, &json!({"path": "src", "tag": "v1.0.0"}))
        })?;
        // The remote's v1 (from the seed) is elsewhere: refused for good.
        std::fs::write(src.join("c.yaml"), "c: 1\n")?;
        git(&src, &["add", "."])?;
        git(&src, &["commit", "-q", "-m", "three"])?;
        git(&src, &["tag", "-f", "v1"])?;
        let res = with_ctx(&work, &shared, |ctx| {
            GitPush.run(ctx, &json!({"path": "src", "tag": "v1"}))
        });
        assert!(res.is_err_and(|e| e.terminal && e.message.contains("already has tag")));
        Ok(())
    }

    #[test]
    fn creates_a_missing_target_branch() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (bare, url) = bare_repo(tmp.path())?;
        let (work, shared) = cloned(
            tmp.path(),
            &url,
            "w",
            json!({"branch": "main", "path": "src"}),
        )?;
        let head = git(&work.join("src"), &["rev-parse", "HEAD"])?;
        for force in [false, true] {
            let branch = format!("env/new-{force}");
            let cfg = json!({"path": "src", "targetBranch": branch, "force": force});
            let res = with_ctx(&work, &shared, |ctx| GitPush.run(ctx, &cfg))?;
            assert_eq!(res.outputs["branch"], json!(branch));
            assert_eq!(git(&bare, &["rev-parse", &branch])?, head);
        }
        Ok(())
    }

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
