//! Kargo's credential, ConfigMap, config-refresh and version forms
//! (akuity/kargo `pkg/cli/cmd/{create,get,update,delete}/
//! {repo_credentials,generic_credentials,configmaps}.go`, `refresh`,
//! `version`) run against a real `kargo server`: each command line as
//! Kargo writes it, its output's shape and exit code, and the object
//! stored, read back with kubectl. Secret values never reach the output.

mod common;

use common::{ServerProc, fails, ok, wait_for};
use serde_json::Value;

const SHARED: &str = "kargo-shared-resources";
const SYSTEM: &str = "kargo-system-resources";
const REDACTED: &str = "*** REDACTED ***";

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// A stored Secret's `data[key]`, decoded (kubectl reads it).
fn secret_value(s: &ServerProc, ns: &str, name: &str, key: &str) -> String {
    use base64::Engine;
    let v = s.get_json(&["secret", name, "-n", ns]);
    let b64 = v["data"][key].as_str().unwrap_or_default();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default(),
    )
    .unwrap_or_default()
}

fn exit_code(o: &std::process::Output) -> Option<i32> {
    o.status.code()
}

#[test]
fn the_server_makes_the_shared_and_system_namespaces() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    for ns in [SHARED, SYSTEM] {
        let v = s.get_json(&["namespace", ns]);
        assert_eq!(v["metadata"]["name"], ns);
    }
}

#[test]
fn repo_credentials_in_kargos_forms() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));

    // create: --type, --description; Kargo prints `secret/NAME created`.
    let out = ok(&s.kargo(&[
        "create",
        "repo-credentials",
        "--project=p",
        "app",
        "--type=git",
        "--description=bot for app",
        "--repo-url=https://github.com/example/app.git",
        "--username=bot",
        "--password=s3cr3t-one",
    ]));
    assert_eq!(out, "secret/app created\n");
    let stored = s.get_json(&["secret", "app", "-n", "p"]);
    assert_eq!(
        stored["metadata"]["labels"]["kargo.akuity.io/cred-type"],
        "git"
    );
    assert_eq!(
        stored["metadata"]["annotations"]["kargo.akuity.io/description"],
        "bot for app"
    );
    assert_eq!(secret_value(&s, "p", "app", "password"), "s3cr3t-one");
    assert_eq!(secret_value(&s, "p", "app", "username"), "bot");

    // --image with a pattern, in the default project; the alias `repo-creds`.
    ok(&s.kargo(&["config", "set-project", "p"]));
    ok(&s.kargo(&[
        "create",
        "repo-creds",
        "images",
        "--image",
        "--repo-url=^ghcr\\.io/example/.*$",
        "--regex",
        "--username=puller",
        "--password=s3cr3t-two",
    ]));
    assert_eq!(secret_value(&s, "p", "images", "repoURLIsRegex"), "true");

    // --shared lands in kargo-shared-resources, whatever the default project.
    let out = ok(&s.kargo_stdin(
        &[
            "create",
            "repo-credentials",
            "--shared",
            "github",
            "--git",
            "--repo-url=^https://github\\.com/.*$",
            "--regex",
            "--username=org-bot",
            "--password-stdin",
            "-o",
            "json",
        ],
        Some("s3cr3t-org\n"),
    ));
    let created = json(&out);
    assert_eq!(created["metadata"]["namespace"], SHARED);
    assert_eq!(created["stringData"]["password"], REDACTED);
    assert_eq!(created["stringData"]["username"], "org-bot");
    assert!(created.get("data").is_none(), "{created}");
    assert_eq!(secret_value(&s, SHARED, "github", "username"), "org-bot");

    // Usage errors: no type, a wrong --type, --project with --shared.
    let no_type = s.kargo(&[
        "create",
        "repo-credentials",
        "x",
        "--repo-url=u",
        "--username=u",
        "--password=p",
    ]);
    assert!(fails(&no_type).contains("--git, --helm, --image or --type"));
    let bad_type = s.kargo(&[
        "create",
        "repo-credentials",
        "x",
        "--type=svn",
        "--repo-url=u",
        "--username=u",
        "--password=p",
    ]);
    assert!(fails(&bad_type).contains("git, helm, or image"));
    let both = s.kargo(&[
        "create",
        "repo-credentials",
        "x",
        "-p",
        "p",
        "--shared",
        "--git",
        "--repo-url=u",
        "--username=u",
        "--password=p",
    ]);
    fails(&both);
    assert_eq!(exit_code(&both), Some(2));

    // get: Kargo's table (NAME TYPE REGEX REPO AGE), names sorted, no secrets.
    let table = ok(&s.kargo(&["get", "repo-credentials"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "TYPE", "REGEX", "REPO", "AGE"],
        "{table}"
    );
    assert!(
        lines[1].starts_with("app ") && lines[1].contains("git"),
        "{table}"
    );
    assert!(
        lines[1].contains("https://github.com/example/app.git"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("images ") && lines[2].contains("true"),
        "{table}"
    );
    assert_eq!(lines.len(), 3, "{table}");
    let no_headers = ok(&s.kargo(&["get", "repo-credentials", "--no-headers"]));
    assert!(no_headers.starts_with("app "), "{no_headers}");
    let shared = ok(&s.kargo(&["get", "repo-credentials", "--shared"]));
    assert!(
        shared
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("github ")),
        "{shared}"
    );

    // -o json|yaml|name: redacted as Kargo's API redacts.
    let one = json(&ok(&s.kargo(&[
        "get",
        "repo-credentials",
        "app",
        "-o",
        "json",
    ])));
    assert_eq!(one["kind"], "Secret");
    assert_eq!(one["stringData"]["password"], REDACTED);
    assert_eq!(
        one["stringData"]["repoURL"],
        "https://github.com/example/app.git"
    );
    assert_eq!(
        one["metadata"]["annotations"]["kargo.akuity.io/description"],
        "bot for app"
    );
    let all = ok(&s.kargo(&["get", "repo-credentials", "-o", "yaml"]));
    assert!(
        all.contains("kind: List") && all.contains(REDACTED),
        "{all}"
    );
    for out in [&all, &table] {
        assert!(!out.contains("s3cr3t"), "a password was printed: {out}");
    }
    let names = ok(&s.kargo(&["get", "repo-credentials", "-o", "name"]));
    assert_eq!(names, "secret/app\nsecret/images\n");

    // Several names: the ones found are printed, a missing one fails the command.
    let some = s.kargo(&["get", "repo-credentials", "app", "nope", "-o", "name"]);
    assert_eq!(String::from_utf8_lossy(&some.stdout), "secret/app\n");
    assert!(fails(&some).contains("nope"));
    // A Secret that is not repository credentials is not one.
    ok(&s.kubectl(&[
        "create",
        "secret",
        "generic",
        "plain",
        "-n",
        "p",
        "--from-literal=k=v",
    ]));
    let plain = fails(&s.kargo(&["get", "repo-credentials", "plain"]));
    assert!(
        plain.contains("is not labeled with kargo.akuity.io/cred-type"),
        "{plain}"
    );

    // update: only what is given changes; Kargo prints `secret/NAME`.
    let out = ok(&s.kargo(&[
        "update",
        "repo-credentials",
        "app",
        "--password=s3cr3t-three",
        "--description=rotated",
    ]));
    assert_eq!(out, "secret/app\n");
    assert_eq!(secret_value(&s, "p", "app", "password"), "s3cr3t-three");
    assert_eq!(secret_value(&s, "p", "app", "username"), "bot");
    let stored = s.get_json(&["secret", "app", "-n", "p"]);
    assert_eq!(
        stored["metadata"]["annotations"]["kargo.akuity.io/description"],
        "rotated"
    );
    // A new URL without --regex drops the pattern flag; --helm changes the type.
    ok(&s.kargo(&[
        "update",
        "repo-credentials",
        "images",
        "--repo-url=oci://ghcr.io/example/chart",
        "--helm",
    ]));
    let stored = s.get_json(&["secret", "images", "-n", "p"]);
    assert!(stored["data"].get("repoURLIsRegex").is_none(), "{stored}");
    assert_eq!(
        stored["metadata"]["labels"]["kargo.akuity.io/cred-type"],
        "helm"
    );
    assert!(fails(&s.kargo(&["update", "repo-credentials", "app"])).contains("at least one of"));
    assert!(
        fails(&s.kargo(&["update", "repo-credentials", "app", "--regex"]))
            .contains("--regex is only allowed")
    );
    ok(&s.kargo(&[
        "update",
        "repo-credentials",
        "--shared",
        "github",
        "--username=org-bot-2",
    ]));
    assert_eq!(secret_value(&s, SHARED, "github", "username"), "org-bot-2");

    // delete: Kargo prints `secret/NAME deleted`; other Secrets are refused.
    let out = ok(&s.kargo(&["delete", "repo-credentials", "app", "images"]));
    assert_eq!(out, "secret/app deleted\nsecret/images deleted\n");
    assert!(fails(&s.kubectl(&["get", "secret", "app", "-n", "p"])).contains("not found"));
    let refused = s.kargo(&["delete", "repo-credentials", "plain"]);
    assert!(fails(&refused).contains("is not labeled"));
    ok(&s.kubectl(&["get", "secret", "plain", "-n", "p"]));
    ok(&s.kargo(&["delete", "repo-credentials", "--shared", "github"]));
    let empty = s.kargo(&["get", "repo-credentials", "--shared"]);
    assert_eq!(ok(&empty), "");
    assert!(String::from_utf8_lossy(&empty.stderr).contains("No repository credentials found"));
}

#[test]
fn generic_credentials_in_kargos_forms() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));

    let out = ok(&s.kargo(&[
        "create",
        "generic-credentials",
        "--project=p",
        "api",
        "--description=API credentials for external service",
        "--set",
        "API_KEY=my-api-key",
        "--set",
        "API_SECRET= my-secret ",
    ]));
    assert_eq!(out, "secret/api created\n");
    let stored = s.get_json(&["secret", "api", "-n", "p"]);
    assert_eq!(
        stored["metadata"]["labels"]["kargo.akuity.io/cred-type"],
        "generic"
    );
    assert_eq!(secret_value(&s, "p", "api", "API_SECRET"), "my-secret");
    ok(&s.kargo(&[
        "create",
        "generic-creds",
        "--shared",
        "tok",
        "--set",
        "TOKEN=t0ken-sh",
    ]));
    ok(&s.kargo(&[
        "create",
        "generic-credentials",
        "--system",
        "tok",
        "--set",
        "TOKEN=t0ken-sys",
    ]));
    assert_eq!(secret_value(&s, SHARED, "tok", "TOKEN"), "t0ken-sh");
    assert_eq!(secret_value(&s, SYSTEM, "tok", "TOKEN"), "t0ken-sys");
    assert_eq!(
        exit_code(&s.kargo(&["create", "generic-credentials", "x", "-p", "p"])),
        Some(2)
    );
    assert!(
        fails(&s.kargo(&[
            "create",
            "generic-credentials",
            "x",
            "-p",
            "p",
            "--set",
            "novalue"
        ]))
        .contains("expected key=value")
    );

    // get: NAME DESCRIPTION AGE; every value redacted.
    let table = ok(&s.kargo(&["get", "generic-credentials", "-p", "p"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DESCRIPTION", "AGE"], "{table}");
    assert!(
        table.contains("API credentials for external service"),
        "{table}"
    );
    let v = json(&ok(&s.kargo(&[
        "get",
        "generic-credentials",
        "--system",
        "tok",
        "-o",
        "json",
    ])));
    assert_eq!(v["stringData"]["TOKEN"], REDACTED);
    let yaml = ok(&s.kargo(&["get", "generic-credentials", "-p", "p", "-o", "yaml"]));
    assert!(
        !yaml.contains("my-api-key") && !yaml.contains("my-secret"),
        "{yaml}"
    );

    // update: --set adds or changes, --unset removes; an empty Secret is refused.
    let out = ok(&s.kargo(&[
        "update",
        "generic-credentials",
        "-p",
        "p",
        "api",
        "--set",
        "API_KEY=new-key",
        "--set",
        "NEW=1",
        "--unset",
        "API_SECRET",
    ]));
    assert_eq!(out, "secret/api\n");
    let stored = s.get_json(&["secret", "api", "-n", "p"]);
    let keys: Vec<&String> = stored["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["API_KEY", "NEW"]);
    assert_eq!(secret_value(&s, "p", "api", "API_KEY"), "new-key");
    let empty = s.kargo(&[
        "update",
        "generic-credentials",
        "-p",
        "p",
        "api",
        "--unset",
        "API_KEY",
        "--unset",
        "NEW",
    ]);
    assert!(fails(&empty).contains("cannot have empty secret"));
    assert_eq!(secret_value(&s, "p", "api", "API_KEY"), "new-key");

    // delete, and the kinds do not mix.
    assert!(
        fails(&s.kargo(&["delete", "repo-credentials", "-p", "p", "api"]))
            .contains("unrecognized credential type \"generic\"")
    );
    assert_eq!(
        ok(&s.kargo(&["delete", "generic-credentials", "--system", "tok"])),
        "secret/tok deleted\n"
    );
    fails(&s.kubectl(&["get", "secret", "tok", "-n", SYSTEM]));
}

#[test]
fn configmaps_in_kargos_forms() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));

    let out = ok(&s.kargo(&[
        "create",
        "configmap",
        "--project=p",
        "settings",
        "--description=Configuration for my application",
        "--set",
        "CONFIG_KEY=config-value",
        "--set",
        "ANOTHER_KEY=another-value",
    ]));
    assert_eq!(out, "configmap/settings created\n");
    let stored = s.get_json(&["configmap", "settings", "-n", "p"]);
    assert_eq!(stored["data"]["CONFIG_KEY"], "config-value");
    assert_eq!(
        stored["metadata"]["annotations"]["kargo.akuity.io/description"],
        "Configuration for my application"
    );
    ok(&s.kargo(&["create", "cm", "--shared", "common", "--set", "REGION=eu"]));
    ok(&s.kargo(&[
        "create",
        "configmap",
        "--system",
        "common",
        "--set",
        "TIER=1",
    ]));
    assert_eq!(
        s.get_json(&["configmap", "common", "-n", SHARED])["data"]["REGION"],
        "eu"
    );
    assert_eq!(
        s.get_json(&["configmap", "common", "-n", SYSTEM])["data"]["TIER"],
        "1"
    );

    // get: NAME DESCRIPTION KEYS AGE; values are not secret.
    let table = ok(&s.kargo(&["get", "configmaps", "-p", "p"]));
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "DESCRIPTION", "KEYS", "AGE"], "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("settings "))
        .expect("settings row");
    assert!(
        row.contains("Configuration for my application") && row.contains(" 2 "),
        "{row}"
    );
    let v = json(&ok(&s.kargo(&[
        "get",
        "configmap",
        "--shared",
        "common",
        "-o",
        "json",
    ])));
    assert_eq!(v["data"]["REGION"], "eu");

    // update and delete.
    assert_eq!(
        ok(&s.kargo(&[
            "update",
            "configmap",
            "-p",
            "p",
            "settings",
            "--set",
            "CONFIG_KEY=new",
            "--unset",
            "ANOTHER_KEY",
        ])),
        "configmap/settings\n"
    );
    let stored = s.get_json(&["configmap", "settings", "-n", "p"]);
    assert_eq!(stored["data"], serde_json::json!({"CONFIG_KEY": "new"}));
    assert!(
        fails(&s.kargo(&[
            "update",
            "cm",
            "-p",
            "p",
            "settings",
            "--unset",
            "CONFIG_KEY"
        ]))
        .contains("ConfigMap data cannot be empty")
    );
    assert_eq!(
        ok(&s.kargo(&["delete", "configmap", "-p", "p", "settings"])),
        "configmap/settings deleted\n"
    );
    fails(&s.kubectl(&["get", "configmap", "settings", "-n", "p"]));
}

/// Shared repository credentials reach a project's Warehouse, as in
/// Kargo: the project's own first, then `kargo-shared-resources`.
#[test]
fn warehouses_find_shared_credentials() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let (url, server) = common::git_http::private_repo(home.path(), "bot", "s3cr3t-pass");

    ok(&s.kargo(&["create", "project", "p"]));
    let wh = format!(
        "kind: Warehouse\nmetadata: {{name: private, namespace: p}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"{url}\", branch: main}}\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&wh)));
    fails(&s.kargo(&["refresh", "warehouse", "private", "-p", "p", "--wait"]));
    let pattern = format!("^{}/.*$", regex_escape(&server.base));
    ok(&s.kargo_stdin(
        &[
            "create",
            "repo-credentials",
            "--shared",
            "all-local",
            "--git",
            "--repo-url",
            &pattern,
            "--regex",
            "--username=bot",
            "--password-stdin",
        ],
        Some("s3cr3t-pass\n"),
    ));
    ok(&s.kargo(&["refresh", "warehouse", "private", "-p", "p", "--wait"]));
    wait_for("Freight through the shared credentials", 30, || {
        ok(&s.kargo(&["get", "freight", "-p", "p", "-o", "name"]))
            .lines()
            .count()
            == 1
    });
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if ".+*?()|[]{}^$\\".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

#[test]
fn refresh_clusterconfig_and_projectconfig() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", "p"]));
    let m = "kind: ProjectConfig\nmetadata: {name: p, namespace: p}\nspec: {}\n---\nkind: ClusterConfig\nmetadata: {name: cluster}\nspec: {}\n";
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(m)));

    let out = ok(&s.kargo(&["refresh", "projectconfig", "-p", "p", "--wait"]));
    assert!(
        out.contains("projectconfig.kargo.akuity.io/p refreshed"),
        "{out}"
    );
    let pc = s.get_json(&["projectconfig", "p", "-n", "p"]);
    let token = pc["metadata"]["annotations"]["kargo.akuity.io/refresh"].clone();
    assert!(token.is_string(), "{pc}");
    assert_eq!(pc["status"]["lastHandledRefresh"], token);

    let out = ok(&s.kargo(&["refresh", "clusterconfig", "--wait"]));
    assert!(
        out.contains("clusterconfig.kargo.akuity.io/cluster refreshed"),
        "{out}"
    );
    let cc = s.get_json(&["clusterconfig", "cluster"]);
    assert_eq!(
        cc["status"]["lastHandledRefresh"],
        cc["metadata"]["annotations"]["kargo.akuity.io/refresh"]
    );
    // Without --wait the request is made and the command returns.
    let out = ok(&s.kargo(&["refresh", "clusterconfig"]));
    assert!(out.contains("refresh requested"), "{out}");
    assert!(fails(&s.kargo(&["refresh", "projectconfig", "-p", "nope"])).contains("nope"));
}

#[test]
fn version_prints_kargos_component_versions() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let v = json(&ok(&s.kargo(&["version", "-o", "json"])));
    assert_eq!(v["apiVersion"], "kargo.akuity.io/v1alpha1");
    assert_eq!(v["kind"], "ComponentVersions");
    let client = v["client"]["version"].as_str().expect("client version");
    assert!(!client.is_empty());
    assert_eq!(v["server"]["version"], client, "{v}");
    for key in [
        "buildDate",
        "gitCommit",
        "gitTreeDirty",
        "compiler",
        "platform",
    ] {
        assert!(
            v["client"].get(key).is_some() && v["server"].get(key).is_some(),
            "{key}: {v}"
        );
    }
    let yaml = ok(&s.kargo(&["version", "-o", "yaml"]));
    assert!(
        yaml.contains("kind: ComponentVersions") && yaml.contains("server:"),
        "{yaml}"
    );
    let only = json(&ok(&s.kargo(&["version", "--client", "-o", "json"])));
    assert!(only.get("server").is_none(), "{only}");
    let path = ok(&s.kargo(&["version", "-o", "jsonpath={.server.version}"]));
    assert_eq!(path, client);
    let lines = ok(&s.kargo(&["version"]));
    assert_eq!(
        lines,
        format!("Client Version: {client}\nServer Version: {client}\n")
    );
}
