//! The `kargo` binary when things around it go wrong: a reader that stops
//! reading (`kargo get freight | head`), servers that cannot be reached
//! (refused, untrusted certificate, silent, unknown host), refusals that
//! must read as sentences, and a git remote that never answers (killed
//! after `--git-timeout` in a step or a Warehouse refresh; `kargo abort`
//! interrupts a step at once).

mod common;

use common::{KARGO, ServerProc, fails, ok, promotion_name, wait_for};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Freight to list: enough (with long tags) that every output format is
/// far larger than a pipe's buffer, so the writer meets the closed pipe.
const FREIGHT: usize = 1000;

fn project_with_freight(s: &ServerProc) {
    ok(&s.kargo(&["create", "project", "p"]));
    let mut docs = String::from(
        "kind: Warehouse\nmetadata: {name: app, namespace: p}\nspec:\n  subscriptions:\n  - image: {repoURL: 127.0.0.1:9/app}\n---\nkind: Stage\nmetadata: {name: dev, namespace: p}\nspec:\n  requestedFreight:\n  - origin: {kind: Warehouse, name: app}\n    sources: {direct: true}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: git-clone\n        config: {repoURL: \"file:///tmp/none.git\"}\n---\nkind: Stage\nmetadata: {name: prod, namespace: p}\nspec:\n  requestedFreight:\n  - origin: {kind: Warehouse, name: app}\n    sources: {stages: [dev]}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: git-clone\n        config: {repoURL: \"file:///tmp/none.git\"}\n",
    );
    let pad = "x".repeat(100);
    for i in 0..FREIGHT {
        docs.push_str(&format!(
            "---\nkind: Freight\nmetadata: {{namespace: p, labels: {{kargo.akuity.io/alias: f-{i}}}}}\norigin: {{kind: Warehouse, name: app}}\nimages: [{{repoURL: 127.0.0.1:9/app, tag: \"1.0.{i}-{pad}\", digest: \"sha256:{i:064}\"}}]\n"
        ));
    }
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&docs)));
}

/// Runs `kargo ARGS`, reads one line of its stdout, closes the pipe and
/// waits: the command must end quietly (exit 0, nothing on stderr).
fn read_one_line_then_close(s: &ServerProc, args: &[&str]) {
    let mut child = Command::new(KARGO)
        .args(args)
        .env("KARGO_CONFIG", s.home.join("config.yaml"))
        .env("HOME", &s.home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    assert!(!first.trim().is_empty(), "kargo {args:?} printed nothing");
    drop(out);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe") && err.trim().is_empty(),
        "kargo {args:?} after the reader left: {err}"
    );
    assert!(o.status.success(), "kargo {args:?}: {:?}", o.status);
}

/// Runs `kargo ARGS` with a stdout pipe whose reader has already left.
fn run_with_stdout_closed(s: &ServerProc, args: &[&str]) -> Output {
    let mut child = Command::new(KARGO)
        .args(args)
        .env("KARGO_CONFIG", s.home.join("config.yaml"))
        .env("HOME", &s.home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    project_with_freight(&s);
    let yaml = ok(&s.kargo(&["get", "freight", "-p", "p", "-o", "yaml"]));
    assert!(yaml.len() > 256 * 1024, "{} bytes of YAML", yaml.len());
    let table = ok(&s.kargo(&["get", "freight", "-p", "p"]));
    assert_eq!(table.lines().count(), FREIGHT + 1);
    assert!(table.len() > 128 * 1024, "{} bytes of table", table.len());
    for format in ["table", "wide", "yaml", "json", "name"] {
        read_one_line_then_close(&s, &["get", "freight", "-p", "p", "-o", format]);
    }
    // A stream: `promote --wait` prints as it follows the Promotion (no
    // controller runs here, so it would wait for the timeout). Its reader
    // leaves before the first line: every later line would race with it.
    let o = run_with_stdout_closed(
        &s,
        &[
            "promote",
            "-p",
            "p",
            "--stage",
            "dev",
            "--freight",
            "f-1",
            "--wait",
            "--timeout",
            "30",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `kargo get projects` against `server` with a config that trusts
/// nothing, plus `extra` flags.
fn get_projects(home: &std::path::Path, server: &str, extra: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let o = Command::new(KARGO)
        .args(["get", "projects", "--server", server, "--token", "t"])
        .args(extra)
        .env("KARGO_CONFIG", home.join("nothing-trusted.yaml"))
        .env("HOME", home)
        .env_remove("KARGO_REQUEST_TIMEOUT")
        .output()
        .unwrap();
    (o, start.elapsed())
}

fn assert_one_clear_line(err: &str) {
    assert!(
        !err.contains("ServiceError") && !err.contains("client error") && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn nothing_listening_is_connection_refused_at_the_address() {
    let home = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (o, _) = get_projects(home.path(), &format!("https://127.0.0.1:{port}"), &[]);
    let err = fails(&o);
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}"))
            && err.contains("connection refused"),
        "{err}"
    );
    assert_one_clear_line(&err);
}

#[test]
fn an_untrusted_certificate_says_so_and_how_to_trust_it() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    let authority = s.url.trim_start_matches("https://").to_string();
    let (o, _) = get_projects(home.path(), &s.url, &[]);
    let err = fails(&o);
    assert!(
        err.contains(&format!("cannot connect to {authority}"))
            && err.contains("certificate is not trusted")
            && err.contains("unknown authority")
            && err.contains("--certificate-authority FILE")
            && err.contains(&format!(
                "kargo login {} --token TOKEN --ca-file FILE",
                s.url
            )),
        "{err}"
    );
    assert_one_clear_line(&err);
    // The hint is true: both ways work.
    let ca = s.data.join("ca.crt");
    let token = s.token();
    let out = Command::new(KARGO)
        .args(["get", "projects", "--server", &s.url, "--token", &token])
        .arg("--certificate-authority")
        .arg(&ca)
        .env("KARGO_CONFIG", home.path().join("nothing-trusted.yaml"))
        .output()
        .unwrap();
    ok(&out);
    let login = |extra: &[&str]| {
        Command::new(KARGO)
            .args(["login", &s.url, "--token", &token])
            .args(extra)
            .env("KARGO_CONFIG", home.path().join("login.yaml"))
            .output()
            .unwrap()
    };
    let err = fails(&login(&[]));
    assert!(err.contains("--ca-file FILE"), "{err}");
    assert_one_clear_line(&err);
    ok(&login(&["--ca-file", ca.to_str().unwrap()]));
    let out = Command::new(KARGO)
        .args(["get", "projects"])
        .env("KARGO_CONFIG", home.path().join("login.yaml"))
        .output()
        .unwrap();
    ok(&out);
}

#[test]
fn a_server_that_never_answers_times_out_with_the_address() {
    let home = tempfile::tempdir().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // Accept and hold every connection without a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    let server = format!("https://127.0.0.1:{port}");
    let (o, took) = get_projects(home.path(), &server, &["--request-timeout", "1s"]);
    let err = fails(&o);
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}"))
            && err.contains("no answer within 1s")
            && err.contains("--request-timeout"),
        "{err}"
    );
    assert_one_clear_line(&err);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // The environment sets it too.
    let start = Instant::now();
    let o = Command::new(KARGO)
        .args(["get", "projects", "--server", &server, "--token", "t"])
        .env("KARGO_CONFIG", home.path().join("nothing-trusted.yaml"))
        .env("KARGO_REQUEST_TIMEOUT", "2")
        .output()
        .unwrap();
    let err = fails(&o);
    assert!(err.contains("no answer within 2s"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(15));
    let err = fails(&get_projects(home.path(), &server, &["--request-timeout", "soon"]).0);
    assert!(err.contains("\"soon\" is not a duration"), "{err}");
}

#[test]
fn an_unknown_host_name_is_a_name_resolution_failure() {
    let home = tempfile::tempdir().unwrap();
    let (o, _) = get_projects(home.path(), "https://nonexistent.invalid:8443", &[]);
    let err = fails(&o);
    assert!(
        err.contains("cannot connect to nonexistent.invalid:8443")
            && err.contains("host name \"nonexistent.invalid\" could not be resolved"),
        "{err}"
    );
    assert_one_clear_line(&err);
}

#[test]
fn refused_promotions_read_as_sentences_naming_freight_and_stage() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", "p"]));
    let docs = "kind: Warehouse\nmetadata: {name: app, namespace: p}\nspec:\n  subscriptions:\n  - image: {repoURL: 127.0.0.1:9/app}\n---\nkind: Freight\nmetadata: {namespace: p, labels: {kargo.akuity.io/alias: jolly-penguin}}\norigin: {kind: Warehouse, name: app}\nimages: [{repoURL: 127.0.0.1:9/app, tag: 1.5.0, digest: \"sha256:15\"}]\n---\nkind: Stage\nmetadata: {name: prod, namespace: p}\nspec:\n  requestedFreight:\n  - origin: {kind: Warehouse, name: app}\n    sources: {stages: [staging-us, staging-eu]}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: git-clone\n        config: {repoURL: \"file:///tmp/none.git\"}\n---\nkind: Warehouse\nmetadata: {name: other, namespace: p}\nspec:\n  subscriptions:\n  - image: {repoURL: 127.0.0.1:9/other}\n---\nkind: Stage\nmetadata: {name: elsewhere, namespace: p}\nspec:\n  requestedFreight:\n  - origin: {kind: Warehouse, name: other}\n    sources: {direct: true}\n";
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(docs)));
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "p",
        "--stage",
        "prod",
        "--freight",
        "jolly-penguin",
    ]));
    assert_eq!(
        err.trim(),
        r#"error: Promotion of Freight "jolly-penguin" to Stage "prod" is invalid: spec.freight: Freight "jolly-penguin" is not available to Stage "prod": it must be verified in every upstream Stage, but it is not verified in Stage "staging-us" and is not verified in Stage "staging-eu""#
    );
    // Approval is refused in sentences too (Kargo's approve endpoint's
    // rules): an unknown Stage, a Stage that does not request the origin.
    let approve = |stage: &str| {
        s.kargo(&[
            "approve",
            "-p",
            "p",
            "--freight",
            "jolly-penguin",
            "--stage",
            stage,
        ])
    };
    assert_eq!(
        fails(&approve("qa")).trim(),
        r#"error: cannot approve Freight "jolly-penguin" for Stage "qa": could not find Stage "qa" in namespace "p""#
    );
    assert_eq!(
        fails(&approve("elsewhere")).trim(),
        r#"error: cannot approve Freight "jolly-penguin" for Stage "elsewhere": Stage "elsewhere" does not request Freight from origin "Warehouse/app""#
    );
    ok(&approve("prod"));
    let promoted = ok(&s.kargo(&[
        "promote",
        "-p",
        "p",
        "--stage",
        "prod",
        "--freight",
        "jolly-penguin",
    ]));
    assert!(promoted.contains("-> prod"), "{promoted}");
    // kubectl gets the same sentence from the API.
    let name = ok(&s.kubectl(&["get", "freight", "-n", "p", "-o", "name"]));
    let freight = name.trim().rsplit('/').next().unwrap().to_string();
    let mut create = s.kubectl_cmd(&["create", "-f", "-"]);
    let mut child = create
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let body = format!(
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {{namespace: p, generateName: prod-}}\nspec: {{stage: nope, freight: {freight}}}\n"
        );
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
    }
    let err = fails(&child.wait_with_output().unwrap());
    assert_eq!(
        err.trim(),
        format!(
            r#"The request is invalid: error when creating "STDIN": Promotion of Freight "{freight}" to Stage "nope" is invalid: spec.stage: could not find Stage "nope" in namespace "p""#
        )
    );
}

/// A TCP listener that accepts every connection and never says a word;
/// returns its port and how many connections it has taken.
fn silent_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = taken.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, taken)
}

/// Processes whose command line mentions `needle` (git and its helpers).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

/// A project `p` whose Stage `dev` clones `repo_url` first, and Freight
/// `quiet-otter` to promote.
fn silent_pipeline(s: &ServerProc, repo_url: &str) {
    ok(&s.kargo(&["create", "project", "p"]));
    let docs = format!(
        "kind: Warehouse\nmetadata: {{name: app, namespace: p}}\nspec:\n  subscriptions:\n  - image: {{repoURL: 127.0.0.1:9/app}}\n---\nkind: Freight\nmetadata: {{namespace: p, labels: {{kargo.akuity.io/alias: quiet-otter}}}}\norigin: {{kind: Warehouse, name: app}}\nimages: [{{repoURL: 127.0.0.1:9/app, tag: 1.0.0, digest: \"sha256:10\"}}]\n---\nkind: Stage\nmetadata: {{name: dev, namespace: p}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: git-clone\n        config: {{repoURL: \"{repo_url}\", checkout: [{{branch: main, path: ./src}}]}}\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&docs)));
}

fn phase(s: &ServerProc, promotion: &str) -> String {
    s.get_json(&["promotion", promotion, "-n", "p"])["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_silent_git_remote_is_killed_after_its_timeout_and_abort_interrupts_it() {
    let (port, taken) = silent_listener();
    let url = format!("http://127.0.0.1:{port}/config.git");
    let needle = format!("127.0.0.1:{port}");

    // Default limits (5 minutes): only an abort ends the clone early.
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    silent_pipeline(&s, &url);
    let promote = || {
        promotion_name(&ok(&s.kargo(&[
            "promote",
            "-p",
            "p",
            "--stage",
            "dev",
            "--freight",
            "quiet-otter",
        ])))
    };
    let first = promote();
    let queued = promote();
    wait_for("git to connect to the silent remote", 30, || {
        taken.load(std::sync::atomic::Ordering::SeqCst) >= 1
    });
    assert_eq!(phase(&s, &first), "Running");
    assert!(matches!(phase(&s, &queued).as_str(), "" | "Pending"));
    let asked = Instant::now();
    ok(&s.kargo(&["abort", "promotion", &first, "-p", "p"]));
    wait_for("the aborted Promotion to end", 10, || {
        phase(&s, &first) == "Aborted"
    });
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "abort took {:?}",
        asked.elapsed()
    );
    // The queue moves on: the next Promotion starts (and hangs the same way).
    wait_for("the queued Promotion to start", 10, || {
        phase(&s, &queued) == "Running"
    });
    wait_for("it to reach the remote", 30, || {
        taken.load(std::sync::atomic::Ordering::SeqCst) >= 2
    });
    ok(&s.kargo(&["abort", "promotion", &queued, "-p", "p"]));
    wait_for("the second abort", 10, || phase(&s, &queued) == "Aborted");
    // Nothing of either clone is left running.
    wait_for("git and its helpers to be gone", 5, || {
        processes_mentioning(&needle).is_empty()
    });
    drop(s);

    // `--git-timeout 2s`: the clone is killed and the Promotion Errors.
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--git-timeout", "2s"]);
    silent_pipeline(&s, &url);
    let started = Instant::now();
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        "p",
        "--stage",
        "dev",
        "--freight",
        "quiet-otter",
        "--wait",
        "--timeout",
        "60",
    ]));
    let took = started.elapsed();
    assert!(err.contains("Errored"), "{err}");
    assert!(err.contains("timed out after 2s"), "{err}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "the Promotion ended after {took:?}"
    );
    assert!(processes_mentioning(&needle).is_empty());

    // Discovery is bounded the same way: a Warehouse watching the silent
    // remote reports the timeout and leaves no git behind.
    let w = format!(
        "kind: Warehouse\nmetadata: {{name: silent, namespace: p}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"{url}\"}}\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&w)));
    wait_for("the Warehouse to report the timeout", 30, || {
        s.get_json(&["warehouse", "silent", "-n", "p"])["status"]
            .to_string()
            .contains("timed out after 2s")
    });
    wait_for("discovery's git to be gone", 5, || {
        processes_mentioning(&needle).is_empty()
    });
}
