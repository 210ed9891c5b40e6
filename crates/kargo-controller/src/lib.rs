//! Reconcilers for kargo resources, as pure-ish `reconcile(obj, ctx) ->
//! Action` functions run by kube-runtime or, for those the watch hub
//! drives, by `work_queue`. They reach the API only through
//! a `kube::Client` — in-process in standalone mode, a real
//! kube-apiserver in cluster mode.
//!
//! Warehouses (discovery, Freight creation), Stages (status from
//! Promotions, Freight whereabouts, auto-promotion, verification),
//! Promotions (steps, one at a time per Stage, resumable), AnalysisRuns
//! (measurements in-process), Projects (status and stats), ProjectConfigs
//! (webhook URLs, refresh), ClusterConfig (refresh) and garbage
//! collection (old Promotions, Freight and Events).

pub mod analysis;
pub mod argocd;
pub mod argocd_context;
mod cache_trim;
pub mod cluster_config;
mod conditions;
pub mod credentials;
pub mod durable_counters;
pub mod events;
pub mod freight_waiting;
pub mod freight_writes;
pub mod gc;
pub mod heartbeat;
pub mod holds;
pub mod index;
pub mod informers;
pub mod jobs;
pub mod leader;
mod lookup;
pub mod metrics;
mod names;
pub mod notify;
pub mod project;
pub mod project_config;
pub mod project_roles;
pub mod promotion;
pub mod rollback;
pub mod shard;
pub mod stage;
pub mod stage_health;
pub mod stage_policies;
pub mod stage_windows;
pub mod stats;
mod status_patch;
pub mod verification;
pub mod warehouse;
pub mod work_queue;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The current time as Kubernetes writes it in statuses (RFC 3339, seconds).
pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// One API call bounded by `timeout` (a late answer is an error).
pub(crate) async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(kube::Error::Service(
            format!("no answer from the API in {timeout:?}").into(),
        )),
    }
}

/// Settings shared by the controllers.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Where sources keep caches (git mirrors).
    pub cache_dir: PathBuf,
    /// The shortest Warehouse interval the server honours.
    pub min_warehouse_interval: Duration,
    /// Where Promotions keep their working copies.
    pub work_dir: PathBuf,
    /// The server's address as users reach it (for webhook URLs).
    pub public_url: String,
    /// What garbage collection keeps.
    pub gc: gc::GcConfig,
    /// Promotion steps may use `file://` repositories (`kargo server
    /// --allow-file-repos`; admission applies the same rule to Warehouses).
    pub allow_file_repos: bool,
    /// Longest one git process may run (`--git-timeout`).
    pub git_timeout: Duration,
    /// Longest one network call without a timeout of its own may take
    /// (`--http-timeout`).
    pub http_timeout: Duration,
    /// How many reconciles each controller runs at once.
    pub concurrency: Concurrency,
    /// Where Argo CD's Applications are (`--argocd-kubeconfig`,
    /// `--argocd-namespace`, `--no-argocd`).
    pub argocd: argocd::ArgoCdConfig,
    /// Which Stages, Promotions, Warehouses and AnalysisRuns are ours
    /// (`kargo controller --shard`, `--default-controller`).
    pub shard: shard::Shard,
    /// Where job metrics run.
    pub jobs: JobProvider,
}

/// Where the job metric provider runs a measurement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JobProvider {
    /// The first container's command as a local process (`kargo server`).
    #[default]
    Local,
    /// A `batch/v1` Job through the API, as Argo Rollouts (`kargo
    /// controller` against a cluster).
    Cluster,
}

/// Caps on concurrent reconciles per controller (0: unbounded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concurrency {
    /// Stages (Kargo's default: 4).
    pub stages: u16,
    /// Promotions (a reconcile only starts a run; runs are not capped).
    pub promotions: u16,
    /// AnalysisRuns (measurements run inside the reconcile).
    pub analysis_runs: u16,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency {
            stages: 4,
            promotions: 16,
            analysis_runs: 32,
        }
    }
}

/// Starts the shared watches, waits until their caches are filled, then
/// every controller; returns when they stop (never, normally).
pub async fn run(client: kube::Client, cfg: ControllerConfig) {
    let (caches, writers, triggers) = informers::Caches::new();
    run_with_caches(client, cfg, caches, writers, triggers).await
}

/// [`run`] over caches the caller made with [`informers::Caches::new`]
/// (and keeps a handle on, e.g. for `/metrics`).
pub async fn run_with_caches(
    client: kube::Client,
    cfg: ControllerConfig,
    caches: Arc<informers::Caches>,
    writers: informers::Writers,
    triggers: informers::Triggers,
) {
    let argocd = argocd::ArgoCd::connect(&cfg.argocd, &client).await;
    let watches = informers::run(
        client.clone(),
        argocd.as_ref().map(argocd::ArgoCd::watch_api),
        caches.clone(),
        writers,
        &cfg.shard,
    );
    let controllers = async {
        caches.wait_until_ready().await;
        let informers::Triggers {
            stages,
            stage_wake,
            promotions,
            promotion_next,
            analysis_runs,
            project_configs,
            projects,
        } = triggers;
        let n = cfg.concurrency;
        let warehouses = Arc::new(warehouse::Context::new(client.clone(), &cfg));
        let stage_ctx = Arc::new(
            stage::Context::new(client.clone(), caches.clone()).with_argocd(argocd.clone()),
        );
        let promotion_ctx = Arc::new(
            promotion::Context::new(client.clone(), cfg.work_dir.clone(), caches.clone())
                .with_argocd(argocd)
                .with_allow_file_repos(cfg.allow_file_repos)
                .with_ui_base_url(&cfg.public_url)
                .with_timeouts(cfg.git_timeout, cfg.http_timeout),
        );
        let configs = Arc::new(project_config::Context::new(
            client.clone(),
            cfg.public_url.clone(),
        ));
        let analyses = Arc::new(analysis::Context::new(client.clone(), cfg.jobs));
        // Projects, ProjectConfigs, the ClusterConfig and garbage
        // collection are not sharded: one controller runs them.
        let unsharded = async {
            if cfg.shard.runs_unsharded() {
                tokio::join!(
                    project_config::run(
                        client.clone(),
                        configs,
                        caches.project_configs.clone(),
                        project_configs
                    ),
                    project::run(client.clone(), caches.clone(), projects),
                    cluster_config::run(client.clone()),
                    gc::run(client.clone(), caches.clone(), cfg.gc.clone()),
                    notify::run(client.clone(), Default::default())
                );
            }
        };
        tokio::join!(
            unsharded,
            analysis::run(
                analyses,
                caches.analysis_runs.clone(),
                analysis_runs,
                n.analysis_runs
            ),
            warehouse::run(client.clone(), warehouses),
            stage::run(stage_ctx, stages, stage_wake, n.stages),
            promotion::run(promotion_ctx, promotions, promotion_next, n.promotions),
        );
    };
    tokio::join!(watches, controllers);
}
