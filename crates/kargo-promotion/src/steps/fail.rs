//! `fail`: ends the Promotion on purpose, as Kargo's `fail` step does:
//! the step is `Failed` (not retried) with `failed` or `failed: <message>`.
//! Used behind an `if:` to stop a pipeline when a condition holds.

use serde::Deserialize;
use serde_json::Value;

use crate::step::{Step, StepContext, StepError, StepResult, parse_config};

/// Kargo's name.
pub const NAME: &str = "fail";

/// Config of `fail`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailConfig {
    /// Why (optional; non-empty when given).
    #[serde(default)]
    pub message: Option<String>,
}

/// Decodes a config (none at all is fine); an empty message is refused.
pub fn parse(config: &Value) -> Result<FailConfig, StepError> {
    if config.is_null() {
        return Ok(FailConfig::default());
    }
    let cfg: FailConfig = parse_config(NAME, config)?;
    if cfg.message.as_deref() == Some("") {
        return Err(StepError::config(NAME, "message: must not be empty"));
    }
    Ok(cfg)
}

/// The `fail` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fail;

impl Step for Fail {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, _ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        Err(match parse(config)?.message {
            Some(m) => StepError::terminal(NAME, format!("failed: {m}")),
            None => StepError::terminal(NAME, "failed"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::files::fixture::check_configs;
    use serde_json::{Map, json};

    /// Kargo's `Test_failer_convert` rows, and the schema's other checks.
    #[test]
    fn kargo_convert_table() {
        let rows: &[(&str, Value, &[&str])] = &[
            ("valid empty config", json!({}), &[]),
            (
                "valid config with message",
                json!({"message": "test message"}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 2); // Kargo's Test_failer_convert: 2 rows
        check_configs(parse, rows);
        check_configs(
            parse,
            &[
                ("no config", Value::Null, &[]),
                (
                    "empty message",
                    json!({"message": ""}),
                    &["message: must not be empty"],
                ),
                ("unknown field", json!({"reason": "x"}), &["reason"]),
            ],
        );
    }

    /// Kargo's `Test_failer_run` rows: the step is Failed (terminal) with
    /// Kargo's message.
    #[test]
    fn kargo_run_table() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            ("without message", json!({}), "failed"),
            (
                "with message",
                json!({"message": "test message"}),
                "failed: test message",
            ),
        ];
        assert_eq!(rows.len(), 2); // Kargo's Test_failer_run: 2 rows
        for (name, cfg, want) in rows {
            let e =
                crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| Fail.run(ctx, &cfg))
                    .unwrap_err();
            assert!(e.terminal, "{name}");
            assert_eq!(e.message, want, "{name}");
        }
    }
}
