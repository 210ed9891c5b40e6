//! The Stage annotation `kargo.akuity.io/argocd-context`, as Kargo's
//! `AnnotateStageWithArgoCDContext`: the Argo CD Applications
//! (`[{name, namespace}]`, JSON) a successful Promotion touched, from the
//! `apps` output of its `argocd-update`/`argocd-wait` steps and the `apps`
//! of the health checks they registered, deduplicated in order of first
//! appearance. The UI builds its Argo CD links from it. A Promotion that
//! touched none — and a control-flow Stage — removes the annotation.

use kargo_api::Promotion;
use serde_json::{Value, json};

/// The annotation key.
pub const ARGOCD_CONTEXT: &str = "kargo.akuity.io/argocd-context";

/// Steps that report the Applications they resolved as `apps` output.
const STEP_KINDS: [&str; 2] = ["argocd-update", "argocd-wait"];

/// The Argo CD steps in a Promotion's `status.state` and their `apps`
/// outputs, in step order: `(uses, alias, apps)`.
fn step_apps(state: Option<&Value>) -> impl Iterator<Item = (&str, &str, &Value)> {
    let steps = state
        .and_then(|s| s.get("steps"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    steps.iter().filter_map(move |step| {
        let uses = step.get("uses").and_then(Value::as_str)?;
        let alias = step.get("as").and_then(Value::as_str)?;
        if !STEP_KINDS.contains(&uses) || alias.is_empty() {
            return None;
        }
        Some((uses, alias, state?.get("outputs")?.get(alias)?.get("apps")?))
    })
}

/// The annotation's value for `promo` (None: remove it).
pub fn value(promo: Option<&Promotion>) -> Option<String> {
    let status = promo.and_then(|p| p.status.as_ref())?;
    let from_steps = step_apps(status.state.as_ref()).map(|(_, _, apps)| apps);
    let from_checks = status
        .health_checks
        .iter()
        .filter_map(|c| c.config.as_ref()?.get("apps"));
    let mut seen = std::collections::HashSet::new();
    let refs: Vec<Value> = from_steps
        .chain(from_checks)
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|app| {
            let field = |k| app.get(k).and_then(Value::as_str).unwrap_or_default();
            let (name, namespace) = (field("name"), field("namespace"));
            (!name.is_empty() && seen.insert(format!("{namespace}/{name}")))
                .then(|| json!({"name": name, "namespace": namespace}))
        })
        .collect();
    (!refs.is_empty()).then(|| Value::Array(refs).to_string())
}

/// The metadata merge patch setting (or removing) the annotation.
pub fn patch(value: Option<String>) -> Value {
    json!({"metadata": {"annotations": {ARGOCD_CONTEXT: value}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promo(status: Value) -> Promotion {
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Promotion",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"stage": "prod", "freight": "f"},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn steps_outputs_and_health_checks_deduplicated() {
        let p = promo(json!({
            "state": {
                "steps": [
                    {"uses": "argocd-update", "as": "step-0"},
                    {"uses": "git-push", "as": "push"},
                    {"uses": "argocd-wait", "as": "wait"},
                ],
                "outputs": {
                    "step-0": {"apps": [{"name": "a", "namespace": "argocd"}, {"namespace": "argocd"}]},
                    "push": {"apps": [{"name": "ignored", "namespace": "argocd"}]},
                    "wait": {"apps": [{"name": "a", "namespace": "argocd"}, {"name": "b", "namespace": "other"}]},
                },
            },
            "healthChecks": [
                {"uses": "argocd-update", "config": {"apps": [{"name": "c", "namespace": "argocd"}, {"name": "b", "namespace": "other"}]}},
                {"uses": "argocd-update", "config": {"apps": "malformed"}},
            ],
        }));
        let v: Value = serde_json::from_str(&value(Some(&p)).unwrap()).unwrap();
        assert_eq!(
            v,
            json!([
                {"name": "a", "namespace": "argocd"},
                {"name": "b", "namespace": "other"},
                {"name": "c", "namespace": "argocd"},
            ])
        );
    }

    #[test]
    fn nothing_argo_removes_the_annotation() {
        assert_eq!(value(None), None);
        let p = promo(
            json!({"state": {"steps": [{"uses": "git-push", "as": "p"}], "outputs": {"p": {"apps": []}}}}),
        );
        assert_eq!(value(Some(&p)), None);
        assert_eq!(
            patch(None),
            json!({"metadata": {"annotations": {ARGOCD_CONTEXT: null}}})
        );
    }
}
