//! The policy columns `kargo get stages` adds to the server's table:
//! WINDOW (closed until the next opening, or open until the next
//! closing, from `status.promotionWindowStatus`) and HOLD (the effective
//! auto-promotion holds: the reason given to `kargo hold stage`, or the
//! Promotion — a rollback — that set it, and who).

use serde_json::Value;

fn text<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// The WINDOW cell of a Stage.
pub fn window(stage: &Value) -> String {
    let Some(w) = stage.pointer("/status/promotionWindowStatus") else {
        return String::new();
    };
    if w["closed"].as_bool() == Some(true) {
        match text(w, "/nextOpen") {
            "" => "closed".into(),
            t => format!("closed until {t}"),
        }
    } else {
        match text(w, "/nextClose") {
            "" => "open".into(),
            t => format!("open until {t}"),
        }
    }
}

/// The HOLD cell of a Stage.
pub fn hold(stage: &Value) -> String {
    let manual: Value = serde_json::from_str(text(
        stage,
        "/metadata/annotations/kargo.akuity.io~1auto-promotion-hold",
    ))
    .unwrap_or(Value::Null);
    let Some(holds) = stage
        .pointer("/status/effectiveAutoPromotionHolds")
        .and_then(Value::as_object)
        .filter(|h| !h.is_empty())
    else {
        return String::new();
    };
    let mut out: Vec<String> = holds
        .values()
        .map(|h| {
            let why = match text(h, "/promotionName") {
                "" => text(&manual, "/reason").to_string(),
                p => format!("by {p}"),
            };
            match text(h, "/actor") {
                "" => why,
                a => format!("{why} ({a})"),
            }
        })
        .collect();
    out.dedup();
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_say_when_and_why() {
        let s = json!({"metadata": {"annotations": {"kargo.akuity.io/auto-promotion-hold": "{\"reason\":\"incident 42\",\"actor\":\"admin\"}"}},
            "status": {"promotionWindowStatus": {"closed": true, "reason": "x", "nextOpen": "2026-01-05T08:00:00Z"},
            "effectiveAutoPromotionHolds": {"Warehouse/w": {"actor": "admin", "freightName": "f", "origin": {"kind": "Warehouse", "name": "w"}}}}});
        assert_eq!(window(&s), "closed until 2026-01-05T08:00:00Z");
        assert_eq!(hold(&s), "incident 42 (admin)");
        let r = json!({"status": {"promotionWindowStatus": {"closed": false},
            "effectiveAutoPromotionHolds": {"Warehouse/w": {"actor": "controller:stage-controller", "promotionName": "prod.01abc.f"}}}});
        assert_eq!(window(&r), "open");
        assert_eq!(hold(&r), "by prod.01abc.f (controller:stage-controller)");
        assert_eq!(window(&json!({})), "");
        assert_eq!(hold(&json!({})), "");
    }
}
