//! `git-clone`: checks a repository out at one or more paths of the work
//! directory (a branch, tag or commit each). One checkout of a branch or a
//! tag — the common case — is one shallow `git clone` straight into its
//! path; otherwise (several checkouts, a commit, a branch to create) the
//! repository is cloned once under `.repos/` and each checkout is a git
//! worktree of it, as Kargo does. Re-running it (after a crash) replaces
//! what the last run left, so it is idempotent.
//!
//! Config (Kargo's names): `repoURL`, `checkout: [{branch | tag | commit,
//! path, create, as}]`, `insecureSkipTLSVerify`, `author: {name, email}`.
//! Outputs: `commits: {<as or path>: <sha>}`. Shared state:
//! `git.checkouts.<path> = {repoURL, branch, author}` (`git-commit` reads
//! the author from there).

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};

use crate::git::{self, Git, Remote};
use crate::step::{Step, StepContext, StepError, StepResult, parse_config};

const NAME: &str = "git-clone";

/// Config of `git-clone`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitCloneConfig {
    /// Remote repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// What to check out where.
    pub checkout: Vec<Checkout>,
    /// Skip TLS verification.
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
    /// Default author for commits in these worktrees.
    #[serde(default)]
    pub author: Option<Author>,
    /// Accepted for compatibility; submodules are not cloned.
    #[serde(default)]
    pub recurse_submodules: bool,
}

/// Commit author.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Author {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Accepted; signing is not supported.
    #[serde(default)]
    pub signing_key: Option<String>,
}

/// One checkout.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkout {
    /// Branch to check out.
    #[serde(default)]
    pub branch: Option<String>,
    /// Tag to check out.
    #[serde(default)]
    pub tag: Option<String>,
    /// Commit to check out.
    #[serde(default)]
    pub commit: Option<String>,
    /// Where, relative to the work directory.
    pub path: String,
    /// Create `branch` as an empty orphan branch if the remote lacks it.
    #[serde(default)]
    pub create: bool,
    /// Key in the `commits` output.
    #[serde(default, rename = "as")]
    pub as_: Option<String>,
}

/// The `git-clone` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitClone;

fn git_err(e: git::GitFailure) -> StepError {
    StepError::retryable(NAME, e.to_string())
}

impl Step for GitClone {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg: GitCloneConfig = parse_config(NAME, config)?;
        ctx.check_repo_url(NAME, "repoURL", &cfg.repo_url)?;
        if cfg.checkout.is_empty() {
            return Err(StepError::config(
                NAME,
                "checkout: at least one entry is required",
            ));
        }
        for (i, c) in cfg.checkout.iter().enumerate() {
            let set = [&c.branch, &c.tag, &c.commit]
                .iter()
                .filter(|v| v.as_deref().is_some_and(|s| !s.is_empty()))
                .count();
            if set > 1 {
                return Err(StepError::config(
                    NAME,
                    format!("checkout[{i}]: branch, tag and commit are mutually exclusive"),
                ));
            }
            for (field, value) in [
                ("branch", &c.branch),
                ("tag", &c.tag),
                ("commit", &c.commit),
            ] {
                if let Some(v) = value.as_deref()
                    && v.starts_with('-')
                {
                    return Err(StepError::config(
                        NAME,
                        format!("checkout[{i}].{field}: {v:?} must not start with '-'"),
                    ));
                }
            }
            if c.path.is_empty() {
                return Err(StepError::config(
                    NAME,
                    format!("checkout[{i}].path: must not be empty"),
                ));
            }
        }
        let remote = Remote {
            url: cfg.repo_url.clone(),
            credentials: ctx.credentials.git_credentials(&cfg.repo_url),
            insecure_skip_tls_verify: cfg.insecure_skip_tls_verify,
        };
        let mut dirs = Vec::with_capacity(cfg.checkout.len());
        for (i, c) in cfg.checkout.iter().enumerate() {
            let field = format!("checkout[{i}].path");
            let dir = ctx.resolve(NAME, &field, &c.path)?;
            if dir == ctx.work_dir {
                return Err(StepError::config(
                    NAME,
                    format!("{field}: must not be the work directory itself"),
                ));
            }
            dirs.push(dir);
        }
        let git = ctx.git();
        let heads = match clone_single(&git, &remote, &cfg.checkout, &dirs)? {
            Some(head) => vec![head],
            None => {
                let repo = ctx.work_dir.join(".repos").join(format!(
                    "{}.git",
                    hex::encode(&Sha1::digest(cfg.repo_url.as_bytes())[..8])
                ));
                let fresh = ensure_clone(&git, &repo, &remote)?;
                let mut heads = Vec::with_capacity(dirs.len());
                for (c, dir) in cfg.checkout.iter().zip(&dirs) {
                    let (branch, tip) = add_worktree(&git, &repo, dir, c, &cfg.repo_url, fresh)?;
                    // A new orphan branch has no commit: "".
                    let sha = match tip {
                        Some(sha) => sha,
                        None => git.head(dir).map_err(git_err)?.commit.unwrap_or_default(),
                    };
                    heads.push((branch, sha));
                }
                heads
            }
        };

        let mut commits = Map::new();
        let mut checkouts = ctx
            .shared
            .get("git")
            .and_then(|g| g.get("checkouts"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (c, (branch, sha)) in cfg.checkout.iter().zip(heads) {
            let key = c
                .as_
                .clone()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| c.path.clone());
            commits.insert(key, json!(sha));
            checkouts.insert(
                crate::step::normalize_rel(&c.path),
                json!({
                    "repoURL": cfg.repo_url,
                    "branch": branch,
                    "author": cfg.author.as_ref().map(|a| json!({"name": a.name, "email": a.email})),
                }),
            );
        }
        let mut result = StepResult::succeeded(Map::from_iter([(
            "commits".to_string(),
            Value::Object(commits),
        )]));
        result
            .shared
            .insert("git".into(), json!({"checkouts": checkouts}));
        Ok(result)
    }
}

/// A checkout's `branch`, `tag` or `commit`, when set and not empty.
fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// The common case — one checkout, of a branch, a tag or the remote's
/// default branch — in one git process: a shallow clone (`--depth 1`, as
/// only the tip is checked out) straight into the checkout path. Returns
/// the branch and commit checked out, or `None` when this does not apply
/// (several checkouts, a commit) or did not give what was asked for (a
/// branch the remote lacks, to create or to report; a tag a branch of the
/// same name shadows; an empty remote): the caller then clones the general
/// way, which handles (and reports) all of those.
fn clone_single(
    git: &Git<'_>,
    remote: &Remote,
    checkouts: &[Checkout],
    dirs: &[std::path::PathBuf],
) -> Result<Option<(Option<String>, String)>, StepError> {
    let ([c], [dir]) = (checkouts, dirs) else {
        return Ok(None);
    };
    if nonempty(&c.commit).is_some() {
        return Ok(None);
    }
    let tag = nonempty(&c.tag);
    let branch = nonempty(&c.branch);
    clear(dir)?;
    let path = dir.to_string_lossy();
    let mut args = vec!["clone", "--quiet", "--depth", "1"];
    if let Some(r) = tag.or(branch) {
        args.extend(["--branch", r]);
    }
    args.extend(["--", &remote.url, &path]);
    match git.run(None, Some(remote), &args) {
        Ok(_) => {}
        Err(e) if e.stderr.contains("not found in upstream") => return Ok(None),
        Err(e) => return Err(git_err(e)),
    }
    let head = git.head(dir).map_err(git_err)?;
    let as_asked = match (tag, branch) {
        (Some(_), _) => head.branch.is_none(),
        (None, Some(b)) => head.branch.as_deref() == Some(b),
        (None, None) => head.branch.is_some(),
    };
    match head.commit {
        Some(sha) if as_asked => Ok(Some((head.branch.filter(|_| tag.is_none()), sha))),
        _ => {
            clear(dir)?;
            Ok(None)
        }
    }
}

/// Removes whatever is at `dir` (what a crashed run left).
fn clear(dir: &Path) -> Result<(), StepError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StepError::retryable(
            NAME,
            format!("clearing {}: {e}", dir.display()),
        )),
    }
}

/// Clones `remote` into `repo` (no checkout) or, if a clone is already
/// there (a resumed Promotion), fetches. True when it cloned afresh. The
/// URL goes to git after `--`, never as an option.
pub fn ensure_clone(git: &Git<'_>, repo: &Path, remote: &Remote) -> Result<bool, StepError> {
    if repo.join("HEAD").exists() && git.succeeds(Some(repo), &["rev-parse", "--git-dir"]) {
        git.run(
            Some(repo),
            Some(remote),
            &["fetch", "--prune", "--tags", "origin"],
        )
        .map_err(git_err)?;
        return Ok(false);
    }
    if repo.exists() {
        std::fs::remove_dir_all(repo)
            .map_err(|e| StepError::retryable(NAME, format!("removing a partial clone: {e}")))?;
    }
    if let Some(parent) = repo.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            StepError::retryable(NAME, format!("creating {}: {e}", parent.display()))
        })?;
    }
    let target = repo.to_string_lossy();
    git.run(
        None,
        Some(remote),
        &["clone", "--no-checkout", "--", &remote.url, &target],
    )
    .map_err(git_err)?;
    // Detach the clone's own HEAD so that every branch can be checked out
    // in a worktree. An empty remote has no HEAD to detach: nothing to do.
    let _ = git.run(
        Some(repo),
        None,
        &["update-ref", "--no-deref", "HEAD", "HEAD"],
    );
    Ok(true)
}

/// Adds the worktree for one checkout, replacing whatever a crashed run
/// left at `dir` (`fresh`: the clone is new, so nothing was left).
/// Returns the branch checked out, if any, and its commit when known.
fn add_worktree(
    git: &Git<'_>,
    repo: &Path,
    dir: &Path,
    c: &Checkout,
    url: &str,
    fresh: bool,
) -> Result<(Option<String>, Option<String>), StepError> {
    if dir.exists() {
        let _ = git.run(
            Some(repo),
            None,
            &[
                "worktree",
                "remove",
                "--force",
                "--",
                &dir.to_string_lossy(),
            ],
        );
        clear(dir)?;
    }
    if !fresh {
        git.run(Some(repo), None, &["worktree", "prune"])
            .map_err(git_err)?;
    }
    let path = dir.to_string_lossy();
    if let Some(tag) = nonempty(&c.tag) {
        let r = format!("refs/tags/{tag}");
        git.run(
            Some(repo),
            None,
            &["worktree", "add", "--detach", "--", &path, &r],
        )
        .map_err(|e| {
            StepError::terminal(
                NAME,
                format!("tag {tag:?} of {}: {}", git::redact(url), e.stderr),
            )
        })?;
        return Ok((None, None));
    }
    if let Some(commit) = nonempty(&c.commit) {
        git.run(
            Some(repo),
            None,
            &["worktree", "add", "--detach", "--", &path, commit],
        )
        .map_err(|e| {
            StepError::terminal(
                NAME,
                format!("commit {commit:?} of {}: {}", git::redact(url), e.stderr),
            )
        })?;
        return Ok((None, None));
    }
    let branch = match nonempty(&c.branch) {
        Some(b) => b.to_string(),
        None => {
            // The remote's default branch.
            let head = git
                .run(
                    Some(repo),
                    None,
                    &["rev-parse", "--abbrev-ref", "origin/HEAD"],
                )
                .map_err(|e| {
                    StepError::terminal(
                        NAME,
                        format!("the remote has no default branch: {}", e.stderr),
                    )
                })?;
            head.trim_start_matches("origin/").to_string()
        }
    };
    let remote_ref = format!("refs/remotes/origin/{branch}");
    let tip = git
        .run(
            Some(repo),
            None,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &remote_ref,
            ],
        )
        .ok();
    if tip.is_some() {
        git.run(
            Some(repo),
            None,
            &[
                "worktree",
                "add",
                "--force",
                "--track",
                "-B",
                &branch,
                "--",
                &path,
                &remote_ref,
            ],
        )
        .map_err(git_err)?;
    } else if c.create {
        // An empty work tree on a new, unborn branch (also in an empty
        // repository, which has nothing to detach at).
        git.run(
            Some(repo),
            None,
            &["worktree", "add", "--orphan", "-b", &branch, "--", &path],
        )
        .map_err(git_err)?;
    } else {
        return Err(StepError::terminal(
            NAME,
            format!(
                "branch {branch:?} does not exist in {} (set create: true to create it)",
                git::redact(url)
            ),
        ));
    }
    Ok((Some(branch), tip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, bare_repo, empty_bare, git, with_ctx};

    #[test]
    fn branch_tag_create_and_errors() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (_bare, url) = bare_repo(tmp.path())?;
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work)?;
        let cfg = json!({"repoURL": url, "checkout": [
            {"path": "main"},
            {"tag": "v1", "path": "tagged", "as": "t"},
            {"branch": "env/dev", "create": true, "path": "dev"},
        ]});
        let shared = Map::new();
        let res = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &cfg))?;
        assert_eq!(
            git(&work.join("main"), &["symbolic-ref", "--short", "HEAD"])?,
            "main"
        );
        assert_eq!(
            std::fs::read_to_string(work.join("tagged/a.yaml"))?,
            "a: 1\n"
        );
        assert_eq!(
            git(&work.join("dev"), &["symbolic-ref", "--short", "HEAD"])?,
            "env/dev"
        );
        assert!(!work.join("dev/a.yaml").exists());
        let commits = &res.outputs["commits"];
        assert_eq!(commits["t"], commits["main"]);
        assert_eq!(
            res.shared["git"]["checkouts"]["dev"]["branch"],
            json!("env/dev")
        );
        // Running it again (as after a crash) gives the same result.
        let again = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &cfg))?;
        assert_eq!(again.outputs, res.outputs);

        let missing = json!({"repoURL": url, "checkout": [{"branch": "nope", "path": "x"}]});
        let err = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &missing));
        assert!(err.is_err_and(|e| e.terminal && e.message.contains("\"nope\"")));
        let both =
            json!({"repoURL": url, "checkout": [{"branch": "main", "tag": "v1", "path": "x"}]});
        let err = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &both));
        assert!(err.is_err_and(|e| {
            e.to_string()
                .contains("checkout[0]: branch, tag and commit")
        }));
        let escape = json!({"repoURL": url, "checkout": [{"path": "../x"}]});
        let err = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &escape));
        assert!(err.is_err_and(|e| e.to_string().contains("checkout[0].path")));
        // A checkout path through a symlink that leaves the work tree.
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside)?;
        std::os::unix::fs::symlink(&outside, work.join("out"))?;
        let through = json!({"repoURL": url, "checkout": [{"path": "out/x"}]});
        let err = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &through));
        assert!(err.is_err_and(|e| {
            e.to_string()
                .contains("checkout[0].path: \"out/x\" resolves outside the work tree")
        }));
        assert_eq!(std::fs::read_dir(&outside)?.count(), 0);
        // Options never reach git.
        let option = json!({"repoURL": "--upload-pack=touch /tmp/x", "checkout": [{"path": "y"}]});
        let err = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &option));
        assert!(err.is_err_and(|e| {
            e.terminal
                && e.to_string()
                    .contains("repoURL: \"--upload-pack=touch /tmp/x\" must not start with '-'")
        }));
        let helper = json!({"repoURL": "ext::sh -c touch% /tmp/x", "checkout": [{"path": "y"}]});
        let err = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &helper));
        assert!(err.is_err_and(|e| e.to_string().contains("remote-helper")));
        let branch = json!({"repoURL": url, "checkout": [{"branch": "--orphan", "path": "y"}]});
        let err = with_ctx(&work, &shared, |ctx| GitClone.run(ctx, &branch));
        assert!(err.is_err_and(|e| e.to_string().contains("checkout[0].branch")));
        Ok(())
    }

    #[test]
    fn one_checkout_is_one_shallow_clone_in_place() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (bare, url) = bare_repo(tmp.path())?;
        let tag_commit = git(&bare, &["rev-parse", "v1^{commit}"])?;
        // A branch named like the tag, one commit ahead of it.
        let seed = tmp.path().join("seed");
        git(&seed, &["checkout", "--quiet", "-b", "v1-branch"])?;
        std::fs::write(seed.join("a.yaml"), "a: 2\n")?;
        git(&seed, &["commit", "--quiet", "-am", "two"])?;
        git(
            &seed,
            &["push", "--quiet", "origin", "v1-branch:refs/heads/v1"],
        )?;
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work)?;
        let empty = Map::new();
        let run = |checkout: Value| {
            let cfg = json!({"repoURL": url, "checkout": [checkout]});
            with_ctx(&work, &empty, |ctx| GitClone.run(ctx, &cfg))
        };

        let res = run(json!({"branch": "main", "path": "src"}))?;
        let src = work.join("src");
        assert!(src.join(".git").is_dir() && src.join(".git/shallow").exists());
        assert!(!work.join(".repos").exists());
        assert_eq!(git(&src, &["symbolic-ref", "--short", "HEAD"])?, "main");
        assert_eq!(res.outputs["commits"]["src"], json!(tag_commit));
        let info = &res.shared["git"]["checkouts"]["src"];
        assert_eq!(info["branch"], json!("main"));
        assert_eq!(info["repoURL"], json!(url));
        // Again, as after a crash: the same.
        std::fs::write(src.join("left-over"), "x")?;
        let again = run(json!({"branch": "main", "path": "src"}))?;
        assert_eq!(again.outputs, res.outputs);
        assert!(!src.join("left-over").exists());

        // The remote's default branch.
        let res = run(json!({"path": "default"}))?;
        assert_eq!(
            res.shared["git"]["checkouts"]["default"]["branch"],
            json!("main")
        );
        assert_eq!(res.outputs["commits"]["default"], json!(tag_commit));

        // A tag is detached at the tag, even with a branch of that name.
        let res = run(json!({"tag": "v1", "path": "t", "as": "tagged"}))?;
        assert_eq!(res.outputs["commits"]["tagged"], json!(tag_commit));
        assert_eq!(git(&work.join("t"), &["rev-parse", "HEAD"])?, tag_commit);
        assert_eq!(std::fs::read_to_string(work.join("t/a.yaml"))?, "a: 1\n");
        assert_eq!(res.shared["git"]["checkouts"]["t"]["branch"], Value::Null);
        // The branch is the branch.
        let res = run(json!({"branch": "v1", "path": "b"}))?;
        assert_eq!(std::fs::read_to_string(work.join("b/a.yaml"))?, "a: 2\n");
        assert_eq!(res.shared["git"]["checkouts"]["b"]["branch"], json!("v1"));

        // A branch the remote lacks: created as an orphan, or reported.
        let res = run(json!({"branch": "env/x", "create": true, "path": "x"}))?;
        assert_eq!(
            git(&work.join("x"), &["symbolic-ref", "--short", "HEAD"])?,
            "env/x"
        );
        assert!(!work.join("x/a.yaml").exists());
        assert_eq!(res.outputs["commits"]["x"], json!(""));
        let err = run(json!({"branch": "nope", "path": "n"}));
        assert!(err.is_err_and(|e| e.terminal && e.message.contains("\"nope\" does not exist")));
        let err = run(json!({"tag": "v9", "path": "n"}));
        assert!(err.is_err_and(|e| e.terminal && e.message.contains("tag \"v9\"")));
        Ok(())
    }

    #[test]
    fn an_empty_remote_has_no_default_branch_but_can_get_one() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (_bare, url) = empty_bare(tmp.path())?;
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work)?;
        let empty = Map::new();
        let cfg = json!({"repoURL": url, "checkout": [{"path": "d"}]});
        let err = with_ctx(&work, &empty, |ctx| GitClone.run(ctx, &cfg));
        assert!(err.is_err_and(|e| e.terminal && e.message.contains("no default branch")));
        let cfg =
            json!({"repoURL": url, "checkout": [{"branch": "main", "create": true, "path": "m"}]});
        let res = with_ctx(&work, &empty, |ctx| GitClone.run(ctx, &cfg))?;
        assert_eq!(res.shared["git"]["checkouts"]["m"]["branch"], json!("main"));
        assert_eq!(
            git(&work.join("m"), &["symbolic-ref", "--short", "HEAD"])?,
            "main"
        );
        Ok(())
    }
}
