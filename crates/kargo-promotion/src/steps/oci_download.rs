//! `oci-download`: writes one layer of an OCI artifact (a Helm chart, a
//! bundle of manifests, any file pushed with ORAS) to a file, as Kargo's
//! `oci_downloader.go` does, through
//! [`kargo_sources::oci_artifact::pull_layer`].
//!
//! Config (Kargo's `OCIDownloadConfig`): `imageRef` (tag or digest),
//! `outPath`, `allowOverwrite` (default false: an existing file fails the
//! step for good), `mediaType` (the first layer of that type; default the
//! first layer), `insecureSkipTLSVerify`. The layer is streamed to a
//! temporary file beside `outPath` (mode 0600), checked against its
//! digest, then renamed over it; at most 100 MiB (Kargo's limit). Registry
//! credentials are the caller's, per repository. No outputs.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::ConfigCheck;
use super::http_download::{commit_output, create_temp, prepare_output};
use super::oci::{TAG_OR_DIGEST, check_ref, login, parse_ref, transfer};
use crate::step::{Step, StepContext, StepError, StepResult};
use kargo_sources::oci_artifact::{Transfer, pull_layer};

const NAME: &str = "oci-download";

/// Kargo's largest layer: 100 MiB.
pub const MAX_LAYER: u64 = 100 << 20;

/// Config of `oci-download`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciDownloadConfig {
    /// The artifact, with a tag or a digest.
    pub image_ref: String,
    /// The file to write.
    pub out_path: String,
    /// Replace an existing file.
    #[serde(default)]
    pub allow_overwrite: bool,
    /// Media type of the layer to take.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Skip TLS verification.
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
}

/// Checks and decodes an `oci-download` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<OciDownloadConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    c.required_string("imageRef")
        .required_string("outPath")
        .non_empty("mediaType");
    check_ref(&mut c, "imageRef", &TAG_OR_DIGEST, "a tag or digest");
    c.parse(NAME, config)
}

/// The `oci-download` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct OciDownload;

impl Step for OciDownload {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let src = parse_ref(NAME, "image reference", &cfg.image_ref)?;
        let (out, tmp) = prepare_output(NAME, ctx, &cfg.out_path, cfg.allow_overwrite)?;
        let t = Transfer {
            insecure: cfg.insecure_skip_tls_verify,
            src_login: login(ctx, &src),
            ..Transfer::default()
        };
        let fetched = create_temp(NAME, &tmp).and_then(|file| {
            let mut file = tokio::fs::File::from_std(file);
            transfer(
                NAME,
                ctx,
                pull_layer(&src, cfg.media_type.as_deref(), &t, MAX_LAYER, &mut file),
            )
            .map(|_| ())
        });
        commit_output(NAME, &tmp, &out, fetched)?;
        Ok(StepResult::succeeded(Map::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::files::fixture::{check_configs, run};
    use crate::steps::oci_push::tests::TestRegistry;
    use serde_json::json;

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_ociDownloader_validate.
        let rows: &[(&str, Value, &[&str])] = &[
            (
                "imageRef is not specified",
                json!({}),
                &["imageRef: required"],
            ),
            (
                "outPath is not specified",
                json!({}),
                &["outPath: required"],
            ),
            (
                "valid config",
                json!({"imageRef": "registry.example.com/image:tag", "outPath": "/tmp/output"}),
                &[],
            ),
            (
                "valid config with OCI protocol",
                json!({"imageRef": "oci://registry.example.com/chart:1.0.0", "outPath": "/tmp/output"}),
                &[],
            ),
            (
                "valid config with non-standard port",
                json!({"imageRef": "an.internal.registry.com:5050/myrepo/myimage:latest", "outPath": "/tmp/output"}),
                &[],
            ),
            (
                "valid config with OCI protocol and non-standard port",
                json!({"imageRef": "oci://registry.example.com:5050/chart:1.0.0", "outPath": "/tmp/output"}),
                &[],
            ),
            (
                "valid config with optional fields",
                json!({"imageRef": "registry.example.com/image:tag", "outPath": "/tmp/output", "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "allowOverwrite": true, "insecureSkipTLSVerify": true}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_ociDownloader_validate: 7 rows
        check_configs(parse, rows);
    }

    #[test]
    fn downloads_a_layer_by_media_type() -> Result<(), Box<dyn std::error::Error>> {
        // Kargo's Test_ociDownloader_prepareOutputPath and
        // _extractLayerToFile / _findTargetLayer, against a real registry.
        let reg = TestRegistry::start();
        let h = &reg.host;
        let chart = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
        reg.push_image("charts/demo", "0.1.0", chart, b"chart bytes");
        let tmp = tempfile::tempdir()?;
        let base =
            json!({"imageRef": format!("oci://{h}/charts/demo:0.1.0"), "outPath": "out/demo.tgz"});
        // "successful extraction" (the first layer), in a new directory.
        run(&OciDownload, tmp.path(), &base)?;
        assert_eq!(
            std::fs::read(tmp.path().join("out/demo.tgz"))?,
            b"chart bytes"
        );
        // "path already exists".
        let e = run(&OciDownload, tmp.path(), &base)
            .err()
            .ok_or("overwrote")?;
        assert!(
            e.terminal && e.message.contains("file already exists"),
            "{e}"
        );
        // "path already exists with overwrite allowed" + "specific media type".
        let mut cfg = base.clone();
        cfg["allowOverwrite"] = json!(true);
        cfg["mediaType"] = json!(chart);
        run(&OciDownload, tmp.path(), &cfg)?;
        // "specific media type not found": nothing is left behind.
        cfg["mediaType"] = json!("application/x-nope");
        let e = run(&OciDownload, tmp.path(), &cfg).err().ok_or("found")?;
        assert!(e.message.contains("no layer with media type"), "{e}");
        let names: Vec<String> = std::fs::read_dir(tmp.path().join("out"))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo.tgz"]);
        // "path traversal attempt".
        let mut cfg = base.clone();
        cfg["outPath"] = json!("../escape.tgz");
        let e = run(&OciDownload, tmp.path(), &cfg).err().ok_or("escaped")?;
        assert!(e.message.contains("outPath"), "{e}");
        Ok(())
    }
}
