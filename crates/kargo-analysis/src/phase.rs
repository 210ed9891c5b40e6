//! The phases of runs, metrics and measurements, with Rollouts' names and
//! its "worse than" order.

use std::fmt;

/// `Pending`, `Running`, `Successful`, `Failed`, `Error`, `Inconclusive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Not started.
    Pending,
    /// In progress.
    Running,
    /// Completed well.
    Successful,
    /// Completed badly.
    Failed,
    /// Could not be measured.
    Error,
    /// Neither success nor failure.
    Inconclusive,
}

impl Phase {
    /// The name written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Successful => "Successful",
            Phase::Failed => "Failed",
            Phase::Error => "Error",
            Phase::Inconclusive => "Inconclusive",
        }
    }

    /// Parses a status phase; empty or unknown text is `None`.
    pub fn parse(s: &str) -> Option<Phase> {
        Some(match s {
            "Pending" => Phase::Pending,
            "Running" => Phase::Running,
            "Successful" => Phase::Successful,
            "Failed" => Phase::Failed,
            "Error" => Phase::Error,
            "Inconclusive" => Phase::Inconclusive,
            _ => return None,
        })
    }

    /// Whether the phase is final.
    pub fn completed(self) -> bool {
        matches!(
            self,
            Phase::Successful | Phase::Failed | Phase::Error | Phase::Inconclusive
        )
    }

    /// Rollouts' `analysisStatusOrder`: Successful < Running < Pending <
    /// Inconclusive < Error < Failed.
    fn severity(self) -> u8 {
        match self {
            Phase::Successful => 0,
            Phase::Running => 1,
            Phase::Pending => 2,
            Phase::Inconclusive => 3,
            Phase::Error => 4,
            Phase::Failed => 5,
        }
    }

    /// Whether `self` is worse than `other`.
    pub fn is_worse_than(self, other: Phase) -> bool {
        self.severity() > other.severity()
    }
}

/// Whether a status phase string is a completed phase.
pub fn completed(s: &str) -> bool {
    Phase::parse(s).is_some_and(Phase::completed)
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
