//! The pull-request steps against the in-test forge (`support/forge.rs`),
//! once per provider (GitHub under `/api/v3/`, GitLab, Gitea): open with
//! labels, the title from the head commit and the link back to the Stage;
//! reuse of the open pull request; `Skipped` without a difference; wait
//! while open, then the reviewer really merges and the step outputs the
//! merge commit now at the tip of `main`; merge through the API (not
//! ready → Running with `wait`, Failed without; then merged); closed
//! unmerged → Failed; reuse found on a later page; every call carried the
//! provider's token header.

#[path = "support/forge.rs"]
mod forge;

use std::path::Path;
use std::time::Duration;

use forge::Forge;
use kargo_promotion::{
    GitCredentials, Limits, Registry, StepContext, StepError, StepResult, StepStatus,
};
use serde_json::{Map, Value, json};

const TOKEN: &str = "t0ken-s3cret";

/// git, trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    forge::git(dir, args).trim().to_string()
}

/// Pushes branch `branch` (from main) with `file` changed to `text`,
/// committed with `message`, straight into the bare repository.
fn push_branch(bare: &Path, scratch: &Path, branch: &str, file: &str, text: &str, message: &str) {
    let work = scratch.join(format!("w-{}", branch.replace('/', "-")));
    git(
        scratch,
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["checkout", "-q", "-b", branch]);
    std::fs::write(work.join(file), text).unwrap();
    git(&work, &["commit", "-q", "-am", message]);
    git(&work, &["push", "-q", "origin", branch]);
}

/// Runs step `uses` with `config`, as the runner would (its alias `pr`).
fn run(
    work: &Path,
    uses: &str,
    config: Value,
    prior: &Map<String, Value>,
) -> Result<StepResult, StepError> {
    let promotion = kargo_expr::PromotionContext {
        project: "shop".into(),
        stage: "prod".into(),
        promotion: "prod.01".into(),
        ..Default::default()
    };
    let creds = |_: &str| {
        Some(GitCredentials {
            username: "bot".into(),
            password: TOKEN.into(),
        })
    };
    let limits = Limits {
        http_timeout: Duration::from_secs(20),
        git_timeout: Duration::from_secs(20),
        ..Limits::default()
    };
    let empty = Map::new();
    let ctx = StepContext {
        work_dir: work,
        alias: "pr",
        promotion: &promotion,
        outputs: prior,
        shared: &empty,
        credentials: &creds,
        apps: None,
        objects: None,
        allow_file_repos: false,
        limits: &limits,
        ui_base_url: Some("https://kargo.example.com"),
    };
    Registry::builtin().get(uses).unwrap().run(&ctx, &config)
}

fn flow(provider: &str, merge_method: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("forge");
    std::fs::create_dir_all(&root).unwrap();
    let forge = Forge::serve(&root, "bot", TOKEN);
    let url = forge.repo("acme", "config", &[("values.yaml", "tag: 1\n")]);
    let bare = forge.bare("acme/config");
    forge.add_label("kargo");
    forge.add_label("prod");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let none = Map::new();
    let open = |src: &str, extra: Value, prior: &Map<String, Value>| {
        let mut cfg = json!({"repoURL": url, "provider": provider, "sourceBranch": src, "targetBranch": "main"});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        run(&work, "git-open-pr", cfg, prior)
    };
    let wait = |n: i64| {
        run(
            &work,
            "git-wait-for-pr",
            json!({"repoURL": url, "provider": provider, "prNumber": n, "pollInterval": "1s"}),
            &none,
        )
    };
    let merge = |n: i64, extra: Value| {
        let mut cfg = json!({"repoURL": url, "provider": provider, "prNumber": n});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        run(&work, "git-merge-pr", cfg, &none)
    };

    // Open: title and body from the head commit, the UI link, labels.
    push_branch(
        &bare,
        tmp.path(),
        "kargo/promotion/prod.01",
        "values.yaml",
        "tag: 2\n",
        "Promote prod to 2\n\nFreight abc123",
    );
    let r = open(
        "kargo/promotion/prod.01",
        json!({"labels": ["kargo", "prod"]}),
        &none,
    )
    .unwrap();
    assert_eq!(r.status(), StepStatus::Succeeded, "{provider}");
    let pr = &forge.prs()[0];
    assert_eq!(r.outputs["pr"]["id"], json!(pr.number), "{provider}");
    assert!(
        r.outputs["pr"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&forge.base),
        "{provider}: {}",
        r.outputs["pr"]
    );
    assert_eq!(pr.title, "Promote prod to 2");
    assert_eq!(
        pr.body,
        "\nFreight abc123\n\n[View in Kargo UI](https://kargo.example.com/project/shop/stage/prod)"
    );
    assert_eq!(pr.labels, ["kargo", "prod"], "{provider}");
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str()),
        ("kargo/promotion/prod.01", "main")
    );

    // Its own prior output short-circuits; without it, the open pull
    // request for the same head is found and reused.
    let mut prior = Map::new();
    prior.insert("pr".into(), Value::Object(r.outputs.clone()));
    assert_eq!(
        open("kargo/promotion/prod.01", json!({}), &prior)
            .unwrap()
            .outputs,
        r.outputs
    );
    assert_eq!(
        open("kargo/promotion/prod.01", json!({}), &none)
            .unwrap()
            .outputs,
        r.outputs
    );
    assert_eq!(forge.prs().len(), 1, "{provider}: reused, not reopened");

    // Open → Running with the poll interval; the reviewer merges → the
    // merge commit, which is main's tip.
    let r = wait(1).unwrap();
    assert_eq!(r.status(), StepStatus::Running);
    assert_eq!(r.retry_after, Some(Duration::from_secs(1)));
    assert_eq!(r.outputs["pr"]["open"], json!(true));
    let sha = forge.merge(1);
    assert_eq!(git(&bare, &["rev-parse", "main"]), sha);
    assert_eq!(
        git(&bare, &["show", "main:values.yaml"]),
        "tag: 2",
        "the merge brought the change"
    );
    let r = wait(1).unwrap();
    assert_eq!(r.status(), StepStatus::Succeeded, "{provider}");
    assert_eq!(r.outputs["commit"], json!(sha));
    assert_eq!(r.outputs["pr"]["merged"], json!(true));

    // No difference between the branches → Skipped.
    git(&bare, &["branch", "kargo/promotion/prod.02", "main"]);
    assert_eq!(
        open("kargo/promotion/prod.02", json!({}), &none)
            .unwrap()
            .status(),
        StepStatus::Skipped
    );

    // Merge through the API: not ready → Running (wait) / Failed.
    push_branch(
        &bare,
        tmp.path(),
        "prod.03",
        "values.yaml",
        "tag: 3\n",
        "Promote prod to 3",
    );
    let n = open("prod.03", json!({}), &none).unwrap().outputs["pr"]["id"]
        .as_i64()
        .unwrap();
    forge.set_mergeable(false);
    let r = merge(n, json!({"wait": true, "pollInterval": "2s"})).unwrap();
    assert_eq!(r.status(), StepStatus::Running, "{provider}");
    assert_eq!(r.retry_after, Some(Duration::from_secs(2)));
    let e = merge(n, json!({})).unwrap_err();
    assert!(
        e.terminal && e.message.contains("not ready to merge"),
        "{e}"
    );
    forge.set_mergeable(true);
    let r = merge(n, json!({"mergeMethod": merge_method})).unwrap();
    assert_eq!(r.status(), StepStatus::Succeeded, "{provider}");
    assert_eq!(
        r.outputs["commit"],
        json!(git(&bare, &["rev-parse", "main"]))
    );
    // Merging a merged one again just reports it.
    assert_eq!(merge(n, json!({})).unwrap().outputs, r.outputs);

    // Closed without being merged → Failed.
    push_branch(
        &bare,
        tmp.path(),
        "prod.04",
        "values.yaml",
        "tag: 4\n",
        "Promote prod to 4",
    );
    let n = open("prod.04", json!({}), &none).unwrap().outputs["pr"]["id"]
        .as_i64()
        .unwrap();
    forge.close(n);
    let r = wait(n).unwrap();
    assert_eq!(r.status(), StepStatus::Failed);
    assert!(
        r.message
            .contains(&format!("pull request {n} was closed without being merged")),
        "{}",
        r.message
    );
    let e = merge(n, json!({})).unwrap_err();
    assert!(e.message.contains("closed but not merged"), "{e}");

    // Pagination: other open pull requests for the same branches (other
    // heads) fill the first pages; the open one is found past them.
    forge.set_page_size(2);
    push_branch(
        &bare,
        tmp.path(),
        "prod.05",
        "values.yaml",
        "tag: 5\n",
        "Promote prod to 5",
    );
    forge.add_other_prs("acme/config", "prod.05", "main", 5);
    let first = open("prod.05", json!({}), &none).unwrap();
    let count = forge.prs().len();
    let again = open("prod.05", json!({}), &none).unwrap();
    assert_eq!(again.outputs, first.outputs, "{provider}");
    assert_eq!(
        forge.prs().len(),
        count,
        "{provider}: found on a later page"
    );
    let pages = forge
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("page=3"))
        .count();
    assert!(pages >= 1, "{provider}: {:#?}", forge.requests());

    // Every call carried the provider's token header under its API root.
    let (root_path, auth) = match provider {
        "github" => ("/api/v3/repos/acme/config/", "bearer"),
        "gitlab" => ("/api/v4/projects/acme%2Fconfig/", "private-token"),
        _ => ("/api/v1/repos/acme/config/", "token"),
    };
    let requests = forge.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(
            r.contains(root_path) && r.ends_with(auth),
            "{provider}: {r}"
        );
    }
}

#[test]
fn github_pull_request_flow() {
    flow("github", "squash");
}

#[test]
fn gitlab_merge_request_flow() {
    flow("gitlab", "squash");
}

#[test]
fn gitea_pull_request_flow() {
    flow("gitea", "rebase-merge");
}

#[test]
fn a_wrong_token_and_missing_labels_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let forge = Forge::serve(tmp.path(), "bot", "other-token");
    let url = forge.repo("acme", "config", &[("values.yaml", "tag: 1\n")]);
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let e = run(
        &work,
        "git-wait-for-pr",
        json!({"repoURL": url, "provider": "github", "prNumber": 1}),
        &Map::new(),
    )
    .unwrap_err();
    assert!(!e.terminal);
    assert!(
        e.message.contains("401") && e.message.contains("Bad credentials"),
        "{e}"
    );
    assert!(!e.message.contains(TOKEN), "{e}");

    let forge = Forge::serve(tmp.path(), "bot", TOKEN);
    let url = format!("{}/acme/config.git", forge.base);
    push_branch(
        &forge.bare("acme/config"),
        tmp.path(),
        "b",
        "values.yaml",
        "tag: 9\n",
        "nine",
    );
    let e = run(
        &work,
        "git-open-pr",
        json!({"repoURL": url, "provider": "gitea", "sourceBranch": "b", "targetBranch": "main", "labels": ["nope"]}),
        &Map::new(),
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("labels not found in repository acme/config: nope"),
        "{e}"
    );
    let e = run(
        &work,
        "git-open-pr",
        json!({"repoURL": url, "provider": "bitbucket", "sourceBranch": "b", "targetBranch": "main"}),
        &Map::new(),
    )
    .unwrap_err();
    assert!(
        e.terminal && e.message.contains("\"bitbucket\" is not supported"),
        "{e}"
    );
}

#[test]
fn more_than_a_hundred_open_pull_requests_are_paged_through() {
    // GitHub's largest page is 100: the open pull request for this head
    // is the 121st and is still found and reused.
    let tmp = tempfile::tempdir().unwrap();
    let forge = Forge::serve(tmp.path(), "bot", TOKEN);
    let url = forge.repo("acme", "config", &[("values.yaml", "tag: 1\n")]);
    push_branch(
        &forge.bare("acme/config"),
        tmp.path(),
        "b",
        "values.yaml",
        "tag: 2\n",
        "two",
    );
    forge.add_other_prs("acme/config", "b", "main", 120);
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let cfg =
        json!({"repoURL": url, "provider": "github", "sourceBranch": "b", "targetBranch": "main"});
    let first = run(&work, "git-open-pr", cfg.clone(), &Map::new()).unwrap();
    assert_eq!(first.outputs["pr"]["id"], json!(121));
    let again = run(&work, "git-open-pr", cfg, &Map::new()).unwrap();
    assert_eq!(again.outputs, first.outputs);
    assert_eq!(forge.prs().len(), 121);
    let lists: Vec<String> = forge
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /api/v3/repos/acme/config/pulls?"))
        .collect();
    // Two pages each time (100 + 20, then 100 + 21).
    assert_eq!(lists.len(), 4, "{lists:#?}");
    assert!(lists.iter().all(|r| r.contains("per_page=100")));
    assert_eq!(lists.iter().filter(|r| r.contains("page=2")).count(), 2);
}
