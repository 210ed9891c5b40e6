//! `kargo server`: opens the store under `--data-dir`, prepares the admin
//! token, TLS material and `<data-dir>/kubeconfig`, and serves the API (behind bearer-token
//! authentication) over HTTPS. Also builds the in-process Kubernetes
//! client through which controllers reach the API without a socket.

pub mod admin_login;
mod auth;
pub mod client;
pub mod cluster_admission;
pub mod cluster_mirror;
mod cluster_proxy;
pub mod controller_process;
pub mod data_dir;
mod delivery_gauges;
pub mod in_cluster;
mod in_process;
pub mod kubeconfig;
pub mod metrics;
mod metrics_listen;
mod namespaces;
pub mod oidc;
pub mod process_logs;
pub mod public_config;
pub mod rbac_bootstrap;
pub mod request_counts;
mod request_metrics;
mod tls;
pub mod ui;
pub mod webhook_certs;
pub mod webhook_configs;
pub mod webhook_server;
pub mod webhooks;

pub use in_process::{in_process_client, in_process_client_with};
pub use kargo_controller::argocd::ArgoCdConfig;
pub use kargo_controller::gc::GcConfig;
pub use kargo_controller::shard::Shard;
pub use kargo_controller::{Concurrency, ControllerConfig, JobProvider};
pub use kargo_store::Durability;

use kargo_store::Store;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where the database, token and certificates live.
    pub data_dir: PathBuf,
    /// Address to listen on (default `127.0.0.1:8443`; port 0 picks one).
    pub listen: SocketAddr,
    /// TLS certificate (PEM); generated when absent.
    pub tls_cert: Option<PathBuf>,
    /// TLS key (PEM); generated when absent.
    pub tls_key: Option<PathBuf>,
    /// The shortest Warehouse discovery interval honoured.
    pub min_warehouse_interval: std::time::Duration,
    /// Run the controllers (false: API only, nothing reaches out).
    pub controllers: bool,
    /// Where the process's log lines are kept for `kubectl logs`; the
    /// caller attaches it to its tracing subscriber.
    pub logs: process_logs::LogBuffer,
    /// What garbage collection keeps (Kargo's defaults).
    pub gc: kargo_controller::gc::GcConfig,
    /// `--allow-file-repos`: Warehouses and `git-clone` steps may use
    /// `file://` repositories (off by default).
    pub allow_file_repos: bool,
    /// What an acknowledged write survives (`--durability`).
    pub durability: kargo_store::Durability,
    /// Time between database maintenance runs (vacuum, WAL truncation).
    pub vacuum_interval: std::time::Duration,
    /// Caps the database at this many pages (SQLite `max_page_count`): a
    /// full disk on demand, for drills and tests. None: no cap.
    pub max_db_pages: Option<u64>,
    /// Longest one git process may run (`--git-timeout`, default 5m).
    pub git_timeout: std::time::Duration,
    /// Longest one network call without a timeout of its own may take
    /// (`--http-timeout`, default 5m).
    pub http_timeout: std::time::Duration,
    /// Caps on concurrent reconciles per controller (`--stage-concurrency`).
    pub concurrency: kargo_controller::Concurrency,
    /// bcrypt hash of the admin password (`--admin-password-hash`,
    /// `ADMIN_ACCOUNT_PASSWORD_HASH`); None: the stored one, if any.
    pub admin_password_hash: Option<String>,
    /// Lifetime of the admin's sign-in tokens (`--admin-token-ttl`).
    pub admin_token_ttl: std::time::Duration,
    /// `--metrics-listen`: also serve `/metrics` without authentication
    /// on this loopback address (plain HTTP, for a local Prometheus).
    pub metrics_listen: Option<SocketAddr>,
    /// Where Argo CD's Applications are (`--argocd-kubeconfig`,
    /// `--argocd-namespace`, `--no-argocd`); default: the embedded API.
    pub argocd: kargo_controller::argocd::ArgoCdConfig,
    /// OpenID Connect sign-in (`--oidc-issuer-url` and friends); None: off.
    pub oidc: Option<oidc::OidcConfig>,
    /// `--kubeconfig`: serve against this cluster's API server instead of
    /// the embedded store (the API proxied, the UI and `/metrics` reading
    /// a watch-fed mirror, no controllers).
    pub cluster: Option<Cluster>,
}

/// The client of the cluster `kargo server --kubeconfig` serves against.
#[derive(Clone)]
pub struct Cluster(pub kube::Client);

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cluster(kube::Client)")
    }
}

impl ServerConfig {
    /// Defaults: generated TLS, a 30 s Warehouse interval floor.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            listen,
            tls_cert: None,
            tls_key: None,
            min_warehouse_interval: std::time::Duration::from_secs(30),
            controllers: true,
            logs: process_logs::LogBuffer::new(),
            gc: kargo_controller::gc::GcConfig::default(),
            allow_file_repos: false,
            durability: kargo_store::Durability::Normal,
            vacuum_interval: std::time::Duration::from_secs(3600),
            max_db_pages: None,
            git_timeout: std::time::Duration::from_secs(300),
            http_timeout: std::time::Duration::from_secs(300),
            concurrency: kargo_controller::Concurrency::default(),
            admin_password_hash: None,
            admin_token_ttl: std::time::Duration::from_secs(24 * 3600),
            metrics_listen: None,
            argocd: kargo_controller::argocd::ArgoCdConfig::default(),
            oidc: None,
            cluster: None,
        }
    }
}

/// Admission's check of one promotion step: the built-in step registry
/// (an unknown `uses`, or a config without expressions that the step
/// refuses).
pub fn check_step(uses: &str, config: &serde_json::Value) -> Result<(), String> {
    static STEPS: std::sync::OnceLock<kargo_promotion::Registry> = std::sync::OnceLock::new();
    STEPS
        .get_or_init(kargo_promotion::Registry::builtin)
        .check(uses, config)
}

/// What a started server tells its caller.
#[derive(Clone, Debug)]
pub struct Started {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The admin bearer token.
    pub token: String,
    /// PEM of the CA that signed the serving certificate (when generated).
    pub ca_pem: Option<String>,
    /// Path of the CA file (when generated).
    pub ca_file: Option<PathBuf>,
    /// `<data-dir>/kubeconfig`: the `kargo` context for kubectl.
    pub kubeconfig: PathBuf,
    /// `http://127.0.0.1:PORT/metrics` when `--metrics-listen` is on.
    pub metrics_url: Option<String>,
}

/// Server start-up failures.
#[derive(Debug, Error)]
pub enum ServerError {
    /// Filesystem problems with the data directory.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] kargo_store::StoreError),
    /// Another server holds the data directory's lock.
    #[error("{0}: another kargo server is running on this data directory")]
    InUse(PathBuf),
    /// TLS material could not be made or read.
    #[error("TLS: {0}")]
    Tls(String),
    /// The admin account's settings are unusable.
    #[error("admin account: {0}")]
    Auth(String),
}

/// Every stored object of a kind (in `ns`, or in all namespaces), decoded,
/// with its namespace; rows that do not decode are skipped. For the
/// read-only views (`/metrics`, `/ui`).
pub(crate) fn stored(
    store: &Store,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
) -> Vec<(String, serde_json::Value)> {
    let Some(info) = kargo_api::lookup_kind(api_version, kind) else {
        return Vec::new();
    };
    let Ok((rows, _)) = store.list(info, ns, None, 0) else {
        return Vec::new();
    };
    rows.into_iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok().map(|v| (r.ns, v)))
        .collect()
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Database housekeeping every `interval`: vacuum when a quarter of the
/// file (and at least 64 MiB) is free pages, truncate the WAL.
async fn maintain(store: Store, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.maintain(64 * 1024 * 1024)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "database maintenance"),
            Err(e) => tracing::warn!(error = %e, "database maintenance task"),
        }
    }
}

/// A running server.
pub struct Server {
    /// Connection details.
    pub started: Started,
    /// The store it serves.
    pub store: Store,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    controllers: tokio::task::JoinHandle<()>,
    maintenance: tokio::task::JoinHandle<()>,
    rbac_feed: tokio::task::JoinHandle<()>,
    mirror: Vec<tokio::task::JoinHandle<()>>,
    _mirror_dir: Option<tempfile::TempDir>,
    _lock: data_dir::DirLock,
}

impl Server {
    /// Opens everything and starts listening. Returns once the socket is bound.
    pub async fn start(cfg: ServerConfig) -> Result<Server, ServerError> {
        data_dir::prepare(&cfg.data_dir)?;
        let lock = data_dir::lock(&cfg.data_dir)?;
        // Against a cluster the store is a mirror of it, made anew each start.
        let mirror_dir = match &cfg.cluster {
            Some(_) => Some(
                tempfile::Builder::new()
                    .prefix("cluster-mirror-")
                    .tempdir_in(&cfg.data_dir)
                    .map_err(io_err(&cfg.data_dir))?,
            ),
            None => None,
        };
        let db = match &mirror_dir {
            Some(d) => d.path().join("mirror.db"),
            None => data_dir::db_path(&cfg.data_dir),
        };
        let store = Store::open_with(
            &db,
            kargo_store::Options {
                durability: cfg.durability,
                counter_rule: Some(kargo_controller::metrics::transitions),
                ..kargo_store::Options::default()
            },
        )?;
        if let Some(pages) = cfg.max_db_pages {
            store.set_max_page_count(pages)?;
        }
        let token = auth::load_or_create_token(&cfg.data_dir)?;
        let account = std::sync::Arc::new(admin_login::AdminAccount::load(
            &cfg.data_dir,
            cfg.admin_password_hash.clone(),
            cfg.admin_token_ttl,
        )?);
        if !account.enabled() {
            tracing::info!(
                "admin password sign-in is off; to turn it on, start with --admin-password-hash \"$(kargo server hash-password)\" (or ADMIN_ACCOUNT_PASSWORD_HASH), or store the hash in <data-dir>/{}",
                admin_login::HASH_FILE
            );
        }
        // A full disk must not keep the server down: it serves reads and
        // refuses writes (507) until space is freed.
        let prepared = match cfg.cluster {
            // The mirror holds only what the cluster has.
            Some(_) => Ok(process_logs::pod_name()),
            None => namespaces::ensure_resource_namespaces(&store)
                .and_then(|()| process_logs::publish_process(&store, env!("CARGO_PKG_VERSION"))),
        };
        let pod = match prepared {
            Err(kargo_store::StoreError::InsufficientStorage(m)) => {
                tracing::error!("starting read-only: {m}");
                process_logs::pod_name()
            }
            other => other?,
        };
        let tls = tls::load_or_create(&cfg, cfg.listen.ip())?;
        let rustls = axum_server::tls_rustls::RustlsConfig::from_pem(
            tls.cert_pem.into_bytes(),
            tls.key_pem.into_bytes(),
        )
        .await
        .map_err(|e| ServerError::Tls(e.to_string()))?;
        let listener =
            std::net::TcpListener::bind(cfg.listen).map_err(|source| ServerError::Io {
                path: PathBuf::from(cfg.listen.to_string()),
                source,
            })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServerError::Io {
                path: PathBuf::from(cfg.listen.to_string()),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Io {
            path: PathBuf::from(cfg.listen.to_string()),
            source,
        })?;
        let admission = kargo_apiserver::AdmissionSettings {
            allow_file_repos: cfg.allow_file_repos,
            step_check: Some(check_step),
        };
        // Webhooks authenticate with their own secrets, not the API token.
        let hooks = axum::Router::new()
            .route(
                "/webhooks/{provider}/{token}",
                axum::routing::post(webhooks::receive),
            )
            .with_state(match &cfg.cluster {
                Some(c) => c.0.clone(),
                None => in_process_client_with(store.clone(), admission),
            });
        let metrics = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics::handler))
            .with_state(store.clone());
        let metrics_url = match cfg.metrics_listen {
            Some(addr) => Some(metrics_listen::serve(addr, metrics.clone()).await?),
            None => None,
        };
        let bootstrap = match cfg.cluster {
            Some(_) => Ok(()),
            None => rbac_bootstrap::ensure(&store),
        };
        match bootstrap {
            // A full disk must not keep the server down.
            Err(kargo_store::StoreError::InsufficientStorage(m)) => {
                tracing::error!("bootstrap roles not written: {m}")
            }
            other => other?,
        }
        let authz = kargo_apiserver::Authorizer::new(store.clone())?;
        let oidc_cfg = cfg.oidc.clone().map(std::sync::Arc::new);
        let verifier = match &oidc_cfg {
            Some(c) => {
                authz.set_global_namespaces(c.global_service_account_namespaces.clone());
                let v = std::sync::Arc::new(
                    oidc::OidcVerifier::new(c.clone()).map_err(ServerError::Auth)?,
                );
                // Read the provider now so a wrong issuer shows in the log
                // at start; verification reads it again until it works.
                let warm = v.clone();
                tokio::spawn(async move {
                    if let Err(e) = warm.metadata().await {
                        tracing::warn!(error = %e, "OpenID Connect provider not reachable yet");
                    }
                });
                Some(v)
            }
            None => None,
        };
        let rbac_feed = tokio::spawn(authz.clone().follow());
        let api = match &cfg.cluster {
            // The cluster authorizes what is proxied to it.
            Some(c) => cluster_proxy::router(c.0.clone())
                .merge(kargo_apiserver::authz::enforce(metrics, authz.clone())),
            None => kargo_apiserver::authz::enforce(
                kargo_apiserver::router_secured(store.clone(), admission, Some(authz.clone()))
                    .merge(process_logs::router(cfg.logs.clone(), pod))
                    .merge(metrics),
                authz.clone(),
            ),
        };
        let authn =
            auth::Authenticator::new(token.clone(), authz, account.clone()).with_oidc(verifier);
        let api = auth::require_token(api, authn.clone());
        let app = api
            .clone()
            .merge(public_config::router(account.enabled(), oidc_cfg))
            .merge(admin_login::router(account))
            .merge(hooks)
            .merge(ui::router(store.clone(), authn, api))
            .layer(axum::middleware::from_fn(request_metrics::observe));
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp(listener)
            .map_err(|e| ServerError::Tls(e.to_string()))?
            // TCP_NODELAY: watch events are small writes that must not wait for Nagle.
            .acceptor(
                axum_server::tls_rustls::RustlsAcceptor::new(rustls)
                    .acceptor(axum_server::accept::NoDelayAcceptor::new()),
            )
            .handle(handle.clone());
        let task = tokio::spawn(async move { server.serve(app.into_make_service()).await });
        let host = match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let url = format!("https://{host}:{}", addr.port());
        let mirror = match &cfg.cluster {
            Some(c) => cluster_mirror::start(c.0.clone(), store.clone()),
            None => Vec::new(),
        };
        let controllers = if cfg.controllers {
            tokio::spawn(kargo_controller::run(
                match &cfg.cluster {
                    Some(c) => c.0.clone(),
                    None => in_process_client_with(store.clone(), admission),
                },
                kargo_controller::ControllerConfig {
                    cache_dir: cfg.data_dir.join("cache"),
                    min_warehouse_interval: cfg.min_warehouse_interval,
                    work_dir: cfg.data_dir.join("work"),
                    public_url: url.clone(),
                    gc: cfg.gc.clone(),
                    allow_file_repos: cfg.allow_file_repos,
                    git_timeout: cfg.git_timeout,
                    http_timeout: cfg.http_timeout,
                    concurrency: cfg.concurrency,
                    argocd: cfg.argocd.clone(),
                    shard: kargo_controller::shard::Shard::All,
                    jobs: match cfg.cluster {
                        Some(_) => kargo_controller::JobProvider::Cluster,
                        None => kargo_controller::JobProvider::Local,
                    },
                },
            ))
        } else {
            tokio::spawn(async {})
        };
        let maintenance = tokio::spawn(maintain(store.clone(), cfg.vacuum_interval));
        let kubeconfig = kubeconfig::data_dir_path(&cfg.data_dir);
        let doc = kubeconfig::document(&url, &token, tls.ca_pem.as_deref());
        if let Err(e) = kubeconfig::write_private(&kubeconfig, &kubeconfig::to_text(&doc)) {
            // A convenience for kubectl; a full disk must not stop the server.
            tracing::warn!(error = %e, "writing the kubeconfig");
        }
        let addr_file = cfg.data_dir.join("address");
        if let Err(e) = std::fs::write(&addr_file, &url) {
            // Only a convenience for scripts; a full disk must not stop the server.
            tracing::warn!(file = %addr_file.display(), error = %e, "writing the server address");
        }
        Ok(Server {
            started: Started {
                url,
                token,
                ca_pem: tls.ca_pem,
                ca_file: tls.ca_file,
                kubeconfig,
                metrics_url,
            },
            store,
            handle,
            task,
            controllers,
            maintenance,
            rbac_feed,
            mirror,
            _mirror_dir: mirror_dir,
            _lock: lock,
        })
    }

    /// Waits until the server stops (it stops on [`Server::shutdown`] or an I/O error).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Stops accepting connections and lets open ones finish.
    pub fn shutdown(&self) {
        self.controllers.abort();
        self.maintenance.abort();
        self.rbac_feed.abort();
        for m in &self.mirror {
            m.abort();
        }
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(5)));
    }

    /// A kube client for this server over HTTPS with the admin token.
    pub fn client(&self) -> Result<kube::Client, client::ClientError> {
        client::https_client(
            &self.started.url,
            Some(&self.started.token),
            self.started.ca_pem.as_deref(),
            false,
        )
    }
}
