//! `GET /metrics`: the process's metrics (`kargo_controller::metrics`),
//! the counters the store keeps (promotions, verifications, Freight
//! created, discovery errors: they never go down), and gauges read from
//! the store at scrape time (Freight awaiting verification per Stage and
//! its age, Warehouses ready, the Promotion queue, store size, watchers,
//! and the delivery statistics of `crate::delivery_gauges`).
//! They answer the seed's good practice: "track promotion success rates"
//! and "alert on Freight stuck unverified". The names and labels are
//! documented in docs/metrics.md.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kargo_store::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

use kargo_controller::metrics::{ControllerLabels, FloatGauge, StageLabels, WarehouseLabels};

/// The Freight one Stage holds now (its newest `freightHistory` entry).
struct HeldFreight {
    ns: String,
    stage: String,
    freight: Vec<String>,
}

fn all(store: &Store, api_version: &str, kind: &str) -> Vec<(String, Value)> {
    crate::stored(store, api_version, kind, None)
}

/// Objects of a kind read a page at a time, each decoded (as JSON or a
/// typed object), handed to `f` and then dropped: a scrape of a project
/// with 10,000 Freight holds one page, not every Freight decoded at once.
pub(crate) fn each<T: serde::de::DeserializeOwned>(
    store: &Store,
    api_version: &str,
    kind: &str,
    mut f: impl FnMut(String, T),
) {
    const PAGE: usize = 500;
    let Some(info) = kargo_api::lookup_kind(api_version, kind) else {
        return;
    };
    let mut after: Option<(String, String)> = None;
    loop {
        let at = after.as_ref().map(|(n, m)| (n.as_str(), m.as_str()));
        let Ok((rows, _)) = store.list(info, None, at, PAGE) else {
            return;
        };
        let full = rows.len() == PAGE;
        after = rows.last().map(|r| (r.ns.clone(), r.name.clone()));
        for r in rows {
            if let Ok(v) = serde_json::from_str(&r.body) {
                f(r.ns, v);
            }
        }
        if !full {
            return;
        }
    }
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn seconds(v: &Value, pointer: &str) -> Option<f64> {
    let t: jiff::Timestamp = v.pointer(pointer)?.as_str()?.parse().ok()?;
    Some(t.as_millisecond() as f64 / 1000.0)
}

/// Renders every metric in the OpenMetrics text format.
pub fn render(store: &Store, now: jiff::Timestamp) -> Result<String, std::fmt::Error> {
    let now_s = now.as_millisecond() as f64 / 1000.0;
    let mut reg = Registry::default();

    let build = Family::<VersionLabels, Gauge>::default();
    build
        .get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
    reg.register("kargo_build_info", "The running kargo-rs version", build);

    // Stored counts, and zero for what Stages and Warehouses will count.
    // Stages are read a page at a time too; of each only its counters'
    // zero series and the names of the Freight it holds now are kept.
    let mut rows = store.counters().unwrap_or_default();
    let mut held: Vec<HeldFreight> = Vec::new();
    each(
        store,
        "kargo.akuity.io/v1alpha1",
        "Stage",
        |ns, s: Value| {
            for (name, labels) in kargo_controller::metrics::zero_series("Stage", &ns, &s) {
                rows.push((name.to_string(), labels, 0));
            }
            if let Some(items) = s
                .pointer("/status/freightHistory/0/items")
                .and_then(Value::as_object)
            {
                held.push(HeldFreight {
                    stage: text(&s, "/metadata/name"),
                    freight: items.values().map(|item| text(item, "/name")).collect(),
                    ns,
                });
            }
        },
    );
    let warehouses = all(store, "kargo.akuity.io/v1alpha1", "Warehouse");
    for (ns, obj) in &warehouses {
        for (name, labels) in kargo_controller::metrics::zero_series("Warehouse", ns, obj) {
            rows.push((name.to_string(), labels, 0));
        }
    }
    kargo_controller::metrics::register_counters(&mut reg, &rows);
    crate::delivery_gauges::register(&mut reg, crate::delivery_gauges::from_store(store), now);

    let pending = Family::<StageLabels, Gauge>::default();
    each(
        store,
        "kargo.akuity.io/v1alpha1",
        "Promotion",
        |ns, p: Value| {
            let phase = text(&p, "/status/phase");
            if phase.is_empty() || phase == "Pending" {
                pending
                    .get_or_create(&StageLabels {
                        project: ns,
                        stage: text(&p, "/spec/stage"),
                    })
                    .inc();
            }
        },
    );
    reg.register(
        "kargo_promotions_pending",
        "Promotions waiting to run, by Stage (the promotion queue)",
        pending,
    );

    let freight_count = Family::<WarehouseLabels, Gauge>::default();
    // Only the status of the Freight some Stage holds now is kept for the
    // gauges below.
    let mut freight: HashMap<(String, String), Value> = held
        .iter()
        .flat_map(|h| {
            h.freight
                .iter()
                .map(|f| ((h.ns.clone(), f.clone()), Value::Null))
        })
        .collect();
    each(
        store,
        "kargo.akuity.io/v1alpha1",
        "Freight",
        |ns, f: Value| {
            freight_count
                .get_or_create(&WarehouseLabels {
                    project: ns.clone(),
                    warehouse: text(&f, "/origin/name"),
                })
                .inc();
            if let Some(slot) = freight.get_mut(&(ns, text(&f, "/metadata/name"))) {
                *slot = f.get("status").cloned().unwrap_or_default();
            }
        },
    );
    reg.register(
        "kargo_freight",
        "Freight by origin Warehouse",
        freight_count,
    );

    let verified = Family::<StageLabels, Gauge>::default();
    let since = Family::<StageLabels, FloatGauge>::default();
    let awaiting = Family::<StageLabels, FloatGauge>::default();
    for HeldFreight {
        ns,
        stage,
        freight: items,
    } in held
    {
        let labels = StageLabels {
            project: ns.clone(),
            stage: stage.clone(),
        };
        let mut all_verified = !items.is_empty();
        let mut entered: Option<f64> = None;
        for name in items {
            let Some(status) = freight.get(&(ns.clone(), name)).filter(|f| !f.is_null()) else {
                all_verified = false;
                continue;
            };
            if status
                .pointer("/verifiedIn")
                .and_then(|v| v.get(&stage))
                .is_none()
            {
                all_verified = false;
            }
            if let Some(t) = status
                .pointer("/currentlyIn")
                .and_then(|c| c.get(&stage))
                .and_then(|c| seconds(c, "/since"))
            {
                entered = Some(entered.map_or(t, |e: f64| e.max(t)));
            }
        }
        verified.get_or_create(&labels).set(i64::from(all_verified));
        if let Some(t) = entered {
            let age = (now_s - t).max(0.0);
            since.get_or_create(&labels).set(age);
            if !all_verified {
                awaiting.get_or_create(&labels).set(age);
            }
        }
    }
    reg.register(
        "kargo_stage_freight_verified",
        "1 when the Stage's current Freight is verified there, else 0",
        verified,
    );
    reg.register(
        "kargo_stage_freight_age_seconds",
        "Seconds since the Stage's current Freight arrived",
        since,
    );
    reg.register(
        "kargo_freight_awaiting_verification_seconds",
        "Seconds the Stage's current Freight has been waiting to be verified there (absent once verified)",
        awaiting,
    );

    let ready = Family::<WarehouseLabels, Gauge>::default();
    for (ns, w) in warehouses {
        let is_ready = w
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        ready
            .get_or_create(&WarehouseLabels {
                project: ns,
                warehouse: text(&w, "/metadata/name"),
            })
            .set(i64::from(is_ready));
    }
    reg.register(
        "kargo_warehouse_ready",
        "1 when the Warehouse's last discovery succeeded (condition Ready), else 0",
        ready,
    );

    register_controller_metrics(&mut reg);

    let gauge = |reg: &mut Registry, name: &str, help: &str, v: i64| {
        let g = Gauge::<i64>::default();
        g.set(v);
        reg.register(name, help, g);
    };
    if let Ok(bytes) = store.size_bytes() {
        gauge(
            &mut reg,
            "kargo_store_size_bytes",
            "Size of the database file",
            bytes as i64,
        );
    }
    gauge(
        &mut reg,
        "kargo_store_watch_log_bytes",
        "Bytes of object bodies the watch log holds",
        store.event_log_bytes() as i64,
    );
    gauge(
        &mut reg,
        "kargo_api_watchers",
        "Open watches on the store (API watch streams and the controllers' watches)",
        store.watchers() as i64,
    );

    kargo_controller::metrics::render(&reg)
}

/// The controllers' own counters: API requests by verb and resource, and
/// reconciles by controller (`kargo server` and `kargo controller`).
pub(crate) fn register_controller_metrics(reg: &mut Registry) {
    let requests = Family::<RequestLabels, Counter>::default();
    for ((verb, resource), n) in crate::request_counts::snapshot() {
        requests
            .get_or_create(&RequestLabels {
                verb: verb.to_string(),
                resource,
            })
            .inc_by(n);
    }
    reg.register(
        "kargo_controller_api_requests",
        "Requests the controllers sent to the API, by verb (list, watch, get, ...) and resource",
        requests,
    );
    let reconciles = Family::<ControllerLabels, Counter>::default();
    for (controller, n) in kargo_controller::stats::reconciles() {
        reconciles
            .get_or_create(&ControllerLabels {
                controller: controller.to_string(),
            })
            .inc_by(n);
    }
    reg.register(
        "kargo_controller_reconciles",
        "Reconciles finished, by controller",
        reconciles,
    );
}

/// The `/metrics` handler.
pub async fn handler(State(store): State<Store>) -> Response {
    let rendered =
        tokio::task::spawn_blocking(move || render(&store, jiff::Timestamp::now())).await;
    match rendered {
        Ok(Ok(body)) => (
            [(
                http::header::CONTENT_TYPE,
                kargo_controller::metrics::CONTENT_TYPE,
            )],
            body,
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "rendering metrics failed\n",
        )
            .into_response(),
    }
}
