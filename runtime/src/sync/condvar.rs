//! `Condvar`: wait for a condition guarded by a [`Mutex`].
//!
//! `wait` queues the caller, releases the mutex and parks; on wake it takes
//! the mutex again before returning (C22). A notification is a grant: a
//! waiter killed after being notified passes it to the next waiter, so
//! `notify_one` never silently wakes nobody while someone waits.

use std::fmt;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::waiter::WaitQueue;

/// A condition variable for coroutines of one thread.
///
/// ```
/// use std::rc::Rc;
/// use green::sync::{Condvar, Mutex};
/// let pair = Rc::new((Mutex::new(false), Condvar::new()));
/// let p = pair.clone();
/// let h = green::spawn(move || {
///     let mut ready = p.0.lock();
///     while !*ready { ready = p.1.wait(ready); }
/// });
/// green::yield_now();
/// *pair.0.lock() = true;
/// pair.1.notify_one();
/// h.join().unwrap();
/// ```
#[derive(Default)]
pub struct Condvar {
    waiters: WaitQueue<()>,
}

/// Whether [`Condvar::wait_timeout`] returned because time ran out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait timed out (no notification arrived).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Condvar {
        Condvar {
            waiters: WaitQueue::new(),
        }
    }

    /// Release the mutex, park until notified, re-take the mutex.
    ///
    /// Unwinds on kill and on an enclosing `green::timeout` (the mutex is
    /// then not held; the guard was consumed). As with any condition
    /// variable, re-check the condition in a loop.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_deadline(guard, None).0
    }

    /// Wait while `cond` holds, re-checking after each wake.
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut cond: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while cond(&mut guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Like [`wait`](Self::wait), giving up after `d`.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        d: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        self.wait_deadline(guard, crate::clock::now().checked_add(d))
    }

    /// Like [`wait`](Self::wait), giving up at `deadline`.
    pub fn wait_deadline<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let mutex = guard.mutex;
        // Unlocking only queues the next holder's wake; nothing runs before
        // we are in the condvar's queue, so no notification can slip by.
        drop(guard);
        let r = self.waiters.wait(0, None, deadline, |granted, _| {
            if granted {
                self.notify_one();
            }
        });
        let g = mutex.lock();
        (g, WaitTimeoutResult(r.is_err()))
    }

    /// Wake the first waiter. Returns whether there was one.
    pub fn notify_one(&self) -> bool {
        self.waiters.grant_with(|_| ())
    }

    /// Wake every waiter. Returns how many.
    pub fn notify_all(&self) -> usize {
        let mut n = 0;
        while self.waiters.grant_with(|_| ()) {
            n += 1;
        }
        n
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Condvar")
    }
}
