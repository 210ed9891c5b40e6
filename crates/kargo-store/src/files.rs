//! The database files are private: `kargo.db` is created 0600 (SQLite gives
//! its `-wal` and `-shm` files the database file's mode), and files an
//! older version left readable by others are tightened at open, with a
//! warning.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The database file and the WAL files next to it.
pub fn db_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

/// Creates `path` empty with mode 0600 when missing, and sets 0600 on it
/// and its WAL files when group or others may read them. Returns the files
/// it tightened.
pub fn make_private(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
    }
    let mut fixed = Vec::new();
    for f in db_files(path) {
        let Ok(md) = std::fs::metadata(&f) else {
            continue;
        };
        if md.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))?;
            tracing::warn!(file = %f.display(), "database file was readable by others; set to mode 0600");
            fixed.push(f);
        }
    }
    Ok(fixed)
}
