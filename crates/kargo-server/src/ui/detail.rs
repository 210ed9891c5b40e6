//! The detail pages: Stage (conditions, health, requested origins, current
//! Freight per origin, Promotions with rollbacks marked, verifications
//! (see `verification.rs`), Freight history), Promotion (steps with alias,
//! duration, config, output, error), Freight (artifacts, verified in,
//! approved for, alias; clone, delete), Warehouse (subscriptions,
//! discovered artifacts to build or clone Freight from) and the promote
//! flow (eligibility and soak left per Freight). Each page's `detail` section is one live
//! fragment; its forms sit outside it so a live update never eats typing.

use super::graph::{rollback_tag, stage_colour, warehouse_colour, warehouse_state};
use super::model::{self, Snapshot, name, promotion_phase};
use super::view::{Tone, ago, badge, badge_as, duration, flash, yaml};
use kargo_api::{AnalysisRun, Freight, Stage};
use maud::{Markup, html};

/// A button posting `action` with `fields`, coming back to `back`.
pub(crate) fn act(
    ns: &str,
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    back: &str,
) -> Markup {
    html! {
        form.inline method="post" action=(format!("/ui/projects/{ns}/act")) {
            input type="hidden" name="action" value=(action);
            input type="hidden" name="back" value=(back);
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            button type="submit" data-action=(action) { (label) }
        }
    }
}

fn live(body: Markup) -> Markup {
    html! { section #detail sse-swap="detail" hx-swap="outerHTML" { (body) } }
}

fn not_found(what: &str) -> Markup {
    html! { p { (badge_as(Tone::Unknown, "Not found")) " " (what) " does not exist (any more)." } }
}

/// The Stage page: live section plus its actions.
pub(crate) fn stage(snap: &Snapshot, runs: &[AnalysisRun], sname: &str, back: &str) -> Markup {
    let Some(s) = snap.stage(sname) else {
        return not_found(&format!("Stage {sname}"));
    };
    let ns = &snap.ns;
    let has_freight = !model::stage_view(snap, s).current.is_empty();
    let current = model::stage_view(snap, s)
        .current
        .first()
        .map(|c| c.1.clone())
        .unwrap_or_default();
    html! {
        div.actions {
            a.btn href=(format!("/ui/projects/{ns}/promote?stage={}", super::view::urlencode(sname))) { "Promote…" }
            @if has_freight {
                (act(ns, "promote-downstream", &[("stage", sname), ("freight", &current)], "Promote downstream", back))
                (act(ns, "reverify", &[("stage", sname)], "Re-verify", back))
                (act(ns, "abort-verification", &[("stage", sname)], "Abort verification", back))
            }
            (act(ns, "refresh-stage", &[("stage", sname)], "Refresh", back))
        }
        (stage_live(snap, runs, s))
    }
}

/// The Stage's promotion window and auto-promotion holds, in words.
fn policy(st: &kargo_api::stage::StageStatus, sname: &str) -> Markup {
    let holds = &st.effective_auto_promotion_holds;
    html! {
        @match &st.promotion_window_status {
            Some(w) if w.closed => p {
                (super::graph::policy_tags_window()) " " (w.reason)
                @if let Some(t) = &w.next_open { " — opens at " (t) }
            },
            Some(w) => p {
                "Promotion window open"
                @if let Some(t) = &w.next_close { " until " (t) }
            },
            None => {},
        }
        @for (origin, h) in holds {
            p {
                (super::graph::policy_tags_hold()) " Auto-promotion from " (origin) " held"
                @if !h.actor.is_empty() { " by " (h.actor) }
                @if let Some(t) = &h.created_at { " at " (t) }
                @if !h.promotion_name.is_empty() { " (Promotion " (h.promotion_name) ")" }
                " — lift it with " code { "kargo release stage " (sname) }
            }
        }
        @if st.promotion_window_status.is_none() && holds.is_empty() {
            p.muted { "No promotion windows or holds." }
        }
    }
}

pub(crate) fn stage_live(snap: &Snapshot, runs: &[AnalysisRun], s: &Stage) -> Markup {
    let ns = &snap.ns;
    let sname = name(&s.metadata);
    let v = model::stage_view(snap, s);
    let st = s.status.clone().unwrap_or_default();
    let back = format!("/ui/projects/{ns}/stages/{sname}");
    live(html! {
        h1 style=(format!("border-left:6px solid {};padding-left:.4em", stage_colour(snap, sname))) { "Stage " (sname) }
        p { (badge(v.state)) @if let Some(step) = &v.step { " " span.step { (step) } } @if !v.why.is_empty() { " " span.why { (v.why) } } }
        div.grid2 {
            div {
                h2 { "Conditions" }
                table { @for c in &st.conditions { tr { td { (c.type_) } td { (badge(&c.status)) } td { (c.reason) } td.small { (c.message) } } } }
                h2 { "Health" }
                @match &st.health {
                    Some(h) => p { (badge(&h.status)) " " @for i in &h.issues { span.small { (i) " " } } },
                    None => p.muted { "No health checks." },
                }
                h2 { "Promotion policy" }
                (policy(&st, sname))
                h2 { "Statistics" }
                (super::stats::stage_panel(snap, runs, sname))
            }
            div {
                h2 { "Requested Freight" }
                table {
                    @for r in &s.spec.requested_freight {
                        tr {
                            td { i.dot style=(format!("background:{}", warehouse_colour(snap, &r.origin.name))) {} (r.origin.kind) " " (r.origin.name) }
                            td.small { @if r.sources.direct { "direct from the Warehouse" } @else { "from " (r.sources.stages.join(", ")) } }
                            td.small { @if let Some(t) = &r.sources.required_soak_time { "soak " (t) } }
                            td { @for (w, f) in v.current.iter().filter(|c| c.0 == r.origin.name) {
                                span.fr.active title=(format!("active Freight from Warehouse {w}")) { "current: "
                                    a href=(format!("/ui/projects/{ns}/freight/{f}")) { (snap.freight(f).map(model::label).unwrap_or_else(|| f.clone())) } }
                            } }
                        }
                    }
                }
            }
        }
        h2 { "Promotions" }
        table {
            thead { tr { th { "Promotion" } th { "Phase" } th { "Freight" } th { "By" } th { "Created" } } }
            @for p in snap.promotions_of(sname).iter().take(20) {
                tr {
                    td { a href=(format!("/ui/projects/{ns}/promotions/{}", name(&p.metadata))) { (name(&p.metadata)) } }
                    td { (badge(&promotion_phase(p))) @if model::is_rollback(snap, p) { " " (rollback_tag()) } }
                    td { (snap.freight(&p.spec.freight).map(model::label).unwrap_or_else(|| p.spec.freight.clone())) }
                    td.small { (p.metadata.annotations.as_ref().and_then(|a| a.get(kargo_api::labels::CREATE_ACTOR)).cloned().unwrap_or_default()) }
                    td.small { (ago(&model::created(&p.metadata), snap.now)) }
                }
            }
        }
        h2 { "Verifications" }
        @match st.freight_history.first() {
            Some(c) if !c.verification_history.is_empty() => {
                @for vi in c.verification_history.iter().take(5) {
                    div.verif {
                        (badge(&vi.phase)) " " span.small { (vi.id) " · " (vi.actor) " · "
                            (duration(vi.start_time.as_deref().unwrap_or(""), vi.finish_time.as_deref().unwrap_or(""), snap.now)) " " (vi.message) }
                        @if let Some(ar) = &vi.analysis_run { (super::verification::summary(ns, runs, &ar.name)) }
                    }
                }
            }
            _ => p.muted { "No verification yet." },
        }
        h2 { "Freight history" }
        table {
            thead { tr { th { "Freight" } th { "Verification" } th {} } }
            @for (k, c) in st.freight_history.iter().enumerate().take(10) {
                tr {
                    td { @for r in c.items.values() {
                        a href=(format!("/ui/projects/{ns}/freight/{}", r.name)) { (snap.freight(&r.name).map(model::label).unwrap_or_else(|| r.name.clone())) } " "
                    } }
                    td { @if let Some(vi) = c.verification_history.first() { (badge(&vi.phase)) }
                        @if st.freight_history.get(k + 1).is_some_and(|prev| c.items.iter().any(|(o, r)| prev.items.get(o).is_some_and(|q| model::older(snap, &r.name, &q.name)))) { " " (rollback_tag()) } }
                    td { @if k > 0 { @for r in c.items.values() {
                        (act(ns, "rollback", &[("stage", sname), ("freight", &r.name)], "Roll back to this", &back))
                    } } @else { span.muted { "current" } } }
                }
            }
        }
    })
}

/// The Promotion page, all of it live (its actions follow its phase).
pub(crate) fn promotion_live(snap: &Snapshot, pname: &str) -> Markup {
    let Some(p) = snap.promotion(pname) else {
        return live(not_found(&format!("Promotion {pname}")));
    };
    let ns = &snap.ns;
    let st = p.status.clone().unwrap_or_default();
    let aborting = p
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(kargo_api::labels::ABORT));
    let phase = promotion_phase(p);
    let steps = st.step_execution_metadata.len().max(p.spec.steps.len());
    let back = format!("/ui/projects/{ns}/promotions/{pname}");
    live(html! {
        div.actions {
            @if matches!(phase.as_str(), "Running" | "Pending") && !aborting {
                (act(ns, "abort", &[("promotion", pname)], "Abort", &back))
            }
            @if matches!(phase.as_str(), "Failed" | "Errored" | "Aborted") {
                (act(ns, "promote", &[("stage", &p.spec.stage), ("freight", &p.spec.freight)], "Retry", &back))
            }
        }
        h1 { "Promotion " (pname) }
        p #phase {
            (badge(&phase))
            @if aborting && matches!(phase.as_str(), "Running" | "Pending") { " " (badge_as(Tone::Warning, "Abort requested")) }
            " to Stage " a href=(format!("/ui/projects/{ns}/stages/{}", p.spec.stage)) { (p.spec.stage) }
            " · Freight " a href=(format!("/ui/projects/{ns}/freight/{}", p.spec.freight)) { (snap.freight(&p.spec.freight).map(model::label).unwrap_or_else(|| p.spec.freight.clone())) }
            " · by " (p.metadata.annotations.as_ref().and_then(|a| a.get(kargo_api::labels::CREATE_ACTOR)).cloned().unwrap_or_default())
            " · " (duration(st.started_at.as_deref().unwrap_or(""), st.finished_at.as_deref().unwrap_or(""), snap.now))
        }
        @if !st.message.is_empty() { p.why { (st.message) } }
        h2 { "Steps" }
        // A run saves its first step only when it ends: until then the
        // step at `currentStep` is the one running.
        @let running = model::step_at(p, &["Running"]);
        ol #steps.steps {
            @for i in 0..steps {
                @let m = st.step_execution_metadata.get(i).cloned().unwrap_or_default();
                @let spec = st.state.as_ref().and_then(|s| s.pointer(&format!("/steps/{i}"))).cloned()
                    .or_else(|| p.spec.steps.get(i).and_then(|s| serde_json::to_value(s).ok()));
                @let uses = spec.as_ref().and_then(|s| s.get("uses")).and_then(|u| u.as_str()).unwrap_or("").to_string();
                @let status = match m.status.as_str() {
                    "" if running == Some(i) => "Running".to_string(),
                    "" => "Pending".to_string(),
                    s => s.to_string(),
                };
                li.step data-status=(status) {
                    (badge(&status)) " "
                    @if !m.alias.is_empty() && m.alias != format!("step-{i}") { span.tag { (m.alias) } " " }
                    b { (uses) } " "
                    span.small { (duration(m.started_at.as_deref().unwrap_or(""), m.finished_at.as_deref().unwrap_or(""), snap.now)) }
                    @if let Some(cfg) = spec.as_ref().and_then(|s| s.get("config")) { details { summary { "Config" } pre { (yaml(cfg)) } } }
                    @if let Some(out) = st.state.as_ref().and_then(|s| s.get(&m.alias)).filter(|_| !m.alias.is_empty()) { details { summary { "Output" } pre { (yaml(out)) } } }
                    @if !m.message.is_empty() { div.why role="alert" { (m.message) } }
                }
            }
        }
    })
}

/// The Freight page.
pub(crate) fn freight(snap: &Snapshot, fname: &str, back: &str) -> Markup {
    let Some(f) = snap.freight(fname) else {
        return not_found(&format!("Freight {fname}"));
    };
    let ns = &snap.ns;
    let takers: Vec<&Stage> = snap
        .stages
        .iter()
        .filter(|s| kargo_api::availability::request_for(s, f).is_some())
        .collect();
    html! {
        div.actions {
            form.inline method="post" action=(format!("/ui/projects/{ns}/act")) {
                input type="hidden" name="action" value="alias";
                input type="hidden" name="back" value=(back);
                input type="hidden" name="freight" value=(fname);
                label { "Alias " input name="alias" value=(f.alias().unwrap_or("")) required pattern="[a-z0-9]([-a-z0-9]*[a-z0-9])?"; }
                button type="submit" data-action="alias" { "Save alias" }
            }
            form.inline method="post" action=(format!("/ui/projects/{ns}/act")) {
                input type="hidden" name="action" value="approve";
                input type="hidden" name="back" value=(back);
                input type="hidden" name="freight" value=(fname);
                label { "Approve for "
                    select name="stage" { @for s in &takers { option { (name(&s.metadata)) } } } }
                button type="submit" data-action="approve" { "Approve" }
            }
            @for s in &takers {
                a.btn href=(format!("/ui/projects/{ns}/promote?stage={}&freight={fname}", super::view::urlencode(name(&s.metadata)))) { "Promote to " (name(&s.metadata)) "…" }
            }
            a.btn #clone href=(format!("/ui/projects/{ns}/warehouses/{}?clone={fname}", f.origin.name)) title="New Freight from these artifacts, to change before it is made" { "Clone…" }
            @let users: Vec<&str> = f.status.as_ref().map(|st| st.currently_in.keys().map(String::as_str).collect()).unwrap_or_default();
            @if users.is_empty() {
                details.confirm {
                    summary.btn { "Delete…" }
                    span.small { "Delete Freight " (model::label(f)) "? It cannot be undone. " }
                    (act(ns, "delete-freight", &[("freight", fname)], &format!("Yes, delete {}", model::label(f)), back))
                }
            } @else {
                span.small.muted title="Kargo deletes no Freight a Stage holds" { "In use by " (users.join(", ")) ": cannot be deleted" }
            }
        }
        (freight_live(snap, fname))
    }
}

pub(crate) fn freight_live(snap: &Snapshot, fname: &str) -> Markup {
    let Some(f) = snap.freight(fname) else {
        return live(not_found(&format!("Freight {fname}")));
    };
    let ns = &snap.ns;
    let st = f.status.clone().unwrap_or_default();
    let chips = |names: Vec<&String>| html! { @for s in names { a.chip href=(format!("/ui/projects/{ns}/stages/{s}")) style=(format!("border-color:{}", stage_colour(snap, s))) { (s) } " " } };
    live(html! {
        h1 { "Freight " (model::label(f)) }
        p.small { code { (fname) } " from " (f.origin.kind) " " a href=(format!("/ui/projects/{ns}/warehouses/{}", f.origin.name)) { (f.origin.name) } " · " (ago(&model::created(&f.metadata), snap.now)) }
        h2 { "Artifacts" }
        table {
            @for i in &f.images { tr { td { "image" } td { (i.repo_url) } td { (i.tag) } td.small { (i.digest) } } }
            @for c in &f.charts { tr { td { "chart" } td { (c.repo_url) } td { (c.name) } td { (c.version) } } }
            @for c in &f.commits { tr { td { "commit" } td { (c.repo_url) } td { (c.tag) } td.small { (c.id) " " (c.message) } } }
        }
        h2 { "Verified in" } p { (chips(st.verified_in.keys().collect())) }
        h2 { "Approved for" } p { (chips(st.approved_for.keys().collect())) }
        h2 { "In" } p { (chips(st.currently_in.keys().collect())) }
        @let failed: Vec<&String> = snap.stages.iter().filter(|s| model::standing(s, f) == "FAILED").filter_map(|s| s.metadata.name.as_ref()).collect();
        @if !failed.is_empty() { h2 { "Failed in" } p { (badge("FAILED")) " " (chips(failed)) } }
    })
}

/// The Warehouse page.
///
/// With `clone` naming a Freight of it, the form starts from that
/// Freight's artifacts (Kargo's "Clone"); an artifact the Warehouse no
/// longer lists is offered as it is in that Freight.
pub(crate) fn warehouse(snap: &Snapshot, wname: &str, back: &str, clone: &str) -> Markup {
    let Some(w) = snap.warehouses.iter().find(|w| name(&w.metadata) == wname) else {
        return not_found(&format!("Warehouse {wname}"));
    };
    let ns = &snap.ns;
    let found = w
        .status
        .as_ref()
        .and_then(|s| s.discovered_artifacts.clone())
        .unwrap_or_default();
    let source = snap.freight(clone).filter(|f| f.origin.name == wname);
    // Per discovery result: the index of the entry the cloned Freight has,
    // or its own artifact's label when the Warehouse lists it no more.
    let image_of = |repo: &str| source.and_then(|f| f.images.iter().find(|x| x.repo_url == repo));
    let chart_of = |repo: &str, n: &str| {
        source.and_then(|f| f.charts.iter().find(|x| x.repo_url == repo && x.name == n))
    };
    let commit_of = |repo: &str| source.and_then(|f| f.commits.iter().find(|x| x.repo_url == repo));
    html! {
        div.actions { (act(ns, "refresh-warehouse", &[("warehouse", wname)], "Refresh", back)) }
        (warehouse_live(snap, wname))
        h2 #assembly { @if let Some(f) = source { "Clone Freight " (model::label(f)) } @else { "Create Freight from discovered artifacts" } }
        form.create method="post" action=(format!("/ui/projects/{ns}/act")) {
            input type="hidden" name="action" value="create-freight";
            input type="hidden" name="back" value=(back);
            input type="hidden" name="warehouse" value=(wname);
            @if source.is_some() { input type="hidden" name="clone" value=(clone); }
            @for (i, r) in found.images.iter().enumerate() {
                @let had = image_of(&r.repo_url);
                @let at = had.and_then(|h| r.references.iter().take(20).position(|x| x.tag == h.tag && x.digest == h.digest));
                (pick_set(&format!("image{i}"), &format!("image {}", r.repo_url), r.references.iter().take(20).map(|x| html! { (x.tag) }).collect(), at, had.map(|h| h.tag.clone())))
            }
            @for (i, r) in found.charts.iter().enumerate() {
                @let had = chart_of(&r.repo_url, &r.name);
                @let at = had.and_then(|h| r.versions.iter().take(20).position(|x| *x == h.version));
                (pick_set(&format!("chart{i}"), &format!("chart {} {}", r.repo_url, r.name), r.versions.iter().take(20).map(|x| html! { (x) }).collect(), at, had.map(|h| h.version.clone())))
            }
            @for (i, r) in found.git.iter().enumerate() {
                @let had = commit_of(&r.repo_url);
                @let at = had.and_then(|h| r.commits.iter().take(20).position(|x| x.id == h.id));
                (pick_set(&format!("git{i}"), &format!("git {}", r.repo_url), r.commits.iter().take(20).map(|x| html! { (commit_label(x)) " " span.small { (x.subject) } }).collect(), at, had.map(|h| if h.tag.is_empty() { h.id.chars().take(7).collect() } else { h.tag.clone() })))
            }
            label { "Alias (optional) " input name="alias" pattern="[a-z0-9]([-a-z0-9]*[a-z0-9])?"; }
            button type="submit" data-action="create-freight" { "Create Freight" }
        }
    }
}

pub(crate) fn warehouse_live(snap: &Snapshot, wname: &str) -> Markup {
    let Some(w) = snap.warehouses.iter().find(|w| name(&w.metadata) == wname) else {
        return live(not_found(&format!("Warehouse {wname}")));
    };
    let ns = &snap.ns;
    let st = w.status.clone().unwrap_or_default();
    let found = st.discovered_artifacts.clone().unwrap_or_default();
    let count = snap
        .freight
        .iter()
        .filter(|f| f.origin.name == wname)
        .count();
    live(html! {
        h1 style=(format!("border-left:6px solid {};padding-left:.4em", warehouse_colour(snap, wname))) { "Warehouse " (wname) }
        p { (warehouse_state(snap, wname)) " · "
            a href=(format!("/ui/projects/{ns}?warehouse={wname}")) { (count) " Freight" }
            @if let Some(at) = &found.discovered_at { " · discovered " (ago(at, snap.now)) }
            @if !st.last_handled_refresh.is_empty() { " · last refresh handled " span.small #refreshed { (st.last_handled_refresh) } } }
        h2 { "Subscriptions" }
        table { @for s in &w.spec.subscriptions { tr {
            @if let Some(i) = &s.image { td { "image" } td { (i.repo_url) } td.small { (i.semver_constraint) (i.constraint) } }
            @if let Some(g) = &s.git { td { "git" } td { (g.repo_url) } td.small { (g.branch) } }
            @if let Some(c) = &s.chart { td { "chart" } td { (c.repo_url) } td.small { (c.name) } }
        } } }
        h2 { "Discovered" }
        ul.small {
            @for r in &found.images { li { (r.repo_url) ": " @for x in r.references.iter().take(10) { (x.tag) " " } } }
            @for r in &found.charts { li { (r.repo_url) " " (r.name) ": " @for x in r.versions.iter().take(10) { (x) " " } } }
            @for r in &found.git { li { (r.repo_url) ": " @for x in r.commits.iter().take(10) { (commit_label(x)) " " } } }
        }
    })
}

/// One discovery result's choices as radio buttons named `key`: none,
/// each listed entry (value: its index), and, when a cloned Freight's
/// artifact is not listed (`kept`), that artifact (value `clone`).
/// `at` is the entry chosen to start with (else the kept one, else none).
fn pick_set(
    key: &str,
    legend: &str,
    entries: Vec<Markup>,
    at: Option<usize>,
    kept: Option<String>,
) -> Markup {
    let kept = kept.filter(|_| at.is_none());
    html! {
        fieldset { legend { (legend) }
            label { input type="radio" name=(key) value="" checked[at.is_none() && kept.is_none()]; " none" }
            @if let Some(k) = &kept { label { input type="radio" name=(key) value="clone" checked; " " (k) " " span.small { "(as in the cloned Freight)" } } }
            @for (j, e) in entries.into_iter().enumerate() {
                label { input type="radio" name=(key) value=(j) checked[at == Some(j)]; " " (e) } } }
    }
}

/// A discovered commit as a person names it: its tag, else its short id.
fn commit_label(c: &kargo_api::warehouse::DiscoveredCommit) -> String {
    if c.tag.is_empty() {
        c.id.chars().take(7).collect()
    } else {
        c.tag.clone()
    }
}

/// How long `f` still soaks before `s` may take it, in words.
fn soak_left(s: &Stage, f: &Freight, now_ms: i64) -> Option<String> {
    let at = kargo_api::availability::soak_deadline(s, f, now_ms)?;
    let secs = ((at - now_ms) / 1000).max(0);
    Some(format!("{}m{}s of soak left", secs / 60, secs % 60))
}

/// The promote flow: the Freight Stage `sname` may take, eligible or why not.
pub(crate) fn promote(snap: &Snapshot, sname: &str, chosen: &str, back: &str) -> Markup {
    let Some(s) = snap.stage(sname) else {
        return not_found(&format!("Stage {sname}"));
    };
    let ns = &snap.ns;
    let now = snap.now.as_millisecond();
    let offered: Vec<&Freight> = snap
        .freight
        .iter()
        .filter(|f| kargo_api::availability::request_for(s, f).is_some())
        .collect();
    let mut shown: Vec<&Freight> = offered
        .iter()
        .copied()
        .filter(|f| name(&f.metadata) == chosen)
        .collect();
    shown.extend(
        offered
            .iter()
            .copied()
            .filter(|f| name(&f.metadata) != chosen)
            .take(30),
    );
    html! {
        h1 { "Promote to " a href=(format!("/ui/projects/{ns}/stages/{sname}")) { (sname) } }
        p.muted { "Freight from the origins " (sname) " requests, newest first (" (shown.len()) " of " (offered.len()) ")." }
        table.promote {
            thead { tr { th { "Freight" } th { "Artifacts" } th { "Eligible" } th {} } }
            @for f in &shown {
                @let fname = name(&f.metadata);
                @let check = kargo_api::availability::check(s, f, now);
                tr.chosen[fname == chosen] data-freight=(fname) {
                    td { a href=(format!("/ui/projects/{ns}/freight/{fname}")) { (model::label(f)) } @if model::holds(s, f) { " " span.muted { "(current)" } } }
                    td.small { (model::artifacts(f)) }
                    td { @match &check {
                        Ok(()) => (badge_as(Tone::Ok, "Available")),
                        Err(why) => {
                            (badge_as(Tone::Warning, "Not available")) " " span.small.why { (why.to_string()) }
                            @if let Some(left) = soak_left(s, f, now) { " " span.small.soak { "⏳ " (left) } }
                        }
                    } }
                    td {
                        @if check.is_ok() { (act(ns, "promote", &[("stage", sname), ("freight", fname)], "Promote", back)) }
                        @else { (act(ns, "approve", &[("stage", sname), ("freight", fname)], "Approve", back)) }
                    }
                }
            }
        }
    }
}

/// A detail page's body with the flash above it.
pub(crate) fn with_flash(ok: &str, err: &str, body: Markup) -> Markup {
    html! { (flash(Some(ok).filter(|s| !s.is_empty()), Some(err).filter(|s| !s.is_empty()))) (body) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::model::tests::quickstart;

    #[test]
    fn the_promotion_page_lists_steps_with_alias_and_error() {
        let mut snap = quickstart();
        snap.promotions.push(serde_json::from_value(serde_json::json!({
            "metadata": {"name": "dev.1", "namespace": "p"},
            "spec": {"stage": "dev", "freight": "f1", "steps": [{"uses": "git-clone", "config": {"repoURL": "x"}}, {"uses": "git-push", "as": "push"}]},
            "status": {"phase": "Failed", "message": "push refused", "stepExecutionMetadata": [
                {"alias": "step-0", "status": "Succeeded"}, {"alias": "push", "status": "Failed", "message": "remote said no"}]}
        })).unwrap());
        let html = promotion_live(&snap, "dev.1").into_string();
        assert!(html.contains("sse-swap=\"detail\""));
        assert!(
            html.contains("git-clone") && html.contains("repoURL: x"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"tag\">push</span>") && html.contains("remote said no"),
            "{html}"
        );
        assert!(
            html.contains("Retry") && !html.contains(">Abort<"),
            "{html}"
        );
    }

    #[test]
    fn a_runs_first_step_shows_running_before_it_is_saved() {
        let mut snap = quickstart();
        snap.promotions.push(serde_json::from_value(serde_json::json!({
            "metadata": {"name": "dev.2", "namespace": "p"},
            "spec": {"stage": "dev", "freight": "f1", "steps": [{"uses": "git-clone"}, {"uses": "git-push"}]},
            "status": {"phase": "Running", "currentStep": 0}
        })).unwrap());
        let html = promotion_live(&snap, "dev.2").into_string();
        let running = html.find("data-status=\"Running\"").expect(&html);
        let pending = html.find("data-status=\"Pending\"").expect(&html);
        assert!(
            running < pending,
            "the first step runs, the second waits: {html}"
        );
    }

    #[test]
    fn a_closed_window_and_a_hold_show_on_the_stage_page_and_its_node() {
        let mut snap = quickstart();
        let prod = snap
            .stages
            .iter_mut()
            .find(|s| name(&s.metadata) == "prod-us")
            .expect("prod-us");
        prod.status = Some(
            serde_json::from_value(serde_json::json!({
                "promotionWindowStatus": {"closed": true, "reason": "Deny window \"freeze\" is active",
                    "nextOpen": "2026-12-01T08:00:00Z"},
                "effectiveAutoPromotionHolds": {"Warehouse/app": {"actor": "admin",
                    "createdAt": "2026-11-30T12:00:00Z", "promotionName": "prod-us.rollback"}}
            }))
            .expect("status"),
        );
        let prod = snap.stage("prod-us").expect("prod-us").clone();
        let page = stage_live(&snap, &[], &prod).into_string();
        assert!(
            page.contains("window closed")
                && page.contains("freeze")
                && page.contains("opens at 2026-12-01T08:00:00Z"),
            "{page}"
        );
        assert!(
            page.contains("Auto-promotion from Warehouse/app held by admin")
                && page.contains("kargo release stage prod-us"),
            "{page}"
        );
        let node = crate::ui::graph::policy_tags(&prod).into_string();
        assert!(
            node.contains("window closed") && node.contains("held"),
            "{node}"
        );
        // A Stage with neither says so.
        let dev = snap.stage("dev").expect("dev").clone();
        let page = stage_live(&snap, &[], &dev).into_string();
        assert!(page.contains("No promotion windows or holds."), "{page}");
        assert!(crate::ui::graph::policy_tags(&dev).into_string().is_empty());
    }

    #[test]
    fn promote_flow_says_why_freight_is_not_available() {
        let mut snap = quickstart();
        snap.freight.push(serde_json::from_value(serde_json::json!({
            "metadata": {"name": "f1", "namespace": "p"}, "origin": {"kind": "Warehouse", "name": "w"}
        })).unwrap());
        let direct = promote(&snap, "dev", "", "/b").into_string();
        assert!(
            direct.contains("Available") && direct.contains("data-action=\"promote\""),
            "{direct}"
        );
        let later = promote(&snap, "staging-us", "", "/b").into_string();
        assert!(
            later.contains("Not available")
                && later.contains("verified")
                && later.contains("data-action=\"approve\""),
            "{later}"
        );
    }
}
