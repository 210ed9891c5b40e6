//! The Stage controller: keeps a Stage's status in step with its
//! Promotions (current and last Promotion, Freight history, summary,
//! conditions), records where Freight is (`currentlyIn`, soak times) and —
//! for Stages without `verification` — marks promoted Freight verified.
//! With a ProjectConfig promotion policy it auto-promotes the newest
//! Freight that is available to the Stage.

use crate::conditions;
use crate::now;
use futures::StreamExt;
use kargo_api::common::FreightReference;
use kargo_api::project::PromotionPolicy;
use kargo_api::promotion::PromotionPhase;
use kargo_api::stage::{FreightCollection, PromotionReference, StageStatus};
use kargo_api::{Freight, ProjectConfig, Promotion, Stage, availability};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Annotation value recording that the controller asked for a Promotion.
pub const AUTO_ACTOR: &str = "kargo-controller (auto-promotion)";

/// What the reconciler needs.
pub struct Context {
    client: kube::Client,
}

impl Context {
    /// A context for `client`.
    pub fn new(client: kube::Client) -> Self {
        Context { client }
    }
}

/// Reconcile failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused a read or write.
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// Stored data did not decode.
    #[error("{0}")]
    Decode(#[from] serde_json::Error),
}

/// Runs the controller.
pub async fn run(client: kube::Client, ctx: Arc<Context>) {
    let stages: Api<Stage> = Api::all(client.clone());
    let promos: Api<Promotion> = Api::all(client.clone());
    let freight: Api<Freight> = Api::all(client.clone());
    let configs: Api<ProjectConfig> = Api::all(client.clone());
    let controller = Controller::new(stages, watcher::Config::default());
    let reader = controller.store();
    let reader2 = reader.clone();
    let reader3 = reader.clone();
    controller
        .watches(promos, watcher::Config::default(), |p: Promotion| {
            p.namespace()
                .map(|ns| ObjectRef::<Stage>::new(&p.spec.stage).within(&ns))
        })
        .watches(freight, watcher::Config::default(), move |f: Freight| {
            let ns = f.namespace();
            reader2
                .state()
                .into_iter()
                .filter(move |s| s.namespace() == ns)
                .map(|s| ObjectRef::from_obj(&*s))
        })
        .watches(
            Api::<kargo_api::AnalysisRun>::all(client.clone()),
            watcher::Config::default(),
            |ar: kargo_api::AnalysisRun| {
                let stage = ar.labels().get(crate::verification::STAGE_LABEL).cloned();
                stage
                    .zip(ar.namespace())
                    .map(|(s, ns)| ObjectRef::<Stage>::new(&s).within(&ns))
            },
        )
        .watches(
            configs,
            watcher::Config::default(),
            move |c: ProjectConfig| {
                let ns = c.namespace();
                reader3
                    .state()
                    .into_iter()
                    .filter(move |s| s.namespace() == ns)
                    .map(|s| ObjectRef::from_obj(&*s))
            },
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "stage reconcile");
            }
        })
        .await;
}

fn error_policy(_s: Arc<Stage>, e: &Error, _ctx: Arc<Context>) -> Action {
    if let Error::Kube(kube::Error::Api(s)) = e
        && s.code == 409
    {
        // Someone wrote in between: try again at once, on fresh data.
        return Action::requeue(Duration::from_millis(50));
    }
    tracing::warn!(error = %e, "stage reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

fn origin_key(r: &FreightReference) -> String {
    format!("{}/{}", r.origin.kind, r.origin.name)
}

fn phase(p: &Promotion) -> PromotionPhase {
    p.status.as_ref().and_then(|s| s.phase).unwrap_or_default()
}

fn reference(p: &Promotion) -> PromotionReference {
    PromotionReference {
        name: p.name_any(),
        freight: p.status.as_ref().and_then(|s| s.freight.clone()),
        status: p.status.clone().map(|mut s| {
            s.state = None;
            s
        }),
        finished_at: p.status.as_ref().and_then(|s| s.finished_at.clone()),
    }
}

/// Whether a ProjectConfig policy turns on auto-promotion for the Stage.
fn auto_promotion(policies: &[PromotionPolicy], stage: &Stage) -> bool {
    let name = stage.name_any();
    let labels = stage.labels();
    policies.iter().any(|p| {
        let selected = if !p.stage.is_empty() {
            p.stage == name
        } else if let Some(sel) = &p.stage_selector {
            // Exact, `glob:`, `regex:` or `regexp:` (Kargo's name patterns).
            let by_name = sel.name.is_empty()
                || kargo_api::pattern::parse_name_pattern(&sel.name)
                    .is_ok_and(|m| m.matches(&name));
            by_name
                && sel
                    .match_labels
                    .iter()
                    .all(|(k, v)| labels.get(k) == Some(v))
        } else {
            false
        };
        selected && p.auto_promotion_enabled
    })
}

/// One reconciliation. A failure other than a write conflict is shown on
/// the Stage as Kargo shows it: `Ready` False, reason `ReconcileError`,
/// with the error, and `Reconciling` True (`RetryAfterError`).
pub async fn reconcile(cached: Arc<Stage>, ctx: Arc<Context>) -> Result<Action, Error> {
    let result = reconcile_stage(cached.clone(), ctx.clone()).await;
    if let Err(e) = &result
        && !matches!(e, Error::Kube(kube::Error::Api(s)) if s.code == 409)
    {
        report_error(&ctx.client, &cached, &e.to_string()).await;
    }
    result
}

async fn report_error(client: &kube::Client, cached: &Stage, message: &str) {
    let ns = cached.namespace().unwrap_or_default();
    let api = Api::<Stage>::namespaced(client.clone(), &ns);
    let Ok(Some(mut stage)) = api.get_opt(&cached.name_any()).await else {
        return;
    };
    let generation = stage.meta().generation;
    let mut st = stage.status.clone().unwrap_or_default();
    conditions::set(
        &mut st.conditions,
        "Ready",
        false,
        "ReconcileError",
        message,
        generation,
    );
    conditions::set(
        &mut st.conditions,
        "Reconciling",
        true,
        "RetryAfterError",
        "",
        generation,
    );
    if stage.status.as_ref() != Some(&st) {
        stage.status = Some(st);
        if let Err(e) = api
            .replace_status(&stage.name_any(), &PostParams::default(), &stage)
            .await
        {
            tracing::debug!(error = %e, "recording a Stage reconcile error");
        }
    }
}

async fn reconcile_stage(cached: Arc<Stage>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let name = cached.name_any();
    // Read the Stage fresh: the watch cache may not have our last status
    // write yet, and acting on it would start work twice (e.g. a second
    // AnalysisRun for one re-verify request).
    let Some(stage) = Api::<Stage>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&name)
        .await?
    else {
        return Ok(Action::await_change());
    };
    let stage = Arc::new(stage);
    if stage.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let promo_api: Api<Promotion> = Api::namespaced(ctx.client.clone(), &ns);
    let freight_api: Api<Freight> = Api::namespaced(ctx.client.clone(), &ns);
    let mut promos: Vec<Promotion> = promo_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| p.spec.stage == name)
        .collect();
    promos.sort_by(|a, b| {
        a.meta()
            .creation_timestamp
            .cmp(&b.meta().creation_timestamp)
            .then(a.name_any().cmp(&b.name_any()))
    });

    let old = stage.status.clone().unwrap_or_default();
    let generation = stage.meta().generation;
    let mut st = old.clone();
    st.current_promotion = promos
        .iter()
        .find(|p| phase(p) == PromotionPhase::Running)
        .map(reference);
    let finished = promos
        .iter()
        .filter(|p| phase(p).is_terminal())
        .max_by(|a, b| {
            let f = |p: &Promotion| {
                p.status
                    .as_ref()
                    .and_then(|s| s.finished_at.clone())
                    .unwrap_or_default()
            };
            f(a).cmp(&f(b)).then(
                a.meta()
                    .creation_timestamp
                    .cmp(&b.meta().creation_timestamp),
            )
        });
    if let Some(last) = finished {
        let newly_finished = old
            .last_promotion
            .as_ref()
            .is_none_or(|l| l.name != last.name_any());
        st.last_promotion = Some(reference(last));
        if newly_finished && phase(last) == PromotionPhase::Succeeded {
            if let Some(previous) = st.freight_history.first_mut() {
                crate::verification::supersede(&ctx.client, &ns, previous, &last.name_any())
                    .await?;
            }
            record_success(&stage, &freight_api, last, &mut st).await?;
            conditions::set_status(
                &mut st.conditions,
                "Verified",
                "Unknown",
                "WaitingForVerification",
                "Waiting for verification to be performed after successful promotion",
                generation,
            );
        }
    }
    let has_steps = stage
        .spec
        .promotion_template
        .as_ref()
        .is_some_and(|t| !t.effective_steps().is_empty());
    let missing = missing_warehouse(&ctx.client, &stage).await?;
    conditions::remove(&mut st.conditions, "Reconciling");
    let mut verifying = false;
    if has_steps {
        match &st.current_promotion {
            Some(p) => conditions::set(
                &mut st.conditions,
                "Promoting",
                true,
                "ActivePromotion",
                &format!("Promotion {:?} is currently Running", p.name),
                generation,
            ),
            None => conditions::remove(&mut st.conditions, "Promoting"),
        }
        let healthy = assess_health(&mut st, generation);
        verifying = crate::verification::reconcile(&ctx.client, &stage, &mut st, healthy).await?;
        summarize(
            &mut st,
            stage.spec.requested_freight.len(),
            generation,
            missing,
        );
    } else {
        // A control-flow Stage: nothing is promoted or verified here.
        pass_through(&stage, &freight_api).await?;
        for t in ["Promoting", "Healthy", "Verified"] {
            conditions::remove(&mut st.conditions, t);
        }
        match missing {
            Some(message) => conditions::set(
                &mut st.conditions,
                "Ready",
                false,
                "WarehouseNotFound",
                &message,
                generation,
            ),
            None => {
                conditions::set(&mut st.conditions, "Ready", true, "Ready", "", generation);
                st.observed_generation = generation;
            }
        }
    }

    // Auto-promotion.
    let policies = Api::<ProjectConfig>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&ns)
        .await?
        .map(|c| c.spec.promotion_policies)
        .unwrap_or_default();
    let auto = auto_promotion(&policies, &stage);
    st.auto_promotion_enabled = Some(auto);
    let busy = promos.iter().any(|p| !phase(p).is_terminal());
    if auto && !busy && has_steps {
        let current = st.freight_history.first().cloned().unwrap_or_default();
        auto_promote(&stage, &freight_api, &promo_api, &promos, &current).await?;
    }

    if st != old {
        // The whole status is replaced (a merge patch would keep fields
        // that are now unset, such as a finished `currentPromotion`), pinned
        // to the version read: a concurrent change makes this a 409 and the
        // reconcile runs again on fresh data.
        let mut updated = (*stage).clone();
        updated.status = Some(st);
        Api::<Stage>::namespaced(ctx.client.clone(), &ns)
            .replace_status(&name, &PostParams::default(), &updated)
            .await?;
    }
    Ok(Action::requeue(Duration::from_secs(if verifying {
        5
    } else {
        60
    })))
}

/// Kargo's Freight collection id: the SHA-1 of its sorted Freight names
/// joined by `,` (`FreightCollection.UpdateOrPush`).
fn collection_id(items: &std::collections::BTreeMap<String, FreightReference>) -> String {
    use sha1::Digest;
    let mut names: Vec<&str> = items.values().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    hex::encode(sha1::Sha1::digest(names.join(",").as_bytes()))
}

/// A `Ready`-blocking message when a Warehouse the Stage requests Freight
/// from does not exist.
async fn missing_warehouse(client: &kube::Client, stage: &Stage) -> Result<Option<String>, Error> {
    let ns = stage.namespace().unwrap_or_default();
    let api = Api::<kargo_api::Warehouse>::namespaced(client.clone(), &ns);
    for (i, req) in stage.spec.requested_freight.iter().enumerate() {
        if req.origin.kind == "Warehouse" && api.get_opt(&req.origin.name).await?.is_none() {
            return Ok(Some(format!(
                "Warehouse {:?} named in spec.requestedFreight[{i}].origin does not exist in project {ns:?}",
                req.origin.name
            )));
        }
    }
    Ok(None)
}

/// Kargo's health assessment (`assessHealth`): Unknown while promoting,
/// with no Freight, or after a failed Promotion; otherwise the outcome of
/// the health checks the last Promotion registered (none yet: Healthy).
/// Returns whether the Stage is Healthy.
fn assess_health(st: &mut StageStatus, generation: Option<i64>) -> bool {
    let unknown = |st: &mut StageStatus, reason: &str, message: &str, issue: Option<&str>| {
        conditions::set_status(
            &mut st.conditions,
            "Healthy",
            "Unknown",
            reason,
            message,
            generation,
        );
        st.health = issue.map(|i| kargo_api::stage::Health {
            status: "Unknown".into(),
            issues: vec![i.to_string()],
            ..Default::default()
        });
        false
    };
    if st.current_promotion.is_some() {
        return unknown(
            st,
            "ActivePromotion",
            "Stage has a Promotion in progress",
            Some("Cannot assess health because a Promotion is currently in progress"),
        );
    }
    let Some(last) = st.last_promotion.clone() else {
        return unknown(st, "NoFreight", "Stage has no current Freight", None);
    };
    let last_phase = last
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    if last_phase != PromotionPhase::Succeeded {
        return unknown(
            st,
            &format!("LastPromotion{last_phase:?}"),
            "Cannot assess health because last Promotion did not succeed",
            Some("Cannot assess health because last Promotion did not succeed"),
        );
    }
    let checks = last
        .status
        .as_ref()
        .map(|s| s.health_checks.len())
        .unwrap_or(0);
    conditions::set(
        &mut st.conditions,
        "Healthy",
        true,
        "Healthy",
        &format!("Stage is healthy (performed {checks} health checks)"),
        generation,
    );
    st.health = Some(kargo_api::stage::Health {
        status: "Healthy".into(),
        ..Default::default()
    });
    true
}

/// Kargo's `summarizeConditions`: `Ready` is False while a Promotion runs,
/// after a failed Promotion, when a requested Warehouse is missing, while
/// not Healthy and until verified; True (with the `Verified` reason and
/// message) only when all of that holds. `observedGeneration` advances
/// only when Ready, as in Kargo.
fn summarize(
    st: &mut StageStatus,
    requested: usize,
    generation: Option<i64>,
    missing_warehouse: Option<String>,
) {
    let current = st.freight_history.first();
    let have = current.map(|c| c.items.len()).unwrap_or(0);
    st.freight_summary = match (requested, current) {
        (1, Some(c)) if c.items.len() == 1 => c
            .items
            .values()
            .next()
            .map(|r| r.name.clone())
            .unwrap_or_default(),
        _ => format!("{have}/{requested} Fulfilled"),
    };
    let get = |t: &str| conditions::get(&st.conditions, t).cloned();
    let not_ready = |st: &mut StageStatus, reason: &str, message: &str| {
        conditions::set(
            &mut st.conditions,
            "Ready",
            false,
            reason,
            message,
            generation,
        );
    };
    if let Some(p) = get("Promoting") {
        return not_ready(st, &p.reason, &p.message);
    }
    if let Some(s) = st
        .last_promotion
        .as_ref()
        .and_then(|l| l.status.clone())
        .filter(|s| {
            s.phase
                .is_some_and(|p| p.is_terminal() && p != PromotionPhase::Succeeded)
        })
    {
        let reason = format!("LastPromotion{:?}", s.phase.unwrap_or_default());
        return not_ready(st, &reason, &s.message);
    }
    if let Some(message) = missing_warehouse {
        return not_ready(st, "WarehouseNotFound", &message);
    }
    match get("Healthy") {
        Some(h) if h.status == "True" => {}
        Some(h) => return not_ready(st, &h.reason, &h.message),
        None => return not_ready(st, "Unhealthy", "Stage is not healthy"),
    }
    match get("Verified") {
        Some(v) if v.status == "True" => {
            conditions::set(
                &mut st.conditions,
                "Ready",
                true,
                &v.reason,
                &v.message,
                generation,
            );
            st.observed_generation = generation;
        }
        Some(v) => not_ready(st, &v.reason, &v.message),
        None => not_ready(st, "PendingVerification", "Stage is not verified"),
    }
}

/// A Promotion succeeded: the Stage now uses its Freight.
async fn record_success(
    stage: &Stage,
    freight_api: &Api<Freight>,
    p: &Promotion,
    st: &mut StageStatus,
) -> Result<(), Error> {
    let name = stage.name_any();
    let Some(f) = freight_api.get_opt(&p.spec.freight).await? else {
        return Ok(());
    };
    let fref = FreightReference {
        name: f.metadata.name.clone().unwrap_or_default(),
        origin: f.origin.clone(),
        commits: f.commits.clone(),
        images: f.images.clone(),
        charts: f.charts.clone(),
        artifacts: f.artifacts.clone(),
    };
    let mut items = st
        .freight_history
        .first()
        .map(|c| c.items.clone())
        .unwrap_or_default();
    let previous: Vec<String> = items
        .values()
        .filter(|r| r.origin == fref.origin && r.name != fref.name)
        .map(|r| r.name.clone())
        .collect();
    items.insert(origin_key(&fref), fref.clone());
    let id = collection_id(&items);
    st.freight_history.insert(
        0,
        FreightCollection {
            id,
            items,
            verification_history: Vec::new(),
        },
    );
    st.freight_history.truncate(10);
    let now = now();
    // Where Freight is now, and how long the previous one soaked here.
    for prev in previous {
        if let Some(pf) = freight_api.get_opt(&prev).await? {
            let since = pf
                .status
                .as_ref()
                .and_then(|s| s.currently_in.get(&name))
                .and_then(|c| c.since.clone());
            let soaked = since
                .as_deref()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .map(|t| (jiff::Timestamp::now().as_second() - t.as_second()).max(0));
            let mut patch = json!({"status": {"currentlyIn": {&name: null}}});
            let verified = pf
                .status
                .as_ref()
                .and_then(|s| s.verified_in.get(&name))
                .cloned();
            if let (Some(mut v), Some(secs)) = (verified, soaked) {
                let before = v
                    .longest_soak
                    .as_deref()
                    .and_then(kargo_api::validate::parse_go_duration)
                    .unwrap_or(0.0);
                if secs as f64 > before {
                    v.longest_soak = Some(format!("{secs}s"));
                    patch["status"]["verifiedIn"] = json!({&name: v});
                }
            }
            freight_api
                .patch_status(&prev, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
        }
    }
    let mut patch = json!({"status": {"currentlyIn": {&name: {"since": now}}}});
    // Until verification runs in-process, a Stage without `verification`
    // verifies Freight as soon as it is promoted (and that stays the rule).
    if stage
        .spec
        .verification
        .as_ref()
        .is_none_or(|v| v.analysis_templates.is_empty())
    {
        patch["status"]["verifiedIn"] = json!({&name: {"verifiedAt": now}});
    }
    freight_api
        .patch_status(&fref.name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

/// A control-flow Stage (no promotion steps) promotes nothing: Freight
/// that becomes available to it is verified there at once, so Stages
/// downstream of it can take it (Kargo's semantics for such Stages).
async fn pass_through(stage: &Stage, freight_api: &Api<Freight>) -> Result<(), Error> {
    let name = stage.name_any();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    for f in freight_api.list(&ListParams::default()).await?.items {
        let already = f
            .status
            .as_ref()
            .is_some_and(|s| s.verified_in.contains_key(&name));
        if !already && availability::check(stage, &f, now_ms).is_ok() {
            let patch = json!({"status": {"verifiedIn": {&name: {"verifiedAt": now()}}}});
            freight_api
                .patch_status(&f.name_any(), &PatchParams::default(), &Patch::Merge(patch))
                .await?;
        }
    }
    Ok(())
}

/// Promotes the newest available Freight of each requested origin that the
/// Stage is not already using (and that has not already failed here).
async fn auto_promote(
    stage: &Stage,
    freight_api: &Api<Freight>,
    promo_api: &Api<Promotion>,
    promos: &[Promotion],
    current: &FreightCollection,
) -> Result<(), Error> {
    let name = stage.name_any();
    let mut all = freight_api.list(&ListParams::default()).await?.items;
    all.sort_by(|a, b| {
        b.meta()
            .creation_timestamp
            .cmp(&a.meta().creation_timestamp)
            .then(b.name_any().cmp(&a.name_any()))
    });
    let now_ms = jiff::Timestamp::now().as_millisecond();
    for req in &stage.spec.requested_freight {
        let in_use = current
            .items
            .values()
            .find(|r| r.origin == req.origin)
            .map(|r| r.name.clone());
        let Some(newest) = all
            .iter()
            .filter(|f| f.origin == req.origin)
            .find(|f| availability::check(stage, f, now_ms).is_ok())
        else {
            continue;
        };
        let fname = newest.name_any();
        if in_use.as_deref() == Some(fname.as_str()) {
            continue;
        }
        // Never retry Freight automatically once it was promoted here (whatever the outcome).
        if promos.iter().any(|p| p.spec.freight == fname) {
            continue;
        }
        // Only move forward: never auto-promote Freight older than what is in use.
        if let Some(cur) = in_use
            .as_ref()
            .and_then(|c| all.iter().find(|f| f.name_any() == *c))
            && cur.meta().creation_timestamp > newest.meta().creation_timestamp
        {
            continue;
        }
        let p: Promotion = serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
            "metadata": {"namespace": stage.namespace(), "annotations": {"kargo.akuity.io/create-actor": AUTO_ACTOR}},
            "spec": {"stage": name, "freight": fname},
        }))?;
        match promo_api.create(&PostParams::default(), &p).await {
            Ok(created) => {
                tracing::info!(stage = %name, freight = %fname, promotion = %created.name_any(), "auto-promotion")
            }
            Err(kube::Error::Api(e)) if e.code == 422 => {
                tracing::info!(stage = %name, freight = %fname, reason = %e.message, "auto-promotion refused")
            }
            Err(e) => return Err(e.into()),
        }
        // One Promotion at a time per Stage.
        break;
    }
    Ok(())
}
