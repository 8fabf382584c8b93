//! `AsyncResult`: a one-shot value (or error) that any number of waiters
//! receive (gevent's `AsyncResult`).
//!
//! Built on [`WaitList`]: setting it wakes every waiter; each one clones
//! the stored outcome. Nothing is handed over, so a waiter killed after its
//! wake loses nothing.

use std::cell::RefCell;
use std::time::Duration;

use crate::wait_list::{WaitList, WaitResult};

/// A value or an error that arrives later, delivered to every waiter.
///
/// `E` defaults to `String`. Setting it again replaces the outcome (as in
/// gevent); waiters already woken keep what they saw.
///
/// ```
/// use std::rc::Rc;
/// let r: Rc<green::sync::AsyncResult<u32>> = Rc::new(green::sync::AsyncResult::new());
/// let hs: Vec<_> = (0..3).map(|_| { let r = r.clone(); green::spawn(move || r.get()) }).collect();
/// green::yield_now();
/// r.set(42);
/// for h in hs { assert_eq!(h.join().unwrap(), Ok(42)); }
/// assert_eq!(r.try_get(), Some(Ok(42)));
/// ```
pub struct AsyncResult<T, E = String> {
    value: RefCell<Option<Result<T, E>>>,
    waiters: WaitList,
}

impl<T, E> crate::waitable::sealed::Sealed for AsyncResult<T, E> {}

impl<T, E> crate::waitable::Waitable for AsyncResult<T, E> {
    fn is_ready(&self) -> bool {
        self.value.borrow().is_some()
    }

    fn watch<'a>(&'a self, watch: &mut crate::waitable::Watch<'a>) {
        // `put` wakes every waiter.
        watch.on_list(&self.waiters);
    }
}

impl<T: Clone, E: Clone> Default for AsyncResult<T, E> {
    fn default() -> Self {
        AsyncResult::new()
    }
}

impl<T: Clone, E: Clone> AsyncResult<T, E> {
    /// An empty result.
    pub const fn new() -> AsyncResult<T, E> {
        AsyncResult {
            value: RefCell::new(None),
            waiters: WaitList::new(),
        }
    }

    /// Store a value and wake every waiter.
    pub fn set(&self, v: T) {
        self.put(Ok(v));
    }

    /// Store an error and wake every waiter.
    pub fn set_error(&self, e: E) {
        self.put(Err(e));
    }

    /// Store an outcome (value or error) and wake every waiter.
    pub fn put(&self, r: Result<T, E>) {
        *self.value.borrow_mut() = Some(r);
        self.waiters.notify_all();
    }

    /// Whether a value or an error is stored.
    pub fn is_ready(&self) -> bool {
        self.value.borrow().is_some()
    }

    /// The outcome if there is one, without waiting (`None`: not yet).
    pub fn try_get(&self) -> Option<Result<T, E>> {
        self.value.borrow().clone()
    }

    /// Park until an outcome is stored and return a clone of it.
    ///
    /// Unwinds on kill and on an enclosing `green::timeout`; from `main`,
    /// waiting on a result nothing can set is reported as a deadlock.
    pub fn get(&self) -> Result<T, E> {
        loop {
            if let Some(r) = self.try_get() {
                return r;
            }
            self.waiters.wait(None);
        }
    }

    /// Like [`get`](Self::get), giving up after `d`: `None` on timeout.
    pub fn get_timeout(&self, d: Duration) -> Option<Result<T, E>> {
        let deadline = crate::clock::now().checked_add(d);
        loop {
            if let Some(r) = self.try_get() {
                return Some(r);
            }
            if self.waiters.wait(deadline) == WaitResult::TimedOut {
                return self.try_get();
            }
        }
    }
}

impl<T, E> std::fmt::Debug for AsyncResult<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.value.borrow().is_some())
            .finish()
    }
}
