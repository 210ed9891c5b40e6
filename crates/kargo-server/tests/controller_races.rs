//! Races the controllers' shared caches could cause, closed by
//! construction: two reconciles of one Stage — in two processes, or in one
//! on a cache that lacks its own last Promotion — create exactly one
//! auto-promotion; two queued Promotions of one Stage never both start.
//! Freight status writes that meet are coalesced yet all land, in order;
//! a Freight's leaving write lost with a stopped process is written by
//! the Stage's next reconcile. The caches are fed by hand (the watches are not running), the API is
//! the real one.

mod common;

use common::{ApiOnlyServer, create_project};
use kargo_api::{Freight, ProjectConfig, Promotion, Stage, Warehouse};
use kargo_controller::informers::Caches;
use kargo_controller::{promotion, stage};
use kargo_server::Server;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;
use serde_json::json;
use std::sync::Arc;

/// An API-only server with the Project `p`, its Warehouse `w`, the
/// auto-promoting Stage `s` and their ProjectConfig, and an in-process
/// client.
struct Harness {
    _server: Server,
    client: kube::Client,
    dir: tempfile::TempDir,
}

fn create<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn start() -> Harness {
    let api = ApiOnlyServer::start().await;
    let client = api.in_process_client();
    create_project(&client, "p").await;
    let w: Warehouse = create(json!({
        "metadata": {"name": "w", "namespace": "p"},
        "spec": {"subscriptions": [{"image": {"repoURL": "127.0.0.1:9/app"}}]}
    }));
    Api::<Warehouse>::namespaced(client.clone(), "p")
        .create(&PostParams::default(), &w)
        .await
        .unwrap();
    let s: Stage = create(json!({
        "metadata": {"name": "s", "namespace": "p"},
        "spec": {
            "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}],
            "promotionTemplate": {"spec": {"steps": [{"uses": "http", "config": {"url": "http://127.0.0.1:9/"}}]}}
        }
    }));
    Api::<Stage>::namespaced(client.clone(), "p")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let pc: ProjectConfig = create(json!({
        "metadata": {"name": "p", "namespace": "p"},
        "spec": {"promotionPolicies": [{"stage": "s", "autoPromotionEnabled": true}]}
    }));
    Api::<ProjectConfig>::namespaced(client.clone(), "p")
        .create(&PostParams::default(), &pc)
        .await
        .unwrap();
    Harness {
        _server: api.server,
        client,
        dir: api.dir,
    }
}

async fn new_freight(client: &kube::Client, tag: &str) -> Freight {
    let f: Freight = serde_json::from_value(json!({
        "metadata": {"namespace": "p"}, "origin": {"kind": "Warehouse", "name": "w"},
        "images": [{"repoURL": "127.0.0.1:9/app", "tag": tag, "digest": format!("sha256:{tag}")}]
    }))
    .unwrap();
    Api::<Freight>::namespaced(client.clone(), "p")
        .create(&PostParams::default(), &f)
        .await
        .unwrap()
}

/// Fills a store (and the index) with what the API holds now, as a
/// watch's initial list does.
async fn fill<K>(client: &kube::Client, w: &mut Writer<K>, on: impl Fn(&Event<K>))
where
    K: kargo_controller::informers::Cached
        + kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let items = Api::<K>::namespaced(client.clone(), "p")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let events = std::iter::once(Event::Init)
        .chain(items.into_iter().map(Event::InitApply))
        .chain(std::iter::once(Event::InitDone));
    for ev in events {
        w.apply_watcher_event(&ev);
        on(&ev);
    }
}

/// Caches as a fresh process would have them now.
async fn caches(client: &kube::Client) -> (Arc<Caches>, kargo_controller::informers::Writers) {
    let (c, mut w, _triggers) = Caches::new();
    fill(client, &mut w.stages, |e| c.on_stage(e)).await;
    fill(client, &mut w.freight, |e| c.on_freight(e)).await;
    fill(client, &mut w.promotions, |e| c.on_promotion(e)).await;
    fill(client, &mut w.project_configs, |e| c.on_project_config(e)).await;
    fill(client, &mut w.warehouses, |e| c.on_warehouse(e)).await;
    fill(client, &mut w.analysis_runs, |e| c.on_analysis_run(e)).await;
    (c, w)
}

async fn promotions(client: &kube::Client) -> Vec<Promotion> {
    Api::<Promotion>::namespaced(client.clone(), "p")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

fn cached_stage(c: &Caches) -> Arc<Stage> {
    c.stages.get(&ObjectRef::new("s").within("p")).unwrap()
}

/// Ok, or a write conflict on the Stage's status (the other reconcile
/// wrote first); anything else fails the test.
fn ok_or_conflict(r: Result<kargo_controller::work_queue::Action, stage::Error>) {
    match r {
        Ok(_) => {}
        Err(stage::Error::Kube(kube::Error::Api(s))) if s.code == 409 => {}
        Err(e) => panic!("reconcile failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_auto_promote_the_same_freight_once() {
    let h = start().await;
    let f = new_freight(&h.client, "1.0.0").await;
    let (c1, _w1) = caches(&h.client).await;
    let (c2, _w2) = caches(&h.client).await;
    let ctx1 = Arc::new(stage::Context::new(h.client.clone(), c1.clone()));
    let ctx2 = Arc::new(stage::Context::new(h.client.clone(), c2.clone()));
    let (a, b) = tokio::join!(
        stage::reconcile(cached_stage(&c1), ctx1),
        stage::reconcile(cached_stage(&c2), ctx2)
    );
    ok_or_conflict(a);
    ok_or_conflict(b);
    let ps = promotions(&h.client).await;
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].spec.freight, f.metadata.name.clone().unwrap());
    let name = ps[0].metadata.name.clone().unwrap();
    let parts: Vec<&str> = name.split('.').collect();
    assert_eq!(
        parts.len(),
        3,
        "Kargo's <stage>.<ulid>.<freight[:7]>: {name}"
    );
    assert_eq!(parts[0], "s");
    assert_eq!(parts[1].len(), 26);
    assert_eq!(parts[2], &f.metadata.name.unwrap()[..7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_promotion_cache_never_starts_a_second_auto_promotion() {
    let h = start().await;
    new_freight(&h.client, "1.0.0").await;
    let (c, mut w) = caches(&h.client).await;
    let ctx = Arc::new(stage::Context::new(h.client.clone(), c.clone()));
    ok_or_conflict(stage::reconcile(cached_stage(&c), ctx.clone()).await);
    assert_eq!(promotions(&h.client).await.len(), 1);
    // Newer Freight reaches the cache; the Promotion just created has not.
    let f2 = new_freight(&h.client, "2.0.0").await;
    let ev = Event::Apply(f2.clone());
    w.freight.apply_watcher_event(&ev);
    c.on_freight(&ev);
    ok_or_conflict(stage::reconcile(cached_stage(&c), ctx.clone()).await);
    let ps = promotions(&h.client).await;
    assert_eq!(ps.len(), 1, "busy with its first auto-promotion: {ps:?}");
    // The first one ends; the cache learns it: the newer Freight goes next.
    let api = Api::<Promotion>::namespaced(h.client.clone(), "p");
    let p1 = api
        .patch_status(
            &ps[0].metadata.name.clone().unwrap(),
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Succeeded", "finishedAt": "2026-01-01T00:00:00Z"}}),
            ),
        )
        .await
        .unwrap();
    let ev = Event::Apply(p1);
    w.promotions.apply_watcher_event(&ev);
    c.on_promotion(&ev);
    ok_or_conflict(stage::reconcile(cached_stage(&c), ctx.clone()).await);
    let ps = promotions(&h.client).await;
    assert_eq!(ps.len(), 2, "{ps:?}");
    assert!(
        ps.iter()
            .any(|p| p.spec.freight == f2.metadata.name.clone().unwrap()),
        "{ps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_queued_promotions_never_start_together() {
    let h = start().await;
    let f = new_freight(&h.client, "1.0.0").await;
    let api = Api::<Promotion>::namespaced(h.client.clone(), "p");
    let mk = |n: &str| -> Promotion {
        serde_json::from_value(json!({
            "metadata": {"name": n, "namespace": "p"},
            "spec": {"stage": "s", "freight": f.metadata.name.clone().unwrap()}
        }))
        .unwrap()
    };
    api.create(&PostParams::default(), &mk("s.a"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &mk("s.b"))
        .await
        .unwrap();
    let (c, _w) = caches(&h.client).await;
    let ctx = Arc::new(promotion::Context::new(
        h.client.clone(),
        h.dir.path().join("work"),
        c.clone(),
    ));
    let get = |n: &str| c.promotions.get(&ObjectRef::new(n).within("p")).unwrap();
    let (a, b) = tokio::join!(
        promotion::reconcile(get("s.a"), ctx.clone()),
        promotion::reconcile(get("s.b"), ctx.clone())
    );
    a.unwrap();
    b.unwrap();
    let phase = |p: &Promotion| p.status.as_ref().and_then(|s| s.phase).unwrap_or_default();
    let ps = promotions(&h.client).await;
    let pending: Vec<&str> = ps
        .iter()
        .filter(|p| phase(p) == kargo_api::promotion::PromotionPhase::Pending)
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    assert_eq!(pending, vec!["s.b"], "the younger one waits: {ps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reconciles_seeing_a_verification_fail_record_one_event() {
    let h = start().await;
    let f = new_freight(&h.client, "1.0.0").await;
    let fname = f.metadata.name.clone().unwrap();
    let ar: kargo_api::AnalysisRun = create(json!({
        "metadata": {"name": "run1", "namespace": "p", "labels": {"kargo.akuity.io/stage": "s"}},
        "spec": {"metrics": [{"name": "m", "provider": {"web": {"url": "http://127.0.0.1:9/"}}}]}
    }));
    let runs = Api::<kargo_api::AnalysisRun>::namespaced(h.client.clone(), "p");
    runs.create(&PostParams::default(), &ar).await.unwrap();
    runs.patch_status(
        "run1",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"status": {"phase": "Failed", "message": "metric \"m\" assessed Failed"}}),
        ),
    )
    .await
    .unwrap();
    // The Stage follows a running verification of its current Freight.
    Api::<Stage>::namespaced(h.client.clone(), "p")
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"freightHistory": [{
                "id": "c1",
                "items": {"Warehouse/w": {"name": fname, "origin": {"kind": "Warehouse", "name": "w"}}},
                "verificationHistory": [{"id": "v1", "phase": "Running", "startTime": "2026-01-01T00:00:00Z",
                    "analysisRun": {"name": "run1", "namespace": "p"}}]
            }]}})),
        )
        .await
        .unwrap();
    // Both reconciles start from the same Stage (the second one's cache
    // has not seen the first one's status write): both see the run end.
    let (c, _w) = caches(&h.client).await;
    let ctx = Arc::new(stage::Context::new(h.client.clone(), c.clone()));
    let stale = cached_stage(&c);
    ok_or_conflict(stage::reconcile(stale.clone(), ctx.clone()).await);
    ok_or_conflict(stage::reconcile(stale, ctx).await);
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(h.client.clone(), "p")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FreightVerificationFailed"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let e = failed[0];
    assert_eq!(e.involved_object.name.as_deref(), Some(fname.as_str()));
    let a = e.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(a["event.kargo.akuity.io/analysis-run-name"], "run1");
    assert_eq!(a["event.kargo.akuity.io/stage-name"], "s");
}

fn freight_api(client: &kube::Client) -> Api<Freight> {
    Api::namespaced(client.clone(), "p")
}

/// The global resourceVersion after the last write (the API-only server
/// runs no controllers: only the test writes).
async fn rv_of(api: &Api<Freight>, name: &str) -> u64 {
    let f = api.get(name).await.unwrap();
    f.metadata.resource_version.unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freight_writes_that_meet_go_as_one_and_all_land_in_order() {
    use kargo_controller::freight_writes::FreightWrites;
    let h = start().await;
    let api = freight_api(&h.client);
    let f = new_freight(&h.client, "1.0.0").await;
    let name = f.metadata.name.clone().unwrap();
    let writes = FreightWrites::default();
    const N: usize = 30;
    // N Stages take the Freight at once, each waiting for its write.
    let before = rv_of(&api, &name).await;
    let arrivals = (0..N).map(|i| {
        writes.merge_status(
            &api,
            &name,
            json!({"status": {"currentlyIn": {format!("s{i}"): {"since": "2026-01-01T00:00:00Z"}}}}),
        )
    });
    for r in futures::future::join_all(arrivals).await {
        r.unwrap();
    }
    let stored = api.get(&name).await.unwrap().status.unwrap();
    assert_eq!(stored.currently_in.len(), N, "every arrival is stored");
    let written = rv_of(&api, &name).await - before;
    assert!(
        (1..N as u64).contains(&written),
        "{N} arrivals that met took {written} writes"
    );
    // They all leave: nothing waits, the writes linger and go as one.
    let before = rv_of(&api, &name).await;
    for i in 0..N {
        writes.merge_status_soon(
            &api,
            &name,
            json!({"status": {"currentlyIn": {format!("s{i}"): null}}}),
        );
    }
    assert!(writes.pending("p", &name));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while writes.pending("p", &name) {
        assert!(
            std::time::Instant::now() < deadline,
            "the leaving writes never went"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let stored = api.get(&name).await.unwrap().status.unwrap();
    assert!(stored.currently_in.is_empty(), "{:?}", stored.currently_in);
    assert_eq!(
        rv_of(&api, &name).await - before,
        1,
        "{N} leaving writes, one write"
    );
    // A Stage leaves and comes back: the removal cannot merge with the
    // return, goes first, and the return (waited for) does not linger.
    writes.merge_status_soon(
        &api,
        &name,
        json!({"status": {"currentlyIn": {"s0": null}}}),
    );
    writes
        .merge_status(
            &api,
            &name,
            json!({"status": {"currentlyIn": {"s0": {"since": "2026-02-02T00:00:00Z"}}}}),
        )
        .await
        .unwrap();
    let stored = api.get(&name).await.unwrap().status.unwrap();
    assert_eq!(
        stored.currently_in["s0"].since.as_deref(),
        Some("2026-02-02T00:00:00Z")
    );
    // A write the API refuses reaches its caller.
    let gone = writes
        .merge_status(
            &api,
            "no-such-freight",
            json!({"status": {"currentlyIn": {}}}),
        )
        .await;
    assert!(
        matches!(&gone, Err(kube::Error::Api(s)) if s.code == 404),
        "{gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_leaving_write_is_repaired_by_the_next_reconcile() {
    let h = start().await;
    let api = freight_api(&h.client);
    let old = new_freight(&h.client, "1.0.0").await.metadata.name.unwrap();
    let new = new_freight(&h.client, "2.0.0").await.metadata.name.unwrap();
    let set = |since: &str| {
        Patch::Merge(json!({"status": {
            "currentlyIn": {"s": {"since": since}},
            "verifiedIn": {"s": {"verifiedAt": since}},
        }}))
    };
    // The Stage moved from `old` to `new` 90 s after `old` arrived; the
    // process stopped before `old`'s leaving write went out.
    let pp = PatchParams::default();
    api.patch_status(&old, &pp, &set("2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    api.patch_status(&new, &pp, &set("2026-01-01T00:01:30Z"))
        .await
        .unwrap();
    Api::<Stage>::namespaced(h.client.clone(), "p")
        .patch_status(
            "s",
            &pp,
            &Patch::Merge(json!({"status": {"freightHistory": [{"items": {
                "Warehouse/w": {"name": new, "origin": {"kind": "Warehouse", "name": "w"}}
            }}]}})),
        )
        .await
        .unwrap();
    let (c, _w) = caches(&h.client).await;
    let ctx = Arc::new(stage::Context::new(h.client.clone(), c.clone()));
    ok_or_conflict(stage::reconcile(cached_stage(&c), ctx).await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let repaired = loop {
        let st = api.get(&old).await.unwrap().status.unwrap();
        if !st.currently_in.contains_key("s") {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old Freight still says it is in the Stage"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        repaired.verified_in["s"].longest_soak.as_deref(),
        Some("90s"),
        "its soak ends when the new Freight arrived"
    );
    let st = api.get(&new).await.unwrap().status.unwrap();
    assert!(
        st.currently_in.contains_key("s"),
        "the current Freight stays"
    );
}
