//! One schema per kind, as a user meets it: `kargo install crds` prints
//! CRDs that kubectl accepts (a client-side dry run, then a real
//! server-side apply against `kargo server`, which stores
//! CustomResourceDefinitions), and
//! `kubectl explain` against a started server reads the same schemas from
//! `/openapi/v3`, descriptions included; `/openapi/v2` serves them as
//! swagger 2.0 JSON.

mod common;

use common::{ServerProc, ok};
use std::io::Write;
use std::process::Stdio;

/// Runs kubectl with `input` on stdin.
fn kubectl_stdin(s: &ServerProc, args: &[&str], input: &str) -> std::process::Output {
    let mut c = s
        .kubectl_cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl is on the machine");
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn install_crds_is_accepted_by_kubectl() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let yaml = ok(&s.kargo(&["install", "crds"]));
    let docs: Vec<serde_json::Value> = yaml
        .split("\n---\n")
        .map(|d| yaml_serde::from_str(d.trim_start_matches("---\n")).expect("a YAML document"))
        .collect();
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    for want in [
        "projects.kargo.akuity.io",
        "projectconfigs.kargo.akuity.io",
        "clusterconfigs.kargo.akuity.io",
        "warehouses.kargo.akuity.io",
        "freights.kargo.akuity.io",
        "stages.kargo.akuity.io",
        "promotions.kargo.akuity.io",
        "promotiontasks.kargo.akuity.io",
        "clusterpromotiontasks.kargo.akuity.io",
        "analysistemplates.argoproj.io",
        "clusteranalysistemplates.argoproj.io",
        "analysisruns.argoproj.io",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let dry = ok(&kubectl_stdin(
        &s,
        &["apply", "--dry-run=client", "-f", "-"],
        &yaml,
    ));
    assert_eq!(
        dry.lines()
            .filter(|l| l.ends_with("created (dry run)"))
            .count(),
        docs.len(),
        "{dry}"
    );
    // A real apply, then the stored CRD reads back with its schema. Server-side,
    // as for Argo Rollouts' CRDs on any cluster: the analysis CRDs are too
    // large for client-side apply's last-applied annotation (256 KiB).
    ok(&kubectl_stdin(
        &s,
        &["apply", "--server-side", "-f", "-"],
        &yaml,
    ));
    let stages = s.get_json(&["crd", "stages.kargo.akuity.io"]);
    let version = &stages["spec"]["versions"][0];
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    assert!(
        version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["promotionTemplate"]
            .is_object()
    );
}

#[test]
fn kubectl_explain_reads_the_schemas() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let out = ok(&s.kubectl(&["explain", "stage.spec.promotionTemplate"]));
    assert!(out.contains("GROUP:      kargo.akuity.io"), "{out}");
    assert!(out.contains("FIELD: promotionTemplate"), "{out}");
    // The Rust doc comments are the descriptions.
    assert!(
        out.contains("How Freight is promoted into the Stage"),
        "{out}"
    );
    assert!(out.contains("spec\t<Object>"), "{out}");
    assert!(out.contains("steps\t<[]Object>"), "{out}");

    let out = ok(&s.kubectl(&["explain", "warehouse.spec.subscriptions"]));
    assert!(out.contains("FIELD: subscriptions <[]Object>"), "{out}");
    for field in ["git\t<Object>", "image\t<Object>", "chart\t<Object>"] {
        assert!(out.contains(field), "{field} in {out}");
    }
    assert!(out.contains("A git repository."), "{out}");

    let out = ok(&s.kubectl(&[
        "explain",
        "warehouse.spec.subscriptions.image.imageSelectionStrategy",
    ]));
    assert!(
        out.contains("FIELD: imageSelectionStrategy <string>\nENUM:\n    SemVer\n    Lexical\n    NewestBuild\n    Digest"),
        "{out}"
    );

    // swagger 2.0 JSON with the same schema.
    let v2: serde_json::Value =
        serde_json::from_str(&ok(&s.kubectl(&["get", "--raw", "/openapi/v2"]))).unwrap();
    assert_eq!(v2["swagger"], "2.0");
    let stage = &v2["definitions"]["kargo.akuity.io.v1alpha1.Stage"];
    assert_eq!(stage["x-kubernetes-group-version-kind"][0]["kind"], "Stage");
    assert!(
        stage["properties"]["spec"]["properties"]["promotionTemplate"]["description"]
            .as_str()
            .unwrap()
            .contains("How Freight is promoted into the Stage")
    );
}
