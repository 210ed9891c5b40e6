//! What the key/value update steps share: Kargo's config shape for
//! `json-update` and `toml-update` (`path` + `updates: [{key, value}]`),
//! its checks, their whole run (resolve, edit, write only when the text
//! changed, commit message), and the `Updated <path>` commit message that
//! `yaml-update` writes too.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::yaml_update::read_file;
use crate::step::{StepContext, StepError, StepResult, parse_config};

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

/// Decodes and checks a config for `step`, naming the field of each
/// problem (also what admission runs on a Stage's steps).
pub fn parse(step: &str, config: &Value) -> Result<KeyUpdatesConfig, StepError> {
    let cfg: KeyUpdatesConfig = parse_config(step, config)?;
    if cfg.path.is_empty() {
        return Err(StepError::config(step, "path: must not be empty"));
    }
    if cfg.updates.is_empty() {
        return Err(StepError::config(
            step,
            "updates: at least one update is required",
        ));
    }
    if let Some(i) = cfg.updates.iter().position(|u| u.key.is_empty()) {
        return Err(StepError::config(
            step,
            format!("updates[{i}].key: must not be empty"),
        ));
    }
    Ok(cfg)
}

/// Reads `file` (`rel` as the config names it), applies `edit` to its
/// text and writes it back when something changed.
pub fn edit_file(
    step: &str,
    file: &Path,
    rel: &str,
    edit: impl FnOnce(&str) -> Result<String, StepError>,
) -> Result<(), StepError> {
    let text = read_file(step, file, rel)?;
    let new_text = edit(&text)?;
    if new_text != text {
        std::fs::write(file, new_text)
            .map_err(|e| StepError::retryable(step, format!("writing {rel}: {e}")))?;
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

/// Runs a key/value update step: checks the config, edits the file in
/// place and outputs `commitMessage`.
pub fn run(
    ctx: &StepContext<'_>,
    editor: &Editor,
    config: &Value,
) -> Result<StepResult, StepError> {
    let step = editor.step;
    let cfg = parse(step, config)?;
    let file = ctx.resolve(step, "path", &cfg.path)?;
    edit_file(step, &file, &cfg.path, |text| {
        (editor.set_values)(text, &cfg.edits())
            .map_err(|e| StepError::terminal(step, (editor.failure)(&cfg.path, &e)))
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
