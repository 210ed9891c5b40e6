//! What the key/value update steps share: Kargo's config shape for
//! `json-update` and `toml-update` (`path` + `updates: [{key, value}]`),
//! its checks, their whole run (resolve, edit, write only when the text
//! changed, commit message), and the `Updated <path>` commit message that
//! `yaml-update` writes too.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::files::{ConfigCheck, go_text};
use crate::step::{StepContext, StepError, StepResult};

/// Config of `json-update` and `toml-update`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyUpdatesConfig {
    /// The file to edit.
    pub path: String,
    /// Changes to make, in order.
    pub updates: Vec<KeyUpdate>,
}

/// One change.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyUpdate {
    /// Key in the step's path syntax.
    pub key: String,
    /// New value: a string, number or bool.
    pub value: Value,
}

impl KeyUpdatesConfig {
    /// The updates as (key, value) pairs.
    pub fn edits(&self) -> Vec<(&str, &Value)> {
        self.updates
            .iter()
            .map(|u| (u.key.as_str(), &u.value))
            .collect()
    }
}

/// Decodes and checks a config for `step`, naming the field of every
/// problem at once, as Kargo's schema does (also what admission runs on a
/// Stage's steps).
pub fn parse(step: &str, config: &Value) -> Result<KeyUpdatesConfig, StepError> {
    ConfigCheck::new(config)
        .required_string("path")
        .required("updates")
        .items("updates", &["key"], &["value"])
        .parse(step, config)
}

/// Reads `file` (`rel` as the config names it), applies `edit` to its
/// text and writes it back when something changed. Every failure is
/// retryable (Kargo's step ends `Errored`), in `failure`'s words.
pub fn edit_file(
    file: &Path,
    rel: &str,
    failure: impl Fn(&str) -> StepError,
    edit: impl FnOnce(&str) -> Result<String, String>,
) -> Result<(), StepError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| failure(&format!("error reading file {rel:?}: {}", go_text(&e))))?;
    let new_text = edit(&text).map_err(|e| failure(&e))?;
    if new_text != text {
        std::fs::write(file, new_text)
            .map_err(|e| failure(&format!("error writing file {rel:?}: {}", go_text(&e))))?;
    }
    Ok(())
}

/// Kargo's commit message for the updates of one file: `Updated <path>`,
/// a blank line, then `- <key>: <value>` per update (the value as the
/// step shows it); empty when there are none.
pub fn commit_message<'a>(
    path: &str,
    updates: impl IntoIterator<Item = (&'a str, String)>,
) -> String {
    let mut message = String::new();
    for (key, value) in updates {
        if message.is_empty() {
            message = format!("Updated {path}\n");
        }
        message.push_str(&format!("\n- {key}: {value}"));
    }
    message
}

/// Applies (key, value) updates to a file's text, or says why not.
pub type SetValues = fn(&str, &[(&str, &Value)]) -> Result<String, String>;

/// How one key/value update step edits its format.
pub struct Editor {
    /// The step's name.
    pub step: &'static str,
    /// Applies (key, value) updates to the file's text.
    pub set_values: SetValues,
    /// Kargo's failure message for `path` and the edit's error.
    pub failure: fn(&str, &str) -> String,
    /// How the commit message shows a value.
    pub show: fn(&Value) -> String,
}

/// Runs a key/value update step: checks the config, then [`update`].
pub fn run(
    ctx: &StepContext<'_>,
    editor: &Editor,
    config: &Value,
) -> Result<StepResult, StepError> {
    update(ctx, editor, &parse(editor.step, config)?)
}

/// Kargo's `run` of a decoded config: edits the file in place and outputs
/// `commitMessage`; with no updates, does nothing and outputs nothing.
pub fn update(
    ctx: &StepContext<'_>,
    editor: &Editor,
    cfg: &KeyUpdatesConfig,
) -> Result<StepResult, StepError> {
    let step = editor.step;
    if cfg.updates.is_empty() {
        return Ok(StepResult::succeeded(Map::new()));
    }
    let file = ctx.resolve(step, "path", &cfg.path)?;
    let failure = |e: &str| StepError::retryable(step, (editor.failure)(&cfg.path, e));
    edit_file(&file, &cfg.path, failure, |text| {
        (editor.set_values)(text, &cfg.edits())
    })?;
    let message = commit_message(
        &cfg.path,
        cfg.updates
            .iter()
            .map(|u| (u.key.as_str(), (editor.show)(&u.value))),
    );
    let mut outputs = Map::new();
    outputs.insert("commitMessage".into(), json!(message));
    Ok(StepResult::succeeded(outputs))
}

/// Test fixtures of the key/value update steps: Kargo's `run` rows.
#[cfg(test)]
pub(crate) mod fixture {
    use serde_json::Value;

    use super::{Editor, KeyUpdatesConfig, SetValues, edit_file, update};
    use crate::git::testutil::with_ctx;
    use crate::step::StepError;

    /// Kargo's `Test_jsonUpdater_convert` and `Test_tomlUpdater_convert`
    /// rows (the same eight; one config type here): every problem named
    /// at once. `valid` is the last row's config.
    pub fn convert_rows(valid: Value) -> Vec<(&'static str, Value, &'static [&'static str])> {
        use serde_json::json;
        vec![
            ("path is not specified", json!({}), &["path: required"]),
            (
                "path is empty",
                json!({"path": ""}),
                &["path: must not be empty"],
            ),
            ("updates is null", json!({}), &["updates: required"]),
            (
                "updates is empty",
                json!({"updates": []}),
                &["updates: must have at least 1 item"],
            ),
            (
                "key not specified",
                json!({"updates": [{}]}),
                &["updates[0].key: required"],
            ),
            (
                "key is empty",
                json!({"updates": [{"key": ""}]}),
                &["updates[0].key: must not be empty"],
            ),
            (
                "value not specified",
                json!({"updates": [{}]}),
                &["updates[0].value: required"],
            ),
            ("valid config", valid, &[]),
        ]
    }

    /// A row of Kargo's `Test_*Updater_update{ValuesFile,File}`: (name,
    /// the file or none, the updates, the file afterwards or a part of
    /// the error).
    pub type FileRow<'a> = (
        &'static str,
        Option<&'a str>,
        Vec<(&'static str, Value)>,
        Result<&'a str, &'static str>,
    );

    /// Runs `rows` through [`edit_file`] with `set_values` on a file named
    /// `file`.
    pub fn check_file_rows(file: &str, set_values: SetValues, rows: Vec<FileRow<'_>>) {
        for (name, text, updates, want) in rows {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(file);
            if let Some(text) = text {
                std::fs::write(&path, text).unwrap();
            }
            let edits: Vec<(&str, &Value)> = updates.iter().map(|(k, v)| (*k, v)).collect();
            let got = edit_file(
                &path,
                file,
                |e| StepError::retryable("t", e),
                |t| set_values(t, &edits),
            );
            match (got, want) {
                (Ok(()), Ok(after)) => {
                    assert_eq!(std::fs::read_to_string(&path).unwrap(), after, "{name}")
                }
                (Err(e), Err(part)) => {
                    assert!(e.message.contains(part), "{name}: {e}");
                    assert!(!path.exists(), "{name}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// A row of Kargo's `Test_*Updater_run`.
    pub struct Row {
        /// The row's name upstream.
        pub name: &'static str,
        /// A file to lay out first: (path, contents).
        pub file: Option<(&'static str, &'static str)>,
        /// The config, past the schema (Kargo's `run` is called directly).
        pub cfg: Value,
        /// `Ok(commitMessage)` (None: no output) or a part of the
        /// (retryable) error.
        pub want: Result<Option<&'static str>, &'static str>,
        /// The file afterwards: its whole text.
        pub after: Option<&'static str>,
        /// Parts the file must contain afterwards.
        pub contains: &'static [&'static str],
    }

    /// Runs `rows` through [`update`] with `editor`.
    pub fn check_run_rows(editor: &Editor, rows: &[Row]) {
        for row in rows {
            let dir = tempfile::tempdir().unwrap();
            if let Some((path, text)) = row.file {
                let p = dir.path().join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            let cfg: KeyUpdatesConfig = serde_json::from_value(row.cfg.clone()).unwrap();
            let got = with_ctx(dir.path(), &Default::default(), |ctx| {
                update(ctx, editor, &cfg)
            });
            let name = row.name;
            match (&got, row.want) {
                (Ok(res), Ok(message)) => assert_eq!(
                    res.outputs.get("commitMessage").and_then(Value::as_str),
                    message,
                    "{name}"
                ),
                (Err(e), Err(part)) => {
                    assert!(!e.terminal, "{name}: {e}");
                    assert!(e.message.contains(part), "{name}: {e} lacks {part:?}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
            let text = std::fs::read_to_string(dir.path().join(&cfg.path)).ok();
            if let Some(after) = row.after {
                assert_eq!(text.as_deref(), Some(after), "{name}");
            }
            for part in row.contains {
                let text = text.as_deref().unwrap_or_default();
                assert!(text.contains(part), "{name}: {text} lacks {part:?}");
            }
        }
    }
}
