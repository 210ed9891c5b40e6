//! Argo Rollouts' analysis kinds (`argoproj.io/v1alpha1`): AnalysisTemplate,
//! ClusterAnalysisTemplate and AnalysisRun, with Rollouts' field names.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

kargo_object!(
    /// Metrics and arguments to verify Freight with.
    AnalysisTemplate, AnalysisTemplateSpec, serde_json::Value,
    group = crate::ARGO_GROUP, kind = "AnalysisTemplate", plural = "analysistemplates", namespaced = true
);

kargo_object!(
    /// A cluster-wide AnalysisTemplate.
    ClusterAnalysisTemplate, AnalysisTemplateSpec, serde_json::Value,
    group = crate::ARGO_GROUP, kind = "ClusterAnalysisTemplate", plural = "clusteranalysistemplates", namespaced = false
);

kargo_object!(
    /// One execution of a set of metrics.
    AnalysisRun, AnalysisRunSpec, AnalysisRunStatus,
    group = crate::ARGO_GROUP, kind = "AnalysisRun", plural = "analysisruns", namespaced = true
);

/// `spec` of an AnalysisTemplate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    /// Metrics to measure.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Arguments the metrics refer to as `{{args.NAME}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// Metrics whose results do not affect the run's phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// How many measurements to keep per metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Nested templates (`templateName`, `clusterScope`): stored; Argo
    /// Rollouts expands them only for Rollouts, and so do we not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<serde_json::Value>,
}

/// `spec` of an AnalysisRun.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunSpec {
    /// Metrics to measure.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub metrics: Vec<Metric>,
    /// Resolved arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// Stop the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminate: bool,
    /// Dry-run metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// Retention per metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// When to delete the finished run (`secondsAfterCompletion`,
    /// `secondsAfterFailure`, `secondsAfterSuccess`): stored, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_strategy: Option<serde_json::Value>,
}

/// One metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// Metric name (unique in the run).
    pub name: String,
    /// Time between measurements (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Delay before the first measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    /// Number of measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<IntOrString>,
    /// Expression that makes a measurement Successful.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub success_condition: String,
    /// Expression that makes a measurement Failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failure_condition: String,
    /// Failed measurements tolerated (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<IntOrString>,
    /// Inconclusive measurements tolerated (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<IntOrString>,
    /// Consecutive errors tolerated (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_error_limit: Option<IntOrString>,
    /// Consecutive successes that end the metric successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_success_limit: Option<IntOrString>,
    /// Where measurements come from.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub provider: MetricProvider,
}

/// Exactly one provider per metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricProvider {
    /// HTTP request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebMetric>,
    /// Prometheus query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetric>,
    /// A Job (a local process in standalone mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobMetric>,
    /// Other Rollouts providers (kept, not executed).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl MetricProvider {
    /// Names of the providers set on this metric.
    pub fn names(&self) -> Vec<String> {
        let mut n = Vec::new();
        if self.web.is_some() {
            n.push("web".to_string());
        }
        if self.prometheus.is_some() {
            n.push("prometheus".to_string());
        }
        if self.job.is_some() {
            n.push("job".to_string());
        }
        n.extend(self.other.keys().cloned());
        n
    }
}

/// A header name and value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetricHeader {
    /// Header name.
    pub key: String,
    /// Header value.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub value: String,
}

/// `provider.web`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetric {
    /// GET (default), POST or PUT.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// URL (may contain `{{args.X}}`).
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub url: String,
    /// Request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebMetricHeader>,
    /// Request body (string).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// Request timeout (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// JSONPath template selecting the result, e.g. `{$.status}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub json_path: String,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Request body (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_body: Option<serde_json::Value>,
    /// Authentication (Rollouts: sigv4, oauth2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<serde_json::Value>,
}

/// `provider.prometheus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    /// Prometheus base URL.
    #[serde(default)]
    pub address: String,
    /// PromQL query.
    #[serde(default)]
    pub query: String,
    /// Authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<PrometheusAuth>,
    /// Query timeout in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Skip TLS verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebMetricHeader>,
    /// A range query (`start`, `end`, `step`): stored; the provider refuses
    /// to run it (an instant query is evaluated instead only when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_query: Option<serde_json::Value>,
}

/// `prometheus.authentication`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusAuth {
    /// AWS SigV4 (kept, not executed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<serde_json::Value>,
    /// OAuth2 client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
    /// HTTP basic auth (Rollouts' `basicAuth`; `basic` is read too, the
    /// spelling earlier versions of kargo-rs used).
    #[serde(
        default,
        rename = "basicAuth",
        alias = "basic",
        skip_serializing_if = "Option::is_none"
    )]
    pub basic: Option<BasicAuth>,
}

/// OAuth2 client-credentials settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Config {
    /// Token endpoint.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_url: String,
    /// Client ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    /// Client secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    /// Scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// Basic auth credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// Username.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

/// `provider.job`: a `batch/v1` Job spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobMetric {
    /// Job metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Job spec.
    pub spec: k8s_openapi::api::batch::v1::JobSpec,
}

/// A template argument.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    /// Name.
    pub name: String,
    /// Literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Value from a Secret or field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
}

/// `valueFrom`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueFrom {
    /// A key of a Secret in the run's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// A field of the owning object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<serde_json::Value>,
}

/// `secretKeyRef`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key.
    pub key: String,
}

/// `dryRun[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// Metric name or regex.
    pub metric_name: String,
}

/// `measurementRetention[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementRetention {
    /// Metric name or regex.
    pub metric_name: String,
    /// Measurements to keep.
    pub limit: i32,
}

/// Observed state of an AnalysisRun.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStatus {
    /// Pending, Running, Successful, Failed, Error, Inconclusive.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("x-kargo-required" = true))]
    pub phase: String,
    /// Why the run ended as it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Per-metric results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_results: Vec<MetricResult>,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,
    /// When the run reached its final phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub completed_at: Option<String>,
    /// Counts over non-dry-run metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_summary: Option<RunSummary>,
    /// Counts over dry-run metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_summary: Option<RunSummary>,
}

/// Results of one metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// Metric name.
    pub name: String,
    /// Phase.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub phase: String,
    /// Measurements, oldest first (retention applies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    /// Message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Measurements taken.
    #[serde(default)]
    pub count: i32,
    /// Successful measurements.
    #[serde(default)]
    pub successful: i32,
    /// Failed measurements.
    #[serde(default)]
    pub failed: i32,
    /// Inconclusive measurements.
    #[serde(default)]
    pub inconclusive: i32,
    /// Errored measurements.
    #[serde(default)]
    pub error: i32,
    /// Consecutive errors.
    #[serde(default)]
    pub consecutive_error: i32,
    /// Consecutive successes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_success: Option<i32>,
    /// Whether the metric is a dry run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Provider metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// One measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// Phase.
    #[serde(default)]
    #[schemars(extend("x-kargo-required" = true))]
    pub phase: String,
    /// Message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,
    /// Finish time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
    /// Measured value as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Provider metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When the next measurement is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub resume_at: Option<String>,
}

/// Counts of metric outcomes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Metrics.
    #[serde(default)]
    pub count: i32,
    /// Successful.
    #[serde(default)]
    pub successful: i32,
    /// Failed.
    #[serde(default)]
    pub failed: i32,
    /// Inconclusive.
    #[serde(default)]
    pub inconclusive: i32,
    /// Error.
    #[serde(default)]
    pub error: i32,
}

/// Go's `IntOrString.IntValue()`, which Rollouts reads every limit with:
/// unset is `None`; a string that is not an integer is `0`, not an error.
pub fn int_value(v: &Option<IntOrString>) -> Option<i32> {
    match v {
        None => None,
        Some(IntOrString::Int(i)) => Some(*i),
        Some(IntOrString::String(s)) => Some(s.parse().unwrap_or(0)),
    }
}

impl Metric {
    /// Rollouts' `EffectiveCount`: `count` when it is above 0; otherwise 1
    /// without an `interval` and unbounded (`None`) with one.
    pub fn effective_count(&self) -> Option<i32> {
        match int_value(&self.count) {
            Some(c) if c != 0 => Some(c),
            _ if self.interval.as_deref().unwrap_or("").is_empty() => Some(1),
            _ => None,
        }
    }
}

/// Go's `time.ParseDuration` in seconds, with Go's error text.
pub fn parse_go_duration_strict(s: &str) -> Result<f64, String> {
    let quoted = format!("\"{s}\"");
    let invalid = || format!("time: invalid duration {quoted}");
    let mut rest = s;
    let negative = rest.starts_with('-');
    if let Some(r) = rest.strip_prefix(['-', '+']) {
        rest = r;
    }
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let n: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let mult = match unit {
            "" => return Err(format!("time: missing unit in duration {quoted}")),
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "time: unknown unit \"{other}\" in duration {quoted}"
                ));
            }
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Ok(if negative { -total } else { total })
}

/// A metric Rollouts' `ValidateMetric` rejects: the field it concerns and
/// Rollouts' message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricProblem {
    /// The field (e.g. `count`, `provider`).
    pub field: &'static str,
    /// Rollouts' wording.
    pub message: String,
}

/// Rollouts' `ValidateMetrics` (`utils/analysis/factory.go`), its first
/// error worded as Rollouts words it (`metrics[0]: ...`).
pub fn validate_metrics(metrics: &[Metric]) -> Result<(), String> {
    if metrics.is_empty() {
        return Err("no metrics specified".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in metrics.iter().enumerate() {
        if !seen.insert(m.name.as_str()) {
            return Err(format!("metrics[{i}]: duplicate name '{}'", m.name));
        }
        validate_metric(m).map_err(|p| format!("metrics[{i}]: {}", p.message))?;
    }
    Ok(())
}

/// Rollouts' `ValidateMetric`: limits, count, durations, one provider.
/// `count` 0 or unset skips the count checks, as in Rollouts.
pub fn validate_metric(m: &Metric) -> Result<(), MetricProblem> {
    let bad = |field: &'static str, message: String| Err(MetricProblem { field, message });
    let count = int_value(&m.count).unwrap_or(0);
    let failure_limit = int_value(&m.failure_limit).unwrap_or(0);
    let success_limit = int_value(&m.consecutive_success_limit).unwrap_or(0);
    let inconclusive_limit = int_value(&m.inconclusive_limit).unwrap_or(0);
    if success_limit < 0 {
        return bad(
            "consecutiveSuccessLimit",
            "consecutiveSuccessLimit must be >= 0".into(),
        );
    }
    if failure_limit < -1 {
        return bad(
            "failureLimit",
            "failureLimit must be >= 0, or -1 to be disabled".into(),
        );
    }
    if success_limit == 0 && failure_limit == -1 {
        return bad(
            "failureLimit",
            "failureLimit and consecutiveSuccessLimit cannot both be disabled".into(),
        );
    }
    if inconclusive_limit < 0 {
        return bad("inconclusiveLimit", "inconclusiveLimit must be >= 0".into());
    }
    if int_value(&m.consecutive_error_limit).is_some_and(|l| l < 0) {
        return bad(
            "consecutiveErrorLimit",
            "consecutiveErrorLimit must be >= 0".into(),
        );
    }
    if count > 0 {
        if failure_limit >= 0 && count < failure_limit + success_limit {
            return bad(
                "count",
                format!(
                    "count ({count}) must be >= failureLimit + consecutiveSuccessLimit ({failure_limit} + {success_limit}) if both >= 0"
                ),
            );
        }
        if failure_limit < 0 && count < success_limit {
            return bad("count", "count must be >= consecutiveSuccessLimit".into());
        }
        if count < inconclusive_limit {
            return bad("count", "count must be >= inconclusiveLimit".into());
        }
    }
    let interval = m.interval.as_deref().unwrap_or("");
    if count > 1 && interval.is_empty() {
        return bad(
            "interval",
            "interval must be specified when count > 1".into(),
        );
    }
    if !interval.is_empty()
        && let Err(e) = parse_go_duration_strict(interval)
    {
        return bad("interval", format!("invalid interval string: {e}"));
    }
    let delay = m.initial_delay.as_deref().unwrap_or("");
    if !delay.is_empty()
        && let Err(e) = parse_go_duration_strict(delay)
    {
        return bad("initialDelay", format!("invalid startDelay string: {e}"));
    }
    match m.provider.names().len() {
        0 => bad("provider", "no provider specified".into()),
        1 => Ok(()),
        _ => bad("provider", "multiple providers specified".into()),
    }
}
