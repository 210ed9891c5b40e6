//! Delivery statistics in the UI: the project page's **Statistics** view
//! (one row per Stage over a window stated above the table and chosen as
//! `kargo stats --window` takes it) and the Stage page's figures over the
//! default window. Computed by [`kargo_api::delivery_stats`] from the
//! page's snapshot cut by [`kargo_api::delivery_inputs`], and worded by
//! [`kargo_api::delivery_text`]: the figures and their text are `kargo
//! stats`'s.

use super::model::{Snapshot, name};
use super::project::Filters;
use kargo_api::AnalysisRun;
use kargo_api::delivery_inputs::Collected;
use kargo_api::delivery_stats::{StageStats, compute};
use kargo_api::delivery_text::{self, DEFAULT_WINDOW, HEADERS, parse_window};
use maud::{Markup, html};
use std::time::Duration;

/// Windows offered in the view's menu (any other is taken from the URL).
const WINDOWS: [&str; 5] = ["1d", "7d", "14d", "30d", "90d"];

/// The window of `text` ("" for the default), or why it is not one.
pub(crate) fn window(text: &str) -> (String, Result<Duration, String>) {
    let text = if text.trim().is_empty() {
        DEFAULT_WINDOW
    } else {
        text.trim()
    };
    (text.to_string(), parse_window(text))
}

/// The figures of the snapshot's Stages over `window` ending at its time;
/// `only` limits them to one Stage (its Promotions alone are cut).
pub(crate) fn figures(
    snap: &Snapshot,
    runs: &[AnalysisRun],
    window: Duration,
    only: Option<&str>,
) -> Vec<StageStats> {
    let wanted = |stage: &str| only.is_none_or(|o| o == stage);
    let collected = Collected::of(
        snap.stages.iter().filter(|s| wanted(name(&s.metadata))),
        snap.promotions
            .iter()
            .filter(|p| wanted(&p.spec.stage))
            .map(kargo_api::delivery_inputs::promotion),
        &snap.freight,
        runs,
        &snap.warehouses,
    );
    compute(collected.inputs(), snap.now, window)
}

/// A heading as the UI writes it ("CHANGE FAILURE RATE" → "Change failure rate").
fn heading(h: &str) -> String {
    let lower = h.to_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The project page's Statistics view.
pub(crate) fn table(snap: &Snapshot, runs: &[AnalysisRun], f: &Filters) -> Markup {
    let (text, parsed) = window(&f.window);
    let base = format!("/ui/projects/{}", snap.ns);
    html! {
        section #stats aria-label="Delivery statistics" {
            form.filters method="get" action=(base) {
                input type="hidden" name="view" value="stats";
                label { "Window "
                    select name="window" onchange="this.form.submit()" {
                        @if !WINDOWS.contains(&text.as_str()) { option value=(text) selected { (text) } }
                        @for w in WINDOWS { option value=(w) selected[w == text] { (w) } }
                    }
                }
                noscript { button { "Apply" } }
            }
            @match parsed {
                Err(e) => p { (super::view::badge("Failed")) " " (e) },
                Ok(d) => {
                    p.muted #stats-window {
                        "Over the last " (text) ", Promotions that finished from "
                        (window_start(snap, d)) " to " (snap.now.strftime("%Y-%m-%d %H:%M UTC").to_string()) " (as "
                        code { "kargo stats -p " (snap.ns) " --window " (text) } ")."
                    }
                    table #stats-table {
                        thead { tr { @for h in HEADERS { th { (heading(h)) } } } }
                        tbody {
                            @for s in figures(snap, runs, d, None) {
                                @let cells = delivery_text::cells(&s);
                                tr data-stage=(s.stage) {
                                    td { a href=(format!("{base}/stages/{}", s.stage)) { (s.stage) } }
                                    @for c in &cells[1..] { td { (c) } }
                                }
                            }
                        }
                    }
                    p.small.muted { "Lead time: median from the Freight's creation (from commit: from its newest commit, where a Warehouse still lists its time). "
                        "A failure: a Promotion that failed or errored, failed its verification or was rolled back. "
                        "Time to restore: median from a failure to the next succeeded and verified Promotion." }
                }
            }
        }
    }
}

fn window_start(snap: &Snapshot, d: Duration) -> String {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| snap.now.checked_sub(d).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "the beginning".into())
}

/// The Stage page's figures over the default window.
pub(crate) fn stage_panel(snap: &Snapshot, runs: &[AnalysisRun], stage: &str) -> Markup {
    let (text, parsed) = window("");
    let Ok(d) = parsed else {
        return html! {};
    };
    let all = figures(snap, runs, d, Some(stage));
    let Some(s) = all.iter().find(|s| s.stage == stage) else {
        return html! {};
    };
    let cells = delivery_text::cells(s);
    let link = format!(
        "/ui/projects/{}?view=stats&window={text}",
        super::view::urlencode(&snap.ns)
    );
    html! {
        table #stage-stats {
            @for (h, c) in HEADERS.iter().zip(&cells).skip(1) {
                tr { th { (heading(h)) } td { (c) } }
            }
        }
        p.small.muted { "Over the last " (text) ". " a href=(link) { "Every Stage, other windows" } }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ui::live::{Target, page_of};
    use kargo_store::Store;
    use serde_json::{Value, json};

    #[test]
    fn windows_read_as_kargo_stats_reads_them() {
        assert_eq!(window("").1, Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(window("36h").1, Ok(Duration::from_secs(36 * 3600)));
        assert!(window("soon").1.is_err());
        assert_eq!(heading("CHANGE FAILURE RATE"), "Change failure rate");
    }

    /// The cells of `stage`'s row in a rendered Statistics view.
    fn row(html: &str, stage: &str) -> Vec<String> {
        let start = html
            .find(&format!("<tr data-stage=\"{stage}\">"))
            .unwrap_or_else(|| panic!("no row of {stage} in {html}"));
        let end = start + html[start..].find("</tr>").unwrap();
        html[start..end]
            .split("<td>")
            .skip(1)
            .map(|c| {
                let c = c.trim_end_matches("</td>");
                // The Stage cell is a link.
                c.rsplit_once("\">")
                    .map(|(_, t)| t.trim_end_matches("</a></td>").trim_end_matches("</a>"))
                    .unwrap_or(c)
                    .to_string()
            })
            .collect()
    }

    /// A story with known times in a real store (put as a mirror keeps
    /// them: creation times and statuses as written), three days ago:
    /// Stages prod (verified) and dev, Freight f1 with commit c1 an hour
    /// older, p1 Succeeded at +1 h, p2 Failed at +2 h, p3 Succeeded at
    /// +5 h, p1 and p3 verified. Over 7 days: prod's row is `prod 3 2
    /// 0.29 3h 4h 33% (1/3) 3h`.
    pub(crate) fn known_story(store: &Store) {
        let put = |api: &str, kind: &str, ns: &str, v: Value| {
            store
                .mirror_put(kargo_api::lookup_kind(api, kind).unwrap(), ns, v)
                .unwrap();
        };
        let k = "kargo.akuity.io/v1alpha1";
        put("v1", "Namespace", "", json!({"metadata": {"name": "p"}}));
        let t0 =
            jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 3 * 86_400).unwrap();
        let at = |h: i64| (t0 + jiff::SignedDuration::from_hours(h)).to_string();
        let origin = json!({"kind": "Warehouse", "name": "w"});
        put(
            k,
            "Warehouse",
            "p",
            json!({"metadata": {"name": "w", "namespace": "p", "creationTimestamp": at(-2)},
            "spec": {"subscriptions": [{"git": {"repoURL": "https://git.example.com/app"}}]},
            "status": {"discoveredArtifacts": {"git": [{"repoURL": "https://git.example.com/app",
                "commits": [{"id": "c1", "creatorDate": at(-1)}]}]}}}),
        );
        for (stage, verify) in [("prod", true), ("dev", false)] {
            let mut s = json!({"metadata": {"name": stage, "namespace": "p", "creationTimestamp": at(-2)},
                "spec": {"requestedFreight": [{"origin": origin, "sources": {"direct": true}}]}});
            if verify {
                s["spec"]["verification"] = json!({"analysisTemplates": [{"name": "smoke"}]});
            }
            put(k, "Stage", "p", s);
        }
        put(
            k,
            "Freight",
            "p",
            json!({"metadata": {"name": "f1", "namespace": "p", "creationTimestamp": at(0)},
            "origin": origin, "commits": [{"repoURL": "https://git.example.com/app", "id": "c1"}]}),
        );
        for (name, phase, h) in [
            ("p1", "Succeeded", 1),
            ("p2", "Failed", 2),
            ("p3", "Succeeded", 5),
        ] {
            put(
                k,
                "Promotion",
                "p",
                json!({"metadata": {"name": name, "namespace": "p", "creationTimestamp": at(h - 1)},
                "spec": {"stage": "prod", "freight": "f1"},
                "status": {"phase": phase, "finishedAt": at(h)}}),
            );
        }
        for (i, promotion) in ["p1", "p3"].into_iter().enumerate() {
            put(
                "argoproj.io/v1alpha1",
                "AnalysisRun",
                "p",
                json!({"metadata": {"name": format!("run-{i}"),
                "namespace": "p", "creationTimestamp": at(5),
                "annotations": {"kargo.akuity.io/promotion": promotion}},
                "spec": {"metrics": []}, "status": {"phase": "Successful"}}),
            );
        }
    }

    /// The story rendered as the server renders the project's Statistics
    /// view and the Stage page: the figures `kargo stats` prints, over the
    /// window chosen.
    #[test]
    fn the_statistics_show_the_figures_of_a_known_story() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        known_story(&store);
        let render = |page: &str| {
            let t = Target::parse(page).unwrap();
            page_of(&store, &t, page, ("", ""), "").into_string()
        };

        let week = render("/ui/projects/p?view=stats");
        assert!(week.contains("Over the last 7d"), "{week}");
        // Lead times 1 h and 5 h (median 3 h); from the commit an hour
        // before the Freight, 2 h and 6 h (median 4 h); p2 failed and p3
        // restored it 3 h later.
        assert_eq!(
            row(&week, "prod"),
            ["prod", "3", "2", "0.29", "3h", "4h", "33% (1/3)", "3h"]
        );
        assert_eq!(
            row(&week, "dev"),
            ["dev", "0", "0", "0.00", "-", "-", "-", "-"]
        );
        // A day's window holds none of it; a month's spreads it thinner.
        let day = render("/ui/projects/p?view=stats&window=1d");
        assert_eq!(
            row(&day, "prod"),
            ["prod", "0", "0", "0.00", "-", "-", "-", "-"]
        );
        let month = render("/ui/projects/p?view=stats&window=30d");
        assert_eq!(row(&month, "prod")[3], "0.07");
        let bad = render("/ui/projects/p?view=stats&window=soon");
        assert!(bad.contains("window &quot;soon&quot;"), "{bad}");

        let stage = render("/ui/projects/p/stages/prod");
        for (h, v) in [
            ("Deployments", "2"),
            ("Per day", "0.29"),
            ("Lead time", "3h"),
            ("From commit", "4h"),
            ("Change failure rate", "33% (1/3)"),
            ("Time to restore", "3h"),
        ] {
            assert!(
                stage.contains(&format!("<tr><th>{h}</th><td>{v}</td></tr>")),
                "{h}: {stage}"
            );
        }
    }
}
