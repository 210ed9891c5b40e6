//! Promotion through a pull request, end to end through `kargo server`
//! and the in-test forge (`git http-backend` plus the GitHub, GitLab and
//! Gitea REST subsets): the seed's prod Stage (05-promotion-steps.yaml style)
//! clones, updates the image tag, commits, pushes to a generated
//! `kargo/promotion/<promotion>` branch and, only where
//! `if: ctx.stage == "prod"`, opens a pull request and waits for it. The
//! Promotion stays Running until the reviewer merges, then Succeeds with
//! the merge commit in its step outputs; a pull request closed unmerged
//! fails the next one; a Stage where the condition is false skips both
//! steps. Repository credentials (username + password) reach git and, as
//! the API token, the forge. And auto-merge through GitLab with
//! `git-merge-pr` (`wait`, `pollInterval`), after admission refused a bad
//! PR-step config.

mod common;

use common::forge::Forge;
use common::{ServerProc, ok, promotion_name, wait_for};
use serde_json::Value;

const PROJECT: &str = "my-web-app";
const IMAGE: &str = "myacr.azurecr.io/my-web-app";

fn objects(url: &str, provider: &str) -> String {
    let steps = format!(
        r#"  promotionTemplate:
    steps:
    - uses: git-clone
      config:
        repoURL: {url}
        checkout: [{{branch: main, path: ./src}}]
    - uses: git-update
      config:
        path: ./src
        updates:
        - file: apps/my-web-app/${{{{ ctx.stage }}}}/values.yaml
          key: image.tag
          value: ${{{{ freight.images["{IMAGE}"].tag }}}}
    - uses: git-commit
      config: {{path: ./src, message: "Promote ${{{{ ctx.stage }}}} to ${{{{ freight.images[\"{IMAGE}\"].tag }}}}"}}
    - uses: git-push
      as: push
      config: {{path: ./src, generateTargetBranch: true}}
    # Only prod goes through a reviewed pull request
    - uses: git-open-pr
      as: open
      if: ctx.stage == "prod"
      config:
        repoURL: {url}
        provider: {provider}
        sourceBranch: ${{{{ outputs.push.branch }}}}
        targetBranch: main
        labels: [kargo, prod]
    - uses: git-wait-for-pr
      as: merged
      if: ctx.stage == "prod"
      config:
        repoURL: {url}
        provider: {provider}
        prNumber: ${{{{ outputs.open.pr.id }}}}
        pollInterval: 1s
"#
    );
    let stage = |name: &str| {
        format!(
            "---\nkind: Stage\nmetadata: {{name: {name}, namespace: {PROJECT}}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: my-warehouse}}\n    sources: {{direct: true}}\n{steps}"
        )
    };
    let freight = |alias: &str, tag: &str| {
        format!(
            "---\nkind: Freight\nmetadata: {{namespace: {PROJECT}, labels: {{kargo.akuity.io/alias: {alias}}}}}\norigin: {{kind: Warehouse, name: my-warehouse}}\nimages: [{{repoURL: {IMAGE}, tag: \"{tag}\", digest: \"sha256:{tag}\"}}]\n"
        )
    };
    format!(
        "kind: Warehouse\nmetadata: {{name: my-warehouse, namespace: {PROJECT}}}\nspec:\n  subscriptions:\n  - image: {{repoURL: {IMAGE}}}\n{}{}{}{}",
        freight("first", "2.0.0"),
        freight("second", "3.0.0"),
        stage("prod"),
        stage("uat"),
    )
}

fn promote(s: &ServerProc, stage: &str, freight: &str) -> String {
    promotion_name(&ok(&s.kargo(&[
        "promote",
        "--project",
        PROJECT,
        "--stage",
        stage,
        "--freight-alias",
        freight,
    ])))
}

fn promotion(s: &ServerProc, name: &str) -> Value {
    s.get_json(&["promotion", name, "-n", PROJECT])
}

fn wait_phase(s: &ServerProc, name: &str, phase: &str) -> Value {
    let mut last = Value::Null;
    wait_for(&format!("Promotion {name} {phase}"), 90, || {
        last = promotion(s, name);
        last["status"]["phase"] == phase
    });
    last
}

fn step_status<'a>(p: &'a Value, alias: &str) -> &'a Value {
    p["status"]["stepExecutionMetadata"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["alias"] == alias))
        .map_or(&Value::Null, |m| &m["status"])
}

#[test]
fn prod_is_promoted_through_a_reviewed_pull_request() {
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("forge");
    std::fs::create_dir_all(&root).unwrap();
    let forge = Forge::serve(&root, "bot", "forge-t0ken");
    let url = forge.repo(
        "acme",
        "k8s-config",
        &[
            ("apps/my-web-app/prod/values.yaml", "image:\n  tag: 1.0.0\n"),
            ("apps/my-web-app/uat/values.yaml", "image:\n  tag: 1.0.0\n"),
        ],
    );
    let bare = forge.bare("acme/k8s-config");
    let show = |rev: &str| {
        common::git(
            &bare,
            &["show", &format!("{rev}:apps/my-web-app/prod/values.yaml")],
        )
    };

    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", PROJECT]));
    ok(&s.kargo_stdin(
        &[
            "create",
            "repo-credentials",
            "-p",
            PROJECT,
            "k8s-config",
            "--git",
            &format!("--repo-url={url}"),
            "--username=bot",
            "--password-stdin",
        ],
        Some("forge-t0ken\n"),
    ));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&objects(&url, "github"))));

    // prod: push to the generated branch, open the pull request, wait.
    let name = promote(&s, "prod", "first");
    // GitHub takes labels in a second call after the pull request exists
    // (as Kargo's provider does), so wait for both.
    let pr = forge.wait_for_pr(90, |p| p.state == "open" && !p.labels.is_empty());
    assert_eq!(pr.head, format!("kargo/promotion/{name}"));
    assert_eq!(pr.base, "main");
    assert_eq!(pr.title, "Promote prod to 2.0.0");
    assert_eq!(pr.labels, ["kargo", "prod"]);
    assert!(
        pr.body.ends_with(&format!(
            "[View in Kargo UI]({}/project/{PROJECT}/stage/prod)",
            s.url.trim_end_matches('/')
        )),
        "{}",
        pr.body
    );
    assert!(show(&pr.head).contains("tag: 2.0.0"));
    assert!(
        show("main").contains("tag: 1.0.0"),
        "nothing lands before review"
    );
    // Waiting: the Promotion is Running on git-wait-for-pr, which polls.
    wait_for("a second poll of the pull request", 30, || {
        forge
            .requests()
            .iter()
            .filter(|r| {
                r.starts_with(&format!(
                    "GET /api/v3/repos/acme/k8s-config/pulls/{}",
                    pr.number
                ))
            })
            .count()
            >= 2
    });
    let p = promotion(&s, &name);
    assert_eq!(p["status"]["phase"], "Running", "{p}");
    assert_eq!(step_status(&p, "merged"), "Running", "{p}");

    // The reviewer merges; the Promotion Succeeds with the merge commit.
    let sha = forge.merge(pr.number);
    let p = wait_phase(&s, &name, "Succeeded");
    assert_eq!(
        p["status"]["state"]["outputs"]["merged"]["commit"],
        sha.as_str(),
        "{p}"
    );
    assert_eq!(
        p["status"]["state"]["outputs"]["open"]["pr"]["id"],
        pr.number
    );
    assert_eq!(common::git(&bare, &["rev-parse", "main"]).trim(), sha);
    assert!(show("main").contains("tag: 2.0.0"));
    // Every API call carried the credential's password as the token.
    assert!(forge.requests().iter().all(|r| r.ends_with(" bearer")));

    // uat: the condition is false, so the branch is pushed and no pull
    // request is opened or awaited.
    let before = forge.prs().len();
    let uat = promote(&s, "uat", "first");
    let p = wait_phase(&s, &uat, "Succeeded");
    assert_eq!(step_status(&p, "open"), "Skipped", "{p}");
    assert_eq!(step_status(&p, "merged"), "Skipped", "{p}");
    assert_eq!(forge.prs().len(), before);

    // Next one through Gitea, whose pull request list is not filtered by
    // branch and pages by one here past others' open pull requests; the
    // reviewer closes it unmerged: the Promotion Fails.
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&objects(&url, "gitea"))));
    forge.add_label("kargo");
    forge.add_label("prod");
    forge.add_other_prs("acme/k8s-config", "someone/else", "main", 3);
    forge.set_page_size(1);
    let name = promote(&s, "prod", "second");
    let pr = forge.wait_for_pr(90, |p| p.head == format!("kargo/promotion/{name}"));
    assert_eq!(pr.title, "Promote prod to 3.0.0");
    assert!(
        forge.requests().iter().any(
            |r| r.starts_with("GET /api/v1/repos/acme/k8s-config/pulls?") && r.contains("page=3")
        ),
        "{:#?}",
        forge.requests()
    );
    forge.close(pr.number);
    let p = wait_phase(&s, &name, "Failed");
    assert_eq!(step_status(&p, "merged"), "Failed", "{p}");
    let message = p["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "pull request {} was closed without being merged",
            pr.number
        )),
        "{p}"
    );
    assert_eq!(
        p["status"]["state"]["outputs"]["merged"]["pr"]["merged"],
        false
    );
    assert!(
        show("main").contains("tag: 2.0.0"),
        "the closed one never landed"
    );
}

/// Auto-merge through GitLab: `git-open-pr` → `git-merge-pr` with `wait`.
/// While the merge request is not mergeable the Promotion stays Running
/// and is called again after the step's `pollInterval`; once it is, the
/// step merges it and outputs the merge commit, now main's tip. A bad
/// PR-step config is refused when the Stage is applied.
#[test]
fn gitlab_merge_requests_are_merged_by_the_promotion() {
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("forge");
    std::fs::create_dir_all(&root).unwrap();
    let forge = Forge::serve(&root, "bot", "gl-t0ken");
    let url = forge.repo(
        "acme",
        "k8s-config",
        &[("apps/my-web-app/prod/values.yaml", "image:\n  tag: 1.0.0\n")],
    );
    let bare = forge.bare("acme/k8s-config");
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", PROJECT]));
    ok(&s.kargo_stdin(
        &[
            "create",
            "repo-credentials",
            "-p",
            PROJECT,
            "k8s-config",
            "--git",
            &format!("--repo-url={url}"),
            "--username=bot",
            "--password-stdin",
        ],
        Some("gl-t0ken\n"),
    ));
    let stage = |merge: &str| {
        format!(
            r#"kind: Warehouse
metadata: {{name: my-warehouse, namespace: {PROJECT}}}
spec:
  subscriptions:
  - image: {{repoURL: {IMAGE}}}
---
kind: Freight
metadata: {{namespace: {PROJECT}, labels: {{kargo.akuity.io/alias: first}}}}
origin: {{kind: Warehouse, name: my-warehouse}}
images: [{{repoURL: {IMAGE}, tag: "2.0.0", digest: "sha256:2"}}]
---
kind: Stage
metadata: {{name: prod, namespace: {PROJECT}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: my-warehouse}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config: {{repoURL: {url}, checkout: [{{branch: main, path: ./src}}]}}
      - uses: git-update
        config:
          path: ./src
          updates:
          - file: apps/my-web-app/prod/values.yaml
            key: image.tag
            value: ${{{{ freight.images["{IMAGE}"].tag }}}}
      - uses: git-commit
        config: {{path: ./src, message: "Promote prod"}}
      - uses: git-push
        as: push
        config: {{path: ./src, generateTargetBranch: true}}
      - uses: git-open-pr
        as: open
        config: {{repoURL: {url}, provider: gitlab, sourceBranch: "${{{{ outputs.push.branch }}}}", targetBranch: main}}
      - uses: git-merge-pr
        as: merged
        config: {merge}
"#
        )
    };
    // Admission checks the PR steps' configs like every other step's.
    let err = common::fails(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&stage(&format!(
            "{{repoURL: {url}, prNumber: 0, pollInterval: soon}}"
        ))),
    ));
    assert!(
        err.contains("prNumber: must be greater than or equal to 1")
            && err.contains("pollInterval: \"soon\" does not match pattern"),
        "{err}"
    );
    ok(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&stage(&format!(
            "{{repoURL: {url}, provider: gitlab, prNumber: \"${{{{ outputs.open.pr.id }}}}\", wait: true, pollInterval: 1s, mergeMethod: squash}}"
        ))),
    ));
    forge.set_mergeable(false);
    let name = promote(&s, "prod", "first");
    let mr = forge.wait_for_pr(90, |p| p.state == "open");
    let merge_calls = || {
        forge
            .requests()
            .iter()
            .filter(|r| {
                r.starts_with(&format!(
                    "GET /api/v4/projects/acme%2Fk8s-config/merge_requests/{}",
                    mr.number
                ))
            })
            .count()
    };
    // Called again after its pollInterval (1s), not the 5s default.
    wait_for("three merge attempts", 8, || merge_calls() >= 3);
    let p = promotion(&s, &name);
    assert_eq!(p["status"]["phase"], "Running", "{p}");
    assert_eq!(step_status(&p, "merged"), "Running", "{p}");
    forge.set_mergeable(true);
    let p = wait_phase(&s, &name, "Succeeded");
    let tip = common::git(&bare, &["rev-parse", "main"])
        .trim()
        .to_string();
    assert_eq!(
        p["status"]["state"]["outputs"]["merged"]["commit"],
        tip.as_str(),
        "{p}"
    );
    assert_eq!(forge.prs()[0].merge_sha.as_deref(), Some(tip.as_str()));
    assert!(
        common::git(&bare, &["show", "main:apps/my-web-app/prod/values.yaml"])
            .contains("tag: 2.0.0")
    );
    assert!(
        forge
            .requests()
            .iter()
            .all(|r| r.ends_with(" private-token"))
    );
}
