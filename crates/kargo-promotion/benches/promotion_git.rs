//! Promotion git work against a plain script, alternating run by run: the
//! real steps `git-clone` → `yaml-update` → `git-commit` → `git-push`
//! through the step runner, against `git clone --depth 1`, an edit,
//! `git commit -am` and `git push` in bash, both on a local bare remote
//! with history (`file://`). Prints median (min–max) of each, their ratio
//! with the 1.1× target, and how many `git` processes each one starts
//! (counted by a `git` shim first on `PATH`, in runs of their own so the
//! shim costs no time in the timed runs).
//!
//! Run with `scripts/bench.sh` or `cargo bench -p kargo-promotion --bench
//! promotion_git`; `KARGO_BENCH_RUNS` sets the number of runs (21).

#[path = "../../../benches/support.rs"]
mod stats;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use kargo_api::common::ExpressionVariable;
use kargo_api::promotion::{PromotionPhase, PromotionStep};
use kargo_expr::{NoLookup, PromotionContext};
use kargo_promotion::runner::NoTasks;
use kargo_promotion::{NoCredentials, PromotionInput, Registry, RunState, Runner, RunnerOptions};

/// Files in the remote (one values file per app and environment).
const APPS: usize = 50;
const ENVS: [&str; 3] = ["dev", "staging", "prod"];
/// Commits of history before the benchmark starts.
const HISTORY: usize = 100;
/// The target ratio of issue 12.
const TARGET: f64 = 1.1;
/// Argument that makes this binary run one promotion and exit (for the
/// process count, under the `git` shim).
const ONE_PROMOTION: &str = "--one-promotion";

/// The identity the script and the set-up commit as (git-commit's default).
const IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Kargo"),
    ("GIT_AUTHOR_EMAIL", "no-reply@kargo.local"),
    ("GIT_COMMITTER_NAME", "Kargo"),
    ("GIT_COMMITTER_EMAIL", "no-reply@kargo.local"),
];

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .envs(IDENTITY)
        .stdout(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn values(app: usize, env: &str, tag: &str) -> String {
    format!(
        "# app-{app} in {env}\nreplicaCount: 2\nimage:\n  repository: registry.example.com/app-{app}\n  tag: \"{tag}\" # promoted by Kargo\n  pullPolicy: IfNotPresent\nresources:\n  limits: {{cpu: 500m, memory: 256Mi}}\n"
    )
}

/// A bare remote `main` with `APPS × ENVS` values files and `HISTORY`
/// commits; returns its `file://` URL.
fn remote(root: &Path) -> String {
    let bare = root.join("config.git");
    let seed = root.join("seed");
    git(
        root,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &bare.to_string_lossy(),
        ],
    );
    git(root, &["init", "-q", "-b", "main", &seed.to_string_lossy()]);
    for app in 0..APPS {
        for env in ENVS {
            let dir = seed.join(format!("apps/app-{app}/{env}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("values.yaml"), values(app, env, "1.0.0")).expect("write");
        }
    }
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "initial"]);
    for i in 1..HISTORY {
        let (app, env) = (i % APPS, ENVS[i % ENVS.len()]);
        let file = seed.join(format!("apps/app-{app}/{env}/values.yaml"));
        std::fs::write(file, values(app, env, &format!("1.0.{i}"))).expect("write");
        git(
            &seed,
            &["commit", "-q", "-am", &format!("app-{app} {env} 1.0.{i}")],
        );
    }
    let url = format!("file://{}", bare.display());
    git(&seed, &["push", "-q", &url, "main"]);
    url
}

fn steps(url: &str) -> Vec<PromotionStep> {
    yaml_serde::from_str(&format!(
        r#"
- uses: git-clone
  config:
    repoURL: {url}
    checkout:
    - branch: main
      path: ./src
- uses: yaml-update
  as: update
  config:
    path: ./src/apps/app-7/${{{{ ctx.stage }}}}/values.yaml
    updates:
    - key: image.tag
      value: ${{{{ vars.tag }}}}
- uses: git-commit
  config:
    path: ./src
    messageFromSteps: [update]
- uses: git-push
  config:
    path: ./src
"#
    ))
    .expect("steps")
}

/// One promotion through the runner in a fresh work directory.
fn promote(url: &str, work: PathBuf, tag: &str) {
    let mut opts = RunnerOptions::new(work);
    opts.allow_file_repos = true;
    let runner = Runner::new(Arc::new(Registry::builtin()), opts);
    let steps = steps(url);
    let vars = vec![ExpressionVariable {
        name: "tag".into(),
        value: tag.into(),
    }];
    let input = PromotionInput {
        ctx: PromotionContext {
            project: "bench".into(),
            stage: "dev".into(),
            promotion: format!("dev.{tag}"),
            ..Default::default()
        },
        freight: vec![],
        vars,
        lookup: &NoLookup,
        credentials: &NoCredentials,
        apps: None,
        objects: None,
    };
    let mut persist = |_: &RunState| Ok(());
    let o = runner
        .run(&input, &steps, &NoTasks, RunState::new(), &mut persist)
        .expect("run");
    assert_eq!(
        o.phase,
        PromotionPhase::Succeeded,
        "{} {:?}",
        o.message,
        o.state.metadata
    );
}

/// The same promotion as a plain script.
fn script(url: &str, work: &Path, tag: &str) -> Command {
    let w = work.display();
    let mut c = Command::new("bash");
    c.envs(IDENTITY).args([
        "-ec",
        &format!(
            "git clone -q --depth 1 {url} {w} && sed -i 's/tag: .*/tag: \"{tag}\" # promoted by Kargo/' {w}/apps/app-7/dev/values.yaml && git -C {w} commit -q -am 'Updated apps/app-7/dev/values.yaml' && git -C {w} push -q origin main"
        ),
    ]);
    c
}

fn run_script(mut cmd: Command) {
    let out = cmd.output().expect("bash");
    assert!(
        out.status.success(),
        "script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A `git` that appends a line to `count` and runs the real git.
fn shim(root: &Path) -> (PathBuf, PathBuf) {
    let real = Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .expect("sh");
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    let dir = root.join("shim");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let count = root.join("git-count");
    let script = dir.join("git");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{real}' \"$@\"\n",
            count.display()
        ),
    )
    .expect("write shim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, count)
}

/// The git command lines `cmd` runs with the shim first on `PATH`.
fn count_git(shim: &Path, count: &Path, mut cmd: Command) -> Vec<String> {
    let _ = std::fs::remove_file(count);
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", shim.display()));
    let out = cmd.output().expect("run under shim");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(count)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == ONE_PROMOTION) {
        promote(&args[i + 1], PathBuf::from(&args[i + 2]), &args[i + 3]);
        return;
    }
    let runs: usize = std::env::var("KARGO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let url = remote(root);
    let n = std::cell::Cell::new(0usize);
    let next = |prefix: &str| {
        n.set(n.get() + 1);
        (
            root.join(format!("{prefix}{}", n.get())),
            format!("2.0.{}", n.get()),
        )
    };
    // Warm-up: one of each.
    let (w, tag) = next("k");
    promote(&url, w, &tag);
    let (w, tag) = next("b");
    run_script(script(&url, &w, &tag));

    let (kargo, base) = stats::alternate(
        runs,
        || {
            let (w, tag) = next("k");
            let t = Instant::now();
            promote(&url, w, &tag);
            ms(t)
        },
        || {
            let (w, tag) = next("b");
            let cmd = script(&url, &w, &tag);
            let t = Instant::now();
            run_script(cmd);
            ms(t)
        },
    );

    let (shim_dir, count) = shim(root);
    let (w, tag) = next("k");
    let mut one = Command::new(std::env::current_exe().expect("current exe"));
    one.args([ONE_PROMOTION, &url, &w.to_string_lossy(), &tag]);
    let kargo_git = count_git(&shim_dir, &count, one);
    let (w, tag) = next("b");
    let base_git = count_git(&shim_dir, &count, script(&url, &w, &tag));

    stats::header(&format!(
        "Promotion git work: clone → yaml-update → commit → push ({runs} runs, alternating; remote: {} files, {HISTORY} commits)",
        APPS * ENVS.len()
    ));
    stats::row(
        "promotion git work, ms",
        &kargo,
        &base,
        "git clone --depth 1 + sed + commit -am + push",
        &format!("≤ {TARGET}x"),
    );
    println!(
        "| git processes per promotion | {} | {} | | 4 |",
        kargo_git.len(),
        base_git.len()
    );
    let ratio = stats::summary(&kargo).0 / stats::summary(&base).0;
    println!(
        "\npromotion git work ratio {ratio:.2}x (target ≤ {TARGET}x): {}",
        if ratio <= TARGET { "PASS" } else { "FAIL" }
    );
    println!("\nkargo-rs git commands:");
    for c in &kargo_git {
        println!("  git {c}");
    }
}
