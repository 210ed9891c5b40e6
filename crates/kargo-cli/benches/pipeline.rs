//! Pipeline benchmark: a tag pushed (with a refresh) until prod-us may
//! take the Freight, through dev → staging-us + staging-eu, with one-shot
//! health checks, on a real `kargo server` and real git repositories.
//! For each hop it reports the total time, the time spent in git (the
//! promotion steps) and in checks (the measurement), and what is left:
//! the controllers' own overhead (target: under 200 ms per hop). The
//! baseline, measured in the same run, is the same clone/edit/commit/push
//! done by a plain git script. Run with `scripts/bench.sh`.

#[path = "../tests/common/chain.rs"]
#[allow(dead_code)]
mod chain;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KARGO: &str = env!("CARGO_BIN_EXE_kargo");
const RUNS: usize = 5;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "B")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "B")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ts_ms(v: &Value) -> Option<f64> {
    v.as_str()?
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_nanosecond() as f64 / 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// Sum of step durations of the Stage's Promotion of `freight`, and the
/// measurement time of its AnalysisRun (ms).
fn costs(
    promos: &[Value],
    runs: &[Value],
    stage: &str,
    freight: &str,
    coll_item: &str,
) -> (f64, f64) {
    let git: f64 = promos
        .iter()
        .filter(|p| p["spec"]["stage"] == stage && p["spec"]["freight"] == freight)
        .flat_map(|p| {
            p["status"]["stepExecutionMetadata"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|m| Some(ts_ms(&m["finishedAt"])? - ts_ms(&m["startedAt"])?))
        .sum();
    let checks: f64 = runs
        .iter()
        .filter(|r| {
            r["metadata"]["labels"]["kargo.akuity.io/stage"] == stage
                && r["metadata"]["labels"]["kargo.akuity.io/freight-collection"]
                    .as_str()
                    .is_some_and(|c| c.contains(coll_item))
        })
        .flat_map(|r| {
            r["status"]["metricResults"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|m| m["measurements"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| Some(ts_ms(&m["finishedAt"])? - ts_ms(&m["startedAt"])?))
        .sum();
    (git, checks)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Repositories.
    for name in ["app", "config"] {
        git(
            d,
            &["init", "-q", "--bare", "-b", "main", &format!("{name}.git")],
        );
        git(d, &["init", "-q", "-b", "main", name]);
        git(
            &d.join(name),
            &[
                "remote",
                "add",
                "origin",
                &format!("file://{}/{name}.git", d.display()),
            ],
        );
    }
    for st in ["dev", "staging-us", "staging-eu", "prod-us"] {
        std::fs::create_dir_all(d.join("config/apps").join(st)).expect("mkdir");
        std::fs::write(
            d.join("config/apps").join(st).join("values.yaml"),
            "# app\nimage:\n  tag: none # by kargo\n",
        )
        .expect("write");
    }
    std::fs::write(d.join("app/README"), "app\n").expect("write");
    for name in ["app", "config"] {
        git(&d.join(name), &["add", "-A"]);
        git(&d.join(name), &["commit", "-q", "-m", "init"]);
        git(&d.join(name), &["push", "-q", "origin", "main"]);
    }
    let app_url = format!("file://{}/app.git", d.display());
    let cfg_url = format!("file://{}/config.git", d.display());
    let health = chain::ok_listener();

    // Server.
    let mut child = Command::new(KARGO)
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--min-warehouse-interval",
            "1s",
            "--allow-file-repos",
            "--data-dir",
        ])
        .arg(d.join("data"))
        .env("KARGO_CONFIG", d.join("cfg.yaml"))
        // Its kubectl context goes beside it, not into the user's kubeconfig.
        .env("KUBECONFIG", d.join("kubeconfig"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .expect("url")
        .to_string();
    let steps = format!(
        "  promotionTemplate:\n    spec:\n      steps:\n      - uses: git-clone\n        config: {{repoURL: \"{cfg_url}\", checkout: [{{branch: main, path: ./src}}]}}\n      - uses: yaml-update\n        config:\n          path: ./src/apps/${{{{ ctx.stage }}}}/values.yaml\n          updates: [{{key: image.tag, value: \"${{{{ freight.commits[\\\"{app_url}\\\"].tag }}}}\"}}]\n      - uses: git-commit\n        config: {{path: ./src, message: \"promote ${{{{ ctx.stage }}}}\"}}\n      - uses: git-push\n        config: {{path: ./src}}\n  verification:\n    analysisTemplates: [{{name: health}}]\n    args: [{{name: url, value: \"http://{health}/${{{{ ctx.stage }}}}/healthz\"}}]\n"
    );
    let stage = |name: &str, sources: &str| {
        format!(
            "kind: Stage\nmetadata: {{name: {name}, namespace: bench}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {sources}\n{steps}"
        )
    };
    let manifests = [
        "kind: Project\nmetadata: {name: bench}\n".to_string(),
        "kind: ProjectConfig\nmetadata: {name: bench, namespace: bench}\nspec:\n  promotionPolicies:\n  - {stage: dev, autoPromotionEnabled: true}\n  - {stageSelector: {name: \"glob:staging-*\"}, autoPromotionEnabled: true}\n".to_string(),
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: health, namespace: bench}\nspec:\n  args: [{name: url}]\n  metrics:\n  - name: healthz\n    successCondition: response.status == 200\n    provider:\n      web: {url: \"{{args.url}}\", jsonPath: \"{$.status}\"}\n".to_string(),
        format!("kind: Warehouse\nmetadata: {{name: app, namespace: bench}}\nspec:\n  interval: 1h\n  subscriptions:\n  - git: {{repoURL: \"{app_url}\", commitSelectionStrategy: SemVer}}\n"),
        stage("dev", "{direct: true}"),
        stage("staging-us", "{stages: [dev]}"),
        stage("staging-eu", "{stages: [dev]}"),
        stage("prod-us", "{stages: [staging-us, staging-eu]}"),
    ]
    .join("---\n");
    let mut apply = Command::new(KARGO)
        .args(["apply", "-f", "-"])
        .env("KARGO_CONFIG", d.join("cfg.yaml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("apply");
    apply
        .stdin
        .take()
        .expect("stdin")
        .write_all(manifests.as_bytes())
        .expect("write");
    assert!(apply.wait().expect("apply").success(), "apply failed");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let token = std::fs::read_to_string(d.join("data/admin-token"))
        .expect("token")
        .trim()
        .to_string();
    let ca = std::fs::read_to_string(d.join("data/ca.crt")).expect("ca");
    let (mut warehouse_ms, mut dev, mut staging, mut prod) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    rt.block_on(async {
        let client = kargo_server::client::https_client(&url, Some(&token), Some(&ca), false).expect("client");
        let get = |path: String| {
            let c = client.clone();
            async move { c.request::<Value>(http::Request::get(path).body(Vec::new()).expect("req")).await.expect("get") }
        };
        let base = "/apis/kargo.akuity.io/v1alpha1/namespaces/bench";
        for i in 0..RUNS {
            let tag = format!("v1.0.{i}");
            std::fs::write(d.join("app/VERSION"), &tag).expect("write");
            git(&d.join("app"), &["add", "-A"]);
            git(&d.join("app"), &["commit", "-q", "-m", &tag]);
            git(&d.join("app"), &["tag", &tag]);
            git(&d.join("app"), &["push", "-q", "origin", "main", "--tags"]);
            let t0 = Instant::now();
            let wall0 = jiff::Timestamp::now().as_nanosecond() as f64 / 1e6;
            let patch = json!({"metadata": {"annotations": {"kargo.akuity.io/refresh": tag.clone()}}});
            client
                .request_text(http::Request::patch(format!("{base}/warehouses/app")).header("content-type", "application/merge-patch+json").body(serde_json::to_vec(&patch).expect("json")).expect("req"))
                .await
                .expect("refresh");
            let (mut f_at, mut dev_at, mut stg_at) = (None, None, None);
            let mut fname = String::new();
            while stg_at.is_none() {
                assert!(t0.elapsed() < Duration::from_secs(120), "timed out");
                let fl = get(format!("{base}/freights")).await;
                if let Some(f) = fl["items"].as_array().and_then(|a| a.iter().find(|f| f["commits"][0]["tag"] == tag.as_str())) {
                    fname = f["metadata"]["name"].as_str().unwrap_or("").to_string();
                    f_at.get_or_insert(t0.elapsed());
                    let vi = &f["status"]["verifiedIn"];
                    if vi["dev"].is_object() {
                        dev_at.get_or_insert(t0.elapsed());
                    }
                    if vi["staging-us"].is_object() && vi["staging-eu"].is_object() {
                        stg_at = Some(t0.elapsed());
                    }
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            // prod-us by hand.
            let p0 = Instant::now();
            let promo = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion", "metadata": {}, "spec": {"stage": "prod-us", "freight": fname}});
            client
                .request_text(http::Request::post(format!("{base}/promotions")).header("content-type", "application/json").body(serde_json::to_vec(&promo).expect("json")).expect("req"))
                .await
                .expect("promote prod-us");
            loop {
                assert!(p0.elapsed() < Duration::from_secs(120), "timed out on prod-us");
                let f = get(format!("{base}/freights/{fname}")).await;
                if f["status"]["verifiedIn"]["prod-us"].is_object() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            let prod_total = p0.elapsed();
            let promos = get(format!("{base}/promotions")).await["items"].as_array().cloned().unwrap_or_default();
            let runs = get("/apis/argoproj.io/v1alpha1/namespaces/bench/analysisruns".to_string()).await["items"].as_array().cloned().unwrap_or_default();
            let f_ms = f_at.map(|x| x.as_secs_f64() * 1e3).unwrap_or(0.0);
            let dev_ms = dev_at.map(|x| x.as_secs_f64() * 1e3).unwrap_or(0.0) - f_ms;
            let stg_ms = stg_at.map(|x| x.as_secs_f64() * 1e3).unwrap_or(0.0) - (f_ms + dev_ms);
            let (dg, dc) = costs(&promos, &runs, "dev", &fname, &fname);
            let (ug, uc) = costs(&promos, &runs, "staging-us", &fname, &fname);
            let (eg, ec) = costs(&promos, &runs, "staging-eu", &fname, &fname);
            let (pg, pc) = costs(&promos, &runs, "prod-us", &fname, &fname);
            let _ = wall0;
            warehouse_ms.push((f_ms, 0.0, 0.0));
            dev.push((dev_ms, dg, dc));
            // The two staging hops run in parallel: charge the slower one.
            staging.push((stg_ms, ug.max(eg), uc.max(ec)));
            prod.push((prod_total.as_secs_f64() * 1e3, pg, pc));
        }
    });
    let _ = child.kill();
    let _ = child.wait();

    // Baseline: the same promotion as a plain git script.
    let mut raw = Vec::new();
    for i in 0..RUNS {
        let w = d.join(format!("raw{i}"));
        let t = Instant::now();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "git clone -q {cfg_url} {w} && sed -i 's/tag: .*/tag: raw{i} # by kargo/' {w}/apps/dev/values.yaml && git -C {w} -c user.name=B -c user.email=b@b commit -q -am raw && git -C {w} push -q origin main",
                w = w.display()
            ))
            .status()
            .expect("sh");
        assert!(out.success(), "raw git script failed");
        raw.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let raw_ms = median(raw);

    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "hop (median of 5)", "total ms", "git ms", "checks ms", "overhead ms", "target"
    );
    let row = |name: &str, v: &[(f64, f64, f64)]| {
        let total = median(v.iter().map(|x| x.0).collect());
        let g = median(v.iter().map(|x| x.1).collect());
        let c = median(v.iter().map(|x| x.2).collect());
        let overhead = median(v.iter().map(|x| (x.0 - x.1 - x.2).max(0.0)).collect());
        println!(
            "{name:<36} {total:>10.1} {g:>10.1} {c:>10.1} {overhead:>12.1} {:>10}",
            "< 200"
        );
        g
    };
    row("tag pushed -> Freight (discovery)", &warehouse_ms);
    let dev_git = row("Freight -> verified in dev", &dev);
    row("dev -> verified in both staging", &staging);
    row("promote prod-us -> verified there", &prod);
    println!(
        "\nbaseline (same run): plain git clone+edit+commit+push: {raw_ms:.1} ms; kargo's git steps for dev: {dev_git:.1} ms ({:.2}x)",
        dev_git / raw_ms
    );
}
