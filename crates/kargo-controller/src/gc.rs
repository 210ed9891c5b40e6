//! Garbage collection, with Kargo's rules and defaults, so a long-lived
//! server does not grow without bound:
//! - Promotions: per Stage, the newest [`GcConfig::max_retained_promotions`]
//!   beyond the oldest one still running are kept; older ones go once
//!   they are older than [`GcConfig::min_promotion_deletion_age`].
//! - Freight: per Warehouse, the newest [`GcConfig::max_retained_freight`]
//!   beyond the oldest one in use are kept; older ones go once they are
//!   older than [`GcConfig::min_freight_deletion_age`]. Freight is in use
//!   while a Stage holds it or an unfinished Promotion names it, so neither
//!   a Stage's current Freight nor a queued rollback is ever deleted.
//! - Events: deleted [`GcConfig::event_ttl`] after they last happened
//!   (kube-apiserver's `--event-ttl`, one hour by default).
//!
//! The choices are pure functions over (name, age, in-use) lists; the
//! sweep around them lists and deletes through the API.

use k8s_openapi::api::core::v1::Event;
use kargo_api::{Freight, Project, Promotion, Stage};
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// What is kept, and how often the sweep runs.
#[derive(Clone, Debug)]
pub struct GcConfig {
    /// Time between sweeps.
    pub interval: Duration,
    /// Promotions kept per Stage beyond the oldest unfinished one.
    pub max_retained_promotions: usize,
    /// Promotions younger than this are never deleted.
    pub min_promotion_deletion_age: Duration,
    /// Freight kept per Warehouse beyond the oldest one in use.
    pub max_retained_freight: usize,
    /// Freight younger than this is never deleted.
    pub min_freight_deletion_age: Duration,
    /// How long Events are kept after they last happened.
    pub event_ttl: Duration,
}

impl Default for GcConfig {
    /// Kargo's defaults (20 and 14 days), Kubernetes' one-hour Event TTL,
    /// a sweep every ten minutes.
    fn default() -> Self {
        GcConfig {
            interval: Duration::from_secs(600),
            max_retained_promotions: 20,
            min_promotion_deletion_age: Duration::from_secs(14 * 24 * 3600),
            max_retained_freight: 20,
            min_freight_deletion_age: Duration::from_secs(14 * 24 * 3600),
            event_ttl: Duration::from_secs(3600),
        }
    }
}

/// One candidate: its name, its age, and whether it must stay (a
/// Promotion still running, Freight in use).
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Object name.
    pub name: String,
    /// Time since creation.
    pub age: Duration,
    /// Running (Promotions) or in use (Freight).
    pub pinned: bool,
}

/// Names to delete from one Stage's Promotions or one Warehouse's
/// Freight: everything more than `keep` generations older than the oldest
/// pinned one, and older than `min_age`. Pinned ones are never chosen.
pub fn choose(mut items: Vec<Candidate>, keep: usize, min_age: Duration) -> Vec<String> {
    if items.len() <= keep {
        return Vec::new();
    }
    items.sort_by_key(|c| c.age); // newest first
    let oldest_pinned = items.iter().rposition(|c| c.pinned);
    let first = oldest_pinned.map_or(keep, |i| i + keep + 1);
    items
        .into_iter()
        .skip(first)
        .filter(|c| !c.pinned && c.age >= min_age)
        .map(|c| c.name)
        .collect()
}

/// Time from `then` to `now`; zero for times in the future.
fn elapsed(then: jiff::Timestamp, now: jiff::Timestamp) -> Duration {
    let d = now.duration_since(then);
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

fn age_of<K: Resource>(obj: &K, now: jiff::Timestamp) -> Duration {
    obj.meta()
        .creation_timestamp
        .as_ref()
        .map_or(Duration::ZERO, |t| elapsed(t.0, now))
}

async fn delete_all<K>(api: &Api<K>, names: &[String], what: &str, ns: &str)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for name in names {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(namespace = %ns, %name, "garbage-collected {what}"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => tracing::warn!(namespace = %ns, %name, error = %e, "deleting {what}"),
        }
    }
}

async fn sweep_project(client: &kube::Client, ns: &str, cfg: &GcConfig) -> kube::Result<()> {
    let now = jiff::Timestamp::now();
    let promotions: Api<Promotion> = Api::namespaced(client.clone(), ns);
    let freight: Api<Freight> = Api::namespaced(client.clone(), ns);
    let stages: Api<Stage> = Api::namespaced(client.clone(), ns);
    let promos = promotions.list(&ListParams::default()).await?.items;

    // Freight in use: held by a Stage or named by an unfinished Promotion.
    let mut in_use: HashSet<String> = HashSet::new();
    for s in stages.list(&ListParams::default()).await?.items {
        if let Some(current) = s.status.as_ref().and_then(|st| st.freight_history.first()) {
            in_use.extend(current.items.values().map(|r| r.name.clone()));
        }
    }
    let mut by_stage: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for p in &promos {
        let running = !p
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(|ph| ph.is_terminal());
        if running {
            in_use.insert(p.spec.freight.clone());
        }
        by_stage
            .entry(p.spec.stage.clone())
            .or_default()
            .push(Candidate {
                name: p.name_any(),
                age: age_of(p, now),
                pinned: running,
            });
    }
    for items in by_stage.into_values() {
        let doomed = choose(
            items,
            cfg.max_retained_promotions,
            cfg.min_promotion_deletion_age,
        );
        delete_all(&promotions, &doomed, "Promotion", ns).await;
    }

    let mut by_warehouse: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for f in freight.list(&ListParams::default()).await?.items {
        by_warehouse
            .entry(f.origin.name.clone())
            .or_default()
            .push(Candidate {
                name: f.name_any(),
                age: age_of(&f, now),
                pinned: in_use.contains(&f.name_any()),
            });
    }
    for items in by_warehouse.into_values() {
        let doomed = choose(
            items,
            cfg.max_retained_freight,
            cfg.min_freight_deletion_age,
        );
        delete_all(&freight, &doomed, "Freight", ns).await;
    }
    Ok(())
}

/// When an Event last happened.
fn event_last_seen(e: &Event) -> Option<jiff::Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

async fn sweep_events(client: &kube::Client, ttl: Duration) -> kube::Result<()> {
    let now = jiff::Timestamp::now();
    let api: Api<Event> = Api::all(client.clone());
    for e in api.list(&ListParams::default()).await?.items {
        let expired = event_last_seen(&e).is_some_and(|t| elapsed(t, now) >= ttl);
        if expired && let Some(ns) = e.namespace() {
            let events: Api<Event> = Api::namespaced(client.clone(), &ns);
            match events.delete(&e.name_any(), &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(err) => tracing::debug!(error = %err, "deleting an expired Event"),
            }
        }
    }
    Ok(())
}

/// One sweep over every project and every Event.
pub async fn sweep(client: &kube::Client, cfg: &GcConfig) {
    let projects: Api<Project> = Api::all(client.clone());
    match projects.list(&ListParams::default()).await {
        Ok(list) => {
            for p in list.items {
                if let Err(e) = sweep_project(client, &p.name_any(), cfg).await {
                    tracing::warn!(project = %p.name_any(), error = %e, "garbage collection");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "garbage collection: listing projects"),
    }
    if let Err(e) = sweep_events(client, cfg.event_ttl).await {
        tracing::warn!(error = %e, "garbage collection: Events");
    }
}

/// Sweeps every `cfg.interval`, first after one interval.
pub async fn run(client: kube::Client, cfg: GcConfig) {
    loop {
        tokio::time::sleep(cfg.interval).await;
        sweep(&client, &cfg).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, age_s: u64, pinned: bool) -> Candidate {
        Candidate {
            name: name.into(),
            age: Duration::from_secs(age_s),
            pinned,
        }
    }

    #[test]
    fn keeps_the_newest_beyond_the_oldest_pinned() {
        let items = vec![
            c("p5", 10, false),
            c("p4", 20, false),
            c("p3", 30, true),
            c("p2", 40, false),
            c("p1", 50, false),
            c("p0", 60, false),
        ];
        // p3 is pinned: keep two beyond it (p2, p1); p0 goes.
        assert_eq!(choose(items.clone(), 2, Duration::ZERO), vec!["p0"]);
        // Nothing pinned: keep the newest two.
        let free: Vec<Candidate> = items
            .into_iter()
            .map(|mut x| {
                x.pinned = false;
                x
            })
            .collect();
        assert_eq!(
            choose(free.clone(), 2, Duration::ZERO),
            vec!["p3", "p2", "p1", "p0"]
        );
        // Young ones stay whatever their rank.
        assert_eq!(choose(free, 2, Duration::from_secs(45)), vec!["p1", "p0"]);
    }

    #[test]
    fn pinned_ones_are_never_chosen_and_few_items_are_left_alone() {
        let items = vec![c("a", 1, false), c("b", 2, false), c("old", 99, true)];
        assert!(choose(items.clone(), 0, Duration::ZERO).is_empty());
        assert!(choose(items, 5, Duration::ZERO).is_empty());
    }
}
