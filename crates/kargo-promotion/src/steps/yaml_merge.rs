//! `yaml-merge`: merges YAML files in order into one output file, as
//! Kargo's `yaml-merge` does (kyaml's merge2): a later file's mappings
//! merge into the earlier ones key by key, recursively; its scalars and
//! sequences replace what was there (lists are replaced whole, as Helm
//! does with values files); a `null` removes the key. Empty files are
//! skipped; with nothing to merge the output is an empty file.
//!
//! Config (Kargo's): `inFiles` (at least one), `outFile`,
//! `ignoreMissingFiles` (default false: a missing input fails the step).
//! The output's directories are created. Output: `commitMessage`, `Wrote
//! <in> to <out>` for one input, `Merged <n> YAML files to <out>` and one
//! `- <path>` line per input otherwise (skipped missing files are not
//! listed).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use yaml_serde::Value as Yaml;

use super::files::{ConfigCheck, go_text};
use crate::step::{Step, StepContext, StepError, StepResult};

/// Kargo's name.
pub const NAME: &str = "yaml-merge";

/// Config of `yaml-merge`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct YamlMergeConfig {
    /// Files to merge, in order.
    pub in_files: Vec<String>,
    /// Where the result goes (replaced).
    pub out_file: String,
    /// Skip inputs that do not exist.
    #[serde(default)]
    pub ignore_missing_files: bool,
}

/// The `yaml-merge` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct YamlMerge;

/// Merges `patch` into `base`: mappings key by key, `null` deletes,
/// anything else replaces.
pub fn merge(base: Yaml, patch: Yaml) -> Yaml {
    match (base, patch) {
        (Yaml::Mapping(mut base), Yaml::Mapping(patch)) => {
            for (k, v) in patch {
                if v.is_null() {
                    base.remove(&k);
                    continue;
                }
                let merged = match base.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                base.insert(k, merged);
            }
            Yaml::Mapping(base)
        }
        (_, patch) => patch,
    }
}

/// Merges the texts in order; `None` when every one is empty.
pub fn merge_texts<'a>(
    texts: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Option<Yaml>, String> {
    let mut target: Option<Yaml> = None;
    for (name, text) in texts {
        let doc: Yaml = yaml_serde::from_str(text)
            .map_err(|e| format!("error reading input file {name}: {e}"))?;
        if doc.is_null() {
            // An empty file (or only comments), as kyaml's io.EOF.
            continue;
        }
        target = Some(match target {
            None => doc,
            Some(t) => merge(t, doc),
        });
    }
    Ok(target)
}

/// Kargo's commit message.
fn commit_message(inputs: &[&str], out: &str) -> Option<String> {
    match inputs {
        [] => None,
        [one] => Some(format!("Wrote {one} to {out}")),
        many => {
            let mut msg = format!("Merged {} YAML files to {out}", many.len());
            for p in many {
                msg.push_str(&format!("\n- {p}"));
            }
            Some(msg)
        }
    }
}

/// Decodes and checks a config, naming the field of every problem at
/// once (also what admission runs on a Stage's steps). An empty name in
/// `inFiles` passes, as Kargo's schema lets it.
pub fn parse(config: &Value) -> Result<YamlMergeConfig, StepError> {
    ConfigCheck::new(config)
        .required("inFiles")
        .items("inFiles", &[], &[])
        .required_string("outFile")
        .parse(NAME, config)
}

/// Kargo's `run` of a decoded config: merges the inputs into `outFile`.
/// A missing input, a merge or a write error is retryable (Kargo's step
/// ends `Errored`).
pub fn merge_files(ctx: &StepContext<'_>, cfg: &YamlMergeConfig) -> Result<StepResult, StepError> {
    let errored = |m: String| StepError::retryable(NAME, m);
    let mut inputs: Vec<(&str, String)> = Vec::new();
    for (i, rel) in cfg.in_files.iter().enumerate() {
        let path = ctx.resolve(NAME, &format!("inFiles[{i}]"), rel)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => inputs.push((rel.as_str(), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !cfg.ignore_missing_files {
                    return Err(errored(format!("input file {rel:?} not found")));
                }
            }
            Err(e) => {
                return Err(errored(format!(
                    "unexpected error with file {rel:?}: {}",
                    go_text(&e)
                )));
            }
        }
    }
    let out = ctx.resolve(NAME, "outFile", &cfg.out_file)?;
    let merged = merge_texts(inputs.iter().map(|(n, t)| (*n, t.as_str())))
        .map_err(|e| errored(format!("error merging YAML files: {e}")))?;
    let text = match merged {
        Some(doc) => yaml_serde::to_string(&doc)
            .map_err(|e| errored(format!("error merging YAML files: {e}")))?,
        None => String::new(),
    };
    let write = |e: std::io::Error| {
        errored(format!(
            "error merging YAML files: error writing merged YAML to {}: {}",
            cfg.out_file,
            go_text(&e)
        ))
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    std::fs::write(&out, text).map_err(write)?;
    let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
    let mut outputs = Map::new();
    if let Some(msg) = commit_message(&names, &cfg.out_file) {
        outputs.insert("commitMessage".into(), json!(msg));
    }
    Ok(StepResult::succeeded(outputs))
}

impl Step for YamlMerge {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        merge_files(ctx, &parse(config)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::with_ctx;
    use crate::steps::files::fixture::check_configs;

    fn yaml(text: &str) -> Yaml {
        yaml_serde::from_str(text).unwrap()
    }

    /// Kargo's `TestMergeFiles` "successful merge" row (pkg/yaml/merge_test.go):
    /// an empty file tolerated, mappings merged, the list replaced whole.
    #[test]
    fn kargo_merge_files_table() {
        let base = "\ncharacter:\n  name: Vader\n  ability: Force\n  affiliation: Empire\n  saberColor: red\nvehicles:\n- Star Destroyer";
        let overlay = "\ncharacter:\n  name: Luke # Alters character.name from the base\n  # ability: Force  # Should be inherited from the base without alteration\n  affiliation: Rebel Alliance # Alters character.affiliation from the base\n  saberColor: blue # Alters character.saberColor from the base\n  siblings: # A completely new field that the base does not have\n  - Leia\nvehicles: # Completely replaces vehicles list from the base\n- Millennium Falcon";
        let merged = merge_texts([
            ("empty.yaml", ""),
            ("base.yaml", base),
            ("overlay.yaml", overlay),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            merged,
            yaml(
                "character:\n  name: Luke\n  ability: Force\n  affiliation: Rebel Alliance\n  saberColor: blue\n  siblings:\n  - Leia\nvehicles:\n- Millennium Falcon\n"
            )
        );
        // "no input files": nothing to merge.
        assert_eq!(merge_texts([]).unwrap(), None);
        // "input file does not contain valid YAML".
        assert!(
            merge_texts([("bad.yaml", "{")])
                .unwrap_err()
                .contains("bad.yaml")
        );
        // A null removes the key, as kyaml's merge does.
        assert_eq!(
            merge(yaml("a: 1\nb: 2\n"), yaml("b: null\nc: 3\n")),
            yaml("a: 1\nc: 3\n")
        );
    }

    /// Kargo's `Test_YAMLMerger_generateCommitMessage` rows.
    #[test]
    fn kargo_commit_messages() {
        let rows: [(&[&str], Option<&str>); 3] = [
            (&[], None),
            (&["base.yaml"], Some("Wrote base.yaml to out/test.yaml")),
            (
                &["base.yaml", "overrides.yaml"],
                Some("Merged 2 YAML files to out/test.yaml\n- base.yaml\n- overrides.yaml"),
            ),
        ];
        assert_eq!(rows.len(), 3); // Kargo's Test_YAMLMerger_generateCommitMessage: 3 rows
        for (inputs, want) in rows {
            assert_eq!(
                commit_message(inputs, "out/test.yaml").as_deref(),
                want,
                "{inputs:?}"
            );
        }
    }

    /// Kargo's `Test_yamlMerger_convert` rows.
    #[test]
    fn kargo_convert_table() {
        let rows: &[(&str, Value, &[&str])] = &[
            (
                "inFiles not specified (missing path field)",
                json!({"outFile": "valid.yaml"}),
                &["inFiles: required"],
            ),
            (
                "inFiles field is an empty array",
                json!({"inFiles": [], "outFile": "valid.yaml"}),
                &["invalid config: inFiles: must have at least 1 item"],
            ),
            (
                "inFiles contains empty string",
                json!({"inFiles": [""], "outFile": "valid.yaml"}),
                &[],
            ),
            (
                "outFile not specified (missing path field)",
                json!({"inFiles": ["valid.yaml"]}),
                &["invalid config: outFile: required"],
            ),
            (
                "outFile is empty string",
                json!({"inFiles": ["valid.yaml"], "outFile": ""}),
                &["invalid config: outFile: must not be empty"],
            ),
            (
                "valid configuration (inFiles + outFile present)",
                json!({"inFiles": ["valid.yaml"], "outFile": "valid.yaml"}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 6); // Kargo's Test_yamlMerger_convert: 6 rows
        check_configs(parse, rows);
    }

    /// Kargo's `Test_YAMLMerger_run` rows (called past the schema): the
    /// files to lay out, the config, a part of the commit message or of
    /// the (retryable) error.
    #[test]
    fn kargo_run_table() {
        type Row = (
            &'static str,
            &'static [(&'static str, &'static str)],
            Value,
            Result<&'static str, &'static str>,
        );
        let rows: [Row; 3] = [
            (
                "input file not found with ignoreMissingFiles false",
                &[],
                json!({"inFiles": ["non-existent.yaml"], "outFile": "", "ignoreMissingFiles": false}),
                Err("input file \"non-existent.yaml\" not found"),
            ),
            (
                "error merging files",
                &[("invalid.yaml", ":")],
                json!({"inFiles": ["invalid.yaml"], "outFile": "merged.yaml"}),
                Err("error merging YAML files"),
            ),
            (
                "successful merge",
                &[
                    ("base.yaml", "version: 1.0.0"),
                    ("overlay.yaml", "version: 2.0.0"),
                ],
                json!({"inFiles": ["base.yaml", "overlay.yaml", "non-existent.yaml"],
                       "outFile": "merged.yaml", "ignoreMissingFiles": true}),
                Ok("Merged 2 YAML files"),
            ),
        ];
        assert_eq!(rows.len(), 3); // Kargo's Test_YAMLMerger_run: 3 rows
        for (name, files, cfg, want) in rows {
            let dir = tempfile::tempdir().unwrap();
            for (p, text) in files {
                std::fs::write(dir.path().join(p), text).unwrap();
            }
            let cfg: YamlMergeConfig = serde_json::from_value(cfg).unwrap();
            let got = with_ctx(dir.path(), &Map::new(), |ctx| merge_files(ctx, &cfg));
            match (got, want) {
                (Ok(res), Ok(part)) => {
                    let msg = res.outputs["commitMessage"].as_str().unwrap_or_default();
                    assert!(msg.contains(part), "{name}: {msg}");
                }
                (Err(e), Err(part)) => {
                    assert!(!e.terminal, "{name}: {e}");
                    assert!(e.message.contains(part), "{name}: {e} lacks {part:?}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// The step's own checks beyond Kargo's tables: the merged text, the
    /// output's directories created, paths kept in the work tree.
    #[test]
    fn the_step_merges_into_new_directories() {
        let dir = tempfile::tempdir().unwrap();
        let run = |cfg: Value| with_ctx(dir.path(), &Map::new(), |ctx| YamlMerge.run(ctx, &cfg));
        std::fs::write(dir.path().join("base.yaml"), "version: 1.0.0").unwrap();
        std::fs::write(dir.path().join("overlay.yaml"), "version: 2.0.0").unwrap();
        run(json!({"inFiles": ["base.yaml", "overlay.yaml"], "outFile": "out/merged.yaml"}))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out/merged.yaml")).unwrap(),
            "version: 2.0.0\n"
        );
        let e = run(json!({"inFiles": ["../a.yaml"], "outFile": "b.yaml"})).unwrap_err();
        assert!(e.terminal && e.message.contains("inFiles[0]"), "{e}");
    }
}
