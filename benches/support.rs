//! What every benchmark prints: alternating runs of kargo-rs and its
//! baseline summarised as median (min–max) and the ratio of the medians.
//! Included by path from each crate's `benches/*.rs`.

#![allow(dead_code)]

/// Median, min and max of `v` (NaN when empty).
pub fn summary(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (mid, s[0], s[s.len() - 1])
}

/// `median (min–max)` with `prec` decimals.
pub fn fmt(v: &[f64], prec: usize) -> String {
    let (m, lo, hi) = summary(v);
    format!("{m:.prec$} ({lo:.prec$}–{hi:.prec$})")
}

/// Prints the table header.
pub fn header(title: &str) {
    println!("\n## {title}\n");
    println!("| metric | kargo-rs median (min–max) | baseline median (min–max) | ratio | target |");
    println!("|---|---|---|---|---|");
}

/// One row: kargo-rs against its baseline, and the ratio of the medians.
pub fn row(metric: &str, kargo: &[f64], base: &[f64], base_name: &str, target: &str) {
    let ratio = summary(kargo).0 / summary(base).0;
    println!(
        "| {metric} | {} | {} {base_name} | {ratio:.2}x | {target} |",
        fmt(kargo, 1),
        fmt(base, 1)
    );
}

/// Runs `kargo` and `base` alternately `runs` times; returns their samples.
pub fn alternate(
    runs: usize,
    mut kargo: impl FnMut() -> f64,
    mut base: impl FnMut() -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let (mut k, mut b) = (Vec::new(), Vec::new());
    for i in 0..runs {
        // Swap who goes first every run so neither always meets a warm or cold machine.
        if i % 2 == 0 {
            k.push(kargo());
            b.push(base());
        } else {
            b.push(base());
            k.push(kargo());
        }
    }
    (k, b)
}
