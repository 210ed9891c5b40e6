//! `yaml-parse`, `json-parse` and `toml-parse`: read a file and publish
//! values picked out of it by expressions as the step's outputs, as
//! Kargo's parsers do.
//!
//! Config (Kargo's): `path` + `outputs: [{name, fromExpression}]`. Each
//! `fromExpression` is a bare expression (no `${{ }}`) evaluated with the
//! parsed document as its environment: the top-level keys of a mapping
//! are variables (`image.tag`), `$env` is the whole document (`$env[0]`
//! for a list), and a name the document lacks is `nil`, as in Kargo's
//! untyped expr environment. Outputs keep the values' types (a mapping
//! stays a mapping).
//!
//! Errors, in Kargo's words: an empty file (`could not parse empty YAML
//! file`), a parse error (`could not parse JSON file: ...`), an
//! expression that does not compile or run (`failed to extract outputs:
//! error compiling expression "..."`), a missing file or a directory
//! (`error reading YAML file "...": no such file or directory`); like
//! Kargo's, these errors are retryable (the step ends `Errored`). A bad
//! config or a path that leaves the work tree fails the step naming the
//! field.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{ConfigCheck, go_text};
use crate::step::{Step, StepContext, StepError, StepResult};

/// The three formats, by step name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `yaml-parse` (the first document of the file).
    Yaml,
    /// `json-parse`.
    Json,
    /// `toml-parse`.
    Toml,
}

impl Format {
    /// The step's name.
    pub fn step_name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml-parse",
            Format::Json => "json-parse",
            Format::Toml => "toml-parse",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Toml => "TOML",
        }
    }

    /// Parses `text` into a JSON value, Kargo's messages on failure.
    pub fn parse(self, text: &str) -> Result<Value, String> {
        if text.is_empty() && self != Format::Json {
            return Err(format!("could not parse empty {} file", self.label()));
        }
        let parsed = match self {
            Format::Yaml => yaml_serde::from_str::<Value>(text).map_err(|e| e.to_string()),
            Format::Json => serde_json::from_str::<Value>(text).map_err(|e| e.to_string()),
            Format::Toml => toml_edit::Document::parse(text)
                .map(|doc| table_to_json(doc.as_table()))
                .map_err(|e| e.to_string().trim_end().replace('\n', " ")),
        };
        parsed.map_err(|e| format!("could not parse {} file: {e}", self.label()))
    }
}

fn table_to_json(table: &toml_edit::Table) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(k, item)| (k.to_string(), item_to_json(item)))
            .collect(),
    )
}

fn item_to_json(item: &toml_edit::Item) -> Value {
    match item {
        toml_edit::Item::None => Value::Null,
        toml_edit::Item::Table(t) => table_to_json(t),
        toml_edit::Item::ArrayOfTables(a) => Value::Array(a.iter().map(table_to_json).collect()),
        toml_edit::Item::Value(v) => value_to_json(v),
    }
}

fn value_to_json(value: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match value {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::from(*i.value()),
        V::Float(f) => serde_json::Number::from_f64(*f.value())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(d) => Value::String(d.value().to_string()),
        V::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        V::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), value_to_json(v)))
                .collect(),
        ),
    }
}

/// Config of the parse steps.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParseConfig {
    /// The file to read.
    pub path: String,
    /// What to publish.
    pub outputs: Vec<ParseOutput>,
}

/// One output.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParseOutput {
    /// The output's name.
    pub name: String,
    /// A bare expression over the document.
    pub from_expression: String,
}

/// The name a list (or scalar) document goes by, standing in for `$env`.
const ROOT: &str = "__kargo_document";

/// Evaluates each output's expression against `doc`, Kargo's messages on
/// failure.
pub fn extract(doc: &Value, outputs: &[ParseOutput]) -> Result<Map<String, Value>, String> {
    let mut env = kargo_expr::Env::new();
    let as_map = doc.as_object();
    if let Some(m) = as_map {
        for (k, v) in m {
            env = env.set(k, v.clone());
        }
    } else {
        env = env.set(ROOT, doc.clone());
    }
    let mut results = Map::new();
    for o in outputs {
        let expression = if as_map.is_some() {
            o.from_expression.clone()
        } else {
            o.from_expression.replace("$env", ROOT)
        };
        let value = evaluate(&env, &expression).map_err(|e| {
            let stage = if e.contains("parse") || e.contains("syntax") || e.contains("unexpected") {
                "compiling"
            } else {
                "evaluating"
            };
            format!("error {stage} expression {:?}: {e}", o.from_expression)
        })?;
        results.insert(o.name.clone(), value);
    }
    Ok(results)
}

/// Evaluates `expression`; a name the environment lacks reads as nil.
fn evaluate(env: &kargo_expr::Env, expression: &str) -> Result<Value, String> {
    let mut env = env.clone();
    // Each round binds one more unknown name; an expression has few.
    for _ in 0..32 {
        let lookup = kargo_expr::NoLookup;
        match kargo_expr::Evaluator::new(&env, &lookup).evaluate_expression(expression) {
            Ok(v) => return Ok(v),
            Err(e) => {
                let text = e.to_string();
                match text.split("unknown variable: ").nth(1) {
                    Some(name) => {
                        let name = name.split_whitespace().next().unwrap_or_default();
                        if name.is_empty() || env.get(name).is_some() {
                            return Err(text);
                        }
                        env = env.set(name, Value::Null);
                    }
                    None => return Err(text),
                }
            }
        }
    }
    Err("too many unknown names".into())
}

/// One of the parse steps.
#[derive(Clone, Copy, Debug)]
pub struct ParseStep {
    format: Format,
}

impl ParseStep {
    /// The step for `format`.
    pub fn new(format: Format) -> ParseStep {
        ParseStep { format }
    }
}

impl ParseStep {
    /// Decodes and checks a config, naming every problem's field at once
    /// (Kargo's schema).
    fn parse(&self, config: &Value) -> Result<ParseConfig, StepError> {
        ConfigCheck::new(config)
            .required_string("path")
            .required("outputs")
            .items("outputs", &["name", "fromExpression"], &[])
            .parse(self.format.step_name(), config)
    }

    /// Kargo's `run` of a decoded config: reads and parses the file and
    /// evaluates the outputs. Every failure is retryable (Kargo's step
    /// ends `Errored`).
    pub fn outputs(
        &self,
        ctx: &StepContext<'_>,
        cfg: &ParseConfig,
    ) -> Result<StepResult, StepError> {
        let name = self.format.step_name();
        let label = self.format.label();
        let errored = |m: String| StepError::retryable(name, m);
        if cfg.path.is_empty() {
            return Err(errored(format!("{label} file path cannot be empty")));
        }
        if cfg.outputs.is_empty() {
            return Err(errored(format!(
                "invalid {name} config: outputs is required"
            )));
        }
        let file = ctx.resolve(name, "path", &cfg.path)?;
        let text = std::fs::read_to_string(&file).map_err(|e| {
            errored(format!(
                "error reading {label} file {:?}: {}",
                cfg.path,
                go_text(&e)
            ))
        })?;
        let doc = self
            .format
            .parse(&text)
            .map_err(|e| errored(format!("{}: {e}", cfg.path)))?;
        let outputs = extract(&doc, &cfg.outputs)
            .map_err(|e| errored(format!("failed to extract outputs: {e}")))?;
        Ok(StepResult::succeeded(outputs))
    }
}

impl Step for ParseStep {
    fn name(&self) -> &str {
        self.format.step_name()
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        self.parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        self.outputs(ctx, &self.parse(config)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::files::fixture::check_configs;
    use serde_json::json;

    fn outputs(list: &[(&str, &str)]) -> Vec<ParseOutput> {
        list.iter()
            .map(|(n, e)| ParseOutput {
                name: n.to_string(),
                from_expression: e.to_string(),
            })
            .collect()
    }

    /// Kargo's `Test_yamlParser_extractValues` (and the same table in the
    /// JSON and TOML parsers' tests): (name, document, expression,
    /// expected `result` or error substring).
    #[allow(clippy::type_complexity)]
    fn extract_rows() -> Vec<(
        &'static str,
        Value,
        &'static str,
        Result<Value, &'static str>,
    )> {
        vec![
            (
                "valid expression",
                json!({"key": "value"}),
                "key",
                Ok(json!("value")),
            ),
            (
                "root list - access by index",
                json!(["first", "second", "third"]),
                "$env[0]",
                Ok(json!("first")),
            ),
            (
                "root list - get length",
                json!(["first", "second", "third"]),
                "len($env)",
                Ok(json!(3)),
            ),
            (
                "root list of objects - access nested property",
                json!([{"name": "item1", "value": 10}, {"name": "item2", "value": 20}]),
                "$env[1].name",
                Ok(json!("item2")),
            ),
            (
                "expression points to missing key",
                json!({"key": "value"}),
                "missingKey",
                Ok(Value::Null),
            ),
            (
                "expression evaluates to a nested object",
                json!({"nested": {"key": "value"}}),
                "nested",
                Ok(json!({"key": "value"})),
            ),
            (
                "expression evaluates to an array",
                json!({"array": [1, 2, 3]}),
                "array",
                Ok(json!([1, 2, 3])),
            ),
            (
                "expression evaluates to a string",
                json!({"key": "value"}),
                "key",
                Ok(json!("value")),
            ),
            (
                "expression evaluates to an integer",
                json!({"number": 42}),
                "number",
                Ok(json!(42)),
            ),
            (
                "expression compilation error",
                json!({"key": "value"}),
                "(1 + 2",
                Err("error compiling expression"),
            ),
        ]
    }

    #[test]
    fn kargo_extract_values_table() {
        let rows = extract_rows();
        assert_eq!(
            rows.len(),
            10,
            "rows of upstream Test_yamlParser_extractValues"
        );
        for (name, doc, expression, expected) in rows {
            let got = extract(&doc, &outputs(&[("result", expression)]));
            match (got, expected) {
                (Ok(m), Ok(want)) => assert_eq!(m["result"], want, "{name}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Kargo's `Test_yamlParser_readAndParseYAML` rows: (name, file text,
    /// expected document or error substring).
    #[test]
    fn kargo_read_and_parse_yaml_table() {
        let rows: Vec<(&str, &str, Result<Value, &str>)> = vec![
            (
                "Valid YAML with map root",
                "\nkey: value\nnum: 42\nflag: true\n",
                Ok(json!({"key": "value", "num": 42, "flag": true})),
            ),
            (
                "Valid YAML with root list",
                "\n- item1\n- item2\n- item3\n",
                Ok(json!(["item1", "item2", "item3"])),
            ),
            (
                "Valid YAML with nested structure",
                "\napp:\n  name: test-app\n  version: 1.2.3\n  config:\n    debug: false\n    port: 8080\nitems:\n  - name: first\n    value: 100\n  - name: second\n    value: 200\n",
                Ok(
                    json!({"app": {"name": "test-app", "version": "1.2.3", "config": {"debug": false, "port": 8080}}, "items": [{"name": "first", "value": 100}, {"name": "second", "value": 200}]}),
                ),
            ),
            (
                "Valid YAML with scalar root",
                "simple string value\n",
                Ok(json!("simple string value")),
            ),
            (
                "Invalid YAML syntax",
                "key: : value\n  num: 42",
                Err("could not parse YAML file"),
            ),
            (
                "Empty YAML file",
                "",
                Err("could not parse empty YAML file"),
            ),
        ];
        assert_eq!(
            rows.len(),
            6,
            "rows of upstream Test_yamlParser_readAndParseYAML"
        );
        for (name, text, expected) in rows {
            match (Format::Yaml.parse(text), expected) {
                (Ok(doc), Ok(want)) => assert_eq!(doc, want, "{name}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Kargo's `Test_jsonParser_readAndParseJSON` and
    /// `Test_tomlParser_readAndParseTOML` rows.
    #[test]
    fn kargo_read_and_parse_json_and_toml_tables() {
        let json_rows: Vec<(&str, &str, Result<Value, &str>)> = vec![
            (
                "Valid JSON with map root",
                "{\n\"key\": \"value\",\n\"num\": 42,\n\"flag\": true\n}",
                Ok(json!({"key": "value", "num": 42, "flag": true})),
            ),
            (
                "Valid JSON with nested structure",
                r#"{"app": {"name": "test-app", "version": "1.2.3", "config": {"debug": false, "port": 8080}}, "items": [{"name": "first", "value": 100}, {"name": "second", "value": 200}]}"#,
                Ok(
                    json!({"app": {"name": "test-app", "version": "1.2.3", "config": {"debug": false, "port": 8080}}, "items": [{"name": "first", "value": 100}, {"name": "second", "value": 200}]}),
                ),
            ),
            (
                "Valid JSON with array values",
                r#"{"numbers": [1, 2, 3, 4, 5], "strings": ["hello", "world"], "mixed": [true, 42, "text", null]}"#,
                Ok(
                    json!({"numbers": [1, 2, 3, 4, 5], "strings": ["hello", "world"], "mixed": [true, 42, "text", null]}),
                ),
            ),
            (
                "Valid JSON with null values",
                r#"{"nullValue": null, "emptyString": "", "zeroNumber": 0}"#,
                Ok(json!({"nullValue": null, "emptyString": "", "zeroNumber": 0})),
            ),
            (
                "Invalid JSON syntax",
                r#"{key: "value"}"#,
                Err("could not parse JSON file"),
            ),
            ("Empty JSON file", "", Err("could not parse JSON file")),
        ];
        assert_eq!(
            json_rows.len(),
            6,
            "rows of upstream Test_jsonParser_readAndParseJSON"
        );
        let toml_rows: Vec<(&str, &str, Result<Value, &str>)> = vec![
            (
                "valid TOML with nested structure",
                "title = \"example\"\nnum = 42\nflag = true\nitems = [1, 2]\n[app]\nversion = \"1.2.3\"\n",
                Ok(
                    json!({"title": "example", "num": 42, "flag": true, "items": [1, 2], "app": {"version": "1.2.3"}}),
                ),
            ),
            (
                "invalid TOML syntax",
                "title = \n",
                Err("could not parse TOML file"),
            ),
            (
                "empty TOML file",
                "",
                Err("could not parse empty TOML file"),
            ),
        ];
        assert_eq!(
            toml_rows.len(),
            3,
            "rows of upstream Test_tomlParser_readAndParseTOML"
        );
        for (format, rows) in [(Format::Json, json_rows), (Format::Toml, toml_rows)] {
            for (name, text, expected) in rows {
                match (format.parse(text), expected) {
                    (Ok(doc), Ok(want)) => assert_eq!(doc, want, "{name}"),
                    (Err(e), Err(want)) => assert!(e.contains(want), "{name}: {e}"),
                    (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    /// Kargo's `Test_{yaml,json,toml}Parser_convert` rows (the same nine
    /// in each): every problem is refused naming its field.
    #[test]
    fn kargo_convert_tables() {
        let out = || json!([{"name": "output1", "fromExpression": "app.version"}]);
        let rows: &[(&str, Value, &[&str])] = &[
            (
                "path not specified",
                json!({"outputs": out()}),
                &["path: required"],
            ),
            (
                "path is empty string",
                json!({"path": "", "outputs": out()}),
                &["path: must not be empty"],
            ),
            (
                "outputs field is missing",
                json!({"path": "valid.yaml"}),
                &["outputs: required"],
            ),
            (
                "outputs field is an empty array",
                json!({"path": "valid.yaml", "outputs": []}),
                &["outputs: must have at least 1 item"],
            ),
            (
                "name is not specified",
                json!({"path": "valid.yaml", "outputs": [{"fromExpression": "$.data"}]}),
                &["outputs[0].name: required"],
            ),
            (
                "name is empty",
                json!({"path": "valid.yaml", "outputs": [{"name": "", "fromExpression": "$.data"}]}),
                &["outputs[0].name: must not be empty"],
            ),
            (
                "fromExpression is not specified",
                json!({"path": "valid.yaml", "outputs": [{"name": "output1"}]}),
                &["outputs[0].fromExpression: required"],
            ),
            (
                "fromExpression is empty",
                json!({"path": "valid.yaml", "outputs": [{"name": "output1", "fromExpression": ""}]}),
                &["outputs[0].fromExpression: must not be empty"],
            ),
            (
                "valid configuration",
                json!({"path": "valid.yaml", "outputs": out()}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 9); // Kargo's Test_{yaml,json,toml}Parser_convert: 9 rows each
        for format in [Format::Yaml, Format::Json, Format::Toml] {
            check_configs(|c| ParseStep::new(format).parse(c), rows);
        }
    }

    /// A row of Kargo's `Test_*Parser_run` (called past the schema): the
    /// file `config.<ext>` (none: no file), the config, and the outputs
    /// or a part of the (retryable) error.
    type RunRow = (
        &'static str,
        Option<&'static str>,
        Value,
        Result<Value, &'static str>,
    );

    fn check_run_rows(format: Format, file: &str, rows: Vec<RunRow>) {
        for (name, text, cfg, want) in rows {
            let dir = tempfile::tempdir().unwrap();
            if let Some(text) = text {
                std::fs::write(dir.path().join(file), text).unwrap();
            }
            let cfg: ParseConfig = serde_json::from_value(cfg).unwrap();
            let got = crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| {
                ParseStep::new(format).outputs(ctx, &cfg)
            });
            match (got, want) {
                (Ok(res), Ok(want)) => assert_eq!(Value::Object(res.outputs), want, "{name}"),
                (Err(e), Err(part)) => {
                    assert!(!e.terminal, "{name}: {e}");
                    assert!(e.message.contains(part), "{name}: {e} lacks {part:?}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// The rows the three `Test_*Parser_run` tables share: extraction
    /// fails, no outputs, empty path, a path that does not exist.
    fn shared_run_rows(
        file: &'static str,
        text: &'static str,
        path_error: &'static str,
    ) -> Vec<RunRow> {
        let key = || json!([{"name": "key", "fromExpression": "app.key"}]);
        vec![
            (
                "failed to extract outputs",
                Some(text),
                json!({"path": file, "outputs": [{"name": "invalidField", "fromExpression": "nonexistent.path"}]}),
                Err("failed to extract outputs"),
            ),
            (
                "no outputs provided",
                Some(text),
                json!({"path": file, "outputs": []}),
                Err("outputs is required"),
            ),
            (
                "path is empty",
                None,
                json!({"path": "", "outputs": key()}),
                Err(path_error),
            ),
            (
                "path is a directory instead of a file",
                None,
                json!({"path": "config", "outputs": key()}),
                Err("no such file or directory"),
            ),
        ]
    }

    #[test]
    fn kargo_yaml_run_table() {
        let key = || json!([{"name": "key", "fromExpression": "app.key"}]);
        let mut rows: Vec<RunRow> = vec![
            (
                "successful run with outputs",
                Some("\napp:\n  version: \"1.0.0\"\nfeatures:\n  newFeature: false\n"),
                json!({"path": "config.yaml", "outputs": [
                    {"name": "appVersion", "fromExpression": "app.version"},
                    {"name": "featureStatus", "fromExpression": "features.newFeature"}]}),
                Ok(json!({"appVersion": "1.0.0", "featureStatus": false})),
            ),
            (
                "handle empty YAML file",
                Some(""),
                json!({"path": "config.yaml", "outputs": key()}),
                Err("could not parse empty YAML file"),
            ),
            (
                "valid YAML, valid expressions, valid path",
                Some(
                    "\napp:\n  version: \"2.0.1\"\nfeatures:\n  enabled: true\nconfig:\n  threshold: 10.0\n",
                ),
                json!({"path": "config.yaml", "outputs": [
                    {"name": "appVersion", "fromExpression": "app.version"},
                    {"name": "isEnabled", "fromExpression": "features.enabled"},
                    {"name": "threshold", "fromExpression": "config.threshold"}]}),
                // Kargo's float64 10.0, which its JSON status holds as `10`.
                Ok(json!({"appVersion": "2.0.1", "isEnabled": true, "threshold": 10})),
            ),
        ];
        rows.extend(shared_run_rows(
            "config.yaml",
            "\napp:\n  version: \"1.0.0\"\n",
            "YAML file path cannot be empty",
        ));
        assert_eq!(rows.len(), 7); // Kargo's Test_yamlParser_run: 7 rows
        check_run_rows(Format::Yaml, "config.yaml", rows);
    }

    #[test]
    fn kargo_json_run_table() {
        let key = || json!([{"name": "key", "fromExpression": "app.key"}]);
        let mut rows: Vec<RunRow> = vec![
            (
                "successful run with outputs",
                Some(
                    "{\n\t\"app\": {\n\t\t\"version\": \"1.0.0\"\n\t},\n\t\"features\": {\n\t\t\"newFeature\": false\n\t}\n}",
                ),
                json!({"path": "config.json", "outputs": [
                    {"name": "appVersion", "fromExpression": "app.version"},
                    {"name": "featureStatus", "fromExpression": "features.newFeature"}]}),
                Ok(json!({"appVersion": "1.0.0", "featureStatus": false})),
            ),
            (
                "handle empty JSON file",
                Some(""),
                json!({"path": "config.json", "outputs": key()}),
                Err("could not parse JSON file"),
            ),
            (
                "valid JSON, valid expressions, valid path",
                Some(
                    r#"{"app": {"version": "2.0.1"}, "features": {"enabled": true}, "config": {"threshold": 10.0}}"#,
                ),
                json!({"path": "config.json", "outputs": [
                    {"name": "appVersion", "fromExpression": "app.version"},
                    {"name": "isEnabled", "fromExpression": "features.enabled"},
                    {"name": "threshold", "fromExpression": "config.threshold"}]}),
                // Kargo's float64 10.0, which its JSON status holds as `10`.
                Ok(json!({"appVersion": "2.0.1", "isEnabled": true, "threshold": 10})),
            ),
        ];
        rows.extend(shared_run_rows(
            "config.json",
            r#"{ "app": { "version": "1.0.0" }}"#,
            "JSON file path cannot be empty",
        ));
        assert_eq!(rows.len(), 7); // Kargo's Test_jsonParser_run: 7 rows
        check_run_rows(Format::Json, "config.json", rows);
    }

    #[test]
    fn kargo_toml_run_table() {
        let key = || json!([{"name": "key", "fromExpression": "app.key"}]);
        let mut rows: Vec<RunRow> = vec![
            (
                "successful run with outputs",
                Some("[app]\nversion = \"1.0.0\"\n\n[features]\nnewFeature = false\n"),
                json!({"path": "config.toml", "outputs": [
                    {"name": "appVersion", "fromExpression": "app.version"},
                    {"name": "featureStatus", "fromExpression": "features.newFeature"}]}),
                Ok(json!({"appVersion": "1.0.0", "featureStatus": false})),
            ),
            (
                "handle empty TOML file",
                Some(""),
                json!({"path": "config.toml", "outputs": key()}),
                Err("could not parse empty TOML file"),
            ),
        ];
        rows.extend(shared_run_rows(
            "config.toml",
            "[app]\nversion = \"1.0.0\"\n",
            "TOML file path cannot be empty",
        ));
        assert_eq!(rows.len(), 6); // Kargo's Test_tomlParser_run: 6 rows
        check_run_rows(Format::Toml, "config.toml", rows);
    }

    #[test]
    fn toml_and_json_documents_become_values() {
        let doc = Format::Toml
            .parse("title = 'x'\n[package]\nversion = \"1.2.3\"\nport = 80\n[[bin]]\nname = 'a'\n")
            .unwrap();
        assert_eq!(
            doc,
            json!({"title": "x", "package": {"version": "1.2.3", "port": 80}, "bin": [{"name": "a"}]})
        );
        assert!(
            Format::Toml
                .parse("")
                .unwrap_err()
                .contains("could not parse empty TOML file")
        );
        assert!(
            Format::Toml
                .parse("a = ")
                .unwrap_err()
                .contains("could not parse TOML file")
        );
        assert!(
            Format::Json
                .parse("{")
                .unwrap_err()
                .contains("could not parse JSON file")
        );
    }

    #[test]
    fn the_steps_publish_outputs_and_name_bad_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("values.yaml"),
            "image:\n  tag: 1.2.3\nreplicas: 2\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("app.json"), r#"{"version": "2.0.0"}"#).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let run = |format: Format, cfg: Value| {
            crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| {
                ParseStep::new(format).run(ctx, &cfg)
            })
        };
        let res = run(
            Format::Yaml,
            json!({"path": "values.yaml", "outputs": [
                {"name": "tag", "fromExpression": "image.tag"},
                {"name": "more", "fromExpression": "replicas + 1"}]}),
        )
        .unwrap();
        assert_eq!(res.outputs["tag"], json!("1.2.3"));
        assert_eq!(res.outputs["more"], json!(3));
        let res = run(
            Format::Json,
            json!({"path": "app.json", "outputs": [{"name": "v", "fromExpression": "version"}]}),
        )
        .unwrap();
        assert_eq!(res.outputs["v"], json!("2.0.0"));
        let e = run(Format::Yaml, json!({"path": "", "outputs": []})).unwrap_err();
        assert!(e.message.contains("path: must not be empty"), "{e}");
        assert!(
            e.message.contains("outputs: must have at least 1 item"),
            "{e}"
        );
        let e = run(
            Format::Yaml,
            json!({"path": "sub", "outputs": [{"name": "a", "fromExpression": "a"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("is a directory"), "{e}");
        let e = run(
            Format::Yaml,
            json!({"path": "../x.yaml", "outputs": [{"name": "a", "fromExpression": "a"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("path"), "{e}");
    }
}
