//! Verifications: an AnalysisRun's summary on the Stage page (each
//! metric's counts, last values and a sparkline) and its own page
//! (`/ui/projects/P/analysisruns/N`): per metric its provider, success and
//! failure conditions and every measurement (phase, value, message, time),
//! the output a job metric kept (standalone: in the measurement), and the
//! logs of a job metric's `batch/v1` Job pods fetched through the API as
//! the user, as `kargo logs analysisrun` shows them.

use super::model::name;
use super::view::{Tone, badge, badge_as};
use kargo_api::AnalysisRun;
use kargo_api::analysis::MetricResult;
use kargo_controller::jobs::{JOB_NAME_KEY, JOB_NAMESPACE_KEY};
use maud::{Markup, html};
use std::time::Duration;

/// Longest one request for a Job's pods or their logs may take.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);

/// A sparkline of the numeric measurement values.
pub(crate) fn sparkline(values: &[f64]) -> Markup {
    if values.len() < 2 {
        return html! {};
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * 100.0 / (values.len() - 1) as f64,
                28.0 - (v - lo) / span * 26.0
            )
        })
        .collect();
    html! { svg.spark width="100" height="30" viewBox="0 0 100 30" role="img" aria-label="measurements" {
    polyline points=(pts.join(" ")) fill="none" stroke="currentColor" stroke-width="1.5" {} } }
}

/// The numeric values of a metric's measurements (`[1.5]` reads as 1.5).
fn numbers(m: &MetricResult) -> Vec<f64> {
    m.measurements
        .iter()
        .filter_map(|x| x.value.trim_matches(|c| c == '[' || c == ']').parse().ok())
        .collect()
}

/// The address of AnalysisRun `n`'s page.
fn href(ns: &str, n: &str) -> String {
    format!("/ui/projects/{ns}/analysisruns/{n}")
}

/// An AnalysisRun in a Stage's verification list: its metrics' counts,
/// last values and sparkline, and a link to its page.
pub(crate) fn summary(ns: &str, runs: &[AnalysisRun], n: &str) -> Markup {
    let Some(r) = runs.iter().find(|r| name(&r.metadata) == n) else {
        return html! { span.muted { "AnalysisRun " (n) " not found" } };
    };
    let st = r.status.clone().unwrap_or_default();
    html! {
        details.run open {
            summary { "AnalysisRun " a href=(href(ns, n)) { code { (n) } } " " (badge(&st.phase)) " " (st.message) }
            table {
                thead { tr { th { "Metric" } th { "Phase" } th { "Measurements" } th { "Values" } } }
                @for m in &st.metric_results {
                    tr {
                        td { (m.name) }
                        td { (badge(&m.phase)) " " span.small { (m.message) } }
                        td.small { (m.successful) " ok · " (m.failed) " failed · " (m.inconclusive) " inconclusive" }
                        td { (sparkline(&numbers(m)))
                            span.small { @for x in m.measurements.iter().rev().take(5) { (x.value) " " } } }
                    }
                }
            }
            p.small { a href=(href(ns, n)) { "Measurements and logs →" } }
        }
    }
}

/// The AnalysisRun page's live section: everything about the run.
pub(crate) fn page_live(ns: &str, runs: &[AnalysisRun], n: &str) -> Markup {
    let Some(r) = runs.iter().find(|r| name(&r.metadata) == n) else {
        return html! { section #detail sse-swap="detail" hx-swap="outerHTML" {
        p { (badge_as(Tone::Unknown, "Not found")) " AnalysisRun " (n) " does not exist (any more)." } } };
    };
    let st = r.status.clone().unwrap_or_default();
    let owner = r
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(kargo_controller::verification::STAGE_LABEL))
        .cloned()
        .unwrap_or_default();
    html! { section #detail sse-swap="detail" hx-swap="outerHTML" {
        h1 { "AnalysisRun " (n) }
        p { (badge(if st.phase.is_empty() { "Pending" } else { &st.phase })) " " (st.message)
            @if !owner.is_empty() { " · verifies Stage " a href=(format!("/ui/projects/{ns}/stages/{owner}")) { (owner) } }
            @if let Some(at) = &st.started_at { " · started " span.small { (at) } } }
        @if !r.spec.args.is_empty() {
            h2 { "Arguments" }
            table { @for a in &r.spec.args { tr { td { (a.name) } td.small {
                @match (&a.value, &a.value_from) {
                    (Some(v), _) => code { (v) },
                    (None, Some(_)) => span.muted { "from a Secret or field" },
                    _ => span.muted { "unset" },
                } } } } }
        }
        @for m in &st.metric_results {
            @let spec = r.spec.metrics.iter().find(|x| x.name == m.name);
            section.metric data-metric=(m.name) {
                h2 { "Metric " (m.name) " " (badge(&m.phase)) }
                p.small {
                    @if let Some(s) = spec { (s.provider.names().join(", ")) " · "
                        @if !s.success_condition.is_empty() { "success when " code { (s.success_condition) } " · " }
                        @if !s.failure_condition.is_empty() { "failure when " code { (s.failure_condition) } " · " } }
                    (m.count) " measured, " (m.successful) " successful, " (m.failed) " failed, " (m.inconclusive) " inconclusive, " (m.error) " error"
                    @if !m.message.is_empty() { " · " (m.message) }
                }
                (sparkline(&numbers(m)))
                table.measurements {
                    thead { tr { th { "#" } th { "Phase" } th { "Value" } th { "Started" } th { "Message" } } }
                    @for (i, x) in m.measurements.iter().enumerate() {
                        tr {
                            td { (i + 1) } td { (badge(&x.phase)) } td { code { (x.value) } }
                            td.small { (x.started_at.as_deref().unwrap_or("")) } td.small { (x.message) }
                        }
                        @if let Some(out) = x.metadata.get("output").filter(|o| !o.is_empty()) {
                            tr { td {} td colspan="4" { details.log open { summary { "Output of measurement " (i + 1) } pre.log { (out) } } } }
                        }
                    }
                }
            }
        }
        @if st.metric_results.is_empty() { p.muted { "No measurement yet." } }
    } }
}

/// The Jobs (namespace, name) the run's job metrics ran as `batch/v1`
/// Jobs, in order.
fn jobs(ns: &str, r: &AnalysisRun) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for x in r
        .status
        .iter()
        .flat_map(|s| &s.metric_results)
        .flat_map(|m| &m.measurements)
    {
        if let Some(job) = x.metadata.get(JOB_NAME_KEY) {
            let jns = x.metadata.get(JOB_NAMESPACE_KEY).map(String::as_str);
            let j = (jns.unwrap_or(ns).to_string(), job.clone());
            if !out.contains(&j) {
                out.push(j);
            }
        }
    }
    out
}

/// The logs of the run's Job pods, read through the API with `client`
/// (the user's): what the user may not read or the cluster does not
/// serve is said in words.
pub(crate) async fn job_logs(
    client: kube::Client,
    ns: &str,
    runs: &[AnalysisRun],
    n: &str,
) -> Markup {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, LogParams};
    let Some(r) = runs.iter().find(|r| name(&r.metadata) == n) else {
        return html! {};
    };
    let jobs = jobs(ns, r);
    if jobs.is_empty() {
        return html! {};
    }
    let mut parts = Vec::new();
    for (jns, job) in jobs {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &jns);
        let lp = ListParams::default().labels(&format!("job-name={job}"));
        let listed = match tokio::time::timeout(LOG_TIMEOUT, pods.list(&lp)).await {
            Ok(Ok(l)) => l.items,
            Ok(Err(e)) => {
                parts.push(html! { h3 { "Job " (jns) "/" (job) } p.muted { "Its pods cannot be listed: " (e) } });
                continue;
            }
            Err(_) => {
                parts.push(html! { h3 { "Job " (jns) "/" (job) } p.muted { "Its pods cannot be listed: no answer in " (LOG_TIMEOUT.as_secs()) " s" } });
                continue;
            }
        };
        let mut logs = Vec::new();
        for pod in &listed {
            let pn = pod.metadata.name.clone().unwrap_or_default();
            let text = match tokio::time::timeout(
                LOG_TIMEOUT,
                pods.logs(&pn, &LogParams::default()),
            )
            .await
            {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => format!("(logs of pod {pn}: {e})"),
                Err(_) => format!(
                    "(logs of pod {pn}: no answer in {} s)",
                    LOG_TIMEOUT.as_secs()
                ),
            };
            logs.push((pn, text));
        }
        parts.push(html! {
            h3 { "Job " (jns) "/" (job) }
            @if logs.is_empty() { p.muted { "No pods of this Job: the cluster has none, or runs no pods." } }
            @for (pn, text) in &logs { details.log open { summary { "Pod " (pn) } pre.log { (text) } } }
        });
    }
    html! { section #job-logs { h2 { "Job logs" } @for p in parts { (p) } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> AnalysisRun {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "dev.v1", "namespace": "p", "labels": {"kargo.akuity.io/stage": "dev"}},
            "spec": {"args": [{"name": "url", "value": "http://app"}], "metrics": [
                {"name": "healthz", "successCondition": "result == 'ok'", "provider": {"web": {"url": "{{args.url}}"}}},
                {"name": "smoke", "provider": {"job": {"spec": {"template": {"spec": {"containers": []}}}}}}]},
            "status": {"phase": "Failed", "metricResults": [
                {"name": "healthz", "phase": "Successful", "count": 3, "successful": 3, "measurements": [
                    {"phase": "Successful", "value": "1"}, {"phase": "Successful", "value": "3"}, {"phase": "Successful", "value": "2"}]},
                {"name": "smoke", "phase": "Failed", "count": 1, "failed": 1, "measurements": [
                    {"phase": "Failed", "value": "1", "metadata": {"output": "curl: connection refused\n", "job-name": "dev.v1.smoke.1"}}]}]}
        }))
        .unwrap()
    }

    #[test]
    fn the_run_page_shows_each_measurement_its_output_and_a_sparkline() {
        let html = page_live("p", &[run()], "dev.v1").into_string();
        assert!(html.contains("sse-swap=\"detail\""), "{html}");
        assert!(
            html.contains("data-metric=\"healthz\"") && html.contains("result == 'ok'"),
            "{html}"
        );
        assert!(
            html.contains("<polyline points=\"0.0,28.0 50.0,2.0 100.0,15.0\""),
            "{html}"
        );
        assert!(html.contains("curl: connection refused"), "{html}");
        assert!(
            html.contains("http://app") && html.contains("/stages/dev"),
            "{html}"
        );
        assert_eq!(
            jobs("p", &run()),
            vec![("p".to_string(), "dev.v1.smoke.1".to_string())]
        );
        let s = summary("p", &[run()], "dev.v1").into_string();
        assert!(
            s.contains("/ui/projects/p/analysisruns/dev.v1") && s.contains("3 ok"),
            "{s}"
        );
    }

    #[test]
    fn a_sparkline_scales_values() {
        let s = sparkline(&[1.0, 2.0, 3.0]).into_string();
        assert!(s.contains("0.0,28.0") && s.contains("100.0,2.0"), "{s}");
        assert!(sparkline(&[1.0]).into_string().is_empty());
    }

    #[tokio::test]
    async fn job_logs_are_read_through_the_api_and_what_is_missing_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let store = kargo_store::Store::open(&dir.path().join("db")).unwrap();
        let ns_info = kargo_api::lookup_kind("v1", "Namespace").unwrap();
        store
            .create(ns_info, "", serde_json::json!({"metadata": {"name": "p"}}))
            .unwrap();
        let client = crate::in_process::in_process_client(store.clone());
        // No pods of the Job yet.
        let html = job_logs(client.clone(), "p", &[run()], "dev.v1")
            .await
            .into_string();
        assert!(
            html.contains("Job p/dev.v1.smoke.1") && html.contains("No pods of this Job"),
            "{html}"
        );
        // A pod of it: listed by `job-name`; this API serves no logs of
        // other pods, which is said rather than hidden.
        let pod = kargo_api::lookup_kind("v1", "Pod").unwrap();
        store
            .create(pod, "p", serde_json::json!({"metadata": {"name": "smoke-abc", "namespace": "p",
                "labels": {"job-name": "dev.v1.smoke.1"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}))
            .unwrap();
        let html = job_logs(client, "p", &[run()], "dev.v1")
            .await
            .into_string();
        assert!(
            html.contains("Pod smoke-abc") && html.contains("(logs of pod smoke-abc:"),
            "{html}"
        );
        // A run without job metrics has no logs section.
        let mut web_only = run();
        web_only.status.as_mut().unwrap().metric_results.truncate(1);
        let none = job_logs(
            crate::in_process::in_process_client(store),
            "p",
            &[web_only],
            "dev.v1",
        )
        .await;
        assert!(none.into_string().is_empty());
    }
}
