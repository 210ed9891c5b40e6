//! The `argocd-update` health checker (Kargo's
//! `pkg/health/checker/builtin/argocd.go`): the Stage controller runs it
//! on the health check a Promotion's `argocd-update` step registered,
//! `{apps: [{name, namespace, desiredRevisions}]}`. Per Application:
//! not found → Unknown; not reconciled since its last operation finished →
//! Unknown and a hard refresh is asked for; a `ComparisonError` /
//! `InvalidSpecError` condition → Unhealthy; with desired revisions, a
//! sync in progress → Unknown and a revision mismatch → Unhealthy; then
//! Argo CD's health (Healthy → Healthy; Progressing, "" and Suspended →
//! Progressing; anything else → Unhealthy). States merge by severity.

use super::{error_conditions, not_reconciled_since_operation, sources, str_at};
use serde_json::{Map, Value, json};

/// Kargo's health states, in merge order (a later one wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthState {
    /// Everything checked is healthy.
    Healthy,
    /// Nothing to check.
    NotApplicable,
    /// On its way.
    Progressing,
    /// Cannot tell (yet).
    Unknown,
    /// Something is wrong.
    Unhealthy,
}

impl HealthState {
    /// The name Kargo writes.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "Healthy",
            HealthState::NotApplicable => "NotApplicable",
            HealthState::Progressing => "Progressing",
            HealthState::Unknown => "Unknown",
            HealthState::Unhealthy => "Unhealthy",
        }
    }

    /// Kargo's `HealthState.Merge`: the more severe of the two.
    pub fn merge(self, other: HealthState) -> HealthState {
        self.max(other)
    }
}

/// What one run of the checker found.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthResult {
    /// Merged state.
    pub status: HealthState,
    /// Why it is not Healthy, one line per problem.
    pub issues: Vec<String>,
    /// `{applicationStatuses: [...]}`.
    pub output: Value,
    /// Applications (namespace, name) to ask for a hard refresh.
    pub refresh: Vec<(String, String)>,
}

/// Reads an Application by namespace and name.
pub type GetApp<'a> = dyn Fn(&str, &str) -> Result<Option<Value>, String> + 'a;

/// Runs the check on `input` (the registered health check's `config`).
/// `default_ns` stands in for an empty `namespace`; `None` for `get`
/// means Argo CD integration is disabled.
pub fn check(input: &Value, default_ns: &str, get: Option<&GetApp<'_>>) -> HealthResult {
    let Some(get) = get else {
        return HealthResult {
            status: HealthState::Unknown,
            issues: vec!["Argo CD integration is disabled on this controller; cannot assess the health or sync status of Argo CD Applications".into()],
            output: Value::Null,
            refresh: Vec::new(),
        };
    };
    let Some(apps) = input.get("apps").and_then(Value::as_array) else {
        return HealthResult {
            status: HealthState::Unknown,
            issues: vec!["could not convert opaque input into argocd-update health check input: apps: expected a list".into()],
            output: Value::Null,
            refresh: Vec::new(),
        };
    };
    let mut res = HealthResult {
        status: HealthState::Healthy,
        issues: Vec::new(),
        output: Value::Null,
        refresh: Vec::new(),
    };
    let mut statuses = Vec::new();
    for a in apps {
        let name = str_at(a, "/name");
        let ns = match str_at(a, "/namespace") {
            "" => default_ns,
            ns => ns,
        };
        let desired: Vec<String> = a
            .get("desiredRevisions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| r.as_str().unwrap_or("").to_string())
            .collect();
        let one = app_health(get, ns, name, &desired);
        res.status = res.status.merge(one.state);
        res.issues.extend(one.issues);
        if one.refresh {
            res.refresh.push((ns.to_string(), name.to_string()));
        }
        statuses.push(one.status);
    }
    res.output = json!({"applicationStatuses": statuses});
    res
}

/// One Application's verdict.
pub struct AppHealth {
    /// Its state.
    pub state: HealthState,
    /// Why, when not Healthy.
    pub issues: Vec<String>,
    /// `{Namespace, Name, ...status}` without the fields Argo CD ticks on
    /// every refresh.
    pub status: Value,
    /// Whether to ask Argo CD for a hard refresh.
    pub refresh: bool,
}

/// Kargo's `getApplicationHealth`.
pub fn app_health(get: &GetApp<'_>, ns: &str, name: &str, desired: &[String]) -> AppHealth {
    let mut status = Map::new();
    status.insert("Namespace".into(), json!(ns));
    status.insert("Name".into(), json!(name));
    let verdict = |state, issues: Vec<String>, status: Map<String, Value>, refresh| AppHealth {
        state,
        issues,
        status: Value::Object(status),
        refresh,
    };
    let app = match get(ns, name) {
        Ok(Some(app)) => app,
        other => {
            status.insert("health".into(), json!({"status": "Unknown"}));
            status.insert("sync".into(), json!({"status": "Unknown"}));
            let issue = match other {
                Err(e) => {
                    format!("error finding Argo CD Application {name:?} in namespace {ns:?}: {e}")
                }
                _ => format!("unable to find Argo CD Application {name:?} in namespace {ns:?}"),
            };
            return verdict(HealthState::Unknown, vec![issue], status, false);
        }
    };
    status.extend(sanitized_status(&app));
    if not_reconciled_since_operation(&app) {
        return verdict(
            HealthState::Unknown,
            vec![format!(
                "Argo CD Application {name:?} in namespace {ns:?} was not reconciled after its most recent operation completed; Application health status not trusted"
            )],
            status,
            true,
        );
    }
    let conditions = error_conditions(&app);
    if !conditions.is_empty() {
        return verdict(HealthState::Unhealthy, conditions, status, false);
    }
    if let Err((state, issue)) = sync_health(&app, desired) {
        return verdict(state, vec![issue], status, false);
    }
    let (state, issue) = health_of(&app);
    verdict(state, issue.into_iter().collect(), status, false)
}

/// The status as Kargo persists it: `reconciledAt` and condition
/// `lastTransitionTime`s removed.
fn sanitized_status(app: &Value) -> Map<String, Value> {
    let mut st = app
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    st.remove("reconciledAt");
    if let Some(Value::Array(conds)) = st.get_mut("conditions") {
        for c in conds.iter_mut().filter_map(Value::as_object_mut) {
            c.remove("lastTransitionTime");
        }
    }
    st
}

/// Kargo's `stageHealthForAppSync`: `Ok` when the revisions do not count
/// against health.
pub fn sync_health(app: &Value, desired: &[String]) -> Result<(), (HealthState, String)> {
    if desired.iter().all(String::is_empty) {
        return Ok(());
    }
    let name = str_at(app, "/metadata/name");
    let ns = str_at(app, "/metadata/namespace");
    let syncing = app.pointer("/operation/sync").is_some_and(|s| !s.is_null())
        || app
            .pointer("/status/operationState")
            .is_none_or(Value::is_null)
        || str_at(app, "/status/operationState/finishedAt").is_empty();
    if syncing {
        return Err((
            HealthState::Unknown,
            format!("Argo CD Application {name:?} in namespace {ns:?} is being synced"),
        ));
    }
    let srcs = sources(app);
    if srcs.len() != desired.len() {
        return Err((
            HealthState::Unknown,
            format!(
                "Argo CD Application {name:?} in namespace {ns:?} has {} sources but {} desired revisions",
                srcs.len(),
                desired.len()
            ),
        ));
    }
    let observed = revisions(app, "/status/sync");
    if observed.len() != desired.len() {
        return Err((
            HealthState::Unknown,
            format!(
                "Argo CD Application {name:?} in namespace {ns:?} has {} observed revisions but {} desired revisions",
                observed.len(),
                desired.len()
            ),
        ));
    }
    let issues: Vec<String> = observed
        .iter()
        .zip(desired)
        .enumerate()
        .filter(|(_, (o, d))| !d.is_empty() && o != d)
        .map(|(i, (_, d))| {
            format!(
                "Source {i} with RepoURL {} of Application {name:?} in namespace {ns:?} does not match the desired revision {d:?}.",
                str_at(&srcs[i], "/repoURL")
            )
        })
        .collect();
    if issues.is_empty() {
        Ok(())
    } else {
        Err((
            HealthState::Unhealthy,
            format!(
                "Not all sources of Application {name:?} in namespace {ns:?} are synced to the desired revisions. Issues: {}",
                issues.join("; ")
            ),
        ))
    }
}

/// `revisions`, or `[revision]`, of the object at `pointer` (a sync status
/// or a sync result).
pub fn revisions(app: &Value, pointer: &str) -> Vec<String> {
    let Some(obj) = app.pointer(pointer) else {
        return vec![String::new()];
    };
    match obj.get("revisions").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|r| r.as_str().unwrap_or("").to_string())
            .collect(),
        _ => vec![str_at(obj, "/revision").to_string()],
    }
}

/// Kargo's `stageHealthForAppHealth`.
pub fn health_of(app: &Value) -> (HealthState, Option<String>) {
    let name = str_at(app, "/metadata/name");
    let ns = str_at(app, "/metadata/namespace");
    match str_at(app, "/status/health/status") {
        "Healthy" => (HealthState::Healthy, None),
        "Progressing" | "" => (
            HealthState::Progressing,
            Some(format!(
                "Argo CD Application {name:?} in namespace {ns:?} is progressing"
            )),
        ),
        "Suspended" => (
            HealthState::Progressing,
            Some(format!(
                "Argo CD Application {name:?} in namespace {ns:?} is suspended"
            )),
        ),
        other => (
            HealthState::Unhealthy,
            Some(format!(
                "Argo CD Application {name:?} in namespace {ns:?} has health state {other:?}"
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(status: Value) -> Value {
        json!({"metadata": {"name": "fake-name", "namespace": "fake-namespace"},
            "spec": {"sources": [
                {"repoURL": "https://example.com/universe/42", "chart": "fake-chart"},
                {"repoURL": "https://example.com/universe/42"},
                {"repoURL": "https://example.com/another/repo"}]},
            "status": status})
    }

    fn finished(extra: Value) -> Value {
        let mut st = json!({"operationState": {"phase": "Succeeded", "finishedAt": "2024-01-01T00:00:00Z"},
            "reconciledAt": "2024-01-01T00:00:01Z"});
        crate::argocd::tests_merge(&mut st, &extra);
        st
    }

    /// Kargo's Test_argocdUpdater_getApplicationHealth, as data: the
    /// Application's status (None: not found), desired revisions, the
    /// state, what the issues say, and whether a hard refresh is asked.
    #[test]
    fn application_health_as_kargo() {
        let three = |a: &str, b: &str, c: &str| vec![a.to_string(), b.to_string(), c.to_string()];
        #[allow(clippy::type_complexity)]
        let rows: Vec<(&str, Option<Value>, Vec<String>, HealthState, &[&str], bool)> = vec![
            (
                "not found",
                None,
                vec![],
                HealthState::Unknown,
                &[
                    "unable to find Argo CD Application \"fake-name\" in namespace \"fake-namespace\"",
                ],
                false,
            ),
            (
                "error getting",
                Some(json!("error")),
                vec![],
                HealthState::Unknown,
                &["error finding Argo CD Application"],
                false,
            ),
            (
                "not reconciled after last operation",
                Some(
                    json!({"operationState": {"phase": "Succeeded", "finishedAt": "2024-01-01T00:00:10Z"}, "health": {"status": "Healthy"}}),
                ),
                vec![],
                HealthState::Unknown,
                &[
                    "was not reconciled after",
                    "Application health status not trusted",
                ],
                true,
            ),
            (
                "reconciled before last operation completed",
                Some(
                    json!({"operationState": {"phase": "Succeeded", "finishedAt": "2024-01-01T00:00:10Z"}, "reconciledAt": "2024-01-01T00:00:05Z", "health": {"status": "Healthy"}}),
                ),
                vec![],
                HealthState::Unknown,
                &["was not reconciled after"],
                true,
            ),
            (
                "error conditions",
                Some(finished(
                    json!({"conditions": [{"type": "ComparisonError", "message": "fake-error"}, {"type": "InvalidSpecError", "message": "fake-error"}], "health": {"status": "Healthy"}, "sync": {"status": "Synced"}}),
                )),
                vec![],
                HealthState::Unhealthy,
                &[
                    "has \"ComparisonError\" condition",
                    "has \"InvalidSpecError\" condition",
                ],
                false,
            ),
            (
                "not Healthy",
                Some(finished(
                    json!({"health": {"status": "Degraded", "message": "fake-message"}, "sync": {"status": "Synced"}}),
                )),
                vec![],
                HealthState::Unhealthy,
                &["has health state \"Degraded\""],
                false,
            ),
            (
                "Healthy, no desired revisions",
                Some(finished(
                    json!({"health": {"status": "Healthy"}, "sync": {"status": "Synced"}}),
                )),
                vec![],
                HealthState::Healthy,
                &[],
                false,
            ),
            (
                "Healthy, not synced to desired revisions",
                Some(finished(
                    json!({"health": {"status": "Healthy"}, "sync": {"status": "Synced", "revisions": ["fake-version", "wrong-fake-commit", "another-fake-commit"]}}),
                )),
                three("fake-version", "fake-commit", "another-fake-commit"),
                HealthState::Unhealthy,
                &[
                    "Not all sources of Application",
                    "are synced to the desired revisions",
                    "Source 1 with RepoURL https://example.com/universe/42",
                ],
                false,
            ),
            (
                "Healthy and synced to desired revisions",
                Some(finished(
                    json!({"health": {"status": "Healthy"}, "sync": {"status": "Synced", "revisions": ["fake-version", "fake-commit", "another-fake-commit"]}}),
                )),
                three("fake-version", "fake-commit", "another-fake-commit"),
                HealthState::Healthy,
                &[],
                false,
            ),
        ];
        assert_eq!(rows.len(), 9); // Kargo's Test_argocdUpdater_getApplicationHealth: 9 rows
        for (what, status, desired, state, says, refresh) in rows {
            let get = |_: &str, _: &str| -> Result<Option<Value>, String> {
                match &status {
                    None => Ok(None),
                    Some(Value::String(e)) => Err(e.clone()),
                    Some(st) => Ok(Some(app(st.clone()))),
                }
            };
            let got = app_health(&get, "fake-namespace", "fake-name", &desired);
            assert_eq!(got.state, state, "{what}: {:?}", got.issues);
            let all = got.issues.join("\n");
            for s in says {
                assert!(all.contains(s), "{what}: {all}");
            }
            if says.is_empty() {
                assert!(got.issues.is_empty(), "{what}: {all}");
            }
            assert_eq!(got.refresh, refresh, "{what}");
            assert_eq!(got.status["Name"], "fake-name", "{what}");
            assert!(got.status.get("reconciledAt").is_none(), "{what}");
        }
    }

    /// Kargo's Test_argocdUpdater_stageHealthForAppSync, as data.
    #[test]
    fn sync_health_as_kargo() {
        let one = |app_extra: Value, status: Value| {
            let mut a = json!({"metadata": {"name": "fake-name", "namespace": "fake-namespace"},
                "spec": {"source": {"repoURL": "https://example.com/universe/42"}}, "status": status});
            crate::argocd::tests_merge(&mut a, &app_extra);
            a
        };
        let done = json!({"operationState": {"finishedAt": "2024-01-01T00:00:00Z"}});
        #[allow(clippy::type_complexity)]
        let rows: Vec<(&str, Value, Vec<&str>, Option<(HealthState, &str)>)> = vec![
            (
                "empty revisions list",
                one(json!({}), json!({})),
                vec![],
                None,
            ),
            (
                "all revisions are empty string",
                one(json!({}), json!({})),
                vec!["", ""],
                None,
            ),
            (
                "ongoing sync operation",
                one(json!({"operation": {"sync": {}}}), done.clone()),
                vec!["fake-revision"],
                Some((HealthState::Unknown, "is being synced")),
            ),
            (
                "no operation state",
                one(json!({}), json!({})),
                vec!["fake-revision"],
                Some((HealthState::Unknown, "is being synced")),
            ),
            (
                "operation state without finished time",
                one(json!({}), json!({"operationState": {"phase": "Running"}})),
                vec!["fake-revision"],
                Some((HealthState::Unknown, "is being synced")),
            ),
            (
                "sync revision mismatch",
                one(
                    json!({}),
                    json!({"operationState": {"finishedAt": "2024-01-01T00:00:00Z"}, "sync": {"revision": "other-revision"}}),
                ),
                vec!["fake-revision"],
                Some((
                    HealthState::Unhealthy,
                    "does not match the desired revision \"fake-revision\"",
                )),
            ),
            (
                "synced",
                one(
                    json!({}),
                    json!({"operationState": {"finishedAt": "2024-01-01T00:00:00Z"}, "sync": {"revision": "fake-revision"}}),
                ),
                vec!["fake-revision"],
                None,
            ),
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_argocdUpdater_stageHealthForAppSync: 7 rows
        for (what, app, desired, want) in rows {
            let desired: Vec<String> = desired.into_iter().map(String::from).collect();
            match (sync_health(&app, &desired), want) {
                (Ok(()), None) => {}
                (Err((state, msg)), Some((s, says))) => {
                    assert_eq!(state, s, "{what}: {msg}");
                    assert!(msg.contains(says), "{what}: {msg}");
                }
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Kargo's Test_argocdUpdater_stageHealthForAppHealth, as data.
    #[test]
    fn argo_cd_health_mapped_as_kargo() {
        let rows = [
            (
                "Progressing",
                HealthState::Progressing,
                Some("is progressing"),
            ),
            ("Suspended", HealthState::Progressing, Some("is suspended")),
            ("", HealthState::Progressing, Some("is progressing")),
            ("Healthy", HealthState::Healthy, None),
            (
                "Degraded",
                HealthState::Unhealthy,
                Some("has health state \"Degraded\""),
            ),
        ];
        assert_eq!(rows.len(), 5); // Kargo's Test_argocdUpdater_stageHealthForAppHealth: 5 rows
        for (health, state, says) in rows {
            let a = json!({"metadata": {"name": "a", "namespace": "b"}, "status": {"health": {"status": health}}});
            let (got, issue) = health_of(&a);
            assert_eq!(got, state, "{health}");
            match (issue, says) {
                (None, None) => {}
                (Some(i), Some(s)) => assert!(i.contains(s), "{health}: {i}"),
                (i, s) => panic!("{health}: {i:?} vs {s:?}"),
            }
        }
    }

    /// Kargo's Test_argocdUpdater_check: disabled integration, a merge of
    /// several Applications' issues, and all healthy.
    #[test]
    fn check_merges_by_severity() {
        let input = json!({"apps": [{"name": "a"}, {"name": "b", "namespace": "other"}, {"name": "missing"}]});
        let disabled = check(&input, "argocd", None);
        assert_eq!(disabled.status, HealthState::Unknown);
        assert!(disabled.issues[0].contains("Argo CD integration is disabled"));
        let apps = |b_health: &'static str| {
            move |ns: &str, name: &str| -> Result<Option<Value>, String> {
                let health = match (ns, name) {
                    ("argocd", "a") => "Healthy",
                    ("other", "b") => b_health,
                    _ => return Ok(None),
                };
                Ok(Some(
                    json!({"metadata": {"name": name, "namespace": ns}, "status": {"health": {"status": health}}}),
                ))
            }
        };
        let get = apps("Progressing");
        let res = check(&input, "argocd", Some(&get));
        assert_eq!(
            res.status,
            HealthState::Unknown,
            "missing outranks progressing"
        );
        assert_eq!(res.issues.len(), 2, "{:?}", res.issues);
        assert_eq!(
            res.output["applicationStatuses"].as_array().unwrap().len(),
            3
        );
        let get = apps("Degraded");
        assert_eq!(
            check(&input, "argocd", Some(&get)).status,
            HealthState::Unhealthy
        );
        let input = json!({"apps": [{"name": "a"}, {"name": "b", "namespace": "other"}]});
        let get = apps("Healthy");
        let res = check(&input, "argocd", Some(&get));
        assert_eq!((res.status, res.issues.len()), (HealthState::Healthy, 0));
    }
}
