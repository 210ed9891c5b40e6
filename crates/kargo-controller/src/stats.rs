//! Counters of reconciles per controller, for `/metrics` and for tests and
//! benchmarks that check a change costs reconciles in proportion to what
//! it concerns.

use std::sync::atomic::{AtomicU64, Ordering};

/// The Stage controller.
pub const STAGE: usize = 0;
/// The Promotion controller.
pub const PROMOTION: usize = 1;
/// The AnalysisRun controller.
pub const ANALYSIS_RUN: usize = 2;

/// Controller names, by index.
pub const NAMES: [&str; 3] = ["stage", "promotion", "analysisrun"];

static RECONCILES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Counts one finished reconcile of `controller`.
pub fn reconciled(controller: usize) {
    RECONCILES[controller].fetch_add(1, Ordering::Relaxed);
}

/// Reconciles so far, per controller name.
pub fn reconciles() -> Vec<(&'static str, u64)> {
    NAMES
        .iter()
        .zip(&RECONCILES)
        .map(|(n, c)| (*n, c.load(Ordering::Relaxed)))
        .collect()
}
