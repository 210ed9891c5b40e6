//! `meta.k8s.io/v1` Table responses: Kargo's printer columns for
//! `kubectl get`, with kubectl's human-readable ages. Rows are written
//! straight from the stored JSON text: columns' paths are parsed once,
//! cells and `metadata` are copied as text, and nothing is re-encoded
//! through a `Value` tree.

use kargo_api::ResourceInfo;
use kargo_api::printer::{Object, Path};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// Formats a duration as Kubernetes' `HumanDuration` does (`45s`, `5m10s`, `3h`, `2d`).
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        return if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        };
    }
    if m < 180 {
        return format!("{m}m");
    }
    let h = s / 3600;
    if h < 8 {
        return if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    let d = h / 24;
    if h < 24 * 8 {
        return if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        };
    }
    if d < 365 * 2 {
        return format!("{d}d");
    }
    format!("{}y", d / 365)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameAndTime<'a> {
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(default)]
    creation_timestamp: Option<String>,
}

fn age(created: Option<&str>, now: i64) -> String {
    match created.map(str::parse::<jiff::Timestamp>) {
        Some(Ok(t)) => human_duration(now - t.as_second()),
        _ => "<unknown>".into(),
    }
}

/// Column definitions: Name, the kind's columns, Age.
pub fn column_definitions(info: &ResourceInfo) -> Value {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in info.columns {
        cols.push(json!({"name": c.name, "type": c.type_, "format": "", "description": "", "priority": c.priority}));
    }
    cols.push(json!({"name": "Age", "type": "string", "format": "", "description": "Time since the object was created.", "priority": 0}));
    Value::Array(cols)
}

/// Writes Tables of one kind.
pub struct TableWriter {
    paths: Vec<Path>,
    include_object: String,
    now: i64,
}

impl TableWriter {
    /// A writer for `info`'s columns; `include_object` is the request's
    /// `includeObject` (`None`, `Object`, else `Metadata`).
    pub fn new(info: &ResourceInfo, include_object: &str) -> Self {
        TableWriter {
            paths: info
                .columns
                .iter()
                .map(|c| Path::new(c.json_path))
                .collect(),
            include_object: include_object.to_string(),
            now: jiff::Timestamp::now().as_second(),
        }
    }

    /// Appends the row of one stored object (`{"cells":[...],"object":...}`).
    pub fn row(&self, out: &mut String, body: &str) -> serde_json::Result<()> {
        let obj = Object::parse(body)?;
        let metadata = obj.get("metadata");
        let nt = match metadata {
            Some(m) => serde_json::from_str(m.get())?,
            None => NameAndTime {
                name: None,
                creation_timestamp: None,
            },
        };
        out.push_str("{\"cells\":[");
        out.push_str(nt.name.map_or("null", RawValue::get));
        for p in &self.paths {
            out.push(',');
            out.push_str(&p.cell(&obj));
        }
        out.push(',');
        out.push_str(&Value::String(age(nt.creation_timestamp.as_deref(), self.now)).to_string());
        out.push_str("],\"object\":");
        match self.include_object.as_str() {
            "None" => out.push_str("null"),
            "Object" => out.push_str(obj.text()),
            _ => {
                out.push_str(
                    "{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":",
                );
                out.push_str(metadata.map_or("{}", RawValue::get));
                out.push('}');
            }
        }
        out.push('}');
        Ok(())
    }
}

/// A Table of stored objects (their JSON text), as JSON text.
pub fn table(
    info: &ResourceInfo,
    bodies: &[&str],
    rv: &str,
    cont: Option<&str>,
    include_object: &str,
) -> serde_json::Result<String> {
    let mut md = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        md["continue"] = json!(c);
    }
    let w = TableWriter::new(info, include_object);
    let total: usize = bodies.iter().map(|b| b.len() / 2 + 64).sum();
    let mut out = String::with_capacity(total + 1024);
    out.push_str(&format!(
        "{{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{md},\"columnDefinitions\":{},\"rows\":[",
        column_definitions(info)
    ));
    for (i, b) in bodies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        w.row(&mut out, b)?;
    }
    out.push_str("]}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{human_duration, table};
    use serde_json::{Value, json};

    #[test]
    fn rows_from_stored_text() {
        let info = kargo_api::registry::lookup_kind("kargo.akuity.io/v1alpha1", "Stage").unwrap();
        let created = jiff::Timestamp::now().as_second() - 310;
        let stage = json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": "dev", "namespace": "p", "resourceVersion": "7",
                         "creationTimestamp": jiff::Timestamp::from_second(created).unwrap().to_string()},
            "spec": {"shard": "a"},
            "status": {"freightSummary": "abc", "health": {"status": "Healthy"},
                       "conditions": [{"type": "Ready", "status": "True", "message": "ok", "reason": "R"}]}
        });
        let bare = json!({"metadata": {"name": "bare"}});
        let (a, b) = (stage.to_string(), bare.to_string());
        let t: Value =
            serde_json::from_str(&table(info, &[&a, &b], "9", Some("c"), "Metadata").unwrap())
                .unwrap();
        assert_eq!(t["kind"], "Table");
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "9", "continue": "c"})
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), info.columns.len() + 2);
        assert_eq!(names[0], "Name");
        assert_eq!(names[names.len() - 1], "Age");
        let row = &t["rows"][0];
        let cells = row["cells"].as_array().unwrap();
        assert_eq!(cells[0], "dev");
        assert_eq!(
            &cells[1..5],
            &[json!("a"), json!("abc"), json!("Healthy"), json!("True")]
        );
        assert_eq!(cells[cells.len() - 1], "5m10s");
        assert_eq!(
            row["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": stage["metadata"]})
        );
        let bare_cells = t["rows"][1]["cells"].as_array().unwrap();
        assert_eq!(bare_cells[0], "bare");
        assert_eq!(bare_cells[1], Value::Null);
        assert_eq!(bare_cells[bare_cells.len() - 1], "<unknown>");
        let whole: Value =
            serde_json::from_str(&table(info, &[&a], "9", None, "Object").unwrap()).unwrap();
        assert_eq!(whole["rows"][0]["object"], stage);
        assert!(whole["metadata"].get("continue").is_none());
        let none: Value =
            serde_json::from_str(&table(info, &[&a], "9", None, "None").unwrap()).unwrap();
        assert_eq!(none["rows"][0]["object"], Value::Null);
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(310), "5m10s");
        assert_eq!(human_duration(1200), "20m");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400), "3d");
    }
}
