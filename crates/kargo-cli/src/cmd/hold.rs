//! `kargo hold stage S --reason R` and `kargo release stage S`: hold
//! auto-promotion of a Stage, or release every hold on it (also the one
//! an automatic rollback set). Both write annotations the Stage
//! controller turns into `status.autoPromotionHolds`; the API server
//! records who held it and when.

use crate::client;
use crate::complete;
use crate::resources::explain;
use anyhow::Result;
use clap::{Args, Subcommand};
use clap_complete::ArgValueCompleter;
use kargo_api::{Stage, labels};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

/// `kargo hold ...`.
#[derive(Args)]
pub struct HoldArgs {
    #[command(subcommand)]
    what: HoldCmd,
}

#[derive(Subcommand)]
enum HoldCmd {
    /// Hold auto-promotion of a Stage until it is released.
    Stage {
        /// The Stage.
        #[arg(add = ArgValueCompleter::new(complete::stages))]
        name: String,
        /// Why (shown with the hold).
        #[arg(long)]
        reason: String,
        /// Project.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
    },
}

/// `kargo release ...`.
#[derive(Args)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    what: ReleaseCmd,
}

#[derive(Subcommand)]
enum ReleaseCmd {
    /// Release every auto-promotion hold on a Stage.
    Stage {
        /// The Stage.
        #[arg(add = ArgValueCompleter::new(complete::stages))]
        name: String,
        /// Project.
        #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
        project: Option<String>,
    },
}

/// Now, to the nanosecond (a release counts only what came before it).
fn now() -> String {
    jiff::Timestamp::now().to_string()
}

async fn annotate(
    c: &kube::Client,
    project: &str,
    stage: &str,
    annotations: serde_json::Value,
) -> Result<()> {
    let patch = json!({"metadata": {"annotations": annotations}});
    Api::<Stage>::namespaced(c.clone(), project)
        .patch(stage, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(explain)?;
    Ok(())
}

/// Runs `kargo hold`.
pub async fn hold(c: &kube::Client, a: HoldArgs) -> Result<()> {
    let HoldCmd::Stage {
        name,
        reason,
        project,
    } = a.what;
    let project = client::require_project(project.as_deref())?;
    let value = json!({"reason": reason, "at": now()}).to_string();
    annotate(
        c,
        &project,
        &name,
        json!({ labels::AUTO_PROMOTION_HOLD: value }),
    )
    .await?;
    outln!("stage.kargo.akuity.io/{name} held: {reason}")?;
    Ok(())
}

/// Runs `kargo release`.
pub async fn release(c: &kube::Client, a: ReleaseArgs) -> Result<()> {
    let ReleaseCmd::Stage { name, project } = a.what;
    let project = client::require_project(project.as_deref())?;
    annotate(
        c,
        &project,
        &name,
        json!({ labels::AUTO_PROMOTION_HOLD: null, labels::AUTO_PROMOTION_RESUME: now() }),
    )
    .await?;
    outln!("stage.kargo.akuity.io/{name} released")?;
    Ok(())
}
