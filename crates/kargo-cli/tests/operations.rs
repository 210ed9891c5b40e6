//! Operating `kargo server` end to end: credentials in a step's URL reach
//! no status, Event or log line; `kargo server backup/restore`;
//! `--durability=full`.

mod common;

use common::{ServerProc, bare_repo, fails, git, ok, wait_for};
use serde_json::Value;

const SECRET: &str = "hunter2-s3cret";

#[test]
fn credentials_in_an_http_step_url_reach_no_status_event_or_log() {
    let home = tempfile::tempdir().unwrap();
    let (_bare, work) = bare_repo(home.path(), "app");
    std::fs::write(work.join("VERSION"), "v1.0.0").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "release"]);
    git(&work, &["tag", "v1.0.0"]);
    git(&work, &["push", "-q", "origin", "main", "--tags"]);
    let s = ServerProc::start_logging(home.path());
    ok(&s.kargo(&["create", "project", "p"]));
    let manifests = format!(
        "kind: Warehouse\nmetadata: {{name: app, namespace: p}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"file://{app}\", commitSelectionStrategy: SemVer}}\n---\nkind: Stage\nmetadata: {{name: dev, namespace: p}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: http\n        config:\n          url: http://bob:{SECRET}@127.0.0.1:9/hook\n",
        app = home.path().join("app.git").display()
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    let mut freight = String::new();
    wait_for("the Freight", 30, || {
        let v: Value = s.get_json(&["freight", "-n", "p"]);
        freight = v["items"][0]["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        !freight.is_empty()
    });
    // Nothing listens on port 9: the step errors, the Promotion ends.
    let out = s.promote_wait("p", "dev", &freight);
    assert!(!out.status.success());
    let mut statuses = String::new();
    wait_for("the Promotion to end", 60, || {
        let v: Value = s.get_json(&["promotions", "-n", "p"]);
        let items = v["items"].as_array().cloned().unwrap_or_default();
        // The messages; `status.state` keeps the step's config as the
        // spec gives it (user input, like the Stage's spec).
        statuses = items
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["status"]["message"], p["status"]["stepExecutionMetadata"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        items
            .iter()
            .any(|p| matches!(p["status"]["phase"].as_str(), Some("Errored" | "Failed")))
    });
    assert!(statuses.contains("http"), "{statuses}");
    assert!(!statuses.contains(SECRET), "{statuses}");
    let stages: Value = s.get_json(&["stages", "-n", "p"]);
    let conditions = stages["items"][0]["status"]["conditions"].to_string();
    assert!(!conditions.contains(SECRET), "{conditions}");
    let events = s.get_json(&["events", "-n", "p"]).to_string();
    assert!(events.contains("Promotion"), "{events}");
    assert!(!events.contains(SECRET), "{events}");
    let kept = ok(&s.kubectl(&["logs", "-n", "kargo", "deploy/kargo-controller"]));
    assert!(!kept.contains(SECRET), "{kept}");
    let stderr = std::fs::read_to_string(home.path().join("stderr.log")).unwrap();
    assert!(!stderr.contains(SECRET), "{stderr}");
    // The CLI's own output too.
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn backup_while_serving_restore_refused_until_stopped() {
    let home = tempfile::tempdir().unwrap();
    let mut s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "kept"]));
    let file = home.path().join("backup.db");
    let data = s.data.to_str().unwrap().to_string();
    let out = ok(&s.kargo(&[
        "server",
        "backup",
        file.to_str().unwrap(),
        "--data-dir",
        &data,
    ]));
    assert!(out.contains("backed up"), "{out}");
    ok(&s.kargo(&["create", "project", "lost"]));
    let err = fails(&s.kargo(&[
        "server",
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        &data,
    ]));
    assert!(err.contains("another kargo server is running"), "{err}");
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    ok(&s.kargo(&[
        "server",
        "--data-dir",
        &data,
        "restore",
        file.to_str().unwrap(),
    ]));
    drop(s);
    let s = ServerProc::start(home.path());
    assert!(s.kubectl(&["get", "project", "kept"]).status.success());
    assert!(!s.kubectl(&["get", "project", "lost"]).status.success());
}

#[test]
fn durability_full_serves() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--durability", "full"]);
    ok(&s.kargo(&["create", "project", "p"]));
    assert!(s.kubectl(&["get", "project", "p"]).status.success());
}
