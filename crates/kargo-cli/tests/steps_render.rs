//! Kargo's rendering and tagging steps in one real Promotion through
//! `kargo server` and a git remote: git-clone → kustomize-build (the
//! machine's `kubectl kustomize`, or `kustomize`) → git-commit → git-tag →
//! git-push (the branch) → git-push (the tag); then the rendered file, the
//! annotated tag on the remote and the outputs the steps recorded.

mod common;

use common::{ServerProc, bare_repo, git, ok};

const PROJECT: &str = "render";

fn pipeline(repo: &str) -> String {
    format!(
        r#"
kind: Warehouse
metadata: {{name: app, namespace: render}}
spec:
  subscriptions:
  - image: {{repoURL: 127.0.0.1:9/app}}
---
kind: Freight
metadata: {{namespace: render, labels: {{kargo.akuity.io/alias: calm-otter}}}}
origin: {{kind: Warehouse, name: app}}
images: [{{repoURL: 127.0.0.1:9/app, tag: 3.0.1, digest: "sha256:31"}}]
---
kind: Stage
metadata: {{name: prod, namespace: render}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      vars: [{{name: tag, value: "${{{{ imageFrom('127.0.0.1:9/app').Tag }}}}"}}]
      steps:
      - uses: git-clone
        config: {{repoURL: "{repo}", checkout: [{{branch: main, path: ./src}}]}}
      - uses: kustomize-set-image
        config:
          path: ./src/overlays/prod
          images: [{{image: 127.0.0.1:9/app, tag: "${{{{ vars.tag }}}}"}}]
      - uses: kustomize-build
        config: {{path: ./src/overlays/prod, outPath: ./src/rendered/prod.yaml}}
      - uses: kustomize-build
        config: {{path: ./src/overlays/prod, outPath: ./src/rendered/prod, outputFormat: kustomize}}
      - uses: git-commit
        config: {{path: ./src, message: "render prod ${{{{ vars.tag }}}}"}}
      - uses: git-tag
        as: tagged
        config: {{path: ./src, tag: "prod/${{{{ vars.tag }}}}", message: "prod at ${{{{ vars.tag }}}}"}}
      - uses: git-push
        config: {{path: ./src}}
      - uses: git-push
        as: pushed-tag
        config: {{path: ./src, tag: "prod/${{{{ vars.tag }}}}"}}
"#
    )
}

#[test]
fn a_promotion_renders_commits_tags_and_pushes_the_tag() {
    let home = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(home.path(), "config");
    std::fs::create_dir_all(work.join("base")).unwrap();
    std::fs::create_dir_all(work.join("overlays/prod")).unwrap();
    std::fs::write(
        work.join("base/kustomization.yaml"),
        "resources:\n- deployment.yaml\n",
    )
    .unwrap();
    std::fs::write(
        work.join("base/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: 127.0.0.1:9/app:1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        work.join("overlays/prod/kustomization.yaml"),
        "resources:\n- ../../base\nnamespace: prod\n",
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "base"]);
    git(&work, &["push", "-q", "origin", "main"]);

    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", PROJECT]));
    let url = format!("file://{}", bare.display());
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&pipeline(&url))));
    ok(&s.promote_wait(PROJECT, "prod", "calm-otter"));

    // The rendered stream, as Kustomize writes it, on main.
    let rendered = git(&bare, &["show", "main:rendered/prod.yaml"]);
    assert!(rendered.contains("kind: Deployment"), "{rendered}");
    assert!(rendered.contains("namespace: prod"), "{rendered}");
    assert!(
        rendered.contains("image: 127.0.0.1:9/app:3.0.1"),
        "{rendered}"
    );
    // One file per resource, named as `kustomize build -o dir/` names it.
    let one = git(
        &bare,
        &["show", "main:rendered/prod/apps_v1_deployment_app.yaml"],
    );
    assert!(
        one.starts_with("apiVersion: apps/v1\nkind: Deployment\n"),
        "{one}"
    );

    // The annotated tag is on the remote, at main's tip, with its message.
    let tip = git(&bare, &["rev-parse", "main"]).trim().to_string();
    assert_eq!(git(&bare, &["cat-file", "-t", "prod/3.0.1"]).trim(), "tag");
    assert_eq!(
        git(&bare, &["rev-parse", "prod/3.0.1^{commit}"]).trim(),
        tip
    );
    assert_eq!(
        git(
            &bare,
            &["tag", "-l", "--format=%(contents:subject)", "prod/3.0.1"]
        )
        .trim(),
        "prod at 3.0.1"
    );
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]).trim(),
        "render prod 3.0.1"
    );

    // The steps' outputs: git-tag's commit, the tag push's commit and branch.
    let promos = s.get_json(&["promotions", "-n", PROJECT]);
    let promo = &promos["items"][0];
    let state = &promo["status"]["state"]["outputs"];
    assert_eq!(
        state["tagged"]["commit"].as_str(),
        Some(tip.as_str()),
        "{promo}"
    );
    assert_eq!(state["pushed-tag"]["commit"].as_str(), Some(tip.as_str()));
    assert_eq!(state["pushed-tag"]["branch"].as_str(), Some("main"));
}
