//! `--metrics-listen`: `/metrics` without authentication on a loopback
//! address (plain HTTP), for a Prometheus on the same machine. Any other
//! address is refused: off the machine, scrapers use a token bound to the
//! `kargo-metrics-reader` ClusterRole over HTTPS.

use crate::ServerError;
use std::net::SocketAddr;

/// Binds `addr` (loopback only) and serves `metrics` there; returns the
/// metrics URL.
pub async fn serve(addr: SocketAddr, metrics: axum::Router) -> Result<String, ServerError> {
    if !addr.ip().is_loopback() {
        return Err(ServerError::Auth(format!(
            "--metrics-listen {addr}: the unauthenticated metrics listener takes a loopback address only (127.0.0.1 or ::1); elsewhere, scrape https://.../metrics with a token bound to the kargo-metrics-reader ClusterRole"
        )));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Io {
            path: addr.to_string().into(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServerError::Io {
        path: addr.to_string().into(),
        source,
    })?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, metrics).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(format!("http://{bound}/metrics"))
}
