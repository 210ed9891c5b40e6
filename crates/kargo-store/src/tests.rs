//! Store semantics, tested on a real SQLite file.

use super::*;
use kargo_api::lookup_kind;

fn info(kind: &str) -> &'static ResourceInfo {
    lookup_kind("", kind).unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("kargo.db")).unwrap();
    (dir, store)
}

fn project(store: &Store, name: &str) {
    store
        .create(info("Project"), "", json!({"metadata": {"name": name}}))
        .unwrap();
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
}

#[test]
fn project_creates_its_namespace_and_deleting_it_removes_contents() {
    let (_d, s) = open();
    project(&s, "p");
    let ns = s.get(info("Namespace"), "", "p").unwrap();
    assert_eq!(ns["metadata"]["labels"]["kargo.akuity.io/project"], "true");
    s.create(info("ConfigMap"), "p", cm("c")).unwrap();
    s.delete(info("Project"), "", "p", &Preconditions::default())
        .unwrap();
    assert!(matches!(
        s.get(info("ConfigMap"), "p", "c"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.get(info("Namespace"), "", "p"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn create_requires_namespace_and_unique_name() {
    let (_d, s) = open();
    assert!(matches!(
        s.create(info("ConfigMap"), "nope", cm("c")),
        Err(StoreError::NotFound { .. })
    ));
    project(&s, "p");
    let c = s.create(info("ConfigMap"), "p", cm("c")).unwrap();
    assert_eq!(c["metadata"]["namespace"], "p");
    assert!(c["metadata"]["uid"].as_str().unwrap().len() == 36);
    assert!(matches!(
        s.create(info("ConfigMap"), "p", cm("c")),
        Err(StoreError::AlreadyExists { .. })
    ));
    let g = s
        .create(
            info("ConfigMap"),
            "p",
            json!({"metadata": {"generateName": "x-"}}),
        )
        .unwrap();
    assert!(g["metadata"]["name"].as_str().unwrap().starts_with("x-"));
}

#[test]
fn resource_versions_are_monotonic_and_stale_updates_conflict() {
    let (_d, s) = open();
    project(&s, "p");
    let w = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse", "metadata": {"name": "w"}, "spec": {"interval": "5m0s"}});
    let a = s.create(info("Warehouse"), "p", w).unwrap();
    let rv1: u64 = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(a["metadata"]["generation"], 1);
    let mut b = a.clone();
    b["spec"]["interval"] = json!("1m");
    let b = s
        .update(info("Warehouse"), "p", "w", b, Part::Main)
        .unwrap();
    let rv2: u64 = b["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    assert_eq!(b["metadata"]["generation"], 2);
    // stale
    let mut stale = a.clone();
    stale["spec"]["interval"] = json!("2m");
    assert!(matches!(
        s.update(info("Warehouse"), "p", "w", stale, Part::Main),
        Err(StoreError::Conflict(_))
    ));
    // status does not bump generation, and main updates keep status
    let mut st = b.clone();
    st["status"] = json!({"lastFreightID": "x"});
    let c = s
        .update(info("Warehouse"), "p", "w", st, Part::Status)
        .unwrap();
    assert_eq!(c["metadata"]["generation"], 2);
    let mut d = c.clone();
    d["status"] = json!({});
    d["metadata"]["labels"] = json!({"a": "b"});
    let d = s
        .update(info("Warehouse"), "p", "w", d, Part::Main)
        .unwrap();
    assert_eq!(d["status"]["lastFreightID"], "x");
    assert_eq!(d["metadata"]["generation"], 2);
    // no-op update keeps the version
    let e = s
        .update(info("Warehouse"), "p", "w", d.clone(), Part::Main)
        .unwrap();
    assert_eq!(
        e["metadata"]["resourceVersion"],
        d["metadata"]["resourceVersion"]
    );
}

#[test]
fn finalizers_hold_deletion_and_owners_cascade() {
    let (_d, s) = open();
    project(&s, "p");
    let mut owner = cm("owner");
    owner["metadata"]["finalizers"] = json!(["kargo.akuity.io/test"]);
    let owner = s.create(info("ConfigMap"), "p", owner).unwrap();
    let uid = owner["metadata"]["uid"].as_str().unwrap();
    let mut child = cm("child");
    child["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]);
    s.create(info("ConfigMap"), "p", child).unwrap();
    let (o, gone) = s
        .delete(info("ConfigMap"), "p", "owner", &Preconditions::default())
        .unwrap();
    assert!(!gone);
    assert!(o["metadata"]["deletionTimestamp"].is_string());
    assert!(s.get(info("ConfigMap"), "p", "child").is_ok());
    let mut o = s.get(info("ConfigMap"), "p", "owner").unwrap();
    o["metadata"]["finalizers"] = json!([]);
    s.update(info("ConfigMap"), "p", "owner", o, Part::Main)
        .unwrap();
    assert!(s.get(info("ConfigMap"), "p", "owner").is_err());
    assert!(
        s.get(info("ConfigMap"), "p", "child").is_err(),
        "dependent is collected"
    );
}

#[test]
fn watch_resumes_and_reports_gone() {
    let (_d, s) = open();
    project(&s, "p");
    let start = s.current_rv();
    s.create(info("ConfigMap"), "p", cm("a")).unwrap();
    s.create(info("ConfigMap"), "p", cm("b")).unwrap();
    let sub = s.watch(Some(start)).unwrap();
    let names: Vec<_> = sub.backlog.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let mut live = sub.live;
    s.delete(info("ConfigMap"), "p", "a", &Preconditions::default())
        .unwrap();
    let e = live.try_recv().unwrap();
    assert_eq!((e.name.as_str(), e.type_), ("a", EventType::Deleted));
    s.compact(1).unwrap();
    assert!(matches!(s.watch(Some(start)), Err(StoreError::Gone(_))));
    assert!(s.watch(Some(s.current_rv())).is_ok());
}

/// A watcher that falls behind the live buffer loses events there, and
/// replays exactly its resource's events from the watch log.
#[test]
fn lagging_watcher_replays_its_resource_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_with(
        &dir.path().join("kargo.db"),
        Options {
            live_events: 16,
            ..Options::default()
        },
    )
    .unwrap();
    project(&s, "p");
    let start = s.current_rv();
    let mut live = s.watch(Some(start)).unwrap().live;
    for i in 0..40 {
        s.create(info("ConfigMap"), "p", cm(&format!("c{i}")))
            .unwrap();
    }
    s.create(info("Secret"), "p", json!({"metadata": {"name": "s"}}))
        .unwrap();
    assert!(matches!(
        live.try_recv(),
        Err(broadcast::error::TryRecvError::Lagged(_))
    ));
    let sub = s.watch_resource(Some(start), Some("configmaps")).unwrap();
    let names: Vec<_> = sub.backlog.iter().map(|e| e.name.clone()).collect();
    let expected: Vec<_> = (0..40).map(|i| format!("c{i}")).collect();
    assert_eq!(names, expected, "only ConfigMaps, in order, none missing");
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kargo.db");
    let rv = {
        let s = Store::open(&path).unwrap();
        project(&s, "p");
        s.create(info("ConfigMap"), "p", cm("c")).unwrap();
        s.current_rv()
    };
    let s = Store::open(&path).unwrap();
    assert_eq!(s.current_rv(), rv);
    assert_eq!(
        s.get(info("ConfigMap"), "p", "c").unwrap()["data"]["a"],
        "1"
    );
    let (items, _) = s.list(info("ConfigMap"), Some("p"), None, 0).unwrap();
    assert_eq!(items.len(), 1);
}

/// A store written before objects moved to a rowid table (its objects in
/// a `WITHOUT ROWID` table) opens with every object, resourceVersion,
/// label and list order kept, and keeps working.
#[test]
fn an_earlier_without_rowid_store_moves_over_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kargo.db");
    let rv = {
        let s = Store::open(&path).unwrap();
        project(&s, "p");
        for n in ["c", "a", "b"] {
            let mut o = cm(n);
            o["metadata"]["labels"] = json!({"k": n});
            s.create(info("ConfigMap"), "p", o).unwrap();
        }
        s.current_rv()
    };
    {
        // The earlier layout, rows and all.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE objects RENAME TO objects_now;
             DROP INDEX objects_by_key; DROP INDEX objects_by_ns;
             CREATE TABLE objects (
                res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
                rv INTEGER NOT NULL, uid TEXT NOT NULL, body TEXT NOT NULL,
                PRIMARY KEY (res, ns, name)) WITHOUT ROWID;
             CREATE INDEX objects_by_ns ON objects(ns);
             INSERT INTO objects SELECT res, ns, name, rv, uid, body FROM objects_now;
             DROP TABLE objects_now;
             COMMIT;",
        )
        .unwrap();
        assert!(schema::objects_without_rowid(&conn).unwrap());
    }
    let s = Store::open(&path).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        assert!(!schema::objects_without_rowid(&conn).unwrap());
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name='objects_without_rowid'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0, "the earlier table is gone");
    }
    assert_eq!(s.current_rv(), rv);
    let (items, _) = s.list(info("ConfigMap"), Some("p"), None, 0).unwrap();
    let names: Vec<&str> = items.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        s.names_with_label(info("ConfigMap"), "p", "k", "b")
            .unwrap(),
        ["b"]
    );
    // Written, replaced and created again under the unique key.
    let mut b = s.get(info("ConfigMap"), "p", "b").unwrap();
    b["data"]["a"] = json!("2");
    s.update(info("ConfigMap"), "p", "b", b, Part::Main)
        .unwrap();
    assert_eq!(
        s.get(info("ConfigMap"), "p", "b").unwrap()["data"]["a"],
        "2"
    );
    assert!(matches!(
        s.create(info("ConfigMap"), "p", cm("a")),
        Err(StoreError::AlreadyExists { .. })
    ));
    // Opening again moves nothing.
    drop(s);
    let s = Store::open(&path).unwrap();
    assert_eq!(
        s.list(info("ConfigMap"), Some("p"), None, 0)
            .unwrap()
            .0
            .len(),
        3
    );
}

#[test]
fn list_pages_in_name_order() {
    let (_d, s) = open();
    project(&s, "p");
    for n in ["c", "a", "b", "d"] {
        s.create(info("ConfigMap"), "p", cm(n)).unwrap();
    }
    let (page, _) = s.list(info("ConfigMap"), Some("p"), None, 2).unwrap();
    assert_eq!(
        page.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let (page, _) = s
        .list(info("ConfigMap"), None, Some(("p", "b")), 0)
        .unwrap();
    assert_eq!(
        page.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["c", "d"]
    );
    let (page, _) = s
        .list(info("ConfigMap"), Some("p"), Some(("p", "b")), 0)
        .unwrap();
    assert_eq!(page.len(), 2);
}

#[test]
fn update_from_uses_the_object_read_only_while_it_is_current() {
    let (_d, s) = open();
    project(&s, "p");
    let w = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": "w"}, "spec": {"interval": "5m"}});
    let a = s.create(info("Warehouse"), "p", w).unwrap();
    // A status write from what was just read: the stored spec stays.
    let mut st = a.clone();
    st["status"] = json!({"lastFreightID": "x"});
    st["spec"]["interval"] = json!("9m");
    let (b, text) = s
        .update_from(
            info("Warehouse"),
            "p",
            "w",
            st,
            Part::Status,
            Arc::new(a.clone()),
        )
        .unwrap();
    assert_eq!(b["status"]["lastFreightID"], "x");
    // The text returned is the object exactly as stored and returned.
    let text = text.expect("a write returns its stored text");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        *b
    );
    assert_eq!(
        &*text,
        s.get(info("Warehouse"), "p", "w").unwrap().to_string()
    );
    assert_eq!(b["spec"]["interval"], "5m");
    assert_eq!(b["metadata"]["generation"], 1);
    // The read is stale now: the write re-reads the stored object, so a
    // lie in the stale copy never reaches the store, and the version the
    // body carries still decides (409).
    let mut liar = a.clone();
    liar["spec"]["interval"] = json!("1h");
    let mut st = (*b).clone();
    st["status"] = json!({"lastFreightID": "y"});
    let (c, _) = s
        .update_from(
            info("Warehouse"),
            "p",
            "w",
            st,
            Part::Status,
            Arc::new(liar),
        )
        .unwrap();
    assert_eq!(c["status"]["lastFreightID"], "y");
    // An unchanged object is not written, so there is no stored text.
    let (same, text) = s
        .update_from(
            info("Warehouse"),
            "p",
            "w",
            (*c).clone(),
            Part::Status,
            c.clone(),
        )
        .unwrap();
    assert_eq!(same, c);
    assert!(text.is_none());
    assert_eq!(c["spec"]["interval"], "5m");
    let mut stale = a.clone();
    stale["status"] = json!({"lastFreightID": "z"});
    assert!(matches!(
        s.update_from(info("Warehouse"), "p", "w", stale, Part::Status, b),
        Err(StoreError::Conflict(_))
    ));
}

#[test]
fn a_read_after_update_from_gets_the_written_object_while_it_is_current() {
    let (_d, s) = open();
    project(&s, "p");
    let w = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": "w"}, "spec": {"interval": "5m"}});
    s.create(info("Warehouse"), "p", w).unwrap();
    let a = s.get_shared(info("Warehouse"), "p", "w").unwrap();
    let mut st = (*a).clone();
    st["status"] = json!({"lastFreightID": "x"});
    let (b, _) = s
        .update_from(info("Warehouse"), "p", "w", st, Part::Status, a)
        .unwrap();
    // The next read is the object written, not a parse of its text...
    let again = s.get_shared(info("Warehouse"), "p", "w").unwrap();
    assert!(Arc::ptr_eq(&again, &b));
    assert_eq!(s.get(info("Warehouse"), "p", "w").unwrap(), *b);
    // ...until anything else writes it: then the stored text is read.
    let mut other = (*b).clone();
    other["spec"]["interval"] = json!("9m");
    s.update(info("Warehouse"), "p", "w", other, Part::Main)
        .unwrap();
    let now = s.get_shared(info("Warehouse"), "p", "w").unwrap();
    assert!(!Arc::ptr_eq(&now, &b));
    assert_eq!(now["spec"]["interval"], "9m");
    assert_eq!(now["status"]["lastFreightID"], "x");
    // A write that fails (a stale version) keeps nothing.
    let mut stale = (*b).clone();
    stale["status"] = json!({"lastFreightID": "y"});
    assert!(
        s.update_from(info("Warehouse"), "p", "w", stale, Part::Status, b)
            .is_err()
    );
    assert_eq!(
        s.get(info("Warehouse"), "p", "w").unwrap()["status"]["lastFreightID"],
        "x"
    );
    // And a deleted object is gone.
    s.delete(info("Warehouse"), "p", "w", &Default::default())
        .unwrap();
    assert!(matches!(
        s.get_shared(info("Warehouse"), "p", "w"),
        Err(StoreError::NotFound { .. })
    ));
}

/// Counts ConfigMaps whose `data.a` became "done": on the transition only.
fn done_rule(
    kind: &str,
    ns: &str,
    old: Option<&Value>,
    new: &Value,
) -> Vec<(&'static str, String)> {
    let done = |v: Option<&Value>| v.and_then(|v| v.pointer("/data/a")) == Some(&json!("done"));
    if kind == "ConfigMap" && done(Some(new)) && !done(old) {
        vec![("done_total", ns.to_string())]
    } else {
        Vec::new()
    }
}

#[test]
fn counters_count_transitions_once_and_survive_deletes_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kargo.db");
    let opts = || Options {
        counter_rule: Some(done_rule),
        ..Options::default()
    };
    let s = Store::open_with(&path, opts()).unwrap();
    project(&s, "p");
    let mut obj = cm("c");
    s.create(info("ConfigMap"), "p", obj.clone()).unwrap();
    obj["data"]["a"] = json!("done");
    // The same write twice (a repeated reconcile): one transition.
    s.update(info("ConfigMap"), "p", "c", obj.clone(), Part::Main)
        .unwrap();
    s.update(info("ConfigMap"), "p", "c", obj.clone(), Part::Main)
        .unwrap();
    let mut created_done = cm("d");
    created_done["data"]["a"] = json!("done");
    s.create(info("ConfigMap"), "p", created_done).unwrap();
    s.delete(info("ConfigMap"), "p", "c", &Preconditions::default())
        .unwrap();
    let want = vec![("done_total".to_string(), "p".to_string(), 2)];
    assert_eq!(s.counters().unwrap(), want);
    drop(s);
    let s = Store::open_with(&path, opts()).unwrap();
    assert_eq!(s.counters().unwrap(), want, "restored after reopen");
}

#[test]
fn lists_reuse_their_prepared_statements() {
    let (_d, s) = open();
    project(&s, "p");
    for i in 0..5 {
        s.create(info("ConfigMap"), "p", cm(&format!("c{i}")))
            .unwrap();
    }
    for (ns, limit, want) in [
        (Some("p"), 0, 5),
        (Some("p"), 2, 2),
        (None, 3, 3),
        (None, 0, 5),
    ] {
        for kind in ["ConfigMap", "Secret"] {
            let (rows, _) = s.list(info(kind), ns, None, limit).unwrap();
            assert_eq!(rows.len(), if kind == "Secret" { 0 } else { want });
        }
    }
    let db = s.lock();
    for sql in [crate::LIST_IN_NAMESPACE, crate::LIST_ALL] {
        let st = db.conn.prepare_cached(sql).unwrap();
        assert_eq!(
            st.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "{sql} was prepared again on a run with other values"
        );
    }
}

#[test]
fn the_wal_is_checkpointed_off_the_write_path_and_stays_bounded() {
    let (dir, s) = open();
    project(&s, "p");
    // 400 writes of a 100 kB body: about 80 MB of WAL (object row and
    // watch-log row) if nothing checkpointed it, as the writing connection
    // has SQLite's auto-checkpoint off.
    let big = "x".repeat(100_000);
    let mut c = cm("big");
    s.create(info("ConfigMap"), "p", c.clone()).unwrap();
    for i in 0..400 {
        c["data"]["a"] = json!(format!("{i}{big}"));
        c["metadata"]["resourceVersion"] = Value::Null;
        s.update(info("ConfigMap"), "p", "big", c.clone(), Part::Main)
            .unwrap();
    }
    let wal = std::fs::metadata(dir.path().join("kargo.db-wal"))
        .unwrap()
        .len();
    assert!(
        wal < 40 * 1024 * 1024,
        "the WAL holds {wal} bytes after 80 MB of writes: nothing checkpointed it"
    );
    let db_file = std::fs::metadata(dir.path().join("kargo.db"))
        .unwrap()
        .len();
    assert!(
        db_file > 100_000,
        "the database file holds {db_file} bytes: no checkpoint copied the writes into it"
    );
    assert!(
        s.get(info("ConfigMap"), "p", "big").unwrap()["data"]["a"]
            .as_str()
            .unwrap()
            .starts_with("399x")
    );
}
