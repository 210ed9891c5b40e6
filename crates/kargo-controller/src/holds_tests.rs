//! Holds from Promotions' intents, a manual hold, and a release.

use super::*;
use serde_json::json;

fn stage(annotations: serde_json::Value) -> Stage {
    serde_json::from_value(json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
        "metadata": {"name": "prod", "namespace": "p", "annotations": annotations},
        "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}]},
    }))
    .unwrap()
}

/// A Promotion as the index holds it.
fn promotion(name: &str, phase: &str, intent: Option<(&str, &str)>, created: &str) -> Indexed {
    let mut ann = json!({"kargo.akuity.io/create-actor": "controller:stage-controller"});
    if let Some((k, v)) = intent {
        ann[k] = json!(v);
    }
    let p: kargo_api::Promotion = serde_json::from_value(json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
        "metadata": {"name": name, "namespace": "p", "annotations": ann, "creationTimestamp": created},
        "spec": {"stage": "prod", "freight": "f1"},
        "status": {"phase": phase},
    }))
    .unwrap();
    (
        (p.metadata.creation_timestamp.clone(), name.to_string()),
        PromotionSummary::of(&p),
    )
}

#[test]
fn intents_replay_in_order_and_a_release_clears_older_holds() {
    let s = stage(json!({}));
    let mut st = StageStatus::default();
    let hold = Some((AUTO_PROMOTION_HOLD, "Warehouse/w"));
    // In flight: effective only.
    let running = promotion("prod.01b.f1", "Running", hold, "2026-01-01T00:00:10Z");
    update(&s, &mut st, &[running], true);
    assert!(st.auto_promotion_holds.is_empty());
    assert_eq!(
        st.effective_auto_promotion_holds["Warehouse/w"].promotion_name,
        "prod.01b.f1"
    );
    // Ended: durable, with who and when; an aborted one changes nothing.
    let done = promotion("prod.01b.f1", "Succeeded", hold, "2026-01-01T00:00:10Z");
    let aborted = promotion(
        "prod.01c.f1",
        "Aborted",
        Some((AUTO_PROMOTION_RESUME, "Warehouse/w")),
        "2026-01-01T00:00:20Z",
    );
    update(&s, &mut st, &[done.clone(), aborted], true);
    let h = &st.auto_promotion_holds["Warehouse/w"];
    assert_eq!(h.actor, "controller:stage-controller");
    assert_eq!(h.created_at.as_deref(), Some("2026-01-01T00:00:10Z"));
    assert_eq!(st.effective_auto_promotion_holds, st.auto_promotion_holds);
    // A release clears holds made before it, and their Promotions no longer count.
    let released = stage(json!({AUTO_PROMOTION_RESUME: "2026-01-01T00:01:00Z"}));
    update(&released, &mut st, std::slice::from_ref(&done), true);
    assert!(st.auto_promotion_holds.is_empty() && st.effective_auto_promotion_holds.is_empty());
    // A manual hold after the release holds every origin.
    let held = stage(json!({
        AUTO_PROMOTION_RESUME: "2026-01-01T00:01:00Z",
        AUTO_PROMOTION_HOLD: "{\"reason\":\"incident\",\"actor\":\"alice\",\"at\":\"2026-01-01T00:02:00Z\"}",
    }));
    update(&held, &mut st, std::slice::from_ref(&done), true);
    assert_eq!(
        st.effective_auto_promotion_holds["Warehouse/w"].actor,
        "alice"
    );
    assert_eq!(manual(&held).unwrap().reason, "incident");
    // Auto-promotion off: holds mean nothing.
    update(&held, &mut st, &[done], false);
    assert!(st.auto_promotion_holds.is_empty() && st.effective_auto_promotion_holds.is_empty());
}
