//! The Stage controller: keeps a Stage's status in step with its
//! Promotions (current and last Promotion, Freight history, summary,
//! conditions), records where Freight is (`currentlyIn`, soak times) and —
//! for Stages without `verification` — marks promoted Freight verified.
//! With a ProjectConfig promotion policy it auto-promotes the newest
//! Freight that is available to the Stage, unless promotion windows close
//! the Stage or a hold stops it; promotion windows, holds and automatic
//! rollback are `stage_policies.rs`; Freight that waits too long to be
//! promoted is reported by `freight_waiting.rs`.
//!
//! It reads the shared watch caches ([`Caches`]) and their indexes, never
//! a list: a reconcile costs what the Stage's own Promotions and candidate
//! Freight cost. It runs when the Stage's spec, labels or annotations
//! change, or when a watch hub wakes it (a Promotion, AnalysisRun or
//! ProjectConfig of its own, Freight it may take, a Warehouse it names),
//! and otherwise only when a soak it waits for is due (or a long safety
//! interval passed); a re-check with nothing new writes nothing. A
//! `kargo.akuity.io/refresh` annotation is answered with
//! `status.lastHandledRefresh`, as Kargo's Stage reconciler does.

use crate::conditions;
use crate::freight_writes::FreightWrites;
use crate::index::{FreightSet, PromotionSummary};
use crate::informers::Caches;
use crate::now;
use crate::work_queue::Action;
use futures::channel::mpsc::UnboundedReceiver;
use kargo_api::common::FreightReference;
use kargo_api::project::PromotionPolicy;
use kargo_api::promotion::PromotionPhase;
use kargo_api::stage::{FreightCollection, FreightRequest, PromotionReference, StageStatus};
use kargo_api::{Freight, Promotion, Stage, availability};
use kargo_promotion::argocd::health::HealthState;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Annotation value recording that the controller asked for a Promotion.
pub const AUTO_ACTOR: &str = "kargo-controller (auto-promotion)";

/// The longest a Stage goes without a re-check (nothing is expected to
/// change unseen; this only bounds the cost of a missed event).
const SAFETY_INTERVAL: Duration = Duration::from_secs(300);

/// How long an auto-promotion may be missing from the cache before the
/// API is asked whether it exists.
const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the reconciler needs.
pub struct Context {
    client: kube::Client,
    caches: Arc<Caches>,
    /// Auto-promotions created (or found existing) that the Promotion
    /// cache does not hold yet: the Stage counts as busy meanwhile.
    expect: Mutex<HashMap<ObjectRef<Stage>, (String, Instant)>>,
    /// Argo CD, for health checks on Applications (None: disabled).
    argocd: Option<crate::argocd::ArgoCd>,
    /// The ClusterConfig's promotion windows, as last read.
    windows: crate::stage_windows::ClusterWindows,
    /// Freight status writes, coalesced per Freight.
    freight_writes: FreightWrites,
}

impl Context {
    /// A context reading `caches` and writing through `client` (Argo CD's
    /// Applications through the same client).
    pub fn new(client: kube::Client, caches: Arc<Caches>) -> Self {
        Context {
            argocd: Some(crate::argocd::ArgoCd {
                client: client.clone(),
                namespace: "argocd".into(),
                watch_namespace_only: false,
            }),
            client,
            caches,
            expect: Mutex::new(HashMap::new()),
            windows: Default::default(),
            freight_writes: FreightWrites::default(),
        }
    }

    /// Where health checks find Argo CD (None: disabled).
    pub fn with_argocd(mut self, argocd: Option<crate::argocd::ArgoCd>) -> Self {
        self.argocd = argocd;
        self
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

/// Runs the controller on the hub's Stage stream (its own status writes
/// filtered out) and the Stages other changes concern, at most
/// `concurrency` reconciles at once.
pub async fn run(
    ctx: Arc<Context>,
    stages: UnboundedReceiver<ObjectRef<Stage>>,
    wake: UnboundedReceiver<ObjectRef<Stage>>,
    concurrency: u16,
) {
    crate::work_queue::run(
        ctx.caches.stages.clone(),
        futures::stream::select(stages, wake),
        concurrency,
        ctx,
        |s, ctx| crate::metrics::timed("stage", reconcile(s, ctx)),
        error_policy,
        |r| {
            crate::stats::reconciled(crate::stats::STAGE);
            if let Err(e) = r {
                tracing::debug!(error = %e, "stage reconcile");
            }
        },
    )
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

/// The running Promotion as `status.currentPromotion` names it: its name
/// and Freight only, as Kargo writes it. Its changing status stays out, so
/// a step's progress does not rewrite the Stage.
fn current_reference(p: &Promotion) -> PromotionReference {
    PromotionReference {
        name: p.name_any(),
        freight: p.status.as_ref().and_then(|s| s.freight.clone()),
        status: None,
        finished_at: None,
    }
}

/// A finished Promotion as `status.lastPromotion` records it, with its
/// final status.
fn reference(p: &Promotion) -> PromotionReference {
    PromotionReference {
        status: p.status.clone().map(|mut s| {
            s.state = None;
            s
        }),
        finished_at: p.status.as_ref().and_then(|s| s.finished_at.clone()),
        ..current_reference(p)
    }
}

/// Whether a ProjectConfig policy turns on auto-promotion for the Stage.
fn auto_promotion(policies: &[PromotionPolicy], stage: &Stage) -> bool {
    let name = stage.name_any();
    policies
        .iter()
        .any(|p| p.selects(&name, stage.labels()) && p.auto_promotion_enabled)
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

/// The Stage to act on: the cached one, unless this process wrote a
/// status the cache does not hold yet (then one GET).
async fn current_stage(cached: Arc<Stage>, ctx: &Context) -> Result<Option<Arc<Stage>>, Error> {
    let key = ObjectRef::from_obj(&*cached);
    let Some(written) = ctx.caches.fenced(&key) else {
        return Ok(Some(cached));
    };
    if cached.resource_version().as_deref() == Some(written.as_str()) {
        ctx.caches.unfence(&key);
        return Ok(Some(cached));
    }
    let ns = cached.namespace().unwrap_or_default();
    let fresh = Api::<Stage>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&cached.name_any())
        .await?;
    if fresh.as_ref().and_then(|s| s.resource_version()) == cached.resource_version() {
        // The cache caught up (and someone wrote after us).
        ctx.caches.unfence(&key);
    }
    Ok(fresh.map(Arc::new))
}

/// The Stage's Promotions from the index, oldest first.
struct Promotions {
    all: Vec<(crate::index::Created, PromotionSummary)>,
}

impl Promotions {
    fn running(&self) -> Option<&str> {
        self.all
            .iter()
            .find(|(_, s)| s.phase == PromotionPhase::Running)
            .map(|((_, n), _)| n.as_str())
    }

    /// The terminal Promotion that finished last.
    fn last_finished(&self) -> Option<&str> {
        self.all
            .iter()
            .filter(|(_, s)| s.phase.is_terminal())
            .max_by(|(ca, a), (cb, b)| {
                let f = |s: &PromotionSummary| s.finished_at.clone().unwrap_or_default();
                f(a).cmp(&f(b)).then(ca.0.cmp(&cb.0))
            })
            .map(|((_, n), _)| n.as_str())
    }

    fn busy(&self) -> bool {
        self.all.iter().any(|(_, s)| !s.phase.is_terminal())
    }

    fn promoted(&self, freight: &str) -> bool {
        self.all.iter().any(|(_, s)| s.freight == freight)
    }
}

/// Whether an auto-promotion this process created is still missing from
/// the Promotion index (then the Stage is busy with it).
async fn awaiting_expected(ctx: &Context, stage: &Stage) -> Result<bool, Error> {
    let key = ObjectRef::from_obj(stage);
    let Some((name, since)) = lock(&ctx.expect).get(&key).cloned() else {
        return Ok(false);
    };
    let ns = stage.namespace().unwrap_or_default();
    if ctx
        .caches
        .index
        .promotion(&ns, &stage.name_any(), &name)
        .is_some()
    {
        lock(&ctx.expect).remove(&key);
        return Ok(false);
    }
    if since.elapsed() < EXPECTATION_TIMEOUT {
        return Ok(true);
    }
    let exists = Api::<Promotion>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&name)
        .await?
        .is_some();
    if !exists {
        lock(&ctx.expect).remove(&key);
    }
    Ok(exists)
}

async fn reconcile_stage(cached: Arc<Stage>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let name = cached.name_any();
    // A Stage this process wrote is read fresh until the cache has the
    // write: acting on an older one would repeat work (e.g. a second
    // AnalysisRun for one re-verify request).
    let Some(stage) = current_stage(cached, &ctx).await? else {
        return Ok(Action::await_change());
    };
    if stage.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let freight_api: Api<Freight> = Api::namespaced(ctx.client.clone(), &ns);
    let caches = &ctx.caches;
    let promos = Promotions {
        all: caches.index.promotions_of(&ns, &name),
    };
    let promotion = |n: &str| caches.promotions.get(&ObjectRef::new(n).within(&ns));

    let old = stage.status.clone().unwrap_or_default();
    let generation = stage.meta().generation;
    let mut st = old.clone();
    st.current_promotion = promos
        .running()
        .and_then(promotion)
        .map(|p| current_reference(&p));
    // The Argo CD context annotation to write after the status (Some(None):
    // remove it), as Kargo's Stage reconciler does on a new success.
    let mut argocd_context: Option<Option<String>> = None;
    // Freight that recording a new success marked verified here.
    let mut verified_on_promotion = Vec::new();
    // The cache does not keep finished Promotions (`cache_trim`): the
    // index names the one that finished last, and a newly finished one is
    // taken whole from the hub, which held it since its watch event (after
    // a restart: read with one GET), for the Stage's record of it.
    let newly_finished = promos.last_finished().filter(|n| {
        old.last_promotion
            .as_ref()
            .is_none_or(|l| l.name.as_str() != *n)
    });
    let last = match newly_finished {
        Some(n) => match caches.take_finished(&ns, n) {
            Some(p) => Some(p),
            None => Api::<Promotion>::namespaced(ctx.client.clone(), &ns)
                .get_opt(n)
                .await?
                .map(Arc::new),
        }
        .filter(|p| phase(p).is_terminal()),
        None => None,
    };
    if let Some(last) = last {
        st.last_promotion = Some(reference(&last));
        if phase(&last) == PromotionPhase::Succeeded {
            if let Some(previous) = st.freight_history.first_mut() {
                crate::verification::supersede(&ctx.client, &ns, previous, &last.name_any())
                    .await?;
            }
            verified_on_promotion = record_success(
                caches,
                &ctx.freight_writes,
                &stage,
                &freight_api,
                &last,
                &mut st,
            )
            .await?;
            argocd_context = Some(crate::argocd_context::value(Some(&*last)));
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
    let missing = missing_warehouse(caches, &stage);
    conditions::remove(&mut st.conditions, "Reconciling");
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let mut due: Option<i64> = None;
    if has_steps {
        repair_currently_in(caches, &ctx.freight_writes, &stage, &st, &freight_api);
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
        let apps = ctx.argocd.as_ref().map(|a| crate::stage_health::Apps {
            store: &caches.applications,
            namespace: &a.namespace,
        });
        let (healthy, refresh) = assess_health(&mut st, generation, apps.as_ref());
        request_refresh(&ctx, refresh).await;
        crate::verification::reconcile(
            &ctx.client,
            caches,
            &stage,
            &mut st,
            healthy,
            &verified_on_promotion,
        )
        .await?;
        summarize(
            &mut st,
            stage.spec.requested_freight.len(),
            generation,
            missing,
        );
    } else {
        // A control-flow Stage: nothing is promoted or verified here.
        due = pass_through(caches, &stage, &freight_api, now_ms).await?;
        argocd_context = Some(None);
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
    let config = caches.project_configs.get(&ObjectRef::new(&ns).within(&ns));
    let policies = config
        .as_ref()
        .map(|c| c.spec.promotion_policies.clone())
        .unwrap_or_default();
    let auto = auto_promotion(&policies, &stage);
    st.auto_promotion_enabled = Some(auto);
    // Promotion windows, holds and rollback (`stage_policies.rs`).
    let gate = crate::stage_policies::apply(
        &crate::stage_policies::Inputs {
            client: &ctx.client,
            caches,
            windows: &ctx.windows,
            stage: &stage,
            old: &old,
            policies: &policies,
            auto,
            idle: has_steps && !promos.busy() && !awaiting_expected(&ctx, &stage).await?,
            now_ms,
        },
        &mut st,
    )
    .await?;
    due = earliest(due, gate.due);
    if let Some(name) = gate.rollback {
        lock(&ctx.expect).insert(ObjectRef::from_obj(&*stage), (name, Instant::now()));
    } else if auto
        && gate.open
        && has_steps
        && !promos.busy()
        && !awaiting_expected(&ctx, &stage).await?
    {
        let current = st.freight_history.first().cloned().unwrap_or_default();
        let held = st.effective_auto_promotion_holds.clone();
        due = earliest(
            due,
            auto_promote(&ctx, &stage, &promos, &current, &held, now_ms).await?,
        );
    }

    // Freight waiting too long here (`freight_waiting.rs`).
    if has_steps {
        let promoted = |f: &str| {
            promos.all.iter().any(|(_, s)| {
                s.freight == f && (!s.phase.is_terminal() || s.phase == PromotionPhase::Succeeded)
            })
        };
        let waiting = crate::freight_waiting::check(crate::freight_waiting::Input {
            client: &ctx.client,
            caches,
            stage: &stage,
            threshold: config
                .as_ref()
                .and_then(|c| c.spec.freight_waiting_threshold.as_deref()),
            current: st.freight_history.first(),
            promoted: &promoted,
            now_ms,
        })
        .await;
        due = earliest(due, waiting);
    }

    // A refresh request (`kargo refresh stage`): this reconcile re-read
    // everything the Stage depends on, so the request is handled.
    if let Some(token) = stage.annotations().get(kargo_api::labels::REFRESH) {
        st.last_handled_refresh.clone_from(token);
    }
    if st != old {
        // The whole status is replaced (a merge patch would keep fields
        // that are now unset, such as a finished `currentPromotion`), pinned
        // to the version read: a concurrent change makes this a 409 and the
        // reconcile runs again on fresh data.
        let mut updated = (*stage).clone();
        updated.status = Some(st);
        let written = Api::<Stage>::namespaced(ctx.client.clone(), &ns)
            .replace_status(&name, &PostParams::default(), &updated)
            .await?;
        if let Some(rv) = written.resource_version() {
            ctx.caches.fence(ObjectRef::from_obj(&*stage), rv);
        }
    }
    let has_context = stage
        .annotations()
        .contains_key(crate::argocd_context::ARGOCD_CONTEXT);
    if let Some(value) = argocd_context.filter(|v| v.is_some() || has_context) {
        let patch = Patch::Merge(crate::argocd_context::patch(value));
        // Not critical to the Stage: logged, as in Kargo.
        if let Err(e) = Api::<Stage>::namespaced(ctx.client.clone(), &ns)
            .patch(&name, &PatchParams::default(), &patch)
            .await
        {
            tracing::error!(stage = %name, namespace = %ns, error = %e, "failed to annotate Stage with Argo CD context");
        }
    }
    // Changes arrive as events; only a pending soak needs a timer.
    let wait = due
        .map(|at| Duration::from_millis((at - now_ms).max(0) as u64 + 50))
        .map_or(SAFETY_INTERVAL, |d| d.min(SAFETY_INTERVAL));
    Ok(Action::requeue(wait))
}

/// Kargo's Freight collection id: the SHA-1 of its sorted Freight names
/// joined by `,` (`FreightCollection.UpdateOrPush`).
fn collection_id(items: &std::collections::BTreeMap<String, Box<FreightReference>>) -> String {
    use sha1::Digest;
    let mut names: Vec<&str> = items.values().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    hex::encode(sha1::Sha1::digest(names.join(",").as_bytes()))
}

/// A `Ready`-blocking message when a Warehouse the Stage requests Freight
/// from does not exist.
fn missing_warehouse(caches: &Caches, stage: &Stage) -> Option<String> {
    let ns = stage.namespace().unwrap_or_default();
    stage
        .spec
        .requested_freight
        .iter()
        .enumerate()
        .find(|(_, req)| {
            req.origin.kind == "Warehouse"
                && caches
                    .warehouses
                    .get(&ObjectRef::new(&req.origin.name).within(&ns))
                    .is_none()
        })
        .map(|(i, req)| format!(
            "Warehouse {:?} named in spec.requestedFreight[{i}].origin does not exist in project {ns:?}",
            req.origin.name
        ))
}

/// Asks Argo CD for a hard refresh of Applications whose health could not
/// be trusted (Kargo's `RequestAppRefresh`; a failure is only logged).
async fn request_refresh(ctx: &Context, apps: Vec<(String, String)>) {
    let Some(argocd) = &ctx.argocd else { return };
    for (ns, name) in apps {
        let api: Api<kargo_api::Application> = Api::namespaced(argocd.client.clone(), &ns);
        let patch = Patch::Merge(kargo_promotion::argocd::hard_refresh_patch());
        if let Err(e) = api.patch(&name, &PatchParams::default(), &patch).await {
            tracing::warn!(app = %name, namespace = %ns, error = %e, "failed to request hard refresh for Argo CD Application");
        }
    }
}

/// Kargo's health assessment (`assessHealth`): Unknown while promoting,
/// with no Freight, or after a failed Promotion; otherwise the outcome of
/// the health checks the last Promotion registered (none: Healthy), run
/// over the Applications cache (`apps`; None: Argo CD integration off).
/// Returns whether the Stage is Healthy, and Applications to refresh.
fn assess_health(
    st: &mut StageStatus,
    generation: Option<i64>,
    apps: Option<&crate::stage_health::Apps<'_>>,
) -> (bool, Vec<(String, String)>) {
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
        let h = unknown(
            st,
            "ActivePromotion",
            "Stage has a Promotion in progress",
            Some("Cannot assess health because a Promotion is currently in progress"),
        );
        return (h, Vec::new());
    }
    let Some(last) = st.last_promotion.clone() else {
        let h = unknown(st, "NoFreight", "Stage has no current Freight", None);
        return (h, Vec::new());
    };
    let last_phase = last
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    if last_phase != PromotionPhase::Succeeded {
        let h = unknown(
            st,
            &format!("LastPromotion{last_phase:?}"),
            "Cannot assess health because last Promotion did not succeed",
            Some("Cannot assess health because last Promotion did not succeed"),
        );
        return (h, Vec::new());
    }
    let checks = last
        .status
        .as_ref()
        .map(|s| s.health_checks.clone())
        .unwrap_or_default();
    let n = checks.len();
    let assessed = crate::stage_health::assess(&checks, apps);
    let state = assessed.health.status.clone();
    match assessed.state {
        HealthState::Healthy => conditions::set(
            &mut st.conditions,
            "Healthy",
            true,
            &state,
            &format!("Stage is healthy (performed {n} health checks)"),
            generation,
        ),
        HealthState::Unhealthy => conditions::set(
            &mut st.conditions,
            "Healthy",
            false,
            &state,
            &format!(
                "Stage is unhealthy ({} issues in {n} health checks)",
                assessed.health.issues.len()
            ),
            generation,
        ),
        _ => conditions::set_status(
            &mut st.conditions,
            "Healthy",
            "Unknown",
            &state,
            "",
            generation,
        ),
    }
    st.health = Some(assessed.health);
    (assessed.state == HealthState::Healthy, assessed.refresh)
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

/// A Promotion succeeded: the Stage now uses its Freight. Returns the
/// Freight marked verified here with it (a Stage without verification).
async fn record_success(
    caches: &Caches,
    writes: &FreightWrites,
    stage: &Stage,
    freight_api: &Api<Freight>,
    p: &Promotion,
    st: &mut StageStatus,
) -> Result<Vec<String>, Error> {
    let name = stage.name_any();
    let ns = stage.namespace().unwrap_or_default();
    // Freight's artifacts never change, so the cache serves them; a GET
    // only when the cache does not hold the Freight yet. (Reading a
    // Freight verified in every Stage of a long pipeline costs as much as
    // writing it, so each read saved matters at scale.)
    let Some(f) =
        crate::informers::cached_or_get(&caches.freight, freight_api, &ns, &p.spec.freight).await?
    else {
        return Ok(Vec::new());
    };
    let cached = |n: &str| caches.freight.get(&ObjectRef::new(n).within(&ns));
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
    items.insert(origin_key(&fref), Box::new(fref.clone()));
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
    // The Freight arriving here first: its write is what wakes the Stages
    // downstream, and a Stage without `verification` verifies it in the
    // same write.
    let mut patch = json!({"status": {"currentlyIn": {&name: {"since": now}}}});
    let mut verified = Vec::new();
    if stage
        .spec
        .verification
        .as_ref()
        .is_none_or(|v| v.analysis_templates.is_empty())
    {
        patch["status"]["verifiedIn"] = json!({&name: {"verifiedAt": now}});
        verified.push(fref.name.clone());
    }
    writes.merge_status(freight_api, &fref.name, patch).await?;
    // The one it replaces leaves (written soon, with other Stages' writes
    // of it: as large as the pipeline it has been through, and nothing
    // waits for it). Its soak here ends as the new one's stay begins.
    for prev in previous {
        // The cache holds when the previous Freight arrived here unless it
        // lags behind that write; then a GET.
        let pf = match cached(&prev).filter(|pf| {
            pf.status
                .as_ref()
                .is_some_and(|s| s.currently_in.contains_key(&name))
        }) {
            Some(pf) => Some(pf),
            None => freight_api.get_opt(&prev).await?.map(Arc::new),
        };
        if let Some(patch) = pf.and_then(|pf| leaving_patch(&name, &pf, Some(&now))) {
            writes.merge_status_soon(freight_api, &prev, patch);
        }
    }
    Ok(verified)
}

/// The patch that takes `freight` out of Stage `stage` (its `currentlyIn`
/// entry goes) and keeps how long it soaked there: from its arrival to
/// `until`, when the Freight that replaced it arrived (None: no Freight
/// replaced it; the soak is not updated). The same inputs give the same
/// patch, so writing it twice is harmless. None when the Freight is not
/// in the Stage.
fn leaving_patch(stage: &str, freight: &Freight, until: Option<&str>) -> Option<Value> {
    let st = freight.status.as_ref()?;
    let since = st.currently_in.get(stage)?.since.as_deref();
    let mut patch = json!({"status": {"currentlyIn": {stage: null}}});
    let at = |t: Option<&str>| t.and_then(|t| t.parse::<jiff::Timestamp>().ok());
    if let (Some(from), Some(to), Some(mut v)) =
        (at(since), at(until), st.verified_in.get(stage).cloned())
    {
        let soaked = (to.as_second() - from.as_second()).max(0);
        let before = v
            .longest_soak
            .as_deref()
            .and_then(kargo_api::validate::parse_go_duration)
            .unwrap_or(0.0);
        if soaked as f64 > before {
            v.longest_soak = Some(format!("{soaked}s"));
            patch["status"]["verifiedIn"] = json!({stage: v});
        }
    }
    Some(patch)
}

/// Takes out of the Stage the Freight whose status still says it is here
/// though the Stage has moved on: a leaving write lost with a stopped
/// process (they are deferred, [`FreightWrites::merge_status_soon`]).
/// Looks only at the index; writes nothing when all agrees.
fn repair_currently_in(
    caches: &Caches,
    writes: &FreightWrites,
    stage: &Stage,
    st: &StageStatus,
    freight_api: &Api<Freight>,
) {
    let ns = stage.namespace().unwrap_or_default();
    let name = stage.name_any();
    let cached = |n: &str| caches.freight.get(&ObjectRef::new(n).within(&ns));
    let current = st.freight_history.first();
    for (stale, _) in caches.index.currently_in(&ns, &name) {
        if current.is_some_and(|c| c.items.values().any(|r| r.name == stale))
            || writes.pending(&ns, &stale)
        {
            continue;
        }
        let Some(pf) = cached(&stale) else { continue };
        // Its soak here ended when the Stage's Freight of its origin
        // arrived; when the cache does not show that yet, later.
        let until = match current.and_then(|c| c.items.values().find(|r| r.origin == pf.origin)) {
            Some(r) => match cached(&r.name).and_then(|f| {
                f.status
                    .as_ref()
                    .and_then(|s| s.currently_in.get(&name))
                    .and_then(|c| c.since.clone())
            }) {
                Some(t) => Some(t),
                None => continue,
            },
            None => None,
        };
        if let Some(patch) = leaving_patch(&name, &pf, until.as_deref()) {
            tracing::info!(stage = %name, namespace = %ns, freight = %stale, "the Freight's status still placed it in the Stage: taking it out");
            writes.merge_status_soon(freight_api, &stale, patch);
        }
    }
}

/// Walks the Freight that may be available to the Stage for one request,
/// newest first — from its Warehouse (direct), verified in an upstream
/// Stage, or approved for it — until `f` returns true. Availability itself
/// is decided by `availability::check` on each.
pub(crate) fn walk_candidates(
    caches: &Caches,
    stage: &Stage,
    req: &FreightRequest,
    mut f: impl FnMut(Arc<Freight>) -> bool,
) {
    let ns = stage.namespace().unwrap_or_default();
    let name = stage.name_any();
    let origin = crate::index::origin_key(&req.origin);
    let mut sets = vec![FreightSet::ApprovedFor(&name)];
    if req.sources.direct {
        sets.push(FreightSet::Origin(&origin));
    }
    sets.extend(req.sources.stages.iter().map(|u| FreightSet::VerifiedIn(u)));
    caches.index.walk_newest(&ns, &sets, |n| {
        match caches.freight.get(&ObjectRef::new(n).within(&ns)) {
            Some(fr) if fr.origin == req.origin => f(fr),
            _ => false,
        }
    });
}

/// The earlier of two optional instants.
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

/// A control-flow Stage (no promotion steps) promotes nothing: Freight
/// that becomes available to it is verified there at once, so Stages
/// downstream of it can take it (Kargo's semantics for such Stages).
/// Returns when Freight still soaking upstream should be looked at again.
async fn pass_through(
    caches: &Caches,
    stage: &Stage,
    freight_api: &Api<Freight>,
    now_ms: i64,
) -> Result<Option<i64>, Error> {
    let name = stage.name_any();
    let ns = stage.namespace().unwrap_or_default();
    let mut due = None;
    let mut newly = Vec::new();
    for req in &stage.spec.requested_freight {
        walk_candidates(caches, stage, req, |f| {
            if caches.index.is_verified_in(&ns, &f.name_any(), &name) {
                return false;
            }
            if availability::check(stage, &f, now_ms).is_ok() {
                newly.push(f.name_any());
            } else {
                due = earliest(due, availability::soak_deadline(stage, &f, now_ms));
            }
            false
        });
    }
    for f in newly {
        let patch = json!({"status": {"verifiedIn": {&name: {"verifiedAt": now()}}}});
        freight_api
            .patch_status(&f, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
    }
    Ok(due)
}

/// When the Freight became available to the Stage (the auto-promotion's
/// trigger): its approval, its newest verification upstream, or its
/// creation for a direct source.
fn trigger_time(stage: &Stage, f: &Freight, req: &FreightRequest) -> Option<String> {
    let st = f.status.as_ref();
    if let Some(a) = st
        .and_then(|s| s.approved_for.get(&stage.name_any()))
        .and_then(|a| a.approved_at.clone())
    {
        return Some(a);
    }
    let upstream = req
        .sources
        .stages
        .iter()
        .filter_map(|u| st?.verified_in.get(u)?.verified_at.clone())
        .max();
    upstream.or_else(|| {
        f.meta()
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
    })
}

/// The auto-promotion of `f` into the Stage for this trigger: Kargo's
/// `<stage>.<ulid>.<freight[:7]>`, derived from (Stage uid, Freight,
/// trigger), so two reconciles that decide the same thing — in this
/// process on a stale cache, or in two processes — create one Promotion.
fn auto_promotion_name(stage: &Stage, freight: &str, trigger: Option<&str>) -> String {
    let id = format!(
        "{}/{freight}/{}",
        stage.uid().unwrap_or_default(),
        trigger.unwrap_or("")
    );
    crate::names::derived(&stage.name_any(), freight, &id, trigger)
}

/// Promotes the newest available Freight of each requested origin that the
/// Stage is not already using (and that has not already been promoted
/// here). Returns when a soak it waits for is due.
async fn auto_promote(
    ctx: &Context,
    stage: &Stage,
    promos: &Promotions,
    current: &FreightCollection,
    held: &std::collections::BTreeMap<String, kargo_api::stage::AutoPromotionHold>,
    now_ms: i64,
) -> Result<Option<i64>, Error> {
    let name = stage.name_any();
    let ns = stage.namespace().unwrap_or_default();
    let caches = &ctx.caches;
    let mut due = None;
    for req in &stage.spec.requested_freight {
        // Never for an origin with an effective hold (Kargo).
        if held.contains_key(&format!("{}/{}", req.origin.kind, req.origin.name)) {
            continue;
        }
        let in_use = current
            .items
            .values()
            .find(|r| r.origin == req.origin)
            .map(|r| r.name.clone());
        let mut newest = None;
        walk_candidates(caches, stage, req, |f| {
            if availability::check(stage, &f, now_ms).is_ok() {
                newest = Some(f);
                return true;
            }
            due = earliest(due, availability::soak_deadline(stage, &f, now_ms));
            false
        });
        let Some(newest) = newest else {
            continue;
        };
        let fname = newest.name_any();
        if in_use.as_deref() == Some(fname.as_str()) {
            continue;
        }
        // Never retry Freight automatically once it was promoted here (whatever the outcome).
        if promos.promoted(&fname) {
            continue;
        }
        // Only move forward: never auto-promote Freight older than what is in use.
        if let Some(cur) = in_use
            .as_ref()
            .and_then(|c| caches.freight.get(&ObjectRef::new(c).within(&ns)))
            && cur.meta().creation_timestamp > newest.meta().creation_timestamp
        {
            continue;
        }
        let trigger = trigger_time(stage, &newest, req);
        let pname = auto_promotion_name(stage, &fname, trigger.as_deref());
        let p: Promotion = serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
            "metadata": {"name": pname, "namespace": ns, "annotations": {"kargo.akuity.io/create-actor": AUTO_ACTOR}},
            "spec": {"stage": name, "freight": fname},
        }))?;
        let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), &ns);
        match api.create(&PostParams::default(), &p).await {
            Ok(created) => {
                tracing::info!(stage = %name, freight = %fname, promotion = %pname, "auto-promotion");
                if let (Ok(pv), Ok(fv)) = (
                    serde_json::to_value(&created),
                    newest.to_value_without_status(),
                ) {
                    let message = format!(
                        "Automatically promoted Freight from origin {:?} for Stage {name:?}",
                        format!("{}/{}", req.origin.kind, req.origin.name)
                    );
                    let event = crate::events::promotion(
                        &pv,
                        Some(&fv),
                        "PromotionCreated",
                        &message,
                        crate::events::STAGE_CONTROLLER,
                    );
                    crate::events::record(&ctx.client, event).await;
                }
            }
            // Another reconcile (or process) made this very decision: done.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::debug!(stage = %name, promotion = %pname, "auto-promotion exists")
            }
            Err(kube::Error::Api(e)) if e.code == 422 => {
                tracing::info!(stage = %name, freight = %fname, reason = %e.message, "auto-promotion refused");
                break;
            }
            Err(e) => return Err(e.into()),
        }
        lock(&ctx.expect).insert(ObjectRef::from_obj(stage), (pname, Instant::now()));
        // One Promotion at a time per Stage.
        break;
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running Promotion with progress and its Freight.
    fn running(step: i64) -> Promotion {
        serde_json::from_value(json!({
            "metadata": {"name": "dev.01j.abc1234", "namespace": "p"},
            "spec": {"stage": "dev", "freight": "abc1234"},
            "status": {
                "phase": "Running",
                "currentStep": step,
                "freight": {"name": "abc1234", "origin": {"kind": "Warehouse", "name": "w"}},
            },
        }))
        .expect("promotion")
    }

    #[test]
    fn current_promotion_names_the_run_without_its_progress() {
        let r = current_reference(&running(1));
        assert_eq!(r.name, "dev.01j.abc1234");
        assert_eq!(r.freight.as_ref().map(|f| f.name.as_str()), Some("abc1234"));
        assert!(r.status.is_none() && r.finished_at.is_none(), "{r:?}");
        // A step's progress leaves the Stage's record as it was, so it
        // causes no Stage write.
        assert_eq!(current_reference(&running(2)), r);
        // The last Promotion keeps its final status.
        assert!(reference(&running(2)).status.is_some());
    }
}
