//! `green::timeout`: a deadline on every park inside a closure.
//!
//! Pushes a deadline frame on the current task through the scheduler and
//! catches the unwind of its own frame; any other payload goes on. A frame
//! whose expiry was reported to a wait that could not unwind (`interrupt`'s
//! fired list) reports `Elapsed` even when the closure returns.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::interrupt::{self, Elapsed, ElapsedSignal};
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
/// Code that cannot unwind — unmodified blocking calls made cooperative by
/// `green::monkey`, which run under C frames — is not unwound: when the
/// deadline passes, the call it waits in fails (`ETIMEDOUT`; a sleep ends
/// with `EINTR`), the calls it makes afterwards that would wait fail too,
/// and `f` goes on to return whatever its own error handling makes of that.
/// `timeout` then returns `Err(Elapsed)` all the same: whenever its own
/// deadline fired inside `f`, the value `f` returned (if it returned one)
/// is dropped, before `timeout` returns.
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
    // An id may come back on a hub made after an abandoned one: start clean.
    interrupt::take_fired(id);
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    sched::pop_frame(id);
    let fired = interrupt::take_fired(id);
    match r {
        // The deadline cut short a call that could not unwind (a hooked
        // libc call inside `f`), and `f` went on to return: what it
        // returned was computed after the deadline, on cut-short calls.
        Ok(v) if fired => {
            drop(v);
            Err(Elapsed)
        }
        Ok(v) => Ok(v),
        Err(p) => match p.downcast_ref::<ElapsedSignal>() {
            // `pop_frame` has forgotten the unwind it caught.
            Some(ElapsedSignal(fid)) if *fid == id => Err(Elapsed),
            _ => sched::resume_unwind(p),
        },
    }
}
