//! The pipeline as a graph: subscriptions → Warehouses → Stages, laid out
//! by [`super::layout`] and drawn as an SVG of edges (one colour per
//! Warehouse, fan-out and fan-in) under absolutely placed node cards. A
//! Stage card is its own fragment (`node-stage-<name>`), so a status change
//! swaps one card; the whole graph is re-sent only when the topology key
//! (nodes and edges, never status) changes.

use super::layout::{Graph, Laid, Layered, Layout, Size};
use super::model::{self, Snapshot, name};
use super::view::{Tone, badge, badge_as};
use maud::{Markup, html};
use std::hash::{Hash, Hasher};

/// Edge colours, one per Warehouse (in name order).
const PALETTE: [&str; 12] = [
    "#2f80ed", "#e67e22", "#27ae60", "#9b51e0", "#eb5757", "#00a3a3", "#c0392b", "#6d4c41",
    "#f2994a", "#56ccf2", "#bb6bd9", "#219653",
];

/// Stage identity colours (timeline stripes).
const STAGE_PALETTE: [&str; 12] = [
    "#ED204E", "#2D9CDB", "#27AE60", "#F2C94C", "#9B51E0", "#F2994A", "#00B8A9", "#6FCF97",
    "#BB6BD9", "#EB5757", "#56CCF2", "#828282",
];

/// What a node is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    Subscription {
        warehouse: String,
        index: usize,
        label: String,
    },
    Warehouse(String),
    Stage(String),
}

/// An edge and the Warehouse whose Freight travels it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Edge {
    pub from: usize,
    pub to: usize,
    pub warehouse: String,
}

/// A laid-out pipeline.
pub(crate) struct Pipeline {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub laid: Laid,
    /// Changes only when nodes or edges change.
    pub topology: u64,
}

impl Node {
    /// A stable id: `stage:<name>`, `warehouse:<name>`, `subscription:<warehouse>/<i>`.
    pub(crate) fn id(&self) -> String {
        match self {
            Node::Subscription {
                warehouse, index, ..
            } => format!("subscription:{warehouse}/{index}"),
            Node::Warehouse(w) => format!("warehouse:{w}"),
            Node::Stage(s) => format!("stage:{s}"),
        }
    }
}

fn size(n: &Node) -> Size {
    match n {
        Node::Subscription { .. } => Size { w: 190.0, h: 44.0 },
        Node::Warehouse(_) => Size { w: 190.0, h: 64.0 },
        Node::Stage(_) => Size { w: 230.0, h: 124.0 },
    }
}

/// The colour of Warehouse `w`'s edges.
pub(crate) fn warehouse_colour(snap: &Snapshot, w: &str) -> &'static str {
    let i = snap
        .warehouses
        .iter()
        .position(|x| name(&x.metadata) == w)
        .unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

/// The identity colour of Stage `s`.
pub(crate) fn stage_colour(snap: &Snapshot, s: &str) -> &'static str {
    let i = snap
        .stages
        .iter()
        .position(|x| name(&x.metadata) == s)
        .unwrap_or(0);
    STAGE_PALETTE[i % STAGE_PALETTE.len()]
}

/// The nodes and edges of `snap`'s pipeline, laid out.
pub(crate) fn pipeline(snap: &Snapshot) -> Pipeline {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for w in &snap.warehouses {
        let wn = name(&w.metadata).to_string();
        let wi = nodes.len();
        nodes.push(Node::Warehouse(wn.clone()));
        for (k, s) in w.spec.subscriptions.iter().enumerate() {
            let label = s
                .image
                .as_ref()
                .map(|i| format!("image {}", i.repo_url))
                .or_else(|| s.git.as_ref().map(|g| format!("git {}", g.repo_url)))
                .or_else(|| {
                    s.chart
                        .as_ref()
                        .map(|c| format!("chart {} {}", c.repo_url, c.name))
                })
                .unwrap_or_else(|| format!("subscription {}", s.name));
            nodes.push(Node::Subscription {
                warehouse: wn.clone(),
                index: k,
                label,
            });
            edges.push(Edge {
                from: nodes.len() - 1,
                to: wi,
                warehouse: wn.clone(),
            });
        }
    }
    // A Warehouse a Stage requests but that does not exist still gets its
    // node, so the edge shows where the Freight would come from.
    for s in &snap.stages {
        for r in s.spec.requested_freight.iter().filter(|r| r.sources.direct) {
            let w = Node::Warehouse(r.origin.name.clone());
            if !nodes.contains(&w) {
                nodes.push(w);
            }
        }
    }
    let first_stage = nodes.len();
    nodes.extend(
        snap.stages
            .iter()
            .map(|s| Node::Stage(name(&s.metadata).to_string())),
    );
    let find = |nodes: &[Node], want: &Node| nodes.iter().position(|n| n == want);
    for (k, s) in snap.stages.iter().enumerate() {
        let to = first_stage + k;
        for r in &s.spec.requested_freight {
            let w = r.origin.name.clone();
            if r.sources.direct
                && let Some(from) = find(&nodes, &Node::Warehouse(w.clone()))
            {
                edges.push(Edge {
                    from,
                    to,
                    warehouse: w.clone(),
                });
            }
            for up in &r.sources.stages {
                if let Some(from) = find(&nodes, &Node::Stage(up.clone())) {
                    edges.push(Edge {
                        from,
                        to,
                        warehouse: w.clone(),
                    });
                }
            }
        }
    }
    let g = Graph {
        sizes: nodes.iter().map(size).collect(),
        edges: edges.iter().map(|e| (e.from, e.to)).collect(),
    };
    let laid = Layered::default().layout(&g);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    nodes.hash(&mut h);
    edges.hash(&mut h);
    Pipeline {
        nodes,
        edges,
        laid,
        topology: h.finish(),
    }
}

const PAD: f64 = 16.0;

fn place(p: &Pipeline, i: usize) -> String {
    let n = &p.laid.nodes[i];
    format!(
        "left:{}px;top:{}px;width:{}px;height:{}px",
        n.x + PAD,
        n.y + PAD,
        n.w,
        n.h
    )
}

/// The fragment key of Stage `s`'s card.
pub(crate) fn node_key(s: &str) -> String {
    format!("node-stage-{s}")
}

/// One Stage card, placed.
pub(crate) fn stage_node(snap: &Snapshot, p: &Pipeline, i: usize) -> Markup {
    let Node::Stage(sname) = &p.nodes[i] else {
        return html! {};
    };
    let Some(s) = snap.stage(sname) else {
        return html! {};
    };
    let v = model::stage_view(snap, s);
    let key = node_key(sname);
    let base = format!("/ui/projects/{}", snap.ns);
    html! {
        div.node.stage id=(key) sse-swap=(key) hx-swap="outerHTML" data-stage=(sname)
            style=(place(p, i)) {
            div.nh style=(format!("border-color:{}", stage_colour(snap, sname))) {
                a href=(format!("{base}/stages/{sname}")) { b { (sname) } }
                a.promote href=(format!("{base}/promote?stage={}", super::view::urlencode(sname))) title="Promote to this Stage" { "Promote" }
            }
            div.nb title=(v.why) {
                (badge(v.state))
                @if let Some(step) = &v.step { " " span.step { (step) } }
                @if v.rollback { " " (rollback_tag()) }
                (policy_tags(s))
            }
            div.nb.small {
                @if v.current.is_empty() { span.muted { "no Freight yet" } }
                @for (w, f) in &v.current {
                    @let shown = snap.freight(f).map(model::label).unwrap_or_else(|| f.chars().take(7).collect());
                    span.fr title=(format!("from Warehouse {w}")) {
                        i.dot style=(format!("background:{}", warehouse_colour(snap, w))) {}
                        a href=(format!("{base}/freight/{f}")) { (shown) }
                    }
                }
            }
            div.nb.small {
                @if !v.verification.is_empty() { "Verification " (badge(&v.verification)) }
            }
            div.nb.small {
                @if !v.health.is_empty() { "Health " (badge(&v.health)) }
            }
        }
    }
}

/// The mark of a rollback: an icon with its word.
pub(crate) fn rollback_tag() -> Markup {
    html! { span.tag.rollback title="a Promotion to older Freight than the Stage had" { span aria-hidden="true" { "↶" } " rollback" } }
}

/// The marks of what holds a Stage's promotions back: a closed promotion
/// window (with when it opens) and auto-promotion holds, each an icon
/// with its word.
pub(crate) fn policy_tags(s: &kargo_api::Stage) -> Markup {
    let Some(st) = &s.status else {
        return html! {};
    };
    let window = st.promotion_window_status.as_ref().filter(|w| w.closed);
    html! {
        @if let Some(w) = window {
            " " span title=(format!("{}{}", w.reason, w.next_open.as_deref().map(|t| format!("; opens at {t}")).unwrap_or_default())) {
                (policy_tags_window())
            }
        }
        @if !st.effective_auto_promotion_holds.is_empty() {
            " " span title="auto-promotion is held (kargo release stage lifts it)" { (policy_tags_hold()) }
        }
    }
}

/// A closed promotion window's mark.
pub(crate) fn policy_tags_window() -> Markup {
    html! { span.tag.policy { span aria-hidden="true" { "⏸" } " window closed" } }
}

/// An auto-promotion hold's mark.
pub(crate) fn policy_tags_hold() -> Markup {
    html! { span.tag.policy { span aria-hidden="true" { "✋" } " held" } }
}

fn edge_path(p: &Pipeline, e: &Edge, lane: f64) -> String {
    let a = &p.laid.nodes[e.from];
    let b = &p.laid.nodes[e.to];
    let (x1, y1) = (a.x + a.w + PAD, a.y + a.h / 2.0 + PAD + lane);
    let (x2, y2) = (b.x + PAD, b.y + b.h / 2.0 + PAD + lane);
    let mx = (x1 + x2) / 2.0;
    format!("M{x1:.1},{y1:.1} C{mx:.1},{y1:.1} {mx:.1},{y2:.1} {x2:.1},{y2:.1}")
}

/// The whole graph: edges, then every node.
pub(crate) fn render(snap: &Snapshot, p: &Pipeline) -> Markup {
    let width = p.laid.width + 2.0 * PAD;
    let height = p.laid.height + 2.0 * PAD;
    let base = format!("/ui/projects/{}", snap.ns);
    html! {
        div #graph.graph sse-swap="graph" hx-swap="outerHTML" data-topology=(p.topology) {
            div.canvas style=(format!("width:{width}px;height:{height}px")) {
                svg.edges width=(width) height=(height) role="img" aria-label="Pipeline edges" {
                    defs { marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                        path d="M0,0 L10,5 L0,10 z" fill="context-stroke" {} } }
                    @for (k, e) in p.edges.iter().enumerate() {
                        @let twins: Vec<usize> = p.edges.iter().enumerate().filter(|(_, o)| o.from == e.from && o.to == e.to).map(|(j, _)| j).collect();
                        @let lane = twins.iter().position(|&j| j == k).unwrap_or(0) as f64 * 6.0 - (twins.len() as f64 - 1.0) * 3.0;
                        path.edge d=(edge_path(p, e, lane)) stroke=(warehouse_colour(snap, &e.warehouse))
                            marker-end="url(#arrow)" data-from=(p.nodes[e.from].id()) data-to=(p.nodes[e.to].id())
                            data-warehouse=(e.warehouse) {}
                    }
                }
                @for (i, n) in p.nodes.iter().enumerate() {
                    @match n {
                        Node::Stage(_) => (stage_node(snap, p, i)),
                        Node::Warehouse(w) => {
                            div.node.warehouse style=(place(p, i)) data-warehouse=(w) {
                                div.nh style=(format!("border-color:{}", warehouse_colour(snap, w))) {
                                    a href=(format!("{base}/warehouses/{w}")) { "Warehouse " b { (w) } }
                                }
                                div.nb.small {
                                    (warehouse_state(snap, w))
                                }
                            }
                        }
                        Node::Subscription { label, .. } => {
                            div.node.sub style=(place(p, i)) title=(label) { span.small { (label) } }
                        }
                    }
                }
            }
        }
    }
}

/// A Warehouse's Ready condition as a badge.
pub(crate) fn warehouse_state(snap: &Snapshot, w: &str) -> Markup {
    let ready = snap
        .warehouses
        .iter()
        .find(|x| name(&x.metadata) == w)
        .and_then(|x| x.status.as_ref())
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready").cloned());
    match ready {
        Some(c) if c.status == "True" => badge_as(Tone::Ok, "Ready"),
        Some(c) if c.status == "False" => {
            html! { (badge_as(Tone::Failed, "Not ready")) " " span.small { (c.message) } }
        }
        _ if !snap.warehouses.iter().any(|x| name(&x.metadata) == w) => {
            badge_as(Tone::Failed, "Not found")
        }
        _ => badge_as(Tone::Unknown, "Unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::model::tests::quickstart;

    #[test]
    fn the_quick_start_graph_has_four_stages_and_fan_in() {
        let snap = quickstart();
        let p = pipeline(&snap);
        let stages = p
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Stage(_)))
            .count();
        assert_eq!(stages, 4);
        let idx = |s: &str| {
            p.nodes
                .iter()
                .position(|n| *n == Node::Stage(s.into()))
                .unwrap()
        };
        let into_prod: Vec<usize> = p
            .edges
            .iter()
            .filter(|e| e.to == idx("prod-us"))
            .map(|e| e.from)
            .collect();
        assert_eq!(into_prod.len(), 2, "fan-in");
        assert!(into_prod.contains(&idx("staging-us")) && into_prod.contains(&idx("staging-eu")));
        for e in &p.edges {
            assert!(
                p.laid.nodes[e.from].x < p.laid.nodes[e.to].x,
                "upstream left of downstream"
            );
        }
        let html = render(&snap, &p).into_string();
        assert_eq!(html.matches("class=\"node stage\"").count(), 4, "{html}");
        assert_eq!(html.matches("class=\"edge\"").count(), p.edges.len());
        assert!(html.contains("sse-swap=\"node-stage-prod-us\""));
    }

    #[test]
    fn a_status_change_keeps_topology_and_positions() {
        let mut snap = quickstart();
        let before = pipeline(&snap);
        snap.stages[0].status = Some(
            serde_json::from_value(serde_json::json!({"health": {"status": "Unhealthy"},
                "conditions": [{"type": "Ready", "status": "False"}]}))
            .unwrap(),
        );
        let after = pipeline(&snap);
        assert_eq!(before.topology, after.topology);
        assert_eq!(before.laid, after.laid);
        // A new Stage changes the topology.
        let mut extra = snap.stages[0].clone();
        extra.metadata.name = Some("qa".into());
        snap.stages.push(extra);
        assert_ne!(pipeline(&snap).topology, before.topology);
    }

    #[test]
    fn edges_take_their_warehouse_colour() {
        let snap = quickstart();
        let p = pipeline(&snap);
        let html = render(&snap, &p).into_string();
        assert!(
            html.contains(&format!("stroke=\"{}\"", PALETTE[0])),
            "{html}"
        );
    }
}
