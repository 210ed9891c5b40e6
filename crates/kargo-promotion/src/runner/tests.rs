//! Runner semantics with in-memory steps: `if`, default skipping,
//! continueOnError, retry thresholds, expression errors, outputs, task
//! expansion, abort, persistence.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use kargo_api::promotion::PromotionStepRetry;
use kargo_expr::NoLookup;
use serde_json::json;

use super::*;
use crate::git::NoCredentials;
use crate::step::Step;

/// Outputs its config.
struct Echo;
impl Step for Echo {
    fn name(&self) -> &str {
        "echo"
    }
    fn run(&self, _: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        Ok(StepResult::succeeded(
            config.as_object().cloned().unwrap_or_default(),
        ))
    }
}

/// Fails terminally.
struct Fail;
impl Step for Fail {
    fn name(&self) -> &str {
        "fail"
    }
    fn run(&self, _: &StepContext<'_>, _: &Value) -> Result<StepResult, StepError> {
        Err(StepError::terminal("fail", "boom"))
    }
}

/// Fails (retryably) `fail_times` times, then succeeds.
struct Flaky {
    calls: AtomicU32,
    fail_times: u32,
}
impl Step for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn run(&self, _: &StepContext<'_>, _: &Value) -> Result<StepResult, StepError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.fail_times {
            Err(StepError::retryable("flaky", format!("attempt {n} failed")))
        } else {
            Ok(StepResult::succeeded(Map::from_iter([(
                "attempts".to_string(),
                json!(n),
            )])))
        }
    }
}

/// Waits: `Running`, to be called again after 7 s; outputs the UI
/// address it was given.
struct Poll;
impl Step for Poll {
    fn name(&self) -> &str {
        "poll"
    }
    fn run(&self, ctx: &StepContext<'_>, _: &Value) -> Result<StepResult, StepError> {
        Ok(StepResult {
            status: Some(StepStatus::Running),
            outputs: Map::from_iter([("ui".to_string(), json!(ctx.ui_base_url))]),
            message: "waiting".into(),
            retry_after: Some(Duration::from_secs(7)),
            ..Default::default()
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    runner: Runner,
    flaky: Arc<Flaky>,
}

fn fixture(fail_times: u32) -> Fixture {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let flaky = Arc::new(Flaky {
        calls: AtomicU32::new(0),
        fail_times,
    });
    let mut reg = Registry::new();
    reg.register(Arc::new(Echo));
    reg.register(Arc::new(Fail));
    reg.register(flaky.clone());
    reg.register(Arc::new(Poll));
    let mut opts = RunnerOptions::new(dir.path().join("work"));
    opts.retry_delay = Duration::from_millis(1);
    Fixture {
        runner: Runner::new(Arc::new(reg), opts),
        _dir: dir,
        flaky,
    }
}

fn input() -> PromotionInput<'static> {
    PromotionInput {
        ctx: PromotionContext {
            project: "my-web-app".into(),
            stage: "dev".into(),
            promotion: "dev.01".into(),
            ..Default::default()
        },
        freight: vec![
            json!({"name": "f1", "images": [{"repoURL": "example/app", "tag": "1.6.0"}]}),
        ],
        vars: vec![],
        lookup: &NoLookup,
        credentials: &NoCredentials,
        apps: None,
        objects: None,
    }
}

fn steps(yaml: &str) -> Vec<PromotionStep> {
    match yaml_serde::from_str(yaml) {
        Ok(s) => s,
        Err(e) => panic!("bad steps: {e}"),
    }
}

fn run(f: &Fixture, input: &PromotionInput<'_>, steps: &[PromotionStep]) -> RunOutcome {
    run_with(f, input, steps, &NoTasks)
}

fn run_with(
    f: &Fixture,
    input: &PromotionInput<'_>,
    steps: &[PromotionStep],
    tasks: &dyn TaskResolver,
) -> RunOutcome {
    let mut persist = |_: &RunState| Ok(());
    match f
        .runner
        .run(input, steps, tasks, RunState::new(), &mut persist)
    {
        Ok(o) => o,
        Err(e) => panic!("run: {e}"),
    }
}

fn statuses(o: &RunOutcome) -> Vec<(String, String)> {
    o.state
        .metadata
        .iter()
        .map(|m| (m.alias.clone(), m.status.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn outputs_vars_and_if() {
    let f = fixture(0);
    let s = steps(
        r#"
- uses: echo
  as: first
  config: {value: "${{ freight.images['example/app'].tag }}"}
- uses: echo
  vars: [{name: greeting, value: "hi ${{ ctx.stage }}"}]
  config:
    from: "${{ outputs.first.value }}"
    msg: "${{ vars.greeting }}"
- uses: echo
  if: ctx.stage == "prod"
  config: {x: 1}
- uses: echo
  if: ${{ ctx.stage == "dev" }}
  config: {x: 2}
"#,
    );
    let o = run(&f, &input(), &s);
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    assert_eq!(
        statuses(&o),
        pairs(&[
            ("first", "Succeeded"),
            ("step-1", "Succeeded"),
            ("step-2", "Skipped"),
            ("step-3", "Succeeded"),
        ])
    );
    assert_eq!(
        o.state.outputs["step-1"],
        json!({"from": "1.6.0", "msg": "hi dev"})
    );
    assert!(o.state.metadata[0].started_at.is_some() && o.state.metadata[0].finished_at.is_some());
    assert!(o.state.metadata[2].started_at.is_none());
}

#[test]
fn failures_skip_later_steps_unless_continue_on_error_or_if() {
    let f = fixture(0);
    let s = steps(
        r#"
- uses: fail
  as: optional
  continueOnError: true
- uses: echo
  as: after-optional
  config: {x: 1}
- uses: fail
  as: required
- uses: echo
  as: skipped
  config: {x: 2}
- uses: echo
  as: cleanup
  if: ${{ always() }}
  config: {status: "${{ status('required') }}"}
"#,
    );
    let o = run(&f, &input(), &s);
    assert_eq!(
        statuses(&o),
        pairs(&[
            ("optional", "Failed"),
            ("after-optional", "Succeeded"),
            ("required", "Failed"),
            ("skipped", "Skipped"),
            ("cleanup", "Succeeded"),
        ])
    );
    assert_eq!(o.state.outputs["cleanup"], json!({"status": "Failed"}));
    assert_eq!(o.phase, PromotionPhase::Failed);
    assert!(
        o.message.contains("required") && o.message.contains("boom"),
        "{}",
        o.message
    );
    assert!(o.state.metadata[0].continue_on_error);
}

#[test]
fn retry_error_threshold() {
    // Two retryable errors, threshold 3: succeeds on the third attempt.
    let f = fixture(2);
    let mut s = steps("- uses: flaky\n");
    s[0].retry = Some(PromotionStepRetry {
        timeout: None,
        error_threshold: Some(3),
    });
    let o = run(&f, &input(), &s);
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    assert_eq!(o.state.outputs["step-0"], json!({"attempts": 3}));

    // Default threshold (1): the first error ends it.
    let f = fixture(2);
    let s = steps("- uses: flaky\n");
    let o = run(&f, &input(), &s);
    assert_eq!(o.phase, PromotionPhase::Errored);
    assert_eq!(o.state.metadata[0].status, "Errored");
    assert_eq!(o.state.metadata[0].error_count, Some(1));
    assert!(
        o.state.metadata[0]
            .message
            .contains("met error threshold of 1")
    );
    assert_eq!(f.flaky.calls.load(Ordering::SeqCst), 1);

    // A timeout that has already passed stops retries early.
    let f = fixture(5);
    let mut s = steps("- uses: flaky\n");
    s[0].retry = Some(PromotionStepRetry {
        timeout: Some("1ns".into()),
        error_threshold: Some(10),
    });
    let o = run(&f, &input(), &s);
    assert_eq!(o.phase, PromotionPhase::Errored);
    assert!(
        o.state.metadata[0].message.contains("timed out"),
        "{}",
        o.state.metadata[0].message
    );
}

#[test]
fn expression_errors_name_the_expression() {
    let f = fixture(0);
    let s = steps(
        r#"
- uses: echo
  as: bad
  config: {v: "${{ outputs.nope.value + }}"}
- uses: echo
  as: badif
  if: ${{ always() }}
  config: {}
"#,
    );
    let mut s2 = s.clone();
    s2[1].if_ = "ctx.nosuch.field == 1 +".into();
    let o = run(&f, &input(), &s2);
    assert_eq!(o.phase, PromotionPhase::Errored);
    let m = &o.state.metadata[0].message;
    assert!(
        m.contains("outputs.nope.value +") && m.contains("config: v"),
        "{m}"
    );
    let m = &o.state.metadata[1].message;
    assert_eq!(o.state.metadata[1].status, "Errored");
    assert!(
        m.contains("ctx.nosuch.field == 1 +") && m.contains("if"),
        "{m}"
    );
}

#[test]
fn unknown_step_errors() {
    let f = fixture(0);
    let o = run(&f, &input(), &steps("- uses: nosuch\n"));
    assert_eq!(o.phase, PromotionPhase::Errored);
    assert!(o.state.metadata[0].message.contains("\"nosuch\""));
}

#[test]
fn promotion_tasks_expand() {
    let f = fixture(0);
    let task: PromotionTaskSpec = match yaml_serde::from_str(
        r#"
vars:
- name: env
  value: default-env
- name: required
steps:
- uses: echo
  as: first
  config: {env: "${{ vars.env }}", required: "${{ vars.required }}"}
- uses: echo
  config: {seen: "${{ task.outputs.first.env }}"}
"#,
    ) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let resolver = |r: &PromotionTaskReference| {
        if r.name == "update" {
            Ok(task.clone())
        } else {
            Err(format!("not found: {}", r.name))
        }
    };
    let s = steps(
        r#"
- task: {name: update}
  as: upd
  vars: [{name: required, value: r1}, {name: env, value: "${{ ctx.stage }}"}]
- task: {name: update}
  vars: [{name: required, value: r2}]
- uses: echo
  config: {fromTask: "${{ outputs['upd::first'].env }}"}
"#,
    );
    let o = run_with(&f, &input(), &s, &resolver);
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    let aliases: Vec<_> = o.state.steps.iter().map(|s| s.as_.as_str()).collect();
    assert_eq!(
        aliases,
        [
            "upd::first",
            "upd::step-1",
            "step-1::first",
            "step-1::step-1",
            "step-2"
        ]
    );
    assert_eq!(
        o.state.outputs["upd::first"],
        json!({"env": "dev", "required": "r1"})
    );
    assert_eq!(o.state.outputs["upd::step-1"], json!({"seen": "dev"}));
    assert_eq!(
        o.state.outputs["step-1::first"],
        json!({"env": "default-env", "required": "r2"})
    );
    assert_eq!(o.state.outputs["step-2"], json!({"fromTask": "dev"}));

    // A required task var nobody sets.
    let s = steps("- task: {name: update}\n");
    let mut persist = |_: &RunState| Ok(());
    let err = f
        .runner
        .run(&input(), &s, &resolver, RunState::new(), &mut persist);
    assert!(
        matches!(&err, Err(RunError::Expand { message, .. }) if message.contains("\"required\"")),
        "{err:?}"
    );
    let err = f.runner.run(
        &input(),
        &steps("- task: {name: nope}\n"),
        &resolver,
        RunState::new(),
        &mut persist,
    );
    assert!(matches!(err, Err(RunError::Expand { .. })));
}

#[test]
fn abort_between_steps() {
    let f = fixture(0);
    let s = steps("- uses: echo\n  config: {a: 1}\n- uses: echo\n  config: {b: 2}\n");
    let cancel = f.runner.options().limits.cancel.clone();
    let mut persist = |st: &RunState| {
        if st.status_of("step-0") == Some(StepStatus::Succeeded) {
            cancel.store(true, Ordering::SeqCst);
        }
        Ok(())
    };
    let o = match f
        .runner
        .run(&input(), &s, &NoTasks, RunState::new(), &mut persist)
    {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(o.phase, PromotionPhase::Aborted);
    assert_eq!(
        statuses(&o),
        pairs(&[("step-0", "Succeeded"), ("step-1", "Aborted")])
    );
}

#[test]
fn state_round_trips_and_resumes() {
    let f = fixture(0);
    let s = steps(
        "- uses: echo\n  as: a\n  config: {a: 1}\n- uses: echo\n  as: b\n  config: {b: 1}\n- uses: echo\n  config: {c: \"${{ outputs.a.a }}\"}\n",
    );
    let saved = Mutex::new(Vec::<String>::new());
    // Persist fails once the second step is done: the "process dies".
    let mut persist = |st: &RunState| {
        if st.status_of("b") == Some(StepStatus::Succeeded) {
            return Err("disk full".to_string());
        }
        let json = serde_json::to_string(st).map_err(|e| e.to_string())?;
        saved.lock().map_err(|e| e.to_string())?.push(json);
        Ok(())
    };
    let err = f
        .runner
        .run(&input(), &s, &NoTasks, RunState::new(), &mut persist);
    assert!(matches!(err, Err(RunError::Persist(_))));
    let last = saved
        .lock()
        .map(|v| v.last().cloned())
        .ok()
        .flatten()
        .unwrap_or_default();
    let state: RunState = match serde_json::from_str(&last) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    // The last saved state has `a` done and `b` running; resuming runs
    // `b` again, and the last step still sees `a`'s outputs.
    assert_eq!(state.status_of("a"), Some(StepStatus::Succeeded));
    assert_eq!(state.status_of("b"), Some(StepStatus::Running));
    assert_eq!(state.current_step, 1);
    let mut ok = |_: &RunState| Ok(());
    let o = match f.runner.run(&input(), &s, &NoTasks, state, &mut ok) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(o.phase, PromotionPhase::Succeeded);
    assert_eq!(o.state.outputs["step-2"], json!({"c": 1}));
    assert_eq!(o.state.current_step, 3);
}

/// What each `persist` call saw: (current step, each step's status).
fn saves(f: &Fixture, s: &[PromotionStep], tasks: &dyn TaskResolver) -> Vec<(usize, Vec<String>)> {
    let seen = Mutex::new(Vec::new());
    let mut persist = |st: &RunState| {
        let statuses = st.metadata.iter().map(|m| m.status.clone()).collect();
        seen.lock()
            .map_err(|e| e.to_string())?
            .push((st.current_step, statuses));
        Ok(())
    };
    match f
        .runner
        .run(&input(), s, tasks, RunState::new(), &mut persist)
    {
        Ok(o) => assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message),
        Err(e) => panic!("{e}"),
    }
    seen.into_inner().unwrap_or_default()
}

#[test]
fn a_step_is_saved_once_with_the_next_ones_start() {
    let f = fixture(0);
    let s = steps(
        "- uses: echo\n  config: {a: 1}\n- uses: echo\n  config: {b: 2}\n- uses: echo\n  config: {c: 3}\n",
    );
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // A fresh run's first start is not saved (a restart redoes it); each
    // later save carries the step that ended with the next one's start;
    // the last one carries the end.
    assert_eq!(
        saves(&f, &s, &NoTasks),
        [
            (1, v(&["Succeeded", "Running"])),
            (2, v(&["Succeeded", "Succeeded", "Running"])),
            (3, v(&["Succeeded", "Succeeded", "Succeeded"])),
        ]
    );
}

#[test]
fn a_task_expansion_is_saved_before_the_first_step() {
    let f = fixture(0);
    let s = steps("- task: {name: t}\n  as: t\n");
    let resolver = |_: &PromotionTaskReference| -> Result<PromotionTaskSpec, String> {
        yaml_serde::from_str(
            "steps:\n- uses: echo\n  config: {a: 1}\n- uses: echo\n  config: {b: 2}\n",
        )
        .map_err(|e| e.to_string())
    };
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // A PromotionTask can change before a restart: its expansion is
    // pinned by a save before anything runs.
    assert_eq!(
        saves(&f, &s, &resolver),
        [
            (0, v(&["Running"])),
            (1, v(&["Succeeded", "Running"])),
            (2, v(&["Succeeded", "Succeeded"])),
        ]
    );
}

#[test]
fn a_waiting_step_says_when_to_call_again() {
    let mut f = fixture(0);
    let mut opts = f.runner.options().clone();
    opts.ui_base_url = Some("https://kargo.example.com".into());
    f.runner = Runner::new(f.runner.registry.clone(), opts);
    let s = steps("- uses: echo\n  config: {a: 1}\n- uses: poll\n  as: p\n");
    let o = run(&f, &input(), &s);
    assert_eq!(o.phase, PromotionPhase::Running);
    assert_eq!(o.message, "waiting");
    assert_eq!(o.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(o.state.status_of("p"), Some(StepStatus::Running));
    assert_eq!(
        o.state.outputs["p"],
        json!({"ui": "https://kargo.example.com"})
    );
}
