//! `helm-template` with a recorded fixture: no package registry here
//! ships `helm`, so a fake `helm` script in the test directory records
//! its arguments to a file and prints a recorded `helm template` render
//! (or, given `--output-dir`, writes the files Helm would). Kargo's
//! tables are ported as data.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::steps::files::fixture::check_configs;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn upstream_config_rows() {
    let o = "/output/path";
    let p = "/chart/path";
    let rows: &[(&str, Value, &[&str])] = &[
        ("outPath not specified", json!({}), &["outPath: required"]),
        (
            "outPath is empty string",
            json!({"outPath": ""}),
            &["outPath: must not be empty"],
        ),
        (
            "path not specified",
            json!({"outPath": o}),
            &["path: required"],
        ),
        (
            "path is empty string",
            json!({"outPath": o, "path": ""}),
            &["path: must not be empty"],
        ),
        (
            "releaseName not specified",
            json!({"outPath": o, "path": p}),
            &["releaseName: required"],
        ),
        (
            "releaseName is empty string",
            json!({"outPath": o, "path": p, "releaseName": ""}),
            &["releaseName: must not be empty"],
        ),
        (
            "all required fields missing",
            json!({"namespace": "default"}),
            &[
                "outPath: required",
                "path: required",
                "releaseName: required",
            ],
        ),
        (
            "valuesFiles contains empty string",
            json!({"outPath": o, "path": p, "releaseName": "r", "valuesFiles": ["values.yaml", ""]}),
            &["valuesFiles[1]: must not be empty"],
        ),
        (
            "setValues key not specified",
            json!({"outPath": o, "path": p, "releaseName": "r", "setValues": [{"value": "v"}]}),
            &["setValues[0].key: required"],
        ),
        (
            "setValues key is empty string",
            json!({"outPath": o, "path": p, "releaseName": "r", "setValues": [{"key": "", "value": "v"}]}),
            &["setValues[0].key: must not be empty"],
        ),
        (
            "setValues value not specified",
            json!({"outPath": o, "path": p, "releaseName": "r", "setValues": [{"key": "image.tag"}]}),
            &["setValues[0].value: required"],
        ),
        (
            "apiVersions contains empty string",
            json!({"outPath": o, "path": p, "releaseName": "r", "apiVersions": ["v1", ""]}),
            &["apiVersions[1]: must not be empty"],
        ),
        (
            "valid minimal config",
            json!({"outPath": o, "path": p, "releaseName": "my-release"}),
            &[],
        ),
        (
            "valid config with optional boolean fields",
            json!({"outPath": o, "path": p, "releaseName": "r", "useReleaseName": true, "buildDependencies": true, "includeCRDs": true, "disableHooks": true, "skipTests": true}),
            &[],
        ),
        (
            "valid config with namespace and kubeVersion",
            json!({"outPath": o, "path": p, "releaseName": "r", "namespace": "production", "kubeVersion": "1.28.0"}),
            &[],
        ),
        (
            "valid config with valuesFiles",
            json!({"outPath": o, "path": p, "releaseName": "r", "valuesFiles": ["values.yaml", "values-prod.yaml"]}),
            &[],
        ),
        (
            "valid config with setValues",
            json!({"outPath": o, "path": p, "releaseName": "r", "setValues": [{"key": "image.tag", "value": "v1.2.3"}, {"key": "replicaCount", "value": "3"}, {"key": "service.type", "value": ""}]}),
            &[],
        ),
        (
            "valid config with setValues using literal",
            json!({"outPath": o, "path": p, "releaseName": "r", "setValues": [{"key": "image.tag", "value": "v1.2.3", "literal": true}, {"key": "replicaCount", "value": "3"}]}),
            &[],
        ),
        (
            "valid config with apiVersions",
            json!({"outPath": o, "path": p, "releaseName": "r", "apiVersions": ["v1", "apps/v1", "networking.k8s.io/v1"]}),
            &[],
        ),
        (
            "valid kitchen sink",
            json!({
                "outPath": "/output/manifests", "path": "/path/to/helm/chart",
                "releaseName": "my-application", "useReleaseName": true, "namespace": "production",
                "valuesFiles": ["values.yaml", "values-prod.yaml", "secrets.yaml"],
                "setValues": [{"key": "image.repository", "value": "myregistry.com/myapp"}, {"key": "image.tag", "value": "v2.1.0"}, {"key": "ingress.enabled", "value": "true"}],
                "buildDependencies": true, "includeCRDs": true, "disableHooks": false, "skipTests": true,
                "kubeVersion": "1.29.0", "apiVersions": ["v1", "apps/v1", "networking.k8s.io/v1", "cert-manager.io/v1"]
            }),
            &[],
        ),
    ];
    assert_eq!(rows.len(), 20); // Kargo's Test_helmTemplateRunner_convert: 20 rows
    check_configs(parse, rows);
    check_configs(
        parse,
        &[
            (
                "a bad layout",
                json!({"outPath": o, "path": p, "releaseName": "r", "outLayout": "tree"}),
                &["outLayout: \"tree\": outLayout must be one of the following"],
            ),
            (
                "a Kubernetes version that is none",
                json!({"outPath": o, "path": p, "releaseName": "r", "kubeVersion": "invalid"}),
                &["kubeVersion: failed to parse Kubernetes version \"invalid\""],
            ),
        ],
    );
}

fn cfg(v: Value) -> HelmTemplateConfig {
    parse(&v).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn upstream_install_action_rows_as_flags() {
    // Kargo's Test_helmTemplateRunner_newInstallAction: what Kargo sets
    // on Helm's install action, as `helm template` flags here. Its last
    // row (an unparseable kubeVersion) is refused by the schema check
    // above instead.
    let chart = Path::new("/work/chart");
    let out = Path::new("/tmp/output");
    let base = |rest: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["template", "release-name", "/work/chart", "--namespace"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(rest.iter().map(|s| s.to_string()));
        a
    };
    let min = json!({"path": "chart", "releaseName": "release-name"});
    let with = |extra: Value| {
        let mut m = min.clone();
        if let (Some(m), Some(e)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        m
    };
    // (name, config, project, flags after --namespace)
    let rows: Vec<(&str, Value, &str, Vec<String>)> = vec![
        (
            "default values",
            with(json!({"outPath": "out.yaml"})),
            "",
            base(&[""]),
        ),
        (
            "custom values",
            json!({"path": "chart", "outPath": "out.yaml", "releaseName": "custom-release", "useReleaseName": true, "namespace": "custom-namespace", "includeCRDs": true, "apiVersions": ["v1", "v2"], "kubeVersion": "1.20.0", "disableHooks": true}),
            "",
            {
                let mut a = base(&[
                    "custom-namespace",
                    "--include-crds",
                    "--no-hooks",
                    "--kube-version",
                    "1.20.0",
                    "--api-versions",
                    "v1",
                    "--api-versions",
                    "v2",
                    "--release-name",
                ]);
                a[1] = "custom-release".into();
                a
            },
        ),
        (
            "output directory with helm layout",
            with(json!({"outPath": "output/", "outLayout": "helm"})),
            "",
            base(&["", "--output-dir", "/tmp/output"]),
        ),
        (
            "output directory with flat layout",
            with(json!({"outPath": "output/", "outLayout": "flat"})),
            "",
            base(&[""]),
        ),
        (
            "output file (YAML)",
            with(json!({"outPath": "output.yaml"})),
            "",
            base(&[""]),
        ),
        (
            "output file (YML)",
            with(json!({"outPath": "output.yml"})),
            "",
            base(&[""]),
        ),
        (
            "project used as default namespace",
            with(json!({"outPath": "out.yaml"})),
            "test-project",
            base(&["test-project"]),
        ),
    ];
    assert_eq!(rows.len(), 7); // Kargo's Test_helmTemplateRunner_newInstallAction: 8 rows, 7 here
    for (name, config, project, want) in rows {
        let c = cfg(config);
        let is_file = out_path_is_file(&c.out_path);
        let dir = (!is_file && c.out_layout.unwrap_or_default() == OutLayout::Helm).then_some(out);
        let namespace = c.namespace.clone().unwrap_or_else(|| project.to_string());
        assert_eq!(args(&c, chart, &[], &namespace, dir), want, "{name}");
    }
}

#[test]
fn upstream_resource_filename_rows() {
    let rows = [
        (
            "simple ConfigMap",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: test-config\n  namespace: default\ndata:\n  key: value",
            Some("configmap-default-test-config.yaml"),
        ),
        (
            "resource with API group",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: test-deployment\n  namespace: prod\nspec:\n  replicas: 3",
            Some("apps-deployment-prod-test-deployment.yaml"),
        ),
        (
            "cluster-scoped resource",
            "apiVersion: v1\nkind: ClusterRole\nmetadata:\n  name: test-cluster-role\nrules: []",
            Some("clusterrole-test-cluster-role.yaml"),
        ),
        (
            "resource with complex API group",
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: test-netpol\n  namespace: kube-system\nspec: {}",
            Some("networking_k8s_io-networkpolicy-kube-system-test-netpol.yaml"),
        ),
        ("invalid YAML", "invalid: yaml: content: [", None),
        (
            "missing kind",
            "apiVersion: v1\nmetadata:\n  name: test-resource",
            None,
        ),
        (
            "missing name",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: default",
            None,
        ),
    ];
    assert_eq!(rows.len(), 7); // Kargo's Test_generateResourceFilename: 7 rows
    for (name, resource, want) in rows {
        assert_eq!(resource_filename(resource).as_deref(), want, "{name}");
    }
}

/// A fake `helm` in a fresh directory: it records its arguments, one a
/// line, in `argv` beside itself; with `--output-dir D` it writes
/// `D/demo/templates/configmap.yaml` (and `D/<release>/...` with
/// `--release-name`) as Helm does and prints `wrote ...`; otherwise it
/// prints `render.yaml`; a chart path holding `broken` fails as Helm
/// fails.
fn fake_helm(render: &str) -> std::io::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("helm");
    std::fs::write(
        &script,
        r#"#!/bin/sh
d=$(dirname "$0")
: > "$d/argv"
for a in "$@"; do printf '%s\n' "$a" >> "$d/argv"; done
case "$3" in *broken*) echo 'Error: Chart.yaml file is missing' >&2; exit 1;; esac
out=""; rel=""; name="$2"
while [ $# -gt 0 ]; do
  case "$1" in --output-dir) out="$2"; shift;; --release-name) rel=1;; esac
  shift
done
if [ -n "$out" ]; then
  sub=demo; [ -n "$rel" ] && sub="$name"
  mkdir -p "$out/$sub/templates"
  printf -- '---\n# Source: demo/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n' > "$out/$sub/templates/configmap.yaml"
  echo "wrote $out/$sub/templates/configmap.yaml"
  exit 0
fi
cat "$d/render.yaml"
"#,
    )?;
    crate::steps::files::fixture::set_mode(&script, 0o755)?;
    std::fs::write(dir.path().join("render.yaml"), render)?;
    Ok((dir, script))
}

/// A `helm template` render recorded from Helm 3 (a ConfigMap and a
/// Deployment of chart `demo`, then a test hook), as Kargo's single-file
/// output writes it too.
const RENDER: &str = "---\n# Source: demo/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rel-demo\n  namespace: prod\ndata:\n  tag: \"v2\"\n---\n# Source: demo/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: rel-demo\n  namespace: prod\nspec:\n  replicas: 3\n---\n# Source: demo/templates/tests/test-connection.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: \"rel-demo-test-connection\"\n  namespace: prod\n  annotations:\n    \"helm.sh/hook\": test\n";

fn render_in(work: &Path, config: Value, helm: &Path) -> Result<StepResult, StepError> {
    let c = parse(&config)?;
    crate::git::testutil::with_ctx(work, &Map::new(), |ctx| render(ctx, &c, helm))
}

fn argv(helm_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(helm_dir.join("argv"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_field_becomes_a_flag_and_one_file_is_helms_stream() -> TestResult {
    let (hd, helm) = fake_helm(RENDER)?;
    let work = tempfile::tempdir()?;
    let w = work.path();
    std::fs::create_dir_all(w.join("charts/demo"))?;
    std::fs::write(w.join("values.yaml"), "a: 1\n")?;
    std::fs::write(w.join("prod.yaml"), "a: 2\n")?;
    let res = render_in(
        w,
        json!({
            "path": "charts/demo", "outPath": "out/prod/all.yaml", "releaseName": "rel",
            "namespace": "prod", "valuesFiles": ["values.yaml", "missing.yaml", "prod.yaml"],
            "ignoreMissingValueFiles": true,
            "setValues": [{"key": "tag", "value": "v2"}, {"key": "list", "value": "a,b", "literal": true}],
            "includeCRDs": true, "skipTests": true, "kubeVersion": "1.29.0",
            "apiVersions": ["v1", "monitoring.coreos.com/v1"]
        }),
        &helm,
    )?;
    assert!(res.outputs.is_empty());
    let root = std::fs::canonicalize(w)?;
    let at = |p: &str| root.join(p).display().to_string();
    assert_eq!(
        argv(hd.path()),
        [
            "template",
            "rel",
            &at("charts/demo"),
            "--namespace",
            "prod",
            "--values",
            &at("values.yaml"),
            "--values",
            &at("prod.yaml"),
            "--set",
            "tag=v2",
            "--set-literal",
            "list=a,b",
            "--include-crds",
            "--skip-tests",
            "--kube-version",
            "1.29.0",
            "--api-versions",
            "v1",
            "--api-versions",
            "monitoring.coreos.com/v1",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(w.join("out/prod/all.yaml"))?,
        RENDER
    );

    // A values file that is missing fails unless told to ignore it.
    let e = render_in(
        w,
        json!({"path": "charts/demo", "outPath": "o.yaml", "releaseName": "rel", "valuesFiles": ["missing.yaml"]}),
        &helm,
    )
    .err()
    .ok_or("a missing values file was accepted")?;
    assert!(
        e.message.contains("valuesFiles[0]: \"missing.yaml\""),
        "{e}"
    );

    // The namespace defaults to the Project ("" in this context); Helm's
    // failure comes back with its stderr.
    std::fs::create_dir_all(w.join("broken"))?;
    let e = render_in(
        w,
        json!({"path": "broken", "outPath": "o.yaml", "releaseName": "rel"}),
        &helm,
    )
    .err()
    .ok_or("a failing helm succeeded")?;
    assert!(
        e.message
            .contains("`helm template` failed: Error: Chart.yaml file is missing"),
        "{e}"
    );
    Ok(())
}

#[test]
fn layouts_are_kargos() -> TestResult {
    let (hd, helm) = fake_helm(RENDER)?;
    let work = tempfile::tempdir()?;
    let w = work.path();
    std::fs::create_dir_all(w.join("demo"))?;

    // flat: one file per resource, named from its metadata, each the
    // trimmed document (its `# Source:` line included), as Kargo.
    render_in(
        w,
        json!({"path": "demo", "outPath": "flat", "outLayout": "flat", "releaseName": "rel"}),
        &helm,
    )?;
    let mut names: Vec<String> = std::fs::read_dir(w.join("flat"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "apps-deployment-prod-rel-demo.yaml",
            "configmap-prod-rel-demo.yaml",
            "pod-prod-rel-demo-test-connection.yaml",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(w.join("flat/configmap-prod-rel-demo.yaml"))?,
        "# Source: demo/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rel-demo\n  namespace: prod\ndata:\n  tag: \"v2\""
    );
    assert!(!argv(hd.path()).contains(&"--output-dir".to_string()));

    // helm (the default): Helm writes the files under --output-dir.
    render_in(
        w,
        json!({"path": "demo", "outPath": "rendered", "releaseName": "rel"}),
        &helm,
    )?;
    let out = std::fs::canonicalize(w)?.join("rendered");
    let a = argv(hd.path());
    assert_eq!(
        a[a.len() - 2..],
        ["--output-dir".to_string(), out.display().to_string()]
    );
    assert!(w.join("rendered/demo/templates/configmap.yaml").is_file());
    // With useReleaseName the directory is the release's.
    render_in(
        w,
        json!({"path": "demo", "outPath": "byrel", "releaseName": "rel", "useReleaseName": true}),
        &helm,
    )?;
    assert!(w.join("byrel/rel/templates/configmap.yaml").is_file());

    // A resource whose metadata would leave the directory is refused.
    let (_hd2, evil) =
        fake_helm("---\napiVersion: v1\nkind: ../outside/marker\nmetadata:\n  name: written\n")?;
    let e = render_in(
        w,
        json!({"path": "demo", "outPath": "flat2", "outLayout": "flat", "releaseName": "rel"}),
        &evil,
    )
    .err()
    .ok_or("an escaping file name was accepted")?;
    assert!(
        e.message.contains("unsafe generated resource filename"),
        "{e}"
    );
    assert!(!w.join("outside").exists());
    Ok(())
}

#[test]
fn a_missing_helm_binary_is_named() {
    let e = find_helm(Some("/nonexistent/helm".into())).err();
    assert_eq!(
        e.as_deref(),
        Some("KARGO_HELM_BINARY=\"/nonexistent/helm\" is not an executable file")
    );
    // Without KARGO_HELM_BINARY: helm from PATH, or an error saying
    // where it was looked for.
    match tools::find("helm") {
        Some(p) => assert_eq!(find_helm(None), Ok(p)),
        None => {
            let e = find_helm(None).err().unwrap_or_default();
            assert!(e.contains("no `helm` binary"), "{e}");
            assert!(e.contains("KARGO_HELM_BINARY"), "{e}");
        }
    }
}

#[test]
fn build_dependencies_fetches_the_locked_versions() -> TestResult {
    use crate::steps::helm_update_chart::tests::{kargo_repo, umbrella};
    let (url, seen) = kargo_repo();
    let (_hd, helm) = fake_helm(RENDER)?;
    let work = tempfile::tempdir()?;
    let w = work.path();
    umbrella(&w.join("app"), &[("examplechart", ">=0.0.1", &url)])?;
    let cfg = json!({"path": "app", "outPath": "o.yaml", "releaseName": "rel", "buildDependencies": true});
    // No Chart.lock: the dependencies are updated (and locked).
    render_in(w, cfg.clone(), &helm)?;
    let tgz = w.join("app/charts/examplechart-0.1.0.tgz");
    assert!(tgz.is_file() && w.join("app/Chart.lock").is_file());
    // With the lock: the locked version is fetched again, the lock kept.
    let lock = std::fs::read_to_string(w.join("app/Chart.lock"))?;
    std::fs::remove_file(&tgz)?;
    render_in(w, cfg.clone(), &helm)?;
    assert!(tgz.is_file());
    assert_eq!(std::fs::read_to_string(w.join("app/Chart.lock"))?, lock);
    assert_eq!(
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|p| p.ends_with(".tgz"))
            .count(),
        2
    );
    // A lock that no longer matches Chart.yaml is refused, as Helm does.
    umbrella(&w.join("app"), &[("examplechart", "^0.1.0", &url)])?;
    let e = render_in(w, cfg, &helm)
        .err()
        .ok_or("a stale lock was accepted")?;
    assert!(
        e.message.contains(
            "failed to build chart dependencies: the lock file (Chart.lock) is out of sync"
        ),
        "{e}"
    );
    Ok(())
}
