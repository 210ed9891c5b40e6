//! EventRouters at work: each Kargo Event (a core/v1 Event about a
//! Kargo object, any reason — Kargo's own, and whatever later features
//! record) goes to the channels of every EventRouter of its project whose
//! `types` hold its reason and whose `when` expression is true, once.
//! The message is the router's (or the channel entry's) `output`, a
//! `${{ }}` template over `event`, or a default text; `groupingKey`
//! threads Slack messages (the key's thread is kept in memory, as Kargo
//! does). Delivery is retried with backoff
//! ([`kargo_promotion::message::send_with_retries`]) and counted in
//! `kargo_notifications_total{project,channel,outcome}`. An Event that
//! was routed is annotated `ee.kargo.akuity.io/routed`, so a restart
//! never sends it again; a router sends nothing about Events older than
//! itself.

use crate::metrics;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Secret};
use kargo_api::notification::{ClusterMessageChannel, EventRouter, MessageChannel, RouterChannel};
use kargo_promotion::message::{Channel, Message, Retry, send_with_retries};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The annotation on an Event its routers have handled.
pub const ROUTED: &str = "ee.kargo.akuity.io/routed";
/// Where a ClusterMessageChannel's Secret is when it names no namespace.
const CLUSTER_SECRETS: &str = kargo_api::namespaces::SYSTEM_RESOURCES;
/// Longest one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared state: Events being routed, Slack threads by grouping key.
#[derive(Default)]
struct State {
    in_flight: Mutex<HashSet<String>>,
    threads: Mutex<HashMap<String, String>>,
}

/// Routes Events until dropped, with `retry` for each delivery. The
/// EventRouters are read from a watch-fed cache, not listed per Event.
pub async fn run(client: kube::Client, retry: Retry) {
    let (routers, writer) = reflector::store::<EventRouter>();
    let router_watch = watcher::watcher(Api::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .for_each(|ev| async move {
            if let Err(err) = ev {
                tracing::debug!(error = %err, "EventRouter watch");
            }
        });
    futures::future::join(router_watch, route_events(client, routers, retry)).await;
}

/// Routes each Kargo Event the watch brings through `routers`.
async fn route_events(client: kube::Client, routers: Store<EventRouter>, retry: Retry) {
    let state = Arc::new(State::default());
    let api: Api<Event> = Api::all(client.clone());
    let mut events = std::pin::pin!(watcher::watcher(api, watcher::Config::default()));
    while let Some(ev) = events.next().await {
        let e = match ev {
            Ok(WatchEvent::Apply(e) | WatchEvent::InitApply(e)) => e,
            Ok(_) => continue,
            Err(err) => {
                tracing::debug!(error = %err, "event watch");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let kargo = e
            .involved_object
            .api_version
            .as_deref()
            .is_some_and(|v| v.starts_with(kargo_api::KARGO_GROUP));
        let routed = e
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ROUTED));
        let uid = e.metadata.uid.clone().unwrap_or_default();
        if !kargo || routed || uid.is_empty() {
            continue;
        }
        let fresh = state
            .in_flight
            .lock()
            .map(|mut f| f.insert(uid.clone()))
            .unwrap_or(false);
        if !fresh {
            continue;
        }
        let (client, state, routers) = (client.clone(), state.clone(), routers.clone());
        tokio::spawn(async move {
            route(&client, &routers, &e, &state, retry).await;
            if let Ok(mut f) = state.in_flight.lock() {
                f.remove(&uid);
            }
        });
    }
}

fn annotation<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
    e.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(&format!("{}{key}", kargo_api::event::PREFIX)))
        .map(String::as_str)
}

/// What expressions see as `event`: the Event's reason as `type`, its
/// message, and Kargo's event data from its annotations (`stageName`,
/// `freight.alias`, ...).
pub fn event_data(e: &Event) -> Value {
    let a = |k: &str| annotation(e, k).unwrap_or("").to_string();
    let parsed = |k: &str| {
        annotation(e, k)
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
            .unwrap_or(Value::Null)
    };
    let freight = json!({
        "name": a("freight-name"), "alias": a("freight-alias"), "stageName": a("stage-name"),
        "createTime": a("freight-create-time"), "warehouseName": a("freight-warehouse-name"),
        "commits": parsed("freight-commits"), "images": parsed("freight-images"),
        "charts": parsed("freight-charts"),
    });
    let promotion = a("promotion-name");
    let name = if promotion.is_empty() {
        a("freight-name")
    } else {
        promotion.clone()
    };
    json!({
        "type": e.reason.clone().unwrap_or_default(),
        "id": e.metadata.name.clone().unwrap_or_default(),
        "message": e.message.clone().unwrap_or_default(),
        "project": e.metadata.namespace.clone().unwrap_or_default(),
        "actor": a("actor"),
        "name": name,
        "stageName": a("stage-name"),
        "promotion": {"name": promotion, "createTime": a("promotion-create-time")},
        "freight": freight,
        "analysisRunName": a("analysis-run-name"),
        "verificationPending": a("verification-pending") == "true",
        "applications": parsed("applications"),
        "rollback": a("rollback") == "true",
        "waitingSince": a("waiting-since"),
    })
}

/// The default message: `<type>: <message>` and where it happened.
pub fn default_text(data: &Value) -> String {
    let s = |p: &str| data.pointer(p).and_then(Value::as_str).unwrap_or("");
    let mut out = format!("{}: {}", s("/type"), s("/message"));
    let mut at = vec![format!("project {}", s("/project"))];
    if !s("/stageName").is_empty() {
        at.push(format!("Stage {}", s("/stageName")));
    }
    let freight = Some(s("/freight/alias"))
        .filter(|a| !a.is_empty())
        .unwrap_or(s("/freight/name"));
    if !freight.is_empty() {
        at.push(format!("Freight {freight}"));
    }
    out.push_str(&format!(" ({})", at.join(", ")));
    out
}

fn env(data: &Value) -> kargo_expr::Env {
    kargo_expr::Env::new().set("event", data.clone())
}

/// A router's `when` over `event` (empty: true; an error: false).
pub fn matches(when: &str, data: &Value) -> Result<bool, String> {
    if when.trim().is_empty() {
        return Ok(true);
    }
    let env = env(data);
    kargo_expr::Evaluator::new(&env, &kargo_expr::NoLookup)
        .evaluate_condition(when)
        .map_err(|e| e.to_string())
}

/// A `${{ }}` template over `event`, as text.
pub fn render(template: &str, data: &Value) -> Result<String, String> {
    let env = env(data);
    match kargo_expr::evaluate_template(template, &env, &kargo_expr::NoLookup) {
        Ok(Value::String(s)) => Ok(s),
        Ok(other) => Ok(other.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A channel as sending needs it: spec and Secret.
pub async fn load_channel(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> Result<Channel, String> {
    let (spec, secret_ns) = match kind {
        "ClusterMessageChannel" => {
            let c = Api::<ClusterMessageChannel>::all(client.clone());
            let c = crate::bounded(CALL_TIMEOUT, c.get(name))
                .await
                .map_err(|e| format!("ClusterMessageChannel {name:?}: {e}"))?;
            let ns = c
                .spec
                .secret_ref
                .as_ref()
                .map(|r| r.namespace.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| CLUSTER_SECRETS.to_string());
            (c.spec, ns)
        }
        _ => {
            let api = Api::<MessageChannel>::namespaced(client.clone(), ns);
            let c = crate::bounded(CALL_TIMEOUT, api.get(name))
                .await
                .map_err(|e| format!("MessageChannel {name:?}: {e}"))?;
            (c.spec, ns.to_string())
        }
    };
    let mut secret = BTreeMap::new();
    if let Some(r) = spec.secret_ref.as_ref().filter(|r| !r.name.is_empty()) {
        let api = Api::<Secret>::namespaced(client.clone(), &secret_ns);
        let s = crate::bounded(CALL_TIMEOUT, api.get(&r.name))
            .await
            .map_err(|e| format!("Secret {:?} of {kind} {name:?}: {e}", r.name))?;
        for (k, v) in s.data.unwrap_or_default() {
            secret.insert(k, String::from_utf8_lossy(&v.0).into_owned());
        }
        for (k, v) in s.string_data.unwrap_or_default() {
            secret.insert(k, v);
        }
    }
    Ok(Channel {
        name: format!("{kind}/{name}"),
        spec,
        secret,
    })
}

fn created(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<jiff::Timestamp> {
    meta.creation_timestamp.as_ref().map(|t| t.0)
}

async fn route(
    client: &kube::Client,
    routers: &Store<EventRouter>,
    e: &Event,
    state: &State,
    retry: Retry,
) {
    let ns = e.metadata.namespace.clone().unwrap_or_default();
    let reason = e.reason.clone().unwrap_or_default();
    if tokio::time::timeout(CALL_TIMEOUT, routers.wait_until_ready())
        .await
        .is_err()
    {
        tracing::warn!(namespace = %ns, "the EventRouter watch has not listed yet");
        return;
    }
    let mut routers: Vec<Arc<EventRouter>> = routers
        .state()
        .into_iter()
        .filter(|r| r.metadata.namespace.as_deref() == Some(ns.as_str()))
        .collect();
    // In name order, as a list returns them.
    routers.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let data = event_data(e);
    let mut handled = false;
    for r in &routers {
        if !r.spec.types.contains(&reason) {
            continue;
        }
        // A router sends what happens after it exists, not history.
        if let (Some(ev), Some(rt)) = (created(&e.metadata), created(&r.metadata))
            && ev < rt
        {
            continue;
        }
        handled = true;
        let router = r.metadata.name.clone().unwrap_or_default();
        match matches(&r.spec.when, &data) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                tracing::warn!(namespace = %ns, router, error = %err, "EventRouter when");
                continue;
            }
        }
        let group = match r.spec.grouping_key.as_str() {
            "" => String::new(),
            k => render(k, &data).unwrap_or_default(),
        };
        for ch in &r.spec.channels {
            deliver(client, &ns, &router, r, ch, &data, &group, state, retry).await;
        }
    }
    if handled {
        let patch = json!({"metadata": {"annotations": {ROUTED: "true"}}});
        let name = e.metadata.name.clone().unwrap_or_default();
        let api = Api::<Event>::namespaced(client.clone(), &ns);
        let (pp, patch) = (PatchParams::default(), Patch::Merge(patch));
        if let Err(err) = crate::bounded(CALL_TIMEOUT, api.patch(&name, &pp, &patch)).await {
            tracing::warn!(namespace = %ns, event = %name, error = %err, "marking an Event routed");
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn deliver(
    client: &kube::Client,
    ns: &str,
    router: &str,
    r: &EventRouter,
    ch: &RouterChannel,
    data: &Value,
    group: &str,
    state: &State,
    retry: Retry,
) {
    let label = format!("{}/{}", ch.kind, ch.name);
    let count = |outcome: &str| metrics::count_notification(ns, &label, outcome);
    let channel = match load_channel(client, ns, &ch.kind, &ch.name).await {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!(namespace = %ns, router, error = %err, "notification channel");
            count("failed");
            return;
        }
    };
    let (template, encoding) = if !ch.output.is_empty() {
        (ch.output.as_str(), ch.encoding_type.as_str())
    } else {
        (r.spec.output.as_str(), r.spec.encoding_type.as_str())
    };
    let text = if template.is_empty() {
        default_text(data)
    } else {
        match render(template, data) {
            Ok(t) => t,
            Err(err) => {
                tracing::warn!(namespace = %ns, router, error = %err, "notification output");
                count("failed");
                return;
            }
        }
    };
    let thread_key = format!("{ns}/{router}/{label}/{group}");
    let thread_ts = if group.is_empty() {
        String::new()
    } else {
        state
            .threads
            .lock()
            .ok()
            .and_then(|t| t.get(&thread_key).cloned())
            .unwrap_or_default()
    };
    let subject = format!("Kargo: {}", data["type"].as_str().unwrap_or("notification"));
    let message = Message {
        text,
        encoding: encoding.to_string(),
        thread_ts,
        subject,
        ..Default::default()
    };
    let sent = send_with_retries(&channel, &message, retry, |err| {
        tracing::info!(namespace = %ns, router, error = %err, "notification failed; retrying");
        count("retried");
    })
    .await;
    match sent {
        Ok(d) => {
            count("delivered");
            if let (false, Some(ts)) = (group.is_empty(), d.thread_ts)
                && let Ok(mut t) = state.threads.lock()
            {
                t.entry(thread_key).or_insert(ts);
            }
        }
        Err(err) => {
            tracing::warn!(namespace = %ns, router, error = %err, "notification not delivered");
            count("failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": "x.1", "namespace": "p", "annotations": {
                "event.kargo.akuity.io/stage-name": "prod",
                "event.kargo.akuity.io/promotion-name": "prod.01j.abc",
                "event.kargo.akuity.io/freight-alias": "wise-owl",
                "event.kargo.akuity.io/freight-name": "abc"}},
            "involvedObject": {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion", "name": "prod.01j.abc"},
            "reason": "PromotionFailed", "message": "Promotion Failed: step 1 failed"
        }))
        .unwrap()
    }

    #[test]
    fn routers_see_kargos_event_data() {
        let d = event_data(&event());
        assert_eq!(matches("event.stageName == 'prod'", &d), Ok(true));
        assert_eq!(matches("event.stageName == 'dev'", &d), Ok(false));
        assert_eq!(matches("", &d), Ok(true));
        assert_eq!(
            render("${{ event.freight.alias }} in ${{ event.stageName }}", &d).unwrap(),
            "wise-owl in prod"
        );
        assert_eq!(
            default_text(&d),
            "PromotionFailed: Promotion Failed: step 1 failed (project p, Stage prod, Freight wise-owl)"
        );
    }
}
