//! The `git` CLI wrapper the git steps share: the command line comes from
//! [`kargo_sources::git_command`] (the one Warehouse discovery runs too:
//! hardening flags, no prompts, credentials through the environment as an
//! `http.extraHeader` set with `GIT_CONFIG_COUNT/KEY/VALUE`, never an
//! argument or a URL); this module runs it and redacts secrets from
//! errors.
//!
//! Every process runs under the Promotion's [`Limits`] ([`Git`]): a
//! remote that never answers cannot hold a step beyond `--git-timeout`,
//! and an abort kills git at once.
//!
//! [`Git::head`] reads what HEAD is from git's files ([`head`]), so the
//! steps run one git process per operation and none to look around.
//!
//! Git never takes an option from user input: every URL or path that
//! comes from a config goes after `--` (or `--end-of-options` for
//! revisions), and the `ext::` remote helper is switched off.

use std::fmt;
use std::path::Path;
use std::process::{Command, Output};

use crate::limits::{ChildError, Limits};

mod head;
pub mod provider;
pub use head::Head;

/// Username and password (or token) for a git server over HTTP(S).
#[derive(Clone, PartialEq, Eq)]
pub struct GitCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Finds credentials for a repository URL (Kargo reads them from Secrets).
pub trait CredentialLookup: Sync {
    /// Credentials for `repo_url`, if any.
    fn git_credentials(&self, repo_url: &str) -> Option<GitCredentials>;
    /// Credentials for the image or OCI artifact repository `repo`
    /// (`registry/repository`), if any; none unless the caller provides
    /// them.
    fn registry_credentials(&self, _repo: &str) -> Option<GitCredentials> {
        None
    }
    /// Credentials for the Helm chart repository `repo_url` (an
    /// `https://` repository, or `oci://registry/path/chart`), if any;
    /// none unless the caller provides them.
    fn chart_credentials(&self, _repo_url: &str) -> Option<GitCredentials> {
        None
    }
}

/// No credentials anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentials;

impl CredentialLookup for NoCredentials {
    fn git_credentials(&self, _repo_url: &str) -> Option<GitCredentials> {
        None
    }
}

/// Any closure `Fn(&str) -> Option<GitCredentials>` is a lookup.
impl<F> CredentialLookup for F
where
    F: Fn(&str) -> Option<GitCredentials> + Sync,
{
    fn git_credentials(&self, repo_url: &str) -> Option<GitCredentials> {
        self(repo_url)
    }
}

/// How to talk to one remote.
#[derive(Clone, Debug, Default)]
pub struct Remote {
    /// Remote URL (only used to redact it and look credentials up).
    pub url: String,
    /// Credentials for HTTP(S).
    pub credentials: Option<GitCredentials>,
    /// `insecureSkipTLSVerify`.
    pub insecure_skip_tls_verify: bool,
}

/// A failed git command: what was run (without secrets) and git's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitFailure {
    /// `git push origin HEAD:refs/heads/main`, with URLs redacted.
    pub command: String,
    /// git's stderr (redacted), trimmed.
    pub stderr: String,
}

impl fmt::Display for GitFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed: {}", self.command, self.stderr)
    }
}

/// Removes `user:password@` from URLs in `text` (see [`kargo_api::redact`]).
pub fn redact(text: &str) -> String {
    kargo_api::redact::redact(text)
}

/// Builds a git command in `dir` for `remote` (the shared command line of
/// [`kargo_sources::git_command`]). Credentials, if any, go into the
/// environment only.
pub fn command(dir: Option<&Path>, remote: Option<&Remote>, args: &[&str]) -> Command {
    kargo_sources::git_command::command(
        dir,
        args,
        remote
            .and_then(|r| r.credentials.as_ref())
            .map(|c| (c.username.as_str(), c.password.as_str())),
        remote.is_some_and(|r| r.insecure_skip_tls_verify),
    )
}

/// Runs git commands under a Promotion's [`Limits`]: each process is
/// killed (with whatever it started) after the server's `--git-timeout` or
/// when the Promotion is aborted.
#[derive(Clone, Copy, Debug)]
pub struct Git<'a> {
    limits: &'a Limits,
}

impl<'a> Git<'a> {
    /// Git under `limits`.
    pub fn new(limits: &'a Limits) -> Self {
        Git { limits }
    }

    /// Runs git and returns its stdout, trimmed at the end.
    pub fn run(
        &self,
        dir: Option<&Path>,
        remote: Option<&Remote>,
        args: &[&str],
    ) -> Result<String, GitFailure> {
        let out = self.output(dir, remote, args)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Runs git and returns its whole output, failing on a non-zero exit.
    pub fn output(
        &self,
        dir: Option<&Path>,
        remote: Option<&Remote>,
        args: &[&str],
    ) -> Result<Output, GitFailure> {
        self.finish(command(dir, remote, args), args, remote, None)
    }

    /// Runs a command made by [`command`] (and adjusted by the caller),
    /// feeding it `stdin`; `args` are what it shows in errors.
    pub fn finish(
        &self,
        cmd: Command,
        args: &[&str],
        remote: Option<&Remote>,
        stdin: Option<&[u8]>,
    ) -> Result<Output, GitFailure> {
        let out = self.exit_status(cmd, args, stdin)?;
        let shown = redact(&format!("git {}", args.join(" ")));
        if out.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = if stderr.trim().is_empty() {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            stderr.into_owned()
        };
        let mut message = redact(stderr.trim());
        if let Some(r) = remote
            && let Some(c) = &r.credentials
            && !c.password.is_empty()
        {
            message = message.replace(&c.password, "<redacted>");
        }
        Err(GitFailure {
            command: shown,
            stderr: message,
        })
    }

    /// Runs a command made by [`command`] and returns its output whatever
    /// its exit status; fails only when it could not run to its end.
    pub fn exit_status(
        &self,
        mut cmd: Command,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Output, GitFailure> {
        let failure = |stderr: String| GitFailure {
            command: redact(&format!("git {}", args.join(" "))),
            stderr,
        };
        match self.limits.output(&mut cmd, stdin, self.limits.git_timeout) {
            Ok(out) => Ok(out),
            Err(ChildError::Interrupted(why)) => Err(failure(why.to_string())),
            Err(ChildError::Io(e)) => Err(failure(format!("cannot run git: {e}"))),
        }
    }

    /// Runs git and reports only whether it exited with 0.
    pub fn succeeds(&self, dir: Option<&Path>, args: &[&str]) -> bool {
        self.output(dir, None, args).is_ok()
    }

    /// HEAD of the work tree at `dir`: read from git's files when they are
    /// in the usual form (no process), else asked of git.
    pub fn head(&self, dir: &Path) -> Result<Head, GitFailure> {
        if let Some(h) = head::read(dir) {
            return Ok(h);
        }
        let branch = self
            .run(
                Some(dir),
                None,
                &["symbolic-ref", "--quiet", "--short", "HEAD"],
            )
            .ok()
            .filter(|b| !b.is_empty());
        // `--verify --quiet` exits 1, saying nothing, when HEAD is unborn.
        let args = ["rev-parse", "--verify", "--quiet", "HEAD"];
        let out = self.exit_status(command(Some(dir), None, &args), &args, None)?;
        let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() && (out.status.code() != Some(1) || !out.stderr.is_empty()) {
            return Err(GitFailure {
                command: format!("git {}", args.join(" ")),
                stderr: redact(String::from_utf8_lossy(&out.stderr).trim()),
            });
        }
        Ok(Head {
            branch,
            commit: Some(commit).filter(|c| out.status.success() && !c.is_empty()),
        })
    }

    /// The commit HEAD of the work tree at `dir` is at; an unborn branch
    /// is an error.
    pub fn head_commit(&self, dir: &Path) -> Result<String, GitFailure> {
        self.head(dir)?.commit.ok_or_else(|| GitFailure {
            command: "git rev-parse HEAD".into(),
            stderr: format!("{}: HEAD has no commit yet", dir.display()),
        })
    }

    /// URL of `origin` in the work tree at `dir`.
    pub fn origin_url(&self, dir: &Path) -> Result<String, GitFailure> {
        self.run(Some(dir), None, &["remote", "get-url", "origin"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact("fatal: unable to access 'https://bob:s3cret@git.example.com/r.git/': 403"),
            "fatal: unable to access 'https://xxxxx@git.example.com/r.git/': 403"
        );
        assert_eq!(redact("file:///tmp/a.git"), "file:///tmp/a.git");
        assert_eq!(redact("no url"), "no url");
    }

    #[test]
    fn credentials_go_to_environment_only() {
        let remote = Remote {
            url: "https://git.example.com/r.git".into(),
            credentials: Some(GitCredentials {
                username: "bob".into(),
                password: "s3cret".into(),
            }),
            insecure_skip_tls_verify: true,
        };
        let cmd = command(None, Some(&remote), &["ls-remote", &remote.url]);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.iter()
                .all(|a| !a.contains("s3cret") && !a.contains("Authorization"))
        );
        let envs: std::collections::BTreeMap<String, String> = cmd
            .get_envs()
            .filter_map(|(k, v)| {
                Some((
                    k.to_string_lossy().into_owned(),
                    v?.to_string_lossy().into_owned(),
                ))
            })
            .collect();
        assert_eq!(envs.get("GIT_CONFIG_COUNT").map(String::as_str), Some("2"));
        assert_eq!(
            envs.get("GIT_CONFIG_KEY_0").map(String::as_str),
            Some("http.extraHeader")
        );
        // base64("bob:s3cret")
        assert_eq!(
            envs.get("GIT_CONFIG_VALUE_0").map(String::as_str),
            Some("Authorization: Basic Ym9iOnMzY3JldA==")
        );
        assert_eq!(
            envs.get("GIT_CONFIG_KEY_1").map(String::as_str),
            Some("http.sslVerify")
        );
        assert!(format!("{:?}", remote.credentials).contains("<redacted>"));
    }
}

/// Helpers for the steps' tests: a bare repository with one commit.
#[cfg(test)]
pub(crate) mod testutil {
    use std::path::{Path, PathBuf};

    use kargo_expr::PromotionContext;
    use serde_json::Map;

    use crate::git::NoCredentials;
    use crate::limits::Limits;
    use crate::step::StepContext;

    pub type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// Runs git with a fixed identity, failing on error.
    pub fn git(dir: &Path, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()?;
        if !out.status.success() {
            return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// An empty bare repo (`main` unborn) and its `file://` URL.
    pub fn empty_bare(root: &Path) -> Result<(PathBuf, String), Box<dyn std::error::Error>> {
        let bare = root.join("r.git");
        git(
            root,
            &[
                "init",
                "--quiet",
                "--bare",
                "-b",
                "main",
                &bare.to_string_lossy(),
            ],
        )?;
        let url = format!("file://{}", bare.display());
        Ok((bare, url))
    }

    /// A bare repo (`main` with `a.yaml`, tag `v1`) and its `file://` URL.
    pub fn bare_repo(root: &Path) -> Result<(PathBuf, String), Box<dyn std::error::Error>> {
        let (bare, url) = empty_bare(root)?;
        let seed = root.join("seed");
        git(
            root,
            &[
                "clone",
                "--quiet",
                &bare.to_string_lossy(),
                &seed.to_string_lossy(),
            ],
        )?;
        git(&seed, &["checkout", "--quiet", "-b", "main"])?;
        std::fs::write(seed.join("a.yaml"), "a: 1\n")?;
        git(&seed, &["add", "."])?;
        git(&seed, &["commit", "--quiet", "-m", "one"])?;
        git(&seed, &["tag", "v1"])?;
        git(&seed, &["push", "--quiet", "--tags", "origin", "main"])?;
        Ok((bare, url))
    }

    /// Runs `git-clone` of `checkout` from `url` in a new work directory
    /// `root/<name>`; returns it and the step's shared state.
    pub fn cloned(
        root: &Path,
        url: &str,
        name: &str,
        checkout: serde_json::Value,
    ) -> Result<(PathBuf, Map<String, serde_json::Value>), Box<dyn std::error::Error>> {
        use crate::step::Step;
        let work = root.join(name);
        std::fs::create_dir_all(&work)?;
        let cfg = serde_json::json!({"repoURL": url, "checkout": [checkout]});
        let res = with_ctx(&work, &Map::new(), |ctx| {
            crate::steps::git_clone::GitClone.run(ctx, &cfg)
        })?;
        Ok((work, res.shared))
    }

    /// Runs `f` with a step context over `work_dir` that can write to
    /// `objects`.
    pub fn with_objects<R>(
        work_dir: &Path,
        objects: &dyn crate::objects::ProjectObjects,
        f: impl FnOnce(&StepContext<'_>) -> R,
    ) -> R {
        let promotion = PromotionContext {
            project: "p".into(),
            promotion: "dev.01".into(),
            ..Default::default()
        };
        let empty = Map::new();
        let ctx = StepContext {
            work_dir,
            alias: "t",
            promotion: &promotion,
            outputs: &empty,
            shared: &empty,
            credentials: &NoCredentials,
            apps: None,
            objects: Some(objects),
            allow_file_repos: true,
            limits: &Limits::default(),
            ui_base_url: None,
        };
        f(&ctx)
    }

    /// Runs `f` with a step context over `work_dir`.
    pub fn with_ctx<R>(
        work_dir: &Path,
        shared: &Map<String, serde_json::Value>,
        f: impl FnOnce(&StepContext<'_>) -> R,
    ) -> R {
        let promotion = PromotionContext {
            promotion: "dev.01".into(),
            ..Default::default()
        };
        let outputs = Map::new();
        let ctx = StepContext {
            work_dir,
            alias: "t",
            promotion: &promotion,
            outputs: &outputs,
            shared,
            credentials: &NoCredentials,
            apps: None,
            objects: None,
            allow_file_repos: true,
            limits: &Limits::default(),
            ui_base_url: None,
        };
        f(&ctx)
    }
}
