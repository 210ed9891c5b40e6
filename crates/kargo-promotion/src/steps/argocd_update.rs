//! `argocd-update`: points Argo CD Applications at what was just promoted
//! and asks Argo CD to sync them, as Kargo's step does: the Application
//! must carry `kargo.akuity.io/authorized-stage: <project>:<stage>`;
//! sources matching a `repoURL` may get a new `targetRevision`; a sync
//! `operation` is written. Where an Argo CD controller reports on the
//! Application (it has a `status`), the step stays `Running` until Argo CD
//! reports the sync `Succeeded` (or fails it), within `retry.timeout`
//! (default 5 minutes); an Application nothing reports on (no Argo CD, as
//! in a standalone server) is not awaited, and the step says so.

use crate::step::{Step, StepContext, StepError, StepResult, StepStatus};
use kargo_api::freight_id::normalize_git_url;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Step name.
pub const NAME: &str = "argocd-update";

/// Annotation naming the Stage allowed to update an Application.
pub const AUTHORIZED_STAGE: &str = "kargo.akuity.io/authorized-stage";

/// `config` of the step.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Applications to update.
    pub apps: Vec<AppUpdate>,
}

/// One Application.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppUpdate {
    /// Application name.
    pub name: String,
    /// Namespace (default `argocd`).
    #[serde(default)]
    pub namespace: String,
    /// Source updates.
    #[serde(default)]
    pub sources: Vec<SourceUpdate>,
}

/// An update to the Application's source with this `repoURL`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceUpdate {
    /// Which source.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Helm chart name (for chart sources).
    #[serde(default)]
    pub chart: String,
    /// The revision Argo CD should sync to.
    #[serde(default)]
    pub desired_revision: String,
    /// Also write `desiredRevision` to the source's `targetRevision`.
    #[serde(default)]
    pub update_target_revision: bool,
}

/// The step.
pub struct ArgoCdUpdate;

/// Annotation naming the Promotion that last asked for a sync.
pub const PROMOTION_ANNOTATION: &str = "kargo.akuity.io/promotion";
/// How long the step waits for Argo CD when `retry.timeout` is not set
/// (Kargo's default).
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Where a requested sync stands.
enum Sync {
    /// Argo CD finished it.
    Done(String),
    /// Nothing reports on the Application (no Argo CD): not awaited.
    NoArgoCd(String),
    /// Not finished yet.
    Waiting(String),
    /// Argo CD reported a failure.
    Failed(String),
}

/// Whether an Argo CD controller maintains this Application's status.
fn argo_cd_reports(app: &Value) -> bool {
    app.get("status")
        .and_then(Value::as_object)
        .is_some_and(|s| {
            ["reconciledAt", "sync", "health", "operationState"]
                .iter()
                .any(|k| s.contains_key(*k))
        })
}

fn sync_state(app: &Value) -> Sync {
    if !argo_cd_reports(app) {
        return Sync::NoArgoCd(
            "no Argo CD reports on this Application, so the sync is not awaited".into(),
        );
    }
    if app.get("operation").is_some_and(|o| !o.is_null()) {
        return Sync::Waiting("Argo CD has not started the sync".into());
    }
    let Some(op) = app.pointer("/status/operationState") else {
        return Sync::Waiting("Argo CD has not reported on the sync".into());
    };
    if op
        .pointer("/operation/initiatedBy/username")
        .and_then(Value::as_str)
        != Some("kargo")
    {
        return Sync::Waiting("Argo CD reports on another operation".into());
    }
    let phase = op.get("phase").and_then(Value::as_str).unwrap_or("");
    let message = op.get("message").and_then(Value::as_str).unwrap_or("");
    match phase {
        "Succeeded" => Sync::Done(format!(
            "synced{}",
            op.pointer("/syncResult/revision")
                .and_then(Value::as_str)
                .map(|r| format!(" to {r}"))
                .unwrap_or_default()
        )),
        "Failed" | "Error" => Sync::Failed(format!("the sync ended {phase}: {message}")),
        other => Sync::Waiting(format!(
            "sync {}",
            if other.is_empty() { "pending" } else { other }
        )),
    }
}

fn authorized(app: &Value, project: &str, stage: &str) -> bool {
    let Some(v) = app
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(AUTHORIZED_STAGE))
        .and_then(Value::as_str)
    else {
        return false;
    };
    // Kargo's list of `<project>:<stage>` entries; globs are refused.
    kargo_api::pattern::authorized_stages(v)
        .is_ok_and(|list| list.iter().any(|(p, s)| p == project && s == stage))
}

impl Step for ArgoCdUpdate {
    fn name(&self) -> &str {
        NAME
    }

    fn default_timeout(&self) -> Option<std::time::Duration> {
        Some(DEFAULT_TIMEOUT)
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg: Config = serde_json::from_value(config.clone())
            .map_err(|e| StepError::config(NAME, e.to_string()))?;
        if cfg.apps.is_empty() {
            return Err(StepError::config(
                NAME,
                "apps: name at least one Application",
            ));
        }
        let apps = ctx.apps.ok_or_else(|| {
            StepError::terminal(NAME, "no access to Argo CD Applications in this context")
        })?;
        let (project, stage) = (&ctx.promotion.project, &ctx.promotion.stage);
        let mut updated = Vec::new();
        let mut waiting: Vec<String> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        for (i, a) in cfg.apps.iter().enumerate() {
            let ns = if a.namespace.is_empty() {
                "argocd"
            } else {
                a.namespace.as_str()
            };
            let app = apps
                .get(ns, &a.name)
                .map_err(|e| {
                    StepError::retryable(NAME, format!("reading Application {ns}/{}: {e}", a.name))
                })?
                .ok_or_else(|| {
                    StepError::terminal(
                        NAME,
                        format!(
                            "apps[{i}]: Argo CD Application {:?} not found in namespace {ns:?}",
                            a.name
                        ),
                    )
                })?;
            if !authorized(&app, project, stage) {
                return Err(StepError::terminal(
                    NAME,
                    format!(
                        "apps[{i}]: Application {ns}/{} does not authorize this Stage: add the annotation {AUTHORIZED_STAGE}: \"{project}:{stage}\"",
                        a.name
                    ),
                ));
            }
            let requested_here = app
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(PROMOTION_ANNOTATION))
                .and_then(Value::as_str)
                == Some(ctx.promotion.promotion.as_str());
            if requested_here {
                // An earlier run of this step asked for the sync: follow it.
                match sync_state(&app) {
                    Sync::Done(msg) | Sync::NoArgoCd(msg) => notes.push(msg),
                    Sync::Waiting(msg) => waiting.push(format!("{ns}/{}: {msg}", a.name)),
                    Sync::Failed(msg) => {
                        return Err(StepError::terminal(
                            NAME,
                            format!("Application {ns}/{}: {msg}", a.name),
                        ));
                    }
                }
                updated.push(json!({"name": a.name, "namespace": ns}));
                continue;
            }
            let mut patch = json!({
                "metadata": {"annotations": {PROMOTION_ANNOTATION: ctx.promotion.promotion}},
            });
            // Source updates: `spec.source` or `spec.sources[]`.
            let mut revision = String::new();
            let mut spec_patch = Map::new();
            for (j, su) in a.sources.iter().enumerate() {
                let matches = |src: &Value| {
                    src.get("repoURL")
                        .and_then(Value::as_str)
                        .is_some_and(|u| normalize_git_url(u) == normalize_git_url(&su.repo_url))
                        && (su.chart.is_empty()
                            || src.get("chart").and_then(Value::as_str) == Some(su.chart.as_str()))
                };
                if !su.desired_revision.is_empty() {
                    revision = su.desired_revision.clone();
                }
                if let Some(src) = app.pointer("/spec/source").filter(|s| matches(s)) {
                    if su.update_target_revision && !su.desired_revision.is_empty() {
                        let mut s = src.clone();
                        s["targetRevision"] = json!(su.desired_revision);
                        spec_patch.insert("source".into(), s);
                    }
                } else if let Some(list) = app.pointer("/spec/sources").and_then(Value::as_array) {
                    if !list.iter().any(&matches) {
                        return Err(StepError::terminal(
                            NAME,
                            format!(
                                "apps[{i}].sources[{j}]: Application {ns}/{} has no source with repoURL {:?}",
                                a.name, su.repo_url
                            ),
                        ));
                    }
                    if su.update_target_revision && !su.desired_revision.is_empty() {
                        let new: Vec<Value> = list
                            .iter()
                            .map(|s| {
                                let mut s = s.clone();
                                if matches(&s) {
                                    s["targetRevision"] = json!(su.desired_revision);
                                }
                                s
                            })
                            .collect();
                        spec_patch.insert("sources".into(), Value::Array(new));
                    }
                } else {
                    return Err(StepError::terminal(
                        NAME,
                        format!(
                            "apps[{i}].sources[{j}]: Application {ns}/{} has no source with repoURL {:?}",
                            a.name, su.repo_url
                        ),
                    ));
                }
            }
            if !spec_patch.is_empty() {
                patch["spec"] = Value::Object(spec_patch);
            }
            let mut sync = json!({});
            if !revision.is_empty() {
                sync["revision"] = json!(revision);
            }
            patch["operation"] = json!({
                "initiatedBy": {"username": "kargo", "automated": true},
                "info": [{"name": "Reason", "value": "Promotion triggered a sync of this Application resource."}],
                "sync": sync,
            });
            apps.patch(ns, &a.name, &patch).map_err(|e| {
                StepError::retryable(NAME, format!("updating Application {ns}/{}: {e}", a.name))
            })?;
            if argo_cd_reports(&app) {
                waiting.push(format!("{ns}/{}: sync requested", a.name));
            } else {
                notes.push(format!(
                    "{ns}/{}: sync requested; no Argo CD reports on this Application, so it is not awaited",
                    a.name
                ));
            }
            updated.push(json!({"name": a.name, "namespace": ns}));
        }
        let mut outputs = Map::new();
        outputs.insert("apps".into(), Value::Array(updated));
        if !waiting.is_empty() {
            return Ok(StepResult {
                status: Some(StepStatus::Running),
                outputs,
                message: format!("waiting for Argo CD: {}", waiting.join("; ")),
                ..Default::default()
            });
        }
        let mut result = StepResult::succeeded(outputs);
        result.message = notes.join("; ");
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::ArgoCdApps;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    struct Fake(Mutex<BTreeMap<String, Value>>);

    impl ArgoCdApps for Fake {
        fn get(&self, ns: &str, name: &str) -> Result<Option<Value>, String> {
            Ok(self.0.lock().unwrap().get(&format!("{ns}/{name}")).cloned())
        }
        fn patch(&self, ns: &str, name: &str, patch: &Value) -> Result<(), String> {
            let mut m = self.0.lock().unwrap();
            let app = m.get_mut(&format!("{ns}/{name}")).ok_or("not found")?;
            merge(app, patch);
            Ok(())
        }
    }

    fn merge(t: &mut Value, p: &Value) {
        match (t, p) {
            (Value::Object(t), Value::Object(p)) => {
                for (k, v) in p {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (t, p) => *t = p.clone(),
        }
    }

    fn run(fake: &Fake, stage: &str, config: Value) -> Result<StepResult, StepError> {
        let promotion = kargo_expr::PromotionContext {
            project: "my-web-app".into(),
            stage: stage.into(),
            promotion: "p1".into(),
            ..Default::default()
        };
        let (outputs, shared) = (Map::new(), Map::new());
        let tmp = std::env::temp_dir();
        let ctx = StepContext {
            work_dir: &tmp,
            alias: "argocd",
            promotion: &promotion,
            outputs: &outputs,
            shared: &shared,
            credentials: &crate::git::NoCredentials,
            apps: Some(fake),
            objects: None,
            allow_file_repos: false,
            limits: &crate::limits::Limits::default(),
            ui_base_url: None,
        };
        ArgoCdUpdate.run(&ctx, &config)
    }

    #[test]
    fn updates_authorized_applications_only() {
        let app = json!({"metadata": {"name": "my-web-app-dev", "namespace": "argocd", "annotations": {AUTHORIZED_STAGE: "my-web-app:dev"}},
            "spec": {"source": {"repoURL": "https://github.com/my-org/k8s-config.git", "targetRevision": "main", "path": "apps/my-web-app/dev"}}});
        let fake = Fake(Mutex::new(
            [("argocd/my-web-app-dev".to_string(), app)].into(),
        ));
        let cfg = json!({"apps": [{"name": "my-web-app-dev", "sources": [{"repoURL": "https://github.com/my-org/k8s-config", "desiredRevision": "abc123", "updateTargetRevision": true}]}]});
        run(&fake, "dev", cfg.clone()).unwrap();
        let got = fake.get("argocd", "my-web-app-dev").unwrap().unwrap();
        assert_eq!(got["spec"]["source"]["targetRevision"], "abc123");
        assert_eq!(got["operation"]["sync"]["revision"], "abc123");
        assert_eq!(
            got["metadata"]["annotations"]["kargo.akuity.io/promotion"],
            "p1"
        );
        let err = run(&fake, "prod", cfg).unwrap_err();
        assert!(
            err.terminal && err.message.contains("my-web-app:prod"),
            "{}",
            err.message
        );
        let err = run(&fake, "dev", json!({"apps": [{"name": "missing"}]})).unwrap_err();
        assert!(err.message.contains("not found"), "{}", err.message);
        let err = run(
            &fake,
            "dev",
            json!({"apps": [{"name": "my-web-app-dev", "bogus": 1}]}),
        )
        .unwrap_err();
        assert!(err.message.contains("invalid config"), "{}", err.message);
    }

    /// With an Argo CD reporting on the Application, the step waits for
    /// the sync it asked for and takes Argo CD's verdict; without one it
    /// does not wait.
    #[test]
    fn follows_the_sync_where_argo_cd_reports() {
        let app = |status: Value| {
            json!({"metadata": {"name": "web", "namespace": "argocd", "annotations": {AUTHORIZED_STAGE: "my-web-app:prod"}},
                "spec": {"source": {"repoURL": "https://git.example.com/cfg.git", "targetRevision": "main"}},
                "status": status})
        };
        let cfg = json!({"apps": [{"name": "web"}]});
        let fake = Fake(Mutex::new(
            [(
                "argocd/web".to_string(),
                app(json!({"sync": {"status": "OutOfSync"}})),
            )]
            .into(),
        ));
        let first = run(&fake, "prod", cfg.clone()).unwrap();
        assert_eq!(first.status(), StepStatus::Running, "{}", first.message);
        assert!(
            first.message.contains("sync requested"),
            "{}",
            first.message
        );
        // Run again before Argo CD picked it up: still waiting, no second request.
        let again = run(&fake, "prod", cfg.clone()).unwrap();
        assert_eq!(again.status(), StepStatus::Running);
        assert!(again.message.contains("not started"), "{}", again.message);
        // Argo CD takes the operation and runs it.
        let argo = |phase: &str, message: &str| {
            let mut m = fake.0.lock().unwrap();
            let a = m.get_mut("argocd/web").unwrap();
            a.as_object_mut().unwrap().remove("operation");
            a["status"]["operationState"] = json!({"phase": phase, "message": message,
                "operation": {"initiatedBy": {"username": "kargo"}}, "syncResult": {"revision": "abc123"}});
        };
        argo("Running", "");
        assert_eq!(
            run(&fake, "prod", cfg.clone()).unwrap().status(),
            StepStatus::Running
        );
        argo("Succeeded", "successfully synced");
        let done = run(&fake, "prod", cfg.clone()).unwrap();
        assert_eq!(done.status(), StepStatus::Succeeded);
        assert!(
            done.message.contains("synced to abc123"),
            "{}",
            done.message
        );
        argo("Failed", "one or more objects failed to apply");
        let err = run(&fake, "prod", cfg.clone()).unwrap_err();
        assert!(
            err.terminal && err.message.contains("failed to apply"),
            "{}",
            err.message
        );

        // Nothing reports on it (a standalone server): requested, not awaited.
        let quiet = Fake(Mutex::new(
            [("argocd/web".to_string(), app(Value::Null))].into(),
        ));
        let res = run(&quiet, "prod", cfg).unwrap();
        assert_eq!(res.status(), StepStatus::Succeeded);
        assert!(res.message.contains("not awaited"), "{}", res.message);
        assert_eq!(ArgoCdUpdate.default_timeout(), Some(DEFAULT_TIMEOUT));
    }
}
