//! Cluster mode end to end: `kargo controller` as a separate process
//! against a second `kargo server --disable-controllers` (the API only),
//! over TCP and TLS with the kubeconfig that server wrote — the same
//! client path a real kube-apiserver sees. The pipeline (discovery from a
//! local git remote, promotions pushing to one, verification by a job
//! metric run as a batch/v1 Job, fan-in), leader election with a
//! SIGKILLed leader, shards, and the job provider's outcomes.

mod common;

use common::cluster::{ControllerProc, JobController};
use common::{ServerProc, bare_repo, git, ok, wait_for};
use serde_json::Value;
use std::path::{Path, PathBuf};

const NS: &str = "my-web-app";
const VALUES: &str = "image:\n  tag: v0.0.0\n";

struct Repos {
    app_work: PathBuf,
    app_url: String,
    config_bare: PathBuf,
    config_url: String,
}

/// An app repository to tag and a config repository with one values
/// file per Stage in `stages`.
fn repos(home: &Path, app: &str, stages: &[&str]) -> Repos {
    let (app_bare, app_work) = bare_repo(home, app);
    let config = format!("{app}-config");
    let (config_bare, config_work) = bare_repo(home, &config);
    for stage in stages {
        let dir = config_work.join(stage);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("values.yaml"), VALUES).unwrap();
    }
    git(&config_work, &["add", "-A"]);
    git(&config_work, &["commit", "-q", "-m", "initial"]);
    git(&config_work, &["push", "-q", "origin", "main"]);
    Repos {
        app_work,
        app_url: format!("file://{}", app_bare.display()),
        config_url: format!("file://{}", config_bare.display()),
        config_bare,
    }
}

fn release(r: &Repos, tag: &str) {
    common::tag_release(&r.app_work, tag);
}

/// The promotion commits on the config remote, newest first: the tag each set.
fn promotion_commits(r: &Repos) -> Vec<String> {
    git(&r.config_bare, &["log", "--format=%s", "main"])
        .lines()
        .filter(|l| l.starts_with("promote "))
        .map(String::from)
        .collect()
}

/// The steps of a Stage writing the Freight's tag into `<stage>/values.yaml`.
fn steps(r: &Repos) -> String {
    format!(
        r#"
      steps:
      - uses: git-clone
        config:
          repoURL: {cfg}
          checkout:
          - branch: main
            path: ./src
      - uses: yaml-update
        config:
          path: ./src/${{{{ ctx.stage }}}}/values.yaml
          updates:
          - key: image.tag
            value: ${{{{ freight.commits["{app}"].tag }}}}
      - uses: git-commit
        config:
          path: ./src
          message: promote ${{{{ ctx.stage }}}} to ${{{{ freight.commits["{app}"].tag }}}}
      - uses: git-push
        config:
          path: ./src"#,
        cfg = r.config_url,
        app = r.app_url
    )
}

fn warehouse(name: &str, r: &Repos, shard: &str) -> String {
    format!(
        "---\nkind: Warehouse\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  shard: \"{shard}\"\n  interval: 2s\n  subscriptions:\n  - git: {{repoURL: \"{}\", commitSelectionStrategy: SemVer}}\n",
        r.app_url
    )
}

fn auto_promotion(stages: &[&str]) -> String {
    let mut s = format!(
        "---\nkind: ProjectConfig\nmetadata: {{name: {NS}, namespace: {NS}}}\nspec:\n  promotionPolicies:\n"
    );
    for st in stages {
        s.push_str(&format!(
            "  - stage: {st}\n    autoPromotionEnabled: true\n"
        ));
    }
    s
}

fn json(s: &ServerProc, args: &[&str]) -> Value {
    s.get_json(args)
}

/// The tag of the Freight a Stage holds ("" when none).
fn current_tag(s: &ServerProc, stage: &str) -> String {
    let st = json(s, &["stage", stage, "-n", NS]);
    let Some(name) = st["status"]["freightSummary"]
        .as_str()
        .filter(|n| !n.is_empty())
    else {
        return String::new();
    };
    let f = s.kubectl(&["get", "freight", name, "-n", NS, "-o", "json"]);
    serde_json::from_slice::<Value>(&f.stdout)
        .map(|f| f["commits"][0]["tag"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn freight_of_tag(s: &ServerProc, tag: &str) -> Option<Value> {
    json(s, &["freight", "-n", NS])["items"]
        .as_array()?
        .iter()
        .find(|f| f["commits"][0]["tag"] == tag)
        .cloned()
}

fn verified_in(s: &ServerProc, tag: &str, stage: &str) -> bool {
    freight_of_tag(s, tag).is_some_and(|f| f["status"]["verifiedIn"][stage].is_object())
}

fn api_only(home: &Path) -> ServerProc {
    let s = ServerProc::start_with(home, &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", NS]));
    s
}

const SMOKE: &str = r#"
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke, namespace: my-web-app}
spec:
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          backoffLimit: 1
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: busybox
                command: [sh, -c, "exit 0"]
"#;

#[test]
fn a_controller_process_runs_the_pipeline_against_an_api_only_server() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path(), "app", &["dev", "staging", "prod"]);
    release(&r, "v1.0.0");
    let s = api_only(home.path());
    let ctl = ControllerProc::start(&s, &home.path().join("ctl"), &[]);
    let _jobs = JobController::start(&s);
    let st = steps(&r);
    let manifests = format!(
        "{}{}{SMOKE}---
kind: Stage
metadata: {{name: dev, namespace: {NS}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  verification:
    analysisTemplates: [{{name: smoke}}]
  promotionTemplate:
    spec:{st}
---
kind: Stage
metadata: {{name: staging, namespace: {NS}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{stages: [dev]}}
  promotionTemplate:
    spec:{st}
---
kind: Stage
metadata: {{name: prod, namespace: {NS}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{stages: [dev, staging], availabilityStrategy: All}}
  promotionTemplate:
    spec:{st}
",
        warehouse("app", &r, ""),
        auto_promotion(&["dev"]),
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));

    // Discovery and auto-promotion into dev, by the controller process.
    wait_for("v1.0.0 in dev", 40, || current_tag(&s, "dev") == "v1.0.0");
    // Verification: the job metric ran as a Job the cluster (here, the
    // test's job controller) completed.
    wait_for("v1.0.0 verified in dev", 30, || {
        verified_in(&s, "v1.0.0", "dev")
    });
    let runs = json(&s, &["analysisruns", "-n", NS]);
    let run = &runs["items"][0];
    assert_eq!(run["status"]["phase"], "Successful", "{run:#}");
    let uid = run["metadata"]["uid"].as_str().unwrap();
    let job_name = format!("{uid}.smoke.1");
    let m = &run["status"]["metricResults"][0]["measurements"][0];
    assert_eq!(m["metadata"]["job-name"], job_name.as_str(), "{m:#}");
    let job = json(&s, &["job", &job_name, "-n", NS]);
    assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], uid);
    assert_eq!(job["spec"]["backoffLimit"], 1);
    // `kargo logs` names the Job and reads its pods' logs where the API
    // serves them (this server runs no pods, and says so).
    let run_name = run["metadata"]["name"].as_str().unwrap();
    let logs = ok(&s.kargo(&["logs", run_name, "-p", NS]));
    assert!(logs.contains(&format!("job {NS}/{job_name}")), "{logs}");
    assert!(logs.contains("no pods of this Job"), "{logs}");

    // Staging, then prod taking Freight verified in both (fan-in).
    ok(&s.promote_wait(
        NS,
        "staging",
        freight_of_tag(&s, "v1.0.0").unwrap()["metadata"]["name"]
            .as_str()
            .unwrap(),
    ));
    let v1 = freight_of_tag(&s, "v1.0.0").unwrap();
    let out = ok(&s.promote_wait(NS, "prod", v1["metadata"]["name"].as_str().unwrap()));
    assert!(out.contains("Succeeded"), "{out}");
    // The Stage records the Freight once it sees the Promotion succeed.
    wait_for("v1.0.0 in prod", 30, || current_tag(&s, "prod") == "v1.0.0");
    assert_eq!(
        promotion_commits(&r),
        [
            "promote prod to v1.0.0",
            "promote staging to v1.0.0",
            "promote dev to v1.0.0"
        ]
    );
    for stage in ["dev", "staging", "prod"] {
        assert_eq!(
            git(
                &r.config_bare,
                &["show", &format!("main:{stage}/values.yaml")]
            ),
            "image:\n  tag: v1.0.0\n"
        );
    }

    // Probes and metrics, as Kargo's controller serves them.
    assert_eq!(
        ControllerProc::http_get(&format!("{}/healthz", ctl.probes)),
        (200, "ok".to_string())
    );
    assert_eq!(
        ControllerProc::http_get(&format!("{}/readyz", ctl.probes)).0,
        200
    );
    assert_eq!(ctl.metric("kargo_controller_leader "), Some(1.0));
    assert!(
        ctl.metric(r#"kargo_controller_reconciles_total{controller="promotion"}"#)
            .is_some_and(|n| n >= 3.0)
    );
    // Its heartbeat Lease, as Kargo's.
    let hb = json(&s, &["lease", "kargo-controller-unnamed", "-n", "kargo"]);
    assert_eq!(hb["metadata"]["labels"]["kargo.akuity.io/controller"], "");
    assert_eq!(hb["spec"]["leaseDurationSeconds"], 120);
}

/// The service-account directory a pod would have, from the server's
/// kubeconfig: its token, its CA, and the namespace `kargo`.
fn service_account_dir(s: &ServerProc, dir: &Path) {
    use base64::Engine;
    let o = s.kubectl(&["config", "view", "--raw", "-o", "json"]);
    let kc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let token = kc["users"][0]["user"]["token"].as_str().unwrap();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(
            kc["clusters"][0]["cluster"]["certificate-authority-data"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("token"), token).unwrap();
    std::fs::write(dir.join("ca.crt"), ca).unwrap();
    std::fs::write(dir.join("namespace"), "kargo\n").unwrap();
}

#[test]
fn without_a_kubeconfig_the_controller_uses_the_in_cluster_configuration() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path(), "app", &["dev"]);
    release(&r, "v1.0.0");
    let s = api_only(home.path());
    let sa = home.path().join("serviceaccount");
    service_account_dir(&s, &sa);
    let ctl = ControllerProc::start_in_cluster(&s, &home.path().join("ctl"), &sa, &[]);
    let manifests = format!(
        "{}{}---\nkind: Stage\nmetadata: {{name: dev, namespace: {NS}}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:{}\n",
        warehouse("app", &r, ""),
        auto_promotion(&["dev"]),
        steps(&r)
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    wait_for("v1.0.0 in dev", 40, || current_tag(&s, "dev") == "v1.0.0");
    assert_eq!(promotion_commits(&r), ["promote dev to v1.0.0"]);
    assert_eq!(
        ControllerProc::http_get(&format!("{}/readyz", ctl.probes)).0,
        200
    );
    assert!(
        lease(&s, "kargo-controller-unnamed")["metadata"]["name"].is_string(),
        "no heartbeat"
    );

    // The token is the service account's: a wrong one is refused by the
    // API server, and the controller never becomes ready.
    let bad = home.path().join("bad-serviceaccount");
    service_account_dir(&s, &bad);
    std::fs::write(bad.join("token"), "not-a-token").unwrap();
    let refused = ControllerProc::start_in_cluster(&s, &home.path().join("ctl2"), &bad, &[]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        ControllerProc::http_get(&format!("{}/readyz", refused.probes)).0,
        503
    );
    // No service-account files at all: a clear error, not a hang.
    let out = std::process::Command::new(common::KARGO)
        .args(["controller", "--work-dir"])
        .arg(home.path().join("ctl3"))
        .env_remove("KUBECONFIG")
        .env("HOME", &s.home)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", "1")
        .env("KARGO_SERVICE_ACCOUNT_DIR", home.path().join("none"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no --kubeconfig and not in a cluster") && err.contains("token is missing"),
        "{err}"
    );
}

fn lease(s: &ServerProc, name: &str) -> Value {
    let o = s.kubectl(&["get", "lease", name, "-n", "kargo", "-o", "json"]);
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

#[test]
fn a_standby_takes_over_from_a_killed_leader_and_no_promotion_runs_twice() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path(), "app", &["dev"]);
    let s = api_only(home.path());
    let a = ControllerProc::start(&s, &home.path().join("a"), &["--leader-elect"]);
    let b = ControllerProc::start(&s, &home.path().join("b"), &["--leader-elect"]);
    let holder = || lease(&s, "kargo-controller-leader")["spec"]["holderIdentity"].clone();
    wait_for("a leader", 20, || holder().is_string());
    let (mut leader, standby) = if holder() == a.identity.as_str() {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(leader.metric("kargo_controller_leader "), Some(1.0));
    assert_eq!(standby.metric("kargo_controller_leader "), Some(0.0));

    let manifests = format!(
        "{}{}---\nkind: Stage\nmetadata: {{name: dev, namespace: {NS}}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:{}\n",
        warehouse("app", &r, ""),
        auto_promotion(&["dev"]),
        steps(&r)
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    release(&r, "v1.0.0");
    wait_for("v1.0.0 in dev", 30, || current_tag(&s, "dev") == "v1.0.0");
    // Mid-stream: the next release is out and its Promotion on its way
    // when the leader dies.
    release(&r, "v1.1.0");
    wait_for("a Promotion of v1.1.0", 20, || {
        json(&s, &["promotions", "-n", NS])["items"]
            .as_array()
            .is_some_and(|p| p.len() >= 2)
    });
    let killed_at = std::time::Instant::now();
    leader.child.kill().unwrap(); // SIGKILL
    leader.child.wait().unwrap();
    // The dead leader's last renewal, as the Lease keeps it.
    let last = lease(&s, "kargo-controller-leader");
    assert_eq!(last["spec"]["holderIdentity"], leader.identity.as_str());
    wait_for("the standby to take the lease", 20, || {
        holder() == standby.identity.as_str()
    });
    // Within the lease duration of the kill: the standby watches the
    // Lease and takes it once it has seen no renewal for
    // leaseDurationSeconds − retryPeriod (13 s), while a leader that
    // cannot renew stops after renewDeadline (10 s).
    let took = killed_at.elapsed();
    let l = lease(&s, "kargo-controller-leader");
    assert_eq!(l["spec"]["leaseTransitions"], 1, "{l:#}");
    assert_eq!(l["spec"]["leaseDurationSeconds"], 15);
    assert!(
        took <= std::time::Duration::from_secs(15),
        "takeover took {took:?}"
    );
    // And not before the record lapsed (same host, so the clocks agree).
    let at = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    let gap = at(&l["spec"]["acquireTime"]).duration_since(at(&last["spec"]["renewTime"]));
    assert!(
        gap >= jiff::SignedDuration::from_secs(13),
        "taken {gap:?} after the last renewal"
    );
    eprintln!("takeover {took:?} after the kill, {gap:?} after the last renewal");
    let start = std::time::Instant::now();
    while current_tag(&s, "dev") != "v1.1.0" {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            let p = json(&s, &["promotions", "-n", NS]);
            let log =
                std::fs::read_to_string(standby.dir.with_extension("log")).unwrap_or_default();
            panic!(
                "v1.1.0 not in dev after the takeover:\n{:#}\n{log}",
                p["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p["metadata"]["name"].clone(), p["status"].clone()))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|(n, s)| format!("{n} {s}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    eprintln!("v1.1.0 in dev {:?} after the kill", killed_at.elapsed());
    release(&r, "v1.2.0");
    wait_for("v1.2.0 in dev", 30, || current_tag(&s, "dev") == "v1.2.0");

    // Every Promotion ran once: one commit each, none repeated.
    let promotions = json(&s, &["promotions", "-n", NS]);
    let phases: Vec<&str> = promotions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"]["phase"].as_str().unwrap_or(""))
        .collect();
    assert!(phases.iter().all(|p| *p == "Succeeded"), "{phases:?}");
    assert_eq!(
        promotion_commits(&r),
        [
            "promote dev to v1.2.0",
            "promote dev to v1.1.0",
            "promote dev to v1.0.0"
        ],
        "{phases:?}"
    );
    assert_eq!(standby.metric("kargo_controller_leader "), Some(1.0));
}

#[test]
fn each_shard_reconciles_only_its_own() {
    let home = tempfile::tempdir().unwrap();
    let ra = repos(home.path(), "app-a", &["sa", "s0"]);
    let rb = repos(home.path(), "app-b", &["sb"]);
    let r0 = repos(home.path(), "app-0", &["unused"]);
    for r in [&ra, &rb, &r0] {
        release(r, "v1.0.0");
    }
    let s = api_only(home.path());
    let ca = ControllerProc::start(&s, &home.path().join("a"), &["--shard", "a"]);
    let cb = ControllerProc::start(&s, &home.path().join("b"), &["--shard", "b"]);
    let stage = |name: &str, wh: &str, shard: &str, r: &Repos| {
        format!(
            "---\nkind: Stage\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  shard: \"{shard}\"\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: {wh}}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:{}\n",
            steps(r)
        )
    };
    let manifests = [
        warehouse("wa", &ra, "a"),
        warehouse("wb", &rb, "b"),
        warehouse("w0", &r0, ""),
        auto_promotion(&["sa", "sb", "s0"]),
        stage("sa", "wa", "a", &ra),
        stage("sb", "wb", "b", &rb),
        // Unsharded, on shard a's Warehouse: neither controller takes it.
        stage("s0", "wa", "", &ra),
    ]
    .concat();
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    wait_for("sa and sb promoted", 40, || {
        current_tag(&s, "sa") == "v1.0.0" && current_tag(&s, "sb") == "v1.0.0"
    });
    // The shard label follows spec.shard; Promotions take their Stage's.
    let stages = json(&s, &["stages", "-n", NS]);
    for st in stages["items"].as_array().unwrap() {
        let name = st["metadata"]["name"].as_str().unwrap();
        let label = &st["metadata"]["labels"]["kargo.akuity.io/shard"];
        match name {
            "sa" => assert_eq!(label, "a"),
            "sb" => assert_eq!(label, "b"),
            _ => assert!(label.is_null(), "{st:#}"),
        }
    }
    let promotions = json(&s, &["promotions", "-n", NS]);
    let mut by_stage = std::collections::BTreeMap::new();
    for p in promotions["items"].as_array().unwrap() {
        by_stage.insert(
            p["spec"]["stage"].as_str().unwrap().to_string(),
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["metadata"]["labels"]["kargo.akuity.io/shard"].clone(),
            ),
        );
    }
    assert_eq!(by_stage["sa"].1, "a");
    assert_eq!(by_stage["sb"].1, "b");
    // Each controller ran its own shard's Promotion and nothing else.
    let log_a = std::fs::read_to_string(home.path().join("a.log")).unwrap();
    let log_b = std::fs::read_to_string(home.path().join("b.log")).unwrap();
    assert!(log_a.contains(&by_stage["sa"].0) && !log_a.contains(&by_stage["sb"].0));
    assert!(log_b.contains(&by_stage["sb"].0) && !log_b.contains(&by_stage["sa"].0));
    // Each discovered only its own Warehouse's repository.
    let mirrors = |c: &ControllerProc| {
        std::fs::read_dir(c.dir.join("cache/git"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!((mirrors(&ca), mirrors(&cb)), (1, 1));
    // Nobody took the unsharded ones.
    assert!(json(&s, &["warehouse", "w0", "-n", NS])["status"]["discoveredArtifacts"].is_null());
    assert!(!by_stage.contains_key("s0"), "{by_stage:?}");
    assert!(json(&s, &["stage", "s0", "-n", NS])["status"]["lastPromotion"].is_null());
    // One heartbeat Lease per shard.
    for (shard, c) in [("a", &ca), ("b", &cb)] {
        let l = lease(&s, &format!("kargo-controller-{shard}"));
        assert_eq!(l["metadata"]["labels"]["kargo.akuity.io/controller"], shard);
        assert_eq!(c.metric("kargo_controller_leader "), Some(1.0));
    }
}

#[test]
fn job_metrics_run_as_jobs_and_their_conditions_decide() {
    let home = tempfile::tempdir().unwrap();
    let s = api_only(home.path());
    let _ctl = ControllerProc::start(&s, &home.path().join("ctl"), &[]);
    let _jobs = JobController::start(&s);
    let metric = |name: &str, command: &str, hold: bool| {
        format!(
            r#"
  - name: {name}
    provider:
      job:
        metadata:
          labels: {{team: web}}
          annotations: {{{}}}
        spec:
          backoffLimit: 2
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: {name}
                image: busybox
                command: [sh, -c, "{command}"]"#,
            if hold {
                "test.kargo.io/hold: \"yes\""
            } else {
                ""
            }
        )
    };
    let run = |name: &str, metrics: &str| {
        format!(
            "---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  metrics:{metrics}\n"
        )
    };
    let manifests = [
        run(
            "outcomes",
            &[
                metric("passes", "exit 0", false),
                metric("fails", "exit 3", false),
            ]
            .concat(),
        ),
        run("held", &metric("waits", "exit 0", true)),
    ]
    .concat();
    let file = home.path().join("runs.yaml");
    std::fs::write(&file, &manifests).unwrap();
    ok(&s.kubectl(&["apply", "-f", file.to_str().unwrap()]));
    wait_for("the run to finish", 30, || {
        json(&s, &["analysisrun", "outcomes", "-n", NS])["status"]["phase"] == "Failed"
    });
    let ar = json(&s, &["analysisrun", "outcomes", "-n", NS]);
    let uid = ar["metadata"]["uid"].as_str().unwrap().to_string();
    let results = ar["status"]["metricResults"].as_array().unwrap();
    let phase = |m: &str| {
        results
            .iter()
            .find(|r| r["name"] == m)
            .map(|r| r["phase"].as_str().unwrap().to_string())
    };
    assert_eq!(phase("passes").as_deref(), Some("Successful"), "{ar:#}");
    assert_eq!(phase("fails").as_deref(), Some("Failed"), "{ar:#}");
    // The Jobs as Argo Rollouts makes them.
    for m in ["passes", "fails"] {
        let j = json(&s, &["job", &format!("{uid}.{m}.1"), "-n", NS]);
        let md = &j["metadata"];
        assert_eq!(md["labels"]["analysisrun.argoproj.io/uid"], uid.as_str());
        assert_eq!(md["labels"]["team"], "web");
        assert_eq!(
            md["annotations"]["analysisrun.argoproj.io/name"],
            "outcomes"
        );
        assert_eq!(md["annotations"]["analysisrun.argoproj.io/metric-name"], m);
        let owner = &md["ownerReferences"][0];
        assert_eq!(
            (&owner["kind"], &owner["uid"], &owner["controller"]),
            (
                &Value::from("AnalysisRun"),
                &Value::from(uid.as_str()),
                &Value::from(true)
            )
        );
        assert_eq!(j["spec"]["backoffLimit"], 2);
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"]["analysisrun.argoproj.io/uid"],
            uid.as_str()
        );
    }

    // Terminating a run whose Job is still running deletes the Job.
    let held_uid = json(&s, &["analysisrun", "held", "-n", NS])["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let held_job = format!("{held_uid}.waits.1");
    wait_for("the held Job", 20, || {
        s.kubectl(&["get", "job", &held_job, "-n", NS])
            .status
            .success()
    });
    ok(&s.kubectl(&[
        "patch",
        "analysisrun",
        "held",
        "-n",
        NS,
        "--type=merge",
        "-p",
        r#"{"spec": {"terminate": true}}"#,
    ]));
    wait_for("the held Job deleted", 20, || {
        !s.kubectl(&["get", "job", &held_job, "-n", NS])
            .status
            .success()
    });
    wait_for("the held run to end", 20, || {
        let p = json(&s, &["analysisrun", "held", "-n", NS])["status"]["phase"].clone();
        p == "Successful" || p == "Inconclusive"
    });
}

/// `kargo controller`'s counters against an API-only server: counted
/// once, kept in its ConfigMap across a SIGKILL and restart, and not
/// lowered when the counted Promotions are deleted meanwhile.
#[test]
fn controller_counters_never_go_down_across_restart_and_deletion() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path(), "app", &["dev"]);
    release(&r, "v1.0.0");
    let s = api_only(home.path());
    let mut ctl = ControllerProc::start(&s, &home.path().join("ctl"), &[]);
    let manifests = format!(
        "{}---
kind: Stage
metadata: {{name: dev, namespace: {NS}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: fail
        config: {{message: not today}}
",
        warehouse("app", &r, "")
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    wait_for("Freight discovered", 40, || {
        freight_of_tag(&s, "v1.0.0").is_some()
    });
    let freight = freight_of_tag(&s, "v1.0.0").unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = format!(r#"kargo_promotions_total{{project="{NS}",stage="dev",phase="Failed"}} "#);
    let created = format!(r#"kargo_freight_created_total{{project="{NS}",warehouse="app"}} "#);
    for _ in 0..2 {
        let out = s.promote_wait(NS, "dev", &freight);
        assert!(format!("{out:?}").contains("Failed"), "{out:?}");
    }
    wait_for("two failures counted", 20, || {
        ctl.metric(&failed) == Some(2.0)
    });
    assert_eq!(ctl.metric(&created), Some(1.0));
    let cm = json(
        &s,
        &["configmap", "kargo-controller-counters", "-n", "kargo"],
    );
    assert!(
        cm["data"]["counters"].as_str().unwrap().contains("Failed"),
        "{cm:#}"
    );

    // Killed; its Promotions deleted meanwhile (as garbage collection would).
    ctl.child.kill().unwrap();
    ctl.child.wait().unwrap();
    ok(&s.kubectl(&["delete", "promotions", "--all", "-n", NS]));
    let ctl = ControllerProc::start(&s, &home.path().join("ctl2"), &[]);
    wait_for("counters read back", 20, || ctl.metric(&failed).is_some());
    assert_eq!(ctl.metric(&failed), Some(2.0));
    assert_eq!(ctl.metric(&created), Some(1.0));
    // Counting goes on from there, and the restart counted nothing twice.
    let out = s.promote_wait(NS, "dev", &freight);
    assert!(format!("{out:?}").contains("Failed"), "{out:?}");
    wait_for("a third failure counted", 20, || {
        ctl.metric(&failed) == Some(3.0)
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(ctl.metric(&failed), Some(3.0));
    assert_eq!(ctl.metric(&created), Some(1.0));
}

/// `kargo controller`'s `/metrics` has the delivery-statistics gauges,
/// computed from its watch-fed caches by the code `kargo stats` uses: on
/// a known story (`common::stats_story`, in seconds, written before the
/// controller starts so it runs none of its Promotions), each gauge
/// equals the command's figure, the one worked out by hand and the API
/// server's own gauge (computed from its store).
#[test]
fn controller_metrics_export_the_delivery_statistics_kargo_stats_prints() {
    let home = tempfile::tempdir().unwrap();
    let s = api_only(home.path());
    let t0 = common::stats_story::write(&s, NS, jiff::SignedDuration::from_secs(1), false);
    let ctl = ControllerProc::start(&s, &home.path().join("ctl"), &[]);
    let gauge = |name: &str| format!(r#"{name}{{project="{NS}",stage="prod"}} "#);
    // The last Promotion ends 5 s after the Freight: wait until then.
    let end = t0 + jiff::SignedDuration::from_secs(6);
    wait_for("the delivery statistics on /metrics", 30, || {
        jiff::Timestamp::now() > end
            && ctl
                .metric(&gauge("kargo_stage_time_to_restore_seconds"))
                .is_some()
    });
    let out = ok(&s.kargo(&["stats", "-p", NS, "-o", "json"]));
    let doc: Value = serde_json::from_str(&out).unwrap();
    let prod = &doc["stages"][0];
    assert_eq!(prod["stage"], "prod", "{doc:#}");
    let served = common::chain::counters(&ok(&s.kubectl(&["get", "--raw", "/metrics"])));
    for (metric, field, expected) in [
        (
            "kargo_stage_deployments_per_day",
            "deploymentsPerDay",
            2.0 / 7.0,
        ),
        ("kargo_stage_lead_time_seconds", "leadTimeSeconds", 3.0),
        (
            "kargo_stage_change_failure_ratio",
            "changeFailureRate",
            1.0 / 3.0,
        ),
        (
            "kargo_stage_time_to_restore_seconds",
            "timeToRestoreSeconds",
            3.0,
        ),
    ] {
        assert_eq!(prod[field].as_f64(), Some(expected), "{field}: {doc:#}");
        assert_eq!(ctl.metric(&gauge(metric)), Some(expected), "{metric}");
        // The API server's own /metrics (its store read a page at a time)
        // says the same.
        let key = gauge(metric).trim_end().to_string();
        assert_eq!(served.get(&key), Some(&expected), "{metric} of the server");
    }
    // No commit time is known: absent in both.
    assert_eq!(prod["commitLeadTimeSeconds"], Value::Null);
    assert_eq!(
        ctl.metric(&gauge("kargo_stage_commit_lead_time_seconds")),
        None
    );
}
