//! Notifications end to end against in-test receivers: EventRouters of a
//! project route Kargo Events to a signed webhook (which checks the
//! HMAC signature and fails its first call), a Slack Web API stand-in
//! (`chat.postMessage` with the bot token, threads by grouping key) and
//! an SMTP sink, over the real API server and the router the controllers
//! run. One message per event, a retry after the receiver's error,
//! nothing for filtered events or other types, nothing again after a
//! restart of the router.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event, Secret};
mod common;

use common::{ApiOnlyServer, create_project};
use kargo_promotion::message::{Retry, SIGNATURE_HEADER, signature};
use kargo_server::{Server, ServerConfig};
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const HMAC_KEY: &str = "s3cret-hmac";
const TOKEN: &str = "xoxb-test-token";

#[derive(Clone, Default)]
struct Received {
    /// Webhook calls: (signature valid, body, answered status).
    webhook: Arc<Mutex<Vec<(bool, String, u16)>>>,
    /// Slack messages (JSON bodies).
    slack: Arc<Mutex<Vec<Value>>>,
    /// Mails (DATA sections).
    mail: Arc<Mutex<Vec<String>>>,
    /// SMTP AUTH lines.
    auth: Arc<Mutex<Vec<String>>>,
}

async fn webhook(State(r): State<Received>, headers: HeaderMap, body: String) -> StatusCode {
    let sig = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let valid = sig == signature(HMAC_KEY, body.as_bytes());
    let mut calls = r.webhook.lock().unwrap();
    // The receiver's first call fails: the router must retry.
    let status = if calls.is_empty() {
        503
    } else if valid {
        200
    } else {
        401
    };
    calls.push((valid, body, status));
    StatusCode::from_u16(status).unwrap()
}

async fn slack(State(r): State<Received>, headers: HeaderMap, body: String) -> axum::Json<Value> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut got = r.slack.lock().unwrap();
    got.push(v);
    axum::Json(json!({"ok": true, "ts": format!("1700000000.00010{}", got.len())}))
}

/// A minimal SMTP server: accepts every message and keeps its DATA.
async fn smtp_sink(listener: tokio::net::TcpListener, r: Received) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let r = r.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = sock.into_split();
            let mut lines = BufReader::new(rd).lines();
            wr.write_all(b"220 sink ESMTP\r\n").await.unwrap();
            let mut data: Option<String> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(d) = data.as_mut() {
                    if line == "." {
                        r.mail.lock().unwrap().push(data.take().unwrap());
                        wr.write_all(b"250 queued\r\n").await.unwrap();
                    } else {
                        d.push_str(&line);
                        d.push('\n');
                    }
                    continue;
                }
                let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250-sink\r\n250 AUTH PLAIN LOGIN\r\n",
                    "AUTH" => {
                        r.auth.lock().unwrap().push(line.clone());
                        b"235 2.7.0 authenticated\r\n"
                    }
                    "DATA" => {
                        data = Some(String::new());
                        b"354 go on\r\n"
                    }
                    "QUIT" => {
                        let _ = wr.write_all(b"221 bye\r\n").await;
                        return;
                    }
                    _ => b"250 ok\r\n",
                };
                wr.write_all(reply).await.unwrap();
            }
        });
    }
}

async fn serve(router: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    format!("http://{addr}")
}

async fn create(client: &kube::Client, v: Value) {
    let (group, version) = v["apiVersion"]
        .as_str()
        .unwrap()
        .split_once('/')
        .unwrap_or(("", "v1"));
    let kind = v["kind"].as_str().unwrap();
    let ar = kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: v["apiVersion"].as_str().unwrap().into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    };
    let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
    let api: Api<DynamicObject> = match v.pointer("/metadata/namespace") {
        Some(ns) => Api::namespaced_with(client.clone(), ns.as_str().unwrap(), &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("creating {kind}: {e}"));
}

async fn secret(client: &kube::Client, name: &str, data: &[(&str, &str)]) {
    let mut s = Secret {
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    };
    s.metadata.name = Some(name.into());
    Api::<Secret>::namespaced(client.clone(), "p")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

async fn kargo_event(client: &kube::Client, name: &str, reason: &str, stage: &str) {
    let e: Event = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "p", "annotations": {
            "event.kargo.akuity.io/project": "p",
            "event.kargo.akuity.io/stage-name": stage,
            "event.kargo.akuity.io/promotion-name": format!("{stage}.01j.abc1234"),
            "event.kargo.akuity.io/freight-name": "abc1234",
            "event.kargo.akuity.io/freight-alias": "wise-owl"}},
        "involvedObject": {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
            "name": format!("{stage}.01j.abc1234"), "namespace": "p"},
        "reason": reason, "message": format!("Promotion {}", reason.trim_start_matches("Promotion")),
        "type": "Normal"
    }))
    .unwrap();
    Api::<Event>::namespaced(client.clone(), "p")
        .create(&PostParams::default(), &e)
        .await
        .unwrap();
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..200 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn metric(line_start: &str) -> Option<f64> {
    let out = kargo_controller::metrics::render(&Default::default()).unwrap();
    out.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_deliver_each_event_once_to_webhook_slack_and_mail() {
    let api = ApiOnlyServer::start().await;
    let client = api.in_process_client();
    create_project(&client, "p").await;
    let got = Received::default();
    let hook = serve(
        axum::Router::new()
            .route("/hook", axum::routing::post(webhook))
            .route("/api/chat.postMessage", axum::routing::post(slack))
            .with_state(got.clone()),
    )
    .await;
    let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = smtp.local_addr().unwrap().port();
    tokio::spawn(smtp_sink(smtp, got.clone()));

    secret(&client, "hook", &[("hmacKey", HMAC_KEY)]).await;
    secret(&client, "slack", &[("apiKey", TOKEN)]).await;
    secret(
        &client,
        "mail",
        &[("username", "kargo"), ("password", "pw")],
    )
    .await;
    let ee = "ee.kargo.akuity.io/v1alpha1";
    for (name, spec) in [
        (
            "hook",
            json!({"secretRef": {"name": "hook"}, "http": {"url": format!("{hook}/hook"), "timeout": "5s"}}),
        ),
        (
            "slack",
            json!({"secretRef": {"name": "slack"}, "slack": {"channelID": "C123", "apiURL": format!("{hook}/api")}}),
        ),
        (
            "mail",
            json!({"secretRef": {"name": "mail"}, "smtp": {"from": "kargo@example.com",
            "to": ["team@example.com", "lead@example.com"], "host": "127.0.0.1", "port": smtp_port, "useTLS": false}}),
        ),
    ] {
        create(
            &client,
            json!({"apiVersion": ee, "kind": "MessageChannel",
            "metadata": {"name": name, "namespace": "p"}, "spec": spec}),
        )
        .await;
    }
    create(&client, json!({"apiVersion": ee, "kind": "EventRouter",
        "metadata": {"name": "prod-failures", "namespace": "p"},
        "spec": {"types": ["PromotionFailed", "PromotionErrored"],
            "when": "event.stageName == 'prod'",
            "groupingKey": "${{ event.freight.name }}",
            "channels": [
                {"kind": "MessageChannel", "name": "hook", "encodingType": "json",
                 "output": r#"{"type": "${{ event.type }}", "stage": "${{ event.stageName }}", "freight": "${{ event.freight.alias }}"}"#},
                {"kind": "MessageChannel", "name": "slack"},
                {"kind": "MessageChannel", "name": "mail"}]}})).await;

    let router = tokio::spawn(kargo_controller::notify::run(
        client.clone(),
        Retry {
            attempts: 3,
            backoff: Duration::from_millis(100),
        },
    ));
    kargo_event(&client, "e1", "PromotionFailed", "prod").await;
    kargo_event(&client, "e2", "PromotionFailed", "dev").await; // filtered by `when`
    kargo_event(&client, "e3", "PromotionSucceeded", "prod").await; // not a routed type
    // The next failure of the same Freight once the first is in Slack (its thread).
    wait_until("the first Slack message", || {
        got.slack.lock().unwrap().len() == 1
    })
    .await;
    kargo_event(&client, "e4", "PromotionErrored", "prod").await;

    wait_until("two mails", || got.mail.lock().unwrap().len() == 2).await;
    wait_until("two webhook deliveries", || {
        got.webhook
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.2 == 200)
            .count()
            == 2
    })
    .await;
    wait_until("two Slack messages", || {
        got.slack.lock().unwrap().len() == 2
    })
    .await;
    // Nothing more arrives: one message per event and channel.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = got.webhook.lock().unwrap().clone();
    assert_eq!(
        calls.len(),
        3,
        "one failed call retried, then two: {calls:?}"
    );
    assert!(calls.iter().all(|c| c.0), "every body signed: {calls:?}");
    let delivered: Vec<Value> = calls
        .iter()
        .filter(|c| c.2 == 200)
        .map(|c| serde_json::from_str(&c.1).unwrap())
        .collect();
    let mut types: Vec<&str> = delivered
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["PromotionErrored", "PromotionFailed"]);
    assert!(
        delivered
            .iter()
            .all(|v| v["stage"] == "prod" && v["freight"] == "wise-owl")
    );

    let slack = got.slack.lock().unwrap().clone();
    assert_eq!(slack.len(), 2);
    assert!(slack.iter().all(|m| m["channel"] == "C123"), "{slack:?}");
    assert!(
        slack.iter().all(|m| m["text"]
            .as_str()
            .unwrap()
            .contains("(project p, Stage prod, Freight wise-owl)")),
        "{slack:?}"
    );
    // The same grouping key (the Freight): the second message is in the first one's thread.
    let threaded: Vec<&Value> = slack
        .iter()
        .filter(|m| m.get("thread_ts").is_some())
        .collect();
    assert_eq!(threaded.len(), 1, "{slack:?}");
    assert_eq!(threaded[0]["thread_ts"], "1700000000.000101");

    let mails = got.mail.lock().unwrap().clone();
    assert!(
        mails
            .iter()
            .all(|m| m.contains("To: team@example.com") && m.contains("Cc: lead@example.com")),
        "{mails:?}"
    );
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Subject: Kargo: PromotionFailed")),
        "{mails:?}"
    );
    // The channel's Secret: AUTH PLAIN "\0kargo\0pw".
    let auth = got.auth.lock().unwrap().clone();
    assert!(
        !auth.is_empty() && auth.iter().all(|a| a == "AUTH PLAIN AGthcmdvAHB3"),
        "{auth:?}"
    );

    let retried = r#"kargo_notifications_total{project="p",channel="MessageChannel/hook",outcome="retried"} "#;
    let delivered_hook = r#"kargo_notifications_total{project="p",channel="MessageChannel/hook",outcome="delivered"} "#;
    assert_eq!(metric(retried), Some(1.0));
    assert_eq!(metric(delivered_hook), Some(2.0));

    // The routed Events are marked; a restarted router sends nothing again.
    let e1 = Api::<Event>::namespaced(client.clone(), "p")
        .get("e1")
        .await
        .unwrap();
    assert_eq!(
        e1.metadata
            .annotations
            .unwrap()
            .get(kargo_controller::notify::ROUTED)
            .map(String::as_str),
        Some("true")
    );
    router.abort();
    let again = tokio::spawn(kargo_controller::notify::run(
        client.clone(),
        Retry::default(),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    again.abort();
    assert_eq!(got.webhook.lock().unwrap().len(), 3);
    assert_eq!(got.slack.lock().unwrap().len(), 2);
    assert_eq!(got.mail.lock().unwrap().len(), 2);
}

async fn collect(State(r): State<Received>, body: String) -> StatusCode {
    r.webhook.lock().unwrap().push((true, body, 200));
    StatusCode::OK
}

async fn standalone(dir: &std::path::Path) -> Server {
    Server::start(ServerConfig::new(dir, "127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap()
}

async fn eventually(what: &str, secs: u64, mut ok: impl AsyncFnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if ok().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// "Freight waits too long": with `freightWaitingThreshold: 3s` on the
/// ProjectConfig, Freight left unpromoted in a manual Stage is sent once
/// (a `FreightWaiting` Event routed to a webhook) after the threshold;
/// the same Freight auto-promoted into another Stage before the
/// threshold is not; a restart of the whole server sends nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freight_waiting_past_the_threshold_is_sent_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = standalone(dir.path()).await;
    let client = kargo_server::in_process_client(server.store.clone());
    let got = Received::default();
    let recv = serve(
        axum::Router::new()
            .route("/hook", axum::routing::post(collect))
            .route("/ok", axum::routing::get(|| async { "ok" }))
            .with_state(got.clone()),
    )
    .await;
    let k = "kargo.akuity.io/v1alpha1";
    let ee = "ee.kargo.akuity.io/v1alpha1";
    create(
        &client,
        json!({"apiVersion": k, "kind": "Project", "metadata": {"name": "p"}}),
    )
    .await;
    create(
        &client,
        json!({"apiVersion": ee, "kind": "MessageChannel",
        "metadata": {"name": "hook", "namespace": "p"},
        "spec": {"http": {"url": format!("{recv}/hook"), "timeout": "5s"}}}),
    )
    .await;
    create(&client, json!({"apiVersion": ee, "kind": "EventRouter",
        "metadata": {"name": "waiting", "namespace": "p"},
        "spec": {"types": ["FreightWaiting"], "channels": [{"kind": "MessageChannel", "name": "hook",
            "encodingType": "json",
            "output": r#"{"type": "${{ event.type }}", "stage": "${{ event.stageName }}", "freight": "${{ event.freight.name }}", "since": "${{ event.waitingSince }}"}"#}]}})).await;
    create(
        &client,
        json!({"apiVersion": k, "kind": "Warehouse",
        "metadata": {"name": "w", "namespace": "p"},
        "spec": {"subscriptions": [{"image": {"repoURL": "127.0.0.1:9/app"}}]}}),
    )
    .await;
    for stage in ["slow", "fast"] {
        create(&client, json!({"apiVersion": k, "kind": "Stage",
            "metadata": {"name": stage, "namespace": "p"},
            "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}],
                "promotionTemplate": {"spec": {"steps": [{"uses": "http", "config": {"url": format!("{recv}/ok")}}]}}}})).await;
    }
    create(
        &client,
        json!({"apiVersion": k, "kind": "ProjectConfig",
        "metadata": {"name": "p", "namespace": "p"},
        "spec": {"freightWaitingThreshold": "3s",
            "promotionPolicies": [{"stage": "fast", "autoPromotionEnabled": true}]}}),
    )
    .await;
    let freight: kargo_api::Freight = serde_json::from_value(json!({
        "metadata": {"namespace": "p"}, "origin": {"kind": "Warehouse", "name": "w"},
        "images": [{"repoURL": "127.0.0.1:9/app", "tag": "v1", "digest": "sha256:v1"}]
    }))
    .unwrap();
    let freight = Api::<kargo_api::Freight>::namespaced(client.clone(), "p")
        .create(&PostParams::default(), &freight)
        .await
        .unwrap();
    let fname = freight.metadata.name.clone().unwrap();
    let created = std::time::Instant::now();

    // `fast` takes the Freight before the threshold.
    let stages = Api::<kargo_api::Stage>::namespaced(client.clone(), "p");
    eventually("fast to use the Freight", 10, async || {
        let s = stages.get("fast").await.unwrap();
        s.status.is_some_and(|st| st.freight_summary == fname)
    })
    .await;
    assert!(created.elapsed() < Duration::from_secs(3), "promoted late");
    eventually("the FreightWaiting message", 15, async || {
        !got.webhook.lock().unwrap().is_empty()
    })
    .await;
    // Creation times are whole seconds: up to one second early.
    assert!(
        created.elapsed() >= Duration::from_secs(2),
        "sent before the threshold"
    );
    // Other reconciles (the status writes, the annotation) send nothing more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = got.webhook.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let body: Value = serde_json::from_str(&sent[0].1).unwrap();
    assert_eq!(body["type"], "FreightWaiting");
    assert_eq!(body["stage"], "slow");
    assert_eq!(body["freight"], fname.as_str());
    assert!(
        body["since"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok(),
        "{body}"
    );
    let events = Api::<Event>::namespaced(client.clone(), "p")
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let waiting: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FreightWaiting"))
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(
        waiting[0]
            .message
            .as_deref()
            .unwrap()
            .starts_with("Freight has been available to Stage \"slow\" for "),
        "{waiting:?}"
    );
    let slow = stages.get("slow").await.unwrap();
    let noted = slow
        .metadata
        .annotations
        .unwrap_or_default()
        .get(kargo_controller::freight_waiting::NOTIFIED)
        .cloned()
        .unwrap_or_default();
    assert_eq!(noted, format!(r#"{{"Warehouse/w":"{fname}"}}"#));

    // A restart of the server (controllers and router) sends nothing again.
    server.shutdown();
    let _ = server.wait().await;
    let server = standalone(dir.path()).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(got.webhook.lock().unwrap().len(), 1);
    server.shutdown();
}
