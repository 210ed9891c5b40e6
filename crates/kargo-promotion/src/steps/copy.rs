//! `copy`: copies a file or a directory tree inside the work directory,
//! as Kargo's `file_copier.go` does. Config: `inPath`, `outPath`, `ignore`
//! (gitignore-style rules, relative to `inPath`, or to its directory for
//! a file; `.git` is always ignored first, so `!.git/` brings it back).
//! Directories merge into an existing destination, files are overwritten,
//! permission bits are kept. No outputs.
//!
//! Symlinks: `inPath` and `outPath` are resolved by
//! [`StepContext::resolve`] (a link leading out of the work tree is an
//! error); inside the source every symlink is skipped, as in Kargo, so a
//! link pointing outside is never followed. Unlike Kargo, a symlink in the
//! destination is replaced by what is copied, never written through, and
//! an `outPath` inside `inPath` is not copied into itself.

use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{ConfigCheck, DefaultGitRule, IgnoreRules, io_error};
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "copy";

/// Config of `copy` (Kargo's `CopyConfig`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopyConfig {
    /// The file or directory to copy.
    pub in_path: String,
    /// Where to copy it.
    pub out_path: String,
    /// Gitignore-style rules, one a line.
    #[serde(default)]
    pub ignore: Option<String>,
}

/// Checks and decodes a `copy` config (Kargo's schema: `inPath` and
/// `outPath` required, those and `ignore` non-empty).
pub fn parse(config: &Value) -> Result<CopyConfig, StepError> {
    ConfigCheck::new(config).in_out_ignore().parse(NAME, config)
}

/// The `copy` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct Copy;

impl Step for Copy {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        copy(ctx, &parse(config)?)
    }
}

/// Where a copy goes and what it leaves out.
struct Job<'a> {
    work_dir: &'a Path,
    rules: IgnoreRules,
    /// `outPath` resolved, never copied into itself.
    out: &'a Path,
}

/// Runs a decoded config.
pub fn copy(ctx: &StepContext<'_>, cfg: &CopyConfig) -> Result<StepResult, StepError> {
    let src = ctx.resolve(NAME, "inPath", &cfg.in_path)?;
    let dst = ctx.resolve(NAME, "outPath", &cfg.out_path)?;
    let job = Job {
        work_dir: ctx.work_dir,
        rules: IgnoreRules::parse(
            NAME,
            cfg.ignore.as_deref().unwrap_or(""),
            DefaultGitRule::Always,
        )?,
        out: &dst,
    };
    let fail = |detail: String| {
        StepError::retryable(
            NAME,
            format!(
                "failed to copy {:?} to {:?}: {detail}",
                cfg.in_path, cfg.out_path
            ),
        )
    };
    let meta =
        fs::symlink_metadata(&src).map_err(|e| fail(io_error(ctx.work_dir, "lstat", &src, &e)))?;
    if meta.is_dir() {
        job.dir(&src, &dst, "").map_err(fail)?;
    } else if meta.is_file() {
        let name = src.file_name().map(|n| n.to_string_lossy().into_owned());
        if !job.rules.is_ignored(name.as_deref().unwrap_or(""), false) {
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| fail(io_error(ctx.work_dir, "mkdir", parent, &e)))?;
            }
            job.file(&src, &dst).map_err(fail)?;
        }
    }
    Ok(StepResult::succeeded(Map::new()))
}

impl Job<'_> {
    /// Copies the directory `src` (at `rel` below the root) into `dst`.
    fn dir(&self, src: &Path, dst: &Path, rel: &str) -> Result<(), String> {
        let io = |op: &str, p: &Path, e: std::io::Error| io_error(self.work_dir, op, p, &e);
        if fs::symlink_metadata(dst).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(dst).map_err(|e| io("remove", dst, e))?;
        }
        fs::create_dir_all(dst).map_err(|e| io("mkdir", dst, e))?;
        let mut entries: Vec<_> = fs::read_dir(src)
            .map_err(|e| io("open", src, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| io("readdir", src, e))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let from = entry.path();
            if from == self.out {
                continue;
            }
            let kind = entry.file_type().map_err(|e| io("lstat", &from, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if kind.is_symlink() || self.rules.is_ignored(&child, kind.is_dir()) {
                continue;
            }
            let to = dst.join(&name);
            if kind.is_dir() {
                self.dir(&from, &to, &child)?;
            } else if kind.is_file() {
                self.file(&from, &to)?;
            }
        }
        let perms = fs::metadata(src)
            .map_err(|e| io("stat", src, e))?
            .permissions();
        fs::set_permissions(dst, perms).map_err(|e| io("chmod", dst, e))
    }

    /// Copies the file `src` to `dst` with its permission bits; a symlink
    /// or directory at `dst` is replaced.
    fn file(&self, src: &Path, dst: &Path) -> Result<(), String> {
        let io = |op: &str, p: &Path, e: std::io::Error| io_error(self.work_dir, op, p, &e);
        if fs::symlink_metadata(dst).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(dst).map_err(|e| io("remove", dst, e))?;
        }
        fs::copy(src, dst)
            .map(|_| ())
            .map_err(|e| io("copy", dst, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, with_ctx};
    use crate::steps::files::fixture::{
        Is, Node, Want, check_configs, check_outcome, check_tree, lay, run, work_tree,
    };
    use serde_json::json;

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_filerCopier_convert.
        let rows: &[(&str, Value, &[&str])] = &[
            ("inPath not specified", json!({}), &["inPath: required"]),
            (
                "inPath is empty string",
                json!({"inPath": ""}),
                &["inPath: must not be empty"],
            ),
            (
                "outPath not specified",
                json!({"inPath": "/source/path"}),
                &["outPath: required"],
            ),
            (
                "outPath is empty string",
                json!({"inPath": "/source/path", "outPath": ""}),
                &["outPath: must not be empty"],
            ),
            (
                "ignore is empty string",
                json!({"inPath": "/source/path", "outPath": "/destination/path", "ignore": ""}),
                &["ignore: must not be empty"],
            ),
            (
                "both required fields missing",
                json!({"ignore": "*.log\n*.tmp"}),
                &["inPath: required", "outPath: required"],
            ),
            (
                "valid minimal config",
                json!({"inPath": "/source/path", "outPath": "/destination/path"}),
                &[],
            ),
            (
                "valid config with ignore patterns",
                json!({"inPath": "/source/path", "outPath": "/destination/path",
                       "ignore": "*.log\n*.tmp\nnode_modules/\n.git/"}),
                &[],
            ),
            (
                "valid kitchen sink",
                json!({"inPath": "/path/to/source/directory",
                       "outPath": "/path/to/destination/directory",
                       "ignore": "# Ignore log files\n*.log\n*.tmp\n\n# Ignore build artifacts\nbuild/\ndist/\n\n# Ignore version control\n.git/\n.svn/"}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 9); // Kargo's Test_filerCopier_convert: 9 rows
        check_configs(parse, rows);
        assert!(
            parse(&json!({"inPath": "a", "outPath": "b", "bogus": 1}))
                .is_err_and(|e| e.message.contains("unknown field `bogus`"))
        );
    }

    /// A row of Kargo's `Test_fileCopier_run`.
    struct Row {
        name: &'static str,
        files: &'static [(&'static str, Node)],
        cfg: CopyConfig,
        want: Want,
        after: &'static [(&'static str, Is)],
    }

    fn cfg(in_path: &str, out_path: &str, ignore: Option<&str>) -> CopyConfig {
        CopyConfig {
            in_path: in_path.into(),
            out_path: out_path.into(),
            ignore: ignore.map(Into::into),
        }
    }

    #[test]
    fn upstream_run_rows() -> TestResult {
        let rows = [
            Row {
                name: "succeeds copying file",
                files: &[("input.txt", Node::File("test content"))],
                cfg: cfg("input.txt", "output.txt", None),
                want: Want::Ok,
                after: &[("output.txt", Is::File("test content"))],
            },
            Row {
                name: "succeeds copying directory",
                files: &[
                    ("input/input.txt", Node::File("test content")),
                    ("input/nested/nested.txt", Node::File("nested content")),
                ],
                cfg: cfg("input/", "output/", None),
                want: Want::Ok,
                after: &[
                    ("output/input.txt", Is::File("test content")),
                    ("output/nested/nested.txt", Is::File("nested content")),
                ],
            },
            Row {
                name: "ignores symlink",
                files: &[
                    ("input/input.txt", Node::File("test content")),
                    ("input/symlink.txt", Node::Link("input.txt")),
                ],
                cfg: cfg("input/", "output/", None),
                want: Want::Ok,
                after: &[
                    ("output/input.txt", Is::File("test content")),
                    ("output/symlink.txt", Is::Missing),
                ],
            },
            Row {
                name: "default ignore rule ignores .git directory",
                files: &[
                    ("input/.git/file.txt", Node::File("ignored content")),
                    ("input/input.txt", Node::File("test content")),
                ],
                cfg: cfg("input/", "output/", None),
                want: Want::Ok,
                after: &[
                    ("output/input.txt", Is::File("test content")),
                    ("output/.git", Is::Missing),
                ],
            },
            Row {
                name: "default ignore rule ignores .git file",
                files: &[
                    ("input/.git", Node::File("ignored content")),
                    ("input/input.txt", Node::File("test content")),
                ],
                cfg: cfg("input/", "output/", None),
                want: Want::Ok,
                after: &[
                    ("output/input.txt", Is::File("test content")),
                    ("output/.git", Is::Missing),
                ],
            },
            Row {
                name: "overwrite default ignore rules",
                files: &[
                    ("input/.git/file.txt", Node::File("included content")),
                    ("input/input.txt", Node::File("test content")),
                ],
                cfg: cfg("input/", "output/", Some("!.git/")),
                want: Want::Ok,
                after: &[
                    ("output/input.txt", Is::File("test content")),
                    ("output/.git/file.txt", Is::File("included content")),
                ],
            },
            Row {
                name: "fails with invalid input path",
                files: &[],
                cfg: cfg("input.txt", "", None),
                want: Want::Err(false, "failed to copy"),
                after: &[],
            },
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_fileCopier_run: 7 rows
        for row in rows {
            let tmp = tempfile::tempdir()?;
            lay(tmp.path(), row.files)?;
            let got = with_ctx(tmp.path(), &Map::new(), |ctx| copy(ctx, &row.cfg));
            check_outcome(row.name, &got, row.want);
            check_tree(row.name, tmp.path(), row.after);
        }
        Ok(())
    }

    #[test]
    fn never_reads_or_writes_outside_the_work_tree() -> TestResult {
        let (tmp, work) = work_tree(&[
            ("outside/secret.txt", Node::File("secret")),
            ("work/in/a.txt", Node::File("a")),
            ("work/in/leak", Node::Link("../../outside")),
            ("work/in/leak.txt", Node::Link("../../outside/secret.txt")),
            ("work/out/a.txt", Node::Link("../../outside/secret.txt")),
            ("work/in/sub/b.txt", Node::File("b")),
            ("work/out/sub", Node::Link("../../outside")),
            ("work/escape", Node::Link("../outside")),
        ])?;
        let run = |c: Value| run(&Copy, &work, &c);
        run(json!({"inPath": "in", "outPath": "out"}))?;
        check_tree(
            "links",
            &work,
            &[
                ("out/a.txt", Is::File("a")),
                ("out/leak", Is::Missing),
                ("out/leak.txt", Is::Missing),
                ("out/sub/b.txt", Is::File("b")),
            ],
        );
        // The link in the destination was replaced, not written through.
        check_tree(
            "outside",
            tmp.path(),
            &[
                ("outside/secret.txt", Is::File("secret")),
                ("outside/b.txt", Is::Missing),
            ],
        );
        for (c, field) in [
            (
                json!({"inPath": "escape/secret.txt", "outPath": "x"}),
                "inPath",
            ),
            (json!({"inPath": "in", "outPath": "escape/x"}), "outPath"),
            (json!({"inPath": "../outside", "outPath": "x"}), "inPath"),
        ] {
            let err = run(c);
            assert!(err.is_err_and(|e| e.terminal && e.message.contains(field)));
        }
        // A destination inside the source is not copied into itself.
        run(json!({"inPath": ".", "outPath": "in/copy", "ignore": "out/\nescape"}))?;
        check_tree(
            "self",
            &work,
            &[
                ("in/copy/in/a.txt", Is::File("a")),
                ("in/copy/in/copy", Is::Missing),
            ],
        );
        Ok(())
    }
}
