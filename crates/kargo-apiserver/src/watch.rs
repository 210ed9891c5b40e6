//! Watches: a chunked stream of `{"type": ..., "object": ...}` lines.
//! Without a resourceVersion the watch starts with synthetic ADDED events
//! for what exists; with one it replays everything after it (or answers
//! 410 Gone). Bookmarks are sent when asked for; the stream ends at
//! `timeoutSeconds`.

use crate::handlers::{Query, blocking};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::{ApiServer, table};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};
use kargo_api::ResourceInfo;
use kargo_store::{EventType, WatchEvent, res_key};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

struct Filter {
    res: String,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    table: bool,
    info: &'static ResourceInfo,
    include_object: String,
}

impl Filter {
    fn needs_parse(&self) -> bool {
        self.table
            || !self.labels.is_empty()
            || self.fields.pinned("metadata.name").is_some()
            || self.fields.pinned("metadata.namespace").is_some()
    }

    /// Renders the event line if it passes the filter.
    fn render(&self, e: &WatchEvent) -> Option<Bytes> {
        if e.res != self.res || self.ns.as_ref().is_some_and(|n| *n != e.ns) {
            return None;
        }
        if !self.needs_parse() {
            return Some(Bytes::from(format!(
                "{{\"type\":\"{}\",\"object\":{}}}\n",
                e.type_.as_str(),
                e.body
            )));
        }
        let obj: Value = serde_json::from_str(&e.body).ok()?;
        if !(self.labels.matches(&obj) && self.fields.matches(&obj)) {
            return None;
        }
        let object = if self.table {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            table::table(self.info, &[&e.body], rv, None, &self.include_object).ok()?
        } else {
            e.body.to_string()
        };
        Some(Bytes::from(format!(
            "{{\"type\":\"{}\",\"object\":{object}}}\n",
            e.type_.as_str()
        )))
    }

    fn bookmark(&self, rv: u64) -> Bytes {
        let object = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": {"resourceVersion": rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
        Bytes::from(format!(
            "{}\n",
            json!({"type": "BOOKMARK", "object": object})
        ))
    }
}

fn error_line(e: &ApiError) -> Bytes {
    Bytes::from(format!(
        "{}\n",
        json!({"type": "ERROR", "object": e.to_status()})
    ))
}

/// Serves a watch request.
pub async fn serve(
    server: ApiServer,
    info: &'static ResourceInfo,
    ns: Option<String>,
    q: &Query,
    as_table: bool,
) -> ApiResult<Response> {
    let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse_for(
        info.kind,
        q.get("fieldSelector").map(String::as_str).unwrap_or(""),
    )
    .map_err(ApiError::bad_request)?;
    let ns = ns.or_else(|| fields.pinned("metadata.namespace").map(String::from));
    let filter = Filter {
        res: res_key(info),
        ns,
        labels,
        fields,
        table: as_table,
        info,
        include_object: q
            .get("includeObject")
            .cloned()
            .unwrap_or_else(|| "Metadata".into()),
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800)
        .clamp(1, 3600);
    let bookmarks = matches!(
        q.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    let from = q
        .get("resourceVersion")
        .filter(|r| !r.is_empty() && *r != "0")
        .map(|r| r.parse::<u64>())
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid resourceVersion"))?;

    // Initial state, then a subscription from exactly that point.
    let (initial, sub, start) = blocking(&server, {
        let ns = filter.ns.clone();
        move |s| {
            let mut initial = Vec::new();
            let start = match from {
                Some(rv) => rv,
                None => {
                    let (rows, rv) = s.store.list(info, ns.as_deref(), None, 0)?;
                    for r in rows {
                        initial.push(WatchEvent {
                            rv,
                            res: res_key(info),
                            ns: r.ns,
                            name: r.name,
                            type_: EventType::Added,
                            body: r.body.into(),
                        });
                    }
                    rv
                }
            };
            // Only this resource's events are replayed (a resumed watch of
            // Stages does not read every Freight change since).
            let sub = s.store.watch_resource(Some(start), Some(&res_key(info)))?;
            Ok((initial, sub, start))
        }
    })
    .await?;

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(256);
    let store = server.store.clone();
    tokio::spawn(async move {
        // Everything up to `start` is in `initial` (or was before the
        // client's resourceVersion), so a replay after a lag starts there
        // even when no event has been sent yet.
        let mut last = start;
        for e in initial.iter().chain(sub.backlog.iter().map(Arc::as_ref)) {
            last = last.max(e.rv);
            if let Some(line) = filter.render(e)
                && tx.send(Ok(line)).await.is_err()
            {
                return;
            }
        }
        let mut live = sub.live;
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        tick.tick().await;
        loop {
            tokio::select! {
                ev = live.recv() => match ev {
                    Ok(e) => {
                        if e.rv <= last { continue; }
                        last = e.rv;
                        if let Some(line) = filter.render(&e)
                            && tx.send(Ok(line)).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the in-memory buffer: replay what was
                        // missed from the watch log and go on live from there.
                        let resumed = tokio::task::spawn_blocking({
                            let store = store.clone();
                            let res = filter.res.clone();
                            move || store.watch_resource(Some(last), Some(&res))
                        })
                        .await;
                        let Ok(Ok(sub)) = resumed else {
                            let e = ApiError::new(StatusCode::GONE, "Expired", "the watch fell behind; restart it from a fresh list");
                            let _ = tx.send(Ok(error_line(&e))).await;
                            return;
                        };
                        for e in &sub.backlog {
                            last = last.max(e.rv);
                            if let Some(line) = filter.render(e)
                                && tx.send(Ok(line)).await.is_err()
                            {
                                return;
                            }
                        }
                        live = sub.live;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    if bookmarks {
                        let rv = store.current_rv().max(last);
                        if tx.send(Ok(filter.bookmark(rv))).await.is_err() { return; }
                    } else if tx.is_closed() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = tx.closed() => return,
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}
