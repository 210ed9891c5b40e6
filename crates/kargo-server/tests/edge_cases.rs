//! API edge cases answered as kube-apiserver answers them, seen by plain
//! HTTP clients (curl and Python's requests) over real HTTPS: bodies over
//! the limit get a readable 413 `Status`, malformed label selectors and
//! unsupported field selectors are 400, unknown media types are 415, and
//! label and annotation syntax is validated (422).

mod common;

use common::ApiOnlyServer;
use serde_json::Value;
use std::process::Command;

/// An API-only server, asked with curl.
async fn start() -> ApiOnlyServer {
    ApiOnlyServer::start().await
}

impl ApiOnlyServer {
    /// Runs curl with the server's CA and token; returns (status, body).
    async fn curl(&self, args: &[&str], path: &str) -> (u16, Value) {
        let s = &self.server.started;
        let ca = s.ca_file.clone().unwrap();
        let url = format!("{}{path}", s.url);
        let auth = format!("Authorization: Bearer {}", s.token);
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}"])
            .arg("--cacert")
            .arg(&ca)
            .args(["-H", &auth])
            .args(args)
            .arg(&url);
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("curl is installed"))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let code: u16 = code.trim().parse().unwrap_or_else(|_| {
            panic!(
                "curl printed no status: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

fn status(body: &Value) -> (&str, &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    (
        body["reason"].as_str().unwrap_or(""),
        body["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_a_readable_413_for_any_client() {
    let h = start().await;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    // 8 MiB: over the 3 MiB limit, under the drain limit.
    let mut body = String::from(
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"big","annotations":{"a":""#,
    );
    body.push_str(&"x".repeat(8 * 1024 * 1024));
    body.push_str(r#""}}}"#);
    std::fs::write(&big, &body).unwrap();
    let data = format!("@{}", big.display());
    // curl sends `Expect: 100-continue` for large bodies: refused before sending.
    let (code, body) = h
        .curl(
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &data,
            ],
            "/api/v1/namespaces",
        )
        .await;
    assert_eq!(code, 413, "{body}");
    let (reason, message) = status(&body);
    assert_eq!(reason, "RequestEntityTooLarge");
    assert!(message.contains("limit is"), "{message}");
    // Without Expect the whole body arrives; the answer is still a 413 Status.
    let (code, body) = h
        .curl(
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-H",
                "Expect:",
                "--data-binary",
                &data,
            ],
            "/api/v1/namespaces",
        )
        .await;
    assert_eq!(code, 413, "{body}");
    assert_eq!(status(&body).0, "RequestEntityTooLarge");

    // Python's requests (no Expect, streams the body).
    let s = &h.server.started;
    let script = r#"
import json, sys, requests
url, token, ca, path = sys.argv[1:5]
with open(path, "rb") as f:
    data = f.read()
r = requests.post(url + "/api/v1/namespaces", data=data, verify=ca, timeout=60,
                  headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
print(r.status_code)
print(r.json()["reason"])
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(&s.url)
        .arg(&s.token)
        .arg(s.ca_file.clone().unwrap())
        .arg(&big);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("python3 is installed"))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["413", "RequestEntityTooLarge"],
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server keeps serving.
    let (code, _) = h.curl(&[], "/api/v1/namespaces").await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_media_types_and_labels_are_checked() {
    let h = start().await;
    // A malformed label selector is 400, never "everything".
    let (code, body) = h
        .curl(
            &["-G", "--data-urlencode", "labelSelector=((( !!=="],
            "/api/v1/namespaces",
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let (reason, message) = status(&body);
    assert_eq!(reason, "BadRequest");
    assert!(
        message.starts_with("unable to parse requirement"),
        "{message}"
    );
    let (code, _) = h
        .curl(
            &[
                "-G",
                "--data-urlencode",
                "labelSelector=kargo.akuity.io/project=true",
            ],
            "/api/v1/namespaces",
        )
        .await;
    assert_eq!(code, 200);
    // An unsupported field selector is 400.
    let (code, body) = h
        .curl(
            &["-G", "--data-urlencode", "fieldSelector=spec.foo=bar"],
            "/apis/kargo.akuity.io/v1alpha1/stages",
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(status(&body).1, "field label not supported: spec.foo");
    let (code, _) = h
        .curl(
            &["-G", "--data-urlencode", "fieldSelector=metadata.name=x"],
            "/apis/kargo.akuity.io/v1alpha1/stages",
        )
        .await;
    assert_eq!(code, 200);
    // An unknown media type is 415 naming what is accepted.
    let ns = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}"#;
    let (code, body) = h
        .curl(
            &["-X", "POST", "-H", "Content-Type: text/plain", "-d", ns],
            "/api/v1/namespaces",
        )
        .await;
    assert_eq!(code, 415, "{body}");
    let (reason, message) = status(&body);
    assert_eq!(reason, "UnsupportedMediaType");
    assert!(message.contains("application/json"), "{message}");
    let (code, body) = h
        .curl(
            &[
                "-X",
                "PATCH",
                "-H",
                "Content-Type: application/x-www-form-urlencoded",
                "-d",
                "{}",
            ],
            "/api/v1/namespaces/kargo",
        )
        .await;
    assert_eq!(code, 415, "{body}");
    assert!(status(&body).1.contains("application/merge-patch+json"));
    // YAML is fine.
    let (code, body) = h
        .curl(
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/yaml",
                "-d",
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: from-yaml}\n",
            ],
            "/api/v1/namespaces",
        )
        .await;
    assert_eq!(code, 201, "{body}");
    // Label syntax as Kubernetes checks it.
    let long = "v".repeat(64);
    let bad = format!(
        r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"y","labels":{{"a":"{long}"}}}}}}"#
    );
    let (code, body) = h
        .curl(
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                &bad,
            ],
            "/api/v1/namespaces",
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(status(&body).1.contains("metadata.labels[a]"), "{body}");
}
