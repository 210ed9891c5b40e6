//! Reconcilers for kargo resources, as pure-ish `reconcile(obj, ctx) ->
//! Action` functions run by kube-runtime. They reach the API only through
//! a `kube::Client` — in-process in standalone mode, a real
//! kube-apiserver in cluster mode.
//!
//! Today: Warehouses (git discovery, Freight creation) and Stages (status
//! from Promotions, Freight whereabouts, auto-promotion).

mod conditions;
pub mod credentials;
pub mod stage;
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
    let warehouses = Arc::new(warehouse::Context::new(client.clone(), &cfg));
    let stages = Arc::new(stage::Context::new(client.clone()));
    tokio::join!(
        warehouse::run(client.clone(), warehouses),
        stage::run(client, stages)
    );
}
