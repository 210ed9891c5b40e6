//! kargo-promotion: runs a Promotion's steps and provides the built-in git
//! and YAML steps.
//!
//! Map of the crate:
//! - [`runner`]: the step runner with Kargo's semantics (`if`, `vars`,
//!   `config` expressions, outputs by alias, `continueOnError`, `retry`,
//!   PromotionTask expansion) and the serialisable, resumable [`RunState`];
//! - [`step`]: the [`Step`] trait, its context/result/error types and the
//!   [`Registry`] of steps by name;
//! - [`git`]: the `git` CLI wrapper the git steps share (credentials through
//!   the environment, secrets redacted from errors);
//! - [`http_criteria`]: the `response` variable and the verdict of
//!   `successExpression` / `failureExpression`, shared by the `http` step
//!   and the HTTP notification channel ([`message`]);
//! - [`limits`]: the abort flag and per-process / per-call timeouts every
//!   child process and network call of a step runs under;
//! - [`safe_path`]: resolving config paths inside the work tree with
//!   symlinks followed (a step never leaves its work tree);
//! - [`argocd`]: what the Argo CD steps share (lookup by name or selector,
//!   the authorized-stage rule) and the `argocd-update` health checker the
//!   Stage controller runs;
//! - [`steps`]: one file per built-in step, each with its config type and
//!   tests: `git-clone`, `yaml-update` (alias `git-update`), `git-commit`,
//!   `git-push` (alias `github-push`), `git-tag`, `git-clear`,
//!   `kustomize-build`, `http-download` and the rest of Kargo's catalogue.
//!
//! The runner is synchronous (it shells out to `git`); async callers run it
//! under `tokio::task::spawn_blocking`.

pub mod apps;
pub mod argocd;
pub mod forge;
pub mod git;
pub mod http_criteria;
pub mod limits;
pub mod message;
pub mod objects;
pub mod runner;
pub mod safe_path;
pub mod step;
pub mod steps;

pub use crate::apps::ArgoCdApps;
pub use crate::git::{CredentialLookup, GitCredentials, NoCredentials};
pub use crate::limits::Limits;
pub use crate::objects::{MetadataTarget, ObjectError, ProjectObjects};
pub use crate::runner::{
    NoTasks, PromotionInput, RunError, RunOutcome, RunState, Runner, RunnerOptions, TaskResolver,
    expand_steps,
};
pub use crate::step::{Registry, Step, StepContext, StepError, StepResult, StepStatus};
