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
    use serde_json::{Map, json};

    /// Kargo's `Test_failer_run` rows: with and without a message.
    #[test]
    fn fails_with_kargo_messages() {
        let dir = tempfile::tempdir().unwrap();
        let run = |cfg: Value| {
            crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| Fail.run(ctx, &cfg))
        };
        let e = run(json!({})).unwrap_err();
        assert!(e.terminal);
        assert_eq!(e.message, "failed");
        let e = run(Value::Null).unwrap_err();
        assert_eq!(e.message, "failed");
        let e = run(json!({"message": "prod is frozen"})).unwrap_err();
        assert!(e.terminal);
        assert_eq!(e.message, "failed: prod is frozen");
        assert!(
            run(json!({"message": ""}))
                .unwrap_err()
                .message
                .contains("message")
        );
        assert!(
            run(json!({"reason": "x"}))
                .unwrap_err()
                .message
                .contains("reason")
        );
    }
}
