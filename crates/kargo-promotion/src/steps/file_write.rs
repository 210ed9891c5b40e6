//! `file-write`: writes a file in the work directory, as Kargo's
//! `file_writer.go` does. Config: `path`, `contents` (written exactly),
//! `permissions` (`0NNN`, default `0600`; no special, executable or
//! world-writable bits), `overwrite` (default false: an existing file
//! fails the step). Parent directories are created (0700). No outputs.
//!
//! Refused, as in Kargo: an absolute path, a path leaving the work
//! directory, anything under a top-level `.git`, and any symlink on the
//! way (the path must resolve to itself through [`StepContext::resolve`]).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{ConfigCheck, clean, shown};
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "file-write";

/// Kargo's default mode of a written file.
pub const DEFAULT_PERMISSIONS: u32 = 0o600;

/// Config of `file-write` (Kargo's `FileWriteConfig`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileWriteConfig {
    /// The file to write.
    pub path: String,
    /// What to write.
    pub contents: String,
    /// Octal mode, `0NNN`.
    #[serde(default)]
    pub permissions: Option<String>,
    /// Replace an existing file.
    #[serde(default)]
    pub overwrite: bool,
}

/// Checks and decodes a `file-write` config (Kargo's schema: `path` and
/// `contents` required, `path` non-empty, `permissions` matching
/// `^0[0-7]{3}$`).
pub fn parse(config: &Value) -> Result<FileWriteConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    c.required_string("path").required("contents");
    if let Some(p) = c.get("permissions").and_then(Value::as_str) {
        let b = p.as_bytes();
        if !(b.len() == 4 && b[0] == b'0' && b[1..].iter().all(|d| (b'0'..=b'7').contains(d))) {
            c.problem(format!(
                "permissions: {p:?} does not match pattern ^0[0-7]{{3}}$"
            ));
        }
    }
    c.parse(NAME, config)
}

/// The `file-write` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileWrite;

impl Step for FileWrite {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        write(ctx, &parse(config)?)
    }
}

/// The mode `permissions` asks for, refused as Kargo refuses it.
pub fn permissions(p: Option<&str>) -> Result<u32, String> {
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(DEFAULT_PERMISSIONS);
    };
    let mode = u32::from_str_radix(p, 8)
        .map_err(|_| format!("invalid permissions {p:?}: must be an octal file mode"))?;
    if mode & !0o777 != 0 {
        return Err(format!(
            "permissions {p:?} must not include special mode bits"
        ));
    }
    if mode & 0o111 != 0 {
        return Err(format!(
            "permissions {p:?} must not include executable bits"
        ));
    }
    if mode & 0o002 != 0 {
        return Err(format!("permissions {p:?} must not be world-writable"));
    }
    Ok(mode)
}

/// Runs a decoded config.
pub fn write(ctx: &StepContext<'_>, cfg: &FileWriteConfig) -> Result<StepResult, StepError> {
    let path = &cfg.path;
    let failed = |m: String| StepError::terminal(NAME, m);
    if path.starts_with('/') {
        return Err(failed(format!("path {path:?} must be relative")));
    }
    let cleaned = clean(path);
    if cleaned == ".." || cleaned.starts_with("../") {
        return Err(failed(format!(
            "path {path:?} attempts to traverse outside the working directory"
        )));
    }
    if cleaned == ".git" || cleaned.starts_with(".git/") {
        return Err(failed(format!(
            "writing to the .git directory is forbidden: {path:?}"
        )));
    }
    let mode = permissions(cfg.permissions.as_deref()).map_err(failed)?;
    let abs = ctx.resolve(NAME, "path", path)?;
    if abs != ctx.work_dir.join(&cleaned) {
        return Err(failed(format!(
            "path {path:?} resolves to a different path {:?} (symlinks are forbidden)",
            shown(ctx.work_dir, &abs)
        )));
    }
    if abs.exists() && !cfg.overwrite {
        return Err(failed(format!(
            "file {path:?} already exists; set overwrite to true to replace it"
        )));
    }
    let errored = |what: &str, e: std::io::Error| {
        StepError::retryable(NAME, format!("error {what} {path:?}: {e}"))
    };
    if let Some(parent) = abs.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| errored("creating parent directories for", e))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&abs)
        .and_then(|mut f| f.write_all(cfg.contents.as_bytes()))
        .map_err(|e| errored("writing file", e))?;
    std::fs::set_permissions(&abs, std::fs::Permissions::from_mode(mode))
        .map_err(|e| errored("setting permissions on file", e))?;
    Ok(StepResult::succeeded(Map::new()))
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
        // Kargo's Test_fileWriter_convert.
        let rows: &[(&str, Value, &[&str])] = &[
            (
                "path not specified",
                json!({"contents": "test content"}),
                &["path: required"],
            ),
            (
                "path is empty string",
                json!({"path": "", "contents": "test content"}),
                &["path: must not be empty"],
            ),
            (
                "contents not specified",
                json!({"path": "test.txt"}),
                &["contents: required"],
            ),
            (
                "contents may be empty",
                json!({"path": "test.txt", "contents": ""}),
                &[],
            ),
            (
                "contents must be a string",
                json!({"path": "test.txt", "contents": {"key": "value"}}),
                &["contents: invalid type: map, expected a string"],
            ),
            (
                "unknown field",
                json!({"path": "test.txt", "contents": "test content", "unknown": true}),
                &["unknown field `unknown`"],
            ),
            (
                "valid configuration",
                json!({"path": "test.txt", "contents": "test content", "overwrite": true, "permissions": "0644"}),
                &[],
            ),
            (
                "permissions must be a string",
                json!({"path": "test.txt", "contents": "test content", "permissions": 0o644}),
                &["permissions: invalid type: integer `420`, expected a string"],
            ),
            (
                "permissions must be octal",
                json!({"path": "test.txt", "contents": "test content", "permissions": "invalid"}),
                &["permissions: \"invalid\" does not match pattern"],
            ),
        ];
        assert_eq!(rows.len(), 9); // Kargo's Test_fileWriter_convert: 9 rows
        check_configs(parse, rows);
    }

    /// A row of Kargo's `Test_fileWriter_run`.
    struct Row {
        name: &'static str,
        files: &'static [(&'static str, Node)],
        cfg: Value,
        want: Want,
        after: &'static [(&'static str, Is)],
        mode: Option<u32>,
    }

    #[test]
    fn upstream_run_rows() -> TestResult {
        let row = |name, files, cfg| Row {
            name,
            files,
            cfg,
            want: Want::Ok,
            after: &[],
            mode: None,
        };
        let rows = [
            Row {
                after: &[("out/config.yaml", Is::File("key: value\n"))],
                mode: Some(0o600),
                ..row(
                    "writes new file",
                    &[],
                    json!({"path": "out/config.yaml", "contents": "key: value\n"}),
                )
            },
            Row {
                after: &[("out/config.yaml", Is::File("key: value"))],
                ..row(
                    "writes contents exactly as provided",
                    &[],
                    json!({"path": "out/config.yaml", "contents": "key: value"}),
                )
            },
            Row {
                after: &[("empty.txt", Is::File(""))],
                ..row(
                    "writes empty file",
                    &[],
                    json!({"path": "empty.txt", "contents": ""}),
                )
            },
            Row {
                mode: Some(0o644),
                ..row(
                    "writes file with custom permissions",
                    &[],
                    json!({"path": "public.txt", "contents": "test content", "permissions": "0644"}),
                )
            },
            Row {
                mode: Some(0o644),
                after: &[("public.txt", Is::File("new content"))],
                ..row(
                    "changes permissions when overwriting existing file",
                    &[("public.txt", Node::File("existing content"))],
                    json!({"path": "public.txt", "contents": "new content", "overwrite": true, "permissions": "0644"}),
                )
            },
            Row {
                want: Want::Err(true, "must not include executable bits"),
                after: &[("script.sh", Is::Missing)],
                ..row(
                    "rejects executable permissions",
                    &[],
                    json!({"path": "script.sh", "contents": "echo test", "permissions": "0755"}),
                )
            },
            Row {
                // Refused by the schema before the step runs; the step
                // refuses it too when called with it (as Kargo's run does).
                want: Want::Err(true, "must not include special mode bits"),
                ..row(
                    "rejects special mode bits",
                    &[],
                    json!({"path": "public.txt", "contents": "test content", "permissions": "1777"}),
                )
            },
            Row {
                want: Want::Err(true, "must not be world-writable"),
                ..row(
                    "rejects world-writable permissions",
                    &[],
                    json!({"path": "public.txt", "contents": "test content", "permissions": "0666"}),
                )
            },
            Row {
                want: Want::Err(true, "already exists"),
                after: &[("config.yaml", Is::File("existing: true\n"))],
                ..row(
                    "fails when file exists without overwrite",
                    &[("config.yaml", Node::File("existing: true\n"))],
                    json!({"path": "config.yaml", "contents": "existing: false\n"}),
                )
            },
            Row {
                after: &[("config.yaml", Is::File("existing: false\n"))],
                ..row(
                    "overwrites existing file",
                    &[("config.yaml", Node::File("existing: true\n"))],
                    json!({"path": "config.yaml", "contents": "existing: false\n", "overwrite": true}),
                )
            },
            Row {
                want: Want::Err(true, "attempts to traverse outside the working directory"),
                ..row(
                    "fails when path escapes work dir",
                    &[],
                    json!({"path": "../escape.txt", "contents": "test content"}),
                )
            },
            Row {
                want: Want::Err(true, "writing to the .git directory is forbidden"),
                ..row(
                    "fails when path targets .git directory",
                    &[],
                    json!({"path": ".git/config", "contents": "malicious content"}),
                )
            },
            Row {
                want: Want::Err(false, "error writing file \"config.yaml\""),
                after: &[("config.yaml", Is::Dir)],
                ..row(
                    "fails when destination is directory",
                    &[("config.yaml", Node::Dir)],
                    json!({"path": "config.yaml", "contents": "test content", "overwrite": true}),
                )
            },
        ];
        assert_eq!(rows.len(), 13); // Kargo's Test_fileWriter_run: 13 rows
        for row in rows {
            let tmp = tempfile::tempdir()?;
            lay(tmp.path(), row.files)?;
            // The run rows call Kargo's run() directly, past the schema.
            let cfg: FileWriteConfig = serde_json::from_value(row.cfg.clone())?;
            let got = with_ctx(tmp.path(), &Map::new(), |ctx| write(ctx, &cfg));
            check_outcome(row.name, &got, row.want);
            check_tree(row.name, tmp.path(), row.after);
            if let Some(mode) = row.mode {
                let meta = std::fs::metadata(tmp.path().join(&cfg.path))?;
                assert_eq!(meta.permissions().mode() & 0o7777, mode, "{}", row.name);
            }
        }
        Ok(())
    }

    #[test]
    fn never_writes_through_a_symlink() -> TestResult {
        let (tmp, work) = work_tree(&[
            ("outside/keep", Node::File("k")),
            ("work/real/a.txt", Node::File("a")),
            ("work/inner", Node::Link("real")),
            ("work/out", Node::Link("../outside")),
            ("work/abs", Node::Link("/etc/passwd")),
        ])?;
        let run = |c: Value| run(&FileWrite, &work, &c);
        let err = run(json!({"path": "inner/a.txt", "contents": "x", "overwrite": true}));
        assert!(err.is_err_and(|e| {
            e.terminal
                && e.message.contains(
                    "resolves to a different path \"real/a.txt\" (symlinks are forbidden)",
                )
        }));
        for p in ["out/keep", "abs", "/etc/passwd"] {
            let err = run(json!({"path": p, "contents": "x", "overwrite": true}));
            assert!(err.is_err_and(|e| e.terminal), "{p}");
        }
        check_tree(
            "kept",
            tmp.path(),
            &[
                ("outside/keep", Is::File("k")),
                ("work/real/a.txt", Is::File("a")),
            ],
        );
        // A nested .git is an ordinary directory to Kargo's check.
        run(json!({"path": "sub/.git/x", "contents": "x"}))?;
        assert!(run(json!({"path": "./.git/../.git/x", "contents": "x"})).is_err());
        Ok(())
    }
}
