//! `Mutex<T>`: mutual exclusion between coroutines, FIFO, with hand-off.
//!
//! An unlock with waiters passes the lock straight to the first one still
//! parked (it never becomes free in between), so no coroutine can barge in
//! and two coroutines cannot ping-pong the lock past a waiter (C19). A
//! waiter killed after being handed the lock passes it on (C20). There is
//! no poisoning: a guard dropped while unwinding simply unlocks.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::waiter::WaitQueue;

/// A lock for data shared by coroutines of one thread (share it with `Rc`).
///
/// ```
/// use std::rc::Rc;
/// let m = Rc::new(green::sync::Mutex::new(0));
/// let hs: Vec<_> = (0..10).map(|_| {
///     let m = m.clone();
///     green::spawn(move || for _ in 0..100 {
///         let mut g = m.lock();
///         let v = *g;
///         green::yield_now(); // others run, but cannot enter
///         *g = v + 1;
///     })
/// }).collect();
/// green::joinall(hs);
/// assert_eq!(*m.lock(), 1000);
/// ```
pub struct Mutex<T: ?Sized> {
    locked: Cell<bool>,
    waiters: WaitQueue<()>,
    value: UnsafeCell<T>,
}

/// Proof of holding a [`Mutex`]; unlocks on drop (also while unwinding).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            locked: Cell::new(false),
            waiters: WaitQueue::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Consume the mutex and return the data.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Park until the lock is free, then take it. Waiters are served first
    /// come, first served.
    ///
    /// Unwinds on kill and on an enclosing `green::timeout` (leaving the
    /// queue). From `main`, waiting for a lock nobody will release panics
    /// with a deadlock report. Locking again from the holder deadlocks; use
    /// [`ReentrantMutex`](super::ReentrantMutex) for that.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        loop {
            if let Some(g) = self.lock_deadline(None) {
                return g;
            }
        }
    }

    /// Take the lock if it is free, without parking.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        if self.locked.get() {
            return None;
        }
        self.locked.set(true);
        Some(MutexGuard { mutex: self })
    }

    /// Like [`lock`](Self::lock), giving up after `d` (`None`).
    pub fn lock_timeout(&self, d: Duration) -> Option<MutexGuard<'_, T>> {
        self.lock_deadline(crate::clock::now().checked_add(d))
    }

    /// Like [`lock`](Self::lock), giving up at `deadline` (`None`).
    pub fn lock_deadline(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, T>> {
        if let Some(g) = self.try_lock() {
            return Some(g);
        }
        match self.waiters.wait(0, None, deadline, |granted, _| {
            if granted {
                self.unlock();
            }
        }) {
            // Handed over by the previous holder: `locked` stayed true.
            Ok(_) => Some(MutexGuard { mutex: self }),
            Err(_) => None,
        }
    }

    /// Whether someone holds the lock.
    pub fn is_locked(&self) -> bool {
        self.locked.get()
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    pub(crate) fn unlock(&self) {
        if !self.waiters.grant_with(|_| ()) {
            self.locked.set(false);
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while `locked` is true and at most
        // one guard exists per lock; the type is !Sync, so no other thread
        // can reach the data.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` rules out other borrows
        // through this (the only) guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &self.locked.get())
            .finish_non_exhaustive()
    }
}
