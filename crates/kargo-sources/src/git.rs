//! Git discovery through the `git` CLI (as Kargo does). Every repository
//! gets one bare mirror under the cache directory, keyed by its
//! normalised URL and shared by every Warehouse that watches it; it is
//! updated with `git fetch`, never re-cloned, and a `git ls-remote`
//! comparison skips the fetch entirely when nothing moved. A
//! subscription's answer is remembered with the refs it was computed
//! from, so a refresh with nothing new costs one `git ls-remote` and no
//! other git process.
//!
//! Git never takes an option from user input: the repository URL goes
//! after `--`, revisions after `--end-of-options`, the `ext::` remote
//! helper is switched off, and a URL that starts with `-` or names a
//! remote helper is refused before git runs.

use crate::filters::{PathFilter, TagFilter};
use kargo_api::urls::normalize_git;
use kargo_api::warehouse::{CommitSelectionStrategy, DiscoveredCommit, GitSubscription};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::process::Command;

/// Git discovery failures, each safe to show a user (no credentials).
#[derive(Debug, Error)]
pub enum GitError {
    /// `git` failed (unreachable host, auth, missing branch...).
    #[error("git {op} {url}: {message}")]
    Command {
        /// What we were doing.
        op: &'static str,
        /// The repository (without credentials).
        url: String,
        /// git's own explanation, trimmed.
        message: String,
    },
    /// The subscription cannot be applied.
    #[error("{0}")]
    Invalid(String),
    /// Local filesystem trouble with the mirror.
    #[error("git mirror {path}: {source}")]
    Io {
        /// Mirror path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Credentials for one repository.
#[derive(Clone, Default)]
pub struct GitCredentials {
    /// Username.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Default)]
struct MirrorState {
    /// Hash of the last `git ls-remote` answer that was fetched.
    fetched_refs: Option<String>,
    /// Remote HEAD's branch, from the last ls-remote.
    default_branch: Option<String>,
}

/// Counters, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GitStats {
    /// `git ls-remote` calls.
    pub ls_remotes: u64,
    /// `git fetch` calls.
    pub fetches: u64,
    /// Mirrors created.
    pub clones: u64,
    /// Discoveries answered from the last result (refs unchanged).
    pub unchanged: u64,
    /// `git` processes run, of any kind.
    pub processes: u64,
}

/// Bound on remembered subscription results; the map is dropped when full.
const MAX_RESULTS: usize = 10_000;

/// A subscription's last answer and the refs it was computed from.
struct LastResult {
    refs_hash: String,
    commits: Vec<DiscoveredCommit>,
}

/// Discovers commits and tags, sharing mirrors between subscriptions.
pub struct GitDiscoverer {
    cache: PathBuf,
    mirrors: Mutex<HashMap<String, Arc<tokio::sync::Mutex<MirrorState>>>>,
    results: Mutex<HashMap<String, LastResult>>,
    stats: Mutex<GitStats>,
    /// Longest one git process may run (`--git-timeout`).
    timeout: std::time::Duration,
}

/// A mirror ready to read.
struct Mirror {
    path: PathBuf,
    default_branch: Option<String>,
    /// Hash of the remote's refs this mirror holds.
    refs_hash: String,
}

fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host))
                if !rest.split('/').next().unwrap_or("").is_empty()
                    && rest.find('@') < rest.find('/') =>
            {
                format!("{scheme}://{host}")
            }
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl GitDiscoverer {
    /// Mirrors live under `cache/git`.
    pub fn new(cache: &Path) -> Self {
        GitDiscoverer {
            cache: cache.join("git"),
            mirrors: Mutex::new(HashMap::new()),
            results: Mutex::new(HashMap::new()),
            stats: Mutex::new(GitStats::default()),
            timeout: std::time::Duration::from_secs(300),
        }
    }

    /// Kills a git process (and what it started) after `timeout` (the
    /// server's `--git-timeout`; default 5 minutes).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Counters so far.
    pub fn stats(&self) -> GitStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self, f: impl FnOnce(&mut GitStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    async fn git(
        &self,
        op: &'static str,
        url: &str,
        args: &[&str],
        dir: Option<&Path>,
        creds: Option<&GitCredentials>,
    ) -> Result<String, GitError> {
        // Credentials reach git through the environment and a config
        // header, never through the command line or the URL.
        let mut cmd = Command::from(crate::git_command::command(
            dir,
            args,
            creds.map(|c| (c.username.as_str(), c.password.as_str())),
            false,
        ));
        // Its own process group, so a timeout kills git's helpers too.
        cmd.kill_on_drop(true)
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        self.bump(|s| s.processes += 1);
        let failed = |message: String| GitError::Command {
            op,
            url: redact(url),
            message,
        };
        let child = cmd
            .spawn()
            .map_err(|e| failed(format!("cannot run git: {e}")))?;
        let group = child.id();
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(out) => out.map_err(|e| failed(format!("cannot run git: {e}")))?,
            Err(_) => {
                if let Some(pid) = group
                    .and_then(|g| i32::try_from(g).ok())
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                return Err(failed(format!(
                    "timed out after {}",
                    kargo_api::validate::format_duration(self.timeout)
                )));
            }
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let msg = stderr
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("failed")
                .trim()
                .replace(url, &redact(url));
            return Err(GitError::Command {
                op,
                url: redact(url),
                message: msg,
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn state(&self, key: &str) -> Arc<tokio::sync::Mutex<MirrorState>> {
        self.mirrors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// The remote's refs as `git ls-remote --symref` prints them. The URL
    /// goes after `--`, so even one that looks like an option
    /// (`--upload-pack=...`) is only ever a repository to git.
    pub async fn ls_remote(
        &self,
        url: &str,
        creds: Option<&GitCredentials>,
    ) -> Result<String, GitError> {
        let refs = self
            .git(
                "ls-remote",
                url,
                &["ls-remote", "--symref", "--", url],
                None,
                creds,
            )
            .await?;
        self.bump(|s| s.ls_remotes += 1);
        Ok(refs)
    }

    /// Brings the mirror of `url` up to date and returns it.
    async fn sync(&self, url: &str, creds: Option<&GitCredentials>) -> Result<Mirror, GitError> {
        let key = normalize_git(url);
        let state = self.state(&key);
        let mut st = state.lock().await;
        let path = self
            .cache
            .join(format!("{}.git", hex::encode(Sha1::digest(key.as_bytes()))));
        let refs = self.ls_remote(url, creds).await?;
        let refs_hash = hex::encode(Sha1::digest(refs.as_bytes()));
        st.default_branch = refs.lines().find_map(|l| {
            l.strip_prefix("ref: refs/heads/")
                .and_then(|r| r.strip_suffix("\tHEAD"))
                .map(String::from)
        });
        let exists = path.join("HEAD").exists();
        if !exists {
            std::fs::create_dir_all(&self.cache).map_err(|source| GitError::Io {
                path: self.cache.clone(),
                source,
            })?;
            let p = path.to_string_lossy().to_string();
            self.git("init", url, &["init", "--bare", "-q", &p], None, None)
                .await?;
            self.bump(|s| s.clones += 1);
        }
        if !exists || st.fetched_refs.as_deref() != Some(refs_hash.as_str()) {
            self.git(
                "fetch",
                url,
                &[
                    "fetch",
                    "--quiet",
                    "--prune",
                    "--prune-tags",
                    "--no-tags",
                    "--force",
                    "--",
                    url,
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                Some(&path),
                creds,
            )
            .await?;
            self.bump(|s| s.fetches += 1);
            st.fetched_refs = Some(refs_hash.clone());
        }
        Ok(Mirror {
            path,
            default_branch: st.default_branch.clone(),
            refs_hash,
        })
    }

    /// Lists what a subscription can see, best first, at most `discoveryLimit`.
    pub async fn discover(
        &self,
        sub: &GitSubscription,
        creds: Option<&GitCredentials>,
    ) -> Result<Vec<DiscoveredCommit>, GitError> {
        // Admission decided about file:// already (the server's
        // --allow-file-repos); an option or a remote helper is never run.
        kargo_api::urls::check_git_repo_url(&sub.repo_url, true)
            .map_err(|e| GitError::Invalid(format!("repoURL: {e}")))?;
        let mirror = self.sync(&sub.repo_url, creds).await?;
        // The answer depends only on the subscription and the refs (an
        // expression that reads the clock is always evaluated anew).
        let key = serde_json::to_string(sub).unwrap_or_default();
        let reusable = !sub.expression_filter.contains("now");
        if reusable {
            let results = self.results.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(last) = results.get(&key)
                && last.refs_hash == mirror.refs_hash
            {
                let commits = last.commits.clone();
                drop(results);
                self.bump(|s| s.unchanged += 1);
                return Ok(commits);
            }
        }
        let commits = self.select(sub, &mirror).await?;
        if reusable {
            let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
            if results.len() >= MAX_RESULTS && !results.contains_key(&key) {
                results.clear();
            }
            results.insert(
                key,
                LastResult {
                    refs_hash: mirror.refs_hash.clone(),
                    commits: commits.clone(),
                },
            );
        }
        Ok(commits)
    }

    /// Reads a subscription's commits or tags from an up-to-date mirror.
    async fn select(
        &self,
        sub: &GitSubscription,
        mirror: &Mirror,
    ) -> Result<Vec<DiscoveredCommit>, GitError> {
        let limit = sub.discovery_limit.unwrap_or(20).clamp(1, 100) as usize;
        let paths =
            PathFilter::new(&sub.include_paths, &sub.exclude_paths).map_err(GitError::Invalid)?;
        let expr = ExprFilter::new(&sub.expression_filter);
        match sub.commit_selection_strategy.unwrap_or_default() {
            CommitSelectionStrategy::NewestFromBranch => {
                let branch = if sub.branch.is_empty() {
                    mirror.default_branch.clone().ok_or_else(|| {
                        GitError::Invalid(format!(
                            "{}: the remote has no default branch; set branch",
                            redact(&sub.repo_url)
                        ))
                    })?
                } else {
                    sub.branch.clone()
                };
                self.branch_commits(&sub.repo_url, mirror, &branch, &paths, &expr, limit)
                    .await
            }
            strategy => {
                let filter = TagFilter::new(
                    &sub.allow_tags,
                    &sub.allow_tags_regexes,
                    &sub.ignore_tags,
                    &sub.ignore_tags_regexes,
                )
                .map_err(GitError::Invalid)?;
                let mut tagged = self.tags(&sub.repo_url, mirror).await?;
                tagged.retain(|(t, _)| filter.allows(&t.tag));
                let mut tags = Vec::new();
                for (t, notes) in tagged {
                    if expr.accepts(&t, Some(&notes))? {
                        tags.push(t);
                    }
                }
                if !paths.is_empty() {
                    let mut kept = Vec::new();
                    for t in tags {
                        let changed = self.changed_paths(&sub.repo_url, mirror, &t.id).await?;
                        if paths.accepts(&changed) {
                            kept.push(t);
                        }
                    }
                    tags = kept;
                }
                sort_tags(strategy, sub, &mut tags)?;
                tags.truncate(limit);
                Ok(tags)
            }
        }
    }

    async fn branch_commits(
        &self,
        url: &str,
        m: &Mirror,
        branch: &str,
        paths: &PathFilter,
        expr: &ExprFilter,
        limit: usize,
    ) -> Result<Vec<DiscoveredCommit>, GitError> {
        let rev = format!("refs/heads/{branch}");
        let scan = if paths.is_empty() && expr.is_empty() {
            limit
        } else {
            (limit * 50).max(500)
        };
        let n = scan.to_string();
        let mut args = vec![
            "log",
            "-n",
            n.as_str(),
            "--format=%x1e%H%x1f%s%x1f%an <%ae>%x1f%cn <%ce>%x1f%cI",
        ];
        if !paths.is_empty() {
            args.push("--name-only");
        }
        args.extend(["--end-of-options", rev.as_str(), "--"]);
        let out = self
            .git("log", url, &args, Some(&m.path), None)
            .await
            .map_err(|e| match e {
                GitError::Command { message, .. }
                    if message.contains("unknown revision") || message.contains("bad revision") =>
                {
                    GitError::Invalid(format!(
                        "branch {branch:?} does not exist in {}",
                        redact(url)
                    ))
                }
                other => other,
            })?;
        let mut commits = Vec::new();
        for rec in out.split('\x1e').filter(|r| !r.trim().is_empty()) {
            let mut lines = rec.lines();
            let header = lines.next().unwrap_or("");
            let f: Vec<&str> = header.split('\x1f').collect();
            if f.len() < 5 {
                continue;
            }
            if !paths.is_empty() {
                let changed: Vec<String> = lines
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                if !paths.accepts(&changed) {
                    continue;
                }
            }
            let commit = DiscoveredCommit {
                id: f[0].into(),
                branch: branch.into(),
                tag: String::new(),
                subject: f[1].into(),
                author: f[2].into(),
                committer: f[3].into(),
                creator_date: Some(f[4].into()),
            };
            if !expr.accepts(&commit, None)? {
                continue;
            }
            commits.push(commit);
            if commits.len() == limit {
                break;
            }
        }
        Ok(commits)
    }

    /// Every tag with what an `expressionFilter` sees of it; for an
    /// annotated tag, the id, subject, author and committer are those of the
    /// tagged commit, as in Kargo.
    async fn tags(
        &self,
        url: &str,
        m: &Mirror,
    ) -> Result<Vec<(DiscoveredCommit, TagNotes)>, GitError> {
        // for-each-ref's email fields carry their angle brackets.
        let fmt = "--format=%(refname:strip=2)%1f%(objectname)%1f%(*objectname)%1f%(creatordate:iso-strict)%1f%(subject)%1f%(*subject)%1f%(authorname) %(authoremail)%1f%(*authorname) %(*authoremail)%1f%(committername) %(committeremail)%1f%(*committername) %(*committeremail)%1f%(taggername) %(taggeremail)";
        let out = self
            .git(
                "for-each-ref",
                url,
                &["for-each-ref", fmt, "refs/tags"],
                Some(&m.path),
                None,
            )
            .await?;
        let pick = |a: &str, b: &str| {
            if b.trim().is_empty() {
                a.trim().to_string()
            } else {
                b.trim().to_string()
            }
        };
        Ok(out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\x1f').collect();
                if f.len() < 11 {
                    return None;
                }
                let annotated = !f[2].trim().is_empty();
                let commit = DiscoveredCommit {
                    tag: f[0].into(),
                    id: pick(f[1], f[2]),
                    branch: String::new(),
                    creator_date: Some(f[3].into()),
                    subject: pick(f[4], f[5]),
                    author: pick(f[6], f[7]),
                    committer: pick(f[8], f[9]),
                };
                let notes = if annotated {
                    TagNotes {
                        tagger: f[10].trim().to_string(),
                        annotation: f[4].to_string(),
                    }
                } else {
                    TagNotes::default()
                };
                Some((commit, notes))
            })
            .collect())
    }

    async fn changed_paths(
        &self,
        url: &str,
        m: &Mirror,
        id: &str,
    ) -> Result<Vec<String>, GitError> {
        let out = self
            .git(
                "diff-tree",
                url,
                &[
                    "diff-tree",
                    "--no-commit-id",
                    "--name-only",
                    "-r",
                    "--root",
                    "--end-of-options",
                    id,
                ],
                Some(&m.path),
                None,
            )
            .await?;
        Ok(out.lines().map(String::from).collect())
    }
}

/// Orders tags by the subscription's strategy (best first).
pub fn sort_tags(
    strategy: CommitSelectionStrategy,
    sub: &GitSubscription,
    tags: &mut Vec<DiscoveredCommit>,
) -> Result<(), GitError> {
    match strategy {
        CommitSelectionStrategy::Lexical => tags.sort_by(|a, b| b.tag.cmp(&a.tag)),
        CommitSelectionStrategy::NewestTag => {
            tags.sort_by(|a, b| b.creator_date.cmp(&a.creator_date).then(b.tag.cmp(&a.tag)))
        }
        CommitSelectionStrategy::SemVer => semver_sort(sub, tags)?,
        CommitSelectionStrategy::NewestFromBranch => {}
    }
    Ok(())
}

/// Parses a tag as Kargo does: Masterminds' lenient parser (a leading `v`
/// is fine); "strict" additionally requires all of major, minor and patch.
pub fn parse_tag_version(tag: &str, strict: bool) -> Option<kargo_expr::semver::Version> {
    let v = kargo_expr::parse_version(tag, false)?;
    if strict {
        let core = tag.trim_start_matches(['v', 'V']);
        let core = core.split(['-', '+']).next().unwrap_or("");
        if core.split('.').count() != 3 {
            return None;
        }
    }
    Some(v)
}

/// SemVer: tags that parse as versions (strictly unless `strictSemvers:
/// false`) and satisfy the constraint, greatest first.
fn semver_sort(sub: &GitSubscription, tags: &mut Vec<DiscoveredCommit>) -> Result<(), GitError> {
    let strict = sub.strict_semvers.unwrap_or(true);
    let constraint = if sub.semver_constraint.trim().is_empty() {
        None
    } else {
        Some(
            kargo_expr::Constraint::parse(&sub.semver_constraint).map_err(|e| {
                GitError::Invalid(format!("semverConstraint {:?}: {e}", sub.semver_constraint))
            })?,
        )
    };
    let mut versioned: Vec<(kargo_expr::semver::Version, DiscoveredCommit)> = tags
        .drain(..)
        .filter_map(|t| parse_tag_version(&t.tag, strict).map(|v| (v, t)))
        .filter(|(v, _)| constraint.as_ref().is_none_or(|c| c.matches(v)))
        .collect();
    versioned.sort_by(|a, b| kargo_expr::semver::compare(&b.0, &a.0).then(b.1.tag.cmp(&a.1.tag)));
    tags.extend(versioned.into_iter().map(|(_, t)| t));
    Ok(())
}

/// What an annotated tag adds for `expressionFilter`: `tagger` (`name
/// <email>`) and `annotation` (the tag message's subject); empty for a
/// lightweight tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagNotes {
    pub tagger: String,
    pub annotation: String,
}

/// `expressionFilter`: an expression over each commit (`id`, `commitDate`,
/// `author`, `committer`, `subject`) or tag (`tag`, `id`, `creatorDate`,
/// `author`, `committer`, `subject`, `tagger`, `annotation`); only those for
/// which it is true are kept. `commitDate` and `creatorDate` are times (`creatorDate.Year()`,
/// `commitDate.After(date('2025-01-01'))`); a result that is not a bool is
/// read as Kargo reads it (`1`/`0`, `"true"`, ... via Go's `ParseBool`).
pub struct ExprFilter {
    expr: String,
}

impl ExprFilter {
    /// A filter; an empty expression keeps everything.
    pub fn new(expr: &str) -> Self {
        ExprFilter {
            expr: expr.trim().to_string(),
        }
    }

    /// True when there is no expression.
    pub fn is_empty(&self) -> bool {
        self.expr.is_empty()
    }

    /// Whether the commit (or, with its [`TagNotes`], the tag) passes.
    pub fn accepts(&self, c: &DiscoveredCommit, tag: Option<&TagNotes>) -> Result<bool, GitError> {
        if self.expr.is_empty() {
            return Ok(true);
        }
        let mut env = kargo_expr::Env::new()
            .set("id", c.id.clone().into())
            .set("author", c.author.clone().into())
            .set("committer", c.committer.clone().into())
            .set("subject", c.subject.clone().into());
        let date_var = match tag {
            Some(notes) => {
                env = env
                    .set("tag", c.tag.clone().into())
                    .set("tagger", notes.tagger.clone().into())
                    .set("annotation", notes.annotation.clone().into());
                "creatorDate"
            }
            None => "commitDate",
        };
        env = match c.creator_date.as_deref() {
            Some(date) => env
                .set_time(date_var, date)
                .map_err(|e| GitError::Invalid(format!("expressionFilter: {e}")))?,
            // Go's zero time, what Kargo holds when git reports no date.
            None => env
                .set_time(date_var, "0001-01-01T00:00:00Z")
                .map_err(|e| GitError::Invalid(format!("expressionFilter: {e}")))?,
        };
        kargo_expr::Evaluator::new(&env, &kargo_expr::NoLookup)
            .evaluate_filter(&self.expr)
            .map_err(|e| GitError::Invalid(format!("expressionFilter: {e}")))
    }
}

#[cfg(test)]
mod expr_filter_tests {
    //! Kargo's own tables for `expressionFilter`, ported as data:
    //! `Test_tagBasedSelector_filterTagsByExpression` and
    //! `Test_newestFromBranchSelector_evaluateCommitExpression`
    //! (pkg/controller/git/commit/*_test.go).

    use super::*;

    fn commit(
        id: &str,
        tag: &str,
        author: &str,
        subject: &str,
        date: Option<&str>,
    ) -> DiscoveredCommit {
        DiscoveredCommit {
            id: id.into(),
            tag: tag.into(),
            author: author.into(),
            subject: subject.into(),
            creator_date: date.map(String::from),
            ..Default::default()
        }
    }

    /// (name, expression, tags as (tag, author, date), kept tags or `Err(substring)`).
    type TagRow = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str, Option<&'static str>)],
        Result<&'static [&'static str], &'static str>,
    );

    const TAG_ROWS: &[TagRow] = &[
        (
            "empty expression returns all tags",
            "",
            &[("v1.0.0", "", None), ("v2.0.0", "", None)],
            Ok(&["v1.0.0", "v2.0.0"]),
        ),
        (
            "boolean expression filters correctly",
            "hasPrefix(tag, 'v1.')",
            &[
                ("v1.0.0", "", None),
                ("v2.0.0", "", None),
                ("v1.2.3", "", None),
            ],
            Ok(&["v1.0.0", "v1.2.3"]),
        ),
        (
            "non-boolean expression converted to boolean",
            "1",
            &[("v1.0.0", "", None), ("v2.0.0", "", None)],
            Ok(&["v1.0.0", "v2.0.0"]),
        ),
        (
            "non-boolean expression false",
            "0",
            &[("v1.0.0", "", None), ("v2.0.0", "", None)],
            Ok(&[]),
        ),
        // Upstream: "error parsing expression result"; ours names the value.
        (
            "error parsing non-boolean result",
            "'invalid'",
            &[("v1.0.0", "", None)],
            Err("evaluated to \"invalid\""),
        ),
        (
            "complex expression with tag metadata",
            "tag contains '1.' && author == 'test-author'",
            &[
                ("v1.0.0", "test-author", None),
                ("v1.2.3", "other-author", None),
                ("v2.0.0", "test-author", None),
            ],
            Ok(&["v1.0.0"]),
        ),
        (
            "expression with date comparison",
            "creatorDate.Year() >= 2023",
            &[
                ("v1.0.0", "", Some("2023-01-01T00:00:00Z")),
                ("v2.0.0", "", Some("2022-01-01T00:00:00Z")),
            ],
            Ok(&["v1.0.0"]),
        ),
    ];

    #[test]
    fn kargo_tag_filter_table() {
        assert_eq!(TAG_ROWS.len(), 7, "upstream rows");
        for (name, expression, tags, want) in TAG_ROWS {
            let filter = ExprFilter::new(expression);
            let mut kept = Vec::new();
            let mut error = None;
            for (tag, author, date) in *tags {
                match filter.accepts(
                    &commit("", tag, author, "", *date),
                    Some(&TagNotes::default()),
                ) {
                    Ok(true) => kept.push(*tag),
                    Ok(false) => {}
                    Err(e) => error = Some(e.to_string()),
                }
            }
            match want {
                Ok(expected) => {
                    assert_eq!(error, None, "{name}");
                    assert_eq!(kept, expected.to_vec(), "{name}");
                }
                Err(sub) => assert!(
                    error.as_deref().is_some_and(|e| e.contains(sub)),
                    "{name}: {error:?}"
                ),
            }
        }
    }

    /// (name, expression, commit as (id, author, subject, date), result or `Err(substring)`).
    type CommitRow = (
        &'static str,
        &'static str,
        (
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
        ),
        Result<bool, &'static str>,
    );

    const COMMIT_ROWS: &[CommitRow] = &[
        (
            "boolean true expression",
            "true",
            ("abc", "", "", None),
            Ok(true),
        ),
        (
            "boolean false expression",
            "false",
            ("abc", "", "", None),
            Ok(false),
        ),
        (
            "expression with commit data",
            "id == 'abc' && author == 'test-author'",
            ("abc", "test-author", "", None),
            Ok(true),
        ),
        (
            "expression with commit data false",
            "id == 'xyz'",
            ("abc", "", "", None),
            Ok(false),
        ),
        (
            "non-boolean result converted to true",
            "1",
            ("abc", "", "", None),
            Ok(true),
        ),
        (
            "non-boolean result converted to false",
            "0",
            ("abc", "", "", None),
            Ok(false),
        ),
        // Upstream: Go's "invalid syntax" from strconv.ParseBool; ours names the value.
        (
            "error parsing non-boolean result",
            "'invalid'",
            ("abc", "", "", None),
            Err("evaluated to \"invalid\""),
        ),
        (
            "expression with date comparison",
            "commitDate.Year() >= 2023",
            ("abc", "", "", Some("2023-06-01T00:00:00Z")),
            Ok(true),
        ),
        (
            "expression with subject matching",
            "subject contains 'fix:'",
            ("abc", "", "fix: resolve issue with authentication", None),
            Ok(true),
        ),
    ];

    #[test]
    fn kargo_commit_filter_table() {
        assert_eq!(COMMIT_ROWS.len(), 9, "upstream rows");
        for (name, expression, (id, author, subject, date), want) in COMMIT_ROWS {
            let got = ExprFilter::new(expression)
                .accepts(&commit(id, "", author, subject, *date), None)
                .map_err(|e| e.to_string());
            match want {
                Ok(b) => assert_eq!(got, Ok(*b), "{name}"),
                Err(sub) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(sub)),
                    "{name}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn documented_date_filters() {
        let c = commit(
            "abc",
            "v1.2.0",
            "Example Bot",
            "",
            Some("2025-03-01T10:00:00+02:00"),
        );
        let notes = TagNotes {
            tagger: "Rel Eng <rel@example.com>".into(),
            annotation: "release 1.2".into(),
        };
        let tag = Some(&notes);
        let f = |e: &str, tag| {
            ExprFilter::new(e)
                .accepts(&c, tag)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            f(
                "!(author == 'Example Bot') && commitDate.After(date('2025-01-01'))",
                None
            ),
            Ok(false)
        );
        assert_eq!(f("commitDate.After(date('2025-01-01'))", None), Ok(true));
        assert_eq!(
            f(
                "creatorDate.After(date('2024-01-01')) && !(tag contains 'alpha')",
                tag
            ),
            Ok(true)
        );
        assert_eq!(f("creatorDate.Year() >= 2026", tag), Ok(false));
        assert_eq!(f("now() - commitDate > duration('1h')", None), Ok(true));
        assert_eq!(
            f(
                "tagger contains 'rel@' && annotation startsWith 'release'",
                tag
            ),
            Ok(true)
        );
        assert_eq!(
            f("commitDate.Format('2006-01-02')", None).map_err(|e| e.contains("2025-03-01")),
            Err(true)
        );
    }
}
