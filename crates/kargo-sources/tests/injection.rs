//! A repository URL never reaches git as an option: run from inside a git
//! checkout whose `origin` is a local path (where `git ls-remote
//! --upload-pack=<cmd>` would run `<cmd>`), discovery with an injection
//! URL runs nothing. One test in this binary, because it changes the
//! process's working directory.

use kargo_api::warehouse::{CommitSelectionStrategy, GitSubscription};
use kargo_sources::git::GitDiscoverer;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn injection_urls_run_nothing_from_inside_a_checkout() {
    let tmp = tempfile::tempdir().expect("tempdir");
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
    );
    let checkout = root.join("checkout");
    git(
        root,
        &[
            "clone",
            "--quiet",
            &bare.to_string_lossy(),
            &checkout.to_string_lossy(),
        ],
    );
    git(
        &checkout,
        &["commit", "--quiet", "--allow-empty", "-m", "one"],
    );
    git(&checkout, &["push", "--quiet", "origin", "HEAD:main"]);
    std::env::set_current_dir(&checkout).expect("chdir");

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
    let cache = root.join("cache");
    let d = GitDiscoverer::new(&cache);
    let urls = [
        format!("--upload-pack=touch {}", marker.display()),
        format!("--upload-pack=touch {}; git-upload-pack", marker.display()),
        format!("ext::sh -c touch% {}", marker.display()),
        "-u".to_string(),
    ];
    for url in &urls {
        // The wrapper itself: the URL is a repository, not an option.
        let err = d.ls_remote(url, None).await;
        assert!(err.is_err(), "{url}: {err:?}");
        assert!(!marker.exists(), "{url} ran a command through ls-remote");
        // Discovery refuses it before git runs.
        let sub = GitSubscription {
            repo_url: url.clone(),
            commit_selection_strategy: Some(CommitSelectionStrategy::NewestFromBranch),
            ..Default::default()
        };
        let err = d.discover(&sub, None).await.expect_err("refused");
        assert!(err.to_string().contains("repoURL"), "{err}");
        assert!(!marker.exists(), "{url} ran a command through discovery");
    }
}
