//! What `HEAD` of a work tree is — the branch checked out and the commit —
//! read from git's files instead of a `git rev-parse`/`symbolic-ref`
//! process each time a step needs it (after a clone, a commit, a push).
//!
//! Only the plain "files" ref storage is read: `.git` (a directory, or a
//! `gitdir:` file for a linked worktree and its `commondir`), `HEAD`, loose
//! refs, `packed-refs`. Anything else (reftable, a symbolic ref pointing at
//! another symbolic ref, unreadable files) is `None`, and the caller asks
//! git ([`super::Git::head`]).

use std::path::{Path, PathBuf};

/// `HEAD` of a work tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The branch checked out (`main` for `refs/heads/main`); `None` when
    /// HEAD is detached.
    pub branch: Option<String>,
    /// The commit HEAD is at; `None` on an unborn branch (no commit yet).
    pub commit: Option<String>,
}

/// Reads `HEAD` of the work tree at `dir` from its files, or `None` when
/// they are not in a form this reads.
pub fn read(dir: &Path) -> Option<Head> {
    let git_dir = git_dir(dir)?;
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(c) => git_dir.join(c.trim_end_matches(['\n', '\r'])),
        Err(_) => git_dir.clone(),
    };
    if common.join("reftable").exists() {
        return None;
    }
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim_end();
    if is_object_id(head) {
        return Some(Head {
            branch: None,
            commit: Some(head.to_string()),
        });
    }
    let name = head.strip_prefix("ref: ")?;
    let branch = name.strip_prefix("refs/heads/")?;
    Some(Head {
        branch: Some(branch.to_string()),
        commit: resolve(&common, name)?,
    })
}

/// The commit of the branch ref `name` in the common directory: the loose
/// ref, else its `packed-refs` line; `Some(None)` when neither exists.
fn resolve(common: &Path, name: &str) -> Option<Option<String>> {
    match std::fs::read_to_string(common.join(name)) {
        Ok(loose) => {
            let loose = loose.trim_end();
            return is_object_id(loose).then(|| Some(loose.to_string()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => return None,
    }
    let packed = match std::fs::read_to_string(common.join("packed-refs")) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(None),
        Err(_) => return None,
    };
    for line in packed.lines() {
        if line.starts_with('#') || line.starts_with('^') {
            continue;
        }
        if let Some((id, r)) = line.split_once(' ')
            && r == name
        {
            return is_object_id(id).then(|| Some(id.to_string()));
        }
    }
    Some(None)
}

/// The git directory of the work tree at `dir`: `.git` itself, or where
/// a `.git` file (`gitdir: <path>`) points.
fn git_dir(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    let meta = std::fs::metadata(&dot_git).ok()?;
    if meta.is_dir() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let target = text.trim_end().strip_prefix("gitdir: ")?;
    Some(dir.join(target))
}

/// A full SHA-1 or SHA-256 object name in lower-case hex.
fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::{TestResult, bare_repo, git};

    /// What git itself says HEAD is.
    fn by_git(dir: &Path) -> Head {
        Head {
            branch: git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok(),
            commit: git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"]).ok(),
        }
    }

    #[test]
    fn reads_what_git_reports() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (bare, url) = bare_repo(tmp.path())?;
        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &["clone", "--quiet", &url, &clone.to_string_lossy()],
        )?;
        // Right after a clone the branch is a loose ref.
        let head = read(&clone).ok_or("unread")?;
        assert_eq!(head.branch.as_deref(), Some("main"));
        assert_eq!(head, by_git(&clone));
        // A new commit; then everything packed.
        std::fs::write(clone.join("b.yaml"), "b: 1\n")?;
        git(&clone, &["add", "."])?;
        git(&clone, &["commit", "--quiet", "-m", "two"])?;
        assert_eq!(read(&clone), Some(by_git(&clone)));
        git(&clone, &["pack-refs", "--all", "--prune"])?;
        assert!(!clone.join(".git/refs/heads/main").exists());
        assert_eq!(read(&clone), Some(by_git(&clone)));
        // Detached.
        git(&clone, &["checkout", "--quiet", "--detach", "v1"])?;
        let head = read(&clone).ok_or("unread")?;
        assert_eq!(head.branch, None);
        assert_eq!(head, by_git(&clone));
        // A linked worktree (a `.git` file, refs in the common directory).
        let linked = tmp.path().join("linked");
        git(
            &bare,
            &[
                "worktree",
                "add",
                "--quiet",
                &linked.to_string_lossy(),
                "main",
            ],
        )?;
        assert!(linked.join(".git").is_file());
        assert_eq!(read(&linked), Some(by_git(&linked)));
        // An unborn branch.
        git(&clone, &["checkout", "--quiet", "--orphan", "fresh"])?;
        assert_eq!(
            read(&clone),
            Some(Head {
                branch: Some("fresh".into()),
                commit: None
            })
        );
        // Not a work tree.
        assert_eq!(read(tmp.path()), None);
        Ok(())
    }

    #[test]
    fn reftable_is_left_to_git() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("r");
        git(
            tmp.path(),
            &[
                "init",
                "--quiet",
                "--ref-format=reftable",
                &dir.to_string_lossy(),
            ],
        )?;
        git(&dir, &["commit", "--quiet", "--allow-empty", "-m", "one"])?;
        assert_eq!(read(&dir), None);
        Ok(())
    }
}
