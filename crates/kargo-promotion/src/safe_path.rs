//! Resolves a path from a step's config inside the Promotion's work tree,
//! following symlinks one component at a time (the guarantee Kargo gets
//! from Go's `securejoin`): the answer never leaves the work tree, so a
//! symlink committed in a repository cannot make a step read, write, copy
//! or delete anything outside it. Unlike `securejoin`, which clamps a
//! symlink that points outside back under the root, a symlink that
//! leaves the tree is an error naming the link and its target.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed in one resolution before giving up (`securejoin`'s
/// limit).
pub const MAX_SYMLINKS: usize = 255;

/// Why a path cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnsafePath {
    /// Absolute, or `..` leads above the work tree, without any symlink.
    NotRelative,
    /// A symlink leads outside the work tree.
    Escapes {
        /// The symlink, relative to the work tree.
        link: String,
        /// What it points to, as stored in the link.
        target: String,
    },
    /// More than [`MAX_SYMLINKS`] symlinks (a loop).
    TooManySymlinks,
    /// The filesystem could not be read (the message names the path
    /// relative to the work tree, never the server's absolute path).
    Io(String),
}

/// Joins `rel` onto `root`, resolving every symlink on the way relative to
/// `root`, and returns a path under `root` that contains no symlink among
/// its existing components. Components that do not exist yet are taken as
/// they are (so a file can be created there).
pub fn secure_join(root: &Path, rel: &str) -> Result<PathBuf, UnsafePath> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, Path::new(rel), false)?;
    let canonical_root = root.canonicalize().ok();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut last_link: Option<(String, String)> = None;
    let mut links = 0usize;
    while let Some(c) = pending.pop() {
        if c == "." {
            continue;
        }
        if c == ".." {
            if resolved.pop().is_none() {
                return Err(match last_link {
                    Some((link, target)) => UnsafePath::Escapes { link, target },
                    None => UnsafePath::NotRelative,
                });
            }
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(UnsafePath::TooManySymlinks);
                }
                let link = display_rel(&resolved, &c);
                let target = std::fs::read_link(&candidate)
                    .map_err(|e| UnsafePath::Io(format!("{link}: {e}")))?;
                let shown = target.to_string_lossy().into_owned();
                if target.is_absolute() {
                    let inside = target.strip_prefix(root).ok().or_else(|| {
                        canonical_root
                            .as_deref()
                            .and_then(|r| target.strip_prefix(r).ok())
                    });
                    let Some(rest) = inside else {
                        return Err(UnsafePath::Escapes {
                            link,
                            target: shown,
                        });
                    };
                    resolved.clear();
                    push_components(&mut pending, rest, true)?;
                } else {
                    push_components(&mut pending, &target, true)?;
                }
                last_link = Some((link, shown));
            }
            Ok(_) => resolved.push(c),
            // As `securejoin`'s IsNotExist: a file mid-path (ENOTDIR) is a
            // path that does not exist yet; what uses it then fails.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                resolved.push(c)
            }
            Err(e) => {
                return Err(UnsafePath::Io(format!(
                    "{}: {e}",
                    display_rel(&resolved, &c)
                )));
            }
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

/// Pushes the components of `p` onto the stack so that the first one is
/// popped first. `from_link`: `p` is a relative symlink target, whose
/// root or prefix (impossible for relative targets) is refused anyway.
fn push_components(stack: &mut Vec<OsString>, p: &Path, from_link: bool) -> Result<(), UnsafePath> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::RootDir | Component::Prefix(_) if !from_link => {
                return Err(UnsafePath::NotRelative);
            }
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    stack.extend(parts.into_iter().rev());
    Ok(())
}

fn display_rel(resolved: &[OsString], last: &OsString) -> String {
    let mut p = PathBuf::new();
    p.extend(resolved);
    p.push(last);
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn plain_paths_and_dot_dot_inside() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        std::fs::create_dir_all(root.join("a/b"))?;
        assert_eq!(secure_join(root, "a/b/c.yaml"), Ok(root.join("a/b/c.yaml")));
        assert_eq!(secure_join(root, "./a/../a/b"), Ok(root.join("a/b")));
        assert_eq!(secure_join(root, ""), Ok(root.to_path_buf()));
        assert_eq!(secure_join(root, "new/dir/f"), Ok(root.join("new/dir/f")));
        // An I/O error names the path relative to the root.
        match secure_join(root, "a/b/\0x") {
            Err(UnsafePath::Io(m)) => {
                assert!(m.starts_with("a/b/\0x: "), "{m}");
                assert!(!m.contains(&*root.to_string_lossy()), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // A file mid-path: taken as it is, as `securejoin` does.
        std::fs::write(root.join("a/file"), "")?;
        assert_eq!(secure_join(root, "a/file/x"), Ok(root.join("a/file/x")));
        assert_eq!(secure_join(root, ".."), Err(UnsafePath::NotRelative));
        assert_eq!(secure_join(root, "a/../../x"), Err(UnsafePath::NotRelative));
        assert_eq!(
            secure_join(root, "/etc/passwd"),
            Err(UnsafePath::NotRelative)
        );
        Ok(())
    }

    #[test]
    fn symlinks_inside_are_followed() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        std::fs::create_dir_all(root.join("repo/base"))?;
        std::fs::write(root.join("repo/base/values.yaml"), "a: 1\n")?;
        symlink("base/values.yaml", root.join("repo/values.yaml"))?;
        symlink("../repo/base", root.join("repo/dirlink"))?;
        symlink(root.join("repo/base"), root.join("repo/abs"))?;
        assert_eq!(
            secure_join(root, "repo/values.yaml"),
            Ok(root.join("repo/base/values.yaml"))
        );
        assert_eq!(
            secure_join(root, "repo/dirlink/values.yaml"),
            Ok(root.join("repo/base/values.yaml"))
        );
        assert_eq!(
            secure_join(root, "repo/abs/values.yaml"),
            Ok(root.join("repo/base/values.yaml"))
        );
        // `..` after a symlinked directory applies to where it points.
        assert_eq!(
            secure_join(root, "repo/dirlink/../x"),
            Ok(root.join("repo/x"))
        );
        Ok(())
    }

    #[test]
    fn symlinks_leaving_the_tree_are_refused() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path().join("work");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("repo/sub"))?;
        std::fs::create_dir_all(&outside)?;
        symlink("/etc/passwd", root.join("repo/abs.yaml"))?;
        symlink("../../../outside", root.join("repo/rel"))?;
        symlink("../..", root.join("repo/sub/up"))?;
        symlink("loop", root.join("repo/loop"))?;
        assert_eq!(
            secure_join(&root, "repo/abs.yaml"),
            Err(UnsafePath::Escapes {
                link: "repo/abs.yaml".into(),
                target: "/etc/passwd".into()
            })
        );
        assert_eq!(
            secure_join(&root, "repo/rel/f.yaml"),
            Err(UnsafePath::Escapes {
                link: "repo/rel".into(),
                target: "../../../outside".into()
            })
        );
        // Inside on its own, but `..` through it leaves the tree.
        assert_eq!(secure_join(&root, "repo/sub/up"), Ok(root.clone()));
        assert_eq!(
            secure_join(&root, "repo/sub/up/../x"),
            Err(UnsafePath::Escapes {
                link: "repo/sub/up".into(),
                target: "../..".into()
            })
        );
        assert_eq!(
            secure_join(&root, "repo/loop"),
            Err(UnsafePath::TooManySymlinks)
        );
        Ok(())
    }
}
