//! Kargo's own CLI forms (akuity/kargo `pkg/cli/cmd`) run against a real
//! `kargo server`: each command line as Kargo's docs write it, checked
//! for its output's shape and its exit code; and shell completion
//! generated, loaded into bash, zsh and fish and asked for a Stage name.

mod common;

use common::chain::{self, Shape};
use common::{KARGO, ServerProc, fails, ok};
use std::process::Command;

const NS: &str = "forms";

/// A listener that accepts connections and never answers (a step that
/// hangs until its Promotion is aborted or the wait gives up).
fn silent_listener() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

/// Project `forms`: Warehouse `w`, Stages s0 (verified by a web check)
/// <- s1, s2; `bad` whose step fails; `slow` whose step never ends; and
/// three pieces of Freight, aliased f-1, f-2 and f-3.
fn setup(s: &ServerProc) {
    let okay = chain::ok_listener();
    let silent = silent_listener();
    let mut m = format!(
        "{}---\n{}",
        chain::project(NS),
        chain::stages(NS, 3, Shape::FanOut, &okay)
    );
    m = m.replace(
        "kind: Stage\nmetadata: {name: s0, namespace: forms}\nspec:\n",
        "kind: Stage\nmetadata: {name: s0, namespace: forms}\nspec:\n  verification:\n    analysisTemplates: [{name: up}]\n",
    );
    m.push_str(&format!(
        "---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: up, namespace: {NS}}}\nspec:\n  metrics:\n  - name: up\n    successCondition: result == \"ok\"\n    provider:\n      web: {{url: \"http://{okay}/healthz\", jsonPath: \"{{$.status}}\"}}\n"
    ));
    for (name, url, timeout) in [
        (
            "bad",
            "http://127.0.0.1:9/nothing-listens".to_string(),
            "5s",
        ),
        ("slow", format!("http://{silent}/hang"), "5s"),
    ] {
        m.push_str(&format!(
            "---\nkind: Stage\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: w}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: http\n        config: {{url: \"{url}\", timeout: {timeout}}}\n"
        ));
    }
    m.push_str(&chain::freight(NS, 1));
    m.push_str(&chain::freight(NS, 2));
    m.push_str(&chain::freight(NS, 3));
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&m)));
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `kargo promote ARGS --wait --timeout SECS`.
fn waiting(s: &ServerProc, args: &[&str], secs: &str) -> std::process::Output {
    let mut all = vec!["promote"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--wait", "--timeout", secs]);
    s.kargo(&all)
}

/// The Freight name behind an alias, through Kargo's `get freight --alias` form.
fn name_of(s: &ServerProc, alias: &str) -> String {
    ok(&s.kargo(&[
        "get",
        "freight",
        "--alias",
        alias,
        "-o",
        "jsonpath={.metadata.name}",
    ]))
}

#[test]
fn kargo_cli_forms_against_a_server() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    setup(&s);

    // config set-project / get-project / view / unset.
    ok(&s.kargo(&["config", "set-project", NS]));
    assert_eq!(ok(&s.kargo(&["config", "get-project"])).trim(), NS);
    let view = ok(&s.kargo(&["config", "view"]));
    assert!(
        view.contains("kind: CLIConfig") && view.contains("project: forms"),
        "{view}"
    );
    assert!(!view.contains(&s.token()), "the token is masked: {view}");
    assert!(ok(&s.kargo(&["config", "view", "--raw"])).contains(&s.token()));
    assert_eq!(
        ok(&s.kargo(&["config", "view", "-o", "jsonpath={.project}"])),
        NS
    );

    // get: several names, -o name, a missing name fails after printing the others.
    assert_eq!(
        ok(&s.kargo(&["get", "stages", "s0", "s1", "-o", "name"])),
        "stage.kargo.akuity.io/s0\nstage.kargo.akuity.io/s1\n"
    );
    let o = s.kargo(&["get", "stage", "s0", "nope"]);
    let (out, err) = text(&o);
    assert!(
        !o.status.success() && out.contains("s0") && err.contains("nope"),
        "{out}{err}"
    );
    // Tables: no empty SHARD/HEALTH columns; --no-headers; -o wide has more.
    let table = ok(&s.kargo(&["get", "stages"]));
    let header = table.lines().next().unwrap_or_default();
    assert!(header.starts_with("NAME"), "{table}");
    assert!(
        !header.contains("SHARD") && !header.contains("HEALTH"),
        "{table}"
    );
    let bare = ok(&s.kargo(&["get", "stages", "--no-headers"]));
    assert_eq!(bare.lines().count(), 5, "{bare}");
    assert!(!bare.contains("NAME"), "{bare}");
    let wide = ok(&s.kargo(&["get", "stages", "-o", "wide"]));
    let wide_header = wide.lines().next().unwrap_or_default();
    assert!(
        wide_header.contains("SHARD") && wide_header.contains("HEALTH"),
        "{wide}"
    );
    assert!(wide_header.split_whitespace().count() > header.split_whitespace().count());
    // jsonpath and go-template.
    let sorted = |text: String, sep: char| {
        let mut v: Vec<String> = text
            .split(sep)
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    let all = ["bad", "s0", "s1", "s2", "slow"];
    assert_eq!(
        sorted(
            ok(&s.kargo(&["get", "stages", "-o", "jsonpath={.items[*].metadata.name}"])),
            ' '
        ),
        all
    );
    assert_eq!(
        sorted(
            ok(&s.kargo(&[
                "get",
                "stages",
                "-o",
                "go-template={{range .items}}{{.metadata.name}};{{end}}"
            ])),
            ';'
        ),
        all
    );
    assert_eq!(
        ok(&s.kargo(&[
            "get",
            "project",
            NS,
            "-o",
            "jsonpath",
            "--template",
            "{.kind}"
        ])),
        "Project"
    );
    let projects = ok(&s.kargo(&["get", "projects"]));
    assert!(projects.lines().any(|l| l.starts_with(NS)), "{projects}");
    let warehouses = ok(&s.kargo(&["get", "warehouses", "-o", "name"]));
    assert_eq!(warehouses, "warehouse.kargo.akuity.io/w\n");
    ok(&s.kargo(&["get", "promotiontasks"]));
    let bad_format = s.kargo(&["get", "stages", "-o", "xml"]);
    assert!(text(&bad_format).1.contains("unknown output format"));
    assert!(!bad_format.status.success());

    // get freight --alias / --name / --warehouse / --origin.
    let f1 = name_of(&s, "f-1");
    let f2 = name_of(&s, "f-2");
    assert_eq!(f1.len(), 40, "{f1}");
    assert_eq!(
        ok(&s.kargo(&[
            "get",
            "freight",
            "--name",
            &f1,
            "-o",
            "jsonpath={.metadata.labels.kargo\\.akuity\\.io/alias}"
        ])),
        "f-1"
    );
    for flag in ["--warehouse", "--origin"] {
        let all = ok(&s.kargo(&["get", "freight", flag, "w", "--no-headers"]));
        assert_eq!(all.lines().count(), 3, "{flag}: {all}");
    }
    assert_eq!(
        ok(&s.kargo(&[
            "get", "freight", "--alias", "f-1", "--alias", "f-2", "-o", "name"
        ]))
        .lines()
        .count(),
        2
    );

    // promote --freight-alias --stage --wait: exit 0 and a one-line summary.
    let o = waiting(&s, &["--freight-alias", "f-1", "--stage", "s0"], "60");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.contains("Succeeded") && summary.contains("s0") && summary.ends_with("s)"),
        "{out}"
    );
    // Not a terminal: plain lines, no colour codes.
    assert!(!out.contains('\x1b'), "{out}");
    // The Stage table shows the alias, not the 40-character name; ages as kubectl's.
    common::wait_for("s0 to show f-1", 30, || {
        ok(&s.kargo(&["get", "stage", "s0"])).contains("f-1")
    });
    let row = ok(&s.kargo(&["get", "stage", "s0", "--no-headers"]));
    assert!(!row.contains(&f1), "{row}");
    let age = row.split_whitespace().last().unwrap_or_default();
    assert!(
        regex_like_age(age),
        "age {age:?} is not kubectl's form in {row}"
    );
    assert!(ok(&s.kargo(&["get", "stage", "s0", "-o", "wide"])).contains(&f1));
    // get promotions --stage.
    let promos = ok(&s.kargo(&["get", "promotions", "--stage", "s0", "--no-headers"]));
    assert_eq!(promos.lines().count(), 1, "{promos}");
    assert!(ok(&s.kargo(&["get", "promotions", "--stage", "s1", "-o", "name"])).is_empty());

    // verify stage --wait, after the first verification of f-1 in s0.
    common::wait_for("f-1 verified in s0", 60, || {
        ok(&s.kargo(&[
            "get",
            "freight",
            "--alias",
            "f-1",
            "-o",
            "jsonpath={.status.verifiedIn.s0}",
        ]))
        .contains('{')
    });
    let o = s.kargo(&["verify", "stage", "s0", "--wait", "--timeout", "60"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.lines()
            .last()
            .unwrap_or_default()
            .contains("Successful"),
        "{out}"
    );
    // The seed's form.
    ok(&s.kargo(&[
        "verify",
        "--project",
        NS,
        "--stage",
        "s0",
        "--wait",
        "--timeout",
        "60",
    ]));

    // promote --downstream-from: one Promotion per downstream Stage.
    let o = waiting(
        &s,
        &["--freight-alias", "f-1", "--downstream-from", "s0"],
        "60",
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(out.matches(" created: f-1").count(), 2, "{out}");
    assert!(out.contains("-> s1") && out.contains("-> s2"), "{out}");
    // --warehouse: the newest Freight from it that the Stage may take (only
    // f-1 is verified in s0), printed with -o name.
    let out = ok(&s.kargo(&["promote", "--warehouse", "w", "--stage", "s2", "-o", "name"]));
    assert!(
        out.starts_with("promotion.kargo.akuity.io/s2.") && out.trim_end().ends_with(&f1[..7]),
        "{out}"
    );
    // Not verified upstream: refused, with the reason.
    let err = common::fails(&s.kargo(&["promote", "--freight", &f2, "--downstream-from", "s0"]));
    assert!(err.contains("not available"), "{err}");

    // approve --freight-alias, then the promotion goes through.
    ok(&s.kargo(&["approve", "--freight-alias", "f-2", "--stage", "s1"]));
    ok(&waiting(&s, &["--freight", &f2, "--stage", "s1"], "60"));

    // A failing Promotion: exit code 1, the phase on stderr.
    let o = waiting(&s, &["--freight-alias", "f-1", "--stage", "bad"], "60");
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert!(
        text(&o).1.contains("Failed") || text(&o).1.contains("Errored"),
        "{:?}",
        text(&o)
    );
    // A wait that runs out: exit code 124; then Kargo's abort form.
    let o = waiting(&s, &["--freight-alias", "f-1", "--stage", "slow"], "1");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(124), "{out}{err}");
    let slow = common::promotion_name(&out);
    ok(&s.kargo(&["promote", "--name", &slow, "--abort"]));
    common::wait_for("the slow promotion to be aborted", 30, || {
        ok(&s.kargo(&["get", "promotion", &slow, "-o", "jsonpath={.status.phase}"])) == "Aborted"
    });
    // --abort needs --name; clap's usage errors exit 2.
    assert_eq!(s.kargo(&["promote", "--abort"]).status.code(), Some(2));

    // update freight --name / --old-alias.
    ok(&s.kargo(&["update", "freight", "--name", &f2, "--new-alias", "two"]));
    assert_eq!(name_of(&s, "two"), f2);
    ok(&s.kargo(&[
        "update",
        "freight",
        "--old-alias",
        "two",
        "--new-alias",
        "f-2",
    ]));
    assert_eq!(name_of(&s, "f-2"), f2);

    // refresh stage --wait; refresh warehouse --wait reports the failed discovery.
    let out = ok(&s.kargo(&["refresh", "stage", "s0", "--wait", "--timeout", "30"]));
    assert!(out.contains("stage.kargo.akuity.io/s0 refreshed"), "{out}");
    let o = s.kargo(&["refresh", "warehouse", "w", "--wait", "--timeout", "60"]);
    let (out, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("discovery failed"),
        "{out}{err}"
    );

    // logs NAME (Kargo's form) and logs analysisrun NAME.
    let run = ok(&s.kargo(&[
        "get",
        "stage",
        "s0",
        "-o",
        "jsonpath={.status.freightHistory[0].verificationHistory[0].analysisRun.name}",
    ]));
    assert!(!run.is_empty());
    for args in [
        vec!["logs", run.as_str()],
        vec!["logs", "analysisrun", run.as_str(), "--metric", "up"],
    ] {
        let out = ok(&s.kargo(&args));
        assert!(out.contains("metric up (Successful)"), "{out}");
    }
    assert!(fails(&s.kargo(&["logs", &run, "--metric", "nope"])).contains("no metric"));

    // delete freight --alias; delete stage with several names.
    let f3 = name_of(&s, "f-3");
    let out = ok(&s.kargo(&["delete", "freight", "--alias", "f-3"]));
    assert_eq!(out, format!("freight.kargo.akuity.io/{f3} deleted\n"));
    let out = ok(&s.kargo(&["delete", "stage", "bad", "slow"]));
    assert_eq!(out.lines().count(), 2, "{out}");

    // version --client needs no server; logout forgets it.
    let out = ok(&s.kargo(&["version", "--client"]));
    assert!(
        out.starts_with("Client Version:") && !out.contains("Server"),
        "{out}"
    );
    ok(&s.kargo(&["config", "unset", "project"]));
    assert!(fails(&s.kargo(&["config", "get-project"])).contains("not set"));
    ok(&s.kargo(&["logout"]));
    assert!(fails(&s.kargo(&["get", "projects"])).contains("no server configured"));
}

/// kubectl's ages: `45s`, `5m12s`, `20m`, `3h4m`, `2d3h`, `400d`.
fn regex_like_age(age: &str) -> bool {
    let units: String = age.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    let digits_ok = age
        .split(|c: char| c.is_ascii_alphabetic())
        .filter(|p| !p.is_empty())
        .all(|p| p.chars().all(|c| c.is_ascii_digit()));
    digits_ok && ["s", "ms", "m", "hm", "h", "dh", "d", "y"].contains(&units.as_str())
}

#[test]
fn bash_completion_offers_stage_names_from_the_server() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    setup(&s);
    ok(&s.kargo(&["config", "set-project", NS]));
    let script = ok(&s.kargo(&["completion", "bash"]));
    assert!(script.contains("complete "), "{script}");
    let script_file = home.path().join("kargo.bash");
    std::fs::write(&script_file, &script).unwrap();
    let path = path_with_kargo();
    // Load the script as a user's shell would, then ask it what follows
    // `kargo <words>` as bash does on TAB.
    let ask = |words: &str| -> Vec<String> {
        let line = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; f=$(complete -p kargo | sed 's/.*-F \\([^ ]*\\) .*/\\1/'); $f kargo \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script_file.display()
        );
        let o = Command::new("bash")
            .args(["-c", &line])
            .env("PATH", &path)
            .env("KARGO_CONFIG", home.path().join("config.yaml"))
            .env("HOME", home.path())
            .output()
            .expect("bash runs");
        assert!(o.status.success(), "{:?}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let stages = ask("kargo get stages ''");
    for st in ["s0", "s1", "s2"] {
        assert!(stages.contains(&st.to_string()), "{stages:?}");
    }
    let promote = ask("kargo promote --stage s");
    assert!(
        promote.contains(&"s0".to_string()) && !promote.contains(&"bad".to_string()),
        "{promote:?}"
    );
    let freight = ask("kargo promote --freight-alias f-");
    assert!(
        freight.contains(&"f-1".to_string()) && freight.contains(&"f-2".to_string()),
        "{freight:?}"
    );
    let projects = ask("kargo get stages -p ''");
    assert!(projects.contains(&NS.to_string()), "{projects:?}");
    let kinds = ask("kargo get sta");
    assert_eq!(kinds, ["stages"]);
    assert!(fails(&s.kargo(&["completion", "tcsh"])).contains("unknown shell"));
}

/// `PATH` with the directory of the `kargo` under test first, as a user's
/// shell finds it.
fn path_with_kargo() -> String {
    let bin_dir = std::path::Path::new(KARGO).parent().unwrap();
    format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `shell ARGS` (zsh or fish, installed by scripts/test.sh) with the
/// test's kargo configuration; its stdout lines, first tab- or
/// colon-separated field each (the candidate without its description).
fn shell_lines(home: &std::path::Path, shell: &str, args: &[&str]) -> Vec<String> {
    let o = Command::new(shell)
        .args(args)
        .env("PATH", path_with_kargo())
        .env("KARGO_CONFIG", home.join("config.yaml"))
        .env("HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("{shell} runs (scripts/test.sh installs it): {e}"));
    assert!(o.status.success(), "{shell}: {:?}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split(['\t', ':']).next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn zsh_and_fish_completion_offer_stage_names_from_the_server() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    setup(&s);
    ok(&s.kargo(&["config", "set-project", NS]));
    let zsh_script = home.path().join("_kargo");
    std::fs::write(&zsh_script, ok(&s.kargo(&["completion", "zsh"]))).unwrap();
    let fish_script = home.path().join("kargo.fish");
    std::fs::write(&fish_script, ok(&s.kargo(&["completion", "fish"]))).unwrap();

    // zsh: the completion system loads the script, which registers its
    // function for `kargo`; that function is then called as zsh calls it
    // on TAB (`words`, `CURRENT`), with `_describe` (which needs a live
    // line editor) printing the candidates it is handed.
    let zsh = |words: &str| -> Vec<String> {
        let line = format!(
            "autoload -Uz compinit && compinit -u -D && source {} && [[ $_comps[kargo] == _clap_dynamic_completer_kargo ]] || {{ print -u2 'not registered'; exit 1 }}; _describe() {{ shift 2; print -rl -- \"${{(@P)1}}\"; }}; words=({words}); CURRENT=${{#words}}; _clap_dynamic_completer_kargo",
            zsh_script.display()
        );
        shell_lines(home.path(), "zsh", &["-f", "-c", &line])
    };
    let stages = zsh("kargo get stages ''");
    for st in ["s0", "s1", "s2"] {
        assert!(stages.contains(&st.to_string()), "zsh: {stages:?}");
    }
    let promote = zsh("kargo promote --stage s");
    assert!(
        promote.contains(&"s0".to_string()) && !promote.contains(&"bad".to_string()),
        "zsh: {promote:?}"
    );

    // fish: the script is sourced and fish itself completes the line.
    let fish = |line: &str| -> Vec<String> {
        let cmd = format!(
            "source {}; complete --do-complete '{line}'",
            fish_script.display()
        );
        shell_lines(home.path(), "fish", &["--no-config", "-c", &cmd])
    };
    let stages = fish("kargo get stages ");
    for st in ["s0", "s1", "s2"] {
        assert!(stages.contains(&st.to_string()), "fish: {stages:?}");
    }
    let promote = fish("kargo promote --stage s");
    assert!(
        promote.contains(&"s0".to_string()) && !promote.contains(&"bad".to_string()),
        "fish: {promote:?}"
    );
}
