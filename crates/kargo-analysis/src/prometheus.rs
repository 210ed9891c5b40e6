//! The `prometheus` provider: an instant query (`GET /api/v1/query`) with
//! optional headers, basic auth (our `authentication.basic`) or OAuth2
//! client credentials. A scalar becomes a number, a vector an array of
//! numbers (so `result[0] < 0.05` works), a matrix (our extension) the
//! array of each series' last value; an empty vector is `[]` and the
//! conditions decide, as in Rollouts (the message then says "no data").

use std::collections::BTreeMap;
use std::time::Duration;

use expr::Value;
use kargo_api::analysis::PrometheusMetric;
use serde_json::Value as Json;

use crate::http;
use crate::provider::{Observation, Observed};
use crate::typecheck::GoType;

/// Default query timeout in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 30;
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Takes one measurement.
pub async fn measure(prom: &PrometheusMetric) -> Observation {
    match run(prom).await {
        Ok(o) => o,
        Err(e) => Observation::Error(e),
    }
}

async fn run(prom: &PrometheusMetric) -> Result<Observation, String> {
    if prom.range_query.is_some() {
        // Stored so Rollouts YAML is accepted, but never silently run as
        // an instant query: that would judge a different number.
        return Err("rangeQuery is not supported by this Prometheus provider yet; use an instant query (e.g. with a [5m] range vector)".into());
    }
    let timeout = prom
        .timeout
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let client = http::client(Duration::from_secs(timeout as u64), prom.insecure)?;
    let base = prom.address.trim_end_matches('/');
    let url = reqwest::Url::parse_with_params(
        &format!("{base}/api/v1/query"),
        &[
            ("query", prom.query.as_str()),
            ("timeout", &format!("{timeout}s")),
        ],
    )
    .map_err(|e| format!("invalid prometheus address {:?}: {e}", prom.address))?;
    let mut req = client.get(url);
    for h in &prom.headers {
        req = req.header(h.key.as_str(), h.value.as_str());
    }
    if let Some(auth) = &prom.authentication {
        if let Some(b) = &auth.basic {
            req = req.basic_auth(&b.username, Some(&b.password));
        } else if let Some(o) = &auth.oauth2 {
            let token = http::oauth2_token(&client, o).await?;
            req = req.bearer_auth(token);
        } else if auth.sigv4.is_some() {
            return Err("prometheus sigv4 authentication is not supported".into());
        }
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("prometheus query failed: {}", http::describe(e)))?;
    let status = resp.status();
    let body = http::body(resp, MAX_BODY).await?;
    let doc: Json = serde_json::from_slice(&body).map_err(|_| {
        format!(
            "prometheus answered HTTP {status} with a body that is not JSON: {}",
            snippet(&body)
        )
    })?;
    if doc["status"] != "success" {
        return Err(format!(
            "prometheus query failed (HTTP {status}): {}: {}",
            doc["errorType"].as_str().unwrap_or("error"),
            doc["error"].as_str().unwrap_or("no error message")
        ));
    }
    let (result, shown) = convert(&doc["data"])?;
    let mut metadata = BTreeMap::new();
    if let Some(t) = doc["data"]["resultType"].as_str() {
        metadata.insert("resultType".to_string(), t.to_string());
    }
    // Rollouts hands expr a `float64` for a scalar, a `[]float64` otherwise.
    let result_type = match &result {
        Value::Array(_) => GoType::Array(Box::new(GoType::Float)),
        _ => GoType::Float,
    };
    Ok(Observation::Value(Observed {
        result,
        result_type,
        shown,
        extra: Vec::new(),
        metadata,
    }))
}

/// Prometheus' `data` into the condition value and its text.
fn convert(data: &Json) -> Result<(Value, String), String> {
    let kind = data["resultType"].as_str().unwrap_or("");
    let result = &data["result"];
    match kind {
        "scalar" => {
            let f = sample(result)?;
            Ok((Value::Float(f), fmt(f)))
        }
        "vector" | "matrix" => {
            let series = result
                .as_array()
                .ok_or("prometheus result is not an array")?;
            let mut vals = Vec::with_capacity(series.len());
            for s in series {
                let v = if kind == "vector" {
                    sample(&s["value"])?
                } else {
                    let values = s["values"]
                        .as_array()
                        .ok_or("matrix series without values")?;
                    match values.last() {
                        Some(v) => sample(v)?,
                        None => continue,
                    }
                };
                vals.push(v);
            }
            let shown = format!(
                "[{}]",
                vals.iter().map(|v| fmt(*v)).collect::<Vec<_>>().join(",")
            );
            Ok((
                Value::Array(vals.into_iter().map(Value::Float).collect()),
                shown,
            ))
        }
        other => Err(format!("prometheus result type {other:?} is not supported")),
    }
}

/// `[timestamp, "value"]` into the value.
fn sample(pair: &Json) -> Result<f64, String> {
    let s = pair[1].as_str().ok_or("prometheus sample has no value")?;
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse()
            .map_err(|_| format!("prometheus sample {s:?} is not a number")),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` for finite values, Prometheus'
/// spelling otherwise.
fn fmt(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_types() {
        let (v, s) = convert(
            &json!({"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.08"]}]}),
        )
        .unwrap();
        assert_eq!(v, Value::Array(vec![Value::Float(0.08)]));
        assert_eq!(s, "[0.08]");
        let (v, s) = convert(&json!({"resultType": "vector", "result": []})).unwrap();
        assert_eq!((v, s.as_str()), (Value::Array(vec![]), "[]"));
        let (v, _) = convert(&json!({"resultType": "scalar", "result": [1, "2"]})).unwrap();
        assert_eq!(v, Value::Float(2.0));
        let (v, _) =
            convert(&json!({"resultType": "matrix", "result": [{"values": [[1, "1"], [2, "3"]]}]}))
                .unwrap();
        assert_eq!(v, Value::Array(vec![Value::Float(3.0)]));
        assert!(convert(&json!({"resultType": "string", "result": [1, "x"]})).is_err());
    }
}
