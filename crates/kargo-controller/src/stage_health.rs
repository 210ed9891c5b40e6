//! Kargo's aggregating health checker for Stages: runs the health checks
//! the Stage's last Promotion registered (today the `argocd-update`
//! checker, over the Applications watch cache) and merges them — the most
//! severe state wins, issues and outputs are collected. Also says which
//! Applications to ask for a hard refresh.

use kargo_api::Application;
use kargo_api::promotion::HealthCheckStep;
use kargo_api::stage::Health;
use kargo_promotion::argocd::health::{self, HealthState};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::Value;

/// Where the checks read Applications.
pub struct Apps<'a> {
    /// The watch cache of Applications.
    pub store: &'a Store<Application>,
    /// Default namespace.
    pub namespace: &'a str,
}

/// What a health assessment found.
pub struct Assessed {
    /// Merged state.
    pub state: HealthState,
    /// For `Stage.status.health`.
    pub health: Health,
    /// Applications (namespace, name) to ask for a hard refresh.
    pub refresh: Vec<(String, String)>,
}

/// Runs `checks`; `apps` None means Argo CD integration is disabled.
pub fn assess(checks: &[HealthCheckStep], apps: Option<&Apps<'_>>) -> Assessed {
    let mut state = HealthState::Healthy;
    let mut issues = Vec::new();
    let mut outputs = Vec::new();
    let mut refresh = Vec::new();
    for c in checks {
        if c.uses != kargo_promotion::steps::argocd_update::NAME {
            state = state.merge(HealthState::Unknown);
            issues.push(format!(
                "no health checker registered for health check kind {:?}",
                c.uses
            ));
            continue;
        }
        let input = c.config.clone().unwrap_or(Value::Null);
        let get = |ns: &str, name: &str| -> Result<Option<Value>, String> {
            let store = apps.map(|a| a.store).ok_or("disabled")?;
            store
                .get(&ObjectRef::new(name).within(ns))
                .map(|a| serde_json::to_value(&*a).map_err(|e| e.to_string()))
                .transpose()
        };
        let res = health::check(
            &input,
            apps.map_or("argocd", |a| a.namespace),
            apps.map(|_| &get as &health::GetApp<'_>),
        );
        state = state.merge(res.status);
        issues.extend(res.issues);
        if !res.output.is_null() {
            outputs.push(res.output);
        }
        refresh.extend(res.refresh);
    }
    Assessed {
        state,
        health: Health {
            status: state.as_str().into(),
            issues,
            config: None,
            output: (!outputs.is_empty()).then(|| Value::Array(outputs)),
        },
        refresh,
    }
}
