//! API benchmark: drives a real `kargo server` (release build) over HTTPS
//! on loopback and prints a table of figures against targets and against
//! baselines measured in the same run (the raw SQLite work underneath,
//! and a bare process start). Run with `scripts/bench.sh`.

use futures::StreamExt;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KARGO: &str = env!("CARGO_BIN_EXE_kargo");
const N: usize = 10_000;

struct Proc {
    child: Child,
    url: String,
    ready_ms: f64,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Proc {
    let t = Instant::now();
    let mut child = Command::new(KARGO)
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--allow-file-repos",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .env("KARGO_CONFIG", dir.join("config.yaml"))
        // Its kubectl context goes beside it, not into the user's kubeconfig.
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let ready_ms = t.elapsed().as_secs_f64() * 1e3;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .expect("url")
        .to_string();
    Proc {
        child,
        url,
        ready_ms,
    }
}

fn rss_mb(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn freight(i: usize) -> Value {
    json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight", "metadata": {"namespace": "bench"},
        "origin": {"kind": "Warehouse", "name": "app"},
        "images": [{"repoURL": "127.0.0.1:9/my-web-app", "tag": format!("1.{}.{}", i / 100, i % 100), "digest": format!("sha256:{:064x}", i)}],
        "commits": [{"repoURL": "file:///nonexistent/org/app.git", "id": format!("{:040x}", i), "message": "release"}]
    })
}

struct Row {
    metric: &'static str,
    value: String,
    baseline: String,
    ratio: String,
    target: &'static str,
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();

    // Start-to-ready (median of 5 cold starts on fresh data dirs) vs a bare process start.
    let mut starts = Vec::new();
    for i in 0..5 {
        let d = dir.path().join(format!("start{i}"));
        starts.push(start(&d).ready_ms);
    }
    let mut bare = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        Command::new(KARGO)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .expect("kargo --version");
        bare.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (ready, bare_ms) = (pct(&mut starts, 0.5), pct(&mut bare, 0.5));
    rows.push(Row {
        metric: "start to ready (ms)",
        value: format!("{ready:.1}"),
        baseline: format!("{bare_ms:.1} (kargo --version)"),
        ratio: format!("{:.1}x", ready / bare_ms),
        target: "< 200",
    });

    let server = start(&dir.path().join("main"));
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = rss_mb(server.child.id());
    rows.push(Row {
        metric: "idle RSS (MB)",
        value: format!("{idle_rss:.1}"),
        baseline: "-".into(),
        ratio: "-".into(),
        target: "< 30",
    });

    let data = dir.path().join("main/data");
    let token = std::fs::read_to_string(data.join("admin-token"))
        .expect("token")
        .trim()
        .to_string();
    let ca = std::fs::read_to_string(data.join("ca.crt")).expect("ca");
    let url = server.url.clone();

    let (create_rate, list_ms, get_stats, watch_stats) = rt.block_on(async move {
        let client = kargo_server::client::https_client(&url, Some(&token), Some(&ca), false)
            .expect("client");
        let post = |path: &str, body: &Value| {
            http::Request::post(path.to_string())
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).expect("json"))
                .expect("req")
        };
        client
            .request_text(post(
                "/apis/kargo.akuity.io/v1alpha1/projects",
                &json!({"metadata": {"name": "bench"}}),
            ))
            .await
            .expect("project");
        let warehouse = json!({"metadata": {"name": "app"}, "spec": {"subscriptions": [
            {"image": {"repoURL": "127.0.0.1:9/my-web-app"}},
            {"git": {"repoURL": "file:///nonexistent/org/app.git"}}
        ]}});
        client
            .request_text(post(
                "/apis/kargo.akuity.io/v1alpha1/namespaces/bench/warehouses",
                &warehouse,
            ))
            .await
            .expect("warehouse");

        // Create N Freight with 8 concurrent writers.
        let t = Instant::now();
        let per = N / 8;
        let mut tasks = Vec::new();
        for w in 0..8 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                for i in w * per..(w + 1) * per {
                    let req = http::Request::post(
                        "/apis/kargo.akuity.io/v1alpha1/namespaces/bench/freights",
                    )
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&freight(i)).expect("json"))
                    .expect("req");
                    c.request_text(req).await.expect("create freight");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
        let create_rate = N as f64 / t.elapsed().as_secs_f64();

        // List all (full response received), median of 5.
        let mut lists = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let body = client
                .request_text(
                    http::Request::get("/apis/kargo.akuity.io/v1alpha1/namespaces/bench/freights")
                        .body(Vec::new())
                        .expect("req"),
                )
                .await
                .expect("list");
            lists.push(t.elapsed().as_secs_f64() * 1e3);
            assert!(body.len() > N * 300, "list returned {} bytes", body.len());
        }
        let list_ms = pct(&mut lists, 0.5);

        // Names for gets.
        let v: Value = client
            .request(
                http::Request::get(
                    "/apis/kargo.akuity.io/v1alpha1/namespaces/bench/freights?limit=2000",
                )
                .body(Vec::new())
                .expect("req"),
            )
            .await
            .expect("page");
        let names: Vec<String> = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect();
        let mut gets = Vec::new();
        let t = Instant::now();
        for n in &names {
            let s = Instant::now();
            client
                .request_text(
                    http::Request::get(format!(
                        "/apis/kargo.akuity.io/v1alpha1/namespaces/bench/freights/{n}"
                    ))
                    .body(Vec::new())
                    .expect("req"),
                )
                .await
                .expect("get");
            gets.push(s.elapsed().as_secs_f64() * 1e3);
        }
        let get_rate = names.len() as f64 / t.elapsed().as_secs_f64();
        let get_stats = (get_rate, pct(&mut gets.clone(), 0.5), pct(&mut gets, 0.99));

        // Watch delivery: time from sending a status update to receiving its event.
        let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
            client.clone(),
            "bench",
            &kube::api::ApiResource {
                group: "kargo.akuity.io".into(),
                version: "v1alpha1".into(),
                api_version: "kargo.akuity.io/v1alpha1".into(),
                kind: "Freight".into(),
                plural: "freights".into(),
            },
        );
        let rv = api
            .list_metadata(&kube::api::ListParams::default().limit(1))
            .await
            .expect("rv")
            .metadata
            .resource_version
            .expect("rv");
        let mut stream = api
            .watch(&kube::api::WatchParams::default().timeout(290), &rv)
            .await
            .expect("watch")
            .boxed();
        let mut lat = Vec::new();
        for (k, n) in names.iter().take(500).enumerate() {
            let patch =
                kube::api::Patch::Merge(json!({"metadata": {"labels": {"bench": k.to_string()}}}));
            let sent = Instant::now();
            let pp = kube::api::PatchParams::default();
            let (resp, ev) = tokio::join!(api.patch(n, &pp, &patch), stream.next());
            resp.expect("patch");
            ev.expect("event").expect("event ok");
            lat.push(sent.elapsed().as_secs_f64() * 1e3);
        }
        let watch_stats = (pct(&mut lat.clone(), 0.5), pct(&mut lat, 0.99));
        (create_rate, list_ms, get_stats, watch_stats)
    });
    let full_rss = rss_mb(server.child.id());

    // Baselines: the same rows through SQLite directly (the floor under the API).
    let base = dir.path().join("baseline.db");
    let conn = rusqlite::Connection::open(&base).expect("sqlite");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    conn.execute_batch("CREATE TABLE o (name TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID")
        .expect("table");
    let t = Instant::now();
    for i in 0..N {
        let body = freight(i).to_string();
        let tx = conn.unchecked_transaction().expect("tx");
        tx.execute(
            "INSERT INTO o VALUES (?1, ?2)",
            rusqlite::params![format!("f{i:06}"), body],
        )
        .expect("insert");
        tx.commit().expect("commit");
    }
    let base_create = N as f64 / t.elapsed().as_secs_f64();
    let mut base_lists = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut st = conn
            .prepare_cached("SELECT body FROM o ORDER BY name")
            .expect("prep");
        let mut out = String::new();
        for b in st.query_map([], |r| r.get::<_, String>(0)).expect("q") {
            out.push_str(&b.expect("row"));
            out.push(',');
        }
        std::hint::black_box(out);
        base_lists.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let base_list = pct(&mut base_lists, 0.5);
    let t = Instant::now();
    for i in 0..2000 {
        let b: String = conn
            .query_row(
                "SELECT body FROM o WHERE name = ?1",
                [format!("f{i:06}")],
                |r| r.get(0),
            )
            .expect("get");
        std::hint::black_box(b);
    }
    let base_get = 2000.0 / t.elapsed().as_secs_f64();

    rows.push(Row {
        metric: "create 10,000 Freight (ops/s, 8 clients)",
        value: format!("{create_rate:.0}"),
        baseline: format!("{base_create:.0} (raw SQLite insert)"),
        ratio: format!("{:.2}x", create_rate / base_create),
        target: "-",
    });
    rows.push(Row {
        metric: "list 10,000 Freight over HTTPS (ms)",
        value: format!("{list_ms:.1}"),
        baseline: format!("{base_list:.1} (raw SQLite scan)"),
        ratio: format!("{:.1}x", list_ms / base_list),
        target: "< 150",
    });
    rows.push(Row {
        metric: "get by name (ops/s, 1 client)",
        value: format!(
            "{:.0} (p50 {:.2} ms, p99 {:.2} ms)",
            get_stats.0, get_stats.1, get_stats.2
        ),
        baseline: format!("{base_get:.0} (raw SQLite select)"),
        ratio: format!("{:.3}x", get_stats.0 / base_get),
        target: "-",
    });
    rows.push(Row {
        metric: "watch delivery (ms, update sent -> event)",
        value: format!("p50 {:.2}, p99 {:.2}", watch_stats.0, watch_stats.1),
        baseline: "-".into(),
        ratio: "-".into(),
        target: "p99 < 10",
    });
    rows.push(Row {
        metric: "RSS with 10,000 Freight (MB)",
        value: format!("{full_rss:.1}"),
        baseline: format!("{idle_rss:.1} (idle)"),
        ratio: format!("{:.1}x", full_rss / idle_rss),
        target: "-",
    });

    let w = [44, 40, 34, 8, 10];
    println!(
        "{:<w0$} {:<w1$} {:<w2$} {:<w3$} {:<w4$}",
        "metric",
        "kargo",
        "baseline (same run)",
        "ratio",
        "target",
        w0 = w[0],
        w1 = w[1],
        w2 = w[2],
        w3 = w[3],
        w4 = w[4]
    );
    for r in rows {
        println!(
            "{:<w0$} {:<w1$} {:<w2$} {:<w3$} {:<w4$}",
            r.metric,
            r.value,
            r.baseline,
            r.ratio,
            r.target,
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4]
        );
    }
}
