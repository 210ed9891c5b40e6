//! `argocd-update`, as Kargo's step (`argocd_updater.go`): finds
//! Applications by name or label selector, keeps those whose
//! `kargo.akuity.io/authorized-stage` annotation names this Stage, checks
//! that source updates apply to every one of them, applies them
//! (`targetRevision`, `helm.images`, `kustomize.images`), asks Argo CD
//! for a sync (one patch: hard refresh, new sources, an `operation`
//! initiated by the Promotion's actor with the Promotion in its `info`,
//! `status.operationState` cleared), records an `OperationStarted` Event,
//! waits out operations it did not start, and follows its own until Argo
//! CD reports them done. It registers an `argocd-update` health check
//! with each Application's desired revisions, which the Stage controller
//! runs afterwards ([`crate::argocd::health`]).

use crate::apps::ArgoCdApps;
use crate::argocd::{
    AppSelector, PROMOTION_INFO, REFRESH_ANNOTATION, Target, authorize, discovery, find, name_of,
    sources, str_at,
};
use crate::step::{Step, StepContext, StepError, StepResult, StepStatus, parse_config};
use kargo_api::freight_id::normalize_git_url;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Step name.
pub const NAME: &str = "argocd-update";

/// Kargo's default timeout for the step.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Who Kargo says started an operation it started on its own.
pub const INITIATOR: &str = "kargo-controller";

/// `config` of the step.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Applications to update.
    pub apps: Vec<AppUpdate>,
}

/// Applications to update: exactly one of `name` and `selector`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppUpdate {
    /// Application name.
    #[serde(default)]
    pub name: Option<String>,
    /// Label selector.
    #[serde(default)]
    pub selector: Option<AppSelector>,
    /// Namespace (default: the controller's Argo CD namespace).
    #[serde(default)]
    pub namespace: String,
    /// Source updates.
    #[serde(default)]
    pub sources: Vec<SourceUpdate>,
}

/// An update to the Application source with this `repoURL` (and `chart`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceUpdate {
    /// Which source.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Helm chart name (chart sources match `repoURL` and `chart` exactly).
    #[serde(default)]
    pub chart: String,
    /// The revision the source should be observably synced to.
    #[serde(default)]
    pub desired_revision: String,
    /// Also point the source's `targetRevision` at `desiredRevision`.
    #[serde(default)]
    pub update_target_revision: bool,
    /// Helm parameters to set.
    #[serde(default)]
    pub helm: Option<HelmUpdates>,
    /// Kustomize images to set.
    #[serde(default)]
    pub kustomize: Option<KustomizeUpdates>,
}

/// `helm.images`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmUpdates {
    /// Parameters.
    pub images: Vec<HelmImage>,
}

/// One Helm parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmImage {
    /// Parameter name.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// `kustomize.images`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KustomizeUpdates {
    /// Images.
    pub images: Vec<KustomizeImage>,
}

/// One Kustomize image.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KustomizeImage {
    /// Image repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Tag.
    #[serde(default)]
    pub tag: String,
    /// Digest (wins over `tag`).
    #[serde(default)]
    pub digest: String,
    /// Replacement image name.
    #[serde(default)]
    pub new_name: String,
}

/// Checks a decoded config as Kargo's schema (`argocd-update-config.json`)
/// does; errors name the field as gojsonschema does.
fn validate(cfg: &Config) -> Result<(), String> {
    let min1 = |path: String| {
        Err(format!(
            "{path}: String length must be greater than or equal to 1"
        ))
    };
    if cfg.apps.is_empty() {
        return Err("apps: Array must have at least 1 items".into());
    }
    for (i, a) in cfg.apps.iter().enumerate() {
        match (&a.name, &a.selector) {
            (Some(n), None) if n.is_empty() => return min1(format!("apps.{i}.name")),
            (Some(_), None) => {}
            (None, Some(sel)) => check_selector(sel, &format!("apps.{i}.selector"))?,
            _ => {
                return Err(format!(
                    "apps.{i}: Must validate one and only one schema (oneOf)"
                ));
            }
        }
        for (j, s) in a.sources.iter().enumerate() {
            let at = format!("apps.{i}.sources.{j}");
            if s.repo_url.is_empty() {
                return min1(format!("{at}.repoURL"));
            }
            if s.update_target_revision && s.desired_revision.is_empty() {
                return Err(format!(
                    "{at}: Must validate one and only one schema (oneOf)"
                ));
            }
            if let Some(h) = &s.helm {
                if h.images.is_empty() {
                    return Err(format!(
                        "{at}.helm.images: Array must have at least 1 items"
                    ));
                }
                if let Some(n) = h.images.iter().position(|im| im.key.is_empty()) {
                    return min1(format!("{at}.helm.images.{n}.key"));
                }
            }
            if let Some(k) = &s.kustomize {
                if k.images.is_empty() {
                    return Err(format!(
                        "{at}.kustomize.images: Array must have at least 1 items"
                    ));
                }
                for (n, im) in k.images.iter().enumerate() {
                    if im.repo_url.is_empty() {
                        return min1(format!("{at}.kustomize.images.{n}.repoURL"));
                    }
                    if !im.tag.is_empty() && !im.digest.is_empty() {
                        return Err(format!(
                            "{at}.kustomize.images.{n}: Must validate one and only one schema (oneOf)"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The schema's rules for a selector (shared with `argocd-wait`).
pub fn check_selector(sel: &AppSelector, at: &str) -> Result<(), String> {
    if sel.match_labels.is_empty() && sel.match_expressions.is_empty() {
        return Err(format!("{at}: Must validate at least one schema (anyOf)"));
    }
    for (n, e) in sel.match_expressions.iter().enumerate() {
        if e.key.is_empty() {
            return Err(format!(
                "{at}.matchExpressions.{n}.key: String length must be greater than or equal to 1"
            ));
        }
        if !matches!(
            e.operator.as_str(),
            "In" | "NotIn" | "Exists" | "DoesNotExist"
        ) {
            return Err(format!(
                "{at}.matchExpressions.{n}.operator: must be one of the following: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\""
            ));
        }
    }
    Ok(())
}

/// Rules on fields given but empty, which decoding cannot see.
pub fn check_present(config: &Value) -> Result<(), String> {
    let list = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (i, a) in list(config, "/apps").iter().enumerate() {
        if a.get("namespace").is_some_and(|n| n == "") {
            return Err(format!(
                "apps.{i}.namespace: String length must be greater than or equal to 1"
            ));
        }
        if a.get("sources")
            .is_some_and(|s| s.as_array().is_some_and(Vec::is_empty))
        {
            return Err(format!(
                "apps.{i}.sources: Array must have at least 1 items"
            ));
        }
        for (j, s) in list(a, "/sources").iter().enumerate() {
            for (n, im) in list(s, "/kustomize/images").iter().enumerate() {
                if im.get("newName").is_some_and(|v| v == "") {
                    return Err(format!(
                        "apps.{i}.sources.{j}.kustomize.images.{n}.newName: String length must be greater than or equal to 1"
                    ));
                }
            }
        }
        if let Some(sel) = a.get("selector") {
            for key in ["matchLabels", "matchExpressions"] {
                if sel.get(key).is_some_and(|v| {
                    v.as_object().is_some_and(|o| o.is_empty())
                        || v.as_array().is_some_and(Vec::is_empty)
                }) {
                    return Err(format!("apps.{i}.selector.{key}: must not be empty"));
                }
            }
        }
    }
    Ok(())
}

fn parse(config: &Value) -> Result<Config, StepError> {
    check_present(config).map_err(|e| StepError::config(NAME, e))?;
    let cfg: Config = parse_config(NAME, config)?;
    validate(&cfg).map_err(|e| StepError::config(NAME, e))?;
    Ok(cfg)
}

/// The step.
pub struct ArgoCdUpdate;

/// Argo CD's operation phases, in the order Kargo sorts them (the first
/// decides the step's status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Failed,
    Error,
    Running,
    Terminating,
    Succeeded,
}

impl Phase {
    fn parse(s: &str) -> Option<Phase> {
        Some(match s {
            "Failed" => Phase::Failed,
            "Error" => Phase::Error,
            "Running" => Phase::Running,
            "Terminating" => Phase::Terminating,
            "Succeeded" => Phase::Succeeded,
            _ => return None,
        })
    }
    fn completed(phase: Option<Phase>) -> bool {
        matches!(phase, Some(Phase::Failed | Phase::Error | Phase::Succeeded))
    }
}

/// What to do with one Application (Kargo's `mustPerformUpdate`).
enum Decision {
    /// Start a sync; the reason, if any, is logged.
    Sync,
    /// Leave it: an operation in this phase is running or done.
    Follow(Option<Phase>, Option<String>),
}

/// Desired revision per source index: only from an explicit
/// `desiredRevision` of an update matching `repoURL` and `chart` exactly
/// (Kargo's `getDesiredRevisions`).
pub fn desired_revisions(update: &AppUpdate, app: &Value) -> Vec<String> {
    sources(app)
        .iter()
        .map(|src| {
            update
                .sources
                .iter()
                .find(|u| u.repo_url == str_at(src, "/repoURL") && u.chart == str_at(src, "/chart"))
                .map(|u| u.desired_revision.clone())
                .unwrap_or_default()
        })
        .collect()
}

fn decide(app: &Value, promotion: &str, desired: &[String]) -> Decision {
    let Some(op) = app
        .pointer("/status/operationState")
        .filter(|o| !o.is_null())
    else {
        return Decision::Sync;
    };
    let phase = Phase::parse(str_at(op, "/phase"));
    let info: Vec<&Value> = op
        .pointer("/operation/info")
        .and_then(Value::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let ours = info.iter().find(|i| str_at(i, "/name") == PROMOTION_INFO);
    match ours {
        None => {
            if !Phase::completed(phase) {
                return Decision::Follow(
                    phase,
                    Some(format!(
                        "current operation was initiated by {:?}: waiting for operation to complete",
                        str_at(op, "/operation/initiatedBy/username")
                    )),
                );
            }
            return Decision::Sync;
        }
        Some(i) if str_at(i, "/value") != promotion => {
            if !Phase::completed(phase) {
                return Decision::Follow(
                    phase,
                    Some(format!(
                        "current operation was not initiated for Promotion {promotion}: waiting for operation to complete"
                    )),
                );
            }
            return Decision::Sync;
        }
        Some(_) => {}
    }
    if !Phase::completed(phase) {
        return Decision::Follow(phase, None);
    }
    if op.get("syncResult").is_none_or(Value::is_null) {
        return Decision::Sync;
    }
    if desired.is_empty() {
        return Decision::Follow(phase, None);
    }
    let observed = crate::argocd::health::revisions(op, "/syncResult");
    let mismatch = observed
        .iter()
        .enumerate()
        .any(|(i, o)| desired.get(i).is_some_and(|d| !d.is_empty() && d != o));
    if mismatch {
        return Decision::Sync;
    }
    Decision::Follow(phase, None)
}

/// Kargo's `applyArgoCDSourceUpdate`: the updated source, or `None` when
/// the update does not apply to it.
fn apply_source_update(u: &SourceUpdate, desired: &str, src: &Value) -> Option<Value> {
    let applies = if !str_at(src, "/chart").is_empty() || !u.chart.is_empty() {
        str_at(src, "/repoURL") == u.repo_url && str_at(src, "/chart") == u.chart
    } else {
        normalize_git_url(str_at(src, "/repoURL")) == normalize_git_url(&u.repo_url)
    };
    if !applies {
        return None;
    }
    let mut src = src.clone();
    if u.update_target_revision && !desired.is_empty() {
        src["targetRevision"] = json!(desired);
    }
    if let Some(k) = u.kustomize.as_ref().filter(|k| !k.images.is_empty()) {
        let images: Vec<Value> = k
            .images
            .iter()
            .map(|im| {
                let mut s = im.repo_url.clone();
                if !im.new_name.is_empty() {
                    s = format!("{s}={}", im.new_name);
                }
                json!(if !im.digest.is_empty() {
                    format!("{s}@{}", im.digest)
                } else {
                    format!("{s}:{}", im.tag)
                })
            })
            .collect();
        if !src.get("kustomize").is_some_and(Value::is_object) {
            src["kustomize"] = json!({});
        }
        src["kustomize"]["images"] = Value::Array(images);
    }
    if let Some(h) = u.helm.as_ref().filter(|h| !h.images.is_empty()) {
        if !src.get("helm").is_some_and(Value::is_object) {
            src["helm"] = json!({});
        }
        if !src["helm"].get("parameters").is_some_and(Value::is_array) {
            src["helm"]["parameters"] = json!([]);
        }
        // Later entries for one key win, as Kargo's map of changes does.
        let mut changes: Vec<(&str, &str)> = Vec::new();
        for im in &h.images {
            match changes.iter_mut().find(|(k, _)| *k == im.key) {
                Some(c) => c.1 = &im.value,
                None => changes.push((&im.key, &im.value)),
            }
        }
        if let Some(params) = src["helm"]["parameters"].as_array_mut() {
            for (k, v) in changes {
                let new = json!({"name": k, "value": v});
                match params.iter_mut().find(|p| str_at(p, "/name") == k) {
                    Some(p) => *p = new,
                    None => params.push(new),
                }
            }
        }
    }
    Some(src)
}

/// Kargo's `buildDesiredSources`.
fn desired_sources(
    update: &AppUpdate,
    desired: &[String],
    app: &Value,
) -> Result<Vec<Value>, String> {
    let (name, ns) = name_of(app);
    let mut srcs = sources(app);
    if srcs.len() != desired.len() {
        return Err(format!(
            "Argo CD Application {name:?} in namespace {ns:?} has {} sources but {} desired revisions",
            srcs.len(),
            desired.len()
        ));
    }
    'updates: for u in &update.sources {
        for (j, src) in srcs.iter_mut().enumerate() {
            if let Some(new) = apply_source_update(u, &desired[j], src) {
                *src = new;
                continue 'updates;
            }
        }
        return Err(if u.chart.is_empty() {
            format!(
                "no source of Argo CD Application {name:?} in namespace {ns:?} matched update for source with repoURL {}",
                u.repo_url
            )
        } else {
            format!(
                "no source of Argo CD Application {name:?} in namespace {ns:?} matched update for source with repoURL {} and chart {:?}",
                u.repo_url, u.chart
            )
        });
    }
    Ok(srcs)
}

/// Kargo's `validateSourceUpdatesApplicable`: with several Applications,
/// every one must take every source update, or none is touched.
fn check_compatible(update: &AppUpdate, apps: &[Value]) -> Result<(), String> {
    if apps.len() <= 1 {
        return Ok(());
    }
    let errors: Vec<String> = apps
        .iter()
        .filter_map(|app| {
            let (name, ns) = name_of(app);
            desired_sources(update, &desired_revisions(update, app), app)
                .err()
                .map(|e| format!("Application {name:?} in namespace {ns:?}: {e}"))
        })
        .collect();
    match errors.len() {
        0 => Ok(()),
        n if n > 3 => Err(format!(
            "selected Applications must have compatible sources; {n} incompatible (showing first 3). No Applications were updated:\n{}",
            errors[..3].join("\n")
        )),
        n => Err(format!(
            "selected Applications must have compatible sources; {n} incompatible. No Applications were updated:\n{}",
            errors.join("\n")
        )),
    }
}

/// Kargo's `recursiveMerge` of the desired `spec` over the live one:
/// objects merge key by key, lists element by element (the desired
/// length wins), anything else is replaced.
fn recursive_merge(src: &Value, dst: &Value) -> Value {
    match (src, dst) {
        (Value::Object(s), Value::Object(d)) => {
            let mut out = d.clone();
            for (k, v) in s {
                let merged = match d.get(k) {
                    Some(dv) => recursive_merge(v, dv),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(s), Value::Array(d)) => Value::Array(
            s.iter()
                .enumerate()
                .map(|(i, v)| {
                    d.get(i)
                        .map_or_else(|| v.clone(), |dv| recursive_merge(v, dv))
                })
                .collect(),
        ),
        (s, _) => s.clone(),
    }
}

/// The sync patch (Kargo's `syncApplication`) and the Event message.
fn sync_patch(ctx: &StepContext<'_>, app: &Value, desired_sources: Vec<Value>) -> (Value, String) {
    let mut spec = app.get("spec").cloned().unwrap_or_else(|| json!({}));
    let multi = app
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    if multi {
        spec["sources"] = Value::Array(desired_sources);
    } else if app.pointer("/spec/source").is_some_and(Value::is_object) {
        spec["source"] = desired_sources.into_iter().next().unwrap_or(Value::Null);
    }
    let (actor, automated) = match ctx.promotion.actor.as_str() {
        "" => (INITIATOR, true),
        a => (a, false),
    };
    let mut sync = json!({"revisions": []});
    if let Some(opts) = app
        .pointer("/spec/syncPolicy/syncOptions")
        .filter(|v| !v.is_null())
    {
        sync["syncOptions"] = opts.clone();
    }
    let mut operation = json!({
        "initiatedBy": {"username": actor, "automated": automated},
        "info": [
            {"name": "Reason", "value": "Promotion triggered a sync of this Application resource."},
            {"name": PROMOTION_INFO, "value": ctx.promotion.promotion},
        ],
        "sync": sync,
    });
    if let Some(retry) = app
        .pointer("/spec/syncPolicy/retry")
        .filter(|v| !v.is_null())
    {
        operation["retry"] = retry.clone();
    }
    let live_spec = app.get("spec").cloned().unwrap_or(Value::Null);
    let mut patch = json!({
        "metadata": {"annotations": {REFRESH_ANNOTATION: "hard"}},
        "spec": recursive_merge(&spec, &live_spec),
        "operation": operation,
    });
    if app.get("status").is_some_and(|s| !s.is_null()) {
        // Argo CD's API server clears this when it takes a sync request
        // (argo-cd#20875); Kargo bypasses it and does the same.
        patch["status"] = json!({"operationState": null});
    }
    let message = match spec.get("sources").and_then(Value::as_array) {
        Some(s) if multi && s.len() == 1 => {
            format!("initiated sync to {}", str_at(&s[0], "/targetRevision"))
        }
        Some(s) if multi => format!("initiated sync to {} sources", s.len()),
        _ if spec.get("source").is_some_and(Value::is_object) => {
            format!(
                "initiated sync to {}",
                str_at(&spec, "/source/targetRevision")
            )
        }
        _ => "initiated sync".to_string(),
    };
    (patch, message)
}

/// The `OperationStarted` Event Argo CD's API server would record.
pub fn operation_event(app: &Value, reason: &str, message: &str) -> Value {
    let (name, ns) = name_of(app);
    let now = jiff::Timestamp::now();
    let at = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{:x}", now.as_nanosecond()), "namespace": ns, "annotations": {"user": INITIATOR}},
        "source": {"component": INITIATOR},
        "involvedObject": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "namespace": ns, "name": name,
            "uid": str_at(app, "/metadata/uid"), "resourceVersion": str_at(app, "/metadata/resourceVersion")},
        "firstTimestamp": at, "lastTimestamp": at, "count": 1,
        "message": format!("{INITIATOR} {message}"),
        "type": "Normal",
        "reason": reason,
    })
}

/// Kargo's `getAuthorizedApplications`.
fn authorized_apps(
    apps: &dyn ArgoCdApps,
    ctx: &StepContext<'_>,
    update: &AppUpdate,
    ns: &str,
) -> Result<Vec<Value>, String> {
    let target = match (&update.name, &update.selector) {
        (_, Some(sel)) => Target::Selector(sel),
        (Some(n), None) => Target::Name(n),
        (None, None) => return Err("apps: must have exactly one of name and selector".into()),
    };
    let found = find(apps, target, ns, &discovery::sleeper(ctx.limits))?;
    let (project, stage) = (&ctx.promotion.project, &ctx.promotion.stage);
    let total = found.len();
    let ok: Vec<Value> = found
        .into_iter()
        .filter(|a| authorize(a, project, stage).is_ok())
        .collect();
    if !ok.is_empty() {
        return Ok(ok);
    }
    Err(match target {
        Target::Selector(_) if total == 0 => {
            format!("no Argo CD Applications found matching selector in namespace {ns:?}")
        }
        Target::Selector(_) => format!(
            "found {total} Application(s) matching selector in namespace {ns:?}, but none are authorized for Stage {project}:{stage}"
        ),
        Target::Name(n) => {
            format!("Argo CD Application {n:?} in namespace {ns:?} is not authorized")
        }
    })
}

impl Step for ArgoCdUpdate {
    fn name(&self) -> &str {
        NAME
    }

    fn default_timeout(&self) -> Option<std::time::Duration> {
        Some(DEFAULT_TIMEOUT)
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let apps = ctx.apps.ok_or_else(|| {
            StepError::retryable(
                NAME,
                "Argo CD integration is disabled on this controller; cannot update Argo CD Application resources",
            )
        })?;
        let err = |m: String| StepError::retryable(NAME, m);
        let mut phases: Vec<Phase> = Vec::new();
        let mut checks: Vec<Value> = Vec::new();
        let mut resolved: Vec<Value> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for update in &cfg.apps {
            let ns = match update.namespace.as_str() {
                "" => apps.default_namespace(),
                ns => ns,
            };
            let found = authorized_apps(apps, ctx, update, ns).map_err(err)?;
            if !update.sources.is_empty() {
                check_compatible(update, &found).map_err(err)?;
            }
            for app in &found {
                let (name, app_ns) = name_of(app);
                let desired = desired_revisions(update, app);
                let mut check = json!({"name": name, "namespace": app_ns});
                if !desired.is_empty() {
                    check["desiredRevisions"] = json!(desired);
                }
                checks.push(check);
                resolved.push(json!({"name": name, "namespace": app_ns}));
                match decide(app, &ctx.promotion.promotion, &desired) {
                    Decision::Follow(phase, why) => {
                        let why_err = why.clone();
                        if let Some(why) = why {
                            notes.push(format!("{app_ns}/{name}: {why}"));
                        }
                        match phase {
                            Some(Phase::Failed | Phase::Error) => {
                                return Err(err(format!(
                                    "Argo CD Application {name:?} in namespace {app_ns:?} failed with: {}",
                                    str_at(app, "/status/operationState/message")
                                )));
                            }
                            Some(p) => phases.push(p),
                            // As Kargo: a phase it does not know is kept
                            // (it sorts last); none at all, while waiting
                            // on someone else's operation, is an error.
                            None => match str_at(app, "/status/operationState/phase") {
                                "" => {
                                    if let Some(why) = why_err {
                                        return Err(err(why));
                                    }
                                }
                                other => unknown.push(other.to_string()),
                            },
                        }
                    }
                    Decision::Sync => {
                        let srcs = desired_sources(update, &desired, app).map_err(|e| {
                            err(format!(
                                "error building desired sources for Argo CD Application {name:?} in namespace {app_ns:?}: {e}"
                            ))
                        })?;
                        let (patch, message) = sync_patch(ctx, app, srcs);
                        apps.patch(app_ns, name, &patch).map_err(|e| {
                            err(format!(
                                "error syncing Argo CD Application {name:?} in namespace {app_ns:?}: error patching Argo CD Application {name:?}: {e}"
                            ))
                        })?;
                        // Best effort, as in Kargo: a lost Event is only logged.
                        let _ = apps.create_event(
                            app_ns,
                            &operation_event(app, "OperationStarted", &message),
                        );
                        notes.push(format!("{app_ns}/{name}: {INITIATOR} {message}"));
                        phases.push(Phase::Running);
                    }
                }
            }
        }
        phases.sort();
        let status = match phases.first() {
            Some(Phase::Running | Phase::Terminating) => StepStatus::Running,
            Some(Phase::Succeeded) => StepStatus::Succeeded,
            // Failures returned above: only phases Kargo does not know.
            _ => {
                return Err(err(format!(
                    "could not determine promotion step status from operation phases: [{}]",
                    unknown.join(" ")
                )));
            }
        };
        let mut outputs = Map::new();
        outputs.insert("apps".into(), Value::Array(resolved));
        let message = match status {
            StepStatus::Running if notes.is_empty() => {
                "waiting for Argo CD to finish the sync".to_string()
            }
            StepStatus::Running => format!("waiting for Argo CD: {}", notes.join("; ")),
            _ => notes.join("; "),
        };
        Ok(StepResult {
            status: Some(status),
            outputs,
            message,
            health_check: Some(json!({"uses": NAME, "config": {"apps": checks}})),
            ..Default::default()
        })
    }
}

#[cfg(test)]
#[path = "argocd_update_tests.rs"]
pub(crate) mod tests;
