//! A real Prometheus (Debian's `/usr/bin/prometheus`) for the CLI tests:
//! started on a loopback port with the scrape configs a test gives,
//! scraping every second, stopped on drop. A missing binary fails the test.

use super::wait_for;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET on loopback: status and body.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Prometheus {
    /// Starts Prometheus with `scrape_configs` (YAML list items, indented
    /// two spaces), scraping every second. Returns at once: see
    /// [`Prometheus::wait_for`].
    pub fn start(scrape_configs: &str) -> Prometheus {
        let bin = "/usr/bin/prometheus";
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: apt-get install -y prometheus (scripts/test.sh does it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{scrape_configs}"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// Starts Prometheus scraping one plain-HTTP `target` URL.
    pub fn scraping(target: &str) -> Prometheus {
        let (host, path) = target
            .strip_prefix("http://")
            .and_then(|t| t.split_once('/'))
            .expect("target URL");
        Self::start(&format!(
            "  - job_name: target\n    metrics_path: /{path}\n    static_configs:\n      - targets: ['{host}']\n"
        ))
    }

    /// The result vector of an instant query (empty when it has no data).
    pub fn query(&self, q: &str) -> Vec<Value> {
        let url = format!("{}/api/v1/query?query={}", self.url, percent_encode(q));
        http_get(&url)
            .filter(|(code, _)| *code == 200)
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits until `q` returns data.
    pub fn wait_for(&self, q: &str, secs: u64) {
        wait_for(&format!("Prometheus to answer {q}"), secs, || {
            !self.query(q).is_empty()
        });
    }
}
