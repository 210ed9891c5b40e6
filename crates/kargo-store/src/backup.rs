//! Online backup and restore of the database file with SQLite's backup
//! API. A backup copies every page in one step under one read
//! transaction, so it is a consistent snapshot even while a server keeps
//! writing (WAL readers do not block the writer); a restore copies a
//! checked backup over the database. Whether a server is running on the
//! data directory is the caller's concern (`kargo server restore` checks
//! the data directory's lock).

use crate::{StoreError, files};
use rusqlite::Connection;
use rusqlite::backup::Backup;
use std::path::Path;
use std::time::Duration;

/// What a backup or restore copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copied {
    /// Database pages copied.
    pub pages: u64,
    /// The newest resourceVersion the copy holds.
    pub resource_version: u64,
}

fn err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("{}: {e}", path.display()))
}

/// Checks `conn` with `PRAGMA integrity_check` and that it is a kargo store.
fn check(conn: &Connection, path: &Path) -> Result<Copied, StoreError> {
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| err(path, e))?;
    if verdict != "ok" {
        return Err(err(path, format!("integrity check failed: {verdict}")));
    }
    let rv: i64 = conn
        .query_row(
            "SELECT MAX(COALESCE((SELECT MAX(rv) FROM objects),0), COALESCE((SELECT value FROM meta WHERE key='rv'),0))",
            [],
            |r| r.get(0),
        )
        .map_err(|e| err(path, format!("not a kargo database: {e}")))?;
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(|e| err(path, e))?;
    Ok(Copied {
        pages: pages as u64,
        resource_version: rv as u64,
    })
}

fn copy(from: &Connection, to: &mut Connection, path: &Path) -> Result<(), StoreError> {
    use rusqlite::backup::StepResult;
    let b = Backup::new(from, to).map_err(|e| err(path, e))?;
    // -1: every page in one step, under one read transaction of `from`.
    for _ in 0..300 {
        match b.step(-1).map_err(|e| err(path, e))? {
            StepResult::Done => return Ok(()),
            // A writer holds a lock for a moment: try again.
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    Err(err(path, "the database stayed locked for 30 s"))
}

/// Copies the database at `db` into `dest` (mode 0600, replaced
/// atomically if it exists), then checks the copy. Safe while a server
/// writes to `db`.
pub fn backup(db: &Path, dest: &Path) -> Result<Copied, StoreError> {
    if !db.exists() {
        return Err(err(db, "no database here"));
    }
    let src = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| err(db, e))?;
    src.busy_timeout(Duration::from_secs(30))
        .map_err(|e| err(db, e))?;
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    for f in files::db_files(&tmp) {
        let _ = std::fs::remove_file(f);
    }
    files::make_private(&tmp).map_err(|e| err(&tmp, e))?;
    let result = (|| {
        let mut dst = Connection::open(&tmp).map_err(|e| err(&tmp, e))?;
        copy(&src, &mut dst, &tmp)?;
        // A self-contained file: no -wal next to it.
        dst.pragma_update(None, "journal_mode", "DELETE")
            .map_err(|e| err(&tmp, e))?;
        let copied = check(&dst, &tmp)?;
        drop(dst);
        std::fs::rename(&tmp, dest).map_err(|e| err(dest, e))?;
        Ok(copied)
    })();
    if result.is_err() {
        for f in files::db_files(&tmp) {
            let _ = std::fs::remove_file(f);
        }
    }
    result
}

/// Puts the backup `from` back as the database at `db` (created 0600 if
/// missing). The backup is checked first; nothing changes if it is not a
/// sound kargo database. No server may be running on `db` meanwhile.
pub fn restore(from: &Path, db: &Path) -> Result<Copied, StoreError> {
    if !from.exists() {
        return Err(err(from, "no such backup file"));
    }
    let src = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| err(from, e))?;
    check(&src, from)?;
    files::make_private(db).map_err(|e| err(db, e))?;
    let mut dst = Connection::open(db).map_err(|e| err(db, e))?;
    dst.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| err(db, e))?;
    copy(&src, &mut dst, db)?;
    let copied = check(&dst, db)?;
    dst.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(|e| err(db, e))?;
    Ok(copied)
}
