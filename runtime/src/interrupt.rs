//! Interruptions: what kill and timeouts are, and the private unwinding
//! payloads that carry them from a park point to the frame that handles
//! them. Plain types: raising them is the scheduler's job (`sched/park.rs`),
//! catching a timeout's is `timeout.rs`'s.
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
//!
//! This module imports nothing of the crate.

use std::fmt;

/// Unwinding payload of a killed task. Private to the runtime.
pub(crate) struct KillSignal;

/// Unwinding payload of an expired `timeout` frame.
pub(crate) struct ElapsedSignal(pub(crate) u64);

/// Why a wait that must not unwind was cut short: the error of the
/// `*_no_unwind` functions in [`rt`](crate::rt), for code under an
/// `extern "C"` frame (everywhere else, kill and timeouts unwind).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Interrupted {
    /// The task was killed; it unwinds at its next ordinary park.
    Killed,
    /// An enclosing `green::timeout` expired; its frame reports it at the next
    /// ordinary park.
    Elapsed,
}

impl Interrupted {
    /// The errno a call cut short this way reports where it cannot unwind
    /// (the monkey hooks, `wait_fd_no_unwind`): `ECANCELED` for a kill,
    /// `ETIMEDOUT` for an expired `green::timeout`.
    pub fn errno(self) -> i32 {
        match self {
            Interrupted::Killed => libc::ECANCELED,
            Interrupted::Elapsed => libc::ETIMEDOUT,
        }
    }
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

/// The error of [`timeout`](crate::timeout): the deadline passed while the
/// closure was parked. Converts into an `io::Error` of kind `TimedOut`.
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
