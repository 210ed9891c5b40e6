//! `git-open-pr`: opens a pull request from `sourceBranch` into
//! `targetBranch`, as Kargo does.
//!
//! - Idempotent through its own prior output: when this step (same alias)
//!   already output `pr.id`, it succeeds again with that output.
//! - Fetches the head of the source branch (depth 1) and reuses an open
//!   pull request for the same branches whose head is that commit (the
//!   newest, if several).
//! - A target branch the remote lacks is an error; no difference between
//!   the two branches → `Skipped` (a forge refuses an empty pull request).
//! - Title and description come from the head commit's message (first
//!   line, rest) unless given; a link back to the Stage in the Kargo UI
//!   is appended to the description when the UI's address is known.
//! - `labels` are put on the new pull request.
//!
//! Config (Kargo's `GitOpenPRConfig`): `repoURL`, `sourceBranch`,
//! `targetBranch` (required), `title`, `description`, `labels`,
//! `provider`, `insecureSkipTLSVerify`, `createTargetBranch` (deprecated,
//! no-op). Outputs: `pr` {`id`, `url`}.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{ConfigCheck, temp_path};
use super::pr;
use crate::forge::{Forge, NewPullRequest, PullRequest};
use crate::git::{self, Git, Remote};
use crate::step::{Step, StepContext, StepError, StepResult, StepStatus};

const NAME: &str = "git-open-pr";

/// Config of `git-open-pr`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitOpenPrConfig {
    /// The repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The branch with the changes.
    pub source_branch: String,
    /// The branch to merge them into.
    pub target_branch: String,
    /// Deprecated in Kargo; ignored.
    #[serde(default)]
    pub create_target_branch: bool,
    /// Title (default: the head commit's first line).
    #[serde(default)]
    pub title: Option<String>,
    /// Description (default: the rest of the head commit's message).
    #[serde(default)]
    pub description: Option<String>,
    /// Labels for the pull request.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Git provider (inferred from the URL when absent).
    #[serde(default)]
    pub provider: Option<String>,
    /// Skip TLS verification (git and the forge).
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
}

/// Checks and decodes a `git-open-pr` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<GitOpenPrConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    pr::check_repo_and_provider(&mut c);
    c.required_string("targetBranch")
        .required_string("sourceBranch")
        .non_empty("title")
        .non_empty("description");
    if let Some(labels) = c.get("labels").and_then(Value::as_array) {
        for (i, l) in labels.iter().enumerate() {
            if l.as_str() == Some("") {
                c.problem(format!("labels[{i}]: must not be empty"));
            }
        }
    }
    c.parse(NAME, config)
}

/// The `git-open-pr` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitOpenPr;

impl Step for GitOpenPr {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let c = parse(config)?;
        if let Some(prior) = prior_output(ctx)? {
            return Ok(StepResult::succeeded(prior));
        }
        let forge = pr::forge_for(
            NAME,
            ctx,
            &c.repo_url,
            c.provider.as_deref(),
            c.insecure_skip_tls_verify,
        )?;
        open_pr(ctx, &c, forge.as_ref())
    }
}

/// This step's output from an earlier run, when it holds `pr.id`.
fn prior_output(ctx: &StepContext<'_>) -> Result<Option<Map<String, Value>>, StepError> {
    let Some(prior) = ctx.outputs.get(ctx.alias) else {
        return Ok(None);
    };
    let Some(prior) = prior.as_object() else {
        return Err(StepError::retryable(
            NAME,
            format!(
                "output from step with alias {:?} is not an object",
                ctx.alias
            ),
        ));
    };
    match prior.get("pr").and_then(|p| p.get("id")) {
        None => Ok(None),
        Some(id) if id.is_number() => Ok(Some(prior.clone())),
        Some(_) => Err(StepError::retryable(
            NAME,
            format!(
                "PR ID in output from step with alias {:?} is not a number",
                ctx.alias
            ),
        )),
    }
}

/// A scratch repository in the work directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Orders candidates as Kargo's `sortPullRequests`: open first, then
/// merged, then closed unmerged; newest first within each.
pub fn sort_pull_requests(prs: &mut [PullRequest]) {
    prs.sort_by(|a, b| {
        let rank = |p: &PullRequest| match (p.open, p.merged) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        };
        rank(a)
            .cmp(&rank(b))
            .then_with(|| b.created_at.cmp(&a.created_at))
    });
}

/// Opens (or finds) the pull request, with `forge` as the provider.
pub fn open_pr(
    ctx: &StepContext<'_>,
    c: &GitOpenPrConfig,
    forge: &dyn Forge,
) -> Result<StepResult, StepError> {
    let git = ctx.git();
    let remote = Remote {
        url: c.repo_url.clone(),
        credentials: ctx.credentials.git_credentials(&c.repo_url),
        insecure_skip_tls_verify: c.insecure_skip_tls_verify,
    };
    let scratch = Scratch(temp_path(ctx.work_dir, ".git-open-pr-"));
    let dir = scratch.0.as_path();
    let fail = |what: &str, e: git::GitFailure| StepError::retryable(NAME, format!("{what}: {e}"));
    let shown = git::redact(&c.repo_url);
    let dir_s = dir.to_string_lossy();
    git.run(None, None, &["init", "-q", "--bare", &dir_s])
        .map_err(|e| fail("error preparing a scratch repository", e))?;
    let (src, target) = (c.source_branch.as_str(), c.target_branch.as_str());
    fetch(&git, dir, &remote, src).map_err(|e| fail(&format!("error cloning {shown}"), e))?;
    let src_ref = format!("refs/remotes/origin/{src}");
    let head_sha = git
        .run(Some(dir), None, &["rev-parse", &src_ref])
        .map_err(|e| fail("error getting last commit ID", e))?;

    let mut existing = forge
        .list_open_pull_requests(src, target, &head_sha)
        .map_err(|e| {
            StepError::retryable(
                NAME,
                format!("error determining if pull request already exists: error listing pull requests: {e}"),
            )
        })?;
    sort_pull_requests(&mut existing);
    if let Some(found) = existing.first().filter(|p| p.open || p.merged) {
        return Ok(succeeded(found));
    }

    let message = git
        .run(Some(dir), None, &["log", "-1", "--format=%B", &src_ref])
        .map_err(|e| {
            fail(
                &format!("error getting commit message from head of branch {src}"),
                e,
            )
        })?;
    let listed = git
        .run(
            None,
            Some(&remote),
            &[
                "ls-remote",
                "--heads",
                &c.repo_url,
                &format!("refs/heads/{target}"),
            ],
        )
        .map_err(|e| {
            fail(
                &format!("error checking if remote branch {target:?} of repo {shown} exists"),
                e,
            )
        })?;
    if listed.trim().is_empty() {
        return Err(StepError::retryable(
            NAME,
            format!("target branch {target:?} does not exist"),
        ));
    }
    fetch(&git, dir, &remote, target).map_err(|e| fail(&format!("error fetching {target}"), e))?;
    let target_ref = format!("refs/remotes/origin/{target}");
    let args = ["diff", "--quiet", src_ref.as_str(), target_ref.as_str()];
    let out = git
        .exit_status(git::command(Some(dir), None, &args), &args, None)
        .map_err(|e| fail("error comparing branches", e))?;
    match out.status.code() {
        Some(0) => {
            return Ok(StepResult {
                status: Some(StepStatus::Skipped),
                message: format!("no differences between {src} and {target}"),
                ..Default::default()
            });
        }
        Some(1) => {}
        _ => {
            return Err(StepError::retryable(
                NAME,
                format!(
                    "failed to check for changes between remote branches origin/{src} and origin/{target}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
    }

    let (title, description) = title_and_description(c, &message);
    let description = match ctx.ui_base_url.filter(|u| !u.is_empty()) {
        Some(ui) => format!(
            "{description}\n\n[View in Kargo UI]({}/project/{}/stage/{})",
            ui.trim_end_matches('/'),
            ctx.promotion.project,
            ctx.promotion.stage
        ),
        None => description,
    };
    let created = forge
        .create_pull_request(&NewPullRequest {
            head: src,
            base: target,
            title: &title,
            description: &description,
            labels: &c.labels,
        })
        .map_err(|e| StepError::retryable(NAME, format!("error creating pull request: {e}")))?;
    Ok(succeeded(&created))
}

/// Fetches the head of `branch` (depth 1) into `refs/remotes/origin/`.
fn fetch(git: &Git<'_>, dir: &Path, remote: &Remote, branch: &str) -> Result<(), git::GitFailure> {
    let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
    git.run(
        Some(dir),
        Some(remote),
        &["fetch", "-q", "--depth=1", &remote.url, &refspec],
    )
    .map(|_| ())
}

/// Kargo's title and description: the configured ones, else the head
/// commit's first line and the rest of its message.
fn title_and_description(c: &GitOpenPrConfig, message: &str) -> (String, String) {
    let configured = c.description.clone().filter(|d| !d.is_empty());
    match c.title.clone().filter(|t| !t.is_empty()) {
        Some(title) => (title, configured.unwrap_or_else(|| message.to_string())),
        None => {
            let (first, rest) = message.split_once('\n').unwrap_or((message, ""));
            (
                first.to_string(),
                configured.unwrap_or_else(|| rest.to_string()),
            )
        }
    }
}

fn succeeded(pr: &PullRequest) -> StepResult {
    let mut outputs = Map::new();
    outputs.insert("pr".into(), pr::pr_output(pr, false));
    StepResult::succeeded(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ForgeError;
    use crate::git::testutil::{TestResult, bare_repo, git};
    use crate::steps::files::fixture::check_configs;
    use crate::steps::pr::fake::FakeForge;
    use serde_json::json;

    #[test]
    fn upstream_config_rows() {
        let ok = &[][..];
        let gh = "https://github.com/example/repo.git";
        let valid = |extra: Value| {
            let mut v = json!({"provider": "github", "repoURL": gh, "sourceBranch": "fake-branch", "targetBranch": "another-fake-branch"});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let rows: &[(&str, Value, &[&str])] = &[
            ("repoURL not specified", json!({}), &["repoURL: required"]),
            (
                "repoURL is empty string",
                json!({"repoURL": ""}),
                &["repoURL: must not be empty"],
            ),
            (
                "targetBranch not specified",
                json!({}),
                &["targetBranch: required"],
            ),
            (
                "targetBranch is empty string",
                json!({"targetBranch": ""}),
                &["targetBranch: must not be empty"],
            ),
            (
                "sourceBranch is empty string",
                json!({"sourceBranch": ""}),
                &["sourceBranch: must not be empty"],
            ),
            (
                "provider is an invalid value",
                json!({"provider": "bogus"}),
                &["provider: \"bogus\" must be one of the following:"],
            ),
            (
                "valid without explicit provider",
                json!({"repoURL": gh, "sourceBranch": "fake-branch", "targetBranch": "another-fake-branch"}),
                ok,
            ),
            ("valid with explicit provider", valid(json!({})), ok),
            (
                "valid with custom title",
                valid(json!({"title": "custom title"})),
                ok,
            ),
            (
                "invalid with empty title",
                valid(json!({"title": ""})),
                &["title: must not be empty"],
            ),
            (
                "valid with custom description",
                valid(json!({"description": "custom description"})),
                ok,
            ),
            (
                "invalid with empty description",
                valid(json!({"description": ""})),
                &["description: must not be empty"],
            ),
        ];
        assert_eq!(rows.len(), 12); // Kargo's Test_gitPROpener_convert: 12 rows
        check_configs(parse, rows);
        check_configs(
            parse,
            &[
                (
                    "labels and the deprecated createTargetBranch",
                    valid(json!({"labels": ["kargo"], "createTargetBranch": true})),
                    ok,
                ),
                (
                    "an empty label",
                    valid(json!({"labels": [""]})),
                    &["labels[0]: must not be empty"],
                ),
            ],
        );
    }

    #[test]
    fn upstream_sort_rows() {
        // Kargo's Test_gitPROpener_sortPullRequests: six pull requests laid
        // out in the reverse of their sorted order.
        let newer = jiff::Timestamp::now();
        let older = newer - jiff::SignedDuration::from_hours(1);
        let pr = |number, open, merged, at| PullRequest {
            number,
            open,
            merged,
            created_at: Some(at),
            ..Default::default()
        };
        let orig = vec![
            pr(6, false, false, older),
            pr(5, false, false, newer),
            pr(4, false, true, older),
            pr(3, false, true, newer),
            pr(2, true, false, older),
            pr(1, true, false, newer),
        ];
        assert_eq!(orig.len(), 6); // Kargo's Test_gitPROpener_sortPullRequests: 6 PRs
        let mut sorted = orig.clone();
        sort_pull_requests(&mut sorted);
        let mut want = orig;
        want.reverse();
        assert_eq!(sorted, want);
    }

    /// Runs `f` with a context over `work` (project `fake-project`,
    /// Stage `fake-stage`, alias `open`).
    fn in_ctx<R>(
        work: &Path,
        outputs: &Map<String, Value>,
        ui: Option<&str>,
        f: impl FnOnce(&StepContext<'_>) -> R,
    ) -> R {
        let promotion = kargo_expr::PromotionContext {
            project: "fake-project".into(),
            stage: "fake-stage".into(),
            ..Default::default()
        };
        let empty = Map::new();
        let limits = crate::limits::Limits::default();
        f(&StepContext {
            work_dir: work,
            alias: "open",
            promotion: &promotion,
            outputs,
            shared: &empty,
            credentials: &crate::git::NoCredentials,
            apps: None,
            objects: None,
            allow_file_repos: true,
            limits: &limits,
            ui_base_url: ui,
        })
    }

    /// Runs `open_pr` in a fresh work directory against `url`.
    fn run_open(
        url: &str,
        cfg: Value,
        forge: &FakeForge,
        ui: Option<&str>,
    ) -> Result<StepResult, StepError> {
        let work = tempfile::tempdir().unwrap();
        let mut c: GitOpenPrConfig = parse(&cfg).unwrap();
        c.repo_url = url.to_string();
        let res = in_ctx(work.path(), &Map::new(), ui, |ctx| open_pr(ctx, &c, forge));
        // The scratch repository is gone.
        assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
        res
    }

    #[test]
    fn upstream_run_rows() -> TestResult {
        // Kargo's Test_gitPROpener_run: a source branch with one commit,
        // then (1) no target branch → error, (2) a target branch equal to
        // it → Skipped, (3) a target branch with a change → opened.
        let tmp = tempfile::tempdir()?;
        let (bare, url) = bare_repo(tmp.path())?;
        let work = tmp.path().join("w");
        git(tmp.path(), &["clone", "-q", &url, "w"])?;
        git(&work, &["checkout", "-q", "--orphan", "source"])?;
        std::fs::write(work.join("source"), "foo")?;
        git(&work, &["add", "-A"])?;
        git(&work, &["commit", "-q", "-m", "Initial commit"])?;
        git(&work, &["push", "-q", "origin", "source"])?;
        let fake = || FakeForge {
            list: Some(Box::new(|| Ok(Vec::new()))),
            create: Some(Box::new(|| {
                Ok(PullRequest {
                    number: 42,
                    url: "http://example.com/pull/42".into(),
                    open: true,
                    ..Default::default()
                })
            })),
            ..Default::default()
        };
        let cfg = json!({"repoURL": "x", "sourceBranch": "source", "targetBranch": "target"});
        let mut rows = 0;

        rows += 1; // fail when remote target branch does not exist
        let e = run_open(&url, cfg.clone(), &fake(), None).unwrap_err();
        assert!(!e.terminal);
        assert!(
            e.message
                .contains("target branch \"target\" does not exist"),
            "{e}"
        );

        rows += 1; // skip when target branch exists but has no changes
        git(&work, &["push", "-q", "origin", "source:target"])?;
        let f = fake();
        let r = run_open(&url, cfg.clone(), &f, None)?;
        assert_eq!(r.status(), StepStatus::Skipped);
        assert!(
            f.calls
                .lock()
                .unwrap()
                .iter()
                .all(|c| !c.starts_with("create"))
        );

        rows += 1; // successfully opens PR when target branch exists and has changes
        git(&work, &["checkout", "-q", "-b", "target"])?;
        std::fs::write(work.join("some-file.txt"), "some changes")?;
        git(&work, &["add", "-A"])?;
        git(&work, &["commit", "-q", "-m", "my commit msg"])?;
        git(&work, &["push", "-q", "origin", "target"])?;
        let f = fake();
        let mut c = cfg.clone();
        c["title"] = json!("kargo");
        c["description"] = json!("kargo description");
        c["createTargetBranch"] = json!(true);
        let r = run_open(&url, c, &f, None)?;
        assert_eq!(r.status(), StepStatus::Succeeded);
        assert_eq!(
            r.outputs["pr"],
            json!({"id": 42, "url": "http://example.com/pull/42"})
        );
        let head = git(&bare, &["rev-parse", "source"])?;
        assert_eq!(
            *f.calls.lock().unwrap(),
            vec![
                format!("list source target {head}"),
                "create source->target kargo|kargo description|".to_string()
            ]
        );
        assert_eq!(rows, 3); // Kargo's Test_gitPROpener_run: 3 subtests

        // Without a title: the head commit's message, the UI link, labels.
        git(&work, &["checkout", "-q", "source"])?;
        std::fs::write(work.join("source"), "bar")?;
        git(
            &work,
            &["commit", "-q", "-am", "Promote prod\n\nFreight abc"],
        )?;
        git(&work, &["push", "-q", "origin", "source"])?;
        let f = fake();
        let mut c = cfg.clone();
        c["labels"] = json!(["kargo", "prod"]);
        run_open(&url, c, &f, Some("https://kargo.example.com/"))?;
        assert_eq!(
            f.calls.lock().unwrap()[1],
            "create source->target Promote prod|\nFreight abc\n\n[View in Kargo UI](https://kargo.example.com/project/fake-project/stage/fake-stage)|kargo,prod"
        );

        // An open pull request for the same head is reused, not reopened.
        let f = FakeForge {
            list: Some(Box::new(|| {
                Ok(vec![PullRequest {
                    number: 7,
                    url: "u7".into(),
                    open: true,
                    ..Default::default()
                }])
            })),
            ..Default::default()
        };
        let r = run_open(&url, cfg.clone(), &f, None)?;
        assert_eq!(r.outputs["pr"], json!({"id": 7, "url": "u7"}));
        assert_eq!(f.calls.lock().unwrap().len(), 1);

        // A missing source branch, and a forge that fails, are retryable.
        let mut c = cfg.clone();
        c["sourceBranch"] = json!("nope");
        let e = run_open(&url, c, &fake(), None).unwrap_err();
        assert!(!e.terminal && e.message.contains("error cloning"), "{e}");
        let f = FakeForge {
            list: Some(Box::new(|| Err(ForgeError::other("boom")))),
            ..Default::default()
        };
        let e = run_open(&url, cfg, &f, None).unwrap_err();
        assert!(
            e.message.contains("error listing pull requests: boom"),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn prior_output_short_circuits() {
        let cfg =
            json!({"repoURL": "https://github.com/o/r", "sourceBranch": "a", "targetBranch": "b"});
        let mut outputs = Map::new();
        outputs.insert("open".into(), json!({"pr": {"id": 9, "url": "u"}}));
        let r = in_ctx(Path::new("/nonexistent"), &outputs, None, |ctx| {
            GitOpenPr.run(ctx, &cfg)
        })
        .unwrap();
        assert_eq!(r.outputs["pr"], json!({"id": 9, "url": "u"}));
        outputs.insert("open".into(), json!({"pr": {"id": "nine"}}));
        let e = in_ctx(Path::new("/nonexistent"), &outputs, None, |ctx| {
            GitOpenPr.run(ctx, &cfg)
        })
        .unwrap_err();
        assert!(e.message.contains("is not a number"), "{e}");
    }
}
