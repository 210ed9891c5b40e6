//! Kubernetes Events (core `v1`) as Kargo writes them about Promotions
//! and Freight (reasons, messages and `event.kargo.akuity.io/*`
//! annotations from [`kargo_api::event`]), so `kubectl describe` and
//! anything reading Kargo's events see the same story. Each Event is also
//! logged at info level. Emitting is best effort: a failure is logged,
//! never fatal. An Event named after what it reports
//! ([`kargo_api::event::name_once`]) is written once: a second create of
//! it is a 409, taken as done.

use k8s_openapi::api::core::v1::Event;
use kargo_api::event as kev;
use kube::api::{Api, PostParams};
use serde_json::Value;

/// The component and actor name of each controller, as Kargo names them.
pub const PROMOTION_CONTROLLER: &str = "promotion-controller";
/// See [`PROMOTION_CONTROLLER`].
pub const STAGE_CONTROLLER: &str = "stage-controller";
/// See [`PROMOTION_CONTROLLER`].
pub const WAREHOUSE_CONTROLLER: &str = "warehouse-controller";

/// Records `event` (built with [`kargo_api::event::event`]).
pub async fn record(client: &kube::Client, event: Value) {
    let text = |p: &str| event.pointer(p).and_then(Value::as_str).unwrap_or("");
    let ns = text("/metadata/namespace").to_string();
    // Credentials in URLs never reach an Event or the log.
    let message = kargo_api::redact::redact(text("/message"));
    // The same story goes to the server's log (`kubectl logs -n kargo deploy/kargo-controller`).
    let object = format!(
        "{}/{}",
        text("/involvedObject/kind").to_lowercase(),
        text("/involvedObject/name")
    );
    let reason = text("/reason").to_string();
    let mut event = event;
    event["message"] = Value::String(message);
    let ev = match serde_json::from_value::<Event>(event) {
        Ok(ev) => ev,
        Err(e) => {
            tracing::debug!(error = %e, reason, "building an event");
            return;
        }
    };
    match Api::<Event>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &ev)
        .await
    {
        // The same outcome, recorded already by another reconcile.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            tracing::debug!(namespace = %ns, %object, reason, "event recorded already");
            return;
        }
        Err(e) => tracing::debug!(error = %e, reason, "recording an event"),
        Ok(_) => {}
    }
    let message = ev.message.unwrap_or_default();
    tracing::info!(namespace = %ns, %object, reason, r#type = "Normal", "{message}");
}

/// A Promotion event (`PromotionCreated`, `PromotionSucceeded`, ...)
/// with `message`, its Freight's annotations when known, and as actor
/// whoever created the Promotion, else `controller` (also for an
/// auto-promotion).
pub fn promotion(
    promotion: &Value,
    freight: Option<&Value>,
    reason: &str,
    message: &str,
    controller: &str,
) -> Value {
    let fallback = kev::controller_actor(controller);
    let project = promotion
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    // Kargo's auto-promotions carry no creator: the controller acts.
    let actor = match kev::promotion_actor(promotion, &fallback) {
        crate::stage::AUTO_ACTOR => fallback.as_str(),
        a => a,
    };
    let mut a = kev::common(project, Some(actor));
    kev::add_promotion(&mut a, promotion, freight);
    let apps = kev::applications(promotion, freight, &kargo_expr::evaluate_to_string);
    kev::add_applications(&mut a, &apps);
    kev::event(promotion, "Promotion", reason, message, a, controller)
}

/// A Freight event about `stage` with `actor`.
pub fn freight(
    freight: &Value,
    stage: &str,
    reason: &str,
    message: &str,
    actor: &str,
    controller: &str,
) -> Value {
    let project = freight
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut a = kev::common(project, Some(actor));
    kev::add_freight(&mut a, freight, stage);
    kev::event(freight, "Freight", reason, message, a, controller)
}

/// The reason Kargo gives a verification that ended in `phase`.
pub fn verification_reason(phase: &str) -> &'static str {
    match phase {
        "Successful" => "FreightVerificationSucceeded",
        "Failed" => "FreightVerificationFailed",
        "Error" => "FreightVerificationErrored",
        "Aborted" => "FreightVerificationAborted",
        "Inconclusive" => "FreightVerificationInconclusive",
        _ => "FreightVerificationUnknown",
    }
}
