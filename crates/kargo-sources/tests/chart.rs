//! Chart discovery against real servers on loopback: a classic Helm
//! repository (an in-test HTTP server serving `index.yaml`, as any static
//! web server does) and an OCI registry (`docker-registry`) holding
//! charts pushed the way Helm pushes them.

mod support;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use kargo_api::warehouse::ChartSubscription;
use kargo_sources::{ChartCredentials, ChartDiscoverer, ChartError};
use support::Registry;

const INDEX: &str = r#"apiVersion: v1
entries:
  web:
    - name: web
      version: 1.2.0
      urls: [web-1.2.0.tgz]
      digest: abc
    - name: web
      version: 0.9.1
      urls: [web-0.9.1.tgz]
    - name: web
      version: 1.10.0
      urls: [web-1.10.0.tgz]
    - name: web
      version: 2.0.0-alpha.1
    - name: web
      version: 1.3.0
    - name: web
      version: not-semver
  db:
    - name: db
      version: 5.0.0
generated: "2024-01-01T00:00:00Z"
"#;

/// Serves `/stable/index.yaml`, a malformed `/broken/index.yaml`, and a
/// basic-auth protected `/private/index.yaml`.
async fn helm_repo() -> String {
    let app = Router::new()
        .route("/stable/index.yaml", get(|| async { INDEX }))
        .route(
            "/broken/index.yaml",
            get(|| async { "entries: [this is: not: a helm index\n  - {" }),
        )
        .route(
            "/private/index.yaml",
            get(|headers: HeaderMap| async move {
                // base64("helm:chart-pass")
                let ok = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    == Some("Basic aGVsbTpjaGFydC1wYXNz");
                if ok {
                    (StatusCode::OK, INDEX)
                } else {
                    (StatusCode::UNAUTHORIZED, "")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn sub(repo: String, name: &str) -> ChartSubscription {
    ChartSubscription {
        repo_url: repo,
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn classic_repository_versions_constraint_and_limit() {
    let base = helm_repo().await;
    let d = ChartDiscoverer::new();

    let got = d
        .discover(&sub(format!("{base}/stable"), "web"), None)
        .await
        .unwrap();
    assert_eq!(
        got,
        ["2.0.0-alpha.1", "1.10.0", "1.3.0", "1.2.0", "0.9.1"],
        "semver descending, unparseable versions dropped"
    );

    let mut s = sub(format!("{base}/stable/"), "web");
    s.semver_constraint = "^1.0.0".into();
    assert_eq!(
        d.discover(&s, None).await.unwrap(),
        ["1.10.0", "1.3.0", "1.2.0"]
    );
    s.discovery_limit = Some(2);
    assert_eq!(d.discover(&s, None).await.unwrap(), ["1.10.0", "1.3.0"]);
    assert_eq!(d.stats().index_fetches, 3);

    let err = d
        .discover(&sub(format!("{base}/stable"), "nope"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ChartError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("\"nope\""), "{err}");

    let err = d
        .discover(&sub(format!("{base}/stable"), ""), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
}

#[tokio::test]
async fn classic_repository_errors_are_clear() {
    let base = helm_repo().await;
    let d = ChartDiscoverer::new();

    let err = d
        .discover(&sub(format!("{base}/broken"), "web"), None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ChartError::Invalid { .. }), "{msg}");
    assert!(
        msg.contains("index.yaml is not a valid Helm index"),
        "{msg}"
    );
    assert!(msg.contains("/broken"), "{msg}");

    let err = d
        .discover(&sub(format!("{base}/missing"), "web"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("404"), "{err}");

    // Basic auth: refused without credentials, accepted with them, and the
    // password shows up nowhere, even when it was written into the URL.
    let private = format!("{base}/private");
    let err = d
        .discover(&sub(private.clone(), "web"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
    let creds = ChartCredentials {
        username: "helm".into(),
        password: "chart-pass".into(),
    };
    assert!(!format!("{creds:?}").contains("chart-pass"));
    let got = d
        .discover(&sub(private.clone(), "db"), Some(&creds))
        .await
        .unwrap();
    assert_eq!(got, ["5.0.0"]);
    let with_userinfo = private.replace("http://", "http://helm:hunter2@");
    let err = d
        .discover(&sub(format!("{with_userinfo}/nowhere"), "web"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");

    let dead = format!("http://127.0.0.1:{}/charts", support::free_port());
    let err = d
        .discover(&sub(dead.clone(), "web"), Some(&creds))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&dead) && !err.contains("chart-pass"), "{err}");

    let err = d
        .discover(&sub("ftp://example.com/charts".into(), "web"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("repoURL"), "{err}");
}

#[tokio::test]
async fn oci_repository_versions() {
    let reg = Registry::start(false).await;
    let p = reg.pusher(false);
    for v in ["0.1.0", "0.2.0", "1.0.0+build.7", "0.10.0"] {
        p.chart("charts/web", "web", v).await;
    }
    let d = ChartDiscoverer::new();
    let repo = format!("oci://{}/charts/web", reg.host);

    let got = d.discover(&sub(repo.clone(), ""), None).await.unwrap();
    assert_eq!(got, ["1.0.0+build.7", "0.10.0", "0.2.0", "0.1.0"]);

    let mut s = sub(repo.clone(), "");
    s.semver_constraint = "<1.0.0".into();
    s.discovery_limit = Some(2);
    assert_eq!(d.discover(&s, None).await.unwrap(), ["0.10.0", "0.2.0"]);
    assert_eq!(d.stats().tag_lists, 2);

    let err = d.discover(&sub(repo, "web"), None).await.unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");

    let err = d
        .discover(&sub(format!("oci://{}/charts/none", reg.host), ""), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ChartError::Registry(_)), "{err}");
    assert!(err.to_string().contains("/charts/none"), "{err}");
}
