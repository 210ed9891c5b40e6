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
