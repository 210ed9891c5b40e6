//! The Promotion controller: runs Promotions one at a time per Stage, in
//! creation order. A Pending Promotion starts when nothing else runs for
//! its Stage; its steps run through `kargo-promotion`'s runner, whose state
//! is written to `status.state` after every step, so a Promotion
//! interrupted by a crash resumes after its last finished step (the git
//! steps are idempotent: nothing is pushed twice). Abort with the
//! `kargo.akuity.io/abort` annotation.

use crate::credentials::{CredType, CredentialSet};
use crate::informers::Caches;
use crate::lookup::CacheLookup;
use crate::now;
use crate::work_queue::Action;
use futures::channel::mpsc::UnboundedReceiver;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kargo_api::common::FreightReference;
use kargo_api::promotion::{PromotionPhase, PromotionTaskReference, PromotionTaskSpec};
use kargo_api::{ClusterPromotionTask, Freight, Promotion, PromotionTask, labels};
use kargo_expr::{PromotionContext, StaticLookup};
use kargo_promotion::{GitCredentials, PromotionInput, Registry, RunState, Runner, RunnerOptions};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the reconciler needs.
pub struct Context {
    client: kube::Client,
    registry: Arc<Registry>,
    work_root: PathBuf,
    /// Promotions executing in this process, with their cancel flags.
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
    retry_delay: Duration,
    /// Steps may use `file://` repositories (`--allow-file-repos`).
    allow_file_repos: bool,
    /// Longest one git process of a step may run (`--git-timeout`).
    git_timeout: Duration,
    /// Longest one network call of a step may take (`--http-timeout`).
    http_timeout: Duration,
    /// Where users reach the UI (links back to a Stage from pull requests).
    ui_base_url: Option<String>,
    caches: Arc<Caches>,
    /// Argo CD's Applications (None: integration disabled).
    argocd: Option<crate::argocd::ArgoCd>,
}

/// How long a queued Promotion waits without news before it looks again
/// (it is woken when the Promotion ahead of it ends).
const SAFETY_INTERVAL: Duration = Duration::from_secs(300);

impl Context {
    /// A context whose Promotions work under `work_root/<namespace>/<name>`,
    /// reading the shared `caches`.
    pub fn new(client: kube::Client, work_root: PathBuf, caches: Arc<Caches>) -> Self {
        Context {
            registry: Arc::new(Registry::builtin()),
            work_root,
            running: Mutex::new(HashMap::new()),
            retry_delay: Duration::from_secs(5),
            allow_file_repos: false,
            git_timeout: kargo_promotion::limits::DEFAULT_TIMEOUT,
            http_timeout: kargo_promotion::limits::DEFAULT_TIMEOUT,
            ui_base_url: None,
            argocd: Some(crate::argocd::ArgoCd {
                client: client.clone(),
                namespace: "argocd".into(),
                watch_namespace_only: false,
            }),
            client,
            caches,
        }
    }

    /// Where steps find Argo CD's Applications (None: disabled).
    pub fn with_argocd(mut self, argocd: Option<crate::argocd::ArgoCd>) -> Self {
        self.argocd = argocd;
        self
    }

    /// Bounds each git process and network call of a step (the server's
    /// `--git-timeout` and `--http-timeout`).
    pub fn with_timeouts(mut self, git: Duration, http: Duration) -> Self {
        self.git_timeout = git;
        self.http_timeout = http;
        self
    }

    /// Lets steps use `file://` repositories (the server's
    /// `--allow-file-repos`).
    pub fn with_allow_file_repos(mut self, allow: bool) -> Self {
        self.allow_file_repos = allow;
        self
    }

    /// The UI's address, which `git-open-pr` links to from the pull
    /// requests it opens (none when empty).
    pub fn with_ui_base_url(mut self, url: &str) -> Self {
        self.ui_base_url = Some(url.trim_end_matches('/').to_string()).filter(|u| !u.is_empty());
        self
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

/// Runs the controller on the hub's Promotion stream and the Promotions
/// it says may start now (the one ahead ended, or a step asked to be
/// called again), at most `concurrency` reconciles at once.
pub async fn run(
    ctx: Arc<Context>,
    promotions: UnboundedReceiver<ObjectRef<Promotion>>,
    next: UnboundedReceiver<ObjectRef<Promotion>>,
    concurrency: u16,
) {
    ctx.caches.wait_until_ready().await;
    sweep_work_dirs(&ctx);
    crate::work_queue::run(
        ctx.caches.promotions.clone(),
        futures::stream::select(promotions, next),
        concurrency,
        ctx,
        |p, ctx| crate::metrics::timed("promotion", reconcile(p, ctx)),
        error_policy,
        |r| {
            crate::stats::reconciled(crate::stats::PROMOTION);
            if let Err(e) = r {
                tracing::debug!(error = %e, "promotion reconcile");
            }
        },
    )
    .await;
}

/// Removes a Promotion's working directory, if it has one.
fn remove_work_dir(ctx: &Context, ns: &str, name: &str) {
    let dir = ctx.work_root.join(ns).join(name);
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        tracing::warn!(namespace = %ns, promotion = %name, error = %e, "removing the working directory");
    }
}

/// Removes the working directories of Promotions that have finished: a
/// run removes its own when it ends, so these are left by a process cut
/// off between recording the end and that. Only Promotions the index
/// holds (this process's shard) are touched.
fn sweep_work_dirs(ctx: &Context) {
    let Ok(namespaces) = std::fs::read_dir(&ctx.work_root) else {
        return;
    };
    // The finished ones, by namespace, in one pass over the index.
    let finished: std::collections::HashSet<(String, String)> = ctx
        .caches
        .index
        .all_promotions()
        .into_iter()
        .flat_map(|(ns, ps)| {
            ps.into_iter()
                .filter(|p| p.summary.phase.is_terminal())
                .map(move |p| (ns.clone(), p.created.1))
        })
        .collect();
    for ns in namespaces.flatten() {
        let Ok(promotions) = std::fs::read_dir(ns.path()) else {
            continue;
        };
        let ns = ns.file_name().to_string_lossy().into_owned();
        for p in promotions.flatten() {
            let name = p.file_name().to_string_lossy().into_owned();
            if finished.contains(&(ns.clone(), name.clone())) {
                remove_work_dir(ctx, &ns, &name);
            }
        }
    }
}

fn error_policy(_p: Arc<Promotion>, e: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %e, "promotion reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

fn phase(p: &Promotion) -> PromotionPhase {
    p.status.as_ref().and_then(|s| s.phase).unwrap_or_default()
}

fn key(p: &Promotion) -> String {
    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
}

async fn patch_status(api: &Api<Promotion>, name: &str, status: Value) -> Result<(), kube::Error> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .map(|_| ())
}

/// One reconciliation.
pub async fn reconcile(p: Arc<Promotion>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), &ns);
    let ph = phase(&p);
    if ph.is_terminal() {
        // The cache keeps no finished Promotion; its run removed its
        // working directory when it ended.
        return Ok(Action::await_change());
    }
    if let Some(by) = p.annotations().get(labels::ABORT) {
        let flag = ctx
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key(&p))
            .cloned();
        match flag {
            Some(f) => f.store(true, Ordering::SeqCst),
            None => {
                let msg = if by.is_empty() {
                    "aborted".to_string()
                } else {
                    format!("aborted ({by})")
                };
                patch_status(
                    &api,
                    &name,
                    json!({"phase": "Aborted", "message": msg, "finishedAt": now()}),
                )
                .await?;
                record_outcome(&ctx, &p, "Aborted", &msg, None).await;
                // A run another process began here before may have left one.
                remove_work_dir(&ctx, &ns, &name);
            }
        }
        return Ok(Action::await_change());
    }
    if ctx
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(&key(&p))
    {
        return Ok(Action::await_change());
    }
    let mut p = p;
    if ph == PromotionPhase::Pending {
        // One Promotion at a time per Stage, oldest first; the hub wakes
        // the oldest Pending one when the one ahead ends.
        let mine = (p.meta().creation_timestamp.clone(), name.clone());
        let ahead = ctx
            .caches
            .index
            .promotions_of(&ns, &p.spec.stage)
            .into_iter()
            .any(|(c, s)| {
                c.1 != name
                    && (s.phase == PromotionPhase::Running
                        || (s.phase == PromotionPhase::Pending && c < mine))
            });
        if ahead {
            return Ok(Action::requeue(SAFETY_INTERVAL));
        }
        let freight_api = Api::<Freight>::namespaced(ctx.client.clone(), &ns);
        let freight = crate::informers::cached_or_get(
            &ctx.caches.freight,
            &freight_api,
            &ns,
            &p.spec.freight,
        )
        .await?;
        let Some(freight) = freight else {
            patch_status(&api, &name, json!({"phase": "Errored", "message": format!("Freight {} no longer exists", p.spec.freight), "finishedAt": now()})).await?;
            return Ok(Action::await_change());
        };
        let fref = FreightReference {
            name: freight.name_any(),
            origin: freight.origin.clone(),
            commits: freight.commits.clone(),
            images: freight.images.clone(),
            charts: freight.charts.clone(),
            artifacts: freight.artifacts.clone(),
        };
        patch_status(
            &api,
            &name,
            json!({"phase": "Running", "startedAt": now(), "freight": fref, "message": ""}),
        )
        .await?;
        let msg = format!(
            "promoting {} into Stage {}",
            freight.alias().unwrap_or(&p.spec.freight),
            p.spec.stage
        );
        tracing::info!(namespace = %ns, promotion = %name, "{msg}");
    } else {
        // Resuming: its saved progress must be the newest, not the cache's.
        match api.get_opt(&name).await? {
            // It ended meanwhile (the cache had not caught up with the
            // run that just finished): nothing to run, or to report, again.
            Some(fresh) if phase(&fresh).is_terminal() => return Ok(Action::await_change()),
            Some(fresh) => p = Arc::new(fresh),
            None => return Ok(Action::await_change()),
        }
    }
    start(p, ctx).await?;
    Ok(Action::await_change())
}

/// Everything a run needs, loaded before the blocking runner starts.
struct Prepared {
    input_ctx: PromotionContext,
    freight: Vec<Value>,
    lookup: CacheLookup,
    /// Git credentials, loaded when a step may reach a git repository
    /// (`git-clone`, `git-push`, `git-open-pr`, ..., or a PromotionTask's
    /// steps).
    creds: CredentialSet,
    /// Registry credentials, loaded when a step may reach a registry
    /// (`oci-push`, `oci-download`, or a PromotionTask's steps).
    image_creds: CredentialSet,
    /// Chart repository credentials, loaded when a step may fetch charts
    /// (`helm-update-chart`, or a PromotionTask's steps).
    chart_creds: CredentialSet,
    tasks: HashMap<String, PromotionTaskSpec>,
    state: RunState,
}

/// Which of the expression functions that read the Project's objects a
/// Promotion may call: a call is looked for in its steps, variables and
/// PromotionTasks as written (a mention that is not a call only costs a
/// read).
struct ExpressionCalls {
    config_map: bool,
    secret: bool,
}

impl ExpressionCalls {
    fn of(p: &Promotion, tasks: &HashMap<String, PromotionTaskSpec>) -> Self {
        static CALL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"\b(configMap|secret)\s*\(").expect("a valid pattern")
        });
        let mut texts = vec![serde_json::to_string(&p.spec).unwrap_or_default()];
        texts.extend(
            tasks
                .values()
                .map(|t| serde_json::to_string(t).unwrap_or_default()),
        );
        let mut calls = ExpressionCalls {
            config_map: false,
            secret: false,
        };
        for m in texts.iter().flat_map(|t| CALL.captures_iter(t)) {
            match &m[1] {
                "configMap" => calls.config_map = true,
                _ => calls.secret = true,
            }
        }
        calls
    }
}

/// The objects of `api`, listed only when `wanted`.
async fn list_if<K>(wanted: bool, api: Api<K>) -> Result<Vec<K>, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match wanted {
        true => Ok(api.list(&ListParams::default()).await?.items),
        false => Ok(Vec::new()),
    }
}

/// The Project's credentials of `kind`, loaded only when a step whose
/// `uses` starts with `prefix`, or a PromotionTask (whose steps are not
/// known yet), may need them.
async fn credentials_for(
    c: &kube::Client,
    ns: &str,
    p: &Promotion,
    prefix: &str,
    kind: CredType,
) -> Result<CredentialSet, kube::Error> {
    let may_use = p
        .spec
        .steps
        .iter()
        .any(|s| s.task.is_some() || s.uses.starts_with(prefix));
    match may_use {
        true => CredentialSet::load(c, ns, kind).await,
        false => Ok(CredentialSet::default()),
    }
}

async fn prepare(p: &Promotion, ctx: &Context) -> Result<Prepared, String> {
    let ns = p.namespace().unwrap_or_default();
    let c = &ctx.client;
    let err = |what: &str, e: kube::Error| format!("reading {what}: {e}");
    let caches = &ctx.caches;
    let get_freight = |n: &str| caches.freight.get(&ObjectRef::new(n).within(&ns));
    let freight = match get_freight(&p.spec.freight) {
        Some(f) => f,
        None => Arc::new(
            Api::<Freight>::namespaced(c.clone(), &ns)
                .get(&p.spec.freight)
                .await
                .map_err(|e| err("the Freight", e))?,
        ),
    };
    let stage = caches
        .stages
        .get(&ObjectRef::new(&p.spec.stage).within(&ns));
    // The target first, then what the Stage uses from other origins.
    let mut collection = vec![
        freight
            .to_value_without_status()
            .map_err(|e| e.to_string())?,
    ];
    let current = stage
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .and_then(|s| s.freight_history.first())
        .map(|c| c.items.clone())
        .unwrap_or_default();
    for r in current.values().filter(|r| r.origin != freight.origin) {
        if let Some(f) = get_freight(&r.name) {
            collection.push(f.to_value_without_status().map_err(|e| e.to_string())?);
        }
    }
    let mut tasks = HashMap::new();
    let refs: Vec<PromotionTaskReference> =
        p.spec.steps.iter().filter_map(|s| s.task.clone()).collect();
    for t in refs {
        let spec = if t.kind == "ClusterPromotionTask" {
            Api::<ClusterPromotionTask>::all(c.clone())
                .get_opt(&t.name)
                .await
                .map_err(|e| err("a ClusterPromotionTask", e))?
                .map(|x| x.spec)
        } else {
            Api::<PromotionTask>::namespaced(c.clone(), &ns)
                .get_opt(&t.name)
                .await
                .map_err(|e| err("a PromotionTask", e))?
                .map(|x| x.spec)
        };
        if let Some(spec) = spec {
            tasks.insert(format!("{}/{}", t.kind, t.name), spec);
        }
    }
    let mut lookup = StaticLookup {
        freight: collection.clone(),
        ..Default::default()
    };
    // The Project's ConfigMaps and Secrets, for `configMap()` and
    // `secret()`: read only when some step, variable or task calls them.
    let calls = ExpressionCalls::of(p, &tasks);
    let config_maps = list_if(
        calls.config_map,
        Api::<ConfigMap>::namespaced(c.clone(), &ns),
    )
    .await
    .map_err(|e| err("ConfigMaps", e))?;
    for cm in config_maps {
        let name = cm.name_any();
        lookup.config_maps.insert(name, cm.data.unwrap_or_default());
    }
    let secrets = list_if(calls.secret, Api::<Secret>::namespaced(c.clone(), &ns))
        .await
        .map_err(|e| err("Secrets", e))?;
    for s in secrets {
        let name = s.name_any();
        let data: BTreeMap<String, String> = s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect();
        lookup.secrets.insert(name, data);
    }
    let creds = credentials_for(c, &ns, p, "git-", CredType::Git)
        .await
        .map_err(|e| err("credentials", e))?;
    let image_creds = credentials_for(c, &ns, p, "oci-", CredType::Image)
        .await
        .map_err(|e| err("credentials", e))?;
    let chart_creds = credentials_for(c, &ns, p, "helm-", CredType::Helm)
        .await
        .map_err(|e| err("credentials", e))?;
    let state: RunState = match p.status.as_ref().and_then(|s| s.state.clone()) {
        Some(v) => serde_json::from_value(v)
            .map_err(|e| format!("the saved progress of this Promotion is unreadable: {e}"))?,
        None => RunState::default(),
    };
    let input_ctx = PromotionContext {
        project: ns.clone(),
        stage: p.spec.stage.clone(),
        promotion: p.name_any(),
        target_freight_name: freight.name_any(),
        target_freight_alias: freight.alias().unwrap_or("").to_string(),
        target_origin_kind: freight.origin.kind.clone(),
        target_origin_name: freight.origin.name.clone(),
        actor: p
            .annotations()
            .get("kargo.akuity.io/create-actor")
            .cloned()
            .unwrap_or_default(),
    };
    // freightMetadata(), freightStatus() and stageMetadata() may name any
    // Freight or Stage of the Project, as in Kargo: read from the caches.
    let lookup = CacheLookup {
        namespace: ns.clone(),
        loaded: lookup,
        freight: caches.freight.clone(),
        stages: caches.stages.clone(),
    };
    Ok(Prepared {
        input_ctx,
        freight: collection,
        lookup,
        creds,
        image_creds,
        chart_creds,
        tasks,
        state,
    })
}

/// A Promotion ended in `phase`: its duration goes to the metrics and an
/// Event says how, with Kargo's reason, message and annotations (the
/// abort's as Kargo words it, naming who asked).
///
/// The duration is from its recorded `startedAt` (a resumed Promotion),
/// else from when this process began running it (`began`).
async fn record_outcome(
    ctx: &Context,
    p: &Promotion,
    phase: &str,
    message: &str,
    began: Option<std::time::Instant>,
) {
    let ns = p.namespace().unwrap_or_default();
    let started = p.status.as_ref().and_then(|s| s.started_at.as_deref());
    if let Some(took) = crate::metrics::since(started).or(began.map(|b| b.elapsed())) {
        crate::metrics::observe_promotion(&ns, &p.spec.stage, took);
    }
    let text = if phase == "Aborted" {
        // Kargo's abort request names its actor: `{"action":"terminate","actor":...}`.
        let by = p.annotations().get(labels::ABORT).and_then(|v| {
            serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .and_then(|r| r["actor"].as_str().map(str::to_string))
        });
        match by.filter(|b| !b.is_empty()) {
            Some(by) => format!("Promotion terminated by {by}"),
            None => "Promotion terminated per user request".to_string(),
        }
    } else if message.is_empty() {
        format!("Promotion {phase}")
    } else {
        format!("Promotion {phase}: {message}")
    };
    let freight = ctx
        .caches
        .freight
        .get(&ObjectRef::new(&p.spec.freight).within(&ns))
        .and_then(|f| f.to_value_without_status().ok());
    let Ok(pv) = serde_json::to_value(p) else {
        return;
    };
    let mut event = crate::events::promotion(
        &pv,
        freight.as_ref(),
        &format!("Promotion{phase}"),
        &text,
        crate::events::PROMOTION_CONTROLLER,
    );
    if phase == "Succeeded" {
        let verifies = ctx
            .caches
            .stages
            .get(&ObjectRef::new(&p.spec.stage).within(&ns))
            .is_some_and(|s| s.spec.verification.is_some());
        event["metadata"]["annotations"][kargo_api::event::VERIFICATION_PENDING] =
            json!(verifies.to_string());
    }
    // A Promotion ends once: a repeated reconcile records nothing more.
    let uid = p.metadata.uid.as_deref().unwrap_or_default();
    kargo_api::event::name_once(&mut event, &[uid, &format!("Promotion{phase}")]);
    crate::events::record(&ctx.client, event).await;
}

/// Starts executing a Running Promotion in the background.
async fn start(p: Arc<Promotion>, ctx: Arc<Context>) -> Result<(), Error> {
    let k = key(&p);
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let mut running = ctx.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.contains_key(&k) {
            return Ok(());
        }
        running.insert(k.clone(), cancel.clone());
    }
    tokio::spawn(async move {
        let ns = p.namespace().unwrap_or_default();
        let name = p.name_any();
        let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), &ns);
        tracing::info!(promotion = %name, namespace = %ns, "running the promotion's steps");
        let began = std::time::Instant::now();
        let outcome = execute(&p, &ctx, cancel).await;
        let mut retry_after = None;
        let status = match outcome {
            Ok((ph, message, state, after)) => {
                retry_after = after;
                // Credentials in URLs never reach the Promotion's status.
                let message = kargo_api::redact::redact(&message);
                let mut st = json!({"phase": ph, "message": message, "finishedAt": now(), "stepExecutionMetadata": state.metadata, "currentStep": state.current_step, "state": state});
                if ph == PromotionPhase::Succeeded && !state.health_checks.is_empty() {
                    // What the Stage checks from now on (Kargo's
                    // `Promotion.status.healthChecks`).
                    st["healthChecks"] = json!(state.health_checks);
                }
                if ph == PromotionPhase::Running {
                    // A step asked to be called again later.
                    if let Some(m) = st.as_object_mut() {
                        m.remove("finishedAt");
                    }
                }
                st
            }
            Err(e) => {
                json!({"phase": "Errored", "message": kargo_api::redact::redact(&e.to_string()), "finishedAt": now()})
            }
        };
        let mut recorded = false;
        for attempt in 0..10 {
            match patch_status(&api, &name, status.clone()).await {
                Ok(()) => {
                    recorded = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(promotion = %name, error = %e, attempt, "recording the outcome");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        ctx.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&k);
        if recorded && status["phase"] != "Running" {
            // As Kargo, the Event follows the status write: the write is
            // what the Stage downstream waits for.
            let ph = status["phase"].as_str().unwrap_or("");
            let message = status["message"].as_str().unwrap_or("");
            record_outcome(&ctx, &p, ph, message, Some(began)).await;
            remove_work_dir(&ctx, &ns, &name);
        }
        if status["phase"] == "Running" {
            // Come back for steps that wait (no write: a wake-up), when
            // the waiting step asked (its pollInterval, at least a second)
            // or else in 5 s.
            let after = retry_after.map_or(Duration::from_secs(5), |d: Duration| {
                d.max(Duration::from_secs(1))
            });
            tokio::time::sleep(after).await;
            ctx.caches.wake_promotion(&ns, &name);
        }
    });
    Ok(())
}

async fn execute(
    p: &Promotion,
    ctx: &Context,
    cancel: Arc<AtomicBool>,
) -> Result<(PromotionPhase, String, RunState, Option<Duration>), String> {
    let mut prepared = prepare(p, ctx).await?;
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    let work = ctx.work_root.join(&ns).join(&name);
    // As Kargo: a run this process has no working directory for (another
    // replica started it, or the directory was lost) starts again from
    // the first step, keeping the shared state, so the steps find what
    // they did before (a change already committed and pushed is not made
    // again: git-commit finds nothing to commit, git-push nothing to push).
    if prepared.state.current_step > 0 && !work.exists() {
        tracing::info!(promotion = %name, namespace = %ns, "no working directory here: running the steps again from the first");
        prepared.state.current_step = 0;
        prepared.state.metadata.clear();
        prepared.state.health_checks.clear();
    }
    let runner = Runner::new(
        ctx.registry.clone(),
        RunnerOptions {
            work_dir: work,
            retry_delay: ctx.retry_delay,
            limits: kargo_promotion::Limits {
                cancel,
                git_timeout: ctx.git_timeout,
                http_timeout: ctx.http_timeout,
            },
            allow_file_repos: ctx.allow_file_repos,
            ui_base_url: ctx.ui_base_url.clone(),
            step_timer: Some(crate::metrics::observe_step),
        },
    );
    let steps = p.spec.steps.clone();
    let vars = p.spec.vars.clone();
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), &ns);
    let handle = tokio::runtime::Handle::current();
    let apps_client = ctx.client.clone();
    let argocd = ctx.argocd.clone();
    tokio::task::spawn_blocking(move || {
        let Prepared { input_ctx, freight, lookup, creds, image_creds, chart_creds, tasks, state } = prepared;
        let creds_ref = CredsFn { git: creds, images: image_creds, charts: chart_creds };
        let objects = KubeObjects { client: apps_client.clone(), namespace: input_ctx.project.clone(), handle: handle.clone() };
        let apps = argocd.map(|argocd| crate::argocd::KubeApps { argocd, handle: handle.clone() });
        let apps = apps.as_ref().map(|a| a as &dyn kargo_promotion::ArgoCdApps);
        let input = PromotionInput { ctx: input_ctx, freight, vars, lookup: &lookup, credentials: &creds_ref, apps, objects: Some(&objects) };
        let resolver = |t: &PromotionTaskReference| -> Result<PromotionTaskSpec, String> {
            let kind = if t.kind.is_empty() { "PromotionTask" } else { t.kind.as_str() };
            tasks.get(&format!("{}/{}", t.kind, t.name)).cloned().ok_or_else(|| format!("{kind} {:?} not found", t.name))
        };
        // Progress is persisted after every step; a failed write stops the run.
        // Not after the last one: the outcome's write, which follows at
        // once, records that state (until it lands, the last step counts
        // as running, and a restart runs it again, as after a crash in it).
        let mut persist = |st: &RunState| -> Result<(), String> {
            if st.expanded && st.current_step >= st.steps.len() {
                return Ok(());
            }
            let status = json!({"stepExecutionMetadata": st.metadata, "currentStep": st.current_step, "state": st});
            handle.block_on(patch_status(&api, &name, status)).map_err(|e| format!("saving progress: {e}"))
        };
        match runner.run(&input, &steps, &resolver, state, &mut persist) {
            Ok(out) => Ok((out.phase, out.message, out.state, out.retry_after)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| format!("the runner stopped unexpectedly: {e}"))?
}

/// The Project's Stages and Freight through the API, for `set-metadata`
/// and `set-freight-alias`.
struct KubeObjects {
    client: kube::Client,
    namespace: String,
    handle: tokio::runtime::Handle,
}

fn object_error(e: kube::Error) -> kargo_promotion::ObjectError {
    use kargo_promotion::ObjectError;
    match e {
        kube::Error::Api(s) if s.code == 404 => ObjectError::NotFound,
        kube::Error::Api(s) if (400..500).contains(&s.code) => ObjectError::Refused(s.message),
        other => ObjectError::Failed(other.to_string()),
    }
}

impl kargo_promotion::ProjectObjects for KubeObjects {
    fn merge_metadata(
        &self,
        target: kargo_promotion::MetadataTarget,
        name: &str,
        values: &serde_json::Map<String, Value>,
    ) -> Result<(), kargo_promotion::ObjectError> {
        let patch = Patch::Merge(json!({"status": {"metadata": values}}));
        let params = PatchParams::default();
        let done = match target {
            kargo_promotion::MetadataTarget::Stage => self
                .handle
                .block_on(
                    Api::<kargo_api::Stage>::namespaced(self.client.clone(), &self.namespace)
                        .patch_status(name, &params, &patch),
                )
                .map(|_| ()),
            kargo_promotion::MetadataTarget::Freight => self
                .handle
                .block_on(
                    Api::<Freight>::namespaced(self.client.clone(), &self.namespace)
                        .patch_status(name, &params, &patch),
                )
                .map(|_| ()),
        };
        done.map_err(object_error)
    }

    fn set_freight_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<String, kargo_promotion::ObjectError> {
        let api = Api::<Freight>::namespaced(self.client.clone(), &self.namespace);
        let old = self
            .handle
            .block_on(api.get(name))
            .map_err(object_error)?
            .alias()
            .unwrap_or_default()
            .to_string();
        let patch = json!({"metadata": {"labels": {labels::ALIAS: alias}}, "alias": alias});
        self.handle
            .block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(patch)))
            .map_err(object_error)?;
        Ok(old)
    }

    fn message_channel(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<kargo_promotion::message::Channel, kargo_promotion::ObjectError> {
        self.handle
            .block_on(crate::notify::load_channel(
                &self.client,
                &self.namespace,
                kind,
                name,
            ))
            .map_err(|e| {
                if e.contains("NotFound") || e.contains("not found") {
                    kargo_promotion::ObjectError::NotFound
                } else {
                    kargo_promotion::ObjectError::Failed(e)
                }
            })
    }
}

/// The Project's git, registry and chart repository credential Secrets,
/// as the runner's credential lookup.
struct CredsFn {
    git: CredentialSet,
    images: CredentialSet,
    charts: CredentialSet,
}

impl kargo_promotion::CredentialLookup for CredsFn {
    fn git_credentials(&self, repo_url: &str) -> Option<GitCredentials> {
        self.git.pick(repo_url).map(|c| GitCredentials {
            username: c.username,
            password: c.password,
        })
    }

    fn registry_credentials(&self, repo: &str) -> Option<GitCredentials> {
        self.images.pick(repo).map(|c| GitCredentials {
            username: c.username,
            password: c.password,
        })
    }

    fn chart_credentials(&self, repo_url: &str) -> Option<GitCredentials> {
        self.charts.pick(repo_url).map(|c| GitCredentials {
            username: c.username,
            password: c.password,
        })
    }
}

/// Set of Promotions executing in this process (for tests).
pub fn running(ctx: &Context) -> HashSet<String> {
    ctx.running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn promotion(steps: Value, vars: Value) -> Promotion {
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"stage": "dev", "freight": "f", "steps": steps, "vars": vars},
        }))
        .unwrap()
    }

    #[test]
    fn configmaps_and_secrets_are_read_only_for_a_promotion_that_calls_them() {
        let http =
            json!([{"uses": "http", "config": {"url": "https://example.com/${{ ctx.stage }}"}}]);
        let calls = ExpressionCalls::of(&promotion(http.clone(), json!([])), &HashMap::new());
        assert!(!calls.config_map && !calls.secret);

        let in_step = json!([{"uses": "http", "config": {"url": "${{ configMap('urls').dev }}"}}]);
        let calls = ExpressionCalls::of(&promotion(in_step, json!([])), &HashMap::new());
        assert!(calls.config_map && !calls.secret);

        let in_var = json!([{"name": "token", "value": "${{ secret ('api').token }}"}]);
        let calls = ExpressionCalls::of(&promotion(http.clone(), in_var), &HashMap::new());
        assert!(!calls.config_map && calls.secret);

        // A PromotionTask's steps count as the Promotion's own.
        let task: PromotionTaskSpec = serde_json::from_value(json!({
            "steps": [{"uses": "http", "config": {"url": "${{secret('api').url}}"}}]
        }))
        .unwrap();
        let tasks = HashMap::from([("PromotionTask/t".to_string(), task)]);
        let calls = ExpressionCalls::of(&promotion(http, json!([])), &tasks);
        assert!(!calls.config_map && calls.secret);
    }
}
