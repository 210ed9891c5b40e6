//! The data directory: private (0700, tightened with a warning when an
//! older version left it open), locked by the one server that uses it, and
//! backed up or restored through SQLite's online backup.

use crate::ServerError;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The database file in a data directory.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("kargo.db")
}

/// Creates `dir` (0700) or, when it exists, removes group and other
/// access from it with a warning. Returns whether it had to tighten it.
pub fn prepare(dir: &Path) -> Result<bool, ServerError> {
    let io = |source| ServerError::Io {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        return Ok(false);
    }
    let mode = std::fs::metadata(dir).map_err(io)?.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    tracing::warn!(
        dir = %dir.display(),
        was = format!("{:o}", mode & 0o777),
        "data directory was open to other users; set to mode 0700"
    );
    Ok(true)
}

/// The data directory's lock, held for as long as the value lives.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Takes the data directory's lock (`kargo.lock`, an advisory file lock),
/// or says that another server holds it.
pub fn lock(dir: &Path) -> Result<DirLock, ServerError> {
    let path = dir.join("kargo.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServerError::Io {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::InUse(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::Io { path, source }),
    }
}

/// Copies the database of `dir` into `file` while a server may be
/// serving from it (a consistent snapshot).
pub fn backup(dir: &Path, file: &Path) -> Result<kargo_store::backup::Copied, ServerError> {
    Ok(kargo_store::backup::backup(&db_path(dir), file)?)
}

/// Puts the backup `file` back as the database of `dir`; refused while a
/// server runs on `dir` (it holds the lock, which this takes meanwhile).
pub fn restore(dir: &Path, file: &Path) -> Result<kargo_store::backup::Copied, ServerError> {
    prepare(dir)?;
    let _lock = lock(dir)?;
    Ok(kargo_store::backup::restore(file, &db_path(dir))?)
}
