//! What bounds a step's work from outside: the Promotion's abort flag and
//! the server's limits on one child process (`--git-timeout`) and one
//! network call (`--http-timeout`).
//!
//! Child processes run in a process group of their own. When the deadline
//! passes or the Promotion is aborted, the whole group is killed (git and
//! the remote helpers or `ssh` it started), so neither a remote that
//! accepts a connection and never answers nor an abort leaves a step
//! running. A watchdog thread per process checks every
//! [`POLL`]; the process itself is waited for without polling.

use std::future::Future;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Default limit on one git process or one network call: five minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How often a watchdog looks at the abort flag and the clock.
pub const POLL: Duration = Duration::from_millis(20);

/// Limits a Promotion's steps run under.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Set to abort the Promotion: running processes are killed, network
    /// calls dropped, and the runner stops before the next step.
    pub cancel: Arc<AtomicBool>,
    /// Longest one git process may run.
    pub git_timeout: Duration,
    /// Longest one network call without a timeout of its own may take.
    pub http_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cancel: Arc::new(AtomicBool::new(false)),
            git_timeout: DEFAULT_TIMEOUT,
            http_timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why work was stopped from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Interrupted {
    /// The deadline passed.
    #[error("timed out after {}", kargo_api::validate::format_duration(*.0))]
    TimedOut(Duration),
    /// The Promotion was aborted.
    #[error("aborted")]
    Aborted,
}

/// A child process that did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// It could not be started, or its pipes failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// It was killed: deadline or abort.
    #[error("{0}")]
    Interrupted(Interrupted),
}

impl Limits {
    /// Whether the Promotion was aborted.
    pub fn aborted(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Runs `cmd` to its end and collects its output, feeding it `stdin`
    /// if given; kills its process group after `timeout` or on abort.
    pub fn output(
        &self,
        cmd: &mut Command,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, ChildError> {
        if self.aborted() {
            return Err(ChildError::Interrupted(Interrupted::Aborted));
        }
        cmd.process_group(0)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let group = child.id();
        let (done, finished) = mpsc::channel::<()>();
        let cancel = self.cancel.clone();
        let deadline = Instant::now() + timeout;
        let watchdog = std::thread::spawn(move || {
            loop {
                match finished.recv_timeout(POLL) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return None,
                }
                let why = if cancel.load(Ordering::SeqCst) {
                    Interrupted::Aborted
                } else if Instant::now() >= deadline {
                    Interrupted::TimedOut(timeout)
                } else {
                    continue;
                };
                kill_group(group);
                return Some(why);
            }
        });
        let fed = match (stdin, child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => pipe.write_all(bytes),
            _ => Ok(()),
        };
        let out = child.wait_with_output();
        drop(done);
        if let Ok(Some(why)) = watchdog.join() {
            return Err(ChildError::Interrupted(why));
        }
        fed?;
        Ok(out?)
    }

    /// Drives `fut` to its end on the current runtime (or a private one)
    /// from a blocking thread; drops it after `timeout` or on abort.
    pub fn block_on<F: Future>(&self, fut: F, timeout: Duration) -> Result<F::Output, Interrupted> {
        let cancel = self.cancel.clone();
        let bounded = async move {
            let aborted = async {
                while !cancel.load(Ordering::SeqCst) {
                    tokio::time::sleep(POLL).await;
                }
            };
            tokio::select! {
                r = tokio::time::timeout(timeout, fut) => r.map_err(|_| Interrupted::TimedOut(timeout)),
                () = aborted => Err(Interrupted::Aborted),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => h.block_on(bounded),
            Err(_) => match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(bounded),
                // Without a runtime nothing can run; treat as timed out.
                Err(_) => Err(Interrupted::TimedOut(Duration::ZERO)),
            },
        }
    }
}

/// Kills every process of the group `leader` started.
fn kill_group(leader: u32) {
    use rustix::process::{Pid, Signal, kill_process_group};
    if let Some(pid) = i32::try_from(leader).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn output_is_collected_and_stdin_fed() {
        let limits = Limits::default();
        let out = limits
            .output(
                &mut sh("cat; echo err >&2"),
                Some(b"hello"),
                DEFAULT_TIMEOUT,
            )
            .unwrap();
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
        assert!(out.status.success());
    }

    #[test]
    fn the_deadline_kills_the_whole_group() {
        let limits = Limits::default();
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        // A grandchild holds the pipes open; it must die with the group.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let e = limits
            .output(&mut sh(&script), None, Duration::from_millis(300))
            .unwrap_err();
        assert!(
            matches!(e, ChildError::Interrupted(Interrupted::TimedOut(_))),
            "{e}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(e.to_string(), "timed out after 300ms");
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "a process of the group outlived the kill");
    }

    #[test]
    fn abort_kills_at_once() {
        let limits = Limits::default();
        let flag = limits.cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, Ordering::SeqCst);
        });
        let started = Instant::now();
        let e = limits
            .output(&mut sh("sleep 30"), None, DEFAULT_TIMEOUT)
            .unwrap_err();
        assert!(matches!(e, ChildError::Interrupted(Interrupted::Aborted)));
        assert!(started.elapsed() < Duration::from_secs(1));
        // Once aborted, nothing new starts.
        assert!(
            limits
                .output(&mut sh("true"), None, DEFAULT_TIMEOUT)
                .is_err()
        );
    }

    #[test]
    fn futures_are_bounded_too() {
        let limits = Limits::default();
        let never = std::future::pending::<()>();
        assert_eq!(
            limits.block_on(never, Duration::from_millis(100)),
            Err(Interrupted::TimedOut(Duration::from_millis(100)))
        );
        assert_eq!(limits.block_on(async { 7 }, DEFAULT_TIMEOUT), Ok(7));
        limits.cancel.store(true, Ordering::SeqCst);
        assert_eq!(
            limits.block_on(std::future::pending::<()>(), DEFAULT_TIMEOUT),
            Err(Interrupted::Aborted)
        );
    }
}
