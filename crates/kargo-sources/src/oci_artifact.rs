//! Moving OCI artifacts for the promotion steps `oci-push` (copy an image,
//! index or artifact from one reference to another, byte for byte, so the
//! destination serves the same digest) and `oci-download` (one layer of an
//! artifact to a file), over the same `oci-client` stack and loopback /
//! `http://` rules as discovery ([`crate::registry`]).
//!
//! Blobs are streamed from the source to the destination (a blob the
//! destination already has is skipped, one in the same registry is
//! mounted); manifests are copied as they are, children of an index
//! before the index, unless annotations are asked for ([`Annotations`]:
//! then the image manifests, or the index, get them merged into their
//! `annotations`, and an index names its rewritten children by their new
//! digests). References are Kargo's: `[oci://]registry/repo:tag` or
//! `@sha256:...`.

use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use reqwest::header::HeaderValue;
use serde::Deserialize;
use std::time::Duration;

use crate::image_ref::ImageRef;
use crate::registry::{MAX_METADATA_BYTES, RegistryError, is_loopback};

/// The manifest media types a copy accepts.
const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A parsed artifact reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactRef {
    /// Registry host\[:port\].
    pub registry: String,
    /// Repository inside it.
    pub repository: String,
    /// The tag, if named.
    pub tag: Option<String>,
    /// The digest, if named.
    pub digest: Option<String>,
    /// Plain HTTP (`http://` given, or a loopback registry).
    pub plain_http: bool,
}

impl ArtifactRef {
    /// Parses `[oci://|http://|https://]registry/repo(:tag|@digest)`; a
    /// reference must name a tag or a digest.
    pub fn parse(s: &str) -> Result<ArtifactRef, String> {
        let s = s.trim();
        let (rest, http) = match s.strip_prefix("http://") {
            Some(r) => (r, Some(true)),
            None => match s.strip_prefix("https://") {
                Some(r) => (r, Some(false)),
                None => (s.strip_prefix("oci://").unwrap_or(s), None),
            },
        };
        let r = ImageRef::parse(rest).map_err(|e| format!("{s:?} is not an OCI reference: {e}"))?;
        if r.tag.is_none() && r.digest.is_none() {
            return Err(format!("{s:?} must name a tag or a digest"));
        }
        Ok(ArtifactRef {
            plain_http: http.unwrap_or_else(|| is_loopback(&r.registry)),
            repository: r.repository,
            tag: r.tag,
            digest: r.digest,
            registry: r.registry,
        })
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    fn reference(&self) -> Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => self.at(d),
            (None, t) => Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                t.clone().unwrap_or_default(),
            ),
        }
    }

    fn at(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.to_string(),
        )
    }
}

/// Registry credentials: username and password (or token).
pub type Login = Option<(String, String)>;

/// Settings of one transfer.
#[derive(Clone, Debug, Default)]
pub struct Transfer {
    /// Skip TLS verification.
    pub insecure: bool,
    /// Credentials for the source.
    pub src_login: Login,
    /// Credentials for the destination.
    pub dst_login: Login,
    /// Longest one request may read without progress.
    pub read_timeout: Option<Duration>,
}

/// Annotations a copy sets, as Kargo's `oci-push` scopes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Set on an image index (keys given as `index:<key>`).
    pub index: std::collections::BTreeMap<String, String>,
    /// Set on each image manifest (keys given as `manifest:<key>` or
    /// unprefixed).
    pub manifest: std::collections::BTreeMap<String, String>,
}

impl Annotations {
    /// Splits Kargo's `annotations` by their scope prefix.
    pub fn scoped<'a>(annotations: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut a = Annotations::default();
        for (k, v) in annotations {
            if let Some(k) = k.strip_prefix("index:") {
                a.index.insert(k.to_string(), v.clone());
            } else {
                let k = k.strip_prefix("manifest:").unwrap_or(k);
                a.manifest.insert(k.to_string(), v.clone());
            }
        }
        a
    }
}

/// `bytes` (a manifest) with `annotations` merged into its
/// `annotations` object, and its `manifests` descriptors pointed at the
/// rewritten children in `children` (old digest to new digest and size).
fn rewrite_manifest(
    bytes: &[u8],
    annotations: &std::collections::BTreeMap<String, String>,
    children: &std::collections::HashMap<String, (String, usize)>,
) -> Result<Vec<u8>, String> {
    use serde_json::Value;
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object_mut().ok_or("a manifest is a JSON object")?;
    if let Some(Value::Array(ms)) = obj.get_mut("manifests") {
        for m in ms.iter_mut() {
            let Some(d) = m.get("digest").and_then(Value::as_str) else {
                continue;
            };
            if let Some((digest, size)) = children.get(d) {
                m["digest"] = Value::from(digest.clone());
                m["size"] = Value::from(*size);
            }
        }
    }
    if !annotations.is_empty() {
        let entry = obj
            .entry("annotations")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(serde_json::Map::new());
        }
        if let Some(map) = entry.as_object_mut() {
            for (k, val) in annotations {
                map.insert(k.clone(), Value::from(val.clone()));
            }
        }
    }
    serde_json::to_vec(&v).map_err(|e| e.to_string())
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

/// What a copy wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    /// `registry/repository:tag` of the destination.
    pub image: String,
    /// The digest the destination serves (the source's).
    pub digest: String,
    /// The destination's tag.
    pub tag: String,
}

fn auth(login: &Login) -> RegistryAuth {
    match login {
        Some((u, p)) if !u.is_empty() || !p.is_empty() => RegistryAuth::Basic(u.clone(), p.clone()),
        _ => RegistryAuth::Anonymous,
    }
}

fn client(refs: &[&ArtifactRef], t: &Transfer) -> Result<Client, String> {
    crate::tls::ensure_crypto_provider();
    let plain: Vec<String> = refs
        .iter()
        .filter(|r| r.plain_http)
        .map(|r| r.registry.clone())
        .collect();
    Client::try_from(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain),
        accept_invalid_certificates: t.insecure,
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(t.read_timeout.unwrap_or(Duration::from_secs(60))),
        ..ClientConfig::default()
    })
    .map_err(|e| e.to_string())
}

fn failure(r: &ArtifactRef, op: &str, e: impl std::fmt::Display, login: &Login) -> RegistryError {
    let mut message = e.to_string();
    if let Some((_, p)) = login
        && !p.is_empty()
    {
        message = message.replace(p.as_str(), "<redacted>");
    }
    RegistryError {
        repo: r.name(),
        op: op.to_string(),
        message,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

impl Manifest {
    fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not an OCI manifest: {e}"))
    }

    /// The media type to serve the manifest with.
    fn media_type(&self) -> &str {
        match &self.media_type {
            Some(t) if !t.is_empty() => t,
            _ if self.manifests.is_some() => MANIFEST_TYPES[1],
            _ => MANIFEST_TYPES[0],
        }
    }
}

struct Copier<'a> {
    client: Client,
    src: &'a ArtifactRef,
    dst: &'a ArtifactRef,
    t: &'a Transfer,
    src_auth: RegistryAuth,
}

impl Copier<'_> {
    fn src_err(&self, op: &str, e: impl std::fmt::Display) -> RegistryError {
        failure(self.src, op, e, &self.t.src_login)
    }

    fn dst_err(&self, op: &str, e: impl std::fmt::Display) -> RegistryError {
        failure(self.dst, op, e, &self.t.dst_login)
    }

    async fn manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), RegistryError> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(r, &self.src_auth, &MANIFEST_TYPES)
            .await
            .map_err(|e| self.src_err("read manifest", e))?;
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(self.src_err("read manifest", "manifest is too large"));
        }
        Ok((bytes.to_vec(), digest))
    }

    /// Copies the manifest `bytes` (and what it names) to `dst_ref` (by
    /// its digest when None), with `ann` applied; returns the digest and
    /// size of what was written (the source's when nothing changed).
    async fn copy_manifest(
        &self,
        bytes: Vec<u8>,
        dst_ref: Option<&Reference>,
        depth: usize,
        ann: &Annotations,
    ) -> Result<(String, usize), RegistryError> {
        let m = Manifest::parse(&bytes).map_err(|e| self.src_err("read manifest", e))?;
        let mut children = std::collections::HashMap::new();
        let own = if let Some(list) = &m.manifests {
            if depth > 2 {
                return Err(self.src_err("read manifest", "indexes nested too deep"));
            }
            for c in list {
                let (child, _) = self.manifest(&self.src.at(&c.digest)).await?;
                let written = Box::pin(self.copy_manifest(child, None, depth + 1, ann)).await?;
                if written.0 != c.digest {
                    children.insert(c.digest.clone(), written);
                }
            }
            &ann.index
        } else {
            for d in m.config.iter().chain(m.layers.iter()) {
                self.copy_blob(d).await?;
            }
            &ann.manifest
        };
        let bytes = if own.is_empty() && children.is_empty() {
            bytes
        } else {
            rewrite_manifest(&bytes, own, &children)
                .map_err(|e| self.src_err("annotate manifest", e))?
        };
        let digest = sha256_digest(&bytes);
        let size = bytes.len();
        let ct =
            HeaderValue::from_str(m.media_type()).map_err(|e| self.src_err("read manifest", e))?;
        let at_digest = self.dst.at(&digest);
        self.client
            .push_manifest_raw(dst_ref.unwrap_or(&at_digest), bytes, ct)
            .await
            .map_err(|e| self.dst_err("write manifest", e))?;
        Ok((digest, size))
    }

    async fn copy_blob(&self, d: &Descriptor) -> Result<(), RegistryError> {
        let dst = self.dst.at(&d.digest);
        let op = format!("copy blob {}", d.digest);
        if self
            .client
            .blob_exists(&dst, &d.digest)
            .await
            .map_err(|e| self.dst_err(&op, e))?
        {
            return Ok(());
        }
        let src = self.src.at(&d.digest);
        if self.src.registry == self.dst.registry
            && self.client.mount_blob(&dst, &src, &d.digest).await.is_ok()
            && self
                .client
                .blob_exists(&dst, &d.digest)
                .await
                .unwrap_or(false)
        {
            return Ok(());
        }
        let stream = self
            .client
            .pull_blob_stream(&src, d.digest.as_str())
            .await
            .map_err(|e| self.src_err(&op, e))?;
        let size = u64::try_from(d.size).ok().or(stream.content_length);
        let body = stream
            .stream
            .map(|r| r.map_err(oci_client::errors::OciDistributionError::from));
        self.client
            .push_blob_stream(&dst, body, &d.digest, size)
            .await
            .map_err(|e| self.dst_err(&op, e))?;
        Ok(())
    }
}

/// Copies the artifact `src` names to `dst` (which must name a tag):
/// every blob and manifest, so `dst` serves the source's digest — or,
/// with annotations, the digest of the annotated manifest.
pub async fn copy(
    src: &ArtifactRef,
    dst: &ArtifactRef,
    t: &Transfer,
    ann: &Annotations,
) -> Result<Copied, RegistryError> {
    let tag = dst
        .tag
        .clone()
        .filter(|_| dst.digest.is_none())
        .ok_or_else(|| failure(dst, "write", "the destination must name a tag", &None))?;
    let c = Copier {
        client: client(&[src, dst], t)
            .map_err(|e| failure(src, "create registry client", e, &None))?,
        src,
        dst,
        t,
        src_auth: auth(&t.src_login),
    };
    let dst_ref = dst.reference();
    c.client
        .auth(&dst_ref, &auth(&t.dst_login), RegistryOperation::Push)
        .await
        .map_err(|e| c.dst_err("authenticate", e))?;
    let (bytes, _) = c.manifest(&src.reference()).await?;
    let (digest, _) = c.copy_manifest(bytes, Some(&dst_ref), 0, ann).await?;
    Ok(Copied {
        image: format!("{}:{tag}", dst.name()),
        digest,
        tag,
    })
}

/// The layer of the image manifest `src` names with media type
/// `media_type` (the first layer when None), streamed to `out`; at most
/// `limit` bytes. Returns the layer's digest.
pub async fn pull_layer<W: tokio::io::AsyncWrite + Unpin>(
    src: &ArtifactRef,
    media_type: Option<&str>,
    t: &Transfer,
    limit: u64,
    out: &mut W,
) -> Result<String, RegistryError> {
    use tokio::io::AsyncWriteExt;
    let c = Copier {
        client: client(&[src], t).map_err(|e| failure(src, "create registry client", e, &None))?,
        src,
        dst: src,
        t,
        src_auth: auth(&t.src_login),
    };
    let (bytes, _) = c.manifest(&src.reference()).await?;
    let m = Manifest::parse(&bytes).map_err(|e| c.src_err("read manifest", e))?;
    if m.manifests.is_some() {
        return Err(c.src_err(
            "read manifest",
            "an index has no layers; name one of its manifests",
        ));
    }
    let layer = match media_type {
        Some(mt) => m.layers.iter().find(|l| l.media_type == mt),
        None => m.layers.first(),
    }
    .ok_or_else(|| {
        c.src_err(
            "find layer",
            match media_type {
                Some(mt) => format!("no layer with media type {mt:?}"),
                None => "the manifest has no layers".to_string(),
            },
        )
    })?;
    let op = format!("read layer {}", layer.digest);
    if u64::try_from(layer.size).is_ok_and(|s| s > limit) {
        return Err(c.src_err(
            &op,
            format!("layer size {} exceeds limit of {limit} bytes", layer.size),
        ));
    }
    let mut stream = c
        .client
        .pull_blob_stream(&src.at(&layer.digest), layer.digest.as_str())
        .await
        .map_err(|e| c.src_err(&op, e))?;
    let mut total = 0u64;
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    while let Some(chunk) = stream.stream.next().await {
        let chunk = chunk.map_err(|e| c.src_err(&op, e))?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(c.src_err(&op, format!("layer exceeds limit of {limit} bytes")));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(|e| c.src_err(&op, e))?;
    }
    out.flush().await.map_err(|e| c.src_err(&op, e))?;
    let got = format!("sha256:{}", hex::encode(hasher.finish()));
    if layer.digest.starts_with("sha256:") && got != layer.digest {
        return Err(c.src_err(&op, "content does not match its digest"));
    }
    Ok(layer.digest.clone())
}
