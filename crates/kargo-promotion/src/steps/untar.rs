//! `untar`: extracts a tar file (gzip-compressed or not, told by its magic
//! bytes) into a directory of the work directory, as Kargo's
//! `tar_extractor.go` does. Config: `inPath`, `outPath` (replaced whole),
//! `stripComponents`, `ignore` (gitignore-style rules relative to
//! `outPath`; without rules `.git` is left out). No outputs.
//!
//! Extraction goes to a temporary directory in the work directory, which
//! then replaces `outPath`; a failure leaves `outPath` as it was. Only
//! files, directories and symlinks are extracted (hard links and devices
//! are skipped); modes keep their permission bits only (no setuid). As in
//! Kargo, an entry named absolutely, with `../` or a leading `./`, or a
//! symlink whose target is absolute or contains `../` is skipped; beyond
//! Kargo, a symlink pointing above `outPath` (`..`) is skipped and no
//! entry is written through a symlink extracted earlier. Kargo's limits
//! apply: 50 MiB a file, 100 MiB in all.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ::tar::{Archive, EntryType};
use flate2::read::GzDecoder;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{
    ConfigCheck, DefaultGitRule, IgnoreRules, KARGO_SIZE_LIMITS, SizeLimits, clean, not_work_dir,
    replace, temp_path,
};
use crate::safe_path::secure_join;
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "untar";

/// Mode of the directories created.
const DIR_MODE: u32 = 0o750;

/// Config of `untar` (Kargo's `UntarConfig`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UntarConfig {
    /// The tar file.
    pub in_path: String,
    /// The directory to extract into.
    pub out_path: String,
    /// Leading path components to drop from every entry.
    #[serde(default)]
    pub strip_components: Option<u64>,
    /// Gitignore-style rules, one a line.
    #[serde(default)]
    pub ignore: Option<String>,
}

/// Checks and decodes an `untar` config (Kargo's schema: `inPath` and
/// `outPath` required, those and `ignore` non-empty, `stripComponents`
/// at least 0).
pub fn parse(config: &Value) -> Result<UntarConfig, StepError> {
    ConfigCheck::new(config)
        .in_out_ignore()
        .non_negative("stripComponents")
        .parse(NAME, config)
}

/// The `untar` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct Untar;

impl Step for Untar {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        untar(ctx, &parse(config)?, KARGO_SIZE_LIMITS)
    }
}

/// Runs a decoded config under `limits`.
pub fn untar(
    ctx: &StepContext<'_>,
    cfg: &UntarConfig,
    limits: SizeLimits,
) -> Result<StepResult, StepError> {
    let errored = |m: String| StepError::retryable(NAME, m);
    let src = ctx.resolve(NAME, "inPath", &cfg.in_path)?;
    let dst = ctx.resolve(NAME, "outPath", &cfg.out_path)?;
    not_work_dir(NAME, "outPath", &cfg.out_path, &dst, ctx.work_dir)?;
    let rules = IgnoreRules::parse(
        NAME,
        cfg.ignore.as_deref().unwrap_or(""),
        DefaultGitRule::WhenNoRules,
    )?;
    let tmp = temp_path(ctx.work_dir, ".untar-");
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(|e| {
            errored(format!(
                "failed to create temporary directory for extraction: {e}"
            ))
        })?;
    let done = extract(cfg, &rules, &src, &tmp, limits)
        .map_err(|m| format!("failed to extract tar file {:?}: {m}", cfg.in_path))
        .and_then(|()| {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&dst)
                .map_err(|e| format!("failed to create directory {:?}: {e}", cfg.out_path))
        })
        .and_then(|()| {
            replace(&tmp, &dst).map_err(|e| {
                format!(
                    "failed to move the extracted files to {:?}: {e}",
                    cfg.out_path
                )
            })
        });
    if done.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    done.map_err(errored)?;
    Ok(StepResult::succeeded(Map::new()))
}

/// Kargo's `validRelPath`: not empty, no `\`, not absolute, no `../`,
/// no leading `./`.
fn valid_rel_path(p: &str) -> bool {
    !(p.is_empty()
        || p.contains('\\')
        || p.starts_with('/')
        || p.contains("../")
        || p.starts_with("./"))
}

/// Whether `rel` stays inside the extraction root once cleaned.
fn stays_inside(rel: &str) -> bool {
    let c = clean(rel);
    c != ".." && !c.starts_with("../")
}

/// Extracts the archive at `src` into the directory `root` (Kargo's
/// `extractToDir`).
pub fn extract(
    cfg: &UntarConfig,
    rules: &IgnoreRules,
    src: &Path,
    root: &Path,
    limits: SizeLimits,
) -> Result<(), String> {
    let mut file =
        File::open(src).map_err(|e| format!("failed to open tar file {:?}: {e}", cfg.in_path))?;
    let mut magic = [0u8; 2];
    file.read_exact(&mut magic)
        .map_err(|e| format!("failed to read file header: {e}"))?;
    file.rewind()
        .map_err(|e| format!("failed to seek in tar file: {e}"))?;
    let reader: Box<dyn Read> = if magic == [0x1f, 0x8b] {
        Box::new(GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let strip = usize::try_from(cfg.strip_components.unwrap_or(0)).unwrap_or(usize::MAX);
    let mut total = 0u64;
    let mut archive = Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| format!("error reading tar: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("error reading tar: {e}"))?;
        let kind = entry.header().entry_type();
        if !matches!(
            kind,
            EntryType::Regular | EntryType::Directory | EntryType::Symlink
        ) {
            continue;
        }
        let full = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = if strip > 0 {
            let parts: Vec<&str> = full.split('/').collect();
            if parts.len() <= strip {
                continue;
            }
            parts[strip..].join("/")
        } else {
            full
        };
        if name.is_empty() || name == "/" || !valid_rel_path(&name) || !stays_inside(&name) {
            continue;
        }
        let is_dir = kind == EntryType::Directory;
        if rules.is_ignored(name.trim_end_matches('/'), is_dir) {
            continue;
        }
        // Nothing is written through a symlink an earlier entry made.
        let rel = clean(&name);
        let (parent, _) = rel.rsplit_once('/').unwrap_or(("", &rel));
        let target = root.join(&rel);
        let parent_abs = root.join(parent);
        if secure_join(root, parent).ok().as_deref() != Some(parent_abs.as_path()) {
            continue;
        }
        let mkdir = |d: &Path| {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(d)
                .map_err(|e| format!("failed to create directory {name}: {e}"))
        };
        mkdir(&parent_abs)?;
        if fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            // Replaced, never followed.
            let _ = fs::remove_file(&target);
        }
        match kind {
            EntryType::Directory => mkdir(&target)?,
            EntryType::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let from_root = if parent.is_empty() {
                    link.clone()
                } else {
                    format!("{parent}/{link}")
                };
                if valid_rel_path(&link) && stays_inside(&from_root) {
                    // An entry already there is kept, as in Kargo.
                    let _ = std::os::unix::fs::symlink(&link, &target);
                }
            }
            _ => {
                let size = entry.size();
                if size > limits.file {
                    return Err(format!(
                        "extraction aborted: file {name} exceeds size limit of {} bytes",
                        limits.file
                    ));
                }
                if total + size > limits.total {
                    return Err(format!(
                        "extraction aborted: total size would exceed limit of {} bytes",
                        limits.total
                    ));
                }
                let mode = entry.header().mode().unwrap_or(0o600) & 0o777;
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(mode)
                    .open(&target)
                    .map_err(|e| format!("failed to create file {name}: {e}"))?;
                let written = io::copy(&mut (&mut entry).take(size), &mut out)
                    .map_err(|e| format!("failed to write to file {name}: {e}"))?;
                total += written;
                out.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("failed to set the mode of {name}: {e}"))?;
                if let Ok(mtime) = entry.header().mtime()
                    && mtime > 0
                {
                    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
                    out.set_modified(t)
                        .map_err(|e| format!("failed to change mod time for {name}: {e}"))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, with_ctx};
    use crate::steps::files::fixture::{Is, Want, check_configs, check_outcome, check_tree};
    use ::tar::{Builder, Header};
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use serde_json::json;

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_untarConfig_convert.
        let dst = "/destination/path";
        let tgz = "/path/to/archive.tar.gz";
        let rows: &[(&str, Value, &[&str])] = &[
            ("inPath not specified", json!({}), &["inPath: required"]),
            (
                "inPath is empty string",
                json!({"inPath": ""}),
                &["inPath: must not be empty"],
            ),
            (
                "outPath not specified",
                json!({"inPath": tgz}),
                &["outPath: required"],
            ),
            (
                "outPath is empty string",
                json!({"inPath": tgz, "outPath": ""}),
                &["outPath: must not be empty"],
            ),
            (
                "both required fields missing",
                json!({"stripComponents": 1}),
                &["inPath: required", "outPath: required"],
            ),
            (
                "stripComponents is negative",
                json!({"inPath": tgz, "outPath": dst, "stripComponents": -1}),
                &["stripComponents: must be greater than or equal to 0"],
            ),
            (
                "ignore is empty string",
                json!({"inPath": tgz, "outPath": dst, "ignore": ""}),
                &["ignore: must not be empty"],
            ),
            (
                "valid minimal config",
                json!({"inPath": tgz, "outPath": dst}),
                &[],
            ),
            (
                "valid config with stripComponents=0",
                json!({"inPath": tgz, "outPath": dst, "stripComponents": 0}),
                &[],
            ),
            (
                "valid config with stripComponents=1",
                json!({"inPath": tgz, "outPath": dst, "stripComponents": 1}),
                &[],
            ),
            (
                "valid config with stripComponents=3",
                json!({"inPath": tgz, "outPath": dst, "stripComponents": 3}),
                &[],
            ),
            (
                "valid config with ignore patterns",
                json!({"inPath": tgz, "outPath": dst, "ignore": "*.log\n*.tmp\n__pycache__/"}),
                &[],
            ),
            (
                "valid config with stripComponents and ignore",
                json!({"inPath": tgz, "outPath": dst, "stripComponents": 2, "ignore": "node_modules/\n.git/\n*.log"}),
                &[],
            ),
            (
                "valid kitchen sink",
                json!({"inPath": "/path/to/source-code.tar.gz", "outPath": "/workspace/extracted",
                       "stripComponents": 1,
                       "ignore": "# Ignore build artifacts\nbuild/\ndist/\ntarget/\n\n# Ignore logs\n*.log\n*.tmp\n\n# Ignore version control\n.git/\n.svn/\n\n# Ignore dependencies\nnode_modules/\nvendor/"}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 14); // Kargo's Test_untarConfig_convert: 14 rows
        check_configs(parse, rows);
    }

    /// An archive entry as the upstream tests write them.
    #[derive(Clone, Copy)]
    enum E {
        /// A file, mode 0600.
        File(&'static str, &'static str),
        /// A file with a mode.
        Mode(&'static str, u32, &'static str),
        /// A directory.
        Dir(&'static str),
        /// A symlink.
        Link(&'static str, &'static str),
        /// A file whose header claims `size` bytes of zeros.
        Zeros(&'static str, u64),
    }

    /// Writes `entries` as an archive at `p`, names taken as they are
    /// (`..` and absolute names too, as Go's tar writer allows).
    fn write_archive(p: &Path, gzip: bool, entries: &[E]) -> io::Result<()> {
        let f = File::create(p)?;
        if gzip {
            let gz = build(GzEncoder::new(f, Compression::default()), entries)?;
            gz.finish()?;
        } else {
            build(f, entries)?;
        }
        Ok(())
    }

    fn build<W: io::Write>(w: W, entries: &[E]) -> io::Result<W> {
        let mut b = Builder::new(w);
        for e in entries {
            let mut h = Header::new_ustar();
            let (name, kind, mode, data): (&str, EntryType, u32, Vec<u8>) = match *e {
                E::File(n, c) => (n, EntryType::Regular, 0o600, c.as_bytes().to_vec()),
                E::Mode(n, m, c) => (n, EntryType::Regular, m, c.as_bytes().to_vec()),
                E::Dir(n) => (n, EntryType::Directory, 0o755, Vec::new()),
                E::Link(n, _) => (n, EntryType::Symlink, 0o777, Vec::new()),
                E::Zeros(n, size) => (
                    n,
                    EntryType::Regular,
                    0o600,
                    vec![0; usize::try_from(size).unwrap_or(0)],
                ),
            };
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(data.len() as u64);
            let slot = &mut h.as_old_mut().name;
            slot[..name.len()].copy_from_slice(name.as_bytes());
            if let E::Link(_, target) = *e {
                h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            }
            h.set_cksum();
            b.append(&h, data.as_slice())?;
        }
        b.into_inner()
    }

    /// Upstream's size rows with limits scaled down 1024 times (the same
    /// arithmetic on 50 KiB / 100 KiB instead of writing 150 MiB).
    const SCALED: SizeLimits = SizeLimits {
        file: KARGO_SIZE_LIMITS.file / 1024,
        total: KARGO_SIZE_LIMITS.total / 1024,
    };

    /// A row of Kargo's `Test_tarExtractor_run`.
    struct RunRow {
        name: &'static str,
        old: &'static [(&'static str, &'static str)],
        archive: Option<(&'static str, &'static [E])>,
        cfg: Value,
        want: Want,
        after: &'static [(&'static str, Is)],
    }

    fn no_temp_dirs(work: &Path) -> io::Result<bool> {
        Ok(fs::read_dir(work)?
            .all(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with(".untar-"))))
    }

    #[test]
    fn upstream_run_rows() -> TestResult {
        let simple: &[E] = &[E::File("file.txt", "test content")];
        let rows = [
            RunRow {
                name: "succeeds with basic extraction and atomic behavior",
                old: &[],
                archive: Some(("archive.tar", simple)),
                cfg: json!({"inPath": "archive.tar", "outPath": "extracted/"}),
                want: Want::Ok,
                after: &[("extracted/file.txt", Is::File("test content"))],
            },
            RunRow {
                name: "creates parent directories for nested output path",
                old: &[],
                archive: Some(("archive.tar", simple)),
                cfg: json!({"inPath": "archive.tar", "outPath": "nested/extracted"}),
                want: Want::Ok,
                after: &[("nested/extracted/file.txt", Is::File("test content"))],
            },
            RunRow {
                name: "atomically replaces existing destination",
                old: &[("extracted/old_file.txt", "old content")],
                archive: Some(("archive.tar", &[E::File("new_file.txt", "new content")])),
                cfg: json!({"inPath": "archive.tar", "outPath": "extracted/"}),
                want: Want::Ok,
                after: &[
                    ("extracted/new_file.txt", Is::File("new content")),
                    ("extracted/old_file.txt", Is::Missing),
                ],
            },
            RunRow {
                name: "fails with invalid input file path and maintains atomicity",
                old: &[],
                archive: None,
                cfg: json!({"inPath": "nonexistent.tar", "outPath": "extracted/"}),
                want: Want::Err(false, "failed to open tar file"),
                after: &[("extracted", Is::Missing)],
            },
            RunRow {
                name: "fails during extraction and maintains atomicity",
                old: &[],
                archive: Some((
                    "oversized.tar",
                    &[E::Zeros("large_file.bin", SCALED.file + 1)],
                )),
                cfg: json!({"inPath": "oversized.tar", "outPath": "extracted/"}),
                want: Want::Err(false, "exceeds size limit"),
                after: &[("extracted", Is::Missing)],
            },
        ];
        assert_eq!(rows.len(), 5); // Kargo's Test_tarExtractor_run: 5 rows
        for row in rows {
            let tmp = tempfile::tempdir()?;
            for (p, c) in row.old {
                let p = tmp.path().join(p);
                fs::create_dir_all(p.parent().unwrap_or(tmp.path()))?;
                fs::write(p, c)?;
            }
            if let Some((p, entries)) = row.archive {
                write_archive(&tmp.path().join(p), false, entries)?;
            }
            let cfg = parse(&row.cfg)?;
            let got = with_ctx(tmp.path(), &Map::new(), |ctx| untar(ctx, &cfg, SCALED));
            check_outcome(row.name, &got, row.want);
            check_tree(row.name, tmp.path(), row.after);
            assert!(no_temp_dirs(tmp.path())?, "{}", row.name);
        }
        Ok(())
    }

    /// A row of Kargo's `Test_tarExtractor_extractToDir`.
    struct DirRow {
        name: &'static str,
        gzip: bool,
        entries: &'static [E],
        strip: Option<u64>,
        ignore: &'static str,
        want: Result<&'static [(&'static str, Is)], &'static [&'static str]>,
        modes: &'static [(&'static str, u32)],
    }

    #[test]
    fn upstream_extract_to_dir_rows() -> TestResult {
        let row = |name, entries, want| DirRow {
            name,
            gzip: false,
            entries,
            strip: None,
            ignore: "",
            want,
            modes: &[],
        };
        let n = SCALED.total / SCALED.file + 1;
        let too_many: Vec<E> = (0..n)
            .map(|i| {
                E::Zeros(
                    ["file0.bin", "file1.bin", "file2.bin"][i as usize % 3],
                    SCALED.file - 1,
                )
            })
            .collect();
        let too_many: &'static [E] = Box::leak(too_many.into_boxed_slice());
        let rows = [
            row(
                "succeeds extracting simple tar file",
                &[
                    E::File("file1.txt", "test content"),
                    E::Dir("testdir/"),
                    E::File("testdir/file2.txt", "nested content"),
                ],
                Ok(&[
                    ("file1.txt", Is::File("test content")),
                    ("testdir", Is::Dir),
                    ("testdir/file2.txt", Is::File("nested content")),
                ]),
            ),
            DirRow {
                gzip: true,
                ..row(
                    "succeeds extracting gzipped tar file",
                    &[E::File("compressed.txt", "compressed content")],
                    Ok(&[("compressed.txt", Is::File("compressed content"))]),
                )
            },
            DirRow {
                strip: Some(2),
                ..row(
                    "strip components",
                    &[E::File("prefix1/prefix2/file.txt", "test content")],
                    Ok(&[
                        ("file.txt", Is::File("test content")),
                        ("prefix1", Is::Missing),
                    ]),
                )
            },
            DirRow {
                ignore: "ignore.txt",
                ..row(
                    "ignore rules",
                    &[
                        E::File("include.txt", "include me"),
                        E::File("ignore.txt", "ignore me"),
                    ],
                    Ok(&[
                        ("include.txt", Is::File("include me")),
                        ("ignore.txt", Is::Missing),
                    ]),
                )
            },
            row(
                "handles symbolic links",
                &[
                    E::File("target.txt", "target content"),
                    E::Link("link.txt", "target.txt"),
                ],
                Ok(&[
                    ("target.txt", Is::File("target content")),
                    ("link.txt", Is::Link("target.txt")),
                ]),
            ),
            DirRow {
                want: Err(&["error reading tar"]),
                ..row("fails with non-tar file", &[], Ok(&[]))
            },
            row(
                "skips unsafe path traversal attempts",
                &[
                    E::File("../outside.txt", "x"),
                    E::File("/etc/passwd", "x"),
                    E::File("subdir/../../outside.txt", "x"),
                    E::File("./config.txt", "x"),
                    E::File("safe.txt", "test content for safe.txt"),
                ],
                Ok(&[
                    ("safe.txt", Is::File("test content for safe.txt")),
                    ("../outside.txt", Is::Missing),
                    ("etc/passwd", Is::Missing),
                    ("config.txt", Is::Missing),
                ]),
            ),
            row(
                "skips unsafe symlinks",
                &[
                    E::File("safe.txt", "target content"),
                    E::Link("safe_link.txt", "safe.txt"),
                    E::Link("unsafe_link1.txt", "../outside.txt"),
                    E::Link("unsafe_link2.txt", "/etc/passwd"),
                    E::Link("unsafe_link3.txt", "./unsafe_target.txt"),
                ],
                Ok(&[
                    ("safe.txt", Is::File("target content")),
                    ("safe_link.txt", Is::Link("safe.txt")),
                    ("unsafe_link1.txt", Is::Missing),
                    ("unsafe_link2.txt", Is::Missing),
                    ("unsafe_link3.txt", Is::Missing),
                ]),
            ),
            row(
                "fails with file larger than size limit",
                &[E::Zeros("large_file.bin", SCALED.file + 1)],
                Err(&["exceeds size limit", "large_file.bin"]),
            ),
            row(
                "fails with total archive size larger than limit",
                too_many,
                Err(&["extraction aborted: total size would exceed limit"]),
            ),
            DirRow {
                modes: &[("setuid_file.txt", 0o755)],
                ..row(
                    "handles file permissions safely (masks setuid/setgid)",
                    &[E::Mode("setuid_file.txt", 0o4755, "test content")],
                    Ok(&[("setuid_file.txt", Is::File("test content"))]),
                )
            },
        ];
        assert_eq!(rows.len(), 11); // Kargo's Test_tarExtractor_extractToDir: 11 rows
        for row in rows {
            let tmp = tempfile::tempdir()?;
            let src = tmp.path().join("archive.tar");
            if row.name == "fails with non-tar file" {
                fs::write(&src, "not a tar file")?;
            } else {
                write_archive(&src, row.gzip, row.entries)?;
            }
            let root = tmp.path().join("temp_extract");
            fs::create_dir(&root)?;
            let cfg = UntarConfig {
                in_path: "archive.tar".into(),
                out_path: "extracted/".into(),
                strip_components: row.strip,
                ignore: Some(row.ignore.to_string()).filter(|s| !s.is_empty()),
            };
            let rules = IgnoreRules::parse(NAME, row.ignore, DefaultGitRule::WhenNoRules)?;
            let got = extract(&cfg, &rules, &src, &root, SCALED);
            match row.want {
                Ok(after) => {
                    assert_eq!(got, Ok(()), "{}", row.name);
                    check_tree(row.name, &root, after);
                }
                Err(parts) => {
                    for p in parts {
                        assert!(
                            got.as_ref().is_err_and(|e| e.contains(p)),
                            "{}: {got:?}",
                            row.name
                        );
                    }
                }
            }
            for (p, mode) in row.modes {
                assert_eq!(
                    fs::metadata(root.join(p))?.permissions().mode() & 0o7777,
                    *mode,
                    "{}",
                    row.name
                );
            }
            assert!(!tmp.path().join("outside.txt").exists(), "{}", row.name);
        }
        Ok(())
    }

    #[test]
    fn upstream_valid_rel_path_rows() {
        // Kargo's Test_tarExtractor_validRelPath.
        let rows = [
            ("file.txt", true),
            ("dir/file.txt", true),
            ("dir/subdir/file.txt", true),
            ("", false),
            ("/absolute/path", false),
            ("../traversal", false),
            ("dir/../file", false),
            ("./current", false),
            ("file\\with\\backslash", false),
        ];
        assert_eq!(rows.len(), 9); // 9 upstream rows
        for (p, want) in rows {
            assert_eq!(valid_rel_path(p), want, "{p}");
        }
    }

    #[test]
    fn nothing_escapes_out_path() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let work = tmp.path().join("work");
        fs::create_dir_all(&work)?;
        write_archive(
            &work.join("evil.tar"),
            false,
            &[
                // Kargo would create this link (to the parent of outPath)
                // and then write `up/x.txt` through it.
                E::Link("up", ".."),
                E::File("up/x.txt", "escaped"),
                E::Link("d/l", "../../x"),
                E::Link("in", "sub"),
                E::Dir("sub/"),
                E::File("in/y.txt", "through a link"),
                E::File(".git/config", "default ignore"),
                E::File("ok.txt", "ok"),
            ],
        )?;
        with_ctx(&work, &Map::new(), |ctx| {
            Untar.run(ctx, &json!({"inPath": "evil.tar", "outPath": "out"}))
        })?;
        check_tree(
            "evil",
            &work,
            &[
                ("out/ok.txt", Is::File("ok")),
                // The link was skipped; `up/` is an ordinary directory.
                ("out/up/x.txt", Is::File("escaped")),
                ("x.txt", Is::Missing),
                ("out/d/l", Is::Missing),
                ("out/in", Is::Link("sub")),
                ("out/sub/y.txt", Is::Missing),
                ("out/.git", Is::Missing),
            ],
        );
        // Paths through a link out of the work tree are refused.
        std::os::unix::fs::symlink(tmp.path(), work.join("escape"))?;
        let err = with_ctx(&work, &Map::new(), |ctx| {
            Untar.run(ctx, &json!({"inPath": "evil.tar", "outPath": "escape/out"}))
        });
        assert!(err.is_err_and(|e| e.terminal));
        assert!(!tmp.path().join("out").exists());
        // The work directory itself is never replaced (Kargo's rename
        // fails "not empty" there and it removes the work directory).
        let err = with_ctx(&work, &Map::new(), |ctx| {
            Untar.run(ctx, &json!({"inPath": "evil.tar", "outPath": "./"}))
        });
        assert!(err.is_err_and(|e| e.message.contains("names the work directory itself")));
        assert!(work.join("evil.tar").exists());
        Ok(())
    }
}
