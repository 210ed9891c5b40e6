//! `kargo promote` in Kargo's forms (`--freight`/`--freight-alias`/
//! `--warehouse`, `--stage`/`--downstream-from`, `--name … --abort`,
//! `--wait` following each Promotion step by step, exit code 0 only when
//! all succeed, 124 when the wait timed out) and `kargo approve` (manual
//! approval of Freight for a Stage).

use crate::complete;
use crate::format::Format;
use crate::output;
use crate::progress::{Progress, TimedOut};
use crate::resources::explain;
use crate::style;
use anyhow::{Context, Result, bail};
use clap_complete::ArgValueCompleter;
use kargo_api::promotion::PromotionPhase;
use kargo_api::{Freight, Promotion, Stage, labels};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

/// Finds Freight by name or alias.
pub async fn resolve_freight(
    client: &kube::Client,
    project: &str,
    name_or_alias: &str,
) -> Result<Freight> {
    let api = Api::<Freight>::namespaced(client.clone(), project);
    if let Some(f) = api.get_opt(name_or_alias).await.map_err(explain)? {
        return Ok(f);
    }
    aliased(client, project, name_or_alias)
        .await?
        .with_context(|| {
            format!("no Freight named or aliased {name_or_alias:?} in project {project}")
        })
}

/// The Freight with this alias, if any.
async fn aliased(client: &kube::Client, project: &str, alias: &str) -> Result<Option<Freight>> {
    Ok(Api::<Freight>::namespaced(client.clone(), project)
        .list(&ListParams::default().labels(&format!("{}={alias}", labels::ALIAS)))
        .await
        .map_err(explain)?
        .items
        .into_iter()
        .next())
}

/// Freight from `--freight NAME` (a name, or an alias as before) or
/// `--freight-alias ALIAS` (Kargo's two flags).
pub async fn find(
    client: &kube::Client,
    project: &str,
    name: Option<&str>,
    alias: Option<&str>,
) -> Result<Freight> {
    match (name, alias) {
        (Some(n), _) => resolve_freight(client, project, n).await,
        (None, Some(a)) => by_alias(client, project, a).await,
        (None, None) => bail!("name the Freight: --freight NAME or --freight-alias ALIAS"),
    }
}

/// Flags of `kargo promote`, in Kargo's spelling.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").args(["freight", "freight_alias", "warehouse", "name"]).required(true)))]
#[command(group(clap::ArgGroup::new("target").args(["stage", "downstream_from", "abort"]).required(true)))]
pub struct PromoteArgs {
    /// Project.
    #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
    pub project: Option<String>,
    /// The Freight to promote, by name (or alias).
    #[arg(long, add = ArgValueCompleter::new(complete::freight))]
    pub freight: Option<String>,
    /// The Freight to promote, by alias.
    #[arg(long, add = ArgValueCompleter::new(complete::freight))]
    pub freight_alias: Option<String>,
    /// Promote the newest Freight from this Warehouse that the Stage may take.
    #[arg(long, conflicts_with = "downstream_from", add = ArgValueCompleter::new(complete::warehouses))]
    pub warehouse: Option<String>,
    /// A Promotion's name (with --abort).
    #[arg(long, requires = "abort")]
    pub name: Option<String>,
    /// The Stage to promote to.
    #[arg(long, add = ArgValueCompleter::new(complete::stages))]
    pub stage: Option<String>,
    /// Promote to every Stage immediately downstream of this one.
    #[arg(long, add = ArgValueCompleter::new(complete::stages))]
    pub downstream_from: Option<String>,
    /// Abort the Promotion named by --name.
    #[arg(long, requires = "name")]
    pub abort: bool,
    /// Follow the Promotion(s) step by step; the exit code is 0 only if all succeed.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Print the created Promotion(s): json, yaml, name, jsonpath=…, go-template=….
    #[arg(short = 'o', long, value_parser = Format::parse)]
    pub output: Option<Format>,
    /// Promote even while promotion windows close the Stage (project
    /// admins; recorded on the Promotion with who asked).
    #[arg(long, requires = "reason")]
    pub override_window: bool,
    /// Why the windows are overridden (with --override-window).
    #[arg(long, requires = "override_window")]
    pub reason: Option<String>,
}

/// Runs `kargo promote` in any of Kargo's forms.
pub async fn run(client: &kube::Client, project: &str, a: PromoteArgs) -> Result<()> {
    if a.abort {
        let name = a.name.as_deref().unwrap_or_default();
        return abort(client, project, name).await;
    }
    let timeout = Duration::from_secs(a.timeout);
    let freight = match (&a.freight, &a.freight_alias, &a.warehouse) {
        (Some(_), _, _) | (_, Some(_), _) => {
            find(
                client,
                project,
                a.freight.as_deref(),
                a.freight_alias.as_deref(),
            )
            .await?
        }
        (_, _, Some(w)) => {
            let stage = a.stage.as_deref().unwrap_or_default();
            newest_available(client, project, w, stage).await?
        }
        _ => bail!("name the Freight: --freight, --freight-alias or --warehouse"),
    };
    let stages = match (&a.stage, &a.downstream_from) {
        (Some(s), _) => vec![s.clone()],
        (_, Some(up)) => downstream_of(client, project, up, &freight).await?,
        _ => bail!("name the Stage: --stage or --downstream-from"),
    };
    let api = Api::<Promotion>::namespaced(client.clone(), project);
    let mut created = Vec::new();
    for stage in &stages {
        let p = create(&api, project, stage, &freight, a.reason.as_deref()).await?;
        if a.output.is_none() {
            let name = p.metadata.name.clone().unwrap_or_default();
            let fname = freight.metadata.name.clone().unwrap_or_default();
            outln!(
                "promotion.kargo.akuity.io/{name} created: {} ({}) -> {stage}",
                freight.alias().unwrap_or(&fname),
                &fname[..fname.len().min(7)]
            )?;
        }
        created.push(p);
    }
    if let Some(f) = &a.output {
        let info = kargo_api::lookup_kind("", "Promotion").expect("registered");
        let values = created
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        f.print(info, &values, values.len() == 1)?;
    }
    if a.wait {
        let mut failed = Vec::new();
        for p in &created {
            let name = p.metadata.name.clone().unwrap_or_default();
            if let Err(e) = follow(&api, &name, timeout).await {
                if e.is::<TimedOut>() || output::is_closed(&e) {
                    return Err(e);
                }
                eprintln!("error: {e:#}");
                failed.push(name);
            }
        }
        if !failed.is_empty() {
            bail!(
                "{} of {} promotions did not succeed: {}",
                failed.len(),
                created.len(),
                failed.join(", ")
            );
        }
    }
    Ok(())
}

/// Creates a Promotion and, with `wait`, follows it to the end.
pub async fn promote(
    client: &kube::Client,
    project: &str,
    stage: &str,
    freight: &str,
    wait: bool,
    timeout: Duration,
) -> Result<()> {
    run(
        client,
        project,
        PromoteArgs {
            project: Some(project.into()),
            freight: Some(freight.into()),
            freight_alias: None,
            warehouse: None,
            name: None,
            stage: Some(stage.into()),
            downstream_from: None,
            abort: false,
            wait,
            timeout: timeout.as_secs(),
            output: None,
            override_window: false,
            reason: None,
        },
    )
    .await
}

async fn create(
    api: &Api<Promotion>,
    project: &str,
    stage: &str,
    f: &Freight,
    override_window: Option<&str>,
) -> Result<Promotion> {
    let fname = f.metadata.name.clone().unwrap_or_default();
    let mut metadata = json!({"namespace": project});
    if let Some(reason) = override_window {
        metadata["annotations"] = json!({ kargo_api::labels::OVERRIDE_WINDOW: reason });
    }
    let promo: Promotion = serde_json::from_value(json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
        "metadata": metadata,
        "spec": {"stage": stage, "freight": fname},
    }))?;
    api.create(&PostParams::default(), &promo)
        .await
        .map_err(explain)
}

/// Freight by alias only (`--freight-alias`).
async fn by_alias(client: &kube::Client, project: &str, alias: &str) -> Result<Freight> {
    aliased(client, project, alias)
        .await?
        .with_context(|| format!("Freight with alias {alias:?} not found in project {project:?}"))
}

/// `--warehouse W --stage S`: the newest Freight from `W` that `S` may take now.
async fn newest_available(
    client: &kube::Client,
    project: &str,
    warehouse: &str,
    stage: &str,
) -> Result<Freight> {
    let s = Api::<Stage>::namespaced(client.clone(), project)
        .get(stage)
        .await
        .map_err(explain)?;
    let mut all = Api::<Freight>::namespaced(client.clone(), project)
        .list(&ListParams::default())
        .await
        .map_err(explain)?
        .items;
    all.retain(|f| f.origin.kind == "Warehouse" && f.origin.name == warehouse);
    all.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
    });
    let now = jiff::Timestamp::now().as_millisecond();
    all.into_iter()
        .find(|f| kargo_api::availability::check(&s, f, now).is_ok())
        .with_context(|| {
            format!("no Freight from Warehouse {warehouse:?} is available to Stage {stage:?} in project {project:?}")
        })
}

/// The Stages that take `f`'s origin from `upstream` (Kargo's
/// `findDownstreamStages`); refused when one of them may not take `f`.
async fn downstream_of(
    client: &kube::Client,
    project: &str,
    upstream: &str,
    f: &Freight,
) -> Result<Vec<String>> {
    let api = Api::<Stage>::namespaced(client.clone(), project);
    api.get_opt(upstream)
        .await
        .map_err(explain)?
        .with_context(|| format!("Stage {upstream:?} not found in project {project:?}"))?;
    let stages = api
        .list(&ListParams::default())
        .await
        .map_err(explain)?
        .items;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut out = Vec::new();
    for s in &stages {
        let takes = s
            .spec
            .requested_freight
            .iter()
            .any(|r| r.origin == f.origin && r.sources.stages.iter().any(|u| u == upstream));
        if !takes {
            continue;
        }
        let name = s.metadata.name.clone().unwrap_or_default();
        if let Err(why) = kargo_api::availability::check(s, f, now) {
            bail!(
                "Freight {:?} is not available to downstream Stage {name:?}: {why}",
                f.alias()
                    .unwrap_or(f.metadata.name.as_deref().unwrap_or(""))
            );
        }
        out.push(name);
    }
    if out.is_empty() {
        bail!("Stage {upstream:?} has no downstream stages");
    }
    out.sort();
    Ok(out)
}

/// Prints each step as it changes until the Promotion ends; live on a
/// terminal, one summary line at the end.
pub async fn follow(api: &Api<Promotion>, name: &str, timeout: Duration) -> Result<()> {
    let mut progress = Progress::start(&format!("promotion {name}"));
    let summary = watch(api, name, timeout, &mut progress).await?;
    progress.finish(&summary)
}

async fn watch(
    api: &Api<Promotion>,
    name: &str,
    timeout: Duration,
    progress: &mut Progress,
) -> Result<String> {
    let mut shown: Vec<String> = Vec::new();
    loop {
        let p = api.get(name).await.map_err(explain)?;
        let st = p.status.clone().unwrap_or_default();
        let mut current = None;
        for (i, m) in st.step_execution_metadata.iter().enumerate() {
            // The expanded steps are in the saved state; fall back to the spec.
            let uses = st
                .state
                .as_ref()
                .and_then(|s| s.pointer(&format!("/steps/{i}/uses")))
                .and_then(serde_json::Value::as_str)
                .map(String::from)
                .or_else(|| p.spec.steps.get(i).map(|s| s.uses.clone()))
                .unwrap_or_default();
            let message = if m.message.is_empty() {
                String::new()
            } else {
                format!(": {}", m.message)
            };
            let line = format!(
                "  step {} {:<14} {:<16} {}{message}",
                i + 1,
                uses,
                m.alias,
                style::phase(&m.status)
            );
            if m.status == "Running" {
                current = Some(format!("step {} {uses}", i + 1));
            }
            if shown.get(i) != Some(&line) {
                progress.line(&line)?;
                if i < shown.len() {
                    shown[i] = line;
                } else {
                    shown.push(line);
                }
            }
        }
        let phase = st.phase.unwrap_or_default();
        // A fresh run's first step is saved only when it ends.
        if current.is_none()
            && let Some(i) = st.running_step()
            && let Some(step) = p.spec.steps.get(i)
        {
            current = Some(format!("step {} {}", i + 1, step.uses));
        }
        if !phase.is_terminal() {
            let what = current.map(|c| format!(", {c}")).unwrap_or_default();
            progress.state(&format!("promotion {name}: {phase:?}{what}"))?;
        } else {
            let msg = if st.message.is_empty() {
                String::new()
            } else {
                format!(": {}", st.message)
            };
            let word = style::phase(&format!("{phase:?}"));
            let steps = st.step_execution_metadata.len();
            if phase == PromotionPhase::Succeeded {
                return Ok(format!(
                    "promotion {name}: {word}{msg}, {steps} step(s) to Stage {}",
                    p.spec.stage
                ));
            }
            bail!("promotion {name}: {phase:?}{msg}");
        }
        progress.deadline(timeout, || {
            format!(
                "promotion {name} is still {phase:?} after {}s (is the server's controller running?)",
                timeout.as_secs()
            )
        })?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Approves Freight for a Stage (bypasses upstream verification and soak).
pub async fn approve(client: &kube::Client, project: &str, f: Freight, stage: &str) -> Result<()> {
    let name = f.metadata.name.clone().unwrap_or_default();
    // As Kargo's approve endpoint: the Stage must exist and request
    // Freight from this origin, or the approval could never be acted upon.
    let shown = f.alias().unwrap_or(&name).to_string();
    let refuse = |why: String| {
        anyhow::anyhow!("cannot approve Freight {shown:?} for Stage {stage:?}: {why}")
    };
    let s = Api::<kargo_api::Stage>::namespaced(client.clone(), project)
        .get_opt(stage)
        .await
        .map_err(explain)?
        .ok_or_else(|| {
            refuse(format!(
                "could not find Stage {stage:?} in namespace {project:?}"
            ))
        })?;
    if kargo_api::availability::request_for(&s, &f).is_none() {
        return Err(refuse(format!(
            "Stage {stage:?} does not request Freight from origin \"{}/{}\"",
            f.origin.kind, f.origin.name
        )));
    }
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let patch = json!({"status": {"approvedFor": {stage: {"approvedAt": now}}}});
    Api::<Freight>::namespaced(client.clone(), project)
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(explain)?;
    outln!(
        "freight {} ({}) approved for Stage {stage}",
        f.alias().unwrap_or(&name),
        &name[..name.len().min(7)]
    )?;
    Ok(())
}

/// Aborts a Promotion (annotation `kargo.akuity.io/abort`).
pub async fn abort(client: &kube::Client, project: &str, name: &str) -> Result<()> {
    let patch =
        json!({"metadata": {"annotations": {labels::ABORT: jiff::Timestamp::now().to_string()}}});
    Api::<Promotion>::namespaced(client.clone(), project)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(explain)?;
    outln!("promotion.kargo.akuity.io/{name} abort requested")?;
    Ok(())
}
