//! The projects page (health counts per project) and a project's page: the
//! Freight timeline (a window of 20 with paging and a count, never cut
//! silently; "hide unused" collapsing; Stage colour stripes; filters kept
//! in the URL) above the pipeline as a graph or as a list, or the delivery
//! statistics (`stats.rs`).

use super::graph::{self, Node};
use super::model::{self, Snapshot, name};
use super::view::{self, ago, badge};
use kargo_api::AnalysisRun;
use maud::{Markup, html};
use serde::Deserialize;

/// Freight cards per timeline page.
pub(crate) const PER_PAGE: usize = 20;

/// A project page's filters, all in its URL.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Filters {
    /// `graph` (default) or `list`.
    #[serde(default)]
    pub view: String,
    /// Timeline page, 0 = newest.
    #[serde(default)]
    pub page: usize,
    /// Only Freight from this Warehouse.
    #[serde(default)]
    pub warehouse: String,
    /// Collapse runs of Freight no Stage uses.
    #[serde(default)]
    pub hide_unused: String,
    /// The Statistics view's window (`kargo stats --window`; "" = 7d).
    #[serde(default)]
    pub window: String,
    /// A flash after an action.
    #[serde(default)]
    pub ok: String,
    #[serde(default)]
    pub err: String,
}

impl Filters {
    fn list(&self) -> bool {
        self.view == "list"
    }

    /// The Statistics view.
    pub(crate) fn stats(&self) -> bool {
        self.view == "stats"
    }

    fn hide(&self) -> bool {
        !self.hide_unused.is_empty()
    }

    /// This page's URL with `page` and `view` replaced.
    pub(crate) fn url(&self, ns: &str, page: usize, view: &str) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !view.is_empty() && view != "graph" {
            q.append_pair("view", view);
        }
        if page > 0 {
            q.append_pair("page", &page.to_string());
        }
        if !self.warehouse.is_empty() {
            q.append_pair("warehouse", &self.warehouse);
        }
        if self.hide() {
            q.append_pair("hide_unused", "1");
        }
        if view == "stats" && !self.window.is_empty() {
            q.append_pair("window", &self.window);
        }
        let q = q.finish();
        if q.is_empty() {
            format!("/ui/projects/{ns}")
        } else {
            format!("/ui/projects/{ns}?{q}")
        }
    }
}

/// One project's row on the projects page.
pub(crate) struct ProjectRow {
    pub name: String,
    pub stages: usize,
    pub healthy: usize,
    pub failed: usize,
    pub warehouses: usize,
}

pub(crate) fn projects_page(rows: &[ProjectRow]) -> Markup {
    html! {
        h1 { "Projects" }
        @if rows.is_empty() { p.muted { "No project you may see yet. " code { "kargo create project NAME" } " makes one." } }
        div.tiles {
            @for r in rows {
                a.tile href=(format!("/ui/projects/{}", r.name)) {
                    h2 { (r.name) }
                    p { (r.stages) " Stages: " (badge_count("Ready", r.healthy)) " " (badge_count("Failed", r.failed)) }
                    p { (r.warehouses) " Warehouses" }
                }
            }
        }
    }
}

fn badge_count(word: &str, n: usize) -> Markup {
    html! { (badge(word)) " " (n) }
}

/// The timeline's Freight after the Warehouse filter.
fn filtered<'a>(snap: &'a Snapshot, f: &Filters) -> Vec<&'a kargo_api::Freight> {
    snap.freight
        .iter()
        .filter(|x| f.warehouse.is_empty() || x.origin.name == f.warehouse)
        .collect()
}

fn used(snap: &Snapshot, f: &kargo_api::Freight) -> bool {
    snap.stages.iter().any(|s| model::holds(s, f))
        || f.status.as_ref().is_some_and(|s| !s.verified_in.is_empty())
}

/// One Freight card: label, artifacts, age, stripes of the Stages holding it.
fn card(snap: &Snapshot, f: &kargo_api::Freight) -> Markup {
    let n = name(&f.metadata);
    let holders: Vec<&str> = snap
        .stages
        .iter()
        .filter(|s| model::holds(s, f))
        .map(|s| name(&s.metadata))
        .collect();
    let failed: Vec<&str> = snap
        .stages
        .iter()
        .filter(|s| model::standing(s, f) == "FAILED")
        .map(|s| name(&s.metadata))
        .collect();
    html! {
        a.card href=(format!("/ui/projects/{}/freight/{n}", snap.ns)) draggable="true" data-freight=(n)
            title=(format!("Freight {n} from Warehouse {}", f.origin.name)) {
            div.stripes { @for s in &holders { i style=(format!("background:{}", graph::stage_colour(snap, s))) title=(s) {} } }
            b { (model::label(f)) }
            div.small { (model::artifacts(f)) }
            div.small.muted { (f.origin.name) " · " (ago(&model::created(&f.metadata), snap.now)) }
            @if !holders.is_empty() { div.small { "in " (holders.join(", ")) } }
            @for s in &failed { div.small { (badge("FAILED")) " in " (s) } }
        }
    }
}

/// The timeline: a window of [`PER_PAGE`] Freight with paging.
pub(crate) fn timeline(snap: &Snapshot, f: &Filters) -> Markup {
    let all = filtered(snap, f);
    let total = all.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = f.page.min(pages - 1);
    let window = &all[(page * PER_PAGE).min(total)..((page + 1) * PER_PAGE).min(total)];
    // Runs of unused Freight collapse into one tile when asked.
    let mut items: Vec<Result<&kargo_api::Freight, usize>> = Vec::new();
    for x in window {
        if f.hide() && !used(snap, x) {
            match items.last_mut() {
                Some(Err(n)) => *n += 1,
                _ => items.push(Err(1)),
            }
        } else {
            items.push(Ok(x));
        }
    }
    let view = if f.list() { "list" } else { "graph" };
    html! {
        section #timeline.timeline sse-swap="timeline" hx-swap="outerHTML" aria-label="Freight timeline" {
            div.bar {
                b { "Freight" }
                span.muted { @if total == 0 { " none yet" } @else { " " (page * PER_PAGE + 1) "–" (page * PER_PAGE + window.len()) " of " (total) } }
                @if page > 0 { a.btn href=(f.url(&snap.ns, page - 1, view)) rel="prev" { "← Newer" } }
                @if page + 1 < pages { a.btn href=(f.url(&snap.ns, page + 1, view)) rel="next" { "Older →" } }
            }
            div.cards {
                @for it in &items {
                    @match it {
                        Ok(x) => (card(snap, x)),
                        Err(n) => div.card.collapsed title="Freight no Stage uses" { b { (n) "×" } div.small { "unused" } },
                    }
                }
            }
        }
    }
}

/// The pipeline as a table (one row per Stage).
pub(crate) fn list(snap: &Snapshot) -> Markup {
    let base = format!("/ui/projects/{}", snap.ns);
    html! {
        table #stage-list.list sse-swap="stage-list" hx-swap="outerHTML" {
            thead { tr { th { "Stage" } th { "State" } th { "Health" } th { "Freight" } th { "Verification" } th { "Last Promotion" } } }
            tbody {
                @for s in &snap.stages {
                    @let n = name(&s.metadata);
                    @let v = model::stage_view(snap, s);
                    tr {
                        td { a href=(format!("{base}/stages/{n}")) { (n) } }
                        td { (badge(v.state)) @if let Some(step) = &v.step { " " span.step { (step) } } }
                        td { @if !v.health.is_empty() { (badge(&v.health)) } }
                        td { @for (_, fname) in &v.current {
                            a href=(format!("{base}/freight/{fname}")) { (snap.freight(fname).map(model::label).unwrap_or_else(|| fname.clone())) } " "
                        } }
                        td { @if !v.verification.is_empty() { (badge(&v.verification)) } }
                        td { @if let Some((p, ph)) = &v.promotion {
                            a href=(format!("{base}/promotions/{p}")) { (badge(ph)) } } }
                    }
                }
            }
        }
    }
}

/// The live fragments of a project page: key, HTML, topology (graph only).
pub(crate) fn fragments(snap: &Snapshot, f: &Filters) -> Vec<(String, String, Option<u64>)> {
    let mut out = vec![(
        "timeline".to_string(),
        timeline(snap, f).into_string(),
        None,
    )];
    if f.stats() {
        // The statistics are read on request (their own permissions are
        // checked then), not streamed.
    } else if f.list() {
        out.push(("stage-list".into(), list(snap).into_string(), None));
    } else {
        let p = graph::pipeline(snap);
        out.push((
            "graph".into(),
            graph::render(snap, &p).into_string(),
            Some(p.topology),
        ));
        for (i, n) in p.nodes.iter().enumerate() {
            if let Node::Stage(s) = n {
                out.push((
                    graph::node_key(s),
                    graph::stage_node(snap, &p, i).into_string(),
                    None,
                ));
            }
        }
    }
    out
}

/// The project page's body; `runs` (the project's AnalysisRuns) are read
/// for the Statistics view only.
pub(crate) fn page(
    snap: &Snapshot,
    f: &Filters,
    runs: impl FnOnce() -> Vec<AnalysisRun>,
) -> Markup {
    let list_view = f.list();
    let view = if f.stats() {
        "stats"
    } else if list_view {
        "list"
    } else {
        "graph"
    };
    html! {
        (view::flash(Some(f.ok.as_str()).filter(|s| !s.is_empty()), Some(f.err.as_str()).filter(|s| !s.is_empty())))
        div.toolbar {
            h1 { "Project " (snap.ns) }
            form.filters method="get" action=(format!("/ui/projects/{}", snap.ns)) {
                @if view != "graph" { input type="hidden" name="view" value=(view); }
                @if f.stats() && !f.window.is_empty() { input type="hidden" name="window" value=(f.window); }
                label { "Warehouse "
                    select name="warehouse" onchange="this.form.submit()" {
                        option value="" { "all" }
                        @for w in &snap.warehouses {
                            @let n = name(&w.metadata);
                            option value=(n) selected[f.warehouse == n] { (n) }
                        }
                    }
                }
                label { input type="checkbox" name="hide_unused" value="1" checked[f.hide()] onchange="this.form.submit()"; " Hide unused" }
                noscript { button { "Apply" } }
            }
            nav.views aria-label="View" {
                a.btn.on[view == "graph"] href=(f.url(&snap.ns, f.page, "graph")) { "Graph" }
                a.btn.on[view == "list"] href=(f.url(&snap.ns, f.page, "list")) { "List" }
                a.btn.on[view == "stats"] #stats-view href=(f.url(&snap.ns, f.page, "stats")) { "Statistics" }
            }
            a.btn #settings href=(format!("/ui/projects/{}/settings", snap.ns)) { "Settings" }
        }
        (timeline(snap, f))
        @if f.stats() { (super::stats::table(snap, &runs(), f)) } @else if list_view { (list(snap)) } @else {
            @let p = graph::pipeline(snap);
            p.muted.small { "Drag a Freight card onto a Stage to promote it; scroll with Ctrl to zoom, drag to pan." }
            div.viewport #viewport { (graph::render(snap, &p)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::model::tests::quickstart;

    fn freight(n: usize) -> kargo_api::Freight {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("f{n:04}"), "namespace": "p",
                "creationTimestamp": format!("2026-01-01T00:{:02}:{:02}Z", n / 60 % 60, n % 60),
                "labels": {"kargo.akuity.io/alias": format!("alias-{n}")}},
            "origin": {"kind": "Warehouse", "name": "w"},
            "images": [{"repoURL": "example.com/app", "tag": format!("1.{n}.0")}]
        }))
        .unwrap()
    }

    #[test]
    fn the_timeline_pages_and_says_how_many() {
        let mut snap = quickstart();
        snap.freight = (0..45).rev().map(freight).collect();
        let first = timeline(&snap, &Filters::default()).into_string();
        assert!(first.contains("1–20 of 45"), "{first}");
        assert_eq!(first.matches("class=\"card\"").count(), 20);
        assert!(first.contains("/ui/projects/p?page=1") && !first.contains("Newer"));
        let last = timeline(
            &snap,
            &Filters {
                page: 2,
                warehouse: "w".into(),
                ..Default::default()
            },
        )
        .into_string();
        assert!(last.contains("41–45 of 45"), "{last}");
        assert!(
            last.contains("page=1&amp;warehouse=w"),
            "filters stay in the links: {last}"
        );
        let hidden = timeline(
            &snap,
            &Filters {
                hide_unused: "1".into(),
                ..Default::default()
            },
        )
        .into_string();
        assert!(hidden.contains("20×"), "{hidden}");
    }

    #[test]
    fn fragments_send_the_graph_with_its_topology_and_one_per_stage() {
        let snap = quickstart();
        let frags = fragments(&snap, &Filters::default());
        let keys: Vec<&str> = frags.iter().map(|f| f.0.as_str()).collect();
        assert!(
            keys.contains(&"graph")
                && keys.contains(&"node-stage-dev")
                && keys.contains(&"timeline")
        );
        assert!(frags.iter().find(|f| f.0 == "graph").unwrap().2.is_some());
        let list = fragments(
            &snap,
            &Filters {
                view: "list".into(),
                ..Default::default()
            },
        );
        assert!(list.iter().any(|f| f.0 == "stage-list") && !list.iter().any(|f| f.0 == "graph"));
    }
}
