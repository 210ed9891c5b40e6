//! Kargo's retry of Application reads that fail because the API server
//! does not (yet) serve `argoproj.io/Application` — incomplete discovery
//! behind a proxy, or Argo CD's CRDs still being installed: up to
//! [`STEPS`] attempts with 1 s × 2ⁿ between them (1+2+4+…+32 ≈ 63 s,
//! inside the steps' 5-minute timeout), as Kargo's
//! `discoveryRetryBackoff` (without its 10 % jitter). Any other error
//! fails at once. The sleeper is given, so tests run the schedule without
//! waiting; the steps' sleeper ends early on the Promotion's abort.

use std::time::Duration;

/// Attempts at most (Kargo's `Steps: 7`).
pub const STEPS: u32 = 7;

/// What the Kubernetes API answers for a resource type it does not serve
/// (a 404 on the collection, unlike a missing object's
/// `applications.argoproj.io "x" not found`).
const NOT_SERVED: &str = "the server could not find the requested resource";

/// Whether `error` says the Application resource is not served.
pub fn is_discovery_error(error: &str) -> bool {
    error.contains(NOT_SERVED)
}

/// The waits between attempts: 1 s, 2 s, 4 s, … ([`STEPS`] − 1 of them).
pub fn schedule() -> impl Iterator<Item = Duration> {
    (0..STEPS - 1).map(|n| Duration::from_secs(1 << n))
}

/// Runs `attempt` until it succeeds, fails otherwise than with a
/// discovery error, or the schedule is spent; `sleep` waits the given
/// time and returns false when the wait was cut short (abort), which ends
/// the retries with the last error.
pub fn retry<T>(
    sleep: &dyn Fn(Duration) -> bool,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let mut waits = schedule();
    loop {
        match attempt() {
            Err(e) if is_discovery_error(&e) => match waits.next() {
                Some(d) if sleep(d) => {}
                _ => return Err(e),
            },
            done => return done,
        }
    }
}

/// A sleeper for steps: waits `d` unless the Promotion is aborted first.
pub fn sleeper(limits: &crate::limits::Limits) -> impl Fn(Duration) -> bool + '_ {
    move |d| {
        // The timer is made inside the runtime `block_on` provides.
        let wait = async move { tokio::time::sleep(d).await };
        let waited = limits.block_on(wait, d + Duration::from_secs(1));
        waited.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    const NOT_SERVED_ERR: &str = "ApiError: the server could not find the requested resource: NotFound (ErrorResponse { status: \"Failure\", message: \"the server could not find the requested resource\", reason: \"NotFound\", code: 404 })";

    #[test]
    fn schedule_is_kargos_backoff() {
        let secs: Vec<u64> = schedule().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32]);
        assert_eq!(secs.iter().sum::<u64>(), 63);
    }

    #[test]
    fn not_served_is_retried_through_the_schedule_then_fails() {
        let slept = RefCell::new(Vec::new());
        let calls = Cell::new(0);
        let r: Result<(), String> = retry(
            &|d| {
                slept.borrow_mut().push(d.as_secs());
                true
            },
            || {
                calls.set(calls.get() + 1);
                Err(NOT_SERVED_ERR.into())
            },
        );
        assert_eq!(r.unwrap_err(), NOT_SERVED_ERR);
        assert_eq!(calls.get(), STEPS);
        assert_eq!(*slept.borrow(), [1, 2, 4, 8, 16, 32]);
    }

    #[test]
    fn recovery_returns_the_value() {
        let calls = Cell::new(0);
        let r = retry(&|_| true, || {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(NOT_SERVED_ERR.to_string())
            } else {
                Ok(7)
            }
        });
        assert_eq!((r, calls.get()), (Ok(7), 3));
    }

    #[test]
    fn other_errors_and_abort_end_at_once() {
        let calls = Cell::new(0);
        let refused =
            "error trying to connect: tcp connect error: Connection refused (os error 111)";
        let r: Result<(), String> = retry(&|_| panic!("no wait"), || {
            calls.set(calls.get() + 1);
            Err(refused.into())
        });
        assert_eq!((r.unwrap_err().as_str(), calls.get()), (refused, 1));
        // A missing object is not a discovery error.
        assert!(!is_discovery_error(
            r#"applications.argoproj.io "x" not found: NotFound"#
        ));
        let calls = Cell::new(0);
        let r: Result<(), String> = retry(&|_| false, || {
            calls.set(calls.get() + 1);
            Err(NOT_SERVED_ERR.into())
        });
        assert!(r.is_err());
        assert_eq!(calls.get(), 1, "an aborted wait ends the retries");
    }

    #[test]
    fn sleeper_ends_on_abort() {
        let limits = crate::limits::Limits::default();
        limits
            .cancel
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let t = std::time::Instant::now();
        assert!(!sleeper(&limits)(Duration::from_secs(30)));
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
