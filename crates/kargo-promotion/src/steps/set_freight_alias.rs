//! `set-freight-alias`: gives a Freight of the Project a new alias, as
//! Kargo's step does (its `alias` field and the `kargo.akuity.io/alias`
//! label; admission keeps aliases unique, so a taken alias fails the
//! step).
//!
//! Config (Kargo's): `name` (the Freight) and `alias`, both required.
//! Message: `updated alias of Freight "<name>" from "<old>" to "<new>"`.

use serde::Deserialize;
use serde_json::Value;

use crate::objects::ObjectError;
use crate::step::{Step, StepContext, StepError, StepResult, StepStatus, parse_config};

/// Kargo's name.
pub const NAME: &str = "set-freight-alias";

/// Config of `set-freight-alias`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetFreightAliasConfig {
    /// The Freight's name.
    pub name: String,
    /// Its new alias.
    pub alias: String,
}

/// The `set-freight-alias` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetFreightAlias;

/// Decodes and checks a config, naming the field of each problem (also
/// what admission runs on a Stage's steps).
pub fn parse(config: &Value) -> Result<SetFreightAliasConfig, StepError> {
    let cfg: SetFreightAliasConfig = parse_config(NAME, config)?;
    let mut problems = Vec::new();
    if cfg.name.is_empty() {
        problems.push("name: must not be empty");
    }
    if cfg.alias.is_empty() {
        problems.push("alias: must not be empty");
    }
    if !problems.is_empty() {
        return Err(StepError::config(NAME, problems.join("; ")));
    }
    Ok(cfg)
}

impl Step for SetFreightAlias {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let objects = ctx
            .objects
            .ok_or_else(|| StepError::terminal(NAME, "this runner cannot write to Freight"))?;
        let project = &ctx.promotion.project;
        let old = objects
            .set_freight_alias(&cfg.name, &cfg.alias)
            .map_err(|e| match e {
                ObjectError::NotFound => StepError::terminal(
                    NAME,
                    format!("freight {:?} not found in project {project:?}", cfg.name),
                ),
                ObjectError::Refused(m) | ObjectError::Failed(m) => StepError::terminal(
                    NAME,
                    format!(
                        "failed to patch alias for Freight {:?} in project {project:?}: {m}",
                        cfg.name
                    ),
                ),
            })?;
        Ok(StepResult {
            status: Some(StepStatus::Succeeded),
            message: format!(
                "updated alias of Freight {:?} from {old:?} to {:?}",
                cfg.name, cfg.alias
            ),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::with_objects;
    use crate::objects::FakeProject;
    use serde_json::json;

    /// Kargo's `Test_freightAliasSetter` cases: success with its message,
    /// a missing Freight, a taken alias, and config validation.
    /// Kargo's `Test_setFreightAlias_convert` rows.
    #[test]
    fn kargo_convert_table() {
        let rows: Vec<(&str, Value, Option<&str>)> = vec![
            (
                "both name and alias are not specified",
                json!({}),
                Some("name"),
            ),
            ("name is not specified", json!({"alias": "a"}), Some("name")),
            (
                "name is empty",
                json!({"name": "", "alias": "a"}),
                Some("name"),
            ),
            (
                "alias is not specified",
                json!({"name": "f"}),
                Some("alias"),
            ),
            (
                "alias is empty",
                json!({"name": "f", "alias": ""}),
                Some("alias"),
            ),
            (
                "unknown field is not allowed",
                json!({"name": "f", "alias": "a", "extra": 1}),
                Some("extra"),
            ),
            (
                "valid minimal config",
                json!({"name": "f", "alias": "a"}),
                None,
            ),
        ];
        assert_eq!(
            rows.len(),
            7,
            "rows of upstream Test_setFreightAlias_convert"
        );
        for (name, cfg, field) in rows {
            match (parse(&cfg), field) {
                (Ok(_), None) => {}
                (Err(e), Some(f)) => assert!(e.terminal && e.message.contains(f), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want a problem at {want:?}"),
            }
        }
    }

    /// Kargo's `Test_setFreightAlias_run` rows (freight not found, patch
    /// error, success) plus the message.
    #[test]
    fn sets_the_alias_with_kargos_messages() {
        let dir = tempfile::tempdir().unwrap();
        let project = FakeProject::default();
        project.aliases.lock().unwrap().extend([
            ("abc123".to_string(), "old-otter".to_string()),
            ("def456".to_string(), "taken-name".to_string()),
        ]);
        let run =
            |cfg: Value| with_objects(dir.path(), &project, |ctx| SetFreightAlias.run(ctx, &cfg));
        let res = run(json!({"name": "abc123", "alias": "release-1"})).unwrap();
        assert_eq!(
            res.message,
            "updated alias of Freight \"abc123\" from \"old-otter\" to \"release-1\""
        );
        assert_eq!(project.aliases.lock().unwrap()["abc123"], "release-1");
        let e = run(json!({"name": "nope", "alias": "x"})).unwrap_err();
        assert!(e.terminal);
        assert_eq!(e.message, "freight \"nope\" not found in project \"p\"");
        let e = run(json!({"name": "abc123", "alias": "taken-name"})).unwrap_err();
        assert!(
            e.message
                .contains("failed to patch alias for Freight \"abc123\""),
            "{e}"
        );
        for (cfg, field) in [
            (json!({"name": "", "alias": "a"}), "name"),
            (json!({"name": "a", "alias": ""}), "alias"),
            (json!({"name": "a"}), "alias"),
        ] {
            assert!(
                run(cfg.clone()).unwrap_err().message.contains(field),
                "{cfg}"
            );
        }
    }
}
