//! The one way the runtime takes a `std::sync::Mutex` (and waits on a
//! `std::sync::Condvar`): poison is ignored.
//!
//! These are the few locks shared with other OS threads: the cross-thread
//! wake queue of a hub, `xchan` channels, the blocking pool's job queue, the
//! monitor's registry, the run-info setup. Every critical section under them
//! is a short push, pop, take or counter update on plain data that a panic
//! cannot leave half-done: no user code, no callback, and no destructor of a
//! user value runs while one is held. A lock can therefore only be poisoned
//! by a panic that happened between two complete updates, and the data it
//! guards is consistent; refusing it would turn one panic into a second,
//! unrelated failure on another thread (a lost wake, a job never run).
//!
//! Code that holds one of these locks must keep to that rule. This module
//! imports nothing of the crate (layer 0).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Lock `m`, taking the guard of a poisoned lock as it is (see the module
/// doc for why that is sound).
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `cv.wait(guard)` under the same policy as [`lock`].
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|e| e.into_inner())
}

/// `cv.wait_timeout(guard, d)` under the same policy as [`lock`]; the flag
/// is true when `d` ran out.
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    d: Duration,
) -> (MutexGuard<'a, T>, bool) {
    let (guard, r) = cv.wait_timeout(guard, d).unwrap_or_else(|e| e.into_inner());
    (guard, r.timed_out())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn poisoned() -> Arc<Mutex<Vec<u32>>> {
        let m = Arc::new(Mutex::new(vec![1]));
        let m2 = m.clone();
        let r = std::thread::spawn(move || {
            let mut g = m2.lock().unwrap_or_else(|e| e.into_inner());
            g.push(2);
            panic!("poison on purpose");
        })
        .join();
        assert!(r.is_err());
        assert!(m.is_poisoned());
        m
    }

    #[test]
    fn poisoned_lock_still_gives_its_data() {
        let m = poisoned();
        lock(&m).push(3);
        assert_eq!(*lock(&m), [1, 2, 3]);
    }

    #[test]
    fn poisoned_lock_wait_timeout_returns_the_guard() {
        let m = poisoned();
        let cv = Condvar::new();
        let (g, timed_out) = wait_timeout(&cv, lock(&m), Duration::from_millis(1));
        assert!(timed_out);
        assert_eq!(*g, [1, 2]);
    }
}
