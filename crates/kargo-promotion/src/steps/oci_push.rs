//! `oci-push`: copies an image, image index or OCI artifact (a Helm chart
//! with `oci://`) from one reference to another, as Kargo's
//! `oci_pusher.go` does, through [`kargo_sources::oci_artifact::copy`]:
//! every blob and manifest, so the destination serves the source's digest.
//! A retag in place is the same repository with a new tag.
//!
//! Config (Kargo's `OCIPushConfig`): `srcRef` (tag or digest), `destRef`
//! (a tag), `insecureSkipTLSVerify`, `annotations` (merged into the
//! destination's manifests as Kargo scopes them: `index:<key>` on an image
//! index, `manifest:<key>` or an unprefixed key on each image manifest;
//! `index:` keys are ignored for a single image; the destination then
//! serves the annotated manifest's digest). Registry credentials are the
//! caller's, per repository. Outputs: `image` (`registry/repo:tag`),
//! `digest`, `tag`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::files::ConfigCheck;
use super::oci::{TAG_OR_DIGEST, WITH_TAG, check_ref, login, parse_ref, transfer};
use crate::step::{Step, StepContext, StepError, StepResult};
use kargo_sources::oci_artifact::{Annotations, Transfer, copy};

const NAME: &str = "oci-push";

/// Config of `oci-push`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciPushConfig {
    /// The source, with a tag or a digest.
    pub src_ref: String,
    /// The destination, with a tag.
    pub dest_ref: String,
    /// Annotations for the destination manifest.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Skip TLS verification.
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
}

/// Checks and decodes an `oci-push` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<OciPushConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    c.required_string("srcRef").required_string("destRef");
    check_ref(&mut c, "srcRef", &TAG_OR_DIGEST, "a tag or digest");
    check_ref(&mut c, "destRef", &WITH_TAG, "a tag");
    c.parse(NAME, config)
}

/// The `oci-push` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct OciPush;

impl Step for OciPush {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let src = parse_ref(NAME, "source reference", &cfg.src_ref)?;
        let dst = parse_ref(NAME, "destination reference", &cfg.dest_ref)?;
        let t = Transfer {
            insecure: cfg.insecure_skip_tls_verify,
            src_login: login(ctx, &src),
            dst_login: login(ctx, &dst),
            read_timeout: None,
        };
        let ann = Annotations::scoped(&cfg.annotations);
        let copied = transfer(NAME, ctx, copy(&src, &dst, &t, &ann))?;
        Ok(StepResult::succeeded(Map::from_iter([
            ("image".to_string(), json!(copied.image)),
            ("digest".to_string(), json!(copied.digest)),
            ("tag".to_string(), json!(copied.tag)),
        ])))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::steps::files::fixture::{check_configs, run};
    use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
    use oci_client::manifest::OciImageManifest;
    use oci_client::secrets::RegistryAuth;
    use oci_client::{Client, Reference};
    use std::process::{Child, Command, Stdio};

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_ociPusher_validate.
        let rows: &[(&str, Value, &[&str])] = &[
            ("srcRef is not specified", json!({}), &["srcRef: required"]),
            (
                "destRef is not specified",
                json!({}),
                &["destRef: required"],
            ),
            (
                "valid minimal config",
                json!({"srcRef": "registry.example.com/image:tag", "destRef": "registry.example.com/image:newtag"}),
                &[],
            ),
            (
                "valid config with OCI protocol",
                json!({"srcRef": "oci://registry.example.com/chart:1.0.0", "destRef": "oci://registry.example.com/chart:2.0.0"}),
                &[],
            ),
            (
                "valid config with non-standard port",
                json!({"srcRef": "an.internal.registry.com:5050/myrepo/myimage:latest", "destRef": "an.internal.registry.com:5050/myrepo/myimage:newtag"}),
                &[],
            ),
            (
                "valid config with OCI protocol and non-standard port",
                json!({"srcRef": "oci://registry.example.com:5050/chart:1.0.0", "destRef": "oci://registry.example.com:5050/chart:2.0.0"}),
                &[],
            ),
            (
                "valid config with all optional fields",
                json!({"srcRef": "registry.example.com/image:tag", "destRef": "registry.example.com/image:newtag", "insecureSkipTLSVerify": true, "annotations": {"org.opencontainers.image.source": "https://github.com/example/repo"}}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_ociPusher_validate: 7 rows
        check_configs(parse, rows);
        check_configs(
            parse,
            &[(
                "a destination by digest",
                json!({"srcRef": "r.example.com/a:1", "destRef": "r.example.com/a@sha256:00"}),
                &["destRef: \"r.example.com/a@sha256:00\" is not a reference with a tag"],
            )],
        );
    }

    /// A running `docker-registry` (Debian's Distribution 2.8) on a
    /// loopback port, stopped on drop.
    pub(crate) struct TestRegistry {
        pub host: String,
        child: Child,
        _dir: tempfile::TempDir,
    }

    impl Drop for TestRegistry {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl TestRegistry {
        pub(crate) fn start() -> TestRegistry {
            let bin = "/usr/bin/docker-registry";
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: apt-get install -y docker-registry"
            );
            let dir = tempfile::tempdir().expect("tempdir");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let host = format!("127.0.0.1:{port}");
            let cfg = dir.path().join("config.yml");
            std::fs::write(
                &cfg,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
                    dir.path().join("data").display()
                ),
            )
            .expect("config");
            let child = Command::new(bin)
                .arg("serve")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start docker-registry");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while std::net::TcpStream::connect(&host).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "registry did not start"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            TestRegistry {
                host,
                child,
                _dir: dir,
            }
        }

        fn client() -> Client {
            kargo_sources::ensure_crypto_provider();
            Client::try_from(ClientConfig {
                protocol: ClientProtocol::Http,
                ..ClientConfig::default()
            })
            .expect("client")
        }

        /// Pushes a one-layer image (layer media type `layer_type`,
        /// contents `layer`) as `repo:tag`; returns its digest.
        pub(crate) fn push_image(
            &self,
            repo: &str,
            tag: &str,
            layer_type: &str,
            layer: &[u8],
        ) -> String {
            let r = Reference::with_tag(self.host.clone(), repo.into(), tag.into());
            rt().block_on(async {
                let c = Self::client();
                let config =
                    Config::oci_v1(br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), None);
                let layer = ImageLayer::new(layer.to_vec(), layer_type.to_string(), None);
                let manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
                c.push(
                    &r,
                    &[layer],
                    config,
                    &RegistryAuth::Anonymous,
                    Some(manifest),
                )
                .await
                .expect("push image");
                self.digest_of(&c, &r).await
            })
        }

        /// Pushes an OCI index over `children` (digest, size) as `repo:tag`.
        fn push_index(&self, repo: &str, tag: &str, children: &[(String, usize)]) -> String {
            let r = Reference::with_tag(self.host.clone(), repo.into(), tag.into());
            let body = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": children.iter().map(|(d, s)| json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": d, "size": s,
                    "platform": {"os": "linux", "architecture": "amd64"},
                })).collect::<Vec<_>>(),
            });
            rt().block_on(async {
                let c = Self::client();
                c.push_manifest_raw(
                    &r,
                    serde_json::to_vec(&body).expect("json"),
                    "application/vnd.oci.image.index.v1+json"
                        .parse()
                        .expect("header"),
                )
                .await
                .expect("push index");
                self.digest_of(&c, &r).await
            })
        }

        async fn digest_of(&self, c: &Client, r: &Reference) -> String {
            c.pull_manifest_raw(
                r,
                &RegistryAuth::Anonymous,
                &[
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.oci.image.index.v1+json",
                ],
            )
            .await
            .expect("read back")
            .1
        }

        /// The digest `repo:tag` serves, and the size of its manifest.
        pub(crate) fn serves(&self, repo: &str, tag: &str) -> Option<(String, usize)> {
            self.pull(&format!(":{tag}"), repo)
                .map(|(b, d)| (d, b.len()))
        }

        /// The manifest `repo` serves at `at` (`:tag` or `@digest`) and
        /// its digest.
        fn pull(&self, at: &str, repo: &str) -> Option<(Vec<u8>, String)> {
            let r: Reference = format!("{}/{repo}{at}", self.host).parse().ok()?;
            rt().block_on(async {
                Self::client()
                    .pull_manifest_raw(
                        &r,
                        &RegistryAuth::Anonymous,
                        &[
                            "application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.oci.image.index.v1+json",
                        ],
                    )
                    .await
                    .ok()
                    .map(|(b, d)| (b.to_vec(), d))
            })
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// A row of Kargo's `Test_ociPusher_run`: name, config, then the
    /// digest, repository and tag served, or a part of the error.
    type Row = (
        &'static str,
        Value,
        Result<(String, &'static str, &'static str), &'static str>,
    );

    #[test]
    fn upstream_run_rows() -> Result<(), Box<dyn std::error::Error>> {
        // Kargo's Test_ociPusher_run: 10 rows, 7 here; its 3 annotation
        // rows are in `upstream_annotation_rows`.
        let reg = TestRegistry::start();
        let h = &reg.host;
        let layer = "application/vnd.oci.image.layer.v1.tar";
        let src = reg.push_image("src/app", "v1.0.0", layer, b"layer one");
        let (_, size) = reg.serves("src/app", "v1.0.0").ok_or("no v1.0.0")?;
        let other = reg.push_image("src/app", "v1.0.1", layer, b"layer two");
        let (_, other_size) = reg.serves("src/app", "v1.0.1").ok_or("no v1.0.1")?;
        let index = reg.push_index(
            "src/app",
            "multi",
            &[(src.clone(), size), (other, other_size)],
        );
        let tmp = tempfile::tempdir()?;
        let rows: Vec<Row> = vec![
            (
                "push single image to new tag",
                json!({"srcRef": format!("{h}/src/app:v1.0.0"), "destRef": format!("{h}/src/app:prod")}),
                Ok((src.clone(), "src/app", "prod")),
            ),
            (
                "push image by digest",
                json!({"srcRef": format!("{h}/src/app@{src}"), "destRef": format!("{h}/src/app:by-digest")}),
                Ok((src.clone(), "src/app", "by-digest")),
            ),
            (
                "push image index",
                json!({"srcRef": format!("{h}/src/app:multi"), "destRef": format!("{h}/dst/app:multi")}),
                Ok((index.clone(), "dst/app", "multi")),
            ),
            (
                "cross-repo push",
                json!({"srcRef": format!("oci://{h}/src/app:v1.0.0"), "destRef": format!("oci://{h}/other/app:v1.0.0")}),
                Ok((src.clone(), "other/app", "v1.0.0")),
            ),
            (
                "source not found",
                json!({"srcRef": format!("{h}/src/app:missing"), "destRef": format!("{h}/src/app:x")}),
                Err("read manifest"),
            ),
            (
                "invalid source reference",
                json!({"srcRef": "INVALID:::ref", "destRef": format!("{h}/src/app:x")}),
                Err("failed to parse source reference"),
            ),
            (
                "invalid destination reference",
                json!({"srcRef": format!("{h}/src/app:v1.0.0"), "destRef": "INVALID:::ref"}),
                // Kargo's row calls run() past the schema; here the
                // schema's pattern refuses the reference first.
                Err("destRef: \"INVALID:::ref\" is not a reference with a tag"),
            ),
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_ociPusher_run: 10 rows, 7 ported
        for (name, cfg, want) in rows {
            let got = run(&OciPush, tmp.path(), &cfg);
            match want {
                Ok((digest, repo, tag)) => {
                    let res = got.map_err(|e| format!("{name}: {e}"))?;
                    assert_eq!(res.outputs["digest"], json!(digest), "{name}");
                    assert_eq!(res.outputs["tag"], json!(tag), "{name}");
                    assert_eq!(
                        res.outputs["image"],
                        json!(format!("{h}/{repo}:{tag}")),
                        "{name}"
                    );
                    let (served, _) = reg.serves(repo, tag).ok_or(format!("{name}: not served"))?;
                    assert_eq!(served, digest, "{name}");
                }
                Err(part) => {
                    let e = got.err().ok_or(format!("{name}: succeeded"))?;
                    assert!(e.message.contains(part), "{name}: {e}");
                }
            }
        }
        Ok(())
    }

    /// The manifest `repo` serves at `reference`, as JSON.
    fn manifest_json(reg: &TestRegistry, repo: &str, reference: &str) -> Value {
        reg.pull(reference, repo)
            .and_then(|(b, _)| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }

    #[test]
    fn upstream_annotation_rows() -> Result<(), Box<dyn std::error::Error>> {
        let reg = TestRegistry::start();
        let h = &reg.host;
        let layer = "application/vnd.oci.image.layer.v1.tar";
        let src = reg.push_image("src/app", "v1.0.0", layer, b"layer one");
        let (_, size) = reg.serves("src/app", "v1.0.0").ok_or("no v1.0.0")?;
        let other = reg.push_image("src/app", "v1.0.1", layer, b"layer two");
        let (_, other_size) = reg.serves("src/app", "v1.0.1").ok_or("no v1.0.1")?;
        reg.push_index(
            "src/app",
            "multi",
            &[(src.clone(), size), (other, other_size)],
        );
        let tmp = tempfile::tempdir()?;
        let ann = |m: &Value, k: &str| m["annotations"][k].as_str().map(str::to_string);
        // (name, srcRef tag, destRef tag, annotations)
        let rows = [
            (
                "push with annotations",
                "v1.0.0",
                "annotated",
                json!({"org.opencontainers.image.source": "https://github.com/example", "index:ignored": "x"}),
            ),
            (
                "push index with unprefixed annotations goes to child manifests",
                "multi",
                "multi-annotated",
                json!({"io.kargo.test": "true"}),
            ),
            (
                "push index with scoped annotations",
                "multi",
                "multi-scoped",
                json!({"index:io.kargo.index-only": "idx", "manifest:io.kargo.manifest-only": "mfst", "io.kargo.default": "both"}),
            ),
        ];
        assert_eq!(rows.len(), 3); // Kargo's Test_ociPusher_run: its 3 annotation rows
        for (name, from, to, annotations) in rows {
            let res = run(
                &OciPush,
                tmp.path(),
                &json!({"srcRef": format!("{h}/src/app:{from}"), "destRef": format!("{h}/dst/app:{to}"), "annotations": annotations}),
            )
            .map_err(|e| format!("{name}: {e}"))?;
            let (served, _) = reg
                .serves("dst/app", to)
                .ok_or(format!("{name}: not served"))?;
            assert_eq!(res.outputs["digest"], json!(served), "{name}");
            let top = manifest_json(&reg, "dst/app", &format!(":{to}"));
            let children: Vec<String> = top["manifests"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d["digest"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            match name {
                "push with annotations" => {
                    assert_ne!(served, src, "{name}: the manifest changed");
                    assert_eq!(
                        ann(&top, "org.opencontainers.image.source").as_deref(),
                        Some("https://github.com/example")
                    );
                    assert_eq!(ann(&top, "ignored"), None, "{name}");
                    assert_eq!(ann(&top, "index:ignored"), None, "{name}");
                }
                "push index with unprefixed annotations goes to child manifests" => {
                    assert_eq!(ann(&top, "io.kargo.test"), None, "{name}");
                    assert_eq!(children.len(), 2, "{name}");
                    for d in &children {
                        let m = manifest_json(&reg, "dst/app", &format!("@{d}"));
                        assert_eq!(ann(&m, "io.kargo.test").as_deref(), Some("true"), "{name}");
                    }
                }
                _ => {
                    assert_eq!(ann(&top, "io.kargo.index-only").as_deref(), Some("idx"));
                    assert_eq!(ann(&top, "io.kargo.manifest-only"), None);
                    assert_eq!(ann(&top, "io.kargo.default"), None);
                    assert_eq!(children.len(), 2, "{name}");
                    for d in &children {
                        let m = manifest_json(&reg, "dst/app", &format!("@{d}"));
                        assert_eq!(ann(&m, "io.kargo.manifest-only").as_deref(), Some("mfst"));
                        assert_eq!(ann(&m, "io.kargo.default").as_deref(), Some("both"));
                        assert_eq!(ann(&m, "io.kargo.index-only"), None);
                    }
                }
            }
        }
        Ok(())
    }
}
