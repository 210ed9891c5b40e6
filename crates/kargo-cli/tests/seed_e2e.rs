//! The seed, end to end: `../shared/seed/examples/` applied with only
//! their addresses changed, driven by the commands of `COMMANDS.md`, and
//! checked against what the seed promises.
//!
//! Addresses: the GitHub repositories become local bare repositories, the
//! image repository a local `docker-registry`, the dev health URL a local
//! "environment" server, and the Prometheus address a real local
//! Prometheus. The environment server stands in for the cluster: each
//! Stage "runs" the image tag committed for it in the config repository,
//! answers `/healthz`, and exports `http_requests_total` for its own
//! Prometheus to scrape.
//!
//! What the seed leaves out, and this test fills in:
//! - the `my-warehouse` Warehouse the Stages request from (an image
//!   subscription on the app image, like `app-images` in 04);
//! - the elided promotion templates of 03 (`# ... promotion template for
//!   US region ...`): the dev steps of 02, and for prod-us also the
//!   conditional `argocd-update` of 05;
//! - verification for the staging Stages: the seed's `error-rate-check`,
//!   each region with its own Prometheus (copies of the template that
//!   differ only in name and address);
//! - an Argo CD Application for `prod` (06 shows only dev's), since 05's
//!   prod Stage updates `my-web-app-prod`.
//!
//! The seed's intervals are kept (10 s × 3 web checks, 30 s × 5 error-rate
//! queries), so a passing verification takes two minutes; the story is
//! ordered so Stages verify in parallel wherever the pipeline allows.

mod common;
#[path = "../../kargo-sources/tests/support/mod.rs"]
mod registry;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use common::prometheus::Prometheus;
use common::{ServerProc, bare_repo, fails, git, ok, promotion_name, seed_dir, wait_for};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROJECT: &str = "my-web-app";
const SEED_IMAGE: &str = "myacr.azurecr.io/my-web-app";
const STAGES: [&str; 5] = ["dev", "staging-us", "staging-eu", "prod-us", "prod"];

// ---------------------------------------------------------------------
// The stand-in cluster: health endpoints and request metrics per Stage.
// ---------------------------------------------------------------------

#[derive(Default)]
struct EnvState {
    /// The config repository (bare) whose `main` each Stage runs.
    config_bare: PathBuf,
    /// Stages whose health endpoint reports a dependency down.
    down: HashSet<String>,
    /// `(stage, tag)` pairs that answer half their requests with 5xx.
    faulty: HashSet<(String, String)>,
    /// Request counters per Stage: (ok, 5xx).
    counters: HashMap<String, (u64, u64)>,
}

type Env = Arc<Mutex<EnvState>>;

/// The image tag committed for `stage` on the config repository's main.
fn deployed_tag(config_bare: &Path, stage: &str) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(config_bare)
        .args(["show", &format!("main:apps/my-web-app/{stage}/values.yaml")])
        .output()
        .expect("git show");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = yaml_serde::from_str(&text).unwrap_or_default();
    v["image"]["tag"].as_str().unwrap_or("").to_string()
}

async fn healthz(State(env): State<Env>, UrlPath(stage): UrlPath<String>) -> String {
    let down = env.lock().unwrap().down.contains(&stage);
    if down {
        r#"{"statusCode":"503","reason":"database unreachable"}"#.into()
    } else {
        r#"{"statusCode":"200"}"#.into()
    }
}

/// One scrape: the Stage served 1,000 requests since the last one; a
/// faulty deployment answered 10,000 more with 500.
async fn metrics(State(env): State<Env>, UrlPath(stage): UrlPath<String>) -> String {
    let bare = env.lock().unwrap().config_bare.clone();
    let tag = deployed_tag(&bare, &stage);
    let mut e = env.lock().unwrap();
    let faulty = e.faulty.contains(&(stage.clone(), tag));
    let c = e.counters.entry(stage).or_default();
    c.0 += 1000;
    if faulty {
        c.1 += 10_000;
    }
    format!(
        "# TYPE http_requests_total counter\n\
         http_requests_total{{service=\"my-web-app\",status=\"200\"}} {}\n\
         http_requests_total{{service=\"my-web-app\",status=\"500\"}} {}\n",
        c.0, c.1
    )
}

fn start_environment(rt: &tokio::runtime::Runtime, env: Env) -> String {
    let app = Router::new()
        .route("/{stage}/healthz", get(healthz))
        .route("/{stage}/metrics", get(metrics))
        .with_state(env);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind environment");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

// ---------------------------------------------------------------------
// Repositories and the seed with its addresses changed.
// ---------------------------------------------------------------------

struct Repos {
    config_bare: PathBuf,
    config_url: String,
    infra_work: PathBuf,
    infra_url: String,
}

fn repos(home: &Path) -> Repos {
    let (config_bare, config_work) = bare_repo(home, "k8s-config");
    for stage in STAGES {
        let dir = config_work.join("apps/my-web-app").join(stage);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("values.yaml"),
            format!(
                "# my-web-app in {stage}\nimage:\n  repository: {SEED_IMAGE}  # pulled by the cluster\n  tag: \"1.4.0\"\nreplicas: 2\n"
            ),
        )
        .unwrap();
    }
    git(&config_work, &["add", "-A"]);
    git(&config_work, &["commit", "-q", "-m", "initial"]);
    git(&config_work, &["push", "-q", "origin", "main"]);
    let (_infra_bare, infra_work) = bare_repo(home, "infra-config");
    std::fs::write(infra_work.join("ingress.yaml"), "replicas: 1\n").unwrap();
    git(&infra_work, &["add", "-A"]);
    git(&infra_work, &["commit", "-q", "-m", "infra"]);
    git(&infra_work, &["push", "-q", "origin", "main"]);
    Repos {
        config_url: format!("file://{}", config_bare.display()),
        config_bare,
        infra_url: format!("file://{}", home.join("infra-config.git").display()),
        infra_work,
    }
}

struct Addresses<'a> {
    repos: &'a Repos,
    image: String,
    environment: String,
    prometheus_dev: String,
}

impl Addresses<'_> {
    /// The seed's text with every address replaced, and nothing else.
    fn apply(&self, text: &str) -> String {
        text.replace(
            "https://github.com/my-org/k8s-config.git",
            &self.repos.config_url,
        )
        .replace(
            "https://github.com/my-org/infra-config.git",
            &self.repos.infra_url,
        )
        .replace(SEED_IMAGE, &self.image)
        .replace(
            "http://my-web-app.dev.svc.cluster.local/healthz",
            &format!("{}/dev/healthz", self.environment),
        )
        .replace(
            "http://prometheus.monitoring.svc:9090",
            &self.prometheus_dev,
        )
    }
}

fn seed(file: &str) -> String {
    std::fs::read_to_string(seed_dir().join(file)).unwrap()
}

/// The YAML documents of a seed file.
fn documents(text: &str) -> Vec<String> {
    text.split("\n---\n").map(str::to_string).collect()
}

/// Lines of `text` from the one starting with `from` up to (not
/// including) the one starting with `to`, or to the end.
fn block(text: &str, from: &str, to: Option<&str>) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with(from) {
            inside = true;
        } else if inside && to.is_some_and(|t| line.starts_with(t)) {
            break;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(!out.is_empty(), "{from:?} not found in the seed");
    out
}

/// Writes the seed, addresses changed, plus what it leaves out, to `dir`.
fn write_manifests(a: &Addresses, prometheus_us: &str, prometheus_eu: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for f in [
        "01-analysis-templates.yaml",
        "02-stage-dev.yaml",
        "04-warehouses.yaml",
        "05-promotion-steps.yaml",
        "06-argocd-application.yaml",
    ] {
        std::fs::write(dir.join(f), a.apply(&seed(f))).unwrap();
    }

    // Each staging region checks its error rate against its own Prometheus.
    let error_rate = documents(&seed("01-analysis-templates.yaml"))
        .into_iter()
        .find(|d| d.contains("name: error-rate-check"))
        .unwrap();
    let regional: Vec<String> = [("us", prometheus_us), ("eu", prometheus_eu)]
        .iter()
        .map(|(region, url)| {
            error_rate
                .replace(
                    "name: error-rate-check",
                    &format!("name: error-rate-check-{region}"),
                )
                .replace("http://prometheus.monitoring.svc:9090", url)
        })
        .collect();
    std::fs::write(
        dir.join("07-regional-error-rate.yaml"),
        regional.join("\n---\n"),
    )
    .unwrap();

    // The elided promotion templates of 03: dev's steps (02); prod-us also
    // gets 05's conditional argocd-update step (it is skipped there).
    let dev = seed("02-stage-dev.yaml");
    let steps = block(&dev, "  promotionTemplate:", Some("  verification:"));
    let argocd: String = block(
        &seed("05-promotion-steps.yaml"),
        "    # Only run argocd-update",
        None,
    )
    .lines()
    .map(|l| format!("  {l}\n"))
    .collect();
    let mut parallel = seed("03-parallel-stages.yaml");
    for region in ["us", "eu"] {
        let placeholder = format!(
            "  # ... promotion template for {} region ...\n",
            region.to_uppercase()
        );
        assert!(parallel.contains(&placeholder), "{placeholder:?}");
        parallel = parallel.replace(
            &placeholder,
            &format!(
                "{steps}  verification:\n    analysisTemplates:\n    - name: error-rate-check-{region}\n"
            ),
        );
    }
    parallel = format!("{}\n{steps}{argocd}", parallel.trim_end());
    std::fs::write(dir.join("03-parallel-stages.yaml"), a.apply(&parallel)).unwrap();

    // The Warehouse the Stages request from, and prod's Application.
    let app_images = documents(&seed("04-warehouses.yaml"))
        .into_iter()
        .find(|d| d.contains("name: app-images"))
        .unwrap();
    let my_warehouse = app_images.replace("name: app-images", "name: my-warehouse");
    let prod_app = seed("06-argocd-application.yaml")
        .replace("my-web-app-dev", "my-web-app-prod")
        .replace("my-web-app:dev", "my-web-app:prod")
        .replace("apps/my-web-app/dev", "apps/my-web-app/prod");
    std::fs::write(
        dir.join("08-not-in-seed.yaml"),
        a.apply(&format!("{my_warehouse}\n---\n{prod_app}")),
    )
    .unwrap();
}

// ---------------------------------------------------------------------
// Reading state through kubectl, as a user would.
// ---------------------------------------------------------------------

/// `kubectl get ... -o json` in the project unless `-n` is given.
fn get_json(s: &ServerProc, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    if !args.contains(&"-n") {
        a.extend_from_slice(&["-n", PROJECT]);
    }
    s.get_json(&a)
}

/// The Freight from `warehouse` carrying image tag `tag`.
fn freight(s: &ServerProc, warehouse: &str, tag: &str) -> Option<Value> {
    get_json(s, &["freight"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["origin"]["name"] == warehouse && f["images"][0]["tag"] == tag)
        .cloned()
}

fn alias(f: &Value) -> String {
    f["metadata"]["labels"]["kargo.akuity.io/alias"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn verified_in(s: &ServerProc, tag: &str, stage: &str) -> bool {
    freight(s, "my-warehouse", tag).is_some_and(|f| f["status"]["verifiedIn"][stage].is_object())
}

/// The newest verification of `stage`'s current Freight: (phase, message,
/// AnalysisRun name).
fn last_verification(s: &ServerProc, stage: &str) -> (String, String, String) {
    let st = get_json(s, &["stage", stage]);
    let v = &st["status"]["freightHistory"][0]["verificationHistory"][0];
    let text = |x: &Value| x.as_str().unwrap_or("").to_string();
    (
        text(&v["phase"]),
        text(&v["message"]),
        text(&v["analysisRun"]["name"]),
    )
}

fn current_tag(s: &ServerProc, stage: &str) -> String {
    let st = get_json(s, &["stage", stage]);
    let name = st["status"]["freightHistory"][0]["items"]["Warehouse/my-warehouse"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    get_json(s, &["freight"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["metadata"]["name"] == name.as_str())
        .map(|f| f["images"][0]["tag"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// `kargo promote ... --wait`; returns the Promotion's name.
fn promote(s: &ServerProc, stage: &str, freight: &str) -> String {
    let out = ok(&s.promote_wait(PROJECT, stage, freight));
    promotion_name(&out)
}

/// `kargo promote` that must be refused; returns the error.
fn refused(s: &ServerProc, stage: &str, freight: &str) -> String {
    fails(&s.kargo(&[
        "promote",
        "--project",
        PROJECT,
        "--stage",
        stage,
        "--freight",
        freight,
    ]))
}

struct Clock(Instant);

impl Clock {
    fn mark(&self, what: &str) {
        eprintln!("[{:>6.1}s] {what}", self.0.elapsed().as_secs_f64());
    }
}

#[test]
fn the_seed_runs_end_to_end() {
    let clock = Clock(Instant::now());
    let home = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // The real components, on loopback.
    let reg = rt.block_on(registry::Registry::start(false));
    let pusher = reg.pusher(false);
    let r = repos(home.path());
    let env: Env = Arc::new(Mutex::new(EnvState {
        config_bare: r.config_bare.clone(),
        ..Default::default()
    }));
    let environment = start_environment(&rt, env.clone());
    // One Prometheus per region; each waits for two scrapes (a 5-minute rate).
    let prom_dev = Prometheus::scraping(&format!("{environment}/dev/metrics"));
    let prom_us = Prometheus::scraping(&format!("{environment}/staging-us/metrics"));
    let prom_eu = Prometheus::scraping(&format!("{environment}/staging-eu/metrics"));
    for p in [&prom_dev, &prom_us, &prom_eu] {
        p.wait_for("count_over_time(http_requests_total[5m]) >= 2", 60);
    }
    let a = Addresses {
        repos: &r,
        image: format!("{}/my-web-app", reg.host),
        environment: environment.clone(),
        prometheus_dev: prom_dev.url.clone(),
    };
    let manifests = home.path().join("examples");
    write_manifests(&a, &prom_us.url, &prom_eu.url, &manifests);
    let push = |tag: &str| {
        rt.block_on(pusher.image(
            "my-web-app",
            tag,
            "2026-01-01T00:00:00Z",
            "linux/amd64",
            &[],
        ));
    };
    push("1.5.0");
    clock.mark("registry, git, environment and three Prometheus servers up");

    // The seed's objects go in as a user would apply them.
    let s = ServerProc::start(home.path());
    // Argo CD for the seed's prod Application (the in-test controller).
    let _argo = common::argocd::ArgoCd::start(&s.kubeconfig());
    ok(&s.kargo(&["create", "project", PROJECT]));
    ok(&s.kargo(&["config", "set-project", PROJECT]));
    let applied = ok(&s.kargo(&["apply", "-f", manifests.to_str().unwrap()]));
    for obj in [
        "analysistemplate.argoproj.io/http-health-check",
        "analysistemplate.argoproj.io/error-rate-check",
        "analysistemplate.argoproj.io/smoke-test",
        "stage.kargo.akuity.io/dev",
        "stage.kargo.akuity.io/staging-us",
        "stage.kargo.akuity.io/staging-eu",
        "stage.kargo.akuity.io/prod-us",
        "stage.kargo.akuity.io/prod",
        "warehouse.kargo.akuity.io/app-images",
        "warehouse.kargo.akuity.io/infra-config",
        "application.argoproj.io/my-web-app-dev",
    ] {
        assert!(applied.contains(obj), "{obj} not applied:\n{applied}");
    }

    // Freight: one per release, named and aliased; the seed's aliases set by hand.
    wait_for("Freight for 1.5.0", 60, || {
        freight(&s, "my-warehouse", "1.5.0").is_some()
    });
    for tag in ["1.6.0", "1.7.0", "1.8.0"] {
        push(tag);
        ok(&s.kargo(&["refresh", "warehouse", "my-warehouse", "--wait"]));
        assert!(
            freight(&s, "my-warehouse", tag).is_some(),
            "no Freight for {tag}"
        );
    }
    for (tag, name) in [("1.5.0", "jolly-penguin"), ("1.6.0", "brave-dolphin")] {
        let old = alias(&freight(&s, "my-warehouse", tag).unwrap());
        ok(&s.kargo(&[
            "update",
            "freight",
            "--project",
            PROJECT,
            "--old-alias",
            &old,
            "--new-alias",
            name,
        ]));
    }
    // Several Warehouses, each at its own cadence: app images and infra config.
    ok(&s.kargo(&["refresh", "warehouse", "app-images", "--wait"]));
    ok(&s.kargo(&["refresh", "warehouse", "infra-config", "--wait"]));
    let all = get_json(&s, &["freight"]);
    let from = |w: &str| {
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["origin"]["name"] == w)
            .count()
    };
    assert!(from("app-images") >= 1, "{all}");
    assert_eq!(from("infra-config"), 1, "{all}");
    let infra_head = git(&r.infra_work, &["rev-parse", "HEAD"]);
    assert!(all.to_string().contains(infra_head.trim()));
    assert!(
        current_tag(&s, "dev").is_empty(),
        "nothing moves before it is promoted"
    );
    let v18 = alias(&freight(&s, "my-warehouse", "1.8.0").unwrap());
    let v17 = alias(&freight(&s, "my-warehouse", "1.7.0").unwrap());
    clock.mark("Freight for 1.5.0 to 1.8.0");

    // 1) dev verifies with both checks. A dependency is down: the web check
    //    fails, so jolly-penguin is not verified and cannot go on.
    env.lock().unwrap().down.insert("dev".into());
    promote(&s, "dev", "jolly-penguin");
    assert_eq!(deployed_tag(&r.config_bare, "dev"), "1.5.0");
    wait_for("dev's verification to fail", 60, || {
        last_verification(&s, "dev").0 == "Failed"
    });
    let (_, message, run) = last_verification(&s, "dev");
    assert!(message.contains("webcheck"), "{message}");
    assert!(!verified_in(&s, "1.5.0", "dev"));
    let err = refused(&s, "staging-us", "jolly-penguin");
    assert!(err.contains("not verified in Stage \"dev\""), "{err}");
    let listed = ok(&s.kubectl(&["get", "analysisrun", "-n", PROJECT]));
    assert!(
        listed.contains(&run) && listed.contains("Failed"),
        "{listed}"
    );
    let described = ok(&s.kubectl(&["describe", "analysisrun", &run, "-n", PROJECT]));
    assert!(
        described.contains("webcheck") && described.contains("Failed"),
        "{described}"
    );
    clock.mark("dev: the web check failed, jolly-penguin blocked");

    // 2) The dependency is back: re-verify (the seed's command); now both
    //    checks pass over their full count and dev has verified it.
    env.lock().unwrap().down.clear();
    ok(&s.kargo(&["verify", "--project", PROJECT, "--stage", "dev"]));
    wait_for("jolly-penguin to be verified in dev", 240, || {
        verified_in(&s, "1.5.0", "dev")
    });
    let (phase, _, rerun) = last_verification(&s, "dev");
    assert_eq!(phase, "Successful");
    assert_ne!(rerun, run, "re-verify ran a new AnalysisRun");
    let ar = get_json(&s, &["analysisrun", &rerun]);
    let results = ar["status"]["metricResults"].as_array().unwrap();
    let count = |name: &str| {
        results
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["successful"].as_i64().unwrap_or(0))
            .unwrap_or(0)
    };
    assert_eq!(
        (count("webcheck"), count("error-rate")),
        (3, 5),
        "every measurement passed: {ar}"
    );
    assert_eq!(ar["metadata"]["labels"]["app"], "my-web-app");
    assert_eq!(ar["metadata"]["labels"]["stage"], "dev");
    clock.mark("dev: re-verified, jolly-penguin verified");

    // 3) Parallel Stages: both staging regions take jolly-penguin (eu a
    //    little later), while dev moves on to brave-dolphin.
    promote(&s, "staging-us", "jolly-penguin");
    promote(&s, "dev", "brave-dolphin");
    std::thread::sleep(Duration::from_secs(15));
    promote(&s, "staging-eu", "jolly-penguin");
    wait_for("jolly-penguin to be verified in staging-us", 240, || {
        verified_in(&s, "1.5.0", "staging-us")
    });
    // prod-us needs both: with only staging-us done, it is refused.
    assert!(!verified_in(&s, "1.5.0", "staging-eu"));
    assert_eq!(last_verification(&s, "staging-eu").0, "Running");
    let err = refused(&s, "prod-us", "jolly-penguin");
    assert!(
        err.contains("not verified in Stage \"staging-eu\"")
            && !err.contains("not verified in Stage \"staging-us\""),
        "{err}"
    );
    clock.mark("staging-us verified jolly-penguin; prod-us still waits for staging-eu");
    wait_for("jolly-penguin to be verified in staging-eu", 240, || {
        verified_in(&s, "1.5.0", "staging-eu")
    });
    assert_eq!(deployed_tag(&r.config_bare, "staging-us"), "1.5.0");
    assert_eq!(deployed_tag(&r.config_bare, "staging-eu"), "1.5.0");

    // 4) Verified in both: prod-us and the seed's prod take it.
    let out = ok(&s.kargo(&[
        "promote",
        "--project",
        PROJECT,
        "--stage",
        "prod-us",
        "--freight",
        "jolly-penguin",
        "--wait",
    ]));
    assert!(
        out.contains("argocd-update") && out.contains("Skipped"),
        "the prod-only step is skipped in prod-us:\n{out}"
    );
    assert_eq!(deployed_tag(&r.config_bare, "prod-us"), "1.5.0");
    promote(&s, "prod", "jolly-penguin");
    clock.mark("prod-us and prod run jolly-penguin");

    // brave-dolphin follows through staging.
    wait_for("brave-dolphin to be verified in dev", 240, || {
        verified_in(&s, "1.6.0", "dev")
    });
    promote(&s, "staging-us", "brave-dolphin");
    promote(&s, "staging-eu", "brave-dolphin");
    promote(&s, "dev", &v17);
    wait_for("1.7.0 to be verified in dev", 240, || {
        verified_in(&s, "1.7.0", "dev")
    });
    wait_for("brave-dolphin to be verified in staging-us", 240, || {
        verified_in(&s, "1.6.0", "staging-us")
    });
    clock.mark("brave-dolphin verified in staging-us, 1.7.0 in dev");

    // 5) 1.7.0 has a US-only fault (half its requests 5xx); 1.8.0 breaks
    //    everywhere, dev included, though its health check stays green.
    {
        let mut e = env.lock().unwrap();
        e.faulty.insert(("staging-us".into(), "1.7.0".into()));
        e.faulty.insert(("dev".into(), "1.8.0".into()));
    }
    promote(&s, "staging-us", &v17);
    promote(&s, "dev", &v18);

    // 6) The rollback story: brave-dolphin reaches prod and is broken there;
    //    jolly-penguin is promoted again.
    wait_for("brave-dolphin to be verified in staging-eu", 240, || {
        verified_in(&s, "1.6.0", "staging-eu")
    });
    promote(&s, "staging-eu", &v17);
    promote(&s, "prod-us", "brave-dolphin");
    // The seed's form without --project uses the configured project.
    let out = ok(&s.kargo(&[
        "promote",
        "--stage",
        "prod",
        "--freight",
        "brave-dolphin",
        "--wait",
    ]));
    let broken = promotion_name(&out);
    assert_eq!(deployed_tag(&r.config_bare, "prod-us"), "1.6.0");
    let before = git(&r.config_bare, &["rev-parse", "main"]);
    ok(&s.kargo(&[
        "promote",
        "--stage",
        "prod-us",
        "--freight",
        "jolly-penguin",
        "--wait",
    ]));
    let rollback = promote(&s, "prod", "jolly-penguin");
    assert_eq!(
        deployed_tag(&r.config_bare, "prod-us"),
        "1.5.0",
        "the rollback writes 1.5.0 back"
    );
    let after = git(&r.config_bare, &["rev-parse", "main"]);
    assert_ne!(before, after, "the rollback is a new commit");
    let subject = git(&r.config_bare, &["log", "-1", "--format=%s", "main"]);
    assert_eq!(subject.trim(), "promote my-web-app to prod-us");
    assert_eq!(current_tag(&s, "prod-us"), "1.5.0");
    assert_eq!(current_tag(&s, "prod"), "1.5.0");
    let app = get_json(&s, &["application", "my-web-app-prod", "-n", "argocd"]);
    assert_eq!(
        app["status"]["operationState"]["operation"]["info"][1]["value"], rollback,
        "the rollback asked Argo CD to sync prod: {app}"
    );
    assert_eq!(app["status"]["health"]["status"], "Healthy", "{app}");
    assert_ne!(broken, rollback);
    clock.mark("rolled back prod-us and prod to jolly-penguin");

    // 7) The error rate decides: 1.8.0 fails in dev though its web check
    //    passed; 1.7.0 fails in staging-us, passes in staging-eu, and so
    //    cannot reach prod-us.
    wait_for("dev's verification of 1.8.0 to fail", 240, || {
        last_verification(&s, "dev").0 == "Failed"
    });
    let (_, message, run) = last_verification(&s, "dev");
    assert!(message.contains("error-rate"), "{message}");
    let ar = get_json(&s, &["analysisrun", &run]);
    let web = ar["status"]["metricResults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "webcheck")
        .cloned()
        .unwrap();
    assert_eq!(web["phase"], "Successful", "{ar}");
    assert!(!verified_in(&s, "1.8.0", "dev"));
    wait_for("staging-us's verification of 1.7.0 to fail", 240, || {
        last_verification(&s, "staging-us").0 == "Failed"
    });
    let (_, message, _) = last_verification(&s, "staging-us");
    assert!(message.contains("error-rate"), "{message}");
    wait_for("1.7.0 to be verified in staging-eu", 240, || {
        verified_in(&s, "1.7.0", "staging-eu")
    });
    let err = refused(&s, "prod-us", &v17);
    assert!(
        err.contains("not verified in Stage \"staging-us\"") && !err.contains("staging-eu"),
        "{err}"
    );
    clock.mark("the 5xx rate in staging-us blocks 1.7.0 from prod-us");

    // The rest of COMMANDS.md.
    let yaml = ok(&s.kargo(&["get", "freight", "--project", PROJECT, "-o", "yaml"]));
    for expect in ["jolly-penguin", "brave-dolphin", "verifiedIn", "staging-eu"] {
        assert!(yaml.contains(expect), "{expect} missing:\n{yaml}");
    }
    // Its kubectl lines exactly as written, only the placeholders filled
    // in, with nothing but KUBECONFIG set (the server wrote it). The
    // controller's log tells the same story (the server stands in for the
    // kargo-controller Deployment); `-f` is read until it has.
    let lines = common::seed_kubectl_lines();
    let expectations: [(&str, Vec<&str>); 6] = [
        ("kubectl get analysisrun ", vec![&run, "Failed"]),
        ("kubectl describe analysisrun ", vec![&run, "webcheck"]),
        ("kubectl describe warehouse ", vec!["DiscoverySucceeded"]),
        ("kubectl describe stage ", vec!["Verif"]),
        ("kubectl describe promotion ", vec!["PromotionSucceeded"]),
        (
            "kubectl logs ",
            vec![
                "FreightCreated",
                "PromotionSucceeded",
                "VerificationFailed",
                &rollback,
            ],
        ),
    ];
    assert_eq!(lines.len(), expectations.len(), "{lines:?}");
    for line in &lines {
        let typed = line
            .replace("<name>", &run)
            .replace("promote-xyz", &rollback);
        let (_, expect) = expectations
            .iter()
            .find(|(prefix, _)| typed.starts_with(prefix))
            .unwrap_or_else(|| panic!("no expectation for {line}"));
        let out = if typed.ends_with(" -f") {
            common::follow_until(s.typed(&typed), expect)
        } else {
            ok(&s.typed(&typed).output().unwrap())
        };
        for e in expect {
            assert!(out.contains(e), "{line}: {e} missing:\n{out}");
        }
    }
    clock.mark("done");
}
