//! `kargo quickstart` plays its whole story and exits 0: two releases
//! verified through dev and both staging Stages, a broken release stopped
//! in dev by its health check, prod-us promoted and rolled back by alias.

mod common;

use common::KARGO;
use std::process::Command;

#[test]
fn the_quick_start_story_plays_out() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("ws");
    let out = Command::new(KARGO)
        .args(["quickstart", "--dir"])
        .arg(&dir)
        .env("HOME", home.path())
        .env("KARGO_CONFIG", home.path().join("config.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{stderr}"
    );
    for expect in [
        "v1.0.0 is verified in dev, staging-us and staging-eu",
        "v1.1.0 is verified in dev, staging-us and staging-eu",
        "v1.2.0 failed its health check in dev",
        "prod-us runs v1.1.0",
        "prod-us is back on v1.0.0",
        "Freight × Stage:",
        "kargo get freight -p my-web-app",
    ] {
        assert!(stdout.contains(expect), "missing {expect:?} in:\n{stdout}");
    }
    // kubectl needs one line, not connection flags.
    let kubeconfig = dir.join("data/kubeconfig");
    let exports: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("export KUBECONFIG="))
        .collect();
    assert_eq!(
        exports,
        [format!("  export KUBECONFIG={}", kubeconfig.display())],
        "{stdout}"
    );
    assert!(!stdout.contains("--certificate-authority"), "{stdout}");
    assert!(
        stdout.contains("  kubectl get stages -n my-web-app\n"),
        "{stdout}"
    );
    let kc: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    assert_eq!(kc["current-context"], "kargo");
    assert!(
        !home.path().join(".kube/config").exists(),
        "the quick start's temporary server stays out of ~/.kube/config"
    );
    // The summary: v1.2.0 failed in dev and went no further; prod-us is on v1.0.0.
    let row = |tag: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(tag))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row("v1.2.0").contains("FAILED"), "{stdout}");
    assert!(!row("v1.2.0").contains("verified"), "{stdout}");
    assert!(row("v1.0.0").contains("verified (current)"), "{stdout}");
    // Git is the record: prod-us's values say v1.0.0, comments intact.
    let values = Command::new("git")
        .args(["-C"])
        .arg(dir.join("repos/k8s-config.git"))
        .args(["show", "main:apps/my-web-app/prod-us/values.yaml"])
        .output()
        .unwrap();
    let values = String::from_utf8_lossy(&values.stdout);
    assert!(
        values.contains("tag: v1.0.0   # set by Kargo")
            && values.contains("# Kargo sets image.tag"),
        "{values}"
    );
}
