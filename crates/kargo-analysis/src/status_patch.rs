//! The write a reconcile step needs: a JSON patch (RFC 6902) from the
//! status the step read to the status it produced, proportional to the
//! change — a measurement appended (and the oldest dropped by retention)
//! is one `add` (and one `remove`), a changed counter one `replace` —
//! guarded by `test` ops on each changed metric's `count`, so a step that
//! read a stale status fails instead of appending twice.

use kargo_api::analysis::AnalysisRunStatus;
use serde_json::{Value, json};

/// Escapes one JSON pointer token.
fn token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Ops turning `old` into `new` at `path`.
fn diff(path: &str, old: &Value, new: &Value, ops: &mut Vec<Value>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                ops.push(json!({"op": "remove", "path": format!("{path}/{}", token(k))}));
            }
            for (k, vb) in b {
                let p = format!("{path}/{}", token(k));
                match a.get(k) {
                    Some(va) => diff(&p, va, vb, ops),
                    None => ops.push(json!({"op": "add", "path": p, "value": vb})),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            // The oldest entries dropped and new ones appended (a log
            // with retention): removes at the front, adds at the end.
            let shifted = (0..=a.len()).find(|&s| {
                let kept = &a[s..];
                kept.len() <= b.len() && b[..kept.len()] == *kept
            });
            match shifted {
                Some(s) if s < a.len() || a.is_empty() => {
                    for _ in 0..s {
                        ops.push(json!({"op": "remove", "path": format!("{path}/0")}));
                    }
                    for v in &b[a.len() - s..] {
                        ops.push(json!({"op": "add", "path": format!("{path}/-"), "value": v}));
                    }
                }
                _ if a.len() == b.len() => {
                    for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                        diff(&format!("{path}/{i}"), va, vb, ops);
                    }
                }
                _ => ops.push(json!({"op": "replace", "path": path, "value": new})),
            }
        }
        _ => ops.push(json!({"op": "replace", "path": path, "value": new})),
    }
}

/// A JSON patch from `old` to `new` for an object's `/status`; empty when
/// nothing changed.
pub fn status_patch(old: &AnalysisRunStatus, new: &AnalysisRunStatus) -> Vec<Value> {
    let (a, b) = (
        serde_json::to_value(old).unwrap_or(Value::Null),
        serde_json::to_value(new).unwrap_or(Value::Null),
    );
    if a == b {
        return Vec::new();
    }
    let mut ops = Vec::new();
    if !a.is_object() || a.as_object().is_some_and(|m| m.is_empty()) {
        // No status yet: one add of the whole status.
        ops.push(json!({"op": "add", "path": "/status", "value": b}));
        return ops;
    }
    // Guard every changed metric result with the count it was read at.
    for (i, m) in old.metric_results.iter().enumerate() {
        let changed = new
            .metric_results
            .get(i)
            .is_none_or(|n| n.name != m.name || n != m);
        if changed {
            ops.push(json!({"op": "test", "path": format!("/status/metricResults/{i}/count"), "value": m.count}));
        }
    }
    diff("/status", &a, &b, &mut ops);
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use kargo_api::analysis::{Measurement, MetricResult};

    fn apply(doc: &mut Value, ops: &[Value]) {
        for op in ops {
            let path = op["path"].as_str().unwrap();
            let (parent, last) = path.rsplit_once('/').unwrap();
            let last = last.replace("~1", "/").replace("~0", "~");
            let target = doc.pointer_mut(parent).unwrap();
            match op["op"].as_str().unwrap() {
                "test" => assert_eq!(doc.pointer(path).unwrap(), &op["value"]),
                "remove" => match target {
                    Value::Array(a) => {
                        a.remove(last.parse().unwrap());
                    }
                    Value::Object(m) => {
                        m.shift_remove(&last);
                    }
                    _ => panic!("remove from a scalar"),
                },
                "add" | "replace" => match target {
                    Value::Array(a) if last == "-" => a.push(op["value"].clone()),
                    Value::Array(a) => a[last.parse::<usize>().unwrap()] = op["value"].clone(),
                    Value::Object(m) => {
                        m.insert(last, op["value"].clone());
                    }
                    _ => panic!("add to a scalar"),
                },
                other => panic!("op {other}"),
            }
        }
    }

    fn measurement(i: i32) -> Measurement {
        Measurement {
            phase: "Successful".into(),
            value: format!("{i}"),
            ..Default::default()
        }
    }

    fn status(count: i32, kept: std::ops::Range<i32>) -> AnalysisRunStatus {
        AnalysisRunStatus {
            phase: "Running".into(),
            metric_results: vec![
                MetricResult {
                    name: "up".into(),
                    phase: "Running".into(),
                    count,
                    successful: count,
                    measurements: kept.map(measurement).collect(),
                    ..Default::default()
                },
                MetricResult {
                    name: "other".into(),
                    phase: "Running".into(),
                    count: 3,
                    measurements: (0..3).map(measurement).collect(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_measurement_is_an_append_and_its_counters() {
        let (old, new) = (status(4, 0..4), status(5, 0..5));
        let ops = status_patch(&old, &new);
        let mut doc = json!({"status": old});
        apply(&mut doc, &ops);
        assert_eq!(doc["status"], serde_json::to_value(&new).unwrap());
        let kinds: Vec<(&str, &str)> = ops
            .iter()
            .map(|o| (o["op"].as_str().unwrap(), o["path"].as_str().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("test", "/status/metricResults/0/count"),
                ("add", "/status/metricResults/0/measurements/-"),
                ("replace", "/status/metricResults/0/count"),
                ("replace", "/status/metricResults/0/successful"),
            ]
        );
        // Nothing of the other metric is sent.
        assert!(!serde_json::to_string(&ops).unwrap().contains("other"));
    }

    #[test]
    fn retention_drops_from_the_front() {
        let (old, new) = (status(10, 0..10), status(11, 1..11));
        let ops = status_patch(&old, &new);
        let mut doc = json!({"status": old});
        apply(&mut doc, &ops);
        assert_eq!(doc["status"], serde_json::to_value(&new).unwrap());
        assert_eq!(ops.len(), 5, "{ops:?}");
    }

    #[test]
    fn first_status_and_no_change() {
        let new = status(1, 0..1);
        let ops = status_patch(&AnalysisRunStatus::default(), &new);
        assert_eq!(ops, [json!({"op": "add", "path": "/status", "value": new})]);
        assert!(status_patch(&new, &new).is_empty());
        // Completion: phase, message and times change; each is one op.
        let mut done = new.clone();
        done.phase = "Successful".into();
        done.completed_at = Some("2026-01-01T00:00:00Z".into());
        let ops = status_patch(&new, &done);
        let mut doc = json!({"status": new});
        apply(&mut doc, &ops);
        assert_eq!(doc["status"], serde_json::to_value(&done).unwrap());
        assert_eq!(ops.len(), 2, "{ops:?}");
    }
}
