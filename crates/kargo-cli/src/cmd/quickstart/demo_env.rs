//! The quick start's stand-in for Argo CD and a cluster: a small HTTP
//! server that, per Stage, "runs" the version currently committed for it
//! in the config repository. `/<stage>/healthz` answers 200 — except for
//! v1.2.0, the release the story breaks on purpose, which answers 500.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::path::PathBuf;

/// The version that fails its health check.
pub const BROKEN: &str = "v1.2.0";

async fn healthz(State(repo): State<PathBuf>, Path(stage): Path<String>) -> impl IntoResponse {
    let tag = tokio::task::spawn_blocking(move || super::workspace::read_deployed(&repo, &stage))
        .await
        .unwrap_or_default();
    if tag == BROKEN {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(
                serde_json::json!({"status": "error", "version": tag, "error": "crash loop"}),
            ),
        )
    } else {
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "version": tag})),
        )
    }
}

/// Starts the environment on a loopback port; returns its base URL.
pub async fn start(config_repo: PathBuf) -> anyhow::Result<String> {
    let app = Router::new()
        .route("/{stage}/healthz", axum::routing::get(healthz))
        .with_state(config_repo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}
