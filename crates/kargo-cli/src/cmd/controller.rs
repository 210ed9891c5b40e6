//! `kargo controller`: the controllers as a process of their own against
//! any Kubernetes API server (kubeconfig, context, or in-cluster), with
//! Kargo's sharding flags, leader election, health probes and metrics;
//! and [`ControllerFlags`], the controller settings `kargo server` shares.

use crate::cmd::server::parse_duration;
use anyhow::{Context, Result};
use kargo_server::controller_process::{ControllerProcessConfig, Endpoints};
use std::net::SocketAddr;
use std::path::PathBuf;

/// What the controllers do, in `kargo server` and `kargo controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerFlags {
    /// Shortest Warehouse discovery interval honoured (a Go duration).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub min_warehouse_interval: std::time::Duration,
    /// Time between garbage-collection sweeps.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub gc_interval: std::time::Duration,
    /// Promotions kept per Stage beyond the oldest unfinished one.
    #[arg(long, default_value_t = 20)]
    pub gc_max_retained_promotions: usize,
    /// Promotions younger than this are never garbage-collected.
    #[arg(long, default_value = "336h", value_parser = parse_duration)]
    pub gc_min_promotion_deletion_age: std::time::Duration,
    /// Freight kept per Warehouse beyond the oldest one in use.
    #[arg(long, default_value_t = 20)]
    pub gc_max_retained_freight: usize,
    /// Freight younger than this is never garbage-collected.
    #[arg(long, default_value = "336h", value_parser = parse_duration)]
    pub gc_min_freight_deletion_age: std::time::Duration,
    /// How long Events are kept after they last happened.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub event_ttl: std::time::Duration,
    /// Let Warehouses and git-clone steps use file:// repositories (off by
    /// default: they can read any repository on the server's disk).
    #[arg(long)]
    pub allow_file_repos: bool,
    /// Longest one git process may run (clone, fetch, push, ls-remote);
    /// then it is killed and the step or refresh fails with a timeout.
    /// Separate from a step's `retry.timeout`.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub git_timeout: std::time::Duration,
    /// Longest one network call without a timeout of its own may take
    /// (registry and chart lookups, Argo CD calls).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub http_timeout: std::time::Duration,
    /// A kubeconfig for the cluster Argo CD runs in: Applications are
    /// read, patched and watched there (Kargo's `ARGOCD_KUBECONFIG`).
    /// Default: the Applications this server stores.
    #[arg(long, value_name = "KUBECONFIG", conflicts_with = "no_argocd")]
    pub argocd_kubeconfig: Option<PathBuf>,
    /// Namespace of Applications a step names none for (Kargo's
    /// `ARGOCD_NAMESPACE`).
    #[arg(long, default_value = "argocd")]
    pub argocd_namespace: String,
    /// Watch Applications in the Argo CD namespace only, not in all
    /// namespaces (Kargo's `ARGOCD_WATCH_ARGOCD_NAMESPACE_ONLY`).
    #[arg(
        long,
        env = "ARGOCD_WATCH_ARGOCD_NAMESPACE_ONLY",
        conflicts_with = "no_argocd"
    )]
    pub argocd_watch_namespace_only: bool,
    /// Turn Argo CD integration off (Kargo's
    /// `ARGOCD_INTEGRATION_ENABLED=false`): argocd-update and argocd-wait
    /// steps are Errored, Application health checks Unknown.
    #[arg(long)]
    pub no_argocd: bool,
    /// How many Stages are reconciled at once (Kargo's default: 4).
    #[arg(long, default_value_t = 4)]
    pub stage_concurrency: u16,
    /// How many Promotions are reconciled (started) at once.
    #[arg(long, default_value_t = 16)]
    pub promotion_concurrency: u16,
    /// How many AnalysisRuns are reconciled (measured) at once.
    #[arg(long, default_value_t = 32)]
    pub analysis_concurrency: u16,
}

impl ControllerFlags {
    /// Refuses an Argo CD kubeconfig that cannot be used now, not at the
    /// first sync.
    pub fn check(&self) -> Result<()> {
        if let Some(k) = &self.argocd_kubeconfig {
            kube::config::Kubeconfig::read_from(k)
                .with_context(|| format!("--argocd-kubeconfig {}", k.display()))?;
        }
        Ok(())
    }

    /// Where Argo CD's Applications are.
    pub fn argocd(&self) -> kargo_server::ArgoCdConfig {
        kargo_server::ArgoCdConfig {
            enabled: !self.no_argocd,
            namespace: self.argocd_namespace.clone(),
            kubeconfig: self.argocd_kubeconfig.clone(),
            watch_namespace_only: self.argocd_watch_namespace_only,
        }
    }

    /// Reconciles at once per controller.
    pub fn concurrency(&self) -> kargo_server::Concurrency {
        kargo_server::Concurrency {
            stages: self.stage_concurrency,
            promotions: self.promotion_concurrency,
            analysis_runs: self.analysis_concurrency,
        }
    }

    /// What garbage collection keeps.
    pub fn gc(&self) -> kargo_server::GcConfig {
        kargo_server::GcConfig {
            interval: self.gc_interval,
            max_retained_promotions: self.gc_max_retained_promotions,
            min_promotion_deletion_age: self.gc_min_promotion_deletion_age,
            max_retained_freight: self.gc_max_retained_freight,
            min_freight_deletion_age: self.gc_min_freight_deletion_age,
            event_ttl: self.event_ttl,
        }
    }
}

/// Where job metrics run (`--job-provider`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum JobProviderArg {
    /// A `batch/v1` Job per measurement, as Argo Rollouts (the cluster runs it).
    Cluster,
    /// The first container's command as a process on this host.
    Local,
}

/// Flags of `kargo controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// The kubeconfig context to use (default: its current context). The
    /// kubeconfig is the global `--kubeconfig`, else `KUBECONFIG`; with
    /// neither (and no context), the pod's in-cluster configuration.
    #[arg(long)]
    pub context: Option<String>,
    /// The namespace of the controller's heartbeat and leader Leases
    /// (Kargo's `KARGO_NAMESPACE`).
    #[arg(long, env = "KARGO_NAMESPACE", default_value = "kargo")]
    pub namespace: String,
    /// Reconcile only Stages, Promotions, Warehouses and AnalysisRuns
    /// labelled `kargo.akuity.io/shard: NAME` (Kargo's `SHARD_NAME`).
    /// Without it: only those labelled for no shard.
    #[arg(long, env = "SHARD_NAME", value_name = "NAME", default_value = "")]
    pub shard: String,
    /// Also reconcile objects labelled for no shard, and run what is not
    /// sharded (Projects, ProjectConfigs, ClusterConfig, garbage
    /// collection) (Kargo's `IS_DEFAULT_CONTROLLER`).
    #[arg(long, env = "IS_DEFAULT_CONTROLLER")]
    pub default_controller: bool,
    /// Elect a leader among the replicas of this shard on a
    /// coordination.k8s.io/v1 Lease (`kargo-controller-leader[-SHARD]`);
    /// only the leader reconciles, and one that cannot renew the Lease
    /// stops and exits with status 1.
    #[arg(long, env = "LEADER_ELECT")]
    pub leader_elect: bool,
    /// Serve /metrics here, e.g. :8080 or 127.0.0.1:0; 0 turns it off
    /// (Kargo's `METRICS_BIND_ADDRESS`).
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = "0", value_parser = parse_bind)]
    pub metrics_bind_address: Bind,
    /// Serve /healthz and /readyz here; 0 turns them off.
    #[arg(long, env = "HEALTH_PROBE_BIND_ADDRESS", default_value = ":8081", value_parser = parse_bind)]
    pub health_probe_bind_address: Bind,
    /// How long the heartbeat Lease counts as alive; renewed every third
    /// of it (Kargo's `HEARTBEAT_TTL_SECONDS`).
    #[arg(long, env = "HEARTBEAT_TTL_SECONDS", default_value_t = 120)]
    pub heartbeat_ttl_seconds: u64,
    /// Where git mirrors and Promotion work trees live (default:
    /// `$XDG_CACHE_HOME/kargo/controller`).
    #[arg(long, env = "KARGO_CONTROLLER_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Base of the webhook receiver URLs written to ProjectConfigs
    /// (default: the API server's address).
    #[arg(long)]
    pub webhook_base_url: Option<String>,
    /// Where job metrics run.
    #[arg(long, value_enum, default_value = "cluster")]
    pub job_provider: JobProviderArg,
    /// What the controllers do.
    #[command(flatten)]
    pub controller: ControllerFlags,
}

/// A bind address, or off (`0`).
#[derive(Clone, Copy, Debug)]
pub struct Bind(pub Option<SocketAddr>);

/// Go's forms: `:8080` (every interface), `HOST:PORT`, `0` (off).
fn parse_bind(s: &str) -> Result<Bind, String> {
    match s {
        "0" | "" => Ok(Bind(None)),
        s if s.starts_with(':') => format!("0.0.0.0{s}")
            .parse()
            .map(|a| Bind(Some(a)))
            .map_err(|e| format!("{s:?}: {e}")),
        s => s
            .parse()
            .map(|a| Bind(Some(a)))
            .map_err(|e| format!("{s:?}: expected :PORT, HOST:PORT or 0 ({e})")),
    }
}

fn default_work_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("kargo/controller")
}

/// Runs the controllers until SIGINT/SIGTERM, or until leadership is lost
/// (an error: exit status 1).
pub async fn run(args: ControllerArgs, kubeconfig: Option<PathBuf>) -> Result<()> {
    args.controller.check()?;
    let dir = args.work_dir.clone().unwrap_or_else(default_work_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let f = &args.controller;
    let cfg = ControllerProcessConfig {
        kubeconfig: kubeconfig
            .or_else(|| std::env::var_os("KUBECONFIG").map(PathBuf::from))
            .filter(|p| !p.as_os_str().is_empty()),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        metrics_bind: args.metrics_bind_address.0,
        health_bind: args.health_probe_bind_address.0,
        leader_elect: args.leader_elect,
        heartbeat_ttl: std::time::Duration::from_secs(args.heartbeat_ttl_seconds.max(3)),
        controllers: kargo_server::ControllerConfig {
            cache_dir: dir.join("cache"),
            work_dir: dir.join("work"),
            min_warehouse_interval: f.min_warehouse_interval,
            // Empty: the API server's address.
            public_url: args.webhook_base_url.clone().unwrap_or_default(),
            gc: f.gc(),
            allow_file_repos: f.allow_file_repos,
            git_timeout: f.git_timeout,
            http_timeout: f.http_timeout,
            concurrency: f.concurrency(),
            argocd: f.argocd(),
            shard: kargo_server::Shard::named(&args.shard, args.default_controller),
            jobs: match args.job_provider {
                JobProviderArg::Cluster => kargo_server::JobProvider::Cluster,
                JobProviderArg::Local => kargo_server::JobProvider::Local,
            },
        },
    };
    let started = |e: &Endpoints| {
        let mut line = format!(
            "kargo controller started as {} (leader lease {})",
            e.identity, e.lease
        );
        if let Some(h) = &e.health_url {
            line.push_str(&format!("; probes at {h}/healthz and {h}/readyz"));
        }
        if let Some(m) = &e.metrics_url {
            line.push_str(&format!("; metrics at {m}"));
        }
        // The one line scripts and tests wait for.
        let _ = outln!("{line}");
    };
    let shutdown = crate::cmd::server::shutdown_signal();
    kargo_server::controller_process::run(cfg, started, shutdown)
        .await
        .context("kargo controller")
}
