//! The `kargo` binary: the embedded server (`kargo server`) and the CLI
//! verbs users know from Kargo, talking to any Kubernetes-compatible API
//! through kube-rs.

// stdout goes through `outln!`, which ends quietly on a closed pipe.
#![deny(clippy::print_stdout)]

#[macro_use]
mod output;
mod client;
mod cmd;
mod config;
mod manifest;
mod resources;
mod unreachable;

use anyhow::Result;
use clap::{Parser, Subcommand};
use client::ConnectFlags;
use cmd::get::Output;
use kargo_server::process_logs::LogBuffer;

#[derive(Parser)]
#[command(
    name = "kargo",
    version,
    about = "Continuous promotion for GitOps",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(flatten)]
    connect: ConnectFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// See the whole product work in a minute (no cluster needed).
    Quickstart(cmd::quickstart::QuickstartArgs),
    /// Run the embedded server (API, store, controllers).
    Server(cmd::server::ServerArgs),
    /// Save the address and token of a server.
    Login(cmd::login::LoginArgs),
    /// Change CLI settings.
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// Create or update objects from files, directories or stdin.
    Apply {
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
        /// Project (namespace) for objects that name none.
        #[arg(short = 'p', long)]
        project: Option<String>,
        #[command(flatten)]
        validate: cmd::apply::ValidateFlag,
    },
    /// Create objects (fails if they exist).
    Create {
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename")]
        files: Vec<String>,
        /// Project for objects that name none.
        #[arg(short = 'p', long)]
        project: Option<String>,
        #[command(flatten)]
        validate: cmd::apply::ValidateFlag,
        #[command(subcommand)]
        what: Option<CreateCmd>,
    },
    /// List or show objects.
    Get {
        /// Kind: projects, warehouses, stages, freight, promotions, ...
        kind: String,
        /// Name (all when omitted).
        name: Option<String>,
        /// Project.
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Delete objects by name or from files.
    Delete {
        /// Kind and names.
        args: Vec<String>,
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename")]
        files: Vec<String>,
        /// Project.
        #[arg(short = 'p', long)]
        project: Option<String>,
    },
    /// Promote Freight (by name or alias) into a Stage.
    Promote {
        /// Project.
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Target Stage.
        #[arg(long)]
        stage: String,
        /// Freight name or alias.
        #[arg(long)]
        freight: String,
        /// Follow the Promotion step by step until it ends.
        #[arg(long)]
        wait: bool,
        /// How long to wait, in seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Show an AnalysisRun's measurements and the output of its job metrics.
    Logs {
        /// `analysisrun`.
        kind: String,
        /// AnalysisRun name.
        name: String,
        /// Project.
        #[arg(short = 'p', long)]
        project: Option<String>,
    },
    /// Re-run (or abort) a Stage's verification.
    Verify {
        /// Project.
        #[arg(short = 'p', long, global = true)]
        project: Option<String>,
        /// Stage (the seed's form: `kargo verify --project P --stage S`).
        #[arg(long)]
        stage: Option<String>,
        /// Abort the running verification instead.
        #[arg(long, global = true)]
        abort: bool,
        #[command(subcommand)]
        what: Option<VerifyCmd>,
    },
    /// Abort a running or pending Promotion.
    Abort {
        #[command(subcommand)]
        what: AbortCmd,
    },
    /// Approve Freight for a Stage, bypassing upstream verification and soak.
    Approve {
        /// Project.
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Freight name or alias.
        #[arg(long)]
        freight: String,
        /// Stage.
        #[arg(long)]
        stage: String,
    },
    /// Change objects.
    Update {
        #[command(subcommand)]
        what: UpdateCmd,
    },
    /// Ask a Warehouse to discover artifacts now.
    Refresh {
        #[command(subcommand)]
        what: RefreshCmd,
    },
    /// Print client and server versions.
    Version,
}

#[derive(Subcommand)]
enum VerifyCmd {
    /// Verify a Stage: `kargo verify stage S -p P`.
    Stage {
        /// Stage name.
        name: String,
    },
}

#[derive(Subcommand)]
enum AbortCmd {
    /// Abort a Promotion.
    Promotion {
        /// Promotion name.
        name: String,
        /// Project.
        #[arg(short = 'p', long)]
        project: Option<String>,
    },
}

#[derive(Subcommand)]
enum UpdateCmd {
    /// Rename the alias of a piece of Freight.
    Freight {
        /// Freight name (or use --old-alias).
        name: Option<String>,
        /// Project.
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// The current alias.
        #[arg(long)]
        old_alias: Option<String>,
        /// The new alias.
        #[arg(long)]
        new_alias: String,
    },
}

#[derive(Subcommand)]
enum RefreshCmd {
    /// Refresh a Warehouse.
    Warehouse {
        /// Warehouse name.
        name: String,
        /// Project.
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Wait until the refresh was handled, and report its outcome.
        #[arg(long)]
        wait: bool,
        /// How long to wait, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Set the default project.
    SetProject {
        /// Project name.
        project: String,
    },
    /// Print a kubeconfig with a `kargo` context for the configured server.
    Kubeconfig,
}

#[derive(Subcommand)]
enum CreateCmd {
    /// Create a project (and its namespace).
    Project {
        /// Project name.
        name: String,
    },
    /// Store credentials for a git, image or Helm repository in a project.
    RepoCredentials(cmd::credentials::RepoCredentialsArgs),
    /// Create Freight by hand from artifacts a Warehouse has discovered.
    Freight(cmd::freight::CreateFreightArgs),
}

fn main() {
    let cli = Cli::parse();
    let logs = init_logging(matches!(
        cli.command,
        Command::Server(_) | Command::Quickstart(_)
    ));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cli, logs)) {
        if output::is_closed(&e) {
            // `kargo get freight | head`: the reader has what it wanted.
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Logs go to stderr (`KARGO_LOG`, default warnings only). The server
/// also keeps its own log at info level (`KARGO_SERVER_LOG`) for
/// `kubectl logs -n kargo deploy/kargo-controller`.
fn init_logging(server: bool) -> LogBuffer {
    use tracing_subscriber::{
        EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt,
    };
    let verbose = std::env::var("KARGO_LOG").unwrap_or_else(|_| "warn,kube_client=off".into());
    let kept = std::env::var("KARGO_SERVER_LOG")
        .unwrap_or_else(|_| "info,kube_client=off,kube_runtime=warn".into());
    let logs = LogBuffer::new();
    let buffer_layer = server.then(|| {
        fmt::layer()
            .with_ansi(false)
            .with_writer(logs.clone())
            .with_filter(EnvFilter::new(kept))
    });
    tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(kargo_server::process_logs::RedactedStderr)
                .with_filter(EnvFilter::new(verbose)),
        )
        .with(buffer_layer)
        .init();
    logs
}

async fn run(cli: Cli, logs: LogBuffer) -> Result<()> {
    let flags = cli.connect;
    match cli.command {
        Command::Server(a) => cmd::server::run(a, logs).await,
        Command::Quickstart(a) => cmd::quickstart::run(a, logs).await,
        Command::Login(a) => cmd::login::login(a, &flags).await,
        Command::Config {
            what: ConfigCmd::SetProject { project },
        } => cmd::login::set_project(&project),
        Command::Config {
            what: ConfigCmd::Kubeconfig,
        } => cmd::kubeconfig::print(&flags),
        Command::Apply {
            files,
            project,
            validate,
        } => {
            let c = client::client(&flags).await?;
            cmd::apply::apply(
                &c,
                &files,
                cmd::apply::ProjectScope::new(
                    project.as_deref(),
                    client::project(None)?.as_deref(),
                ),
                false,
                validate.validate,
            )
            .await
        }
        Command::Create {
            files,
            project,
            validate,
            what,
        } => {
            let c = client::client(&flags).await?;
            match (what, files.is_empty()) {
                (Some(CreateCmd::Project { name }), true) => {
                    cmd::apply::create_project(&c, &name).await
                }
                (Some(CreateCmd::Freight(a)), true) => {
                    let project =
                        client::require_project(a.project.as_deref().or(project.as_deref()))?;
                    cmd::freight::create(&c, &project, a).await
                }
                (Some(CreateCmd::RepoCredentials(a)), true) => {
                    let project =
                        client::require_project(a.project.as_deref().or(project.as_deref()))?;
                    cmd::credentials::create(&c, &project, a).await
                }
                (None, false) => {
                    cmd::apply::apply(
                        &c,
                        &files,
                        cmd::apply::ProjectScope::new(
                            project.as_deref(),
                            client::project(None)?.as_deref(),
                        ),
                        true,
                        validate.validate,
                    )
                    .await
                }
                _ => anyhow::bail!(
                    "use either `kargo create -f FILE` or `kargo create project NAME`"
                ),
            }
        }
        Command::Get {
            kind,
            name,
            project,
            output,
        } => {
            let c = client::client(&flags).await?;
            cmd::get::get(
                &c,
                &kind,
                name.as_deref(),
                client::project(project.as_deref())?.as_deref(),
                output,
            )
            .await
        }
        Command::Delete {
            args,
            files,
            project,
        } => {
            let c = client::client(&flags).await?;
            let project = client::project(project.as_deref())?;
            match (args.as_slice(), files.is_empty()) {
                ([], false) => cmd::delete::by_files(&c, &files, project.as_deref()).await,
                ([kind, names @ ..], true) if !names.is_empty() => {
                    cmd::delete::by_name(&c, kind, names, project.as_deref()).await
                }
                _ => anyhow::bail!(
                    "usage: kargo delete KIND NAME... [-p PROJECT] or kargo delete -f FILE"
                ),
            }
        }
        Command::Refresh {
            what:
                RefreshCmd::Warehouse {
                    name,
                    project,
                    wait,
                    timeout,
                },
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::refresh::warehouse(
                &c,
                &name,
                &project,
                wait,
                std::time::Duration::from_secs(timeout),
            )
            .await
        }
        Command::Promote {
            project,
            stage,
            freight,
            wait,
            timeout,
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::promote::promote(
                &c,
                &project,
                &stage,
                &freight,
                wait,
                std::time::Duration::from_secs(timeout),
            )
            .await
        }
        Command::Logs {
            kind,
            name,
            project,
        } => {
            if !matches!(kind.as_str(), "analysisrun" | "analysisruns" | "ar") {
                anyhow::bail!(
                    "kargo logs shows AnalysisRuns: kargo logs analysisrun NAME -p PROJECT"
                );
            }
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::promote::logs(&c, &project, &name).await
        }
        Command::Verify {
            project,
            stage,
            abort,
            what,
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            let stage = match (stage, what) {
                (Some(s), None) | (None, Some(VerifyCmd::Stage { name: s })) => s,
                (Some(_), Some(_)) => anyhow::bail!(
                    "name the Stage once: `kargo verify --stage S` or `kargo verify stage S`"
                ),
                (None, None) => anyhow::bail!("which Stage? `kargo verify --project P --stage S`"),
            };
            cmd::promote::verify(&c, &project, &stage, abort).await
        }
        Command::Abort {
            what: AbortCmd::Promotion { name, project },
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::promote::abort(&c, &project, &name).await
        }
        Command::Approve {
            project,
            freight,
            stage,
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::promote::approve(&c, &project, &freight, &stage).await
        }
        Command::Update {
            what:
                UpdateCmd::Freight {
                    name,
                    project,
                    old_alias,
                    new_alias,
                },
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::freight::update_alias(
                &c,
                &project,
                name.as_deref(),
                old_alias.as_deref(),
                &new_alias,
            )
            .await
        }
        Command::Version => {
            outln!("Client Version: {}", env!("CARGO_PKG_VERSION"))?;
            match client::client(&flags).await {
                Ok(c) => match c.apiserver_version().await {
                    Ok(v) => outln!("Server Version: {}", v.git_version)?,
                    Err(e) => outln!("Server Version: unavailable ({})", resources::explain(e))?,
                },
                Err(e) => outln!("Server Version: unavailable ({e})")?,
            }
            Ok(())
        }
    }
}
