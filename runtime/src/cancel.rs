//! Cancellation: kill and timeouts, and the private unwinding payloads that
//! carry them from a park point to the frame that handles them.
//!
//! `kill` unwinds a task from its park point with [`KillSignal`]; the task's
//! base catches it and reports `JoinError::Killed`. `timeout(d, f)` pushes a
//! deadline frame on the current task; any park inside `f` that outlives it
//! unwinds with [`ElapsedSignal`] naming the frame, and that frame (not an
//! inner one) returns `Err(Elapsed)`.
//!
//! Payloads are raised with `resume_unwind`, so the panic hook never prints
//! them. Code that must not unwind (`extern "C"` hooks) uses the
//! `*_no_unwind` park variants and gets [`Interrupted`] instead.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::sched;

/// Unwinding payload of a killed task. Private to the runtime.
pub(crate) struct KillSignal;

/// Unwinding payload of an expired `timeout` frame.
pub(crate) struct ElapsedSignal(pub(crate) u64);

/// Why a park that must not unwind was cut short.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Interrupted {
    /// The task was killed; it unwinds at its next ordinary park.
    Killed,
    /// An enclosing [`timeout`] expired; its frame reports it at the next
    /// ordinary park.
    Elapsed,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interrupted::Killed => f.write_str("the coroutine was killed"),
            Interrupted::Elapsed => f.write_str("an enclosing green::timeout expired"),
        }
    }
}

impl std::error::Error for Interrupted {}

/// The error of [`timeout`]: the deadline passed before the closure finished.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, Elapsed)
    }
}

/// Raise the unwinding payload for an interruption seen at a park point.
pub(crate) fn raise(kind: Interrupt) -> ! {
    match kind {
        Interrupt::Killed => resume_unwind(Box::new(KillSignal)),
        Interrupt::Elapsed(id) => resume_unwind(Box::new(ElapsedSignal(id))),
    }
}

/// `std::panic::resume_unwind`, telling the hub first that the current
/// task unwinds (`resume_unwind` skips the panic hook, which does that for
/// ordinary panics), so parks in its destructors do not raise again.
pub(crate) fn resume_unwind(p: Box<dyn std::any::Any + Send>) -> ! {
    sched::mark_unwinding();
    panic::resume_unwind(p)
}

/// An interruption with the frame it belongs to (internal form).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Interrupt {
    Killed,
    Elapsed(u64),
}

impl From<Interrupt> for Interrupted {
    fn from(i: Interrupt) -> Interrupted {
        match i {
            Interrupt::Killed => Interrupted::Killed,
            Interrupt::Elapsed(_) => Interrupted::Elapsed,
        }
    }
}

/// Run `f`, interrupting it if it is still parked `d` after the call.
///
/// Every park inside `f` (sleep, join, queue get, socket read, ...) gets the
/// deadline. Operations with their own error channel keep theirs only when
/// their own deadline is earlier; otherwise the park unwinds to this frame,
/// which returns `Err(Elapsed)`. Nested timeouts: the earliest deadline wins
/// and is reported by its own frame. A closure that never parks is never
/// interrupted; `timeout(Duration::ZERO, f)` fires at the first park.
/// Works in coroutines and on the thread's root context alike.
///
/// ```
/// use std::time::Duration;
/// let r = green::timeout(Duration::from_millis(10), || green::sleep(Duration::from_secs(5)));
/// assert!(r.is_err());
/// let r = green::timeout(Duration::from_secs(5), || 7);
/// assert_eq!(r, Ok(7));
/// ```
pub fn timeout<T>(d: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let Some(deadline) = Instant::now().checked_add(d) else {
        // Beyond what a clock can express: no deadline at all.
        return Ok(f());
    };
    let id = sched::push_frame(deadline);
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    sched::pop_frame(id);
    match r {
        Ok(v) => Ok(v),
        Err(p) => match p.downcast_ref::<ElapsedSignal>() {
            Some(ElapsedSignal(fid)) if *fid == id => {
                sched::caught_unwind();
                Err(Elapsed)
            }
            _ => resume_unwind(p),
        },
    }
}
