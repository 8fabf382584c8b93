//! `green::timeout`: a deadline on every park inside a closure.
//!
//! Pushes a deadline frame on the current task through the scheduler and
//! catches the unwind of its own frame; any other payload goes on.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::interrupt::{Elapsed, ElapsedSignal};
use crate::sched;

/// Run `f`, interrupting it if it is still parked `d` after the call.
///
/// Every park inside `f` (sleep, join, queue get, socket read, ...) gets the
/// deadline. Operations with their own error channel keep theirs only when
/// their own deadline is earlier; otherwise the park unwinds to this frame,
/// which returns `Err(Elapsed)`. Nested timeouts: the earliest deadline wins
/// and is reported by its own frame. A closure that never parks is never
/// interrupted; `timeout(Duration::ZERO, f)` fires at the first park.
/// Works in coroutines and on the thread's root context alike, and inside
/// a destructor that runs during an unwind (a kill, a panic, another
/// timeout), where it bounds the destructor's own cleanup: the timeouts
/// that enclose the unwind never fire there, this one does.
///
/// ```
/// use std::time::Duration;
/// let r = green::timeout(Duration::from_millis(10), || green::sleep(Duration::from_secs(5)));
/// assert!(r.is_err());
/// let r = green::timeout(Duration::from_secs(5), || 7);
/// assert_eq!(r, Ok(7));
/// ```
pub fn timeout<T>(d: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let Some(deadline) = crate::clock::now().checked_add(d) else {
        // Beyond what a clock can express: no deadline at all.
        return Ok(f());
    };
    let id = sched::push_frame(deadline);
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    sched::pop_frame(id);
    match r {
        Ok(v) => Ok(v),
        Err(p) => match p.downcast_ref::<ElapsedSignal>() {
            // `pop_frame` has forgotten the unwind it caught.
            Some(ElapsedSignal(fid)) if *fid == id => Err(Elapsed),
            _ => sched::resume_unwind(p),
        },
    }
}
