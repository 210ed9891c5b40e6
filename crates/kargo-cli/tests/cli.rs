//! The `kargo` binary and unmodified `kubectl` against a real `kargo
//! server` process on loopback: the seed examples, describe, watch,
//! errors, login, and SIGKILL durability.

mod common;

use common::{KARGO, ServerProc, bare_repo, fails, git, ok, seed_dir, wait_for};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn seed_examples_through_kargo_and_kubectl() {
    let home = tempfile::tempdir().unwrap();
    // The seed's Warehouses point at hosts on the internet: API only here.
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    let seed = seed_dir();
    let out = ok(&s.kargo(&["apply", "-f", seed.to_str().unwrap()]));
    assert!(out.contains("stage.kargo.akuity.io/dev created"), "{out}");
    assert!(
        out.contains("warehouse.kargo.akuity.io/app-images created"),
        "{out}"
    );
    assert!(
        out.contains("application.argoproj.io/my-web-app-dev created"),
        "{out}"
    );
    // Re-applying changes nothing.
    let again = ok(&s.kargo(&["apply", "-f", seed.to_str().unwrap()]));
    assert!(
        again.contains("stage.kargo.akuity.io/dev unchanged"),
        "{again}"
    );

    let table = ok(&s.kubectl(&["get", "stages", "-n", "my-web-app"]));
    let header = table.lines().next().unwrap();
    for col in [
        "NAME",
        "SHARD",
        "CURRENT FREIGHT",
        "HEALTH",
        "READY",
        "STATUS",
        "AGE",
    ] {
        assert!(header.contains(col), "{header}");
    }
    for stage in ["dev", "staging-us", "staging-eu", "prod-us", "prod"] {
        assert!(
            table
                .lines()
                .any(|l| l.split_whitespace().next() == Some(stage)),
            "{table}"
        );
    }
    let yaml = ok(&s.kubectl(&["get", "stage", "dev", "-n", "my-web-app", "-o", "yaml"]));
    assert!(
        yaml.contains("uses: git-clone") && yaml.contains("http-health-check"),
        "{yaml}"
    );
    let described = ok(&s.kubectl(&["describe", "stage", "dev", "-n", "my-web-app"]));
    assert!(
        described.contains("Name:         dev") && described.contains("Analysis Templates"),
        "{described}"
    );
    let ar = ok(&s.kubectl(&["get", "analysistemplates", "-n", "my-web-app", "-o", "name"]));
    assert_eq!(ar.lines().count(), 3, "{ar}");

    // kubectl apply of the same files works too (it adds its annotation).
    let applied = ok(&s.kubectl(&["apply", "-f", seed.to_str().unwrap()]));
    assert!(applied.contains("stage.kargo.akuity.io/dev"), "{applied}");

    // kargo get in every format.
    let names = ok(&s.kargo(&["get", "stages", "-p", "my-web-app", "-o", "name"]));
    assert!(names.contains("stage.kargo.akuity.io/prod-us"), "{names}");
    let js: Value = serde_json::from_str(&ok(&s.kargo(&[
        "get",
        "stage",
        "dev",
        "-p",
        "my-web-app",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(
        js["spec"]["verification"]["analysisTemplates"][1]["name"],
        "error-rate-check"
    );
    let wh = ok(&s.kargo(&["get", "warehouses", "-p", "my-web-app"]));
    assert!(
        wh.contains("app-images") && wh.contains("infra-config"),
        "{wh}"
    );

    // Deleting with kubectl and with kargo.
    ok(&s.kubectl(&["delete", "stage", "prod", "-n", "my-web-app"]));
    ok(&s.kargo(&["delete", "stage", "staging-eu", "-p", "my-web-app"]));
    let left = ok(&s.kargo(&["get", "stages", "-p", "my-web-app", "-o", "name"]));
    assert!(
        !left.contains("/prod\n") && !left.contains("staging-eu"),
        "{left}"
    );
}

/// `kargo config set-project` gives objects without a namespace a home; it
/// does not refuse objects that name their own (the seed's Application in
/// `argocd`). A `--project` typed on the command line still must match.
#[test]
fn a_configured_project_is_a_default_not_a_filter() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    ok(&s.kargo(&["config", "set-project", "my-web-app"]));
    let seed = seed_dir();
    let out = ok(&s.kargo(&["apply", "-f", seed.to_str().unwrap()]));
    assert!(
        out.contains("application.argoproj.io/my-web-app-dev created"),
        "{out}"
    );
    let bare = "kind: Warehouse\nmetadata: {name: bare}\nspec:\n  subscriptions:\n  - git: {repoURL: \"https://127.0.0.1:9/x.git\"}\n";
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(bare)));
    ok(&s.kubectl(&["get", "warehouse", "bare", "-n", "my-web-app"]));
    let app = seed.join("06-argocd-application.yaml");
    let err = fails(&s.kargo(&["apply", "-p", "my-web-app", "-f", app.to_str().unwrap()]));
    assert!(
        err.contains("namespace \"argocd\" but --project is \"my-web-app\""),
        "{err}"
    );
}

/// The seed's `kubectl logs -n kargo deploy/kargo-controller -f` against
/// the standalone server: the Deployment and its Pod stand for the server
/// process, the log shows what the controllers did, `-f` follows new
/// lines, and the objects cannot be written through the API.
#[test]
fn kubectl_logs_follows_the_controller() {
    let home = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(home.path(), "app");
    let commit = |msg: &str| {
        std::fs::write(work.join("VERSION"), msg).unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", msg]);
        git(&work, &["push", "-q", "origin", "main"]);
    };
    commit("one");
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));
    let wh = format!(
        "kind: Warehouse\nmetadata: {{name: w, namespace: p}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"file://{}\", branch: main}}\n",
        bare.display()
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&wh)));
    wait_for("the first Freight in the log", 30, || {
        ok(&s.kubectl(&["logs", "-n", "kargo", "deploy/kargo-controller"]))
            .contains("FreightCreated")
    });
    let pods = ok(&s.kubectl(&["get", "pods", "-n", "kargo"]));
    assert!(
        pods.contains("kargo-controller-") && pods.contains("Running"),
        "{pods}"
    );
    let tail = ok(&s.kubectl(&[
        "logs",
        "-n",
        "kargo",
        "deploy/kargo-controller",
        "--tail=1",
        "--timestamps",
    ]));
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert!(tail.starts_with("20"), "a timestamp first: {tail}");

    let mut follow = s
        .kubectl_cmd(&["logs", "-n", "kargo", "deploy/kargo-controller", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).expect("old lines");
    let mut created = usize::from(first.contains("FreightCreated"));
    commit("two");
    ok(&s.kargo(&["refresh", "warehouse", "w", "-p", "p", "--wait"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while created < 2 && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200))
            && l.contains("FreightCreated")
        {
            created += 1;
        }
    }
    assert_eq!(created, 2, "-f shows the old and the new FreightCreated");
    let _ = follow.kill();
    let _ = follow.wait();

    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: kargo}\nspec:\n  containers: [{name: c, image: busybox}]\n";
    let err = fails(&s.kargo_stdin(&["apply", "-f", "-"], Some(pod)));
    assert!(err.contains("read-only"), "{err}");
    let err = fails(&s.kubectl(&[
        "logs",
        "-n",
        "kargo",
        "deploy/kargo-controller",
        "--previous",
    ]));
    assert!(err.contains("not kept"), "{err}");
}

/// The web UI through curl: sign in with the admin token (the cookie
/// is a derived session value, not the token), then see the seed's
/// pipeline as a graph and the project's Freight; signed out, a page
/// redirects to sign-in.
#[test]
fn web_ui_shows_the_pipeline_after_sign_in() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", "my-web-app"]));
    ok(&s.kargo(&["apply", "-f", seed_dir().to_str().unwrap()]));
    let freight = "kind: Freight\nmetadata: {namespace: my-web-app}\norigin: {kind: Warehouse, name: app-images}\nimages: [{repoURL: myacr.azurecr.io/my-web-app, tag: 1.5.0, digest: \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]\n";
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(freight)));
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-s", "-i", "--cacert"])
            .arg(s.data.join("ca.crt"))
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let login = curl(&[&format!("{}/ui", s.url)]);
    assert!(
        login.starts_with("HTTP/2 200") || login.starts_with("HTTP/1.1 200"),
        "{login}"
    );
    assert!(login.contains("Token"), "{login}");
    let bad = curl(&["-d", "token=wrong", &format!("{}/ui/login", s.url)]);
    assert!(bad.contains(" 401"), "{bad}");
    let good = curl(&[
        "-d",
        &format!("token={}", s.token()),
        &format!("{}/ui/login", s.url),
    ]);
    let cookie = good
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .unwrap_or_else(|| panic!("no cookie in {good}"))
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(
        good.contains("HttpOnly") && !cookie.contains(&s.token()),
        "{good}"
    );
    let home_page = curl(&["-H", &format!("Cookie: {cookie}"), &format!("{}/ui", s.url)]);
    assert!(home_page.contains("/ui/projects/my-web-app"), "{home_page}");
    let pipeline = curl(&[
        "-H",
        &format!("Cookie: {cookie}"),
        &format!("{}/ui/projects/my-web-app", s.url),
    ]);
    let at = |needle: &str| {
        pipeline
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{pipeline}"))
    };
    // The graph: Warehouse -> dev -> both staging Stages -> prod-us (fan-in).
    for (from, to) in [
        ("warehouse:my-warehouse", "stage:dev"),
        ("stage:dev", "stage:staging-us"),
        ("stage:dev", "stage:staging-eu"),
        ("stage:staging-us", "stage:prod-us"),
        ("stage:staging-eu", "stage:prod-us"),
    ] {
        at(&format!("data-from=\"{from}\" data-to=\"{to}\""));
    }
    at("1.5.0");
    let anonymous = curl(&[&format!("{}/ui/projects/my-web-app", s.url)]);
    assert!(
        anonymous.contains(" 303") && !anonymous.contains("staging-us"),
        "{anonymous}"
    );
    // Sign out forgets the session on the server: the old cookie is refused.
    curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Cookie: {cookie}"),
        &format!("{}/ui/logout", s.url),
    ]);
    let after = curl(&[
        "-H",
        &format!("Cookie: {cookie}"),
        &format!("{}/ui/projects/my-web-app", s.url),
    ]);
    assert!(
        after.contains(" 303") && !after.contains("staging-us"),
        "{after}"
    );
}

#[test]
fn kubectl_watch_sees_an_update() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));
    let wh = "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: w, namespace: p}\nspec:\n  subscriptions:\n  - image: {repoURL: 127.0.0.1:9/app}\n";
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(wh)));
    let mut watch = s
        .kubectl_cmd(&[
            "get",
            "warehouses",
            "-n",
            "p",
            "-w",
            "--output-watch-events",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).expect("header");
    assert!(first.contains("EVENT") && first.contains("NAME"), "{first}");
    let added = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("initial row");
    assert!(added.contains("ADDED") && added.contains(" w "), "{added}");
    ok(&s.kubectl(&[
        "patch",
        "warehouse",
        "w",
        "-n",
        "p",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"interval":"1m"}}"#,
    ]));
    let modified = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("update row");
    assert!(
        modified.contains("MODIFIED") && modified.contains(" w "),
        "{modified}"
    );
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn bad_input_gets_clear_errors_and_the_server_keeps_running() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));
    let dir = home.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "kind: Stage\nmetadata: {name: x\n").unwrap();
    let err = fails(&s.kargo(&["apply", "-f", bad.to_str().unwrap()]));
    assert!(
        err.contains("bad.yaml") && err.contains("not valid YAML"),
        "{err}"
    );
    let err = fails(&s.kargo_stdin(
        &["apply", "-f", "-", "-p", "p"],
        Some("kind: Gizmo\nmetadata: {name: g}\n"),
    ));
    assert!(err.contains("unknown kind \"Gizmo\""), "{err}");
    let invalid = "kind: Warehouse\nmetadata: {name: w}\nspec:\n  interval: soon\n  subscriptions:\n  - image: {repoURL: a/b, imageSelectionStrategy: Biggest}\n";
    let err = fails(&s.kargo_stdin(&["apply", "-f", "-", "-p", "p"], Some(invalid)));
    assert!(
        err.contains("spec.subscriptions[0].image.imageSelectionStrategy")
            && err.contains("Biggest"),
        "{err}"
    );
    let err = fails(&s.kargo(&["get", "gizmos", "-p", "p"]));
    assert!(err.contains("unknown resource type"), "{err}");
    let err = fails(&s.kargo(&["get", "stage", "nope", "-p", "p"]));
    assert!(err.contains("not found"), "{err}");
    let err = fails(&s.kargo(&["get", "stages"]));
    assert!(err.contains("--project"), "{err}");
    // One error line, no panic, and the server still serves.
    assert!(!err.contains("panicked"));
    assert!(
        ok(&s.kargo(&["version"]))
            .contains(&format!("Server Version: {}", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn login_checks_the_token() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let ca = s.data.join("ca.crt");
    let other = home.path().join("other.yaml");
    let login = |token: &str| {
        Command::new(KARGO)
            .args([
                "login",
                &s.url,
                "--token",
                token,
                "--ca-file",
                ca.to_str().unwrap(),
            ])
            .env("KARGO_CONFIG", &other)
            .output()
            .unwrap()
    };
    let err = fails(&login("wrong"));
    assert!(err.contains("not valid"), "{err}");
    assert!(!other.exists(), "a failed login writes nothing");
    ok(&login(&s.token()));
    let cfg = std::fs::read_to_string(&other).unwrap();
    assert!(cfg.contains(&s.url));
    let out = Command::new(KARGO)
        .args(["get", "projects"])
        .env("KARGO_CONFIG", &other)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let home = tempfile::tempdir().unwrap();
    let mut s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ca = std::fs::read_to_string(s.data.join("ca.crt")).unwrap();
    let (url, token) = (s.url.clone(), s.token());
    // Writers run flat out; the server is killed under them.
    let acked = rt.block_on(async {
        let client = kargo_server::client::https_client(&url, Some(&token), Some(&ca), false).unwrap();
        let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
            client,
            "p",
            &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
        );
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..4 {
            let api = api.clone();
            let acked = acked.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("w{w}-{i}");
                    let obj: kube::api::DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": i.to_string()}})).unwrap();
                    match api.create(&Default::default(), &obj).await {
                        Ok(_) => acked.lock().unwrap().push(name),
                        Err(_) => return,
                    }
                }
            }));
        }
        let start = Instant::now();
        while acked.lock().unwrap().len() < 200 && start.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // SIGKILL mid-stream.
        s.child.kill().unwrap();
        s.child.wait().unwrap();
        for t in tasks {
            let _ = t.await;
        }
        acked.lock().unwrap().clone()
    });
    assert!(
        acked.len() >= 200,
        "only {} writes acknowledged",
        acked.len()
    );
    drop(s);
    let s = ServerProc::start(home.path());
    let names = ok(&s.kubectl(&["get", "configmaps", "-n", "p", "-o", "name"]));
    let stored: std::collections::HashSet<&str> = names
        .lines()
        .map(|l| l.trim_start_matches("configmap/"))
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|n| !stored.contains(n.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost after SIGKILL, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    // The seed-style objects made before the kill are there too.
    assert!(ok(&s.kargo(&["get", "projects", "-o", "name"])).contains("project.kargo.akuity.io/p"));
}

/// Unknown fields never pass silently: `kargo apply`/`create` and kubectl
/// send `fieldValidation=Strict`, so a typo'd Stage is refused with the
/// field's path; `--validate=warn` applies it, prints the server's
/// warnings and stores no unknown field. Kargo's kinds need a project;
/// other kinds (the seed's Application in `argocd`, Secrets) do not.
#[test]
fn typos_are_refused_and_kargo_kinds_need_a_project() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", "p"]));
    let dir = home.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    let stage = |name: &str| {
        format!(
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata: {{name: {name}, namespace: p}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: w}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      stpes:\n      - uses: git-clone\n  verifcation:\n    analysisTemplates: [{{name: t}}]\n"
        )
    };
    let typo = dir.join("typo.yaml");
    std::fs::write(&typo, stage("dev")).unwrap();
    let typo = typo.to_str().unwrap();
    let paths = [
        r#"unknown field "spec.promotionTemplate.spec.stpes""#,
        r#"unknown field "spec.verifcation""#,
    ];

    // kargo: strict by default, and with --validate (no value), =strict, =true.
    for flags in [
        &[][..],
        &["--validate"],
        &["--validate=strict"],
        &["--validate=true"],
    ] {
        let mut args = vec!["apply", "-f", typo];
        args.extend_from_slice(flags);
        let err = fails(&s.kargo(&args));
        for p in paths {
            assert!(err.contains(p), "{flags:?}: {err}");
        }
        assert!(!err.contains("?."), "no stray ? in paths: {err}");
    }
    let err = fails(&s.kargo(&["create", "-f", typo]));
    assert!(err.contains(paths[1]), "{err}");
    // kubectl sends fieldValidation=Strict by default too.
    let out = s.kubectl(&["apply", "-f", typo]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for p in paths {
        assert!(
            err.contains(&p.replace('"', "\\\"")) || err.contains(p),
            "{err}"
        );
    }
    assert!(
        !ok(&s.kargo(&["get", "stages", "-p", "p", "-o", "name"])).contains("dev"),
        "a refused Stage is not stored"
    );

    // --validate=warn applies, prints the warnings, stores no unknown field.
    let out = s.kargo(&["apply", "-f", typo, "--validate=warn"]);
    let (stdout, stderr) = (ok(&out), String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("stage.kargo.akuity.io/dev created"),
        "{stdout}"
    );
    for p in paths {
        assert!(stderr.contains(&format!("Warning: {p}")), "{stderr}");
    }
    let stored = s.get_json(&["stage", "dev", "-n", "p"]);
    assert!(stored["spec"].get("verifcation").is_none(), "{stored}");
    assert!(
        stored["spec"]["promotionTemplate"]["spec"]
            .get("stpes")
            .is_none(),
        "{stored}"
    );
    // ignore (or false): accepted without a word.
    let out = s.kargo(&["apply", "-f", typo, "--validate=false"]);
    ok(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Warning"));
    let err = fails(&s.kargo(&["apply", "-f", typo, "--validate=lenient"]));
    assert!(err.contains("--validate"), "{err}");
    // kubectl --validate=warn prints the server's warnings as well.
    let typo2 = dir.join("typo2.yaml");
    std::fs::write(&typo2, stage("dev2")).unwrap();
    let out = s.kubectl(&["create", "-f", typo2.to_str().unwrap(), "--validate=warn"]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("spec.verifcation"), "{stderr}");

    // Other kinds are not affected: the seed's Application in argocd and a Secret.
    let seed_app = seed_dir().join("06-argocd-application.yaml");
    let out = ok(&s.kargo(&["apply", "-f", seed_app.to_str().unwrap()]));
    assert!(
        out.contains("application.argoproj.io/my-web-app-dev created"),
        "{out}"
    );
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: argocd}\nstringData: {password: x}\n";
    let out = ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(secret)));
    assert!(out.contains("secret/creds created"), "{out}");

    // A Kargo kind into a namespace that is not a project: refused, with the hint.
    let wh = |ns: &str| {
        format!(
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {{name: w, namespace: {ns}}}\nspec:\n  subscriptions:\n  - image: {{repoURL: nginx}}\n"
        )
    };
    let err = fails(&s.kargo_stdin(&["apply", "-f", "-"], Some(&wh("argocd"))));
    assert!(
        err.contains(r#"namespace "argocd" is not a project"#)
            && err.contains("kargo create project argocd"),
        "{err}"
    );
    let wh_file = dir.join("wh.yaml");
    std::fs::write(&wh_file, wh("argocd")).unwrap();
    let out = s.kubectl(&["apply", "-f", wh_file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a project") && err.contains("kargo create project argocd"),
        "{err}"
    );
    // A namespace that does not exist is not created for a Kargo kind.
    let err = fails(&s.kargo_stdin(&["apply", "-f", "-"], Some(&wh("nowhere"))));
    assert!(
        err.contains(r#"Namespace "nowhere" not found"#)
            && err.contains("kargo create project nowhere"),
        "{err}"
    );
    assert!(
        !s.kubectl(&["get", "namespace", "nowhere"]).status.success(),
        "no stray namespace"
    );
    // Once it is a project, the same Warehouse applies.
    ok(&s.kargo(&["create", "project", "nowhere"]));
    let out = ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&wh("nowhere"))));
    assert!(out.contains("warehouse.kargo.akuity.io/w created"), "{out}");
}

/// `kargo dashboard` without a display prints the UI's address.
#[test]
fn dashboard_prints_the_ui_address_without_a_display() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(KARGO)
        .args(["dashboard", "--server", "https://127.0.0.1:8443/"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("KARGO_CONFIG", home.path().join("none.yaml"))
        .output()
        .unwrap();
    let stdout = ok(&out);
    assert!(
        stdout.starts_with("https://127.0.0.1:8443/ui\n"),
        "{stdout}"
    );
    let none = Command::new(KARGO)
        .arg("dashboard")
        .env("KARGO_CONFIG", home.path().join("none.yaml"))
        .output()
        .unwrap();
    assert!(fails(&none).contains("no server configured"));
}
