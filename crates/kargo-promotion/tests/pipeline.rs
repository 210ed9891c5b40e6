//! End-to-end promotions against real git repositories (bare repos over
//! `file://`): the seed's dev pipeline, rollback, crash/resume, push races.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kargo_api::promotion::{PromotionPhase, PromotionStep};
use kargo_expr::{NoLookup, PromotionContext};
use kargo_promotion::runner::NoTasks;
use kargo_promotion::{
    NoCredentials, PromotionInput, Registry, RunError, RunOutcome, RunState, Runner, RunnerOptions,
    StepStatus,
};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const VALUES: &str = r#"# my-web-app values for the dev environment.
# Kargo updates image.tag; everything else is edited by hand.

replicaCount: 1 # dev runs one replica

image:
  repository: myacr.azurecr.io/my-web-app
  # The tag below is promoted by Kargo.
  tag: "1.4.0"   # do not edit by hand
  pullPolicy: IfNotPresent

ingress:
  enabled: true
  hosts:
    - host: dev.example.com   # dev host
      paths: ["/"]
# end
"#;

/// The seed's dev Stage steps (02-stage-dev.yaml), with the repo URL of the
/// test's bare repository.
const SEED_STEPS: &str = r#"
- uses: git-clone
  config:
    repoURL: REPO
    checkout:
    - branch: main
      path: ./src
- uses: git-update
  config:
    path: ./src
    updates:
    - file: apps/my-web-app/${{ ctx.stage }}/values.yaml
      key: image.tag
      value: ${{ freight.images["myacr.azurecr.io/my-web-app"].tag }}
- uses: git-commit
  config:
    path: ./src
    message: promote my-web-app to ${{ ctx.stage }}
- uses: git-push
  config:
    path: ./src
- uses: argocd-update
  if: ctx.stage == "prod"
  config:
    apps:
    - name: my-web-app-prod
"#;

fn git(dir: &Path, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()?;
    if !out.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

struct Repo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    bare: PathBuf,
    url: String,
}

impl Repo {
    /// A bare `k8s-config` repo with dev and prod values files on `main`.
    fn new() -> Result<Repo, Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path().to_path_buf();
        let bare = root.join("k8s-config.git");
        git(
            &root,
            &[
                "init",
                "--quiet",
                "--bare",
                "-b",
                "main",
                &bare.to_string_lossy(),
            ],
        )?;
        let seed = root.join("seed");
        git(
            &root,
            &[
                "clone",
                "--quiet",
                &bare.to_string_lossy(),
                &seed.to_string_lossy(),
            ],
        )?;
        git(&seed, &["checkout", "--quiet", "-b", "main"])?;
        for env in ["dev", "prod"] {
            let dir = seed.join(format!("apps/my-web-app/{env}"));
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("values.yaml"), VALUES.replace("dev", env))?;
        }
        git(&seed, &["add", "."])?;
        git(&seed, &["commit", "--quiet", "-m", "initial"])?;
        git(&seed, &["push", "--quiet", "origin", "main"])?;
        let url = format!("file://{}", bare.display());
        Ok(Repo {
            _tmp: tmp,
            root,
            bare,
            url,
        })
    }

    fn file(&self, path: &str) -> Result<String, Box<dyn std::error::Error>> {
        git(&self.bare, &["show", &format!("main:{path}")])
    }

    fn commits(&self) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        Ok(git(&self.bare, &["log", "--format=%s", "main"])?
            .lines()
            .map(String::from)
            .collect())
    }

    fn steps(&self) -> Result<Vec<PromotionStep>, Box<dyn std::error::Error>> {
        Ok(yaml_serde::from_str(
            &SEED_STEPS.replace("REPO", &self.url),
        )?)
    }

    fn runner(&self, name: &str) -> Runner {
        let mut opts = RunnerOptions::new(self.root.join("work").join(name));
        opts.retry_delay = std::time::Duration::from_millis(1);
        opts.allow_file_repos = true;
        Runner::new(Arc::new(Registry::builtin()), opts)
    }
}

fn input(stage: &str, tag: &str) -> PromotionInput<'static> {
    PromotionInput {
        ctx: PromotionContext {
            project: "my-web-app".into(),
            stage: stage.into(),
            promotion: format!("{stage}.01j{tag}"),
            target_freight_name: format!("f-{tag}"),
            target_origin_name: "my-warehouse".into(),
            ..Default::default()
        },
        freight: vec![json!({
            "name": format!("f-{tag}"),
            "origin": {"kind": "Warehouse", "name": "my-warehouse"},
            "images": [{"repoURL": "myacr.azurecr.io/my-web-app", "tag": tag}],
        })],
        vars: vec![],
        lookup: &NoLookup,
        credentials: &NoCredentials,
        apps: None,
        objects: None,
    }
}

fn promote(
    repo: &Repo,
    work: &str,
    stage: &str,
    tag: &str,
) -> Result<RunOutcome, Box<dyn std::error::Error>> {
    let mut persist = |_: &RunState| Ok(());
    Ok(repo.runner(work).run(
        &input(stage, tag),
        &repo.steps()?,
        &NoTasks,
        RunState::new(),
        &mut persist,
    )?)
}

fn statuses(o: &RunOutcome) -> Vec<String> {
    o.state
        .metadata
        .iter()
        .map(|m| format!("{}={}", m.alias, m.status))
        .collect()
}

#[test]
fn seed_dev_pipeline_changes_only_the_tag() -> TestResult {
    let repo = Repo::new()?;
    let o = promote(&repo, "p1", "dev", "1.6.0")?;
    assert_eq!(
        o.phase,
        PromotionPhase::Succeeded,
        "{} {:?}",
        o.message,
        o.state.metadata
    );
    assert_eq!(
        statuses(&o),
        [
            "step-0=Succeeded",
            "step-1=Succeeded",
            "step-2=Succeeded",
            "step-3=Succeeded",
            "step-4=Skipped"
        ]
    );
    // Byte-for-byte: only the scalar changed, its quotes kept.
    let dev = repo.file("apps/my-web-app/dev/values.yaml")?;
    assert_eq!(
        dev,
        VALUES
            .replace("tag: \"1.4.0\"", "tag: \"1.6.0\"")
            .trim_end()
    );
    let prod = repo.file("apps/my-web-app/prod/values.yaml")?;
    assert_eq!(prod, VALUES.replace("dev", "prod").trim_end());
    assert_eq!(repo.commits()?, ["promote my-web-app to dev", "initial"]);
    // Outputs: commit from git-commit equals what git-push pushed.
    let head = git(&repo.bare, &["rev-parse", "main"])?;
    assert_eq!(o.state.outputs["step-2"]["commit"], json!(head));
    assert_eq!(
        o.state.outputs["step-3"],
        json!({"commit": head, "branch": "main"})
    );
    assert_eq!(
        git(&repo.bare, &["log", "-1", "--format=%an <%ae>", "main"])?,
        "Kargo <no-reply@kargo.local>"
    );
    // The if: ctx.stage == "prod" step was skipped without being looked up.
    assert!(
        o.state.metadata[4]
            .message
            .contains("ctx.stage == \"prod\"")
    );
    Ok(())
}

#[test]
fn a_committed_symlink_out_of_the_work_tree_fails_the_promotion() -> TestResult {
    let repo = Repo::new()?;
    let outside = repo.root.join("outside.yaml");
    std::fs::write(&outside, VALUES)?;
    let seed = repo.root.join("seed");
    let values = seed.join("apps/my-web-app/dev/values.yaml");
    std::fs::remove_file(&values)?;
    std::os::unix::fs::symlink(&outside, &values)?;
    git(&seed, &["add", "."])?;
    git(&seed, &["commit", "--quiet", "-m", "link"])?;
    git(&seed, &["push", "--quiet", "origin", "main"])?;

    let o = promote(&repo, "p1", "dev", "1.6.0")?;
    assert_eq!(o.phase, PromotionPhase::Failed, "{}", o.message);
    assert_eq!(
        statuses(&o)[..3],
        ["step-0=Succeeded", "step-1=Failed", "step-2=Skipped"]
    );
    assert!(
        o.message.contains(
            "updates[].file: \"./src/apps/my-web-app/dev/values.yaml\" resolves outside the work tree"
        ) && o.message.contains(&*outside.to_string_lossy()),
        "{}",
        o.message
    );
    // Nothing was written through the link, and nothing was pushed.
    assert_eq!(std::fs::read_to_string(&outside)?, VALUES);
    assert_eq!(repo.commits()?, ["link", "initial"]);
    Ok(())
}

#[test]
fn file_repositories_need_the_server_setting() -> TestResult {
    let repo = Repo::new()?;
    let mut opts = RunnerOptions::new(repo.root.join("work").join("p1"));
    opts.retry_delay = std::time::Duration::from_millis(1);
    let runner = Runner::new(Arc::new(Registry::builtin()), opts);
    let mut persist = |_: &RunState| Ok(());
    let o = runner.run(
        &input("dev", "1.6.0"),
        &repo.steps()?,
        &NoTasks,
        RunState::new(),
        &mut persist,
    )?;
    assert_eq!(o.phase, PromotionPhase::Failed, "{}", o.message);
    assert!(
        o.message.contains("repoURL") && o.message.contains("--allow-file-repos"),
        "{}",
        o.message
    );
    assert_eq!(repo.commits()?, ["initial"]);
    Ok(())
}

#[test]
fn rollback_writes_the_older_tag_back() -> TestResult {
    let repo = Repo::new()?;
    assert_eq!(
        promote(&repo, "a", "dev", "1.6.0")?.phase,
        PromotionPhase::Succeeded
    );
    let o = promote(&repo, "b", "dev", "1.5.0")?;
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    let dev = repo.file("apps/my-web-app/dev/values.yaml")?;
    assert_eq!(
        dev,
        VALUES
            .replace("tag: \"1.4.0\"", "tag: \"1.5.0\"")
            .trim_end()
    );
    assert_eq!(
        repo.commits()?,
        [
            "promote my-web-app to dev",
            "promote my-web-app to dev",
            "initial"
        ]
    );
    // Promoting the same Freight again: nothing to commit, push is a no-op.
    let o = promote(&repo, "c", "dev", "1.5.0")?;
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    assert_eq!(o.state.metadata[2].status, "Skipped");
    assert_eq!(repo.commits()?.len(), 3);
    Ok(())
}

/// Runs with a persist callback that "crashes" (fails) at the first state
/// matching `crash_at`, and returns the last state that was saved (a fresh
/// one when nothing was: a restart then finds no saved progress).
fn run_until_crash(
    repo: &Repo,
    work: &str,
    crash_at: &dyn Fn(&RunState) -> bool,
) -> Result<RunState, Box<dyn std::error::Error>> {
    let mut saved: Option<String> = None;
    let mut persist = |st: &RunState| {
        if crash_at(st) {
            return Err("killed".to_string());
        }
        saved = Some(serde_json::to_string(st).map_err(|e| e.to_string())?);
        Ok(())
    };
    let r = repo.runner(work).run(
        &input("dev", "1.6.0"),
        &repo.steps()?,
        &NoTasks,
        RunState::new(),
        &mut persist,
    );
    assert!(
        matches!(r, Err(RunError::Persist(_))),
        "expected a crash, got {r:?}"
    );
    Ok(match saved {
        Some(json) => serde_json::from_str(&json)?,
        None => RunState::new(),
    })
}

fn resume(
    repo: &Repo,
    work: &str,
    state: RunState,
) -> Result<RunOutcome, Box<dyn std::error::Error>> {
    let mut persist = |_: &RunState| Ok(());
    Ok(repo.runner(work).run(
        &input("dev", "1.6.0"),
        &repo.steps()?,
        &NoTasks,
        state,
        &mut persist,
    )?)
}

#[test]
fn resume_after_crash_between_commit_and_push() -> TestResult {
    let repo = Repo::new()?;
    // Dies right after git-commit finished, as git-push's start (which
    // carries the commit's end) is saved: the saved state has the commit
    // still running, which runs again and finds its commit made.
    let state = run_until_crash(&repo, "w", &|st| {
        st.status_of("step-3") == Some(StepStatus::Running)
    })?;
    assert_eq!(state.status_of("step-2"), Some(StepStatus::Running));
    assert_eq!(state.current_step, 2);
    assert_eq!(repo.commits()?, ["initial"]);
    let o = resume(&repo, "w", state)?;
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    assert_eq!(repo.commits()?, ["promote my-web-app to dev", "initial"]);
    Ok(())
}

#[test]
fn resume_after_crash_during_commit() -> TestResult {
    let repo = Repo::new()?;
    // The commit was made but its success never saved: git-commit runs again.
    let state = run_until_crash(&repo, "w", &|st| {
        st.status_of("step-2") == Some(StepStatus::Succeeded)
    })?;
    assert_eq!(state.status_of("step-2"), Some(StepStatus::Running));
    let o = resume(&repo, "w", state)?;
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    // Nothing left to commit: Skipped, with the existing commit as output.
    assert_eq!(o.state.status_of("step-2"), Some(StepStatus::Skipped));
    let head = git(&repo.bare, &["rev-parse", "main"])?;
    assert_eq!(o.state.outputs["step-2"]["commit"], json!(head));
    assert_eq!(repo.commits()?, ["promote my-web-app to dev", "initial"]);
    Ok(())
}

#[test]
fn resume_after_crash_after_push() -> TestResult {
    let repo = Repo::new()?;
    // The push happened but its success was never saved.
    let state = run_until_crash(&repo, "w", &|st| {
        st.status_of("step-3") == Some(StepStatus::Succeeded)
    })?;
    assert_eq!(state.status_of("step-3"), Some(StepStatus::Running));
    assert_eq!(repo.commits()?, ["promote my-web-app to dev", "initial"]);
    let before = git(&repo.bare, &["rev-parse", "main"])?;
    let o = resume(&repo, "w", state)?;
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    assert_eq!(
        o.state.outputs["step-3"],
        json!({"commit": before, "branch": "main"})
    );
    // Exactly one new commit on the remote.
    assert_eq!(repo.commits()?, ["promote my-web-app to dev", "initial"]);
    assert_eq!(git(&repo.bare, &["rev-parse", "main"])?, before);
    Ok(())
}

#[test]
fn resume_after_crash_during_clone() -> TestResult {
    let repo = Repo::new()?;
    // The clone's start is not saved (a fresh run's first step): the
    // restart finds nothing saved and starts over in the same directory.
    let state = run_until_crash(&repo, "w", &|st| {
        st.status_of("step-0") == Some(StepStatus::Succeeded)
    })?;
    assert_eq!(state, RunState::new());
    let o = resume(&repo, "w", state)?;
    assert_eq!(
        o.phase,
        PromotionPhase::Succeeded,
        "{} {:?}",
        o.message,
        o.state.metadata
    );
    assert_eq!(repo.commits()?, ["promote my-web-app to dev", "initial"]);
    Ok(())
}

#[test]
fn push_rebases_when_the_remote_moved() -> TestResult {
    let repo = Repo::new()?;
    // Someone else pushes an unrelated change while our promotion runs:
    // simulate by running up to the commit, then pushing from elsewhere.
    let state = run_until_crash(&repo, "w", &|st| {
        st.status_of("step-3") == Some(StepStatus::Running)
    })?;
    let other = repo.root.join("other");
    git(
        &repo.root,
        &["clone", "--quiet", &repo.url, &other.to_string_lossy()],
    )?;
    std::fs::write(other.join("README.md"), "hello\n")?;
    git(&other, &["add", "."])?;
    git(&other, &["commit", "--quiet", "-m", "unrelated"])?;
    git(&other, &["push", "--quiet", "origin", "main"])?;
    let o = resume(&repo, "w", state)?;
    assert_eq!(o.phase, PromotionPhase::Succeeded, "{}", o.message);
    assert_eq!(
        repo.commits()?,
        ["promote my-web-app to dev", "unrelated", "initial"]
    );
    assert_eq!(repo.file("README.md")?, "hello");
    Ok(())
}

#[test]
fn push_conflict_fails_the_step() -> TestResult {
    let repo = Repo::new()?;
    let state = run_until_crash(&repo, "w", &|st| {
        st.status_of("step-3") == Some(StepStatus::Running)
    })?;
    let other = repo.root.join("other");
    git(
        &repo.root,
        &["clone", "--quiet", &repo.url, &other.to_string_lossy()],
    )?;
    let f = other.join("apps/my-web-app/dev/values.yaml");
    std::fs::write(&f, std::fs::read_to_string(&f)?.replace("1.4.0", "9.9.9"))?;
    git(&other, &["commit", "--quiet", "-am", "hand edit"])?;
    git(&other, &["push", "--quiet", "origin", "main"])?;
    let o = resume(&repo, "w", state)?;
    assert_eq!(o.phase, PromotionPhase::Failed);
    let m = &o.state.metadata[3].message;
    assert!(m.contains("git-push") && m.contains("conflict"), "{m}");
    Ok(())
}

#[test]
fn bad_config_names_step_and_field() -> TestResult {
    let repo = Repo::new()?;
    let mut steps = repo.steps()?;
    steps[1].config = Some(
        json!({"path": "./src", "updates": [{"file": "apps/my-web-app/dev/values.yaml", "key": "image.tag"}]}),
    );
    let mut persist = |_: &RunState| Ok(());
    let o = repo.runner("w").run(
        &input("dev", "1.6.0"),
        &steps,
        &NoTasks,
        RunState::new(),
        &mut persist,
    )?;
    assert_eq!(o.phase, PromotionPhase::Failed);
    let m = &o.state.metadata[1].message;
    assert!(
        m.contains("git-update") && m.contains("updates[0]") && m.contains("value"),
        "{m}"
    );
    Ok(())
}

#[test]
fn kargo_yaml_update_form_and_generated_branch() -> TestResult {
    let repo = Repo::new()?;
    let steps: Vec<PromotionStep> = yaml_serde::from_str(&format!(
        r#"
- uses: git-clone
  as: clone
  config:
    repoURL: {url}
    checkout:
    - branch: main
      path: ./out
- uses: yaml-update
  as: update
  config:
    path: ./out/apps/my-web-app/${{{{ ctx.stage }}}}/values.yaml
    updates:
    - key: image.tag
      value: ${{{{ freight.images["myacr.azurecr.io/my-web-app"].tag }}}}
    - key: replicaCount
      value: 2
- uses: git-commit
  as: commit
  config:
    path: ./out
    messageFromSteps: [update]
    author: {{name: Release Bot, email: bot@example.com}}
- uses: git-push
  as: push
  config:
    path: ./out
    generateTargetBranch: true
"#,
        url = repo.url
    ))?;
    let mut persist = |_: &RunState| Ok(());
    let o = repo.runner("w").run(
        &input("dev", "2.0.0"),
        &steps,
        &NoTasks,
        RunState::new(),
        &mut persist,
    )?;
    assert_eq!(
        o.phase,
        PromotionPhase::Succeeded,
        "{} {:?}",
        o.message,
        o.state.metadata
    );
    let branch = "kargo/promotion/dev.01j2.0.0";
    assert_eq!(o.state.outputs["push"]["branch"], json!(branch));
    let file = git(
        &repo.bare,
        &["show", &format!("{branch}:apps/my-web-app/dev/values.yaml")],
    )?;
    assert_eq!(
        file,
        VALUES
            .replace("tag: \"1.4.0\"", "tag: \"2.0.0\"")
            .replace("replicaCount: 1 #", "replicaCount: 2 #")
            .trim_end()
    );
    let msg = git(&repo.bare, &["log", "-1", "--format=%B", branch])?;
    assert!(msg.contains("image.tag: 2.0.0"), "{msg}");
    assert_eq!(
        git(&repo.bare, &["log", "-1", "--format=%an", branch])?,
        "Release Bot"
    );
    // main is untouched.
    assert_eq!(repo.commits()?, ["initial"]);
    Ok(())
}
