//! The pipeline end to end with real git: a Warehouse on an app
//! repository's tags, auto-promotion into dev, a promotion into staging
//! followed live with `--wait`, the GitOps repository updated with its
//! comments untouched, a rollback by alias, and an abort.

mod common;

use common::argocd::{ArgoCd, Outcome};
use common::{ServerProc, bare_repo, fails, git, ok, promotion_name, wait_for};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const VALUES: &str = "# Values for my-web-app in this environment.\nimage:\n  repository: my-web-app   # do not change\n  tag: v0.0.0\nreplicas: 2 # scaled by hand\n";

struct Repos {
    app_url: String,
    app_work: std::path::PathBuf,
    config_bare: std::path::PathBuf,
    config_url: String,
}

fn repos(home: &Path) -> Repos {
    let mk = |name: &str| bare_repo(home, name);
    let (_app_bare, app_work) = mk("app");
    let (config_bare, config_work) = mk("config");
    for stage in ["dev", "staging"] {
        let dir = config_work.join("apps/my-web-app").join(stage);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("values.yaml"), VALUES).unwrap();
    }
    git(&config_work, &["add", "-A"]);
    git(&config_work, &["commit", "-q", "-m", "initial"]);
    git(&config_work, &["push", "-q", "origin", "main"]);
    Repos {
        app_url: format!("file://{}", home.join("app.git").display()),
        app_work,
        config_url: format!("file://{}", config_bare.display()),
        config_bare,
    }
}

fn release(r: &Repos, tag: &str) {
    common::tag_release(&r.app_work, tag);
}

fn values(r: &Repos, stage: &str) -> String {
    git(
        &r.config_bare,
        &["show", &format!("main:apps/my-web-app/{stage}/values.yaml")],
    )
}

fn manifests(r: &Repos) -> String {
    let steps = format!(
        r#"
      - uses: git-clone
        config:
          repoURL: {cfg}
          checkout:
          - branch: main
            path: ./src
      - uses: git-update
        config:
          path: ./src
          updates:
          - file: apps/my-web-app/${{{{ ctx.stage }}}}/values.yaml
            key: image.tag
            value: ${{{{ freight.commits["{app}"].tag }}}}
      - uses: git-commit
        as: commit
        config:
          path: ./src
          message: promote my-web-app to ${{{{ ctx.stage }}}}
      - uses: git-push
        config:
          path: ./src"#,
        cfg = r.config_url,
        app = r.app_url
    );
    format!(
        r#"
kind: Warehouse
metadata: {{name: app, namespace: my-web-app}}
spec:
  subscriptions:
  - git: {{repoURL: "{app}", commitSelectionStrategy: SemVer}}
---
kind: ProjectConfig
metadata: {{name: my-web-app, namespace: my-web-app}}
spec:
  promotionPolicies:
  - stage: dev
    autoPromotionEnabled: true
---
kind: Stage
metadata: {{name: dev, namespace: my-web-app}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:{steps}
---
kind: Stage
metadata: {{name: gate, namespace: my-web-app}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{stages: [dev]}}
---
kind: Stage
metadata: {{name: staging, namespace: my-web-app}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{stages: [dev]}}
  promotionTemplate:
    spec:
      steps:{steps}
"#,
        app = r.app_url
    )
}

fn stage_freight(s: &ServerProc, stage: &str) -> String {
    let v: Value = s.get_json(&["stage", stage, "-n", "my-web-app"]);
    v["status"]["freightSummary"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn alias_of_tag(s: &ServerProc, tag: &str) -> String {
    let v: Value = s.get_json(&["freight", "-n", "my-web-app"]);
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["commits"][0]["tag"] == tag)
        .map(|f| {
            f["metadata"]["labels"]["kargo.akuity.io/alias"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .unwrap_or_default()
}

fn name_of_tag(s: &ServerProc, tag: &str) -> String {
    let v: Value = s.get_json(&["freight", "-n", "my-web-app"]);
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["commits"][0]["tag"] == tag)
        .map(|f| f["metadata"]["name"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn freight_flows_through_git_and_rolls_back() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests(&r))));

    // v1.0.0 is discovered and auto-promoted into dev: git follows.
    wait_for("v1.0.0 in dev", 60, || {
        !name_of_tag(&s, "v1.0.0").is_empty()
            && stage_freight(&s, "dev") == name_of_tag(&s, "v1.0.0")
    });
    let dev = values(&r, "dev");
    assert_eq!(
        dev,
        VALUES.replace("tag: v0.0.0", "tag: v1.0.0"),
        "only the tag changed, comments and layout kept"
    );
    // The Stage and the Freight record it; without verification it counts as verified.
    let v1 = name_of_tag(&s, "v1.0.0");
    let st: Value = s.get_json(&["stage", "dev", "-n", "my-web-app"]);
    assert_eq!(
        st["status"]["freightHistory"][0]["items"]["Warehouse/app"]["name"],
        v1.as_str()
    );
    assert!(
        st["status"]["lastPromotion"]["name"]
            .as_str()
            .unwrap()
            .starts_with("dev.")
    );
    wait_for("v1.0.0 to be verified in dev", 30, || {
        let f: Value = s.get_json(&["freight", &v1, "-n", "my-web-app"]);
        f["status"]["verifiedIn"]["dev"].is_object()
            && f["status"]["currentlyIn"]["dev"]["since"].is_string()
    });
    let table = ok(&s.kubectl(&["get", "stages", "-n", "my-web-app"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("dev ") && l.contains(&v1) && l.contains("True")),
        "{table}"
    );
    // A control-flow Stage (no steps) verifies what becomes available to it.
    wait_for("v1.0.0 to pass the control-flow Stage", 30, || {
        let f: Value = s.get_json(&["freight", &v1, "-n", "my-web-app"]);
        f["status"]["verifiedIn"]["gate"].is_object()
    });
    let log = git(&r.config_bare, &["log", "--format=%s", "main"]);
    assert_eq!(
        log.lines().next(),
        Some("promote my-web-app to dev"),
        "{log}"
    );

    // Promote into staging by alias, following it live.
    let alias = alias_of_tag(&s, "v1.0.0");
    let out = ok(&s.promote_wait("my-web-app", "staging", &alias));
    for expect in ["git-clone", "git-update", "commit", "git-push", "Succeeded"] {
        assert!(out.contains(expect), "{expect} missing in:\n{out}");
    }
    assert!(values(&r, "staging").contains("tag: v1.0.0"));
    // The Stage stops reporting the finished Promotion as current.
    wait_for("staging to drop its currentPromotion", 30, || {
        let st: Value = s.get_json(&["stage", "staging", "-n", "my-web-app"]);
        st["status"]["currentPromotion"].is_null() && st["status"]["lastPromotion"].is_object()
    });
    // kubectl describe tells the story through Events.
    let promo = promotion_name(&out);
    // The outcome's Event follows the status write that ended the run.
    wait_for("the Promotion's Events", 30, || {
        let described = ok(&s.kubectl(&["describe", "promotion", &promo, "-n", "my-web-app"]));
        described.contains("PromotionCreated") && described.contains("PromotionSucceeded")
    });
    let v1 = name_of_tag(&s, "v1.0.0");
    let described = ok(&s.kubectl(&["describe", "freight", &v1, "-n", "my-web-app"]));
    assert!(described.contains("FreightCreated"), "{described}");

    // v1.1.0 reaches dev automatically; then roll dev back to v1.0.0 by alias.
    release(&r, "v1.1.0");
    ok(&s.kargo(&["refresh", "warehouse", "app", "-p", "my-web-app", "--wait"]));
    wait_for("v1.1.0 in dev", 60, || {
        stage_freight(&s, "dev") == name_of_tag(&s, "v1.1.0")
    });
    assert!(values(&r, "dev").contains("tag: v1.1.0"));
    ok(&s.promote_wait("my-web-app", "dev", &alias));
    assert!(
        values(&r, "dev").contains("tag: v1.0.0"),
        "rollback writes the old tag back"
    );
    wait_for("dev to record the rollback", 30, || {
        stage_freight(&s, "dev") == name_of_tag(&s, "v1.0.0")
    });
    // Auto-promotion does not undo the rollback.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stage_freight(&s, "dev"), name_of_tag(&s, "v1.0.0"));

    // A Promotion that fails says why, step by step.
    let bad = manifests(&r).replace(&r.config_url, "file:///nonexistent/config.git");
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&bad)));
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "dev",
        "--freight",
        &alias_of_tag(&s, "v1.1.0"),
        "--wait",
        "--timeout",
        "60",
    ]));
    assert!(err.contains("Failed") || err.contains("Errored"), "{err}");
    assert!(err.contains("nonexistent"), "{err}");
}

/// A Promotion that was Running when the server died resumes after its
/// last finished step when the server comes back, and a Pending one that
/// was aborted meanwhile ends Aborted.
#[test]
fn promotions_resume_after_a_restart_and_aborts_are_honoured() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    // Objects go in with controllers off, as if the server had been killed.
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    let m = manifests(&r).replace("autoPromotionEnabled: true", "autoPromotionEnabled: false");
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&m)));
    let freight = format!(
        "kind: Freight\nmetadata: {{namespace: my-web-app}}\norigin: {{kind: Warehouse, name: app}}\ncommits: [{{repoURL: \"{}\", id: \"{}\", tag: v1.0.0}}]\n",
        r.app_url,
        git(&r.app_work, &["rev-parse", "HEAD"]).trim()
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&freight)));
    let fname = name_of_tag(&s, "v1.0.0");
    ok(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "dev",
        "--freight",
        &fname,
    ]));
    let v: Value = s.get_json(&["promotions", "-n", "my-web-app"]);
    let running = v["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // The state a crash leaves: Running, the clone done, the update in progress.
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let status = serde_json::json!({"status": {"phase": "Running", "startedAt": now, "currentStep": 1,
        "stepExecutionMetadata": [{"alias": "step-0", "status": "Succeeded"}, {"alias": "step-1", "status": "Running"}]}});
    ok(&s.kubectl(&[
        "patch",
        "promotion",
        &running,
        "-n",
        "my-web-app",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        &status.to_string(),
    ]));
    ok(&s.kargo(&[
        "approve",
        "-p",
        "my-web-app",
        "--freight",
        &fname,
        "--stage",
        "staging",
    ]));
    ok(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "staging",
        "--freight",
        &fname,
    ]));
    drop(s);
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    let v: Value = s.get_json(&["promotions", "-n", "my-web-app"]);
    let pending = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["spec"]["stage"] == "staging")
        .unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&s.kargo(&["abort", "promotion", &pending, "-p", "my-web-app"]));
    // A working directory left by an earlier run of the one to abort.
    let projects_work = s.data.join("work").join("my-web-app");
    let work = |name: &str| projects_work.join(name);
    std::fs::create_dir_all(work(&pending).join("left")).unwrap();
    drop(s);

    let s = ServerProc::start(home.path());
    let phase = |s: &ServerProc, name: &str| -> String {
        let p: Value = s.get_json(&["promotion", name, "-n", "my-web-app"]);
        p["status"]["phase"].as_str().unwrap_or("").to_string()
    };
    wait_for("the interrupted Promotion to finish", 60, || {
        phase(&s, &running) == "Succeeded"
    });
    assert!(values(&r, "dev").contains("tag: v1.0.0"));
    let log = git(&r.config_bare, &["log", "--format=%s", "main"]);
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("promote my-web-app to dev"))
            .count(),
        1,
        "pushed exactly once: {log}"
    );
    wait_for("the aborted Promotion to end", 30, || {
        phase(&s, &pending) == "Aborted"
    });
    assert!(
        values(&r, "staging").contains("tag: v0.0.0"),
        "an aborted Promotion changes nothing"
    );
    // A run removes its working directory when it ends, and so does an
    // abort; one a process was cut off before removing goes at the next
    // start (the cache keeps no finished Promotion to reconcile).
    wait_for("the working directories to go", 30, || {
        !work(&running).exists() && !work(&pending).exists()
    });
    drop(s);
    std::fs::create_dir_all(work(&running).join("left")).unwrap();
    let s = ServerProc::start(home.path());
    wait_for("the stale working directory to go", 30, || {
        !work(&running).exists()
    });
    assert_eq!(phase(&s, &running), "Succeeded");
}

/// A tiny health endpoint for verification: `/.../healthz` answers 200
/// or 500 as the test decides.
fn health_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{Read, Write};
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let h = healthy.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let (code, body) = if h.load(std::sync::atomic::Ordering::SeqCst) {
                ("200 OK", r#"{"status":"ok"}"#)
            } else {
                ("500 Internal Server Error", r#"{"status":"down"}"#)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, healthy)
}

/// Verification end to end: a successful Promotion into a Stage with
/// `verification` runs an AnalysisRun from its templates (args from
/// expressions, metadata, labels) in-process; its outcome decides
/// `verifiedIn`; `kargo verify` re-runs it; `--abort` stops it.
#[test]
fn verification_decides_whether_freight_is_verified() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    let (health, healthy) = health_server();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    let template = |count: u32| {
        format!(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: http-health-check, namespace: my-web-app}}
spec:
  args: [{{name: url}}]
  metrics:
  - name: webcheck
    count: {count}
    interval: 1s
    successCondition: response.status == 200 && result == "ok"
    provider:
      web: {{url: "{{{{args.url}}}}", jsonPath: "{{$.status}}"}}
"#
        )
    };
    let with_verification = manifests(&r).replace(
        "kind: Stage\nmetadata: {name: dev, namespace: my-web-app}\nspec:\n",
        &format!("kind: Stage\nmetadata: {{name: dev, namespace: my-web-app}}\nspec:\n  vars: [{{name: host, value: \"{health}\"}}]\n  verification:\n    analysisTemplates: [{{name: http-health-check}}]\n    analysisRunMetadata: {{labels: {{app: my-web-app}}}}\n    args: [{{name: url, value: \"http://${{{{ vars.host }}}}/${{{{ ctx.stage }}}}/healthz\"}}]\n"),
    );
    assert!(with_verification.contains("verification:"));
    ok(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&format!("{}\n---\n{with_verification}", template(1))),
    ));

    let runs = |s: &ServerProc| -> Vec<Value> {
        let v: Value = s.get_json(&["analysisruns", "-n", "my-web-app"]);
        let mut items = v["items"].as_array().unwrap().clone();
        items.sort_by_key(|i| {
            i["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string()
        });
        items
    };
    // Discovery runs after the apply returns: wait for the Freight first.
    let mut v1 = String::new();
    wait_for("v1.0.0 to be discovered", 60, || {
        v1 = name_of_tag(&s, "v1.0.0");
        !v1.is_empty()
    });
    let freight = |s: &ServerProc| -> Value { s.get_json(&["freight", &v1, "-n", "my-web-app"]) };
    wait_for("v1.0.0 to be verified in dev", 60, || {
        freight(&s)["status"]["verifiedIn"]["dev"].is_object()
    });
    let ar = runs(&s).remove(0);
    assert_eq!(ar["metadata"]["labels"]["kargo.akuity.io/stage"], "dev");
    assert_eq!(ar["metadata"]["labels"]["app"], "my-web-app");
    assert_eq!(
        ar["spec"]["args"][0]["value"],
        format!("http://{health}/dev/healthz").as_str()
    );
    assert_eq!(ar["status"]["phase"], "Successful", "{ar}");
    assert_eq!(ar["status"]["metricResults"][0]["successful"], 1, "{ar}");
    let described = ok(&s.kubectl(&[
        "describe",
        "analysisrun",
        ar["metadata"]["name"].as_str().unwrap(),
        "-n",
        "my-web-app",
    ]));
    assert!(
        described.contains("Successful") && described.contains("webcheck"),
        "{described}"
    );
    ok(&s.promote_wait("my-web-app", "staging", &v1));

    // The environment breaks; re-verify (the seed's form): it fails and the Stage says why.
    healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    ok(&s.kargo(&["verify", "--project", "my-web-app", "--stage", "dev"]));
    wait_for("dev to report the failed verification", 60, || {
        let st: Value = s.get_json(&["stage", "dev", "-n", "my-web-app"]);
        st["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["type"] == "Verified"
                    && c["status"] == "False"
                    && c["message"].as_str().unwrap_or("").contains("webcheck")
            })
        }) && st["status"]["freightHistory"][0]["verificationHistory"]
            .as_array()
            .is_some_and(|h| h.len() == 2)
    });
    let second = runs(&s).remove(1);
    assert!(
        matches!(
            second["status"]["phase"].as_str(),
            Some("Failed") | Some("Error")
        ),
        "{second}"
    );

    // A long verification, aborted.
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&template(60))));
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    ok(&s.kargo(&["verify", "stage", "dev", "-p", "my-web-app"]));
    wait_for("a third AnalysisRun", 30, || runs(&s).len() >= 3);
    // While it runs, the Stage is not Ready, and says so.
    wait_for("dev to report the running verification", 30, || {
        let ready = s.stage_condition("my-web-app", "dev", "Ready");
        ready["status"] == "False"
            && matches!(
                ready["reason"].as_str(),
                Some("VerificationPending") | Some("VerificationRunning")
            )
    });
    ok(&s.kargo(&["verify", "stage", "dev", "-p", "my-web-app", "--abort"]));
    // Kargo records a user abort as Failed, "Verification aborted by user".
    wait_for("the verification to be aborted", 30, || {
        let st: Value = s.get_json(&["stage", "dev", "-n", "my-web-app"]);
        let v = &st["status"]["freightHistory"][0]["verificationHistory"][0];
        v["phase"] == "Failed" && v["message"] == "Verification aborted by user"
    });
    assert_eq!(
        runs(&s)[2]["spec"]["terminate"],
        true,
        "the AnalysisRun was told to stop"
    );
    let ready = s.stage_condition("my-web-app", "dev", "Ready");
    assert_eq!(ready["status"], "False", "{ready}");
    assert_eq!(ready["reason"], "VerificationFailed", "{ready}");
    assert_eq!(ready["message"], "Verification aborted by user", "{ready}");
    // Aborting again when nothing runs changes nothing.
    let again = ok(&s.kargo(&["verify", "stage", "dev", "-p", "my-web-app", "--abort"]));
    assert!(again.contains("no verification is running"), "{again}");

    // The abort acted once: the next release is promoted into dev and
    // verified there (before, every later verification aborted itself).
    // `kubectl wait --for=condition=Ready` returns only once dev is
    // promoted, healthy and verified.
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&template(2))));
    release(&r, "v1.1.0");
    ok(&s.kargo(&["refresh", "warehouse", "app", "-p", "my-web-app", "--wait"]));
    let waited = s
        .kubectl_cmd(&[
            "wait",
            "--for=condition=Ready",
            "stage/dev",
            "-n",
            "my-web-app",
            "--timeout=90s",
        ])
        .output()
        .unwrap();
    assert!(waited.status.success(), "{waited:?}");
    let v11 = name_of_tag(&s, "v1.1.0");
    let st: Value = s.get_json(&["stage", "dev", "-n", "my-web-app"]);
    assert_eq!(st["status"]["freightSummary"], v11.as_str(), "{st}");
    let current = &st["status"]["freightHistory"][0];
    assert_eq!(
        current["verificationHistory"][0]["phase"], "Successful",
        "{st}"
    );
    assert_eq!(st["status"]["health"]["status"], "Healthy", "{st}");
    assert_eq!(
        s.stage_condition("my-web-app", "dev", "Ready")["reason"],
        "Verified"
    );
    let fv: Value = s.get_json(&["freight", &v11, "-n", "my-web-app"]);
    assert!(fv["status"]["verifiedIn"]["dev"].is_object(), "{fv}");
    // Exactly one AnalysisRun for this verification, even with the old
    // re-verify and abort requests still on the Stage.
    let collection = current["id"].as_str().unwrap().to_string();
    let of_collection = |s: &ServerProc| {
        runs(s)
            .into_iter()
            .filter(|r| {
                r["metadata"]["labels"]["kargo.akuity.io/freight-collection"] == collection.as_str()
            })
            .count()
    };
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(of_collection(&s), 1);
    // Re-verify: one more run, no more; ids keep one (UUID) format.
    ok(&s.kargo(&["verify", "stage", "dev", "-p", "my-web-app"]));
    wait_for("the re-verification to succeed", 60, || {
        let st: Value = s.get_json(&["stage", "dev", "-n", "my-web-app"]);
        let h = &st["status"]["freightHistory"][0]["verificationHistory"];
        h.as_array().is_some_and(|h| h.len() == 2) && h[0]["phase"] == "Successful"
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(of_collection(&s), 2);
    let st: Value = s.get_json(&["stage", "dev", "-n", "my-web-app"]);
    for c in st["status"]["freightHistory"].as_array().unwrap() {
        for v in c["verificationHistory"].as_array().into_iter().flatten() {
            let id = v["id"].as_str().unwrap();
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, vec![8, 4, 4, 4, 12], "{id}");
            assert!(
                matches!(
                    v["phase"].as_str(),
                    Some("Successful" | "Failed" | "Error" | "Aborted" | "Inconclusive")
                ),
                "every earlier verification ended: {v}"
            );
        }
    }
}

/// The seed's conditional step: `argocd-update` runs only for prod
/// (`if: ctx.stage == "prod"`), updates the Application that authorises
/// the Stage and asks Argo CD to sync it; in dev it is skipped.
#[test]
fn argocd_update_runs_only_where_its_condition_holds() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    // The config repository needs a values file for prod too.
    let work = home.path().join("config");
    let d = work.join("apps/my-web-app/prod");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("values.yaml"), VALUES).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "prod"]);
    git(&work, &["push", "-q", "origin", "main"]);
    release(&r, "v1.5.0");
    let s = ServerProc::start(home.path());
    let argo = ArgoCd::start(&s.kubeconfig());
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    let steps = format!(
        r#"  promotionTemplate:
    steps:
    - uses: git-clone
      config:
        repoURL: {cfg}
        checkout: [{{branch: main, path: ./src}}]
    - uses: git-update
      config:
        path: ./src
        updates:
        - file: apps/my-web-app/${{{{ ctx.stage }}}}/values.yaml
          key: image.tag
          value: ${{{{ freight.commits["{app}"].tag }}}}
    - uses: git-commit
      config: {{path: ./src, message: "promote to ${{{{ ctx.stage }}}}"}}
    - uses: git-push
      config: {{path: ./src}}
    # Only run argocd-update for prod
    - uses: argocd-update
      if: ctx.stage == "prod"
      config:
        apps:
        - name: my-web-app-prod
"#,
        cfg = r.config_url,
        app = r.app_url
    );
    let objs = format!(
        "kind: Warehouse\nmetadata: {{name: app, namespace: my-web-app}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"{app}\", commitSelectionStrategy: SemVer}}\n---\nkind: Stage\nmetadata: {{name: dev, namespace: my-web-app}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n{steps}---\nkind: Stage\nmetadata: {{name: prod, namespace: my-web-app}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n{steps}---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: my-web-app-prod\n  namespace: argocd\n  annotations:\n    kargo.akuity.io/authorized-stage: my-web-app:prod\nspec:\n  project: default\n  source: {{repoURL: \"{cfg}\", targetRevision: main, path: apps/my-web-app/prod}}\n  destination: {{server: \"https://kubernetes.default.svc\", namespace: my-web-app-prod}}\n",
        app = r.app_url,
        cfg = r.config_url
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&objs)));
    wait_for("the Freight", 30, || !name_of_tag(&s, "v1.5.0").is_empty());
    let alias = alias_of_tag(&s, "v1.5.0");
    let out = ok(&s.promote_wait("my-web-app", "dev", &alias));
    assert!(
        out.contains("argocd-update") && out.contains("Skipped"),
        "{out}"
    );
    let out = ok(&s.promote_wait("my-web-app", "prod", &alias));
    assert!(!out.contains("Skipped"), "{out}");
    assert!(values(&r, "prod").contains("tag: v1.5.0"));
    let app: Value = s.get_json(&["application", "my-web-app-prod", "-n", "argocd"]);
    let op = &app["status"]["operationState"];
    assert_eq!(op["phase"], "Succeeded", "{app}");
    assert_eq!(op["operation"]["initiatedBy"]["username"], "admin", "{app}");
    assert!(
        op["operation"]["info"][1]["value"]
            .as_str()
            .unwrap()
            .starts_with("prod."),
        "{app}"
    );
    assert_eq!(argo.syncs_of("my-web-app-prod"), 1);
    // An Application that does not authorise the Stage is refused, with the fix in the message.
    ok(&s.kubectl(&[
        "annotate",
        "application",
        "my-web-app-prod",
        "-n",
        "argocd",
        "--overwrite",
        "kargo.akuity.io/authorized-stage=my-web-app:dev",
    ]));
    let err = fails(&s.promote_wait("my-web-app", "prod", &alias));
    assert!(
        err.contains(
            r#"Argo CD Application \"my-web-app-prod\" in namespace \"argocd\" is not authorized"#
        ) || err.contains(
            r#"Argo CD Application "my-web-app-prod" in namespace "argocd" is not authorized"#
        ),
        "{err}"
    );
}

/// The seed's two good practices as docs/metrics.md writes them, on the
/// counters: the release success rate per Stage (Promotions that
/// succeeded and were not failed by their verification, here without a
/// window) and Freight stuck unverified (threshold 1 s instead of 30 min).
const RELEASE_SUCCESS: &str = r#"(sum by (project, stage) (kargo_promotions_total{phase="Succeeded"}) - (sum by (project, stage) (kargo_verifications_total{phase=~"Failed|Error"}) or sum by (project, stage) (kargo_promotions_total{phase="Succeeded"}) * 0)) / sum by (project, stage) (kargo_promotions_total{phase=~"Succeeded|Failed|Errored"})"#;
const STUCK: &str = "kargo_freight_awaiting_verification_seconds > 1";

/// What the queries say, per Stage, as sorted `stage=value` lines.
fn answers(prom: &common::prometheus::Prometheus, q: &str) -> Vec<String> {
    let mut out: Vec<String> = prom
        .query(q)
        .iter()
        .map(|r| {
            let v: f64 = r["value"][1]
                .as_str()
                .unwrap_or("NaN")
                .parse()
                .unwrap_or(f64::NAN);
            format!("{}={v:.3}", r["metric"]["stage"].as_str().unwrap_or(""))
        })
        .collect();
    out.sort();
    out
}

/// A real Prometheus scrapes a server (its plain-HTTP `--metrics-listen`)
/// through a story: two Promotions into dev succeed, the second one's
/// verification fails, a Promotion into staging errors. The success-rate
/// and stuck-Freight queries give the same numbers after garbage
/// collection deleted the old Promotions and Freight and the server was
/// killed and restarted, and again after a second restart; no counter
/// ever resets. Every query of the shipped Grafana dashboard returns
/// data. The story's Events carry Kargo's reasons, messages and
/// annotations.
#[test]
fn prometheus_counts_survive_garbage_collection_and_restarts() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    let (health, healthy) = health_server();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    // The job is named as the shipped alert rules expect.
    let prom = common::prometheus::Prometheus::start(&format!(
        "  - job_name: kargo\n    static_configs:\n      - targets: ['{listen}']\n"
    ));
    let s = ServerProc::start_with(home.path(), &["--metrics-listen", &listen]);
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    let template = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: health, namespace: my-web-app}}\nspec:\n  metrics:\n  - name: up\n    successCondition: response.status == 200 && result == \"ok\"\n    provider:\n      web: {{url: \"http://{health}/dev/healthz\", jsonPath: \"{{$.status}}\"}}\n"
    );
    let verified_dev = manifests(&r).replace(
        "kind: Stage\nmetadata: {name: dev, namespace: my-web-app}\nspec:\n",
        "kind: Stage\nmetadata: {name: dev, namespace: my-web-app}\nspec:\n  verification:\n    analysisTemplates: [{name: health}]\n",
    );
    ok(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&format!("{template}\n---\n{verified_dev}")),
    ));
    // Prometheus sees the counters at zero before anything happens, so
    // `increase()` over them sees every count.
    prom.wait_for(
        r#"kargo_promotions_total{stage="dev",phase="Succeeded"} == 0"#,
        60,
    );
    release(&r, "v1.0.0");
    ok(&s.kargo(&["refresh", "warehouse", "app", "-p", "my-web-app", "--wait"]));
    let verified = |s: &ServerProc, tag: &str| {
        let name = name_of_tag(s, tag);
        !name.is_empty()
            && s.get_json(&["freight", &name, "-n", "my-web-app"])["status"]["verifiedIn"]["dev"]
                .is_object()
    };
    wait_for("v1.0.0 to be verified in dev", 60, || {
        verified(&s, "v1.0.0")
    });
    // The first durations scraped, so the dashboard's rates see the next ones.
    prom.wait_for(
        r#"kargo_promotion_duration_seconds_count{stage="dev"} == 1 and on() kargo_verification_duration_seconds_count{stage="dev"} == 1"#,
        60,
    );
    // The next release deploys, but the environment is broken: its verification fails.
    healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    release(&r, "v1.1.0");
    ok(&s.kargo(&["refresh", "warehouse", "app", "-p", "my-web-app", "--wait"]));
    wait_for("v1.1.0's verification in dev to fail", 60, || {
        let st: Value = s.get_json(&["stage", "dev", "-n", "my-web-app"]);
        let current = &st["status"]["freightHistory"][0];
        current["items"]["Warehouse/app"]["name"] == name_of_tag(&s, "v1.1.0").as_str()
            && matches!(
                current["verificationHistory"][0]["phase"].as_str(),
                Some("Failed" | "Error")
            )
    });
    // A Promotion into staging errors: its config repository is gone.
    let (head, tail) = verified_dev.split_at(verified_dev.find("name: staging").unwrap());
    let bad = format!(
        "{head}{}",
        tail.replace(&r.config_url, "file:///nonexistent/config.git")
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&bad)));
    let v1 = alias_of_tag(&s, "v1.0.0");
    fails(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "staging",
        "--freight",
        &v1,
        "--wait",
        "--timeout",
        "60",
    ]));
    // An approval, for its Event.
    let v11 = name_of_tag(&s, "v1.1.0");
    ok(&s.kargo(&[
        "approve",
        "-p",
        "my-web-app",
        "--freight",
        &v11,
        "--stage",
        "staging",
    ]));

    let counters = [
        (
            r#"kargo_promotions_total{stage="dev",phase="Succeeded"}"#,
            2.0,
        ),
        (
            r#"sum(kargo_promotions_total{stage="staging",phase=~"Failed|Errored"})"#,
            1.0,
        ),
        (
            r#"kargo_verifications_total{stage="dev",phase="Successful"}"#,
            1.0,
        ),
        (
            r#"sum(kargo_verifications_total{stage="dev",phase=~"Failed|Error"})"#,
            1.0,
        ),
        (
            r#"kargo_freight_created_total{project="my-web-app",warehouse="app"}"#,
            2.0,
        ),
    ];
    let value = |q: &str| -> f64 {
        prom.query(q)
            .first()
            .and_then(|r| r["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let settled = |what: &str| {
        wait_for(what, 60, || {
            counters.iter().all(|(q, want)| value(q) == *want)
        });
    };
    settled("Prometheus to see the story's counts");
    let rate = answers(&prom, RELEASE_SUCCESS);
    // dev: 2 succeeded, 1 failed its verification, of 2 finished;
    // staging: none of 1 succeeded.
    assert_eq!(rate, ["dev=0.500", "staging=0.000"]);
    // The gauge is an age: it passes the query's one second a moment
    // after the failed verification, not necessarily by the time the
    // counters settled.
    let stuck_now = || {
        let mut stuck = Vec::new();
        wait_for(
            "Freight awaiting verification for over a second",
            30,
            || {
                stuck = answers(&prom, STUCK);
                !stuck.is_empty()
            },
        );
        stuck
    };
    let stuck = stuck_now();
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert!(stuck[0].starts_with("dev="), "{stuck:?}");

    // The server restarts with garbage collection that keeps one
    // Promotion per Stage and one spare Freight.
    let started = value("process_start_time_seconds");
    drop(s);
    let gc = [
        "--metrics-listen",
        &listen,
        "--gc-interval",
        "1s",
        "--gc-max-retained-promotions",
        "1",
        "--gc-min-promotion-deletion-age",
        "0s",
        "--gc-max-retained-freight",
        "0",
        "--gc-min-freight-deletion-age",
        "0s",
    ];
    let s = ServerProc::start_with(home.path(), &gc);
    let count = |s: &ServerProc, kind: &str| -> usize {
        s.get_json(&[kind, "-n", "my-web-app"])["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    wait_for("garbage collection of the old Promotions", 60, || {
        count(&s, "promotions") == 2
    });
    wait_for("Prometheus to scrape the restarted server", 60, || {
        value("process_start_time_seconds") != started
    });
    settled("the counts after garbage collection and a restart");
    assert_eq!(answers(&prom, RELEASE_SUCCESS), rate);
    let stuck_after = stuck_now();
    assert_eq!(stuck_after.len(), 1, "{stuck_after:?}");
    assert!(stuck_after[0].starts_with("dev="), "{stuck_after:?}");

    // Killed again and restarted: still the same.
    let started = value("process_start_time_seconds");
    drop(s);
    let s = ServerProc::start_with(home.path(), &["--metrics-listen", &listen]);
    wait_for("Prometheus to scrape the server again", 60, || {
        value("process_start_time_seconds") != started
    });
    settled("the counts after a second restart");
    assert_eq!(answers(&prom, RELEASE_SUCCESS), rate);
    assert_eq!(
        value(
            "sum(resets(kargo_promotions_total[1h])) + sum(resets(kargo_verifications_total[1h])) + sum(resets(kargo_freight_created_total[1h]))"
        ),
        0.0,
        "a counter went down"
    );

    dashboard_queries_return_data(&prom);
    story_events_are_kargos(&s, &v11);
}

/// Every query of deploy/grafana/kargo.json, with the project variable
/// at "all" and the window at 15 minutes, returns at least one value
/// that is a number.
fn dashboard_queries_return_data(prom: &common::prometheus::Prometheus) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/kargo.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 15, "{} panels", panels.len());
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let q = target["expr"]
                .as_str()
                .unwrap()
                .replace("$project", ".*")
                .replace("$window", "15m");
            let rows = prom.query(&q);
            let numbers = rows
                .iter()
                .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .count();
            assert!(
                numbers > 0,
                "panel {:?}: no data for {q}: {rows:?}",
                panel["title"]
            );
        }
    }
}

/// The story's Events, as Kargo writes them: reason, message, actor and
/// the `event.kargo.akuity.io/*` annotations, all `Normal`, about the
/// Promotion or Freight.
fn story_events_are_kargos(s: &ServerProc, v11: &str) {
    let events: Value = s.get_json(&["events", "-n", "my-web-app"]);
    // A Stage reconcile that repeats under load may record a verification
    // outcome twice (the counters, derived from the store's transitions,
    // are not affected): the same Event content counts once here.
    let mut seen = std::collections::HashSet::new();
    let events: Vec<Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            seen.insert(
                json!([
                    e["reason"],
                    e["involvedObject"]["name"],
                    e["message"],
                    e["metadata"]["annotations"]
                ])
                .to_string(),
            )
        })
        .cloned()
        .collect();
    let with =
        |reason: &str| -> Vec<&Value> { events.iter().filter(|e| e["reason"] == reason).collect() };
    let ann = |e: &Value, k: &str| -> String {
        e["metadata"]["annotations"][format!("event.kargo.akuity.io/{k}")]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    for e in &events {
        assert_eq!(e["type"], "Normal", "{e}");
        assert_eq!(
            e["involvedObject"]["apiVersion"], "kargo.akuity.io/v1alpha1",
            "{e}"
        );
        assert_eq!(ann(e, "project"), "my-web-app", "{e}");
    }
    let created = with("FreightCreated");
    assert_eq!(created.len(), 2, "{events:#?}");
    for e in &created {
        assert_eq!(e["involvedObject"]["kind"], "Freight");
        assert_eq!(e["message"], "Freight created");
        assert_eq!(ann(e, "actor"), "controller:warehouse-controller");
        assert_eq!(ann(e, "freight-warehouse-name"), "app");
        assert!(!ann(e, "freight-alias").is_empty(), "{e}");
        assert!(ann(e, "freight-commits").contains("\"tag\""), "{e}");
        assert!(ann(e, "freight-create-time").ends_with('Z'), "{e}");
    }
    let auto = with("PromotionCreated");
    let (auto, manual): (Vec<&Value>, Vec<&Value>) = auto
        .into_iter()
        .partition(|e| ann(e, "stage-name") == "dev");
    assert_eq!(auto.len(), 2, "{events:#?}");
    for e in &auto {
        assert_eq!(
            e["message"],
            r#"Automatically promoted Freight from origin "Warehouse/app" for Stage "dev""#
        );
        assert_eq!(ann(e, "actor"), "controller:stage-controller");
        assert_eq!(
            e["involvedObject"]["name"].as_str().unwrap(),
            ann(e, "promotion-name")
        );
        assert!(!ann(e, "freight-name").is_empty() && !ann(e, "promotion-create-time").is_empty());
    }
    assert_eq!(manual.len(), 1, "{events:#?}");
    assert_eq!(
        manual[0]["message"],
        r#"Promotion created for Stage "staging" by "admin""#
    );
    assert_eq!(ann(manual[0], "actor"), "admin");
    let succeeded = with("PromotionSucceeded");
    assert_eq!(succeeded.len(), 2, "{events:#?}");
    for e in &succeeded {
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .starts_with("Promotion Succeeded"),
            "{e}"
        );
        assert_eq!(ann(e, "actor"), "controller:promotion-controller", "{e}");
        assert_eq!(ann(e, "verification-pending"), "true", "{e}");
        assert_eq!(ann(e, "stage-name"), "dev");
    }
    let errored: Vec<&Value> = events
        .iter()
        .filter(|e| e["reason"] == "PromotionErrored" || e["reason"] == "PromotionFailed")
        .collect();
    assert_eq!(errored.len(), 1, "{events:#?}");
    let phase = errored[0]["reason"]
        .as_str()
        .unwrap()
        .trim_start_matches("Promotion");
    assert!(
        errored[0]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Promotion {phase}: ")),
        "{}",
        errored[0]
    );
    assert_eq!(ann(errored[0], "actor"), "admin");
    let ok_v = with("FreightVerificationSucceeded");
    assert_eq!(ok_v.len(), 1, "{events:#?}");
    assert_eq!(ok_v[0]["message"], "Freight verification succeeded");
    let failed_v: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["reason"] == "FreightVerificationFailed"
                || e["reason"] == "FreightVerificationErrored"
        })
        .collect();
    assert_eq!(failed_v.len(), 1, "{events:#?}");
    assert!(!failed_v[0]["message"].as_str().unwrap().is_empty());
    assert_eq!(failed_v[0]["involvedObject"]["name"], v11);
    for e in ok_v.iter().chain(&failed_v) {
        assert_eq!(e["involvedObject"]["kind"], "Freight");
        assert_eq!(ann(e, "stage-name"), "dev");
        assert_eq!(ann(e, "actor"), "controller:stage-controller");
        for k in [
            "analysis-run-name",
            "verification-start-time",
            "verification-finish-time",
            "promotion-name",
        ] {
            assert!(!ann(e, k).is_empty(), "{k} missing: {e}");
        }
    }
    let approved = with("FreightApproved");
    assert_eq!(approved.len(), 1, "{events:#?}");
    assert_eq!(
        approved[0]["message"],
        r#"Freight approved for Stage "staging" by "admin""#
    );
    assert_eq!(ann(approved[0], "actor"), "admin");
    assert_eq!(ann(approved[0], "freight-name"), v11);
    assert_eq!(ann(approved[0], "stage-name"), "staging");
}

/// Garbage collection with Kargo's rules, tightened by flags: per Stage
/// only the newest Promotion is kept, per Warehouse the Freight in use and
/// one more, and Events expire; what a Stage holds is never deleted.
#[test]
fn garbage_collection_keeps_what_is_in_use() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    let s = ServerProc::start_with(
        home.path(),
        &[
            "--gc-interval",
            "1s",
            "--gc-max-retained-promotions",
            "1",
            "--gc-min-promotion-deletion-age",
            "0s",
            "--gc-max-retained-freight",
            "1",
            "--gc-min-freight-deletion-age",
            "0s",
            "--event-ttl",
            "3s",
        ],
    );
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests(&r))));
    for tag in ["v1.0.0", "v1.1.0", "v1.2.0"] {
        if tag != "v1.0.0" {
            release(&r, tag);
            ok(&s.kargo(&["refresh", "warehouse", "app", "-p", "my-web-app", "--wait"]));
        }
        wait_for(&format!("{tag} in dev"), 60, || {
            let name = name_of_tag(&s, tag);
            !name.is_empty() && stage_freight(&s, "dev") == name
        });
    }
    let names = |kind: &str| -> Vec<String> {
        let v: Value = s.get_json(&[kind, "-n", "my-web-app"]);
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let current = name_of_tag(&s, "v1.2.0");
    let previous = name_of_tag(&s, "v1.1.0");
    wait_for("the oldest Freight to be collected", 30, || {
        names("freight").len() == 2
    });
    let left = names("freight");
    assert!(
        left.contains(&current) && left.contains(&previous),
        "{left:?}"
    );
    wait_for("old Promotions to be collected", 30, || {
        names("promotions").len() == 1
    });
    assert_eq!(stage_freight(&s, "dev"), current, "dev still holds v1.2.0");
    wait_for("Events to expire", 30, || names("events").is_empty());
    // Rolling back to the Freight that was kept still works.
    ok(&s.promote_wait("my-web-app", "dev", &previous));
    assert!(values(&r, "dev").contains("tag: v1.1.0"));
}

/// Kargo's `http` step inside a real Promotion: it reaches a service (a
/// stand-in for a chat webhook or deployment API), its outputs are kept
/// with the Promotion, and a response that never meets the success
/// criteria keeps the step Running until its retry timeout ends it.
#[test]
fn http_step_notifies_and_polls() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    let (health, healthy) = health_server();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    let stage = |name: &str, step: &str| {
        format!(
            "kind: Warehouse\nmetadata: {{name: app, namespace: my-web-app}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"{app}\", commitSelectionStrategy: SemVer}}\n---\nkind: Stage\nmetadata: {{name: {name}, namespace: my-web-app}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      steps:\n{step}",
            app = r.app_url
        )
    };
    let notify = format!(
        "      - uses: http\n        as: notify\n        config:\n          method: POST\n          url: http://{health}/notify\n          body: '${{{{ quote(ctx.stage + \" gets \" + ctx.targetFreight.name) }}}}'\n          successExpression: response.body.status == \"ok\"\n          outputs:\n          - {{name: answer, fromExpression: response.body.status}}\n      - uses: compose-output\n        as: settings\n        config:\n          greeting: \"${{{{ configMap('settings').greeting }}}}\"\n          token: \"${{{{ secret('api').token }}}}\"\n"
    );
    // What configMap() and secret() read (a Promotion that calls them
    // reads the Project's ConfigMaps and Secrets; one that does not, none).
    ok(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: my-web-app}\ndata: {greeting: hello}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: api, namespace: my-web-app, labels: {kargo.akuity.io/cred-type: generic}}\nstringData: {token: s3cr3t}\n"),
    ));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&stage("notify", &notify))));
    wait_for("the Freight", 30, || !name_of_tag(&s, "v1.0.0").is_empty());
    let freight = name_of_tag(&s, "v1.0.0");
    let out = ok(&s.promote_wait("my-web-app", "notify", &freight));
    assert!(out.contains("http") && out.contains("Succeeded"), "{out}");
    let name = promotion_name(&out);
    let p: Value = s.get_json(&["promotion", &name, "-n", "my-web-app"]);
    assert_eq!(
        p["status"]["state"]["outputs"]["notify"]["answer"], "ok",
        "{p}"
    );
    let settings = &p["status"]["state"]["outputs"]["settings"];
    assert_eq!(settings["greeting"], "hello", "{p}");
    assert_eq!(settings["token"], "s3cr3t", "{p}");

    // The service keeps answering "down": the step stays Running, then its
    // retry timeout fails the Promotion with the reason.
    healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    let poll = format!(
        "      - uses: http\n        as: wait\n        retry: {{timeout: 3s}}\n        config:\n          url: http://{health}/status\n          successExpression: response.body.status == \"ok\"\n          failureExpression: response.status == 404\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&stage("poll", &poll))));
    let err = fails(&s.promote_wait("my-web-app", "poll", &freight));
    assert!(err.contains("Errored") || err.contains("Failed"), "{err}");
    assert!(
        err.contains("timeout") || err.contains("timed out"),
        "{err}"
    );
}

/// A prod Stage whose promotion is the seed's `argocd-update` of
/// `my-web-app-prod`, verified by a web check; the seed's Application
/// (06, renamed for prod) applied to `argo_server`, which is where Argo
/// CD lives (the Kargo server itself, or a second server playing a
/// remote cluster); and the in-test Argo CD working there.
fn argo_pipeline(s: &ServerProc, argo_server: &ServerProc, r: &Repos, health: &str) -> ArgoCd {
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    let objs = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: webcheck, namespace: my-web-app}}\nspec:\n  metrics:\n  - name: up\n    successCondition: result == \"ok\"\n    provider:\n      web: {{url: \"http://{health}/prod/healthz\", jsonPath: \"{{$.status}}\"}}\n---\nkind: Warehouse\nmetadata: {{name: app, namespace: my-web-app}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"{app}\", commitSelectionStrategy: SemVer}}\n---\nkind: Stage\nmetadata: {{name: prod, namespace: my-web-app}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n  verification:\n    analysisTemplates: [{{name: webcheck}}]\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: argocd-update\n        if: ctx.stage == \"prod\"\n        config:\n          apps:\n          - name: my-web-app-prod\n",
        app = r.app_url
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&objs)));
    let prod_app = std::fs::read_to_string(common::seed_dir().join("06-argocd-application.yaml"))
        .unwrap()
        .replace("my-web-app-dev", "my-web-app-prod")
        .replace("my-web-app:dev", "my-web-app:prod")
        .replace("apps/my-web-app/dev", "apps/my-web-app/prod");
    ok(&argo_server.kargo_stdin(&["apply", "-f", "-"], Some(&prod_app)));
    wait_for("the Freight", 30, || !name_of_tag(s, "v1.0.0").is_empty());
    ArgoCd::start(&argo_server.kubeconfig())
}

fn analysis_runs(s: &ServerProc) -> usize {
    s.get_json(&["analysisruns", "-n", "my-web-app"])["items"]
        .as_array()
        .map_or(0, Vec::len)
}

fn prod_health(s: &ServerProc) -> Value {
    s.get_json(&["stage", "prod", "-n", "my-web-app"])["status"]["health"].clone()
}

/// The seed's prod Application flows Progressing → Healthy under the
/// in-test Argo CD; the Stage follows it (the Application watch, no
/// timer), and verification starts only once the Stage is Healthy. The
/// sync request is Kargo's: actor, Promotion in `info`, an
/// `OperationStarted` Event, a registered health check.
#[test]
fn argo_cd_health_gates_verification() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    let (health, _) = health_server();
    let s = ServerProc::start(home.path());
    let argo = argo_pipeline(&s, &s, &r, &health);
    argo.set(
        "my-web-app-prod",
        Outcome {
            progressing: Duration::from_secs(6),
            ..Outcome::default()
        },
    );
    let promo = promotion_name(&ok(&s.promote_wait(
        "my-web-app",
        "prod",
        &name_of_tag(&s, "v1.0.0"),
    )));
    let p = s.get_json(&["promotion", &promo, "-n", "my-web-app"]);
    assert_eq!(
        p["status"]["healthChecks"],
        serde_json::json!([{"uses": "argocd-update", "config": {"apps": [{"name": "my-web-app-prod", "namespace": "argocd", "desiredRevisions": [""]}]}}]),
        "{p}"
    );
    // Until Argo CD reports the Application Healthy, no verification.
    let mut seen = std::collections::BTreeSet::new();
    wait_for("the Stage to be Healthy", 60, || {
        // Runs counted before health is read: a Stage still not Healthy
        // afterwards cannot have started verification before.
        let runs = analysis_runs(&s);
        let h = prod_health(&s);
        let state = h["status"].as_str().unwrap_or("").to_string();
        if state != "Healthy" {
            assert_eq!(runs, 0, "verification started while {state}: {h}");
        }
        seen.insert(state.clone());
        state == "Healthy"
    });
    assert!(
        seen.contains("Progressing"),
        "the Stage showed Progressing first: {seen:?}"
    );
    let h = prod_health(&s);
    let statuses = &h["output"][0]["applicationStatuses"][0];
    assert_eq!(
        (
            statuses["Name"].as_str(),
            statuses["health"]["status"].as_str()
        ),
        (Some("my-web-app-prod"), Some("Healthy")),
        "{h}"
    );
    assert_eq!(
        s.stage_condition("my-web-app", "prod", "Healthy")["status"],
        "True"
    );
    wait_for("verification to run", 60, || analysis_runs(&s) == 1);
    let healthy_since = s.stage_condition("my-web-app", "prod", "Healthy")["lastTransitionTime"]
        .as_str()
        .unwrap()
        .to_string();
    let run = &s.get_json(&["analysisruns", "-n", "my-web-app"])["items"][0];
    assert!(
        run["metadata"]["creationTimestamp"].as_str().unwrap()[..19] >= healthy_since[..19],
        "verification started at {} though the Stage became Healthy at {healthy_since}",
        run["metadata"]["creationTimestamp"]
    );
    wait_for("prod to verify the Freight", 60, || {
        s.stage_condition("my-web-app", "prod", "Verified")["status"] == "True"
    });
    // The Stage's Argo CD context, from the step's `apps` output.
    let stage = s.get_json(&["stage", "prod", "-n", "my-web-app"]);
    assert_eq!(
        stage["metadata"]["annotations"]["kargo.akuity.io/argocd-context"],
        r#"[{"name":"my-web-app-prod","namespace":"argocd"}]"#,
        "{stage}"
    );
    // What argocd-update asked of Argo CD.
    let app = s.get_json(&["application", "my-web-app-prod", "-n", "argocd"]);
    let op = &app["status"]["operationState"]["operation"];
    assert_eq!(
        op["initiatedBy"],
        serde_json::json!({"username": "admin", "automated": false}),
        "{app}"
    );
    assert_eq!(
        op["info"][1],
        serde_json::json!({"name": "kargo.akuity.io/promotion", "value": promo})
    );
    assert!(
        app["metadata"]["annotations"]
            .get("argocd.argoproj.io/refresh")
            .is_none(),
        "{app}"
    );
    let events = s.get_json(&["events", "-n", "argocd"]);
    let started: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "OperationStarted")
        .collect();
    assert_eq!(started.len(), 1, "{events}");
    assert_eq!(
        started[0]["message"],
        "kargo-controller initiated sync to main"
    );
    assert_eq!(argo.syncs_of("my-web-app-prod"), 1);
}

/// A Degraded Application makes the Stage Unhealthy, says why, and
/// verification does not start.
#[test]
fn a_degraded_application_blocks_verification() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    let (health, _) = health_server();
    let s = ServerProc::start(home.path());
    let argo = argo_pipeline(&s, &s, &r, &health);
    argo.set(
        "my-web-app-prod",
        Outcome {
            health: "Degraded".into(),
            message: "Back-off restarting failed container".into(),
            progressing: Duration::from_secs(1),
            ..Outcome::default()
        },
    );
    ok(&s.promote_wait("my-web-app", "prod", &name_of_tag(&s, "v1.0.0")));
    wait_for("the Stage to be Unhealthy", 60, || {
        prod_health(&s)["status"] == "Unhealthy"
    });
    let h = prod_health(&s);
    assert_eq!(
        h["issues"],
        serde_json::json!([
            "Argo CD Application \"my-web-app-prod\" in namespace \"argocd\" has health state \"Degraded\""
        ]),
        "{h}"
    );
    assert_eq!(
        h["output"][0]["applicationStatuses"][0]["health"]["message"],
        "Back-off restarting failed container",
        "{h}"
    );
    let c = s.stage_condition("my-web-app", "prod", "Healthy");
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("False"), Some("Unhealthy")),
        "{c}"
    );
    assert_eq!(
        c["message"],
        "Stage is unhealthy (1 issues in 1 health checks)"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        analysis_runs(&s),
        0,
        "no verification of an Unhealthy Stage"
    );
    assert_eq!(
        s.stage_condition("my-web-app", "prod", "Ready")["status"],
        "False"
    );
}

/// An operation someone else started is waited out; then Kargo syncs.
#[test]
fn a_foreign_operation_is_waited_out() {
    let home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    let (health, _) = health_server();
    let s = ServerProc::start(home.path());
    let argo = argo_pipeline(&s, &s, &r, &health);
    let app = ["application", "my-web-app-prod", "-n", "argocd"];
    let patch = |p: &str| {
        let mut a: Vec<&str> = vec!["patch"];
        a.extend_from_slice(&app);
        a.extend_from_slice(&["--type", "merge", "-p", p]);
        ok(&s.kubectl(&a));
    };
    patch(
        r#"{"status":{"operationState":{"phase":"Running","operation":{"initiatedBy":{"username":"alice"},"sync":{}}}}}"#,
    );
    let out = ok(&s.kargo(&[
        "promote",
        "-p",
        "my-web-app",
        "--stage",
        "prod",
        "--freight",
        &name_of_tag(&s, "v1.0.0"),
    ]));
    let promo = promotion_name(&out);
    let promotion = || s.get_json(&["promotion", &promo, "-n", "my-web-app"]);
    wait_for("the step to wait for alice's sync", 30, || {
        promotion()["status"]["stepExecutionMetadata"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains(
                "current operation was initiated by \"alice\": waiting for operation to complete",
            )
    });
    assert_eq!(argo.syncs_of("my-web-app-prod"), 0);
    assert!(s.get_json(&app).get("operation").is_none());
    patch(&format!(
        r#"{{"status":{{"operationState":{{"phase":"Succeeded","finishedAt":"{t}"}},"reconciledAt":"{t}"}}}}"#,
        t = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
    ));
    wait_for("the Promotion to succeed", 60, || {
        promotion()["status"]["phase"] == "Succeeded"
    });
    assert_eq!(argo.syncs_of("my-web-app-prod"), 1);
    wait_for("the Stage to be Healthy", 60, || {
        prod_health(&s)["status"] == "Healthy"
    });
}

/// Where Argo CD lives: `--argocd-kubeconfig` points at another cluster
/// (here a second server): Applications are read, patched and watched
/// there (the watch only in the Argo CD namespace, with
/// `--argocd-watch-namespace-only`). An unreachable Argo CD, and
/// `--no-argocd`, error the step with Kargo's messages.
#[test]
fn argo_cd_on_another_cluster_or_disabled() {
    let home = tempfile::tempdir().unwrap();
    let argo_home = tempfile::tempdir().unwrap();
    let r = repos(home.path());
    release(&r, "v1.0.0");
    let (health, _) = health_server();
    let remote = ServerProc::start(argo_home.path());
    let kubeconfig = remote.kubeconfig();
    let s = ServerProc::start_with(
        home.path(),
        &[
            "--argocd-kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--argocd-watch-namespace-only",
        ],
    );
    let argo = argo_pipeline(&s, &remote, &r, &health);
    argo.set(
        "my-web-app-prod",
        Outcome {
            progressing: Duration::from_secs(1),
            ..Outcome::default()
        },
    );
    ok(&s.promote_wait("my-web-app", "prod", &name_of_tag(&s, "v1.0.0")));
    wait_for("the Stage to be Healthy", 60, || {
        prod_health(&s)["status"] == "Healthy"
    });
    assert_eq!(argo.syncs_of("my-web-app-prod"), 1);
    assert!(
        fails(&s.kubectl(&["get", "application", "my-web-app-prod", "-n", "argocd"]))
            .contains("not found"),
        "the Application is only on the Argo CD cluster"
    );
    // Argo CD's cluster gone: the lookup fails at once, naming the
    // Application and the cause.
    drop(remote);
    let err = fails(&s.promote_wait("my-web-app", "prod", &name_of_tag(&s, "v1.0.0")));
    assert!(
        err.contains(
            r#"error finding Argo CD Application \"my-web-app-prod\" in namespace \"argocd\""#
        ) || err.contains(
            r#"error finding Argo CD Application "my-web-app-prod" in namespace "argocd""#
        ),
        "{err}"
    );
    assert!(err.to_lowercase().contains("connect"), "{err}");
    drop(s);

    let off_home = tempfile::tempdir().unwrap();
    let r = repos(off_home.path());
    release(&r, "v1.0.0");
    let off = ServerProc::start_with(off_home.path(), &["--no-argocd"]);
    argo_pipeline(&off, &off, &r, &health);
    let err = fails(&off.promote_wait("my-web-app", "prod", &name_of_tag(&off, "v1.0.0")));
    assert!(
        err.contains("Argo CD integration is disabled on this controller; cannot update Argo CD Application resources"),
        "{err}"
    );
}
