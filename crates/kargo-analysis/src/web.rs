//! The `web` provider: one HTTP request (GET by default, POST, PUT), with
//! OAuth2 client credentials (`authentication.oauth2`) as in Rollouts; the
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

use kargo_api::analysis::{Metric, OAuth2Config, WebMetric};
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

/// `authentication.oauth2` when it names a token URL (Rollouts then
/// requires the client ID and secret).
fn oauth2(web: &WebMetric) -> Result<Option<OAuth2Config>, String> {
    let Some(o) = web.authentication.as_ref().and_then(|a| a.get("oauth2")) else {
        return Ok(None);
    };
    let o: OAuth2Config =
        serde_json::from_value(o.clone()).map_err(|e| format!("authentication.oauth2: {e}"))?;
    if o.token_url.is_empty() {
        return Ok(None);
    }
    if o.client_id.is_empty() || o.client_secret.is_empty() {
        return Err("missing mandatory parameter in metric for OAuth2 setup".into());
    }
    Ok(Some(o))
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
    // Rollouts' checks and wording, in its order.
    if !web.body.is_empty() && web.json_body.is_some() {
        return Err("use either Body or JSONBody; both cannot exists for WebMetric payload".into());
    }
    if method == reqwest::Method::GET && (!web.body.is_empty() || web.json_body.is_some()) {
        return Err(
            "Body/JSONBody can only be used with POST or PUT WebMetric Method types".into(),
        );
    }
    let url = reqwest::Url::parse(&web.url).map_err(|e| format!("invalid url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        // Go's net/http wording.
        let op = method.as_str();
        let op = format!("{}{}", &op[..1], op[1..].to_ascii_lowercase());
        return Err(format!(
            "{op} \"{}\": unsupported protocol scheme \"{}\"",
            web.url,
            url.scheme()
        ));
    }
    let token = match oauth2(web)? {
        Some(o) => Some(http::oauth2_token(&client, &o).await?),
        None => None,
    };
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
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
            let shown = go_json(&r);
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

/// A value as Go's `json.Marshal` writes it (which Rollouts records):
/// object keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn go_json(v: &Json) -> String {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_json(&Json::String(k.clone())), go_json(&m[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Json::Array(a) => format!("[{}]", a.iter().map(go_json).collect::<Vec<_>>().join(",")),
        Json::String(_) => v
            .to_string()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029"),
        other => other.to_string(),
    }
}
