//! `http`: one HTTP/S request, as Kargo's step makes it — to notify a chat
//! channel, call a deployment API, or poll an endpoint until it says the
//! rollout is done. `successExpression` / `failureExpression` (bare
//! expressions over `response.status`, `response.headers`, `response.body`)
//! decide the outcome; a response that is neither is `Running`, so the
//! step is tried again (bounded by its `retry`). With neither expression,
//! a 2xx status succeeds and anything else fails. `outputs` are extracted
//! from successful responses only.

use crate::http_criteria::{self, Verdict, response_value};
use crate::step::{Step, StepContext, StepError, StepResult, StepStatus, parse_config};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// Step name.
pub const NAME: &str = "http";
/// Largest response body read (bigger bodies fail the step).
pub const MAX_BODY: usize = 4 << 20;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A header or query parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameValue {
    /// Name.
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// An output extracted from the response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputRule {
    /// Output name.
    pub name: String,
    /// Expression over `response`.
    pub from_expression: String,
}

/// `config` of the step.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// HTTP method (default GET).
    #[serde(default)]
    pub method: String,
    /// Request URL.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: Vec<NameValue>,
    /// Query parameters (URL-encoded here).
    #[serde(default)]
    pub query_params: Vec<NameValue>,
    /// Request body.
    #[serde(default)]
    pub body: String,
    /// Skip TLS verification (discouraged).
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
    /// Timeout of one request (Go duration, default 10s).
    #[serde(default)]
    pub timeout: String,
    /// Success criterion.
    #[serde(default)]
    pub success_expression: String,
    /// Failure criterion (wins when both hold).
    #[serde(default)]
    pub failure_expression: String,
    /// Outputs.
    #[serde(default)]
    pub outputs: Vec<OutputRule>,
}

/// The step.
pub struct Http;

fn evaluate(field: &str, expression: &str, response: &Value) -> Result<Value, StepError> {
    http_criteria::evaluate(field, expression, response).map_err(|e| StepError::terminal(NAME, e))
}

async fn send(cfg: &Config, timeout: Duration) -> Result<(u16, Value), StepError> {
    let method = if cfg.method.is_empty() {
        reqwest::Method::GET
    } else {
        reqwest::Method::from_bytes(cfg.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
            StepError::config(
                NAME,
                format!("method: {:?} is not an HTTP method", cfg.method),
            )
        })?
    };
    let mut url = reqwest::Url::parse(&cfg.url).map_err(|e| {
        StepError::config(
            NAME,
            format!(
                "url: {:?} is not a URL: {e}",
                kargo_api::redact::redact_url(&cfg.url)
            ),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(StepError::config(
            NAME,
            format!(
                "url: {:?} must be http:// or https://",
                kargo_api::redact::redact_url(&cfg.url)
            ),
        ));
    }
    if !cfg.query_params.is_empty() {
        let mut q = url.query_pairs_mut();
        for p in &cfg.query_params {
            q.append_pair(&p.name, &p.value);
        }
    }
    let client = kargo_analysis::http::client(timeout, cfg.insecure_skip_tls_verify)
        .map_err(|e| StepError::retryable(NAME, e))?;
    let mut req = client.request(method, url);
    for h in &cfg.headers {
        req = req.header(h.name.as_str(), h.value.as_str());
    }
    if !cfg.body.is_empty() {
        req = req.body(cfg.body.clone());
    }
    let resp = req.send().await.map_err(|e| {
        StepError::retryable(
            NAME,
            format!("request failed: {}", kargo_analysis::http::describe(e)),
        )
    })?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = kargo_analysis::http::body(resp, MAX_BODY)
        .await
        .map_err(|e| StepError::terminal(NAME, e))?;
    Ok((status, response_value(status, &headers, &body)))
}

impl Step for Http {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg: Config = parse_config(NAME, config)?;
        let timeout = if cfg.timeout.is_empty() {
            DEFAULT_TIMEOUT
        } else {
            kargo_api::validate::parse_go_duration(&cfg.timeout)
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    StepError::config(
                        NAME,
                        format!("timeout: {:?} is not a duration such as 30s", cfg.timeout),
                    )
                })?
        };
        // The request's own timeout bounds it; an abort drops it at once.
        let (status, response) = ctx
            .limits
            .block_on(send(&cfg, timeout), timeout + Duration::from_secs(1))
            .map_err(|why| StepError::retryable(NAME, format!("request {why}")))??;
        let verdict =
            http_criteria::judge(&cfg.success_expression, &cfg.failure_expression, &response)
                .map_err(|e| StepError::terminal(NAME, e))?;
        match verdict {
            Verdict::Failed => {
                return Err(StepError::terminal(
                    NAME,
                    format!("the response (status {status}) met the failure criteria"),
                ));
            }
            Verdict::Neither => {
                return Ok(StepResult {
                    status: Some(StepStatus::Running),
                    message: format!(
                        "the response (status {status}) met neither the success nor the failure criteria; trying again"
                    ),
                    ..Default::default()
                });
            }
            Verdict::Succeeded => {}
        }
        let mut outputs = Map::new();
        for (i, o) in cfg.outputs.iter().enumerate() {
            let v = evaluate(
                &format!("outputs[{i}].fromExpression"),
                &o.from_expression,
                &response,
            )?;
            outputs.insert(o.name.clone(), v);
        }
        Ok(StepResult::succeeded(outputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testutil::with_ctx;
    use serde_json::json;
    use std::io::{Read, Write};

    /// A loopback server answering every request with `status` and a JSON
    /// body that echoes the request line, headers and body.
    fn server(status: u16, extra: &'static str) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let mut buf = vec![0u8; 65536];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let (head, body) = req.split_once("\r\n\r\n").unwrap_or((&req, ""));
                let line = head.lines().next().unwrap_or("").to_string();
                let token = head
                    .lines()
                    .find_map(|l| l.strip_prefix("x-token: "))
                    .unwrap_or("")
                    .to_string();
                let reply =
                    json!({"line": line, "token": token, "body": body, "extra": extra}).to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nX-Trace-ID: abc\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        format!("http://{addr}")
    }

    fn run(cfg: Value) -> Result<StepResult, StepError> {
        let tmp = tempfile::tempdir().unwrap();
        with_ctx(tmp.path(), &Map::new(), |ctx| Http.run(ctx, &cfg))
    }

    #[test]
    fn default_criteria_are_the_status_class() {
        let ok = server(200, "");
        let res = run(json!({
            "method": "POST",
            "url": format!("{ok}/hook"),
            "headers": [{"name": "X-Token", "value": "t0k"}],
            "queryParams": [{"name": "msg", "value": "a b&c"}],
            "body": "{\"text\":\"promoted\"}",
            "outputs": [
                {"name": "status", "fromExpression": "response.status"},
                {"name": "line", "fromExpression": "response.body.line"},
                {"name": "trace", "fromExpression": "response.headers[\"X-Trace-Id\"][0]"},
                {"name": "token", "fromExpression": "response.body.token"},
                {"name": "sent", "fromExpression": "response.body.body"}
            ]
        }))
        .unwrap();
        assert_eq!(res.status(), StepStatus::Succeeded);
        assert_eq!(res.outputs["status"], json!(200));
        assert_eq!(
            res.outputs["line"],
            json!("POST /hook?msg=a+b%26c HTTP/1.1")
        );
        assert_eq!(res.outputs["trace"], json!("abc"));
        assert_eq!(res.outputs["token"], json!("t0k"));
        assert_eq!(res.outputs["sent"], json!("{\"text\":\"promoted\"}"));

        let down = server(503, "");
        let err = run(json!({"url": down})).unwrap_err();
        assert!(err.terminal && err.message.contains("status 503"), "{err}");
    }

    #[test]
    fn polling_until_the_criteria_decide() {
        let cfg = |url: String| {
            json!({
                "url": url,
                "successExpression": "response.status == 200 && response.body.extra == \"done\"",
                "failureExpression": "response.status == 404"
            })
        };
        let res = run(cfg(server(200, "rolling"))).unwrap();
        assert_eq!(res.status(), StepStatus::Running, "neither: try again");
        assert!(res.message.contains("neither"), "{}", res.message);
        assert_eq!(
            run(cfg(server(200, "done"))).unwrap().status(),
            StepStatus::Succeeded
        );
        let err = run(cfg(server(404, ""))).unwrap_err();
        assert!(err.terminal, "{err}");
        // Only a success expression: its negation is the failure.
        let err = run(
            json!({"url": server(200, "x"), "successExpression": "response.body.extra == \"y\""}),
        )
        .unwrap_err();
        assert!(err.message.contains("failure criteria"), "{err}");
    }

    #[test]
    fn bad_config_and_unreachable_hosts_say_what_is_wrong() {
        let e = run(json!({"url": "http://127.0.0.1:9/", "method": "GE T"})).unwrap_err();
        assert!(e.message.contains("method"), "{e}");
        let e = run(json!({"url": "not a url"})).unwrap_err();
        assert!(e.message.contains("url"), "{e}");
        let e = run(json!({"url": "ftp://x/"})).unwrap_err();
        assert!(e.message.contains("http://"), "{e}");
        let e = run(json!({"url": "http://127.0.0.1:9/", "timeout": "soon"})).unwrap_err();
        assert!(e.message.contains("timeout"), "{e}");
        let e = run(json!({"url": "http://127.0.0.1:9/", "retries": 3})).unwrap_err();
        assert!(e.message.contains("retries"), "{e}");
        let e = run(json!({"url": "http://127.0.0.1:9/"})).unwrap_err();
        assert!(!e.terminal && e.message.contains("request failed"), "{e}");
        let e = run(json!({"url": server(200, ""), "successExpression": "response.status"}))
            .unwrap_err();
        assert!(e.message.contains("true or false"), "{e}");
    }

    #[test]
    fn credentials_in_the_url_appear_in_no_message() {
        let secret = "hunter2-s3cret";
        // Refused connection: the retryable error.
        let e = run(json!({"url": format!("http://bob:{secret}@127.0.0.1:9/x")})).unwrap_err();
        assert!(
            !e.message.contains(secret) && !e.message.contains("bob"),
            "{e}"
        );
        // Failure criteria met: the terminal error.
        let down = server(503, "").replace("http://", &format!("http://bob:{secret}@"));
        let e = run(json!({"url": down})).unwrap_err();
        assert!(!e.message.contains(secret), "{e}");
        // Not a URL at all: never echoed whole.
        let e = run(json!({"url": format!("http://bob:{secret} @ exa mple")})).unwrap_err();
        assert!(
            !e.message.contains(secret) && e.message.contains("url"),
            "{e}"
        );
        let e = run(json!({"url": format!("ftp://bob:{secret}@h/")})).unwrap_err();
        assert!(!e.message.contains(secret), "{e}");
        // A user name alone (often a token) goes too.
        let e = run(json!({"url": format!("http://{secret}@127.0.0.1:9/")})).unwrap_err();
        assert!(!e.message.contains(secret), "{e}");
    }
}
