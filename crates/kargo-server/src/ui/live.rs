//! Live pages: one Server-Sent Events stream per open page
//! (`GET /ui/events?page=<the page's path and query>`), fed by the store's
//! watch. Changes in the page's project are debounced (100 ms), the
//! page's fragments re-rendered, and only those whose HTML changed are
//! sent, each as an event named after the fragment (htmx's SSE extension
//! swaps the element with that `sse-swap`); the graph is re-sent only when
//! its topology changes. A session that stops signing in ends the stream.

use super::UiState;
use super::detail;
use super::model::Snapshot;
use super::project::{self, Filters};
use super::verification;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use kargo_api::AnalysisRun;
use kargo_store::Store;
use serde::Deserialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

/// Quiet time before a burst of changes is rendered.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// A page that streams.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Project(String, Filters),
    Stage(String, String),
    Promotion(String, String),
    Freight(String, String),
    Warehouse(String, String),
    AnalysisRun(String, String),
}

impl Target {
    /// The page at `page` (a `/ui/...` path with its query).
    pub(crate) fn parse(page: &str) -> Option<Target> {
        let (path, query) = page.split_once('?').unwrap_or((page, ""));
        let parts: Vec<&str> = path
            .trim_start_matches("/ui/projects/")
            .split('/')
            .collect();
        if !path.starts_with("/ui/projects/") {
            return None;
        }
        let (ns, rest) = parts.split_first()?;
        let ns = ns.to_string();
        Some(match rest {
            [] => Target::Project(
                ns,
                url::form_urlencoded::parse(query.as_bytes()).fold(
                    Filters::default(),
                    |mut f, (k, v)| {
                        match &*k {
                            "view" => f.view = v.into_owned(),
                            "page" => f.page = v.parse().unwrap_or(0),
                            "warehouse" => f.warehouse = v.into_owned(),
                            "hide_unused" => f.hide_unused = v.into_owned(),
                            "window" => f.window = v.into_owned(),
                            _ => {}
                        }
                        f
                    },
                ),
            ),
            ["stages", s] => Target::Stage(ns, s.to_string()),
            ["promotions", p] => Target::Promotion(ns, p.to_string()),
            ["freight", f] => Target::Freight(ns, f.to_string()),
            ["warehouses", w] => Target::Warehouse(ns, w.to_string()),
            ["analysisruns", r] => Target::AnalysisRun(ns, r.to_string()),
            _ => return None,
        })
    }

    pub(crate) fn ns(&self) -> &str {
        match self {
            Target::Project(ns, _)
            | Target::Stage(ns, _)
            | Target::Promotion(ns, _)
            | Target::Freight(ns, _)
            | Target::Warehouse(ns, _)
            | Target::AnalysisRun(ns, _) => ns,
        }
    }
}

/// The AnalysisRuns of project `ns`.
pub(crate) fn runs(store: &Store, ns: &str) -> Vec<AnalysisRun> {
    crate::stored(store, "argoproj.io/v1alpha1", "AnalysisRun", Some(ns))
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_value(v).ok())
        .collect()
}

/// The page's fragments now: key, HTML, and the topology for the graph.
pub(crate) fn fragments(store: &Store, t: &Target) -> Vec<(String, String, Option<u64>)> {
    let snap = Snapshot::load(store, t.ns());
    let one = |m: maud::Markup| vec![("detail".to_string(), m.into_string(), None)];
    match t {
        Target::Project(_, f) => project::fragments(&snap, f),
        Target::Stage(_, s) => match snap.stage(s) {
            Some(stage) => one(detail::stage_live(&snap, &runs(store, t.ns()), stage)),
            None => Vec::new(),
        },
        Target::Promotion(_, p) => one(detail::promotion_live(&snap, p)),
        Target::Freight(_, f) => one(detail::freight_live(&snap, f)),
        Target::Warehouse(_, w) => one(detail::warehouse_live(&snap, w)),
        Target::AnalysisRun(ns, r) => one(verification::page_live(ns, &runs(store, ns), r)),
    }
}

/// What the browser has: per fragment, its HTML (or, for the graph, its
/// topology).
#[derive(Default)]
pub(crate) struct Sent(HashMap<String, String>);

impl Sent {
    /// The fragments that differ from what was sent, remembering them.
    pub(crate) fn changed(
        &mut self,
        frags: Vec<(String, String, Option<u64>)>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, html, topo) in frags {
            let mark = topo.map(|t| t.to_string()).unwrap_or_else(|| html.clone());
            if self.0.get(&key) != Some(&mark) {
                self.0.insert(key.clone(), mark);
                out.push((key, html));
            }
        }
        out
    }
}

#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    page: String,
    /// The resourceVersion the page was rendered at.
    #[serde(default)]
    rv: Option<u64>,
}

/// `GET /ui/events?page=...`.
pub(crate) async fn events(
    State(st): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let Some((user, _)) = super::signed_in(&st, &headers).await else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let Some(target) = Target::parse(&q.page) else {
        return (StatusCode::NOT_FOUND, "no such page").into_response();
    };
    if !super::may_list(&st, &user, "stages", target.ns()) {
        return (StatusCode::FORBIDDEN, "not allowed").into_response();
    }
    // Replay what changed since the page was rendered: when something in
    // its project did, every fragment is sent once; otherwise what the
    // page shows counts as sent.
    let (sub, stale) = match st.store.watch(q.rv) {
        Ok(sub) => {
            let stale = sub.backlog.iter().any(|e| e.ns == target.ns());
            (sub, stale)
        }
        Err(_) => match st.store.watch(None) {
            Ok(sub) => (sub, true),
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        },
    };
    let mut sent = Sent::default();
    if !stale {
        let _ = sent.changed(fragments(&st.store, &target));
    }
    let state = (st, headers, target, sub.live, sent, stale);
    let stream = futures::stream::unfold(
        state,
        |(st, headers, target, mut live, mut sent, mut stale)| async move {
            loop {
                // Wait for a change in the project (unless one is already
                // known), then for quiet.
                if !std::mem::take(&mut stale) {
                    match live.recv().await {
                        Ok(ev) if ev.ns != target.ns() => continue,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
                tokio::time::sleep(DEBOUNCE).await;
                while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) =
                    live.try_recv()
                {}
                super::signed_in(&st, &headers).await?;
                let store = st.store.clone();
                let t = target.clone();
                let frags = tokio::task::spawn_blocking(move || fragments(&store, &t))
                    .await
                    .ok()?;
                let changed = sent.changed(frags);
                if changed.is_empty() {
                    continue;
                }
                let events: Vec<Result<Event, Infallible>> = changed
                    .into_iter()
                    .map(|(k, html)| Ok(Event::default().event(k).data(html)))
                    .collect();
                return Some((
                    futures::stream::iter(events),
                    (st, headers, target, live, sent, stale),
                ));
            }
        },
    )
    .flatten();
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// A page's body and its live name, for the handlers.
/// `clone` names the Freight a Warehouse page's form starts from.
pub(crate) fn page_of(
    store: &Store,
    t: &Target,
    back: &str,
    (ok, err): (&str, &str),
    clone: &str,
) -> maud::Markup {
    let snap = Snapshot::load(store, t.ns());
    let body = match t {
        Target::Project(_, f) => return project::page(&snap, f, || runs(store, t.ns())),
        Target::Stage(_, s) => detail::stage(&snap, &runs(store, t.ns()), s, back),
        Target::Promotion(_, p) => detail::promotion_live(&snap, p),
        Target::Freight(_, f) => detail::freight(&snap, f, back),
        Target::Warehouse(_, w) => detail::warehouse(&snap, w, back, clone),
        Target::AnalysisRun(ns, r) => verification::page_live(ns, &runs(store, ns), r),
    };
    detail::with_flash(ok, err, body)
}

/// Breadcrumbs of a page.
pub(crate) fn crumbs(t: &Target) -> Vec<(String, String)> {
    let ns = t.ns();
    let mut v = vec![("Projects".to_string(), "/ui".to_string())];
    v.push((ns.to_string(), format!("/ui/projects/{ns}")));
    let (kind, n) = match t {
        Target::Project(..) => return v,
        Target::Stage(_, n) => ("stages", n),
        Target::Promotion(_, n) => ("promotions", n),
        Target::Freight(_, n) => ("freight", n),
        Target::Warehouse(_, n) => ("warehouses", n),
        Target::AnalysisRun(_, n) => ("analysisruns", n),
    };
    v.push((n.clone(), format!("/ui/projects/{ns}/{kind}/{n}")));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_with_their_filters() {
        match Target::parse("/ui/projects/p?view=list&page=2&warehouse=w") {
            Some(Target::Project(ns, f)) => {
                assert_eq!(
                    (ns.as_str(), f.view.as_str(), f.page, f.warehouse.as_str()),
                    ("p", "list", 2, "w")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(Target::parse("/ui/projects/p/stages/dev"), Some(Target::Stage(_, s)) if s == "dev")
        );
        assert!(Target::parse("/etc/passwd").is_none());
        assert!(Target::parse("/ui/projects/p/nope/x").is_none());
    }

    #[test]
    fn only_changed_fragments_are_sent_and_the_graph_only_on_topology() {
        let mut sent = Sent::default();
        let first = sent.changed(vec![
            ("graph".into(), "<g1>".into(), Some(1)),
            ("node-stage-dev".into(), "<a>".into(), None),
        ]);
        assert_eq!(first.len(), 2);
        let second = sent.changed(vec![
            ("graph".into(), "<g1 with new status>".into(), Some(1)),
            ("node-stage-dev".into(), "<b>".into(), None),
        ]);
        assert_eq!(
            second,
            vec![("node-stage-dev".to_string(), "<b>".to_string())]
        );
        let third = sent.changed(vec![("graph".into(), "<g2>".into(), Some(2))]);
        assert_eq!(third.len(), 1);
    }
}
