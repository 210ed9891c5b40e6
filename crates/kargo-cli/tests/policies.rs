//! Promotion policies through a real `kargo server`: promotion windows
//! (one-shot `dtstart`/`dtend` windows a few seconds long) refuse a
//! promotion with the next opening, hold auto-promotion until they open,
//! and yield to an admin's recorded override; automatic rollback after a
//! failed verification promotes the last Freight verified there exactly
//! once, holds auto-promotion, and does not roll back again when the
//! rollback's own verification fails; `kargo hold|release stage`.

mod common;

use common::chain;
use common::{ServerProc, fails, ok, wait_for};
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NS: &str = "pol";

/// A loopback health endpoint answering `{"status":"ok"}` while `healthy`
/// holds, else `{"status":"bad"}`.
fn health(healthy: Arc<AtomicBool>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let body = if healthy.load(Ordering::SeqCst) {
                "{\"status\":\"ok\"}"
            } else {
                "{\"status\":\"bad\"}"
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// iCal UTC date-time `secs` from now.
fn ical_in(secs: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    jiff::Timestamp::from_second(now + secs)
        .unwrap()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// The RFC 3339 form of an iCal UTC date-time.
fn rfc3339(ical: &str) -> String {
    let t = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", ical).unwrap();
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Project `pol`, Warehouse `w`, Stage `prod-us` (one `http` step to a
/// listener that answers 200; verified by `check` when given).
fn setup(s: &ServerProc, check: Option<&str>) {
    let target = chain::ok_listener();
    let mut m = format!(
        "{}---\nkind: Warehouse\nmetadata: {{name: w, namespace: {NS}}}\nspec:\n  interval: 24h\n  subscriptions:\n  - image: {{repoURL: 127.0.0.1:9/app}}\n---\nkind: Stage\nmetadata: {{name: prod-us, namespace: {NS}}}\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: w}}\n    sources: {{direct: true}}\n  promotionTemplate:\n    spec:\n      steps:\n      - uses: http\n        config: {{url: \"http://{target}/deploy\"}}\n",
        chain::project(NS)
    );
    if let Some(addr) = check {
        m.push_str("  verification:\n    analysisTemplates: [{name: up}]\n");
        m.push_str(&format!(
            "---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: up, namespace: {NS}}}\nspec:\n  metrics:\n  - name: up\n    successCondition: result == \"ok\"\n    provider:\n      web: {{url: \"http://{addr}/healthz\", jsonPath: \"{{$.status}}\"}}\n"
        ));
    }
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(&m)));
}

fn apply(s: &ServerProc, manifest: &str) {
    ok(&s.kargo_stdin(&["apply", "-f", "-"], Some(manifest)));
}

/// The ProjectConfig: auto-promotion (and `extra` policy lines) for
/// prod-us, and `windows` (YAML list items).
fn project_config(extra: &str, windows: &str) -> String {
    format!(
        "kind: ProjectConfig\nmetadata: {{name: {NS}, namespace: {NS}}}\nspec:\n  promotionPolicies:\n  - stageSelector: {{name: prod-us}}\n    autoPromotionEnabled: true\n{extra}{windows}"
    )
}

fn promotions(s: &ServerProc) -> Vec<Value> {
    s.get_json(&["promotions", "-n", NS])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn freight_name(s: &ServerProc, alias: &str) -> String {
    let l = format!("kargo.akuity.io/alias={alias}");
    s.get_json(&["freight", "-n", NS, "-l", &l])["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

fn stage(s: &ServerProc) -> Value {
    s.get_json(&["stage", "prod-us", "-n", NS])
}

fn succeeded(s: &ServerProc, freight: &str) -> bool {
    promotions(s)
        .iter()
        .any(|p| p["spec"]["freight"] == freight && p["status"]["phase"] == "Succeeded")
}

#[test]
fn windows_refuse_then_open_and_an_admin_overrides_with_a_reason() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    setup(&s, None);
    let (start, end) = (ical_in(-2), ical_in(8));
    let deny = format!(
        "  promotionWindows:\n  - name: freeze\n    kind: Deny\n    dtstart: \"{start}\"\n    dtend: \"{end}\"\n"
    );
    apply(&s, &project_config("", &deny));
    apply(&s, &chain::freight(NS, 1));
    let f1 = freight_name(&s, "f-1");

    // Refused at admission, with the next opening.
    let err = fails(&s.kargo(&["promote", "-p", NS, "--stage", "prod-us", "--freight", &f1]));
    assert!(
        err.contains(r#"promotion windows close Stage "prod-us" to promotions: Deny window "freeze" is active"#)
            && err.contains(&format!("it next opens at {}", rfc3339(&end))),
        "{err}"
    );
    // The Stage says so, and `kargo get stages` shows the opening.
    wait_for("the window status", 10, || {
        stage(&s)["status"]["promotionWindowStatus"]["closed"] == true
    });
    assert_eq!(
        stage(&s)["status"]["promotionWindowStatus"]["nextOpen"],
        rfc3339(&end).as_str()
    );
    let table = ok(&s.kargo(&["get", "stages", "-p", NS]));
    assert!(
        table.contains("WINDOW") && table.contains(&format!("closed until {}", rfc3339(&end))),
        "{table}"
    );
    // Auto-promotion waits: no Promotion while the window is closed ...
    std::thread::sleep(Duration::from_secs(2));
    assert!(promotions(&s).is_empty(), "{:?}", promotions(&s));
    // ... and happens once it opens.
    wait_for("the auto-promotion after the window", 30, || {
        succeeded(&s, &f1)
    });
    let p = &promotions(&s)[0];
    let created = p["metadata"]["creationTimestamp"].as_str().unwrap();
    assert!(
        created[..19] >= rfc3339(&end)[..19],
        "{created} before {end}"
    );
    assert_eq!(
        stage(&s)["status"]["promotionWindowStatus"]["closed"],
        false
    );

    // A new freeze; an admin overrides it with a reason.
    let deny = format!(
        "  promotionWindows:\n  - name: freeze\n    kind: Deny\n    dtstart: \"{}\"\n    dtend: \"{}\"\n",
        ical_in(-2),
        ical_in(600)
    );
    apply(&s, &project_config("", &deny));
    apply(&s, &chain::freight(NS, 2));
    let f2 = freight_name(&s, "f-2");
    fails(&s.kargo(&[
        "promote",
        "-p",
        NS,
        "--stage",
        "prod-us",
        "--freight",
        &f2,
        "--override-window",
    ]));
    let out = ok(&s.kargo(&[
        "promote",
        "-p",
        NS,
        "--stage",
        "prod-us",
        "--freight",
        &f2,
        "--override-window",
        "--reason",
        "hotfix for incident 42",
        "-o",
        "json",
    ]));
    let p: Value = serde_json::from_str(&out).unwrap();
    let ann = &p["metadata"]["annotations"];
    assert_eq!(
        ann["kargo.akuity.io/override-window"],
        "hotfix for incident 42"
    );
    assert_eq!(
        ann["kargo.akuity.io/override-window-actor"],
        ann["kargo.akuity.io/create-actor"]
    );
    assert!(
        !ann["kargo.akuity.io/override-window-actor"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    wait_for("the override to succeed", 30, || succeeded(&s, &f2));
}

/// Rollback Promotions of the project.
fn rollbacks(s: &ServerProc) -> Vec<Value> {
    promotions(s)
        .into_iter()
        .filter(|p| p["metadata"]["annotations"]["kargo.akuity.io/rollback"] == "true")
        .collect()
}

fn events(s: &ServerProc, reason: &str) -> Vec<Value> {
    s.get_json(&["events", "-n", NS])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

fn verified(s: &ServerProc, freight: &str) -> bool {
    !s.get_json(&["freight", freight, "-n", NS])["status"]["verifiedIn"]["prod-us"].is_null()
}

#[test]
fn a_failed_verification_rolls_back_once_holds_and_is_released() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start(home.path());
    let healthy = Arc::new(AtomicBool::new(true));
    let check = health(healthy.clone());
    setup(&s, Some(&check));
    let rollback = "    autoRollback:\n      onVerification: [Failed]\n";
    apply(&s, &project_config(rollback, ""));
    apply(&s, &chain::freight(NS, 1));
    let f1 = freight_name(&s, "f-1");
    wait_for("f-1 verified in prod-us", 60, || verified(&s, &f1));

    // f-2 fails its verification: one rollback to f-1, and a hold.
    healthy.store(false, Ordering::SeqCst);
    apply(&s, &chain::freight(NS, 2));
    let f2 = freight_name(&s, "f-2");
    wait_for("a rollback Promotion", 60, || !rollbacks(&s).is_empty());
    let r = &rollbacks(&s)[0];
    assert_eq!(r["spec"]["freight"], f1.as_str(), "{r}");
    let rname = r["metadata"]["name"].as_str().unwrap().to_string();
    wait_for("the rollback to succeed", 60, || {
        succeeded(&s, &f1) && { rollbacks(&s)[0]["status"]["phase"] == "Succeeded" }
    });
    let held = || {
        stage(&s)["status"]["autoPromotionHolds"]["Warehouse/w"]["promotionName"] == rname.as_str()
    };
    for _ in 0..60 {
        if held() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(held(), "no hold by {rname}: {}", stage(&s)["status"]);
    assert_eq!(events(&s, "AutoRollback").len(), 1);
    // The rollback's own verification fails too (still unhealthy): no
    // second rollback, and an Event says so.
    wait_for("the AutoRollbackFailed event", 60, || {
        !events(&s, "AutoRollbackFailed").is_empty()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rollbacks(&s).len(), 1, "{:?}", rollbacks(&s));
    let current = &stage(&s)["status"]["freightHistory"][0]["items"]["Warehouse/w"]["name"];
    assert_eq!(current, f1.as_str());
    assert!(
        !succeeded(&s, &f2)
            || promotions(&s)
                .iter()
                .filter(|p| p["spec"]["freight"] == f2.as_str())
                .count()
                == 1
    );

    // Held: new Freight is not auto-promoted; `kargo get stages` shows why.
    healthy.store(true, Ordering::SeqCst);
    apply(&s, &chain::freight(NS, 3));
    let f3 = freight_name(&s, "f-3");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !promotions(&s)
            .iter()
            .any(|p| p["spec"]["freight"] == f3.as_str())
    );
    let table = ok(&s.kargo(&["get", "stages", "-p", NS]));
    assert!(table.contains(&format!("by {rname}")), "{table}");

    // Released with one command: f-3 goes out.
    ok(&s.kargo(&["release", "stage", "prod-us", "-p", NS]));
    wait_for("f-3 auto-promoted after the release", 60, || {
        succeeded(&s, &f3)
    });
    assert!(stage(&s)["status"]["autoPromotionHolds"].is_null());

    // A manual hold, with its reason and who set it.
    ok(&s.kargo(&[
        "hold",
        "stage",
        "prod-us",
        "--reason",
        "incident 7",
        "-p",
        NS,
    ]));
    wait_for("the manual hold", 30, || {
        !stage(&s)["status"]["effectiveAutoPromotionHolds"]["Warehouse/w"].is_null()
    });
    let hold = &stage(&s)["status"]["effectiveAutoPromotionHolds"]["Warehouse/w"];
    assert!(!hold["actor"].as_str().unwrap_or("").is_empty(), "{hold}");
    let table = ok(&s.kargo(&["get", "stages", "-p", NS]));
    assert!(table.contains("incident 7"), "{table}");
    apply(&s, &chain::freight(NS, 4));
    let f4 = freight_name(&s, "f-4");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !promotions(&s)
            .iter()
            .any(|p| p["spec"]["freight"] == f4.as_str())
    );
}
