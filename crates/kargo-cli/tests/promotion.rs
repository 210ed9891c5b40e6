//! Promotions through the `kargo` binary: names, copied steps, the actor,
//! availability rules (All upstreams, approval) with reasons, control-flow
//! Stages and immutability. (API only: the promotion controller is not
//! involved here.)

mod common;

use common::{ServerProc, fails, ok};
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
    let promos: Value = serde_json::from_str(&ok(&s.kubectl(&[
        "get",
        "promotions",
        "-n",
        "my-web-app",
        "-o",
        "json",
    ])))
    .unwrap();
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
        err.contains("not verified in staging-eu") && !err.contains("not verified in staging-us"),
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
    assert!(err.contains("not verified in dev"), "{err}");
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
    assert!(err.contains("Stage \"qa\" does not exist"), "{err}");
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The Stage controller's side: a finished Promotion updates the Stage and
/// the Freight (verified at once without `verification`), downstream
/// Stages can then take it, and a promotion policy auto-promotes.
#[test]
fn stages_follow_their_promotions_and_auto_promote() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(PIPELINE)));
    let policy = "kind: ProjectConfig\nmetadata: {name: my-web-app, namespace: my-web-app}\nspec:\n  promotionPolicies:\n  - stageSelector: {name: \"glob:dev*\"}\n    autoPromotionEnabled: true\n";
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(policy)));

    // Auto-promotion into dev creates a Promotion for the newest Freight.
    let promo_named = |s: &ServerProc, stage: &str| -> Option<Value> {
        let v: Value = serde_json::from_str(&ok(&s.kubectl(&[
            "get",
            "promotions",
            "-n",
            "my-web-app",
            "-o",
            "json",
        ])))
        .unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["spec"]["stage"] == stage)
            .cloned()
    };
    wait_for("an auto-promotion into dev", || {
        promo_named(&s, "dev").is_some()
    });
    let p = promo_named(&s, "dev").unwrap();
    assert_eq!(
        p["metadata"]["annotations"]["kargo.akuity.io/create-actor"],
        "kargo-controller (auto-promotion)"
    );
    let (pname, fname) = (
        p["metadata"]["name"].as_str().unwrap().to_string(),
        p["spec"]["freight"].as_str().unwrap().to_string(),
    );
    let stage: Value = serde_json::from_str(&ok(&s.kubectl(&[
        "get",
        "stage",
        "dev",
        "-n",
        "my-web-app",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(stage["status"]["autoPromotionEnabled"], true);

    // What the promotion controller reports when it is done.
    let done = format!(
        r#"{{"status":{{"phase":"Succeeded","finishedAt":"{}"}}}}"#,
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
    );
    ok(&s.kubectl(&[
        "patch",
        "promotion",
        &pname,
        "-n",
        "my-web-app",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        &done,
    ]));
    wait_for("dev to record its Freight", || {
        let st: Value = serde_json::from_str(&ok(&s.kubectl(&[
            "get",
            "stage",
            "dev",
            "-n",
            "my-web-app",
            "-o",
            "json",
        ])))
        .unwrap();
        st["status"]["freightSummary"] == fname.as_str()
    });
    let st: Value = serde_json::from_str(&ok(&s.kubectl(&[
        "get",
        "stage",
        "dev",
        "-n",
        "my-web-app",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(st["status"]["lastPromotion"]["name"], pname.as_str());
    assert_eq!(
        st["status"]["freightHistory"][0]["items"]["Warehouse/app"]["name"],
        fname.as_str()
    );
    let table = ok(&s.kubectl(&["get", "stages", "-n", "my-web-app"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("dev ") && l.contains(&fname) && l.contains("True")),
        "{table}"
    );
    wait_for("the Freight to be verified in dev", || {
        let f: Value = serde_json::from_str(&ok(&s.kubectl(&[
            "get",
            "freight",
            &fname,
            "-n",
            "my-web-app",
            "-o",
            "json",
        ])))
        .unwrap();
        f["status"]["verifiedIn"]["dev"].is_object()
            && f["status"]["currentlyIn"]["dev"]["since"].is_string()
    });
    // Downstream can take it now.
    ok(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "staging-us",
        "--freight",
        &fname,
    ]));
    // And a failed Promotion makes the Stage say so.
    let us = promo_named(&s, "staging-us").unwrap();
    let failed = r#"{"status":{"phase":"Failed","message":"git-push: remote rejected","finishedAt":"2030-01-01T00:00:00Z"}}"#;
    ok(&s.kubectl(&[
        "patch",
        "promotion",
        us["metadata"]["name"].as_str().unwrap(),
        "-n",
        "my-web-app",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        failed,
    ]));
    wait_for("staging-us to report the failure", || {
        let st: Value = serde_json::from_str(&ok(&s.kubectl(&[
            "get",
            "stage",
            "staging-us",
            "-n",
            "my-web-app",
            "-o",
            "json",
        ])))
        .unwrap();
        st["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["type"] == "Ready"
                    && c["status"] == "False"
                    && c["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("remote rejected")
            })
        })
    });
}
