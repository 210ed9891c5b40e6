//! The server's own log, served the way Kubernetes serves a container's,
//! so the seed's `kubectl logs -n kargo deploy/kargo-controller -f` works
//! against the standalone server. Owns the in-memory log (a `MakeWriter`
//! for tracing's fmt layer, keeping the last [`CAPACITY`] lines), the
//! `kargo/kargo-controller` Deployment and Pod objects that stand for this
//! process, and the `pods/{name}/log` endpoint with kubectl's options
//! (`follow`, `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps`,
//! `limitBytes`).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use kargo_api::lookup_kind;
use kargo_apiserver::ApiError;
use kargo_store::{Part, Preconditions, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The namespace holding the objects that stand for the server.
pub const NAMESPACE: &str = "kargo";
/// The Deployment users name in `kubectl logs deploy/...`.
pub const DEPLOYMENT: &str = "kargo-controller";
/// The one container of its Pod.
pub const CONTAINER: &str = "controller";
/// Lines kept in memory, at most.
pub const CAPACITY: usize = 10_000;
/// Bytes of line text kept in memory, at most (the oldest lines go first).
pub const CAPACITY_BYTES: usize = 1 << 20;
const SELECTOR_KEY: &str = "app.kubernetes.io/name";

#[derive(Clone, Debug)]
struct Line {
    seq: u64,
    at: jiff::Timestamp,
    text: String,
}

/// The kept lines: the last sequence number given, the lines, and the
/// bytes of their text.
#[derive(Debug, Default)]
struct Kept {
    seq: u64,
    lines: VecDeque<Line>,
    bytes: usize,
}

#[derive(Debug)]
struct Inner {
    lines: Mutex<Kept>,
    tx: broadcast::Sender<Line>,
}

/// The last lines the server logged, and a feed of new ones.
#[derive(Clone, Debug)]
pub struct LogBuffer {
    inner: Arc<Inner>,
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl LogBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        LogBuffer {
            inner: Arc::new(Inner {
                lines: Mutex::new(Kept::default()),
                tx,
            }),
        }
    }

    /// Appends one line (without its newline).
    pub fn push(&self, text: &str) {
        let mut g = self.inner.lines.lock().unwrap_or_else(|e| e.into_inner());
        g.seq += 1;
        let line = Line {
            seq: g.seq,
            at: jiff::Timestamp::now(),
            text: text.to_string(),
        };
        g.bytes += line.text.len();
        g.lines.push_back(line.clone());
        while g.lines.len() > CAPACITY || (g.bytes > CAPACITY_BYTES && g.lines.len() > 1) {
            if let Some(old) = g.lines.pop_front() {
                g.bytes -= old.text.len();
            }
        }
        // Sent under the lock so followers see lines in order, after the snapshot.
        let _ = self.inner.tx.send(line);
    }

    /// The kept lines and a receiver for the ones that follow them.
    fn snapshot(&self) -> (Vec<Line>, broadcast::Receiver<Line>) {
        let g = self.inner.lines.lock().unwrap_or_else(|e| e.into_inner());
        (g.lines.iter().cloned().collect(), self.inner.tx.subscribe())
    }
}

/// Collects one formatted event and files it as lines when dropped.
pub struct LineWriter {
    buffer: LogBuffer,
    pending: Vec<u8>,
}

impl std::io::Write for LineWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        // Credentials in URLs never reach the kept log.
        let text = kargo_api::redact::redact(&String::from_utf8_lossy(&self.pending));
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            self.buffer.push(l);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            buffer: self.clone(),
            pending: Vec::new(),
        }
    }
}

/// Standard error with credentials in URLs masked: the writer for the
/// terminal log layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedactedStderr;

/// Collects one formatted event and writes it, redacted, when dropped.
pub struct RedactedStderrWriter {
    pending: Vec<u8>,
}

impl std::io::Write for RedactedStderrWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedStderrWriter {
    fn drop(&mut self) {
        let text = kargo_api::redact::redact(&String::from_utf8_lossy(&self.pending));
        // Nothing sensible to do when stderr is gone.
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactedStderr {
    type Writer = RedactedStderrWriter;

    fn make_writer(&'a self) -> RedactedStderrWriter {
        RedactedStderrWriter {
            pending: Vec::new(),
        }
    }
}

fn kind(api_version: &str, kind: &str) -> &'static kargo_api::ResourceInfo {
    lookup_kind(api_version, kind).expect("registered kind")
}

fn upsert(
    store: &Store,
    info: &'static kargo_api::ResourceInfo,
    ns: &str,
    obj: Value,
) -> Result<(), StoreError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    match store.get(info, ns, &name) {
        Ok(_) => {
            store.update(info, ns, &name, obj.clone(), Part::Main)?;
            if info.has_status {
                store.update(info, ns, &name, obj, Part::Status)?;
            }
            Ok(())
        }
        Err(StoreError::NotFound { .. }) => store.create(info, ns, obj).map(|_| ()),
        Err(e) => Err(e),
    }
}

/// A Pod name in Kubernetes' style: the Deployment's name and five
/// characters that change on every start.
pub(crate) fn pod_name() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{DEPLOYMENT}-{suffix}")
}

/// Publishes the `kargo` namespace, the `kargo-controller` Deployment and
/// a Pod for this run of the server (replacing the previous run's).
/// Returns the Pod's name.
pub fn publish_process(store: &Store, version: &str) -> Result<String, StoreError> {
    crate::namespaces::ensure(store, NAMESPACE)?;
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let labels = json!({ SELECTOR_KEY: DEPLOYMENT });
    let image = format!("kargo-rs:{version}");
    let container = json!({"name": CONTAINER, "image": image, "args": ["server"]});
    upsert(
        store,
        kind("apps/v1", "Deployment"),
        NAMESPACE,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
            },
            "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}
        }),
    )?;
    let pod_info = kind("v1", "Pod");
    for old in store.names_with_label(pod_info, NAMESPACE, SELECTOR_KEY, DEPLOYMENT)? {
        store.delete(pod_info, NAMESPACE, &old, &Preconditions::default())?;
    }
    let name = pod_name();
    store.create(
        pod_info,
        NAMESPACE,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "spec": {"containers": [container]},
            "status": {
                "phase": "Running",
                "startTime": now,
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
                "containerStatuses": [{
                    "name": CONTAINER, "image": image, "imageID": "", "ready": true,
                    "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": now}}
                }]
            }
        }),
    )?;
    Ok(name)
}

/// The options kubectl sends for `kubectl logs`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogOptions {
    container: Option<String>,
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    previous: bool,
    since_seconds: Option<i64>,
    since_time: Option<String>,
    #[serde(default)]
    timestamps: bool,
    tail_lines: Option<i64>,
    limit_bytes: Option<u64>,
}

#[derive(Clone)]
struct LogState {
    buffer: LogBuffer,
    pod: String,
}

/// The `pods/{name}/log` route, for the Pod [`publish_process`] made.
pub fn router(buffer: LogBuffer, pod: String) -> Router {
    Router::new()
        .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
        .with_state(LogState { buffer, pod })
}

fn render(line: &Line, timestamps: bool) -> String {
    if timestamps {
        format!(
            "{} {}\n",
            line.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            line.text
        )
    } else {
        format!("{}\n", line.text)
    }
}

async fn pod_log(
    State(st): State<LogState>,
    Path((ns, name)): Path<(String, String)>,
    Query(opts): Query<LogOptions>,
) -> Response {
    if ns != NAMESPACE || name != st.pod {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("pods \"{name}\" not found"),
        )
        .into_response();
    }
    if let Some(c) = opts.container.as_deref().filter(|c| *c != CONTAINER) {
        return ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}: its only container is {CONTAINER}"
        ))
        .into_response();
    }
    if opts.previous {
        return ApiError::bad_request(format!(
            "previous terminated container \"{CONTAINER}\" in pod \"{name}\" not found: the log of an earlier run is not kept"
        ))
        .into_response();
    }
    let since = match (&opts.since_seconds, &opts.since_time) {
        (Some(s), _) if *s <= 0 => {
            return ApiError::bad_request("sinceSeconds must be positive").into_response();
        }
        (Some(s), _) => Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(*s)),
        (None, Some(t)) => match t.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => {
                return ApiError::bad_request(format!(
                    "sinceTime {t:?} is not an RFC 3339 time: {e}"
                ))
                .into_response();
            }
        },
        (None, None) => None,
    };
    let (lines, rx) = st.buffer.snapshot();
    let mut kept: Vec<&Line> = lines
        .iter()
        .filter(|l| since.is_none_or(|s| l.at >= s))
        .collect();
    if let Some(n) = opts.tail_lines.filter(|n| *n >= 0) {
        let n = n as usize;
        if kept.len() > n {
            kept.drain(..kept.len() - n);
        }
    }
    let mut budget = opts.limit_bytes.unwrap_or(u64::MAX);
    let mut head: Vec<u8> = Vec::new();
    for l in kept {
        let mut r = render(l, opts.timestamps).into_bytes();
        let n = (r.len() as u64).min(budget);
        r.truncate(n as usize);
        budget -= n;
        head.extend_from_slice(&r);
        if budget == 0 {
            break;
        }
    }
    let text = |body: Body| {
        Response::builder()
            .header(http::header::CONTENT_TYPE, "text/plain")
            .body(body)
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    };
    if !opts.follow || budget == 0 {
        return text(Body::from(head));
    }
    let last = lines.last().map_or(0, |l| l.seq);
    let timestamps = opts.timestamps;
    let first = futures::stream::once(async move { Ok::<_, std::io::Error>(head) });
    let rest = futures::stream::unfold((rx, budget), move |(mut rx, budget)| async move {
        if budget == 0 {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(l) if l.seq <= last => continue,
                Ok(l) => {
                    let mut r = render(&l, timestamps).into_bytes();
                    let n = (r.len() as u64).min(budget);
                    r.truncate(n as usize);
                    return Some((Ok(r), (rx, budget - n)));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let note = format!("... {n} lines skipped\n").into_bytes();
                    return Some((Ok(note), (rx, budget)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    text(Body::from_stream(futures::StreamExt::chain(first, rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_keeps_the_newest_lines_within_its_line_and_byte_bounds() {
        let b = LogBuffer::new();
        for i in 0..CAPACITY + 5 {
            b.push(&format!("line {i}"));
        }
        let (lines, _) = b.snapshot();
        assert_eq!(lines.len(), CAPACITY);
        assert_eq!(lines[0].text, "line 5");
        let long = "x".repeat(CAPACITY_BYTES / 4);
        for i in 0..6 {
            b.push(&format!("{i}{long}"));
        }
        let (lines, _) = b.snapshot();
        let bytes: usize = lines.iter().map(|l| l.text.len()).sum();
        assert!(bytes <= CAPACITY_BYTES, "{bytes} bytes kept");
        assert_eq!(lines.len(), 3, "the three newest long lines fit");
        assert!(lines[0].text.starts_with('3'));
        assert_eq!(lines.last().map(|l| l.seq), Some((CAPACITY + 11) as u64));
        // A single line longer than the bound is still kept.
        b.push(&"y".repeat(CAPACITY_BYTES + 1));
        assert_eq!(b.snapshot().0.len(), 1);
    }
}
