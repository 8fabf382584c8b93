//! `Event`: a flag coroutines wait on until someone sets it (gevent's
//! `Event`).
//!
//! Built on [`WaitList`]: `set` wakes every waiter at once, and a waiter
//! that was woken returns even if the flag was cleared again before it ran
//! (C17). Never hands anything over, so a lost wake cannot leak.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::wait_list::{WaitList, WaitResult};

/// A flag that coroutines (and `main`) can wait for.
///
/// ```
/// use std::rc::Rc;
/// let ev = Rc::new(green::sync::Event::new());
/// let e = ev.clone();
/// let h = green::spawn(move || { e.wait(); "woke" });
/// green::yield_now(); // let it park
/// ev.set();
/// assert_eq!(h.join().unwrap(), "woke");
/// ```
#[derive(Default)]
pub struct Event {
    flag: Cell<bool>,
    waiters: WaitList,
}

impl crate::waitable::sealed::Sealed for Event {}

impl crate::waitable::Waitable for Event {
    fn is_ready(&self) -> bool {
        self.flag.get()
    }

    fn watch<'a>(&'a self, watch: &mut crate::waitable::Watch<'a>) {
        // `set` wakes every waiter.
        watch.on_list(&self.waiters);
    }
}

impl Event {
    /// A new, unset event.
    pub const fn new() -> Event {
        Event {
            flag: Cell::new(false),
            waiters: WaitList::new(),
        }
    }

    /// Set the flag and wake every waiter.
    pub fn set(&self) {
        self.flag.set(true);
        self.waiters.notify_all();
    }

    /// Reset the flag. Waiters already woken by `set` still return.
    pub fn clear(&self) {
        self.flag.set(false);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.get()
    }

    /// Park until the flag is set (returns at once if it is).
    ///
    /// Unwinds on kill and on an enclosing `green::timeout`. From `main`,
    /// waiting for an event nothing can set panics with a deadlock report.
    pub fn wait(&self) {
        self.wait_deadline(None);
    }

    /// Park until the flag is set or `d` passed. Returns true if the event
    /// was set (or woke this waiter), false on timeout.
    pub fn wait_timeout(&self, d: Duration) -> bool {
        self.wait_deadline(crate::clock::now().checked_add(d))
    }

    /// Like [`wait_timeout`](Self::wait_timeout) with an absolute deadline.
    pub fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if self.flag.get() {
            return true;
        }
        match self.waiters.wait(deadline) {
            // Only `set` notifies: the event was set at the time of the wake.
            WaitResult::Notified => true,
            WaitResult::TimedOut => self.flag.get(),
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.flag.get())
            .finish()
    }
}
