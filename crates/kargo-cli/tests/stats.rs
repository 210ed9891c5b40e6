//! `kargo stats` end to end: a story written through the API of a server
//! without controllers (Freight, three Promotions of `prod` with their
//! outcomes and finish times set through `/status`, verification
//! AnalysisRuns), and the command's table and `-o json` figures at a
//! fixed `--at`, checked against the numbers worked out by hand.

mod common;

use common::{ServerProc, ok};
use serde_json::Value;

const NS: &str = "stats";

#[test]
fn stats_prints_the_expected_dora_figures() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", NS]));
    let manifests = format!(
        "---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: smoke, namespace: {NS}}}
spec:
  metrics:
  - name: up
    provider: {{web: {{url: 'http://127.0.0.1:9/'}}}}
---
kind: Warehouse
metadata: {{name: app, namespace: {NS}}}
spec:
  subscriptions:
  - image: {{repoURL: 127.0.0.1:9/app}}
---
kind: Stage
metadata: {{name: prod, namespace: {NS}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  verification:
    analysisTemplates: [{{name: smoke}}]
  promotionTemplate:
    spec:
      steps:
      - uses: fail
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {{namespace: {NS}}}
origin: {{kind: Warehouse, name: app}}
images:
- {{repoURL: 127.0.0.1:9/app, tag: v1.0.0, digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000001'}}
"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    let freight = s.get_json(&["freight", "-n", NS]);
    let f = &freight["items"][0];
    let fname = f["metadata"]["name"].as_str().unwrap().to_string();
    let t0: jiff::Timestamp = f["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Kubernetes' times have whole seconds (`metav1.Time`): that is what
    // any client, the CLI included, reads back.
    let t0 = jiff::Timestamp::from_second(t0.as_second()).unwrap();
    let at = |hours: i64| (t0 + jiff::SignedDuration::from_hours(hours)).to_string();

    // Three Promotions of prod: Succeeded at +1 h (verified), Failed at
    // +2 h, Succeeded at +5 h (verified): the failure restored in 3 h.
    let names = ["p1", "p2", "p3"];
    for name in names {
        let p = format!(
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {{name: {name}, namespace: {NS}}}\nspec: {{stage: prod, freight: {fname}}}\n"
        );
        ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&p)));
    }
    for (name, (phase, hours)) in
        names
            .iter()
            .zip([("Succeeded", 1), ("Failed", 2), ("Succeeded", 5)])
    {
        let patch = format!(
            r#"{{"status": {{"phase": "{phase}", "finishedAt": "{}"}}}}"#,
            at(hours)
        );
        ok(&s.kubectl(&[
            "patch",
            "promotion",
            name,
            "-n",
            NS,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch,
        ]));
    }
    for (i, name) in [names[0], names[2]].into_iter().enumerate() {
        let run = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata: {{name: run-{i}, namespace: {NS}, annotations: {{kargo.akuity.io/promotion: {name}}}}}\nspec:\n  metrics:\n  - name: up\n    provider: {{web: {{url: 'http://127.0.0.1:9/'}}}}\n"
        );
        ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&run)));
        ok(&s.kubectl(&[
            "patch",
            "analysisrun",
            &format!("run-{i}"),
            "-n",
            NS,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status": {"phase": "Successful"}}"#,
        ]));
    }

    let when = at(24);
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
