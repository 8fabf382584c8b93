//! The hand-off wait queue behind every primitive that passes *ownership*
//! to a waiter: a lock, a permit, or a queue item.
//!
//! [`crate::wait::WaitList`] wakes tasks but carries nothing to them, and a
//! task woken by it may still be killed before it resumes, losing the wake.
//! For a lock or an item that is a leak. This queue is the same FIFO,
//! cancellable list with one addition per waiter: a `granted` flag and a
//! payload slot, both in the heap. The releaser decides who gets the grant
//! (the first waiter still parked), writes the payload and wakes it; the
//! waiter's drop guard sees a grant it can no longer use (it is unwinding)
//! and hands it back through the primitive's `abandon` callback, which
//! passes it on. A waiter that timed out or was killed before any grant
//! removes itself, so it never consumes a later one (C16).
//!
//! Like `WaitList`, it parks only through `hub` with an optional deadline,
//! works from coroutines and from the root context (`main`), and never
//! touches timers or the reactor.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use crate::hub::{self, Park, Unparker};
use crate::task::ParkedOn;

/// One parked task and what is being handed to (or taken from) it.
pub(crate) struct Waiter<T> {
    unparker: RefCell<Unparker>,
    granted: Cell<bool>,
    payload: Cell<Option<T>>,
    /// What the waiter asks for (reader/writer, a task id, ...).
    tag: u64,
}

/// A FIFO of [`Waiter`]s. Not `Send`: one hub's tasks only.
pub(crate) struct WaitQueue<T> {
    q: RefCell<VecDeque<Rc<Waiter<T>>>>,
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl<T> WaitQueue<T> {
    pub(crate) const fn new() -> WaitQueue<T> {
        WaitQueue {
            q: RefCell::new(VecDeque::new()),
        }
    }

    /// Park the current task at the back of the queue until a grant, or
    /// until `deadline`.
    ///
    /// `payload` travels with the waiter (a putter's item). Returns
    /// `Ok(payload)` once granted (the slot as the granter left it) and
    /// `Err(payload)` on timeout. Unwinds on kill or an enclosing
    /// `green::timeout`; then `abandon(granted, payload)` runs after the
    /// waiter left the queue: with `granted == true` it must pass the grant
    /// on; with `false` it may re-dispatch (the waiter may have been
    /// blocking others behind it).
    pub(crate) fn wait(
        &self,
        tag: u64,
        payload: Option<T>,
        deadline: Option<Instant>,
        abandon: impl FnOnce(bool, Option<T>),
    ) -> Result<Option<T>, Option<T>> {
        let w = Rc::new(Waiter {
            unparker: RefCell::new(hub::unparker()),
            granted: Cell::new(false),
            payload: Cell::new(payload),
            tag,
        });
        self.q.borrow_mut().push_back(w.clone());
        let mut guard = Guard {
            queue: self,
            w: &w,
            abandon: Some(abandon),
        };
        loop {
            let r = hub::park(deadline, ParkedOn::WaitList);
            if w.granted.get() {
                // The guard sees the grant and, disarmed, does nothing.
                guard.abandon = None;
                return Ok(w.payload.take());
            }
            if r == Park::TimedOut {
                // Not granted: the guard takes us out of the queue.
                guard.abandon = None;
                return Err(w.payload.take());
            }
            // Only a grant unparks a waiter; stay robust anyway and park
            // again with a fresh wake-up right at the same place in line.
            *w.unparker.borrow_mut() = hub::unparker();
        }
    }

    /// Drop entries at the front whose park already ended (timed out or
    /// killed, not yet resumed).
    fn clean_front(&self) {
        let mut q = self.q.borrow_mut();
        while q.front().is_some_and(|w| !w.unparker.borrow().is_waiting()) {
            q.pop_front();
        }
    }

    /// The tag of the first waiter still parked, if any.
    pub(crate) fn front_tag(&self) -> Option<u64> {
        self.clean_front();
        self.q.borrow().front().map(|w| w.tag)
    }

    /// True when some waiter is still parked.
    pub(crate) fn has_waiters(&self) -> bool {
        self.front_tag().is_some()
    }

    /// Grant the first waiter still parked: `give` edits its payload slot,
    /// then it is woken. Returns false (and does not call `give`) if nobody
    /// waits.
    pub(crate) fn grant_with(&self, give: impl FnOnce(&mut Option<T>)) -> bool {
        self.clean_front();
        let w = self.q.borrow_mut().pop_front();
        let Some(w) = w else { return false };
        let mut slot = w.payload.take();
        give(&mut slot);
        w.payload.set(slot);
        w.granted.set(true);
        let woke = w.unparker.borrow().unpark();
        // `clean_front` kept only waiters still parked for this very wait,
        // and nothing ran since, so the wake must land.
        debug_assert!(woke, "green: a live waiter refused its wake");
        true
    }

    /// Number of waiters still parked (O(n); for diagnostics and `len`).
    pub(crate) fn count(&self) -> usize {
        self.q
            .borrow()
            .iter()
            .filter(|w| w.unparker.borrow().is_waiting() && !w.granted.get())
            .count()
    }

    fn remove(&self, me: &Rc<Waiter<T>>) {
        let mut q = self.q.borrow_mut();
        if let Some(i) = q.iter().rposition(|w| Rc::ptr_eq(w, me)) {
            q.remove(i);
        }
    }
}

/// Cleans up a waiter that leaves without using a grant.
struct Guard<'a, T, F: FnOnce(bool, Option<T>)> {
    queue: &'a WaitQueue<T>,
    w: &'a Rc<Waiter<T>>,
    /// `Some` while the waiter is leaving early (unwinding).
    abandon: Option<F>,
}

impl<T, F: FnOnce(bool, Option<T>)> Drop for Guard<'_, T, F> {
    fn drop(&mut self) {
        let granted = self.w.granted.get();
        if !granted {
            self.queue.remove(self.w);
        }
        if let Some(f) = self.abandon.take() {
            f(granted, self.w.payload.take());
        }
    }
}
