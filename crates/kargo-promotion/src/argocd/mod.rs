//! What Kargo's Argo CD steps and health checker share: finding
//! Applications by name or label selector, the authorized-stage rule, an
//! Application's sources as a list, and the "reconciled after its last
//! operation" test. [`health`] is the `argocd-update` health checker the
//! Stage controller runs.

pub mod discovery;
pub mod health;

use crate::apps::ArgoCdApps;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Annotation naming the Stages allowed to update an Application.
pub const AUTHORIZED_STAGE: &str = "kargo.akuity.io/authorized-stage";
/// Argo CD's refresh-request annotation.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// The `operation.info` entry naming the Promotion that asked for a sync.
pub const PROMOTION_INFO: &str = "kargo.akuity.io/promotion";

/// A label selector as the steps take it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSelector {
    /// Labels that must have these values.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One set-based requirement.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values for `In` / `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

impl AppSelector {
    /// The selector in the API's string form, with Kargo's errors
    /// (`BuildArgoCDAppLabelSelector`).
    pub fn to_query(&self) -> Result<String, String> {
        if self.match_labels.is_empty() && self.match_expressions.is_empty() {
            return Err("selector must have at least one match criterion".into());
        }
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for e in &self.match_expressions {
            let values = || format!("({})", e.values.join(","));
            let part = match e.operator.as_str() {
                "In" | "NotIn" if e.values.is_empty() => {
                    return Err(format!(
                        "invalid matchExpression: {}: for 'in', 'notin' operators, values set can't be empty",
                        e.key
                    ));
                }
                "In" => format!("{} in {}", e.key, values()),
                "NotIn" => format!("{} notin {}", e.key, values()),
                "Exists" | "DoesNotExist" if !e.values.is_empty() => {
                    return Err(format!(
                        "invalid matchExpression: {}: values set must be empty for exists and does not exist",
                        e.key
                    ));
                }
                "Exists" => e.key.clone(),
                "DoesNotExist" => format!("!{}", e.key),
                other => return Err(format!("invalid operator: {other}")),
            };
            parts.push(part);
        }
        Ok(parts.join(","))
    }
}

/// How a step names its Applications: exactly one of `name` and
/// `selector` (the schema enforces it).
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// One Application by name.
    Name(&'a str),
    /// Every Application matching a selector.
    Selector(&'a AppSelector),
}

/// The Applications a step names, in `namespace`, with Kargo's errors:
/// a named one must exist; a selector must match at least one. A read
/// the API cannot serve yet is retried ([`discovery::retry`], waiting
/// with `sleep`).
pub fn find(
    apps: &dyn ArgoCdApps,
    target: Target<'_>,
    namespace: &str,
    sleep: &dyn Fn(std::time::Duration) -> bool,
) -> Result<Vec<Value>, String> {
    match target {
        Target::Selector(sel) => {
            let query = sel
                .to_query()
                .map_err(|e| format!("error building label selector: {e}"))?;
            discovery::retry(sleep, || apps.list(namespace, &query))
                .map_err(|e| format!("error listing Argo CD Applications matching selector: {e}"))
        }
        Target::Name(name) => match discovery::retry(sleep, || apps.get(namespace, name)) {
            Ok(Some(app)) => Ok(vec![app]),
            Ok(None) => Err(format!(
                "unable to find Argo CD Application {name:?} in namespace {namespace:?}"
            )),
            Err(e) => Err(format!(
                "error finding Argo CD Application {name:?} in namespace {namespace:?}: {e}"
            )),
        },
    }
}

/// `metadata.name` and `metadata.namespace` of an Application.
pub fn name_of(app: &Value) -> (&str, &str) {
    let s = |p: &str| app.pointer(p).and_then(Value::as_str).unwrap_or("");
    (s("/metadata/name"), s("/metadata/namespace"))
}

/// The `(project, stage)` pairs an Application's annotation value
/// authorizes (Kargo's `api.AuthorizedStages`).
pub fn authorized_stages(value: &str) -> Result<Vec<(String, String)>, String> {
    kargo_api::pattern::authorized_stages(value).map_err(|e| e.to_string())
}

/// Whether the Application lets Stage `project:stage` mutate it, with
/// Kargo's reasons when not (`authorizeArgoCDAppUpdate`).
pub fn authorize(app: &Value, project: &str, stage: &str) -> Result<(), String> {
    let (name, ns) = name_of(app);
    let denied = || {
        format!(
            "Argo CD Application {name:?} in namespace {ns:?} does not permit mutation by Kargo Stage {stage} in namespace {project}"
        )
    };
    let Some(value) = app
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(AUTHORIZED_STAGE))
        .and_then(Value::as_str)
    else {
        return Err(denied());
    };
    let list = authorized_stages(value).map_err(|e| {
        format!(
            "unable to parse value of annotation {AUTHORIZED_STAGE:?} ({value:?}) on Argo CD Application {name:?} in namespace {ns:?}: {e}"
        )
    })?;
    if list.iter().any(|(p, s)| p == project && s == stage) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// `spec.sources`, or `[spec.source]` for a single-source Application.
pub fn sources(app: &Value) -> Vec<Value> {
    match app.pointer("/spec/sources").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.clone(),
        _ => app.pointer("/spec/source").cloned().into_iter().collect(),
    }
}

/// A string field of a JSON object ("" when absent).
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn timestamp(v: &Value, pointer: &str) -> Option<jiff::Timestamp> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

/// Kargo's guard against stale health: an operation finished and Argo CD
/// has not reconciled the Application since (`reconciledAt` missing or
/// before `operationState.finishedAt`).
pub fn not_reconciled_since_operation(app: &Value) -> bool {
    match timestamp(app, "/status/operationState/finishedAt") {
        None => false,
        Some(finished) => timestamp(app, "/status/reconciledAt").is_none_or(|r| r < finished),
    }
}

/// The patch asking Argo CD for a hard refresh (`RequestAppRefresh`).
pub fn hard_refresh_patch() -> Value {
    serde_json::json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "hard"}}})
}

/// Conditions that make an Application's status untrustworthy, as
/// `"Argo CD Application %q in namespace %q has %q condition: %s"`.
pub fn error_conditions(app: &Value) -> Vec<String> {
    let (name, ns) = name_of(app);
    app.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| matches!(str_at(c, "/type"), "ComparisonError" | "InvalidSpecError"))
        .map(|c| {
            format!(
                "Argo CD Application {name:?} in namespace {ns:?} has {:?} condition: {}",
                str_at(c, "/type"),
                str_at(c, "/message")
            )
        })
        .collect()
}

/// A JSON merge patch (RFC 7386) applied in place, as the API applies
/// one; for tests that play the API over a map.
#[cfg(test)]
pub(crate) fn tests_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    tests_merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_as_kargo_builds_them() {
        let sel = |v: Value| serde_json::from_value::<AppSelector>(v).unwrap().to_query();
        // Kargo's TestBuildArgoCDAppLabelSelector-style cases as data.
        let rows: Vec<(Value, Result<&str, &str>)> = vec![
            (json!({}), Err("at least one match criterion")),
            (json!({"matchLabels": {"app": "web"}}), Ok("app=web")),
            (
                json!({"matchLabels": {"app": "web", "env": "prod"}}),
                Ok("app=web,env=prod"),
            ),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}),
                Ok("env in (a,b)"),
            ),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]}),
                Ok("env notin (a)"),
            ),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "Exists"}]}),
                Ok("env"),
            ),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}),
                Ok("!env"),
            ),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "Bogus"}]}),
                Err("invalid operator: Bogus"),
            ),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "In"}]}),
                Err("invalid matchExpression"),
            ),
        ];
        assert_eq!(rows.len(), 9);
        for (input, want) in rows {
            match (sel(input.clone()), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{input}"),
                (Err(got), Err(w)) => assert!(got.contains(w), "{input}: {got}"),
                (got, w) => panic!("{input}: got {got:?}, want {w:?}"),
            }
        }
    }

    /// Kargo's Test_argoCDUpdater_authorizeArgoCDAppUpdate as data:
    /// the annotation (None: none) and the error (None: allowed) for
    /// Stage `ns-yep:name-yep`.
    #[test]
    fn authorization_messages_are_kargos() {
        let app = |ann: Option<&str>| {
            let mut a = json!({"metadata": {"name": "fake-name", "namespace": "argocd"}});
            if let Some(v) = ann {
                a["metadata"]["annotations"] = json!({AUTHORIZED_STAGE: v});
            }
            a
        };
        let denied = "does not permit mutation by Kargo Stage name-yep in namespace ns-yep";
        let unparsable = "unable to parse value of annotation";
        let rows: Vec<(&str, Option<&str>, Option<&str>)> = vec![
            ("annotations are nil", None, Some(denied)),
            ("annotation is missing", None, Some(denied)),
            (
                "annotation cannot be parsed",
                Some("bogus"),
                Some(unparsable),
            ),
            (
                "mutation is not allowed",
                Some("ns-nope:name-nope"),
                Some(denied),
            ),
            ("mutation is allowed", Some("ns-yep:name-yep"), None),
            (
                "allowed via list (last entry matches)",
                Some("ns-nope:name-nope,ns-yep:name-yep"),
                None,
            ),
            (
                "allowed via list with whitespace",
                Some(" ns-yep : name-yep , other:stage "),
                None,
            ),
            (
                "not allowed for any list entry",
                Some("ns-nope:name-nope,other:stage"),
                Some(denied),
            ),
            (
                "list with a malformed entry",
                Some("ns-yep:name-yep,bogus"),
                Some(unparsable),
            ),
            (
                "wildcard namespace with full name",
                Some("*:name-yep"),
                Some("deprecated glob expressions are no longer supported"),
            ),
            (
                "full namespace with wildcard name",
                Some("ns-yep:*"),
                Some("deprecated glob expressions are no longer supported"),
            ),
        ];
        assert_eq!(rows.len(), 11); // Kargo's Test_argoCDUpdater_authorizeArgoCDAppUpdate: 11 rows
        for (what, ann, want) in rows {
            match (authorize(&app(ann), "ns-yep", "name-yep"), want) {
                (Ok(()), None) => {}
                (Err(got), Some(w)) => assert!(got.contains(w), "{what}: {got}"),
                (got, w) => panic!("{what}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn reconciled_after_the_operation() {
        let app = |finished: Option<&str>, reconciled: Option<&str>| json!({"status": {"operationState": {"finishedAt": finished}, "reconciledAt": reconciled}});
        assert!(!not_reconciled_since_operation(&app(None, None)));
        assert!(not_reconciled_since_operation(&app(
            Some("2024-01-01T00:00:10Z"),
            None
        )));
        assert!(not_reconciled_since_operation(&app(
            Some("2024-01-01T00:00:10Z"),
            Some("2024-01-01T00:00:09Z")
        )));
        assert!(!not_reconciled_since_operation(&app(
            Some("2024-01-01T00:00:10Z"),
            Some("2024-01-01T00:00:10Z")
        )));
    }
}
