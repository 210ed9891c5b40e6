//! What the file steps (`copy`, `delete`, `file-write`, `tar`, `untar`)
//! share: their registration, the config checks Kargo's JSON schemas make (every problem at
//! once), gitignore-style `ignore` rules, Kargo's archive size limits,
//! paths in messages relative to the work directory, unique temporary
//! names and the replace-by-rename Kargo calls `SimpleAtomicMove`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::step::{Registry, StepError, parse_config};

/// Registers `copy`, `delete`, `file-write`, `tar` and `untar`.
pub fn register(r: &mut Registry) {
    r.register(Arc::new(super::copy::Copy));
    r.register(Arc::new(super::delete::Delete));
    r.register(Arc::new(super::file_write::FileWrite));
    r.register(Arc::new(super::tar::Tar));
    r.register(Arc::new(super::untar::Untar));
}

/// The problems of a config that serde does not see: required fields and
/// the schema's `minLength` / `minItems` / `minimum`. Reported together,
/// as Kargo's schema validation reports them.
pub struct ConfigCheck<'a> {
    obj: Option<&'a Map<String, Value>>,
    problems: Vec<String>,
}

impl<'a> ConfigCheck<'a> {
    /// Checks on `config` (a non-object is left to serde).
    pub fn new(config: &'a Value) -> ConfigCheck<'a> {
        ConfigCheck {
            obj: config.as_object(),
            problems: Vec::new(),
        }
    }

    /// The field's value, when present and not null.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.obj?.get(field).filter(|v| !v.is_null())
    }

    /// Adds a problem.
    pub fn problem(&mut self, p: String) {
        self.problems.push(p);
    }

    /// `field` must be present.
    pub fn required(&mut self, field: &str) -> &mut Self {
        if self.get(field).is_none() {
            self.problem(format!("{field}: required"));
        }
        self
    }

    /// `field`, when it is a string, must not be empty.
    pub fn non_empty(&mut self, field: &str) -> &mut Self {
        if self.get(field).and_then(Value::as_str) == Some("") {
            self.problem(format!("{field}: must not be empty"));
        }
        self
    }

    /// `field` must be present and, when it is a string, not empty.
    pub fn required_string(&mut self, field: &str) -> &mut Self {
        self.required(field).non_empty(field)
    }

    /// The fields `copy`, `tar` and `untar` share: `inPath` and `outPath`
    /// required and non-empty, `ignore` non-empty.
    pub fn in_out_ignore(&mut self) -> &mut Self {
        self.required_string("inPath")
            .required_string("outPath")
            .non_empty("ignore")
    }

    /// `field`, when it is a number, must be at least 0.
    pub fn non_negative(&mut self, field: &str) -> &mut Self {
        if self
            .get(field)
            .and_then(Value::as_f64)
            .is_some_and(|n| n < 0.0)
        {
            self.problem(format!("{field}: must be greater than or equal to 0"));
        }
        self
    }

    /// `field`, when it is an array, must have at least one item; in each
    /// object item the `strings` must be present and not empty, and the
    /// `present` fields present (null allowed), as Kargo's schemas ask.
    pub fn items(&mut self, field: &str, strings: &[&str], present: &[&str]) -> &mut Self {
        let Some(items) = self.get(field).and_then(Value::as_array) else {
            return self;
        };
        if items.is_empty() {
            self.problem(format!("{field}: must have at least 1 item"));
        }
        for (i, item) in items.iter().enumerate() {
            let Some(obj) = item.as_object() else {
                continue;
            };
            for f in strings {
                match obj.get(*f) {
                    None | Some(Value::Null) => self.problem(format!("{field}[{i}].{f}: required")),
                    Some(Value::String(s)) if s.is_empty() => {
                        self.problem(format!("{field}[{i}].{f}: must not be empty"))
                    }
                    Some(_) => {}
                }
            }
            for f in present {
                if !obj.contains_key(*f) {
                    self.problem(format!("{field}[{i}].{f}: required"));
                }
            }
        }
        self
    }

    /// The problems joined, as a config error of `step`, or the config
    /// decoded into `T` (types, unknown fields) when there are none.
    pub fn parse<T: DeserializeOwned>(&self, step: &str, config: &Value) -> Result<T, StepError> {
        if !self.problems.is_empty() {
            return Err(StepError::config(step, self.problems.join("; ")));
        }
        parse_config(step, config)
    }
}

/// When `.git` is ignored without being named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultGitRule {
    /// Always, before the user's rules (which can re-include it with
    /// `!.git/`): `copy`.
    Always,
    /// Only when the user gives no rules: `tar`, `untar`.
    WhenNoRules,
}

/// Gitignore-style rules (the `ignore` crate's gitignore matcher: `#`
/// comments, `!` negation, a trailing `/` for directories, a `/` inside
/// anchoring to the root), matched against paths relative to the root of
/// what is copied or archived.
#[derive(Debug)]
pub struct IgnoreRules {
    matcher: Gitignore,
}

impl IgnoreRules {
    /// Parses `rules` (one pattern a line; blank lines and `#` lines are
    /// skipped, each line is trimmed). A bad pattern is a config error of
    /// `step` naming `ignore`.
    pub fn parse(step: &str, rules: &str, default: DefaultGitRule) -> Result<Self, StepError> {
        let mut b = GitignoreBuilder::new("");
        let lines: Vec<&str> = rules
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if default == DefaultGitRule::Always || lines.is_empty() {
            add(&mut b, step, ".git")?;
        }
        for line in lines {
            add(&mut b, step, line)?;
        }
        let matcher = b
            .build()
            .map_err(|e| StepError::config(step, format!("ignore: {e}")))?;
        Ok(IgnoreRules { matcher })
    }

    /// Whether `rel` (relative, `/`-separated) or a directory above it is
    /// ignored.
    pub fn is_ignored(&self, rel: &str, is_dir: bool) -> bool {
        let rel = rel.trim_start_matches("./");
        !rel.is_empty()
            && self
                .matcher
                .matched_path_or_any_parents(rel, is_dir)
                .is_ignore()
    }
}

fn add(b: &mut GitignoreBuilder, step: &str, line: &str) -> Result<(), StepError> {
    b.add_line(None, line)
        .map(|_| ())
        .map_err(|e| StepError::config(step, format!("ignore: {e}")))
}

/// Go's `filepath.Clean` of a relative path: empty and `.` parts dropped,
/// `x/..` folded, leading `..` kept, `.` when nothing is left.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// Kargo's archive size limits (`tar_creator.go`, `tar_extractor.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    /// Largest single file, bytes.
    pub file: u64,
    /// All files together, bytes.
    pub total: u64,
}

/// 50 MiB a file, 100 MiB in all, for both `tar` and `untar`.
pub const KARGO_SIZE_LIMITS: SizeLimits = SizeLimits {
    file: 50 * 1024 * 1024,
    total: 100 * 1024 * 1024,
};

/// `p` relative to the work directory for messages (Kargo's
/// `SanitizePathError`: no absolute paths of the server in errors).
pub fn shown(work_dir: &Path, p: &Path) -> String {
    match p.strip_prefix(work_dir) {
        Ok(r) if r.as_os_str().is_empty() => ".".to_string(),
        Ok(r) => r.to_string_lossy().into_owned(),
        Err(_) => p
            .canonicalize()
            .ok()
            .zip(work_dir.canonicalize().ok())
            .and_then(|(p, w)| p.strip_prefix(&w).ok().map(Path::to_path_buf))
            .map_or_else(
                || {
                    p.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                },
                |r| r.to_string_lossy().into_owned(),
            ),
    }
}

/// An I/O error as `<op> <path>: <error>`, the path shown by [`shown`].
pub fn io_error(work_dir: &Path, op: &str, p: &Path, e: &std::io::Error) -> String {
    format!("{op} {}: {}", shown(work_dir, p), go_text(e))
}

/// An I/O error in Go's words: an OS error as Go's `syscall.Errno` prints
/// it (`no such file or directory`, without Rust's `(os error 2)`).
pub fn go_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    if e.raw_os_error().is_none() {
        return text;
    }
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_lowercase().chain(chars).collect::<String>()
    })
}

/// A name for a temporary file or directory next to `dst`, unique within
/// this process and unlikely to collide with another one.
pub fn temp_path(dir: &Path, prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    dir.join(format!("{prefix}{}{nanos:09}{n}", std::process::id()))
}

/// Makes the directory `p` and its parents, new ones with `mode`.
pub fn mkdir_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(p)
}

/// Writes `bytes` to the file `p`, replacing its contents; a new file
/// gets `mode`.
pub fn write_mode(p: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(p)?
        .write_all(bytes)
}

/// Renames `src` to `dst`; when `dst` is a non-empty directory, removes
/// it first (Kargo's `SimpleAtomicMove`). `dst` is a path inside the work
/// tree resolved by the caller, and never an ancestor of `src` (the
/// callers refuse the work directory itself), which the kernel would
/// also report as "not empty".
pub fn replace(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::io::ErrorKind::{AlreadyExists, DirectoryNotEmpty};
    if src.starts_with(dst) {
        return Err(std::io::Error::other("the destination contains the source"));
    }
    match std::fs::rename(src, dst) {
        Err(e) if matches!(e.kind(), AlreadyExists | DirectoryNotEmpty) => {
            remove_entry(dst)?;
            std::fs::rename(src, dst)
        }
        r => r,
    }
}

/// Refuses a `field` that names the work directory itself, which a step
/// writing its result by rename must not replace.
pub fn not_work_dir(
    step: &str,
    field: &str,
    path: &str,
    resolved: &Path,
    work_dir: &Path,
) -> Result<(), StepError> {
    if resolved == work_dir {
        return Err(StepError::config(
            step,
            format!("{field}: {path:?} names the work directory itself"),
        ));
    }
    Ok(())
}

/// Removes a file, a symlink (not what it points to) or a directory tree
/// (whose symlinks are removed, not followed).
pub fn remove_entry(p: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(p)?.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Kargo's `Test_fileCopier_loadIgnoreRules` (matcher rows: directory
    /// path, file path, empty rules; the non-existent and invalid-path rows
    /// test Go's domain lookup, which has no counterpart: rules here are
    /// relative to the copied root) and `Test_tarCreator_buildIgnoreMatcher`.
    #[test]
    fn ignore_rules_match_as_kargo_does() -> Result<(), StepError> {
        // (rules, default rule, [(path, is_dir, ignored)])
        type Row = (
            &'static str,
            DefaultGitRule,
            &'static [(&'static str, bool, bool)],
        );
        const COPIER: &[Row] = &[
            (
                "*.txt\n# comment\n*.go",
                DefaultGitRule::Always,
                &[
                    ("file.txt", false, true),
                    ("file.go", false, true),
                    ("file.log", false, false),
                    (".git", true, true),
                    (".git/file.log", true, true),
                ],
            ),
            (
                "*.log",
                DefaultGitRule::Always,
                &[
                    ("something.log", false, true),
                    ("testfile.txt", false, false),
                    (".git/file", false, true),
                ],
            ),
            (
                "",
                DefaultGitRule::Always,
                &[(".git/file", false, true), ("file.txt", false, false)],
            ),
        ];
        const TAR: &[Row] = &[
            (
                "",
                DefaultGitRule::WhenNoRules,
                &[
                    (".git", true, true),
                    ("file.txt", false, false),
                    ("src/.git", true, true),
                ],
            ),
            (
                "   \n  ",
                DefaultGitRule::WhenNoRules,
                &[(".git", true, true), ("file.txt", false, false)],
            ),
            (
                "\n# This is a comment\n*.log\nnode_modules/\n",
                DefaultGitRule::WhenNoRules,
                &[
                    ("error.log", false, true),
                    ("node_modules", true, true),
                    ("src/main.go", false, false),
                    // Custom rules replace the default.
                    (".git", true, false),
                ],
            ),
        ];
        assert_eq!(COPIER.len(), 3); // 5 upstream rows; 2 test Go's domain lookup
        assert_eq!(TAR.len(), 3); // Test_tarCreator_buildIgnoreMatcher: 3 rows
        for (rules, default, paths) in COPIER.iter().chain(TAR) {
            let m = IgnoreRules::parse("t", rules, *default)?;
            for (p, dir, want) in *paths {
                assert_eq!(m.is_ignored(p, *dir), *want, "{rules:?} {p}");
            }
        }
        // `!.git/` re-includes what the default rule ignores (copy).
        let m = IgnoreRules::parse("t", "!.git/", DefaultGitRule::Always)?;
        assert!(!m.is_ignored(".git", true) && !m.is_ignored(".git/file.txt", false));
        Ok(())
    }

    #[test]
    fn clean_is_gos() {
        for (p, want) in [
            ("a/b/../c/", "a/c"),
            ("./x", "x"),
            ("", "."),
            ("a/..", "."),
            ("../a/../..", "../.."),
            (".git//config", ".git/config"),
        ] {
            assert_eq!(clean(p), want, "{p}");
        }
    }

    #[test]
    fn config_check_reports_every_problem() {
        let cfg = json!({"ignore": "", "n": -1});
        let mut c = ConfigCheck::new(&cfg);
        c.required("inPath")
            .required("outPath")
            .non_empty("ignore")
            .non_negative("n");
        let err = c.parse::<Value>("copy", &cfg).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "copy: invalid config: inPath: required; outPath: required; \
                 ignore: must not be empty; n: must be greater than or equal to 0"
            )
        );
    }

    #[test]
    fn replace_swaps_a_non_empty_directory() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        std::fs::create_dir_all(&src)?;
        std::fs::create_dir_all(&dst)?;
        std::fs::write(src.join("new"), "n")?;
        std::fs::write(dst.join("old"), "o")?;
        replace(&src, &dst)?;
        assert!(dst.join("new").exists() && !dst.join("old").exists() && !src.exists());
        // Never the directory holding the source.
        std::fs::create_dir_all(dst.join("tmp"))?;
        assert!(replace(&dst.join("tmp"), tmp.path()).is_err());
        assert!(dst.join("new").exists());
        Ok(())
    }
}

/// Test fixtures of the file steps: a tree laid out from a table, the
/// expected outcome and files of a row, upstream config rows.
#[cfg(test)]
pub(crate) mod fixture {
    use std::path::{Path, PathBuf};

    use serde_json::{Map, Value};

    use crate::step::{Step, StepError, StepResult};

    /// A temporary directory holding the work directory `work/` and
    /// whatever `nodes` lay out around it (`outside/...`, `work/...`).
    pub fn work_tree(nodes: &[(&str, Node)]) -> std::io::Result<(tempfile::TempDir, PathBuf)> {
        let tmp = tempfile::tempdir()?;
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work)?;
        lay(tmp.path(), nodes)?;
        Ok((tmp, work))
    }

    /// Runs `step` with `config` over the work directory `work`.
    pub fn run(step: &dyn Step, work: &Path, config: &Value) -> Result<StepResult, StepError> {
        crate::git::testutil::with_ctx(work, &Map::new(), |ctx| step.run(ctx, config))
    }

    /// One entry of a tree to lay out.
    #[derive(Clone, Copy, Debug)]
    pub enum Node {
        /// A file with these contents, mode 0600.
        File(&'static str),
        /// A directory.
        Dir,
        /// A symlink with this target.
        Link(&'static str),
    }

    /// What a row expects of the step.
    #[derive(Clone, Copy, Debug)]
    pub enum Want {
        /// Succeeded.
        Ok,
        /// An error: terminal (Failed at once) or retryable (Errored), its
        /// message containing this.
        Err(bool, &'static str),
    }

    /// What a row expects of a path afterwards.
    #[derive(Clone, Copy, Debug)]
    pub enum Is {
        /// A file with these contents.
        File(&'static str),
        /// A directory.
        Dir,
        /// A symlink to this target.
        Link(&'static str),
        /// Nothing (not even a dangling symlink).
        Missing,
    }

    /// Lays out `nodes` under `root` (parents created as needed).
    pub fn lay(root: &Path, nodes: &[(&str, Node)]) -> std::io::Result<()> {
        for (rel, node) in nodes {
            let p = root.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match node {
                Node::File(c) => {
                    std::fs::write(&p, c)?;
                    set_mode(&p, 0o600)?;
                }
                Node::Dir => std::fs::create_dir_all(&p)?,
                Node::Link(t) => std::os::unix::fs::symlink(t, &p)?,
            }
        }
        Ok(())
    }

    /// Sets the permission bits of `p`.
    pub fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
    }

    /// Asserts the outcome of row `name`.
    pub fn check_outcome(name: &str, got: &Result<StepResult, StepError>, want: Want) {
        match (got, want) {
            (Ok(r), Want::Ok) => {
                assert_eq!(r.status(), crate::step::StepStatus::Succeeded, "{name}")
            }
            (Err(e), Want::Err(terminal, part)) => {
                assert_eq!(e.terminal, terminal, "{name}: {e}");
                assert!(e.message.contains(part), "{name}: {e} lacks {part:?}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }

    /// Asserts what row `name` left under `root`.
    pub fn check_tree(name: &str, root: &Path, expect: &[(&str, Is)]) {
        for (rel, is) in expect {
            let p = root.join(rel);
            let meta = std::fs::symlink_metadata(&p);
            match is {
                Is::File(c) => assert_eq!(
                    std::fs::read_to_string(&p).ok().as_deref(),
                    Some(*c),
                    "{name}: {rel}"
                ),
                Is::Dir => assert!(meta.is_ok_and(|m| m.is_dir()), "{name}: {rel} not a dir"),
                Is::Link(t) => assert_eq!(
                    std::fs::read_link(&p).ok(),
                    Some(std::path::PathBuf::from(t)),
                    "{name}: {rel}"
                ),
                Is::Missing => assert!(meta.is_err(), "{name}: {rel} exists"),
            }
        }
    }

    /// Runs upstream `convert` rows: a config and the problems expected
    /// (empty: valid), each a substring of the error.
    pub fn check_configs<T>(
        parse: impl Fn(&Value) -> Result<T, StepError>,
        rows: &[(&str, Value, &[&str])],
    ) {
        for (name, cfg, problems) in rows {
            match parse(cfg) {
                Ok(_) => assert!(problems.is_empty(), "{name}: accepted, want {problems:?}"),
                Err(e) => {
                    assert!(e.terminal, "{name}");
                    assert!(!problems.is_empty(), "{name}: refused: {e}");
                    for p in *problems {
                        assert!(e.message.contains(p), "{name}: {e} lacks {p:?}");
                    }
                }
            }
        }
    }
}
