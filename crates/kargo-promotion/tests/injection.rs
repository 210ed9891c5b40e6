//! A repository URL never reaches git as an option: run from inside a git
//! checkout whose `origin` is a local path (where `git clone`/`ls-remote`
//! with `--upload-pack=<cmd>` would run `<cmd>`), neither the clone
//! wrapper nor a Promotion with such a URL runs anything. One test in this
//! binary, because it changes the process's working directory.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use kargo_api::promotion::{PromotionPhase, PromotionStep};
use kargo_expr::{NoLookup, PromotionContext};
use kargo_promotion::git::Remote;
use kargo_promotion::runner::NoTasks;
use kargo_promotion::steps::git_clone::ensure_clone;
use kargo_promotion::{NoCredentials, PromotionInput, Registry, RunState, Runner, RunnerOptions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn git(dir: &Path, args: &[&str]) -> TestResult {
    let out = Command::new("git")
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
    Ok(())
}

#[test]
fn injection_urls_run_nothing_from_inside_a_checkout() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    let bare = root.join("origin.git");
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
    let checkout = root.join("checkout");
    git(
        root,
        &[
            "clone",
            "--quiet",
            &bare.to_string_lossy(),
            &checkout.to_string_lossy(),
        ],
    )?;
    git(
        &checkout,
        &["commit", "--quiet", "--allow-empty", "-m", "one"],
    )?;
    git(&checkout, &["push", "--quiet", "origin", "HEAD:main"])?;
    std::env::set_current_dir(&checkout)?;

    // Control: without `--`, git in this checkout does run the command.
    let control = root.join("control");
    let _ = Command::new("git")
        .args([
            "ls-remote",
            &format!("--upload-pack=touch {}; git-upload-pack", control.display()),
        ])
        .output();
    assert!(control.exists(), "the set-up must make the attack possible");

    let marker = root.join("pwned");
    let urls = [
        format!("--upload-pack=touch {}", marker.display()),
        format!("--upload-pack=touch {}; git-upload-pack", marker.display()),
        format!("ext::sh -c touch% {}", marker.display()),
    ];
    for (i, url) in urls.iter().enumerate() {
        // The wrapper itself, with no admission check in front of it.
        let remote = Remote {
            url: url.clone(),
            ..Default::default()
        };
        let target = root.join(format!("clone-{i}.git"));
        let limits = kargo_promotion::Limits::default();
        let git = kargo_promotion::git::Git::new(&limits);
        assert!(ensure_clone(&git, &target, &remote).is_err(), "{url}");
        assert!(!marker.exists(), "{url} ran a command through git clone");

        // A Promotion, even with file:// repositories allowed.
        let steps: Vec<PromotionStep> = serde_json::from_value(serde_json::json!([
            {"uses": "git-clone", "config": {"repoURL": url, "checkout": [{"path": "src"}]}}
        ]))?;
        let mut opts = RunnerOptions::new(root.join("work").join(i.to_string()));
        opts.retry_delay = std::time::Duration::from_millis(1);
        opts.allow_file_repos = true;
        let runner = Runner::new(Arc::new(Registry::builtin()), opts);
        let input = PromotionInput {
            ctx: PromotionContext {
                project: "p".into(),
                stage: "dev".into(),
                promotion: "dev.01".into(),
                ..Default::default()
            },
            freight: vec![],
            vars: vec![],
            lookup: &NoLookup,
            credentials: &NoCredentials,
            apps: None,
            objects: None,
        };
        let mut persist = |_: &RunState| Ok(());
        let o = runner.run(&input, &steps, &NoTasks, RunState::new(), &mut persist)?;
        assert_eq!(o.phase, PromotionPhase::Failed, "{url}: {}", o.message);
        assert!(o.message.contains("repoURL"), "{}", o.message);
        assert!(!marker.exists(), "{url} ran a command through a Promotion");
    }
    Ok(())
}
