//! `kustomize-set-image`: sets an image's revision in a directory's
//! `kustomization.yaml`, as `kustomize edit set image` does (and, like it,
//! rewrites the file in kustomize's layout): the entry of `images` whose
//! `name` is the image gets `newTag` or `digest` (the other is removed)
//! and, optionally, `newName`; a missing entry is appended. Outputs
//! `commitMessage` for `git-commit`'s `messageFromSteps`.
//!
//! Each image must say its revision (`tag` or `digest`, usually from an
//! expression such as `${{ imageFrom(vars.imageRepo).Tag }}`); Kargo's
//! "all images of the Freight" default and the deprecated `useDigest` /
//! `fromOrigin` are not supported and say so.

use crate::step::{Step, StepContext, StepError, StepResult, parse_config};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use yaml_serde::{Mapping, Value as Yaml};

/// Step name.
pub const NAME: &str = "kustomize-set-image";
const FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One image to set.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageUpdate {
    /// The image name as `kustomization.yaml` lists it.
    pub image: String,
    /// A tag.
    #[serde(default)]
    pub tag: String,
    /// A digest (`sha256:...`).
    #[serde(default)]
    pub digest: String,
    /// A replacement name.
    #[serde(default)]
    pub new_name: String,
    /// Deprecated in Kargo; refused here with a hint.
    #[serde(default)]
    pub use_digest: bool,
    /// Deprecated in Kargo; refused here with a hint.
    #[serde(default)]
    pub from_origin: Option<Value>,
}

/// `config` of the step.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Directory holding `kustomization.yaml`.
    pub path: String,
    /// Images to set.
    #[serde(default)]
    pub images: Vec<ImageUpdate>,
}

/// The step.
pub struct KustomizeSetImage;

fn check(cfg: &Config) -> Result<(), StepError> {
    if cfg.images.is_empty() {
        return Err(StepError::config(
            NAME,
            "images: list the images to set, each with a tag or digest (for example tag: ${{ imageFrom(\"my/image\").Tag }})",
        ));
    }
    for (i, im) in cfg.images.iter().enumerate() {
        let field = |f: &str| format!("images[{i}].{f}");
        if im.image.trim().is_empty() {
            return Err(StepError::config(
                NAME,
                format!("{}: must not be empty", field("image")),
            ));
        }
        if im.use_digest || im.from_origin.is_some() {
            return Err(StepError::config(
                NAME,
                format!(
                    "{}: useDigest and fromOrigin are deprecated in Kargo and not supported; set digest: ${{{{ imageFrom(\"{}\").Digest }}}} instead",
                    field("image"),
                    im.image
                ),
            ));
        }
        match (im.tag.is_empty(), im.digest.is_empty()) {
            (false, false) => {
                return Err(StepError::config(
                    NAME,
                    format!("{}: tag and digest are mutually exclusive", field("tag")),
                ));
            }
            (true, true) if im.new_name.is_empty() => {
                return Err(StepError::config(
                    NAME,
                    format!(
                        "{}: give a tag, a digest or a newName (for example tag: ${{{{ imageFrom(\"{}\").Tag }}}})",
                        field("tag"),
                        im.image
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn key(k: &str) -> Yaml {
    Yaml::String(k.to_string())
}

/// Applies the updates to a parsed kustomization.
fn apply(doc: &mut Mapping, images: &[ImageUpdate]) -> Result<(), String> {
    let list = doc
        .entry(key("images"))
        .or_insert_with(|| Yaml::Sequence(Vec::new()));
    let Yaml::Sequence(entries) = list else {
        return Err("images: is not a list".into());
    };
    for im in images {
        let pos = entries
            .iter()
            .position(|e| e.get("name").and_then(Yaml::as_str) == Some(im.image.as_str()));
        let entry = match pos {
            Some(i) => &mut entries[i],
            None => {
                let mut m = Mapping::new();
                m.insert(key("name"), key(&im.image));
                entries.push(Yaml::Mapping(m));
                entries.last_mut().expect("just pushed")
            }
        };
        let Yaml::Mapping(m) = entry else {
            return Err(format!(
                "images: the entry for {:?} is not a mapping",
                im.image
            ));
        };
        if !im.new_name.is_empty() {
            m.insert(key("newName"), key(&im.new_name));
        }
        if !im.tag.is_empty() {
            m.insert(key("newTag"), key(&im.tag));
            m.remove("digest");
        }
        if !im.digest.is_empty() {
            m.insert(key("digest"), key(&im.digest));
            m.remove("newTag");
        }
    }
    Ok(())
}

impl Step for KustomizeSetImage {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg: Config = parse_config(NAME, config)?;
        check(&cfg)?;
        ctx.resolve(NAME, "path", &cfg.path)?;
        let mut found = None;
        for f in FILES {
            // Each candidate is resolved on its own: a committed
            // kustomization.yaml may itself be a symlink.
            let rel = std::path::Path::new(&cfg.path).join(f);
            let p = ctx.resolve(NAME, "path", &rel.to_string_lossy())?;
            if p.is_file() {
                found = Some(p);
                break;
            }
        }
        let Some(file) = found else {
            return Err(StepError::terminal(
                NAME,
                format!("path: {:?} has no kustomization.yaml", cfg.path),
            ));
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| StepError::retryable(NAME, format!("reading {}: {e}", file.display())))?;
        let mut doc: Mapping = if text.trim().is_empty() {
            Mapping::new()
        } else {
            yaml_serde::from_str(&text).map_err(|e| {
                StepError::terminal(
                    NAME,
                    format!(
                        "{}/{}: not a kustomization: {e}",
                        cfg.path,
                        file_name(&file)
                    ),
                )
            })?
        };
        apply(&mut doc, &cfg.images).map_err(|e| {
            StepError::terminal(NAME, format!("{}/{}: {e}", cfg.path, file_name(&file)))
        })?;
        let out = yaml_serde::to_string(&doc)
            .map_err(|e| StepError::terminal(NAME, format!("writing YAML: {e}")))?;
        std::fs::write(&file, out)
            .map_err(|e| StepError::retryable(NAME, format!("writing {}: {e}", file.display())))?;
        let mut message = format!(
            "Updated {}/{} to use new image{}\n",
            cfg.path.trim_end_matches('/'),
            file_name(&file),
            if cfg.images.len() > 1 { "s" } else { "" }
        );
        for im in &cfg.images {
            let name = if im.new_name.is_empty() {
                &im.image
            } else {
                &im.new_name
            };
            let rev = if !im.digest.is_empty() {
                format!("@{}", im.digest)
            } else if !im.tag.is_empty() {
                format!(":{}", im.tag)
            } else {
                String::new()
            };
            message.push_str(&format!("\n- {name}{rev}"));
        }
        Ok(StepResult::succeeded(Map::from_iter([(
            "commitMessage".to_string(),
            json!(message),
        )])))
    }
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::with_ctx;

    fn run(dir: &std::path::Path, cfg: Value) -> Result<StepResult, StepError> {
        with_ctx(dir, &Map::new(), |ctx| KustomizeSetImage.run(ctx, &cfg))
    }

    #[test]
    fn sets_updates_and_appends_images() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let base = tmp.path().join("src/base");
        std::fs::create_dir_all(&base)?;
        std::fs::write(
            base.join("kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deploy.yaml\nimages:\n- name: my/app\n  digest: sha256:old\n- name: other\n  newTag: '1'\n",
        )?;
        let res = run(
            tmp.path(),
            json!({"path": "./src/base", "images": [
                {"image": "my/app", "tag": "1.5.0"},
                {"image": "my/sidecar", "digest": "sha256:abc", "newName": "mirror/sidecar"}
            ]}),
        )?;
        let doc: Yaml =
            yaml_serde::from_str(&std::fs::read_to_string(base.join("kustomization.yaml"))?)?;
        let images = doc["images"].as_sequence().ok_or("images")?;
        assert_eq!(images.len(), 3);
        assert_eq!(images[0]["newTag"].as_str(), Some("1.5.0"));
        assert!(
            images[0].get("digest").is_none(),
            "a tag replaces the digest"
        );
        assert_eq!(images[1]["newTag"].as_str(), Some("1"), "others untouched");
        assert_eq!(images[2]["name"].as_str(), Some("my/sidecar"));
        assert_eq!(images[2]["newName"].as_str(), Some("mirror/sidecar"));
        assert_eq!(images[2]["digest"].as_str(), Some("sha256:abc"));
        assert_eq!(doc["resources"][0].as_str(), Some("deploy.yaml"));
        let msg = res.outputs["commitMessage"].as_str().ok_or("message")?;
        assert!(
            msg.starts_with("Updated ./src/base/kustomization.yaml to use new images"),
            "{msg}"
        );
        assert!(
            msg.contains("- my/app:1.5.0") && msg.contains("- mirror/sidecar@sha256:abc"),
            "{msg}"
        );
        Ok(())
    }

    #[test]
    fn clear_errors() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        std::fs::create_dir_all(tmp.path().join("empty"))?;
        let e = run(
            tmp.path(),
            json!({"path": "empty", "images": [{"image": "a", "tag": "1"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("no kustomization.yaml"), "{e}");
        let e = run(tmp.path(), json!({"path": "empty"})).unwrap_err();
        assert!(e.message.contains("images:"), "{e}");
        let e = run(
            tmp.path(),
            json!({"path": "empty", "images": [{"image": "a"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("images[0].tag"), "{e}");
        let e = run(
            tmp.path(),
            json!({"path": "empty", "images": [{"image": "a", "tag": "1", "digest": "sha256:x"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("mutually exclusive"), "{e}");
        let e = run(
            tmp.path(),
            json!({"path": "empty", "images": [{"image": "a", "useDigest": true}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("deprecated"), "{e}");
        let e = run(
            tmp.path(),
            json!({"path": "../x", "images": [{"image": "a", "tag": "1"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("inside the work directory"), "{e}");
        std::fs::write(
            tmp.path().join("empty/kustomization.yaml"),
            "images: nope\n",
        )?;
        let e = run(
            tmp.path(),
            json!({"path": "empty", "images": [{"image": "a", "tag": "1"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("not a list"), "{e}");
        Ok(())
    }

    #[test]
    fn a_symlinked_kustomization_outside_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let work = tmp.path().join("work");
        std::fs::create_dir_all(work.join("src/base"))?;
        let outside = tmp.path().join("kustomization.yaml");
        std::fs::write(&outside, "images: []\n")?;
        std::os::unix::fs::symlink(&outside, work.join("src/base/kustomization.yaml"))?;
        let e = run(
            &work,
            json!({"path": "src/base", "images": [{"image": "a", "tag": "1"}]}),
        )
        .unwrap_err();
        assert!(
            e.terminal && e.message.contains("resolves outside the work tree"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&outside)?, "images: []\n");
        // The directory itself through a symlink that leaves the tree.
        std::os::unix::fs::symlink(tmp.path(), work.join("up"))?;
        let e = run(
            &work,
            json!({"path": "up", "images": [{"image": "a", "tag": "1"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("path: \"up\" resolves outside"), "{e}");
        assert_eq!(std::fs::read_to_string(&outside)?, "images: []\n");
        Ok(())
    }
}
