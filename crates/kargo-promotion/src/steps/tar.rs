//! `tar`: archives a file or a directory of the work directory into a tar
//! file (gzip-compressed with `gzip: true`), as Kargo's `tar_creator.go`
//! does. Config: `inPath`, `outPath` (replaced if it exists, parent
//! directories created), `ignore` (gitignore-style rules relative to
//! `inPath`; without rules `.git` is left out), `gzip`. No outputs.
//!
//! Entries are named relative to `inPath` (a directory's own entry is
//! left out; a single file is named by its base name), directories end in
//! `/`, symlinks are stored as links (never followed, so a link pointing
//! outside the work tree adds nothing from there). Kargo's limits apply:
//! 50 MiB a file, 100 MiB in all; unlike Kargo, the sizes are checked
//! before anything is written. The archive is written to a temporary file
//! next to `outPath` and renamed over it, so a failure leaves no partial
//! archive.

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ::tar::{Builder, EntryType, Header, HeaderMode};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{
    ConfigCheck, DefaultGitRule, IgnoreRules, KARGO_SIZE_LIMITS, SizeLimits, go_text, io_error,
    not_work_dir, replace, shown, temp_path,
};
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "tar";

/// Config of `tar` (Kargo's `TarConfig`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TarConfig {
    /// The file or directory to archive.
    pub in_path: String,
    /// The archive to write.
    pub out_path: String,
    /// Gitignore-style rules, one a line.
    #[serde(default)]
    pub ignore: Option<String>,
    /// Compress with gzip.
    #[serde(default)]
    pub gzip: bool,
}

/// Checks and decodes a `tar` config (Kargo's schema: `inPath` and
/// `outPath` required, those and `ignore` non-empty).
pub fn parse(config: &Value) -> Result<TarConfig, StepError> {
    ConfigCheck::new(config).in_out_ignore().parse(NAME, config)
}

/// The `tar` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tar;

impl Step for Tar {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        tar(ctx, &parse(config)?)
    }
}

/// Runs a decoded config.
pub fn tar(ctx: &StepContext<'_>, cfg: &TarConfig) -> Result<StepResult, StepError> {
    let errored = |m: String| StepError::retryable(NAME, m);
    let src = ctx.resolve(NAME, "inPath", &cfg.in_path)?;
    if let Err(e) = fs::metadata(&src) {
        return Err(errored(if e.kind() == io::ErrorKind::NotFound {
            format!("input path {:?} does not exist", cfg.in_path)
        } else {
            format!("failed to stat input path {:?}: {e}", cfg.in_path)
        }));
    }
    let dst = ctx.resolve(NAME, "outPath", &cfg.out_path)?;
    not_work_dir(NAME, "outPath", &cfg.out_path, &dst, ctx.work_dir)?;
    if let Some(parent) = dst.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(|e| {
                errored(format!(
                    "failed to create output directory for {:?}: {}",
                    cfg.out_path,
                    go_text(&e)
                ))
            })?;
    }
    let rules = IgnoreRules::parse(
        NAME,
        cfg.ignore.as_deref().unwrap_or(""),
        DefaultGitRule::WhenNoRules,
    )?;
    archive(
        ctx.work_dir,
        &src,
        &dst,
        cfg.gzip,
        &rules,
        KARGO_SIZE_LIMITS,
    )
    .map_err(|m| {
        errored(format!(
            "failed to create the tar archive {:?}: {m}",
            cfg.out_path
        ))
    })?;
    Ok(StepResult::succeeded(Map::new()))
}

/// One entry to archive.
struct Entry {
    name: String,
    path: PathBuf,
    meta: Metadata,
}

/// Writes the archive of `src` to `dst` through a temporary file (Kargo's
/// `createTarball`); messages show paths relative to `work_dir`.
pub fn archive(
    work_dir: &Path,
    src: &Path,
    dst: &Path,
    gzip: bool,
    rules: &IgnoreRules,
    limits: SizeLimits,
) -> Result<(), String> {
    let entries = collect(work_dir, src, rules, limits)
        .map_err(|e| format!("failed during directory walk: {e}"))?;
    let dir = dst.parent().unwrap_or(work_dir);
    let base = dst
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = temp_path(dir, &format!("{base}.tmp"));
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| {
            format!(
                "failed to create temporary file in {:?}: {e}",
                shown(work_dir, dir)
            )
        })?;
    let written = write_entries(file, gzip, &entries)
        .and_then(|f| {
            f.sync_all()
                .map_err(|e| format!("failed to sync tar archive to disk: {e}"))
        })
        .and_then(|()| {
            replace(&tmp, dst)
                .map_err(|e| format!("failed to move temporary file to output path: {e}"))
        });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The entries under `src` in walk order (names sorted in each
/// directory), ignored ones left out, sizes checked against `limits`.
fn collect(
    work_dir: &Path,
    src: &Path,
    rules: &IgnoreRules,
    limits: SizeLimits,
) -> Result<Vec<Entry>, String> {
    let meta = fs::metadata(src).map_err(|e| io_error(work_dir, "stat", src, &e))?;
    let mut walk = Collect {
        work_dir,
        rules,
        limits,
        total: 0,
        out: Vec::new(),
    };
    if meta.is_dir() {
        walk.dir(src, "")?;
    } else {
        let name = src
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        walk.add(src.to_path_buf(), name, meta)?;
    }
    Ok(walk.out)
}

struct Collect<'a> {
    work_dir: &'a Path,
    rules: &'a IgnoreRules,
    limits: SizeLimits,
    total: u64,
    out: Vec<Entry>,
}

impl Collect<'_> {
    fn dir(&mut self, dir: &Path, rel: &str) -> Result<(), String> {
        let io = |op: &str, p: &Path, e: io::Error| io_error(self.work_dir, op, p, &e);
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(|e| io("open", dir, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| io("readdir", dir, e))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| io("lstat", &path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let name = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let is_dir = meta.is_dir();
            if self.add(path.clone(), name.clone(), meta)? && is_dir {
                self.dir(&path, &name)?;
            }
        }
        Ok(())
    }

    /// Adds one entry unless it is ignored (or neither a file, a
    /// directory nor a symlink); whether it was added.
    fn add(&mut self, path: PathBuf, name: String, meta: Metadata) -> Result<bool, String> {
        let kind = meta.file_type();
        if self.rules.is_ignored(&name, kind.is_dir())
            || !(kind.is_dir() || kind.is_file() || kind.is_symlink())
        {
            return Ok(false);
        }
        if kind.is_file() {
            if meta.len() > self.limits.file {
                return Err(format!(
                    "file {:?} size ({} bytes) exceeds the maximum allowed single file size ({} bytes)",
                    shown(self.work_dir, &path),
                    meta.len(),
                    self.limits.file
                ));
            }
            self.total += meta.len();
            if self.total > self.limits.total {
                return Err(format!(
                    "total tar archive source size exceeds the maximum allowed size ({} bytes)",
                    self.limits.total
                ));
            }
        }
        self.out.push(Entry { name, path, meta });
        Ok(true)
    }
}

/// Writes `entries` as a tar stream (gzip-compressed if asked) to `file`.
fn write_entries(file: File, gzip: bool, entries: &[Entry]) -> Result<File, String> {
    if gzip {
        let gz = GzEncoder::new(file, Compression::default());
        let gz = append_all(Builder::new(gz), entries)?;
        gz.finish()
            .map_err(|e| format!("failed to close gzip writer: {e}"))
    } else {
        append_all(Builder::new(file), entries)
    }
}

fn append_all<W: Write>(mut b: Builder<W>, entries: &[Entry]) -> Result<W, String> {
    b.follow_symlinks(false);
    for e in entries {
        append(&mut b, e).map_err(|err| format!("failed to write {:?}: {err}", e.name))?;
    }
    b.into_inner()
        .map_err(|e| format!("failed to close tar writer: {e}"))
}

fn append<W: Write>(b: &mut Builder<W>, e: &Entry) -> io::Result<()> {
    let mut h = Header::new_gnu();
    h.set_metadata_in_mode(&e.meta, HeaderMode::Complete);
    let kind = e.meta.file_type();
    if kind.is_symlink() {
        h.set_size(0);
        let target = fs::read_link(&e.path)?;
        b.append_link(&mut h, &e.name, target)
    } else if kind.is_dir() {
        h.set_size(0);
        h.set_entry_type(EntryType::Directory);
        // Directories end in `/`, as Go writes them, whenever the name
        // fits the header (longer ones go through GNU long names).
        let name = format!("{}/", e.name);
        if name.len() <= 100 {
            let slot = &mut h.as_old_mut().name;
            slot.fill(0);
            slot[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, io::empty())
        } else {
            b.append_data(&mut h, &e.name, io::empty())
        }
    } else {
        let f = File::open(&e.path)?;
        b.append_data(&mut h, &e.name, f.take(e.meta.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, with_ctx};
    use crate::steps::files::fixture::{
        Node, Want, check_configs, check_outcome, lay, run, work_tree,
    };
    use flate2::read::GzDecoder;
    use serde_json::json;

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_tarConfig_convert.
        let rows: &[(&str, Value, &[&str])] = &[
            ("inPath not specified", json!({}), &["inPath: required"]),
            (
                "inPath is empty string",
                json!({"inPath": ""}),
                &["inPath: must not be empty"],
            ),
            (
                "outPath not specified",
                json!({"inPath": "source_dir/"}),
                &["outPath: required"],
            ),
            (
                "outPath is empty string",
                json!({"inPath": "source_dir/", "outPath": ""}),
                &["outPath: must not be empty"],
            ),
            (
                "ignore is empty string",
                json!({"inPath": "source_dir/", "outPath": "archive.tar.gz", "ignore": ""}),
                &["ignore: must not be empty"],
            ),
            (
                "valid minimal config",
                json!({"inPath": "source_dir/", "outPath": "archive.tar.gz"}),
                &[],
            ),
            (
                "valid config with gzip set to false",
                json!({"inPath": "source_dir/", "outPath": "archive.tar", "gzip": false}),
                &[],
            ),
            (
                "valid config with ignore patterns",
                json!({"inPath": "source_dir/", "outPath": "archive.tar.gz", "ignore": "*.log\n*.tmp\n__pycache__/"}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 8); // Kargo's Test_tarConfig_convert: 8 rows
        check_configs(parse, rows);
    }

    /// Every entry of the archive at `p`: name, and contents (a file), the
    /// link target (a symlink) or "" (a directory).
    pub(crate) fn read_archive(p: &Path, gzip: bool) -> io::Result<Vec<(String, String)>> {
        let f = File::open(p)?;
        let r: Box<dyn Read> = if gzip {
            Box::new(GzDecoder::new(f))
        } else {
            Box::new(f)
        };
        let mut out = Vec::new();
        for e in ::tar::Archive::new(r).entries()? {
            let mut e = e?;
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let body = match e.header().entry_type() {
                EntryType::Symlink => {
                    String::from_utf8_lossy(&e.link_name_bytes().unwrap_or_default()).into_owned()
                }
                _ => {
                    let mut s = String::new();
                    e.read_to_string(&mut s)?;
                    s
                }
            };
            out.push((name, body));
        }
        Ok(out)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// A row of Kargo's `Test_tarCreator_run`.
    struct RunRow {
        name: &'static str,
        files: &'static [(&'static str, Node)],
        cfg: Value,
        want: Want,
        /// The archive's entries afterwards (None: no archive).
        archive: Option<(&'static str, &'static [(&'static str, &'static str)])>,
    }

    #[test]
    fn upstream_run_rows() -> TestResult {
        let rows = [
            RunRow {
                name: "succeeds with basic tar creation and atomic behavior",
                files: &[("source/file.txt", Node::File("test content"))],
                cfg: json!({"inPath": "source", "outPath": "archive.tar", "gzip": false}),
                want: Want::Ok,
                archive: Some(("archive.tar", &[("file.txt", "test content")])),
            },
            RunRow {
                name: "creates parent directories for nested output path",
                files: &[("source/file.txt", Node::File("test content"))],
                cfg: json!({"inPath": "source", "outPath": "nested/archive.tar", "gzip": false}),
                want: Want::Ok,
                archive: Some(("nested/archive.tar", &[("file.txt", "test content")])),
            },
            RunRow {
                name: "atomically replaces existing destination",
                files: &[
                    ("source/new_file.txt", Node::File("new content")),
                    ("archive.tar", Node::File("old archive content")),
                ],
                cfg: json!({"inPath": "source", "outPath": "archive.tar", "gzip": false}),
                want: Want::Ok,
                archive: Some(("archive.tar", &[("new_file.txt", "new content")])),
            },
            RunRow {
                name: "fails with invalid input path",
                files: &[],
                cfg: json!({"inPath": "nonexistent_source", "outPath": "archive.tar"}),
                want: Want::Err(false, "input path \"nonexistent_source\" does not exist"),
                archive: None,
            },
            RunRow {
                name: "fails to create output directory when blocked by a file",
                files: &[
                    ("source", Node::Dir),
                    ("nested", Node::File("blocking file")),
                ],
                cfg: json!({"inPath": "source", "outPath": "nested/archive.tar", "gzip": false}),
                want: Want::Err(
                    false,
                    "failed to create output directory for \"nested/archive.tar\"",
                ),
                archive: None,
            },
        ];
        assert_eq!(rows.len(), 5); // Kargo's Test_tarCreator_run: 5 rows
        for row in rows {
            let tmp = tempfile::tempdir()?;
            lay(tmp.path(), row.files)?;
            let got = with_ctx(tmp.path(), &Map::new(), |ctx| Tar.run(ctx, &row.cfg));
            check_outcome(row.name, &got, row.want);
            let out = row.cfg["outPath"].as_str().unwrap_or_default();
            match row.archive {
                Some((path, entries)) => {
                    assert_eq!(
                        read_archive(&tmp.path().join(path), false)?,
                        pairs(entries),
                        "{}",
                        row.name
                    );
                    // No temporary file is left next to it.
                    let dir = tmp
                        .path()
                        .join(path)
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default();
                    for e in fs::read_dir(dir)? {
                        assert!(
                            !e?.file_name().to_string_lossy().contains(".tmp"),
                            "{}",
                            row.name
                        );
                    }
                }
                None => assert!(!tmp.path().join(out).exists(), "{}", row.name),
            }
        }
        Ok(())
    }

    /// A row of Kargo's `Test_tarCreator_createTarball`: what to lay out
    /// (`source` is `inPath` unless `in_file`), a size in MiB for sparse
    /// files, and the archive expected or the error.
    struct BallRow {
        name: &'static str,
        files: &'static [(&'static str, Node)],
        sparse: &'static [(&'static str, u64)],
        in_path: &'static str,
        out_path: &'static str,
        gzip: bool,
        ignore: &'static str,
        want: Result<&'static [(&'static str, &'static str)], &'static str>,
    }

    #[test]
    fn upstream_create_tarball_rows() -> TestResult {
        const MIB: u64 = 1024 * 1024;
        let row = |name, files, want| BallRow {
            name,
            files,
            sparse: &[],
            in_path: "source",
            out_path: "archive.tar",
            gzip: false,
            ignore: "",
            want,
        };
        let rows = [
            row(
                "succeeds creating simple uncompressed tar file",
                &[
                    ("source/file1.txt", Node::File("test content")),
                    ("source/testdir/file2.txt", Node::File("nested content")),
                ],
                Ok(&[
                    ("file1.txt", "test content"),
                    ("testdir/", ""),
                    ("testdir/file2.txt", "nested content"),
                ]),
            ),
            BallRow {
                gzip: true,
                out_path: "archive.tar.gz",
                ..row(
                    "succeeds creating gzipped tar file",
                    &[("source/compressed.txt", Node::File("compressed content"))],
                    Ok(&[("compressed.txt", "compressed content")]),
                )
            },
            BallRow {
                ignore: "ignore.txt",
                ..row(
                    "handles ignore rules",
                    &[
                        ("source/include.txt", Node::File("include me")),
                        ("source/ignore.txt", Node::File("ignore me")),
                    ],
                    Ok(&[("include.txt", "include me")]),
                )
            },
            row(
                "handles symbolic links",
                &[
                    ("source/target.txt", Node::File("target content")),
                    ("source/link.txt", Node::Link("target.txt")),
                ],
                Ok(&[("link.txt", "target.txt"), ("target.txt", "target content")]),
            ),
            BallRow {
                sparse: &[("source/huge.bin", 50 * MIB + 1)],
                ..row(
                    "fails with file larger than max size",
                    &[("source", Node::Dir)],
                    Err("exceeds the maximum allowed single file size"),
                )
            },
            BallRow {
                sparse: &[
                    ("source/chunk0.bin", 40 * MIB),
                    ("source/chunk1.bin", 40 * MIB),
                    ("source/chunk2.bin", 40 * MIB),
                ],
                ..row(
                    "fails with total archive size larger than limit",
                    &[("source", Node::Dir)],
                    Err("total tar archive source size exceeds the maximum allowed size"),
                )
            },
            BallRow {
                in_path: "single_file.txt",
                ..row(
                    "succeeds archiving a single file directly",
                    &[("single_file.txt", Node::File("single file content"))],
                    Ok(&[("single_file.txt", "single file content")]),
                )
            },
            BallRow {
                in_path: "empty_dir",
                ..row(
                    "succeeds archiving an empty directory",
                    &[("empty_dir", Node::Dir)],
                    Ok(&[]),
                )
            },
            BallRow {
                ignore: "node_modules/",
                ..row(
                    "skips ignored directories",
                    &[
                        ("source/valid.txt", Node::File("valid")),
                        ("source/node_modules/secret.txt", Node::File("secret")),
                    ],
                    Ok(&[("valid.txt", "valid")]),
                )
            },
            BallRow {
                out_path: "non_existent_dir/archive.tar",
                ..row(
                    "fails to create temp file",
                    &[("source", Node::Dir)],
                    Err("failed to create temporary file"),
                )
            },
        ];
        assert_eq!(rows.len(), 10); // Kargo's Test_tarCreator_createTarball: 10 rows
        for row in rows {
            let tmp = tempfile::tempdir()?;
            lay(tmp.path(), row.files)?;
            for (p, size) in row.sparse {
                File::create(tmp.path().join(p))?.set_len(*size)?;
            }
            let out = tmp.path().join(row.out_path);
            let rules = IgnoreRules::parse(NAME, row.ignore, DefaultGitRule::WhenNoRules)?;
            let got = archive(
                tmp.path(),
                &tmp.path().join(row.in_path),
                &out,
                row.gzip,
                &rules,
                KARGO_SIZE_LIMITS,
            );
            match row.want {
                Ok(entries) => {
                    assert_eq!(got, Ok(()), "{}", row.name);
                    assert_eq!(
                        read_archive(&out, row.gzip)?,
                        pairs(entries),
                        "{}",
                        row.name
                    );
                }
                Err(part) => {
                    assert!(
                        got.as_ref().is_err_and(|e| e.contains(part)),
                        "{}: {got:?}",
                        row.name
                    );
                    assert!(!out.exists(), "{}: a partial archive is left", row.name);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn upstream_path_rows() -> TestResult {
        // Kargo's Test_tarCreator_prepareInputPath (5 rows),
        // Test_tarCreator_prepareOutputPath (2) and
        // Test_tarCreator_createTempFile (2), through the step. The rows
        // "fails to secure join" pass a NUL byte, which JSON strings here
        // carry to the filesystem: an I/O error.
        let tmp = tempfile::tempdir()?;
        lay(
            tmp.path(),
            &[("real.txt", Node::File("")), ("real_dir", Node::Dir)],
        )?;
        let run = |i: &str, o: &str| {
            with_ctx(tmp.path(), &Map::new(), |ctx| {
                Tar.run(ctx, &json!({"inPath": i, "outPath": o}))
            })
        };
        let rows: [(&str, &str, Option<&str>); 9] = [
            ("real.txt", "a.tar", None),
            ("real_dir", "b.tar", None),
            ("fake.txt", "c.tar", Some("does not exist")),
            (
                "../outside.txt",
                "d.tar",
                Some("must be a relative path inside the work directory"),
            ),
            ("\0", "e.tar", Some("inPath: \"\\0\"")),
            ("real.txt", "deeply/nested/archive.tar", None),
            ("real.txt", "\0", Some("outPath: \"\\0\"")),
            ("real.txt", "out.tar", None),
            (
                "real.txt",
                "real.txt/out.tar",
                Some("failed to create output directory for \"real.txt/out.tar\": file exists"),
            ),
        ];
        for (i, o, want) in rows {
            match (run(i, o), want) {
                (Ok(_), None) => assert!(tmp.path().join(o).is_file(), "{o}"),
                (Err(e), Some(part)) => assert!(e.message.contains(part), "{i} {o}: {e}"),
                (got, _) => panic!("{i} {o}: {got:?}"),
            }
        }
        Ok(())
    }

    #[test]
    fn links_are_stored_not_followed() -> TestResult {
        let (_tmp, work) = work_tree(&[
            ("outside/secret.txt", Node::File("secret")),
            ("work/src/a.txt", Node::File("a")),
            ("work/src/.git/HEAD", Node::File("ref")),
            ("work/src/out", Node::Link("../../outside")),
            ("work/escape", Node::Link("../outside")),
        ])?;
        let run = |c: Value| run(&Tar, &work, &c);
        run(json!({"inPath": "src", "outPath": "a.tgz", "gzip": true}))?;
        assert_eq!(
            read_archive(&work.join("a.tgz"), true)?,
            pairs(&[("a.txt", "a"), ("out", "../../outside")])
        );
        assert!(run(json!({"inPath": "escape", "outPath": "b.tar"})).is_err_and(|e| e.terminal));
        assert!(
            run(json!({"inPath": "src", "outPath": "escape/b.tar"})).is_err_and(|e| e.terminal)
        );
        // The work directory is never replaced by an archive.
        assert!(
            run(json!({"inPath": "src", "outPath": "."}))
                .is_err_and(|e| e.message.contains("names the work directory itself"))
        );
        assert!(work.join("a.tgz").exists());
        Ok(())
    }
}
