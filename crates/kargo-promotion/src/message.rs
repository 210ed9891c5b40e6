//! Sending one message through a (Cluster)MessageChannel, as the
//! EventRouters (`kargo_controller::notify`) and the `send-message` step
//! do: Slack (a bot token's `chat.postMessage`, whose `ts` threads later
//! messages, or an incoming webhook), e-mail over SMTP (`lettre`,
//! STARTTLS unless `useTLS: false`), or a generic HTTP webhook whose body
//! is signed with HMAC-SHA256 when the Secret holds `hmacKey`
//! (`X-Kargo-Signature-256: sha256=<hex>`, as GitHub signs its
//! webhooks) and whose answer is judged by the channel's
//! `successExpression` / `failureExpression` as the `http` step judges
//! its own ([`crate::http_criteria`]). Every call has a timeout;
//! [`send_with_retries`] retries a failed delivery with exponential
//! backoff.

use crate::http_criteria::{self, Verdict};
use kargo_api::notification::MessageChannelSpec;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Header carrying a webhook body's signature.
pub const SIGNATURE_HEADER: &str = "X-Kargo-Signature-256";
/// Slack's Web API.
const SLACK_API: &str = "https://slack.com/api";
/// Longest a Slack or SMTP delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A channel ready to send: its spec and its Secret's data.
#[derive(Clone, Debug, Default)]
pub struct Channel {
    /// `kind/name`, for messages and metrics.
    pub name: String,
    /// The channel's spec.
    pub spec: MessageChannelSpec,
    /// The Secret's keys (decoded).
    pub secret: BTreeMap<String, String>,
}

/// One message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// The text (plain), or an encoded body (`encoding`).
    pub text: String,
    /// Empty (plain text), `json`, `yaml` or `xml`.
    pub encoding: String,
    /// Slack: a channel other than the channel's.
    pub slack_channel: String,
    /// Slack: the thread to reply in.
    pub thread_ts: String,
    /// SMTP: recipients other than the channel's.
    pub to: Vec<String>,
    /// SMTP: the subject.
    pub subject: String,
    /// SMTP: the body is HTML.
    pub html: bool,
}

/// What a delivery returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivered {
    /// Slack: the thread the message is in (a new message's `ts`, or
    /// the thread replied to).
    pub thread_ts: Option<String>,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
#[error("{channel}: {message}")]
pub struct SendError {
    /// The channel.
    pub channel: String,
    /// What went wrong (no secrets, no URLs).
    pub message: String,
    /// The receiver answered and its answer met the channel's failure
    /// criteria: trying again would not help, so it is not retried.
    pub definitive: bool,
}

impl Channel {
    fn err(&self, message: impl Into<String>) -> SendError {
        SendError {
            channel: self.name.clone(),
            message: message.into(),
            definitive: false,
        }
    }

    fn secret(&self, key: &str) -> Option<&str> {
        self.secret
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The body as structured data, when encoded.
fn decoded(m: &Message) -> Result<Option<Value>, String> {
    match m.encoding.as_str() {
        "" | "xml" => Ok(None),
        "json" => serde_json::from_str(&m.text)
            .map(Some)
            .map_err(|e| format!("message is not JSON: {e}")),
        "yaml" => yaml_serde::from_str(&m.text)
            .map(Some)
            .map_err(|e| format!("message is not YAML: {e}")),
        other => Err(format!("encodingType {other:?}: must be json, yaml or xml")),
    }
}

/// The signature of `body` under `key`: `sha256=<hex HMAC-SHA256>`.
pub fn signature(key: &str, body: &[u8]) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&k, body).as_ref())
    )
}

/// POSTs `body` as JSON; the status and the answer (JSON, or null).
async fn post_json(
    channel: &Channel,
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<(reqwest::StatusCode, Value), SendError> {
    let mut req = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| channel.err(describe(e)))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| channel.err(describe(e)))?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Sends `m` once.
pub async fn send(channel: &Channel, m: &Message) -> Result<Delivered, SendError> {
    let spec = &channel.spec;
    if let Some(h) = &spec.http {
        let timeout = match h.timeout.as_str() {
            "" => TIMEOUT,
            t => kargo_api::validate::parse_go_duration(t)
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| channel.err(format!("timeout {t:?} is not a Go duration")))?,
        };
        return send_http(channel, h, m, timeout).await;
    }
    if let Some(s) = &spec.slack {
        return send_slack(channel, s, m).await;
    }
    if spec.smtp.is_some() {
        return send_smtp(channel, m).await;
    }
    Err(channel.err("the channel sets none of slack, smtp or http"))
}

fn client(
    channel: &Channel,
    timeout: Duration,
    insecure: bool,
) -> Result<reqwest::Client, SendError> {
    kargo_analysis::http::client(timeout, insecure).map_err(|e| channel.err(e))
}

fn describe(e: reqwest::Error) -> String {
    kargo_analysis::http::describe(e)
}

async fn send_http(
    channel: &Channel,
    h: &kargo_api::notification::HttpChannel,
    m: &Message,
    timeout: Duration,
) -> Result<Delivered, SendError> {
    let method = match h.method.as_str() {
        "" => reqwest::Method::POST,
        other => other
            .parse()
            .map_err(|_| channel.err(format!("method {other:?}")))?,
    };
    let content_type = match m.encoding.as_str() {
        "json" => "application/json",
        "yaml" => "application/yaml",
        "xml" => "application/xml",
        _ => "text/plain; charset=utf-8",
    };
    let body = m.text.clone().into_bytes();
    let mut url = reqwest::Url::parse(&h.url).map_err(|e| channel.err(format!("url: {e}")))?;
    if !h.query_params.is_empty() {
        let mut q = url.query_pairs_mut();
        for p in &h.query_params {
            q.append_pair(&p.name, &p.value);
        }
    }
    let mut req = client(channel, timeout, h.insecure_skip_tls_verify)?
        .request(method, url)
        .header(reqwest::header::CONTENT_TYPE, content_type);
    for hd in &h.headers {
        req = req.header(hd.name.as_str(), hd.value.as_str());
    }
    if let Some(t) = channel.secret("bearerToken") {
        req = req.bearer_auth(t);
    } else if let Some(a) = channel.secret("authorization") {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    if let Some(key) = channel.secret("hmacKey") {
        req = req.header(SIGNATURE_HEADER, signature(key, &body));
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| channel.err(describe(e)))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let answer = kargo_analysis::http::body(resp, crate::steps::http::MAX_BODY)
        .await
        .map_err(|e| channel.err(e))?;
    let response = http_criteria::response_value(status, &headers, &answer);
    let judged = !h.success_expression.trim().is_empty() || !h.failure_expression.trim().is_empty();
    match http_criteria::judge(&h.success_expression, &h.failure_expression, &response) {
        Ok(Verdict::Succeeded) => Ok(Delivered::default()),
        // The step's "failed": the receiver's answer is final.
        Ok(Verdict::Failed) if judged => Err(SendError {
            definitive: true,
            ..channel.err(format!(
                "the endpoint answered {status}, which meets the failure criteria"
            ))
        }),
        Ok(Verdict::Failed) => Err(channel.err(format!("the endpoint answered {status}"))),
        // The step's "try again".
        Ok(Verdict::Neither) => Err(channel.err(format!(
            "the endpoint answered {status}, which meets neither the success nor the failure criteria"
        ))),
        // A broken expression will not mend on a retry.
        Err(e) => Err(SendError {
            definitive: true,
            ..channel.err(e)
        }),
    }
}

async fn send_slack(
    channel: &Channel,
    s: &kargo_api::notification::SlackChannel,
    m: &Message,
) -> Result<Delivered, SendError> {
    let mut body = match decoded(m).map_err(|e| channel.err(e))? {
        Some(Value::Object(o)) => Value::Object(o),
        Some(_) => return Err(channel.err("an encoded Slack message must be an object")),
        None => json!({"text": m.text}),
    };
    let target = Some(m.slack_channel.as_str())
        .filter(|c| !c.is_empty())
        .unwrap_or(&s.channel_id);
    if !target.is_empty() && body.get("channel").is_none() {
        body["channel"] = json!(target);
    }
    if !m.thread_ts.is_empty() && body.get("thread_ts").is_none() {
        body["thread_ts"] = json!(m.thread_ts);
    }
    let http = client(channel, TIMEOUT, false)?;
    if let Some(url) = channel.secret("webhookURL") {
        // An incoming webhook answers `ok` and no thread timestamp.
        let (status, _) = post_json(channel, &http, url, None, &body).await?;
        if !status.is_success() {
            return Err(channel.err(format!("Slack answered {status}")));
        }
        return Ok(Delivered {
            thread_ts: Some(m.thread_ts.clone()).filter(|t| !t.is_empty()),
        });
    }
    let token = channel
        .secret("apiKey")
        .ok_or_else(|| channel.err("its Secret holds neither apiKey nor webhookURL"))?;
    let base = Some(s.api_url.as_str())
        .filter(|u| !u.is_empty())
        .unwrap_or(SLACK_API)
        .trim_end_matches('/');
    let url = format!("{base}/chat.postMessage");
    let (status, answer) = post_json(channel, &http, &url, Some(token), &body).await?;
    if !status.is_success() || answer["ok"] != true {
        let why = answer["error"].as_str().unwrap_or("no answer");
        return Err(channel.err(format!("Slack answered {status}: {why}")));
    }
    let ts = if m.thread_ts.is_empty() {
        answer["ts"].as_str().map(String::from)
    } else {
        Some(m.thread_ts.clone())
    };
    Ok(Delivered { thread_ts: ts })
}

async fn send_smtp(channel: &Channel, m: &Message) -> Result<Delivered, SendError> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let Some(smtp) = channel.spec.smtp.as_ref() else {
        return Err(channel.err("not an SMTP channel"));
    };
    // An encoded message carries its own fields: subject, body, to, html.
    let (mut subject, mut body, mut to, mut html) =
        (m.subject.clone(), m.text.clone(), m.to.clone(), m.html);
    if let Some(v) = decoded(m).map_err(|e| channel.err(e))? {
        subject = v["subject"].as_str().unwrap_or(&subject).to_string();
        body = v["body"].as_str().unwrap_or("").to_string();
        html = v["html"].as_bool().unwrap_or(html);
        to = match &v["to"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
            _ => to,
        };
    }
    if to.is_empty() {
        to = smtp.to.clone();
    }
    if subject.is_empty() {
        subject = "Kargo notification".into();
    }
    let parse = |a: &str| {
        a.parse::<lettre::message::Mailbox>()
            .map_err(|e| channel.err(format!("address {a:?}: {e}")))
    };
    let (first, rest) = to
        .split_first()
        .ok_or_else(|| channel.err("no recipient: set smtp.to on the channel or the message"))?;
    let mut builder = lettre::Message::builder()
        .from(parse(&smtp.from)?)
        .to(parse(first)?)
        .subject(subject);
    for cc in rest {
        builder = builder.cc(parse(cc)?);
    }
    let content_type = if html {
        ContentType::TEXT_HTML
    } else {
        ContentType::TEXT_PLAIN
    };
    let email = builder
        .header(content_type)
        .body(body)
        .map_err(|e| channel.err(e.to_string()))?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .timeout(Some(TIMEOUT));
    if smtp.use_tls.unwrap_or(true) {
        let params = TlsParameters::builder(smtp.host.clone())
            .dangerous_accept_invalid_certs(smtp.insecure_skip_verify)
            .build()
            .map_err(|e| channel.err(e.to_string()))?;
        transport = transport.tls(Tls::Required(params));
    }
    if let (Some(u), Some(p)) = (channel.secret("username"), channel.secret("password")) {
        transport = transport.credentials(Credentials::new(u.into(), p.into()));
    }
    let mailer = transport.build();
    let sending = mailer.send(email);
    match tokio::time::timeout(TIMEOUT * 3, sending).await {
        Ok(Ok(_)) => Ok(Delivered::default()),
        Ok(Err(e)) => Err(channel.err(format!("SMTP: {e}"))),
        Err(_) => Err(channel.err("SMTP: no answer in time")),
    }
}

/// How many tries [`send_with_retries`] makes, and the first pause.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Tries in all.
    pub attempts: u32,
    /// The pause after the first failure; doubled after each.
    pub backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            backoff: Duration::from_secs(1),
        }
    }
}

/// Sends `m`, retrying failures with exponential backoff (not a
/// definitive one: an HTTP answer that met the failure criteria);
/// `on_retry` is told of each failure that will be retried. The last error when every
/// try failed.
pub async fn send_with_retries(
    channel: &Channel,
    m: &Message,
    retry: Retry,
    mut on_retry: impl FnMut(&SendError),
) -> Result<Delivered, SendError> {
    let mut pause = retry.backoff;
    let mut tries = 0;
    loop {
        tries += 1;
        match send(channel, m).await {
            Ok(d) => return Ok(d),
            Err(e) if !e.definitive && tries < retry.attempts.max(1) => {
                on_retry(&e);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(60));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// A loopback receiver answering each call with the next of
    /// `answers` (status, JSON body; the last repeats); counts calls.
    fn receiver(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<u32>>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let calls = std::sync::Arc::new(std::sync::Mutex::new(0u32));
        let counted = calls.clone();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf);
                let n = {
                    let mut c = counted.lock().unwrap();
                    *c += 1;
                    *c as usize
                };
                let (status, body) = answers[(n - 1).min(answers.len() - 1)];
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, calls)
    }

    fn webhook(url: &str, success: &str, failure: &str) -> Channel {
        Channel {
            name: "MessageChannel/hook".into(),
            spec: MessageChannelSpec {
                http: Some(kargo_api::notification::HttpChannel {
                    url: url.into(),
                    success_expression: success.into(),
                    failure_expression: failure.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn deliver(c: &Channel) -> (Result<Delivered, SendError>, u32) {
        let retry = Retry {
            attempts: 3,
            backoff: Duration::from_millis(10),
        };
        let mut retried = 0;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let m = Message {
            text: "hello".into(),
            ..Default::default()
        };
        let r = rt.block_on(send_with_retries(c, &m, retry, |_| retried += 1));
        (r, retried)
    }

    #[test]
    fn webhook_answers_are_judged_by_the_channels_expressions() {
        let (ok, bad) = ("response.body.ok == true", "response.body.error != ''");
        // 200 with `ok: true`: delivered at once.
        let (url, calls) = receiver(vec![(200, r#"{"ok": true, "error": ""}"#)]);
        let (r, retried) = deliver(&webhook(&url, ok, bad));
        assert!(r.is_ok() && retried == 0, "{r:?}");
        assert_eq!(*calls.lock().unwrap(), 1);
        // 200 whose body reports an error: failed, not retried (a definitive answer).
        let (url, calls) = receiver(vec![(
            200,
            r#"{"ok": false, "error": "channel_not_found"}"#,
        )]);
        let e = deliver(&webhook(&url, ok, bad)).0.unwrap_err();
        assert!(
            e.definitive && e.message.contains("failure criteria"),
            "{e}"
        );
        assert_eq!(
            *calls.lock().unwrap(),
            1,
            "a definitive failure is not retried"
        );
        // Neither holds (still busy), then success: retried until it holds.
        let (url, calls) = receiver(vec![
            (202, r#"{"ok": false, "error": ""}"#),
            (200, r#"{"ok": true, "error": ""}"#),
        ]);
        let (r, retried) = deliver(&webhook(&url, ok, bad));
        assert!(r.is_ok() && retried == 1, "{r:?}");
        assert_eq!(*calls.lock().unwrap(), 2);
        // A success expression alone that does not hold: failed at once, as the step fails.
        let (url, calls) = receiver(vec![(200, r#"{"ok": false}"#)]);
        let e = deliver(&webhook(&url, ok, "")).0.unwrap_err();
        assert!(e.definitive, "the step's failed verdict: {e}");
        assert_eq!(*calls.lock().unwrap(), 1);
        // A failure expression alone that does not hold: a 500 is delivered.
        let (url, _) = receiver(vec![(500, "{}")]);
        assert!(
            deliver(&webhook(&url, "", "response.status == 400"))
                .0
                .is_ok()
        );
        // No expressions: a 503 is retried like any failure.
        let (url, calls) = receiver(vec![(503, "{}")]);
        let (r, retried) = deliver(&webhook(&url, "", ""));
        assert!(r.is_err_and(|e| !e.definitive) && retried == 2);
        assert_eq!(*calls.lock().unwrap(), 3);
        // A broken expression: failed, not retried.
        let (url, calls) = receiver(vec![(200, "{}")]);
        let e = deliver(&webhook(&url, "response.status", ""))
            .0
            .unwrap_err();
        assert!(e.definitive && e.message.contains("true or false"), "{e}");
        assert_eq!(*calls.lock().unwrap(), 1);
    }
}
