//! The contract between the runner and a step: [`Step`], what a step sees
//! ([`StepContext`]), what it returns ([`StepResult`] / [`StepError`]), and
//! the [`Registry`] that finds steps by their `uses` name.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use kargo_expr::PromotionContext;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::git::CredentialLookup;

/// Status of one step, as Kargo writes it in `stepExecutionMetadata`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepStatus {
    /// Finished and did its job.
    Succeeded,
    /// Determined it could not succeed (bad config, merge conflict, ...).
    Failed,
    /// An error it could not recover from, or too many retryable ones.
    Errored,
    /// Not run (`if` was false, or an earlier step failed), or it found
    /// nothing to do.
    Skipped,
    /// Started; waiting for something outside, or interrupted.
    Running,
    /// Stopped by the user.
    Aborted,
}

impl StepStatus {
    /// The name used in `stepExecutionMetadata[].status`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "Succeeded",
            StepStatus::Failed => "Failed",
            StepStatus::Errored => "Errored",
            StepStatus::Skipped => "Skipped",
            StepStatus::Running => "Running",
            StepStatus::Aborted => "Aborted",
        }
    }

    /// Parses the name written by [`StepStatus::as_str`].
    pub fn parse(s: &str) -> Option<StepStatus> {
        Some(match s {
            "Succeeded" => StepStatus::Succeeded,
            "Failed" => StepStatus::Failed,
            "Errored" => StepStatus::Errored,
            "Skipped" => StepStatus::Skipped,
            "Running" => StepStatus::Running,
            "Aborted" => StepStatus::Aborted,
            _ => return None,
        })
    }

    /// `Failed` or `Errored`.
    pub fn is_failure(self) -> bool {
        matches!(self, StepStatus::Failed | StepStatus::Errored)
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a step sees when it runs.
pub struct StepContext<'a> {
    /// The promotion's work directory; every path in a config is relative
    /// to it (see [`StepContext::resolve`]).
    pub work_dir: &'a Path,
    /// This step's alias (`step-2`, `my-task::commit`).
    pub alias: &'a str,
    /// Project, Stage, Promotion, target Freight, actor.
    pub promotion: &'a PromotionContext,
    /// Outputs of earlier steps by alias.
    pub outputs: &'a Map<String, Value>,
    /// State shared between steps (e.g. what `git-clone` checked out).
    pub shared: &'a Map<String, Value>,
    /// Git credentials by repository URL.
    pub credentials: &'a dyn CredentialLookup,
    /// Argo CD Applications, when the caller can reach them.
    pub apps: Option<&'a dyn crate::apps::ArgoCdApps>,
    /// The Project's Stages and Freight, when the caller can write to them.
    pub objects: Option<&'a dyn crate::objects::ProjectObjects>,
    /// Whether `file://` repository URLs are allowed (the server's
    /// `--allow-file-repos`).
    pub allow_file_repos: bool,
    /// The abort flag and timeouts every child process and network call
    /// of the step runs under.
    pub limits: &'a crate::limits::Limits,
    /// Where users reach the Kargo UI (`git-open-pr` links back to the
    /// Stage there), when known.
    pub ui_base_url: Option<&'a str>,
}

impl StepContext<'_> {
    /// Git under this Promotion's limits.
    pub fn git(&self) -> crate::git::Git<'_> {
        crate::git::Git::new(self.limits)
    }

    /// [`StepContext::resolve`]s `path` and requires a git working tree
    /// there (what `git-clone` made).
    pub fn working_tree(&self, step: &str, path: &str) -> Result<PathBuf, StepError> {
        let dir = self.resolve(step, "path", path)?;
        if !dir.join(".git").exists() {
            return Err(StepError::terminal(
                step,
                format!("path: {path:?} is not a git working tree (run git-clone first)"),
            ));
        }
        Ok(dir)
    }

    /// Joins `path` (from a step's config field `field`) onto the work
    /// directory with [`crate::safe_path::secure_join`]: symlinks are
    /// followed, and an absolute path, a `..` above the work directory or a
    /// symlink that leads outside it is a terminal error naming the field
    /// and the path. Every step resolves every path through here.
    pub fn resolve(&self, step: &str, field: &str, path: &str) -> Result<PathBuf, StepError> {
        use crate::safe_path::{UnsafePath, secure_join};
        secure_join(self.work_dir, path).map_err(|e| match e {
            UnsafePath::NotRelative => StepError::config(
                step,
                format!("{field}: {path:?} must be a relative path inside the work directory"),
            ),
            UnsafePath::Escapes { link, target } => StepError::terminal(
                step,
                format!(
                    "{field}: {path:?} resolves outside the work tree (symlink {link:?} to {target:?})"
                ),
            ),
            UnsafePath::TooManySymlinks => StepError::terminal(
                step,
                format!("{field}: {path:?}: too many levels of symbolic links"),
            ),
            UnsafePath::Io(e) => StepError::retryable(step, format!("{field}: {path:?}: {e}")),
        })
    }

    /// Refuses a repository URL that the server does not allow (see
    /// [`kargo_api::urls::check_git_repo_url`]), naming `field`.
    pub fn check_repo_url(&self, step: &str, field: &str, url: &str) -> Result<(), StepError> {
        kargo_api::urls::check_git_repo_url(url, self.allow_file_repos)
            .map_err(|e| StepError::config(step, format!("{field}: {e}")))
    }
}

/// Whether any string in `v` (keys included) holds `${{ }}` or `${% %}`.
fn holds_expression(v: &Value) -> bool {
    match v {
        Value::String(s) => kargo_expr::has_expression(s),
        Value::Array(a) => a.iter().any(holds_expression),
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| kargo_expr::has_expression(k) || holds_expression(v)),
        _ => false,
    }
}

/// A successful (or still running) step's result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepResult {
    /// `Succeeded`, `Skipped` (nothing to do) or `Running` (come back later).
    pub status: Option<StepStatus>,
    /// Outputs, stored under the step's alias.
    pub outputs: Map<String, Value>,
    /// Entries merged into the shared state.
    pub shared: Map<String, Value>,
    /// Message for `stepExecutionMetadata`.
    pub message: String,
    /// For `Running`: when to try again (a step's `pollInterval`); the
    /// caller's default when None.
    pub retry_after: Option<std::time::Duration>,
    /// A health check the Stage should run from now on (`{uses, config}`),
    /// recorded on the Promotion when the step succeeds.
    pub health_check: Option<Value>,
}

impl StepResult {
    /// `Succeeded` with these outputs.
    pub fn succeeded(outputs: Map<String, Value>) -> StepResult {
        StepResult {
            status: Some(StepStatus::Succeeded),
            outputs,
            ..Default::default()
        }
    }

    /// The status, `Succeeded` when the step did not say.
    pub fn status(&self) -> StepStatus {
        self.status.unwrap_or(StepStatus::Succeeded)
    }
}

/// A step's error: which step, whether retrying can help, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {message}")]
pub struct StepError {
    /// Step name (`git-push`).
    pub step: String,
    /// True when retrying cannot help (bad config, merge conflict); the
    /// step is then `Failed` at once. Otherwise it is retried up to its
    /// `retry.errorThreshold` and then `Errored`.
    pub terminal: bool,
    /// What went wrong; never contains secrets (the constructors mask
    /// credentials in URLs with [`kargo_api::redact::redact`]).
    pub message: String,
}

impl StepError {
    /// A terminal error (the step fails, no retry).
    pub fn terminal(step: &str, message: impl Into<String>) -> StepError {
        StepError {
            step: step.to_string(),
            terminal: true,
            message: kargo_api::redact::redact(&message.into()),
        }
    }
    /// A bad configuration: terminal.
    pub fn config(step: &str, message: impl Into<String>) -> StepError {
        StepError::terminal(step, format!("invalid config: {}", message.into()))
    }
    /// An error that a retry may fix (network, lock, race).
    pub fn retryable(step: &str, message: impl Into<String>) -> StepError {
        StepError {
            step: step.to_string(),
            terminal: false,
            message: kargo_api::redact::redact(&message.into()),
        }
    }
}

/// Decodes a step's (evaluated) config into its config type; errors name
/// the step and the field path.
pub fn parse_config<T: DeserializeOwned>(step: &str, config: &Value) -> Result<T, StepError> {
    let config = if config.is_null() {
        Value::Object(Map::new())
    } else {
        config.clone()
    };
    serde_path_to_error::deserialize::<_, T>(config).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            StepError::config(step, e.inner().to_string())
        } else {
            StepError::config(step, format!("{path}: {}", e.inner()))
        }
    })
}

/// One built-in or user-provided promotion step.
pub trait Step: Send + Sync {
    /// The `uses` name (`git-clone`).
    fn name(&self) -> &str;
    /// Runs the step with its evaluated `config`. Must be idempotent: after
    /// a crash the runner runs an interrupted step again.
    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError>;
    /// How long the step may stay `Running` when the user sets no
    /// `retry.timeout` (None: as long as it takes).
    fn default_timeout(&self) -> Option<std::time::Duration> {
        None
    }
    /// Checks a config before anything runs (admission runs it on the
    /// steps of a Stage or PromotionTask whose config holds no
    /// expression): a config error names the field. The default accepts
    /// anything; a step with a config type checks it.
    fn check(&self, _config: &Value) -> Result<(), StepError> {
        Ok(())
    }
}

/// Steps by name.
#[derive(Clone, Default)]
pub struct Registry {
    steps: BTreeMap<String, Arc<dyn Step>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.steps.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The built-in steps: the git steps (`git-clone`, `git-commit`,
    /// `git-push` and its alias `github-push`, `git-tag`, `git-clear`,
    /// `git-open-pr`, `git-wait-for-pr`, `git-merge-pr`),
    /// `yaml-update` / `git-update`, `kustomize-set-image`,
    /// `kustomize-build`, `helm-update-chart`, `helm-template`, `argocd-update`, `argocd-wait`, `http`, `http-download`,
    /// `oci-push`, `oci-download`, the
    /// structured edits and parsers, the control steps and the file steps.
    pub fn builtin() -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(crate::steps::git_clone::GitClone));
        r.register(Arc::new(crate::steps::yaml_update::YamlUpdateStep::new(
            crate::steps::yaml_update::YAML_UPDATE,
        )));
        r.register(Arc::new(crate::steps::yaml_update::YamlUpdateStep::new(
            crate::steps::yaml_update::GIT_UPDATE,
        )));
        r.register(Arc::new(crate::steps::git_commit::GitCommit));
        r.register(Arc::new(crate::steps::git_push::GitPush));
        r.register(Arc::new(crate::steps::git_tag::GitTag));
        r.register(Arc::new(crate::steps::github_push::GitHubPush));
        r.register(Arc::new(crate::steps::git_clear::GitClear));
        r.register(Arc::new(crate::steps::git_open_pr::GitOpenPr));
        r.register(Arc::new(crate::steps::git_wait_for_pr::GitWaitForPr));
        r.register(Arc::new(crate::steps::git_merge_pr::GitMergePr));
        r.register(Arc::new(crate::steps::argocd_update::ArgoCdUpdate));
        r.register(Arc::new(crate::steps::argocd_wait::ArgoCdWait));
        r.register(Arc::new(crate::steps::http::Http));
        r.register(Arc::new(crate::steps::http_download::HttpDownload));
        r.register(Arc::new(crate::steps::oci_push::OciPush));
        r.register(Arc::new(crate::steps::oci_download::OciDownload));
        r.register(Arc::new(
            crate::steps::kustomize_set_image::KustomizeSetImage,
        ));
        r.register(Arc::new(crate::steps::kustomize_build::KustomizeBuild));
        r.register(Arc::new(crate::steps::helm_update_chart::HelmUpdateChart));
        r.register(Arc::new(crate::steps::helm_template::HelmTemplate));
        r.register(Arc::new(crate::steps::json_update::JsonUpdateStep));
        r.register(Arc::new(crate::steps::yaml_merge::YamlMerge));
        r.register(Arc::new(crate::steps::toml_update::TomlUpdateStep));
        for format in [
            crate::steps::parse::Format::Yaml,
            crate::steps::parse::Format::Json,
            crate::steps::parse::Format::Toml,
        ] {
            r.register(Arc::new(crate::steps::parse::ParseStep::new(format)));
        }
        r.register(Arc::new(crate::steps::compose_output::ComposeOutput));
        r.register(Arc::new(crate::steps::fail::Fail));
        r.register(Arc::new(crate::steps::send_message::SendMessage));
        r.register(Arc::new(crate::steps::set_metadata::SetMetadata));
        r.register(Arc::new(crate::steps::set_freight_alias::SetFreightAlias));
        crate::steps::files::register(&mut r);
        r
    }

    /// Adds (or replaces) a step under its name.
    pub fn register(&mut self, step: Arc<dyn Step>) {
        self.steps.insert(step.name().to_string(), step);
    }

    /// The step called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Step>> {
        self.steps.get(name)
    }

    /// Checks a step as admission does: `uses` must name a registered step
    /// and, when `config` holds no expression, the step must accept it.
    pub fn check(&self, uses: &str, config: &Value) -> Result<(), String> {
        let Some(step) = self.get(uses) else {
            return Err(format!(
                "no promotion step named {uses:?}; known steps: {}",
                self.names().collect::<Vec<_>>().join(", ")
            ));
        };
        if holds_expression(config) {
            return Ok(());
        }
        step.check(config).map_err(|e| e.message)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.steps.keys().map(String::as_str)
    }
}

/// A config path in one canonical spelling (`./src/` → `src`), for keys in
/// the shared state.
pub fn normalize_rel(path: &str) -> String {
    Path::new(path)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The `git.checkouts.<path>` entry `git-clone` left in the shared state.
pub fn checkout_info<'a>(shared: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    shared
        .get("git")?
        .get("checkouts")?
        .get(normalize_rel(path).as_str())
}
