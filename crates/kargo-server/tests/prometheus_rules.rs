//! The shipped Prometheus assets and `/metrics` checked with Debian's
//! `promtool`: the alert rules load (`check rules`) and behave as their
//! unit tests say (`test rules`), and the metrics a running server serves
//! pass `check metrics`. Counters count a Promotion's end once and keep
//! their value when the Promotion is deleted and the server restarts.

mod common;

use common::{api_only_config, kargo_kind};
use kargo_server::{Server, ServerConfig};
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn promtool() -> &'static str {
    let bin = "/usr/bin/promtool";
    assert!(
        Path::new(bin).exists(),
        "{bin} is missing: apt-get install -y prometheus (scripts/test.sh does it)"
    );
    bin
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus")
}

fn run(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(args)
        .current_dir(deploy())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn alert_rules_load_and_pass_their_unit_tests() {
    let (ok, out) = run(&["check", "rules", "kargo-rules.yaml"], None);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS: 5 rules found"), "{out}");
    let (ok, out) = run(&["test", "rules", "kargo-rules.test.yaml"], None);
    assert!(ok, "{out}");
}

/// A plain HTTP/1.0 GET of `url` (`http://host:port/path`).
fn get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf.split_once("\r\n\r\n").unwrap().1.to_string()
}

async fn start(dir: &Path) -> Server {
    Server::start(ServerConfig {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..api_only_config(dir)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_counters_survive_deletes_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let store = server.store.clone();
    store
        .create(
            kargo_kind("Project"),
            "",
            json!({"metadata": {"name": "p"}}),
        )
        .unwrap();
    let promotion = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
        "metadata": {"name": "dev.1"}, "spec": {"stage": "dev", "freight": "f"}});
    store
        .create(kargo_kind("Promotion"), "p", promotion.clone())
        .unwrap();
    // Running, then the outcome written twice, as a repeated reconcile
    // would: one count.
    for phase in ["Running", "Succeeded", "Succeeded"] {
        let mut obj = promotion.clone();
        obj["status"] = json!({ "phase": phase });
        store
            .update(
                kargo_kind("Promotion"),
                "p",
                "dev.1",
                obj,
                kargo_store::Part::Status,
            )
            .unwrap();
    }
    // An API request, so the request histogram has a series.
    let client = server.client().unwrap();
    kube::Api::<kargo_api::Promotion>::namespaced(client, "p")
        .list(&Default::default())
        .await
        .unwrap();
    let url = server.started.metrics_url.clone().unwrap();
    let counted = r#"kargo_promotions_total{project="p",stage="dev",phase="Succeeded"} 1"#;
    let body = tokio::task::spawn_blocking({
        let url = url.clone();
        move || get(&url)
    })
    .await
    .unwrap();
    let (ok, out) = run(&["check", "metrics"], Some(&body));
    assert!(ok, "promtool check metrics: {out}\n{body}");
    assert!(body.contains(counted), "{body}");
    assert!(
        body.contains(r#"kargo_api_request_duration_seconds_count{verb="list",resource="promotions",code="200"} 1"#),
        "{body}"
    );
    assert!(body.contains("process_start_time_seconds "), "{body}");

    // Garbage collection deletes the Promotion; a restart reopens the store.
    store
        .delete(kargo_kind("Promotion"), "p", "dev.1", &Default::default())
        .unwrap();
    server.shutdown();
    let _ = server.wait().await;
    let server = start(dir.path()).await;
    let url = server.started.metrics_url.clone().unwrap();
    let body = tokio::task::spawn_blocking(move || get(&url))
        .await
        .unwrap();
    assert!(body.contains(counted), "{body}");
    server.shutdown();
}
