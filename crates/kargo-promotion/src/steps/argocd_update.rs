//! `argocd-update`: points Argo CD Applications at what was just promoted
//! and asks Argo CD to sync them, as Kargo's step does: the Application
//! must carry `kargo.akuity.io/authorized-stage: <project>:<stage>`;
//! sources matching a `repoURL` may get a new `targetRevision`; a sync
//! `operation` is written. The step returns once the sync is requested
//! (Argo CD performs it; following the Application's health afterwards is
//! not done yet).

use crate::step::{Step, StepContext, StepError, StepResult};
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

fn authorized(app: &Value, project: &str, stage: &str) -> bool {
    let Some(v) = app
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(AUTHORIZED_STAGE))
        .and_then(Value::as_str)
    else {
        return false;
    };
    let Some((p, s)) = v.split_once(':') else {
        return false;
    };
    kargo_api::glob::matches(p.trim(), project) && kargo_api::glob::matches(s.trim(), stage)
}

impl Step for ArgoCdUpdate {
    fn name(&self) -> &str {
        NAME
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
            let mut patch = json!({
                "metadata": {"annotations": {"kargo.akuity.io/promotion": ctx.promotion.promotion}},
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
            updated.push(json!({"name": a.name, "namespace": ns}));
        }
        let mut outputs = Map::new();
        outputs.insert("apps".into(), Value::Array(updated));
        Ok(StepResult::succeeded(outputs))
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
}
