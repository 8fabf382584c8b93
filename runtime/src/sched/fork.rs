//! Forked children: a process forked while one of its threads had a hub
//! holds a copy of that hub, and the copy's epoll set is still the
//! parent's. The copy must never run: its coroutines are the parent's, and
//! its `epoll_wait` would take the parent's events (and its coroutines the
//! parent's data). This module owns how a copy is told from a live hub
//! (by the fork count `sys` keeps, which the reactor checks too), and what
//! a wait does on a copy: the thread waits by itself (a timed wait sleeps,
//! an fd wait polls), and anything only the loop could finish stops the
//! child with a message.
//!
//! It never runs the loop, never touches the reactor or the timers, and
//! adds one relaxed load to the paths that check it.

use std::time::Instant;

use super::{Hub, Park};
use crate::interrupt::Interrupt;

impl Hub {
    /// Whether this hub is the copy a `fork` left in a child process.
    #[inline(always)]
    pub(crate) fn foreign(&self) -> bool {
        crate::sys::forked_since(self.forks)
    }

    /// A park on a copied hub, whose loop must not run: sleep the thread
    /// until the park's effective deadline and report it passed (to the
    /// `timeout` frame `owner`, if the deadline is that frame's). With no
    /// deadline nothing in the child could ever end the wait.
    #[cold]
    #[inline(never)]
    pub(super) fn park_foreign(
        &self,
        deadline: Option<Instant>,
        owner: Option<u64>,
    ) -> Result<Park, Interrupt> {
        let Some(at) = deadline else { stop_child() };
        // A sleep on a copied hub is not cooperative (the monkey hooks pass
        // it straight through here).
        std::thread::sleep(at.saturating_duration_since(crate::clock::now()));
        match owner {
            Some(id) => Err(Interrupt::Elapsed(id)),
            None => Ok(Park::TimedOut),
        }
    }
}

/// The child asked its copy of the hub for what only the parent's loop can
/// do (run another coroutine, or wait with no deadline): say so and end it.
#[cold]
pub(super) fn stop_child() -> ! {
    let msg: &[u8] = b"green: this process was forked from a thread that had a hub, and \
        then tried to run that hub (a green wait with no deadline, or a coroutine that \
        ended). The hub and its coroutines belong to the parent; in a forked child make \
        only plain calls (green's hooks pass straight through there) and end it with \
        exec or _exit.\n";
    let _ = crate::sys::write(2, msg);
    crate::sys::abort()
}
