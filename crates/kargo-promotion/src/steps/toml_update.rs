//! `toml-update`: sets the values of existing scalar keys in a TOML file,
//! as Kargo's `toml.SetValuesInFile` does: only the bytes of each value
//! change, so comments, blank lines, key order and quoting elsewhere are
//! kept.
//!
//! Config (Kargo's): `path` + `updates: [{key, value}]`. Keys use Kargo's
//! sjson syntax ([`super::sjson_key`]): `package.version`, `values.1`
//! (an array item), `services.1.port` (the second `[[services]]` table),
//! `example\.com/version`. A key must exist and name a scalar (a string,
//! number, bool or date); a table or array is refused with its kind, as
//! Kargo names it. Values must be scalars and are written as go-toml
//! writes them: a string as a literal string (`'2.0.0'`) unless it holds
//! a `'`, a line break or a control character (then a basic string with
//! escapes), a whole number as an integer.
//!
//! Output: `commitMessage`, `Updated <path>` and one `- <key>: <value>`
//! line per update, the value as written to the file.

use std::ops::Range;

use serde_json::Value;
use toml_edit::{Item, Table};

use super::key_updates;
use super::sjson_key::split_key;
use crate::step::{Step, StepContext, StepError, StepResult};

/// Kargo's name.
pub const NAME: &str = "toml-update";

/// The `toml-update` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct TomlUpdateStep;

/// What a key path leads to.
enum Target {
    /// A scalar value at these bytes.
    Scalar(Range<usize>),
    /// Something else, named as Kargo names it (`Table`, `Array`, ...).
    Other(&'static str),
    /// Nothing.
    Missing,
}

fn in_table(table: &Table, parts: &[String]) -> Target {
    let Some((first, rest)) = parts.split_first() else {
        return Target::Other("Table");
    };
    match table.get(first) {
        Some(item) => in_item(item, rest),
        None => Target::Missing,
    }
}

fn in_item(item: &Item, parts: &[String]) -> Target {
    match item {
        Item::None => Target::Missing,
        Item::Table(t) => in_table(t, parts),
        Item::ArrayOfTables(a) => {
            let Some((first, rest)) = parts.split_first() else {
                return Target::Other("ArrayTable");
            };
            match first.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(_) if rest.is_empty() => Target::Other("ArrayTable"),
                Some(t) => in_table(t, rest),
                None => Target::Missing,
            }
        }
        Item::Value(v) => in_value(v, parts),
    }
}

fn in_value(value: &toml_edit::Value, parts: &[String]) -> Target {
    use toml_edit::Value as V;
    let Some((first, rest)) = parts.split_first() else {
        return match value {
            V::Array(_) => Target::Other("Array"),
            V::InlineTable(_) => Target::Other("InlineTable"),
            scalar => match scalar.span() {
                Some(span) => Target::Scalar(span),
                None => Target::Missing,
            },
        };
    };
    match value {
        V::Array(a) => match first.parse::<usize>().ok().and_then(|i| a.get(i)) {
            Some(v) => in_value(v, rest),
            None => Target::Missing,
        },
        V::InlineTable(t) => match t.get(first) {
            Some(v) => in_value(v, rest),
            None => Target::Missing,
        },
        _ => Target::Missing,
    }
}

/// A JSON scalar written as go-toml writes it; `None` for anything else.
pub fn format_value(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(s) => format_string(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => format_float(f),
            _ => return None,
        },
        _ => return None,
    })
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// go-toml's choice: a literal string when nothing in it needs escaping.
fn format_string(s: &str) -> String {
    let needs_quoting = s
        .bytes()
        .any(|b| b == b'\'' || b == b'\r' || b == b'\n' || (b < 0x20 && b != b'\t') || b == 0x7f);
    if !needs_quoting {
        return format!("'{s}'");
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Applies `updates` to `text`, Kargo's errors word for word.
pub fn set_values(text: &str, updates: &[(&str, &Value)]) -> Result<String, String> {
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        format!(
            "error parsing input: {}",
            e.to_string().trim_end().replace('\n', " ")
        )
    })?;
    // The last update of a key wins, as in Kargo.
    let mut changes: Vec<(Range<usize>, String)> = Vec::new();
    for (key, value) in updates {
        let parts = split_key(key).map_err(|e| format!("error splitting key {key}: {e}"))?;
        let span = match in_table(doc.as_table(), &parts) {
            Target::Scalar(span) => span,
            Target::Other(kind) => {
                return Err(format!(
                    "error finding key {key}: key path addresses {kind} instead of a scalar node"
                ));
            }
            Target::Missing => {
                return Err(format!("error finding key {key}: key path not found"));
            }
        };
        let replacement = format_value(value).ok_or_else(|| {
            format!("error formatting value for key {key}: value is not a TOML scalar type")
        })?;
        changes.retain(|(r, _)| *r != span);
        changes.push((span, replacement));
    }
    changes.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for (range, replacement) in changes {
        out.replace_range(range, &replacement);
    }
    Ok(out)
}

/// How the commit message shows a value: as written to the file.
fn show(value: &Value) -> String {
    format_value(value).unwrap_or_else(|| kargo_expr::go_value::go_print(value))
}

/// `toml-update` for [`key_updates::run`].
const EDITOR: key_updates::Editor = key_updates::Editor {
    step: NAME,
    set_values,
    failure: |path, e| format!("TOML file update failed: error updating TOML file {path:?}: {e}"),
    show,
};

impl Step for TomlUpdateStep {
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

    /// Kargo's `TestSetValuesInBytes` (pkg/toml/toml_test.go), row for row:
    /// (name, input, updates as JSON, expected output or error substring).
    const SET_VALUES: &[(&str, &str, &str, Result<&str, &str>)] = &[
        ("invalid TOML", "key = \n", "[]", Err("error parsing input")),
        (
            "missing key",
            "title = \"old\"\n",
            r#"[["missing","new"]]"#,
            Err("key path not found"),
        ),
        (
            "non scalar target",
            "[service]\nname = \"api\"\n",
            r#"[["service","other"]]"#,
            Err("addresses Table instead of a scalar node"),
        ),
        (
            "unsupported value type",
            "title = \"old\"\n",
            r#"[["title",["a","b"]]]"#,
            Err("value is not a TOML scalar type"),
        ),
        (
            "updates scalar value",
            "title = \"old\"\nactive = true\n",
            r#"[["title","new"]]"#,
            Ok("title = 'new'\nactive = true\n"),
        ),
        (
            "updates escaped dot key",
            "\"example.com/version\" = \"1.0.0\"\n",
            r#"[["example\\.com/version","2.0.0"]]"#,
            Ok("\"example.com/version\" = '2.0.0'\n"),
        ),
        (
            "updates scalar under table header",
            "[package]\nversion = \"1.0.0\"\n",
            r#"[["package.version","2.0.0"]]"#,
            Ok("[package]\nversion = '2.0.0'\n"),
        ),
        (
            "updates scalar under nested table header",
            "[a.b]\nc = 1\n",
            r#"[["a.b.c",99]]"#,
            Ok("[a.b]\nc = 99\n"),
        ),
        (
            "updates scalar under table header that follows other expressions",
            "threshold = 1\n\n[features]\nenabled = false\n",
            r#"[["features.enabled",true]]"#,
            Ok("threshold = 1\n\n[features]\nenabled = true\n"),
        ),
        (
            "updates array item",
            "values = [1, 2, 3]\n",
            r#"[["values.1",42]]"#,
            Ok("values = [1, 42, 3]\n"),
        ),
        (
            "updates inline table item",
            "service = { name = \"api\", port = 8080 }\n",
            r#"[["service.port",9090]]"#,
            Ok("service = { name = \"api\", port = 9090 }\n"),
        ),
        (
            "updates array table item",
            "[[services]]\nname = \"api\"\nport = 8080\n\n[[services]]\nname = \"web\"\nport = 8081\n",
            r#"[["services.1.port",9090]]"#,
            Ok(
                "[[services]]\nname = \"api\"\nport = 8080\n\n[[services]]\nname = \"web\"\nport = 9090\n",
            ),
        ),
        (
            "preserves inline comments around updated value",
            "title = \"old\" # keep me\nactive = true\n",
            r#"[["title","new"]]"#,
            Ok("title = 'new' # keep me\nactive = true\n"),
        ),
        (
            "preserves standalone comment lines",
            "# header comment\nv = 1\n# footer comment\n",
            r#"[["v",2]]"#,
            Ok("# header comment\nv = 2\n# footer comment\n"),
        ),
        (
            "preserves blank lines between sections",
            "[a]\nx = 1\n\n\n[b]\ny = 2\n",
            r#"[["b.y",99]]"#,
            Ok("[a]\nx = 1\n\n\n[b]\ny = 99\n"),
        ),
        (
            "value grows in length",
            "v = 1\nother = true\n",
            r#"[["v",99999]]"#,
            Ok("v = 99999\nother = true\n"),
        ),
        (
            "value shrinks in length",
            "v = 99999\nother = true\n",
            r#"[["v",1]]"#,
            Ok("v = 1\nother = true\n"),
        ),
        (
            "multiple updates to different top-level keys",
            "a = 1\nb = 2\nc = 3\n",
            r#"[["a",10],["c",30]]"#,
            Ok("a = 10\nb = 2\nc = 30\n"),
        ),
        (
            "multiple updates across top-level and table-scoped keys",
            "threshold = 1\n\n[package]\nversion = \"1.0.0\"\n\n[features]\nenabled = false\n",
            r#"[["threshold",100],["package.version","2.0.0"],["features.enabled",true]]"#,
            Ok("threshold = 100\n\n[package]\nversion = '2.0.0'\n\n[features]\nenabled = true\n"),
        ),
        (
            "multiple updates within same table",
            "[server]\nhost = \"localhost\"\nport = 8080\n",
            r#"[["server.host","0.0.0.0"],["server.port",9090]]"#,
            Ok("[server]\nhost = '0.0.0.0'\nport = 9090\n"),
        ),
        (
            "duplicate key in updates uses last value",
            "v = 1\n",
            r#"[["v",2],["v",3]]"#,
            Ok("v = 3\n"),
        ),
        (
            "no updates returns input unchanged",
            "title = \"hello\"\n",
            "[]",
            Ok("title = \"hello\"\n"),
        ),
    ];

    #[test]
    fn kargo_set_values_table() {
        assert_eq!(
            SET_VALUES.len(),
            22,
            "rows of upstream TestSetValuesInBytes"
        );
        for (name, input, updates, expected) in SET_VALUES {
            let updates: Vec<(String, Value)> = serde_json::from_str(updates).unwrap();
            let edits: Vec<(&str, &Value)> = updates.iter().map(|(k, v)| (k.as_str(), v)).collect();
            match (set_values(input, &edits), expected) {
                (Ok(out), Ok(want)) => assert_eq!(&out, want, "{name}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn values_print_as_go_toml_prints_them() {
        // Kargo's TestFormatValueString, and the quoting rules.
        assert_eq!(format_value(&json!("value")).unwrap(), "'value'");
        assert_eq!(format_value(&json!(42)).unwrap(), "42");
        assert_eq!(format_value(&json!(true)).unwrap(), "true");
        assert_eq!(format_value(&json!("it's")).unwrap(), r#""it's""#);
        assert_eq!(format_value(&json!("a\nb\"c")).unwrap(), r#""a\nb\"c""#);
        assert_eq!(format_value(&json!(1.5)).unwrap(), "1.5");
        assert_eq!(format_value(&json!(2.0)).unwrap(), "2.0");
        assert!(format_value(&json!(null)).is_none());
        assert!(format_value(&json!({"a": 1})).is_none());
    }

    /// Kargo's `Test_tomlUpdater_convert` rows (the same as
    /// json-update's: one config type).
    #[test]
    fn kargo_convert_table() {
        let rows = convert_rows(json!({"path": "fake-path", "updates": [
            {"key": "package.version", "value": "1.2.3"},
            {"key": "features.enabled", "value": true}]}));
        assert_eq!(rows.len(), 8); // Kargo's Test_tomlUpdater_convert: 8 rows
        check_configs(|c| key_updates::parse(NAME, c), &rows);
    }

    /// Kargo's `Test_tomlUpdater_run` (called past the schema).
    #[test]
    fn kargo_run_table() {
        let rows = [
            Row {
                name: "successful run with updates",
                file: Some((
                    "config.toml",
                    "threshold = 1\n\n[package]\nversion = \"1.0.0\"\n\n[features]\nnewFeature = false\n",
                )),
                cfg: json!({"path": "config.toml", "updates": [
                    {"key": "package.version", "value": "1.0.1"},
                    {"key": "features.newFeature", "value": true},
                    {"key": "threshold", "value": 100}]}),
                want: Ok(Some(
                    "Updated config.toml\n\n- package.version: '1.0.1'\n- features.newFeature: true\n- threshold: 100",
                )),
                after: None,
                contains: &["version = '1.0.1'", "newFeature = true", "threshold = 100"],
            },
            Row {
                name: "failed to update file",
                file: None,
                cfg: json!({"path": "non-existent/config.toml", "updates": [
                    {"key": "package.version", "value": "1.0.1"}]}),
                want: Err("TOML file update failed"),
                after: None,
                contains: &[],
            },
            Row {
                name: "no updates provided",
                file: Some(("config.toml", "[package]\nversion = \"1.0.0\"\n")),
                cfg: json!({"path": "config.toml", "updates": []}),
                want: Ok(None),
                after: Some("[package]\nversion = \"1.0.0\"\n"),
                contains: &[],
            },
        ];
        assert_eq!(rows.len(), 3); // Kargo's Test_tomlUpdater_run: 3 rows
        check_run_rows(&EDITOR, &rows);
    }

    /// Kargo's `Test_tomlUpdater_updateFile`: (name, file or none,
    /// updates, the file afterwards or a part of the error).
    #[test]
    fn kargo_update_file_table() {
        let rows: Vec<FileRow<'_>> = vec![
            (
                "successful update",
                Some("title = \"value\"\n"),
                vec![("title", json!("newvalue"))],
                Ok("title = 'newvalue'\n"),
            ),
            (
                "file does not exist",
                None,
                vec![("title", json!("value"))],
                Err("no such file or directory"),
            ),
            (
                "empty changes",
                Some("title = \"value\"\n"),
                vec![],
                Ok("title = \"value\"\n"),
            ),
        ];
        assert_eq!(rows.len(), 3); // Kargo's Test_tomlUpdater_updateFile: 3 rows
        check_file_rows("values.toml", set_values, rows);
    }

    /// Kargo's `Test_tomlUpdater_generateCommitMessage` rows.
    #[test]
    fn kargo_commit_messages() {
        let message = |path: &str, updates: &[(&'static str, Value)]| {
            key_updates::commit_message(path, updates.iter().map(|(k, v)| (*k, show(v))))
        };
        type MessageRow = (&'static str, Vec<(&'static str, Value)>, &'static str);
        let rows: [MessageRow; 3] = [
            ("values.toml", vec![], ""),
            (
                "values.toml",
                vec![("package.version", json!("1.2.3"))],
                "Updated values.toml\n\n- package.version: '1.2.3'",
            ),
            (
                "Cargo.toml",
                vec![
                    ("package.version", json!("1.2.3")),
                    ("features.enabled", json!(true)),
                    ("threshold", json!(42)),
                ],
                "Updated Cargo.toml\n\n- package.version: '1.2.3'\n- features.enabled: true\n- threshold: 42",
            ),
        ];
        assert_eq!(rows.len(), 3); // Kargo's Test_tomlUpdater_generateCommitMessage: 3 rows
        for (path, updates, want) in rows {
            assert_eq!(message(path, &updates), want, "{path}");
        }
    }

    #[test]
    fn the_step_edits_the_file_and_reports_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Cargo.toml");
        std::fs::write(
            &file,
            "# the app\n[package]\nversion = \"1.0.0\" # bumped by Kargo\n",
        )
        .unwrap();
        let cfg = json!({"path": "Cargo.toml", "updates": [{"key": "package.version", "value": "1.1.0"}]});
        let res = crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| {
            TomlUpdateStep.run(ctx, &cfg)
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "# the app\n[package]\nversion = '1.1.0' # bumped by Kargo\n"
        );
        assert_eq!(
            res.outputs["commitMessage"],
            "Updated Cargo.toml\n\n- package.version: '1.1.0'"
        );
        let missing =
            json!({"path": "Cargo.toml", "updates": [{"key": "package.name", "value": "x"}]});
        let e = crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| {
            TomlUpdateStep.run(ctx, &missing)
        })
        .unwrap_err();
        assert!(!e.terminal);
        assert!(
            e.message
                .contains("error finding key package.name: key path not found"),
            "{e}"
        );
        let outside = json!({"path": "../x.toml", "updates": [{"key": "a", "value": 1}]});
        let e = crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| {
            TomlUpdateStep.run(ctx, &outside)
        })
        .unwrap_err();
        assert!(e.message.contains("path"), "{e}");
    }
}
