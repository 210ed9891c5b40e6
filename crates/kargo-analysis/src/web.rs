//! The `web` provider: one HTTP request (GET by default, POST, PUT), the
//! body parsed as JSON and a Kubernetes JSONPath (`jsonPath`, default
//! `{$}`) selecting the result (the first match; a non-JSON body gives the
//! raw body string). The value recorded is the JSON of the result.
//!
//! Extension: conditions also see `response.status` (number) and
//! `response.headers` (lower-case names, repeated headers joined by
//! `,`). A non-2xx response is an Error measurement, as in Rollouts,
//! unless a condition mentions `response.status`.

use std::collections::BTreeMap;
use std::time::Duration;

use kargo_api::analysis::{Metric, WebMetric};
use kargo_expr::convert::to_expr;
use serde_json::{Map, Value as Json};

use crate::http;
use crate::jsonpath::first_match;
use crate::provider::{Observation, Observed};
use crate::typecheck::GoType;

/// Default request timeout.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 10;
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Takes one measurement.
pub async fn measure(metric: &Metric, web: &WebMetric) -> Observation {
    match run(metric, web).await {
        Ok(o) => o,
        Err(e) => Observation::Error(e),
    }
}

async fn run(metric: &Metric, web: &WebMetric) -> Result<Observation, String> {
    let timeout = web
        .timeout_seconds
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let client = http::client(Duration::from_secs(timeout as u64), web.insecure)?;
    let method = match web.method.to_ascii_uppercase().as_str() {
        "" | "GET" => reqwest::Method::GET,
        "POST" => reqwest::Method::POST,
        "PUT" => reqwest::Method::PUT,
        other => return Err(format!("unsupported web method {other:?} (GET, POST, PUT)")),
    };
    if method == reqwest::Method::GET && (!web.body.is_empty() || web.json_body.is_some()) {
        return Err("body and jsonBody are not allowed with GET".into());
    }
    if !web.body.is_empty() && web.json_body.is_some() {
        return Err("body and jsonBody are mutually exclusive".into());
    }
    let url = reqwest::Url::parse(&web.url).map_err(|e| format!("invalid url: {e}"))?;
    let mut req = client.request(method, url);
    let mut has_content_type = false;
    for h in &web.headers {
        has_content_type |= h.key.eq_ignore_ascii_case("content-type");
        req = req.header(h.key.as_str(), h.value.as_str());
    }
    if let Some(j) = &web.json_body {
        if !has_content_type {
            req = req.header("content-type", "application/json");
        }
        req = req.body(j.to_string());
    } else if !web.body.is_empty() {
        req = req.body(web.body.clone());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("request failed: {}", http::describe(e)))?;
    let status = resp.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in resp.headers() {
        let v = String::from_utf8_lossy(value.as_bytes()).to_string();
        match headers.get_mut(name.as_str()) {
            Some(Json::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Json::String(v));
            }
        }
    }
    let body = http::body(resp, MAX_BODY).await?;
    let uses_status = [&metric.success_condition, &metric.failure_condition]
        .iter()
        .any(|c| c.contains("response.status"));
    if !(200..300).contains(&status) && !uses_status {
        return Err(format!("received non 2xx response code: {status}"));
    }
    let path = if web.json_path.trim().is_empty() {
        "{$}"
    } else {
        web.json_path.as_str()
    };
    let (result, shown) = match serde_json::from_slice::<Json>(&body) {
        Ok(data) => {
            let r = first_match(path, &data)
                .map_err(|e| format!("Could not find JSONPath in body: {e}"))?;
            let shown = r.to_string();
            (r, shown)
        }
        // Not JSON: the raw body, recorded as it is.
        Err(_) => {
            let text = String::from_utf8_lossy(&body).into_owned();
            (Json::String(text.clone()), text)
        }
    };
    let response = serde_json::json!({"status": status, "headers": headers});
    let mut metadata = BTreeMap::new();
    metadata.insert("responseStatus".to_string(), status.to_string());
    Ok(Observation::Value(Observed {
        result: to_expr(&result),
        result_type: GoType::of_json(&result),
        shown,
        extra: vec![("response".to_string(), to_expr(&response))],
        metadata,
    }))
}
