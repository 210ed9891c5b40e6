//! Secure by default, through the `kargo` binary: with the server running
//! inside a git checkout whose origin is local (where an option-shaped
//! URL would run a command), option and remote-helper URLs are refused
//! at admission with the field named, a git-clone step with one fails its
//! Promotion and runs nothing, and a symlink committed in the config repo
//! that points outside the work tree fails the Promotion without writing
//! through it.

mod common;

use common::{ServerProc, bare_repo, fails, git, ok};
use std::path::Path;

const PROJECT: &str = "sec";

/// An image Warehouse, hand-made Freight `quiet-otter` and a Stage `dev`
/// whose steps clone `REPO` and update `values.yaml` in it.
const PIPELINE: &str = r#"
kind: Warehouse
metadata: {name: app, namespace: sec}
spec:
  subscriptions:
  - image: {repoURL: 127.0.0.1:9/app}
---
kind: Freight
metadata: {namespace: sec, labels: {kargo.akuity.io/alias: quiet-otter}}
origin: {kind: Warehouse, name: app}
images: [{repoURL: 127.0.0.1:9/app, tag: 1.5.0, digest: "sha256:15"}]
---
kind: Stage
metadata: {name: dev, namespace: sec}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {direct: true}
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config: {repoURL: "REPO", checkout: [{branch: main, path: ./src}]}
      - uses: yaml-update
        config:
          path: ./src/values.yaml
          updates: [{key: image.tag, value: "1.5.0"}]
      - uses: git-commit
        config: {path: ./src, message: promote}
      - uses: git-push
        config: {path: ./src}
"#;

fn promote_fails(s: &ServerProc) -> String {
    fails(&s.kargo(&[
        "promote",
        "-p",
        PROJECT,
        "--stage",
        "dev",
        "--freight",
        "quiet-otter",
        "--wait",
        "--timeout",
        "60",
    ]))
}

fn commit_all(work: &Path, msg: &str) {
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", msg]);
    git(work, &["push", "-q", "origin", "main"]);
}

#[test]
fn option_urls_run_nothing_and_symlinks_out_of_the_tree_fail_promotions() {
    let home = tempfile::tempdir().unwrap();
    let (_checkout_bare, checkout) = bare_repo(home.path(), "checkout");
    std::fs::write(checkout.join("README"), "x").unwrap();
    commit_all(&checkout, "one");
    let s = ServerProc::start_in(home.path(), Some(&checkout), &[]);
    ok(&s.kargo(&["create", "project", PROJECT]));

    let marker = home.path().join("pwned");
    let option = format!("--upload-pack=touch {}; git-upload-pack", marker.display());
    let helper = format!("ext::sh -c touch% {}", marker.display());
    for url in [&option, &helper] {
        let w = format!(
            "kind: Warehouse\nmetadata: {{name: bad, namespace: {PROJECT}}}\nspec:\n  subscriptions:\n  - git: {{repoURL: {url:?}}}\n"
        );
        let err = fails(&s.kargo_stdin(&["apply", "-f", "-"], Some(&w)));
        assert!(
            err.contains("spec.subscriptions[0].git.repoURL"),
            "{url}: {err}"
        );
    }

    // A git-clone step with an option-shaped URL fails its Promotion.
    ok(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&PIPELINE.replace("REPO", &option)),
    ));
    let err = promote_fails(&s);
    assert!(err.contains("must not start with '-'"), "{err}");
    assert!(!marker.exists(), "a command ran");

    // A config repository whose values.yaml links outside the work tree.
    let (config_bare, config) = bare_repo(home.path(), "config");
    let outside = home.path().join("outside.yaml");
    std::fs::write(&outside, "image:\n  tag: old\n").unwrap();
    std::os::unix::fs::symlink(&outside, config.join("values.yaml")).unwrap();
    commit_all(&config, "link");
    let url = format!("file://{}", config_bare.display());
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&PIPELINE.replace("REPO", &url))));
    let err = promote_fails(&s);
    assert!(
        err.contains("\"./src/values.yaml\" resolves outside the work tree"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "image:\n  tag: old\n"
    );
    assert_eq!(
        git(&config_bare, &["log", "--format=%s", "main"]).trim(),
        "link"
    );
}
