//! What `json-update` and `toml-update` share: Kargo's config shape for
//! both (`path` + `updates: [{key, value}]`), its checks, and rewriting
//! one file in the work tree only when its text changed.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::yaml_update::read_file;
use crate::step::{StepError, parse_config};

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
