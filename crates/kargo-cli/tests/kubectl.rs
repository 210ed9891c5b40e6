//! kubectl out of the box against `kargo server`: the kubeconfig the
//! server writes (and merges into the user's only when there is none or
//! when asked), and kubectl's own create verbs, which send Kubernetes
//! protobuf bodies — namespaces, secrets (byte-exact), configmaps, and
//! repository credentials the way Kargo's users add them.

mod common;

use common::{ServerProc, fails, ok, wait_for};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn yaml(p: &Path) -> serde_json::Value {
    yaml_serde::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// `kubectl ARGS` with no kubeconfig named at all: only `HOME`, as on a
/// fresh shell.
fn bare_kubectl(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("kubectl")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .output()
        .unwrap()
}

fn entry_names(doc: &serde_json::Value, list: &str) -> Vec<String> {
    doc[list]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

const OTHER: &str = "\
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
users:
- name: prod-admin
  user:
    token: not-ours
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-admin
current-context: prod
";

#[test]
fn a_new_home_gets_a_kargo_context_and_kubectl_needs_no_flags() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let own = s.kubeconfig();
    assert_eq!(mode(&own), 0o600);
    let doc = yaml(&own);
    assert_eq!(doc["current-context"], "kargo");
    assert_eq!(doc["clusters"][0]["cluster"]["server"], s.url.as_str());
    assert_eq!(doc["users"][0]["user"]["token"], s.token().as_str());

    // No ~/.kube/config existed: the context went there too.
    let user = home.path().join(".kube/config");
    assert_eq!(mode(&user), 0o600);
    assert_eq!(yaml(&user), doc);
    let out = ok(&bare_kubectl(home.path(), &["get", "namespaces"]));
    assert!(out.contains("kargo"), "{out}");

    // `kargo config kubeconfig` prints the same context.
    let printed: serde_json::Value =
        yaml_serde::from_str(&ok(&s.kargo(&["config", "kubeconfig"]))).unwrap();
    assert_eq!(printed, doc);
}

#[test]
fn an_existing_kubeconfig_is_merged_only_when_asked_and_keeps_its_context() {
    let home = tempfile::tempdir().unwrap();
    let user = home.path().join(".kube/config");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, OTHER).unwrap();

    // Without --write-kubeconfig the user's file is not touched.
    let s = ServerProc::start(home.path());
    assert_eq!(std::fs::read_to_string(&user).unwrap(), OTHER);
    ok(&s.kubectl(&["get", "namespaces"]));
    drop(s);

    // With it, the kargo entries join the others; prod stays current.
    let s = ServerProc::start_with(home.path(), &["--write-kubeconfig"]);
    let doc = yaml(&user);
    assert_eq!(mode(&user), 0o600);
    assert_eq!(doc["current-context"], "prod");
    for list in ["clusters", "users", "contexts"] {
        let names = entry_names(&doc, list);
        assert_eq!(names.len(), 2, "{list}: {names:?}");
        assert!(names.contains(&"kargo".to_string()), "{list}: {names:?}");
    }
    assert_eq!(doc["users"][0]["user"]["token"], "not-ours");
    let out = ok(&bare_kubectl(
        home.path(),
        &["--context", "kargo", "get", "namespaces"],
    ));
    assert!(out.contains("kargo"), "{out}");
    let old_url = s.url.clone();
    drop(s);

    // The same server on a new port keeps the context it wrote current
    // without being asked again (the token says it is ours).
    let s = ServerProc::start(home.path());
    assert_ne!(s.url, old_url);
    let doc = yaml(&user);
    let kargo = doc["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "kargo")
        .unwrap()
        .clone();
    assert_eq!(kargo["cluster"]["server"], s.url.as_str());
    assert_eq!(doc["current-context"], "prod");
}

#[test]
fn kubeconfig_env_names_the_file_to_create() {
    let home = tempfile::tempdir().unwrap();
    let custom = home.path().join("configs/dev.yaml");
    let _s = ServerProc::start_env(
        home.path(),
        &[("KUBECONFIG", OsStr::new(custom.to_str().unwrap()))],
        &[],
    );
    assert_eq!(yaml(&custom)["current-context"], "kargo");
    assert_eq!(mode(&custom), 0o600);
    assert_eq!(mode(custom.parent().unwrap()), 0o700);
    assert!(!home.path().join(".kube/config").exists());
}

#[test]
fn kubectls_create_verbs_send_protobuf_and_are_stored_exactly() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());

    // kubectl really sends protobuf for these verbs.
    let out = s.kubectl(&["create", "namespace", "argocd", "-v=8"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "{stderr}"
    );
    assert_eq!(ok(&out).trim(), "namespace/argocd created");
    let ns = s.get_json(&["namespace", "argocd"]);
    assert_eq!(ns["metadata"]["name"], "argocd");
    assert!(
        ns["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );

    ok(&s.kargo(&["create", "project", "kargo-demo"]));
    let blob: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let blob_file = home.path().join("blob.bin");
    std::fs::write(&blob_file, &blob).unwrap();
    let from_file = format!("--from-file=blob={}", blob_file.display());
    let out = ok(&s.kubectl(&[
        "create",
        "secret",
        "generic",
        "raw",
        "-n",
        "kargo-demo",
        &from_file,
        "--from-literal=text=héllo wörld",
    ]));
    assert_eq!(out.trim(), "secret/raw created");
    let secret = s.get_json(&["secret", "raw", "-n", "kargo-demo"]);
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(decode(&secret["data"]["blob"]), blob, "byte-exact");
    assert_eq!(decode(&secret["data"]["text"]), "héllo wörld".as_bytes());
    let again = fails(&s.kubectl(&[
        "create",
        "secret",
        "generic",
        "raw",
        "-n",
        "kargo-demo",
        "--from-literal=a=b",
    ]));
    assert!(again.contains("already exists"), "{again}");

    let out = ok(&s.kubectl(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "kargo-demo",
        "--from-literal=replicas=3",
        &format!("--from-file=bin={}", blob_file.display()),
    ]));
    assert_eq!(out.trim(), "configmap/settings created");
    let cm = s.get_json(&["configmap", "settings", "-n", "kargo-demo"]);
    assert_eq!(cm["data"]["replicas"], "3");
    assert_eq!(decode(&cm["binaryData"]["bin"]), blob);

    // A built-in kind this server does not read as protobuf is refused by
    // name, not misread.
    let err = fails(&s.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "-n",
        "kargo-demo",
    ]));
    assert!(err.contains("Deployment"), "{err}");
}

fn decode(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_else(|| panic!("not base64 text: {v}")))
        .unwrap()
}

/// Repository credentials as Kargo's users add them with kubectl: a
/// generic Secret, then the `cred-type` label; discovery of a password
/// protected repository then works.
#[test]
fn repository_credentials_made_with_kubectl_are_used() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let (url, _server) = common::git_http::private_repo(home.path(), "bot", "s3cr3t-pass");

    ok(&s.kargo(&["create", "project", "kargo-demo"]));
    let wh = format!(
        "kind: Warehouse\nmetadata: {{name: private, namespace: kargo-demo}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"{url}\", branch: main}}\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&wh)));
    fails(&s.kargo(&[
        "refresh",
        "warehouse",
        "private",
        "-p",
        "kargo-demo",
        "--wait",
    ]));

    let created = ok(&s.kubectl(&[
        "create",
        "secret",
        "generic",
        "my-credentials",
        "--namespace",
        "kargo-demo",
        &format!("--from-literal=repoURL={url}"),
        "--from-literal=username=bot",
        "--from-literal=password=s3cr3t-pass",
    ]));
    assert_eq!(created.trim(), "secret/my-credentials created");
    let labelled = ok(&s.kubectl(&[
        "label",
        "secret",
        "my-credentials",
        "--namespace",
        "kargo-demo",
        "kargo.akuity.io/cred-type=git",
    ]));
    assert_eq!(labelled.trim(), "secret/my-credentials labeled");

    ok(&s.kargo(&[
        "refresh",
        "warehouse",
        "private",
        "-p",
        "kargo-demo",
        "--wait",
    ]));
    wait_for("Freight from the private repository", 30, || {
        ok(&s.kargo(&["get", "freight", "-p", "kargo-demo", "-o", "name"]))
            .lines()
            .count()
            == 1
    });
}
