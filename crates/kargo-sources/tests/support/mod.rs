//! Real components for the image and chart tests: Debian's
//! `docker-registry` (Distribution 2.8) on a loopback ephemeral port, and
//! a pusher that writes tiny images, multi-arch indexes and Helm OCI
//! charts into it with `oci-client`. A missing component panics: these
//! tests never pass by skipping.

#![allow(dead_code)]

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// bcrypt (cost 4) of [`PASSWORD`], for the registry's htpasswd file.
pub const PASSWORD_BCRYPT: &str = "$2b$04$J6Er3aBkbCY71uzeSc5gt.kNLsW2HaD4NLYnC8YGVkeFY1zycqffu";
/// The test registry user's password.
pub const PASSWORD: &str = "s3cret-pass";
/// The test registry user.
pub const USER: &str = "robot";

/// A running `docker-registry`, stopped on drop.
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

async fn v2_status(host: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(host).await.ok()?;
    s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1)?.parse().ok()
}

impl Registry {
    /// Starts a registry; with `auth`, it requires basic auth as
    /// [`USER`]/[`PASSWORD`].
    pub async fn start(auth: bool) -> Registry {
        let bin = "/usr/bin/docker-registry";
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: these tests need Debian's docker-registry \
             (apt-get install -y docker-registry; scripts/test.sh does it)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        if auth {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{USER}:{PASSWORD_BCRYPT}\n")).expect("htpasswd");
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kargo-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).expect("write config");
        let child = Command::new(bin)
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let mut reg = Registry {
            host,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(code) = v2_status(&reg.host).await {
                assert!(code == 200 || code == 401, "GET /v2/ answered {code}");
                break;
            }
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!("docker-registry exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        reg
    }

    /// Points `count` new tags (`name(i)`) at the manifest `from` points
    /// to by writing the registry's storage directly, as a push would
    /// leave it (thousands of tags in milliseconds, for benchmarks).
    pub fn bulk_tags(&self, repo: &str, from: &str, count: usize, name: impl Fn(usize) -> String) {
        let tags = self
            ._dir
            .path()
            .join("data/docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags");
        let src = tags.join(from);
        let link = std::fs::read(src.join("current/link")).expect("tag link");
        let digest = String::from_utf8_lossy(&link).into_owned();
        let (algo, hex) = digest.split_once(':').expect("digest");
        for i in 0..count {
            let dir = tags.join(name(i));
            for sub in [dir.join("current"), dir.join("index").join(algo).join(hex)] {
                std::fs::create_dir_all(&sub).expect("mkdir tag");
                std::fs::write(sub.join("link"), &link).expect("write tag link");
            }
        }
    }

    /// A pusher for this registry (with the test user when `auth`).
    pub fn pusher(&self, auth: bool) -> Pusher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::try_from(ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        })
        .expect("oci client");
        Pusher {
            client,
            auth: if auth {
                RegistryAuth::Basic(USER.into(), PASSWORD.into())
            } else {
                RegistryAuth::Anonymous
            },
            host: self.host.clone(),
        }
    }
}

/// Pushes test artifacts.
pub struct Pusher {
    client: Client,
    auth: RegistryAuth,
    host: String,
}

/// A pushed manifest.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub digest: String,
    pub size: usize,
}

impl Pusher {
    fn reference(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repo.into(), tag.into())
    }

    async fn pushed(&self, r: &Reference) -> Pushed {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(
                r,
                &self.auth,
                &[OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE],
            )
            .await
            .expect("read back manifest");
        Pushed {
            digest,
            size: bytes.len(),
        }
    }

    /// Pushes a one-layer image built at `created` for `platform`
    /// (`os/arch[/variant]`).
    pub async fn image(
        &self,
        repo: &str,
        tag: &str,
        created: &str,
        platform: &str,
        annotations: &[(&str, &str)],
    ) -> Pushed {
        let mut p = platform.split('/');
        let (os, arch, variant) = (p.next().unwrap_or(""), p.next().unwrap_or(""), p.next());
        let mut config = serde_json::json!({
            "created": created,
            "architecture": arch,
            "os": os,
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {},
        });
        if let Some(v) = variant {
            config["variant"] = v.into();
        }
        let config = Config::oci_v1(serde_json::to_vec(&config).expect("json"), None);
        let layer = ImageLayer::oci_v1(
            format!("layer of {repo}:{tag} {created} {platform}").into_bytes(),
            None,
        );
        let ann: BTreeMap<String, String> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let manifest = OciImageManifest::build(
            std::slice::from_ref(&layer),
            &config,
            (!ann.is_empty()).then_some(ann),
        );
        let r = self.reference(repo, tag);
        self.client
            .push(&r, &[layer], config, &self.auth, Some(manifest))
            .await
            .expect("push image");
        self.pushed(&r).await
    }

    /// Pushes an OCI index over already pushed manifests.
    pub async fn index(&self, repo: &str, tag: &str, entries: &[(&Pushed, &str)]) -> Pushed {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(m, platform)| {
                let mut p = platform.split('/');
                let mut plat = serde_json::json!({
                    "os": p.next().unwrap_or(""),
                    "architecture": p.next().unwrap_or(""),
                });
                if let Some(v) = p.next() {
                    plat["variant"] = v.into();
                }
                serde_json::json!({
                    "mediaType": OCI_IMAGE_MEDIA_TYPE,
                    "digest": m.digest,
                    "size": m.size,
                    "platform": plat,
                })
            })
            .collect();
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE,
            "manifests": manifests,
            "annotations": {"org.opencontainers.image.description": "multi-arch"},
        });
        let r = self.reference(repo, tag);
        self.client
            .push_manifest_raw(
                &r,
                serde_json::to_vec(&body).expect("json"),
                http::HeaderValue::from_static(OCI_IMAGE_INDEX_MEDIA_TYPE),
            )
            .await
            .expect("push index");
        self.pushed(&r).await
    }

    /// Points `tag` at the manifest that `from` points to.
    pub async fn retag(&self, repo: &str, from: &str, tag: &str) {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(
                &self.reference(repo, from),
                &self.auth,
                &[OCI_IMAGE_MEDIA_TYPE],
            )
            .await
            .expect("read manifest");
        self.client
            .push_manifest_raw(
                &self.reference(repo, tag),
                bytes,
                http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
            .expect("retag");
    }

    /// Pushes a Helm chart as Helm does (`+` in versions becomes `_`).
    pub async fn chart(&self, repo: &str, name: &str, version: &str) -> Pushed {
        let meta = serde_json::json!({"apiVersion": "v2", "name": name, "version": version});
        let config = Config::new(
            serde_json::to_vec(&meta).expect("json"),
            "application/vnd.cncf.helm.config.v1+json".into(),
            None,
        );
        let layer = ImageLayer::new(
            format!("not really a tarball: {name}-{version}").into_bytes(),
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip".into(),
            None,
        );
        let r = self.reference(repo, &version.replace('+', "_"));
        self.client
            .push(&r, &[layer], config, &self.auth, None)
            .await
            .expect("push chart");
        self.pushed(&r).await
    }
}
