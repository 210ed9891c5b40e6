//! Whether a piece of Freight may be promoted into a Stage, with Kargo's
//! rules: the Stage must request the Freight's origin; manual approval
//! (`approvedFor`) bypasses everything; `direct` sources take it straight
//! from the Warehouse; upstream `stages` must have verified it — every one
//! (`All`, the default here) or any one (`OneOf`) — and, with
//! `requiredSoakTime`, it must have spent that long there.

use crate::stage::{AvailabilityStrategy, FreightRequest};
use crate::validate::parse_go_duration;
use crate::{Freight, Stage};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Why Freight is not available, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAvailable(pub String);

impl std::fmt::Display for NotAvailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn seconds_between(from: &str, now_ms: i64) -> Option<f64> {
    let t: jiff::Timestamp = from.parse().ok()?;
    Some((now_ms - t.as_millisecond()) as f64 / 1000.0)
}

fn human(secs: f64) -> String {
    let s = secs.max(0.0).ceil() as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s.div_ceil(60)),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// How long Freight has soaked in `stage`: the longest completed soak, or
/// the time since it entered the Stage if it is still there, whichever is longer.
fn soaked(f: &Freight, stage: &str, now_ms: i64) -> f64 {
    let st = f.status.as_ref();
    let longest = st
        .and_then(|s| s.verified_in.get(stage))
        .and_then(|v| v.longest_soak.as_deref())
        .and_then(parse_go_duration)
        .unwrap_or(0.0);
    let current = st
        .and_then(|s| s.currently_in.get(stage))
        .and_then(|c| c.since.as_deref())
        .and_then(|s| seconds_between(s, now_ms))
        .unwrap_or(0.0);
    longest.max(current)
}

fn check_upstream(f: &Freight, up: &str, soak: Option<f64>, now_ms: i64) -> Result<(), String> {
    let verified = f
        .status
        .as_ref()
        .is_some_and(|s| s.verified_in.contains_key(up));
    if !verified {
        return Err(format!("is not verified in Stage {up:?}"));
    }
    if let Some(required) = soak {
        let have = soaked(f, up, now_ms);
        if have < required {
            return Err(format!(
                "has soaked {} of the {} required in Stage {up:?} ({} left)",
                human(have),
                human(required),
                human(required - have)
            ));
        }
    }
    Ok(())
}

/// The strategy in force. Unset means `All`: the seed's pipelines list
/// several upstream Stages to mean "verified in every one of them"
/// (`prod-us` must wait for both staging regions), and waiting for more
/// verification is the safe reading. Kargo itself defaults to `OneOf`;
/// write `availabilityStrategy: OneOf` to get that.
pub fn effective_strategy(req: &FreightRequest) -> AvailabilityStrategy {
    req.sources
        .availability_strategy
        .unwrap_or(AvailabilityStrategy::All)
}

/// The request of `stage` matching the Freight's origin, if any.
pub fn request_for<'a>(stage: &'a Stage, f: &Freight) -> Option<&'a FreightRequest> {
    stage
        .spec
        .requested_freight
        .iter()
        .find(|r| r.origin == f.origin)
}

/// Decides availability at `now_ms` (milliseconds since the epoch).
pub fn check(stage: &Stage, f: &Freight, now_ms: i64) -> Result<(), NotAvailable> {
    let sname = stage.metadata.name.as_deref().unwrap_or("");
    let fname = f
        .alias()
        .map(String::from)
        .unwrap_or_else(|| f.metadata.name.clone().unwrap_or_default());
    let Some(req) = request_for(stage, f) else {
        return Err(NotAvailable(format!(
            "Freight {fname:?} is not available to Stage {sname:?}: the Stage does not request Freight from {} {:?}",
            f.origin.kind, f.origin.name
        )));
    };
    if f.status
        .as_ref()
        .is_some_and(|s| s.approved_for.contains_key(sname))
        || req.sources.direct
    {
        return Ok(());
    }
    let soak = req
        .sources
        .required_soak_time
        .as_deref()
        .and_then(parse_go_duration);
    let results: Vec<(String, Result<(), String>)> = req
        .sources
        .stages
        .iter()
        .map(|up| (up.clone(), check_upstream(f, up, soak, now_ms)))
        .collect();
    let strategy = effective_strategy(req);
    let ok = match strategy {
        AvailabilityStrategy::OneOf => results.iter().any(|(_, r)| r.is_ok()),
        AvailabilityStrategy::All => results.iter().all(|(_, r)| r.is_ok()),
    };
    if ok {
        return Ok(());
    }
    let problems: Vec<String> = results.into_iter().filter_map(|(_, r)| r.err()).collect();
    let need = match strategy {
        AvailabilityStrategy::All => "every upstream Stage",
        AvailabilityStrategy::OneOf => "at least one upstream Stage",
    };
    Err(NotAvailable(format!(
        "Freight {fname:?} is not available to Stage {sname:?}: it must be verified in {need}, but it {}",
        and_list(&problems)
    )))
}

/// The earliest instant (ms since the epoch) at which Freight still
/// soaking in an upstream Stage of `stage` will have soaked the
/// `requiredSoakTime`: when a re-check may find it newly available. `None`
/// when no soak is pending (nothing but an event can change the answer).
pub fn soak_deadline(stage: &Stage, f: &Freight, now_ms: i64) -> Option<i64> {
    let req = request_for(stage, f)?;
    let required = req
        .sources
        .required_soak_time
        .as_deref()
        .and_then(parse_go_duration)?;
    let st = f.status.as_ref()?;
    req.sources
        .stages
        .iter()
        .filter(|up| st.verified_in.contains_key(*up) && soaked(f, up, now_ms) < required)
        .filter_map(|up| {
            let since: jiff::Timestamp = st.currently_in.get(up)?.since.as_deref()?.parse().ok()?;
            Some(since.as_millisecond() + (required * 1000.0).ceil() as i64)
        })
        .min()
}

/// The Stages whose entries in a Freight's status [`check`] and
/// [`soak_deadline`] read for `stage`: the Stage itself and every Stage it
/// takes Freight from.
fn stages_read(stage: &Stage) -> BTreeSet<&str> {
    stage
        .spec
        .requested_freight
        .iter()
        .flat_map(|r| r.sources.stages.iter().map(String::as_str))
        .chain(stage.metadata.name.as_deref())
        .collect()
}

/// A Freight object decoded with its status cut to what [`check`] and
/// [`soak_deadline`] read for `stage` (the entries of `verifiedIn`,
/// `approvedFor` and `currentlyIn` under the Stage and its upstream
/// Stages; no step metadata). A Freight verified in every Stage of a
/// long pipeline holds an entry per Stage, of which deciding one
/// Promotion needs a handful: this copies those, where decoding the whole
/// object would copy them all.
pub fn freight_for(stage: &Stage, freight: &Value) -> serde_json::Result<Freight> {
    let Some(object) = freight.as_object() else {
        return serde_json::from_value(freight.clone());
    };
    let keep = stages_read(stage);
    let cut_status = |status: &Value| -> Value {
        let Some(fields) = status.as_object() else {
            return status.clone();
        };
        let mut out = Map::new();
        for (field, entries) in fields {
            match (field.as_str(), entries.as_object()) {
                ("verifiedIn" | "approvedFor" | "currentlyIn", Some(by_stage)) => {
                    let kept = keep
                        .iter()
                        .filter_map(|s| by_stage.get(*s).map(|e| (s.to_string(), e.clone())))
                        .collect();
                    out.insert(field.clone(), Value::Object(kept));
                }
                ("metadata", _) => {}
                _ => {
                    out.insert(field.clone(), entries.clone());
                }
            }
        }
        Value::Object(out)
    };
    let cut: Map<String, Value> = object
        .iter()
        .map(|(k, v)| {
            let v = if k == "status" {
                cut_status(v)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::from_value(Value::Object(cut))
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(sources: serde_json::Value) -> Stage {
        serde_json::from_value(json!({"metadata": {"name": "prod"}, "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": sources}]}})).unwrap()
    }

    fn freight(status: serde_json::Value) -> Freight {
        serde_json::from_value(json!({"metadata": {"name": "f1", "labels": {"kargo.akuity.io/alias": "jolly-penguin"}}, "origin": {"kind": "Warehouse", "name": "w"}, "status": status})).unwrap()
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn direct_and_origin() {
        assert!(check(&stage(json!({"direct": true})), &freight(json!({})), NOW).is_ok());
        let mut f = freight(json!({}));
        f.origin.name = "other".into();
        assert!(
            check(&stage(json!({"direct": true})), &f, NOW)
                .unwrap_err()
                .0
                .contains("does not request")
        );
    }

    #[test]
    fn all_needs_every_upstream() {
        let s = stage(json!({"stages": ["us", "eu"], "availabilityStrategy": "All"}));
        let one = freight(json!({"verifiedIn": {"us": {}}}));
        let err = check(&s, &one, NOW).unwrap_err().0;
        assert_eq!(
            err,
            r#"Freight "jolly-penguin" is not available to Stage "prod": it must be verified in every upstream Stage, but it is not verified in Stage "eu""#
        );
        assert!(
            check(
                &s,
                &freight(json!({"verifiedIn": {"us": {}, "eu": {}}})),
                NOW
            )
            .is_ok()
        );
        let s = stage(json!({"stages": ["us", "eu"]}));
        assert!(
            check(&s, &one, NOW).is_err(),
            "unset means All, as the seed's prod-us expects"
        );
        let s = stage(json!({"stages": ["us", "eu"], "availabilityStrategy": "OneOf"}));
        assert!(check(&s, &one, NOW).is_ok(), "OneOf takes any one upstream");
        let err = check(&s, &freight(json!({})), NOW).unwrap_err().0;
        assert_eq!(
            err,
            r#"Freight "jolly-penguin" is not available to Stage "prod": it must be verified in at least one upstream Stage, but it is not verified in Stage "us" and is not verified in Stage "eu""#
        );
    }

    #[test]
    fn soak_and_approval() {
        let s = stage(json!({"stages": ["us"], "requiredSoakTime": "1h"}));
        let since = jiff::Timestamp::from_millisecond(NOW - 20 * 60 * 1000)
            .unwrap()
            .to_string();
        let f = freight(json!({"verifiedIn": {"us": {}}, "currentlyIn": {"us": {"since": since}}}));
        let err = check(&s, &f, NOW).unwrap_err().0;
        assert_eq!(
            soak_deadline(&s, &f, NOW),
            Some(NOW + 40 * 60 * 1000),
            "the re-check is due when the soak is met"
        );
        assert_eq!(
            err,
            r#"Freight "jolly-penguin" is not available to Stage "prod": it must be verified in every upstream Stage, but it has soaked 20m of the 60m required in Stage "us" (40m left)"#
        );
        let f = freight(json!({"verifiedIn": {"us": {"longestSoak": "2h0m0s"}}}));
        assert!(check(&s, &f, NOW).is_ok());
        assert_eq!(soak_deadline(&s, &f, NOW), None, "nothing left to wait for");
        let f = freight(json!({"approvedFor": {"prod": {}}}));
        assert!(
            check(&s, &f, NOW).is_ok(),
            "manual approval bypasses upstream and soak"
        );
    }

    #[test]
    fn the_cut_freight_decides_as_the_whole_one() {
        let since = |mins: i64| {
            jiff::Timestamp::from_millisecond(NOW - mins * 60 * 1000)
                .unwrap()
                .to_string()
        };
        let mut verified = serde_json::Map::new();
        let mut current = serde_json::Map::new();
        for i in 0..300 {
            verified.insert(format!("s{i}"), json!({"longestSoak": "5m0s"}));
            current.insert(format!("s{i}"), json!({"since": since(90)}));
        }
        let cases = [
            json!({"stages": ["s7", "s250"], "requiredSoakTime": "1h"}),
            json!({"stages": ["s7", "s250"], "requiredSoakTime": "2h"}),
            json!({"stages": ["s7", "missing"], "availabilityStrategy": "OneOf"}),
            json!({"stages": ["s7", "missing"]}),
            json!({"stages": ["missing"]}),
            json!({"direct": true}),
        ];
        for (approved, sources) in [false, true]
            .into_iter()
            .flat_map(|a| cases.iter().map(move |c| (a, c.clone())))
        {
            let s = stage(sources.clone());
            let mut status =
                json!({"verifiedIn": verified, "currentlyIn": current, "metadata": {"k": "v"}});
            if approved {
                status["approvedFor"] = json!({"prod": {}, "other": {}});
            }
            let whole = json!({"metadata": {"name": "f1", "labels": {"kargo.akuity.io/alias": "jolly-penguin"}}, "origin": {"kind": "Warehouse", "name": "w"}, "status": status});
            let full: Freight = serde_json::from_value(whole.clone()).unwrap();
            let cut = freight_for(&s, &whole).unwrap();
            assert_eq!(check(&s, &cut, NOW), check(&s, &full, NOW), "{sources}");
            assert_eq!(soak_deadline(&s, &cut, NOW), soak_deadline(&s, &full, NOW));
            assert_eq!(cut.alias(), Some("jolly-penguin"));
            let st = cut.status.unwrap_or_default();
            assert!(
                st.verified_in.len() <= 2 && st.currently_in.len() <= 2,
                "{sources}: cut to the upstream Stages"
            );
            assert!(st.metadata.is_empty());
        }
    }
}
