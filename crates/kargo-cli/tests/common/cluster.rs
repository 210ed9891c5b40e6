//! Cluster mode in tests: `kargo controller` as a separate process
//! against a `kargo server --disable-controllers` (over TCP and TLS, with
//! the kubeconfig the server wrote), and a stand-in for Kubernetes' Job
//! controller that runs each Job's command on this host and writes the
//! Job's conditions as the real one would.

use super::{KARGO, ServerProc};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A running `kargo controller`.
pub struct ControllerProc {
    pub child: Child,
    /// Its identity in the leader Lease.
    pub identity: String,
    /// `http://ADDR` of `/healthz` and `/readyz`.
    pub probes: String,
    /// `http://ADDR/metrics`.
    pub metrics: String,
    /// Its work directory (git mirrors, Promotion work trees).
    pub dir: PathBuf,
}

impl Drop for ControllerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ControllerProc {
    /// `kargo controller --kubeconfig <server's> --work-dir DIR EXTRA...`,
    /// probes and metrics on ephemeral loopback ports; its log (info) in
    /// `DIR.log`.
    pub fn start(server: &ServerProc, dir: &Path, extra: &[&str]) -> ControllerProc {
        let mut cmd = Command::new(KARGO);
        cmd.arg("controller")
            .arg("--kubeconfig")
            .arg(server.kubeconfig());
        Self::spawn(cmd, server, dir, extra)
    }

    /// As in a pod: no `--kubeconfig`; the API server from
    /// `KUBERNETES_SERVICE_HOST`/`_PORT` (the server's address) and the
    /// service account's `token`, `ca.crt` and `namespace` in `sa_dir`
    /// (`KARGO_SERVICE_ACCOUNT_DIR`, standing for
    /// `/var/run/secrets/kubernetes.io/serviceaccount`).
    pub fn start_in_cluster(
        server: &ServerProc,
        dir: &Path,
        sa_dir: &Path,
        extra: &[&str],
    ) -> ControllerProc {
        let (host, port) = server
            .url
            .trim_start_matches("https://")
            .rsplit_once(':')
            .expect("host:port");
        let mut cmd = Command::new(KARGO);
        cmd.arg("controller")
            .env("KUBERNETES_SERVICE_HOST", host)
            .env("KUBERNETES_SERVICE_PORT", port)
            .env("KARGO_SERVICE_ACCOUNT_DIR", sa_dir);
        Self::spawn(cmd, server, dir, extra)
    }

    fn spawn(mut cmd: Command, server: &ServerProc, dir: &Path, extra: &[&str]) -> ControllerProc {
        std::fs::create_dir_all(dir).unwrap();
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let mut child = cmd
            .arg("--work-dir")
            .arg(dir)
            .args([
                "--allow-file-repos",
                "--health-probe-bind-address",
                "127.0.0.1:0",
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--min-warehouse-interval",
                "1s",
            ])
            .args(extra)
            .env_remove("KUBECONFIG")
            .env("HOME", &server.home)
            .env("KARGO_LOG", "info,kube_client=off,kube_runtime=warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn kargo controller");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let word_after = |key: &str| {
            line.split(key)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or_else(|| panic!("no {key:?} in {line:?}"))
                .trim_end_matches([';', ')'])
                .to_string()
        };
        let identity = word_after("started as ");
        let probes = word_after("probes at ")
            .trim_end_matches("/healthz")
            .to_string();
        let metrics = word_after("metrics at ");
        ControllerProc {
            child,
            identity,
            probes,
            metrics,
            dir: dir.to_path_buf(),
        }
    }

    /// `GET url` over plain HTTP: (status, body).
    pub fn http_get(url: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").expect("http URL");
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut s = std::net::TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let code = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        (code, body.to_string())
    }

    /// The value of a sample line starting with `prefix` in `/metrics`.
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        let (_, body) = Self::http_get(&self.metrics);
        body.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}

/// A stand-in for Kubernetes' Job controller: every 200 ms it lists Jobs,
/// runs the first container's command of each new one (unless annotated
/// `test.kargo.io/hold`) and writes `status.conditions` — `Complete` when
/// it exits 0, `Failed` (reason BackoffLimitExceeded) otherwise — through
/// the status subresource. Stops when dropped.
pub struct JobController {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for JobController {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl JobController {
    pub fn start(server: &ServerProc) -> JobController {
        let stop = Arc::new(AtomicBool::new(false));
        let kubeconfig = server.kubeconfig();
        let home = server.home.clone();
        let s = stop.clone();
        let kubectl = move |args: &[&str]| {
            Command::new("kubectl")
                .args(args)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", &home)
                .env("KUBECONFIG", &kubeconfig)
                .output()
                .expect("kubectl")
        };
        let thread = std::thread::spawn(move || {
            let mut done = std::collections::BTreeSet::new();
            while !s.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(200));
                let out = kubectl(&["get", "jobs", "-A", "-o", "json"]);
                let Ok(list) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
                    continue;
                };
                for job in list["items"].as_array().into_iter().flatten() {
                    let md = &job["metadata"];
                    let key = format!("{}/{}", md["namespace"], md["uid"]);
                    if done.contains(&key)
                        || md["annotations"]["test.kargo.io/hold"].is_string()
                        || job["status"]["conditions"].is_array()
                    {
                        continue;
                    }
                    let c = &job["spec"]["template"]["spec"]["containers"][0];
                    let argv: Vec<String> = c["command"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(c["args"].as_array().into_iter().flatten())
                        .filter_map(|a| a.as_str().map(String::from))
                        .collect();
                    let passed = argv.split_first().is_some_and(|(p, rest)| {
                        Command::new(p)
                            .args(rest)
                            .status()
                            .is_ok_and(|s| s.success())
                    });
                    let (kind, reason, counts) = if passed {
                        ("Complete", "", r#""succeeded": 1"#)
                    } else {
                        ("Failed", "BackoffLimitExceeded", r#""failed": 1"#)
                    };
                    let patch = format!(
                        r#"{{"status": {{{counts}, "conditions": [{{"type": "{kind}", "status": "True", "reason": "{reason}", "message": "Job has reached the specified backoff limit"}}]}}}}"#
                    );
                    let name = md["name"].as_str().unwrap_or_default();
                    let ns = md["namespace"].as_str().unwrap_or_default();
                    let o = kubectl(&[
                        "patch",
                        "job",
                        name,
                        "-n",
                        ns,
                        "--subresource=status",
                        "--type=merge",
                        "-p",
                        &patch,
                    ]);
                    if o.status.success() {
                        done.insert(key);
                    }
                }
            }
        });
        JobController {
            stop,
            thread: Some(thread),
        }
    }
}
