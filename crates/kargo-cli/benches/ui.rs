//! The web UI at the scale Kargo's users complain about (#1891, #4379,
//! #5133): a project of 100 Stages (ten parallel chains of ten from one
//! Warehouse) and 1,000 Freight on a real `kargo server` (controllers off,
//! so nothing moves but what the benchmark writes). `benches/ui_bench.mjs`
//! drives Debian's Chromium through playwright-core and reports medians:
//! the server's time to answer the project page (HTML complete; also its
//! Statistics view, the delivery statistics of all 100 Stages), Chromium's
//! first contentful paint of it, and the time from an API write (a
//! Freight's alias) to the changed card in the open page's DOM over SSE.
//! Targets: < 50 ms, < 500 ms, < 200 ms. Run with `scripts/bench.sh`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::browser::{chromium, playwright_core};
use common::{ServerProc, ok};
use std::path::PathBuf;
use std::process::Command;

const NS: &str = "p";

fn pipeline() -> String {
    let mut out = format!(
        "{}---\nkind: Warehouse\nmetadata: {{name: w, namespace: {NS}}}\nspec:\n  interval: 24h\n  subscriptions:\n  - image: {{repoURL: 127.0.0.1:9/app}}\n",
        common::chain::project(NS)
    );
    for c in 0..10 {
        for k in 0..10 {
            let sources = if k == 0 {
                "{direct: true}".to_string()
            } else {
                format!("{{stages: [c{c}-s{}]}}", k - 1)
            };
            out.push_str(&format!(
                "---\nkind: Stage\nmetadata: {{name: c{c}-s{k}, namespace: {NS}}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: w}}\n    sources: {sources}\n"
            ));
        }
    }
    out
}

fn main() {
    chromium();
    let pw = playwright_core();
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&pipeline())));
    let freight: String = (0..1000).map(|i| common::chain::freight(NS, i)).collect();
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&freight)));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/ui_bench.mjs");
    let out = Command::new("timeout")
        .args(["600", "node"])
        .arg(&script)
        .env("PLAYWRIGHT_CORE", &pw)
        .env("KARGO_URL", &s.url)
        .env("KARGO_TOKEN", s.token())
        .env("KARGO_NS", NS)
        .output()
        .expect("node 20");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
