//! The wait-list every blocking primitive parks on: a FIFO of parked
//! coroutines, with cancellable waits (a waiter that times out or is
//! killed removes itself, and a wake only counts if it reached a coroutine
//! still parked for that very wait).
//!
//! Not a stable API: used by greenhub-monkey and greenhub's own tests.

// Contributor note: the list's storage lives with the task records
// (`task/mod.rs`), waking and the park path are the scheduler's
// (`sched/park.rs`); this module is the API on top. (The function
// `green::wait`, waiting for several coroutines, is `join.rs`'s.) It must
// never touch the reactor or the timers: it parks through the scheduler
// with an optional deadline, like every primitive.

use std::time::Instant;

use crate::interrupt::Interrupted;
use crate::task::ParkedOn;
pub use crate::task::{Unparker, WaitList, WaitResult};

impl WaitList {
    /// Park the current task (or the root context) at the back of the list
    /// until woken through it or until `deadline`.
    ///
    /// Unwinds on `kill` and on an enclosing `green::timeout` that expires
    /// first, removing this waiter either way.
    pub fn wait(&self, deadline: Option<Instant>) -> WaitResult {
        match self.wait_as(deadline, ParkedOn::WaitList, true) {
            Ok(r) => r,
            // With `unwind`, interruptions unwind instead of returning.
            Err(i) => unreachable!("green: an unwinding wait returned {i}"),
        }
    }

    /// Like [`wait`](Self::wait) but reports kill and expiry of an enclosing
    /// timeout as `Err` instead of unwinding (for code that must not unwind,
    /// such as `extern "C"` hooks).
    pub fn wait_no_unwind(&self, deadline: Option<Instant>) -> Result<WaitResult, Interrupted> {
        self.wait_as(deadline, ParkedOn::WaitList, false)
    }

    /// Add a waiter that parks elsewhere (waiting on several lists at once).
    /// Pair with [`remove_external`](Self::remove_external) after the park.
    pub fn push_external(&self, u: Unparker) {
        self.push_back(u);
    }

    /// Remove a waiter added with [`push_external`](Self::push_external), if
    /// it is still there.
    pub fn remove_external(&self, u: &Unparker) {
        self.remove(u)
    }
}
