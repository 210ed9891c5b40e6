//! `kustomize-build`: renders a kustomization, as Kargo's
//! `kustomize_builder.go` does, through a `kustomize` binary on `PATH`
//! (`kustomize build`) or else `kubectl kustomize` (kubectl embeds
//! Kustomize). Kargo links Kustomize as a Go library; no Rust one exists.
//!
//! Config (Kargo's `KustomizeBuildConfig`): `path` (the kustomization's
//! directory), `outPath`, `outputFormat` (`kargo`, the default, or
//! `kustomize`), `plugin.helm.{apiVersions, kubeVersion}`. As in Kargo the
//! Helm chart inflator is on (`--enable-helm`, `helm` from `PATH`).
//!
//! Output, as Kargo writes it: an `outPath` ending in `.yaml`/`.yml` gets
//! the whole stream (Kustomize's own text); any other `outPath` is a
//! directory with one file per resource, named `[namespace-]kind-name.yaml`
//! (`kargo`) or `[namespace_]group_version_kind_name.yaml` (`kustomize`;
//! the namespace only when the namespaced resources span several), all
//! lower case. Each such file is the resource with its keys sorted (Kargo
//! writes it with `sigs.k8s.io/yaml`); strings that need quotes may be
//! quoted in the other style. A name that would leave the directory is
//! refused. Loading is restricted to the kustomization's root
//! (`LoadRestrictionsRootOnly`, Kustomize's default; Kargo instead allows
//! any file inside the work directory). No outputs.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{ConfigCheck, clean};
use super::tools;
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "kustomize-build";

/// Config of `kustomize-build`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KustomizeBuildConfig {
    /// The kustomization's directory.
    pub path: String,
    /// A `.yaml`/`.yml` file, or a directory for one file per resource.
    pub out_path: String,
    /// File naming in a directory.
    #[serde(default)]
    pub output_format: Option<OutputFormat>,
    /// Built-in plugin settings.
    #[serde(default)]
    pub plugin: Option<Plugin>,
}

/// How files in an output directory are named.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// `[namespace-]kind-name.yaml`.
    #[default]
    Kargo,
    /// `[namespace_]group_version_kind_name.yaml`, as `kustomize build -o dir/`.
    Kustomize,
}

/// `plugin`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    /// The Helm chart inflator.
    #[serde(default)]
    pub helm: Option<HelmPlugin>,
}

/// `plugin.helm`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmPlugin {
    /// `Capabilities.APIVersions`.
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// `Capabilities.KubeVersion`.
    #[serde(default)]
    pub kube_version: Option<String>,
}

/// Checks and decodes a `kustomize-build` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<KustomizeBuildConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    c.required_string("path").required_string("outPath");
    if let Some(Value::Array(versions)) = c
        .get("plugin")
        .and_then(|p| p.get("helm"))
        .and_then(|h| h.get("apiVersions"))
    {
        for (i, v) in versions.iter().enumerate() {
            if v.as_str() == Some("") {
                c.problem(format!("plugin.helm.apiVersions[{i}]: must not be empty"));
            }
        }
    }
    if let Some(f) = c.get("outputFormat").and_then(Value::as_str)
        && !matches!(f, "kargo" | "kustomize")
    {
        c.problem(format!(
            "outputFormat: {f:?}: outputFormat must be one of the following: \"kargo\", \"kustomize\""
        ));
    }
    c.parse(NAME, config)
}

/// The `kustomize-build` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct KustomizeBuild;

impl Step for KustomizeBuild {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let dir = ctx.resolve(NAME, "path", &cfg.path)?;
        if !dir.is_dir() {
            return Err(StepError::retryable(
                NAME,
                format!(
                    "path: {:?}: no such file or directory (the kustomization's directory)",
                    cfg.path
                ),
            ));
        }
        let out_path = ctx.resolve(NAME, "outPath", &cfg.out_path)?;
        let rendered = build(ctx, &dir, cfg.plugin.as_ref().and_then(|p| p.helm.as_ref()))?;
        let failed = |e: String| {
            StepError::retryable(
                NAME,
                format!("failed to write built manifests to {:?}: {e}", cfg.out_path),
            )
        };
        let ext = Path::new(&clean(&cfg.out_path))
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_string);
        if !cfg.out_path.ends_with('/') && matches!(ext.as_deref(), Some("yaml" | "yml")) {
            if let Some(parent) = out_path.parent() {
                mkdir(parent).map_err(|e| failed(e.to_string()))?;
            }
            write(&out_path, rendered.as_bytes()).map_err(|e| failed(e.to_string()))?;
        } else {
            mkdir(&out_path).map_err(|e| failed(e.to_string()))?;
            let format = cfg.output_format.unwrap_or_default();
            for (name, body) in per_resource_files(&rendered, format).map_err(failed)? {
                write(&out_path.join(name), body.as_bytes()).map_err(|e| failed(e.to_string()))?;
            }
        }
        Ok(StepResult::succeeded(Map::new()))
    }
}

/// Runs Kustomize on `dir` and returns the rendered stream.
fn build(
    ctx: &StepContext<'_>,
    dir: &Path,
    helm: Option<&HelmPlugin>,
) -> Result<String, StepError> {
    let (mut cmd, shown) = match tools::find("kustomize") {
        Some(k) => {
            let mut c = Command::new(k);
            c.arg("build");
            (c, "kustomize build")
        }
        None => match tools::find("kubectl") {
            Some(k) => {
                let mut c = Command::new(k);
                c.arg("kustomize");
                (c, "kubectl kustomize")
            }
            None => {
                return Err(StepError::terminal(
                    NAME,
                    "neither a `kustomize` nor a `kubectl` binary is on PATH; install one of them on the server",
                ));
            }
        },
    };
    cmd.args(["--enable-helm", "--helm-command", "helm"]);
    if let Some(h) = helm {
        if !h.api_versions.is_empty() {
            cmd.arg(format!("--helm-api-versions={}", h.api_versions.join(",")));
        }
        if let Some(v) = h.kube_version.as_deref().filter(|v| !v.is_empty()) {
            cmd.arg(format!("--helm-kube-version={v}"));
        }
    }
    cmd.arg("--").arg(dir);
    let out = tools::run(NAME, ctx, cmd, shown)?;
    String::from_utf8(out).map_err(|e| StepError::retryable(NAME, format!("{shown}: {e}")))
}

/// One file per resource of the rendered stream: (file name, YAML).
pub fn per_resource_files(
    rendered: &str,
    format: OutputFormat,
) -> Result<Vec<(String, String)>, String> {
    let mut resources = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(rendered) {
        let v = Value::deserialize(doc).map_err(|e| format!("reading the rendered YAML: {e}"))?;
        if v.is_object() {
            resources.push(v);
        }
    }
    let field = |r: &Value, p: &[&str]| -> String {
        let mut v = r;
        for k in p {
            v = match v.get(k) {
                Some(x) => x,
                None => return String::new(),
            };
        }
        v.as_str().unwrap_or_default().to_string()
    };
    // Kustomize's GroupedByCurrentNamespace: namespaced resources by their
    // namespace ("default" when unset).
    let namespaces: BTreeSet<String> = resources
        .iter()
        .filter(|r| !is_cluster_scoped(&field(r, &["apiVersion"]), &field(r, &["kind"])))
        .map(|r| {
            let ns = field(r, &["metadata", "namespace"]);
            if ns.is_empty() { "default".into() } else { ns }
        })
        .collect();
    let multi_ns = namespaces.len() > 1;
    let mut files = Vec::new();
    for r in &resources {
        let api = field(r, &["apiVersion"]);
        let kind = field(r, &["kind"]);
        let name = field(r, &["metadata", "name"]);
        let ns = field(r, &["metadata", "namespace"]);
        let file = match format {
            OutputFormat::Kargo if ns.is_empty() => format!("{kind}-{name}.yaml"),
            OutputFormat::Kargo => format!("{ns}-{kind}-{name}.yaml"),
            OutputFormat::Kustomize => {
                let (group, version) = api.rsplit_once('/').unwrap_or(("", &api));
                let gvk: Vec<&str> = [group, version, kind.as_str()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                let base = format!("{}_{name}.yaml", gvk.join("_"));
                if multi_ns && !ns.is_empty() && !is_cluster_scoped(&api, &kind) {
                    format!("{ns}_{base}")
                } else {
                    base
                }
            }
        }
        .to_lowercase();
        check_file_name(&file)?;
        let body = yaml_serde::to_string(&sorted(r)).map_err(|e| e.to_string())?;
        files.push((file, body));
    }
    Ok(files)
}

/// Kargo's `validateGeneratedResourceFilename`.
pub(crate) fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("generated resource filename is empty".into());
    }
    if name == "." || name == ".." || name.contains(['/', '\\']) || clean(name) != name {
        return Err(format!("unsafe generated resource filename {name:?}"));
    }
    Ok(())
}

/// `v` with every map's keys sorted, as Go's JSON round trip leaves them.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Whether Kubernetes' built-in schema makes `kind` cluster-scoped (what
/// Kustomize knows; any other kind counts as namespaced).
fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    const KINDS: &[(&str, &str)] = &[
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("scheduling.k8s.io", "PriorityClass"),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
        ),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
        ),
        ("apiregistration.k8s.io", "APIService"),
        ("node.k8s.io", "RuntimeClass"),
        ("policy", "PodSecurityPolicy"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("networking.k8s.io", "IngressClass"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ];
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    KINDS.contains(&(group, kind))
}

fn mkdir(p: &Path) -> std::io::Result<()> {
    super::files::mkdir_mode(p, 0o700)
}

fn write(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    super::files::write_mode(p, bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::files::fixture::{check_configs, run};
    use serde_json::json;

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_kustomizeBuilder_convert.
        let ok = &[][..];
        let m = "/output/manifests.yaml";
        let k = "/kustomization/path";
        let rows: &[(&str, Value, &[&str])] = &[
            ("path not specified", json!({}), &["path: required"]),
            (
                "path is empty string",
                json!({"path": ""}),
                &["path: must not be empty"],
            ),
            (
                "outPath not specified",
                json!({"path": k}),
                &["outPath: required"],
            ),
            (
                "outPath is empty string",
                json!({"path": k, "outPath": ""}),
                &["outPath: must not be empty"],
            ),
            (
                "both required fields missing",
                json!({"plugin": {}}),
                &["path: required", "outPath: required"],
            ),
            (
                "plugin.helm.apiVersions contains empty string",
                json!({"path": k, "outPath": m, "plugin": {"helm": {"apiVersions": ["v1", ""]}}}),
                &["plugin.helm.apiVersions[1]: must not be empty"],
            ),
            ("valid minimal config", json!({"path": k, "outPath": m}), ok),
            (
                "valid config with empty plugin",
                json!({"path": k, "outPath": m, "plugin": {}}),
                ok,
            ),
            (
                "valid config with empty helm plugin",
                json!({"path": k, "outPath": m, "plugin": {"helm": {}}}),
                ok,
            ),
            (
                "valid config with helm kubeVersion only",
                json!({"path": k, "outPath": m, "plugin": {"helm": {"kubeVersion": "1.28.0"}}}),
                ok,
            ),
            (
                "valid config with helm apiVersions only",
                json!({"path": k, "outPath": m, "plugin": {"helm": {"apiVersions": ["v1", "apps/v1", "networking.k8s.io/v1"]}}}),
                ok,
            ),
            (
                "valid config with both helm fields",
                json!({"path": k, "outPath": m, "plugin": {"helm": {"kubeVersion": "1.29.0", "apiVersions": ["v1", "apps/v1"]}}}),
                ok,
            ),
            (
                "valid kitchen sink",
                json!({"path": "/path/to/kustomization/directory", "outPath": "/output/built-manifests.yaml", "plugin": {"helm": {"kubeVersion": "1.29.2", "apiVersions": ["v1", "apps/v1", "networking.k8s.io/v1", "cert-manager.io/v1", "argoproj.io/v1alpha1"]}}}),
                ok,
            ),
            (
                "invalid outputFormat",
                json!({"path": k, "outPath": "/output/", "outputFormat": "invalid"}),
                &["outputFormat must be one of the following:"],
            ),
            (
                "valid config with kargo outputFormat",
                json!({"path": k, "outPath": "/output/", "outputFormat": "kargo"}),
                ok,
            ),
            (
                "valid config with kustomize outputFormat",
                json!({"path": k, "outPath": "/output/", "outputFormat": "kustomize"}),
                ok,
            ),
        ];
        assert_eq!(rows.len(), 16); // Kargo's Test_kustomizeBuilder_convert: 16 rows
        check_configs(parse, rows);
    }

    const KUSTOMIZATION: &str = "\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml\n";
    const DEPLOYMENT: &str =
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: test-deployment\n";

    /// A row of Kargo's `Test_kustomizeBuilder_run`: files, config, then
    /// `Ok(files that must hold text)` or `Err(message part)`.
    type Row = (
        &'static str,
        &'static [(&'static str, &'static str)],
        Value,
        Result<&'static [(&'static str, &'static str)], &'static str>,
    );

    #[test]
    fn upstream_run_rows() -> Result<(), Box<dyn std::error::Error>> {
        let basic: &[(&str, &str)] = &[
            ("kustomization.yaml", KUSTOMIZATION),
            ("deployment.yaml", DEPLOYMENT),
        ];
        let chart: &[(&str, &str)] = &[
            (
                "kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ngenerators:\n- chart.yaml\nnamespace: demo\n",
            ),
            (
                "chart.yaml",
                "---\napiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: demo\nname: demo\nreleaseName: demo\nrepo: http://127.0.0.1:9/\nvaluesFile: values.yaml\n",
            ),
            ("values.yaml", "---\nreplicaCount: 3"),
        ];
        let escape: &[(&str, &str)] = &[
            ("kustomization.yaml", KUSTOMIZATION),
            (
                "deployment.yaml",
                "---\napiVersion: v1\nkind: ../owned/marker\nmetadata:\n  name: written\n",
            ),
            ("owned/.keep", ""),
        ];
        let rows: [Row; 8] = [
            (
                "successful build",
                basic,
                json!({"path": ".", "outPath": "output.yaml"}),
                Ok(&[("output.yaml", "test-deployment")]),
            ),
            (
                // Kargo inflates the chart with its embedded Helm; here the
                // inflator runs a `helm` binary, which this machine lacks:
                // the row checks that the failure says so.
                "successful build with HelmChartInflationGenerator",
                chart,
                json!({"path": ".", "outPath": "output.yaml"}),
                Err("helm"),
            ),
            (
                "successful build with output directory",
                basic,
                json!({"path": ".", "outPath": "output/"}),
                Ok(&[("output/deployment-test-deployment.yaml", "test-deployment")]),
            ),
            (
                "successful build with kargo output format",
                basic,
                json!({"path": ".", "outPath": "output/", "outputFormat": "kargo"}),
                Ok(&[("output/deployment-test-deployment.yaml", "test-deployment")]),
            ),
            (
                "successful build with kustomize output format",
                basic,
                json!({"path": ".", "outPath": "output/", "outputFormat": "kustomize"}),
                Ok(&[(
                    "output/apps_v1_deployment_test-deployment.yaml",
                    "test-deployment",
                )]),
            ),
            (
                "output directory rejects resource metadata that would escape it",
                escape,
                json!({"path": ".", "outPath": "output/"}),
                Err("unsafe generated resource filename"),
            ),
            (
                "kustomization file not found",
                &[],
                json!({"path": "invalid/", "outPath": "output.yaml"}),
                Err("no such file or directory"),
            ),
            (
                "invalid kustomization",
                &[("kustomization.yaml", "invalid")],
                json!({"path": ".", "outPath": "output.yaml"}),
                Err("invalid Kustomization"),
            ),
        ];
        assert_eq!(rows.len(), 8); // Kargo's Test_kustomizeBuilder_run: 8 rows
        for (name, files, cfg, want) in rows {
            let tmp = tempfile::tempdir()?;
            for (p, text) in files {
                let p = tmp.path().join(p);
                std::fs::create_dir_all(p.parent().ok_or("no parent")?)?;
                std::fs::write(p, text)?;
            }
            let got = run(&KustomizeBuild, tmp.path(), &cfg);
            match want {
                Ok(expect) => {
                    let res = got.map_err(|e| format!("{name}: {e}"))?;
                    assert_eq!(res.status(), crate::step::StepStatus::Succeeded, "{name}");
                    for (p, text) in expect {
                        let body = std::fs::read_to_string(tmp.path().join(p))
                            .map_err(|e| format!("{name}: {p}: {e}"))?;
                        assert!(body.contains(text), "{name}: {p}: {body}");
                    }
                }
                Err(part) => {
                    let e = got.err().ok_or(format!("{name}: succeeded"))?;
                    assert!(e.message.contains(part), "{name}: {e}");
                    assert!(!tmp.path().join("output.yaml").exists(), "{name}");
                    assert!(!tmp.path().join("owned/marker-written.yaml").exists());
                }
            }
        }
        Ok(())
    }

    #[test]
    fn writes_files_as_kargo_names_them() -> Result<(), String> {
        let stream = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Apps\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: Web\n  namespace: Apps\nspec:\n  replicas: 2\n  selector: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  b: \"1.0\"\n  a: x\n";
        let names = |f: OutputFormat| -> Result<Vec<String>, String> {
            Ok(per_resource_files(stream, f)?
                .into_iter()
                .map(|(n, _)| n)
                .collect())
        };
        assert_eq!(
            names(OutputFormat::Kargo)?,
            [
                "namespace-apps.yaml",
                "apps-deployment-web.yaml",
                "configmap-cfg.yaml"
            ]
        );
        // Two namespaces (apps, default): the kustomize names carry them.
        assert_eq!(
            names(OutputFormat::Kustomize)?,
            [
                "v1_namespace_apps.yaml",
                "apps_apps_v1_deployment_web.yaml",
                "v1_configmap_cfg.yaml"
            ]
        );
        let files = per_resource_files(stream, OutputFormat::Kargo)?;
        // Keys sorted, as sigs.k8s.io/yaml writes them; the string "1.0" stays a string.
        assert_eq!(
            files[2].1,
            "apiVersion: v1\ndata:\n  a: x\n  b: '1.0'\nkind: ConfigMap\nmetadata:\n  name: cfg\n"
        );
        Ok(())
    }
}
