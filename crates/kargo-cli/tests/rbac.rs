//! Who may promote, through the `kargo` binary and kubectl: a project's
//! default Kargo roles, a Kargo Role made with `kargo create role` and
//! `kargo grant`, an API token from `kargo create token`; the token's user
//! promotes dev, is refused on prod-us with the verb and Stage named, and
//! succeeds after `kargo grant`; `kubectl auth can-i ... --as` answers as
//! the bindings say; the Promotion names the real user; `kargo delete
//! token` revokes the token at once.

mod common;

use common::{PIPELINE, ServerProc, fails, grant_developer as grant, ok, stage, wait_for};
use std::process::Command;

const P: &str = "my-web-app";
const KARGO: &str = env!("CARGO_BIN_EXE_kargo");
const USER: &str = "system:serviceaccount:my-web-app:developer";

fn can_i_promote_prod(s: &ServerProc) -> String {
    let out = s.kubectl(&[
        "auth",
        "can-i",
        "promote",
        "stages/prod-us",
        "-n",
        P,
        "--as",
        USER,
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn promoter_is_refused_on_prod_until_granted() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", P]));
    let manifests = format!("{PIPELINE}{}{}", stage("dev"), stage("prod-us"));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    // The project's default roles, as Kargo creates them.
    wait_for("the default roles", 30, || {
        let out = String::from_utf8_lossy(
            &s.kubectl(&["get", "roles,serviceaccounts,rolebindings", "-n", P])
                .stdout,
        )
        .to_string();
        [
            "role.rbac.authorization.k8s.io/kargo-promoter",
            "serviceaccount/kargo-viewer",
            "rolebinding.rbac.authorization.k8s.io/kargo-admin",
        ]
        .iter()
        .all(|w| out.contains(w))
    });

    ok(&s.kargo(&[
        "create",
        "role",
        "developer",
        "-p",
        P,
        "--description",
        "the dev team",
    ]));
    grant(&s, &["get", "list", "watch"], "stages", None);
    grant(&s, &["get", "list", "watch"], "freights", None);
    grant(&s, &["get", "list", "watch"], "promotions", None);
    grant(&s, &["promote"], "stages", Some("dev"));
    let roles = ok(&s.kargo(&["get", "roles", "-p", P]));
    assert!(
        roles
            .lines()
            .any(|l| l.starts_with("developer ") && l.contains("true")),
        "{roles}"
    );
    let token = ok(&s.kargo(&["create", "token", "ci", "-p", P, "--role", "developer"]))
        .trim()
        .to_string();
    assert!(ok(&s.kargo(&["get", "tokens", "-p", P])).contains("ci "));

    let ca = s.data.join("ca.crt");
    let as_dev = |args: &[&str]| {
        Command::new(KARGO)
            .args(args)
            .args([
                "--server",
                &s.url,
                "--token",
                &token,
                "--certificate-authority",
            ])
            .arg(&ca)
            .env("KARGO_CONFIG", home.path().join("dev.yaml"))
            .output()
            .unwrap()
    };
    let promote = |stage: &str| {
        as_dev(&[
            "promote",
            "-p",
            P,
            "--stage",
            stage,
            "--freight",
            "quiet-otter",
        ])
    };
    ok(&promote("dev"));
    let err = fails(&promote("prod-us"));
    assert!(
        err.contains("cannot promote") && err.contains("\"prod-us\"") && err.contains(USER),
        "{err}"
    );
    assert!(
        err.contains("Role \"kargo-promoter\""),
        "the refusal names a role that grants it: {err}"
    );
    assert_eq!(can_i_promote_prod(&s), "no");
    // The web UI acts as the signed-in user: the same refusal, shown as a flash.
    let ui = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-i", "--cacert"])
            .arg(&ca)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let signed = ui(&[
        "-d",
        &format!("token={token}"),
        &format!("{}/ui/login", s.url),
    ]);
    let cookie = signed
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie: {signed}"))
        .to_string();
    let freight = s.get_json(&[
        "freights",
        "-n",
        P,
        "-l",
        "kargo.akuity.io/alias=quiet-otter",
    ]);
    let fname = freight["items"][0]["metadata"]["name"].as_str().unwrap();
    let refused = ui(&[
        "-H",
        &format!("Cookie: {cookie}"),
        "-d",
        &format!("action=promote&stage=prod-us&freight={fname}"),
        &format!("{}/ui/projects/{P}/act", s.url),
    ]);
    let to = refused
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_default();
    assert!(
        to.contains("err=") && to.contains("cannot+promote"),
        "{refused}"
    );
    // The developer cannot grant itself more.
    let err = fails(&as_dev(&[
        "grant",
        "-p",
        P,
        "--role",
        "developer",
        "--verb",
        "promote",
        "--resource-type",
        "stages",
    ]));
    assert!(err.contains("forbidden"), "{err}");

    grant(&s, &["promote"], "stages", Some("prod-us"));
    assert_eq!(can_i_promote_prod(&s), "yes");
    ok(&promote("prod-us"));
    let promos = s.get_json(&["promotions", "-n", P]);
    let actors: Vec<&str> = promos["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["metadata"]["annotations"]["kargo.akuity.io/create-actor"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(actors, vec![format!("kubernetes:{USER}"); 2]);

    ok(&s.kargo(&["delete", "token", "ci", "-p", P]));
    let err = fails(&as_dev(&["get", "stages", "-p", P]));
    assert!(
        err.to_lowercase().contains("unauthorized")
            || err.contains("401")
            || err.contains("not valid"),
        "{err}"
    );
}

#[test]
fn admin_signs_in_with_a_password() {
    let home = tempfile::tempdir().unwrap();
    let hash = Command::new(KARGO)
        .args(["server", "hash-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"correct horse\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let hash = ok(&hash).trim().to_string();
    assert!(hash.starts_with("$2"), "{hash}");
    let s = ServerProc::start_env(
        home.path(),
        &[("ADMIN_ACCOUNT_PASSWORD_HASH", std::ffi::OsStr::new(&hash))],
        &[],
    );
    let ca = s.data.join("ca.crt");
    let login = |password: &str| {
        let mut c = Command::new(KARGO)
            .args(["login", &s.url, "--admin", "--password-stdin", "--ca-file"])
            .arg(&ca)
            .env("KARGO_CONFIG", home.path().join("admin.yaml"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        c.wait_with_output().unwrap()
    };
    let err = fails(&login("wrong"));
    assert!(err.contains("wrong password"), "{err}");
    ok(&login("correct horse"));
    let cfg = std::fs::read_to_string(home.path().join("admin.yaml")).unwrap();
    assert!(
        !cfg.contains("correct horse"),
        "the password is never saved"
    );
    let out = Command::new(KARGO)
        .args(["create", "project", "signed-in"])
        .env("KARGO_CONFIG", home.path().join("admin.yaml"))
        .output()
        .unwrap();
    ok(&out);
    let p = s.get_json(&["project", "signed-in"]);
    assert_eq!(
        p["metadata"]["annotations"]["kargo.akuity.io/create-actor"],
        "admin"
    );
    // The UI offers the password too and opens a session with it.
    let ui = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-i", "--cacert"])
            .arg(&ca)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(ui(&[&format!("{}/ui", s.url)]).contains("Admin password"));
    let wrong = ui(&["-d", "password=nope", &format!("{}/ui/login", s.url)]);
    assert!(wrong.contains("Wrong password."), "{wrong}");
    let signed = ui(&[
        "-d",
        "password=correct horse",
        &format!("{}/ui/login", s.url),
    ]);
    let cookie = signed
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie: {signed}"))
        .to_string();
    let page = ui(&["-H", &format!("Cookie: {cookie}"), &format!("{}/ui", s.url)]);
    assert!(page.contains("/ui/projects/signed-in"), "{page}");
}

#[test]
fn deleting_a_project_deletes_its_roles() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    ok(&s.kargo(&["create", "project", P]));
    let cluster = || {
        String::from_utf8_lossy(
            &s.kubectl(&["get", "clusterroles,clusterrolebindings", "-o", "name"])
                .stdout,
        )
        .to_string()
    };
    let admin = format!("kargo-project-admin-{P}");
    wait_for("the project's roles", 30, || {
        let ns = String::from_utf8_lossy(
            &s.kubectl(&[
                "get",
                "roles,serviceaccounts,rolebindings",
                "-n",
                P,
                "-o",
                "name",
            ])
            .stdout,
        )
        .to_string();
        ns.matches("kargo-").count() == 9 && cluster().matches(admin.as_str()).count() == 2
    });
    // Later reconciles (here: the stats of new Stages) read no roles again.
    let gets = |resource: &str| -> u64 {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(s.data.join("ca.crt"))
            .args(["-H", &format!("Authorization: Bearer {}", s.token())])
            .arg(format!("{}/metrics", s.url))
            .output()
            .unwrap();
        let want = format!("verb=\"get\",resource=\"{resource}\"");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("kargo_controller_api_requests") && l.contains(&want))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let (roles, namespaces) = (gets("roles"), gets("namespaces"));
    let manifests = format!("{PIPELINE}{}{}", stage("dev"), stage("prod-us"));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    wait_for("the project's stats", 30, || {
        s.get_json(&["project", P])["status"]["stats"]["stages"]["count"] == 2
    });
    let reconciles = gets("namespaces") - namespaces;
    eprintln!(
        "project reconciles: {reconciles}, role GETs: {}",
        gets("roles") - roles
    );
    assert!(reconciles >= 1, "the project was reconciled again");
    assert_eq!(gets("roles"), roles, "no role re-read per reconcile");

    ok(&s.kargo(&["delete", "project", P]));
    wait_for("the project's roles to go", 30, || {
        let ns = s.kubectl(&[
            "get",
            "roles,serviceaccounts,rolebindings",
            "-n",
            P,
            "-o",
            "name",
        ]);
        !cluster().contains(&admin) && String::from_utf8_lossy(&ns.stdout).trim().is_empty()
    });
}
