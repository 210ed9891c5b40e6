//! The embedded API through kube-rs, over real HTTPS on loopback: CRUD,
//! list, watch, patch, status, conflicts, validation, auth and limits.

mod common;

use common::{ApiOnlyServer, create_project};
use futures::{StreamExt, TryStreamExt};
use kargo_api::{Freight, Project, Warehouse};
use kargo_server::{Server, ServerConfig, client::https_client};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An API-only server and its admin client over HTTPS.
struct Harness {
    server: Server,
    client: kube::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let api = ApiOnlyServer::start().await;
    let client = api.https_client();
    Harness {
        server: api.server,
        client,
        _dir: api.dir,
    }
}

fn warehouse(name: &str) -> Warehouse {
    serde_json::from_value(json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": name},
        "spec": {"subscriptions": [{"image": {"repoURL": "127.0.0.1:9/app"}}]}
    }))
    .unwrap()
}

fn api_code<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Err(kube::Error::Api(s)) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_crud_defaults_generation_and_conflicts() {
    let h = start().await;
    create_project(&h.client, "p").await;
    let api: Api<Warehouse> = Api::namespaced(h.client.clone(), "p");
    let w = api
        .create(&PostParams::default(), &warehouse("w"))
        .await
        .unwrap();
    // Defaults were applied, as Kargo's CRD defaults would.
    assert_eq!(w.spec.interval.as_deref(), Some("5m0s"));
    let img = w.spec.subscriptions[0].image.as_ref().unwrap();
    assert_eq!(img.discovery_limit, Some(20));
    assert_eq!(w.metadata.generation, Some(1));

    let got = api.get("w").await.unwrap();
    assert_eq!(got.metadata.uid, w.metadata.uid);
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    // Merge patch bumps generation; a label change does not.
    let patched = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"interval": "1m"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let labelled = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(2));

    // Replacing with a stale resourceVersion is a 409.
    let mut stale = w.clone();
    stale.spec.interval = Some("2m".into());
    assert_eq!(
        api_code(api.replace("w", &PostParams::default(), &stale).await),
        409
    );

    // The status subresource.
    let st = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"lastFreightID": "abc"}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().last_freight_id, "abc");
    // A main-resource update cannot change status.
    let cur = api.get("w").await.unwrap();
    let mut changed = cur.clone();
    changed.status = None;
    let after = api
        .replace("w", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(after.status.unwrap().last_freight_id, "abc");

    // Delete and 404.
    api.delete("w", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(api.get("w").await), 404);
    // Creating twice is a 409 AlreadyExists.
    api.create(&PostParams::default(), &warehouse("w"))
        .await
        .unwrap();
    assert_eq!(
        api_code(api.create(&PostParams::default(), &warehouse("w")).await),
        409
    );
}

#[tokio::test]
async fn json_patch_through_raw_requests() {
    let h = start().await;
    create_project(&h.client, "p").await;
    let api: Api<Warehouse> = Api::namespaced(h.client.clone(), "p");
    api.create(&PostParams::default(), &warehouse("w"))
        .await
        .unwrap();
    let req = http::Request::patch("/apis/kargo.akuity.io/v1alpha1/namespaces/p/warehouses/w")
        .header("content-type", "application/json-patch+json")
        .body(
            serde_json::to_vec(
                &json!([{"op": "replace", "path": "/spec/interval", "value": "3m"}]),
            )
            .unwrap(),
        )
        .unwrap();
    let v: Value = h.client.request(req).await.unwrap();
    assert_eq!(v["spec"]["interval"], "3m");
}

#[tokio::test]
async fn watch_sees_changes_in_order() {
    let h = start().await;
    create_project(&h.client, "p").await;
    let api: Api<Warehouse> = Api::namespaced(h.client.clone(), "p");
    let stream = watcher(api.clone(), watcher::Config::default()).applied_objects();
    let mut stream = Box::pin(stream);
    api.create(&PostParams::default(), &warehouse("a"))
        .await
        .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("a"));
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"interval": "7m"}})),
    )
    .await
    .unwrap();
    let second = tokio::time::timeout(std::time::Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.spec.interval.as_deref(), Some("7m"));
}

#[tokio::test]
async fn watch_resumes_from_a_version_and_answers_gone_when_compacted() {
    let h = start().await;
    create_project(&h.client, "p").await;
    let api: Api<Warehouse> = Api::namespaced(h.client.clone(), "p");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &warehouse("a"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &warehouse("b"))
        .await
        .unwrap();
    let wp = kube::api::WatchParams::default().timeout(2);
    let events: Vec<_> = api
        .watch(&wp, &rv)
        .await
        .unwrap()
        .take(2)
        .try_collect()
        .await
        .unwrap();
    let names: Vec<String> = events
        .iter()
        .map(|e| match e {
            kube::api::WatchEvent::Added(w) => w.metadata.name.clone().unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(names, ["a", "b"]);
    h.server.store.compact(1).unwrap();
    match api.watch(&wp, &rv).await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        Err(e) => panic!("expected 410 Gone, got {e}"),
        Ok(s) => match s.boxed().next().await {
            Some(Ok(kube::api::WatchEvent::Error(e))) => assert_eq!(e.code, 410),
            other => panic!("expected 410 Gone, got {other:?}"),
        },
    }
}

#[tokio::test]
async fn concurrent_conflicting_updates_lose_nothing() {
    let h = start().await;
    create_project(&h.client, "p").await;
    let api: Api<Warehouse> = Api::namespaced(h.client.clone(), "p");
    let base = api
        .create(&PostParams::default(), &warehouse("w"))
        .await
        .unwrap();
    // 100 writers all start from the same version: each is applied or gets 409.
    let mut tasks = Vec::new();
    for i in 0..100 {
        let api = api.clone();
        let mut w = base.clone();
        w.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(format!("w{i}"), "1".into());
        tasks.push(tokio::spawn(async move {
            (i, api.replace("w", &PostParams::default(), &w).await)
        }));
    }
    let mut applied = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(_) => applied.push(i),
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("writer {i}: {e}"),
        }
    }
    assert_eq!(
        applied.len(),
        1,
        "exactly one writer wins from a shared version"
    );
    let final_labels = api.get("w").await.unwrap().metadata.labels.unwrap();
    assert!(final_labels.contains_key(&format!("w{}", applied[0])));

    // Writers that retry on conflict all land.
    let mut tasks = Vec::new();
    for i in 0..100 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let mut w = api.get("w").await.unwrap();
                w.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(format!("r{i}"), "1".into());
                match api.replace("w", &PostParams::default(), &w).await {
                    Ok(_) => return,
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ann = api.get("w").await.unwrap().metadata.annotations.unwrap();
    assert_eq!(ann.len(), 100, "every retried update is kept");
}

#[tokio::test]
async fn freight_is_named_by_content_with_a_unique_alias() {
    let h = start().await;
    create_project(&h.client, "p").await;
    let warehouses: Api<Warehouse> = Api::namespaced(h.client.clone(), "p");
    let api: Api<Freight> = Api::namespaced(h.client.clone(), "p");
    let mk_other = |repo: &str| -> Freight {
        serde_json::from_value(json!({
            "metadata": {}, "origin": {"kind": "Warehouse", "name": "w"},
            "images": [{"repoURL": repo, "tag": "1.0.0", "digest": "sha256:2"}]
        }))
        .unwrap()
    };
    // The origin Warehouse must exist ...
    assert_eq!(
        api_code(
            api.create(&PostParams::default(), &mk_other("127.0.0.1:9/app"))
                .await
        ),
        422
    );
    warehouses
        .create(&PostParams::default(), &warehouse("w"))
        .await
        .unwrap();
    // ... and subscribe to every artifact.
    match api
        .create(&PostParams::default(), &mk_other("127.0.0.1:9/other"))
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422);
            assert!(
                e.message.contains("images[0].repoURL") && e.message.contains("not a subscription"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
    let mk = |tag: &str| -> Freight {
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight", "metadata": {},
            "origin": {"kind": "Warehouse", "name": "w"},
            "images": [{"repoURL": "127.0.0.1:9/app", "tag": tag, "digest": "sha256:1"}]
        }))
        .unwrap()
    };
    let a = api
        .create(&PostParams::default(), &mk("1.0.0"))
        .await
        .unwrap();
    assert_eq!(a.metadata.name.as_deref(), Some(a.compute_id().as_str()));
    let alias = a.alias().unwrap().to_string();
    assert!(alias.contains('-'));
    assert_eq!(a.alias, alias, "deprecated field mirrors the label");
    // Same content again: the same name, so AlreadyExists (a no-op for a warehouse).
    assert_eq!(
        api_code(api.create(&PostParams::default(), &mk("1.0.0")).await),
        409
    );
    // Artifacts are immutable.
    let patch = Patch::Merge(
        json!({"images": [{"repoURL": "127.0.0.1:9/app", "tag": "9.9.9", "digest": "sha256:1"}]}),
    );
    assert_eq!(
        api_code(
            api.patch(
                a.metadata.name.as_deref().unwrap(),
                &PatchParams::default(),
                &patch
            )
            .await
        ),
        422
    );
    // Aliases are unique in a project.
    let mut b = mk("2.0.0");
    b.metadata.labels = Some([(kargo_api::labels::ALIAS.to_string(), alias.clone())].into());
    assert_eq!(api_code(api.create(&PostParams::default(), &b).await), 422);
}

#[tokio::test]
async fn invalid_objects_are_rejected_with_every_field() {
    let h = start().await;
    create_project(&h.client, "p").await;
    let req = |body: Value, q: &str| {
        http::Request::post(format!(
            "/apis/kargo.akuity.io/v1alpha1/namespaces/p/stages{q}"
        ))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap()
    };
    let bad = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage", "metadata": {"name": "Bad_Name"},
        "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {}}]}});
    match h.client.request::<Value>(req(bad, "")).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422);
            assert!(e.message.contains("metadata.name"), "{}", e.message);
            assert!(
                e.message.contains("spec.requestedFreight[0].sources"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
    // Wrong types name the field.
    let wrong =
        json!({"kind": "Stage", "metadata": {"name": "s"}, "spec": {"requestedFreight": "dev"}});
    match h.client.request::<Value>(req(wrong, "")).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422);
            assert!(e.message.contains("spec.requestedFreight"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    // Unknown fields: accepted with a warning by default, rejected under Strict.
    let extra = json!({"kind": "Stage", "metadata": {"name": "s"},
        "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}], "colour": "blue"}});
    match h
        .client
        .request::<Value>(req(extra.clone(), "?fieldValidation=Strict"))
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 400);
            assert!(e.message.contains("spec.colour"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    let created: Value = h.client.request(req(extra, "")).await.unwrap();
    assert_eq!(created["metadata"]["name"], "s");
    // Malformed JSON.
    let raw = http::Request::post("/apis/kargo.akuity.io/v1alpha1/namespaces/p/stages")
        .header("content-type", "application/json")
        .body(b"{not json".to_vec())
        .unwrap();
    match h.client.request::<Value>(raw).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 400),
        other => panic!("{other:?}"),
    }
    // Oversized body.
    let big = vec![b' '; 4 * 1024 * 1024];
    let raw = http::Request::post("/apis/kargo.akuity.io/v1alpha1/namespaces/p/stages")
        .header("content-type", "application/json")
        .body(big)
        .unwrap();
    match h.client.request::<Value>(raw).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 413),
        other => panic!("{other:?}"),
    }
    // Unknown kind.
    let raw = http::Request::get("/apis/kargo.akuity.io/v1alpha1/namespaces/p/gizmos")
        .body(Vec::new())
        .unwrap();
    match h.client.request::<Value>(raw).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 404),
        other => panic!("{other:?}"),
    }
    // Nothing was lost: the server still answers and the good object is there.
    let list: Value = h
        .client
        .request(
            http::Request::get("/apis/kargo.akuity.io/v1alpha1/namespaces/p/stages")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn tokens_are_required() {
    let h = start().await;
    let s = &h.server.started;
    let anon = https_client(&s.url, None, s.ca_pem.as_deref(), false).unwrap();
    match anon.apiserver_version().await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 401),
        other => panic!("{other:?}"),
    }
    let wrong = https_client(&s.url, Some("not-the-token"), s.ca_pem.as_deref(), false).unwrap();
    match Api::<Project>::all(wrong)
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 401),
        other => panic!("{other:?}"),
    }
    // The token file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h._dir.path().join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn projects_own_their_namespace_and_lists_page() {
    let h = start().await;
    create_project(&h.client, "p").await;
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(h.client.clone());
    assert!(ns.get("p").await.is_ok());
    let api: Api<Warehouse> = Api::namespaced(h.client.clone(), "p");
    for i in 0..5 {
        api.create(&PostParams::default(), &warehouse(&format!("w{i}")))
            .await
            .unwrap();
    }
    let page = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().unwrap();
    let rest = api
        .list(&ListParams::default().continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    let sel = api
        .list(&ListParams::default().fields("metadata.name=w3"))
        .await
        .unwrap();
    assert_eq!(sel.items.len(), 1);
    api.patch(
        "w4",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "x"}}})),
    )
    .await
    .unwrap();
    assert_eq!(
        api.list(&ListParams::default().labels("tier=x"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        api.list(&ListParams::default().labels("tier!=x"))
            .await
            .unwrap()
            .items
            .len(),
        4
    );
    Api::<Project>::all(h.client.clone())
        .delete("p", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_code(ns.get("p").await), 404);
    assert_eq!(api_code(api.get("w0").await), 404);
}

#[tokio::test]
async fn the_in_process_client_needs_no_socket() {
    let h = start().await;
    let c = kargo_server::in_process_client(h.server.store.clone());
    create_project(&c, "p").await;
    let via_tcp: Api<Project> = Api::all(h.client.clone());
    assert!(via_tcp.get("p").await.is_ok());
}

#[tokio::test]
async fn file_repositories_need_allow_file_repos_and_options_never_pass() {
    let file_wh = |name: &str, url: &str| -> Warehouse {
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
            "metadata": {"name": name},
            "spec": {"subscriptions": [{"git": {"repoURL": url}}]}
        }))
        .unwrap()
    };
    // The default: file:// and options refused with 422 naming the field.
    let h = start().await;
    create_project(&h.client, "p").await;
    let api: Api<Warehouse> = Api::namespaced(h.client.clone(), "p");
    for (url, why) in [
        ("file:///srv/r.git", "--allow-file-repos"),
        ("--upload-pack=touch /tmp/x", "must not start with '-'"),
        ("ext::sh -c touch% /tmp/x", "remote-helper"),
    ] {
        match api.create(&PostParams::default(), &file_wh("w", url)).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{url}");
                assert!(
                    s.message.contains("spec.subscriptions[0].git.repoURL")
                        && s.message.contains(why),
                    "{url}: {}",
                    s.message
                );
            }
            other => panic!("{url}: expected 422, got {other:?}"),
        }
    }
    // With the setting: file:// is admitted, and so are status writes on
    // it; options still are not.
    let ApiOnlyServer { server, dir: _dir } = ApiOnlyServer::start_with(|config| ServerConfig {
        allow_file_repos: true,
        ..config
    })
    .await;
    let client = server.client().unwrap();
    create_project(&client, "p").await;
    let api: Api<Warehouse> = Api::namespaced(client.clone(), "p");
    api.create(&PostParams::default(), &file_wh("w", "file:///srv/r.git"))
        .await
        .unwrap();
    let status = json!({"status": {"observedGeneration": 1}});
    api.patch_status("w", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let in_process: Api<Warehouse> = Api::namespaced(
        kargo_server::in_process_client_with(
            server.store.clone(),
            kargo_apiserver::AdmissionSettings {
                allow_file_repos: true,
                ..Default::default()
            },
        ),
        "p",
    );
    in_process
        .patch_status("w", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        api_code(
            api.create(
                &PostParams::default(),
                &file_wh("x", "--upload-pack=touch /tmp/x")
            )
            .await
        ),
        422
    );
}
