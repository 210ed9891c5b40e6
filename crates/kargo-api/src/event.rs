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
}
