//! `set-metadata`: upserts key/value pairs into the `status.metadata` of
//! Stages or Freight of the Project, as Kargo's step does; later steps,
//! Promotions and verifications read them back with `stageMetadata()` and
//! `freightMetadata()`.
//!
//! Config (Kargo's): `updates: [{kind: Stage | Freight, name, values:
//! {key: any JSON}}]`, at least one update, each with at least one value.
//! A missing object fails the step (`error getting Stage: not found`).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::objects::{MetadataTarget, ObjectError};
use crate::step::{Step, StepContext, StepError, StepResult, parse_config};

/// Kargo's name.
pub const NAME: &str = "set-metadata";

/// Config of `set-metadata`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetMetadataConfig {
    /// What to write where.
    pub updates: Vec<MetadataUpdate>,
}

/// One object's new metadata.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetadataUpdate {
    /// `Stage` or `Freight`.
    pub kind: String,
    /// The object's name in the Project.
    pub name: String,
    /// Keys and values to upsert.
    pub values: Map<String, Value>,
}

/// The `set-metadata` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetMetadata;

/// Checks a config, naming every problem's field.
fn check(cfg: &SetMetadataConfig) -> Result<Vec<MetadataTarget>, StepError> {
    let mut problems = Vec::new();
    let mut targets = Vec::new();
    if cfg.updates.is_empty() {
        problems.push("updates: at least one update is required".to_string());
    }
    for (i, u) in cfg.updates.iter().enumerate() {
        match u.kind.as_str() {
            "Stage" => targets.push(MetadataTarget::Stage),
            "Freight" => targets.push(MetadataTarget::Freight),
            other => problems.push(format!(
                "updates[{i}].kind: {other:?} must be one of \"Stage\", \"Freight\""
            )),
        }
        if u.name.is_empty() {
            problems.push(format!("updates[{i}].name: must not be empty"));
        }
        if u.values.is_empty() {
            problems.push(format!(
                "updates[{i}].values: at least one value is required"
            ));
        }
    }
    if problems.is_empty() {
        Ok(targets)
    } else {
        Err(StepError::config(NAME, problems.join("; ")))
    }
}

impl Step for SetMetadata {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        let cfg: SetMetadataConfig = parse_config(NAME, config)?;
        check(&cfg).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg: SetMetadataConfig = parse_config(NAME, config)?;
        let targets = check(&cfg)?;
        let objects = ctx.objects.ok_or_else(|| {
            StepError::terminal(NAME, "this runner cannot write to Stages or Freight")
        })?;
        for (u, target) in cfg.updates.iter().zip(targets) {
            let kind = target.kind();
            objects
                .merge_metadata(target, &u.name, &u.values)
                .map_err(|e| match e {
                    ObjectError::NotFound => StepError::retryable(
                        NAME,
                        format!("error getting {kind} {:?}: not found", u.name),
                    ),
                    ObjectError::Refused(m) => StepError::terminal(
                        NAME,
                        format!("error updating metadata for {kind} {:?}: {m}", u.name),
                    ),
                    ObjectError::Failed(m) => StepError::retryable(
                        NAME,
                        format!("error patching status of {kind} {:?}: {m}", u.name),
                    ),
                })?;
        }
        Ok(StepResult::succeeded(Map::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::with_objects;
    use crate::objects::FakeProject;
    use serde_json::json;

    /// Kargo's `Test_metadataSetter_run` cases: a Stage, a Freight, both,
    /// a missing object; plus its config validation rows.
    /// Kargo's `Test_metadataSetter_convert` rows: each problem is refused
    /// naming its field; the kitchen sink passes.
    #[test]
    fn kargo_convert_table() {
        let rows: Vec<(&str, Value, Option<&str>)> = vec![
            ("missing updates field", json!({}), Some("updates")),
            (
                "invalid config type",
                json!({"updates": "not-an-array"}),
                Some("updates"),
            ),
            (
                "missing required fields in updates",
                json!({"updates": [{}]}),
                Some("kind"),
            ),
            (
                "invalid kind",
                json!({"updates": [{"kind": "InvalidKind", "name": "test", "values": {"key": "value"}}]}),
                Some("updates[0].kind"),
            ),
            (
                "empty name",
                json!({"updates": [{"kind": "Stage", "name": "", "values": {"key": "value"}}]}),
                Some("updates[0].name"),
            ),
            (
                "empty values",
                json!({"updates": [{"kind": "Stage", "name": "test", "values": {}}]}),
                Some("updates[0].values"),
            ),
            (
                "valid kitchen sink",
                json!({"updates": [
                    {"kind": "Stage", "name": "test-stage", "values": {"string": "value", "number": 42, "bool": true, "nullKey": null,
                        "object": {"nested": "value", "array": ["item1", "item2"], "deep": {"a": 1}}}},
                    {"kind": "Freight", "name": "test-freight", "values": {"k": "v"}}
                ]}),
                None,
            ),
        ];
        assert_eq!(
            rows.len(),
            7,
            "rows of upstream Test_metadataSetter_convert"
        );
        for (name, cfg, field) in rows {
            match (SetMetadata.check(&cfg), field) {
                (Ok(()), None) => {}
                (Err(e), Some(f)) => assert!(e.terminal && e.message.contains(f), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want a problem at {want:?}"),
            }
        }
    }

    #[test]
    fn writes_metadata_to_stages_and_freight() {
        let dir = tempfile::tempdir().unwrap();
        let project = FakeProject::default();
        for key in [("Stage", "dev"), ("Freight", "abc123")] {
            project
                .metadata
                .lock()
                .unwrap()
                .insert((key.0.into(), key.1.into()), Map::new());
        }
        let run = |cfg: Value| with_objects(dir.path(), &project, |ctx| SetMetadata.run(ctx, &cfg));
        run(json!({"updates": [
            {"kind": "Stage", "name": "dev", "values": {"deployedAt": "2024-01-01", "replicas": 3}},
            {"kind": "Freight", "name": "abc123", "values": {"approvedBy": {"team": "qa"}}}
        ]}))
        .unwrap();
        run(json!({"updates": [{"kind": "Stage", "name": "dev", "values": {"replicas": 4}}]}))
            .unwrap();
        let all = project.metadata.lock().unwrap().clone();
        assert_eq!(
            Value::Object(all[&("Stage".into(), "dev".into())].clone()),
            json!({"deployedAt": "2024-01-01", "replicas": 4})
        );
        assert_eq!(
            Value::Object(all[&("Freight".into(), "abc123".into())].clone()),
            json!({"approvedBy": {"team": "qa"}})
        );
        let e = run(json!({"updates": [{"kind": "Stage", "name": "prod", "values": {"a": 1}}]}))
            .unwrap_err();
        assert_eq!(e.message, "error getting Stage \"prod\": not found");
        for (cfg, field) in [
            (json!({}), "updates"),
            (json!({"updates": []}), "updates"),
            (
                json!({"updates": [{"kind": "Warehouse", "name": "w", "values": {"a": 1}}]}),
                "updates[0].kind",
            ),
            (
                json!({"updates": [{"kind": "Stage", "name": "", "values": {"a": 1}}]}),
                "updates[0].name",
            ),
            (
                json!({"updates": [{"kind": "Stage", "name": "dev", "values": {}}]}),
                "updates[0].values",
            ),
            (
                json!({"updates": [{"kind": "Stage", "name": "dev"}]}),
                "values",
            ),
        ] {
            let e = run(cfg.clone()).unwrap_err();
            assert!(e.terminal && e.message.contains(field), "{cfg}: {e}");
        }
    }
}
