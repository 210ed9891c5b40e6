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

use super::files::ConfigCheck;
use crate::objects::{MetadataTarget, ObjectError};
use crate::step::{Step, StepContext, StepError, StepResult};

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

/// Decodes and checks a config, naming every problem's field at once
/// (Kargo's schema; also what admission runs on a Stage's steps).
pub fn parse(config: &Value) -> Result<SetMetadataConfig, StepError> {
    let cfg: SetMetadataConfig = ConfigCheck::new(config)
        .required("updates")
        .items("updates", &["kind", "name"], &["values"])
        .parse(NAME, config)?;
    let mut problems = Vec::new();
    for (i, u) in cfg.updates.iter().enumerate() {
        if target(&u.kind).is_none() {
            problems.push(format!(
                "updates[{i}].kind: {:?} must be one of \"Stage\", \"Freight\"",
                u.kind
            ));
        }
        if u.values.is_empty() {
            problems.push(format!(
                "updates[{i}].values: at least one value is required"
            ));
        }
    }
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(StepError::config(NAME, problems.join("; ")))
    }
}

fn target(kind: &str) -> Option<MetadataTarget> {
    match kind {
        "Stage" => Some(MetadataTarget::Stage),
        "Freight" => Some(MetadataTarget::Freight),
        _ => None,
    }
}

/// Kargo's `run` of a decoded config: an unsupported kind fails the step
/// (terminal); a missing object or a failed patch is retryable (Kargo's
/// step ends `Errored`).
pub fn set(ctx: &StepContext<'_>, cfg: &SetMetadataConfig) -> Result<StepResult, StepError> {
    let objects = ctx.objects.ok_or_else(|| {
        StepError::terminal(NAME, "this runner cannot write to Stages or Freight")
    })?;
    for u in &cfg.updates {
        let target = target(&u.kind)
            .ok_or_else(|| StepError::terminal(NAME, format!("unsupported kind {:?}", u.kind)))?;
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

impl Step for SetMetadata {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        set(ctx, &parse(config)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::with_objects;
    use crate::objects::FakeProject;
    use crate::steps::files::fixture::check_configs;
    use serde_json::json;

    /// Kargo's `Test_metadataSetter_convert` rows: every problem named at
    /// once; the kitchen sink passes.
    #[test]
    fn kargo_convert_table() {
        let rows: &[(&str, Value, &[&str])] = &[
            ("missing updates field", json!({}), &["updates: required"]),
            (
                "invalid config type",
                json!({"updates": "not-an-array"}),
                &["updates: invalid type: string \"not-an-array\", expected a sequence"],
            ),
            (
                "missing required fields in updates",
                json!({"updates": [{}]}),
                &[
                    "updates[0].kind: required",
                    "updates[0].name: required",
                    "updates[0].values: required",
                ],
            ),
            (
                "invalid kind",
                json!({"updates": [{"kind": "InvalidKind", "name": "test", "values": {"key": "value"}}]}),
                &["updates[0].kind: \"InvalidKind\" must be one of \"Stage\", \"Freight\""],
            ),
            (
                "empty name",
                json!({"updates": [{"kind": "Stage", "name": "", "values": {"key": "value"}}]}),
                &["updates[0].name: must not be empty"],
            ),
            (
                "empty values",
                json!({"updates": [{"kind": "Stage", "name": "test", "values": {}}]}),
                &["updates[0].values: at least one value is required"],
            ),
            (
                "valid kitchen sink",
                json!({"updates": [
                    {"kind": "Stage", "name": "test-stage", "values": {"string": "value", "number": 42, "bool": true, "nullKey": null,
                        "object": {"nested": "value", "array": ["item1", "item2"], "deep": {"foo": "bar", "nums": [1, 2, 3]}}}},
                    {"kind": "Freight", "name": "test-freight", "values": {"deployed": true, "version": "1.0.0"}}
                ]}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_metadataSetter_convert: 7 rows
        check_configs(parse, rows);
    }

    /// Kargo's `Test_metadataSetter_run` rows (called past the schema):
    /// (name, kind, whether the object exists, whether its patch fails,
    /// want: Ok or (terminal, parts of the error)).
    #[test]
    fn kargo_run_table() {
        type Row = (
            &'static str,
            &'static str,
            bool,
            bool,
            Result<(), (bool, &'static [&'static str])>,
        );
        let rows: [Row; 7] = [
            (
                "unsupported kind",
                "UnsupportedKind",
                false,
                false,
                Err((true, &["unsupported kind"])),
            ),
            (
                "Stage not found",
                "Stage",
                false,
                false,
                Err((false, &["error getting Stage"])),
            ),
            (
                "error patching Stage status",
                "Stage",
                true,
                true,
                Err((
                    false,
                    &[
                        "error patching status of Stage",
                        "can not convert resourceVersion",
                    ],
                )),
            ),
            (
                "successful Stage metadata update",
                "Stage",
                true,
                false,
                Ok(()),
            ),
            (
                "Freight not found",
                "Freight",
                false,
                false,
                Err((false, &["error getting Freight"])),
            ),
            (
                "error patching Freight status",
                "Freight",
                true,
                true,
                Err((
                    false,
                    &[
                        "error patching status of Freight",
                        "can not convert resourceVersion",
                    ],
                )),
            ),
            (
                "successful Freight metadata update",
                "Freight",
                true,
                false,
                Ok(()),
            ),
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_metadataSetter_run: 7 rows
        let before = json!({"string": "bar", "num": 42, "complex": {"foo": "bar", "bat": "baz"}});
        let updates =
            json!({"string": "bar", "num": 43, "complex": {"updated": true}, "new": "success!"});
        for (name, kind, exists, broken, want) in rows {
            let dir = tempfile::tempdir().unwrap();
            let project = FakeProject::default();
            let key = (kind.to_string(), "test-obj".to_string());
            if exists {
                let old = before.as_object().cloned().unwrap_or_default();
                project.metadata.lock().unwrap().insert(key.clone(), old);
            }
            if broken {
                project.broken.lock().unwrap().insert(key.clone());
            }
            let cfg = SetMetadataConfig {
                updates: vec![MetadataUpdate {
                    kind: kind.into(),
                    name: "test-obj".into(),
                    values: updates.as_object().cloned().unwrap_or_default(),
                }],
            };
            match (
                with_objects(dir.path(), &project, |ctx| set(ctx, &cfg)),
                want,
            ) {
                (Ok(_), Ok(())) => assert_eq!(
                    Value::Object(project.metadata.lock().unwrap()[&key].clone()),
                    updates,
                    "{name}"
                ),
                (Err(e), Err((terminal, parts))) => {
                    assert_eq!(e.terminal, terminal, "{name}: {e}");
                    for part in parts {
                        assert!(e.message.contains(part), "{name}: {e} lacks {part:?}");
                    }
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Values merge into what the object has: later writes win per key.
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
    }
}
