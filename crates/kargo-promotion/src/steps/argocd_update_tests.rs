//! Tests of `argocd-update`: Kargo's `argocd_updater_test.go` tables as
//! data (row counts asserted) and the step run against Applications held
//! in a map that plays the API.

use super::*;
use crate::argocd::{AUTHORIZED_STAGE, tests_merge};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Applications by `ns/name`, and the Events created.
#[derive(Default)]
pub(crate) struct Fake {
    pub apps: Mutex<BTreeMap<String, Value>>,
    pub events: Mutex<Vec<Value>>,
    /// An injected failure: the call (`get`, `list`, `patch`), the
    /// Application name it hits ("" for any), and the error.
    pub fail: Option<(&'static str, &'static str, &'static str)>,
}

impl Fake {
    pub fn with(apps: Vec<Value>) -> Fake {
        let f = Fake::default();
        for a in apps {
            let (n, ns) = name_of(&a);
            f.apps
                .lock()
                .unwrap()
                .insert(format!("{ns}/{n}"), a.clone());
        }
        f
    }
    pub fn app(&self, key: &str) -> Value {
        self.apps.lock().unwrap()[key].clone()
    }
    fn injected(&self, call: &str, name: &str) -> Result<(), String> {
        match self.fail {
            Some((c, n, e)) if c == call && (n.is_empty() || n == name) => Err(e.into()),
            _ => Ok(()),
        }
    }
}

impl ArgoCdApps for Fake {
    fn get(&self, ns: &str, name: &str) -> Result<Option<Value>, String> {
        self.injected("get", name)?;
        Ok(self
            .apps
            .lock()
            .unwrap()
            .get(&format!("{ns}/{name}"))
            .cloned())
    }
    fn list(&self, ns: &str, selector: &str) -> Result<Vec<Value>, String> {
        self.injected("list", "")?;
        // Equality requirements are enough for these tests.
        let reqs: Vec<(&str, &str)> = selector
            .split(',')
            .filter_map(|r| r.split_once('='))
            .collect();
        Ok(self
            .apps
            .lock()
            .unwrap()
            .values()
            .filter(|a| name_of(a).1 == ns)
            .filter(|a| {
                reqs.iter().all(|(k, v)| {
                    a.pointer("/metadata/labels").and_then(|l| l.get(*k)) == Some(&json!(v))
                })
            })
            .cloned()
            .collect())
    }
    fn patch(&self, ns: &str, name: &str, patch: &Value) -> Result<(), String> {
        self.injected("patch", name)?;
        let mut m = self.apps.lock().unwrap();
        let app = m.get_mut(&format!("{ns}/{name}")).ok_or("not found")?;
        tests_merge(app, patch);
        Ok(())
    }
    fn create_event(&self, _ns: &str, event: &Value) -> Result<(), String> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

pub(crate) fn run_step(
    step: &dyn Step,
    apps: Option<&dyn ArgoCdApps>,
    actor: &str,
    outputs: &Map<String, Value>,
    config: Value,
) -> Result<StepResult, StepError> {
    let promotion = kargo_expr::PromotionContext {
        project: "my-web-app".into(),
        stage: "prod".into(),
        promotion: "p1".into(),
        actor: actor.into(),
        ..Default::default()
    };
    let shared = Map::new();
    let tmp = std::env::temp_dir();
    let ctx = StepContext {
        work_dir: &tmp,
        alias: "argocd",
        promotion: &promotion,
        outputs,
        shared: &shared,
        credentials: &crate::git::NoCredentials,
        apps,
        objects: None,
        allow_file_repos: false,
        limits: &crate::limits::Limits::default(),
        ui_base_url: None,
    };
    step.run(&ctx, &config)
}

fn run(fake: &Fake, config: Value) -> Result<StepResult, StepError> {
    run_step(&ArgoCdUpdate, Some(fake), "", &Map::new(), config)
}

fn app(name: &str, auth: &str, spec: Value, status: Value) -> Value {
    let mut a = json!({"metadata": {"name": name, "namespace": "argocd", "labels": {"team": "web"}, "annotations": {AUTHORIZED_STAGE: auth}}, "spec": spec});
    if !status.is_null() {
        a["status"] = status;
    }
    a
}

/// Kargo's Test_argoCDUpdater_convert as data: a config, and the field
/// a refusal names (None: accepted).
#[test]
fn config_checked_as_kargos_schema() {
    let src = |s: Value| json!({"apps": [{"name": "app", "sources": [s]}]});
    let sel = |s: Value| json!({"apps": [{"selector": s}]});
    let rows: Vec<(&str, Value, Option<&str>)> = vec![
        ("apps not specified", json!({}), Some("apps")),
        ("apps is empty array", json!({"apps": []}), Some("apps")),
        (
            "app name and selector not specified",
            json!({"apps": [{}]}),
            Some("apps.0"),
        ),
        (
            "app name is empty string",
            json!({"apps": [{"name": ""}]}),
            Some("apps.0.name: String length must be greater than or equal to 1"),
        ),
        (
            "app name and selector both specified",
            json!({"apps": [{"name": "my-app", "selector": {"matchLabels": {"a": "b"}}}]}),
            Some("apps.0"),
        ),
        (
            "app selector is empty",
            sel(json!({})),
            Some("apps.0.selector"),
        ),
        (
            "app selector matchLabels is empty object",
            sel(json!({"matchLabels": {}})),
            Some("apps.0.selector.matchLabels"),
        ),
        (
            "app selector matchExpressions is empty array",
            sel(json!({"matchExpressions": []})),
            Some("apps.0.selector.matchExpressions"),
        ),
        (
            "matchExpression missing key",
            sel(json!({"matchExpressions": [{"operator": "In", "values": ["a"]}]})),
            Some("key"),
        ),
        (
            "matchExpression missing operator",
            sel(json!({"matchExpressions": [{"key": "env", "values": ["a"]}]})),
            Some("operator"),
        ),
        (
            "matchExpression key is empty string",
            sel(json!({"matchExpressions": [{"key": "", "operator": "In", "values": ["a"]}]})),
            Some("matchExpressions.0.key"),
        ),
        (
            "matchExpression operator is empty string",
            sel(json!({"matchExpressions": [{"key": "env", "operator": ""}]})),
            Some("matchExpressions.0.operator"),
        ),
        (
            "matchExpression operator is invalid",
            sel(json!({"matchExpressions": [{"key": "env", "operator": "Bogus"}]})),
            Some("matchExpressions.0.operator"),
        ),
        (
            "app namespace is empty string",
            json!({"apps": [{"name": "a", "namespace": ""}]}),
            Some("apps.0.namespace"),
        ),
        (
            "app sources is empty array",
            json!({"apps": [{"name": "a", "sources": []}]}),
            Some("apps.0.sources"),
        ),
        (
            "source repoURL not specified",
            src(json!({})),
            Some("repoURL"),
        ),
        (
            "source repoURL is empty string",
            src(json!({"repoURL": ""})),
            Some("apps.0.sources.0.repoURL"),
        ),
        (
            "updateTargetRevision without desiredRevision",
            src(json!({"repoURL": "u", "updateTargetRevision": true})),
            Some("apps.0.sources.0"),
        ),
        (
            "helm images is empty array",
            src(json!({"repoURL": "u", "helm": {"images": []}})),
            Some("helm.images"),
        ),
        (
            "helm images update key is not specified",
            src(json!({"repoURL": "u", "helm": {"images": [{"value": "v"}]}})),
            Some("key"),
        ),
        (
            "helm images update key is empty string",
            src(json!({"repoURL": "u", "helm": {"images": [{"key": "", "value": "v"}]}})),
            Some("helm.images.0.key"),
        ),
        (
            "helm images update value is not specified",
            src(json!({"repoURL": "u", "helm": {"images": [{"key": "k"}]}})),
            Some("value"),
        ),
        (
            "kustomize images is empty array",
            src(json!({"repoURL": "u", "kustomize": {"images": []}})),
            Some("kustomize.images"),
        ),
        (
            "kustomize images newName is empty string",
            src(
                json!({"repoURL": "u", "kustomize": {"images": [{"repoURL": "i", "tag": "t", "newName": ""}]}}),
            ),
            Some("newName"),
        ),
        (
            "kustomize images repoURL is not specified",
            src(json!({"repoURL": "u", "kustomize": {"images": [{"tag": "t"}]}})),
            Some("repoURL"),
        ),
        (
            "kustomize images repoURL is empty string",
            src(json!({"repoURL": "u", "kustomize": {"images": [{"repoURL": "", "tag": "t"}]}})),
            Some("kustomize.images.0.repoURL"),
        ),
        (
            "kustomize images digest and tag are both specified",
            src(
                json!({"repoURL": "u", "kustomize": {"images": [{"repoURL": "i", "digest": "d", "tag": "t"}]}}),
            ),
            Some("kustomize.images.0: Must validate one and only one schema"),
        ),
        (
            "valid selector with matchLabels",
            sel(json!({"matchLabels": {"env": "prod", "team": "platform"}})),
            None,
        ),
        (
            "valid selector with matchExpressions",
            sel(
                json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}),
            ),
            None,
        ),
        (
            "valid selector with both",
            sel(
                json!({"matchLabels": {"team": "platform"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]}]}),
            ),
            None,
        ),
        (
            "valid kitchen sink",
            json!({"apps": [{"name": "app", "namespace": "argocd", "sources": [{"repoURL": "fake-git-url", "desiredRevision": "fake-commit", "updateTargetRevision": true,
            "helm": {"images": [{"key": "fake-key", "value": "fake-tag"}, {"key": "another-fake-key", "value": "fake-tag"}]},
            "kustomize": {"images": [{"repoURL": "fake-image", "digest": "fake-digest"}, {"repoURL": "another-fake-image", "digest": "fake-digest"}, {"repoURL": "yet-another-fake-image", "tag": "fake-tag"}]}}]}]}),
            None,
        ),
    ];
    assert_eq!(rows.len(), 31); // Kargo's Test_argoCDUpdater_convert: 31 rows
    for (what, config, want) in rows {
        match (ArgoCdUpdate.check(&config), want) {
            (Ok(()), None) => {}
            (Err(e), Some(w)) => {
                assert!(e.terminal && e.message.contains(w), "{what}: {}", e.message)
            }
            (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
        }
    }
}

/// Kargo's Test_argoCDUpdater_mustPerformUpdate as data: the
/// Application's `operationState`, the desired revision, and whether the
/// step syncs or follows (with the phase it follows).
#[test]
fn sync_or_follow_as_kargo() {
    let op = |phase: &str, user: &str, promo: Option<&str>, sync_result: Value| {
        let mut info = vec![json!({"name": "Reason", "value": "x"})];
        if let Some(p) = promo {
            info.push(json!({"name": PROMOTION_INFO, "value": p}));
        }
        let mut o =
            json!({"phase": phase, "operation": {"initiatedBy": {"username": user}, "info": info}});
        if !sync_result.is_null() {
            o["syncResult"] = sync_result;
        }
        o
    };
    let k = INITIATOR;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(&str, Value, &str, Option<Option<Phase>>, &str)> = vec![
        ("no operation state", Value::Null, "", None, ""),
        (
            "running operation initiated by different user",
            op("Running", "someone-else", None, Value::Null),
            "",
            Some(Some(Phase::Running)),
            "current operation was initiated by \"someone-else\": waiting for operation to complete",
        ),
        (
            "completed operation initiated by non-kargo",
            op("Succeeded", "someone-else", None, Value::Null),
            "",
            None,
            "",
        ),
        (
            "running operation initiated for incorrect Promotion",
            op("Running", k, Some("wrong"), Value::Null),
            "",
            Some(Some(Phase::Running)),
            "current operation was not initiated for Promotion p1: waiting for operation to complete",
        ),
        (
            "completed operation initiated for incorrect Promotion",
            op("Succeeded", k, Some("wrong"), Value::Null),
            "",
            None,
            "",
        ),
        (
            "running operation",
            op("Running", k, Some("p1"), Value::Null),
            "",
            Some(Some(Phase::Running)),
            "",
        ),
        (
            "unable to determine desired revisions",
            op("Succeeded", k, Some("p1"), json!({})),
            "",
            Some(Some(Phase::Succeeded)),
            "",
        ),
        (
            "no sync result",
            op("Succeeded", k, Some("p1"), Value::Null),
            "fake-revision",
            None,
            "",
        ),
        (
            "desired revision does not match operation state",
            op(
                "Succeeded",
                k,
                Some("p1"),
                json!({"revision": "other-fake-revision"}),
            ),
            "fake-revision",
            None,
            "",
        ),
        (
            "operation completed",
            op(
                "Succeeded",
                k,
                Some("p1"),
                json!({"revision": "fake-revision"}),
            ),
            "fake-revision",
            Some(Some(Phase::Succeeded)),
            "",
        ),
    ];
    assert_eq!(rows.len(), 10); // Kargo's Test_argoCDUpdater_mustPerformUpdate: 10 rows
    for (what, state, desired, want, why) in rows {
        let status = if state.is_null() {
            json!({})
        } else {
            json!({"operationState": state})
        };
        let a = app(
            "a",
            "my-web-app:prod",
            json!({"source": {"repoURL": "https://g/r"}}),
            status,
        );
        let desired = vec![desired.to_string()];
        match (decide(&a, "p1", &desired), want) {
            (Decision::Sync, None) => {}
            (Decision::Follow(p, reason), Some(w)) => {
                assert_eq!(p, w, "{what}");
                assert_eq!(reason.unwrap_or_default(), why, "{what}");
            }
            (Decision::Sync, w) => panic!("{what}: synced, want follow {w:?}"),
            (Decision::Follow(p, _), None) => panic!("{what}: follows {p:?}, want sync"),
        }
    }
}

/// Kargo's Test_argoCDUpdater_applyArgoCDSourceUpdate as data.
#[test]
fn source_updates_as_kargo() {
    let upd = |v: Value| -> SourceUpdate { serde_json::from_value(v).unwrap() };
    let rows: Vec<(&str, Value, SourceUpdate, &str, Option<Value>)> = vec![
        (
            "update doesn't apply because repoURL doesn't match",
            json!({"repoURL": "fake-url"}),
            upd(json!({"repoURL": "different-fake-url"})),
            "",
            None,
        ),
        (
            "update doesn't apply because chart name doesn't match",
            json!({"repoURL": "fake-url", "chart": "fake-chart"}),
            upd(json!({"repoURL": "fake-url", "chart": "different-fake-chart"})),
            "",
            None,
        ),
        (
            "update targetRevision",
            json!({"repoURL": "https://github.com/universe/42", "targetRevision": "main"}),
            upd(
                json!({"repoURL": "https://github.com/universe/42.git", "desiredRevision": "fake-revision", "updateTargetRevision": true}),
            ),
            "fake-revision",
            Some(
                json!({"repoURL": "https://github.com/universe/42", "targetRevision": "fake-revision"}),
            ),
        ),
        (
            "update kustomize images",
            json!({"repoURL": "fake-url", "kustomize": {"images": ["fake-image-0:old"]}}),
            upd(json!({"repoURL": "fake-url", "kustomize": {"images": [
                {"repoURL": "fake-image-1", "tag": "fake-tag"},
                {"repoURL": "fake-image-2", "digest": "fake-digest"},
                {"repoURL": "fake-image-3", "newName": "fake-new-name", "tag": "fake-tag"}]}})),
            "",
            Some(
                json!({"repoURL": "fake-url", "kustomize": {"images": ["fake-image-1:fake-tag", "fake-image-2@fake-digest", "fake-image-3=fake-new-name:fake-tag"]}}),
            ),
        ),
        (
            "update helm parameters",
            json!({"repoURL": "fake-url", "helm": {"parameters": [{"name": "image", "value": "old"}, {"name": "keep", "value": "x"}]}}),
            upd(
                json!({"repoURL": "fake-url", "helm": {"images": [{"key": "image", "value": "new"}, {"key": "other", "value": "v"}]}}),
            ),
            "",
            Some(
                json!({"repoURL": "fake-url", "helm": {"parameters": [{"name": "image", "value": "new"}, {"name": "keep", "value": "x"}, {"name": "other", "value": "v"}]}}),
            ),
        ),
    ];
    assert_eq!(rows.len(), 5); // Kargo's Test_argoCDUpdater_applyArgoCDSourceUpdate: 5 rows
    for (what, src, u, desired, want) in rows {
        assert_eq!(apply_source_update(&u, desired, &src), want, "{what}");
    }
}

/// Kargo's Test_argoCDUpdater_recursiveMerge as data.
#[test]
fn spec_merge_as_kargo() {
    let rows: Vec<(&str, Value, Value, Value)> = vec![
        (
            "merge maps",
            json!({"a": 1, "b": {"c": 2}}),
            json!({"b": {"d": 3}, "e": 4}),
            json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4}),
        ),
        (
            "merge arrays",
            json!([1, {"a": 1}]),
            json!([0, {"b": 2}, 9]),
            json!([1, {"a": 1, "b": 2}]),
        ),
        ("src is not a map", json!("x"), json!({"a": 1}), json!("x")),
        (
            "dst is not a map",
            json!({"a": 1}),
            json!("x"),
            json!({"a": 1}),
        ),
        (
            "src array longer",
            json!([1, 2, 3]),
            json!([0]),
            json!([1, 2, 3]),
        ),
        (
            "dst is not an array",
            json!([1]),
            json!({"a": 1}),
            json!([1]),
        ),
        ("scalars", json!(1), json!(2), json!(1)),
        ("nil src", Value::Null, json!({"a": 1}), Value::Null),
    ];
    assert_eq!(rows.len(), 8); // Kargo's Test_argoCDUpdater_recursiveMerge: 8 rows
    for (what, src, dst, want) in rows {
        assert_eq!(recursive_merge(&src, &dst), want, "{what}");
    }
}

/// Kargo's TestSyncMessage as data.
#[test]
fn sync_messages_as_kargo() {
    let promotion = kargo_expr::PromotionContext {
        promotion: "p1".into(),
        ..Default::default()
    };
    let (o, sh) = (Map::new(), Map::new());
    let tmp = std::env::temp_dir();
    let ctx = StepContext {
        work_dir: &tmp,
        alias: "a",
        promotion: &promotion,
        outputs: &o,
        shared: &sh,
        credentials: &crate::git::NoCredentials,
        apps: None,
        objects: None,
        allow_file_repos: false,
        limits: &crate::limits::Limits::default(),
        ui_base_url: None,
    };
    let rows: Vec<(Value, &str)> = vec![
        (
            json!({"sources": [{"repoURL": "a", "targetRevision": "v1"}]}),
            "initiated sync to v1",
        ),
        (
            json!({"sources": [{"repoURL": "a"}, {"repoURL": "b"}]}),
            "initiated sync to 2 sources",
        ),
        (
            json!({"source": {"repoURL": "a", "targetRevision": "main"}}),
            "initiated sync to main",
        ),
        (json!({}), "initiated sync"),
    ];
    assert_eq!(rows.len(), 4); // Kargo's TestSyncMessage: 4 rows
    for (spec, want) in rows {
        let a = json!({"metadata": {"name": "a", "namespace": "argocd"}, "spec": spec});
        let srcs = sources(&a);
        assert_eq!(sync_patch(&ctx, &a, srcs).1, want);
    }
}

/// Kargo's Test_argoCDUpdater_validateSourceUpdatesApplicable as data.
#[test]
fn multi_app_sources_must_be_compatible() {
    let with_src = |name: &str, url: &str| {
        app(
            name,
            "my-web-app:prod",
            json!({"source": {"repoURL": url}}),
            Value::Null,
        )
    };
    let update = |srcs: Value| -> AppUpdate {
        serde_json::from_value(
            json!({"selector": {"matchLabels": {"team": "web"}}, "sources": srcs}),
        )
        .unwrap()
    };
    let u = update(json!([{"repoURL": "https://g/cfg"}]));
    let rows: Vec<(&str, Vec<Value>, Option<&str>)> = vec![
        ("single app", vec![with_src("a", "https://g/other")], None),
        ("no apps", vec![], None),
        (
            "all compatible",
            vec![
                with_src("a", "https://g/cfg"),
                with_src("b", "https://g/cfg.git"),
            ],
            None,
        ),
        (
            "one incompatible",
            vec![
                with_src("a", "https://g/cfg"),
                with_src("b", "https://g/other"),
            ],
            Some(
                "selected Applications must have compatible sources; 1 incompatible. No Applications were updated:\nApplication \"b\" in namespace \"argocd\": no source of Argo CD Application \"b\" in namespace \"argocd\" matched update for source with repoURL https://g/cfg",
            ),
        ),
        (
            "all incompatible",
            vec![with_src("a", "x"), with_src("b", "y")],
            Some("2 incompatible. No Applications"),
        ),
        (
            "more than three incompatible",
            (0..5).map(|i| with_src(&format!("a{i}"), "x")).collect(),
            Some("5 incompatible (showing first 3)"),
        ),
    ];
    assert_eq!(rows.len(), 6); // Kargo's Test_argoCDUpdater_validateSourceUpdatesApplicable: 6 rows
    for (what, apps, want) in rows {
        match (check_compatible(&u, &apps), want) {
            (Ok(()), None) => {}
            (Err(e), Some(w)) => {
                assert!(e.contains(w), "{what}: {e}");
                if what.starts_with("more") {
                    assert_eq!(e.lines().count(), 4, "{what}: {e}");
                }
            }
            (got, w) => panic!("{what}: {got:?} vs {w:?}"),
        }
    }
}

/// Kargo's Test_argoCDUpdater_getAuthorizedApplications as data.
#[test]
fn lookup_and_authorization_as_kargo() {
    let labelled = |name: &str, env: &str, auth: &str| {
        let mut a = app(name, auth, json!({}), Value::Null);
        a["metadata"]["labels"]["env"] = json!(env);
        a
    };
    let fake = Fake::with(vec![
        labelled("ok", "prod", "my-web-app:prod"),
        labelled("ok2", "prod", "my-web-app:prod"),
        labelled("other", "dev", "my-web-app:dev"),
    ]);
    /// Applications nothing can be read from.
    struct Broken;
    impl ArgoCdApps for Broken {
        fn get(&self, _: &str, _: &str) -> Result<Option<Value>, String> {
            Err("boom".into())
        }
        fn list(&self, _: &str, _: &str) -> Result<Vec<Value>, String> {
            Err("boom".into())
        }
        fn patch(&self, _: &str, _: &str, _: &Value) -> Result<(), String> {
            Err("boom".into())
        }
        fn create_event(&self, _: &str, _: &Value) -> Result<(), String> {
            Err("boom".into())
        }
    }
    let sel = |k: &str, v: &str| json!({"selector": {"matchLabels": {k: v}}});
    #[allow(clippy::type_complexity)]
    let rows: Vec<(&str, &dyn ArgoCdApps, Value, Result<Vec<&str>, &str>)> = vec![
        (
            "selector returns multiple authorized apps",
            &fake,
            sel("env", "prod"),
            Ok(vec!["ok", "ok2"]),
        ),
        (
            "selector filters out unauthorized apps",
            &fake,
            sel("team", "web"),
            Ok(vec!["ok", "ok2"]),
        ),
        (
            "selector returns no apps",
            &fake,
            sel("team", "db"),
            Err("no Argo CD Applications found matching selector in namespace \"argocd\""),
        ),
        (
            "selector matches apps but none authorized",
            &fake,
            sel("env", "dev"),
            Err(
                "found 1 Application(s) matching selector in namespace \"argocd\", but none are authorized for Stage my-web-app:prod",
            ),
        ),
        (
            "name-based selection returns single app",
            &fake,
            json!({"name": "ok"}),
            Ok(vec!["ok"]),
        ),
        (
            "name-based selection app not found",
            &fake,
            json!({"name": "nope"}),
            Err("unable to find Argo CD Application \"nope\" in namespace \"argocd\""),
        ),
        (
            "name-based selection app not authorized",
            &fake,
            json!({"name": "other"}),
            Err("Argo CD Application \"other\" in namespace \"argocd\" is not authorized"),
        ),
        (
            "error listing applications",
            &Broken,
            sel("team", "web"),
            Err("error listing Argo CD Applications matching selector: boom"),
        ),
    ];
    assert_eq!(rows.len(), 8); // Kargo's Test_argoCDUpdater_getAuthorizedApplications: 8 rows
    let promotion = kargo_expr::PromotionContext {
        project: "my-web-app".into(),
        stage: "prod".into(),
        ..Default::default()
    };
    let (o, sh) = (Map::new(), Map::new());
    let tmp = std::env::temp_dir();
    let ctx = StepContext {
        work_dir: &tmp,
        alias: "a",
        promotion: &promotion,
        outputs: &o,
        shared: &sh,
        credentials: &crate::git::NoCredentials,
        apps: None,
        objects: None,
        allow_file_repos: false,
        limits: &crate::limits::Limits::default(),
        ui_base_url: None,
    };
    for (what, apps, u, want) in rows {
        let u: AppUpdate = serde_json::from_value(u).unwrap();
        match (authorized_apps(apps, &ctx, &u, "argocd"), want) {
            (Ok(apps), Ok(names)) => assert_eq!(
                apps.iter().map(|a| name_of(a).0).collect::<Vec<_>>(),
                names,
                "{what}"
            ),
            (Err(e), Err(w)) => assert_eq!(e, w, "{what}"),
            (got, w) => panic!("{what}: {got:?} vs {w:?}"),
        }
    }
}

/// A whole run: the sync patch (actor, info, sync options and retry from
/// the sync policy, operationState cleared, hard refresh, new sources),
/// the Event, following Argo CD's verdict, outputs and the health check.
#[test]
fn syncs_then_follows_argo_cd() {
    let spec = json!({"source": {"repoURL": "https://github.com/my-org/k8s-config.git", "targetRevision": "main", "path": "apps/prod"},
        "syncPolicy": {"syncOptions": ["CreateNamespace=true"], "retry": {"limit": 2}}});
    let fake = Fake::with(vec![app(
        "web",
        "my-web-app:prod",
        spec,
        json!({"operationState": {"phase": "Succeeded", "operation": {"initiatedBy": {"username": "admin"}}}}),
    )]);
    let cfg = json!({"apps": [{"name": "web", "sources": [{"repoURL": "https://github.com/my-org/k8s-config.git", "desiredRevision": "abc123", "updateTargetRevision": true}]}]});
    let first = run_step(
        &ArgoCdUpdate,
        Some(&fake),
        "admin@example.com",
        &Map::new(),
        cfg.clone(),
    )
    .unwrap();
    assert_eq!(first.status(), StepStatus::Running, "{}", first.message);
    let a = fake.app("argocd/web");
    assert_eq!(a["spec"]["source"]["targetRevision"], "abc123");
    assert_eq!(a["spec"]["source"]["path"], "apps/prod");
    assert_eq!(a["metadata"]["annotations"][REFRESH_ANNOTATION], "hard");
    assert_eq!(
        a["operation"]["initiatedBy"],
        json!({"username": "admin@example.com", "automated": false})
    );
    assert_eq!(
        a["operation"]["info"][1],
        json!({"name": PROMOTION_INFO, "value": "p1"})
    );
    assert_eq!(
        a["operation"]["sync"],
        json!({"revisions": [], "syncOptions": ["CreateNamespace=true"]})
    );
    assert_eq!(a["operation"]["retry"], json!({"limit": 2}));
    assert!(a["status"].get("operationState").is_none(), "{a}");
    let ev = fake.events.lock().unwrap()[0].clone();
    assert_eq!(
        (ev["reason"].as_str(), ev["type"].as_str()),
        (Some("OperationStarted"), Some("Normal"))
    );
    assert_eq!(ev["message"], "kargo-controller initiated sync to abc123");
    assert!(ev["metadata"]["name"].as_str().unwrap().starts_with("web."));
    assert_eq!(
        first.outputs["apps"],
        json!([{"name": "web", "namespace": "argocd"}])
    );
    assert_eq!(
        first.health_check,
        Some(
            json!({"uses": "argocd-update", "config": {"apps": [{"name": "web", "namespace": "argocd", "desiredRevisions": ["abc123"]}]}})
        )
    );

    // Argo CD takes the operation; the step follows it.
    let argo = |phase: &str, rev: &str, message: &str| {
        let mut m = fake.apps.lock().unwrap();
        let a = m.get_mut("argocd/web").unwrap();
        a.as_object_mut().unwrap().remove("operation");
        let op = json!({"initiatedBy": {"username": "admin@example.com"}, "info": [{"name": PROMOTION_INFO, "value": "p1"}]});
        a["status"]["operationState"] = json!({"phase": phase, "message": message, "operation": op, "syncResult": {"revision": rev}});
    };
    argo("Running", "", "");
    assert_eq!(
        run(&fake, cfg.clone()).unwrap().status(),
        StepStatus::Running
    );
    argo("Succeeded", "abc123", "successfully synced");
    let done = run(&fake, cfg.clone()).unwrap();
    assert_eq!(done.status(), StepStatus::Succeeded, "{}", done.message);
    assert_eq!(fake.events.lock().unwrap().len(), 1, "no second sync");
    // A different revision synced: Kargo syncs again.
    argo("Succeeded", "old", "");
    assert_eq!(
        run(&fake, cfg.clone()).unwrap().status(),
        StepStatus::Running
    );
    assert_eq!(fake.events.lock().unwrap().len(), 2);
    argo("Failed", "abc123", "one or more objects failed to apply");
    let err = run(&fake, cfg.clone()).unwrap_err();
    assert_eq!(
        err.message,
        "Argo CD Application \"web\" in namespace \"argocd\" failed with: one or more objects failed to apply"
    );
    // No actor: Kargo's own.
    let fresh = Fake::with(vec![app(
        "web",
        "my-web-app:prod",
        json!({"source": {"repoURL": "https://g/r"}}),
        Value::Null,
    )]);
    run(&fresh, json!({"apps": [{"name": "web"}]})).unwrap();
    let a = fresh.app("argocd/web");
    assert_eq!(
        a["operation"]["initiatedBy"],
        json!({"username": "kargo-controller", "automated": true})
    );
    assert!(a.get("status").is_none(), "no status is created: {a}");
}

/// A foreign operation is waited out, then Kargo syncs.
#[test]
fn waits_out_a_foreign_operation() {
    let fake = Fake::with(vec![app(
        "web",
        "my-web-app:prod",
        json!({"source": {"repoURL": "https://g/r"}}),
        json!({"operationState": {"phase": "Running", "operation": {"initiatedBy": {"username": "alice"}}}}),
    )]);
    let cfg = json!({"apps": [{"name": "web"}]});
    let res = run(&fake, cfg.clone()).unwrap();
    assert_eq!(res.status(), StepStatus::Running);
    assert!(
        res.message
            .contains("initiated by \"alice\": waiting for operation to complete"),
        "{}",
        res.message
    );
    assert!(
        fake.app("argocd/web").get("operation").is_none(),
        "not touched while alice's sync runs"
    );
    fake.apps.lock().unwrap().get_mut("argocd/web").unwrap()["status"]["operationState"]["phase"] =
        json!("Succeeded");
    assert_eq!(run(&fake, cfg).unwrap().status(), StepStatus::Running);
    assert_eq!(
        fake.app("argocd/web")["operation"]["info"][1]["value"],
        "p1"
    );
}

/// Disabled integration: Errored (retryable) with Kargo's message.
#[test]
fn disabled_integration_errors_with_kargos_message() {
    let err = run_step(
        &ArgoCdUpdate,
        None,
        "",
        &Map::new(),
        json!({"apps": [{"name": "web"}]}),
    )
    .unwrap_err();
    assert!(!err.terminal);
    assert_eq!(
        err.message,
        "Argo CD integration is disabled on this controller; cannot update Argo CD Application resources"
    );
    assert_eq!(ArgoCdUpdate.default_timeout(), Some(DEFAULT_TIMEOUT));
}

/// What a run of Kargo's Test_argoCDUpdater_run should give.
enum Want {
    /// A status, the Applications in the health check, and the syncs
    /// started (Events created).
    Done(StepStatus, usize, usize),
    /// An error: terminal or not, the parts of its message, and the syncs
    /// started before it.
    Error(bool, &'static [&'static str], usize),
}

/// Kargo's Test_argoCDUpdater_run as data. Kargo injects its step's
/// functions (`mustPerformUpdateFn` and the rest); here each row holds the
/// Applications whose state takes the same path, and the Fake's injected
/// error plays the failing client call.
#[test]
fn run_as_kargo() {
    let spec = || json!({"source": {"repoURL": "https://g/r"}});
    let with_status = |name: &str, status: Value| app(name, "my-web-app:prod", spec(), status);
    // An operation this Promotion started, in `phase`.
    let own = |name: &str, phase: &str, message: &str| {
        with_status(
            name,
            json!({"operationState": {"phase": phase, "message": message, "syncResult": {"revision": "r"},
                "operation": {"initiatedBy": {"username": INITIATOR}, "info": [{"name": PROMOTION_INFO, "value": "p1"}]}}}),
        )
    };
    // An operation someone else started ("" phase: none recorded).
    let foreign = |name: &str, phase: &str| {
        let mut op = json!({"operation": {"initiatedBy": {"username": "someone-else"}}});
        if !phase.is_empty() {
            op["phase"] = json!(phase);
        }
        with_status(name, json!({"operationState": op}))
    };
    let fresh = |name: &str| with_status(name, Value::Null);
    let by_name = json!({"apps": [{"name": "web"}]});
    let by_team = json!({"apps": [{"selector": {"matchLabels": {"team": "web"}}}]});
    let labelled = |mut a: Value| {
        a["metadata"]["labels"]["env"] = json!("x");
        a
    };
    use Want::*;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        &str,
        Value,
        Option<Vec<Value>>,
        Option<(&'static str, &'static str, &'static str)>,
        Want,
    )> = vec![
        (
            "argo cd integration disabled",
            by_name.clone(),
            None,
            None,
            Error(
                false,
                &["Argo CD integration is disabled on this controller"],
                0,
            ),
        ),
        (
            "error retrieving authorized application",
            by_name.clone(),
            Some(vec![fresh("web")]),
            Some(("get", "", "something went wrong")),
            Error(false, &["something went wrong"], 0),
        ),
        (
            // Kargo's mustPerformUpdate errs without a phase: another
            // user's operation that has none yet.
            "error determining if update is necessary",
            by_name.clone(),
            Some(vec![foreign("web", "")]),
            None,
            Error(
                false,
                &[
                    "current operation was initiated by \"someone-else\": waiting for operation to complete",
                ],
                0,
            ),
        ),
        (
            // Another user's finished operation: Kargo syncs anyway.
            "determination error can be solved by applying update",
            by_name.clone(),
            Some(vec![foreign("web", "Succeeded")]),
            None,
            Done(StepStatus::Running, 1, 1),
        ),
        (
            "must wait for update to complete",
            by_name.clone(),
            Some(vec![own("web", "Running", "")]),
            None,
            Done(StepStatus::Running, 1, 0),
        ),
        (
            "must wait for operation from different user to complete",
            by_name.clone(),
            Some(vec![foreign("web", "Running")]),
            None,
            Done(StepStatus::Running, 1, 0),
        ),
        (
            "error building desired sources",
            json!({"apps": [{"name": "web", "sources": [{"repoURL": "https://g/other"}]}]}),
            Some(vec![fresh("web")]),
            None,
            Error(
                false,
                &[
                    "error building desired sources for Argo CD Application",
                    "no source of",
                ],
                0,
            ),
        ),
        (
            "error applying update",
            by_name.clone(),
            Some(vec![fresh("web")]),
            Some(("patch", "", "something went wrong")),
            Error(
                false,
                &["error syncing Argo CD Application", "something went wrong"],
                0,
            ),
        ),
        (
            // Kargo's row gives no error because its fake Application has
            // no operationState; a real failed one has, and Kargo then
            // names its message, as here.
            "failed and pending update",
            json!({"apps": [{"name": "a"}, {"name": "b"}]}),
            Some(vec![fresh("a"), own("b", "Failed", "boom")]),
            None,
            Error(
                false,
                &["\"b\" in namespace \"argocd\" failed with: boom"],
                1,
            ),
        ),
        (
            "operation phase aggregation error",
            by_name.clone(),
            Some(vec![own("web", "Unknown", "")]),
            None,
            Error(
                false,
                &["could not determine promotion step status from operation phases: [Unknown]"],
                0,
            ),
        ),
        (
            "completed",
            by_name.clone(),
            Some(vec![own("web", "Succeeded", "")]),
            None,
            Done(StepStatus::Succeeded, 1, 0),
        ),
        (
            "selector returns multiple apps - all succeed",
            by_team.clone(),
            Some(vec![
                own("app1", "Succeeded", ""),
                own("app2", "Succeeded", ""),
                own("app3", "Succeeded", ""),
            ]),
            None,
            Done(StepStatus::Succeeded, 3, 0),
        ),
        (
            "selector returns multiple apps - one fails during sync",
            by_team.clone(),
            Some(vec![
                own("app1", "Succeeded", ""),
                fresh("app2"),
                fresh("app3"),
            ]),
            Some(("patch", "app2", "sync failed for app2")),
            Error(
                false,
                &[
                    "error syncing Argo CD Application",
                    "app2",
                    "sync failed for app2",
                ],
                0,
            ),
        ),
        (
            "selector returns multiple apps - mixed phases",
            by_team.clone(),
            Some(vec![
                own("app1", "Succeeded", ""),
                own("app2", "Running", ""),
                fresh("app3"),
            ]),
            None,
            Done(StepStatus::Running, 3, 1),
        ),
        (
            "validation fails - no apps updated",
            json!({"apps": [{"selector": {"matchLabels": {"team": "web"}}, "sources": [{"repoURL": "https://github.com/example/repo"}]}]}),
            Some(vec![
                app(
                    "app1",
                    "my-web-app:prod",
                    json!({"source": {"repoURL": "https://github.com/example/repo"}}),
                    Value::Null,
                ),
                fresh("app2"),
            ]),
            None,
            Error(
                false,
                &[
                    "selected Applications must have compatible sources",
                    "app2",
                    "No Applications were updated",
                ],
                0,
            ),
        ),
        (
            "selector returns multiple apps - one operation failed",
            by_team.clone(),
            Some(vec![
                own("app1", "Succeeded", ""),
                own("app2", "Failed", "deployment failed: timeout"),
            ]),
            None,
            Error(false, &["app2", "deployment failed: timeout"], 0),
        ),
        (
            "mixed name and selector updates",
            json!({"apps": [{"name": "app-by-name"}, {"selector": {"matchLabels": {"env": "x"}}}]}),
            Some(vec![
                own("app-by-name", "Succeeded", ""),
                labelled(own("app1", "Succeeded", "")),
                labelled(own("app2", "Succeeded", "")),
            ]),
            None,
            Done(StepStatus::Succeeded, 3, 0),
        ),
    ];
    assert_eq!(rows.len(), 17); // Kargo's Test_argoCDUpdater_run: 17 rows
    for (what, cfg, apps, fail, want) in rows {
        let fake = apps.map(|a| Fake {
            fail,
            ..Fake::with(a)
        });
        let got = run_step(
            &ArgoCdUpdate,
            fake.as_ref().map(|f| f as &dyn ArgoCdApps),
            "",
            &Map::new(),
            cfg,
        );
        let events = fake.as_ref().map_or(0, |f| f.events.lock().unwrap().len());
        match (got, want) {
            (Ok(res), Done(status, checked, synced)) => {
                assert_eq!(res.status(), status, "{what}: {}", res.message);
                let check = res.health_check.expect(what);
                assert_eq!(
                    check["config"]["apps"].as_array().unwrap().len(),
                    checked,
                    "{what}"
                );
                assert_eq!(
                    res.outputs["apps"].as_array().unwrap().len(),
                    checked,
                    "{what}"
                );
                assert_eq!(events, synced, "{what}");
            }
            (Err(e), Error(terminal, parts, synced)) => {
                assert_eq!(e.terminal, terminal, "{what}");
                for p in parts {
                    assert!(e.message.contains(p), "{what}: {} lacks {p}", e.message);
                }
                assert_eq!(events, synced, "{what}");
            }
            (Ok(res), _) => panic!("{what}: got {:?}: {}", res.status(), res.message),
            (Err(e), _) => panic!("{what}: got error {}", e.message),
        }
    }
}
