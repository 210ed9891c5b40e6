//! Kargo's sharding: which Stages, Promotions, Warehouses and
//! AnalysisRuns a controller reconciles, by their `kargo.akuity.io/shard`
//! label (set from the Stage's or Warehouse's `spec.shard` at admission;
//! Promotions and AnalysisRuns take their Stage's). As Kargo's
//! `GetShardRequirement` and `ResponsibleFor` predicate: a named shard
//! watches only objects labelled with its name; no name, only unlabelled
//! objects; a named shard that is also the default controller watches
//! everything and keeps its own and the unlabelled ones. The embedded
//! server's controllers take everything.

use kube::runtime::watcher::{self, Event};
use std::collections::BTreeMap;

/// What this controller is responsible for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Shard {
    /// Everything (the controllers inside `kargo server`).
    #[default]
    All,
    /// Kargo's `SHARD_NAME` / `IS_DEFAULT_CONTROLLER`.
    Named {
        /// The shard's name; empty: unlabelled objects only.
        name: String,
        /// Also takes objects labelled for no shard.
        default: bool,
    },
}

impl Shard {
    /// The shard `name` (`--shard`), default controller or not.
    pub fn named(name: &str, default: bool) -> Shard {
        Shard::Named {
            name: name.to_string(),
            default,
        }
    }

    /// The label selector the watches use, when one can express the
    /// responsibility (Kubernetes has no "equals X or absent").
    pub fn selector(&self) -> Option<String> {
        match self {
            Shard::All => None,
            Shard::Named { name, .. } if name.is_empty() => {
                Some(format!("!{}", kargo_api::labels::SHARD))
            }
            Shard::Named { default: true, .. } => None,
            Shard::Named { name, .. } => Some(format!("{}={name}", kargo_api::labels::SHARD)),
        }
    }

    /// The watch configuration for a sharded kind.
    pub fn watcher_config(&self) -> watcher::Config {
        let c = watcher::Config::default();
        match self.selector() {
            Some(s) => c.labels(&s),
            None => c,
        }
    }

    /// Kargo's `ResponsibleFor.IsResponsible`: an object labelled for this
    /// shard, or for none when this is the default controller (or has no
    /// name).
    pub fn responsible(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Shard::All => true,
            Shard::Named { name, default } => {
                let own = labels
                    .get(kargo_api::labels::SHARD)
                    .map(String::as_str)
                    .unwrap_or("");
                own == name || (own.is_empty() && (*default || name.is_empty()))
            }
        }
    }

    /// Whether this controller also runs what is not sharded — Projects,
    /// ProjectConfigs, the ClusterConfig and garbage collection (Kargo's
    /// management controller and garbage collector, one per
    /// installation): the embedded server, an unnamed shard or the
    /// default controller.
    pub fn runs_unsharded(&self) -> bool {
        match self {
            Shard::All => true,
            Shard::Named { name, default } => name.is_empty() || *default,
        }
    }

    /// A watch event as this controller sees it: objects it is not
    /// responsible for never arrive, and one relabelled away is gone.
    pub fn scope<K: kube::Resource>(&self, ev: Event<K>) -> Option<Event<K>> {
        if self.selector().is_some() || *self == Shard::All {
            return Some(ev);
        }
        match ev {
            Event::Apply(o) if !self.responsible(o.meta().labels.as_ref().unwrap_or(&EMPTY)) => {
                Some(Event::Delete(o))
            }
            Event::InitApply(o)
                if !self.responsible(o.meta().labels.as_ref().unwrap_or(&EMPTY)) =>
            {
                None
            }
            ev => Some(ev),
        }
    }
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(shard: Option<&str>) -> BTreeMap<String, String> {
        shard
            .map(|s| BTreeMap::from([(kargo_api::labels::SHARD.to_string(), s.to_string())]))
            .unwrap_or_default()
    }

    #[test]
    fn selectors_and_predicates_follow_kargo() {
        let a = Shard::named("a", false);
        assert_eq!(a.selector().as_deref(), Some("kargo.akuity.io/shard=a"));
        assert!(a.responsible(&labelled(Some("a"))));
        assert!(!a.responsible(&labelled(Some("b"))));
        assert!(!a.responsible(&labelled(None)));
        assert!(!a.runs_unsharded());

        let unnamed = Shard::named("", false);
        assert_eq!(
            unnamed.selector().as_deref(),
            Some("!kargo.akuity.io/shard")
        );
        assert!(unnamed.responsible(&labelled(None)));
        assert!(!unnamed.responsible(&labelled(Some("a"))));
        assert!(unnamed.runs_unsharded());

        let default_a = Shard::named("a", true);
        assert_eq!(default_a.selector(), None);
        assert!(default_a.responsible(&labelled(Some("a"))));
        assert!(default_a.responsible(&labelled(None)));
        assert!(!default_a.responsible(&labelled(Some("b"))));
        assert!(default_a.runs_unsharded());

        assert!(Shard::All.responsible(&labelled(Some("b"))));
    }

    #[test]
    fn the_default_controller_drops_foreign_objects_from_its_view() {
        let mut s = kargo_api::Stage::default();
        s.metadata.name = Some("s".into());
        s.metadata.labels = Some(labelled(Some("b")));
        let shard = Shard::named("a", true);
        assert!(shard.scope(Event::InitApply(s.clone())).is_none());
        assert!(matches!(
            shard.scope(Event::Apply(s.clone())),
            Some(Event::Delete(_))
        ));
        s.metadata.labels = Some(labelled(None));
        assert!(matches!(
            shard.scope(Event::Apply(s)),
            Some(Event::Apply(_))
        ));
    }
}
