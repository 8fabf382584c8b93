//! `RwLock<T>`: many readers or one writer, FIFO, with hand-off.
//!
//! Requests are served in arrival order: a reader that arrives while a
//! writer waits queues behind it (no writer starvation), and a release
//! grants the lock to the first waiter, plus every reader directly behind
//! it when that waiter reads. A waiter killed after its grant releases it
//! again; one that leaves before (timeout, kill) re-runs the dispatch, since
//! it may have been holding readers back.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::waiter::WaitQueue;

const READ: u64 = 0;
const WRITE: u64 = 1;

/// A reader-writer lock for coroutines of one thread (share it with `Rc`).
///
/// ```
/// let l = green::sync::RwLock::new(vec![1]);
/// {
///     let a = l.read();
///     let b = l.read(); // readers share
///     assert_eq!(a.len() + b.len(), 2);
///     assert!(l.try_write().is_none());
/// }
/// l.write().push(2);
/// assert_eq!(*l.read(), [1, 2]);
/// ```
pub struct RwLock<T: ?Sized> {
    readers: Cell<usize>,
    writer: Cell<bool>,
    waiters: WaitQueue<()>,
    value: UnsafeCell<T>,
}

/// Shared access; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

/// Exclusive access; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T> RwLock<T> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            readers: Cell::new(0),
            writer: Cell::new(false),
            waiters: WaitQueue::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Consume the lock and return the data.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Park until no writer holds or waits ahead, then read.
    ///
    /// Unwinds on kill and on an enclosing `green::timeout`; from `main`, a
    /// wait nothing can end is reported as a deadlock.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        loop {
            if let Some(g) = self.read_deadline(None) {
                return g;
            }
        }
    }

    /// Read if possible without parking (no writer holds or waits).
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        if self.writer.get() || self.waiters.has_waiters() {
            return None;
        }
        self.readers.set(self.readers.get() + 1);
        Some(RwLockReadGuard { lock: self })
    }

    /// Like [`read`](Self::read), giving up after `d` (`None`).
    pub fn read_timeout(&self, d: Duration) -> Option<RwLockReadGuard<'_, T>> {
        self.read_deadline(crate::clock::now().checked_add(d))
    }

    /// Like [`read`](Self::read), giving up at `deadline` (`None`).
    pub fn read_deadline(&self, deadline: Option<Instant>) -> Option<RwLockReadGuard<'_, T>> {
        if let Some(g) = self.try_read() {
            return Some(g);
        }
        // Build the guard only once granted: a guard dropped after a failed
        // wait would release a lock this caller never held.
        if self.wait(READ, deadline) {
            Some(RwLockReadGuard { lock: self })
        } else {
            None
        }
    }

    /// Park until nobody holds the lock and no earlier waiter is ahead, then
    /// write. Same cancellation and deadlock rules as [`read`](Self::read).
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        loop {
            if let Some(g) = self.write_deadline(None) {
                return g;
            }
        }
    }

    /// Write if the lock is entirely free, without parking.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        if self.writer.get() || self.readers.get() > 0 || self.waiters.has_waiters() {
            return None;
        }
        self.writer.set(true);
        Some(RwLockWriteGuard { lock: self })
    }

    /// Like [`write`](Self::write), giving up after `d` (`None`).
    pub fn write_timeout(&self, d: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        self.write_deadline(crate::clock::now().checked_add(d))
    }

    /// Like [`write`](Self::write), giving up at `deadline` (`None`).
    pub fn write_deadline(&self, deadline: Option<Instant>) -> Option<RwLockWriteGuard<'_, T>> {
        if let Some(g) = self.try_write() {
            return Some(g);
        }
        // As in `read_deadline`: no guard, hence no unlock, unless granted.
        if self.wait(WRITE, deadline) {
            Some(RwLockWriteGuard { lock: self })
        } else {
            None
        }
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Number of readers holding the lock now.
    pub fn reader_count(&self) -> usize {
        self.readers.get()
    }

    /// Whether a writer holds the lock now.
    pub fn is_write_locked(&self) -> bool {
        self.writer.get()
    }

    /// Queue for `kind`; true once granted (the counts were updated by the
    /// granter).
    fn wait(&self, kind: u64, deadline: Option<Instant>) -> bool {
        let r = self.waiters.wait(kind, None, deadline, |granted, _| {
            if !granted {
                self.dispatch();
            } else if kind == READ {
                self.read_unlock();
            } else {
                self.write_unlock();
            }
        });
        if r.is_err() {
            // We may have been the writer that held readers back.
            self.dispatch();
        }
        r.is_ok()
    }

    /// Grant the lock to whoever is first in line, if it is compatible.
    fn dispatch(&self) {
        loop {
            match self.waiters.front_tag() {
                Some(READ) if !self.writer.get() => {
                    self.readers.set(self.readers.get() + 1);
                    self.waiters.grant_with(|_| ());
                }
                Some(WRITE) if !self.writer.get() && self.readers.get() == 0 => {
                    self.writer.set(true);
                    self.waiters.grant_with(|_| ());
                    return;
                }
                _ => return,
            }
        }
    }

    fn read_unlock(&self) {
        self.readers.set(self.readers.get() - 1);
        self.dispatch();
    }

    fn write_unlock(&self) {
        self.writer.set(false);
        self.dispatch();
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: while a read guard exists `readers > 0`, so no write guard
        // exists; read guards only hand out shared references; !Sync keeps
        // other threads out.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write guard is the only guard while `writer` is set.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write guard is the only guard while `writer` is set,
        // and `&mut self` rules out other borrows through it.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock")
            .field("readers", &self.readers.get())
            .field("writer", &self.writer.get())
            .finish_non_exhaustive()
    }
}
