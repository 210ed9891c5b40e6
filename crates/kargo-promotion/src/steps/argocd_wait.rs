//! `argocd-wait`, as Kargo's step (`argocd_waiter.go`): waits until
//! Applications named or selected (no authorization needed) are ready by
//! the criteria in `waitFor` — `health`, `sync`, `operation`, `suspended`,
//! `degraded`; default health, sync and operation. A
//! `ComparisonError`/`InvalidSpecError` condition, or health regressing
//! from a good state to Degraded while waiting for `health`, fails the
//! step. Health is not trusted until Argo CD reconciled the Application
//! after its last operation (a hard refresh is asked for meanwhile).
//! Outputs `apps` and `healthStatus` (`namespace/name` → health).

use crate::argocd::{
    AppSelector, Target, discovery, error_conditions, find, hard_refresh_patch, name_of,
    not_reconciled_since_operation, str_at,
};
use crate::step::{Step, StepContext, StepError, StepResult, StepStatus, parse_config};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Step name.
pub const NAME: &str = "argocd-wait";

/// Kargo's default timeout for the step.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// What to wait for when `waitFor` is not given.
pub const DEFAULT_WAIT_FOR: [&str; 3] = ["health", "sync", "operation"];

/// `config` of the step.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Applications to wait for.
    pub apps: Vec<AppWait>,
}

/// Applications to wait for: exactly one of `name` and `selector`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppWait {
    /// Application name.
    #[serde(default)]
    pub name: Option<String>,
    /// Label selector.
    #[serde(default)]
    pub selector: Option<AppSelector>,
    /// Namespace (default: the controller's Argo CD namespace).
    #[serde(default)]
    pub namespace: String,
    /// Criteria (default health, sync, operation).
    #[serde(default)]
    pub wait_for: Vec<String>,
}

fn parse(config: &Value) -> Result<Config, StepError> {
    let bad = |m: String| StepError::config(NAME, m);
    let cfg: Config = parse_config(NAME, config)?;
    if cfg.apps.is_empty() {
        return Err(bad("apps: Array must have at least 1 items".into()));
    }
    for (i, a) in cfg.apps.iter().enumerate() {
        match (&a.name, &a.selector) {
            (Some(n), None) if n.is_empty() => {
                return Err(bad(format!(
                    "apps.{i}.name: String length must be greater than or equal to 1"
                )));
            }
            (Some(_), None) => {}
            (None, Some(sel)) => {
                super::argocd_update::check_selector(sel, &format!("apps.{i}.selector"))
                    .map_err(bad)?
            }
            _ => {
                return Err(bad(format!(
                    "apps.{i}: Must validate one and only one schema (oneOf)"
                )));
            }
        }
        if config
            .pointer(&format!("/apps/{i}/namespace"))
            .is_some_and(|n| n == "")
        {
            return Err(bad(format!(
                "apps.{i}.namespace: String length must be greater than or equal to 1"
            )));
        }
        for (j, w) in a.wait_for.iter().enumerate() {
            if !matches!(
                w.as_str(),
                "health" | "sync" | "operation" | "suspended" | "degraded"
            ) {
                return Err(bad(format!(
                    "apps.{i}.waitFor.{j}: must be one of the following: \"health\", \"sync\", \"operation\", \"suspended\", \"degraded\""
                )));
            }
        }
        let mut seen = a.wait_for.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != a.wait_for.len() {
            return Err(bad(format!("apps.{i}.waitFor: array items must be unique")));
        }
    }
    Ok(cfg)
}

/// The step.
pub struct ArgoCdWait;

/// One Application's readiness (Kargo's `checkAppReadiness`): ready or
/// not, or a terminal reason. `refresh` asks for a hard refresh.
struct Readiness {
    ready: bool,
    refresh: bool,
    why: String,
}

fn readiness(app: &Value, wait_for: &[&str], prev_health: &str) -> Result<Readiness, String> {
    let (name, ns) = name_of(app);
    let health = str_at(app, "/status/health/status");
    let conds = error_conditions(app);
    if !conds.is_empty() {
        return Err(conds.join("\n"));
    }
    let not = |why: String, refresh: bool| {
        Ok(Readiness {
            ready: false,
            refresh,
            why,
        })
    };
    let has = |c: &str| wait_for.contains(&c);
    if has("operation") {
        let in_progress = app.get("operation").is_some_and(|o| !o.is_null())
            || app
                .pointer("/status/operationState")
                .filter(|o| !o.is_null())
                .is_some_and(|o| str_at(o, "/finishedAt").is_empty());
        if in_progress {
            return not("operation is in progress".into(), false);
        }
    }
    let health_checked = has("health") || has("suspended") || has("degraded");
    if health_checked {
        if not_reconciled_since_operation(app) {
            return not(
                "not yet reconciled after its last operation; health status not trusted".into(),
                true,
            );
        }
        let passed = (has("health") && health == "Healthy")
            || (has("suspended") && health == "Suspended")
            || (has("degraded") && health == "Degraded");
        if has("health")
            && health == "Degraded"
            && !matches!(prev_health, "" | "Degraded" | "Unknown")
        {
            return Err(format!(
                "Argo CD Application {name:?} in namespace {ns:?} health has regressed from {prev_health} to {health}"
            ));
        }
        if !passed {
            return not(format!("health is {:?}", health), false);
        }
    }
    if has("sync") && str_at(app, "/status/sync/status") != "Synced" {
        return not(
            format!("sync status is {:?}", str_at(app, "/status/sync/status")),
            false,
        );
    }
    Ok(Readiness {
        ready: true,
        refresh: false,
        why: String::new(),
    })
}

impl Step for ArgoCdWait {
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
                "Argo CD integration is disabled on this controller; cannot wait for Argo CD Application resources",
            )
        })?;
        // Health seen by earlier runs of this step, to notice a regression.
        let prev: Map<String, Value> = ctx
            .outputs
            .get(ctx.alias)
            .and_then(|o| o.get("healthStatus"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut health = prev.clone();
        let mut resolved = Vec::new();
        let mut waiting = Vec::new();
        for a in &cfg.apps {
            let wait_for: Vec<&str> = if a.wait_for.is_empty() {
                DEFAULT_WAIT_FOR.to_vec()
            } else {
                a.wait_for.iter().map(String::as_str).collect()
            };
            let ns = match a.namespace.as_str() {
                "" => apps.default_namespace(),
                ns => ns,
            };
            let target = match (&a.name, &a.selector) {
                (_, Some(sel)) => Target::Selector(sel),
                (Some(n), None) => Target::Name(n),
                (None, None) => unreachable!("checked by parse"),
            };
            let found = find(apps, target, ns, &discovery::sleeper(ctx.limits))
                .map_err(|e| StepError::retryable(NAME, e))?;
            if found.is_empty() {
                return Err(StepError::retryable(
                    NAME,
                    format!("no Argo CD Applications found matching selector in namespace {ns:?}"),
                ));
            }
            for app in &found {
                let (name, app_ns) = name_of(app);
                let key = format!("{app_ns}/{name}");
                resolved.push(json!({"name": name, "namespace": app_ns}));
                let prev_health = prev.get(&key).and_then(Value::as_str).unwrap_or("");
                let current = str_at(app, "/status/health/status");
                if !current.is_empty() {
                    health.insert(key.clone(), json!(current));
                }
                match readiness(app, &wait_for, prev_health) {
                    Err(e) => return Err(StepError::terminal(NAME, e)),
                    Ok(r) if r.ready => {}
                    Ok(r) => {
                        if r.refresh {
                            // Best effort, as Kargo's RequestAppRefresh.
                            let _ = apps.patch(app_ns, name, &hard_refresh_patch());
                        }
                        waiting.push(format!("{key}: {}", r.why));
                    }
                }
            }
        }
        let mut outputs = Map::new();
        outputs.insert("apps".into(), Value::Array(resolved));
        outputs.insert("healthStatus".into(), Value::Object(health));
        if waiting.is_empty() {
            return Ok(StepResult::succeeded(outputs));
        }
        Ok(StepResult {
            status: Some(StepStatus::Running),
            outputs,
            message: format!("waiting for Argo CD Applications: {}", waiting.join("; ")),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::ArgoCdApps;
    use crate::steps::argocd_update::tests::{Fake, run_step};

    fn app(status: Value, operation: Option<Value>) -> Value {
        let mut a = json!({"metadata": {"name": "web", "namespace": "argocd", "labels": {"team": "web"}}, "status": status});
        if let Some(op) = operation {
            a["operation"] = op;
        }
        a
    }

    /// Kargo's Test_argocdWaiter_checkAppReadiness as data: status,
    /// a pending operation, waitFor, previous health, and the verdict
    /// (Some(true) ready, Some(false) waiting, None terminal).
    #[test]
    fn readiness_as_kargo() {
        let done = |extra: Value| {
            let mut s = json!({"operationState": {"phase": "Succeeded", "finishedAt": "2024-01-01T00:00:00Z"}, "reconciledAt": "2024-01-01T00:00:01Z"});
            crate::argocd::tests_merge(&mut s, &extra);
            s
        };
        let healthy_synced =
            done(json!({"health": {"status": "Healthy"}, "sync": {"status": "Synced"}}));
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            &str,
            Value,
            Option<Value>,
            Vec<&str>,
            &str,
            Option<bool>,
            &str,
        )> = vec![
            (
                "healthy and synced",
                healthy_synced.clone(),
                None,
                DEFAULT_WAIT_FOR.to_vec(),
                "",
                Some(true),
                "",
            ),
            (
                "error condition is terminal",
                done(
                    json!({"conditions": [{"type": "ComparisonError", "message": "boom"}], "health": {"status": "Healthy"}}),
                ),
                None,
                DEFAULT_WAIT_FOR.to_vec(),
                "",
                None,
                "has \"ComparisonError\" condition: boom",
            ),
            (
                "operation pending",
                healthy_synced.clone(),
                Some(json!({"sync": {}})),
                vec!["operation"],
                "",
                Some(false),
                "operation is in progress",
            ),
            (
                "operation running",
                json!({"operationState": {"phase": "Running"}}),
                None,
                vec!["operation"],
                "",
                Some(false),
                "operation is in progress",
            ),
            (
                "operation only: finished, health and sync ignored",
                done(json!({"health": {"status": "Progressing"}, "sync": {"status": "OutOfSync"}})),
                None,
                vec!["operation"],
                "",
                Some(true),
                "",
            ),
            (
                "not reconciled after operation",
                json!({"operationState": {"finishedAt": "2024-01-01T00:00:10Z"}, "health": {"status": "Healthy"}}),
                None,
                vec!["health"],
                "",
                Some(false),
                "not yet reconciled",
            ),
            (
                "reconciledAt before finishedAt",
                json!({"operationState": {"finishedAt": "2024-01-01T00:00:10Z"}, "reconciledAt": "2024-01-01T00:00:05Z", "health": {"status": "Healthy"}}),
                None,
                vec!["health"],
                "",
                Some(false),
                "not yet reconciled",
            ),
            (
                "reconciledAt equal to finishedAt trusts health",
                json!({"operationState": {"finishedAt": "2024-01-01T00:00:10Z"}, "reconciledAt": "2024-01-01T00:00:10Z", "health": {"status": "Healthy"}}),
                None,
                vec!["health"],
                "",
                Some(true),
                "",
            ),
            (
                "progressing",
                done(json!({"health": {"status": "Progressing"}})),
                None,
                vec!["health"],
                "",
                Some(false),
                "health is \"Progressing\"",
            ),
            (
                "suspended wanted",
                done(json!({"health": {"status": "Suspended"}})),
                None,
                vec!["suspended"],
                "",
                Some(true),
                "",
            ),
            (
                "health or suspended",
                done(json!({"health": {"status": "Suspended"}})),
                None,
                vec!["health", "suspended"],
                "",
                Some(true),
                "",
            ),
            (
                "degraded wanted",
                done(json!({"health": {"status": "Degraded"}})),
                None,
                vec!["degraded"],
                "Healthy",
                Some(true),
                "",
            ),
            (
                "regressed from Healthy to Degraded",
                done(json!({"health": {"status": "Degraded"}})),
                None,
                vec!["health"],
                "Healthy",
                None,
                "health has regressed from Healthy to Degraded",
            ),
            (
                "regressed from Progressing to Degraded",
                done(json!({"health": {"status": "Degraded"}})),
                None,
                vec!["health"],
                "Progressing",
                None,
                "regressed from Progressing",
            ),
            (
                "degraded from the start keeps waiting",
                done(json!({"health": {"status": "Degraded"}})),
                None,
                vec!["health"],
                "",
                Some(false),
                "health is \"Degraded\"",
            ),
            (
                "degraded after Unknown keeps waiting",
                done(json!({"health": {"status": "Degraded"}})),
                None,
                vec!["health"],
                "Unknown",
                Some(false),
                "",
            ),
            (
                "out of sync",
                done(json!({"health": {"status": "Healthy"}, "sync": {"status": "OutOfSync"}})),
                None,
                vec!["sync"],
                "",
                Some(false),
                "sync status is \"OutOfSync\"",
            ),
            (
                "sync only: degraded health ignored",
                done(json!({"health": {"status": "Degraded"}, "sync": {"status": "Synced"}})),
                None,
                vec!["sync"],
                "Healthy",
                Some(true),
                "",
            ),
        ];
        // Kargo's Test_argocdWaiter_checkAppReadiness has 13 rows, all here,
        // and 5 more (a pending operation, suspended/degraded wanted, a
        // regression from Progressing, Degraded after Unknown).
        assert_eq!(rows.len(), 18);
        for (what, status, op, wait_for, prev, want, says) in rows {
            match (readiness(&app(status, op), &wait_for, prev), want) {
                (Ok(r), Some(w)) => {
                    assert_eq!(r.ready, w, "{what}: {}", r.why);
                    assert!(r.why.contains(says), "{what}: {}", r.why);
                }
                (Err(e), None) => assert!(e.contains(says), "{what}: {e}"),
                (got, w) => panic!("{what}: {:?} vs {w:?}", got.map(|r| r.why)),
            }
        }
    }

    #[test]
    fn config_checked() {
        let rows: Vec<(Value, Option<&str>)> = vec![
            (json!({}), Some("apps")),
            (json!({"apps": []}), Some("apps")),
            (json!({"apps": [{}]}), Some("apps.0")),
            (json!({"apps": [{"name": ""}]}), Some("apps.0.name")),
            (
                json!({"apps": [{"name": "a", "selector": {"matchLabels": {"a": "b"}}}]}),
                Some("apps.0"),
            ),
            (json!({"apps": [{"selector": {}}]}), Some("apps.0.selector")),
            (
                json!({"apps": [{"name": "a", "namespace": ""}]}),
                Some("apps.0.namespace"),
            ),
            (
                json!({"apps": [{"name": "a", "waitFor": ["bogus"]}]}),
                Some("apps.0.waitFor.0"),
            ),
            (
                json!({"apps": [{"name": "a", "waitFor": ["sync", "sync"]}]}),
                Some("unique"),
            ),
            (
                json!({"apps": [{"name": "a", "waitFor": ["health", "degraded", "suspended", "sync", "operation"]}]}),
                None,
            ),
            (
                json!({"apps": [{"selector": {"matchExpressions": [{"key": "env", "operator": "Exists"}]}, "namespace": "argocd"}]}),
                None,
            ),
        ];
        // Kargo's Test_argocdWaiter_convert has 8 rows, all here, and 3 more.
        assert_eq!(rows.len(), 11);
        for (config, want) in rows {
            match (ArgoCdWait.check(&config), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.message.contains(w), "{config}: {}", e.message),
                (got, w) => panic!("{config}: {got:?} vs {w:?}"),
            }
        }
    }

    /// A run over a selector: waits, records health, succeeds, then a
    /// regression from Healthy to Degraded is terminal.
    #[test]
    fn waits_then_catches_a_regression() {
        let fake = Fake::with(vec![app(
            json!({"health": {"status": "Progressing"}, "sync": {"status": "Synced"}}),
            None,
        )]);
        let cfg = json!({"apps": [{"selector": {"matchLabels": {"team": "web"}}}]});
        let mut outputs = Map::new();
        let first = run_step(&ArgoCdWait, Some(&fake), "", &outputs, cfg.clone()).unwrap();
        assert_eq!(first.status(), StepStatus::Running, "{}", first.message);
        assert_eq!(
            first.outputs["healthStatus"],
            json!({"argocd/web": "Progressing"})
        );
        outputs.insert("argocd".into(), Value::Object(first.outputs.clone()));
        fake.apps.lock().unwrap().get_mut("argocd/web").unwrap()["status"]["health"]["status"] =
            json!("Healthy");
        let ok = run_step(&ArgoCdWait, Some(&fake), "", &outputs, cfg.clone()).unwrap();
        assert_eq!(ok.status(), StepStatus::Succeeded);
        assert_eq!(
            ok.outputs["apps"],
            json!([{"name": "web", "namespace": "argocd"}])
        );
        outputs.insert("argocd".into(), Value::Object(ok.outputs.clone()));
        fake.apps.lock().unwrap().get_mut("argocd/web").unwrap()["status"]["health"]["status"] =
            json!("Degraded");
        let err = run_step(&ArgoCdWait, Some(&fake), "", &outputs, cfg.clone()).unwrap_err();
        assert!(
            err.terminal && err.message.contains("regressed from Healthy to Degraded"),
            "{}",
            err.message
        );
        let none = run_step(
            &ArgoCdWait,
            Some(&fake),
            "",
            &Map::new(),
            json!({"apps": [{"selector": {"matchLabels": {"team": "db"}}}]}),
        )
        .unwrap_err();
        assert!(
            none.message
                .contains("no Argo CD Applications found matching selector"),
            "{}",
            none.message
        );
        let off = run_step(&ArgoCdWait, None, "", &Map::new(), cfg).unwrap_err();
        assert_eq!(
            off.message,
            "Argo CD integration is disabled on this controller; cannot wait for Argo CD Application resources"
        );
    }

    /// Kargo's Test_argocdWaiter_run as data: the Applications the fake
    /// holds (named `web` unless renamed), an injected client error, the
    /// health earlier runs recorded, and the outcome: `Ok((status, apps
    /// reported, recorded health of argocd/web))` or `Err((terminal,
    /// message part))`. Kargo injects `checkAppReadinessFn`; here the
    /// Application's own status takes the same path.
    #[test]
    fn run_as_kargo() {
        let synced = |health: &str| {
            app(
                json!({"health": {"status": health}, "sync": {"status": "Synced"}}),
                None,
            )
        };
        let named = |mut a: Value, name: &str| {
            a["metadata"]["name"] = json!(name);
            a
        };
        let one = json!({"apps": [{"name": "web"}]});
        let prev = |health: &str| {
            let mut o = Map::new();
            o.insert(
                "argocd".into(),
                json!({"healthStatus": {"argocd/web": health}}),
            );
            o
        };
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            &str,
            Option<Vec<Value>>,
            Option<(&'static str, &'static str, &'static str)>,
            Map<String, Value>,
            Value,
            Result<(StepStatus, usize, &str), (bool, &str)>,
        )> = vec![
            (
                "argocd client is nil",
                None,
                None,
                Map::new(),
                one.clone(),
                Err((false, "Argo CD integration is disabled")),
            ),
            (
                "error getting applications",
                Some(vec![synced("Healthy")]),
                Some(("get", "", "something went wrong")),
                Map::new(),
                one.clone(),
                Err((false, "something went wrong")),
            ),
            (
                // Kargo also reports the Applications resolved before the
                // terminal error; a StepError carries no output here.
                "checkAppReadiness terminal error stops loop",
                Some(vec![synced("Degraded")]),
                None,
                prev("Healthy"),
                one.clone(),
                Err((true, "regressed from Healthy to Degraded")),
            ),
            (
                "health status tracked in output",
                Some(vec![synced("Progressing")]),
                None,
                Map::new(),
                one.clone(),
                Ok((StepStatus::Running, 1, "Progressing")),
            ),
            (
                "multiple apps, one not ready returns Running",
                Some(vec![
                    named(synced("Healthy"), "app-a"),
                    named(synced("Progressing"), "app-b"),
                ]),
                None,
                Map::new(),
                json!({"apps": [{"name": "app-a"}, {"name": "app-b"}]}),
                Ok((StepStatus::Running, 2, "")),
            ),
            (
                "all apps ready returns Succeeded",
                Some(vec![synced("Healthy")]),
                None,
                Map::new(),
                one.clone(),
                Ok((StepStatus::Succeeded, 1, "Healthy")),
            ),
            (
                "previous health statuses passed to checkAppReadiness",
                Some(vec![synced("Healthy")]),
                None,
                prev("Progressing"),
                one.clone(),
                Ok((StepStatus::Succeeded, 1, "Healthy")),
            ),
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_argocdWaiter_run: 7 rows
        for (what, apps, fail, outputs, cfg, want) in rows {
            let fake = apps.map(|a| Fake {
                fail,
                ..Fake::with(a)
            });
            let got = run_step(
                &ArgoCdWait,
                fake.as_ref().map(|f| f as &dyn ArgoCdApps),
                "",
                &outputs,
                cfg,
            );
            match (got, want) {
                (Ok(res), Ok((status, n, health))) => {
                    assert_eq!(res.status(), status, "{what}: {}", res.message);
                    assert_eq!(res.outputs["apps"].as_array().unwrap().len(), n, "{what}");
                    let recorded = res.outputs["healthStatus"]
                        .get("argocd/web")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    assert_eq!(recorded, health, "{what}");
                }
                (Err(e), Err((terminal, part))) => {
                    assert_eq!(e.terminal, terminal, "{what}");
                    assert!(e.message.contains(part), "{what}: {}", e.message);
                }
                (Ok(res), _) => panic!("{what}: got {:?}: {}", res.status(), res.message),
                (Err(e), _) => panic!("{what}: got error {}", e.message),
            }
        }
    }
}
