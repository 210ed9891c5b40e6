//! `compose-output`: publishes its config as its outputs, as Kargo's
//! `compose-output` does, so later steps (and `task.outputs` of a
//! PromotionTask) read values computed by expressions under one alias:
//! `config: {prURL: "${{ outputs['open-pr'].pr.url }}"}` gives
//! `outputs.<alias>.prURL`. At least one entry is required.

use serde_json::Value;

use crate::step::{Step, StepContext, StepError, StepResult};

/// Kargo's name.
pub const NAME: &str = "compose-output";

/// The `compose-output` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct ComposeOutput;

impl Step for ComposeOutput {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        self.run_on(config).map(|_| ())
    }

    fn run(&self, _ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        self.run_on(config)
    }
}

impl ComposeOutput {
    fn run_on(&self, config: &Value) -> Result<StepResult, StepError> {
        match config {
            Value::Object(m) if !m.is_empty() => Ok(StepResult::succeeded(m.clone())),
            Value::Object(_) | Value::Null => Err(StepError::config(
                NAME,
                "config: at least one output is required",
            )),
            other => Err(StepError::config(
                NAME,
                format!("config: must be a mapping of output names to values, not {other}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    #[test]
    fn config_becomes_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let run = |cfg: Value| {
            crate::git::testutil::with_ctx(dir.path(), &Map::new(), |ctx| {
                ComposeOutput.run(ctx, &cfg)
            })
        };
        let res = run(json!({"prURL": "https://x/pr/1", "n": 2, "nested": {"a": [1]}})).unwrap();
        assert_eq!(
            Value::Object(res.outputs),
            json!({"prURL": "https://x/pr/1", "n": 2, "nested": {"a": [1]}})
        );
        assert!(run(json!({})).unwrap_err().message.contains("at least one"));
        assert!(run(json!([1])).unwrap_err().message.contains("mapping"));
    }
}
