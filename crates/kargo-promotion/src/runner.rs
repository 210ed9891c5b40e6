//! The promotion step runner: runs one Promotion's steps in a work
//! directory with Kargo's semantics, and can resume after a crash.
//!
//! Per step, in order (as Kargo's `LocalOrchestrator` / `StepEvaluator`):
//! 1. abort check (a flag set by the caller) → the step is `Aborted` and so
//!    is the run;
//! 2. `if`: without one, the step runs only if no earlier step failed
//!    (`Failed`/`Errored`, not counting `continueOnError` steps); with one,
//!    it is evaluated (after `vars`) and `false` means `Skipped`;
//! 3. `vars` (the Promotion's, which cannot see outputs, then the step's,
//!    which can see `outputs` and `task.outputs`), then `config`;
//! 4. the step runs; its outputs are stored under its alias (`as`, default
//!    `step-N`); `Succeeded`/`Skipped` finish it, `Running` returns the run
//!    as `Running` for the caller to call again later;
//! 5. errors: a terminal one fails the step at once; a retryable one is
//!    retried until `retry.errorThreshold` consecutive errors (default 1)
//!    or `retry.timeout` since the step started, then the step is `Errored`.
//!
//! Steps that reference a PromotionTask are expanded first
//! ([`expand_steps`]): `<taskAlias>::<innerAlias>`, the task's `vars` as
//! defaults that the Promotion's or the referencing step's vars override.
//!
//! Crash safety: all progress lives in [`RunState`] (expanded steps,
//! current index, outputs, per-step metadata, shared state), which the
//! runner hands to the caller's `persist` callback before a step starts
//! (with the steps that ended since), after a failed attempt and at the end
//! (one write per step, not two; a fresh run's first step starts unsaved
//! unless a PromotionTask's expansion must be pinned). [`Runner::run`]
//! with a persisted state continues after the last finished step; a step
//! found `Running` is run again, which the built-in steps make safe
//! (`git-commit` with nothing to commit outputs HEAD; `git-push` sees the
//! remote already has the commit). If `persist` fails, the runner stops
//! rather than run ahead of what is saved.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use kargo_api::common::ExpressionVariable;
use kargo_api::promotion::{
    PromotionPhase, PromotionStep, PromotionTaskReference, PromotionTaskSpec, StepExecutionMetadata,
};
use kargo_expr::lookup::ALIAS_SEPARATOR;
use kargo_expr::{Env, Evaluator, Lookup, PromotionContext, StepStatus as ExprStepStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::git::CredentialLookup;
use crate::limits::Limits;
use crate::step::{Registry, StepContext, StepError, StepResult, StepStatus};

/// Everything about the Promotion that expressions and steps read.
pub struct PromotionInput<'a> {
    /// `ctx`.
    pub ctx: PromotionContext,
    /// The Freight collection as JSON (target first), for `freight` and
    /// the Freight functions.
    pub freight: Vec<Value>,
    /// The Promotion's `spec.vars`.
    pub vars: Vec<ExpressionVariable>,
    /// ConfigMaps, Secrets, metadata for expression functions. Its
    /// `step_statuses` is ignored: the runner supplies its own.
    pub lookup: &'a dyn Lookup,
    /// Git credentials.
    pub credentials: &'a dyn CredentialLookup,
    /// Argo CD Applications for `argocd-update` (None: the step errors).
    pub apps: Option<&'a dyn crate::apps::ArgoCdApps>,
    /// The Project's Stages and Freight (`set-metadata`,
    /// `set-freight-alias`), if the caller can write to them.
    pub objects: Option<&'a dyn crate::objects::ProjectObjects>,
}

/// Finds the spec of a (Cluster)PromotionTask.
pub trait TaskResolver {
    /// The spec of the referenced task, or why it cannot be had.
    fn resolve(&self, task: &PromotionTaskReference) -> Result<PromotionTaskSpec, String>;
}

impl<F> TaskResolver for F
where
    F: Fn(&PromotionTaskReference) -> Result<PromotionTaskSpec, String>,
{
    fn resolve(&self, task: &PromotionTaskReference) -> Result<PromotionTaskSpec, String> {
        self(task)
    }
}

/// Resolves no task at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTasks;

impl TaskResolver for NoTasks {
    fn resolve(&self, task: &PromotionTaskReference) -> Result<PromotionTaskSpec, String> {
        Err(format!("no PromotionTask named {:?}", task.name))
    }
}

/// The runner's whole progress; serialise it (JSON) after every call of
/// `persist` and pass it back to [`Runner::run`] to continue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    /// The expanded steps (fixed at the first run, so that a changed
    /// PromotionTask cannot shift indices under a resumed run).
    #[serde(default)]
    pub steps: Vec<PromotionStep>,
    /// Whether `steps` has been filled.
    #[serde(default)]
    pub expanded: bool,
    /// Index of the step being run, or of the next one.
    #[serde(default)]
    pub current_step: usize,
    /// Outputs by step alias.
    #[serde(default)]
    pub outputs: Map<String, Value>,
    /// One entry per step reached, in step order.
    #[serde(default)]
    pub metadata: Vec<StepExecutionMetadata>,
    /// State shared between steps (e.g. `git.checkouts`).
    #[serde(default)]
    pub shared: Map<String, Value>,
    /// Health checks succeeded steps registered (`{uses, config}`), for
    /// `Promotion.status.healthChecks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<Value>,
}

impl RunState {
    /// A fresh run.
    pub fn new() -> RunState {
        RunState::default()
    }

    /// The status of the step with this alias.
    pub fn status_of(&self, alias: &str) -> Option<StepStatus> {
        self.metadata
            .iter()
            .find(|m| m.alias == alias)
            .and_then(|m| StepStatus::parse(&m.status))
    }
}

/// How a call of [`Runner::run`] ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// `Succeeded`, `Failed`, `Errored`, `Aborted`, or `Running` (a step
    /// waits; call again later with `state`).
    pub phase: PromotionPhase,
    /// Why, for anything but `Succeeded`.
    pub message: String,
    /// The final state (also given to `persist`).
    pub state: RunState,
    /// For `Running`: when the waiting step asked to be called again.
    pub retry_after: Option<Duration>,
}

/// Errors that stop the runner itself (step errors are recorded in the
/// steps' metadata instead).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// A step references a task that cannot be expanded.
    #[error("steps[{index}] ({alias:?}): task {task:?}: {message}")]
    Expand {
        index: usize,
        alias: String,
        task: String,
        message: String,
    },
    /// The caller could not save the state; the runner stopped.
    #[error("persisting the promotion state failed: {0}")]
    Persist(String),
    /// The state does not belong to these steps.
    #[error("invalid run state: {0}")]
    State(String),
}

/// Runner settings.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Work directory of this Promotion (created if missing).
    pub work_dir: PathBuf,
    /// Pause between retries of a step that returned a retryable error.
    pub retry_delay: Duration,
    /// The abort flag (checked before each step and between retries; it
    /// also kills a running step's processes) and the per-process and
    /// per-call timeouts.
    pub limits: Limits,
    /// Whether steps may use `file://` repositories (the server's
    /// `--allow-file-repos`; off by default).
    pub allow_file_repos: bool,
    /// Where users reach the Kargo UI, for links back to a Stage.
    pub ui_base_url: Option<String>,
    /// Told how long each execution of a step took, by its `uses` (for
    /// metrics).
    pub step_timer: Option<fn(&str, Duration)>,
}

impl RunnerOptions {
    /// Options for `work_dir` with a 5 s retry delay.
    pub fn new(work_dir: impl Into<PathBuf>) -> RunnerOptions {
        RunnerOptions {
            work_dir: work_dir.into(),
            retry_delay: Duration::from_secs(5),
            limits: Limits::default(),
            allow_file_repos: false,
            step_timer: None,
            ui_base_url: None,
        }
    }
}

/// Runs steps from a [`Registry`].
#[derive(Clone, Debug)]
pub struct Runner {
    registry: Arc<Registry>,
    options: RunnerOptions,
}

/// Default `retry.errorThreshold`.
pub const DEFAULT_ERROR_THRESHOLD: u32 = 1;

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Expands steps that reference PromotionTasks and gives every step its
/// alias (`as`, else `step-N`; task steps `<taskAlias>::<innerAlias>`).
pub fn expand_steps(
    steps: &[PromotionStep],
    promotion_vars: &[ExpressionVariable],
    tasks: &dyn TaskResolver,
) -> Result<Vec<PromotionStep>, RunError> {
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let alias = if step.as_.is_empty() {
            format!("step-{i}")
        } else {
            step.as_.clone()
        };
        let Some(task) = &step.task else {
            let mut s = step.clone();
            s.as_ = alias;
            out.push(s);
            continue;
        };
        let fail = |message: String| RunError::Expand {
            index: i,
            alias: alias.clone(),
            task: task.name.clone(),
            message,
        };
        if !step.uses.is_empty() {
            return Err(fail("a step has either `uses` or `task`, not both".into()));
        }
        let spec = tasks.resolve(task).map_err(fail)?;
        let vars = task_vars(&spec.vars, promotion_vars, &step.vars).map_err(fail)?;
        for (j, inner) in spec.steps.iter().enumerate() {
            if inner.task.is_some() {
                return Err(fail(format!(
                    "steps[{j}]: a task cannot reference another task"
                )));
            }
            let mut s = inner.clone();
            let inner_alias = if inner.as_.is_empty() {
                format!("step-{j}")
            } else {
                inner.as_.clone()
            };
            s.as_ = format!("{alias}{ALIAS_SEPARATOR}{inner_alias}");
            s.vars = vars
                .iter()
                .cloned()
                .chain(inner.vars.iter().cloned())
                .collect();
            out.push(s);
        }
    }
    Ok(out)
}

/// Kargo's task variable rules: a task var set by the Promotion is left to
/// the Promotion; otherwise its default applies unless the referencing
/// step sets it; a var without default must be set by one of them.
fn task_vars(
    task: &[ExpressionVariable],
    promotion: &[ExpressionVariable],
    step: &[ExpressionVariable],
) -> Result<Vec<ExpressionVariable>, String> {
    let set = |list: &[ExpressionVariable], name: &str| {
        list.iter().any(|v| v.name == name && !v.value.is_empty())
    };
    let mut vars = Vec::new();
    for v in task {
        if set(promotion, &v.name) {
            continue;
        }
        if !v.value.is_empty() {
            vars.push(v.clone());
        } else if !set(step, &v.name) {
            return Err(format!("missing value for variable {:?}", v.name));
        }
    }
    vars.extend(step.iter().cloned());
    Ok(vars)
}

/// The `Lookup` expressions see: the caller's, with the runner's step
/// statuses and the Freight collection.
struct RunLookup<'a> {
    inner: &'a dyn Lookup,
    freight: &'a [Value],
    statuses: Vec<ExprStepStatus>,
    current: String,
}

impl Lookup for RunLookup<'_> {
    fn freight_collection(&self) -> &[Value] {
        self.freight
    }
    fn config_map(&self, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
        self.inner.config_map(name)
    }
    fn secret(&self, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
        self.inner.secret(name)
    }
    fn freight_metadata(&self, name: &str) -> Option<Map<String, Value>> {
        self.inner.freight_metadata(name)
    }
    fn freight_status(&self, name: &str) -> Option<Map<String, Value>> {
        self.inner.freight_status(name)
    }
    fn stage_metadata(&self, name: &str) -> Option<Map<String, Value>> {
        self.inner.stage_metadata(name)
    }
    fn step_statuses(&self) -> &[ExprStepStatus] {
        &self.statuses
    }
    fn current_step_alias(&self) -> &str {
        &self.current
    }
}

fn namespace(alias: &str) -> Option<&str> {
    match alias.split_once(ALIAS_SEPARATOR) {
        Some((ns, rest)) if !rest.contains(ALIAS_SEPARATOR) => Some(ns),
        _ => None,
    }
}

/// Outputs of the steps in the same task as `alias`, by inner alias.
fn task_outputs(alias: &str, outputs: &Map<String, Value>) -> Option<Value> {
    let ns = namespace(alias)?;
    let prefix = format!("{ns}{ALIAS_SEPARATOR}");
    Some(Value::Object(
        outputs
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|s| (s.to_string(), v.clone())))
            .collect(),
    ))
}

fn has_failures(metadata: &[StepExecutionMetadata]) -> bool {
    metadata.iter().any(|m| {
        !m.continue_on_error && StepStatus::parse(&m.status).is_some_and(StepStatus::is_failure)
    })
}

/// Why a step ended the way it did, before it is written down.
enum Ended {
    Done(StepStatus, String),
    Waiting(String, Option<Duration>),
    Aborted,
}

impl Runner {
    /// A runner over `registry`.
    pub fn new(registry: Arc<Registry>, options: RunnerOptions) -> Runner {
        Runner { registry, options }
    }

    /// The options.
    pub fn options(&self) -> &RunnerOptions {
        &self.options
    }

    fn cancelled(&self) -> bool {
        self.options.limits.aborted()
    }

    /// Runs (or continues, from `from`) the Promotion's `steps`. `persist`
    /// is called with the state before each step starts (with the steps
    /// that ended since the last call), after each failed attempt, when
    /// the run waits or is aborted, and at the end; when it fails the
    /// runner stops with [`RunError::Persist`]. The first step of a fresh
    /// run whose steps use no PromotionTask starts unsaved: a restart that
    /// finds nothing saved runs it again, as after a crash in it.
    pub fn run(
        &self,
        input: &PromotionInput<'_>,
        steps: &[PromotionStep],
        tasks: &dyn TaskResolver,
        from: RunState,
        persist: &mut dyn FnMut(&RunState) -> Result<(), String>,
    ) -> Result<RunOutcome, RunError> {
        let mut state = from;
        // Whether the next step's start is saved: always, except the first
        // step of a fresh run whose steps use no PromotionTask. Before that
        // start nothing has happened that a restart, which finds no saved
        // state and expands the same steps again, would not redo; a task's
        // expansion is saved first, as it may change before a restart.
        let mut save_start = true;
        if !state.expanded {
            state.steps = expand_steps(steps, &input.vars, tasks)?;
            state.expanded = true;
            state.current_step = 0;
            save_start = steps.iter().any(|s| s.task.is_some());
        }
        if state.metadata.len() > state.steps.len() || state.current_step > state.steps.len() {
            return Err(RunError::State(format!(
                "{} steps but metadata for {} and current step {}",
                state.steps.len(),
                state.metadata.len(),
                state.current_step
            )));
        }
        std::fs::create_dir_all(&self.options.work_dir).map_err(|e| {
            RunError::State(format!(
                "cannot create work directory {}: {e}",
                self.options.work_dir.display()
            ))
        })?;

        // A finished step is saved with the next step's start (or at the
        // end): a restart in between runs it again, as after a crash in it.
        let unsaved = std::cell::Cell::new(false);
        let persist = &mut |st: &RunState| {
            unsaved.set(false);
            persist(st)
        };
        for i in state.current_step..state.steps.len() {
            state.current_step = i;
            let step = state.steps[i].clone();
            if state.metadata.len() <= i {
                state.metadata.push(StepExecutionMetadata {
                    alias: step.as_.clone(),
                    continue_on_error: step.continue_on_error,
                    ..Default::default()
                });
            }
            let ended = self.run_step(input, &step, i, &mut state, save_start, persist)?;
            // Once a step has started, every later start is saved.
            save_start |= state.metadata[i].started_at.is_some();
            match ended {
                Ended::Done(status, message) => {
                    let meta = &mut state.metadata[i];
                    meta.status = status.as_str().to_string();
                    meta.message = message;
                    if status != StepStatus::Skipped || meta.started_at.is_some() {
                        meta.finished_at = Some(now());
                    }
                    state.current_step = i + 1;
                    unsaved.set(true);
                }
                Ended::Waiting(message, retry_after) => {
                    state.metadata[i].message = message.clone();
                    persist(&state).map_err(RunError::Persist)?;
                    return Ok(RunOutcome {
                        phase: PromotionPhase::Running,
                        message,
                        state,
                        retry_after,
                    });
                }
                Ended::Aborted => {
                    let meta = &mut state.metadata[i];
                    meta.status = StepStatus::Aborted.as_str().to_string();
                    meta.message = "aborted by the user".into();
                    meta.finished_at = Some(now());
                    persist(&state).map_err(RunError::Persist)?;
                    return Ok(RunOutcome {
                        phase: PromotionPhase::Aborted,
                        message: format!("aborted at step {:?}", step.as_),
                        state,
                        retry_after: None,
                    });
                }
            }
        }
        state.current_step = state.steps.len();
        if unsaved.get() {
            persist(&state).map_err(RunError::Persist)?;
        }
        let failed = state.metadata.iter().find(|m| {
            !m.continue_on_error && StepStatus::parse(&m.status).is_some_and(StepStatus::is_failure)
        });
        let (phase, message) = match failed {
            Some(m) => (
                if m.status == StepStatus::Failed.as_str() {
                    PromotionPhase::Failed
                } else {
                    PromotionPhase::Errored
                },
                format!(
                    "step {:?} {}: {}",
                    m.alias,
                    m.status.to_lowercase(),
                    m.message
                ),
            ),
            None => (PromotionPhase::Succeeded, String::new()),
        };
        Ok(RunOutcome {
            phase,
            message,
            state,
            retry_after: None,
        })
    }

    fn lookup<'a>(
        &self,
        input: &'a PromotionInput<'a>,
        state: &RunState,
        i: usize,
    ) -> RunLookup<'a> {
        RunLookup {
            inner: input.lookup,
            freight: &input.freight,
            statuses: state.metadata[..i]
                .iter()
                .map(|m| ExprStepStatus {
                    alias: m.alias.clone(),
                    status: m.status.clone(),
                })
                .collect(),
            current: state.steps[i].as_.clone(),
        }
    }

    /// The environment a step's `if` and config are evaluated in: `ctx`,
    /// `freight`, earlier steps' outputs, task outputs, and the step's
    /// `vars` — the Promotion's first (they see no outputs), then the
    /// step's (they see outputs and task outputs), each seeing the ones
    /// before. One [`Env`] throughout, so each variable is converted to an
    /// expr-lang value once a step; setting `vars` again converts only it.
    fn step_env(
        &self,
        input: &PromotionInput<'_>,
        lookup: &RunLookup<'_>,
        step: &PromotionStep,
        state: &RunState,
    ) -> Result<Env, String> {
        let mut env = Env::for_promotion(&input.ctx, &input.freight);
        let mut vars = Map::new();
        for v in &input.vars {
            env = env.with_vars(Value::Object(vars.clone()));
            let value = Evaluator::new(&env, lookup)
                .evaluate_template(&v.value)
                .map_err(|e| format!("promotion vars[{}]: {e}", v.name))?;
            vars.insert(v.name.clone(), value);
        }
        env = env.with_outputs(Value::Object(state.outputs.clone()));
        if let Some(t) = task_outputs(&step.as_, &state.outputs) {
            env = env.with_task_outputs(t);
        }
        for v in &step.vars {
            env = env.with_vars(Value::Object(vars.clone()));
            let value = Evaluator::new(&env, lookup)
                .evaluate_template(&v.value)
                .map_err(|e| format!("vars[{}]: {e}", v.name))?;
            vars.insert(v.name.clone(), value);
        }
        Ok(env.with_vars(Value::Object(vars)))
    }

    fn run_step(
        &self,
        input: &PromotionInput<'_>,
        step: &PromotionStep,
        i: usize,
        state: &mut RunState,
        save_start: bool,
        persist: &mut dyn FnMut(&RunState) -> Result<(), String>,
    ) -> Result<Ended, RunError> {
        let alias = step.as_.clone();
        if self.cancelled() {
            return Ok(Ended::Aborted);
        }
        let lookup = self.lookup(input, state, i);

        // `if`.
        if step.if_.trim().is_empty() {
            if has_failures(&state.metadata[..i]) {
                return Ok(Ended::Done(
                    StepStatus::Skipped,
                    "skipped because an earlier step failed".into(),
                ));
            }
        } else {
            let decided = self.step_env(input, &lookup, step, state).and_then(|env| {
                Evaluator::new(&env, &lookup)
                    .evaluate_condition(&step.if_)
                    .map_err(|e| format!("if: {e}"))
            });
            match decided {
                Ok(true) => {}
                Ok(false) => {
                    return Ok(Ended::Done(
                        StepStatus::Skipped,
                        format!("skipped: `if: {}` is false", step.if_),
                    ));
                }
                Err(e) => {
                    return Ok(Ended::Done(
                        StepStatus::Errored,
                        format!("step {alias:?}: error evaluating {e}"),
                    ));
                }
            }
        }

        let Some(runner) = self.registry.get(&step.uses).cloned() else {
            return Ok(Ended::Done(
                StepStatus::Errored,
                format!("no promotion step named {:?} (step {alias:?})", step.uses),
            ));
        };
        let threshold = step
            .retry
            .as_ref()
            .and_then(|r| r.error_threshold)
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_ERROR_THRESHOLD);
        let timeout = match step.retry.as_ref().and_then(|r| r.timeout.as_deref()) {
            None | Some("") => runner.default_timeout(),
            Some(t) => match kargo_api::validate::parse_go_duration(t) {
                Some(secs) if secs > 0.0 => Some(Duration::from_secs_f64(secs)),
                Some(_) => None,
                None => {
                    return Ok(Ended::Done(
                        StepStatus::Errored,
                        format!(
                            "step {alias:?}: retry.timeout: {t:?} is not a duration like \"5m\""
                        ),
                    ));
                }
            },
        };

        // Mark it started, durably (unless `save_start` says a restart
        // would redo the same), before doing anything.
        {
            let meta = &mut state.metadata[i];
            if meta.started_at.is_none() {
                meta.started_at = Some(now());
            }
            meta.status = StepStatus::Running.as_str().to_string();
        }
        if save_start {
            persist(state).map_err(RunError::Persist)?;
        }

        loop {
            let lookup = self.lookup(input, state, i);
            let config = self.step_env(input, &lookup, step, state).and_then(|env| {
                Evaluator::new(&env, &lookup)
                    .evaluate_config(step.config.as_ref().unwrap_or(&Value::Null))
                    .map_err(|e| format!("config: {e}"))
            });
            let config = match config {
                Ok(c) => c,
                Err(e) => {
                    return Ok(Ended::Done(
                        StepStatus::Errored,
                        format!("step {alias:?} ({}): error evaluating {e}", step.uses),
                    ));
                }
            };
            let result: Result<StepResult, StepError> = {
                let ctx = StepContext {
                    work_dir: &self.options.work_dir,
                    alias: &alias,
                    promotion: &input.ctx,
                    outputs: &state.outputs,
                    shared: &state.shared,
                    credentials: input.credentials,
                    apps: input.apps,
                    objects: input.objects,
                    allow_file_repos: self.options.allow_file_repos,
                    limits: &self.options.limits,
                    ui_base_url: self.options.ui_base_url.as_deref(),
                };
                let started = std::time::Instant::now();
                let result = runner.run(&ctx, &config);
                if let Some(timer) = self.options.step_timer {
                    timer(&step.uses, started.elapsed());
                }
                result
            };
            // An abort kills the step's processes; whatever it returned
            // then, the step and the run are Aborted.
            if self.cancelled() {
                return Ok(Ended::Aborted);
            }
            match result {
                Ok(res) => {
                    state
                        .outputs
                        .insert(alias.clone(), Value::Object(res.outputs.clone()));
                    for (k, v) in res.shared.clone() {
                        state.shared.insert(k, v);
                    }
                    let status = res.status();
                    match status {
                        StepStatus::Running => {
                            if self.timed_out(&state.metadata[i], timeout) {
                                return Ok(Ended::Done(
                                    StepStatus::Errored,
                                    format!(
                                        "step {alias:?} timed out after {}",
                                        fmt_timeout(timeout)
                                    ),
                                ));
                            }
                            return Ok(Ended::Waiting(res.message, res.retry_after));
                        }
                        StepStatus::Succeeded | StepStatus::Skipped => {
                            state.metadata[i].error_count = None;
                            if status == StepStatus::Succeeded
                                && let Some(check) = res.health_check.clone()
                            {
                                state.health_checks.push(check);
                            }
                            return Ok(Ended::Done(status, res.message));
                        }
                        other => return Ok(Ended::Done(other, res.message)),
                    }
                }
                Err(e) if e.terminal => {
                    return Ok(Ended::Done(StepStatus::Failed, e.to_string()));
                }
                Err(e) => {
                    let meta = &mut state.metadata[i];
                    let count = meta.error_count.unwrap_or(0) + 1;
                    meta.error_count = Some(count);
                    if count >= threshold {
                        return Ok(Ended::Done(
                            StepStatus::Errored,
                            format!("step {alias:?} met error threshold of {threshold}: {e}"),
                        ));
                    }
                    if self.timed_out(meta, timeout) {
                        return Ok(Ended::Done(
                            StepStatus::Errored,
                            format!(
                                "step {alias:?} timed out after {}: {e}",
                                fmt_timeout(timeout)
                            ),
                        ));
                    }
                    meta.message = format!("{e}; step will be retried");
                    persist(state).map_err(RunError::Persist)?;
                    if self.sleep_or_cancel() {
                        return Ok(Ended::Aborted);
                    }
                }
            }
        }
    }

    fn timed_out(&self, meta: &StepExecutionMetadata, timeout: Option<Duration>) -> bool {
        let (Some(timeout), Some(started)) = (timeout, meta.started_at.as_deref()) else {
            return false;
        };
        let Ok(started) = jiff::Timestamp::from_str(started) else {
            return false;
        };
        let elapsed = jiff::Timestamp::now().duration_since(started);
        elapsed.as_secs_f64() > timeout.as_secs_f64()
    }

    /// Sleeps the retry delay in small slices; true if aborted meanwhile.
    fn sleep_or_cancel(&self) -> bool {
        let slice = Duration::from_millis(50);
        let mut left = self.options.retry_delay;
        while !left.is_zero() {
            if self.cancelled() {
                return true;
            }
            let d = left.min(slice);
            std::thread::sleep(d);
            left -= d;
        }
        self.cancelled()
    }
}

fn fmt_timeout(t: Option<Duration>) -> String {
    t.map(|d| format!("{}s", d.as_secs_f64()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
