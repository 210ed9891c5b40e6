//! `kargo server --kubeconfig`: the UI, the webhook receivers, `/metrics`
//! and the CLI's API served against a cluster's API server — here a
//! second `kargo server --disable-controllers`, reached over TCP and TLS
//! with the kubeconfig it wrote, with a `kargo controller` against it.
//! What the CLI applies through the front server lands on the cluster;
//! the UI shows what the cluster has and follows its changes; a signed
//! push to the front server's receiver sets the Warehouse's refresh
//! annotation on the cluster, whose controller then discovers the release.

mod common;

use common::cluster::ControllerProc;
use common::{ServerProc, bare_repo, ok, wait_for};

const NS: &str = "p";

fn aliases(cluster: &ServerProc) -> Vec<String> {
    cluster.get_json(&["freight", "-n", NS])["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["metadata"]["labels"]["kargo.akuity.io/alias"].as_str())
        .map(String::from)
        .collect()
}

#[test]
fn ui_receivers_metrics_and_api_served_against_a_cluster() {
    let home = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(home.path(), "app");
    let url = format!("file://{}", bare.display());
    common::tag_release(&work, "v1.0.0");
    let cluster = ServerProc::start_with(&home.path().join("cluster"), &["--disable-controllers"]);
    ok(&cluster.kargo(&["create", "project", NS]));
    let kubeconfig = cluster.kubeconfig();
    let front = ServerProc::start_with(
        &home.path().join("front"),
        &["--kubeconfig", kubeconfig.to_str().unwrap()],
    );
    // The controllers run on the cluster; receiver URLs name the front server.
    let _ctl = ControllerProc::start(
        &cluster,
        &home.path().join("ctl"),
        &["--webhook-base-url", &front.url],
    );

    // The CLI's API through the front server writes to the cluster.
    let stage = |name: &str, sources: &str| {
        format!(
            "---\nkind: Stage\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: app}}\n    sources: {sources}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: git-clone\n        config: {{repoURL: \"{url}\", checkout: [{{branch: main, path: ./src}}]}}\n"
        )
    };
    let objs = format!(
        "kind: Warehouse\nmetadata: {{name: app, namespace: {NS}}}\nspec:\n  interval: 1h\n  subscriptions:\n  - git: {{repoURL: \"{url}\", commitSelectionStrategy: SemVer}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: gh, namespace: {NS}}}\nstringData: {{secret: hush-hush}}\n---\nkind: ProjectConfig\nmetadata: {{name: {NS}, namespace: {NS}}}\nspec:\n  webhookReceivers:\n  - name: github\n    github: {{secretRef: {{name: gh}}}}\n{}{}",
        stage("dev", "{direct: true}"),
        stage("staging", "{stages: [dev]}")
    );
    ok(&front.kargo_stdin(&["apply", "-f", "-"], Some(&objs)));
    assert_eq!(
        cluster.get_json(&["stage", "staging", "-n", NS])["metadata"]["name"],
        "staging"
    );
    let listed = ok(&front.kargo(&["get", "stages", "-p", NS]));
    assert!(
        listed.contains("dev") && listed.contains("staging"),
        "{listed}"
    );
    // kubectl with the front server's kubeconfig: discovery and reads proxied.
    let kubectl = ok(&front.kubectl(&["get", "warehouses", "-n", NS, "-o", "name"]));
    assert_eq!(kubectl.trim(), "warehouse.kargo.akuity.io/app");
    wait_for("the first Freight", 40, || aliases(&cluster).len() == 1);

    // The UI reads the mirror: the Stages and the Freight the cluster has.
    let cookie = front.ui_session();
    let page = || {
        front.curl(&[
            "-H",
            &format!("Cookie: {cookie}"),
            &format!("{}/ui/projects/{NS}", front.url),
        ])
    };
    let first = aliases(&cluster).remove(0);
    wait_for("the UI to show the pipeline and the Freight", 20, || {
        let p = page();
        p.contains("data-from=\"warehouse:app\" data-to=\"stage:dev\"")
            && p.contains("data-from=\"stage:dev\" data-to=\"stage:staging\"")
            && p.contains(&first)
    });

    // /metrics reads the mirror too.
    wait_for("the Warehouse's readiness in /metrics", 20, || {
        let m = front.curl(&[
            "-H",
            &format!("Authorization: Bearer {}", front.token()),
            &format!("{}/metrics", front.url),
        ]);
        m.lines().any(|l| {
            l.starts_with("kargo_warehouse_ready{")
                && l.contains("warehouse=\"app\"")
                && l.ends_with(" 1")
        })
    });

    // The receiver: its URL names the front server; a signed push sets
    // the refresh annotation on the cluster's Warehouse.
    let hook = cluster.receiver_url(NS);
    assert!(
        hook.starts_with(&format!("{}/webhooks/github/", front.url)),
        "{hook}"
    );
    let refresh = || {
        cluster.get_json(&["warehouse", "app", "-n", NS])["metadata"]["annotations"]
            ["kargo.akuity.io/refresh"]
            .clone()
    };
    let before = refresh();
    common::tag_release(&work, "v1.1.0");
    let payload =
        format!(r#"{{"ref": "refs/tags/v1.1.0", "repository": {{"clone_url": "{url}"}}}}"#);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"hush-hush");
    let sig: String = ring::hmac::sign(&key, payload.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let answer = front.curl(&[
        "-H",
        "Content-Type: application/json",
        "-H",
        "X-GitHub-Event: push",
        "-H",
        &format!("X-Hub-Signature-256: sha256={sig}"),
        "--data-binary",
        &payload,
        &hook,
    ]);
    assert!(answer.contains(" 200"), "{answer}");
    assert!(answer.contains("refreshed 1 warehouse(s): app"), "{answer}");
    let after = refresh();
    assert!(after.is_string() && after != before, "{before} -> {after}");
    // The cluster's controller discovers v1.1.0; the UI shows it.
    wait_for("the Freight for v1.1.0", 40, || {
        aliases(&cluster).len() == 2
    });
    let second = aliases(&cluster).into_iter().find(|a| *a != first).unwrap();
    wait_for("the UI to show the new Freight", 20, || {
        page().contains(&second)
    });
}
