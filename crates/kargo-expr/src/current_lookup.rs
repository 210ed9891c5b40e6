//! The [`Lookup`] of the evaluation running on this thread. Kargo's
//! functions live in one function table shared by every evaluation (see
//! [`crate::functions`]), so the ones that read Freight, ConfigMaps,
//! Secrets, metadata or step statuses cannot capture a lookup: the
//! evaluator lends its lookup here for the length of one expression
//! ([`with_lookup`]) and those functions borrow it back ([`lookup`]).
//!
//! The lookup is borrowed, not `'static`, so the thread-local holds it as a
//! pointer whose lifetime is erased; the two functions below are the only
//! code that touches it, and they keep it valid: it is set only while the
//! borrow it came from is alive (restored on return and on unwind), and it
//! is lent out only to a closure that cannot keep it.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::lookup::{Lookup, NoLookup};

/// A lookup with its lifetime erased.
type Erased = NonNull<dyn Lookup + 'static>;

thread_local! {
    /// The lookup lent by the innermost [`with_lookup`] running on this thread.
    static CURRENT: Cell<Option<Erased>> = const { Cell::new(None) };
}

/// Puts the previous lookup back when [`with_lookup`] ends, however it ends.
struct Restore(Option<Erased>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.set(self.0);
    }
}

/// Runs `f` with `lookup` as this thread's lookup; nested calls stack.
pub(crate) fn with_lookup<R>(lookup: &dyn Lookup, f: impl FnOnce() -> R) -> R {
    let borrowed: NonNull<dyn Lookup + '_> = NonNull::from(lookup);
    // SAFETY: only the lifetime changes (same fat pointer). The pointer is
    // reachable through `CURRENT` only until `_restore` drops at the end of
    // this call (on return or unwind), and `lookup` is borrowed for all of
    // it, so it is never read after the borrow ends.
    #[allow(unsafe_code)]
    let erased: Erased = unsafe { std::mem::transmute(borrowed) };
    let _restore = Restore(CURRENT.replace(Some(erased)));
    f()
}

/// Calls `f` with this thread's lookup ([`NoLookup`] outside any
/// [`with_lookup`]). `f` cannot keep the reference: its result may not
/// borrow from it.
pub(crate) fn lookup<R>(f: impl FnOnce(&dyn Lookup) -> R) -> R {
    match CURRENT.get() {
        // SAFETY: set by `with_lookup`, whose borrow is alive while the
        // pointer is in `CURRENT` (see there); shared access only, and
        // `Lookup` methods take `&self`.
        #[allow(unsafe_code)]
        Some(erased) => f(unsafe { erased.as_ref() }),
        None => f(&NoLookup),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::StaticLookup;

    fn current() -> String {
        lookup(|l| l.current_step_alias().to_string())
    }

    fn named(step: &str) -> StaticLookup {
        StaticLookup {
            current_step: step.into(),
            ..Default::default()
        }
    }

    #[test]
    fn lent_for_the_call_nested_and_restored() {
        assert_eq!(current(), "");
        let (outer, inner) = (named("outer"), named("inner"));
        let seen = with_lookup(&outer, || {
            let nested = with_lookup(&inner, current);
            (current(), nested)
        });
        assert_eq!(seen, ("outer".to_string(), "inner".to_string()));
        assert_eq!(current(), "");
    }

    #[test]
    fn restored_after_a_panic() {
        let outer = named("outer");
        let caught = std::panic::catch_unwind(|| with_lookup(&outer, || panic!("boom")));
        assert!(caught.is_err());
        assert_eq!(current(), "");
    }

    #[test]
    fn other_threads_see_no_lookup() {
        let outer = named("outer");
        let other = with_lookup(&outer, || std::thread::scope(|s| s.spawn(current).join()));
        assert_eq!(other.ok(), Some(String::new()));
    }
}
