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
//! `*_no_unwind` park variants and gets [`Interrupted`] instead; a timeout
//! frame whose expiry was reported that way is remembered here as fired
//! (`note_fired`), so that its `timeout` still returns `Elapsed`.
//!
//! This module imports nothing of the crate.

use std::cell::RefCell;
use std::fmt;

/// Unwinding payload of a killed task. Private to the runtime.
pub(crate) struct KillSignal;

/// Unwinding payload of an expired `timeout` frame.
pub(crate) struct ElapsedSignal(pub(crate) u64);

/// Why a wait that must not unwind was cut short: the error of the
/// `*_no_unwind` functions in `green::rt`, for code under an
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

/// The error of `green::timeout`: the deadline passed while the
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

thread_local! {
    /// The `timeout` frames of this thread whose expiry was reported to a
    /// wait that could not unwind (a monkey hook, a `*_no_unwind` wait):
    /// their `timeout` calls return `Err(Elapsed)` even if the closure
    /// returns a value. Frame ids are unique per hub; a frame's entry goes
    /// when the frame ends (`take_fired`), so the list stays as short as the
    /// nesting of timeouts.
    static FIRED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The `timeout` frame `id` expired and a wait that cannot unwind was told
/// so: its frame must report `Elapsed` whatever the closure returns.
pub(crate) fn note_fired(id: u64) {
    // During thread teardown the frame cannot report anything any more.
    let _ = FIRED.try_with(|f| {
        if let Ok(mut f) = f.try_borrow_mut() {
            if !f.contains(&id) {
                f.push(id);
            }
        }
    });
}

/// Whether the frame `id` fired into a wait that could not unwind; forgets
/// it either way (the frame is ending, or a new frame starts with this id).
pub(crate) fn take_fired(id: u64) -> bool {
    FIRED
        .try_with(|f| {
            let Ok(mut f) = f.try_borrow_mut() else {
                return false;
            };
            if f.is_empty() {
                return false;
            }
            let before = f.len();
            f.retain(|&x| x != id);
            f.len() != before
        })
        .unwrap_or(false)
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
