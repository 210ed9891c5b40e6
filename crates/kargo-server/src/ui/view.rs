//! The UI's shared look: the page shell (header, theme toggle, assets),
//! the status vocabulary (one colour class, one icon and one word for each
//! state, never an icon alone) and small formatting helpers every screen
//! uses.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// How a state looks: the CSS class carries the colour (success #18BE94,
/// running #0DADEA, failed #E96D76, unknown #CCD6DD, warning #f4c030).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    Ok,
    Running,
    Failed,
    Unknown,
    Warning,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Ok => "st st-ok",
            Tone::Running => "st st-run",
            Tone::Failed => "st st-bad",
            Tone::Unknown => "st st-unk",
            Tone::Warning => "st st-warn",
        }
    }

    fn icon(self) -> &'static str {
        match self {
            Tone::Ok => "✔",
            Tone::Running => "⟳",
            Tone::Failed => "✖",
            Tone::Unknown => "?",
            Tone::Warning => "⚠",
        }
    }
}

/// The tone of a phase word used anywhere in Kargo's statuses.
pub(crate) fn tone(phase: &str) -> Tone {
    match phase {
        "Succeeded" | "Successful" | "Healthy" | "Ready" | "Verified" | "True" => Tone::Ok,
        "Running" | "Pending" | "Promoting" | "Verifying" | "Progressing" | "Reconciling" => {
            Tone::Running
        }
        "Failed" | "Errored" | "Error" | "Unhealthy" | "Degraded" | "FAILED" | "False"
        | "Inconclusive" => Tone::Failed,
        "Aborted" | "Held" | "Closed" => Tone::Warning,
        _ => Tone::Unknown,
    }
}

/// A status badge: icon and word together, coloured by the word's tone.
pub(crate) fn badge(word: &str) -> Markup {
    badge_as(tone(word), word)
}

/// A badge with an explicit tone.
pub(crate) fn badge_as(t: Tone, word: &str) -> Markup {
    let word = if word.is_empty() { "Unknown" } else { word };
    html! {
        span class=(t.class()) { span.ic aria-hidden="true" { (t.icon()) } " " (word) }
    }
}

/// What every page's `<head>` holds: title, viewport, style and script.
fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · kargo" }
        link rel="stylesheet" href="/ui/assets/ui.css";
        script src="/ui/assets/ui.js" defer {}
    }
}

/// A full page: `title`, the breadcrumb `crumbs` (label, link) and `body`.
/// `live` is the page's stream (`/ui/events?...`, see [`events_url`]).
pub(crate) fn shell(
    title: &str,
    crumbs: &[(String, String)],
    live: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                (head(title))
                script src="/ui/assets/htmx.min.js" {}
                script src="/ui/assets/sse.js" {}
            }
            body hx-ext="sse" {
                header.top {
                    a.brand href="/ui" { "kargo" }
                    nav.crumbs aria-label="Breadcrumb" {
                        @for (label, link) in crumbs {
                            span.sep { "/" }
                            a href=(link) { (label) }
                        }
                    }
                    span.grow {}
                    button #theme type="button" title="Switch light/dark" aria-label="Switch light/dark theme" { "◐ Theme" }
                    form.inline method="post" action="/ui/logout" { button type="submit" { "Sign out" } }
                }
                @match live {
                    Some(events) => main #main sse-connect=(events) { (body) }
                    None => main #main { (body) }
                }
            }
        }
    }
}

/// A page from raw HTML (sign-in and SSO pages); `refresh` is unused and
/// kept for the SSO flow's signature.
pub(crate) fn page(title: &str, body: &str, _refresh: bool) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                header.top { a.brand href="/ui" { "kargo" } span.grow {}
                    button #theme type="button" aria-label="Switch light/dark theme" { "◐ Theme" } }
                main.narrow { h1 { (title) } (PreEscaped(body)) }
            }
        }
    }
    .into_string()
}

/// The stream of the page at `page` (path and query) rendered from the
/// store as of resourceVersion `rv`.
pub(crate) fn events_url(page: &str, rv: u64) -> String {
    format!("/ui/events?page={}&rv={rv}", urlencode(page))
}

/// Percent-encodes `s` for a query value.
pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A short form of an RFC 3339 time: "3m ago", "2h ago", "5d ago".
pub(crate) fn ago(ts: &str, now: jiff::Timestamp) -> String {
    let Ok(t) = ts.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let s = (now.as_second() - t.as_second()).max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// The time between two RFC 3339 instants (`end` empty: until `now`).
pub(crate) fn duration(start: &str, end: &str, now: jiff::Timestamp) -> String {
    let Ok(a) = start.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let b = end.parse::<jiff::Timestamp>().unwrap_or(now);
    let s = (b.as_second() - a.as_second()).max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    }
}

/// A value as indented YAML for a `<pre>` block.
pub(crate) fn yaml(v: &serde_json::Value) -> String {
    yaml_serde::to_string(v).unwrap_or_else(|_| v.to_string())
}

/// A flash line after an action: what happened, or why it was refused.
pub(crate) fn flash(msg: Option<&str>, err: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = msg { p.flash.ok role="status" { (badge_as(Tone::Ok, "Done")) " " (m) } }
        @if let Some(e) = err { p.flash.bad role="alert" { (badge_as(Tone::Failed, "Refused")) " " (e) } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_always_pairs_its_icon_with_the_word() {
        let b = badge("Failed").into_string();
        assert!(
            b.contains("st-bad") && b.contains("✖") && b.contains("Failed"),
            "{b}"
        );
        let r = badge("Running").into_string();
        assert!(r.contains("st-run") && r.contains("Running"), "{r}");
        assert!(badge("").into_string().contains("Unknown"));
    }

    #[test]
    fn text_is_escaped() {
        let b = badge("<script>").into_string();
        assert!(
            b.contains("&lt;script&gt;") && !b.contains("<script>"),
            "{b}"
        );
    }

    #[test]
    fn times_read_as_a_person_would() {
        let now: jiff::Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(ago("2026-01-01T00:59:30Z", now), "30s ago");
        assert_eq!(ago("2026-01-01T00:00:00Z", now), "1h ago");
        assert_eq!(
            duration("2026-01-01T00:58:00Z", "2026-01-01T00:59:05Z", now),
            "1m5s"
        );
    }
}
