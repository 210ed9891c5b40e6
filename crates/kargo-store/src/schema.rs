//! The SQLite schema and connection settings: WAL, and `synchronous`
//! NORMAL (a committed transaction survives a killed process, the last
//! ones may be lost on power loss) or FULL (they survive power loss too,
//! at the cost of an fsync per commit).
//!
//! Objects live in an ordinary rowid table with a unique index on
//! (resource, namespace, name). Stores made before kept them in a
//! `WITHOUT ROWID` table keyed by those columns: there every interior
//! page of the B-tree holds whole rows (up to about 1 KB of each, the rest
//! in overflow pages), so a table of kilobyte-sized objects had four or
//! so keys per interior page, a deep tree, a file twice the size, and a
//! point read or write several page reads and record copies deep.
//! [`init`] moves such a table over once, in one transaction.

use rusqlite::{Connection, OptionalExtension};

/// The `synchronous` setting for a durability.
pub fn synchronous(durability: crate::Durability) -> &'static str {
    match durability {
        crate::Durability::Normal => "NORMAL",
        crate::Durability::Full => "FULL",
    }
}

/// Applies pragmas and creates tables if missing.
pub fn init(conn: &Connection, durability: crate::Durability) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous(durability))?;
    // After a checkpoint the WAL file shrinks back to this (bytes), so one
    // burst of large writes does not keep the disk space forever.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate_objects_to_rowid(conn)?;
    conn.execute_batch(&format!(
        "{OBJECTS}
         CREATE TABLE IF NOT EXISTS labels (
            res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (res, ns, name, key)) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS labels_by_value ON labels(res, ns, key, value);
         CREATE TABLE IF NOT EXISTS owners (
            owner_uid TEXT NOT NULL, res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
            PRIMARY KEY (owner_uid, res, ns, name)) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS owners_by_object ON owners(res, ns, name);
         CREATE TABLE IF NOT EXISTS events (
            rv INTEGER PRIMARY KEY, res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
            type TEXT NOT NULL, body TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS counters (
            name TEXT NOT NULL, labels TEXT NOT NULL, value INTEGER NOT NULL,
            PRIMARY KEY (name, labels)) WITHOUT ROWID;"
    ))
}

/// The objects table and its indexes. (`rv` comes before `body`, so
/// reading it never reads the body's overflow pages.)
const OBJECTS: &str = "CREATE TABLE IF NOT EXISTS objects (
            res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
            rv INTEGER NOT NULL, uid TEXT NOT NULL, body TEXT NOT NULL);
         CREATE UNIQUE INDEX IF NOT EXISTS objects_by_key ON objects(res, ns, name);
         CREATE INDEX IF NOT EXISTS objects_by_ns ON objects(ns);";

/// Whether the objects table is the earlier `WITHOUT ROWID` one.
pub(crate) fn objects_without_rowid(conn: &Connection) -> rusqlite::Result<bool> {
    let sql: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type='table' AND name='objects'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(sql.is_some_and(|s| s.to_ascii_uppercase().contains("WITHOUT ROWID")))
}

/// Moves the rows of an earlier store's `WITHOUT ROWID` objects table into
/// the rowid table, in one transaction (a stop midway leaves the old
/// table as it was). Does nothing on a new or already moved store.
fn migrate_objects_to_rowid(conn: &Connection) -> rusqlite::Result<()> {
    if !objects_without_rowid(conn)? {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(&format!(
        "ALTER TABLE objects RENAME TO objects_without_rowid;
         DROP INDEX IF EXISTS objects_by_ns;
         {OBJECTS}
         INSERT INTO objects(res, ns, name, rv, uid, body)
            SELECT res, ns, name, rv, uid, body FROM objects_without_rowid ORDER BY res, ns, name;
         DROP TABLE objects_without_rowid;"
    ))?;
    tx.commit()
}
