//! Kargo's Events for what users create through the API, as Kargo's API
//! server and webhooks record them: `PromotionCreated` ("Promotion
//! created for Stage "dev" by "admin"") and `FreightCreated` ("Freight
//! created by "admin""), with the `event.kargo.akuity.io/*` annotations
//! and the user as actor. The controllers' own creations (auto-promotion,
//! discovery) record theirs. Best effort: the object is stored already.

use kargo_api::event as kev;
use kargo_rbac::UserInfo;
use kargo_store::Store;
use serde_json::Value;

/// The component Kargo's API server records Events as.
pub const COMPONENT: &str = "kargo-api";

/// Records the Event for `created` (a Promotion or Freight `user` just
/// created in `ns`); other kinds record nothing.
pub fn record_created(store: &Store, user: &UserInfo, kind: &str, ns: &str, created: &Value) {
    let actor = user.actor();
    let event = match kind {
        "Promotion" => {
            let stage = created
                .pointer("/spec/stage")
                .and_then(Value::as_str)
                .unwrap_or("");
            let freight = created
                .pointer("/spec/freight")
                .and_then(Value::as_str)
                .and_then(|f| {
                    kargo_api::lookup_kind("kargo.akuity.io/v1alpha1", "Freight").map(|i| (i, f))
                })
                .and_then(|(info, f)| store.get(info, ns, f).ok());
            let mut a = kev::common(ns, Some(&actor));
            kev::add_promotion(&mut a, created, freight.as_ref());
            let apps =
                kev::applications(created, freight.as_ref(), &kargo_expr::evaluate_to_string);
            kev::add_applications(&mut a, &apps);
            let message = format!("Promotion created for Stage {stage:?} by {actor:?}");
            kev::event(
                created,
                "Promotion",
                "PromotionCreated",
                &message,
                a,
                COMPONENT,
            )
        }
        "Freight" => {
            let mut a = kev::common(ns, Some(&actor));
            kev::add_freight(&mut a, created, "");
            let message = format!("Freight created by {actor:?}");
            kev::event(created, "Freight", "FreightCreated", &message, a, COMPONENT)
        }
        _ => return,
    };
    record(store, ns, event);
}

/// Stores `event` (built with [`kargo_api::event::event`]) and logs it.
pub fn record(store: &Store, ns: &str, event: Value) {
    let text = |p: &str| event.pointer(p).and_then(Value::as_str).unwrap_or("");
    let object = format!(
        "{}/{}",
        text("/involvedObject/kind").to_lowercase(),
        text("/involvedObject/name")
    );
    tracing::info!(namespace = %ns, %object, reason = text("/reason"), r#type = "Normal", "{}", text("/message"));
    let info = kargo_api::lookup_kind("v1", "Event").expect("registered");
    if let Err(e) = store.create(info, ns, event) {
        tracing::warn!(error = %e, "recording an Event");
    }
}
