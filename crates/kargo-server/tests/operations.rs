//! Operating the server: a private data directory, one server per data
//! directory, a full database that keeps reads and refuses writes with a
//! 507 `Status` until space returns, and backup/restore around a running
//! server.

use k8s_openapi::api::core::v1::ConfigMap;
mod common;

use common::{api_only_config, create_project};
use kargo_api::Project;
use kargo_server::{Server, ServerConfig, ServerError, data_dir};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn cm(name: &str, size: usize) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "q".repeat(size)}}))
        .unwrap()
}

/// `/readyz`, asked of the router directly (kube's client retries 503s).
async fn readyz(store: &kargo_store::Store) -> (u16, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = kargo_apiserver::router(store.clone())
        .oneshot(
            http::Request::get("/readyz")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn data_dir_and_database_are_private_new_and_fixed_up() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let s = Server::start(api_only_config(&dir)).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for f in kargo_store::files::db_files(&data_dir::db_path(&dir)) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    assert_eq!(mode(&dir.join("admin-token")), 0o600);
    s.shutdown();
    s.wait().await.unwrap();
    // An existing directory (and database) open to others is tightened at start.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data_dir::db_path(&dir);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = Server::start(api_only_config(&dir)).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&db), 0o600);
    s.shutdown();
}

#[tokio::test]
async fn a_full_database_answers_507_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(api_only_config(dir.path())).await.unwrap();
    let client = s.client().unwrap();
    create_project(&client, "p").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "p");
    cms.create(&PostParams::default(), &cm("kept", 10))
        .await
        .unwrap();
    s.store
        .set_max_page_count(s.store.page_count().unwrap())
        .unwrap();
    let err = cms
        .create(&PostParams::default(), &cm("big", 200_000))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected a Status, got {err:?}")
    };
    assert_eq!(status.code, 507);
    assert_eq!(status.reason, "InsufficientStorage");
    assert!(status.message.contains("full"), "{}", status.message);
    // Reads go on.
    assert_eq!(
        cms.get("kept").await.unwrap().data.unwrap()["a"],
        "q".repeat(10)
    );
    assert_eq!(cms.list(&Default::default()).await.unwrap().items.len(), 1);
    let (code, msg) = readyz(&s.store).await;
    assert_eq!(code, 503);
    assert!(msg.contains("storage full"), "{msg}");
    // Space returns: writes resume.
    s.store.set_max_page_count(1 << 30).unwrap();
    cms.create(&PostParams::default(), &cm("big", 200_000))
        .await
        .unwrap();
    assert_eq!(readyz(&s.store).await.0, 200);
    s.shutdown();
}

#[tokio::test]
async fn starts_read_only_on_a_full_database() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(api_only_config(dir.path())).await.unwrap();
    let client = first.client().unwrap();
    create_project(&client, "p").await;
    first.shutdown();
    first.wait().await.unwrap();
    // Restart with the database capped at its current size (a full disk).
    let s = Server::start(ServerConfig {
        max_db_pages: Some(1),
        ..api_only_config(dir.path())
    })
    .await
    .unwrap();
    let client = s.client().unwrap();
    assert!(Api::<Project>::all(client.clone()).get("p").await.is_ok());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "p");
    let err = cms
        .create(&PostParams::default(), &cm("big", 200_000))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(st) if st.code == 507),
        "{err:?}"
    );
    s.store.set_max_page_count(1 << 30).unwrap();
    cms.create(&PostParams::default(), &cm("big", 200_000))
        .await
        .unwrap();
    s.shutdown();
}

#[tokio::test]
async fn backup_while_serving_restore_only_when_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(api_only_config(dir.path())).await.unwrap();
    // One server per data directory.
    assert!(matches!(
        Server::start(api_only_config(dir.path())).await,
        Err(ServerError::InUse(_))
    ));
    let client = s.client().unwrap();
    create_project(&client, "p").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "p");
    cms.create(&PostParams::default(), &cm("before", 10))
        .await
        .unwrap();
    let file = dir.path().join("backup.db");
    data_dir::backup(dir.path(), &file).unwrap();
    cms.create(&PostParams::default(), &cm("after", 10))
        .await
        .unwrap();
    // Refused while the server runs.
    let err = data_dir::restore(dir.path(), &file).unwrap_err();
    assert!(matches!(err, ServerError::InUse(_)), "{err}");
    assert!(err.to_string().contains("another kargo server is running"));
    s.shutdown();
    s.wait().await.unwrap();
    // Stopped: the restore puts the backup back; what came after is lost.
    data_dir::restore(dir.path(), &file).unwrap();
    let s = Server::start(api_only_config(dir.path())).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(s.client().unwrap(), "p");
    assert!(cms.get("before").await.is_ok());
    assert!(cms.get("after").await.is_err());
    s.shutdown();
}
