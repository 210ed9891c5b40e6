//! Window evaluation with an injected clock: upstream's examples
//! (`FREQ=DAILY`, `TZID=America/New_York:20260101T090000`), the issue's
//! Berlin office hours with a holiday freeze, daylight-saving switches on
//! both sides of the Atlantic, and overlapping Allow and Deny windows.

use super::*;
use crate::project::StageSelector;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn window(
    name: &str,
    kind: PromotionWindowKind,
    rrule: &str,
    start: &str,
    end: &str,
) -> PromotionWindow {
    PromotionWindow {
        name: name.into(),
        kind,
        rrule: rrule.into(),
        dtstart: start.into(),
        dtend: end.into(),
        ..Default::default()
    }
}

/// Upstream's example: daily from 09:00 New York, here until 17:00.
fn new_york_days() -> PromotionWindow {
    window(
        "business-hours",
        PromotionWindowKind::Allow,
        "FREQ=DAILY",
        "TZID=America/New_York:20260101T090000",
        "TZID=America/New_York:20260101T170000",
    )
}

/// The issue's prod-us: Monday to Thursday 09:00-16:00 Berlin.
fn berlin_weekdays() -> PromotionWindow {
    window(
        "office-hours",
        PromotionWindowKind::Allow,
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH",
        "TZID=Europe/Berlin:20260105T090000",
        "TZID=Europe/Berlin:20260105T160000",
    )
}

/// ... with a deny window over the holidays.
fn holidays() -> PromotionWindow {
    window(
        "holidays",
        PromotionWindowKind::Deny,
        "",
        "TZID=Europe/Berlin:20261221T000000",
        "TZID=Europe/Berlin:20270104T000000",
    )
}

fn eval(ws: &[PromotionWindow], now: &str) -> PromotionWindowStatus {
    let list: Vec<Applicable<'_>> = ws.iter().map(|w| (w, Scope::Project)).collect();
    evaluate(&list, at(now)).expect("windows apply")
}

#[test]
fn upstream_daily_example_opens_and_closes_in_new_york_time() {
    let ws = [new_york_days()];
    // 10:00 EST.
    let s = eval(&ws, "2026-01-05T15:00:00Z");
    assert!(!s.closed, "{s:?}");
    assert_eq!(s.next_close.as_deref(), Some("2026-01-05T22:00:00Z"));
    assert_eq!(
        s.next_close_reason,
        r#"outside every Allow window ("business-hours")"#
    );
    // 18:00 EST: closed until 09:00 the next morning.
    let s = eval(&ws, "2026-01-05T23:00:00Z");
    assert!(s.closed);
    assert_eq!(s.next_open.as_deref(), Some("2026-01-06T14:00:00Z"));
    assert_eq!(s.reason, r#"outside every Allow window ("business-hours")"#);
}

#[test]
fn a_dst_switch_keeps_local_opening_hours() {
    let ws = [new_york_days()];
    // Saturday 7 March 2026, 18:00 EST; clocks go forward on Sunday 8 March
    // at 02:00, so 09:00 on Sunday is 13:00 UTC, not 14:00.
    let s = eval(&ws, "2026-03-07T23:00:00Z");
    assert_eq!(s.next_open.as_deref(), Some("2026-03-08T13:00:00Z"));
    // 09:30 EDT on Monday is open; a UTC-fixed rule would still be closed.
    assert!(!eval(&ws, "2026-03-09T13:30:00Z").closed);
    assert_eq!(
        eval(&ws, "2026-03-09T13:30:00Z").next_close.as_deref(),
        Some("2026-03-09T21:00:00Z")
    );
    // Europe switches on 29 March: Thursday 26 opens at 08:00 UTC, Monday
    // 30 at 07:00 UTC.
    let ws = [berlin_weekdays()];
    assert!(!eval(&ws, "2026-03-26T08:00:00Z").closed);
    assert!(eval(&ws, "2026-03-26T07:30:00Z").closed);
    let friday = eval(&ws, "2026-03-27T10:00:00Z");
    assert!(friday.closed);
    assert_eq!(friday.next_open.as_deref(), Some("2026-03-30T07:00:00Z"));
    assert!(!eval(&ws, "2026-03-30T07:00:00Z").closed);
}

#[test]
fn deny_overrides_an_active_allow_and_the_next_opening_skips_it() {
    let ws = [berlin_weekdays(), holidays()];
    // Tuesday 22 December, 10:00 Berlin: inside office hours, inside the freeze.
    let s = eval(&ws, "2026-12-22T09:00:00Z");
    assert!(s.closed);
    assert_eq!(
        s.reason,
        r#"Deny window "holidays" is active until 2027-01-03T23:00:00Z"#
    );
    // The first office hours after the freeze: Monday 4 January 2027, 09:00 CET.
    assert_eq!(s.next_open.as_deref(), Some("2027-01-04T08:00:00Z"));
    // Friday 18 December: closed (no office hours), and the Monday after is frozen.
    let s = eval(&ws, "2026-12-18T10:00:00Z");
    assert!(s.closed);
    assert_eq!(s.next_open.as_deref(), Some("2027-01-04T08:00:00Z"));
    assert_eq!(
        closed_message("prod-us", &s),
        r#"promotion windows close Stage "prod-us" to promotions: outside every Allow window ("office-hours"); it next opens at 2027-01-04T08:00:00Z"#
    );
}

#[test]
fn an_open_schedule_names_its_next_closing() {
    let freeze = window(
        "release-freeze",
        PromotionWindowKind::Deny,
        "",
        "TZID=Europe/Berlin:20261216T120000",
        "TZID=Europe/Berlin:20261216T130000",
    );
    let ws = [berlin_weekdays(), holidays(), freeze];
    let s = eval(&ws, "2026-12-16T10:00:00Z");
    assert!(!s.closed);
    assert_eq!(s.next_close.as_deref(), Some("2026-12-16T11:00:00Z"));
    assert_eq!(
        s.next_close_reason,
        r#"Deny window "release-freeze" is active until 2026-12-16T12:00:00Z"#
    );
    // After the freeze, office hours resume until 16:00 Berlin.
    let s = eval(&ws, "2026-12-16T12:00:00Z");
    assert!(!s.closed);
    assert_eq!(s.next_close.as_deref(), Some("2026-12-16T15:00:00Z"));
}

#[test]
fn deny_only_schedules_are_open_between_freezes() {
    let fridays = window(
        "no-friday-deploys",
        PromotionWindowKind::Deny,
        "RRULE:FREQ=WEEKLY;BYDAY=FR",
        "TZID=Europe/Berlin:20260102T000000",
        "TZID=Europe/Berlin:20260103T000000",
    );
    let ws = [fridays];
    let s = eval(&ws, "2026-01-07T12:00:00Z");
    assert!(!s.closed);
    assert_eq!(s.next_close.as_deref(), Some("2026-01-08T23:00:00Z"));
    let s = eval(&ws, "2026-01-09T12:00:00Z");
    assert!(s.closed);
    assert_eq!(s.next_open.as_deref(), Some("2026-01-09T23:00:00Z"));
}

#[test]
fn an_elapsed_one_shot_allow_window_closes_with_no_known_opening() {
    let ws = [window(
        "once",
        PromotionWindowKind::Allow,
        "",
        "20260101T000000Z",
        "20260101T010000Z",
    )];
    let s = eval(&ws, "2026-01-01T00:30:00Z");
    assert!(!s.closed);
    let s = eval(&ws, "2026-02-01T00:00:00Z");
    assert!(s.closed);
    assert_eq!(s.next_open, None);
    assert!(closed_message("s", &s).ends_with("no opening is scheduled"));
}

#[test]
fn an_unreadable_window_closes_the_schedule() {
    let ws = [window(
        "typo",
        PromotionWindowKind::Deny,
        "",
        "TZID=Mars/Olympus:20260101T000000",
        "20260102T000000Z",
    )];
    let s = eval(&ws, "2026-01-01T12:00:00Z");
    assert!(s.closed);
    assert!(
        s.reason.contains(r#"unknown time zone "Mars/Olympus""#),
        "{}",
        s.reason
    );
    assert_eq!(s.next_open, None);
    assert!(check(&ws[0], Scope::Project).is_err());
    let bad_rule = window(
        "r",
        PromotionWindowKind::Allow,
        "FREQ=SOMETIMES",
        "20260101T000000Z",
        "20260101T010000Z",
    );
    assert!(
        check(&bad_rule, Scope::Cluster)
            .unwrap_err()
            .contains("rrule")
    );
    let backwards = window(
        "b",
        PromotionWindowKind::Allow,
        "",
        "20260102T000000Z",
        "20260101T000000Z",
    );
    assert!(
        check(&backwards, Scope::Cluster)
            .unwrap_err()
            .contains("not after")
    );
}

#[test]
fn no_window_means_no_status() {
    assert_eq!(evaluate(&[], at("2026-01-01T00:00:00Z")), None);
}

#[test]
fn dates_read_as_ical_writes_them() {
    assert_eq!(
        parse_datetime("TZID=America/New_York:20260101T090000")
            .unwrap()
            .with_timezone(&Utc),
        at("2026-01-01T14:00:00Z")
    );
    assert_eq!(
        parse_datetime("20260101T090000Z")
            .unwrap()
            .with_timezone(&Utc),
        at("2026-01-01T09:00:00Z")
    );
    // 02:30 on 29 March does not exist in Berlin: read as 03:30 CEST.
    assert_eq!(
        parse_datetime("TZID=Europe/Berlin:20260329T023000")
            .unwrap()
            .with_timezone(&Utc),
        at("2026-03-29T01:30:00Z")
    );
    assert!(parse_datetime("2026-01-01").is_err());
}

#[test]
fn cluster_windows_select_projects_and_project_windows_may_not() {
    let mut cluster = ClusterConfigSpec::default();
    let mut w = holidays();
    w.project_selector = Some(StageSelector {
        name: "glob:shop-*".into(),
        ..Default::default()
    });
    w.stage_selector = Some(StageSelector {
        name: "prod-us".into(),
        ..Default::default()
    });
    cluster.promotion_windows = vec![w.clone()];
    let project = ProjectConfigSpec {
        promotion_windows: vec![berlin_weekdays()],
        ..Default::default()
    };
    let none = BTreeMap::new();
    let who = |stage, project| Subject {
        stage,
        stage_labels: &none,
        project,
        project_labels: &none,
    };
    let names = |v: Vec<Applicable<'_>>| {
        v.iter()
            .map(|(w, s)| format!("{}:{s:?}", w.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(applicable(
            Some(&project),
            Some(&cluster),
            &who("prod-us", "shop-eu")
        )),
        ["office-hours:Project", "holidays:Cluster"]
    );
    assert_eq!(
        names(applicable(
            Some(&project),
            Some(&cluster),
            &who("prod-us", "blog")
        )),
        ["office-hours:Project"]
    );
    assert_eq!(
        names(applicable(None, Some(&cluster), &who("dev", "shop-eu"))),
        Vec::<String>::new()
    );
    assert!(
        check(&w, Scope::Project)
            .unwrap_err()
            .contains("ClusterConfig")
    );
    assert!(check(&w, Scope::Cluster).is_ok());
    let s = evaluate(
        &applicable(None, Some(&cluster), &who("prod-us", "shop-eu")),
        at("2026-12-25T12:00:00Z"),
    )
    .unwrap();
    assert!(
        s.reason.starts_with(r#"cluster Deny window "holidays""#),
        "{}",
        s.reason
    );
}
