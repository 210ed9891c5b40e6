//! Live progress for `--wait` (`promote`, `refresh`, `verify`): on a
//! terminal a spinner with the elapsed time and the current state on
//! stderr (indicatif), with the step lines printed above it; otherwise
//! plain lines on stdout, each printed once when it changes. Both end
//! with one summary line on stdout; a wait that runs out of time is
//! [`TimedOut`] (exit code 124).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress of one wait.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last: String,
}

impl Progress {
    /// Starts showing progress of `what` (e.g. `promotion dev-01…`).
    pub fn start(what: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
                b.set_style(style);
            }
            b.set_message(what.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Progress {
            bar,
            started: Instant::now(),
            last: String::new(),
        }
    }

    /// The current state (`Running: step 2 git-push`): beside the spinner
    /// on a terminal, else a line when it changed.
    pub fn state(&mut self, text: &str) -> anyhow::Result<()> {
        if text == self.last {
            return Ok(());
        }
        self.last = text.to_string();
        match &self.bar {
            Some(b) => {
                b.set_message(text.to_string());
                Ok(())
            }
            None => outln!("{text}"),
        }
    }

    /// A line that stays (a step that changed), above the spinner.
    pub fn line(&self, text: &str) -> anyhow::Result<()> {
        match &self.bar {
            Some(b) => b.suspend(|| outln!("{text}")),
            None => outln!("{text}"),
        }
    }

    /// Removes the spinner and prints the one-line summary with the elapsed time.
    pub fn finish(self, summary: &str) -> anyhow::Result<()> {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        outln!("{summary} ({})", seconds(self.started.elapsed()))
    }

    /// `Err(TimedOut(what))` once the wait has run longer than `timeout`.
    pub fn deadline(&self, timeout: Duration, what: impl FnOnce() -> String) -> anyhow::Result<()> {
        if self.started.elapsed() > timeout {
            return Err(TimedOut(what()).into());
        }
        Ok(())
    }
}

impl Drop for Progress {
    /// A wait that ends in an error leaves no spinner behind.
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A wait that ran out of time; the command exits with [`EXIT_TIMED_OUT`].
#[derive(Debug)]
pub struct TimedOut(pub String);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Exit code for a wait that timed out (124, as `timeout(1)` exits).
pub const EXIT_TIMED_OUT: i32 = 124;

/// `4.2s`, `1m3s`: how long a wait took.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_reads_short() {
        assert_eq!(seconds(Duration::from_millis(4230)), "4.2s");
        assert_eq!(seconds(Duration::from_secs(63)), "1m3s");
    }
}
