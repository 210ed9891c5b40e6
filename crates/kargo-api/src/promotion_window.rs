//! Promotion windows (Kargo's `PromotionWindow`): which windows gate a
//! Stage, and whether its schedule is open at a given instant, with the
//! next opening or closing. The clock is the caller's (`now`), so the
//! API server's admission, the Stage controller and the tests all ask the
//! same pure question.
//!
//! A window is one occurrence `[dtstart, dtend)`, or with `rrule` (RFC
//! 5545, through the `rrule` crate) one occurrence per recurrence,
//! each lasting `dtend - dtstart`. `dtstart`/`dtend` are iCal date-times,
//! `TZID=<IANA zone>:YYYYMMDDTHHMMSS`, `YYYYMMDDTHHMMSSZ`, or floating
//! (read as UTC); recurrences are computed in the zone, so "09:00 Berlin"
//! stays 09:00 across a daylight-saving switch. The schedule is closed
//! while any matching Deny window is active, or while Allow windows match
//! and none of them is active. A window that cannot be read closes the
//! schedule (a mistyped freeze must not let promotions through);
//! validation refuses such windows when they are written.

use crate::project::{ClusterConfigSpec, ProjectConfigSpec, PromotionWindow, PromotionWindowKind};
use crate::stage::PromotionWindowStatus;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use std::collections::BTreeMap;

/// How far ahead the next opening or closing is looked for.
const HORIZON: TimeDelta = TimeDelta::days(400);

/// At most this many occurrences of one window are looked at.
const MAX_OCCURRENCES: usize = 20_000;

/// Where a window is declared (named in reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `ProjectConfig.spec.promotionWindows`.
    Project,
    /// `ClusterConfig.spec.promotionWindows`.
    Cluster,
}

/// A window and where it was declared.
pub type Applicable<'a> = (&'a PromotionWindow, Scope);

/// Who a question is about: the Stage and its Project.
pub struct Subject<'a> {
    /// Stage name.
    pub stage: &'a str,
    /// Stage labels.
    pub stage_labels: &'a BTreeMap<String, String>,
    /// Project name.
    pub project: &'a str,
    /// Project labels.
    pub project_labels: &'a BTreeMap<String, String>,
}

/// The windows that gate the Stage: the ProjectConfig's whose
/// `stageSelector` matches it, then the ClusterConfig's whose
/// `projectSelector` and `stageSelector` match.
pub fn applicable<'a>(
    project: Option<&'a ProjectConfigSpec>,
    cluster: Option<&'a ClusterConfigSpec>,
    who: &Subject<'_>,
) -> Vec<Applicable<'a>> {
    let stage_ok = |w: &PromotionWindow| {
        w.stage_selector
            .as_ref()
            .is_none_or(|s| s.matches(who.stage, who.stage_labels))
    };
    let mut out: Vec<Applicable<'a>> = project
        .into_iter()
        .flat_map(|p| &p.promotion_windows)
        .filter(|w| stage_ok(w))
        .map(|w| (w, Scope::Project))
        .collect();
    out.extend(
        cluster
            .into_iter()
            .flat_map(|c| &c.promotion_windows)
            .filter(|w| {
                stage_ok(w)
                    && w.project_selector
                        .as_ref()
                        .is_none_or(|s| s.matches(who.project, who.project_labels))
            })
            .map(|w| (w, Scope::Cluster)),
    );
    out
}

/// An iCal date-time: `TZID=Europe/Berlin:20260101T090000`,
/// `20260101T090000Z` or floating `20260101T090000` (UTC). A local time
/// that a daylight-saving switch skips is moved past the gap; one it
/// repeats is read as the first.
pub fn parse_datetime(s: &str) -> Result<DateTime<chrono_tz::Tz>, String> {
    let (tz, local) = match s.strip_prefix("TZID=") {
        Some(rest) => {
            let (zone, local) = rest
                .split_once(':')
                .ok_or_else(|| format!("{s:?} has no ':' after its TZID"))?;
            let tz: chrono_tz::Tz = zone
                .parse()
                .map_err(|_| format!("unknown time zone {zone:?} in {s:?}"))?;
            (tz, local)
        }
        None => (chrono_tz::UTC, s.strip_suffix('Z').unwrap_or(s)),
    };
    let naive = NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S")
        .map_err(|_| format!("{s:?} is not an iCal date-time such as 20260101T090000"))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + TimeDelta::hours(1)))
                .earliest()
        })
        .ok_or_else(|| format!("{s:?} does not exist in {}", tz.name()))
}

/// A window read and checked.
struct Parsed {
    name: String,
    kind: PromotionWindowKind,
    scope: Scope,
    start: DateTime<chrono_tz::Tz>,
    length: TimeDelta,
    rule: Option<rrule::RRuleSet>,
}

fn parse(w: &PromotionWindow, scope: Scope) -> Result<Parsed, String> {
    if w.dtstart.is_empty() || w.dtend.is_empty() {
        return Err("a window needs both dtstart and dtend".into());
    }
    let start = parse_datetime(&w.dtstart)?;
    let end = parse_datetime(&w.dtend)?;
    let length = end.signed_duration_since(start);
    if length <= TimeDelta::zero() {
        return Err(format!(
            "dtend {:?} is not after dtstart {:?}",
            w.dtend, w.dtstart
        ));
    }
    let rule = if w.rrule.is_empty() {
        None
    } else {
        let text = w.rrule.strip_prefix("RRULE:").unwrap_or(&w.rrule);
        let unvalidated: rrule::RRule<rrule::Unvalidated> = text
            .parse()
            .map_err(|e| format!("rrule {:?}: {e}", w.rrule))?;
        let dt = start.with_timezone(&rrule::Tz::Tz(start.timezone()));
        Some(
            unvalidated
                .build(dt)
                .map_err(|e| format!("rrule {:?}: {e}", w.rrule))?,
        )
    };
    Ok(Parsed {
        name: w.name.clone(),
        kind: w.kind,
        scope,
        start,
        length,
        rule,
    })
}

/// Checks one window as written (the ProjectConfig's and ClusterConfig's
/// validation): readable dates and rule, and `projectSelector` only on
/// the ClusterConfig.
pub fn check(w: &PromotionWindow, scope: Scope) -> Result<(), String> {
    if scope == Scope::Project && w.project_selector.is_some() {
        return Err("projectSelector is only allowed on ClusterConfig windows".into());
    }
    parse(w, scope).map(|_| ())
}

impl Parsed {
    /// The occurrences `[start, end)` that end after `from` and start
    /// before `to`, in order.
    fn occurrences(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
        let one = |s: DateTime<Utc>| (s, s + self.length);
        let Some(rule) = &self.rule else {
            let i = one(self.start.with_timezone(&Utc));
            return if i.1 > from && i.0 < to {
                vec![i]
            } else {
                vec![]
            };
        };
        rule.into_iter()
            .map(|s| one(s.with_timezone(&Utc)))
            .take_while(|(s, _)| *s < to)
            .filter(|(_, e)| *e > from)
            .take(MAX_OCCURRENCES)
            .collect()
    }

    fn label(&self) -> String {
        let kind = match self.kind {
            PromotionWindowKind::Allow => "Allow",
            PromotionWindowKind::Deny => "Deny",
        };
        let scope = match self.scope {
            Scope::Project => "",
            Scope::Cluster => "cluster ",
        };
        format!("{scope}{kind} window {:?}", self.name)
    }
}

type Interval = (DateTime<Utc>, DateTime<Utc>);

/// One window's occurrences near `now`, or why it cannot be read.
struct Timeline {
    window: Result<Parsed, (String, String)>,
    intervals: Vec<Interval>,
}

impl Timeline {
    fn active(&self, t: DateTime<Utc>) -> Option<&Interval> {
        self.intervals.iter().find(|(s, e)| *s <= t && t < *e)
    }
}

/// Whether the schedule is closed at `t`, and why.
fn closed_at(lines: &[Timeline], t: DateTime<Utc>) -> Option<String> {
    for l in lines {
        match &l.window {
            Err((name, why)) => return Some(format!("window {name:?} cannot be read: {why}")),
            Ok(w) if w.kind == PromotionWindowKind::Deny => {
                if let Some((_, end)) = l.active(t) {
                    return Some(format!("{} is active until {}", w.label(), stamp(*end)));
                }
            }
            Ok(_) => {}
        }
    }
    let allows: Vec<&Timeline> = lines
        .iter()
        .filter(|l| matches!(&l.window, Ok(w) if w.kind == PromotionWindowKind::Allow))
        .collect();
    if allows.is_empty() || allows.iter().any(|l| l.active(t).is_some()) {
        return None;
    }
    let names: Vec<String> = allows
        .iter()
        .filter_map(|l| l.window.as_ref().ok())
        .map(|w| format!("{:?}", w.name))
        .collect();
    Some(format!("outside every Allow window ({})", names.join(", ")))
}

/// The instant `ms` milliseconds after the Unix epoch (clamped).
pub fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Kubernetes' `metav1.Time` text: RFC 3339 in UTC, whole seconds.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The schedule of `windows` at `now`: None when no window gates the
/// Stage (Kargo leaves `promotionWindowStatus` absent then).
pub fn evaluate(windows: &[Applicable<'_>], now: DateTime<Utc>) -> Option<PromotionWindowStatus> {
    if windows.is_empty() {
        return None;
    }
    let to = now + HORIZON;
    let lines: Vec<Timeline> = windows
        .iter()
        .map(|(w, scope)| match parse(w, *scope) {
            Ok(p) => Timeline {
                intervals: p.occurrences(now, to),
                window: Ok(p),
            },
            Err(why) => Timeline {
                window: Err((w.name.clone(), why)),
                intervals: vec![],
            },
        })
        .collect();
    let mut edges: Vec<DateTime<Utc>> = lines
        .iter()
        .flat_map(|l| l.intervals.iter().flat_map(|(s, e)| [*s, *e]))
        .filter(|t| *t > now && *t < to)
        .collect();
    edges.sort_unstable();
    edges.dedup();
    let mut status = PromotionWindowStatus::default();
    match closed_at(&lines, now) {
        Some(reason) => {
            status.closed = true;
            status.reason = reason;
            status.next_open = edges
                .iter()
                .find(|t| closed_at(&lines, **t).is_none())
                .map(|t| stamp(*t));
        }
        None => {
            if let Some((t, why)) = edges
                .iter()
                .find_map(|t| closed_at(&lines, *t).map(|why| (*t, why)))
            {
                status.next_close = Some(stamp(t));
                status.next_close_reason = why;
            }
        }
    }
    Some(status)
}

/// The instant the status next changes (its nextOpen or nextClose), to
/// re-evaluate then.
pub fn next_change(status: &PromotionWindowStatus) -> Option<DateTime<Utc>> {
    status
        .next_open
        .as_deref()
        .or(status.next_close.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The refusal (or status reason) for a closed schedule: why, and when it
/// next opens.
pub fn closed_message(stage: &str, status: &PromotionWindowStatus) -> String {
    let next = match &status.next_open {
        Some(t) => format!("it next opens at {t}"),
        None => "no opening is scheduled".to_string(),
    };
    format!(
        "promotion windows close Stage {stage:?} to promotions: {}; {next}",
        status.reason
    )
}

#[cfg(test)]
#[path = "promotion_window_tests.rs"]
mod tests;
