//! Test helpers: the seed templates, a scripted clock-driven run loop.
#![allow(dead_code)]

use jiff::{SignedDuration, Timestamp};
use kargo_analysis::{NoSecrets, Observation, Reconciled, SecretLookup, reconcile};
use kargo_api::analysis::{AnalysisRunSpec, AnalysisRunStatus, AnalysisTemplate, Metric};

pub const SEED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/seed/examples/01-analysis-templates.yaml"
));

/// The seed's template `name`.
pub fn seed_template(name: &str) -> AnalysisTemplate {
    SEED.split("\n---\n")
        .map(|doc| yaml_serde::from_str::<AnalysisTemplate>(doc).expect("seed template parses"))
        .find(|t| t.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("seed has no template {name}"))
}

pub fn t0() -> Timestamp {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

pub fn secs(s: i64) -> SignedDuration {
    SignedDuration::from_secs(s)
}

/// Steps a run, each time at its `next_reconcile`, answering measurements
/// from `script` (by metric name); stops when complete or after `max` steps.
pub fn drive(
    spec: &AnalysisRunSpec,
    secrets: &dyn SecretLookup,
    max: usize,
    script: &mut dyn FnMut(&Metric) -> Observation,
) -> (Reconciled, Vec<Timestamp>) {
    let mut status = AnalysisRunStatus::default();
    let mut now = t0();
    let mut times = Vec::new();
    for _ in 0..max {
        let r = reconcile(spec, &status, now, secrets, &mut |m| {
            times.push(now);
            script(m)
        });
        status = r.status.clone();
        match r.next_reconcile {
            Some(t) => {
                assert!(t >= now, "next reconcile {t} is before now {now}");
                now = t;
            }
            None => return (r, times),
        }
    }
    let r = Reconciled {
        status,
        next_reconcile: Some(now),
    };
    (r, times)
}

pub fn drive_simple(
    spec: &AnalysisRunSpec,
    max: usize,
    script: &mut dyn FnMut(&Metric) -> Observation,
) -> (Reconciled, Vec<Timestamp>) {
    drive(spec, &NoSecrets, max, script)
}
