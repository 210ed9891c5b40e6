//! Expression cost of a typical step: a yaml-update config with two
//! updates (`${{ vars.x }}`, `${{ outputs['clone'].commit }}`, `${{
//! quote(imageFrom(vars.imageRepo).Tag) }}`, `ctx.stage`) evaluated as the
//! runner evaluates a step's config (a new `Evaluator` over the step's
//! environment, then `evaluate_config`), many times a round; the target,
//! under 20 µs a step config, applies to that. The environment converts
//! its variables to expr-lang values once, so a second row also builds
//! the step's environment each time (`ctx`, `freight`, `vars`, `outputs`,
//! converted anew), as the runner does once a step. For context, the whole
//! runner: each round also runs a Promotion of one `clone` step and
//! `STEPS` such steps (two Promotion vars), and the same Promotion with
//! the expressions written out as literals. Run with `scripts/bench.sh`.

#[path = "../../../benches/support.rs"]
mod stats;

use std::sync::Arc;
use std::time::Instant;

use kargo_api::common::ExpressionVariable;
use kargo_api::promotion::{PromotionPhase, PromotionStep};
use kargo_expr::{Env, Evaluator, NoLookup, PromotionContext, StaticLookup};
use kargo_promotion::{
    NoCredentials, NoTasks, PromotionInput, Registry, RunState, Runner, RunnerOptions, Step,
    StepContext, StepError, StepResult,
};
use serde_json::{Map, Value, json};

/// Step configs evaluated per round.
const CONFIGS: usize = 20_000;
/// Steps of the typical kind per Promotion.
const STEPS: usize = 20;
/// Promotions per round.
const PROMOTIONS: usize = 200;
/// Rounds (each a median sample).
const ROUNDS: usize = 15;
/// Kargo-rs's budget for the expressions of one step.
const TARGET_US: f64 = 20.0;

/// Stands in for `yaml-update`: checks that the evaluated config is the
/// expected one, so the bench measures evaluation and nothing is skipped.
struct Update;
impl Step for Update {
    fn name(&self) -> &str {
        "update"
    }
    fn run(&self, _: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let want = json!({
            "path": "env/dev/values.yaml",
            "updates": [
                {"key": "image.tag", "value": "1.6.0"},
                {"key": "git.commit", "value": "8f3a2c1d"},
            ],
        });
        if *config != want {
            return Err(StepError::terminal("update", format!("got {config}")));
        }
        Ok(StepResult::succeeded(Map::new()))
    }
}

/// Outputs `commit`, as `git-clone` does.
struct CloneStep;
impl Step for CloneStep {
    fn name(&self) -> &str {
        "clone"
    }
    fn run(&self, _: &StepContext<'_>, _: &Value) -> Result<StepResult, StepError> {
        Ok(StepResult::succeeded(Map::from_iter([(
            "commit".to_string(),
            json!("8f3a2c1d"),
        )])))
    }
}

fn config(expressions: bool) -> Value {
    if expressions {
        json!({
            "path": "${{ vars.envDir }}/${{ ctx.stage }}/values.yaml",
            "updates": [
                {"key": "image.tag", "value": "${{ quote(imageFrom(vars.imageRepo).Tag) }}"},
                {"key": "git.commit", "value": "${{ outputs['clone'].commit }}"},
            ],
        })
    } else {
        json!({
            "path": "env/dev/values.yaml",
            "updates": [
                {"key": "image.tag", "value": "1.6.0"},
                {"key": "git.commit", "value": "8f3a2c1d"},
            ],
        })
    }
}

fn steps(expressions: bool) -> Vec<PromotionStep> {
    let config = config(expressions);
    let mut out = vec![serde_json::from_value(json!({"uses": "clone", "as": "clone"})).unwrap()];
    for i in 0..STEPS {
        out.push(
            serde_json::from_value(
                json!({"uses": "update", "as": format!("update-{i}"), "config": config}),
            )
            .unwrap(),
        );
    }
    out
}

/// µs per Promotion of `steps`.
fn run(runner: &Runner, input: &PromotionInput<'_>, steps: &[PromotionStep]) -> f64 {
    let start = Instant::now();
    for _ in 0..PROMOTIONS {
        let outcome = runner
            .run(input, steps, &NoTasks, RunState::new(), &mut |_| Ok(()))
            .expect("run");
        assert_eq!(
            outcome.phase,
            PromotionPhase::Succeeded,
            "{}",
            outcome.message
        );
    }
    start.elapsed().as_secs_f64() * 1e6 / PROMOTIONS as f64
}

/// µs per evaluation of `config` in `env`, as the runner evaluates it.
fn evaluate(env: &Env, lookup: &StaticLookup, config: &Value) -> f64 {
    let start = Instant::now();
    for _ in 0..CONFIGS {
        check(Evaluator::new(env, lookup).evaluate_config(config));
    }
    start.elapsed().as_secs_f64() * 1e6 / CONFIGS as f64
}

/// µs per step environment built from `input` (variables converted anew)
/// and `config` evaluated in it.
fn evaluate_step(input: &PromotionInput<'_>, lookup: &StaticLookup, config: &Value) -> f64 {
    let start = Instant::now();
    for _ in 0..CONFIGS {
        let env = step_env(input);
        check(Evaluator::new(&env, lookup).evaluate_config(config));
    }
    start.elapsed().as_secs_f64() * 1e6 / CONFIGS as f64
}

/// The environment of a step: ctx, freight, vars and earlier outputs.
fn step_env(input: &PromotionInput<'_>) -> Env {
    Env::for_promotion(&input.ctx, &input.freight)
        .with_vars(json!({"imageRepo": "ghcr.io/example/guestbook", "envDir": "env"}))
        .with_outputs(json!({"clone": {"commit": "8f3a2c1d"}}))
}

fn check(evaluated: Result<Value, kargo_expr::ExprError>) {
    let evaluated = evaluated.expect("evaluate");
    assert_eq!(evaluated["updates"][1]["value"], "8f3a2c1d");
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut registry = Registry::new();
    registry.register(Arc::new(Update));
    registry.register(Arc::new(CloneStep));
    let runner = Runner::new(Arc::new(registry), RunnerOptions::new(dir.path()));
    let input = PromotionInput {
        ctx: PromotionContext {
            project: "guestbook".into(),
            stage: "dev".into(),
            promotion: "dev.01j2m3n4p5q6r7s8t9v0w1x2y3.f1a2b3c".into(),
            target_freight_name: "f1a2b3c".into(),
            target_origin_name: "guestbook".into(),
            ..Default::default()
        },
        freight: vec![json!({
            "name": "f1a2b3c", "origin": {"kind": "Warehouse", "name": "guestbook"},
            "images": [{"repoURL": "ghcr.io/example/guestbook", "tag": "1.6.0", "digest": "sha256:abc"}],
            "commits": [{"repoURL": "https://github.com/example/guestbook.git", "id": "8f3a2c1d"}],
        })],
        vars: vec![
            ExpressionVariable {
                name: "imageRepo".into(),
                value: "ghcr.io/example/guestbook".into(),
            },
            ExpressionVariable {
                name: "envDir".into(),
                value: "env".into(),
            },
        ],
        lookup: &NoLookup,
        credentials: &NoCredentials,
        apps: None,
        objects: None,
    };
    let lookup = StaticLookup {
        freight: input.freight.clone(),
        ..Default::default()
    };
    let env = step_env(&input);
    let (typical_config, literal_config) = (config(true), config(false));
    evaluate(&env, &lookup, &typical_config);
    let (direct, direct_literal) = stats::alternate(
        ROUNDS,
        || evaluate(&env, &lookup, &typical_config),
        || evaluate(&env, &lookup, &literal_config),
    );
    let (per_step, per_step_literal) = stats::alternate(
        ROUNDS,
        || evaluate_step(&input, &lookup, &typical_config),
        || evaluate_step(&input, &lookup, &literal_config),
    );
    let (with, without) = (steps(true), steps(false));
    // Warm up (and check both Promotions succeed).
    run(&runner, &input, &with);
    run(&runner, &input, &without);
    let (typical, literal) = stats::alternate(
        ROUNDS,
        || run(&runner, &input, &with) / STEPS as f64,
        || run(&runner, &input, &without) / STEPS as f64,
    );
    let cost: Vec<f64> = typical.iter().zip(&literal).map(|(t, l)| t - l).collect();
    let (median, _, _) = stats::summary(&direct);
    let verdict = if median < TARGET_US { "PASS" } else { "FAIL" };
    println!(
        "\n## Expression cost of a typical step ({ROUNDS} rounds of {CONFIGS} step configs; runner: {STEPS} steps x {PROMOTIONS} Promotions)\n"
    );
    println!("| metric | median (min–max) µs | target |");
    println!("|---|---|---|");
    println!(
        "| typical step config evaluated (new Evaluator + evaluate_config) | {} | < {TARGET_US} µs: {verdict} |",
        stats::fmt(&direct, 2)
    );
    println!(
        "| the same config written out (no expressions) | {} | |",
        stats::fmt(&direct_literal, 2)
    );
    println!(
        "| the step's environment built, then the typical config evaluated | {} | |",
        stats::fmt(&per_step, 2)
    );
    println!(
        "| the step's environment built, then the config written out | {} | |",
        stats::fmt(&per_step_literal, 2)
    );
    println!(
        "| runner per step, typical config (2 Promotion vars) | {} | |",
        stats::fmt(&typical, 2)
    );
    println!(
        "| runner per step, the config written out | {} | |",
        stats::fmt(&literal, 2)
    );
    println!(
        "| runner: expressions per step (difference) | {} | |",
        stats::fmt(&cost, 2)
    );
}
