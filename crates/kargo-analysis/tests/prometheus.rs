//! The prometheus provider against a real Prometheus (Debian's
//! `/usr/bin/prometheus`) scraping a tiny exporter served by the test; a
//! missing binary fails the test. Authentication is checked against an axum
//! stand-in for the query API (Prometheus itself would need bcrypt-hashed
//! users in a web config).

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use common::seed_template;
use kargo_analysis::{NoSecrets, Providers, Reconciled, reconcile_async};
use kargo_api::analysis::{
    AnalysisRunSpec, AnalysisRunStatus, BasicAuth, Metric, OAuth2Config, PrometheusAuth,
    PrometheusMetric,
};

const PROMETHEUS: &str = "/usr/bin/prometheus";

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
    errors_per_scrape: AtomicU64,
}

async fn exporter(c: Arc<Counters>) -> u16 {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let c = c.clone();
            async move {
                let ok = c.ok.fetch_add(100, Ordering::SeqCst) + 100;
                let step = c.errors_per_scrape.load(Ordering::SeqCst);
                let err = c.errors.fetch_add(step, Ordering::SeqCst) + step;
                format!(
                    "# TYPE http_requests_total counter\n\
                     http_requests_total{{service=\"my-web-app\",status=\"200\"}} {ok}\n\
                     http_requests_total{{service=\"my-web-app\",status=\"500\"}} {err}\n"
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind exporter");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(l, app).await.expect("serve exporter") });
    port
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

async fn query(client: &reqwest::Client, base: &str, q: &str) -> serde_json::Value {
    let url = reqwest::Url::parse_with_params(&format!("{base}/api/v1/query"), &[("query", q)])
        .expect("url");
    match client.get(url).send().await {
        Ok(r) => serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

/// Runs `metric` to completion with the real clock.
async fn run_to_end(metric: Metric, limit: Duration) -> Reconciled {
    let spec = AnalysisRunSpec {
        metrics: vec![metric],
        ..Default::default()
    };
    let mut status = AnalysisRunStatus::default();
    let start = Instant::now();
    loop {
        let r = reconcile_async(
            &spec,
            &status,
            &jiff::Timestamp::now,
            &NoSecrets,
            &Providers::new(),
        )
        .await;
        let Some(next) = r.next_reconcile else {
            return r;
        };
        assert!(
            start.elapsed() < limit,
            "run did not finish: {:?}",
            r.status
        );
        status = r.status;
        let wait = next.duration_since(jiff::Timestamp::now());
        if wait.is_positive() {
            tokio::time::sleep(wait.unsigned_abs()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_error_rate_check_against_real_prometheus() {
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: apt-get install -y prometheus"
    );
    let counters = Arc::new(Counters::default());
    counters.errors_per_scrape.store(2, Ordering::SeqCst); // 2 / 102 ≈ 2 %
    let target = exporter(counters.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .expect("write config");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let _prom = tokio::process::Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let base = format!("http://127.0.0.1:{port}");

    let mut metric = seed_template("error-rate-check").spec.metrics[0].clone();
    let prom = metric
        .provider
        .prometheus
        .as_mut()
        .expect("prometheus metric");
    prom.address = base.clone();
    prom.query = prom.query.replace("[5m]", "[10s]");
    metric.interval = Some("1s".into());

    // Wait until the target is scraped and the seed query has data.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let r = query(&client, &base, &prom.query).await;
        if r["data"]["result"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "prometheus has no data after 20s; log: {}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let ok = run_to_end(metric.clone(), Duration::from_secs(15)).await;
    assert_eq!(ok.status.phase, "Successful", "{:?}", ok.status);
    let m = &ok.status.metric_results[0];
    assert_eq!((m.count, m.successful), (5, 5));
    let v: f64 = m.measurements[0]
        .value
        .trim_matches(['[', ']'])
        .parse()
        .expect("a number");
    assert!(v > 0.0 && v < 0.05, "error rate {v}");

    // 30 errors per 100 successes: wait for the 10s window to hold only those.
    counters.errors_per_scrape.store(30, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(12)).await;
    let bad = run_to_end(metric, Duration::from_secs(15)).await;
    assert_eq!(bad.status.phase, "Failed", "{:?}", bad.status);
    let m = &bad.status.metric_results[0];
    assert_eq!((m.count, m.failed), (3, 3));
    assert_eq!(
        bad.status.message,
        "Metric \"error-rate\" assessed Failed due to failed (3) > failureLimit (2)"
    );
    let last = m.measurements.last().unwrap();
    assert!(last.value.starts_with("[0.2"), "{}", last.value);
    assert!(start.elapsed() < Duration::from_secs(45));
}

#[tokio::test]
async fn no_data_basic_and_oauth2_auth() {
    let app = Router::new()
        .route(
            "/token",
            post(|body: String| async move {
                if body.contains("grant_type=client_credentials")
                    && body.contains("client_secret=s3")
                {
                    (
                        StatusCode::OK,
                        r#"{"access_token":"tok","token_type":"bearer"}"#,
                    )
                } else {
                    (StatusCode::UNAUTHORIZED, "{}")
                }
            }),
        )
        .route(
            "/api/v1/query",
            get(|h: HeaderMap| async move {
                let auth = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                // "admin:pw" in base64
                if auth == "Basic YWRtaW46cHc=" || auth == "Bearer tok" {
                    (
                        StatusCode::OK,
                        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
                    )
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        r#"{"status":"error","errorType":"unauthorized","error":"no"}"#,
                    )
                }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await.expect("serve") });
    let metric = |auth: Option<PrometheusAuth>| {
        let mut m = Metric {
            name: "error-rate".into(),
            success_condition: "result[0] < 0.05".into(),
            ..Default::default()
        };
        m.provider.prometheus = Some(PrometheusMetric {
            address: format!("http://{addr}"),
            query: "up".into(),
            authentication: auth,
            ..Default::default()
        });
        m
    };
    let basic = PrometheusAuth {
        basic: Some(BasicAuth {
            username: "admin".into(),
            password: "pw".into(),
        }),
        ..Default::default()
    };
    let once = |m: Metric| async move {
        let spec = AnalysisRunSpec {
            metrics: vec![m],
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
    };
    let r = once(metric(Some(basic))).await;
    // `result[0]` on an empty vector is an evaluation error (an Error
    // measurement, retried), worded as Rollouts words it.
    let m = &r.status.metric_results[0].measurements[0];
    assert_eq!(m.phase, "Error");
    assert_eq!(
        m.message,
        "could not evaluate successCondition \"result[0] < 0.05\": metric result is nil or empty: no data returned from the metric provider"
    );
    let oauth = PrometheusAuth {
        oauth2: Some(OAuth2Config {
            token_url: format!("http://{addr}/token"),
            client_id: "kargo".into(),
            client_secret: "s3".into(),
            scopes: vec!["read".into()],
        }),
        ..Default::default()
    };
    let mut m = metric(Some(oauth));
    m.success_condition = "len(result) > 0 && result[0] < 0.05".into();
    let r = run_to_end(m, Duration::from_secs(5)).await;
    assert_eq!(r.status.phase, "Failed");
    assert_eq!(
        r.status.message,
        "Metric \"error-rate\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    let last = r.status.metric_results[0].measurements.last().unwrap();
    assert_eq!(last.value, "[]");
    // Unauthenticated: an Error measurement with Prometheus' error.
    let r = once(metric(None)).await;
    let m = &r.status.metric_results[0].measurements[0];
    assert_eq!(m.phase, "Error");
    assert!(m.message.contains("unauthorized"), "{}", m.message);
}
