//! A delivery-statistics story with known figures, written through the
//! API of a server whose controllers do not run Promotions yet: Stage
//! `prod` (verified by AnalysisTemplate `smoke` when asked), Warehouse
//! `app`, one Freight, and Promotions p1 Succeeded at +1 unit, p2 Failed
//! at +2, p3 Succeeded at +5 from the Freight's creation (their outcomes
//! and finish times set through `/status`), p1 and p3 verified
//! (Successful AnalysisRuns) when the Stage verifies. Figures over any
//! window holding them: 3 Promotions, 2 deployments, lead time 3 units
//! (median of 1 and 5), change failure rate 1/3, time to restore 3 units.

use super::{ServerProc, ok};

/// Writes the story in project `ns` (which exists); returns the Freight's
/// creation time (whole seconds, as any client reads it back).
pub fn write(
    s: &ServerProc,
    ns: &str,
    unit: jiff::SignedDuration,
    verify: bool,
) -> jiff::Timestamp {
    let verification = if verify {
        "\n  verification:\n    analysisTemplates: [{name: smoke}]"
    } else {
        ""
    };
    let manifests = format!(
        "---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: smoke, namespace: {ns}}}
spec:
  metrics:
  - name: up
    provider: {{web: {{url: 'http://127.0.0.1:9/'}}}}
---
kind: Warehouse
metadata: {{name: app, namespace: {ns}}}
spec:
  subscriptions:
  - image: {{repoURL: 127.0.0.1:9/app}}
---
kind: Stage
metadata: {{name: prod, namespace: {ns}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}{verification}
  promotionTemplate:
    spec:
      steps:
      - uses: fail
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {{namespace: {ns}}}
origin: {{kind: Warehouse, name: app}}
images:
- {{repoURL: 127.0.0.1:9/app, tag: v1.0.0, digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000001'}}
"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    let freight = s.get_json(&["freight", "-n", ns]);
    let f = &freight["items"][0];
    let fname = f["metadata"]["name"].as_str().unwrap().to_string();
    let t0: jiff::Timestamp = f["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Kubernetes' times have whole seconds (`metav1.Time`).
    let t0 = jiff::Timestamp::from_second(t0.as_second()).unwrap();
    let names = ["p1", "p2", "p3"];
    for name in names {
        let p = format!(
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{stage: prod, freight: {fname}}}\n"
        );
        ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&p)));
    }
    let status = |kind: &str, name: &str, patch: &str| {
        ok(&s.kubectl(&[
            "patch",
            kind,
            name,
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ]));
    };
    for (name, (phase, units)) in
        names
            .iter()
            .zip([("Succeeded", 1), ("Failed", 2), ("Succeeded", 5)])
    {
        let at = t0 + unit * units;
        let patch = format!(r#"{{"status": {{"phase": "{phase}", "finishedAt": "{at}"}}}}"#);
        status("promotion", name, &patch);
    }
    if verify {
        for (i, name) in [names[0], names[2]].into_iter().enumerate() {
            let run = format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata: {{name: run-{i}, namespace: {ns}, annotations: {{kargo.akuity.io/promotion: {name}}}}}\nspec:\n  metrics:\n  - name: up\n    provider: {{web: {{url: 'http://127.0.0.1:9/'}}}}\n"
            );
            ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&run)));
            status(
                "analysisrun",
                &format!("run-{i}"),
                r#"{"status": {"phase": "Successful"}}"#,
            );
        }
    }
    t0
}
