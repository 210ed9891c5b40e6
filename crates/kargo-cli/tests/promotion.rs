//! Promotions through the `kargo` binary: names, copied steps, the actor,
//! availability rules (All upstreams, approval) with reasons, control-flow
//! Stages and immutability. (API only: the promotion controller is not
//! involved here.)

mod common;

use common::{ServerProc, fails, ok, wait_for};
use serde_json::Value;

const PIPELINE: &str = r#"
kind: Warehouse
metadata: {name: app, namespace: my-web-app}
spec:
  subscriptions:
  - image: {repoURL: 127.0.0.1:9/my-web-app}
---
kind: Freight
metadata: {namespace: my-web-app, labels: {kargo.akuity.io/alias: jolly-penguin}}
origin: {kind: Warehouse, name: app}
images: [{repoURL: 127.0.0.1:9/my-web-app, tag: 1.5.0, digest: "sha256:15"}]
---
kind: Stage
metadata: {name: dev, namespace: my-web-app}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {direct: true}
  promotionTemplate:
    spec:
      vars: [{name: app, value: my-web-app}]
      steps:
      - uses: git-clone
        config: {repoURL: "file:///tmp/none.git", checkout: [{branch: main, path: ./src}]}
---
kind: Stage
metadata: {name: staging-us, namespace: my-web-app}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {stages: [dev]}
  promotionTemplate:
    steps:
    - uses: git-clone
      config: {repoURL: "file:///tmp/none.git"}
---
kind: Stage
metadata: {name: staging-eu, namespace: my-web-app}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {stages: [dev]}
---
kind: Stage
metadata: {name: prod-us, namespace: my-web-app}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {stages: [staging-us, staging-eu], availabilityStrategy: All}
  promotionTemplate:
    steps:
    - uses: git-clone
      config: {repoURL: "file:///tmp/none.git"}
"#;

#[test]
fn promotions_follow_availability_rules() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(PIPELINE)));

    let out = ok(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "dev",
        "--freight",
        "jolly-penguin",
    ]));
    assert!(out.contains("created: jolly-penguin"), "{out}");
    let promos: Value = s.get_json(&["promotions", "-n", "my-web-app"]);
    let p = &promos["items"][0];
    let name = p["metadata"]["name"].as_str().unwrap();
    let freight = p["spec"]["freight"].as_str().unwrap();
    let parts: Vec<&str> = name.split('.').collect();
    assert_eq!(parts.len(), 3, "{name}");
    assert_eq!(
        (parts[0], parts[1].len(), parts[2]),
        ("dev", 26, &freight[..7]),
        "{name}"
    );
    assert_eq!(
        p["spec"]["steps"][0]["uses"], "git-clone",
        "steps are copied from the Stage"
    );
    assert_eq!(p["spec"]["vars"][0]["name"], "app");
    assert_eq!(
        p["metadata"]["annotations"]["kargo.akuity.io/create-actor"],
        "admin"
    );
    let table = ok(&s.kubectl(&["get", "promo", "-n", "my-web-app"]));
    assert!(
        table.lines().next().unwrap().contains("STAGE") && table.contains(freight),
        "{table}"
    );

    // The spec is immutable.
    let err = String::from_utf8_lossy(
        &s.kubectl(&[
            "patch",
            "promotion",
            name,
            "-n",
            "my-web-app",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"stage":"prod-us"}}"#,
        ])
        .stderr,
    )
    .into_owned();
    assert!(err.contains("immutable"), "{err}");

    // prod-us needs both staging Stages to have verified the Freight.
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "prod-us",
        "--freight",
        "jolly-penguin",
    ]));
    assert!(
        err.contains("every upstream Stage")
            && err.contains("staging-us")
            && err.contains("staging-eu"),
        "{err}"
    );
    ok(&s.kubectl(&[
        "patch",
        "freight",
        freight,
        "-n",
        "my-web-app",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"verifiedIn":{"staging-us":{}}}}"#,
    ]));
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "prod-us",
        "--freight",
        "jolly-penguin",
    ]));
    assert!(
        err.contains("not verified in Stage \"staging-eu\"")
            && !err.contains("not verified in Stage \"staging-us\""),
        "{err}"
    );
    // staging-us (OneOf from dev) is not available either until dev verifies it.
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "staging-us",
        "--freight",
        "jolly-penguin",
    ]));
    assert!(err.contains("not verified in Stage \"dev\""), "{err}");
    // A control-flow Stage takes no Promotions.
    ok(&s.kubectl(&[
        "patch",
        "freight",
        freight,
        "-n",
        "my-web-app",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"verifiedIn":{"dev":{}}}}"#,
    ]));
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "staging-eu",
        "--freight",
        "jolly-penguin",
    ]));
    assert!(err.contains("control-flow"), "{err}");
    // Manual approval bypasses upstream verification.
    ok(&s.kargo(&[
        "approve",
        "-p",
        "my-web-app",
        "--freight",
        "jolly-penguin",
        "--stage",
        "prod-us",
    ]));
    ok(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "prod-us",
        "--freight",
        "jolly-penguin",
    ]));
    // Unknown Freight or Stage: clear errors.
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "dev",
        "--freight",
        "no-such",
    ]));
    assert!(
        err.contains("no Freight named or aliased \"no-such\""),
        "{err}"
    );
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "qa",
        "--freight",
        "jolly-penguin",
    ]));
    assert!(
        err.contains("could not find Stage \"qa\" in namespace \"my-web-app\""),
        "{err}"
    );
}

/// The controllers' side: auto-promotion into dev runs the Stage's steps
/// for real; they fail (the repository does not exist), the Stage says
/// why, and the same Freight is not retried automatically.
#[test]
fn failed_auto_promotions_are_reported_and_not_retried() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(PIPELINE)));
    let policy = "kind: ProjectConfig\nmetadata: {name: my-web-app, namespace: my-web-app}\nspec:\n  promotionPolicies:\n  - stageSelector: {name: \"glob:dev*\"}\n    autoPromotionEnabled: true\n";
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(policy)));
    let promos = |s: &ServerProc| -> Vec<Value> {
        let v: Value = s.get_json(&["promotions", "-n", "my-web-app"]);
        v["items"].as_array().unwrap().clone()
    };
    wait_for("the auto-promotion into dev to fail", 30, || {
        promos(&s)
            .iter()
            .any(|p| p["status"]["phase"] == "Failed" || p["status"]["phase"] == "Errored")
    });
    let p = promos(&s).into_iter().next().unwrap();
    assert_eq!(p["spec"]["stage"], "dev");
    assert_eq!(
        p["metadata"]["annotations"]["kargo.akuity.io/create-actor"],
        "kargo-controller (auto-promotion)"
    );
    assert!(
        p["status"]["message"]
            .as_str()
            .unwrap()
            .contains("none.git"),
        "{p}"
    );
    let step = p["status"]["stepExecutionMetadata"][0]["status"]
        .as_str()
        .unwrap_or("");
    assert!(step == "Failed" || step == "Errored", "{p}");
    wait_for("dev to report the failure", 30, || {
        let st: Value = s.get_json(&["stage", "dev", "-n", "my-web-app"]);
        st["status"]["autoPromotionEnabled"] == true
            && st["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter().any(|c| {
                    c["type"] == "Ready"
                        && c["status"] == "False"
                        && c["message"].as_str().unwrap_or("").contains("none.git")
                })
            })
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        promos(&s).len(),
        1,
        "the failed Freight is not promoted again automatically"
    );
}
