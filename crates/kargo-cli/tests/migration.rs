//! From one machine to a cluster without losing history: the quick
//! start's project, played on a standalone server, is exported with
//! `kargo export` and imported with `kargo import` into a
//! `kargo server --disable-controllers` (the API only, over TCP and TLS,
//! as a cluster's API server); a `kargo controller` then runs against it.
//! Every Freight keeps its name (ID), alias and `verifiedIn`, the Stages
//! keep the Freight they hold, nothing is promoted or verified again, and
//! prod-us takes the Freight verified upstream before the move.

mod common;

use common::cluster::ControllerProc;
use common::{KARGO, ServerProc, ok, wait_for};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const NS: &str = "my-web-app";

/// `kargo quickstart --keep-running`: the story played, its server (and
/// the demo environment prod-us verifies against) left running.
struct Quickstart {
    child: Child,
    home: PathBuf,
    config: PathBuf,
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Quickstart {
    fn start(home: &Path) -> Quickstart {
        let dir = home.join("ws");
        let mut child = Command::new(KARGO)
            .args(["quickstart", "--keep-running", "--dir"])
            .arg(&dir)
            .env("HOME", home)
            .env("KARGO_CONFIG", home.join("config.yaml"))
            .env_remove("KUBECONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut seen = String::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("Press Ctrl-C") => break,
                Some(Ok(l)) => seen.push_str(&format!("{l}\n")),
                _ => panic!("the quick start ended early:\n{seen}"),
            }
        }
        assert!(seen.contains("prod-us is back on v1.0.0"), "{seen}");
        Quickstart {
            child,
            home: home.to_path_buf(),
            config: dir.join("kargo-config.yaml"),
        }
    }

    fn kargo(&self, args: &[&str]) -> Output {
        Command::new(KARGO)
            .args(args)
            .env("KARGO_CONFIG", &self.config)
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    }
}

/// A list as JSON (`kargo get KIND -p NS -o json`).
fn items(out: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    match v.get("items") {
        Some(Value::Array(a)) => a.clone(),
        _ => vec![v],
    }
}

/// Freight name → (alias, verifiedIn, approvedFor, the tag).
fn freight_record(list: &[Value]) -> BTreeMap<String, (Value, Value, Value, Value)> {
    list.iter()
        .map(|f| {
            (
                f["metadata"]["name"].as_str().unwrap().to_string(),
                (
                    f["metadata"]["labels"]["kargo.akuity.io/alias"].clone(),
                    f["status"]["verifiedIn"].clone(),
                    f["status"]["approvedFor"].clone(),
                    f["commits"][0]["tag"].clone(),
                ),
            )
        })
        .collect()
}

/// The Freight's tags, oldest first (by `creationTimestamp` as the
/// server wrote it).
fn tags_oldest_first(list: &[Value]) -> Vec<String> {
    let mut l: Vec<(jiff::Timestamp, String)> = list
        .iter()
        .map(|f| {
            let at = f["metadata"]["creationTimestamp"].as_str().unwrap();
            (
                at.parse().unwrap(),
                f["commits"][0]["tag"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    l.sort();
    l.into_iter().map(|(_, t)| t).collect()
}

/// Stage name → the Freight it holds.
fn holding(list: &[Value]) -> BTreeMap<String, Value> {
    list.iter()
        .map(|s| {
            (
                s["metadata"]["name"].as_str().unwrap().to_string(),
                s["status"]["freightSummary"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_quick_start_moves_to_an_api_server_keeping_freight_and_verification() {
    let home = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(&home.path().join("standalone"));
    ok(&qs.kargo(&[
        "create",
        "repo-credentials",
        "--project",
        NS,
        "app",
        "--type=git",
        "--repo-url=https://git.example.com/app.git",
        "--username=bot",
        "--password=s3cr3t",
    ]));
    let get = |args: &[&str]| -> Vec<Value> {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-p", NS, "-o", "json"]);
        items(&ok(&qs.kargo(&a)))
    };
    // The rollback that ends the quick start takes v1.1.0 out of prod-us
    // with a write that lingers (`freight_writes::LINGER`, 100 ms) for
    // others to join: read until two reads half a second apart agree.
    let mut freight_before = freight_record(&get(&["freight"]));
    wait_for(
        "the Freight to stop changing after the quick start",
        10,
        || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let again = freight_record(&get(&["freight"]));
            let settled = again == freight_before;
            freight_before = again;
            settled
        },
    );
    let stages_before = holding(&get(&["stages"]));
    assert_eq!(freight_before.len(), 3, "{freight_before:#?}");

    // The export: secrets only on request, the project alone with -p.
    let plain = ok(&qs.kargo(&["export"]));
    assert!(!plain.contains("kind: Secret"), "{plain}");
    let only = ok(&qs.kargo(&["export", "--project", NS]));
    assert!(only.contains("kind: Project\n") && !only.contains("kind: ClusterConfig"));
    let exported = ok(&qs.kargo(&["export", "--include-secrets"]));
    for word in [
        "uid:",
        "resourceVersion:",
        "creationTimestamp:",
        "managedFields",
    ] {
        assert!(!exported.contains(word), "{word} exported:\n{exported}");
    }
    let kinds: Vec<&str> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    for kind in [
        "Project",
        "ProjectConfig",
        "Secret",
        "AnalysisTemplate",
        "Warehouse",
        "Freight",
        "Stage",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }

    // The import into an API-only server, then a controller against it.
    let dest = ServerProc::start_with(&home.path().join("cluster"), &["--disable-controllers"]);
    let out = ok(&dest.kargo_stdin(&["import", "-f", "-"], Some(&exported)));
    assert!(
        out.contains("freight.kargo.akuity.io/") && out.contains("imported with its status"),
        "{out}"
    );
    let dget = |kind: &str| -> Vec<Value> {
        dest.get_json(&[kind, "-n", NS])["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(freight_record(&dget("freight")), freight_before);
    assert_eq!(holding(&dget("stages")), stages_before);
    // Created in the order they were discovered: the newest (v1.2.0, which
    // dev holds) stays the newest, so dev is not auto-promoted to another.
    assert_eq!(
        tags_oldest_first(&dget("freight")),
        ["v1.0.0", "v1.1.0", "v1.2.0"]
    );
    let secret = dest.get_json(&["secret", "app", "-n", NS]);
    assert_eq!(
        secret["metadata"]["labels"]["kargo.akuity.io/cred-type"],
        "git"
    );
    // Importing again changes nothing (server-side apply).
    ok(&dest.kargo_stdin(&["import", "-f", "-"], Some(&exported)));
    assert_eq!(freight_record(&dget("freight")), freight_before);

    let ctl = ControllerProc::start(&dest, &home.path().join("ctl"), &[]);
    // Once the controller has reconciled every Stage (each has its
    // conditions again), nothing was promoted or verified again, and the
    // Warehouse's discovery found the Freight already there.
    wait_for("the controller to reconcile every Stage", 60, || {
        let stages = dget("stages");
        stages.len() == 4
            && stages.iter().all(|s| {
                s["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
            })
    });
    wait_for("the Warehouse to discover", 30, || {
        dest.get_json(&["warehouse", NS, "-n", NS])["status"]["lastFreightID"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    });
    assert!(dget("promotions").is_empty(), "{:#?}", dget("promotions"));
    assert!(
        dget("analysisruns").is_empty(),
        "{:#?}",
        dget("analysisruns")
    );
    assert_eq!(freight_record(&dget("freight")), freight_before);
    assert_eq!(holding(&dget("stages")), stages_before);

    // prod-us (back on v1.0.0 before the move) takes v1.1.0 by its alias:
    // verified in both staging Stages on the standalone server, so
    // admitted at once, with no staging re-verification.
    let (v11, (alias, _, _, _)) = freight_before
        .iter()
        .find(|(_, r)| r.3 == "v1.1.0")
        .map(|(n, r)| (n.clone(), r.clone()))
        .unwrap();
    for st in ["staging-us", "staging-eu"] {
        assert!(
            freight_before[&v11].1[st].is_object(),
            "{freight_before:#?}"
        );
    }
    let out = ok(&dest.promote_wait(NS, "prod-us", alias.as_str().unwrap()));
    assert!(out.contains("Succeeded"), "{out}");
    assert_eq!(
        holding(&dget("stages"))["prod-us"],
        Value::String(v11.clone())
    );
    // prod-us verifies what it now runs (its own check, after the move).
    wait_for("prod-us's verification to succeed", 60, || {
        dget("analysisruns")
            .first()
            .is_some_and(|r| r["status"]["phase"] == "Successful")
    });
    let runs = dget("analysisruns");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(
        runs[0]["metadata"]["labels"]["kargo.akuity.io/stage"],
        "prod-us"
    );
    wait_for("v1.1.0 verified in prod-us again", 30, || {
        freight_record(&dget("freight"))[&v11].1["prod-us"]["verifiedAt"]
            != freight_before[&v11].1["prod-us"]["verifiedAt"]
    });
    let promotions = dget("promotions");
    assert_eq!(promotions.len(), 1, "{promotions:#?}");
    // verifiedIn upstream is the one from before the move.
    let after = freight_record(&dget("freight"));
    for st in ["dev", "staging-us", "staging-eu"] {
        assert_eq!(after[&v11].1[st], freight_before[&v11].1[st], "{st}");
    }
    drop(ctl);
}
