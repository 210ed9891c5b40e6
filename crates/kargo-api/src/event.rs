//! Kargo's Events: the reasons, messages and `event.kargo.akuity.io/*`
//! annotations Kargo writes on core/v1 Events about Promotions and
//! Freight (`api/v1alpha1/event.go`, `pkg/event`), built from the stored
//! objects so the API server and the controllers write the same thing.
//! All are `Normal`; the reason is the event type.

use serde_json::{Map, Value, json};

/// Prefix of every Kargo event annotation.
pub const PREFIX: &str = "event.kargo.akuity.io/";
/// Who caused the event (`admin`, `kubernetes:<user>`, `controller:<name>`, ...).
pub const ACTOR: &str = "event.kargo.akuity.io/actor";
/// The project (namespace).
pub const PROJECT: &str = "event.kargo.akuity.io/project";
/// The Promotion's name (for a verification: the Promotion that started it).
pub const PROMOTION_NAME: &str = "event.kargo.akuity.io/promotion-name";
/// When the Promotion was created (RFC 3339).
pub const PROMOTION_CREATE_TIME: &str = "event.kargo.akuity.io/promotion-create-time";
/// The Freight's alias.
pub const FREIGHT_ALIAS: &str = "event.kargo.akuity.io/freight-alias";
/// The Freight's name.
pub const FREIGHT_NAME: &str = "event.kargo.akuity.io/freight-name";
/// When the Freight was discovered or created (RFC 3339).
pub const FREIGHT_CREATE_TIME: &str = "event.kargo.akuity.io/freight-create-time";
/// The Warehouse the Freight came from.
pub const FREIGHT_WAREHOUSE_NAME: &str = "event.kargo.akuity.io/freight-warehouse-name";
/// The Freight's commits (JSON).
pub const FREIGHT_COMMITS: &str = "event.kargo.akuity.io/freight-commits";
/// The Freight's images (JSON).
pub const FREIGHT_IMAGES: &str = "event.kargo.akuity.io/freight-images";
/// The Freight's charts (JSON).
pub const FREIGHT_CHARTS: &str = "event.kargo.akuity.io/freight-charts";
/// The Freight's other artifacts (JSON).
pub const FREIGHT_ARTIFACTS: &str = "event.kargo.akuity.io/freight-artifacts";
/// The Stage concerned.
pub const STAGE_NAME: &str = "event.kargo.akuity.io/stage-name";
/// The verification's AnalysisRun.
pub const ANALYSIS_RUN_NAME: &str = "event.kargo.akuity.io/analysis-run-name";
/// On `PromotionSucceeded`: whether a verification follows.
pub const VERIFICATION_PENDING: &str = "event.kargo.akuity.io/verification-pending";
/// When the verification started (RFC 3339).
pub const VERIFICATION_START_TIME: &str = "event.kargo.akuity.io/verification-start-time";
/// When the verification finished (RFC 3339).
pub const VERIFICATION_FINISH_TIME: &str = "event.kargo.akuity.io/verification-finish-time";
/// `"true"` on a Promotion that rolls back.
pub const ROLLBACK: &str = "event.kargo.akuity.io/rollback";
/// The Argo CD Applications a Promotion's `argocd-update` steps update
/// (JSON list of Go `types.NamespacedName`: `[{"Namespace":..,"Name":..}]`).
pub const APPLICATIONS: &str = "event.kargo.akuity.io/applications";

/// Where Argo CD lives when a step's app names no namespace: Kargo's
/// `argocd.Namespace()`, `ARGOCD_NAMESPACE` or `argocd`.
pub fn argocd_namespace() -> String {
    std::env::var("ARGOCD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "argocd".into())
}

/// The actor Kargo records for a controller (`controller:<name>`).
pub fn controller_actor(name: &str) -> String {
    format!("controller:{name}")
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A Kubernetes time as Go's `time.RFC3339` prints it (whole seconds).
fn rfc3339(t: &str) -> String {
    t.parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn put(out: &mut Map<String, Value>, key: &str, value: impl Into<String>) {
    out.insert(key.to_string(), Value::String(value.into()));
}

/// The project and, when known, the actor (Kargo's `Common`).
pub fn common(project: &str, actor: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    put(&mut out, PROJECT, project);
    if let Some(a) = actor.filter(|a| !a.is_empty()) {
        put(&mut out, ACTOR, a);
    }
    out
}

/// The Freight's annotations (Kargo's `Freight.MarshalAnnotationsTo`),
/// with `stage` as the Stage concerned.
pub fn add_freight(out: &mut Map<String, Value>, freight: &Value, stage: &str) {
    put(out, FREIGHT_NAME, text(freight, "/metadata/name"));
    let created = Some(text(freight, "/discoveredAt"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| text(freight, "/metadata/creationTimestamp"));
    put(out, FREIGHT_CREATE_TIME, rfc3339(created));
    put(out, STAGE_NAME, stage);
    let warehouse = text(freight, "/origin/name");
    if !warehouse.is_empty() {
        put(out, FREIGHT_WAREHOUSE_NAME, warehouse);
    }
    let alias = text(freight, "/alias");
    if !alias.is_empty() {
        put(out, FREIGHT_ALIAS, alias);
    }
    for (field, key) in [
        ("commits", FREIGHT_COMMITS),
        ("images", FREIGHT_IMAGES),
        ("charts", FREIGHT_CHARTS),
        ("artifacts", FREIGHT_ARTIFACTS),
    ] {
        if let Some(list) = freight
            .get(field)
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
        {
            put(out, key, Value::Array(list.clone()).to_string());
        }
    }
}

/// The Promotion's annotations (Kargo's `Promotion.MarshalAnnotationsTo`),
/// with its Freight's when known.
pub fn add_promotion(out: &mut Map<String, Value>, promotion: &Value, freight: Option<&Value>) {
    let stage = text(promotion, "/spec/stage");
    put(out, PROMOTION_NAME, text(promotion, "/metadata/name"));
    put(out, STAGE_NAME, stage);
    put(
        out,
        PROMOTION_CREATE_TIME,
        rfc3339(text(promotion, "/metadata/creationTimestamp")),
    );
    if let Some(f) = freight {
        add_freight(out, f, stage);
    }
    if text(promotion, "/metadata/annotations/kargo.akuity.io~1rollback") == "true" {
        put(out, ROLLBACK, "true");
    }
}

/// Evaluates one `${{ }}` template against variables (`ctx`, `vars`);
/// `None` when it fails or is not a string. Given by the caller (the
/// expression engine sits above this crate).
pub type Evaluate<'a> = &'a dyn Fn(&str, &Map<String, Value>) -> Option<String>;

/// The variables of a list of Kargo `vars` (`[{name, value}]`), each
/// evaluated in turn on top of `env`'s `vars` (Kargo's
/// `calculatePromotionVars` / `calculateStepVars`); one that fails is
/// left out.
fn with_vars(env: &Map<String, Value>, list: Option<&Value>, eval: Evaluate) -> Map<String, Value> {
    let mut env = env.clone();
    let mut vars = env
        .get("vars")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for v in list.and_then(Value::as_array).into_iter().flatten() {
        env.insert("vars".into(), Value::Object(vars.clone()));
        let (name, value) = (text(v, "/name"), text(v, "/value"));
        let evaluated = if value.contains("${") {
            eval(value, &env).map(Value::String)
        } else {
            Some(Value::String(value.to_string()))
        };
        if let Some(x) = evaluated {
            vars.insert(name.to_string(), x);
        }
    }
    env.insert("vars".into(), Value::Object(vars));
    env
}

/// The Argo CD Applications (namespace, name) a Promotion's
/// `argocd-update` steps name, as Kargo's `NewPromotionCommon` finds them:
/// templated names evaluated with `ctx` (project, promotion, stage, the
/// actor, the target Freight) and the Promotion's then the step's vars
/// (one that fails to evaluate is skipped), an empty namespace read as
/// Argo CD's, duplicates dropped, sorted by namespace then name.
pub fn applications(
    promotion: &Value,
    freight: Option<&Value>,
    eval: Evaluate,
) -> Vec<(String, String)> {
    let mut ctx = json!({
        "project": text(promotion, "/metadata/namespace"),
        "promotion": text(promotion, "/metadata/name"),
        "stage": text(promotion, "/spec/stage"),
        "meta": {"promotion": {"actor": text(promotion, "/metadata/annotations/kargo.akuity.io~1create-actor")}},
    });
    if let Some(f) = freight {
        let mut target = json!({"name": text(f, "/metadata/name")});
        let origin = text(f, "/origin/name");
        if !origin.is_empty() {
            target["origin"] = json!({"name": origin});
        }
        ctx["targetFreight"] = target;
    }
    let mut base = Map::new();
    base.insert("ctx".into(), ctx);
    let base = with_vars(&base, promotion.pointer("/spec/vars"), eval);
    let mut apps = std::collections::BTreeSet::new();
    let steps = promotion.pointer("/spec/steps").and_then(Value::as_array);
    for step in steps.into_iter().flatten() {
        if text(step, "/uses") != "argocd-update" {
            continue;
        }
        let list = step.pointer("/config/apps").and_then(Value::as_array);
        let mut step_env = None;
        for app in list.into_iter().flatten() {
            let (mut ns, mut name) = (
                text(app, "/namespace").to_string(),
                text(app, "/name").to_string(),
            );
            if ns.contains("${{") || name.contains("${{") {
                let env = step_env.get_or_insert_with(|| with_vars(&base, step.get("vars"), eval));
                // A plain string is its own value, as Kargo's templating has it.
                let value = |t: &str| {
                    if t.contains("${{") {
                        eval(t, env)
                    } else {
                        Some(t.to_string())
                    }
                };
                let (Some(n), Some(a)) = (value(&ns), value(&name)) else {
                    continue;
                };
                (ns, name) = (n, a);
            }
            if ns.is_empty() {
                ns = argocd_namespace();
            }
            apps.insert((ns, name));
        }
    }
    apps.into_iter().collect()
}

/// Adds [`APPLICATIONS`] when there are any, in Kargo's JSON.
pub fn add_applications(out: &mut Map<String, Value>, apps: &[(String, String)]) {
    if apps.is_empty() {
        return;
    }
    let list: Vec<Value> = apps
        .iter()
        .map(|(ns, name)| json!({"Namespace": ns, "Name": name}))
        .collect();
    put(out, APPLICATIONS, Value::Array(list).to_string());
}

/// Names `event` after what it reports (`parts`: e.g. the verification
/// and its outcome) rather than the clock, so recording the same outcome
/// twice (two reconciles seeing one transition) is a 409, not a second
/// Event: `<object>.<16 hex digits of SHA-1 of the parts>`.
pub fn name_once(event: &mut Value, parts: &[&str]) {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = hex::encode(h.finalize());
    let object: String = text(event, "/involvedObject/name")
        .chars()
        .take(236)
        .collect();
    event["metadata"]["name"] = Value::String(format!("{object}.{}", &digest[..16]));
}

/// The actor of a Promotion event: who created the Promotion when known
/// (Kargo prefers its `kargo.akuity.io/create-actor`), else `fallback`.
pub fn promotion_actor<'a>(promotion: &'a Value, fallback: &'a str) -> &'a str {
    Some(text(
        promotion,
        "/metadata/annotations/kargo.akuity.io~1create-actor",
    ))
    .filter(|a| !a.is_empty())
    .unwrap_or(fallback)
}

/// A core/v1 Event about `object` (a Promotion or Freight in its
/// project), named as client-go's recorder names them.
pub fn event(
    object: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    annotations: Map<String, Value>,
    component: &str,
) -> Value {
    let name = text(object, "/metadata/name");
    let ns = text(object, "/metadata/namespace");
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {
            "name": format!("{name}.{:x}", now.as_nanosecond()),
            "namespace": ns,
            "annotations": annotations,
        },
        "involvedObject": {
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": kind, "name": name,
            "namespace": ns, "uid": text(object, "/metadata/uid"),
        },
        "reason": reason,
        "message": message,
        "type": "Normal",
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        "source": {"component": component},
        "reportingComponent": component,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_annotations_are_kargos() {
        let promotion = json!({"metadata": {"name": "dev.01j.abc1234", "namespace": "p",
            "creationTimestamp": "2026-01-02T03:04:05.123456Z",
            "annotations": {"kargo.akuity.io/create-actor": "admin"}},
            "spec": {"stage": "dev", "freight": "abc"}});
        let freight = json!({"metadata": {"name": "abc", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "alias": "wise-owl", "origin": {"kind": "Warehouse", "name": "app"},
            "commits": [{"repoURL": "https://git.example/app", "id": "f00"}]});
        let mut a = common("p", Some(promotion_actor(&promotion, "controller:x")));
        add_promotion(&mut a, &promotion, Some(&freight));
        let want = json!({
            ACTOR: "admin", PROJECT: "p", PROMOTION_NAME: "dev.01j.abc1234", STAGE_NAME: "dev",
            PROMOTION_CREATE_TIME: "2026-01-02T03:04:05Z", FREIGHT_NAME: "abc",
            FREIGHT_CREATE_TIME: "2026-01-01T00:00:00Z", FREIGHT_WAREHOUSE_NAME: "app",
            FREIGHT_ALIAS: "wise-owl",
            FREIGHT_COMMITS: r#"[{"repoURL":"https://git.example/app","id":"f00"}]"#,
        });
        assert_eq!(Value::Object(a), want);
    }

    #[test]
    fn applications_are_kargos_sorted_and_deduplicated() {
        let promotion = json!({"metadata": {"name": "dev.01j.abc", "namespace": "p"},
            "spec": {"stage": "dev", "vars": [{"name": "env", "value": "dev"}], "steps": [
                {"uses": "argocd-update", "config": {"apps": [{"name": "web-dev"}, {"namespace": "ops", "name": "a"}]}},
                {"uses": "argocd-update", "vars": [{"name": "suffix", "value": "x"}],
                 "config": {"apps": [{"name": "${{ ctx.stage }}-${{ vars.suffix }}"}, {"name": "web-dev"}]}},
                {"uses": "argocd-update", "config": {"apps": [{"name": "${{ broken"}]}},
                {"uses": "git-clone", "config": {"apps": [{"name": "not-an-app"}]}}]}});
        // A stand-in for the expression engine: two known templates.
        let eval = |t: &str, env: &Map<String, Value>| match t {
            "${{ ctx.stage }}-${{ vars.suffix }}" => Some(format!(
                "{}-{}",
                env["ctx"]["stage"].as_str()?,
                env["vars"]["suffix"].as_str()?
            )),
            _ => None,
        };
        let apps = applications(&promotion, None, &eval);
        let mut a = Map::new();
        add_applications(&mut a, &apps);
        assert_eq!(
            a[APPLICATIONS],
            r#"[{"Namespace":"argocd","Name":"dev-x"},{"Namespace":"argocd","Name":"web-dev"},{"Namespace":"ops","Name":"a"}]"#
        );
    }
}
