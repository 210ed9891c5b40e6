//! Prometheus metrics of the running process and the rule that counts
//! what happens to objects. The durations (promotion, step by `uses`,
//! verification, discovery, reconcile, API request) and in-flight
//! reconciles live in one process-wide registry; [`render`] encodes it
//! with the process metrics (CPU, memory, fds, start time, from `/proc`)
//! and whatever the caller adds, so the server and the controller serve
//! the same `/metrics`. The counters (`kargo_promotions_total`, ...) are
//! derived by [`transitions`] from an object's old and new state, in one
//! place, and kept where the objects are (the store adds them in the
//! write's own transaction), so they never go down on garbage collection
//! or a restart. Names and labels are documented in docs/metrics.md.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// A gauge holding a float.
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Labels of a per-Stage series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// The project (namespace).
    pub project: String,
    /// The Stage.
    pub stage: String,
}

/// Labels of a per-Warehouse series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WarehouseLabels {
    /// The project (namespace).
    pub project: String,
    /// The Warehouse.
    pub warehouse: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    uses: String,
}

/// Labels of a per-controller series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// The controller: stage, promotion, analysisrun, warehouse.
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    resource: String,
    code: String,
}

/// Buckets from 5 ms to about 45 minutes (doubling): sub-second steps
/// and API calls as well as long promotions and verifications.
fn buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 20))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    project: String,
    channel: String,
    outcome: String,
}

struct Metrics {
    registry: Registry,
    notifications: Family<NotificationLabels, Counter>,
    promotion: Family<StageLabels, Histogram>,
    step: Family<StepLabels, Histogram>,
    verification: Family<StageLabels, Histogram>,
    discovery: Family<WarehouseLabels, Histogram>,
    reconcile: Family<ControllerLabels, Histogram>,
    in_flight: Family<ControllerLabels, Gauge>,
    request: Family<RequestLabels, Histogram>,
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let family = || Family::new_with_constructor(buckets as fn() -> Histogram);
        let m = Metrics {
            registry: Registry::default(),
            promotion: family(),
            step: Family::new_with_constructor(buckets),
            verification: family(),
            discovery: Family::new_with_constructor(buckets),
            reconcile: Family::new_with_constructor(buckets),
            in_flight: Family::default(),
            request: Family::new_with_constructor(buckets),
            notifications: Family::default(),
        };
        let mut registry = Registry::default();
        registry.register(
            "kargo_promotion_duration_seconds",
            "How long finished Promotions ran, from start to end, by Stage",
            m.promotion.clone(),
        );
        registry.register(
            "kargo_promotion_step_duration_seconds",
            "How long one execution of a promotion step took, by step kind (uses)",
            m.step.clone(),
        );
        registry.register(
            "kargo_verification_duration_seconds",
            "How long finished verifications (AnalysisRuns) ran, by Stage",
            m.verification.clone(),
        );
        registry.register(
            "kargo_discovery_duration_seconds",
            "How long one artifact discovery of a Warehouse took",
            m.discovery.clone(),
        );
        registry.register(
            "kargo_reconcile_duration_seconds",
            "How long one reconcile took, by controller",
            m.reconcile.clone(),
        );
        registry.register(
            "kargo_reconciles_in_flight",
            "Reconciles running now, by controller (the work queue in progress)",
            m.in_flight.clone(),
        );
        registry.register(
            "kargo_api_request_duration_seconds",
            "How long API requests took to answer, by verb, resource and status code (watches excluded)",
            m.request.clone(),
        );
        registry.register(
            "kargo_notifications",
            "Notification deliveries by project, channel (kind/name) and outcome: delivered, failed (after every retry), retried",
            m.notifications.clone(),
        );
        Metrics { registry, ..m }
    })
}

/// Records a finished Promotion's duration.
pub fn observe_promotion(project: &str, stage: &str, took: Duration) {
    metrics()
        .promotion
        .get_or_create(&StageLabels {
            project: project.into(),
            stage: stage.into(),
        })
        .observe(took.as_secs_f64());
}

/// Records one execution of a promotion step. A plain function so the
/// step runner can take it as a hook.
pub fn observe_step(uses: &str, took: Duration) {
    metrics()
        .step
        .get_or_create(&StepLabels { uses: uses.into() })
        .observe(took.as_secs_f64());
}

/// Records a finished verification's duration.
pub fn observe_verification(project: &str, stage: &str, took: Duration) {
    metrics()
        .verification
        .get_or_create(&StageLabels {
            project: project.into(),
            stage: stage.into(),
        })
        .observe(took.as_secs_f64());
}

/// Records one discovery of a Warehouse.
pub fn observe_discovery(project: &str, warehouse: &str, took: Duration) {
    metrics()
        .discovery
        .get_or_create(&WarehouseLabels {
            project: project.into(),
            warehouse: warehouse.into(),
        })
        .observe(took.as_secs_f64());
}

/// Records one answered API request.
pub fn observe_request(verb: &str, resource: &str, code: u16, took: Duration) {
    metrics()
        .request
        .get_or_create(&RequestLabels {
            verb: verb.into(),
            resource: resource.into(),
            code: code.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// Counts one notification delivery outcome.
pub fn count_notification(project: &str, channel: &str, outcome: &str) {
    metrics()
        .notifications
        .get_or_create(&NotificationLabels {
            project: project.into(),
            channel: channel.into(),
            outcome: outcome.into(),
        })
        .inc();
}

/// Runs one reconcile of `controller`, counting it in flight meanwhile
/// and recording how long it took.
pub async fn timed<F: Future>(controller: &'static str, reconcile: F) -> F::Output {
    let labels = ControllerLabels {
        controller: controller.into(),
    };
    let m = metrics();
    m.in_flight.get_or_create(&labels).inc();
    let start = Instant::now();
    let out = reconcile.await;
    m.reconcile
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    m.in_flight.get_or_create(&labels).dec();
    out
}

/// Time since an RFC 3339 time (e.g. a `startedAt`), when it parses.
pub fn since(from: Option<&str>) -> Option<Duration> {
    let a: jiff::Timestamp = from?.parse().ok()?;
    Duration::try_from(jiff::Timestamp::now().duration_since(a)).ok()
}

/// Counter names [`transitions`] counts (Prometheus adds `_total`).
pub const PROMOTIONS: &str = "kargo_promotions";
/// See [`PROMOTIONS`].
pub const VERIFICATIONS: &str = "kargo_verifications";
/// See [`PROMOTIONS`].
pub const FREIGHT_CREATED: &str = "kargo_freight_created";
/// See [`PROMOTIONS`].
pub const DISCOVERY_ERRORS: &str = "kargo_discovery_errors";

const COUNTERS: [(&str, &str); 4] = [
    (
        PROMOTIONS,
        "Promotions that ended, by Stage and phase (Succeeded, Failed, Errored, Aborted)",
    ),
    (
        VERIFICATIONS,
        "Verifications (AnalysisRuns of a Stage) that ended, by Stage and phase (Successful, Failed, Error, Inconclusive)",
    ),
    (FREIGHT_CREATED, "Freight created, by origin Warehouse"),
    (
        DISCOVERY_ERRORS,
        "Artifact discoveries of a Warehouse that failed",
    ),
];

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let map: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
        .collect();
    Value::Object(map).to_string()
}

/// The phase an object entered with this write, if it entered one.
fn entered<'a>(old: Option<&Value>, new: &'a Value) -> Option<&'a str> {
    let now = text(new, "/status/phase");
    (!now.is_empty() && old.map(|o| text(o, "/status/phase")) != Some(now)).then_some(now)
}

/// A failed discovery was recorded: the Warehouse's `Ready` condition
/// says `DiscoveryFailed` with a new attempt time.
fn discovery_failed(w: &Value) -> Option<&str> {
    let failed = w
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .any(|c| c["type"] == "Ready" && c["reason"] == "DiscoveryFailed");
    failed.then(|| text(w, "/status/discoveredArtifacts/discoveredAt"))
}

/// What a write of an object counts: `(counter, encoded labels)` for
/// each counter to add one to. A Promotion or verification AnalysisRun
/// entering a final phase, a Freight created, a discovery failure
/// recorded on a Warehouse. Writing the same state again counts nothing,
/// so a repeated reconcile never doubles a count.
pub fn transitions(
    kind: &str,
    ns: &str,
    old: Option<&Value>,
    new: &Value,
) -> Vec<(&'static str, String)> {
    match kind {
        "Promotion" => match entered(old, new) {
            Some(phase @ ("Succeeded" | "Failed" | "Errored" | "Aborted")) => vec![(
                PROMOTIONS,
                labels(&[
                    ("project", ns),
                    ("stage", text(new, "/spec/stage")),
                    ("phase", phase),
                ]),
            )],
            _ => Vec::new(),
        },
        "AnalysisRun" => {
            let stage = text(new, "/metadata/labels/kargo.akuity.io~1stage");
            match entered(old, new) {
                Some(phase @ ("Successful" | "Failed" | "Error" | "Inconclusive"))
                    if !stage.is_empty() =>
                {
                    vec![(
                        VERIFICATIONS,
                        labels(&[("project", ns), ("stage", stage), ("phase", phase)]),
                    )]
                }
                _ => Vec::new(),
            }
        }
        "Freight" if old.is_none() => vec![(
            FREIGHT_CREATED,
            labels(&[("project", ns), ("warehouse", text(new, "/origin/name"))]),
        )],
        "Warehouse" => match discovery_failed(new) {
            Some(at) if old.and_then(discovery_failed) != Some(at) => vec![(
                DISCOVERY_ERRORS,
                labels(&[("project", ns), ("warehouse", text(new, "/metadata/name"))]),
            )],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The state of an object that [`transitions`] counts when it is
/// reached: a Promotion's or verification's final phase, a Freight's
/// existence (`created`), a Warehouse's failed discovery (its time).
/// For a keeper that sees objects rather than writes
/// ([`crate::durable_counters`]): an object counts again only when this
/// changes.
pub fn counted_state(kind: &str, obj: &Value) -> Option<String> {
    let counts = !transitions(kind, "", None, obj).is_empty();
    match kind {
        "Promotion" | "AnalysisRun" if counts => Some(text(obj, "/status/phase").to_string()),
        "Freight" => Some("created".into()),
        "Warehouse" => discovery_failed(obj).map(String::from),
        _ => None,
    }
}

/// The series a Stage (with promotion steps; with verification) or a
/// Warehouse will be counted under, so they are served at zero before
/// the first count and `increase()` sees that one too.
pub fn zero_series(kind: &str, ns: &str, obj: &Value) -> Vec<(&'static str, String)> {
    let name = text(obj, "/metadata/name");
    let mut out = Vec::new();
    match kind {
        "Stage" => {
            let steps = obj
                .pointer("/spec/promotionTemplate/spec/steps")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            if steps {
                for phase in ["Succeeded", "Failed", "Errored", "Aborted"] {
                    let l = labels(&[("project", ns), ("stage", name), ("phase", phase)]);
                    out.push((PROMOTIONS, l));
                }
            }
            if obj
                .pointer("/spec/verification")
                .is_some_and(|v| !v.is_null())
            {
                for phase in ["Successful", "Failed", "Error", "Inconclusive"] {
                    let l = labels(&[("project", ns), ("stage", name), ("phase", phase)]);
                    out.push((VERIFICATIONS, l));
                }
            }
        }
        "Warehouse" => {
            for counter in [FREIGHT_CREATED, DISCOVERY_ERRORS] {
                out.push((counter, labels(&[("project", ns), ("warehouse", name)])));
            }
        }
        _ => {}
    }
    out
}

/// Registers the counters [`transitions`] counted, from their stored
/// `(name, encoded labels, value)` rows; every counter appears, with no
/// series when nothing was counted yet.
pub fn register_counters(reg: &mut Registry, rows: &[(String, String, u64)]) {
    for (name, help) in COUNTERS {
        let family = Family::<Vec<(String, String)>, Counter>::default();
        for (_, encoded, value) in rows.iter().filter(|(n, _, _)| n == name) {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(encoded) else {
                continue;
            };
            let set: Vec<(String, String)> = map
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or("").to_string()))
                .collect();
            family.get_or_create(&set).inc_by(*value);
        }
        reg.register(name, help, family);
    }
}

/// What `/proc` says about this process: CPU seconds, resident and
/// virtual memory, open and allowed file descriptors, start time.
fn register_process(reg: &mut Registry) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> f64 { f.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page = rustix::param::page_size() as f64;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok()))
        })
        .unwrap_or(0.0);
    let cpu = Counter::<f64, AtomicU64>::default();
    cpu.inc_by((field(14) + field(15)) / ticks);
    reg.register(
        "process_cpu_seconds",
        "User and system CPU time spent in seconds",
        cpu,
    );
    let gauge = |reg: &mut Registry, name: &str, help: &str, v: f64| {
        let g = FloatGauge::default();
        g.set(v);
        reg.register(name, help, g);
    };
    gauge(
        reg,
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        field(24) * page,
    );
    gauge(
        reg,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes",
        field(23),
    );
    gauge(
        reg,
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch in seconds",
        boot + field(22) / ticks,
    );
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            reg,
            "process_open_fds",
            "Number of open file descriptors",
            dir.count() as f64,
        );
    }
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok())
        });
    if let Some(max) = max_fds {
        gauge(
            reg,
            "process_max_fds",
            "Maximum number of open file descriptors",
            max,
        );
    }
}

/// The `Content-Type` of what [`render`] returns.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Encodes every metric of this process, then those in `extra` (the
/// caller's: the server adds the stored counters and the gauges it reads
/// from its store), in the Prometheus text format (0.0.4), which every
/// scraper and `promtool check metrics` read.
pub fn render(extra: &Registry) -> Result<String, std::fmt::Error> {
    use prometheus_client::encoding::text::encode_registry;
    let mut process = Registry::default();
    register_process(&mut process);
    let mut out = String::new();
    encode_registry(&mut out, &metrics().registry)?;
    encode_registry(&mut out, &process)?;
    encode_registry(&mut out, extra)?;
    Ok(classic_text(&out))
}

/// OpenMetrics text as the Prometheus text format: a counter's `HELP`
/// and `TYPE` name its `_total` samples, and there is no `# EOF`.
fn classic_text(open: &str) -> String {
    let counters: std::collections::HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + counters.len() * 16);
    for line in open.lines() {
        let head = ["# HELP ", "# TYPE "]
            .into_iter()
            .find(|p| line.starts_with(p));
        match head {
            Some(p) => {
                let rest = &line[p.len()..];
                let name = rest.split(' ').next().unwrap_or("");
                if counters.contains(name) {
                    out.push_str(&format!("{p}{name}_total{}", &rest[name.len()..]));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn promotion(phase: &str) -> Value {
        json!({"spec": {"stage": "dev"}, "status": {"phase": phase}})
    }

    #[test]
    fn a_promotion_counts_once_when_it_ends() {
        let running = promotion("Running");
        let done = promotion("Succeeded");
        assert!(transitions("Promotion", "p", None, &running).is_empty());
        let counted = transitions("Promotion", "p", Some(&running), &done);
        assert_eq!(
            counted,
            vec![(
                PROMOTIONS,
                r#"{"project":"p","stage":"dev","phase":"Succeeded"}"#.to_string()
            )]
        );
        // The same outcome written again (a repeated reconcile): nothing.
        assert!(transitions("Promotion", "p", Some(&done), &done).is_empty());
    }

    #[test]
    fn each_failed_discovery_attempt_counts() {
        let failed = |at: &str| {
            json!({"metadata": {"name": "w"}, "status": {"discoveredArtifacts": {"discoveredAt": at},
                "conditions": [{"type": "Ready", "status": "False", "reason": "DiscoveryFailed"}]}})
        };
        let (a, b) = (
            failed("2026-01-01T00:00:00Z"),
            failed("2026-01-01T00:00:05Z"),
        );
        assert_eq!(transitions("Warehouse", "p", Some(&a), &b).len(), 1);
        assert!(transitions("Warehouse", "p", Some(&b), &b).is_empty());
    }

    #[test]
    fn rendered_counters_keep_their_labels() {
        let mut reg = Registry::default();
        let rows = vec![(
            PROMOTIONS.to_string(),
            r#"{"project":"p","stage":"dev","phase":"Failed"}"#.to_string(),
            3,
        )];
        register_counters(&mut reg, &rows);
        let out = render(&reg).unwrap();
        assert!(
            out.contains(r#"kargo_promotions_total{project="p",stage="dev",phase="Failed"} 3"#),
            "{out}"
        );
        assert!(out.contains("process_resident_memory_bytes "), "{out}");
        assert!(
            out.contains("# TYPE kargo_promotions_total counter\n"),
            "{out}"
        );
        assert!(!out.contains("# EOF"));
    }
}
