//! The web UI in a real browser: `kargo quickstart --keep-running` plays
//! its story, then `tests/ui/browser.mjs` drives Debian's Chromium through
//! playwright-core (pinned, installed by scripts/test.sh into a cache
//! directory, or here when missing) as a user would: sign in through a
//! deep link, the quick start's graph, promote with a live update, a
//! running Promotion aborted, approve, re-verify, refresh a Warehouse,
//! create Freight, edit an alias, clone and delete Freight, roll back and
//! its marks, the delivery statistics (as `kargo stats` prints them), an
//! AnalysisRun's measurements, the settings screens, dark mode. Never skipped: without Chromium or node it fails and says what
//! to install. Screenshots go to
//! docs/ui/ when `KARGO_UI_SCREENSHOTS=1`, else to a temporary directory.

mod common;

use common::browser::{chromium, playwright_core};
use common::{KARGO, git};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the quick start and returns it with its printed lines once it
/// waits for Ctrl-C.
fn quickstart(home: &Path, dir: &Path) -> (Kill, Vec<String>) {
    let mut child = Kill(
        Command::new(KARGO)
            .args(["quickstart", "--keep-running", "--dir"])
            .arg(dir)
            .env("HOME", home)
            .env("KARGO_CONFIG", home.join("config.yaml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = l.contains("Press Ctrl-C to stop.");
                lines.push(l);
                if done {
                    return (child, lines);
                }
            }
            Err(_) => panic!("the quick start did not come up:\n{}", lines.join("\n")),
        }
    }
}

/// A child process ended when dropped.
struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_web_ui_works_in_chromium() {
    chromium();
    let pw = playwright_core();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("ws");
    let (_qs, lines) = quickstart(home.path(), &dir);
    let printed = lines.join("\n");
    assert!(
        printed.contains("web UI:") && printed.contains("/ui "),
        "{printed}"
    );
    assert!(
        printed.contains("trust its CA:") && printed.contains("ca.crt"),
        "{printed}"
    );

    // The quick start keeps its own CLI configuration and prints where.
    let config = PathBuf::from(
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix("export KARGO_CONFIG="))
            .unwrap_or_else(|| panic!("no KARGO_CONFIG line in:\n{printed}")),
    );
    let cfg: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let url = cfg["apiAddress"].as_str().unwrap().to_string();
    let token = cfg["bearerToken"].as_str().unwrap().to_string();

    let kargo = |args: &[&str], stdin: &str| {
        let mut c = Command::new(KARGO)
            .args(args)
            .env("KARGO_CONFIG", &config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let warehouse = || -> serde_json::Value {
        let args = [
            "get",
            "warehouse",
            "my-web-app",
            "-p",
            "my-web-app",
            "-o",
            "json",
        ];
        serde_json::from_str(&kargo_get(&config, &args)).unwrap()
    };
    let wh = warehouse();
    let mut spec = wh["spec"].clone();
    spec["freightCreationPolicy"] = "Manual".into();
    let manual = serde_json::json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": "my-web-app", "namespace": "my-web-app"}, "spec": spec});
    kargo(&["apply", "-f", "-"], &manual.to_string());
    // The Warehouse settles on its new spec before the release it has not
    // seen yet is cut, so only the UI's refresh discovers it.
    let settled = || {
        let w = warehouse();
        w["status"]["observedGeneration"] == w["metadata"]["generation"]
    };
    common::wait_for("the Warehouse to take the Manual policy", 60, settled);
    let app = dir.join("repos/my-web-app");
    std::fs::write(app.join("VERSION"), "v1.3.0\n").unwrap();
    git(&app, &["commit", "-qam", "release v1.3.0"]);
    git(&app, &["tag", "v1.3.0"]);
    git(&app, &["push", "-q", "origin", "main", "--tags"]);
    let hold = home.path().join("hold.yaml");
    std::fs::write(
        &hold,
        format!(
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata: {{name: hold, namespace: my-web-app}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: my-web-app}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: http\n        as: wait\n        config: {{url: \"{url}/healthz\", insecureSkipTLSVerify: true, successExpression: \"false\", failureExpression: \"false\"}}\n"
        ),
    )
    .unwrap();

    let shots = if std::env::var("KARGO_UI_SCREENSHOTS").as_deref() == Ok("1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/ui")
    } else {
        home.path().join("shots")
    };
    std::fs::create_dir_all(&shots).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui/browser.mjs");
    let out = Command::new("timeout")
        .args(["600", "node"])
        .arg(&script)
        .env("PLAYWRIGHT_CORE", &pw)
        .env("KARGO_URL", &url)
        .env("KARGO_TOKEN", &token)
        .env("KARGO_BIN", KARGO)
        .env("KARGO_CONFIG", &config)
        .env("SHOTS", &shots)
        .env("HOLD_STAGE", &hold)
        .output()
        .expect("node 20 is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{stderr}"
    );
    for check in [
        "sign_in_comes_back_to_the_deep_link",
        "pipeline_renders_four_stages_with_fan_in",
        "list_view",
        "promote_from_the_page_updates_the_graph_live",
        "a_running_promotion_shows_running",
        "abort_updates_the_step_list_live",
        "approve",
        "reverify",
        "refresh_warehouse",
        "create_freight",
        "edit_alias",
        "rollback_marker_on_graph_and_stage",
        "roll_back_from_the_stage_page",
        "statistics_as_kargo_stats_prints_them",
        "analysis_run_measurements",
        "delete_freight",
        "clone_freight",
        "settings",
        "dark_mode",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("ok {check}")),
            "{check} did not pass:\n{stdout}\n{stderr}"
        );
    }
}

fn kargo_get(config: &Path, args: &[&str]) -> String {
    let out = Command::new(KARGO)
        .args(args)
        .env("KARGO_CONFIG", config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
