//! `git-clear`: removes every file of a git working tree except `.git`, so
//! a later step can write the tree from scratch. Config: `path`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::step::{Step, StepContext, StepError, StepResult, parse_config};

const NAME: &str = "git-clear";

/// Config of `git-clear`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitClearConfig {
    /// A working tree, relative to the work directory.
    pub path: String,
}

/// The `git-clear` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitClear;

impl Step for GitClear {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg: GitClearConfig = parse_config(NAME, config)?;
        let dir = ctx.working_tree(NAME, &cfg.path)?;
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| StepError::retryable(NAME, format!("reading {:?}: {e}", cfg.path)))?;
        for entry in entries {
            let entry = entry
                .map_err(|e| StepError::retryable(NAME, format!("reading {:?}: {e}", cfg.path)))?;
            if entry.file_name() == ".git" {
                continue;
            }
            let p = entry.path();
            let r = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(|e| StepError::retryable(NAME, format!("removing {}: {e}", p.display())))?;
        }
        Ok(StepResult::succeeded(Map::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::NoCredentials;
    use kargo_expr::PromotionContext;
    use serde_json::json;

    #[test]
    fn removes_all_but_git() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let tree = tmp.path().join("src");
        std::fs::create_dir_all(tree.join(".git"))?;
        std::fs::create_dir_all(tree.join("a/b"))?;
        std::fs::write(tree.join("a/b/c.yaml"), "x: 1")?;
        std::fs::write(tree.join("top.txt"), "t")?;
        std::fs::write(tree.join(".git/HEAD"), "ref: refs/heads/main")?;
        let promotion = PromotionContext::default();
        let (outputs, shared) = (Map::new(), Map::new());
        let ctx = StepContext {
            work_dir: tmp.path(),
            alias: "clear",
            promotion: &promotion,
            outputs: &outputs,
            shared: &shared,
            credentials: &NoCredentials,
            apps: None,
            objects: None,
            allow_file_repos: true,
            limits: &crate::limits::Limits::default(),
            ui_base_url: None,
        };
        GitClear.run(&ctx, &json!({"path": "./src"}))?;
        let left: Vec<_> = std::fs::read_dir(&tree)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from(".git")]);
        assert!(tree.join(".git/HEAD").exists());
        let err = GitClear.run(&ctx, &json!({"path": "../elsewhere"}));
        assert!(matches!(err, Err(StepError { terminal: true, .. })));
        let err = GitClear.run(&ctx, &json!({}));
        assert!(err.is_err_and(|e| e.to_string().contains("missing field `path`")));
        Ok(())
    }

    #[test]
    fn never_deletes_through_a_symlink() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let work = tmp.path().join("work");
        let tree = work.join("src");
        std::fs::create_dir_all(tree.join(".git"))?;
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(outside.join(".git"))?;
        std::fs::write(outside.join("keep.txt"), "k")?;
        std::os::unix::fs::symlink(&outside, tree.join("dir-link"))?;
        std::os::unix::fs::symlink(outside.join("keep.txt"), tree.join("file-link"))?;
        std::os::unix::fs::symlink(&outside, work.join("elsewhere"))?;
        let shared = Map::new();
        crate::git::testutil::with_ctx(&work, &shared, |ctx| {
            GitClear.run(ctx, &json!({"path": "src"}))
        })?;
        // The links went; what they pointed to stayed.
        assert!(!tree.join("dir-link").exists() && !tree.join("file-link").exists());
        assert_eq!(std::fs::read_to_string(outside.join("keep.txt"))?, "k");
        // A working tree reached through a symlink out of the work tree.
        let err = crate::git::testutil::with_ctx(&work, &shared, |ctx| {
            GitClear.run(ctx, &json!({"path": "elsewhere"}))
        });
        assert!(err.is_err_and(|e| {
            e.terminal
                && e.message
                    .contains("path: \"elsewhere\" resolves outside the work tree")
        }),);
        assert_eq!(std::fs::read_to_string(outside.join("keep.txt"))?, "k");
        Ok(())
    }
}
