//! `WaitGroup`: wait until a counter of outstanding jobs drops to zero
//! (Go's `sync.WaitGroup`).
//!
//! Built on [`WaitList`]: reaching zero wakes every waiter; nothing is
//! handed over. It is also the runtime's one counter-and-wait-for-zero:
//! `Queue::join` waits on one counting unfinished items and `Pool::join`
//! on one counting held slots, so the three agree on how a wait that ends,
//! times out or is killed behaves.

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use crate::wait_list::{WaitList, WaitResult};

/// A counter of jobs still running; `wait` parks until it is zero.
///
/// ```
/// use std::rc::Rc;
/// let wg = Rc::new(green::sync::WaitGroup::new());
/// for _ in 0..3 {
///     wg.add(1);
///     let wg = wg.clone();
///     green::spawn(move || wg.done());
/// }
/// wg.wait();
/// assert_eq!(wg.count(), 0);
/// ```
#[derive(Default)]
pub struct WaitGroup {
    count: Cell<usize>,
    waiters: WaitList,
}

impl WaitGroup {
    /// A group with count zero.
    pub const fn new() -> WaitGroup {
        WaitGroup {
            count: Cell::new(0),
            waiters: WaitList::new(),
        }
    }

    /// Add `n` outstanding jobs.
    ///
    /// # Panics
    /// If the count would pass `usize::MAX`, with a message saying so,
    /// leaving the count as it was: a count that saturated could never get
    /// back to zero, and every `wait` would hang.
    pub fn add(&self, n: usize) {
        match self.count.get().checked_add(n) {
            Some(c) => self.count.set(c),
            None => panic!(
                "green: WaitGroup::add({n}) overflows the count ({} outstanding)",
                self.count.get()
            ),
        }
    }

    /// Mark one job finished; at zero, wake every waiter.
    ///
    /// # Panics
    /// If the count is already zero (more `done` than `add`), with a message
    /// saying so: that is a bug in the caller.
    pub fn done(&self) {
        assert!(
            self.try_done(),
            "green: WaitGroup::done called more times than add"
        );
    }

    /// [`done`](Self::done) for owners with their own message for the
    /// misuse: false, changing nothing, if the count is already zero.
    pub(crate) fn try_done(&self) -> bool {
        let n = self.count.get();
        if n == 0 {
            return false;
        }
        self.count.set(n - 1);
        if n == 1 {
            self.waiters.notify_all();
        }
        true
    }

    /// Outstanding jobs now.
    pub fn count(&self) -> usize {
        self.count.get()
    }

    /// Park until the count is zero (returns at once if it is).
    ///
    /// Unwinds on kill and on an enclosing `green::timeout`; from `main`, a
    /// count nothing can lower is reported as a deadlock.
    pub fn wait(&self) {
        while self.count.get() > 0 {
            self.waiters.wait(None);
        }
    }

    /// Like [`wait`](Self::wait), giving up after `d`. True if the count
    /// reached zero.
    pub fn wait_timeout(&self, d: Duration) -> bool {
        let deadline = crate::clock::now().checked_add(d);
        while self.count.get() > 0 {
            if self.waiters.wait(deadline) == WaitResult::TimedOut {
                return self.count.get() == 0;
            }
        }
        true
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count.get())
            .finish()
    }
}
