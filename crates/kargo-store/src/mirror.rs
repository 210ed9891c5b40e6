//! A store as a read-only mirror of another API server (`kargo server
//! --kubeconfig`): objects are put as that server has them (uid,
//! creationTimestamp, status kept; a resourceVersion of this store, so
//! watches of the mirror work), with no admission, no generation and no
//! finalizer handling, and removed when it reports them deleted.

use crate::{EventType, Result, Store, get_in, meta_str, res_key};
use kargo_api::ResourceInfo;
use serde_json::Value;

impl Store {
    /// Stores `obj` as the mirrored server has it, replacing what is
    /// stored under its namespace and name. An unchanged object is not
    /// rewritten.
    pub fn mirror_put(&self, info: &'static ResourceInfo, ns: &str, mut obj: Value) -> Result<()> {
        let Some(name) = meta_str(&obj, "name").map(str::to_string) else {
            return Ok(());
        };
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            // The mirror has its own versions; the source's is not kept.
            md.remove("resourceVersion");
            md.remove("managedFields");
        }
        self.write(|w| {
            let old = get_in(&w.tx, &res_key(info), ns, &name)?;
            let event = match old {
                Some(mut o) => {
                    if let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                        md.remove("resourceVersion");
                    }
                    if o == obj {
                        return Ok(());
                    }
                    EventType::Modified
                }
                None => EventType::Added,
            };
            w.put(info, ns, &name, obj, event)?;
            Ok(())
        })
    }

    /// Removes a mirrored object (and, as the source's garbage collector
    /// would, what it owns); absent is fine.
    pub fn mirror_delete(&self, info: &'static ResourceInfo, ns: &str, name: &str) -> Result<()> {
        self.write(|w| {
            if let Some(old) = get_in(&w.tx, &res_key(info), ns, name)? {
                w.remove(info, ns, name, old)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use kargo_api::lookup_kind;
    use serde_json::json;

    #[test]
    fn mirrored_objects_keep_the_sources_metadata_and_go_when_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("mirror.db")).unwrap();
        let info = lookup_kind("kargo.akuity.io/v1alpha1", "Stage").unwrap();
        let stage = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": "dev", "namespace": "p", "uid": "u-1", "resourceVersion": "77",
                "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 3,
                "finalizers": ["kargo.akuity.io/finalizer"]},
            "spec": {}, "status": {"freightSummary": "abc"}});
        let mut sub = s.watch(None).unwrap();
        // No namespace here: a mirror takes what the source has.
        s.mirror_put(info, "p", stage.clone()).unwrap();
        let got = s.get(info, "p", "dev").unwrap();
        for (k, v) in [
            ("uid", json!("u-1")),
            ("creationTimestamp", json!("2026-01-01T00:00:00Z")),
            ("generation", json!(3)),
        ] {
            assert_eq!(got["metadata"][k], v, "{k}");
        }
        assert_eq!(got["status"]["freightSummary"], "abc");
        let rv = s.current_rv();
        // The same object again (another source resourceVersion): no write.
        let mut again = stage.clone();
        again["metadata"]["resourceVersion"] = json!("78");
        s.mirror_put(info, "p", again).unwrap();
        assert_eq!(s.current_rv(), rv);
        let mut changed = stage;
        changed["status"]["freightSummary"] = json!("def");
        s.mirror_put(info, "p", changed).unwrap();
        assert_eq!(
            s.get(info, "p", "dev").unwrap()["status"]["freightSummary"],
            "def"
        );
        // Finalizers do not hold a mirrored deletion.
        s.mirror_delete(info, "p", "dev").unwrap();
        assert!(s.get(info, "p", "dev").is_err());
        s.mirror_delete(info, "p", "dev").unwrap();
        let types: Vec<_> = std::iter::from_fn(|| sub.live.try_recv().ok())
            .map(|e| e.type_)
            .collect();
        assert_eq!(
            types,
            [
                crate::EventType::Added,
                crate::EventType::Modified,
                crate::EventType::Deleted
            ]
        );
    }
}
