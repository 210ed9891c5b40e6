//! `kargo quickstart`: the whole product in a minute, with no cluster,
//! Docker or network. It builds a workspace (an app repository whose
//! semver tags are releases, a GitOps config repository), starts the
//! embedded server and a stand-in environment, creates the pipeline
//! dev → staging-us + staging-eu → prod-us, then plays the story: two
//! releases flow through, a broken third one fails its health check in
//! dev and stops there, prod-us is promoted by hand and rolled back.

mod demo_env;
mod manifests;
mod workspace;

use crate::config::CliConfig;
use anyhow::{Context, Result, bail};
use kargo_api::{Freight, Stage, labels};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use workspace::{STAGES, Workspace};

/// Flags of `kargo quickstart`.
#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// Workspace directory (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Leave the server and the demo environment running afterwards.
    #[arg(long)]
    pub keep_running: bool,
}

const PROJECT: &str = "my-web-app";

struct Story {
    client: kube::Client,
    ws: Workspace,
    start: Instant,
    seen: BTreeMap<String, String>,
}

impl Story {
    fn say(&self, msg: &str) -> Result<()> {
        outln!("[{:>5.1}s] {msg}", self.start.elapsed().as_secs_f64())
    }

    async fn freight(&self) -> Result<Vec<Freight>> {
        Ok(Api::<Freight>::namespaced(self.client.clone(), PROJECT)
            .list(&ListParams::default())
            .await?
            .items)
    }

    async fn stages(&self) -> Result<Vec<Stage>> {
        Ok(Api::<Stage>::namespaced(self.client.clone(), PROJECT)
            .list(&ListParams::default())
            .await?
            .items)
    }

    fn tag_of(f: &Freight) -> String {
        f.commits.first().map(|c| c.tag.clone()).unwrap_or_default()
    }

    /// Prints what changed in each Stage since the last look.
    async fn report(&mut self) -> Result<()> {
        let freight = self.freight().await?;
        let by_name: BTreeMap<String, &Freight> = freight
            .iter()
            .map(|f| (f.metadata.name.clone().unwrap_or_default(), f))
            .collect();
        for s in self.stages().await? {
            let name = s.metadata.name.clone().unwrap_or_default();
            let st = s.status.clone().unwrap_or_default();
            let current = by_name
                .get(&st.freight_summary)
                .map(|f| format!("{} ({})", Self::tag_of(f), f.alias().unwrap_or("")))
                .unwrap_or_default();
            let promoting = st.current_promotion.as_ref().map(|p| p.name.clone());
            let verification = st
                .freight_history
                .first()
                .and_then(|c| c.verification_history.first())
                .map(|v| v.phase.clone())
                .unwrap_or_default();
            let line = match (&promoting, current.is_empty()) {
                (Some(_), _) => "promoting".to_string(),
                (None, true) => String::new(),
                (None, false) => format!(
                    "{current}: verification {}",
                    if verification.is_empty() {
                        "pending"
                    } else {
                        &verification
                    }
                ),
            };
            if !line.is_empty() && self.seen.get(&name) != Some(&line) {
                self.say(&format!("{name:<11} {line}"))?;
                self.seen.insert(name, line);
            }
        }
        Ok(())
    }

    /// Waits (reporting progress) until `cond` holds.
    async fn until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl AsyncFnMut(&Story) -> Result<bool>,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            self.report().await?;
            if cond(self).await? {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!("timed out after {}s waiting for {what}", timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn freight_for(&self, tag: &str) -> Result<Option<Freight>> {
        Ok(self
            .freight()
            .await?
            .into_iter()
            .find(|f| Self::tag_of(f) == tag))
    }

    async fn verified_in(&self, tag: &str, stage: &str) -> Result<bool> {
        Ok(self.freight_for(tag).await?.is_some_and(|f| {
            f.status
                .as_ref()
                .is_some_and(|s| s.verified_in.contains_key(stage))
        }))
    }

    async fn release(&mut self, tag: &str) -> Result<()> {
        self.ws.release(tag)?;
        self.say(&format!(
            "released {tag} (tagged the app repository) and refreshed the Warehouse"
        ))?;
        let patch = json!({"metadata": {"annotations": {labels::REFRESH: jiff::Timestamp::now().to_string()}}});
        Api::<kargo_api::Warehouse>::namespaced(self.client.clone(), PROJECT)
            .patch(PROJECT, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    /// The current verification phase of a Stage.
    async fn verification(&self, stage: &str) -> Result<(String, String)> {
        let s = Api::<Stage>::namespaced(self.client.clone(), PROJECT)
            .get(stage)
            .await?;
        let st = s.status.unwrap_or_default();
        let v = st
            .freight_history
            .first()
            .and_then(|c| c.verification_history.first())
            .cloned()
            .unwrap_or_default();
        Ok((st.freight_summary, v.phase))
    }
}

/// Runs the quick start.
pub async fn run(args: QuickstartArgs, logs: kargo_server::process_logs::LogBuffer) -> Result<()> {
    let keep_dir = args.dir.is_some() || args.keep_running;
    let tmp = tempfile::Builder::new()
        .prefix("kargo-quickstart-")
        .tempdir()
        .context("creating a workspace")?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let start = Instant::now();
    outln!("kargo quick start — workspace {}", dir.display())?;
    let ws = Workspace::create(&dir)?;
    let env_url = demo_env::start(ws.config_repo())
        .await
        .context("starting the demo environment")?;
    let server = kargo_server::Server::start(kargo_server::ServerConfig {
        min_warehouse_interval: Duration::from_secs(1),
        // The quick start's repositories are local (file://).
        allow_file_repos: true,
        logs,
        ..kargo_server::ServerConfig::new(dir.join("data"), "127.0.0.1:0".parse()?)
    })
    .await
    .context("starting the server")?;
    let s = server.started.clone();
    let cfg_path = dir.join("kargo-config.yaml");
    std::fs::write(
        &cfg_path,
        yaml_serde::to_string(&CliConfig {
            api_address: s.url.clone(),
            bearer_token: s.token.clone(),
            ca_data: s.ca_pem.clone().unwrap_or_default(),
            project: PROJECT.into(),
            ..Default::default()
        })?,
    )?;
    outln!("  app repository:    {}", ws.app_url)?;
    outln!("  config repository: {}", ws.config_url)?;
    outln!(
        "  demo environment:  {env_url}/<stage>/healthz  (stands in for Argo CD and a cluster: it runs what git says)"
    )?;
    outln!("  kargo server:      {}", s.url)?;
    for line in kargo_server::ui::address_hint(&s).lines() {
        outln!("  {line}")?;
    }

    let client = server.client()?;
    let mdir = dir.join("manifests");
    std::fs::create_dir_all(&mdir)?;
    for (name, text) in manifests::files(&ws, &env_url) {
        std::fs::write(mdir.join(name), text)?;
    }
    crate::cmd::apply::apply(
        &client,
        &[mdir.to_string_lossy().into_owned()],
        crate::cmd::apply::ProjectScope::default(),
        false,
        crate::cmd::apply::Validate::Strict,
    )
    .await?;
    outln!(
        "pipeline: dev -> staging-us + staging-eu -> prod-us (prod-us needs both); dev and staging auto-promote; every Stage verifies /healthz\n"
    )?;

    let mut story = Story {
        client: client.clone(),
        ws,
        start,
        seen: BTreeMap::new(),
    };
    for tag in ["v1.0.0", "v1.1.0"] {
        story.release(tag).await?;
        let t = tag.to_string();
        story
            .until(
                &format!("{tag} to be verified in both staging Stages"),
                Duration::from_secs(120),
                async move |s: &Story| {
                    Ok(s.verified_in(&t, "staging-us").await?
                        && s.verified_in(&t, "staging-eu").await?)
                },
            )
            .await?;
        story.say(&format!(
            "{tag} is verified in dev, staging-us and staging-eu: prod-us may take it"
        ))?;
    }
    story.release("v1.2.0").await?;
    story
        .until(
            "v1.2.0 to fail its health check in dev",
            Duration::from_secs(120),
            async |s: &Story| {
                let Some(f) = s.freight_for("v1.2.0").await? else {
                    return Ok(false);
                };
                let (current, phase) = s.verification("dev").await?;
                Ok(current == f.metadata.name.clone().unwrap_or_default()
                    && matches!(phase.as_str(), "Failed" | "Error"))
            },
        )
        .await?;
    story.say("v1.2.0 failed its health check in dev: it stops there, staging keeps v1.1.0")?;
    for st in ["staging-us", "staging-eu"] {
        if story.ws.deployed(st) != "v1.1.0" {
            bail!(
                "{st} should still run v1.1.0, but git says {}",
                story.ws.deployed(st)
            );
        }
    }

    // prod-us by hand, then the rollback — by alias, as a user would.
    let alias = |f: Option<Freight>| {
        f.and_then(|f| f.alias().map(String::from))
            .unwrap_or_default()
    };
    let v11 = alias(story.freight_for("v1.1.0").await?);
    let v10 = alias(story.freight_for("v1.0.0").await?);
    outln!("\n$ kargo promote --project {PROJECT} --stage prod-us --freight {v11} --wait")?;
    crate::cmd::promote::promote(
        &client,
        PROJECT,
        "prod-us",
        &v11,
        true,
        Duration::from_secs(120),
    )
    .await?;
    story.say(&format!(
        "prod-us runs {} (git says so)",
        story.ws.deployed("prod-us")
    ))?;
    outln!(
        "\n$ kargo promote --project {PROJECT} --stage prod-us --freight {v10} --wait   # the rollback"
    )?;
    crate::cmd::promote::promote(
        &client,
        PROJECT,
        "prod-us",
        &v10,
        true,
        Duration::from_secs(120),
    )
    .await?;
    if story.ws.deployed("prod-us") != "v1.0.0" {
        bail!(
            "the rollback did not write v1.0.0 to prod-us: git says {}",
            story.ws.deployed("prod-us")
        );
    }
    story.say("prod-us is back on v1.0.0: the same steps wrote the old tag to git")?;
    story
        .until(
            "prod-us to verify the rollback",
            Duration::from_secs(60),
            async |s: &Story| {
                let f = s
                    .freight_for("v1.0.0")
                    .await?
                    .and_then(|f| f.metadata.name.clone())
                    .unwrap_or_default();
                let settled = s.stages().await?.iter().any(|st| {
                    st.metadata.name.as_deref() == Some("prod-us")
                        && st
                            .status
                            .as_ref()
                            .is_some_and(|x| x.current_promotion.is_none())
                });
                // The summary reads verification results: wait until the
                // rolled-back Freight's verification has finished.
                let (current, phase) = s.verification("prod-us").await?;
                Ok(settled && current == f && kargo_api::verification_request::is_terminal(&phase))
            },
        )
        .await?;
    story.report().await?;

    summary(&story).await?;
    outln!(
        "\nTry it yourself (the server is {}):",
        if args.keep_running {
            "still running"
        } else {
            "stopped when this command ends; use --keep-running"
        }
    )?;
    outln!("  export KARGO_CONFIG={}", cfg_path.display())?;
    outln!("  kargo get freight -p {PROJECT}")?;
    outln!("  kargo get stages -p {PROJECT}")?;
    outln!("  kargo promote --project {PROJECT} --stage prod-us --freight {v11} --wait")?;
    outln!("  export KUBECONFIG={}", s.kubeconfig.display())?;
    outln!("  kubectl get stages -n {PROJECT}")?;
    outln!("  kubectl logs -n kargo deploy/kargo-controller   # what the controllers did")?;
    outln!(
        "  git -C {} log --oneline main   # what Kargo committed",
        dir.join("repos/k8s-config.git").display()
    )?;
    if args.keep_running {
        outln!("\nPress Ctrl-C to stop.")?;
        tokio::signal::ctrl_c().await?;
    }
    server.shutdown();
    if keep_dir {
        let _ = tmp.keep();
    }
    Ok(())
}

async fn summary(story: &Story) -> Result<()> {
    let mut freight = story.freight().await?;
    freight.sort_by_key(Story::tag_of);
    let stages = story.stages().await?;
    let current: BTreeMap<String, String> = stages
        .iter()
        .map(|s| {
            (
                s.metadata.name.clone().unwrap_or_default(),
                s.status.clone().unwrap_or_default().freight_summary,
            )
        })
        .collect();
    let failed_in = |fname: &str, stage: &str| {
        stages
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(stage))
            .is_some_and(|s| {
                s.status.as_ref().is_some_and(|st| {
                    st.freight_history.iter().any(|c| {
                        c.items.values().any(|r| r.name == fname)
                            && c.verification_history.first().is_some_and(|v| {
                                matches!(v.phase.as_str(), "Failed" | "Error" | "Inconclusive")
                            })
                    })
                })
            })
    };
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    let mut header = vec!["FREIGHT".to_string(), "ALIAS".to_string()];
    header.extend(STAGES.iter().map(|s| s.to_uppercase()));
    t.set_header(header);
    for f in &freight {
        let name = f.metadata.name.clone().unwrap_or_default();
        let verified = f.status.clone().unwrap_or_default().verified_in;
        let mut row = vec![Story::tag_of(f), f.alias().unwrap_or("").to_string()];
        for st in STAGES {
            let mut cell = if verified.contains_key(st) {
                "verified".to_string()
            } else if failed_in(&name, st) {
                "FAILED".to_string()
            } else {
                "-".to_string()
            };
            if current.get(st) == Some(&name) {
                cell.push_str(" (current)");
            }
            row.push(cell);
        }
        t.add_row(row);
    }
    outln!("\nFreight × Stage:")?;
    for line in t.to_string().lines() {
        outln!("  {}", line.trim_end().trim_start_matches(' '))?;
    }
    Ok(())
}
