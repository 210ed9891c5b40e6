//! Table responses (`kubectl get freight`) of 1,000 and 10,000 rows
//! through the API router, alternating with the same list as plain JSON
//! (stored text spliced into the response: the floor under any list).
//! Run with `scripts/bench.sh`.

#[path = "../../../benches/support.rs"]
mod stats;

use axum::body::Body;
use http::Request;
use kargo_api::registry::lookup_kind;
use kargo_store::Store;
use serde_json::json;
use std::time::Instant;
use tower::ServiceExt;

const RUNS: usize = 11;
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

fn freight(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight",
        "metadata": {"name": format!("{:040x}", i), "namespace": "bench",
                     "labels": {"kargo.akuity.io/alias": format!("jolly-penguin-{i}")}},
        "alias": format!("jolly-penguin-{i}"),
        "origin": {"kind": "Warehouse", "name": "app"},
        "images": [{"repoURL": "ghcr.io/example/my-web-app", "tag": format!("1.{}.{}", i / 100, i % 100),
                    "digest": format!("sha256:{:064x}", i)}],
        "commits": [{"repoURL": "https://github.com/example/app.git", "id": format!("{:040x}", i), "message": "release"}],
        "status": {"verifiedIn": {"dev": {"verifiedAt": "2026-01-01T00:00:00Z"}, "staging": {}},
                   "approvedFor": {"prod": {}}}
    })
}

/// Milliseconds to answer `GET /apis/.../freights` with `accept`, and the body size.
fn get(rt: &tokio::runtime::Runtime, router: &axum::Router, accept: &str) -> (f64, usize) {
    rt.block_on(async {
        let t = Instant::now();
        let res = router
            .clone()
            .oneshot(
                Request::get("/apis/kargo.akuity.io/v1alpha1/namespaces/bench/freights")
                    .header("accept", accept)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert!(res.status().is_success(), "{}", res.status());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        (t.elapsed().as_secs_f64() * 1e3, body.len())
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("kargo.db")).expect("store");
    let info = lookup_kind("kargo.akuity.io/v1alpha1", "Freight").expect("Freight");
    let ns = lookup_kind("v1", "Namespace").expect("Namespace");
    store
        .create(
            ns,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
        )
        .expect("namespace");
    let router = kargo_apiserver::router(store.clone());
    stats::header(&format!(
        "Table responses, Freight (ms, {RUNS} runs each; baseline: the same list as JSON)"
    ));
    let mut have = 0;
    for n in [1_000, 10_000] {
        for i in have..n {
            store.create(info, "bench", freight(i)).expect("create");
        }
        have = n;
        let (_, size) = get(&rt, &router, TABLE);
        let (k, b) = stats::alternate(
            RUNS,
            || get(&rt, &router, TABLE).0,
            || get(&rt, &router, "application/json").0,
        );
        stats::row(
            &format!("{n} rows ({} KB)", size / 1024),
            &k,
            &b,
            "(JSON list)",
            if n == 10_000 { "< 150 ms" } else { "" },
        );
    }
}
