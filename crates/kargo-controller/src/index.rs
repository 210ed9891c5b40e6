//! Reverse indexes over the shared watch caches, kept in step with the
//! watch events (`apply_*` mirrors `Writer::apply_watcher_event`): which
//! Freight comes from a Warehouse or is verified in a Stage, which
//! Promotions belong to a Stage, which Stages take Freight from a
//! Warehouse or an upstream Stage. Applying an event returns what it
//! concerns (the Stages to wake, the Promotion to start next), so a change
//! costs work proportional to what it touches, never a scan of a project.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kargo_api::promotion::PromotionPhase;
use kargo_api::{Freight, Promotion, Stage};
use kube::ResourceExt;
use kube::runtime::watcher::Event;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

/// Creation time then name: newest last.
pub type Created = (Option<Time>, String);
/// `(namespace, name)`.
type Key = (String, String);
/// A Freight in the index's sets: its creation time and name, the name
/// shared by every set it is in (a Freight verified in 1,000 Stages is in
/// 1,000 of them).
type Member = (Option<Time>, Arc<str>);

/// `Kind/name` of a Freight origin.
pub fn origin_key(o: &kargo_api::common::FreightOrigin) -> String {
    format!("{}/{}", o.kind, o.name)
}

fn ns_name<K: kube::Resource>(o: &K) -> Key {
    (o.namespace().unwrap_or_default(), o.name_any())
}

/// Where a key stands in an ordered walk over two maps.
enum Side<'a, V> {
    /// In the first map only.
    Old(&'a String),
    /// In the second map only.
    New(&'a String),
    /// In both, with each map's value.
    Both(&'a String, &'a V, &'a V),
}

/// Walks two maps once, in key order, telling `f` where each key stands:
/// a Freight verified in every Stage of a long pipeline has thousands of
/// entries, of which one changes per write, so a lookup per key is
/// wasted work.
fn walk_keys<'a, V>(
    a: &'a BTreeMap<String, V>,
    b: &'a BTreeMap<String, V>,
    mut f: impl FnMut(Side<'a, V>),
) {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => return,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
        };
        match order {
            Ordering::Less => a.next().into_iter().for_each(|(k, _)| f(Side::Old(k))),
            Ordering::Greater => b.next().into_iter().for_each(|(k, _)| f(Side::New(k))),
            Ordering::Equal => {
                if let (Some((k, va)), Some((_, vb))) = (a.next(), b.next()) {
                    f(Side::Both(k, va, vb));
                }
            }
        }
    }
}

/// The keys whose entries differ between two maps (in one of them only,
/// or with different values).
fn changed_keys<'a, V: PartialEq>(
    a: &'a BTreeMap<String, V>,
    b: &'a BTreeMap<String, V>,
) -> Vec<&'a str> {
    let mut out = Vec::new();
    walk_keys(a, b, |side| match side {
        Side::Old(k) | Side::New(k) => out.push(k.as_str()),
        Side::Both(k, va, vb) if va != vb => out.push(k.as_str()),
        Side::Both(..) => {}
    });
    out
}

/// What the index remembers of one Freight, to diff the next event.
#[derive(Clone, Debug, Default, PartialEq)]
struct FreightSummary {
    origin: String,
    created: Member,
    /// Stage -> longest soak.
    verified: BTreeMap<String, Option<String>>,
    /// Stage -> since.
    currently: BTreeMap<String, Option<String>>,
    approved: BTreeSet<String>,
}

impl FreightSummary {
    fn of(f: &Freight) -> Self {
        // Only the keys and the two fields are copied: a Freight verified
        // in every Stage of a long pipeline has a large status.
        let st = f.status.as_ref();
        FreightSummary {
            origin: origin_key(&f.origin),
            created: (f.metadata.creation_timestamp.clone(), f.name_any().into()),
            verified: st
                .into_iter()
                .flat_map(|st| &st.verified_in)
                .map(|(k, v)| (k.clone(), v.longest_soak.clone()))
                .collect(),
            currently: st
                .into_iter()
                .flat_map(|st| &st.currently_in)
                .map(|(k, v)| (k.clone(), v.since.clone()))
                .collect(),
            approved: st
                .into_iter()
                .flat_map(|st| st.approved_for.keys())
                .cloned()
                .collect(),
        }
    }
}

#[derive(Default)]
struct FreightIndex {
    by_origin: HashMap<Key, BTreeSet<Member>>,
    verified_in: HashMap<Key, BTreeSet<Member>>,
    currently_in: HashMap<Key, BTreeSet<Member>>,
    approved_for: HashMap<Key, BTreeSet<Member>>,
    summary: HashMap<Key, Arc<FreightSummary>>,
}

impl FreightIndex {
    /// Replaces what the index holds of a Freight; only the Stages whose
    /// entries changed are touched. Returns the previous summary.
    fn update(&mut self, key: Key, new: Arc<FreightSummary>) -> Option<Arc<FreightSummary>> {
        let Some(old) = self.summary.get(&key).cloned() else {
            self.insert(key, new);
            return None;
        };
        if old.created != new.created || old.origin != new.origin {
            let old = self.remove(&key);
            self.insert(key, new);
            return old;
        }
        let ns = &key.0;
        let c = &new.created;
        move_keys(&mut self.verified_in, ns, c, &old.verified, &new.verified);
        move_keys(
            &mut self.currently_in,
            ns,
            c,
            &old.currently,
            &new.currently,
        );
        for s in old.approved.difference(&new.approved) {
            drop_from(&mut self.approved_for, (ns.clone(), s.clone()), c);
        }
        for s in new.approved.difference(&old.approved) {
            add_to(&mut self.approved_for, (ns.clone(), s.clone()), c);
        }
        self.summary.insert(key, new)
    }

    fn remove(&mut self, key: &Key) -> Option<Arc<FreightSummary>> {
        let old = self.summary.remove(key)?;
        let ns = &key.0;
        let c = &old.created;
        drop_from(&mut self.by_origin, (ns.clone(), old.origin.clone()), c);
        for s in old.verified.keys() {
            drop_from(&mut self.verified_in, (ns.clone(), s.clone()), c);
        }
        for s in old.currently.keys() {
            drop_from(&mut self.currently_in, (ns.clone(), s.clone()), c);
        }
        for s in &old.approved {
            drop_from(&mut self.approved_for, (ns.clone(), s.clone()), c);
        }
        Some(old)
    }

    fn insert(&mut self, key: Key, new: Arc<FreightSummary>) {
        let ns = &key.0;
        let c = &new.created;
        add_to(&mut self.by_origin, (ns.clone(), new.origin.clone()), c);
        for s in new.verified.keys() {
            add_to(&mut self.verified_in, (ns.clone(), s.clone()), c);
        }
        for s in new.currently.keys() {
            add_to(&mut self.currently_in, (ns.clone(), s.clone()), c);
        }
        for s in &new.approved {
            add_to(&mut self.approved_for, (ns.clone(), s.clone()), c);
        }
        self.summary.insert(key, new);
    }
}

/// Takes `c` out of the sets of the Stages keyed in `old` only and puts
/// it in those of the Stages keyed in `new` only ([`walk_keys`]).
fn move_keys<V>(
    m: &mut HashMap<Key, BTreeSet<Member>>,
    ns: &str,
    c: &Member,
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
) {
    walk_keys(old, new, |side| match side {
        Side::Old(s) => drop_from(m, (ns.to_string(), s.clone()), c),
        Side::New(s) => add_to(m, (ns.to_string(), s.clone()), c),
        Side::Both(..) => {}
    });
}

/// Adds `c` to the set under `k`.
fn add_to(m: &mut HashMap<Key, BTreeSet<Member>>, k: Key, c: &Member) {
    m.entry(k).or_default().insert(c.clone());
}

/// Removes `c` from the set under `k`, and the set when it empties.
fn drop_from(m: &mut HashMap<Key, BTreeSet<Member>>, k: Key, c: &Member) {
    if let Some(s) = m.get_mut(&k) {
        s.remove(c);
        if s.is_empty() {
            m.remove(&k);
        }
    }
}

/// What the index remembers of one Promotion: all any controller reads
/// of a finished one, which the Promotion cache no longer holds
/// ([`crate::cache_trim::Trim::cached`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PromotionSummary {
    /// Its phase.
    pub phase: PromotionPhase,
    /// `spec.freight`.
    pub freight: String,
    /// `status.finishedAt`.
    pub finished_at: Option<String>,
    /// It carries `kargo.akuity.io/rollback: "true"`.
    pub rollback: bool,
    /// Its auto-promotion hold or resume intent, where it has one.
    pub intent: Option<Box<HoldIntent>>,
}

/// A Promotion's `kargo.akuity.io/auto-promotion-hold` or
/// `-resume` annotation, with who created it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HoldIntent {
    /// The origin key it holds (`Warehouse/<name>`), if any.
    pub hold: Option<String>,
    /// The origin key it releases, if any.
    pub resume: Option<String>,
    /// `kargo.akuity.io/create-actor`.
    pub actor: String,
}

impl PromotionSummary {
    /// What the index keeps of `p`.
    pub fn of(p: &Promotion) -> Self {
        use kargo_api::labels::{
            AUTO_PROMOTION_HOLD, AUTO_PROMOTION_RESUME, CREATE_ACTOR, ROLLBACK,
        };
        let a = p.annotations();
        let hold = a.get(AUTO_PROMOTION_HOLD).cloned();
        let resume = a.get(AUTO_PROMOTION_RESUME).cloned();
        let intent = (hold.is_some() || resume.is_some()).then(|| {
            Box::new(HoldIntent {
                hold,
                resume,
                actor: a.get(CREATE_ACTOR).cloned().unwrap_or_default(),
            })
        });
        PromotionSummary {
            phase: p.status.as_ref().and_then(|s| s.phase).unwrap_or_default(),
            freight: p.spec.freight.clone(),
            finished_at: p.status.as_ref().and_then(|s| s.finished_at.clone()),
            rollback: a.get(ROLLBACK).map(String::as_str) == Some("true"),
            intent,
        }
    }
}

/// One Promotion as the index holds it: its Stage, creation time and
/// name, and summary.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedPromotion {
    /// `spec.stage`.
    pub stage: String,
    /// Creation time and name.
    pub created: Created,
    /// The rest.
    pub summary: PromotionSummary,
}

/// One Promotion as the index stores it: a [`PromotionSummary`] with its
/// creation time and name, in boxed strings. A project holds up to the
/// garbage collector's limit per Stage (20,000 at 1,000 Stages), so each
/// is kept once, in its Stage's list, in as few bytes as it takes.
#[derive(Debug, PartialEq)]
struct Stored {
    created: Option<Time>,
    name: Box<str>,
    freight: Box<str>,
    finished_at: Option<Box<str>>,
    intent: Option<Box<HoldIntent>>,
    phase: PromotionPhase,
    rollback: bool,
}

impl Stored {
    fn of(p: &Promotion) -> Self {
        let s = PromotionSummary::of(p);
        Stored {
            created: p.metadata.creation_timestamp.clone(),
            name: p.name_any().into(),
            freight: s.freight.into(),
            finished_at: s.finished_at.map(Into::into),
            intent: s.intent,
            phase: s.phase,
            rollback: s.rollback,
        }
    }

    /// Where it sorts in its Stage's list: creation time, then name.
    fn order(&self) -> (&Option<Time>, &str) {
        (&self.created, &self.name)
    }

    fn created(&self) -> Created {
        (self.created.clone(), self.name.to_string())
    }

    fn summary(&self) -> PromotionSummary {
        PromotionSummary {
            phase: self.phase,
            freight: self.freight.to_string(),
            finished_at: self.finished_at.as_deref().map(str::to_string),
            rollback: self.rollback,
            intent: self.intent.clone(),
        }
    }

    /// Whether a Stage reads a difference between the two (everything
    /// but the name and creation time, which are the same Promotion's).
    fn same_summary(&self, other: &Stored) -> bool {
        self.phase == other.phase
            && self.freight == other.freight
            && self.finished_at == other.finished_at
            && self.rollback == other.rollback
            && self.intent == other.intent
    }
}

/// The Promotions of each Stage, oldest first. A Promotion's Stage and
/// creation time never change (its spec is immutable), so the event that
/// carries it finds its place without a second map by name.
#[derive(Default)]
struct PromotionIndex {
    by_stage: HashMap<Key, Vec<Stored>>,
}

impl PromotionIndex {
    /// Takes out the Promotion `p`; returns what the index held of it.
    fn remove(&mut self, p: &Promotion) -> Option<Stored> {
        let k = (p.namespace().unwrap_or_default(), p.spec.stage.clone());
        let list = self.by_stage.get_mut(&k)?;
        let name = p.name_any();
        let at = list
            .binary_search_by(|s| s.order().cmp(&(&p.metadata.creation_timestamp, &name)))
            .ok()?;
        let old = list.remove(at);
        if list.is_empty() {
            self.by_stage.remove(&k);
        }
        Some(old)
    }

    /// Indexes `p`; returns what the index now holds of it.
    fn insert(&mut self, p: &Promotion) -> &Stored {
        let new = Stored::of(p);
        let list = self
            .by_stage
            .entry((p.namespace().unwrap_or_default(), p.spec.stage.clone()))
            .or_default();
        let at = match list.binary_search_by(|s| s.order().cmp(&new.order())) {
            Ok(at) => {
                list[at] = new;
                at
            }
            Err(at) => {
                list.insert(at, new);
                at
            }
        };
        &list[at]
    }

    fn oldest_pending(&self, ns: &str, stage: &str) -> Option<String> {
        self.by_stage
            .get(&(ns.to_string(), stage.to_string()))?
            .iter()
            .find(|s| s.phase == PromotionPhase::Pending)
            .map(|s| s.name.to_string())
    }
}

/// How a Stage takes Freight of one origin.
#[derive(Clone, Debug, Default, PartialEq)]
struct Source {
    origin: String,
    direct: bool,
    upstream: Vec<String>,
    soak: bool,
}

#[derive(Default)]
struct StageIndex {
    sources: HashMap<Key, Vec<Source>>,
    /// (ns, upstream) -> Stage -> needs soak.
    downstream: HashMap<Key, BTreeMap<String, bool>>,
    /// (ns, origin) -> Stage -> takes it directly.
    by_origin: HashMap<Key, BTreeMap<String, bool>>,
    by_ns: HashMap<String, BTreeSet<String>>,
}

impl StageIndex {
    fn remove(&mut self, key: &Key) {
        let (ns, name) = key;
        if let Some(old) = self.sources.remove(key) {
            for s in old {
                for u in &s.upstream {
                    remove_from(&mut self.downstream, (ns.clone(), u.clone()), name);
                }
                remove_from(&mut self.by_origin, (ns.clone(), s.origin.clone()), name);
            }
        }
        if let Some(set) = self.by_ns.get_mut(ns) {
            set.remove(name);
            if set.is_empty() {
                self.by_ns.remove(ns);
            }
        }
    }

    fn insert(&mut self, s: &Stage) {
        let key = ns_name(s);
        let (ns, name) = key.clone();
        let sources: Vec<Source> = s
            .spec
            .requested_freight
            .iter()
            .map(|r| Source {
                origin: origin_key(&r.origin),
                direct: r.sources.direct,
                upstream: r.sources.stages.clone(),
                soak: r.sources.required_soak_time.is_some(),
            })
            .collect();
        for src in &sources {
            for u in &src.upstream {
                let e = self
                    .downstream
                    .entry((ns.clone(), u.clone()))
                    .or_default()
                    .entry(name.clone())
                    .or_default();
                *e |= src.soak;
            }
            let e = self
                .by_origin
                .entry((ns.clone(), src.origin.clone()))
                .or_default()
                .entry(name.clone())
                .or_default();
            *e |= src.direct;
        }
        self.by_ns.entry(ns).or_default().insert(name);
        self.sources.insert(key, sources);
    }
}

fn remove_from(m: &mut HashMap<Key, BTreeMap<String, bool>>, k: Key, name: &str) {
    if let Some(set) = m.get_mut(&k) {
        set.remove(name);
        if set.is_empty() {
            m.remove(&k);
        }
    }
}

/// The indexes, one lock per kind; no lock is held across an `.await`.
#[derive(Default)]
pub struct Index {
    freight: RwLock<FreightIndex>,
    freight_shadow: RwLock<Option<FreightIndex>>,
    promotions: RwLock<PromotionIndex>,
    promotions_shadow: RwLock<Option<PromotionIndex>>,
    stages: RwLock<StageIndex>,
    stages_shadow: RwLock<Option<StageIndex>>,
}

/// A set of Freight names in the index.
#[derive(Clone, Copy, Debug)]
pub enum FreightSet<'a> {
    /// Freight from this origin (`Kind/name`).
    Origin(&'a str),
    /// Freight verified in this Stage.
    VerifiedIn(&'a str),
    /// Freight approved for this Stage.
    ApprovedFor(&'a str),
}

/// Stage names of one namespace to wake.
pub type Wakes = Vec<(String, String)>;

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Index {
    /// Stages of one namespace, or of every namespace (after a re-list).
    fn stages_in(&self, ns: Option<&str>) -> Wakes {
        let idx = read(&self.stages);
        idx.by_ns
            .iter()
            .filter(|(n, _)| ns.is_none_or(|x| x == n.as_str()))
            .flat_map(|(n, set)| set.iter().map(move |s| (n.clone(), s.clone())))
            .collect()
    }

    /// Applies a Freight event; returns the Stages it concerns.
    pub fn apply_freight(&self, ev: &Event<Freight>) -> Wakes {
        match ev {
            Event::Init => {
                *write(&self.freight_shadow) = Some(FreightIndex::default());
                Vec::new()
            }
            Event::InitApply(f) => {
                if let Some(s) = write(&self.freight_shadow).as_mut() {
                    s.insert(ns_name(f), Arc::new(FreightSummary::of(f)));
                }
                Vec::new()
            }
            Event::InitDone => {
                if let Some(s) = write(&self.freight_shadow).take() {
                    *write(&self.freight) = s;
                }
                self.stages_in(None)
            }
            Event::Delete(f) => {
                write(&self.freight).remove(&ns_name(f));
                Vec::new()
            }
            Event::Apply(f) => {
                let key = ns_name(f);
                let new = Arc::new(FreightSummary::of(f));
                let old = write(&self.freight).update(key.clone(), new.clone());
                self.freight_wakes(&key.0, old.as_deref(), &new)
            }
        }
    }

    fn freight_wakes(&self, ns: &str, old: Option<&FreightSummary>, new: &FreightSummary) -> Wakes {
        let stages = read(&self.stages);
        let mut out: BTreeSet<String> = BTreeSet::new();
        if old.is_none()
            && let Some(m) = stages.by_origin.get(&(ns.to_string(), new.origin.clone()))
        {
            out.extend(m.iter().filter(|(_, d)| **d).map(|(s, _)| s.clone()));
        }
        let empty = FreightSummary::default();
        let old = old.unwrap_or(&empty);
        let downstream = |u: &str, soak_only: bool| {
            stages
                .downstream
                .get(&(ns.to_string(), u.to_string()))
                .into_iter()
                .flatten()
                .filter(move |(_, soak)| !soak_only || **soak)
                .map(|(s, _)| s.clone())
        };
        // Verified here or no more: every Stage downstream. Only the
        // longest soak changed (the Freight left the Stage): only those
        // that require a soak there.
        walk_keys(&old.verified, &new.verified, |side| match side {
            Side::Old(u) | Side::New(u) => out.extend(downstream(u, false)),
            Side::Both(u, a, b) if a != b => out.extend(downstream(u, true)),
            Side::Both(..) => {}
        });
        for u in changed_keys(&old.currently, &new.currently) {
            out.extend(downstream(u, true));
        }
        out.extend(old.approved.symmetric_difference(&new.approved).cloned());
        out.into_iter().map(|s| (ns.to_string(), s)).collect()
    }

    /// Applies a Promotion event; returns the Stage it concerns and, when
    /// a Promotion ended (or went away unfinished), the oldest Pending
    /// Promotion of its Stage, which may start now.
    pub fn apply_promotion(&self, ev: &Event<Promotion>) -> (Wakes, Vec<(String, String)>) {
        let mut idx = write(&self.promotions);
        match ev {
            Event::Init => {
                *write(&self.promotions_shadow) = Some(PromotionIndex::default());
                (Vec::new(), Vec::new())
            }
            Event::InitApply(p) => {
                if let Some(s) = write(&self.promotions_shadow).as_mut() {
                    s.insert(p);
                }
                (Vec::new(), Vec::new())
            }
            Event::InitDone => {
                if let Some(s) = write(&self.promotions_shadow).take() {
                    *idx = s;
                }
                // Every Stage may have a queue that moved meanwhile.
                let next = idx
                    .by_stage
                    .iter()
                    .filter(|(_, list)| !list.iter().any(|s| s.phase == PromotionPhase::Running))
                    .filter_map(|((ns, st), _)| idx.oldest_pending(ns, st).map(|n| (ns.clone(), n)))
                    .collect();
                (Vec::new(), next)
            }
            Event::Delete(p) => {
                let (ns, _) = ns_name(p);
                let old = idx.remove(p);
                let mut next = Vec::new();
                if old.is_some_and(|o| !o.phase.is_terminal())
                    && let Some(n) = idx.oldest_pending(&ns, &p.spec.stage)
                {
                    next.push((ns.clone(), n));
                }
                (vec![(ns, p.spec.stage.clone())], next)
            }
            Event::Apply(p) => {
                let (ns, _) = ns_name(p);
                let old = idx.remove(p);
                let new = idx.insert(p);
                let ended =
                    new.phase.is_terminal() && old.as_ref().is_none_or(|o| !o.phase.is_terminal());
                // The Stage reads of its Promotions only what the summary
                // holds (which one runs, which finished last, holds and
                // rollbacks), and a Pending one only when something else
                // wakes it: a new Pending Promotion, or a write that
                // leaves the summary as it was (a step's progress), does
                // not wake the Stage.
                let stage_reads_a_change = match &old {
                    None => new.phase != PromotionPhase::Pending,
                    Some(o) => !o.same_summary(new),
                };
                let mut next = Vec::new();
                if ended && let Some(n) = idx.oldest_pending(&ns, &p.spec.stage) {
                    next.push((ns.clone(), n));
                }
                let wakes = if stage_reads_a_change {
                    vec![(ns, p.spec.stage.clone())]
                } else {
                    Vec::new()
                };
                (wakes, next)
            }
        }
    }

    /// Applies a Stage event (the Stage itself is woken by its own stream).
    pub fn apply_stage(&self, ev: &Event<Stage>) -> Wakes {
        match ev {
            Event::Init => {
                *write(&self.stages_shadow) = Some(StageIndex::default());
            }
            Event::InitApply(s) => {
                if let Some(i) = write(&self.stages_shadow).as_mut() {
                    i.insert(s);
                }
            }
            Event::InitDone => {
                if let Some(i) = write(&self.stages_shadow).take() {
                    *write(&self.stages) = i;
                }
            }
            Event::Delete(s) => write(&self.stages).remove(&ns_name(s)),
            Event::Apply(s) => {
                let mut idx = write(&self.stages);
                idx.remove(&ns_name(s));
                idx.insert(s);
            }
        }
        Vec::new()
    }

    /// Stages of a namespace (a ProjectConfig changed).
    pub fn stages_of(&self, ns: &str) -> Wakes {
        self.stages_in(Some(ns))
    }

    /// Stages requesting Freight from `origin` (a Warehouse came or went).
    pub fn stages_by_origin(&self, ns: &str, origin: &str) -> Wakes {
        read(&self.stages)
            .by_origin
            .get(&(ns.to_string(), origin.to_string()))
            .into_iter()
            .flatten()
            .map(|(s, _)| (ns.to_string(), s.clone()))
            .collect()
    }

    /// Walks the union of some Freight sets of a project newest first,
    /// each Freight once, until `f` returns true. Nothing is copied: a
    /// Stage that takes the newest available Freight stops at once
    /// however much Freight the project holds.
    pub fn walk_newest(&self, ns: &str, sets: &[FreightSet<'_>], mut f: impl FnMut(&str) -> bool) {
        let idx = read(&self.freight);
        let mut iters: Vec<_> = sets
            .iter()
            .filter_map(|s| {
                let (m, k) = match s {
                    FreightSet::Origin(o) => (&idx.by_origin, o),
                    FreightSet::VerifiedIn(st) => (&idx.verified_in, st),
                    FreightSet::ApprovedFor(st) => (&idx.approved_for, st),
                };
                m.get(&(ns.to_string(), k.to_string()))
            })
            .map(|set| set.iter().rev().peekable())
            .collect();
        loop {
            let Some(next) = iters.iter_mut().filter_map(|i| i.peek().copied()).max() else {
                return;
            };
            for i in iters.iter_mut() {
                if i.peek() == Some(&next) {
                    i.next();
                }
            }
            if f(&next.1) {
                return;
            }
        }
    }

    /// The Freight whose status says it is currently in `stage`, with
    /// the time it arrived there (`currentlyIn[stage].since`).
    pub fn currently_in(&self, ns: &str, stage: &str) -> Vec<(String, Option<String>)> {
        let idx = read(&self.freight);
        idx.currently_in
            .get(&(ns.to_string(), stage.to_string()))
            .into_iter()
            .flatten()
            .map(|(_, name)| {
                let since = idx
                    .summary
                    .get(&(ns.to_string(), name.to_string()))
                    .and_then(|s| s.currently.get(stage).cloned().flatten());
                (name.to_string(), since)
            })
            .collect()
    }

    /// Whether `freight` is verified in `stage`.
    pub fn is_verified_in(&self, ns: &str, freight: &str, stage: &str) -> bool {
        read(&self.freight)
            .summary
            .get(&(ns.to_string(), freight.to_string()))
            .is_some_and(|s| s.verified.contains_key(stage))
    }

    /// The Promotion `name` of Stage `stage` in namespace `ns`, if the
    /// index has it (a walk of the Stage's list, newest first: the one
    /// asked for is most often the latest).
    pub fn promotion(&self, ns: &str, stage: &str, name: &str) -> Option<IndexedPromotion> {
        let idx = read(&self.promotions);
        let s = idx
            .by_stage
            .get(&(ns.to_string(), stage.to_string()))?
            .iter()
            .rev()
            .find(|s| &*s.name == name)?;
        Some(IndexedPromotion {
            stage: stage.to_string(),
            created: s.created(),
            summary: s.summary(),
        })
    }

    /// Every Promotion, by namespace (for the garbage collector and the
    /// delivery gauges: one pass, copies of the summaries).
    pub fn all_promotions(&self) -> BTreeMap<String, Vec<IndexedPromotion>> {
        let idx = read(&self.promotions);
        let mut out: BTreeMap<String, Vec<IndexedPromotion>> = BTreeMap::new();
        for ((ns, stage), list) in &idx.by_stage {
            out.entry(ns.clone())
                .or_default()
                .extend(list.iter().map(|s| IndexedPromotion {
                    stage: stage.clone(),
                    created: s.created(),
                    summary: s.summary(),
                }));
        }
        out
    }

    /// The Promotions of a Stage, oldest first.
    pub fn promotions_of(&self, ns: &str, stage: &str) -> Vec<(Created, PromotionSummary)> {
        read(&self.promotions)
            .by_stage
            .get(&(ns.to_string(), stage.to_string()))
            .map(|list| list.iter().map(|s| (s.created(), s.summary())).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn move_keys_moves_only_the_keys_that_differ() {
        let c: Member = (None, "f".into());
        let keys = |ks: &[&str]| -> BTreeMap<String, ()> {
            ks.iter().map(|k| (k.to_string(), ())).collect()
        };
        let mut m: HashMap<Key, BTreeSet<Member>> = HashMap::new();
        super::move_keys(&mut m, "p", &c, &BTreeMap::new(), &keys(&["a", "b", "d"]));
        super::move_keys(
            &mut m,
            "p",
            &c,
            &keys(&["a", "b", "d"]),
            &keys(&["b", "c", "d", "e"]),
        );
        let mut held: Vec<&str> = m.keys().map(|(_, s)| s.as_str()).collect();
        held.sort();
        assert_eq!(held, ["b", "c", "d", "e"]);
        assert!(m.values().all(|set| set.contains(&c) && set.len() == 1));
    }

    #[test]
    fn changed_keys_walks_both_maps_once() {
        let m = |kv: &[(&str, u8)]| -> BTreeMap<String, u8> {
            kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let a = m(&[("a", 1), ("b", 1), ("d", 1), ("e", 1)]);
        let b = m(&[("b", 1), ("c", 1), ("d", 2), ("e", 1), ("f", 1)]);
        assert_eq!(super::changed_keys(&a, &b), ["a", "c", "d", "f"]);
        assert!(super::changed_keys(&a, &a).is_empty());
        assert_eq!(
            super::changed_keys(&BTreeMap::new(), &a),
            ["a", "b", "d", "e"]
        );
    }

    use super::*;
    use serde_json::json;

    fn freight(name: &str, ts: &str, verified: &[&str]) -> Freight {
        let v: serde_json::Map<String, serde_json::Value> = verified
            .iter()
            .map(|s| (s.to_string(), json!({})))
            .collect();
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight",
            "metadata": {"name": name, "namespace": "p", "creationTimestamp": ts},
            "origin": {"kind": "Warehouse", "name": "w"},
            "status": {"verifiedIn": v},
        }))
        .expect("freight")
    }

    fn stage(name: &str, direct: bool, up: &[&str]) -> Stage {
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": name, "namespace": "p"},
            "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"},
                "sources": {"direct": direct, "stages": up}}]},
        }))
        .expect("stage")
    }

    fn names(idx: &Index, sets: &[FreightSet<'_>]) -> Vec<String> {
        let mut out = Vec::new();
        idx.walk_newest("p", sets, |n| {
            out.push(n.to_string());
            false
        });
        out
    }

    #[test]
    fn freight_changes_wake_only_the_stages_they_concern() {
        let idx = Index::default();
        for s in [
            stage("a", true, &[]),
            stage("b", false, &["a"]),
            stage("c", false, &["b"]),
        ] {
            idx.apply_stage(&Event::Apply(s));
        }
        let f1 = freight("f1", "2026-01-01T00:00:00Z", &[]);
        assert_eq!(
            idx.apply_freight(&Event::Apply(f1)),
            vec![("p".into(), "a".into())]
        );
        let f1 = freight("f1", "2026-01-01T00:00:00Z", &["a"]);
        assert_eq!(
            idx.apply_freight(&Event::Apply(f1.clone())),
            vec![("p".into(), "b".into())]
        );
        // Nothing the index tracks changed: nobody wakes.
        assert!(idx.apply_freight(&Event::Apply(f1)).is_empty());
        let f2 = freight("f2", "2026-01-02T00:00:00Z", &["a"]);
        idx.apply_freight(&Event::Apply(f2));
        assert_eq!(
            names(&idx, &[FreightSet::VerifiedIn("a")]),
            vec!["f2", "f1"]
        );
        assert_eq!(
            names(
                &idx,
                &[
                    FreightSet::VerifiedIn("a"),
                    FreightSet::Origin("Warehouse/w")
                ]
            ),
            vec!["f2", "f1"],
            "a union lists each Freight once"
        );
        assert!(idx.is_verified_in("p", "f2", "a"));
        assert!(
            idx.apply_freight(&Event::Delete(freight(
                "f2",
                "2026-01-02T00:00:00Z",
                &["a"]
            )))
            .is_empty()
        );
        assert_eq!(names(&idx, &[FreightSet::VerifiedIn("a")]), vec!["f1"]);
    }

    #[test]
    fn a_longer_soak_wakes_only_the_stages_that_require_one() {
        let idx = Index::default();
        let mut soaking = stage("soaks", false, &["a"]);
        soaking.spec.requested_freight[0].sources.required_soak_time = Some("1h".into());
        for s in [stage("a", true, &[]), stage("b", false, &["a"]), soaking] {
            idx.apply_stage(&Event::Apply(s));
        }
        let mut f1 = freight("f1", "2026-01-01T00:00:00Z", &["a"]);
        idx.apply_freight(&Event::Apply(f1.clone()));
        // The Freight left `a` after an hour there: its longest soak grew.
        // Only a Stage that counts soak in `a` can see it differently.
        if let Some(v) = f1
            .status
            .as_mut()
            .and_then(|st| st.verified_in.get_mut("a"))
        {
            v.longest_soak = Some("1h0m0s".into());
        }
        assert_eq!(
            idx.apply_freight(&Event::Apply(f1)),
            vec![("p".into(), "soaks".into())]
        );
    }

    #[test]
    fn a_relist_replaces_the_index_and_wakes_every_stage() {
        let idx = Index::default();
        idx.apply_stage(&Event::Apply(stage("a", true, &[])));
        idx.apply_freight(&Event::Apply(freight("old", "2026-01-01T00:00:00Z", &[])));
        idx.apply_freight(&Event::Init);
        idx.apply_freight(&Event::InitApply(freight(
            "new",
            "2026-01-02T00:00:00Z",
            &[],
        )));
        assert_eq!(
            names(&idx, &[FreightSet::Origin("Warehouse/w")]),
            vec!["old"]
        );
        assert_eq!(
            idx.apply_freight(&Event::InitDone),
            vec![("p".into(), "a".into())]
        );
        assert_eq!(
            names(&idx, &[FreightSet::Origin("Warehouse/w")]),
            vec!["new"]
        );
    }

    fn promotion(name: &str, status: serde_json::Value) -> Promotion {
        serde_json::from_value(json!({
            "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
            "metadata": {"name": name, "namespace": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"stage": "dev", "freight": "abc1234"},
            "status": status,
        }))
        .expect("promotion")
    }

    #[test]
    fn only_promotion_changes_the_stage_reads_wake_it() {
        let idx = Index::default();
        let dev = || vec![("p".to_string(), "dev".to_string())];
        let apply = |status| {
            idx.apply_promotion(&Event::Apply(promotion("dev.1", status)))
                .0
        };
        // A new Pending Promotion changes nothing the Stage shows.
        assert!(apply(json!({})).is_empty());
        assert_eq!(apply(json!({"phase": "Running"})), dev());
        // A step's progress leaves the Stage's view as it was.
        assert!(apply(json!({"phase": "Running", "currentStep": 1})).is_empty());
        assert_eq!(
            apply(json!({"phase": "Succeeded", "finishedAt": "2026-01-01T00:00:01Z"})),
            dev()
        );
        assert!(
            apply(
                json!({"phase": "Succeeded", "finishedAt": "2026-01-01T00:00:01Z", "message": "x"})
            )
            .is_empty()
        );
        // A Promotion first seen running (or finished) wakes it, and so does a delete.
        let seen_running = idx.apply_promotion(&Event::Apply(promotion(
            "dev.2",
            json!({"phase": "Running"}),
        )));
        assert_eq!(seen_running.0, dev());
        let deleted = idx.apply_promotion(&Event::Delete(promotion("dev.2", json!({}))));
        assert_eq!(deleted.0, dev());
    }

    /// A Stage's Promotions come back oldest first (creation time, then
    /// name) whatever order their events came in; an update replaces
    /// its entry, a delete takes it out, and a name is found in its Stage.
    #[test]
    fn a_stages_promotions_stay_in_creation_order() {
        let idx = Index::default();
        let at = |name: &str, ts: &str, status| {
            let mut p = promotion(name, status);
            p.metadata.creation_timestamp = Some(serde_json::from_value(json!(ts)).unwrap());
            p
        };
        for (name, ts) in [
            ("dev.c", "2026-01-01T00:00:03Z"),
            ("dev.a", "2026-01-01T00:00:01Z"),
            ("dev.b2", "2026-01-01T00:00:02Z"),
            ("dev.b1", "2026-01-01T00:00:02Z"),
        ] {
            idx.apply_promotion(&Event::Apply(at(name, ts, json!({}))));
        }
        let names = || -> Vec<String> {
            idx.promotions_of("p", "dev")
                .into_iter()
                .map(|(c, _)| c.1)
                .collect()
        };
        assert_eq!(names(), ["dev.a", "dev.b1", "dev.b2", "dev.c"]);
        // The queue's head is the oldest Pending one.
        let ended = idx.apply_promotion(&Event::Apply(at(
            "dev.a",
            "2026-01-01T00:00:01Z",
            json!({"phase": "Succeeded", "finishedAt": "2026-01-01T00:00:09Z"}),
        )));
        assert_eq!(ended.1, vec![("p".to_string(), "dev.b1".to_string())]);
        assert_eq!(names(), ["dev.a", "dev.b1", "dev.b2", "dev.c"]);
        let a = idx.promotion("p", "dev", "dev.a").expect("dev.a");
        assert_eq!(a.summary.phase, PromotionPhase::Succeeded);
        assert_eq!(
            a.summary.finished_at.as_deref(),
            Some("2026-01-01T00:00:09Z")
        );
        assert_eq!(a.summary.freight, "abc1234");
        assert!(idx.promotion("p", "prod", "dev.a").is_none());
        idx.apply_promotion(&Event::Delete(at(
            "dev.b1",
            "2026-01-01T00:00:02Z",
            json!({}),
        )));
        assert_eq!(names(), ["dev.a", "dev.b2", "dev.c"]);
        assert!(idx.promotion("p", "dev", "dev.b1").is_none());
        for (name, ts) in [
            ("dev.a", "2026-01-01T00:00:01Z"),
            ("dev.b2", "2026-01-01T00:00:02Z"),
            ("dev.c", "2026-01-01T00:00:03Z"),
        ] {
            idx.apply_promotion(&Event::Delete(at(name, ts, json!({}))));
        }
        assert!(idx.promotions_of("p", "dev").is_empty());
        assert!(read(&idx.promotions).by_stage.is_empty());
    }
}
