//! Kargo's file, structured-edit and control steps in one real Promotion
//! through `kargo server` and a git remote: git-clone → copy → json-update
//! → toml-update → yaml-parse → compose-output → file-write → set-metadata
//! → git-commit → git-push, then the files on the remote (TOML and JSON
//! edited in place, the TOML comment kept), the outputs the later steps
//! read, and the Stage metadata written; and a `fail` step behind an `if`.

mod common;

use common::{ServerProc, bare_repo, fails, git, ok};

const PROJECT: &str = "steps";

fn pipeline(repo: &str) -> String {
    format!(
        r#"
kind: Warehouse
metadata: {{name: app, namespace: steps}}
spec:
  subscriptions:
  - image: {{repoURL: 127.0.0.1:9/app}}
---
kind: Freight
metadata: {{namespace: steps, labels: {{kargo.akuity.io/alias: brave-heron}}}}
origin: {{kind: Warehouse, name: app}}
images: [{{repoURL: 127.0.0.1:9/app, tag: 2.1.0, digest: "sha256:21"}}]
---
kind: Stage
metadata: {{name: dev, namespace: steps}}
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
      - uses: copy
        config: {{inPath: ./src/base, outPath: ./src/env/dev}}
      - uses: json-update
        config:
          path: ./src/env/dev/app.json
          updates: [{{key: image.tag, value: "${{{{ vars.tag }}}}"}}, {{key: replicas, value: 3}}]
      - uses: toml-update
        config:
          path: ./src/env/dev/app.toml
          updates: [{{key: image.tag, value: "${{{{ vars.tag }}}}"}}]
      - uses: yaml-parse
        as: parsed
        config:
          path: ./src/env/dev/values.yaml
          outputs: [{{name: region, fromExpression: "cluster.region"}}]
      - uses: compose-output
        as: summary
        config:
          line: "${{{{ vars.tag }}}} in ${{{{ outputs.parsed.region }}}}"
      - uses: file-write
        config:
          path: ./src/env/dev/RELEASE
          contents: "${{{{ outputs.summary.line }}}}"
          overwrite: true
      - uses: set-metadata
        config:
          updates: [{{kind: Stage, name: dev, values: {{released: "${{{{ vars.tag }}}}"}}}}]
      - uses: git-commit
        config: {{path: ./src, message: "dev: ${{{{ outputs.summary.line }}}}"}}
      - uses: git-push
        config: {{path: ./src}}
      - uses: fail
        if: "${{{{ outputs.parsed.region == 'mars' }}}}"
        config: {{message: "no releases to mars"}}
"#
    )
}

fn show(bare: &std::path::Path, file: &str) -> String {
    git(bare, &["show", &format!("main:{file}")])
}

#[test]
fn files_structured_edits_and_control_steps_run_in_one_promotion() {
    let home = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(home.path(), "config");
    std::fs::create_dir_all(work.join("base")).unwrap();
    std::fs::write(
        work.join("base/app.json"),
        "{\n  \"image\": {\"repository\": \"app\", \"tag\": \"1.0.0\"},\n  \"replicas\": 1\n}\n",
    )
    .unwrap();
    std::fs::write(
        work.join("base/app.toml"),
        "# Deployed by Kargo\n[image]\ntag = \"1.0.0\" # set per environment\n",
    )
    .unwrap();
    std::fs::write(
        work.join("base/values.yaml"),
        "cluster:\n  region: eu-west\n",
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "base"]);
    git(&work, &["push", "-q", "origin", "main"]);

    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", PROJECT]));
    let url = format!("file://{}", bare.display());
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&pipeline(&url))));
    ok(&s.promote_wait(PROJECT, "dev", "brave-heron"));

    assert_eq!(
        show(&bare, "env/dev/app.json"),
        "{\n  \"image\": {\"repository\": \"app\", \"tag\": \"2.1.0\"},\n  \"replicas\": 3\n}\n"
    );
    assert_eq!(
        show(&bare, "env/dev/app.toml"),
        "# Deployed by Kargo\n[image]\ntag = '2.1.0' # set per environment\n"
    );
    assert_eq!(show(&bare, "env/dev/RELEASE"), "2.1.0 in eu-west");
    // The base stays as it was; the copy carries the values file too.
    assert!(show(&bare, "base/app.json").contains("\"tag\": \"1.0.0\""));
    assert_eq!(
        show(&bare, "env/dev/values.yaml"),
        "cluster:\n  region: eu-west\n"
    );
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]).trim(),
        "dev: 2.1.0 in eu-west"
    );
    let stage = s.get_json(&["stage", "dev", "-n", PROJECT]);
    assert_eq!(stage["status"]["metadata"]["released"], "2.1.0");

    // The same pipeline for a region the `if` refuses: `fail` ends it.
    git(&work, &["pull", "-q", "--rebase", "origin", "main"]);
    std::fs::write(work.join("base/values.yaml"), "cluster:\n  region: mars\n").unwrap();
    git(&work, &["commit", "-q", "-am", "mars"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let err = fails(&s.promote_wait(PROJECT, "dev", "brave-heron"));
    assert!(err.contains("failed: no releases to mars"), "{err}");
}

#[test]
fn stages_with_unknown_steps_or_bad_configs_are_refused_at_apply() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", PROJECT]));
    let stage = |steps: &str| {
        format!(
            "kind: Stage\nmetadata: {{name: dev, namespace: steps}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      steps:\n{steps}"
        )
    };
    let err = fails(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&stage("      - uses: git-clone\n        config: {repoURL: https://example.com/r.git, checkout: [{path: src}]}\n      - uses: json-updte\n")),
    ));
    assert!(
        err.contains("spec.promotionTemplate.spec.steps[1].uses")
            && err.contains("no promotion step named \"json-updte\""),
        "{err}"
    );
    let err = fails(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&stage("      - uses: toml-update\n        config: {path: app.toml, updates: []}\n      - uses: yaml-merge\n        config: {inFiles: [a.yaml], outFile: b.yaml, overwrite: true}\n")),
    ));
    assert!(
        err.contains("spec.promotionTemplate.spec.steps[0].config"),
        "{err}"
    );
    assert!(err.contains("updates: must have at least 1 item"), "{err}");
    assert!(
        err.contains("steps[1].config") && err.contains("overwrite"),
        "{err}"
    );
    // Values computed by expressions are checked when the step runs.
    ok(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&stage("      - uses: toml-update\n        config: {path: app.toml, updates: \"${{ vars.updates }}\"}\n")),
    ));
}
