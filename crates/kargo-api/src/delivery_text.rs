//! The delivery statistics as people read and write them: a window as
//! `kargo stats --window` takes it (whole days `7d`, or a Go duration
//! `36h`), durations as `2h30m`, and a Stage's figures as the cells of
//! `kargo stats`'s table, which the web UI shows too.

use crate::delivery_stats::StageStats;
use std::time::Duration;

/// The window used when none is given.
pub const DEFAULT_WINDOW: &str = "7d";

/// Reads a window: whole days (`7d`) or a Go duration (`36h`, `90m`).
pub fn parse_window(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.strip_suffix('d').map(str::parse::<u64>) {
        Some(Ok(days)) => Duration::from_secs(days.saturating_mul(86_400)),
        _ => {
            let d: kube::core::Duration = s
                .parse()
                .map_err(|e| format!("window {s:?}: {e} (e.g. 7d, 36h)"))?;
            if d.is_negative() {
                return Err(format!("window {s:?}: must be longer than zero"));
            }
            d.into()
        }
    };
    if d.is_zero() {
        return Err(format!("window {s:?}: must be longer than zero"));
    }
    Ok(d)
}

/// A duration in seconds as `1d2h`, `5h30m`, `42s`.
pub fn human(seconds: f64) -> String {
    let s = seconds.round().max(0.0) as u64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let parts = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")];
    let out: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if out.is_empty() { "0s".into() } else { out }
}

/// The table's column headings.
pub const HEADERS: [&str; 8] = [
    "STAGE",
    "PROMOTIONS",
    "DEPLOYMENTS",
    "PER DAY",
    "LEAD TIME",
    "FROM COMMIT",
    "CHANGE FAILURE RATE",
    "TIME TO RESTORE",
];

/// A Stage's row: `-` where there is nothing to measure, the failure rate
/// with its count (`33% (1/3)`), incidents still open after the time to
/// restore (`3h (1 open)`).
pub fn cells(s: &StageStats) -> [String; 8] {
    let opt = |v: Option<f64>| v.map(human).unwrap_or_else(|| "-".into());
    [
        s.stage.clone(),
        s.promotions.to_string(),
        s.deployments.to_string(),
        format!("{:.2}", s.deployments_per_day),
        opt(s.lead_time_seconds),
        opt(s.commit_lead_time_seconds),
        s.change_failure_rate
            .map(|r| format!("{:.0}% ({}/{})", r * 100.0, s.failures, s.promotions))
            .unwrap_or_else(|| "-".into()),
        match (s.time_to_restore_seconds, s.unrestored) {
            (t, 0) => opt(t),
            (t, n) => format!("{} ({n} open)", opt(t)),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_durations_read_and_print() {
        assert_eq!(parse_window("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_window("36h").unwrap(), Duration::from_secs(129_600));
        assert!(parse_window("0d").is_err());
        assert!(parse_window("soon").is_err());
        assert_eq!(human(9_000.0), "2h30m");
        assert_eq!(human(183_600.0), "2d3h");
        assert_eq!(human(0.0), "0s");
    }

    #[test]
    fn a_row_reads_as_the_table_prints_it() {
        let s = StageStats {
            stage: "prod".into(),
            promotions: 3,
            deployments: 2,
            deployments_per_day: 2.0 / 7.0,
            lead_time_seconds: Some(10_800.0),
            failures: 1,
            change_failure_rate: Some(1.0 / 3.0),
            time_to_restore_seconds: Some(10_800.0),
            restored: 1,
            unrestored: 1,
            ..Default::default()
        };
        assert_eq!(
            cells(&s),
            [
                "prod",
                "3",
                "2",
                "0.29",
                "3h",
                "-",
                "33% (1/3)",
                "3h (1 open)"
            ]
        );
    }
}
