//! The controllers at work cost what a change concerns: after warm-up, a
//! Freight moving through an auto-promoting chain of Stages makes the
//! controllers issue no Freight, Promotion or Stage LIST (they read the
//! shared watch caches), and wakes a handful of Stage reconciles per hop,
//! not one per Stage of the project.

mod common;

use common::chain::{Shape, counters, freight, lists, ok_listener, pipeline, stage_reconciles};
use common::{ServerProc, ok, wait_for};

const STAGES: usize = 10;

fn verified_in(s: &ServerProc, alias: &str, stage: &str) -> bool {
    let list = s.get_json(&[
        "freight",
        "-n",
        "p",
        "-l",
        &format!("kargo.akuity.io/alias={alias}"),
    ]);
    list["items"][0]["status"]["verifiedIn"][stage].is_object()
}

fn metrics(s: &ServerProc) -> std::collections::BTreeMap<String, f64> {
    counters(&ok(&s.kubectl(&["get", "--raw", "/metrics"])))
}

#[test]
fn a_chain_moves_freight_without_listing() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let target = ok_listener();
    ok(&s.kargo_stdin(
        &["apply", "-f", "-"],
        Some(&pipeline("p", STAGES, Shape::Chain, &target)),
    ));
    let last = format!("s{}", STAGES - 1);
    // Warm-up: the caches are filled and a first Freight went through.
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&freight("p", 1))));
    wait_for("f-1 through the chain", 120, || {
        verified_in(&s, "f-1", &last)
    });
    let before = metrics(&s);
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&freight("p", 2))));
    wait_for("f-2 through the chain", 120, || {
        verified_in(&s, "f-2", &last)
    });
    let after = metrics(&s);
    for r in ["freights", "promotions", "stages"] {
        assert_eq!(
            lists(&after, r),
            lists(&before, r),
            "the controllers listed {r} during the run"
        );
    }
    let per_hop = (stage_reconciles(&after) - stage_reconciles(&before)) / STAGES as f64;
    eprintln!("Stage reconciles per hop: {per_hop:.1}");
    assert!(
        per_hop < 8.0,
        "a hop should wake the Stages it concerns, not the project: {per_hop:.1} reconciles per hop"
    );
}
