//! `oci-push` in a real Promotion through `kargo server`: the Freight's
//! image, in Debian's `docker-registry` (which asks for credentials), is
//! pushed under a new tag with the Project's image credentials; the
//! registry then serves the new tag with the same digest. A second push
//! with `annotations` serves an annotated manifest under its own digest.

mod common;
#[path = "../../kargo-sources/tests/support/mod.rs"]
mod registry;

use common::{ServerProc, ok};
use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;

const PROJECT: &str = "ship";

fn pipeline(host: &str) -> String {
    format!(
        r#"
kind: Warehouse
metadata: {{name: app, namespace: ship}}
spec:
  subscriptions:
  - image: {{repoURL: {host}/app}}
---
kind: Freight
metadata: {{namespace: ship, labels: {{kargo.akuity.io/alias: quick-fox}}}}
origin: {{kind: Warehouse, name: app}}
images: [{{repoURL: {host}/app, tag: 1.4.0}}]
---
kind: Stage
metadata: {{name: prod, namespace: ship}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      vars: [{{name: src, value: "{host}/app:${{{{ imageFrom('{host}/app').Tag }}}}"}}]
      steps:
      - uses: oci-push
        as: pushed
        config: {{srcRef: "${{{{ vars.src }}}}", destRef: "{host}/app:prod"}}
      - uses: oci-push
        as: annotated
        config:
          srcRef: "${{{{ vars.src }}}}"
          destRef: "oci://{host}/release/app:prod"
          annotations: {{org.opencontainers.image.source: "https://example.com/app"}}
"#
    )
}

/// The digest and manifest `host/repo:tag` serves.
async fn served(host: &str, repo: &str, tag: &str) -> (String, serde_json::Value) {
    let c = oci_client::Client::try_from(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    })
    .expect("client");
    let r = Reference::with_tag(host.to_string(), repo.to_string(), tag.to_string());
    let auth = RegistryAuth::Basic(registry::USER.into(), registry::PASSWORD.into());
    let (bytes, digest) = c
        .pull_manifest_raw(
            &r,
            &auth,
            &[
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.index.v1+json",
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{host}/{repo}:{tag} is not served: {e}"));
    (
        digest,
        serde_json::from_slice(&bytes).expect("manifest JSON"),
    )
}

#[test]
fn a_promotion_pushes_the_image_under_a_new_tag() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let reg = rt.block_on(registry::Registry::start(true));
    let host = reg.host.clone();
    let pushed = rt.block_on(reg.pusher(true).image(
        "app",
        "1.4.0",
        "2026-01-02T03:04:05Z",
        "linux/amd64",
        &[],
    ));

    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", PROJECT]));
    ok(&s.kargo(&[
        "create",
        "repo-credentials",
        "--project",
        PROJECT,
        "registry",
        "--image",
        "--repo-url",
        &format!("^{}/.*$", regex_escape(&host)),
        "--regex",
        "--username",
        registry::USER,
        "--password",
        registry::PASSWORD,
    ]));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&pipeline(&host))));
    ok(&s.promote_wait(PROJECT, "prod", "quick-fox"));

    // The new tag serves the source's digest.
    let (digest, _) = rt.block_on(served(&host, "app", "prod"));
    assert_eq!(digest, pushed.digest);
    // The annotated copy serves its own digest, with the annotation.
    let (annotated, manifest) = rt.block_on(served(&host, "release/app", "prod"));
    assert_ne!(annotated, pushed.digest);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "https://example.com/app"
    );

    // The outputs Kargo's oci-push records.
    let promos = s.get_json(&["promotions", "-n", PROJECT]);
    let promo = &promos["items"][0];
    assert_eq!(promo["status"]["phase"], "Succeeded", "{promo}");
    let out = &promo["status"]["state"]["outputs"];
    assert_eq!(out["pushed"]["digest"], pushed.digest.as_str(), "{promo}");
    assert_eq!(out["pushed"]["tag"], "prod");
    assert_eq!(out["pushed"]["image"], format!("{host}/app:prod"));
    assert_eq!(out["annotated"]["digest"], annotated.as_str());
    assert_eq!(
        out["annotated"]["image"],
        format!("{host}/release/app:prod")
    );
}

/// `s` with the regular-expression metacharacters of a host escaped.
fn regex_escape(s: &str) -> String {
    s.replace('.', "\\.")
}
