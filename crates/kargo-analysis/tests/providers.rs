//! The web provider against a real axum server on loopback, and the job
//! provider running real `/bin/sh` processes.

mod common;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::seed_template;
use kargo_analysis::{NoSecrets, Providers, Reconciled, reconcile_async};
use kargo_api::analysis::{AnalysisRunSpec, AnalysisRunStatus, Metric, WebMetric};

async fn serve() -> String {
    let app = Router::new()
        .route("/string", get(|| async { r#"{"statusCode": "200"}"# }))
        .route(
            "/number",
            get(|| async { r#"{"statusCode": 200, "data": {"ok": true}}"# }),
        )
        .route("/text", get(|| async { "all good" }))
        .route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, r#"{"ok": false}"#) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/echo", post(|body: String| async move { body }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

async fn once(metric: Metric) -> Reconciled {
    let spec = AnalysisRunSpec {
        metrics: vec![metric],
        ..Default::default()
    };
    reconcile_async(
        &spec,
        &AnalysisRunStatus::default(),
        &jiff::Timestamp::now,
        &NoSecrets,
        &Providers::new(),
    )
    .await
}

fn web(url: String, json_path: &str, success: &str) -> Metric {
    let mut m = Metric {
        name: "webcheck".into(),
        success_condition: success.into(),
        ..Default::default()
    };
    m.provider.web = Some(WebMetric {
        url,
        json_path: json_path.into(),
        ..Default::default()
    });
    m
}

fn last(r: &Reconciled) -> &kargo_api::analysis::Measurement {
    r.status.metric_results[0]
        .measurements
        .last()
        .expect("a measurement")
}

/// The seed's `http-health-check` (`{$.statusCode}`, `result == "200"`):
/// passes only when the service returns the status code as a JSON string;
/// with a JSON number, Rollouts' expr rejects `float64 == string` at
/// compile time, so the measurement is an Error (retried, then the run
/// errors), not a failure. `response.status == 200` is the robust way to
/// write it here.
#[tokio::test]
async fn seed_http_health_check_string_vs_number() {
    let base = serve().await;
    let mut m = seed_template("http-health-check").spec.metrics[0].clone();
    m.interval = None;
    m.count = None;
    m.failure_limit = None;
    m.provider.web.as_mut().unwrap().url = format!("{base}/string");
    let r = once(m.clone()).await;
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
    assert_eq!(last(&r).value, "\"200\"");

    m.provider.web.as_mut().unwrap().url = format!("{base}/number");
    let r = once(m.clone()).await;
    assert_eq!(r.status.phase, "Running", "an Error measurement is retried");
    assert_eq!(last(&r).phase, "Error");
    assert_eq!(
        last(&r).message,
        "could not evaluate successCondition \"result == \"200\"\": invalid operation: == (mismatched types float64 and string)"
    );

    m.success_condition = "response.status == 200 && result == 200".into();
    let r = once(m).await;
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
}

#[tokio::test]
async fn json_paths_non_json_and_status_extension() {
    let base = serve().await;
    let r = once(web(
        format!("{base}/number"),
        "{$.data.ok}",
        "result == true",
    ))
    .await;
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
    let r = once(web(
        format!("{base}/number"),
        "{$}",
        "result.statusCode == 200",
    ))
    .await;
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
    // Non-JSON body: the raw string.
    let r = once(web(
        format!("{base}/text"),
        "{$.x}",
        "result == \"all good\"",
    ))
    .await;
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
    assert_eq!(
        r.status.metric_results[0].measurements[0].metadata["responseStatus"],
        "200"
    );
    // A non-2xx response is an Error measurement...
    let r = once(web(format!("{base}/down"), "{$.ok}", "result == true")).await;
    assert_eq!(last(&r).phase, "Error");
    assert_eq!(last(&r).message, "received non 2xx response code: 503");
    assert_eq!(r.status.phase, "Running", "errors are retried");
    // ... unless the conditions look at response.status.
    let r = once(web(
        format!("{base}/down"),
        "{$.ok}",
        "response.status == 200",
    ))
    .await;
    assert_eq!(r.status.phase, "Failed");
    assert_eq!(last(&r).value, "false");
    assert_eq!(
        r.status.message,
        "Metric \"webcheck\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    // Missing JSONPath result.
    let r = once(web(format!("{base}/number"), "{$.nope}", "result == 1")).await;
    assert_eq!(last(&r).phase, "Error");
    assert!(
        last(&r)
            .message
            .starts_with("Could not find JSONPath in body"),
        "{}",
        last(&r).message
    );
}

#[tokio::test]
async fn post_json_body_and_headers() {
    let base = serve().await;
    let mut m = web(format!("{base}/echo"), "{$.n}", "result == 42");
    let w = m.provider.web.as_mut().unwrap();
    w.method = "POST".into();
    w.json_body = Some(serde_json::json!({"n": 42}));
    let r = once(m).await;
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
}

#[tokio::test]
async fn slow_response_times_out_as_error() {
    let base = serve().await;
    let mut m = web(format!("{base}/slow"), "{$}", "true");
    m.provider.web.as_mut().unwrap().timeout_seconds = Some(1);
    let start = std::time::Instant::now();
    let r = once(m).await;
    assert!(start.elapsed() < Duration::from_secs(4));
    assert_eq!(last(&r).phase, "Error");
    assert!(
        last(&r).message.contains("timed out"),
        "{}",
        last(&r).message
    );
    assert!(r.next_reconcile.is_some(), "an error is retried");
}

fn job(script: &str, deadline: Option<i64>, backoff: Option<i32>) -> Metric {
    let spec = serde_json::json!({
        "template": {"spec": {"restartPolicy": "Never", "containers": [{
            "name": "test", "image": "ignored",
            "command": ["/bin/sh", "-c"], "args": [script],
            "env": [{"name": "GREETING", "value": "hello"}]
        }]}},
        "activeDeadlineSeconds": deadline,
        "backoffLimit": backoff,
    });
    let mut m = Metric {
        name: "smoke-test".into(),
        ..Default::default()
    };
    m.provider.job = Some(kargo_api::analysis::JobMetric {
        metadata: None,
        spec: serde_json::from_value(spec).expect("job spec"),
    });
    m
}

#[tokio::test]
async fn job_success_failure_timeout() {
    let r = once(job("echo $GREETING; echo Tests passed", None, Some(1))).await;
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
    let m = last(&r);
    assert_eq!(m.metadata["output"], "hello\nTests passed\n");
    assert_eq!(m.metadata["exitCode"], "0");

    let r = once(job("echo boom >&2; exit 3", None, Some(1))).await;
    assert_eq!(r.status.phase, "Failed");
    let m = last(&r);
    assert_eq!(m.metadata["output"], "boom\n");
    assert_eq!(m.metadata["attempts"], "2", "backoffLimit 1 = one retry");
    assert!(
        r.status.message.contains("exit code 3"),
        "{}",
        r.status.message
    );

    let start = std::time::Instant::now();
    let r = once(job("sleep 30", Some(1), Some(0))).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(r.status.phase, "Failed");
    assert!(
        r.status.message.contains("activeDeadlineSeconds"),
        "{}",
        r.status.message
    );

    // The seed's smoke-test shape (no image pull: the command runs locally).
    let mut seed = seed_template("smoke-test").spec.metrics[0].clone();
    let c = &mut seed
        .provider
        .job
        .as_mut()
        .unwrap()
        .spec
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0];
    c.args = Some(vec!["true && echo \"Tests passed\"".into()]);
    let r = once(seed).await;
    assert_eq!(r.status.phase, "Successful", "{}", r.status.message);
}
