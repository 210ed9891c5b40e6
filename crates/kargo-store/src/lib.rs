//! The object store: every resource as a JSON row in one SQLite file (WAL
//! mode), with Kubernetes object semantics — uid, creationTimestamp, a
//! global monotonic resourceVersion, generation, optimistic concurrency,
//! generateName, finalizers and deletionTimestamp, owner-reference
//! cascading delete, Project ↔ Namespace — and a watch log that lets
//! watchers resume from a resourceVersion (or answers Gone).
//!
//! Every write is one SQLite transaction; the call returns only after it
//! committed, so an acknowledged write survives SIGKILL (and power loss
//! with [`Durability::Full`]). Watch events are published after commit, in
//! resourceVersion order, under the same lock. The watch log is bounded by
//! count and by bytes; a full disk refuses writes (507) and keeps reads.

pub mod backup;
mod checkpointer;
mod error;
pub mod files;
pub mod meta;
mod mirror;
mod recent;
mod schema;

pub use error::{Result, StoreError};

use kargo_api::{ResourceInfo, resources};
use meta::{finalizers, meta_str, metadata_mut, now, owner_uids, same_spec};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Kind of change a watch event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// The Kubernetes watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as published to watchers.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Resource key (`stages.kargo.akuity.io`, `secrets`).
    pub res: String,
    /// Namespace (empty for cluster-scoped).
    pub ns: String,
    /// Name.
    pub name: String,
    /// What happened.
    pub type_: EventType,
    /// The object after the change (before, for deletes) as JSON text.
    pub body: Arc<str>,
}

/// A stored object as raw JSON text.
#[derive(Clone, Debug)]
pub struct RawObject {
    /// Namespace.
    pub ns: String,
    /// Name.
    pub name: String,
    /// JSON text.
    pub body: String,
}

/// A watch starting point: what happened since, then live events.
pub struct Subscription {
    /// Events after the requested resourceVersion, oldest first.
    pub backlog: Vec<Arc<WatchEvent>>,
    /// Events committed after the backlog was read.
    pub live: broadcast::Receiver<Arc<WatchEvent>>,
}

/// Which part of an object an update replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but `status` (for kinds with a status subresource).
    Main,
    /// Only `status`.
    Status,
}

/// Preconditions for a delete.
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    /// Required uid.
    pub uid: Option<String>,
    /// Required resourceVersion.
    pub resource_version: Option<String>,
}

/// What an acknowledged write survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL`: a killed process loses nothing acknowledged;
    /// a power loss or kernel crash may lose the last commits (never
    /// corrupts). The default.
    #[default]
    Normal,
    /// `synchronous=FULL`: an fsync per commit, so acknowledged writes
    /// survive power loss too; fewer writes per second.
    Full,
}

/// Store tuning.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch events kept for resuming watches.
    pub event_retention: u64,
    /// Bytes of object bodies the watch log keeps at most; the oldest
    /// events go first (the newest one is always kept).
    pub event_retention_bytes: u64,
    /// What an acknowledged write survives.
    pub durability: Durability,
    /// Events held in memory for live watchers. A watcher that falls
    /// further behind replays from the watch log instead (see
    /// [`Store::watch`]), so this bounds memory, not correctness: each
    /// slot keeps its event's body alive until it is overwritten.
    pub live_events: usize,
    /// What a write counts: given the kind, namespace, the stored object
    /// before (None on create) and after, the counters to add one to,
    /// each `(name, labels)`. They are added in the write's own
    /// transaction, so a count is never lost by a crash nor doubled by a
    /// repeated write; [`Store::counters`] reads them.
    pub counter_rule: Option<CounterRule>,
}

/// See [`Options::counter_rule`]: `(kind, namespace, old, new)` → the
/// `(counter name, encoded label set)` pairs to add one to.
pub type CounterRule = fn(&str, &str, Option<&Value>, &Value) -> Vec<(&'static str, String)>;

impl Default for Options {
    fn default() -> Self {
        Options {
            event_retention: 50_000,
            event_retention_bytes: 64 * 1024 * 1024,
            durability: Durability::Normal,
            live_events: 256,
            counter_rule: None,
        }
    }
}

struct Db {
    conn: Connection,
    rv: u64,
    oldest_rv: u64,
    opts: Options,
    since_compact: u64,
    /// Bytes of bodies in the watch log.
    event_bytes: u64,
    /// The last write failed for lack of space.
    full: bool,
    /// Parsed copies of objects written by [`Store::update_from`].
    recent: recent::Recent,
    /// Checkpoints the WAL off the write path.
    checkpointer: checkpointer::Checkpointer,
}

/// The object store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Mutex<Db>>,
    events: broadcast::Sender<Arc<WatchEvent>>,
}

/// The key a resource is stored under: `plural.group`, or `plural` for core.
pub fn res_key(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.to_string()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

fn info_for_key(key: &str) -> Option<&'static ResourceInfo> {
    resources().iter().find(|r| res_key(r) == key)
}

fn namespace_info() -> &'static ResourceInfo {
    kargo_api::lookup_kind("v1", "Namespace").expect("Namespace is registered")
}

fn not_found(info: &ResourceInfo, name: &str) -> StoreError {
    StoreError::NotFound {
        kind: res_key(info),
        name: name.to_string(),
    }
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_with(path, Options::default())
    }

    /// Opens the store with explicit options.
    /// The database file (and its WAL files) are made private (0600).
    pub fn open_with(path: &Path, opts: Options) -> Result<Store> {
        files::make_private(path)
            .map_err(|e| StoreError::Internal(format!("{}: {e}", path.display())))?;
        let conn = Connection::open(path)?;
        schema::init(&conn, opts.durability)?;
        let checkpointer =
            checkpointer::Checkpointer::start(&conn, path, schema::synchronous(opts.durability))?;
        let rv: u64 = conn.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(rv) FROM events),0), COALESCE((SELECT MAX(rv) FROM objects),0), COALESCE((SELECT value FROM meta WHERE key='rv'),0))",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64;
        let oldest: u64 = conn.query_row(
            "SELECT COALESCE(MIN(rv), ?1) FROM events",
            [rv as i64 + 1],
            |r| r.get::<_, i64>(0),
        )? as u64;
        let event_bytes: u64 = conn.query_row(
            "SELECT COALESCE(SUM(LENGTH(CAST(body AS BLOB))), 0) FROM events",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64;
        let (events, _) = broadcast::channel(opts.live_events.max(16));
        Ok(Store {
            db: Arc::new(Mutex::new(Db {
                conn,
                rv,
                oldest_rv: oldest,
                opts,
                since_compact: 0,
                event_bytes,
                full: false,
                recent: recent::Recent::default(),
                checkpointer,
            })),
            events,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock cannot leave a half-written
        // transaction behind (SQLite rolls it back), so poisoning is safe to ignore.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Reads one object.
    pub fn get(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<Value> {
        Ok(Arc::unwrap_or_clone(self.get_shared(info, ns, name)?))
    }

    /// Reads one object to modify and write back with
    /// [`Store::update_from`]: the copy that call kept when it last wrote
    /// the object, while the stored version is still that one, or else
    /// the stored text parsed (after the lock is released).
    pub fn get_shared(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<Arc<Value>> {
        let res = res_key(info);
        let text = {
            let db = self.lock();
            if let Some((rv, obj)) = db.recent.get(&recent::key(&res, ns, name))
                && stored_rv(&db.conn, &res, ns, name)? == Some(rv)
            {
                return Ok(obj);
            }
            get_text_in(&db.conn, &res, ns, name)?.ok_or_else(|| not_found(info, name))?
        };
        Ok(Arc::new(serde_json::from_str(&text)?))
    }

    /// Reads one object as stored (JSON text), to decode straight into a
    /// type. The text is parsed after the store's lock is released, so
    /// reads of large objects do not hold up writes.
    pub fn get_text(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<String> {
        let db = self.lock();
        get_text_in(&db.conn, &res_key(info), ns, name)?.ok_or_else(|| not_found(info, name))
    }

    /// Lists objects of a kind (optionally in one namespace), ordered by
    /// namespace and name, starting after `after` (`(ns, name)`), at most
    /// `limit` rows (0 = all). Returns the rows and the list's resourceVersion.
    pub fn list(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<(Vec<RawObject>, u64)> {
        let db = self.lock();
        let key = res_key(info);
        let (ans, aname) = after.unwrap_or(("", ""));
        let lim = if limit == 0 { -1 } else { limit as i64 };
        let mut out = Vec::new();
        let map = |r: &rusqlite::Row<'_>| {
            Ok(RawObject {
                ns: r.get(0)?,
                name: r.get(1)?,
                body: r.get(2)?,
            })
        };
        if let Some(ns) = ns {
            let mut st = db.conn.prepare_cached(LIST_IN_NAMESPACE)?;
            for r in st.query_map(
                params![key, ns, if after.is_some() { aname } else { "" }, lim],
                map,
            )? {
                out.push(r?);
            }
        } else {
            let mut st = db.conn.prepare_cached(LIST_ALL)?;
            for r in st.query_map(params![key, ans, aname, lim], map)? {
                out.push(r?);
            }
        }
        Ok((out, db.rv))
    }

    /// Names of objects of a kind in `ns` carrying label `key=value`.
    pub fn names_with_label(
        &self,
        info: &ResourceInfo,
        ns: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<String>> {
        let db = self.lock();
        let mut st = db.conn.prepare_cached(
            "SELECT name FROM labels WHERE res=?1 AND ns=?2 AND key=?3 AND value=?4",
        )?;
        let rows = st.query_map(params![res_key(info), ns, key, value], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Starts a watch. `from` = None means "from now" (the caller lists first);
    /// `Some(rv)` replays every event after `rv`, or fails with Gone when
    /// that history was compacted.
    pub fn watch(&self, from: Option<u64>) -> Result<Subscription> {
        self.watch_resource(from, None)
    }

    /// [`Store::watch`] whose replay holds only events of resource `res`
    /// (a key like `stages.kargo.akuity.io`) when one is given; live
    /// events are not filtered. A watcher that lagged behind the live
    /// buffer resumes through this from the last event it saw.
    pub fn watch_resource(&self, from: Option<u64>, res: Option<&str>) -> Result<Subscription> {
        self.watch_resources(from, res.as_slice())
    }

    /// [`Store::watch`] whose replay holds only events of the resources
    /// `res` (keys like `roles.rbac.authorization.k8s.io`; all when
    /// empty). Bodies of other resources' events are not even read.
    pub fn watch_resources(&self, from: Option<u64>, res: &[&str]) -> Result<Subscription> {
        let db = self.lock();
        let mut backlog = Vec::new();
        if let Some(rv) = from {
            if rv + 1 < db.oldest_rv {
                return Err(StoreError::Gone(format!(
                    "too old resource version: {rv} (oldest available is {})",
                    db.oldest_rv.saturating_sub(1)
                )));
            }
            if rv < db.rv {
                let mut st = db.conn.prepare_cached(
                    "SELECT rv, res, ns, name, type, body FROM events WHERE rv > ?1 ORDER BY rv",
                )?;
                let rows = st.query_map(params![rv as i64], |r| {
                    let key: String = r.get(1)?;
                    if !res.is_empty() && !res.contains(&key.as_str()) {
                        return Ok(None);
                    }
                    let t: String = r.get(4)?;
                    let body: String = r.get(5)?;
                    Ok(Some(Arc::new(WatchEvent {
                        rv: r.get::<_, i64>(0)? as u64,
                        res: key,
                        ns: r.get(2)?,
                        name: r.get(3)?,
                        type_: match t.as_str() {
                            "ADDED" => EventType::Added,
                            "DELETED" => EventType::Deleted,
                            _ => EventType::Modified,
                        },
                        body: body.into(),
                    })))
                })?;
                for r in rows {
                    if let Some(e) = r? {
                        backlog.push(e);
                    }
                }
            }
        }
        Ok(Subscription {
            backlog,
            live: self.events.subscribe(),
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        let mut guard = self.lock();
        let db = &mut *guard;
        let r = Self::write_in(db, &self.events, f);
        match &r {
            Err(StoreError::InsufficientStorage(m)) if !db.full => {
                db.full = true;
                tracing::error!("storage full: the server is read-only until space is freed: {m}");
            }
            Ok(_) if db.full => {
                db.full = false;
                tracing::warn!("storage available again: writes resumed");
            }
            _ => {}
        }
        r
    }

    /// True while writes fail for lack of space (the last write hit a full
    /// disk or database, and none has succeeded since).
    pub fn storage_full(&self) -> bool {
        self.lock().full
    }

    /// Caps the database at `pages` pages (SQLite's `max_page_count`) on
    /// this connection: a full database on demand, for tests and drills.
    /// Returns the cap in force (SQLite never sets it below the current size).
    pub fn set_max_page_count(&self, pages: u64) -> Result<u64> {
        let db = self.lock();
        let n: i64 = db
            .conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get(0)
            })?;
        Ok(n as u64)
    }

    /// Pages the database file has now.
    pub fn page_count(&self) -> Result<u64> {
        let db = self.lock();
        Ok(db
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Size of the database file in bytes (pages × page size).
    pub fn size_bytes(&self) -> Result<u64> {
        let db = self.lock();
        let q = |sql: &str| db.conn.query_row(sql, [], |r| r.get::<_, i64>(0));
        Ok((q("PRAGMA page_count")? * q("PRAGMA page_size")?) as u64)
    }

    fn write_in<T>(
        db: &mut Db,
        events: &broadcast::Sender<Arc<WatchEvent>>,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<T> {
        let start_rv = db.rv;
        let (out, rv, pending) = {
            let tx = db.conn.transaction()?;
            let mut w = Writer {
                tx,
                rv: start_rv,
                pending: Vec::new(),
                counter_rule: db.opts.counter_rule,
                keep_written: false,
                written: Vec::new(),
            };
            let out = f(&mut w)?;
            let Writer {
                tx,
                rv,
                pending,
                written,
                ..
            } = w;
            if rv != start_rv {
                tx.prepare_cached("INSERT INTO meta(key, value) VALUES('rv', ?1) ON CONFLICT(key) DO UPDATE SET value=excluded.value")?
                    .execute([rv as i64])?;
            }
            tx.commit()?;
            for (key, rv, obj, bytes) in written {
                db.recent.keep(key, rv, obj, bytes);
            }
            (out, rv, pending)
        };
        db.since_compact += rv - start_rv;
        db.rv = rv;
        db.event_bytes += pending.iter().map(|e| e.body.len() as u64).sum::<u64>();
        db.checkpointer.committed(&db.conn);
        for e in pending {
            // No receivers is fine: nobody is watching.
            let _ = events.send(Arc::new(e));
        }
        // Compaction failing (say, on a full disk) must not fail the write
        // that already committed; the next write tries again.
        if db.since_compact >= 1_000 {
            db.since_compact = 0;
            let keep_from = db.rv.saturating_sub(db.opts.event_retention) + 1;
            if keep_from > db.oldest_rv
                && let Err(e) = Self::drop_events_before(db, keep_from)
            {
                tracing::warn!(error = %e, "compacting the watch log");
            }
        }
        if db.event_bytes > db.opts.event_retention_bytes
            && let Err(e) = Self::compact_bytes(db)
        {
            tracing::warn!(error = %e, "compacting the watch log by size");
        }
        Ok(out)
    }

    /// Drops the watch log's events older than `keep_from`.
    fn drop_events_before(db: &mut Db, keep_from: u64) -> Result<()> {
        let freed: i64 = db.conn.query_row(
            "SELECT COALESCE(SUM(LENGTH(CAST(body AS BLOB))), 0) FROM events WHERE rv < ?1",
            [keep_from as i64],
            |r| r.get(0),
        )?;
        db.conn
            .execute("DELETE FROM events WHERE rv < ?1", [keep_from as i64])?;
        db.event_bytes = db.event_bytes.saturating_sub(freed as u64);
        db.oldest_rv = db.oldest_rv.max(keep_from);
        Ok(())
    }

    /// Drops the oldest events until the log holds at most three quarters
    /// of its byte bound (so compaction runs once per quarter, not per
    /// write), always keeping the newest event.
    fn compact_bytes(db: &mut Db) -> Result<()> {
        let target = db.opts.event_retention_bytes / 4 * 3;
        let mut excess = db.event_bytes.saturating_sub(target);
        let mut keep_from = db.oldest_rv;
        {
            let mut st = db
                .conn
                .prepare_cached("SELECT rv, LENGTH(CAST(body AS BLOB)) FROM events ORDER BY rv")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let rv = r.get::<_, i64>(0)? as u64;
                if excess == 0 || rv >= db.rv {
                    keep_from = rv;
                    break;
                }
                excess = excess.saturating_sub(r.get::<_, i64>(1)? as u64);
                keep_from = rv + 1;
            }
        }
        Self::drop_events_before(db, keep_from)
    }

    /// Every counter [`Options::counter_rule`] has counted: name, encoded
    /// label set, value.
    pub fn counters(&self) -> Result<Vec<(String, String, u64)>> {
        let db = self.lock();
        let mut st = db
            .conn
            .prepare_cached("SELECT name, labels, value FROM counters ORDER BY name, labels")?;
        let rows = st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Live watch subscriptions now.
    pub fn watchers(&self) -> usize {
        self.events.receiver_count()
    }

    /// Bytes of object bodies the watch log holds now.
    pub fn event_log_bytes(&self) -> u64 {
        self.lock().event_bytes
    }

    /// Housekeeping on a schedule: rebuilds the file (`VACUUM`) when at
    /// least a quarter of it (and `min_free` bytes) is free pages, so space
    /// freed by compaction goes back to the filesystem, then truncates the
    /// WAL. Returns whether it vacuumed. Holds the store lock meanwhile.
    pub fn maintain(&self, min_free: u64) -> Result<bool> {
        let db = self.lock();
        let q = |sql: &str| db.conn.query_row(sql, [], |r| r.get::<_, i64>(0));
        let (pages, free, size) = (
            q("PRAGMA page_count")? as u64,
            q("PRAGMA freelist_count")? as u64,
            q("PRAGMA page_size")? as u64,
        );
        let vacuum = free * size >= min_free && free * 4 >= pages;
        if vacuum {
            db.conn.execute_batch("VACUUM")?;
            tracing::info!(freed_bytes = free * size, "vacuumed the database");
        }
        let _checkpoints = db.checkpointer.exclusive();
        db.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(vacuum)
    }

    /// Compacts the watch log now, keeping the last `keep` events (for tests and admin).
    pub fn compact(&self, keep: u64) -> Result<()> {
        let mut db = self.lock();
        let keep_from = db.rv.saturating_sub(keep) + 1;
        Self::drop_events_before(&mut db, keep_from)
    }

    /// Creates an object. Fills uid, creationTimestamp, generation,
    /// resourceVersion and (from `generateName`) the name.
    pub fn create(&self, info: &'static ResourceInfo, ns: &str, mut obj: Value) -> Result<Value> {
        self.write(|w| {
            if info.namespaced() {
                match get_in(&w.tx, &res_key(namespace_info()), "", ns)? {
                    None => {
                        return Err(StoreError::NotFound {
                            kind: "namespaces".into(),
                            name: ns.into(),
                        });
                    }
                    Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                        return Err(StoreError::Invalid(format!(
                            "namespace {ns:?} is being deleted; nothing new can be created in it"
                        )));
                    }
                    Some(_) => {}
                }
            }
            let key = res_key(info);
            let name = match meta_str(&obj, "name").filter(|n| !n.is_empty()) {
                Some(n) => n.to_string(),
                None => {
                    let prefix = meta_str(&obj, "generateName")
                        .filter(|n| !n.is_empty())
                        .ok_or_else(|| {
                            StoreError::Invalid(
                                "metadata.name: required (or metadata.generateName)".into(),
                            )
                        })?;
                    let mut candidate = String::new();
                    for _ in 0..8 {
                        candidate = format!("{prefix}{}", meta::name_suffix());
                        if stored_rv(&w.tx, &key, ns, &candidate)?.is_none() {
                            break;
                        }
                    }
                    candidate
                }
            };
            if stored_rv(&w.tx, &key, ns, &name)?.is_some() {
                return Err(StoreError::AlreadyExists { kind: key, name });
            }
            let md = metadata_mut(&mut obj);
            md.insert("name".into(), json!(name));
            if info.namespaced() {
                md.insert("namespace".into(), json!(ns));
            } else {
                md.remove("namespace");
            }
            md.insert("uid".into(), json!(meta::new_uid()));
            md.insert("creationTimestamp".into(), json!(meta::now_micro()));
            md.remove("deletionTimestamp");
            md.remove("deletionGracePeriodSeconds");
            md.remove("resourceVersion");
            if info.has_generation() {
                md.insert("generation".into(), json!(1));
            } else {
                md.remove("generation");
            }
            if info.kind == "Namespace" {
                obj["status"] = json!({"phase": "Active"});
            }
            w.count(info.kind, ns, None, &obj)?;
            let created = Arc::unwrap_or_clone(w.put(info, ns, &name, obj, EventType::Added)?);
            if info.kind == "Project" {
                w.ensure_project_namespace(&name)?;
            }
            Ok(created)
        })
    }

    /// Replaces an object (or only its status). A stale
    /// `metadata.resourceVersion` is a Conflict; an unchanged object is
    /// not rewritten.
    pub fn update(
        &self,
        info: &'static ResourceInfo,
        ns: &str,
        name: &str,
        obj: Value,
        part: Part,
    ) -> Result<Value> {
        self.write(|w| w.update(info, ns, name, obj, part, None))
            .map(Arc::unwrap_or_clone)
    }

    /// [`Store::update`] by a caller that has just read the object
    /// (`old`, as [`Store::get_shared`] returned it), e.g. to patch it:
    /// when the stored version is still `old`'s, the write uses it instead
    /// of reading and decoding the object again; otherwise it reads it as
    /// `update` does. The object written is kept for the next
    /// `get_shared`. Also returns the object's JSON text as stored when
    /// the write stored it (not for an unchanged object), so a response
    /// can send that text instead of encoding the object again.
    pub fn update_from(
        &self,
        info: &'static ResourceInfo,
        ns: &str,
        name: &str,
        obj: Value,
        part: Part,
        old: Arc<Value>,
    ) -> Result<(Arc<Value>, Option<Arc<str>>)> {
        self.write(|w| {
            w.keep_written = true;
            let out = w.update(info, ns, name, obj, part, Some(old))?;
            let text = w
                .pending
                .iter()
                .rev()
                .find(|e| {
                    e.type_ == EventType::Modified
                        && meta_str(&out, "resourceVersion") == Some(e.rv.to_string().as_str())
                })
                .map(|e| e.body.clone());
            Ok((out, text))
        })
    }

    /// Deletes an object. With finalizers it only gets a deletionTimestamp;
    /// otherwise it is removed along with its dependents. Returns the
    /// object and whether it is gone.
    pub fn delete(
        &self,
        info: &'static ResourceInfo,
        ns: &str,
        name: &str,
        pre: &Preconditions,
    ) -> Result<(Value, bool)> {
        self.write(|w| {
            let old = get_in(&w.tx, &res_key(info), ns, name)?.ok_or_else(|| not_found(info, name))?;
            if let Some(uid) = &pre.uid
                && meta_str(&old, "uid") != Some(uid.as_str())
            {
                return Err(StoreError::Conflict(format!("precondition failed: uid in precondition: {uid}, uid in object meta: {}", meta_str(&old, "uid").unwrap_or(""))));
            }
            if let Some(rv) = &pre.resource_version
                && meta_str(&old, "resourceVersion") != Some(rv.as_str())
            {
                return Err(StoreError::Conflict(format!(
                    "precondition failed: resourceVersion in precondition: {rv}, resourceVersion in object meta: {}",
                    meta_str(&old, "resourceVersion").unwrap_or("")
                )));
            }
            w.delete(info, ns, name, old)
        })
    }
}

// The lists' queries. Their limit is `?4+0`, not `?4`: SQLite plans with
// a bare bound LIMIT's value, so every run with a new value re-prepared
// the statement (most of a small list's cost).
const LIST_IN_NAMESPACE: &str = "SELECT ns, name, body FROM objects WHERE res=?1 AND ns=?2 AND name>?3 ORDER BY name LIMIT ?4+0";
const LIST_ALL: &str = "SELECT ns, name, body FROM objects WHERE res=?1 AND (ns, name) > (?2, ?3) ORDER BY ns, name LIMIT ?4+0";

/// The resourceVersion an object is stored at, without reading its body.
fn stored_rv(conn: &Connection, key: &str, ns: &str, name: &str) -> Result<Option<u64>> {
    Ok(conn
        .prepare_cached("SELECT rv FROM objects WHERE res=?1 AND ns=?2 AND name=?3")?
        .query_row(params![key, ns, name], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|rv| rv as u64))
}

fn get_in(conn: &Connection, key: &str, ns: &str, name: &str) -> Result<Option<Value>> {
    Ok(match get_text_in(conn, key, ns, name)? {
        Some(b) => Some(serde_json::from_str(&b)?),
        None => None,
    })
}

fn get_text_in(conn: &Connection, key: &str, ns: &str, name: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT body FROM objects WHERE res=?1 AND ns=?2 AND name=?3")?
        .query_row(params![key, ns, name], |r| r.get(0))
        .optional()?)
}

/// One write transaction: assigns resourceVersions and queues events.
struct Writer<'c> {
    tx: Transaction<'c>,
    rv: u64,
    pending: Vec<WatchEvent>,
    counter_rule: Option<CounterRule>,
    /// Keep what [`Writer::put`] writes in [`Db::recent`] once committed.
    keep_written: bool,
    /// What it wrote: key, resourceVersion, object, bytes of text.
    written: Vec<(String, u64, Arc<Value>, usize)>,
}

impl Writer<'_> {
    /// Adds what [`Options::counter_rule`] counts for this write.
    fn count(&self, kind: &str, ns: &str, old: Option<&Value>, new: &Value) -> Result<()> {
        let Some(rule) = self.counter_rule else {
            return Ok(());
        };
        for (name, labels) in rule(kind, ns, old, new) {
            self.tx
                .prepare_cached(
                    "INSERT INTO counters(name, labels, value) VALUES(?1, ?2, 1)
                     ON CONFLICT(name, labels) DO UPDATE SET value = value + 1",
                )?
                .execute(params![name, labels])?;
        }
        Ok(())
    }

    fn put(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        mut obj: Value,
        type_: EventType,
    ) -> Result<Arc<Value>> {
        self.rv += 1;
        let key = res_key(info);
        let md = metadata_mut(&mut obj);
        md.insert("resourceVersion".into(), json!(self.rv.to_string()));
        let uid = md
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let body: Arc<str> = serde_json::to_string(&obj)?.into();
        // Statements are prepared once per connection (parsing SQL costs
        // as much as running these).
        self.tx
            .prepare_cached(
                "INSERT INTO objects(res, ns, name, rv, uid, body) VALUES(?1,?2,?3,?4,?5,?6)
                 ON CONFLICT(res, ns, name) DO UPDATE SET rv=excluded.rv, uid=excluded.uid, body=excluded.body",
            )?
            .execute(params![key, ns, name, self.rv as i64, uid, &*body])?;
        self.tx
            .prepare_cached("DELETE FROM labels WHERE res=?1 AND ns=?2 AND name=?3")?
            .execute(params![key, ns, name])?;
        for (k, v) in meta::labels(&obj) {
            self.tx
                .prepare_cached(
                    "INSERT INTO labels(res, ns, name, key, value) VALUES(?1,?2,?3,?4,?5)",
                )?
                .execute(params![key, ns, name, k, v])?;
        }
        self.tx
            .prepare_cached("DELETE FROM owners WHERE res=?1 AND ns=?2 AND name=?3")?
            .execute(params![key, ns, name])?;
        for owner in owner_uids(&obj) {
            self.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO owners(owner_uid, res, ns, name) VALUES(?1,?2,?3,?4)",
                )?
                .execute(params![owner, key, ns, name])?;
        }
        let obj = Arc::new(obj);
        if self.keep_written {
            self.written.push((
                recent::key(&key, ns, name),
                self.rv,
                obj.clone(),
                body.len(),
            ));
        }
        self.event(key, ns, name, type_, body)?;
        Ok(obj)
    }

    fn event(
        &mut self,
        res: String,
        ns: &str,
        name: &str,
        type_: EventType,
        body: Arc<str>,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO events(rv, res, ns, name, type, body) VALUES(?1,?2,?3,?4,?5,?6)",
            )?
            .execute(params![
                self.rv as i64,
                res,
                ns,
                name,
                type_.as_str(),
                &*body
            ])?;
        self.pending.push(WatchEvent {
            rv: self.rv,
            res,
            ns: ns.into(),
            name: name.into(),
            type_,
            body,
        });
        Ok(())
    }

    fn update(
        &mut self,
        info: &'static ResourceInfo,
        ns: &str,
        name: &str,
        mut obj: Value,
        part: Part,
        read: Option<Arc<Value>>,
    ) -> Result<Arc<Value>> {
        let key = res_key(info);
        let old = match read.filter(|r| {
            stored_rv(&self.tx, &key, ns, name).is_ok_and(|rv| {
                rv.is_some_and(|rv| Some(rv.to_string().as_str()) == meta_str(r, "resourceVersion"))
            })
        }) {
            Some(r) => r,
            None => {
                Arc::new(get_in(&self.tx, &key, ns, name)?.ok_or_else(|| not_found(info, name))?)
            }
        };
        if let Some(rv) = meta_str(&obj, "resourceVersion").filter(|r| !r.is_empty())
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(StoreError::Conflict(format!(
                "Operation cannot be fulfilled on {key} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
            )));
        }
        if let Some(n) = meta_str(&obj, "name")
            && n != name
        {
            return Err(StoreError::Invalid(format!(
                "metadata.name: the name in the body ({n:?}) does not match the URL ({name:?})"
            )));
        }
        let mut new = match part {
            Part::Status => {
                // Everything but the status from the stored object, the
                // status from the request (moved, not copied: it can be
                // most of the object).
                let mut n: serde_json::Map<String, Value> = old
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.as_str() != "status")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if let Some(s) = obj.as_object_mut().and_then(|m| m.remove("status")) {
                    n.insert("status".into(), s);
                }
                Value::Object(n)
            }
            Part::Main => {
                if info.has_status {
                    match old.get("status") {
                        Some(s) => obj["status"] = s.clone(),
                        None => {
                            if let Some(m) = obj.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
                obj
            }
        };
        // Fields the system owns.
        let old_md = old.get("metadata").cloned().unwrap_or(json!({}));
        let md = metadata_mut(&mut new);
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "name",
        ] {
            match old_md.get(k) {
                Some(v) => md.insert(k.into(), v.clone()),
                None => md.remove(k),
            };
        }
        if info.namespaced() {
            md.insert("namespace".into(), json!(ns));
        } else {
            md.remove("namespace");
        }
        md.insert(
            "resourceVersion".into(),
            old_md.get("resourceVersion").cloned().unwrap_or(json!("")),
        );
        if info.has_generation() && part == Part::Main && !same_spec(&new, &old) {
            let g = old_md
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            metadata_mut(&mut new).insert("generation".into(), json!(g));
        }
        if info.kind == "Namespace" && new.get("status").is_none() {
            new["status"] = old
                .get("status")
                .cloned()
                .unwrap_or(json!({"phase": "Active"}));
        }
        if new == *old {
            return Ok(old);
        }
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        if deleting && finalizers(&new).is_empty() {
            self.remove(info, ns, name, new)?;
            return Ok(old);
        }
        self.count(info.kind, ns, Some(&old), &new)?;
        self.put(info, ns, name, new, EventType::Modified)
    }

    fn delete(
        &mut self,
        info: &'static ResourceInfo,
        ns: &str,
        name: &str,
        old: Value,
    ) -> Result<(Value, bool)> {
        if info.kind == "Namespace" {
            return self.delete_namespace(name, old);
        }
        if !finalizers(&old).is_empty() {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok((old, false));
            }
            let mut obj = old;
            let md = metadata_mut(&mut obj);
            md.insert("deletionTimestamp".into(), json!(now()));
            md.insert("deletionGracePeriodSeconds".into(), json!(0));
            let obj = Arc::unwrap_or_clone(self.put(info, ns, name, obj, EventType::Modified)?);
            return Ok((obj, false));
        }
        let gone = self.remove(info, ns, name, old)?;
        if info.kind == "Project"
            && let Some(nsobj) = get_in(&self.tx, &res_key(namespace_info()), "", name)?
        {
            self.delete_namespace(name, nsobj)?;
        }
        Ok((gone, true))
    }

    fn delete_namespace(&mut self, name: &str, nsobj: Value) -> Result<(Value, bool)> {
        let children: Vec<(String, String)> = {
            let mut st = self
                .tx
                .prepare_cached("SELECT res, name FROM objects WHERE ns=?1")?;
            st.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (res, child) in children {
            let Some(cinfo) = info_for_key(&res) else {
                continue;
            };
            if let Some(obj) = get_in(&self.tx, &res, name, &child)? {
                self.delete(cinfo, name, &child, obj)?;
            }
        }
        let remaining: i64 =
            self.tx
                .query_row("SELECT COUNT(*) FROM objects WHERE ns=?1", [name], |r| {
                    r.get(0)
                })?;
        if remaining == 0 {
            let gone = self.remove(namespace_info(), "", name, nsobj)?;
            return Ok((gone, true));
        }
        if nsobj.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok((nsobj, false));
        }
        let mut obj = nsobj;
        metadata_mut(&mut obj).insert("deletionTimestamp".into(), json!(now()));
        obj["status"] = json!({"phase": "Terminating"});
        let obj =
            Arc::unwrap_or_clone(self.put(namespace_info(), "", name, obj, EventType::Modified)?);
        Ok((obj, false))
    }

    /// Removes the row, publishes DELETED, then deletes dependents and
    /// finishes a terminating namespace that became empty.
    fn remove(&mut self, info: &ResourceInfo, ns: &str, name: &str, obj: Value) -> Result<Value> {
        let key = res_key(info);
        self.rv += 1;
        let mut obj = obj;
        metadata_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let body: Arc<str> = serde_json::to_string(&obj)?.into();
        self.tx
            .prepare_cached("DELETE FROM objects WHERE res=?1 AND ns=?2 AND name=?3")?
            .execute(params![key, ns, name])?;
        self.tx
            .prepare_cached("DELETE FROM labels WHERE res=?1 AND ns=?2 AND name=?3")?
            .execute(params![key, ns, name])?;
        self.tx
            .prepare_cached("DELETE FROM owners WHERE res=?1 AND ns=?2 AND name=?3")?
            .execute(params![key, ns, name])?;
        self.event(key, ns, name, EventType::Deleted, body)?;
        if let Some(uid) = meta_str(&obj, "uid") {
            let dependents: Vec<(String, String, String)> = {
                let mut st = self
                    .tx
                    .prepare_cached("SELECT res, ns, name FROM owners WHERE owner_uid=?1")?;
                st.query_map([uid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?
            };
            for (res, dns, dname) in dependents {
                let Some(dinfo) = info_for_key(&res) else {
                    continue;
                };
                if let Some(d) = get_in(&self.tx, &res, &dns, &dname)? {
                    self.delete(dinfo, &dns, &dname, d)?;
                }
            }
        }
        if !ns.is_empty()
            && let Some(nsobj) = get_in(&self.tx, &res_key(namespace_info()), "", ns)?
            && nsobj.pointer("/metadata/deletionTimestamp").is_some()
        {
            let remaining: i64 =
                self.tx
                    .query_row("SELECT COUNT(*) FROM objects WHERE ns=?1", [ns], |r| {
                        r.get(0)
                    })?;
            if remaining == 0 {
                self.remove(namespace_info(), "", ns, nsobj)?;
            }
        }
        Ok(obj)
    }

    /// Creating a Project creates (or adopts) its namespace.
    fn ensure_project_namespace(&mut self, name: &str) -> Result<()> {
        let info = namespace_info();
        let label = kargo_api::labels::PROJECT;
        match get_in(&self.tx, &res_key(info), "", name)? {
            Some(mut ns) => {
                if ns.pointer("/metadata/deletionTimestamp").is_some() {
                    return Err(StoreError::Invalid(format!(
                        "namespace {name:?} is being deleted; wait for it to go before creating the project"
                    )));
                }
                let md = metadata_mut(&mut ns);
                let labels = md.entry("labels").or_insert_with(|| json!({}));
                if labels.get(label).and_then(Value::as_str) != Some("true") {
                    labels[label] = json!("true");
                    self.put(info, "", name, ns, EventType::Modified)?;
                }
            }
            None => {
                let ns = json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "uid": meta::new_uid(), "creationTimestamp": now(), "labels": {label: "true"}},
                    "status": {"phase": "Active"}
                });
                self.put(info, "", name, ns, EventType::Added)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
