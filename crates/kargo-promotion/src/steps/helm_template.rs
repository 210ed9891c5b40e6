//! `helm-template`: Kargo's `helm_template_runner.go`. Kargo renders the
//! chart with Helm as a Go library; no Rust one exists, so this step runs
//! `helm template` from a `helm` binary: `KARGO_HELM_BINARY` (a path) when
//! the server has it set, else `helm` on `PATH`. Every config field maps
//! to a flag ([`args`]); the output is written as Kargo writes it.
//!
//! Config (Kargo's `HelmTemplateConfig`): `path`, `outPath`, `outLayout`
//! (`helm`, the default, or `flat`), `releaseName`, `useReleaseName`,
//! `namespace` (default: the Project), `valuesFiles`,
//! `ignoreMissingValueFiles`, `setValues[] {key, value, literal}`,
//! `buildDependencies` (natively, as `helm-update-chart` fetches: the
//! locked versions, or an update without a lock), `includeCRDs`,
//! `disableHooks`, `skipTests`, `kubeVersion`, `apiVersions`.
//!
//! Output: an `outPath` ending in `.yaml`/`.yml` gets `helm template`'s
//! stream (the manifests, then each hook as `---\n# Source: <path>\n...`,
//! exactly what Kargo writes); otherwise with `outLayout: helm` Helm
//! writes one file per template under `outPath/<chart or release
//! name>/...` (`--output-dir`), and with `flat` every resource goes to
//! its own file in `outPath`, named `[group-]kind[-namespace]-name.yaml`
//! (lower case, dots of the group as `_`; `resource-0.yaml` when a
//! document has no kind or name). No outputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::ConfigCheck;
use super::tools;
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "helm-template";

/// The environment variable naming the `helm` binary to run.
pub const HELM_BINARY_ENV: &str = "KARGO_HELM_BINARY";

/// Config of `helm-template`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmTemplateConfig {
    /// The chart's directory.
    pub path: String,
    /// A `.yaml`/`.yml` file, or a directory.
    pub out_path: String,
    /// `helm` or `flat`.
    #[serde(default)]
    pub out_layout: Option<OutLayout>,
    /// The release name.
    pub release_name: String,
    /// Name the output directory after the release, not the chart.
    #[serde(default)]
    pub use_release_name: bool,
    /// The namespace (default: the Project).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Values files, relative to the work directory, in order.
    #[serde(default)]
    pub values_files: Vec<String>,
    /// Skip values files that do not exist.
    #[serde(default)]
    pub ignore_missing_value_files: bool,
    /// `--set` / `--set-literal` values.
    #[serde(default)]
    pub set_values: Vec<SetValue>,
    /// Fetch the chart's dependencies first.
    #[serde(default)]
    pub build_dependencies: bool,
    /// Render CRDs too.
    #[serde(rename = "includeCRDs", default)]
    pub include_crds: bool,
    /// Leave hooks out.
    #[serde(default)]
    pub disable_hooks: bool,
    /// Leave test hooks out.
    #[serde(default)]
    pub skip_tests: bool,
    /// `Capabilities.KubeVersion`.
    #[serde(default)]
    pub kube_version: Option<String>,
    /// `Capabilities.APIVersions`.
    #[serde(default)]
    pub api_versions: Vec<String>,
}

/// How a directory `outPath` is laid out.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutLayout {
    /// One file per template, as `helm template --output-dir`.
    #[default]
    Helm,
    /// One file per resource.
    Flat,
}

/// One entry of `setValues`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SetValue {
    /// The key (`image.tag`).
    pub key: String,
    /// The value.
    pub value: String,
    /// `--set-literal` instead of `--set`.
    #[serde(default)]
    pub literal: bool,
}

/// Checks and decodes a `helm-template` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<HelmTemplateConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    c.required_string("outPath")
        .required_string("path")
        .required_string("releaseName")
        .items("setValues", &["key"], &["value"]);
    for field in ["valuesFiles", "apiVersions"] {
        if let Some(Value::Array(items)) = c.get(field) {
            for (i, v) in items.iter().enumerate() {
                if v.as_str() == Some("") {
                    c.problem(format!("{field}[{i}]: must not be empty"));
                }
            }
        }
    }
    if let Some(v) = c.get("kubeVersion").and_then(Value::as_str)
        && !v.is_empty()
        && kargo_expr::parse_version(v, false).is_none()
    {
        c.problem(format!(
            "kubeVersion: failed to parse Kubernetes version {v:?}"
        ));
    }
    if let Some(l) = c.get("outLayout").and_then(Value::as_str)
        && !matches!(l, "helm" | "flat")
    {
        c.problem(format!(
            "outLayout: {l:?}: outLayout must be one of the following: \"helm\", \"flat\""
        ));
    }
    c.parse(NAME, config)
}

/// Whether `outPath` names one file (Kargo's `outPathIsFile`).
fn out_path_is_file(out_path: &str) -> bool {
    matches!(
        Path::new(out_path).extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// The `helm` binary to run: `KARGO_HELM_BINARY`, else `helm` on `PATH`.
pub fn helm_binary() -> Result<PathBuf, String> {
    find_helm(std::env::var_os(HELM_BINARY_ENV))
}

/// The `helm` binary: `configured` (the value of `KARGO_HELM_BINARY`)
/// when set, else `helm` on `PATH`; an error naming what is missing.
pub fn find_helm(configured: Option<std::ffi::OsString>) -> Result<PathBuf, String> {
    match configured.filter(|v| !v.is_empty()) {
        Some(p) => {
            let shown = p.to_string_lossy().into_owned();
            tools::find(&shown)
                .ok_or_else(|| format!("{HELM_BINARY_ENV}={shown:?} is not an executable file"))
        }
        None => tools::find("helm").ok_or_else(|| {
            format!(
                "no `helm` binary: none on the server's PATH and {HELM_BINARY_ENV} is not set; \
                 install Helm 3 on the server or point {HELM_BINARY_ENV} at it"
            )
        }),
    }
}

/// The arguments of `helm template` for `cfg`: the chart at `chart`,
/// values files already resolved (`values`), `namespace` defaulted and
/// `output_dir` set for the `helm` layout.
pub fn args(
    cfg: &HelmTemplateConfig,
    chart: &Path,
    values: &[PathBuf],
    namespace: &str,
    output_dir: Option<&Path>,
) -> Vec<String> {
    let mut a = vec![
        "template".to_string(),
        cfg.release_name.clone(),
        chart.display().to_string(),
        "--namespace".into(),
        namespace.to_string(),
    ];
    for v in values {
        a.push("--values".into());
        a.push(v.display().to_string());
    }
    for s in &cfg.set_values {
        a.push(if s.literal { "--set-literal" } else { "--set" }.into());
        a.push(format!("{}={}", s.key, s.value));
    }
    if cfg.include_crds {
        a.push("--include-crds".into());
    }
    if cfg.disable_hooks {
        a.push("--no-hooks".into());
    }
    if cfg.skip_tests {
        a.push("--skip-tests".into());
    }
    if let Some(v) = cfg.kube_version.as_deref().filter(|v| !v.is_empty()) {
        a.push("--kube-version".into());
        a.push(v.to_string());
    }
    for v in &cfg.api_versions {
        a.push("--api-versions".into());
        a.push(v.clone());
    }
    if cfg.use_release_name {
        a.push("--release-name".into());
    }
    if let Some(d) = output_dir {
        a.push("--output-dir".into());
        a.push(d.display().to_string());
    }
    a
}

/// The `helm-template` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct HelmTemplate;

impl Step for HelmTemplate {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let helm = helm_binary().map_err(|e| StepError::terminal(NAME, e))?;
        render(ctx, &cfg, &helm)
    }
}

/// Renders the chart `cfg` names with the `helm` binary `helm` and
/// writes the output.
pub fn render(
    ctx: &StepContext<'_>,
    cfg: &HelmTemplateConfig,
    helm: &Path,
) -> Result<StepResult, StepError> {
    let retryable = |m: String| StepError::retryable(NAME, m);
    let mut values = Vec::new();
    for (i, v) in cfg.values_files.iter().enumerate() {
        let p = ctx.resolve(NAME, &format!("valuesFiles[{i}]"), v)?;
        if cfg.ignore_missing_value_files && !p.exists() {
            continue;
        }
        if !p.is_file() {
            return Err(retryable(format!(
                "failed to compose values: valuesFiles[{i}]: {v:?}: no such file or directory"
            )));
        }
        values.push(p);
    }
    let chart = ctx.resolve(NAME, "path", &cfg.path)?;
    if cfg.build_dependencies {
        let text = super::yaml_update::read_file(NAME, &chart.join("Chart.yaml"), &cfg.path)?;
        let deps = super::helm_deps::chart_dependencies(&text)
            .map_err(|e| StepError::terminal(NAME, e))?;
        super::helm_deps::build(NAME, ctx, &chart, &deps).map_err(|e| StepError {
            message: format!("failed to build chart dependencies: {}", e.message),
            ..e
        })?;
    }
    let out = ctx.resolve(NAME, "outPath", &cfg.out_path)?;
    let is_file = out_path_is_file(&cfg.out_path);
    let layout = cfg.out_layout.unwrap_or_default();
    let namespace = cfg
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| ctx.promotion.project.clone());
    let output_dir = (!is_file && layout == OutLayout::Helm).then_some(out.as_path());

    // Helm's own files (cache, config, data) in a private directory,
    // as Kargo keeps none.
    let home = super::files::temp_path(&std::env::temp_dir(), "kargo-helm-");
    std::fs::create_dir_all(&home).map_err(|e| retryable(format!("creating a Helm home: {e}")))?;
    let mut cmd = Command::new(helm);
    cmd.args(args(cfg, &chart, &values, &namespace, output_dir))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    let rendered = tools::run(NAME, ctx, cmd, "helm template");
    let _ = std::fs::remove_dir_all(&home);
    let rendered =
        String::from_utf8(rendered?).map_err(|e| retryable(format!("helm template: {e}")))?;

    let failed = |e: String| retryable(format!("failed to write rendered chart: {e}"));
    if is_file {
        if let Some(parent) = out.parent() {
            mkdir(parent).map_err(|e| failed(e.to_string()))?;
        }
        write(&out, rendered.as_bytes()).map_err(|e| failed(e.to_string()))?;
    } else if layout == OutLayout::Flat {
        let files = flat_files(&rendered).map_err(failed)?;
        if !files.is_empty() {
            mkdir(&out).map_err(|e| failed(e.to_string()))?;
        }
        for (name, body) in files {
            write(&out.join(name), body.as_bytes()).map_err(|e| failed(e.to_string()))?;
        }
    }
    Ok(StepResult::succeeded(Map::new()))
}

/// Kargo's `writeResourcesFlat` over the rendered stream: each YAML
/// document (split at `---` lines), trimmed, under its generated name.
pub fn flat_files(rendered: &str) -> Result<Vec<(String, String)>, String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in rendered.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!(
                    "failed to read YAML document: invalid separator {line:?}"
                ));
            }
            docs.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push_str(line);
    }
    docs.push(cur);
    let mut files = Vec::new();
    for doc in docs {
        let resource = doc.trim();
        if resource.is_empty() {
            continue;
        }
        // Kargo's counter never moves past 0.
        let name = resource_filename(resource).unwrap_or_else(|| "resource-0.yaml".into());
        super::kustomize_build::check_file_name(&name)?;
        files.push((name, resource.to_string()));
    }
    Ok(files)
}

/// Kargo's `generateResourceFilename`: `[group-]kind[-namespace]-name.yaml`,
/// lower case, the group's dots as `_`; None without a kind or a name.
pub fn resource_filename(resource: &str) -> Option<String> {
    let v: Value = yaml_serde::from_str(resource).ok()?;
    let s = |p: &[&str]| -> String {
        let mut x = &v;
        for k in p {
            match x.get(k) {
                Some(y) => x = y,
                None => return String::new(),
            }
        }
        x.as_str().unwrap_or_default().to_string()
    };
    let (api, kind) = (s(&["apiVersion"]), s(&["kind"]));
    let (namespace, name) = (s(&["metadata", "namespace"]), s(&["metadata", "name"]));
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    let mut file = kind;
    if let Some((group, _)) = api.rsplit_once('/') {
        file = format!("{}-{file}", group.replace('.', "_"));
    }
    if !namespace.is_empty() {
        file = format!("{file}-{namespace}");
    }
    Some(format!("{file}-{name}.yaml").to_lowercase())
}

fn mkdir(p: &Path) -> std::io::Result<()> {
    super::files::mkdir_mode(p, 0o700)
}

fn write(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    super::files::write_mode(p, bytes, 0o600)
}

#[cfg(test)]
mod tests;
