//! `delete`: removes files, directories and symlinks in the work directory,
//! as Kargo's `file_deleter.go` does. Config: `path` or `paths` (exactly
//! one), `pathsAreGlobs` (doublestar globs through `kargo_api::glob`),
//! `strict` (a missing path or a pattern matching nothing fails). No
//! outputs.
//!
//! A symlink named by a path (or matched by a glob) is removed as a link,
//! never followed; the directories above it are resolved by
//! [`StepContext::resolve`], so nothing outside the work tree is removed.
//! A glob is expanded by walking the tree from its literal prefix; the
//! walk follows symlinked directories that stay inside the work tree and
//! never enters one that leads out (Kargo's walk enters it and then
//! refuses the match), and a `..` in a glob matches nothing, as in Kargo.

use std::collections::HashSet;
use std::io::ErrorKind::{NotADirectory, NotFound};
use std::path::{Path, PathBuf};

use kargo_api::glob::Glob;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{ConfigCheck, clean, io_error, remove_entry};
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "delete";

/// Config of `delete` (Kargo's `DeleteConfig`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteConfig {
    /// One path (or glob).
    #[serde(default)]
    pub path: Option<String>,
    /// Several paths (or globs).
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Treat `path` / `paths` as doublestar glob patterns.
    #[serde(default)]
    pub paths_are_globs: bool,
    /// Fail when a path does not exist or a pattern matches nothing.
    #[serde(default)]
    pub strict: bool,
}

/// Checks and decodes a `delete` config (Kargo's schema: exactly one of
/// `path` and `paths`, non-empty strings, at least one entry in `paths`).
pub fn parse(config: &Value) -> Result<DeleteConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    match (c.get("path").is_some(), c.get("paths")) {
        (false, None) => c.problem("one of path or paths is required".into()),
        (true, Some(_)) => c.problem("path and paths are mutually exclusive".into()),
        (_, Some(Value::Array(list))) => {
            if list.is_empty() {
                c.problem("paths: must have at least 1 item".into());
            }
            for (i, p) in list.iter().enumerate() {
                if p.as_str() == Some("") {
                    c.problem(format!("paths[{i}]: must not be empty"));
                }
            }
        }
        _ => {}
    }
    c.non_empty("path").parse(NAME, config)
}

/// The `delete` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delete;

impl Step for Delete {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        delete(ctx, &parse(config)?)
    }
}

/// Runs a decoded config: resolves every entry first (so `strict` fails
/// before anything is removed), then removes them in order; an entry gone
/// already (under a removed directory) is fine.
pub fn delete(ctx: &StepContext<'_>, cfg: &DeleteConfig) -> Result<StepResult, StepError> {
    let mut entries: Vec<(String, &str)> = Vec::new();
    if let Some(p) = &cfg.path {
        entries.push(("path".into(), p));
    }
    for (i, p) in cfg.paths.iter().flatten().enumerate() {
        entries.push((format!("paths[{i}]"), p));
    }
    let mut targets = Vec::new();
    let mut seen = HashSet::new();
    for (field, path) in &entries {
        let found = if cfg.paths_are_globs {
            let found = expand(ctx, field, path)?;
            if found.is_empty() && cfg.strict {
                return Err(StepError::retryable(
                    NAME,
                    format!("no paths matched pattern {path:?}"),
                ));
            }
            found
        } else {
            match literal(ctx, field, path)? {
                Some(p) => vec![p],
                None if cfg.strict => {
                    return Err(StepError::retryable(
                        NAME,
                        format!("path {path:?} does not exist"),
                    ));
                }
                None => Vec::new(),
            }
        };
        targets.extend(found.into_iter().filter(|p| seen.insert(p.clone())));
    }
    for t in targets {
        match remove_entry(&t) {
            Err(e) if e.kind() != NotFound => {
                return Err(StepError::retryable(
                    NAME,
                    format!(
                        "failed to delete: {}",
                        io_error(ctx.work_dir, "remove", &t, &e)
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(StepResult::succeeded(Map::new()))
}

/// `path` cleaned lexically (Go's `filepath.Join`) into its directory
/// and last name; `None` when it names the work directory itself.
fn split(path: &str) -> Option<(String, String)> {
    match clean(path) {
        c if c == "." => None,
        c => Some(match c.rsplit_once('/') {
            Some((dir, name)) => (dir.to_string(), name.to_string()),
            None => (String::new(), c),
        }),
    }
}

/// The entry a literal path names, or `None` when it does not exist.
fn literal(ctx: &StepContext<'_>, field: &str, path: &str) -> Result<Option<PathBuf>, StepError> {
    let Some((dir, name)) = split(path) else {
        return Err(StepError::terminal(
            NAME,
            format!("{field}: {path:?} names the work directory itself"),
        ));
    };
    if name == ".." || dir.split('/').any(|c| c == "..") {
        // Leading `..`s: above the work directory, which `resolve` refuses.
        return ctx.resolve(NAME, field, path).map(|_| None);
    }
    let target = ctx.resolve(NAME, field, &dir)?.join(name);
    match std::fs::symlink_metadata(&target) {
        Ok(_) => Ok(Some(target)),
        // Nothing there, or a file where a directory should be (`a.txt/b`).
        Err(e) if matches!(e.kind(), NotFound | NotADirectory) => Ok(None),
        Err(e) => Err(StepError::retryable(
            NAME,
            format!(
                "could not resolve path {path:?}: {}",
                io_error(ctx.work_dir, "lstat", &target, &e)
            ),
        )),
    }
}

/// Characters that make a path segment a pattern.
fn is_pattern(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '{', '\\'])
}

/// The entries `pattern` matches, parents before their children.
fn expand(ctx: &StepContext<'_>, field: &str, pattern: &str) -> Result<Vec<PathBuf>, StepError> {
    let pat = pattern.strip_prefix("./").unwrap_or(pattern);
    let (pat, dirs_only) = match pat.strip_suffix('/') {
        Some(p) => (p, true),
        None => (pat, false),
    };
    let glob = Glob::new(pat).map_err(|e| StepError::terminal(NAME, e.to_string()))?;
    let segments: Vec<&str> = pat.split('/').collect();
    if pat.is_empty() || segments.contains(&"..") {
        return Ok(Vec::new());
    }
    // Walk from the literal directories before the first pattern segment
    // (never the last segment: a leaf is matched, not resolved).
    let literal_dirs = segments[..segments.len() - 1]
        .iter()
        .take_while(|s| !is_pattern(s))
        .count();
    let start_rel = segments[..literal_dirs].join("/");
    let start = ctx.resolve(NAME, field, &start_rel)?;
    let depth = if pat.contains("**") {
        usize::MAX
    } else {
        pat.matches('/').count() + 1 - literal_dirs
    };
    let mut walk = Walk {
        ctx,
        field,
        glob: &glob,
        dirs_only,
        found: Vec::new(),
        stack: HashSet::new(),
    };
    walk.dir(&start_rel, &start, depth)?;
    Ok(walk.found)
}

/// A glob's walk through the work tree.
struct Walk<'a, 'c> {
    ctx: &'a StepContext<'c>,
    field: &'a str,
    glob: &'a Glob,
    dirs_only: bool,
    found: Vec<PathBuf>,
    /// Directories on the current path (a symlink loop is not re-entered).
    stack: HashSet<PathBuf>,
}

impl Walk<'_, '_> {
    fn dir(&mut self, rel: &str, abs: &Path, depth: usize) -> Result<(), StepError> {
        if depth == 0 || !self.stack.insert(abs.to_path_buf()) {
            return Ok(());
        }
        let read = match std::fs::read_dir(abs) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), NotFound | NotADirectory) => return Ok(()),
            Err(e) => return Err(self.io("open", abs, &e)),
        };
        let mut entries: Vec<_> = read
            .collect::<Result<_, _>>()
            .map_err(|e| self.io("readdir", abs, &e))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry
                .file_type()
                .map_err(|e| self.io("lstat", &entry.path(), &e))?;
            // A symlinked directory inside the tree is walked where it
            // points; one leading out is neither matched as a directory
            // nor entered.
            let real_dir = if kind.is_dir() {
                Some(entry.path())
            } else if kind.is_symlink() {
                self.ctx
                    .resolve(NAME, self.field, &child)
                    .ok()
                    .filter(|p| p.is_dir())
            } else {
                None
            };
            if self.glob.is_match(&child) && (!self.dirs_only || real_dir.is_some()) {
                self.found.push(entry.path());
            }
            if let Some(real) = real_dir {
                self.dir(&child, &real, depth - 1)?;
            }
        }
        self.stack.remove(abs);
        Ok(())
    }

    fn io(&self, op: &str, p: &Path, e: &std::io::Error) -> StepError {
        StepError::retryable(NAME, io_error(self.ctx.work_dir, op, p, e))
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
        // Kargo's Test_fileDeleter_convert; JSON schema's "Must validate one
        // and only one schema" reads "one of path or paths is required".
        let rows: &[(&str, Value, &[&str])] = &[
            (
                "path and paths not specified",
                json!({}),
                &["one of path or paths is required"],
            ),
            (
                "path is empty string",
                json!({"path": ""}),
                &["path: must not be empty"],
            ),
            (
                "strict is not specified",
                json!({"path": "/path/to/delete"}),
                &[],
            ),
            (
                "valid minimal config",
                json!({"path": "/path/to/delete"}),
                &[],
            ),
            (
                "valid config with strict=false",
                json!({"path": "/path/to/delete", "strict": false}),
                &[],
            ),
            (
                "valid config with strict=true",
                json!({"path": "/path/to/delete", "strict": true}),
                &[],
            ),
            (
                "valid kitchen sink",
                json!({"path": "/path/to/file/or/directory/to/delete", "strict": true}),
                &[],
            ),
            (
                "paths with multiple entries",
                json!({"paths": ["/path/to/a", "/path/to/b", "/path/to/c"]}),
                &[],
            ),
            (
                "paths present but empty array",
                json!({"paths": []}),
                &["paths: must have at least 1 item"],
            ),
            (
                "paths containing an empty string",
                json!({"paths": [""]}),
                &["paths[0]: must not be empty"],
            ),
            (
                "pathsAreGlobs true with path",
                json!({"path": "*.txt", "pathsAreGlobs": true}),
                &[],
            ),
            (
                "pathsAreGlobs true with paths",
                json!({"paths": ["*.txt", "**/*.tmp"], "pathsAreGlobs": true}),
                &[],
            ),
            (
                "pathsAreGlobs with wrong type",
                json!({"path": "/path/to/delete", "pathsAreGlobs": "true"}),
                &["pathsAreGlobs: invalid type: string \"true\", expected a boolean"],
            ),
            (
                "unknown additional property",
                json!({"path": "/path/to/delete", "bogus": "value"}),
                &["unknown field `bogus`"],
            ),
            (
                "valid glob kitchen sink",
                json!({"paths": ["**/*.log", "build/"], "pathsAreGlobs": true, "strict": true}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 15); // Kargo's Test_fileDeleter_convert: 15 rows
        check_configs(parse, rows);
        assert!(
            parse(&json!({"path": "a", "paths": ["b"]}))
                .is_err_and(|e| e.message.contains("mutually exclusive"))
        );
    }

    /// A row of Kargo's `Test_fileDeleter_run`; `outside` is laid out next
    /// to the work directory.
    struct Row {
        name: &'static str,
        files: &'static [(&'static str, Node)],
        outside: &'static [(&'static str, Node)],
        cfg: Value,
        want: Want,
        after: &'static [(&'static str, Is)],
        after_outside: &'static [(&'static str, Is)],
    }

    const fn row(name: &'static str, files: &'static [(&'static str, Node)], cfg: Value) -> Row {
        Row {
            name,
            files,
            outside: &[],
            cfg,
            want: Want::Ok,
            after: &[],
            after_outside: &[],
        }
    }

    #[test]
    fn upstream_run_rows() -> TestResult {
        use Is::{File, Missing};
        use Node::{Dir, File as F, Link};
        let rows = [
            Row {
                after: &[("input.txt", Missing)],
                ..row(
                    "succeeds deleting file",
                    &[("input.txt", F("test content"))],
                    json!({"path": "input.txt"}),
                )
            },
            Row {
                after: &[("dirToDelete", Missing)],
                ..row(
                    "succeeds deleting directory",
                    &[("dirToDelete", Dir)],
                    json!({"path": "dirToDelete"}),
                )
            },
            Row {
                want: Want::Err(false, "does not exist"),
                ..row(
                    "fails for non-existent path when strict is true",
                    &[],
                    json!({"path": "nonExistentFile.txt", "strict": true}),
                )
            },
            row(
                "succeeds for non-existent path when strict is false",
                &[],
                json!({"path": "nonExistentFile.txt", "strict": false}),
            ),
            Row {
                after: &[
                    ("input/input.txt", File("test content")),
                    ("input/symlink.txt", Missing),
                ],
                ..row(
                    "removes symlink only",
                    &[
                        ("input/input.txt", F("test content")),
                        ("input/symlink.txt", Link("input.txt")),
                    ],
                    json!({"path": "input/symlink.txt"}),
                )
            },
            Row {
                after: &[("foo", Missing), ("bar/file.txt", File("test content"))],
                ..row(
                    "removes a file within a symlink",
                    &[("bar/file.txt", F("test content")), ("foo", Link("bar"))],
                    json!({"path": "foo/"}),
                )
            },
            Row {
                after: &[("a.txt", Missing), ("b.txt", Missing), ("c.md", File("c"))],
                ..row(
                    "literal paths deletes multiple entries",
                    &[("a.txt", F("a")), ("b.txt", F("b")), ("c.md", F("c"))],
                    json!({"paths": ["a.txt", "b.txt"]}),
                )
            },
            Row {
                after: &[("dir", Missing)],
                ..row(
                    "literal paths with a parent directory and a child both listed",
                    &[("dir/file.txt", F("x"))],
                    json!({"paths": ["dir", "dir/file.txt"], "strict": true}),
                )
            },
            Row {
                after: &[("a.txt", Missing)],
                ..row(
                    "literal paths with one missing entry succeeds when strict is false",
                    &[("a.txt", F("a"))],
                    json!({"paths": ["a.txt", "missing.txt"], "strict": false}),
                )
            },
            Row {
                want: Want::Err(false, "\"missing.txt\" does not exist"),
                after: &[("a.txt", File("a"))],
                ..row(
                    "literal paths with one missing entry errors when strict is true",
                    &[("a.txt", F("a"))],
                    json!({"paths": ["a.txt", "missing.txt"], "strict": true}),
                )
            },
            Row {
                after: &[("a[1].txt", Missing), ("a2.txt", File("glob"))],
                ..row(
                    "literal path with glob metacharacters is treated literally",
                    &[("a[1].txt", F("lit")), ("a2.txt", F("glob"))],
                    json!({"path": "a[1].txt"}),
                )
            },
            Row {
                after: &[("a.txt", Missing), ("b.txt", Missing), ("c.md", File("c"))],
                ..row(
                    "glob matches multiple files and retains non-matching",
                    &[("a.txt", F("a")), ("b.txt", F("b")), ("c.md", F("c"))],
                    json!({"path": "*.txt", "pathsAreGlobs": true}),
                )
            },
            Row {
                after: &[
                    ("a.tmp", Missing),
                    ("sub/b.tmp", Missing),
                    ("sub/deep/c.tmp", Missing),
                    ("sub/deep/keep.md", File("k")),
                ],
                ..row(
                    "glob with recursive ** matches nested files",
                    &[
                        ("a.tmp", F("a")),
                        ("sub/b.tmp", F("b")),
                        ("sub/deep/c.tmp", F("c")),
                        ("sub/deep/keep.md", F("k")),
                    ],
                    json!({"path": "**/*.tmp", "pathsAreGlobs": true}),
                )
            },
            Row {
                after: &[
                    ("out/a.tmp", Missing),
                    ("out/build", Missing),
                    ("out/keep.md", File("k")),
                ],
                ..row(
                    "glob patterns with a leading ./ are matched relative to workDir",
                    &[
                        ("out/a.tmp", F("a")),
                        ("out/build/b.tmp", F("b")),
                        ("out/keep.md", F("k")),
                    ],
                    json!({"paths": ["./out/**/*.tmp", "./out/build/"], "pathsAreGlobs": true, "strict": true}),
                )
            },
            Row {
                after: &[("build", Missing)],
                ..row(
                    "glob matching a directory deletes the whole directory",
                    &[("build/out/artifact", F("x"))],
                    json!({"path": "buil*", "pathsAreGlobs": true}),
                )
            },
            Row {
                after: &[("link.txt", Missing), ("target.txt", File("test content"))],
                ..row(
                    "glob deletes a matched symlink as a link",
                    &[
                        ("target.txt", F("test content")),
                        ("link.txt", Link("target.txt")),
                    ],
                    json!({"path": "link.*", "pathsAreGlobs": true}),
                )
            },
            Row {
                after: &[("a.log", Missing), ("b.tmp", Missing), ("c.md", File("c"))],
                ..row(
                    "glob paths with multiple patterns deletes the union",
                    &[("a.log", F("a")), ("b.tmp", F("b")), ("c.md", F("c"))],
                    json!({"paths": ["*.log", "*.tmp"], "pathsAreGlobs": true}),
                )
            },
            Row {
                after: &[("a.md", File("a"))],
                ..row(
                    "glob matches nothing and succeeds when strict is false",
                    &[("a.md", F("a"))],
                    json!({"path": "*.txt", "pathsAreGlobs": true, "strict": false}),
                )
            },
            Row {
                want: Want::Err(false, "no paths matched pattern \"*.txt\""),
                ..row(
                    "glob matches nothing and errors when strict is true",
                    &[],
                    json!({"path": "*.txt", "pathsAreGlobs": true, "strict": true}),
                )
            },
            Row {
                want: Want::Err(false, "no paths matched pattern \"*.txt\""),
                after: &[("a.log", File("a"))],
                ..row(
                    "glob paths mixed match and no-match errors on the empty one when strict is true",
                    &[("a.log", F("a"))],
                    json!({"paths": ["*.log", "*.txt"], "pathsAreGlobs": true, "strict": true}),
                )
            },
            Row {
                // Kargo: Errored with a TerminalError; here terminal (Failed).
                want: Want::Err(true, "invalid glob pattern \"[\""),
                ..row(
                    "invalid glob pattern is a terminal error",
                    &[],
                    json!({"path": "[", "pathsAreGlobs": true}),
                )
            },
            row(
                "literal path with a missing parent directory succeeds when strict is false",
                &[],
                json!({"path": "no_such_dir/child.txt", "strict": false}),
            ),
            Row {
                want: Want::Err(false, "does not exist"),
                ..row(
                    "literal path with a missing parent directory errors when strict is true",
                    &[],
                    json!({"path": "no_such_dir/child.txt", "strict": true}),
                )
            },
            Row {
                // Kargo: "path attempts to traverse outside the working
                // directory" (Errored); here resolve's terminal refusal.
                outside: &[("escape-target", F("x"))],
                want: Want::Err(
                    true,
                    "path: \"../escape-target\" must be a relative path inside the work directory",
                ),
                after_outside: &[("escape-target", File("x"))],
                ..row(
                    "literal path attempting to traverse outside workDir errors",
                    &[],
                    json!({"path": "../escape-target"}),
                )
            },
            Row {
                outside: &[("kargo-ext-literal/secret.txt", F("x"))],
                want: Want::Err(true, "path: \"link\" resolves outside the work tree"),
                after: &[("link", Is::Link("../kargo-ext-literal"))],
                after_outside: &[("kargo-ext-literal/secret.txt", File("x"))],
                ..row(
                    "literal path does not delete external files through a symlink",
                    &[("link", Link("../kargo-ext-literal"))],
                    json!({"path": "link/secret.txt"}),
                )
            },
            Row {
                outside: &[("escape-target", F("x"))],
                want: Want::Err(false, "no paths matched pattern \"../*\""),
                after_outside: &[("escape-target", File("x"))],
                ..row(
                    "glob pattern with .. matches nothing",
                    &[],
                    json!({"path": "../*", "pathsAreGlobs": true, "strict": true}),
                )
            },
            Row {
                outside: &[("kargo-ext-target/secret.txt", F("x"))],
                want: Want::Err(true, "path: \"link\" resolves outside the work tree"),
                after: &[("link", Is::Link("../kargo-ext-target"))],
                after_outside: &[("kargo-ext-target/secret.txt", File("x"))],
                ..row(
                    "glob does not delete external files through a symlink",
                    &[("link", Link("../kargo-ext-target"))],
                    json!({"path": "link/*", "pathsAreGlobs": true}),
                )
            },
        ];
        assert_eq!(rows.len(), 27); // Kargo's Test_fileDeleter_run: 27 rows
        for row in rows {
            let tmp = tempfile::tempdir()?;
            let work = tmp.path().join("work");
            std::fs::create_dir_all(&work)?;
            lay(&work, row.files)?;
            lay(tmp.path(), row.outside)?;
            let got = with_ctx(&work, &Map::new(), |ctx| Delete.run(ctx, &row.cfg));
            check_outcome(row.name, &got, row.want);
            check_tree(row.name, &work, row.after);
            check_tree(row.name, tmp.path(), row.after_outside);
        }
        Ok(())
    }

    #[test]
    fn globs_stay_inside_and_follow_inner_links() -> TestResult {
        let (tmp, work) = work_tree(&[
            ("outside/x.tmp", Node::File("o")),
            ("work/real/a.tmp", Node::File("a")),
            ("work/inner", Node::Link("real")),
            ("work/out", Node::Link("../outside")),
            ("work/loop/self", Node::Link("..")),
        ])?;
        let run = |c: Value| run(&Delete, &work, &c);
        run(json!({"path": "inner/*.tmp", "pathsAreGlobs": true, "strict": true}))?;
        check_tree(
            "inner",
            &work,
            &[("real/a.tmp", Is::Missing), ("inner", Is::Link("real"))],
        );
        // `**` does not enter the link leading out, and survives the loop.
        run(json!({"path": "**/*.tmp", "pathsAreGlobs": true}))?;
        check_tree("out", tmp.path(), &[("outside/x.tmp", Is::File("o"))]);
        let err = run(json!({"path": "."}));
        assert!(err.is_err_and(|e| e.terminal && e.message.contains("work directory itself")));
        Ok(())
    }
}
