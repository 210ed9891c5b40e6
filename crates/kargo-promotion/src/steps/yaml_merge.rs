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

use crate::step::{Step, StepContext, StepError, StepResult, parse_config};

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

/// Decodes and checks a config, naming the field of each problem (also
/// what admission runs on a Stage's steps).
pub fn parse(config: &Value) -> Result<YamlMergeConfig, StepError> {
    let cfg: YamlMergeConfig = parse_config(NAME, config)?;
    let mut problems = Vec::new();
    if cfg.in_files.is_empty() {
        problems.push("inFiles: at least one file is required");
    }
    if cfg.out_file.is_empty() {
        problems.push("outFile: must not be empty");
    }
    if !problems.is_empty() {
        return Err(StepError::config(NAME, problems.join("; ")));
    }
    Ok(cfg)
}

impl Step for YamlMerge {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let mut inputs: Vec<(&str, String)> = Vec::new();
        for (i, rel) in cfg.in_files.iter().enumerate() {
            let path = ctx.resolve(NAME, &format!("inFiles[{i}]"), rel)?;
            match std::fs::read_to_string(&path) {
                Ok(text) => inputs.push((rel.as_str(), text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !cfg.ignore_missing_files {
                        return Err(StepError::terminal(
                            NAME,
                            format!("input file {rel:?} not found"),
                        ));
                    }
                }
                Err(e) => {
                    return Err(StepError::retryable(
                        NAME,
                        format!("unexpected error with file {rel:?}: {e}"),
                    ));
                }
            }
        }
        let out = ctx.resolve(NAME, "outFile", &cfg.out_file)?;
        let merged = merge_texts(inputs.iter().map(|(n, t)| (*n, t.as_str())))
            .map_err(|e| StepError::terminal(NAME, format!("error merging YAML files: {e}")))?;
        let text = match merged {
            Some(doc) => yaml_serde::to_string(&doc)
                .map_err(|e| StepError::terminal(NAME, format!("error merging YAML files: {e}")))?,
            None => String::new(),
        };
        let write = |e: std::io::Error| {
            StepError::retryable(
                NAME,
                format!("error writing merged YAML to {}: {e}", cfg.out_file),
            )
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::with_ctx;

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
        assert_eq!(commit_message(&[], "out/test.yaml"), None);
        assert_eq!(
            commit_message(&["base.yaml"], "out/test.yaml").unwrap(),
            "Wrote base.yaml to out/test.yaml"
        );
        assert_eq!(
            commit_message(&["base.yaml", "overlay.yaml"], "out/test.yaml").unwrap(),
            "Merged 2 YAML files to out/test.yaml\n- base.yaml\n- overlay.yaml"
        );
    }

    /// Kargo's `Test_yamlMerger_run` rows, and its config checks.
    #[test]
    fn kargo_run_table() {
        let dir = tempfile::tempdir().unwrap();
        let run = |cfg: Value| with_ctx(dir.path(), &Map::new(), |ctx| YamlMerge.run(ctx, &cfg));
        // input file not found with ignoreMissingFiles false
        let e = run(json!({"inFiles": ["non-existent.yaml"], "outFile": "m.yaml"})).unwrap_err();
        assert!(
            e.message
                .contains("input file \"non-existent.yaml\" not found"),
            "{e}"
        );
        // error merging files
        std::fs::write(dir.path().join("invalid.yaml"), ":").unwrap();
        let e = run(json!({"inFiles": ["invalid.yaml"], "outFile": "merged.yaml"})).unwrap_err();
        assert!(e.message.contains("error merging YAML files"), "{e}");
        // successful merge, a missing file skipped
        std::fs::write(dir.path().join("base.yaml"), "version: 1.0.0").unwrap();
        std::fs::write(dir.path().join("overlay.yaml"), "version: 2.0.0").unwrap();
        let res = run(
            json!({"inFiles": ["base.yaml", "overlay.yaml", "non-existent.yaml"],
            "outFile": "out/merged.yaml", "ignoreMissingFiles": true}),
        )
        .unwrap();
        assert!(
            res.outputs["commitMessage"]
                .as_str()
                .unwrap()
                .contains("Merged 2 YAML files")
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out/merged.yaml")).unwrap(),
            "version: 2.0.0\n"
        );
        for (cfg, field) in [
            (json!({"outFile": "a.yaml"}), "inFiles"),
            (json!({"inFiles": [], "outFile": "a.yaml"}), "inFiles"),
            (json!({"inFiles": ["a.yaml"]}), "outFile"),
            (json!({"inFiles": ["a.yaml"], "outFile": ""}), "outFile"),
            (
                json!({"inFiles": ["../a.yaml"], "outFile": "b.yaml"}),
                "inFiles[0]",
            ),
        ] {
            let e = run(cfg.clone()).unwrap_err();
            assert!(e.message.contains(field), "{cfg}: {e}");
        }
    }
}
