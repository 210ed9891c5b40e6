//! Stage and Project status as Kargo computes them, through a real
//! `kargo server`: `Ready` False while nothing is promoted, after a failed
//! Promotion (with its message) and when a requested Warehouse does not
//! exist (naming the field); True once promoted, healthy and verified;
//! the Project's `Ready` condition and stats.

mod common;

use common::{ServerProc, bare_repo, git, ok, wait_for};
use serde_json::Value;

#[test]
fn ready_says_what_blocks_a_stage() {
    let home = tempfile::tempdir().unwrap();
    let (_bare, work) = bare_repo(home.path(), "app");
    std::fs::write(work.join("VERSION"), "1").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["tag", "v1.0.0"]);
    git(&work, &["push", "-q", "origin", "main", "--tags"]);
    let app = format!("file://{}", home.path().join("app.git").display());
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));
    let manifests = format!(
        r#"
kind: Warehouse
metadata: {{name: app, namespace: p}}
spec:
  subscriptions:
  - git: {{repoURL: "{app}", commitSelectionStrategy: SemVer}}
---
kind: Stage
metadata: {{name: typo, namespace: p}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: ap}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config: {{repoURL: "{app}", checkout: [{{branch: main, path: ./src}}]}}
---
kind: Stage
metadata: {{name: broken, namespace: p}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config: {{repoURL: "file:///nonexistent/repo.git", checkout: [{{branch: main, path: ./src}}]}}
---
kind: Stage
metadata: {{name: good, namespace: p}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config: {{repoURL: "{app}", checkout: [{{branch: main, path: ./src}}]}}
"#
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));

    // A Warehouse that does not exist is named with its field.
    wait_for("typo to report the missing Warehouse", 30, || {
        s.stage_condition("p", "typo", "Ready")["reason"] == "WarehouseNotFound"
    });
    let ready = s.stage_condition("p", "typo", "Ready");
    assert_eq!(ready["status"], "False");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains("\"ap\"") && message.contains("spec.requestedFreight[0].origin"),
        "{message}"
    );
    // Nothing promoted yet: not Ready, and the Stage says why.
    let ready = s.stage_condition("p", "good", "Ready");
    assert_eq!(ready["status"], "False", "{ready}");
    assert_eq!(ready["reason"], "NoFreight", "{ready}");

    wait_for("Freight from the Warehouse", 30, || {
        s.get_json(&["freight", "-n", "p"])["items"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    });
    let freight = s.get_json(&["freight", "-n", "p"])["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();

    // A failed Promotion: Ready False with its message.
    let out = s.kargo(&[
        "promote",
        "-p",
        "p",
        "--stage",
        "broken",
        "--freight",
        &freight,
        "--wait",
    ]);
    assert!(!out.status.success());
    let last_phase =
        s.get_json(&["stage", "broken", "-n", "p"])["status"]["lastPromotion"]["status"]["phase"]
            .as_str()
            .unwrap_or("")
            .to_string();
    assert!(
        matches!(last_phase.as_str(), "Failed" | "Errored"),
        "{last_phase}"
    );
    wait_for("broken to report its failed Promotion", 30, || {
        s.stage_condition("p", "broken", "Ready")["reason"]
            == format!("LastPromotion{last_phase}").as_str()
    });
    let ready = s.stage_condition("p", "broken", "Ready");
    assert_eq!(ready["status"], "False");
    assert!(
        !ready["message"].as_str().unwrap_or("").is_empty(),
        "{ready}"
    );
    assert_eq!(
        s.stage_condition("p", "broken", "Healthy")["status"],
        "Unknown"
    );

    // A good one: Ready True once promoted, healthy and verified (no
    // verification configured: verified at once).
    ok(&s.promote_wait("p", "good", &freight));
    wait_for("good to be Ready", 30, || {
        s.stage_condition("p", "good", "Ready")["status"] == "True"
    });
    assert_eq!(
        s.stage_condition("p", "good", "Ready")["reason"],
        "Verified"
    );
    assert_eq!(s.stage_condition("p", "good", "Healthy")["status"], "True");
    let st: Value = s.get_json(&["stage", "good", "-n", "p"]);
    assert_eq!(st["status"]["health"]["status"], "Healthy");
    assert_eq!(
        st["status"]["observedGeneration"],
        st["metadata"]["generation"]
    );
    // `kargo get stages` shows it.
    let table = ok(&s.kargo(&["get", "stages", "-p", "p"]));
    let good = table.lines().find(|l| l.starts_with("good")).unwrap();
    assert!(good.contains("True"), "{table}");
    let typo = table.lines().find(|l| l.starts_with("typo")).unwrap();
    assert!(typo.contains("False"), "{table}");

    // The Project's status as Kargo fills it in.
    wait_for("project stats", 30, || {
        let p: Value = s.get_json(&["project", "p"]);
        p["status"]["stats"]["stages"]["count"] == 3
            && p["status"]["stats"]["stages"]["health"]["healthy"] == 1
            && p["status"]["stats"]["warehouses"]["count"] == 1
    });
    let p: Value = s.get_json(&["project", "p"]);
    let ready = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["reason"], "Synced");
}
