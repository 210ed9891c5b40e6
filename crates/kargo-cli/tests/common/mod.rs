//! Test harness shared by the CLI integration tests: a real `kargo
//! server` process on an ephemeral loopback port, and helpers to run
//! `kargo` and `kubectl` against it.

#![allow(dead_code)]

pub mod argocd;
pub mod browser;
pub mod chain;
pub mod cluster;
#[path = "../../../kargo-promotion/tests/support/forge.rs"]
pub mod forge;
pub mod git_http;
pub mod oidc;
pub mod prometheus;
pub mod stats_story;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const KARGO: &str = env!("CARGO_BIN_EXE_kargo");

pub fn seed_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/examples");
    assert!(d.is_dir(), "seed examples missing at {}", d.display());
    d
}

/// The `kubectl` lines of the seed's `COMMANDS.md`, as written there.
pub fn seed_kubectl_lines() -> Vec<String> {
    std::fs::read_to_string(seed_dir().join("COMMANDS.md"))
        .expect("COMMANDS.md")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("kubectl "))
        .map(String::from)
        .collect()
}

pub struct ServerProc {
    pub child: Child,
    pub url: String,
    pub home: PathBuf,
    pub data: PathBuf,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProc {
    pub fn start(home: &Path) -> ServerProc {
        Self::start_with(home, &[])
    }

    /// Starts with extra `kargo server` flags. The tests' repositories
    /// are local, so `--allow-file-repos` is always on.
    pub fn start_with(home: &Path, extra: &[&str]) -> ServerProc {
        Self::start_in(home, None, extra)
    }

    /// [`ServerProc::start_with`], with the server's working directory
    /// set to `cwd` (e.g. a git checkout).
    pub fn start_in(home: &Path, cwd: Option<&Path>, extra: &[&str]) -> ServerProc {
        let mut cmd = Command::new(KARGO);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        cmd.stderr(Stdio::null());
        Self::spawn(home, cmd, extra)
    }

    /// A server whose log (at info level) goes to `<home>/stderr.log`.
    pub fn start_logging(home: &Path) -> ServerProc {
        let log = std::fs::File::create(home.join("stderr.log")).expect("create stderr.log");
        let mut cmd = Command::new(KARGO);
        cmd.env("KARGO_LOG", "info").stderr(log);
        Self::spawn(home, cmd, &[])
    }

    /// [`ServerProc::start_with`] with extra environment for the server
    /// (e.g. `KUBECONFIG`, which is otherwise removed).
    pub fn start_env(home: &Path, env: &[(&str, &std::ffi::OsStr)], extra: &[&str]) -> ServerProc {
        let mut cmd = Command::new(KARGO);
        cmd.stderr(Stdio::null()).envs(env.iter().copied());
        Self::spawn(home, cmd, extra)
    }

    fn spawn(home: &Path, mut cmd: Command, extra: &[&str]) -> ServerProc {
        let data = home.join("data");
        // The server merges its context into the user's kubeconfig: never
        // the one of whoever runs the tests.
        if !cmd.get_envs().any(|(k, _)| k == "KUBECONFIG") {
            cmd.env_remove("KUBECONFIG");
        }
        let mut child = cmd
            .args([
                "server",
                "--listen",
                "127.0.0.1:0",
                "--allow-file-repos",
                "--data-dir",
            ])
            .arg(&data)
            .args(extra)
            .env("KARGO_CONFIG", home.join("config.yaml"))
            .env("HOME", home)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn kargo server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        ServerProc {
            child,
            url,
            home: home.to_path_buf(),
            data,
        }
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin-token"))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn kargo(&self, args: &[&str]) -> Output {
        self.kargo_stdin(args, None)
    }

    pub fn kargo_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(KARGO)
            .args(args)
            .env("KARGO_CONFIG", self.home.join("config.yaml"))
            .env("HOME", &self.home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        drop(c.stdin.take());
        c.wait_with_output().unwrap()
    }

    /// The kubeconfig the server wrote (`<data-dir>/kubeconfig`).
    pub fn kubeconfig(&self) -> PathBuf {
        self.data.join("kubeconfig")
    }

    /// `kubectl ARGS` as a user runs it after `kargo server`: no
    /// connection flags, and nothing in the environment but `KUBECONFIG`
    /// (besides `PATH` and the test's `HOME`).
    pub fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("KUBECONFIG", self.kubeconfig());
        c
    }

    /// A `kubectl` command line as typed (words split on spaces, as the
    /// seed's lines have no quoting), run as [`ServerProc::kubectl_cmd`].
    pub fn typed(&self, line: &str) -> Command {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"kubectl"), "{line}");
        self.kubectl_cmd(&words[1..])
    }

    /// `kargo promote --project P --stage S --freight F --wait --timeout 60`.
    pub fn promote_wait(&self, project: &str, stage: &str, freight: &str) -> Output {
        self.kargo(&[
            "promote",
            "--project",
            project,
            "--stage",
            stage,
            "--freight",
            freight,
            "--wait",
            "--timeout",
            "60",
        ])
    }

    /// `kubectl get ARGS -o json`, parsed; fails the test if kubectl does.
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&ok(&self.kubectl(&a))).expect("kubectl printed JSON")
    }

    /// The Stage's status condition of `type_` (Null when unset).
    pub fn stage_condition(&self, ns: &str, stage: &str, type_: &str) -> serde_json::Value {
        let st = self.get_json(&["stage", stage, "-n", ns]);
        st["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == type_).cloned())
            .unwrap_or(serde_json::Value::Null)
    }

    /// `curl -s -i ARGS`, trusting the server's CA: headers and body.
    pub fn curl(&self, args: &[&str]) -> String {
        let out = Command::new("curl")
            .args(["-s", "-i", "--cacert"])
            .arg(self.data.join("ca.crt"))
            .args(args)
            .output()
            .expect("curl is on the machine");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Signs in to the web UI with the admin token: the session cookie
    /// (`NAME=VALUE`).
    pub fn ui_session(&self) -> String {
        let answer = self.curl(&[
            "-d",
            &format!("token={}", self.token()),
            &format!("{}/ui/login", self.url),
        ]);
        answer
            .lines()
            .find_map(|l| {
                l.strip_prefix("set-cookie: ")
                    .or_else(|| l.strip_prefix("Set-Cookie: "))
            })
            .unwrap_or_else(|| panic!("no cookie in {answer}"))
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    /// The URL of a project's first webhook receiver, once its
    /// ProjectConfig's status has it.
    pub fn receiver_url(&self, project: &str) -> String {
        let mut hook = String::new();
        wait_for("the receiver's URL", 30, || {
            let pc = self.get_json(&["projectconfig", project, "-n", project]);
            hook = pc["status"]["webhookReceivers"][0]["url"]
                .as_str()
                .unwrap_or("")
                .to_string();
            !hook.is_empty()
        });
        hook
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args)
            .output()
            .expect("kubectl is on the machine")
    }
}

/// A Warehouse and one Freight (alias `quiet-otter`) in `my-web-app`,
/// for the promotion-rights tests.
pub const PIPELINE: &str = r#"
kind: Warehouse
metadata: {name: app, namespace: my-web-app}
spec:
  subscriptions:
  - image: {repoURL: 127.0.0.1:9/app}
---
kind: Freight
metadata: {namespace: my-web-app, labels: {kargo.akuity.io/alias: quiet-otter}}
origin: {kind: Warehouse, name: app}
images: [{repoURL: 127.0.0.1:9/app, tag: 1.5.0, digest: "sha256:15"}]
"#;

/// A Stage taking Freight straight from the Warehouse (its one step only fails).
pub fn stage(name: &str) -> String {
    format!(
        "---\nkind: Stage\nmetadata: {{name: {name}, namespace: my-web-app}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: fail\n        config: {{message: \"no real work in this test\"}}\n"
    )
}

/// `kargo grant -p my-web-app --role developer --verb V... --resource-type
/// R [--resource-name N]`.
pub fn grant_developer(s: &ServerProc, verbs: &[&str], resource: &str, name: Option<&str>) {
    let mut args = vec!["grant", "-p", "my-web-app", "--role", "developer"];
    for v in verbs {
        args.extend(["--verb", v]);
    }
    args.extend(["--resource-type", resource]);
    if let Some(n) = name {
        args.extend(["--resource-name", n]);
    }
    ok(&s.kargo(&args));
}

/// Runs git in `dir` (with an identity), failing the test on error; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare repository `<home>/<name>.git` on branch main, and a work tree
/// `<home>/<name>` whose `origin` is it (`file://`).
pub fn bare_repo(home: &Path, name: &str) -> (PathBuf, PathBuf) {
    let bare = home.join(format!("{name}.git"));
    let work = home.join(name);
    git(
        home,
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git(home, &["init", "-q", "-b", "main", work.to_str().unwrap()]);
    git(
        &work,
        &[
            "remote",
            "add",
            "origin",
            &format!("file://{}", bare.display()),
        ],
    );
    (bare, work)
}

/// A release of the app in work tree `work`: `VERSION` set to `tag`,
/// committed, tagged and pushed with its tag.
pub fn tag_release(work: &Path, tag: &str) {
    std::fs::write(work.join("VERSION"), tag).unwrap();
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", &format!("release {tag}")]);
    git(work, &["tag", tag]);
    git(work, &["push", "-q", "origin", "main", "--tags"]);
}

/// The Promotion that `kargo promote` printed it created.
pub fn promotion_name(out: &str) -> String {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix("promotion.kargo.akuity.io/"))
        .unwrap_or_else(|| panic!("no Promotion named in {out}"))
        .to_string()
}

/// Polls `f` every 100 ms until it holds, failing the test after `secs`.
pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn fails(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "command unexpectedly succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a following command (`kubectl logs -f`) until its output holds
/// every one of `expect` (or 30 s pass), then stops it; returns the output.
pub fn follow_until(mut cmd: Command, expect: &[&str]) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut out = String::new();
    while !expect.iter().all(|e| out.contains(e)) && std::time::Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    out
}
