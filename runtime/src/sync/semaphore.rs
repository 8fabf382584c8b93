//! `Semaphore` and `BoundedSemaphore`: a count of permits, FIFO, with
//! hand-off.
//!
//! A release with waiters gives the permit straight to the first waiter
//! still parked; the free count only grows when nobody waits. So permits
//! can never be taken out of turn (C19), and a waiter killed after being
//! handed a permit releases it again.

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

use super::waiter::WaitQueue;

/// A counting semaphore for coroutines of one thread (share it with `Rc`).
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// let sem = Rc::new(green::sync::Semaphore::new(2));
/// let inside = Rc::new(Cell::new(0));
/// let hs: Vec<_> = (0..6).map(|_| {
///     let (sem, inside) = (sem.clone(), inside.clone());
///     green::spawn(move || {
///         let _p = sem.acquire();
///         inside.set(inside.get() + 1);
///         assert!(inside.get() <= 2);
///         green::sleep(Duration::from_millis(1));
///         inside.set(inside.get() - 1);
///     })
/// }).collect();
/// for r in green::joinall(hs) { r.unwrap(); }
/// assert_eq!(sem.available(), 2);
/// ```
pub struct Semaphore {
    permits: Cell<usize>,
    /// Permits out of the free count and not given up: held by a
    /// `SemaphorePermit`, or handed to a waiter that has yet to resume.
    /// What `BoundedSemaphore::release` checks against its limit.
    held: Cell<usize>,
    waiters: WaitQueue<()>,
}

/// One acquired permit; released on drop (also while unwinding).
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `n` free permits.
    pub const fn new(n: usize) -> Semaphore {
        Semaphore {
            permits: Cell::new(n),
            held: Cell::new(0),
            waiters: WaitQueue::new(),
        }
    }

    /// Free permits right now.
    pub fn available(&self) -> usize {
        self.permits.get()
    }

    /// Park until a permit is free and take it; first come, first served.
    ///
    /// Unwinds on kill and on an enclosing `green::timeout`. From `main`,
    /// waiting for a permit nobody will release is reported as a deadlock.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        loop {
            if let Some(p) = self.acquire_deadline(None) {
                return p;
            }
        }
    }

    /// Take a permit if one is free, without parking.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        // Free permits and live waiters never coexist (hand-off), so taking
        // one here cannot jump the queue.
        let n = self.permits.get();
        if n == 0 {
            return None;
        }
        self.permits.set(n - 1);
        Some(self.permit())
    }

    /// A permit taken from the free count: counted as held.
    fn permit(&self) -> SemaphorePermit<'_> {
        self.held.set(self.held.get().saturating_add(1));
        SemaphorePermit { sem: self }
    }

    /// Like [`acquire`](Self::acquire), giving up after `d` (`None`).
    pub fn acquire_timeout(&self, d: Duration) -> Option<SemaphorePermit<'_>> {
        self.acquire_deadline(crate::clock::now().checked_add(d))
    }

    /// Like [`acquire`](Self::acquire), giving up at `deadline` (`None`).
    pub fn acquire_deadline(&self, deadline: Option<Instant>) -> Option<SemaphorePermit<'_>> {
        if let Some(p) = self.try_acquire() {
            return Some(p);
        }
        // A grant counts as held from the moment it is made (`give`), so
        // the permit is never out of every count while in flight.
        match self.waiters.wait(0, None, deadline, |granted, _| {
            if granted {
                self.give_back();
            }
        }) {
            Ok(_) => Some(SemaphorePermit { sem: self }),
            Err(_) => None,
        }
    }

    /// Return one permit: to the first waiter if any, else to the pool.
    /// (Also how a permit given up with [`SemaphorePermit::forget`] comes
    /// back.) The free count saturates at `usize::MAX`.
    pub fn release(&self) {
        self.give(1);
    }

    /// Add `n` permits: the first waiters (up to `n`) each get one, the
    /// rest go to the free count, which saturates at `usize::MAX` (a
    /// semaphore that full never runs out). Costs one step per waiter
    /// served, not per permit: `add_permits(usize::MAX)` returns at once.
    pub fn add_permits(&self, n: usize) {
        self.give(n);
    }

    /// Hand `n` permits out: one to each waiter still parked, in order,
    /// the rest to the free count.
    fn give(&self, mut n: usize) {
        while n > 0 && self.waiters.grant_with(|_| ()) {
            self.held.set(self.held.get().saturating_add(1));
            n -= 1;
        }
        if n > 0 {
            self.permits.set(self.permits.get().saturating_add(n));
        }
    }

    /// A held permit comes back (dropped, or granted to a waiter that
    /// could not take it).
    fn give_back(&self) {
        self.held.set(self.held.get().saturating_sub(1));
        self.give(1);
    }

    /// Number of coroutines parked in `acquire` (O(n)).
    pub fn waiters(&self) -> usize {
        self.waiters.count()
    }
}

impl SemaphorePermit<'_> {
    /// Keep the permit taken forever (until someone calls `release`).
    pub fn forget(self) {
        let held = &self.sem.held;
        held.set(held.get().saturating_sub(1));
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.give_back();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.permits.get())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}

/// A [`Semaphore`] that refuses to hold more permits than it started with:
/// a `release` with nothing acquired is an error instead of a silent extra
/// permit (gevent's `BoundedSemaphore`).
///
/// ```
/// let s = green::sync::BoundedSemaphore::new(1);
/// assert!(s.release().is_err());
/// let p = s.acquire();
/// drop(p);
/// assert_eq!(s.available(), 1);
/// ```
pub struct BoundedSemaphore {
    sem: Semaphore,
    limit: usize,
}

/// [`BoundedSemaphore::release`] would have gone above the start count.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TooManyReleases;

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedSemaphore released more times than it was acquired")
    }
}

impl std::error::Error for TooManyReleases {}

impl BoundedSemaphore {
    /// A bounded semaphore with `n` permits, all free.
    pub const fn new(n: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            sem: Semaphore::new(n),
            limit: n,
        }
    }

    /// See [`Semaphore::acquire`].
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.sem.acquire()
    }

    /// See [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.sem.try_acquire()
    }

    /// See [`Semaphore::acquire_timeout`].
    pub fn acquire_timeout(&self, d: Duration) -> Option<SemaphorePermit<'_>> {
        self.sem.acquire_timeout(d)
    }

    /// Free permits right now.
    pub fn available(&self) -> usize {
        self.sem.available()
    }

    /// Return a permit taken with [`SemaphorePermit::forget`]. Fails if that
    /// would exceed the start count: permits free, held (by a
    /// `SemaphorePermit`) and handed to a waiter that has yet to resume all
    /// count, so only a forgotten permit can come back.
    pub fn release(&self) -> Result<(), TooManyReleases> {
        let out = self.sem.available().saturating_add(self.sem.held.get());
        if out >= self.limit {
            return Err(TooManyReleases);
        }
        self.sem.release();
        Ok(())
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.sem.available())
            .field("limit", &self.limit)
            .finish()
    }
}
