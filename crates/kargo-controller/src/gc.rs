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
//! sweep around them reads Stages and Freight from the shared watch
//! caches and Promotions from the index (no list), and deletes through
//! the API.

use crate::index::IndexedPromotion;
use crate::informers::Caches;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kargo_api::{Freight, Promotion, Stage};
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
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
    created_age(obj.meta().creation_timestamp.as_ref(), now)
}

fn created_age(created: Option<&Time>, now: jiff::Timestamp) -> Duration {
    created.map_or(Duration::ZERO, |t| elapsed(t.0, now))
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

/// One project's objects, as the shared caches and the index hold them.
#[derive(Default)]
struct ProjectObjects {
    stages: Vec<Arc<Stage>>,
    promotions: Vec<IndexedPromotion>,
    freight: Vec<Arc<Freight>>,
}

/// Groups the cached Stages and Freight and the indexed Promotions by
/// project (one pass over each; cached objects are shared, not copied).
fn by_project(caches: &Caches) -> BTreeMap<String, ProjectObjects> {
    let mut out: BTreeMap<String, ProjectObjects> = BTreeMap::new();
    for s in caches.stages.state() {
        out.entry(s.namespace().unwrap_or_default())
            .or_default()
            .stages
            .push(s);
    }
    for (ns, promotions) in caches.index.all_promotions() {
        out.entry(ns).or_default().promotions = promotions;
    }
    for f in caches.freight.state() {
        out.entry(f.namespace().unwrap_or_default())
            .or_default()
            .freight
            .push(f);
    }
    out
}

async fn sweep_project(client: &kube::Client, ns: &str, objects: &ProjectObjects, cfg: &GcConfig) {
    let now = jiff::Timestamp::now();
    let promotions: Api<Promotion> = Api::namespaced(client.clone(), ns);
    let freight: Api<Freight> = Api::namespaced(client.clone(), ns);

    // Freight in use: held by a Stage or named by an unfinished Promotion.
    let mut in_use: HashSet<&str> = HashSet::new();
    for s in &objects.stages {
        if let Some(current) = s.status.as_ref().and_then(|st| st.freight_history.first()) {
            in_use.extend(current.items.values().map(|r| r.name.as_str()));
        }
    }
    let mut by_stage: BTreeMap<&str, Vec<Candidate>> = BTreeMap::new();
    for p in &objects.promotions {
        let running = !p.summary.phase.is_terminal();
        if running {
            in_use.insert(&p.summary.freight);
        }
        by_stage.entry(&p.stage).or_default().push(Candidate {
            name: p.created.1.clone(),
            age: created_age(p.created.0.as_ref(), now),
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

    let mut by_warehouse: BTreeMap<&str, Vec<Candidate>> = BTreeMap::new();
    for f in &objects.freight {
        let name = f.name_any();
        by_warehouse
            .entry(&f.origin.name)
            .or_default()
            .push(Candidate {
                pinned: in_use.contains(name.as_str()),
                name,
                age: age_of(f.as_ref(), now),
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
    let mut page = ListParams::default().limit(EVENT_PAGE);
    loop {
        let list = api.list(&page).await?;
        sweep_event_page(client, list.items, now, ttl).await;
        match list.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => page = page.continue_token(&token),
            None => return Ok(()),
        }
    }
}

/// Events are read a page at a time, so a sweep holds one page in memory.
const EVENT_PAGE: u32 = 500;

async fn sweep_event_page(
    client: &kube::Client,
    page: Vec<Event>,
    now: jiff::Timestamp,
    ttl: Duration,
) {
    for e in page {
        let expired = event_last_seen(&e).is_some_and(|t| elapsed(t, now) >= ttl);
        if expired && let Some(ns) = e.namespace() {
            let events: Api<Event> = Api::namespaced(client.clone(), &ns);
            match events.delete(&e.name_any(), &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(err) => tracing::debug!(error = %err, "deleting an expired Event"),
            }
        }
    }
}

/// One sweep over every project (from the shared caches: no list) and
/// every Event (listed a page at a time).
pub async fn sweep(client: &kube::Client, caches: &Caches, cfg: &GcConfig) {
    for (ns, objects) in by_project(caches) {
        sweep_project(client, &ns, &objects, cfg).await;
    }
    if let Err(e) = sweep_events(client, cfg.event_ttl).await {
        tracing::warn!(error = %e, "garbage collection: Events");
    }
}

/// Sweeps every `cfg.interval`, first after one interval.
pub async fn run(client: kube::Client, caches: Arc<Caches>, cfg: GcConfig) {
    loop {
        tokio::time::sleep(cfg.interval).await;
        sweep(&client, &caches, &cfg).await;
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
