//! `json-update`: sets values in a JSON file as Kargo's `json-update` does
//! with tidwall's `sjson.Set`: an existing value's bytes are replaced and
//! everything else is kept as it was; a missing key is created (at the
//! end of its object, `,"key":value`, as sjson writes it), `-1` appends to
//! an array and an index past the end pads it with `null`s.
//!
//! Keys use sjson's path syntax: parts split on `.`, `\` escapes the next
//! character, a leading `:` makes a numeric part an object key. sjson's
//! query paths (`|`, `#`, `@`, `*`, `?`) are refused here (Kargo passes
//! them to gjson's query engine; see docs/ARCHITECTURE.md).
//!
//! Values must be scalars (string, number, bool), as in Kargo; a string
//! is written as sjson writes it (Go's `json.Marshal` when it holds a
//! quote, a backslash, a control or non-ASCII character; bare quotes
//! otherwise). The file must be valid JSON.
//!
//! Output: `commitMessage`, `Updated <path>` and one `- <key>: <value>`
//! line per update (strings Go-quoted).

use std::ops::Range;

use serde_json::Value;

use super::key_updates;
use crate::step::{Step, StepContext, StepError, StepResult};
use kargo_expr::go_value::{go_print, go_quote};

/// Kargo's name.
pub const NAME: &str = "json-update";

/// The `json-update` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonUpdateStep;

/// One part of an sjson path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Part {
    name: String,
    /// `:name`: an object key even when numeric.
    force: bool,
}

impl Part {
    fn index(&self) -> Option<usize> {
        if self.force || self.name.is_empty() || !self.name.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.name.parse().ok()
    }

    fn appends(&self) -> bool {
        !self.force && self.name == "-1"
    }
}

/// Splits a path as sjson's `parsePath` does.
fn split_path(path: &str) -> Result<Vec<Part>, String> {
    if path.is_empty() {
        return Err("path cannot be empty".into());
    }
    let mut parts = Vec::new();
    let mut rest = path;
    loop {
        let mut part = Part {
            name: String::new(),
            force: false,
        };
        if let Some(r) = rest.strip_prefix(':') {
            part.force = true;
            rest = r;
        }
        let mut chars = rest.char_indices();
        let mut next = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '.' => {
                    next = Some(&rest[i + 1..]);
                    break;
                }
                '|' | '#' | '@' | '*' | '?' => {
                    return Err(format!(
                        "query paths ({c:?}) are not supported in key {path:?}"
                    ));
                }
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        part.name.push(e);
                    }
                }
                c => part.name.push(c),
            }
        }
        parts.push(part);
        match next {
            Some(r) => rest = r,
            None => return Ok(parts),
        }
    }
}

/// A string as sjson's `appendStringify` writes it.
fn stringify(s: &str) -> String {
    let must_marshal = s
        .bytes()
        .any(|b| !(b' '..=0x7f).contains(&b) || b == b'"' || b == b'\\');
    if !must_marshal {
        return format!("\"{s}\"");
    }
    // Go's json.Marshal: HTML-safe, U+2028/U+2029 escaped.
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A scalar as sjson writes it; `None` for anything else.
fn raw_value(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(s) => stringify(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            // Go's strconv.FormatFloat(f, 'f', -1, 64).
            (_, _, Some(f)) => f.to_string(),
            _ => return None,
        },
        _ => return None,
    })
}

/// Byte scanning of JSON text that is known to be valid.
mod scan {
    use std::ops::Range;

    pub fn ws(t: &[u8], mut i: usize) -> usize {
        while i < t.len() && t[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    }

    /// The end of the value starting at `i` (after white space).
    pub fn value_end(t: &[u8], i: usize) -> usize {
        match t.get(i) {
            Some(b'"') => string_end(t, i),
            Some(b'{') | Some(b'[') => {
                let mut depth = 0usize;
                let mut j = i;
                while j < t.len() {
                    match t[j] {
                        b'"' => {
                            j = string_end(t, j);
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return j + 1;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                j
            }
            _ => {
                let mut j = i;
                while j < t.len()
                    && !matches!(t[j], b',' | b'}' | b']')
                    && !t[j].is_ascii_whitespace()
                {
                    j += 1;
                }
                j
            }
        }
    }

    fn string_end(t: &[u8], i: usize) -> usize {
        let mut j = i + 1;
        while j < t.len() {
            match t[j] {
                b'\\' => j += 2,
                b'"' => return j + 1,
                _ => j += 1,
            }
        }
        j
    }

    /// Members of the object spanning `obj`: (decoded key, value span).
    pub fn members(t: &[u8], obj: Range<usize>) -> Vec<(String, Range<usize>)> {
        let mut out = Vec::new();
        let mut i = ws(t, obj.start + 1);
        while i < obj.end && t[i] == b'"' {
            let key_end = string_end(t, i);
            let key = serde_json::from_slice::<String>(&t[i..key_end]).unwrap_or_default();
            let colon = ws(t, key_end);
            let v = ws(t, colon + 1);
            let v_end = value_end(t, v);
            out.push((key, v..v_end));
            i = ws(t, v_end);
            if t.get(i) == Some(&b',') {
                i = ws(t, i + 1);
            }
        }
        out
    }

    /// Element spans of the array spanning `arr`.
    pub fn elements(t: &[u8], arr: Range<usize>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut i = ws(t, arr.start + 1);
        while i < arr.end && t[i] != b']' {
            let end = value_end(t, i);
            out.push(i..end);
            i = ws(t, end);
            if t.get(i) == Some(&b',') {
                i = ws(t, i + 1);
            }
        }
        out
    }
}

/// sjson's `appendBuild`: the text for `parts` that do not exist yet.
fn build(in_array: bool, parts: &[Part], raw: &str) -> String {
    let mut out = String::new();
    if !in_array {
        out.push_str(&stringify(&parts[0].name));
        out.push(':');
    }
    match parts.get(1) {
        Some(next) if next.index().is_some() || next.appends() => {
            out.push('[');
            out.push_str(&"null,".repeat(next.index().unwrap_or(0)));
            out.push_str(&build(true, &parts[1..], raw));
            out.push(']');
        }
        Some(_) => {
            out.push('{');
            out.push_str(&build(false, &parts[1..], raw));
            out.push('}');
        }
        None => out.push_str(raw),
    }
    out
}

/// Sets `parts` to `raw` in the JSON value spanning `span` of `text`;
/// returns the new text of that span.
fn set_in(text: &str, span: Range<usize>, parts: &[Part], raw: &str) -> Result<String, String> {
    let t = text.as_bytes();
    let here = &text[span.clone()];
    let found: Option<Range<usize>> = match t.get(span.start) {
        Some(b'{') => scan::members(t, span.clone())
            .into_iter()
            .find(|(k, _)| *k == parts[0].name)
            .map(|(_, r)| r),
        Some(b'[') => parts[0]
            .index()
            .and_then(|n| scan::elements(t, span.clone()).into_iter().nth(n)),
        _ => None,
    };
    if let Some(r) = found {
        let inner = if parts.len() > 1 {
            set_in(text, r.clone(), &parts[1..], raw)?
        } else {
            raw.to_string()
        };
        return Ok(format!(
            "{}{inner}{}",
            &text[span.start..r.start],
            &text[r.end..span.end]
        ));
    }
    // Not there: create it.
    let first = &parts[0];
    let numeric = first.index();
    let container = match here.trim_start().as_bytes().first() {
        Some(b'{') | Some(b'[') => here.to_string(),
        _ if numeric.is_some() => "[]".to_string(),
        _ => "{}".to_string(),
    };
    let c = container.as_bytes();
    let has_items = c[1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b != b'}' && *b != b']');
    if c[0] == b'{' {
        let end = container.rfind('}').unwrap_or(container.len());
        let mut out = container[..end].to_string();
        if has_items {
            out.push(',');
        }
        out.push_str(&build(false, parts, raw));
        out.push('}');
        return Ok(out);
    }
    if first.appends() {
        let trimmed = container.trim();
        let mut out = trimmed.strip_suffix(']').unwrap_or(trimmed).to_string();
        if has_items {
            out.push(',');
        }
        out.push_str(&build(true, parts, raw));
        out.push(']');
        return Ok(out);
    }
    let Some(n) = numeric else {
        return Err(format!(
            "cannot set array element for non-numeric key '{}'",
            first.name
        ));
    };
    let items: Vec<&str> = scan::elements(c, 0..c.len())
        .into_iter()
        .map(|r| &container[r])
        .collect();
    let mut out = String::from("[");
    out.push_str(&items.join(","));
    if items.is_empty() {
        out.push_str(&"null,".repeat(n));
    } else {
        out.push_str(&",null".repeat(n.saturating_sub(items.len())));
        out.push(',');
    }
    out.push_str(&build(true, parts, raw));
    out.push(']');
    Ok(out)
}

/// Applies the updates to `text` in order, Kargo's messages on failure.
pub fn set_values(text: &str, updates: &[(&str, &Value)]) -> Result<String, String> {
    let mut text = text.to_string();
    for (key, value) in updates {
        // sjson builds a new object in an empty file.
        if !text.trim().is_empty() {
            serde_json::from_str::<serde::de::IgnoredAny>(&text)
                .map_err(|e| format!("the file is not valid JSON: {e}"))?;
        }
        let raw = raw_value(value)
            .ok_or_else(|| format!("value for key {key:?} is not a scalar type"))?;
        let parts =
            split_path(key).map_err(|e| format!("error setting key {key:?} in JSON file: {e}"))?;
        let start = scan::ws(text.as_bytes(), 0);
        let end = scan::value_end(text.as_bytes(), start);
        let new = set_in(&text, start..end, &parts, &raw)
            .map_err(|e| format!("error setting key {key:?} in JSON file: {e}"))?;
        text = format!("{}{new}{}", &text[..start], &text[end..]);
    }
    Ok(text)
}

/// How the commit message shows a value: strings Go-quoted (`%q`), the
/// rest as Go's `%v`.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        other => go_print(other),
    }
}

/// `json-update` for [`key_updates::run`].
const EDITOR: key_updates::Editor = key_updates::Editor {
    step: NAME,
    set_values,
    failure: |_, e| format!("JSON file update failed: {e}"),
    show,
};

impl Step for JsonUpdateStep {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        key_updates::parse(NAME, config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        key_updates::run(ctx, &EDITOR, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::files::fixture::check_configs;
    use crate::steps::key_updates::fixture::{
        FileRow, Row, check_file_rows, check_run_rows, convert_rows,
    };
    use serde_json::{Map, json};

    fn set(text: &str, key: &str, value: Value) -> Result<String, String> {
        set_values(text, &[(key, &value)])
    }

    /// Kargo's `Test_jsonUpdater_convert` rows: every problem named at
    /// once (the rows leave other fields out, so several are refused).
    #[test]
    fn kargo_convert_table() {
        let rows = convert_rows(json!({"path": "fake-path", "updates": [
            {"key": "fake-key", "value": "fake-value"},
            {"key": "another-fake-key", "value": "another-fake-value"}]}));
        assert_eq!(rows.len(), 8); // Kargo's Test_jsonUpdater_convert: 8 rows
        check_configs(|c| key_updates::parse(NAME, c), &rows);
    }

    /// Kargo's `Test_jsonUpdater_updateValuesFile`: (name, file or none,
    /// updates, the file afterwards or a part of the error).
    #[test]
    fn kargo_update_values_file_table() {
        let formatted = "{\n\t\"key\": \"value\",\n\t\"nested\": {\n\t\t\"key1\": \"value1\",\n\t\t\"key2\": \"value2\"\n\t}\n}";
        let reformatted = formatted.replacen("\"value\"", "\"newvalue\"", 1);
        let rows: Vec<FileRow<'_>> = vec![
            (
                "successful update",
                Some(r#"{"key": "value"}"#),
                vec![("key", json!("newvalue"))],
                Ok(r#"{"key": "newvalue"}"#),
            ),
            (
                "file does not exist",
                None,
                vec![("key", json!("value"))],
                Err("no such file or directory"),
            ),
            (
                "empty changes",
                Some(r#"{"key": "value"}"#),
                vec![],
                Ok(r#"{"key": "value"}"#),
            ),
            (
                "preserve formatting after update",
                Some(formatted),
                vec![("key", json!("newvalue"))],
                Ok(&reformatted),
            ),
        ];
        assert_eq!(rows.len(), 4); // Kargo's Test_jsonUpdater_updateValuesFile: 4 rows
        check_file_rows("values.json", set_values, rows);
    }

    /// Kargo's `Test_jsonUpdater_run` (called past the schema).
    #[test]
    fn kargo_run_table() {
        let rows = [
            Row {
                name: "successful run with updates",
                file: Some((
                    "config.json",
                    "{\n\"app\": {\n\"version\": \"1.0.0\"\n},\n\"features\": {\n\"newFeature\": false\n}\n}",
                )),
                cfg: json!({"path": "config.json", "updates": [
                    {"key": "app.version", "value": "1.0.1"},
                    {"key": "features.newFeature", "value": true},
                    {"key": "threshold", "value": 100}]}),
                want: Ok(Some(
                    "Updated config.json\n\n- app.version: \"1.0.1\"\n- features.newFeature: true\n- threshold: 100",
                )),
                after: None,
                contains: &[
                    r#""version": "1.0.1""#,
                    r#""newFeature": true"#,
                    r#""threshold":100"#,
                ],
            },
            Row {
                name: "failed to update file",
                file: None,
                cfg: json!({"path": "non-existent/config.json", "updates": [
                    {"key": "app.version", "value": "1.0.1"}]}),
                want: Err("JSON file update failed"),
                after: None,
                contains: &[],
            },
            Row {
                name: "no updates provided",
                file: Some(("config.json", r#"{"app": {"version": "1.0.0"}}"#)),
                cfg: json!({"path": "config.json", "updates": []}),
                want: Ok(None),
                after: Some(r#"{"app": {"version": "1.0.0"}}"#),
                contains: &[],
            },
            Row {
                name: "handle empty JSON file",
                file: Some(("config.json", "")),
                cfg: json!({"path": "config.json", "updates": [
                    {"key": "app.version", "value": "1.0.1"}]}),
                want: Ok(Some("Updated config.json\n\n- app.version: \"1.0.1\"")),
                after: Some(r#"{"app":{"version":"1.0.1"}}"#),
                contains: &[],
            },
            Row {
                name: "add new key to JSON",
                file: Some(("config.json", r#"{"settings": {}}"#)),
                cfg: json!({"path": "config.json", "updates": [
                    {"key": "settings.newKey", "value": "added"}]}),
                want: Ok(Some("Updated config.json\n\n- settings.newKey: \"added\"")),
                after: Some(r#"{"settings": {"newKey":"added"}}"#),
                contains: &[],
            },
            Row {
                name: "update numeric value",
                file: Some(("config.json", r#"{"threshold": 10}"#)),
                cfg: json!({"path": "config.json", "updates": [{"key": "threshold", "value": 425}]}),
                want: Ok(Some("Updated config.json\n\n- threshold: 425")),
                after: Some(r#"{"threshold": 425}"#),
                contains: &[],
            },
            Row {
                name: "update boolean value to false",
                file: Some(("config.json", r#"{"features": {"existingFeature": true}}"#)),
                cfg: json!({"path": "config.json", "updates": [
                    {"key": "features.existingFeature", "value": false}]}),
                want: Ok(Some(
                    "Updated config.json\n\n- features.existingFeature: false",
                )),
                after: Some(r#"{"features": {"existingFeature": false}}"#),
                contains: &[],
            },
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_jsonUpdater_run: 7 rows
        check_run_rows(&EDITOR, &rows);
    }

    /// sjson's own behaviour, which Kargo inherits.
    #[test]
    fn sjson_set_semantics() {
        let rows: Vec<(&str, &str, Value, &str)> = vec![
            (r#"{"a":{"b":1}}"#, "a.b", json!(2), r#"{"a":{"b":2}}"#),
            (r#"{"a":1}"#, "b", json!("x"), r#"{"a":1,"b":"x"}"#),
            (
                "{\n  \"a\": 1\n}",
                "b",
                json!(true),
                "{\n  \"a\": 1\n,\"b\":true}",
            ),
            ("{}", "a.b.c", json!(1), r#"{"a":{"b":{"c":1}}}"#),
            (
                r#"{"list":[1,2]}"#,
                "list.-1",
                json!(3),
                r#"{"list":[1,2,3]}"#,
            ),
            (r#"{"list":[1,2]}"#, "list.1", json!(9), r#"{"list":[1,9]}"#),
            (
                r#"{"list":[1, 2]}"#,
                "list.4",
                json!(5),
                r#"{"list":[1,2,null,null,5]}"#,
            ),
            (
                r#"{"a":{}}"#,
                "a.items.1",
                json!("x"),
                r#"{"a":{"items":[null,"x"]}}"#,
            ),
            (r#"{"a":{}}"#, "a.:1", json!("x"), r#"{"a":{"1":"x"}}"#),
            (
                r#"{"example.com/v":"1"}"#,
                r"example\.com/v",
                json!("2"),
                r#"{"example.com/v":"2"}"#,
            ),
            (
                r#"{"img":{"tag":"v1"}}"#,
                "img.tag",
                json!("a\"b<c"),
                r#"{"img":{"tag":"a\"b\u003cc"}}"#,
            ),
            (
                r#"{"img":{"tag":"v1"}}"#,
                "img.tag",
                json!("<plain>"),
                r#"{"img":{"tag":"<plain>"}}"#,
            ),
            (r#"{"f":1}"#, "f", json!(1.5), r#"{"f":1.5}"#),
            (r#"{"s":"a,]}"}"#, "t", json!(1), r#"{"s":"a,]}","t":1}"#),
        ];
        for (text, key, value, want) in rows {
            assert_eq!(
                set(text, key, value.clone()).unwrap(),
                want,
                "{text} {key} {value}"
            );
        }
        assert!(
            set(r#"{"a":[1]}"#, "a.x", json!(1))
                .unwrap_err()
                .contains("non-numeric key 'x'")
        );
        assert!(
            set(r#"{"a":1}"#, "a", json!([1]))
                .unwrap_err()
                .contains("is not a scalar type")
        );
        assert!(
            set(r#"{"a":1}"#, "a|b", json!(1))
                .unwrap_err()
                .contains("query paths")
        );
        assert!(
            set(r#"{"a":"#, "a", json!(1))
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    /// Kargo's `Test_jsonUpdater_generateCommitMessage` rows (3: no
    /// changes, one, two), and numbers and bools as Go's `%v` prints them.
    #[test]
    fn kargo_commit_messages() {
        let u = |k: &'static str, v: Value| (k, show(&v));
        let commit_message = |path: &str, updates: &[(&'static str, String)]| {
            key_updates::commit_message(path, updates.iter().cloned())
        };
        assert_eq!(commit_message("values.json", &[]), "");
        assert_eq!(
            commit_message("values.json", &[u("image", json!("repo/image:tag1"))]),
            "Updated values.json\n\n- image: \"repo/image:tag1\""
        );
        assert_eq!(
            commit_message(
                "chart/values.json",
                &[
                    u("image1", json!("repo1/image1:tag1")),
                    u("image2", json!("repo2/image2:tag2"))
                ]
            ),
            "Updated chart/values.json\n\n- image1: \"repo1/image1:tag1\"\n- image2: \"repo2/image2:tag2\""
        );
        assert_eq!(
            commit_message("v.json", &[u("replicas", json!(3)), u("on", json!(true))]),
            "Updated v.json\n\n- replicas: 3\n- on: true"
        );
    }

    #[test]
    fn the_step_edits_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("app.json"),
            "{\n  \"image\": {\"tag\": \"1.0.0\"}\n}\n",
        )
        .unwrap();
        let run = |cfg: Value| {
            crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| {
                JsonUpdateStep.run(ctx, &cfg)
            })
        };
        let res =
            run(json!({"path": "app.json", "updates": [{"key": "image.tag", "value": "1.1.0"}]}))
                .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("app.json")).unwrap(),
            "{\n  \"image\": {\"tag\": \"1.1.0\"}\n}\n"
        );
        assert_eq!(
            res.outputs["commitMessage"],
            "Updated app.json\n\n- image.tag: \"1.1.0\""
        );
        let e = run(json!({"path": "missing.json", "updates": [{"key": "a", "value": 1}]}))
            .unwrap_err();
        assert!(!e.terminal);
        assert_eq!(
            e.message,
            "JSON file update failed: error reading file \"missing.json\": no such file or directory"
        );
        let e = run(json!({"path": "app.json", "updates": []})).unwrap_err();
        assert!(e.message.contains("updates"), "{e}");
    }
}
