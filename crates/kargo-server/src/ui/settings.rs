//! A project's settings page (`/ui/projects/P/settings`), as Kargo's UI
//! has one: AnalysisTemplates (the project's and the cluster's) with their
//! arguments and metrics, PromotionTasks (the project's and the cluster's)
//! with their variables and steps, repository credentials (type,
//! repository URL or pattern, description — never a username or a
//! password) and the ProjectConfig's webhook receivers with the URLs to
//! point senders at. Each section shows only what the user may `list`.

use super::model::name;
use super::view::{Tone, badge_as};
use base64::Engine;
use kargo_api::analysis::{AnalysisTemplate, ClusterAnalysisTemplate, Metric};
use kargo_api::common::ExpressionVariable;
use kargo_api::project::ProjectConfig;
use kargo_api::promotion::{ClusterPromotionTask, PromotionStep, PromotionTask};
use kargo_api::{ARGO_GROUP, KARGO_GROUP, labels};
use kargo_store::Store;
use maud::{Markup, html};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The credential types of repositories.
const CRED_TYPES: [&str; 3] = ["git", "helm", "image"];

/// What the user may list, per section.
pub(crate) struct Allowed {
    pub templates: bool,
    pub tasks: bool,
    pub secrets: bool,
    pub config: bool,
}

/// Objects of `kind` (in `ns`, or cluster-scoped when None) that decode.
fn typed<T: DeserializeOwned>(store: &Store, api: &str, kind: &str, ns: Option<&str>) -> Vec<T> {
    crate::stored(store, api, kind, ns)
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_value(v).ok())
        .collect()
}

/// One repository credential as shown: name, type, repository (URL or
/// pattern), whether it is a pattern, description.
#[derive(Debug, PartialEq)]
pub(crate) struct Credential {
    pub name: String,
    pub type_: String,
    pub repo: String,
    pub pattern: bool,
    pub description: String,
}

/// A Secret's `key` in words: `stringData` as given, `data` decoded.
fn secret_field(s: &Value, key: &str) -> String {
    if let Some(v) = s
        .pointer(&format!("/stringData/{key}"))
        .and_then(Value::as_str)
    {
        return v.to_string();
    }
    s.pointer(&format!("/data/{key}"))
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The project's repository credentials: Secrets labelled
/// `kargo.akuity.io/cred-type: git|helm|image`, read for their URL only.
pub(crate) fn credentials(secrets: &[Value]) -> Vec<Credential> {
    let mut out: Vec<Credential> = secrets
        .iter()
        .filter_map(|s| {
            let t = s
                .pointer("/metadata/labels")?
                .get(labels::CRED_TYPE)?
                .as_str()?;
            CRED_TYPES.contains(&t).then(|| Credential {
                name: s
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                type_: t.to_string(),
                repo: secret_field(s, "repoURL"),
                pattern: secret_field(s, "repoURLIsRegex") == "true",
                description: s
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(labels::DESCRIPTION))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn not_allowed(what: &str) -> Markup {
    html! { p.muted { (badge_as(Tone::Unknown, "Hidden")) " You may not list " (what) " in this project." } }
}

fn metrics(ms: &[Metric]) -> Markup {
    html! {
        table.small { thead { tr { th { "Metric" } th { "Provider" } th { "Success when" } th { "Failure when" } th { "Interval" } th { "Count" } } }
            @for m in ms { tr {
                td { (m.name) } td { (m.provider.names().join(", ")) }
                td { code { (m.success_condition) } } td { code { (m.failure_condition) } }
                td { (m.interval.clone().unwrap_or_default()) }
                td { (m.count.as_ref().map(|c| serde_json::to_value(c).map(|v| v.to_string()).unwrap_or_default()).unwrap_or_default()) }
            } } }
    }
}

fn template(scope: &str, n: &str, args: &[kargo_api::analysis::Argument], ms: &[Metric]) -> Markup {
    html! {
        details.setting data-template=(n) open {
            summary { b { (n) } " " span.small.muted { (scope) } }
            p.small { "Arguments: "
                @if args.is_empty() { span.muted { "none" } }
                @for a in args {
                    code { (a.name) } @match (&a.value, &a.value_from) {
                        (Some(v), _) => { " = " code { (v) } }
                        (None, Some(_)) => { " (from a Secret or field)" }
                        _ => { " (required)" }
                    } " "
                } }
            (metrics(ms))
        }
    }
}

fn task(scope: &str, n: &str, vars: &[ExpressionVariable], steps: &[PromotionStep]) -> Markup {
    html! {
        details.setting data-task=(n) open {
            summary { b { (n) } " " span.small.muted { (scope) } }
            @if !vars.is_empty() { p.small { "Variables: " @for v in vars { code { (v.name) } @if !v.value.is_empty() { " = " code { (v.value) } } " " } } }
            ol.steps { @for s in steps { li {
                @if !s.as_.is_empty() { span.tag { (s.as_) } " " }
                b { @if let Some(t) = &s.task { "task " (t.name) } @else { (s.uses) } }
                @if let Some(cfg) = &s.config { details { summary { "Config" } pre { (super::view::yaml(cfg)) } } }
            } } }
        }
    }
}

/// The settings page of project `ns`.
pub(crate) fn page(store: &Store, ns: &str, may: &Allowed) -> Markup {
    html! {
        h1 { "Settings of project " a href=(format!("/ui/projects/{ns}")) { (ns) } }
        nav.views aria-label="Sections" {
            a.btn href="#analysis-templates" { "AnalysisTemplates" } " "
            a.btn href="#promotion-tasks" { "PromotionTasks" } " "
            a.btn href="#credentials" { "Credentials" } " "
            a.btn href="#webhooks" { "Webhooks" }
        }
        section #analysis-templates {
            h2 { "AnalysisTemplates" }
            @if may.templates {
                @let own: Vec<AnalysisTemplate> = typed(store, "argoproj.io/v1alpha1", "AnalysisTemplate", Some(ns));
                @let shared: Vec<ClusterAnalysisTemplate> = typed(store, "argoproj.io/v1alpha1", "ClusterAnalysisTemplate", None);
                @if own.is_empty() && shared.is_empty() { p.muted { "None." } }
                @for t in &own { (template("in the project", name(&t.metadata), &t.spec.args, &t.spec.metrics)) }
                @for t in &shared { (template("cluster-wide", name(&t.metadata), &t.spec.args, &t.spec.metrics)) }
            } @else { (not_allowed("AnalysisTemplates")) }
        }
        section #promotion-tasks {
            h2 { "PromotionTasks" }
            @if may.tasks {
                @let own: Vec<PromotionTask> = typed(store, "kargo.akuity.io/v1alpha1", "PromotionTask", Some(ns));
                @let shared: Vec<ClusterPromotionTask> = typed(store, "kargo.akuity.io/v1alpha1", "ClusterPromotionTask", None);
                @if own.is_empty() && shared.is_empty() { p.muted { "None." } }
                @for t in &own { (task("in the project", name(&t.metadata), &t.spec.vars, &t.spec.steps)) }
                @for t in &shared { (task("cluster-wide", name(&t.metadata), &t.spec.vars, &t.spec.steps)) }
            } @else { (not_allowed("PromotionTasks")) }
        }
        section #credentials {
            h2 { "Repository credentials" }
            p.small.muted { "Usernames and passwords are never shown; " code { "kargo update repo-credentials" } " changes them." }
            @if may.secrets {
                @let secrets: Vec<Value> = crate::stored(store, "v1", "Secret", Some(ns)).into_iter().map(|(_, v)| v).collect();
                @let creds = credentials(&secrets);
                @if creds.is_empty() { p.muted { "None." } } @else {
                    table #credential-list { thead { tr { th { "Name" } th { "Type" } th { "Repository" } th { "Description" } } }
                        @for c in &creds { tr data-credential=(c.name) {
                            td { (c.name) } td { (c.type_) }
                            td { code { (c.repo) } @if c.pattern { " " span.tag { "pattern" } } }
                            td.small { (c.description) }
                        } } }
                }
            } @else { (not_allowed("Secrets")) }
        }
        section #webhooks {
            h2 { "Webhook receivers" }
            @if may.config {
                @let cfg: Option<ProjectConfig> = typed::<ProjectConfig>(store, "kargo.akuity.io/v1alpha1", "ProjectConfig", Some(ns)).into_iter().find(|c| name(&c.metadata) == ns);
                @let spec = cfg.as_ref().map(|c| c.spec.webhook_receivers.clone()).unwrap_or_default();
                @let status: Vec<Value> = cfg.as_ref().and_then(|c| c.status.as_ref()).map(|s| s.webhook_receivers.clone()).unwrap_or_default();
                @if spec.is_empty() { p.muted { "None: a ProjectConfig's " code { "spec.webhookReceivers" } " adds one." } } @else {
                    table #webhook-list { thead { tr { th { "Receiver" } th { "Provider" } th { "Secret" } th { "URL" } } }
                        @for r in &spec {
                            @let got = status.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(r.name.as_str()));
                            @for (provider, block) in r.providers() { tr data-receiver=(r.name) {
                                td { (r.name) } td { (provider) }
                                td.small { (block.pointer("/secretRef/name").and_then(Value::as_str).unwrap_or("")) }
                                td { @match got.and_then(|g| g.get("url")).and_then(Value::as_str).filter(|u| !u.is_empty()) {
                                    Some(u) => code.url { (u) },
                                    None => span.muted { (got.and_then(|g| g.get("message")).and_then(Value::as_str).unwrap_or("not ready yet")) },
                                } }
                            } }
                        } }
                }
            } @else { (not_allowed("the ProjectConfig")) }
        }
    }
}

/// The group of each section's resource, for the permission checks.
pub(crate) const GROUPS: [(&str, &str); 4] = [
    (ARGO_GROUP, "analysistemplates"),
    (KARGO_GROUP, "promotiontasks"),
    ("", "secrets"),
    (KARGO_GROUP, "projectconfigs"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_show_the_repository_and_never_a_secret_value() {
        let secrets = vec![
            json!({"metadata": {"name": "git-creds", "labels": {"kargo.akuity.io/cred-type": "git"},
                "annotations": {"kargo.akuity.io/description": "for the app repo"}},
                "data": {"repoURL": "aHR0cHM6Ly9naXQuZXhhbXBsZS5jb20vYXBw", "username": "dXNlcg==", "password": "czNjcjN0"}}),
            json!({"metadata": {"name": "images", "labels": {"kargo.akuity.io/cred-type": "image"}},
                "stringData": {"repoURL": "^ghcr.io/org/.*$", "repoURLIsRegex": "true", "password": "hunter2"}}),
            json!({"metadata": {"name": "other"}, "data": {"password": "eA=="}}),
        ];
        let c = credentials(&secrets);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].repo.as_str(), c[0].pattern),
            ("https://git.example.com/app", false)
        );
        assert_eq!(c[0].description, "for the app repo");
        assert_eq!((c[1].type_.as_str(), c[1].pattern), ("image", true));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("hunter2") && !shown.contains("user"),
            "{shown}"
        );
    }

    #[test]
    fn the_page_shows_templates_tasks_credentials_and_webhook_urls() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let put = |api: &str, kind: &str, ns: &str, v: Value| {
            store
                .create(kargo_api::lookup_kind(api, kind).unwrap(), ns, v)
                .unwrap();
        };
        put("v1", "Namespace", "", json!({"metadata": {"name": "p"}}));
        put(
            "argoproj.io/v1alpha1",
            "AnalysisTemplate",
            "p",
            json!({"metadata": {"name": "health", "namespace": "p"},
            "spec": {"args": [{"name": "url"}], "metrics": [{"name": "healthz", "successCondition": "result == 'ok'",
                "provider": {"web": {"url": "{{args.url}}"}}}]}}),
        );
        put(
            "kargo.akuity.io/v1alpha1",
            "PromotionTask",
            "p",
            json!({"metadata": {"name": "bump", "namespace": "p"},
            "spec": {"steps": [{"uses": "git-clone"}, {"uses": "git-push", "as": "push"}]}}),
        );
        put(
            "v1",
            "Secret",
            "p",
            json!({"metadata": {"name": "repo", "namespace": "p", "labels": {"kargo.akuity.io/cred-type": "git"}},
            "stringData": {"repoURL": "https://git.example.com/app", "password": "hunter2"}}),
        );
        put(
            "kargo.akuity.io/v1alpha1",
            "ProjectConfig",
            "p",
            json!({"metadata": {"name": "p", "namespace": "p"},
            "spec": {"webhookReceivers": [{"name": "gh", "github": {"secretRef": {"name": "hook"}}}]},
            "status": {"webhookReceivers": [{"name": "gh", "path": "/webhooks/github/abc", "url": "https://k/webhooks/github/abc"}]}}),
        );
        let all = Allowed {
            templates: true,
            tasks: true,
            secrets: true,
            config: true,
        };
        let html = page(&store, "p", &all).into_string();
        assert!(
            html.contains("data-template=\"health\"")
                && html.contains("healthz")
                && html.contains("result == 'ok'"),
            "{html}"
        );
        assert!(html.contains("<code>url</code> (required)"), "{html}");
        assert!(
            html.contains("data-task=\"bump\"") && html.contains("<span class=\"tag\">push</span>"),
            "{html}"
        );
        assert!(
            html.contains("data-credential=\"repo\"")
                && html.contains("https://git.example.com/app"),
            "{html}"
        );
        assert!(!html.contains("hunter2"), "{html}");
        assert!(
            html.contains("https://k/webhooks/github/abc") && html.contains("github"),
            "{html}"
        );
        let no_secrets = Allowed {
            secrets: false,
            ..all
        };
        let html = page(&store, "p", &no_secrets).into_string();
        assert!(
            html.contains("may not list Secrets") && !html.contains("git.example.com/app"),
            "{html}"
        );
    }
}
