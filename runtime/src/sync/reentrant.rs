//! `ReentrantMutex<T>`: a lock its holder may take again (gevent's `RLock`).
//!
//! Ownership is by coroutine id (the root context counts as one owner).
//! Others wait in FIFO order until the holder's count returns to zero; the
//! lock is then handed to the first waiter still parked (C21).

use std::cell::Cell;
use std::fmt;
use std::ops::Deref;
use std::time::{Duration, Instant};

use super::waiter::WaitQueue;

/// A mutex the holding coroutine may lock again. Gives shared access only
/// (as `std`'s reentrant lock does); put a `RefCell` inside to mutate.
///
/// ```
/// let m = green::sync::ReentrantMutex::new(std::cell::RefCell::new(0));
/// let a = m.lock();
/// let b = m.lock(); // same owner: fine
/// *b.borrow_mut() += 1;
/// drop((a, b));
/// assert_eq!(*m.lock().borrow(), 1);
/// ```
pub struct ReentrantMutex<T: ?Sized> {
    owner: Cell<Option<u64>>,
    count: Cell<usize>,
    waiters: WaitQueue<()>,
    value: T,
}

/// One level of holding a [`ReentrantMutex`]; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ReentrantMutexGuard<'a, T: ?Sized> {
    lock: &'a ReentrantMutex<T>,
}

fn me() -> u64 {
    crate::sched::hub().current().id
}

impl<T> ReentrantMutex<T> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> ReentrantMutex<T> {
        ReentrantMutex {
            owner: Cell::new(None),
            count: Cell::new(0),
            waiters: WaitQueue::new(),
            value,
        }
    }

    /// Consume the lock and return the data.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: ?Sized> ReentrantMutex<T> {
    /// Take the lock (again, if the caller holds it); park while another
    /// coroutine holds it. Unwinds on kill and on an enclosing
    /// `green::timeout`; from `main`, a wait nothing can end is reported as
    /// a deadlock.
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        loop {
            if let Some(g) = self.lock_deadline(None) {
                return g;
            }
        }
    }

    /// Take the lock if free or already ours, without parking.
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        let me = me();
        match self.owner.get() {
            Some(o) if o == me => self.count.set(self.count.get() + 1),
            Some(_) => return None,
            None => {
                self.owner.set(Some(me));
                self.count.set(1);
            }
        }
        Some(ReentrantMutexGuard { lock: self })
    }

    /// Like [`lock`](Self::lock), giving up after `d` (`None`).
    pub fn lock_timeout(&self, d: Duration) -> Option<ReentrantMutexGuard<'_, T>> {
        self.lock_deadline(crate::clock::now().checked_add(d))
    }

    /// Like [`lock`](Self::lock), giving up at `deadline` (`None`).
    pub fn lock_deadline(&self, deadline: Option<Instant>) -> Option<ReentrantMutexGuard<'_, T>> {
        if let Some(g) = self.try_lock() {
            return Some(g);
        }
        match self.waiters.wait(me(), None, deadline, |granted, _| {
            if granted {
                self.unlock();
            }
        }) {
            Ok(_) => Some(ReentrantMutexGuard { lock: self }),
            Err(_) => None,
        }
    }

    /// How many times the holder has locked it (0: free).
    pub fn lock_count(&self) -> usize {
        self.count.get()
    }

    fn unlock(&self) {
        let n = self.count.get() - 1;
        self.count.set(n);
        if n > 0 {
            return;
        }
        match self.waiters.front_tag() {
            Some(next) => {
                self.owner.set(Some(next));
                self.count.set(1);
                self.waiters.grant_with(|_| ());
            }
            None => self.owner.set(None),
        }
    }
}

impl<T: ?Sized> Deref for ReentrantMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.lock.value
    }
}

impl<T: ?Sized> Drop for ReentrantMutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: ?Sized> fmt::Debug for ReentrantMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantMutex")
            .field("owner", &self.owner.get())
            .field("count", &self.count.get())
            .finish_non_exhaustive()
    }
}
