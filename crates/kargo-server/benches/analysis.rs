//! AnalysisRun cost per measurement: N runs (20, then 200) with a web
//! metric every second against a loopback HTTP target, executed by the
//! server's AnalysisRun controller, alternating with the baseline — the
//! same N web measurements every second through the same provider with
//! no run, status or write around them. Reports the server process's CPU
//! per measurement and the cores used. Run with `scripts/bench.sh`.

#[path = "../../../benches/support.rs"]
mod stats;

use kargo_analysis::Providers;
use kargo_api::analysis::Metric;
use kargo_api::{AnalysisRun, Project};
use kargo_server::{Server, ServerConfig};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};

const RUNS: usize = 3;
const WINDOW: Duration = Duration::from_secs(8);
const WARMUP: Duration = Duration::from_secs(3);

/// CPU seconds this process used so far (user + system).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("stat") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

fn metric_json(url: &str) -> serde_json::Value {
    json!({"name": "up", "interval": "1s", "successCondition": "result.ok == true",
           "provider": {"web": {"url": url, "jsonPath": "{$}"}}})
}

async fn measurements(api: &Api<AnalysisRun>) -> i64 {
    api.list(&ListParams::default())
        .await
        .expect("list runs")
        .items
        .iter()
        .filter_map(|r| r.status.as_ref())
        .flat_map(|s| s.metric_results.iter())
        .map(|m| i64::from(m.count))
        .sum()
}

/// CPU ms per measurement with `n` AnalysisRuns.
async fn kargo_run(api: &Api<AnalysisRun>, url: &str, n: usize, round: usize) -> (f64, f64) {
    for i in 0..n {
        let run: AnalysisRun = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": format!("r{round}-{i}"), "namespace": "bench"},
            "spec": {"metrics": [metric_json(url)]}
        }))
        .expect("run");
        api.create(&PostParams::default(), &run)
            .await
            .expect("create run");
    }
    tokio::time::sleep(WARMUP).await;
    let (m0, c0, t0) = (measurements(api).await, cpu_seconds(), Instant::now());
    tokio::time::sleep(WINDOW).await;
    let (m1, c1) = (measurements(api).await, cpu_seconds());
    let secs = t0.elapsed().as_secs_f64();
    for i in 0..n {
        api.delete(&format!("r{round}-{i}"), &DeleteParams::default())
            .await
            .expect("delete run");
    }
    let taken = (m1 - m0).max(1) as f64;
    ((c1 - c0) * 1e3 / taken, (c1 - c0) / secs)
}

/// CPU ms per measurement for `n` bare web measurements every second.
async fn baseline_run(url: &str, n: usize) -> (f64, f64) {
    let metric: Metric = serde_json::from_value(metric_json(url)).expect("metric");
    let providers = std::sync::Arc::new(Providers::new());
    let stop = Instant::now() + WARMUP + WINDOW;
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (metric, providers) = (metric.clone(), providers.clone());
            tokio::spawn(async move {
                let mut taken = 0u64;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                while Instant::now() < stop {
                    tick.tick().await;
                    std::hint::black_box(providers.measure(&metric).await);
                    taken += 1;
                }
                taken
            })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        taken += t.await.expect("task");
    }
    let c1 = cpu_seconds();
    (
        (c1 - c0) * 1e3 / taken.max(1) as f64,
        (c1 - c0) / t0.elapsed().as_secs_f64(),
    )
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/health", target.local_addr().expect("addr"));
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(|| async { axum::Json(json!({"ok": true})) }),
        );
        tokio::spawn(async move { axum::serve(target, app).await });
        let dir = tempfile::tempdir().expect("tempdir");
        let server = Server::start(ServerConfig::new(dir.path(), "127.0.0.1:0".parse().expect("addr")))
            .await
            .expect("server");
        let client = server.client().expect("client");
        let p: Project = serde_json::from_value(json!({"metadata": {"name": "bench"}})).expect("project");
        Api::<Project>::all(client.clone())
            .create(&PostParams::default(), &p)
            .await
            .expect("project");
        let api = Api::<AnalysisRun>::namespaced(client, "bench");
        stats::header("AnalysisRun measurements every 1 s (CPU ms per measurement; baseline: the bare web measurements)");
        let mut round = 0;
        for n in [20, 200] {
            let (mut k, mut b, mut kc, mut bc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for i in 0..RUNS {
                let mut one_kargo = async || {
                    round += 1;
                    let (ms, cores) = kargo_run(&api, &url, n, round).await;
                    k.push(ms);
                    kc.push(cores);
                };
                if i % 2 == 0 {
                    one_kargo().await;
                    let (ms, cores) = baseline_run(&url, n).await;
                    b.push(ms);
                    bc.push(cores);
                } else {
                    let (ms, cores) = baseline_run(&url, n).await;
                    b.push(ms);
                    bc.push(cores);
                    one_kargo().await;
                }
            }
            stats::row(&format!("{n} runs: CPU ms per measurement"), &k, &b, "(web GET only)", "proportional to the change");
            stats::row(&format!("{n} runs: cores used"), &kc, &bc, "(web GET only)", "");
        }
        drop(server);
    });
}
