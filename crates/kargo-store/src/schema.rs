//! The SQLite schema and connection settings: WAL, and `synchronous`
//! NORMAL (a committed transaction survives a killed process, the last
//! ones may be lost on power loss) or FULL (they survive power loss too,
//! at the cost of an fsync per commit).

use rusqlite::Connection;

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
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS objects (
            res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
            rv INTEGER NOT NULL, uid TEXT NOT NULL, body TEXT NOT NULL,
            PRIMARY KEY (res, ns, name)) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS objects_by_ns ON objects(ns);
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
            PRIMARY KEY (name, labels)) WITHOUT ROWID;",
    )
}
