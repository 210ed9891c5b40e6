//! Sign-in with OpenID Connect through `kargo server`, against the
//! in-test provider (`common/oidc.rs`, real RS256-signed tokens): an ID
//! token whose `email` claim a ServiceAccount's `rbac.kargo.akuity.io/claims`
//! annotation names acts with that ServiceAccount's bindings (promotes
//! dev, refused on prod-us with the verb and Stage named, recorded as
//! `email:<user>`); tokens for another audience, expired or signed by
//! another key are refused; `kargo login --sso` completes the PKCE round
//! trip (the test plays the browser with curl) and refreshes the ID token
//! when it runs out.

mod common;

use common::oidc::Provider;
use common::{PIPELINE, ServerProc, fails, grant_developer, ok, stage, wait_for};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const P: &str = "my-web-app";
const KARGO: &str = env!("CARGO_BIN_EXE_kargo");
const CLIENT: &str = "kargo";
const EMAIL: &str = "ana@example.com";

fn provider(ttl: i64) -> Provider {
    Provider::start(
        CLIENT,
        json!({"sub": "ana", "email": EMAIL, "groups": ["devs"]}),
        ttl,
    )
}

fn server(home: &std::path::Path, p: &Provider) -> ServerProc {
    ServerProc::start_with(
        home,
        &["--oidc-issuer-url", &p.issuer, "--oidc-client-id", CLIENT],
    )
}

/// A project with dev and prod-us, and a Kargo role `developer` mapped
/// to the user's email that may promote to dev only.
fn project_with_developer(s: &ServerProc) {
    ok(&s.kargo(&["create", "project", P]));
    let manifests = format!("{PIPELINE}{}{}", stage("dev"), stage("prod-us"));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&manifests)));
    wait_for("the default roles", 30, || {
        ok(&s.kubectl(&["get", "serviceaccounts", "-n", P])).contains("kargo-promoter")
    });
    let claim = format!("email={EMAIL}");
    ok(&s.kargo(&["create", "role", "developer", "-p", P, "--claim", &claim]));
    grant_developer(s, &["get", "list", "watch"], "stages", None);
    grant_developer(s, &["get", "list", "watch"], "freights", None);
    grant_developer(s, &["get", "list", "watch"], "promotions", None);
    grant_developer(s, &["promote"], "stages", Some("dev"));
}

/// `kargo ARGS` with `token` against `s`, with a config of its own.
fn as_user(s: &ServerProc, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(KARGO)
        .args(args)
        .args([
            "--server",
            &s.url,
            "--token",
            token,
            "--certificate-authority",
        ])
        .arg(s.data.join("ca.crt"))
        .env("KARGO_CONFIG", s.home.join("user.yaml"))
        .output()
        .unwrap()
}

#[test]
fn id_tokens_act_as_the_service_accounts_their_claims_map_to() {
    let home = tempfile::tempdir().unwrap();
    let idp = provider(300);
    let s = server(home.path(), &idp);
    // The CLI and the UI learn how to sign in from the public configuration.
    let cfg = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(s.data.join("ca.crt"))
        .arg(format!("{}/v1beta1/system/public-server-config", s.url))
        .output()
        .unwrap();
    let cfg: serde_json::Value = serde_json::from_slice(&cfg.stdout).unwrap();
    assert_eq!(cfg["oidcConfig"]["issuerUrl"], idp.issuer);
    assert_eq!(cfg["oidcConfig"]["clientId"], CLIENT);
    assert_eq!(
        cfg["oidcConfig"]["scopes"],
        json!(["openid", "profile", "email"])
    );
    project_with_developer(&s);

    let token = idp.id_token(CLIENT, 300);
    let promote = |stage: &str| {
        as_user(
            &s,
            &token,
            &[
                "promote",
                "-p",
                P,
                "--stage",
                stage,
                "--freight",
                "quiet-otter",
            ],
        )
    };
    ok(&promote("dev"));
    let err = fails(&promote("prod-us"));
    assert!(
        err.contains("cannot promote") && err.contains("\"prod-us\"") && err.contains(EMAIL),
        "{err}"
    );
    let promos = s.get_json(&["promotions", "-n", P]);
    let actors: Vec<&serde_json::Value> = promos["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["metadata"]["annotations"]["kargo.akuity.io/create-actor"])
        .collect();
    assert_eq!(actors, vec![&json!(format!("email:{EMAIL}"))]);

    // Unmapping the claim takes the rights away at once.
    ok(&s.kargo(&[
        "revoke",
        "-p",
        P,
        "--role",
        "developer",
        "--claim",
        &format!("email={EMAIL}"),
    ]));
    let err = fails(&as_user(&s, &token, &["get", "stages", "-p", P]));
    assert!(err.contains("forbidden"), "{err}");

    for (what, bad, expect) in [
        (
            "another audience",
            idp.id_token("someone-else", 300),
            "audience",
        ),
        ("an expired token", idp.id_token(CLIENT, -120), "expired"),
        ("another key", idp.forged_token(CLIENT), "signature"),
    ] {
        let err = fails(&as_user(&s, &bad, &["get", "stages", "-p", P])).to_lowercase();
        assert!(
            err.contains("invalid id token") && err.contains(expect),
            "{what}: {err}"
        );
        let code = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(s.data.join("ca.crt"))
            .args(["-H", &format!("Authorization: Bearer {bad}")])
            .arg(format!(
                "{}/apis/kargo.akuity.io/v1alpha1/namespaces/{P}/stages",
                s.url
            ))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&code.stdout), "401", "{what}");
    }
}

#[test]
fn kargo_login_sso_completes_the_pkce_round_trip_and_refreshes() {
    let home = tempfile::tempdir().unwrap();
    // ID tokens that live 30 s: the CLI refreshes them on its next use.
    let idp = provider(30);
    let s = server(home.path(), &idp);
    project_with_developer(&s);

    let mut login = Command::new(KARGO)
        .args(["login", &s.url, "--sso"])
        .env("KARGO_CONFIG", home.path().join("config.yaml"))
        .env("HOME", home.path())
        .env_remove("DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(login.stderr.take().unwrap());
    let mut authorize = String::new();
    while !authorize.starts_with(&format!("{}/authorize?", idp.issuer)) {
        authorize.clear();
        assert!(
            stderr.read_line(&mut authorize).unwrap() > 0,
            "no sign-in address printed"
        );
        authorize = authorize.trim().to_string();
    }
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(authorize.contains("offline_access"), "{authorize}");
    // The browser: the provider signs the user in and redirects to the
    // CLI's loopback callback.
    let browser = Command::new("curl")
        .args(["-sS", "-L", "--max-time", "30", &authorize])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&browser.stdout).contains("Signed in"),
        "{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    let out = login.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        idp.exchanged(),
        1,
        "one code exchanged with a matching PKCE verifier"
    );
    let saved = std::fs::read_to_string(home.path().join("config.yaml")).unwrap();
    assert!(saved.contains("authMethod: sso"), "{saved}");
    assert!(saved.contains("refreshToken: rt-"), "{saved}");

    // The saved sign-in works, and being close to expiry it is refreshed first.
    let stages = ok(&s.kargo(&["get", "stages", "-p", P]));
    assert!(stages.contains("prod-us"), "{stages}");
    assert_eq!(idp.refreshed(), 1);
    let refreshed = std::fs::read_to_string(home.path().join("config.yaml")).unwrap();
    assert_ne!(refreshed, saved, "the refreshed token is saved");
    let err = fails(&s.kargo(&[
        "promote",
        "-p",
        P,
        "--stage",
        "prod-us",
        "--freight",
        "quiet-otter",
    ]));
    assert!(err.contains("cannot promote"), "{err}");
}

/// `curl -sS --cacert CA ARGS`: the body (headers too with `-i`).
fn curl(s: &ServerProc, args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(s.data.join("ca.crt"))
        .args(args)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_ui_signs_in_with_sso_shows_what_the_claims_allow_and_signs_out() {
    let home = tempfile::tempdir().unwrap();
    let idp = provider(300);
    let s = server(home.path(), &idp);
    project_with_developer(&s);
    ok(&s.kargo(&["create", "project", "other"]));
    let page = curl(&s, &[&format!("{}/ui", s.url)]);
    assert!(page.contains("Sign in with SSO"), "{page}");

    // The browser: /ui/sso → the provider → /ui/sso/callback, with cookies.
    let jar = home.path().join("cookies");
    let jar = jar.to_str().unwrap();
    let done = curl(
        &s,
        &["-L", "-c", jar, "-b", jar, &format!("{}/ui/sso", s.url)],
    );
    assert!(done.contains(&format!("Signed in as {EMAIL}")), "{done}");
    assert_eq!(idp.exchanged(), 1);
    let home_page = curl(&s, &["-b", jar, &format!("{}/ui", s.url)]);
    assert!(home_page.contains("/ui/projects/my-web-app"), "{home_page}");
    assert!(
        !home_page.contains("/ui/projects/other"),
        "only projects the user's claims reach: {home_page}"
    );
    let project = curl(&s, &["-b", jar, &format!("{}/ui/projects/{P}", s.url)]);
    assert!(project.contains("prod-us"), "{project}");

    // A callback whose state this browser did not start is refused.
    let forged = curl(
        &s,
        &[
            "-i",
            &format!("{}/ui/sso/callback?code=x&state=forged", s.url),
        ],
    );
    assert!(
        forged.starts_with("HTTP/1.1 400") || forged.starts_with("HTTP/2 400"),
        "{forged}"
    );

    // Sign out ends the session on the server: the old cookie is refused.
    curl(
        &s,
        &["-b", jar, "-X", "POST", &format!("{}/ui/logout", s.url)],
    );
    let after = curl(
        &s,
        &["-L", "-b", jar, &format!("{}/ui/projects/{P}", s.url)],
    );
    assert!(
        after.contains("Sign in with SSO") && !after.contains("prod-us"),
        "{after}"
    );
}
