//! The CRDs generated from the Rust types against upstream's, field by
//! field: names, scope, printer columns, subresources, and every schema
//! node's properties, type, format, required list, enum, pattern, bounds,
//! default and `x-kubernetes-*` markers (descriptions are our own words and
//! are not compared). The differences that remain are deliberate and listed
//! in docs/ARCHITECTURE.md ("CRDs generated from the Rust types"); the test
//! asserts the diff equals that list, so a regression (or a difference
//! fixed without updating the list) fails.

use kargo_api::crd::crd;
use kargo_api::lookup_kind;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

const UPSTREAM: &[(&str, &str)] = &[
    ("kargo.akuity.io_clusterconfigs.yaml", "ClusterConfig"),
    (
        "kargo.akuity.io_clusterpromotiontasks.yaml",
        "ClusterPromotionTask",
    ),
    ("kargo.akuity.io_freights.yaml", "Freight"),
    ("kargo.akuity.io_projectconfigs.yaml", "ProjectConfig"),
    ("kargo.akuity.io_projects.yaml", "Project"),
    ("kargo.akuity.io_promotionrequests.yaml", "PromotionRequest"),
    ("kargo.akuity.io_promotions.yaml", "Promotion"),
    ("kargo.akuity.io_promotiontasks.yaml", "PromotionTask"),
    ("kargo.akuity.io_stages.yaml", "Stage"),
    ("kargo.akuity.io_targets.yaml", "Target"),
    ("kargo.akuity.io_warehouses.yaml", "Warehouse"),
    ("argo-rollouts/analysis-run-crd.yaml", "AnalysisRun"),
    (
        "argo-rollouts/analysis-template-crd.yaml",
        "AnalysisTemplate",
    ),
    (
        "argo-rollouts/cluster-analysis-template-crd.yaml",
        "ClusterAnalysisTemplate",
    ),
];

/// Schema keywords compared at every node (all but descriptions and the
/// structure, which is walked).
const KEYWORDS: &[&str] = &[
    "type",
    "format",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "default",
    "nullable",
    "anyOf",
    "oneOf",
    "allOf",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];

/// A value as the diff prints it: JSON, or `{…}` for a long object (a
/// whole subschema present on one side only).
fn show(v: Option<&Value>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.is_object() && v.to_string().len() > 120 => "{…}".into(),
        Some(v) => v.to_string(),
    }
}

/// Sets compare as sets (`enum`, `required`).
fn as_set(v: Option<&Value>) -> Option<BTreeSet<String>> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(|x| x.to_string()).collect())
}

fn diff_schema(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    for k in KEYWORDS.iter().chain(&["required"]) {
        let (w, g) = (want.get(*k), got.get(*k));
        let same = if matches!(*k, "enum" | "required") {
            as_set(w) == as_set(g)
        } else {
            w == g
        };
        if !same {
            out.push(format!("{at}: {k}: upstream {}, here {}", show(w), show(g)));
        }
    }
    let empty = serde_json::Map::new();
    let wp = want
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let gp = got
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let keys: BTreeSet<&String> = wp.keys().chain(gp.keys()).collect();
    for key in keys {
        let path = format!("{at}.{key}");
        match (wp.get(key), gp.get(key)) {
            (Some(w), Some(g)) => diff_schema(w, g, &path, out),
            (Some(_), None) => out.push(format!("{path}: only upstream")),
            (None, Some(_)) => out.push(format!("{path}: only here")),
            (None, None) => {}
        }
    }
    for (k, suffix) in [("items", "[]"), ("additionalProperties", "{}")] {
        match (want.get(k), got.get(k)) {
            (Some(w), Some(g)) if w.is_object() && g.is_object() => {
                diff_schema(w, g, &format!("{at}{suffix}"), out)
            }
            (w, g) if w != g => {
                out.push(format!("{at}: {k}: upstream {}, here {}", show(w), show(g)))
            }
            _ => {}
        }
    }
}

/// Printer columns compare by name.
fn diff_columns(want: &Value, got: &Value, out: &mut Vec<String>) {
    let by_name = |v: &Value| -> Vec<(String, Value)> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["name"].as_str().unwrap_or("").to_string(), c.clone()))
            .collect()
    };
    let (w, g) = (by_name(want), by_name(got));
    let wn: Vec<&String> = w.iter().map(|c| &c.0).collect();
    let gn: Vec<&String> = g.iter().map(|c| &c.0).collect();
    if wn != gn {
        out.push(format!("columns: upstream {wn:?}, here {gn:?}"));
        return;
    }
    for ((name, wc), (_, gc)) in w.iter().zip(&g) {
        for k in ["jsonPath", "type", "priority", "description", "format"] {
            if wc.get(k) != gc.get(k) {
                out.push(format!(
                    "columns: {name}: {k}: upstream {}, here {}",
                    show(wc.get(k)),
                    show(gc.get(k))
                ));
            }
        }
    }
}

fn diff_crd(want: &Value, got: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let (ws, gs) = (&want["spec"], &got["spec"]);
    for k in ["group", "scope"] {
        if ws[k] != gs[k] {
            out.push(format!("{k}: upstream {}, here {}", ws[k], gs[k]));
        }
    }
    for k in [
        "kind",
        "listKind",
        "plural",
        "singular",
        "shortNames",
        "categories",
    ] {
        let (w, g) = (ws["names"].get(k), gs["names"].get(k));
        if w != g {
            out.push(format!("names.{k}: upstream {}, here {}", show(w), show(g)));
        }
    }
    let (wv, gv) = (&ws["versions"][0], &gs["versions"][0]);
    for k in ["name", "served", "storage", "subresources"] {
        if wv.get(k) != gv.get(k) {
            out.push(format!(
                "versions.{k}: upstream {}, here {}",
                show(wv.get(k)),
                show(gv.get(k))
            ));
        }
    }
    diff_columns(
        &wv["additionalPrinterColumns"],
        &gv["additionalPrinterColumns"],
        &mut out,
    );
    diff_schema(
        &wv["schema"]["openAPIV3Schema"],
        &gv["schema"]["openAPIV3Schema"],
        "",
        &mut out,
    );
    out
}

/// Every difference between the generated CRDs and upstream's, one line
/// each, prefixed with the kind.
fn all_differences() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/crds");
    let mut out = Vec::new();
    for (file, kind) in UPSTREAM {
        let text = std::fs::read_to_string(dir.join(file)).expect("read upstream CRD");
        let want: Value = yaml_serde::from_str(&text).expect("CRD YAML");
        let group = want["spec"]["group"].as_str().expect("group");
        let info = lookup_kind(&format!("{group}/v1alpha1"), kind).expect("served");
        let got = crd(info).unwrap_or_else(|| panic!("{kind} has no generated CRD"));
        out.extend(
            diff_crd(&want, &got)
                .into_iter()
                .map(|d| format!("{kind}: {d}")),
        );
    }
    out
}

/// One documented difference: a line, or a pattern (`*` matches any
/// text) with the number of lines it stands for (`×N`).
struct Documented {
    pattern: String,
    count: usize,
}

/// The list in docs/ARCHITECTURE.md: the bullets under the heading
/// "CRDs generated from the Rust types", each `` `LINE` `` or
/// `` `PATTERN` ×N ``.
fn documented() -> Vec<Documented> {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/ARCHITECTURE.md"),
    )
    .expect("read ARCHITECTURE.md");
    let section = doc
        .split("### CRDs generated from the Rust types")
        .nth(1)
        .expect("the section exists");
    let section = section.split("\n#").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split_once("` "))
        .map(|(code, rest)| Documented {
            pattern: code.to_string(),
            count: rest
                .strip_prefix('×')
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        })
        .collect()
}

/// `*` matches any text (including none); everything else literally.
fn glob(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || !line[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn generated_crds_differ_from_upstream_only_as_documented() {
    let got = all_differences();
    if let Ok(path) = std::env::var("KARGO_CRD_DIFF_OUT") {
        std::fs::write(path, got.join("\n")).expect("write diff");
    }
    let doc = documented();
    let mut counts = vec![0usize; doc.len()];
    let mut undocumented = Vec::new();
    for line in &got {
        match doc.iter().position(|d| glob(&d.pattern, line)) {
            Some(i) => counts[i] += 1,
            None => undocumented.push(line.as_str()),
        }
    }
    let miscounted: Vec<String> = doc
        .iter()
        .zip(&counts)
        .filter(|(d, n)| d.count != **n)
        .map(|(d, n)| format!("`{}`: documented ×{}, found ×{n}", d.pattern, d.count))
        .collect();
    assert!(
        undocumented.is_empty() && miscounted.is_empty(),
        "undocumented differences:\n{}\n\ndocumented differences that changed:\n{}",
        undocumented.join("\n"),
        miscounted.join("\n"),
    );
}

#[test]
fn patterns_match_as_documented() {
    assert!(glob("Stage: *: only here", "Stage: .spec.x: only here"));
    assert!(!glob(
        "Stage: *: only here",
        "Warehouse: .spec.x: only here"
    ));
    assert!(glob(
        "*list-type*atomic*",
        "X: .a: x-kubernetes-list-type: upstream \"atomic\", here -"
    ));
    assert!(glob("exact", "exact") && !glob("exact", "exactly"));
}

#[test]
fn the_diff_sees_a_changed_field() {
    // A guard that the comparison is not vacuous: a schema that drops a
    // property, changes a type and adds an enum value is reported thrice.
    let want = json!({"type": "object", "properties": {
        "a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "string", "enum": ["X"]}}});
    let got = json!({"type": "object", "properties": {
        "b": {"type": "string"}, "c": {"type": "string", "enum": ["X", "Y"]}}});
    let mut out = Vec::new();
    diff_schema(&want, &got, "", &mut out);
    assert_eq!(
        out,
        vec![
            r#".a: only upstream"#.to_string(),
            r#".b: type: upstream "integer", here "string""#.into(),
            r#".c: enum: upstream ["X"], here ["X","Y"]"#.into(),
        ]
    );
}
