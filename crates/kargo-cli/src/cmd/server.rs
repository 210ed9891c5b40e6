//! `kargo server`: runs the embedded server until interrupted, and
//! writes the CLI config on first use (and the `kargo` kubectl context
//! into a new kubeconfig, or any with `--write-kubeconfig`) so the next
//! command just works;
//! `kargo server backup FILE` / `kargo server restore FILE` copy its
//! database out (while it serves) and back (while it is stopped).

use crate::config::{self, CliConfig};
use anyhow::{Context, Result};
use kargo_server::{Server, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags of `kargo server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Back up or restore instead of serving.
    #[command(subcommand)]
    pub action: Option<ServerAction>,
    /// Where the database, admin token and certificates live.
    #[arg(long, env = "KARGO_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// What an acknowledged write survives: `normal` (a killed process;
    /// SQLite synchronous=NORMAL) or `full` (power loss too, an fsync per
    /// write; synchronous=FULL).
    #[arg(long, value_enum, default_value = "normal")]
    pub durability: DurabilityArg,
    /// Time between database maintenance runs (vacuum when a quarter of
    /// the file is free, WAL truncation).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub vacuum_interval: std::time::Duration,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// TLS certificate (PEM). Generated on first start when not given.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve the API only: no controllers, so nothing is discovered or promoted.
    #[arg(long)]
    pub disable_controllers: bool,
    /// With the global `--kubeconfig`: the kubeconfig context of the
    /// cluster to serve against (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
    /// With `--kubeconfig`: also run the controllers in this process
    /// against the cluster (otherwise run `kargo controller` there).
    #[arg(long)]
    pub with_controllers: bool,
    /// What the controllers do (shared with `kargo controller`).
    #[command(flatten)]
    pub controller: crate::cmd::controller::ControllerFlags,
    /// Merge the `kargo` context into your kubeconfig (`KUBECONFIG`, else
    /// `~/.kube/config`) even when the file exists; other contexts and the
    /// current context are kept. Without it the merge happens only when
    /// there is no such file yet.
    #[arg(long)]
    pub write_kubeconfig: bool,
    /// bcrypt hash of the admin password for `kargo login --admin` (make
    /// one with `kargo server hash-password`); else the hash stored in
    /// `<data-dir>/admin-password-hash`, if any.
    #[arg(long, env = "ADMIN_ACCOUNT_PASSWORD_HASH", hide_env_values = true)]
    pub admin_password_hash: Option<String>,
    /// Also serve `/metrics` without authentication on this loopback
    /// address (plain HTTP), e.g. 127.0.0.1:9090.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Lifetime of the admin's sign-in tokens.
    #[arg(long, env = "ADMIN_ACCOUNT_TOKEN_TTL", default_value = "24h", value_parser = parse_duration)]
    pub admin_token_ttl: std::time::Duration,
    /// OpenID Connect: the provider's issuer URL; turns on sign-in with
    /// SSO (`kargo login --sso`, the UI) and ID tokens as bearer tokens.
    #[arg(long, env = "OIDC_ISSUER_URL", requires = "oidc_client_id")]
    pub oidc_issuer_url: Option<String>,
    /// OpenID Connect: the client id (the audience ID tokens must name).
    #[arg(long, env = "OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// OpenID Connect: a second client id for `kargo login --sso`.
    #[arg(long, env = "OIDC_CLI_CLIENT_ID")]
    pub oidc_cli_client_id: Option<String>,
    /// OpenID Connect: the client secret for the UI's code exchange, if
    /// the provider wants one.
    #[arg(long, env = "OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// OpenID Connect: scopes to ask for besides openid, profile, email
    /// (comma-separated, e.g. groups,offline_access).
    #[arg(long, env = "OIDC_ADDITIONAL_SCOPES", value_delimiter = ',')]
    pub oidc_additional_scopes: Vec<String>,
    /// OpenID Connect: the claim that names the user.
    #[arg(long, env = "OIDC_USERNAME_CLAIM", default_value = "email")]
    pub oidc_username_claim: String,
    /// OpenID Connect: the claim that lists the user's groups.
    #[arg(long, env = "OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Namespaces whose ServiceAccounts mapped to a user's claims apply
    /// in every namespace (comma-separated).
    #[arg(long, env = "GLOBAL_SERVICE_ACCOUNT_NAMESPACES", value_delimiter = ',')]
    pub global_service_account_namespaces: Vec<String>,
}

impl ServerArgs {
    /// The OpenID Connect settings, when an issuer is given.
    fn oidc(&self) -> Option<kargo_server::oidc::OidcConfig> {
        let issuer = self.oidc_issuer_url.clone().filter(|i| !i.is_empty())?;
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Some(kargo_server::oidc::OidcConfig {
            issuer_url: issuer,
            client_id: self.oidc_client_id.clone().unwrap_or_default(),
            cli_client_id: some(&self.oidc_cli_client_id),
            client_secret: some(&self.oidc_client_secret),
            additional_scopes: self.oidc_additional_scopes.clone(),
            username_claim: self.oidc_username_claim.clone(),
            groups_claim: self.oidc_groups_claim.clone(),
            global_service_account_namespaces: self.global_service_account_namespaces.clone(),
        })
    }
}

/// `kargo server backup|restore`.
#[derive(Debug, clap::Subcommand)]
pub enum ServerAction {
    /// Copy the database to FILE, consistently, while the server serves.
    Backup {
        /// Where the copy goes (replaced if it exists; mode 0600).
        file: PathBuf,
    },
    /// Put a backup back; refused while a server runs on the data directory.
    Restore {
        /// A file `kargo server backup` made.
        file: PathBuf,
    },
    /// Read a password from stdin and print its bcrypt hash (for
    /// `--admin-password-hash`); with `--store`, keep it in the data
    /// directory instead (the password itself is never stored).
    HashPassword {
        /// Write the hash to `<data-dir>/admin-password-hash`.
        #[arg(long)]
        store: bool,
    },
}

/// `--durability`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Survives a killed process (synchronous=NORMAL).
    Normal,
    /// Survives power loss too (synchronous=FULL).
    Full,
}

pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    kargo_api::validate::parse_go_duration(s)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("invalid duration {s:?}: expected e.g. 30s, 1m, 1h30m"))
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("kargo")
}

/// Runs the server.
///
/// With `kubeconfig` (the global `--kubeconfig`) it serves against that
/// cluster: the API proxied to it, the UI, receivers and `/metrics` on a
/// mirror of it, controllers only with `--with-controllers`.
pub async fn run(
    args: ServerArgs,
    kubeconfig: Option<PathBuf>,
    logs: kargo_server::process_logs::LogBuffer,
) -> Result<()> {
    let started_at = std::time::Instant::now();
    let oidc = args.oidc();
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    match args.action {
        Some(ServerAction::Backup { file }) => {
            let c = kargo_server::data_dir::backup(&data_dir, &file)
                .with_context(|| format!("backing up {}", data_dir.display()))?;
            outln!(
                "backed up {} to {} ({} pages, resourceVersion {})",
                data_dir.display(),
                file.display(),
                c.pages,
                c.resource_version
            )?;
            return Ok(());
        }
        Some(ServerAction::Restore { file }) => {
            let c = kargo_server::data_dir::restore(&data_dir, &file)
                .with_context(|| format!("restoring {}", file.display()))?;
            outln!(
                "restored {} into {} (resourceVersion {})",
                file.display(),
                data_dir.display(),
                c.resource_version
            )?;
            return Ok(());
        }
        Some(ServerAction::HashPassword { store }) => {
            let password = crate::password::read(None, true)?;
            if password.is_empty() {
                anyhow::bail!("the password is empty");
            }
            let hash = kargo_server::admin_login::hash_password(&password)?;
            if store {
                std::fs::create_dir_all(&data_dir)?;
                let path = data_dir.join(kargo_server::admin_login::HASH_FILE);
                std::fs::write(&path, format!("{hash}\n"))
                    .with_context(|| format!("writing {}", path.display()))?;
                outln!(
                    "admin password hash stored in {} (restart the server to use it)",
                    path.display()
                )?;
            } else {
                outln!("{hash}")?;
            }
            return Ok(());
        }
        None => {}
    }
    args.controller.check()?;
    let cluster = match &kubeconfig {
        Some(k) => Some(kargo_server::Cluster(
            kargo_server::controller_process::client(Some(k), args.context.as_deref())
                .await
                .with_context(|| format!("--kubeconfig {}", k.display()))?
                .0,
        )),
        None => None,
    };
    let controllers = match cluster {
        Some(_) => args.with_controllers,
        None => !args.disable_controllers,
    };
    let server = Server::start(ServerConfig {
        cluster,
        argocd: args.controller.argocd(),
        oidc,
        durability: match args.durability {
            DurabilityArg::Normal => kargo_server::Durability::Normal,
            DurabilityArg::Full => kargo_server::Durability::Full,
        },
        vacuum_interval: args.vacuum_interval,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        min_warehouse_interval: args.controller.min_warehouse_interval,
        controllers,
        allow_file_repos: args.controller.allow_file_repos,
        git_timeout: args.controller.git_timeout,
        http_timeout: args.controller.http_timeout,
        admin_password_hash: args.admin_password_hash,
        admin_token_ttl: args.admin_token_ttl,
        metrics_listen: args.metrics_listen,
        concurrency: args.controller.concurrency(),
        logs,
        gc: args.controller.gc(),
        ..ServerConfig::new(data_dir.clone(), args.listen)
    })
    .await
    .context("starting the server")?;
    let s = server.started.clone();
    // First use, or this same server (same token) at a new address: point the CLI at it.
    let existing = config::load()?;
    let ours = existing.as_ref().is_some_and(|c| c.bearer_token == s.token);
    if existing.as_ref().is_none_or(|c| c.api_address.is_empty()) || ours {
        let base = existing.unwrap_or_default();
        let p = config::save(&CliConfig {
            api_address: s.url.clone(),
            bearer_token: s.token.clone(),
            ca_data: s.ca_pem.clone().unwrap_or_default(),
            ..base
        })?;
        eprintln!("CLI configuration: {}", p.display());
    }
    eprintln!("data directory: {}", data_dir.display());
    eprintln!("admin token:    {}", data_dir.join("admin-token").display());
    if let Some(ca) = &s.ca_file {
        eprintln!("CA certificate: {}", ca.display());
    }
    if let Some(m) = &s.metrics_url {
        eprintln!("metrics:        {m} (no token: loopback only)");
    }
    eprintln!("{}", kubectl_hint(&s, args.write_kubeconfig));
    eprintln!("{}", kargo_server::ui::address_hint(&s));
    // The one line scripts and tests wait for.
    outln!(
        "kargo server ready at {} in {} ms",
        s.url,
        started_at.elapsed().as_millis()
    )?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => { r.context("waiting for Ctrl-C")?; }
        r = terminate() => { r?; }
    }
    eprintln!("shutting down");
    server.shutdown();
    server.wait().await.context("serving")?;
    Ok(())
}

/// Puts the `kargo` context into the user's kubeconfig when asked to (or
/// when there is none yet) and says how kubectl reaches the server.
fn kubectl_hint(s: &kargo_server::Started, force: bool) -> String {
    use kargo_server::kubeconfig::{self, Installed};
    let doc = kubeconfig::document(&s.url, &s.token, s.ca_pem.as_deref());
    let export = format!("export KUBECONFIG={}", s.kubeconfig.display());
    match kubeconfig::install(&doc, &s.token, force) {
        Ok(Installed::Created(p)) => format!(
            "kubectl:        ready: context \"kargo\", current, in {} (new)",
            p.display()
        ),
        Ok(Installed::Merged(p)) => format!(
            "kubectl:        context \"kargo\" in {} (kubectl --context kargo ...; or {export})",
            p.display()
        ),
        Ok(Installed::Left(p)) => format!(
            "kubectl:        {export}   ({} left as it is; --write-kubeconfig adds the \"kargo\" context to it)",
            p.display()
        ),
        Ok(Installed::NoPath) => format!("kubectl:        {export}"),
        Err(e) => format!("kubectl:        {export}   (could not update your kubeconfig: {e})"),
    }
}

/// Resolves on SIGINT or SIGTERM, saying so on stderr.
pub(crate) async fn shutdown_signal() {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate() => {}
    }
    eprintln!("shutting down");
}

pub(crate) async fn terminate() -> Result<()> {
    let mut s = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    s.recv().await;
    Ok(())
}
