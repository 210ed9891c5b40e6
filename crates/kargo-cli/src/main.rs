//! The `kargo` binary: the embedded server (`kargo server`) and the CLI
//! verbs users know from Kargo, talking to any Kubernetes-compatible API
//! through kube-rs.

// stdout goes through `outln!`, which ends quietly on a closed pipe.
#![deny(clippy::print_stdout)]

#[macro_use]
mod output;
#[cfg(feature = "jemalloc")]
mod allocator;
mod client;
mod cmd;
mod complete;
mod config;
mod format;
mod install_manifests;
mod manifest;
mod password;
mod progress;
mod resources;
mod scope;
mod style;
mod template;
mod unreachable;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::ArgValueCompleter;
use client::ConnectFlags;
use format::Format;
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
    Server(Box<cmd::server::ServerArgs>),
    /// Run the controllers against a Kubernetes API server (a cluster, or
    /// `kargo server --disable-controllers`), with sharding and leader election.
    Controller(Box<cmd::controller::ControllerArgs>),
    /// Serve Kargo's admission (defaulting, validation) as Kubernetes
    /// admission webhooks, registering them with a CA of its own.
    WebhookServer(Box<cmd::webhook_server::WebhookServerArgs>),
    /// Save the address and token of a server.
    Login(cmd::login::LoginArgs),
    /// Open the web UI of the configured server in a browser (prints its address when none starts).
    Dashboard,
    /// Forget the server, token and default project.
    Logout,
    /// Manage CLI settings.
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
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        /// Accepted for Kargo's `-R`: directories are always read recursively.
        #[arg(short = 'R', long)]
        recursive: bool,
        #[command(flatten)]
        validate: cmd::apply::ValidateFlag,
    },
    /// Create objects (fails if they exist).
    Create {
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename")]
        files: Vec<String>,
        /// Project for objects that name none.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        /// Accepted for Kargo's `-R`: directories are always read recursively.
        #[arg(short = 'R', long)]
        recursive: bool,
        #[command(flatten)]
        validate: cmd::apply::ValidateFlag,
        #[command(subcommand)]
        what: Option<CreateCmd>,
    },
    /// Display one or many objects.
    Get(cmd::get::GetArgs),
    /// Write every object (Freight with their IDs, aliases and
    /// verification) as YAML for `kargo import` on another server.
    Export(cmd::export::ExportArgs),
    /// Load what `kargo export` wrote (server-side apply, then status).
    Import {
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
    },
    /// Delete objects by name or from files.
    Delete {
        /// Kind and names.
        #[arg(add = ArgValueCompleter::new(complete::names))]
        args: Vec<String>,
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename")]
        files: Vec<String>,
        /// Accepted for Kargo's `-R`: directories are always read recursively.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Project.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        /// Freight: a name (repeatable).
        #[arg(long = "name", add = ArgValueCompleter::new(complete::freight))]
        names: Vec<String>,
        /// Freight: an alias (repeatable).
        #[arg(long = "alias", add = ArgValueCompleter::new(complete::freight))]
        aliases: Vec<String>,
        // Credentials and ConfigMaps: `--shared` or `--system` instead of a project's.
        #[command(flatten)]
        scope: scope::ScopeFlags,
    },
    /// Grant a Kargo Role a permission or an OIDC claim.
    Grant(cmd::roles::GrantArgs),
    /// Revoke a permission or an OIDC claim from a Kargo Role.
    Revoke(cmd::roles::GrantArgs),
    /// Promote Freight into a Stage, or to the Stages downstream of one;
    /// or abort a Promotion.
    Promote(cmd::promote::PromoteArgs),
    /// Hold auto-promotion of a Stage: `kargo hold stage S --reason R`.
    Hold(cmd::hold::HoldArgs),
    /// Release a Stage's auto-promotion holds: `kargo release stage S`.
    Release(cmd::hold::ReleaseArgs),
    /// Show an AnalysisRun's measurements and the output of its job metrics.
    Logs {
        /// `[analysisrun] NAME`: the AnalysisRun (the kind word is optional).
        #[arg(num_args = 1..=2, required = true, add = ArgValueCompleter::new(complete::analysis_runs))]
        args: Vec<String>,
        /// Project.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        /// Only this metric.
        #[arg(long)]
        metric: Option<String>,
        /// Kargo's container filter for job metrics (one container a job here).
        #[arg(long)]
        container: Option<String>,
    },
    /// Re-run (or abort) a Stage's verification.
    Verify {
        /// Project.
        #[arg(short = 'p', long, global = true, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        /// Stage (the seed's form: `kargo verify --project P --stage S`).
        #[arg(long, add = ArgValueCompleter::new(complete::stages))]
        stage: Option<String>,
        /// Abort the running verification instead.
        #[arg(long, global = true)]
        abort: bool,
        /// Follow the verification to its end (exit code 0 only if it succeeded).
        #[arg(long, global = true)]
        wait: bool,
        /// How long --wait waits, in seconds.
        #[arg(long, global = true, default_value_t = 600)]
        timeout: u64,
        #[command(subcommand)]
        what: Option<VerifyCmd>,
    },
    /// Abort a running or pending Promotion (Kargo: `kargo promote --name N --abort`).
    Abort {
        #[command(subcommand)]
        what: AbortCmd,
    },
    /// Approve Freight for a Stage, bypassing upstream verification and soak.
    Approve {
        /// Project.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        /// Freight name (or alias).
        #[arg(long, required_unless_present = "freight_alias", add = ArgValueCompleter::new(complete::freight))]
        freight: Option<String>,
        /// Freight alias.
        #[arg(long, conflicts_with = "freight", add = ArgValueCompleter::new(complete::freight))]
        freight_alias: Option<String>,
        /// Stage.
        #[arg(long, add = ArgValueCompleter::new(complete::stages))]
        stage: String,
    },
    /// Change objects.
    Update {
        #[command(subcommand)]
        what: UpdateCmd,
    },
    /// Ask a Warehouse to discover artifacts, or a Stage to look again, now.
    Refresh {
        #[command(subcommand)]
        what: RefreshCmd,
    },
    /// Print a shell completion script: `source <(kargo completion bash)`.
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: String,
    },
    /// Print what installing on a cluster needs: `kargo install | kubectl
    /// apply --server-side -f -` (everything), `kargo install crds` (the
    /// CRDs only).
    Install {
        #[command(subcommand)]
        what: Option<InstallCmd>,
        #[command(flatten)]
        args: cmd::install::InstallArgs,
    },
    /// Delivery statistics per Stage: deployment frequency, lead time,
    /// change failure rate, time to restore (docs/metrics.md).
    Stats {
        /// Project.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        /// The window ending now: days (`7d`) or a Go duration (`36h`).
        #[arg(long, default_value = "7d")]
        window: String,
        /// The window's end instead of now (RFC 3339): figures as they stood then.
        #[arg(long)]
        at: Option<String>,
        /// Output format: json, yaml, jsonpath=TEMPLATE, go-template=TEMPLATE.
        #[arg(short = 'o', long, value_parser = Format::parse)]
        output: Option<Format>,
        /// The template for `-o jsonpath` / `-o go-template`.
        #[arg(long)]
        template: Option<String>,
    },
    /// Print client and server versions.
    Version {
        /// The client's version only (no server needed).
        #[arg(long)]
        client: bool,
        /// Output format: json, yaml, jsonpath=TEMPLATE, go-template=TEMPLATE.
        #[arg(short = 'o', long, value_parser = Format::parse)]
        output: Option<Format>,
        /// The template for `-o jsonpath` / `-o go-template`.
        #[arg(long)]
        template: Option<String>,
    },
}

#[derive(Subcommand)]
enum VerifyCmd {
    /// Verify a Stage: `kargo verify stage S -p P [--abort] [--wait]`.
    Stage {
        /// Stage name.
        #[arg(add = ArgValueCompleter::new(complete::stages))]
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
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
    },
}

#[derive(Subcommand)]
enum UpdateCmd {
    /// Rename the alias of a piece of Freight.
    Freight {
        /// Freight name (or use --name or --old-alias).
        #[arg(add = ArgValueCompleter::new(complete::freight))]
        name: Option<String>,
        /// Project.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        /// Freight name (Kargo's spelling).
        #[arg(long = "name", conflicts_with = "name", add = ArgValueCompleter::new(complete::freight))]
        name_flag: Option<String>,
        /// The current alias.
        #[arg(long, add = ArgValueCompleter::new(complete::freight))]
        old_alias: Option<String>,
        /// The new alias (`--alias` is accepted too).
        #[arg(long, visible_alias = "alias")]
        new_alias: String,
    },
    /// Change repository credentials (only what is given).
    #[command(aliases = &cmd::credentials::ALIASES[1..])]
    RepoCredentials(cmd::credentials::UpdateRepoCredentialsArgs),
    /// Change generic credentials: `--set`, `--unset`, `--description`.
    #[command(aliases = &cmd::generic_credentials::ALIASES[1..])]
    GenericCredentials(cmd::key_values::UpdateArgs),
    /// Change a ConfigMap: `--set`, `--unset`, `--description`.
    #[command(aliases = &cmd::configmaps::ALIASES[..1], alias = "cm")]
    Configmap(cmd::key_values::UpdateArgs),
}

#[derive(Subcommand)]
enum RefreshCmd {
    /// Refresh a Warehouse (discover artifacts now).
    Warehouse(RefreshArgs),
    /// Refresh a Stage (re-evaluate it now).
    Stage(RefreshArgs),
    /// Refresh the ClusterConfig (re-read it now).
    Clusterconfig(WaitArgs),
    /// Refresh a project's ProjectConfig (re-read it now).
    Projectconfig {
        /// Project.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// `--wait [--timeout SECS]` of `kargo refresh clusterconfig|projectconfig`.
#[derive(clap::Args)]
struct WaitArgs {
    /// Wait until the refresh was handled.
    #[arg(long)]
    wait: bool,
    /// How long to wait, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[derive(clap::Args)]
struct RefreshArgs {
    /// Name.
    #[arg(add = ArgValueCompleter::new(complete::names))]
    name: String,
    /// Project.
    #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
    project: Option<String>,
    /// Wait until the refresh was handled, and report its outcome.
    #[arg(long)]
    wait: bool,
    /// How long to wait, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[derive(Subcommand)]
enum InstallCmd {
    /// Print every CustomResourceDefinition as multi-document YAML.
    Crds,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Set the default project (`""` unsets it).
    SetProject {
        /// Project name.
        #[arg(add = ArgValueCompleter::new(complete::projects))]
        project: String,
    },
    /// Print a kubeconfig with a `kargo` context for the configured server.
    Kubeconfig,
    /// Display the default project.
    GetProject,
    /// Display the CLI configuration (the token masked unless --raw).
    View {
        /// Show the token and CA.
        #[arg(long)]
        raw: bool,
        /// yaml (default), json, jsonpath=…, go-template=….
        #[arg(short = 'o', long, value_parser = Format::parse, default_value = "yaml")]
        output: Format,
        /// The template for `-o jsonpath` / `-o go-template`.
        #[arg(long)]
        template: Option<String>,
    },
    /// Clear a setting: `kargo config unset project`.
    Unset {
        /// The setting.
        #[arg(value_enum)]
        what: cmd::config::Setting,
    },
}

#[derive(Subcommand)]
enum CreateCmd {
    /// Create a project (and its namespace).
    Project {
        /// Project name.
        name: String,
    },
    /// Store credentials for a git, image or Helm repository in a project
    /// (or, with --shared, for every project).
    #[command(aliases = &cmd::credentials::ALIASES[1..])]
    RepoCredentials(cmd::credentials::RepoCredentialsArgs),
    /// Store generic credentials (`--set KEY=VALUE`) for steps and expressions.
    #[command(aliases = &cmd::generic_credentials::ALIASES[1..])]
    GenericCredentials(cmd::key_values::CreateArgs),
    /// Create a ConfigMap (`--set KEY=VALUE`) for steps and expressions.
    #[command(aliases = &cmd::configmaps::ALIASES[..1], alias = "cm")]
    Configmap(cmd::key_values::CreateArgs),
    /// Create Freight by hand from artifacts a Warehouse has discovered.
    Freight(cmd::freight::CreateFreightArgs),
    /// Create a Kargo Role (ServiceAccount, Role and RoleBinding).
    Role(cmd::roles::CreateRoleArgs),
    /// Create an API token bound to a Kargo Role.
    Token(cmd::tokens::CreateTokenArgs),
}

fn main() {
    // `COMPLETE=bash kargo -- WORDS`: the shell asks for candidates.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
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
        if e.is::<progress::TimedOut>() {
            std::process::exit(progress::EXIT_TIMED_OUT);
        }
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
    let secs = std::time::Duration::from_secs;
    match cli.command {
        Command::Server(a) => cmd::server::run(*a, flags.kubeconfig.clone(), logs).await,
        Command::Controller(a) => cmd::controller::run(*a, flags.kubeconfig.clone()).await,
        Command::WebhookServer(a) => cmd::webhook_server::run(*a, flags.kubeconfig.clone()).await,
        Command::Quickstart(a) => cmd::quickstart::run(a, logs).await,
        Command::Login(a) => cmd::login::login(a, &flags).await,
        Command::Logout => cmd::config::logout(),
        Command::Dashboard => cmd::dashboard::run(&flags),
        Command::Install {
            what: Some(InstallCmd::Crds),
            ..
        } => cmd::install::crds(),
        Command::Install { what: None, args } => cmd::install::all(args),
        Command::Config { what } => match what {
            ConfigCmd::SetProject { project } => cmd::login::set_project(&project),
            ConfigCmd::GetProject => cmd::config::get_project(),
            ConfigCmd::Kubeconfig => cmd::kubeconfig::print(&flags),
            ConfigCmd::View {
                raw,
                output,
                template,
            } => cmd::config::view(raw, &output.with_template(template.as_deref())?),
            ConfigCmd::Unset { what } => cmd::config::unset(what),
        },
        Command::Completion { shell } => complete::script(&shell),
        Command::Apply {
            files,
            project,
            recursive: _,
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
            recursive: _,
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
                (Some(CreateCmd::Role(a)), true) => {
                    let project =
                        client::require_project(a.project.as_deref().or(project.as_deref()))?;
                    cmd::roles::create(&c, &project, a).await
                }
                (Some(CreateCmd::Token(a)), true) => {
                    let project =
                        client::require_project(a.project.as_deref().or(project.as_deref()))?;
                    cmd::tokens::create(&c, &project, a).await
                }
                (Some(CreateCmd::RepoCredentials(mut a)), true) => {
                    a.project = a.project.or(project);
                    cmd::credentials::create(&c, a).await
                }
                (Some(CreateCmd::GenericCredentials(mut a)), true) => {
                    a.project = a.project.or(project);
                    cmd::key_values::create(&c, &cmd::generic_credentials::FAMILY, a).await
                }
                (Some(CreateCmd::Configmap(mut a)), true) => {
                    a.project = a.project.or(project);
                    cmd::key_values::create(&c, &cmd::configmaps::FAMILY, a).await
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
        Command::Get(a) => {
            let c = client::client(&flags).await?;
            let project = client::project(a.project.as_deref())?;
            match a.kind.as_str() {
                "role" | "roles" => {
                    cmd::roles::get(&c, &client::require_project(project.as_deref())?, &a.names)
                        .await
                }
                "token" | "tokens" => {
                    cmd::tokens::get(&c, &client::require_project(project.as_deref())?, &a.names)
                        .await
                }
                _ => cmd::get::get(&c, a, project.as_deref()).await,
            }
        }
        Command::Export(a) => cmd::export::run(&client::client(&flags).await?, a).await,
        Command::Import { files } => cmd::import::run(&client::client(&flags).await?, &files).await,
        Command::Grant(a) => {
            let c = client::client(&flags).await?;
            let project = client::require_project(a.project.as_deref())?;
            cmd::roles::grant(&c, &project, a, false).await
        }
        Command::Revoke(a) => {
            let c = client::client(&flags).await?;
            let project = client::require_project(a.project.as_deref())?;
            cmd::roles::grant(&c, &project, a, true).await
        }
        Command::Delete {
            args,
            files,
            recursive: _,
            project,
            names,
            aliases,
            scope,
        } => {
            let c = client::client(&flags).await?;
            let project = client::project(project.as_deref())?;
            if let ([kind, names @ ..], true) = (args.as_slice(), files.is_empty())
                && let Some(view) = cmd::resource_views::view_for(kind)
                && !names.is_empty()
            {
                let scope = scope.resolve(project.as_deref(), view.system)?;
                return cmd::resource_views::delete(&c, view, &scope, names).await;
            }
            if scope.given() {
                anyhow::bail!(
                    "--shared and --system select credentials and ConfigMaps: kargo delete repo-credentials --shared NAME"
                );
            }
            let freight = args
                .first()
                .is_some_and(|k| resources::resolve(k).is_ok_and(|i| i.kind == "Freight"));
            match (args.as_slice(), files.is_empty()) {
                ([], false) => cmd::delete::by_files(&c, &files, project.as_deref()).await,
                ([kind, name], true) if matches!(kind.as_str(), "role" | "token") => {
                    let project = client::require_project(project.as_deref())?;
                    if kind == "role" {
                        cmd::roles::delete(&c, &project, name).await
                    } else {
                        cmd::tokens::delete(&c, &project, name).await
                    }
                }
                ([_, names_given @ ..], true)
                    if freight
                        && !(names_given.is_empty() && names.is_empty() && aliases.is_empty()) =>
                {
                    let all: Vec<String> = names_given.iter().chain(&names).cloned().collect();
                    cmd::delete::freight(&c, &all, &aliases, project.as_deref()).await
                }
                ([kind, names @ ..], true) if !names.is_empty() => {
                    cmd::delete::by_name(&c, kind, names, project.as_deref()).await
                }
                _ => anyhow::bail!(
                    "usage: kargo delete KIND NAME... [-p PROJECT], kargo delete freight --name N | --alias A, or kargo delete -f FILE"
                ),
            }
        }
        Command::Refresh { what } => {
            use cmd::refresh::Target;
            let (target, a) = match what {
                RefreshCmd::Warehouse(a) => (Target::Warehouse, a),
                RefreshCmd::Stage(a) => (Target::Stage, a),
                RefreshCmd::Clusterconfig(w) => (
                    Target::ClusterConfig,
                    RefreshArgs {
                        name: "cluster".into(),
                        project: Some(String::new()),
                        wait: w.wait,
                        timeout: w.timeout,
                    },
                ),
                RefreshCmd::Projectconfig { project, wait: w } => {
                    let p = client::require_project(project.as_deref())?;
                    let name = p.clone();
                    (
                        Target::ProjectConfig,
                        RefreshArgs {
                            name,
                            project: Some(p),
                            wait: w.wait,
                            timeout: w.timeout,
                        },
                    )
                }
            };
            let c = client::client(&flags).await?;
            let project = client::require_project(a.project.as_deref())?;
            cmd::refresh::run(&c, target, &a.name, &project, a.wait, secs(a.timeout)).await
        }
        Command::Promote(a) => {
            let c = client::client(&flags).await?;
            let project = client::require_project(a.project.as_deref())?;
            cmd::promote::run(&c, &project, a).await
        }
        Command::Hold(a) => cmd::hold::hold(&client::client(&flags).await?, a).await,
        Command::Release(a) => cmd::hold::release(&client::client(&flags).await?, a).await,
        Command::Logs {
            args,
            project,
            metric,
            container,
        } => {
            let name = match args.as_slice() {
                [name] => name,
                [kind, name] if matches!(kind.as_str(), "analysisrun" | "analysisruns" | "ar") => {
                    name
                }
                _ => anyhow::bail!(
                    "kargo logs shows AnalysisRuns: kargo logs NAME -p PROJECT (Promotions have no logs)"
                ),
            };
            if container.is_some() {
                anyhow::bail!(
                    "--container: a job metric here runs one container, whose output is shown; leave --container out"
                );
            }
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::logs::logs(&c, &project, name, metric.as_deref()).await
        }
        Command::Verify {
            project,
            stage,
            abort,
            wait,
            timeout,
            what,
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            let stage = match (stage, what) {
                (Some(s), None) | (None, Some(VerifyCmd::Stage { name: s })) => s,
                (Some(_), Some(_)) => anyhow::bail!(
                    "name the Stage once: `kargo verify --stage S` or `kargo verify stage S`"
                ),
                (None, None) => anyhow::bail!("which Stage? `kargo verify stage S --project P`"),
            };
            cmd::verify::verify(&c, &project, &stage, abort, wait.then(|| secs(timeout))).await
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
            freight_alias,
            stage,
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            let f = cmd::promote::find(&c, &project, freight.as_deref(), freight_alias.as_deref())
                .await?;
            cmd::promote::approve(&c, &project, f, &stage).await
        }
        Command::Update {
            what: UpdateCmd::RepoCredentials(a),
        } => cmd::credentials::update(&client::client(&flags).await?, a).await,
        Command::Update {
            what: UpdateCmd::GenericCredentials(a),
        } => {
            let c = client::client(&flags).await?;
            cmd::key_values::update(&c, &cmd::generic_credentials::FAMILY, a).await
        }
        Command::Update {
            what: UpdateCmd::Configmap(a),
        } => {
            let c = client::client(&flags).await?;
            cmd::key_values::update(&c, &cmd::configmaps::FAMILY, a).await
        }
        Command::Update {
            what:
                UpdateCmd::Freight {
                    name,
                    project,
                    name_flag,
                    old_alias,
                    new_alias,
                },
        } => {
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::freight::update_alias(
                &c,
                &project,
                name.or(name_flag).as_deref(),
                old_alias.as_deref(),
                &new_alias,
            )
            .await
        }
        Command::Stats {
            project,
            window,
            at,
            output,
            template,
        } => {
            let window = cmd::stats::parse_window(&window)?;
            let at = match at {
                Some(t) => t
                    .parse::<jiff::Timestamp>()
                    .map_err(|e| anyhow::anyhow!("--at {t:?}: {e} (e.g. 2026-01-08T00:00:00Z)"))?,
                None => jiff::Timestamp::now(),
            };
            let output = match output {
                Some(f) => Some(f.with_template(template.as_deref())?),
                None => None,
            };
            let c = client::client(&flags).await?;
            let project = client::require_project(project.as_deref())?;
            cmd::stats::stats(&c, &project, window, at, output).await
        }
        Command::Version {
            client: client_only,
            output,
            template,
        } => {
            let output = match output {
                Some(f) => Some(f.with_template(template.as_deref())?),
                None => None,
            };
            cmd::version::run(&flags, client_only, output).await
        }
    }
}
