//! What "Freight waits too long" costs a Stage reconcile: one Stage that
//! takes Freight from a Warehouse with 10,000 Freight, reconciled over
//! caches filled as a watch's first list fills them, with and without a
//! ProjectConfig `freightWaitingThreshold`. With it the reconcile asks to
//! run again when the threshold passes (not at the 300 s safety
//! interval), records nothing before then, and costs about what it did
//! without (both timings are printed).

mod common;

use common::{ApiOnlyServer, kargo_kind};
use kargo_api::{Freight, ProjectConfig, Stage};
use kargo_controller::informers::Caches;
use kargo_controller::stage;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FREIGHT: usize = 10_000;
const ROUNDS: u32 = 200;

/// A watch's first list of `items`.
fn all<K>(items: Vec<K>) -> Vec<Event<K>> {
    std::iter::once(Event::Init)
        .chain(items.into_iter().map(Event::InitApply))
        .chain(std::iter::once(Event::InitDone))
        .collect()
}

/// Caches as a fresh process fills them from what the API holds now.
async fn caches(client: &kube::Client) -> (Arc<Caches>, kargo_controller::informers::Writers) {
    let (c, mut w, _triggers) = Caches::new();
    let lp = ListParams::default();
    let stages = Api::<Stage>::namespaced(client.clone(), "p")
        .list(&lp)
        .await
        .unwrap();
    for ev in all(stages.items) {
        w.stages.apply_watcher_event(&ev);
        c.on_stage(&ev);
    }
    let freight = Api::<Freight>::namespaced(client.clone(), "p")
        .list(&lp)
        .await
        .unwrap();
    for ev in all(freight.items) {
        w.freight.apply_watcher_event(&ev);
        c.on_freight(&ev);
    }
    let configs = Api::<ProjectConfig>::namespaced(client.clone(), "p")
        .list(&lp)
        .await
        .unwrap();
    for ev in all(configs.items) {
        w.project_configs.apply_watcher_event(&ev);
        c.on_project_config(&ev);
    }
    (c, w)
}

/// Seconds until the reconcile asked to run again.
fn requeue_secs(a: &kargo_controller::work_queue::Action) -> f64 {
    a.requeue_after()
        .expect("the reconcile asks to run again")
        .as_secs_f64()
}

async fn rounds(client: &kube::Client) -> (Duration, f64) {
    let (c, _writers) = caches(client).await;
    let ctx = Arc::new(stage::Context::new(client.clone(), c.clone()).with_argocd(None));
    let s = || c.stages.get(&ObjectRef::new("s").within("p")).unwrap();
    let started = Instant::now();
    let mut requeue = 0.0;
    for _ in 0..ROUNDS {
        requeue = requeue_secs(&stage::reconcile(s(), ctx.clone()).await.unwrap());
    }
    (started.elapsed() / ROUNDS, requeue)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_checks_cost_a_reconcile_nothing_and_requeue_at_the_threshold() {
    let api = ApiOnlyServer::start().await;
    let store = api.server.store.clone();
    store
        .create(
            kargo_kind("Project"),
            "",
            json!({"metadata": {"name": "p"}}),
        )
        .unwrap();
    store
        .create(
            kargo_kind("Warehouse"),
            "p",
            json!({"metadata": {"name": "w"},
                "spec": {"subscriptions": [{"image": {"repoURL": "127.0.0.1:9/app"}}]}}),
        )
        .unwrap();
    store
        .create(
            kargo_kind("Stage"),
            "p",
            json!({"metadata": {"name": "s"}, "spec": {
                "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}],
                "promotionTemplate": {"spec": {"steps": [{"uses": "http", "config": {"url": "http://127.0.0.1:9/"}}]}}}}),
        )
        .unwrap();
    store
        .create(
            kargo_kind("ProjectConfig"),
            "p",
            json!({"metadata": {"name": "p"}, "spec": {}}),
        )
        .unwrap();
    for i in 0..FREIGHT {
        store
            .create(
                kargo_kind("Freight"),
                "p",
                json!({"metadata": {"name": format!("f{i:05}")},
                    "origin": {"kind": "Warehouse", "name": "w"},
                    "images": [{"repoURL": "127.0.0.1:9/app", "tag": format!("v{i}")}]}),
            )
            .unwrap();
    }
    let client = api.in_process_client();
    // A first reconcile writes the Stage's status; the measured ones (on
    // caches filled after it) find nothing new.
    {
        let (c, _writers) = caches(&client).await;
        let s = c.stages.get(&ObjectRef::new("s").within("p")).unwrap();
        let ctx = Arc::new(stage::Context::new(client.clone(), c.clone()).with_argocd(None));
        stage::reconcile(s, ctx).await.unwrap();
    }

    let (off, requeue_off) = rounds(&client).await;
    Api::<ProjectConfig>::namespaced(client.clone(), "p")
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"freightWaitingThreshold": "60s"}})),
        )
        .await
        .unwrap();
    let (on, requeue_on) = rounds(&client).await;
    eprintln!(
        "1 Stage x {FREIGHT} Freight, {ROUNDS} reconciles each: {off:?}/reconcile without a threshold, {on:?} with one"
    );
    assert!(requeue_off > 250.0, "the safety interval: {requeue_off}");
    // Less the time the rounds took since the Freight was created.
    assert!(
        requeue_on > 5.0 && requeue_on <= 60.5,
        "requeued when the threshold passes: {requeue_on}"
    );
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "p")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert!(
        events
            .iter()
            .all(|e| e.reason.as_deref() != Some("FreightWaiting")),
        "nothing before the threshold"
    );
    api.server.shutdown();
}
