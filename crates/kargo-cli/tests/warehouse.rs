//! Warehouses end to end through the `kargo` binary: a git remote on
//! disk, Freight appearing within one refresh, `kargo refresh warehouse
//! --wait` after a new tag, and a broken Warehouse that reports its cause
//! without stalling the others.

mod common;

use common::{ServerProc, bare_repo, fails, git, ok, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn release(work: &Path, tag: &str) {
    std::fs::write(work.join("VERSION"), tag).unwrap();
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", &format!("release {tag}")]);
    git(work, &["tag", tag]);
    git(work, &["push", "-q", "origin", "main", "--tags"]);
}

#[test]
fn freight_follows_new_tags() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let (bare, work) = bare_repo(home.path(), "app");
    let url = format!("file://{}", bare.display());
    release(&work, "v1.0.0");

    ok(&s.kargo(&["create", "project", "my-web-app"]));
    let warehouses = format!(
        "kind: Warehouse\nmetadata: {{name: app, namespace: my-web-app}}\nspec:\n  subscriptions:\n  - git:\n      repoURL: {url}\n      commitSelectionStrategy: SemVer\n      semverConstraint: ^1.0.0\n---\nkind: Warehouse\nmetadata: {{name: broken, namespace: my-web-app}}\nspec:\n  subscriptions:\n  - git:\n      repoURL: http://127.0.0.1:9/nowhere.git\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&warehouses)));

    // The first discovery happens on creation.
    let freight_lines = |s: &ServerProc| -> Vec<String> {
        let out = ok(&s.kargo(&["get", "freight", "-p", "my-web-app"]));
        out.lines().skip(1).map(String::from).collect()
    };
    wait_for("the first Freight", 30, || freight_lines(&s).len() == 1);
    let first = freight_lines(&s);
    assert!(
        first[0].contains("Warehouse") && first[0].contains("app"),
        "{first:?}"
    );
    let yaml = ok(&s.kargo(&["get", "freight", "-p", "my-web-app", "-o", "yaml"]));
    assert!(
        yaml.contains("tag: v1.0.0") && yaml.contains(&url),
        "{yaml}"
    );

    // A new tag and a refresh produce the next Freight at once.
    release(&work, "v1.1.0");
    release(&work, "v2.0.0"); // outside ^1.0.0
    let out = ok(&s.kargo(&["refresh", "warehouse", "app", "-p", "my-web-app", "--wait"]));
    assert!(out.contains("refreshed"), "{out}");
    let lines = freight_lines(&s);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("app#v1.1.0") && lines[1].contains("app#v1.0.0"),
        "newest first: {lines:?}"
    );
    let yaml = ok(&s.kargo(&["get", "freight", "-p", "my-web-app", "-o", "yaml"]));
    assert!(
        yaml.contains("tag: v1.1.0") && !yaml.contains("tag: v2.0.0"),
        "{yaml}"
    );
    // Refreshing again with nothing new is a no-op.
    ok(&s.kargo(&["refresh", "warehouse", "app", "-p", "my-web-app", "--wait"]));
    assert_eq!(freight_lines(&s).len(), 2);

    // freightCreationCriteria holds Freight back, and a bad expression says so.
    let held = format!(
        "kind: Warehouse\nmetadata: {{name: held, namespace: my-web-app}}\nspec:\n  freightCreationCriteria:\n    expression: commitFrom(\"{url}\").Tag == \"v9.9.9\"\n  subscriptions:\n  - git: {{repoURL: \"{url}\", commitSelectionStrategy: SemVer}}\n---\nkind: Warehouse\nmetadata: {{name: typo, namespace: my-web-app}}\nspec:\n  freightCreationCriteria:\n    expression: commitFrom(\"{url}\").Tag ==\n  subscriptions:\n  - git: {{repoURL: \"{url}\", commitSelectionStrategy: SemVer}}\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&held)));
    let out = ok(&s.kargo(&["refresh", "warehouse", "held", "-p", "my-web-app", "--wait"]));
    assert!(out.contains("freightCreationCriteria is false"), "{out}");
    let err = fails(&s.kargo(&["refresh", "warehouse", "typo", "-p", "my-web-app", "--wait"]));
    assert!(err.contains("freightCreationCriteria.expression"), "{err}");
    let yaml = ok(&s.kargo(&["get", "freight", "-p", "my-web-app", "-o", "yaml"]));
    assert!(
        !yaml.contains("name: held") && !yaml.contains("name: typo"),
        "{yaml}"
    );

    // Freight by hand, from what the Warehouse discovered, and an alias rename.
    let out = ok(&s.kargo(&[
        "create",
        "freight",
        "-p",
        "my-web-app",
        "--warehouse",
        "held",
        "--commit",
        &format!("{url}#v1.1.0"),
        "--alias",
        "by-hand",
    ]));
    assert!(out.contains("created (alias by-hand)"), "{out}");
    let err = fails(&s.kargo(&[
        "create",
        "freight",
        "-p",
        "my-web-app",
        "--warehouse",
        "held",
        "--commit",
        &format!("{url}#v7.7.7"),
    ]));
    assert!(err.contains("not among the commits"), "{err}");
    let err = fails(&s.kargo(&[
        "create",
        "freight",
        "-p",
        "my-web-app",
        "--warehouse",
        "held",
        "--image",
        "127.0.0.1:9/app:1.0.0",
    ]));
    assert!(err.contains("no image subscription"), "{err}");
    ok(&s.kargo(&[
        "update",
        "freight",
        "-p",
        "my-web-app",
        "--old-alias",
        "by-hand",
        "--new-alias",
        "golden-release",
    ]));
    let table = ok(&s.kargo(&["get", "freight", "-p", "my-web-app"]));
    assert!(
        table.contains("golden-release") && !table.contains("by-hand"),
        "{table}"
    );
    // Aliases stay unique.
    let first_alias = table
        .lines()
        .nth(2)
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let err = fails(&s.kargo(&[
        "update",
        "freight",
        "-p",
        "my-web-app",
        "--old-alias",
        "golden-release",
        "--new-alias",
        &first_alias,
    ]));
    assert!(err.contains("already used"), "{err}");

    // The broken Warehouse says why, and did not stall the good one.
    let err = fails(&s.kargo(&[
        "refresh",
        "warehouse",
        "broken",
        "-p",
        "my-web-app",
        "--wait",
    ]));
    assert!(
        err.contains("discovery failed") && err.contains("127.0.0.1:9"),
        "{err}"
    );
    let described = ok(&s.kubectl(&["describe", "warehouse", "broken", "-n", "my-web-app"]));
    assert!(described.contains("DiscoveryFailed"), "{described}");
    let table = ok(&s.kubectl(&["get", "warehouses", "-n", "my-web-app"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("app ") && l.contains("True")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("broken ") && l.contains("False")),
        "{table}"
    );
}

#[test]
fn private_repositories_use_project_credentials() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let root = home.path().join("repos");
    std::fs::create_dir_all(&root).unwrap();
    let (_bare, work) = bare_repo(&root, "private");
    release(&work, "v1.0.0");
    let server = common::git_http::serve(&root, "bot", "s3cr3t-pass");
    let url = format!("{}/private.git", server.base);

    ok(&s.kargo(&["create", "project", "p"]));
    let wh = format!(
        "kind: Warehouse\nmetadata: {{name: private, namespace: p}}\nspec:\n  subscriptions:\n  - git: {{repoURL: \"{url}\", branch: main}}\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&wh)));
    // Without credentials: a clear failure, no secret anywhere.
    let err = fails(&s.kargo(&["refresh", "warehouse", "private", "-p", "p", "--wait"]));
    assert!(
        err.contains("discovery failed") && err.contains("private.git"),
        "{err}"
    );
    // With credentials (password from stdin): discovery works.
    let out = ok(&s.kargo_stdin(
        &[
            "create",
            "repo-credentials",
            "private-repo",
            "-p",
            "p",
            "--git",
            "--repo-url",
            &url,
            "--username",
            "bot",
            "--password-stdin",
        ],
        Some("s3cr3t-pass\n"),
    ));
    assert!(out.contains("secret/private-repo created"), "{out}");
    ok(&s.kargo(&["refresh", "warehouse", "private", "-p", "p", "--wait"]));
    wait_for("Freight from the private repository", 30, || {
        ok(&s.kargo(&["get", "freight", "-p", "p", "-o", "name"]))
            .lines()
            .count()
            == 1
    });
    let status = ok(&s.kubectl(&["get", "warehouse", "private", "-n", "p", "-o", "yaml"]));
    assert!(!status.contains("s3cr3t"), "{status}");
    // Secrets written with stringData are stored as data, as Kubernetes does.
    let secret = ok(&s.kubectl(&[
        "get",
        "secret",
        "private-repo",
        "-n",
        "p",
        "-o",
        "jsonpath={.data.username}",
    ]));
    assert_eq!(secret, "Ym90");
}

/// A forge's push webhook refreshes the Warehouses that watch the pushed
/// repository at once; an unsigned or wrongly signed call changes nothing.
#[test]
fn push_webhooks_refresh_warehouses() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let (bare, work) = bare_repo(home.path(), "app");
    let url = format!("file://{}", bare.display());
    release(&work, "v1.0.0");
    ok(&s.kargo(&["create", "project", "p"]));
    let objs = format!(
        "kind: Warehouse\nmetadata: {{name: app, namespace: p}}\nspec:\n  interval: 1h\n  subscriptions:\n  - git: {{repoURL: \"{url}\", commitSelectionStrategy: SemVer}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: gh, namespace: p}}\nstringData: {{secret: hush-hush}}\n---\nkind: ProjectConfig\nmetadata: {{name: p, namespace: p}}\nspec:\n  webhookReceivers:\n  - name: github\n    github: {{secretRef: {{name: gh}}}}\n"
    );
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&objs)));
    let count = |s: &ServerProc| {
        ok(&s.kargo(&["get", "freight", "-p", "p", "-o", "name"]))
            .lines()
            .count()
    };
    wait_for("the first Freight", 30, || count(&s) == 1);
    let hook = s.receiver_url("p");
    assert!(
        hook.starts_with(&format!("{}/webhooks/github/", s.url)),
        "{hook}"
    );

    release(&work, "v1.1.0");
    let payload =
        format!(r#"{{"ref": "refs/tags/v1.1.0", "repository": {{"clone_url": "{url}"}}}}"#);
    let sign = |secret: &str| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = ring::hmac::sign(&key, payload.as_bytes());
        format!(
            "sha256={}",
            tag.as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    let post = |sig: &str| -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
            .arg(s.data.join("ca.crt"))
            .args([
                "-H",
                "Content-Type: application/json",
                "-H",
                "X-GitHub-Event: push",
                "-H",
                &format!("X-Hub-Signature-256: {sig}"),
                "--data-binary",
                &payload,
                &hook,
            ])
            .output()
            .expect("curl is on the machine");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    };
    let (code, body) = post(&sign("wrong"));
    assert_eq!(code, 401, "{body}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&s), 1, "a bad signature refreshes nothing");
    let (code, body) = post(&sign("hush-hush"));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("refreshed 1 warehouse(s): app"), "{body}");
    wait_for("the Freight for v1.1.0", 30, || count(&s) == 2);
    // An unknown receiver token is a plain 404.
    let bogus = hook
        .rsplit_once('/')
        .map(|(a, _)| format!("{a}/0000"))
        .unwrap();
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(s.data.join("ca.crt"))
        .args(["-X", "POST", &bogus])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
}
