//! Auto-promoting pipelines for scale tests and benchmarks: a chain or a
//! fan-out of Stages whose one step is an `http` call to a local listener
//! that always answers 200, Freight created in bulk through the API, and
//! the controllers' counters read from `/metrics`. Shared by
//! `tests/scale.rs` and `benches/scale.rs`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

/// Starts a loopback HTTP listener answering every request with 200;
/// returns its `host:port`.
pub fn ok_listener() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"ok\"}");
        }
    });
    addr
}

/// How the Stages hang together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// s0 <- s1 <- ... : each Stage takes Freight verified in the previous one.
    Chain,
    /// s0 <- s1, s0 <- s2, ... : every other Stage takes it from s0.
    FanOut,
}

impl Shape {
    /// The indexes of the Stages that end a run: the last of a chain,
    /// every leaf of a fan-out.
    pub fn leaves(self, n: usize) -> std::ops::Range<usize> {
        match self {
            Shape::Chain => n - 1..n,
            Shape::FanOut => 1..n,
        }
    }
}

/// The Project `ns`.
pub fn project(ns: &str) -> String {
    format!("kind: Project\nmetadata: {{name: {ns}}}\n")
}

/// Auto-promotion for every Stage of `ns`.
pub fn auto_promotion(ns: &str) -> String {
    format!(
        "kind: ProjectConfig\nmetadata: {{name: {ns}, namespace: {ns}}}\nspec:\n  promotionPolicies:\n  - stageSelector: {{name: \"glob:*\"}}\n    autoPromotionEnabled: true\n"
    )
}

/// A Warehouse `w` (its source never answers: Freight comes through the
/// API) and `n` Stages `s0..` shaped as `shape`, each with one `http`
/// step to `target`.
pub fn stages(ns: &str, n: usize, shape: Shape, target: &str) -> String {
    let mut out = format!(
        "kind: Warehouse\nmetadata: {{name: w, namespace: {ns}}}\nspec:\n  interval: 24h\n  subscriptions:\n  - image: {{repoURL: 127.0.0.1:9/app}}\n"
    );
    for i in 0..n {
        let sources = match (i, shape) {
            (0, _) => "{direct: true}".to_string(),
            (_, Shape::Chain) => format!("{{stages: [s{}]}}", i - 1),
            (_, Shape::FanOut) => "{stages: [s0]}".to_string(),
        };
        out.push_str(&format!(
            "---\nkind: Stage\nmetadata: {{name: s{i}, namespace: {ns}}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: w}}\n    sources: {sources}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: http\n        config: {{url: \"http://{target}/s{i}\"}}\n"
        ));
    }
    out
}

/// All of it: Project, auto-promotion, Warehouse and Stages.
pub fn pipeline(ns: &str, n: usize, shape: Shape, target: &str) -> String {
    format!(
        "{}---\n{}---\n{}",
        project(ns),
        auto_promotion(ns),
        stages(ns, n, shape, target)
    )
}

/// Freight number `i` of Warehouse `w` (named by the server from its content).
pub fn freight(ns: &str, i: usize) -> String {
    format!(
        "---\nkind: Freight\nmetadata: {{namespace: {ns}, labels: {{kargo.akuity.io/alias: f-{i}}}}}\norigin: {{kind: Warehouse, name: w}}\nimages: [{{repoURL: 127.0.0.1:9/app, tag: \"1.0.{i}\", digest: \"sha256:{i:064}\"}}]\n"
    )
}

/// Counter samples of `/metrics` text: `name{labels}` -> value.
pub fn counters(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The controllers' LIST requests of `resource` so far.
pub fn lists(c: &BTreeMap<String, f64>, resource: &str) -> f64 {
    all_lists(c).get(resource).copied().unwrap_or(0.0)
}

/// The controllers' LISTs so far, by resource.
pub fn all_lists(c: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    c.iter()
        .filter_map(|(k, v)| {
            let labels = k.strip_prefix("kargo_controller_api_requests_total{")?;
            let resource = labels
                .strip_prefix("verb=\"list\",resource=\"")?
                .strip_suffix("\"}")?;
            Some((resource.to_string(), *v))
        })
        .collect()
}

/// All the controllers' requests so far.
pub fn requests(c: &BTreeMap<String, f64>) -> f64 {
    c.iter()
        .filter(|(k, _)| k.starts_with("kargo_controller_api_requests_total{"))
        .map(|(_, v)| v)
        .sum()
}

/// Stage reconciles so far.
pub fn stage_reconciles(c: &BTreeMap<String, f64>) -> f64 {
    c.get("kargo_controller_reconciles_total{controller=\"stage\"}")
        .copied()
        .unwrap_or(0.0)
}
