//! `kargo stats` end to end: a story written through the API of a server
//! without controllers (`common::stats_story`: Freight, three Promotions
//! of `prod` an hour apart with their outcomes and finish times set
//! through `/status`, verification AnalysisRuns), and the command's table
//! and `-o json` figures at a fixed `--at`, checked against the numbers
//! worked out by hand.

mod common;

use common::{ServerProc, ok};
use serde_json::Value;

const NS: &str = "stats";

#[test]
fn stats_prints_the_expected_dora_figures() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", NS]));
    let t0 = common::stats_story::write(&s, NS, jiff::SignedDuration::from_hours(1), true);
    let when = (t0 + jiff::SignedDuration::from_hours(24)).to_string();
    let out = ok(&s.kargo(&["stats", "-p", NS, "--at", &when, "-o", "json"]));
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["windowSeconds"], 604_800);
    let prod = &doc["stages"][0];
    assert_eq!(prod["stage"], "prod", "{doc:#}");
    assert_eq!(prod["promotions"], 3);
    assert_eq!(prod["deployments"], 2);
    assert_eq!(prod["deploymentsPerDay"].as_f64().unwrap(), 2.0 / 7.0);
    // Lead times 1 h and 5 h from the Freight's creation: median 3 h.
    assert_eq!(prod["leadTimeSeconds"], 10_800.0);
    assert_eq!(prod["commitLeadTimeSeconds"], Value::Null);
    assert_eq!(prod["failures"], 1);
    assert_eq!(prod["changeFailureRate"].as_f64().unwrap(), 1.0 / 3.0);
    assert_eq!(prod["timeToRestoreSeconds"], 10_800.0);
    assert_eq!(prod["restored"], 1);
    assert_eq!(prod["unrestored"], 0);

    let table = ok(&s.kargo(&["stats", "-p", NS, "--at", &when]));
    let row = table
        .lines()
        .find(|l| l.starts_with("prod"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        ["prod", "3", "2", "0.29", "3h", "-", "33%", "(1/3)", "3h"],
        "{table}"
    );
}
