//! `kargo controller`: the same controllers as `kargo server` runs, as a
//! process of their own against any Kubernetes API server (a cluster, or
//! a `kargo server --disable-controllers`), reached through a kubeconfig
//! (`--kubeconfig`, `--context`) or the pod's in-cluster configuration.
//! Around them: health probes (`/healthz`, `/readyz`) and `/metrics` on
//! their own plain-HTTP addresses, as Kargo's controller; the heartbeat
//! Lease of its shard; and, with `--leader-elect`, leader election on a
//! Lease per shard: only the leader reconciles, and a leader that cannot
//! renew stops its controllers at once and ends with an error (exit code
//! 1, as controller-runtime), to be restarted as a candidate. The
//! replica that reconciles also keeps the counters (`kargo_*_total`) on
//! the API server (`kargo_controller::durable_counters`), so they never
//! go down across its restarts. Its `/metrics` also has the delivery
//! statistics (`crate::delivery_gauges`), computed from the controllers'
//! watch-fed caches.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kargo_controller::heartbeat::Heartbeat;
use kargo_controller::leader::{Elector, LeaderConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Settings of `kargo controller`.
#[derive(Clone, Debug)]
pub struct ControllerProcessConfig {
    /// The kubeconfig to use; None: `--context` in the default
    /// kubeconfig, else the in-cluster configuration.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    pub context: Option<String>,
    /// Where the heartbeat and leader Leases live (`KARGO_NAMESPACE`).
    pub namespace: String,
    /// `/metrics` here (None: off, Kargo's `METRICS_BIND_ADDRESS=0`).
    pub metrics_bind: Option<SocketAddr>,
    /// `/healthz` and `/readyz` here (None: off).
    pub health_bind: Option<SocketAddr>,
    /// Elect a leader among replicas of the shard.
    pub leader_elect: bool,
    /// How often the heartbeat Lease is renewed (a third of it) and how
    /// long it counts as alive.
    pub heartbeat_ttl: Duration,
    /// The controllers' settings (shard, job provider, timeouts, ...).
    pub controllers: kargo_controller::ControllerConfig,
}

/// Problems starting `kargo controller`, or its end.
#[derive(Debug, thiserror::Error)]
pub enum ControllerProcessError {
    /// The kubeconfig or in-cluster configuration is unusable.
    #[error("API server configuration: {0}")]
    Config(String),
    /// A listener could not be bound.
    #[error("{addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Leadership was lost: the controllers were stopped.
    #[error("leader election lost: the lease {0} was not renewed in time; controllers stopped")]
    LeadershipLost(String),
}

/// What a started process tells its caller.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// `http://ADDR` of the probes, when on.
    pub health_url: Option<String>,
    /// `http://ADDR/metrics`, when on.
    pub metrics_url: Option<String>,
    /// This replica's identity in the leader Lease.
    pub identity: String,
    /// The leader Lease's name.
    pub lease: String,
}

/// A kube client from the kubeconfig (or in-cluster configuration), its
/// requests counted for `/metrics`.
pub async fn client(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
) -> Result<(kube::Client, String), ControllerProcessError> {
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let err = |e: &dyn std::fmt::Display| ControllerProcessError::Config(e.to_string());
    let config = match (kubeconfig, context) {
        (Some(path), _) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| err(&format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| err(&e))?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| err(&e))?,
        (None, None) => crate::in_cluster::config()
            .await
            .map_err(|e| err(&format!("no --kubeconfig and not in a cluster ({e})")))?,
    };
    let counting = tower::util::MapRequestLayer::new(|req: http::Request<kube::client::Body>| {
        crate::request_counts::count(req.method(), req.uri());
        req
    });
    let url = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| err(&e))?
        .with_layer(&counting)
        .build();
    Ok((client, url))
}

/// Shared state of the probe and metrics handlers.
#[derive(Clone, Default)]
struct Health {
    /// The API answered once.
    api_reachable: Arc<AtomicBool>,
    /// This replica reconciles (leader, or no election).
    leading: Arc<AtomicBool>,
    /// The counters as last written to the API server.
    counters: kargo_controller::durable_counters::Rows,
    /// The controllers' watch-fed caches, once they run (the delivery
    /// statistics are computed from them).
    caches: Arc<std::sync::OnceLock<Arc<kargo_controller::informers::Caches>>>,
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(h): State<Health>) -> Response {
    if h.api_reachable.load(Ordering::Relaxed) {
        "ok".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the API server has not answered yet\n",
        )
            .into_response()
    }
}

/// The `/metrics` text: counters, leadership, delivery statistics and
/// the process's own metrics (histograms, process gauges).
fn render_metrics(h: &Health) -> Result<String, std::fmt::Error> {
    use prometheus_client::metrics::gauge::Gauge;
    let mut reg = prometheus_client::registry::Registry::default();
    crate::metrics::register_controller_metrics(&mut reg);
    if let Ok(rows) = h.counters.read() {
        kargo_controller::metrics::register_counters(&mut reg, &rows);
    }
    if let Some(caches) = h.caches.get() {
        let projects = crate::delivery_gauges::from_caches(caches);
        crate::delivery_gauges::register(&mut reg, projects, jiff::Timestamp::now());
    }
    let leader = Gauge::<i64>::default();
    leader.set(i64::from(h.leading.load(Ordering::Relaxed)));
    reg.register(
        "kargo_controller_leader",
        "1 while this replica reconciles (it holds the leader Lease, or there is no election)",
        leader,
    );
    kargo_controller::metrics::render(&reg)
}

async fn metrics(State(h): State<Health>) -> Response {
    match tokio::task::spawn_blocking(move || render_metrics(&h)).await {
        Ok(Ok(out)) => (
            [(
                http::header::CONTENT_TYPE,
                kargo_controller::metrics::CONTENT_TYPE,
            )],
            out,
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "rendering metrics failed\n",
        )
            .into_response(),
    }
}

async fn serve(
    addr: SocketAddr,
    router: axum::Router,
) -> Result<SocketAddr, ControllerProcessError> {
    let bind = |source| ControllerProcessError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "a probe or metrics listener stopped");
        }
    });
    Ok(bound)
}

/// The leader Lease of a shard: `kargo-controller-leader`, or
/// `kargo-controller-leader-<shard>`, so shards never contend.
pub fn leader_lease_name(shard: &kargo_controller::shard::Shard) -> String {
    match shard {
        kargo_controller::shard::Shard::Named { name, .. } if !name.is_empty() => {
            format!("kargo-controller-leader-{name}")
        }
        _ => "kargo-controller-leader".into(),
    }
}

/// Starts the listeners; `started` is told where they are; then runs
/// until `shutdown` resolves (Ok) or leadership is lost (Err).
pub async fn run(
    cfg: ControllerProcessConfig,
    started: impl FnOnce(&Endpoints),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ControllerProcessError> {
    let (client, url) = client(cfg.kubeconfig.as_deref(), cfg.context.as_deref()).await?;
    let mut controllers_cfg = cfg.controllers.clone();
    if controllers_cfg.public_url.is_empty() {
        controllers_cfg.public_url = url;
    }
    let health = Health::default();
    let health_url = match cfg.health_bind {
        Some(addr) => {
            let router = axum::Router::new()
                .route("/healthz", axum::routing::get(healthz))
                .route("/livez", axum::routing::get(healthz))
                .route("/readyz", axum::routing::get(readyz))
                .with_state(health.clone());
            Some(format!("http://{}", serve(addr, router).await?))
        }
        None => None,
    };
    let metrics_url = match cfg.metrics_bind {
        Some(addr) => {
            let router = axum::Router::new()
                .route("/metrics", axum::routing::get(metrics))
                .with_state(health.clone());
            Some(format!("http://{}/metrics", serve(addr, router).await?))
        }
        None => None,
    };
    let shard_name = match &cfg.controllers.shard {
        kargo_controller::shard::Shard::Named { name, .. } => name.clone(),
        kargo_controller::shard::Shard::All => String::new(),
    };
    let lease = leader_lease_name(&cfg.controllers.shard);
    let mut elector = Elector::new(client.clone(), LeaderConfig::new(&cfg.namespace, &lease));
    started(&Endpoints {
        health_url,
        metrics_url,
        identity: elector.identity().to_string(),
        lease: lease.clone(),
    });
    let reach = {
        let (client, flag) = (client.clone(), health.api_reachable.clone());
        async move {
            loop {
                match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
                    .await
                {
                    Ok(Ok(_)) => {
                        flag.store(true, Ordering::Relaxed);
                        return;
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "the API server does not answer"),
                    Err(_) => tracing::warn!("the API server does not answer"),
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    tokio::spawn(reach);
    let heartbeat = Arc::new(Heartbeat::new(
        client.clone(),
        &cfg.namespace,
        &shard_name,
        cfg.heartbeat_ttl,
    ));
    let beating = tokio::spawn({
        let h = heartbeat.clone();
        async move { h.run().await }
    });
    let mut shutdown = std::pin::pin!(shutdown);
    if cfg.leader_elect {
        tracing::info!(lease = %lease, identity = %elector.identity(), "waiting to lead");
        tokio::select! {
            () = elector.acquire() => {}
            () = &mut shutdown => {
                beating.abort();
                heartbeat.delete().await;
                return Ok(());
            }
        }
        tracing::info!(lease = %lease, identity = %elector.identity(), "leading: starting the controllers");
    }
    health.leading.store(true, Ordering::Relaxed);
    let counting = tokio::spawn(kargo_controller::durable_counters::run(
        client.clone(),
        cfg.namespace.clone(),
        cfg.controllers.shard.clone(),
        health.counters.clone(),
    ));
    let (caches, writers, triggers) = kargo_controller::informers::Caches::new();
    let _ = health.caches.set(caches.clone());
    let controllers = tokio::spawn(kargo_controller::run_with_caches(
        client,
        controllers_cfg,
        caches,
        writers,
        triggers,
    ));
    let lost = async {
        if cfg.leader_elect {
            elector.hold().await
        } else {
            std::future::pending::<()>().await
        }
    };
    let outcome = tokio::select! {
        () = lost => Err(ControllerProcessError::LeadershipLost(lease.clone())),
        () = &mut shutdown => Ok(()),
    };
    // Nothing reconciles past this point.
    controllers.abort();
    counting.abort();
    health.leading.store(false, Ordering::Relaxed);
    beating.abort();
    if outcome.is_ok() {
        if cfg.leader_elect {
            elector.release().await;
        }
        heartbeat.delete().await;
    }
    outcome
}
