//! `set-freight-alias`: gives a Freight of the Project a new alias, as
//! Kargo's step does (its `alias` field and the `kargo.akuity.io/alias`
//! label; admission keeps aliases unique, so a taken alias fails the
//! step).
//!
//! Config (Kargo's): `name` (the Freight) and `alias`, both required.
//! Message: `updated alias of Freight "<name>" from "<old>" to "<new>"`.

use serde::Deserialize;
use serde_json::Value;

use super::files::ConfigCheck;
use crate::objects::ObjectError;
use crate::step::{Step, StepContext, StepError, StepResult, StepStatus};

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

/// Decodes and checks a config, naming the field of every problem at
/// once (also what admission runs on a Stage's steps).
pub fn parse(config: &Value) -> Result<SetFreightAliasConfig, StepError> {
    ConfigCheck::new(config)
        .required_string("name")
        .required_string("alias")
        .parse(NAME, config)
}

/// Kargo's `run` of a decoded config: a missing Freight or a failed
/// patch fails the step (terminal, as in Kargo).
pub fn set_alias(
    ctx: &StepContext<'_>,
    cfg: &SetFreightAliasConfig,
) -> Result<StepResult, StepError> {
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

impl Step for SetFreightAlias {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        set_alias(ctx, &parse(config)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::with_objects;
    use crate::objects::FakeProject;
    use crate::steps::files::fixture::check_configs;
    use serde_json::json;

    /// Kargo's `Test_setFreightAlias_convert` rows.
    #[test]
    fn kargo_convert_table() {
        let rows: &[(&str, Value, &[&str])] = &[
            (
                "both name and alias are not specified",
                json!({}),
                &["name: required", "alias: required"],
            ),
            (
                "name is not specified",
                json!({"alias": "stable"}),
                &["name: required"],
            ),
            (
                "name is empty",
                json!({"name": "", "alias": "new-alias"}),
                &["name: must not be empty"],
            ),
            (
                "alias is not specified",
                json!({"name": "fake-freight-id"}),
                &["alias: required"],
            ),
            (
                "alias is empty",
                json!({"name": "fake-freight-id", "alias": ""}),
                &["alias: must not be empty"],
            ),
            (
                "unknown field is not allowed",
                json!({"name": "fake-freight-id", "alias": "new-alias", "unexpected": "nope"}),
                &["unknown field `unexpected`"],
            ),
            (
                "valid minimal config",
                json!({"name": "fake-freight-id", "alias": "new-alias"}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_setFreightAlias_convert: 7 rows
        check_configs(parse, rows);
    }

    /// Kargo's `Test_setFreightAlias_run` rows (called past the schema):
    /// the step's error (terminal: Kargo's step is `Failed`) or message.
    #[test]
    fn kargo_run_table() {
        type Row = (
            &'static str,
            bool,
            Result<&'static str, &'static [&'static str]>,
        );
        let rows: [Row; 3] = [
            (
                "freight not found",
                false,
                Err(&["not found", "freight-id-1"]),
            ),
            (
                "patch error",
                true,
                Err(&["failed to patch alias", "freight-id-1"]),
            ),
            (
                "successful alias update",
                true,
                Ok("updated alias of Freight \"freight-id-1\" from \"old-alias\" to \"new-alias\""),
            ),
        ];
        assert_eq!(rows.len(), 3); // Kargo's Test_setFreightAlias_run: 3 rows
        for (name, exists, want) in rows {
            let dir = tempfile::tempdir().unwrap();
            let project = FakeProject::default();
            if exists {
                project
                    .aliases
                    .lock()
                    .unwrap()
                    .insert("freight-id-1".into(), "old-alias".into());
            }
            if name == "patch error" {
                project
                    .broken
                    .lock()
                    .unwrap()
                    .insert(("Freight".into(), "freight-id-1".into()));
            }
            let cfg = SetFreightAliasConfig {
                name: "freight-id-1".into(),
                alias: "new-alias".into(),
            };
            match (
                with_objects(dir.path(), &project, |ctx| set_alias(ctx, &cfg)),
                want,
            ) {
                (Ok(res), Ok(message)) => {
                    assert_eq!(res.message, message, "{name}");
                    assert_eq!(project.aliases.lock().unwrap()["freight-id-1"], "new-alias");
                }
                (Err(e), Err(parts)) => {
                    assert!(e.terminal, "{name}");
                    for part in parts {
                        assert!(e.message.contains(part), "{name}: {e} lacks {part:?}");
                    }
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Admission keeps aliases unique: a taken alias fails the step.
    #[test]
    fn a_taken_alias_fails_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let project = FakeProject::default();
        project.aliases.lock().unwrap().extend([
            ("abc123".to_string(), "old-otter".to_string()),
            ("def456".to_string(), "taken-name".to_string()),
        ]);
        let e = with_objects(dir.path(), &project, |ctx| {
            SetFreightAlias.run(ctx, &json!({"name": "abc123", "alias": "taken-name"}))
        })
        .unwrap_err();
        assert!(e.terminal);
        assert_eq!(
            e.message,
            "failed to patch alias for Freight \"abc123\" in project \"p\": alias \"taken-name\" is already used"
        );
        assert_eq!(project.aliases.lock().unwrap()["abc123"], "old-otter");
    }
}
