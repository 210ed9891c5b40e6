//! Reconcilers for kargo resources, as pure-ish `reconcile(obj, ctx) ->
//! Action` functions run by kube-runtime. They reach the API only through
//! a `kube::Client` — in-process in standalone mode, a real
//! kube-apiserver in cluster mode.
//!
//! Today: the Warehouse controller (git discovery and Freight creation).

mod conditions;
pub mod credentials;
pub mod warehouse;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings shared by the controllers.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Where sources keep caches (git mirrors).
    pub cache_dir: PathBuf,
    /// The shortest Warehouse interval the server honours.
    pub min_warehouse_interval: Duration,
}

/// Starts every controller; returns when they stop (never, normally).
pub async fn run(client: kube::Client, cfg: ControllerConfig) {
    let ctx = Arc::new(warehouse::Context::new(client.clone(), &cfg));
    warehouse::run(client, ctx).await;
}
