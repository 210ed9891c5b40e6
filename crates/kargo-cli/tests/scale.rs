//! The controllers at work cost what a change concerns: after warm-up, a
//! Freight moving through an auto-promoting chain of 200 Stages makes the
//! controllers issue no LIST at all (they read the shared watch caches), wakes a handful of Stage reconciles per hop,
//! not one per Stage of the project, and writes each Freight once per
//! hop it takes part in; a re-check that finds nothing new
//! reads the caches only and writes nothing. A Stage waiting for a soak time is
//! woken when it is met, not by a periodic poll.

mod common;

use common::chain::{
    Shape, all_lists, auto_promotion, counters, freight, lists, ok_listener, pipeline, project,
    stage_reconciles,
};
use common::{ServerProc, ok, wait_for};

const STAGES: usize = 200;

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
    assert!(
        lists(&before, "freights") > 0.0,
        "the counter sees the watches' first lists"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&freight("p", 2))));
    wait_for("f-2 through the chain", 120, || {
        verified_in(&s, "f-2", &last)
    });
    let after = metrics(&s);
    // No LIST of anything: the watches' caches serve every read, and a
    // Promotion whose steps call neither configMap() nor secret() nor use
    // credentials reads no ConfigMap, Secret or credential.
    let listed_before = all_lists(&before);
    let listed: Vec<String> = all_lists(&after)
        .into_iter()
        .filter(|(r, n)| listed_before.get(r) != Some(n))
        .map(|(r, n)| format!("{r}: {n}"))
        .collect();
    assert!(
        listed.is_empty(),
        "the controllers listed during the run: {listed:?}"
    );
    let per_hop = (stage_reconciles(&after) - stage_reconciles(&before)) / STAGES as f64;
    eprintln!("Stage reconciles per hop: {per_hop:.1}");
    assert!(
        per_hop < 8.0,
        "a hop should wake the Stages it concerns, not the project: {per_hop:.1} reconciles per hop"
    );
    // Each hop writes the Freight at most twice: it arrives (currentlyIn,
    // and verifiedIn for a Stage without verification, in one patch) and the
    // previous Freight leaves (that write lingers and goes with other
    // Stages' of the same Freight). Each write is of a whole Freight, which
    // grows with the Stages it has been in.
    let freight_patches = |m: &std::collections::BTreeMap<String, f64>| {
        m.get("kargo_controller_api_requests_total{verb=\"patch\",resource=\"freights\"}")
            .copied()
            .unwrap_or(0.0)
    };
    let writes_per_hop = (freight_patches(&after) - freight_patches(&before)) / STAGES as f64;
    // (A write retried after a conflict may add one now and then.)
    assert!(
        writes_per_hop < 2.5,
        "a hop should write the Freight twice: {writes_per_hop:.3} Freight patches per hop"
    );
    // A re-check that finds nothing new writes nothing.
    ok(&s.kubectl(&["annotate", "stages", "--all", "-n", "p", "scale-test=1"]));
    // Reads and writes of what Stages reconcile (the Project's stats may
    // change: it was debounced during the run).
    let stage_work = |m: &std::collections::BTreeMap<String, f64>| {
        m.iter()
            .filter(|(k, _)| {
                k.starts_with("kargo_controller_api_requests_total{")
                    && ["stages", "freights", "promotions", "analysisruns"]
                        .iter()
                        .any(|r| k.contains(&format!("resource=\"{r}\"")))
            })
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    let mut rechecked = after.clone();
    wait_for("a re-check of every Stage", 30, || {
        rechecked = metrics(&s);
        stage_reconciles(&rechecked) >= stage_reconciles(&after) + STAGES as f64
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let end = metrics(&s);
    let changed: Vec<String> = end
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k} {} -> {v}", after.get(k).copied().unwrap_or(0.0)))
        .collect();
    assert_eq!(
        stage_work(&end),
        stage_work(&after),
        "a re-check called the API: {changed:#?}"
    );
}

fn ts(v: &serde_json::Value) -> f64 {
    v.as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond() as f64 / 1000.0)
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
}

#[test]
fn a_stage_waiting_for_a_soak_starts_when_it_is_met() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let target = ok_listener();
    let stage = |name: &str, sources: &str| {
        format!(
            "---\nkind: Stage\nmetadata: {{name: {name}, namespace: p}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: w}}\n    sources: {sources}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: http\n        config: {{url: \"http://{target}/{name}\"}}\n"
        )
    };
    let manifests = format!(
        "{}---\n{}---\nkind: Warehouse\nmetadata: {{name: w, namespace: p}}\nspec:\n  interval: 24h\n  subscriptions:\n  - image: {{repoURL: 127.0.0.1:9/app}}\n{}{}",
        project("p"),
        auto_promotion("p"),
        stage("up", "{direct: true}"),
        stage("down", "{stages: [up], requiredSoakTime: 10s}")
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&freight("p", 1))));
    let mut promotion = serde_json::Value::Null;
    wait_for("the soaked Freight promoted downstream", 40, || {
        let list = s.get_json(&["promotions", "-n", "p"]);
        promotion = list["items"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["spec"]["stage"] == "down").cloned())
            .unwrap_or_default();
        !promotion.is_null()
    });
    let f = s.get_json(&["freight", "-n", "p", "-l", "kargo.akuity.io/alias=f-1"]);
    let since = ts(&f["items"][0]["status"]["currentlyIn"]["up"]["since"]);
    let waited = ts(&promotion["metadata"]["creationTimestamp"]) - since;
    // `since` has whole seconds: the soak ends 10 to 11 s after it.
    assert!(
        (9.9..12.5).contains(&waited),
        "promoted {waited:.1} s after entering upstream (soak 10 s)"
    );
}
