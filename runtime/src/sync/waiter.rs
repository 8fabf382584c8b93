//! The hand-off wait queue behind every primitive that passes *ownership*
//! to a waiter: a lock, a permit, or a queue item.
//!
//! [`crate::wait_list::WaitList`] wakes tasks but carries nothing to them, and a
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
//! Like `WaitList`, it parks only through the scheduler (`sched`) with an optional deadline,
//! works from coroutines and from the root context (`main`), and never
//! touches timers or the reactor.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Instant;

use slab::Slab;

use crate::sched::{self, Park};
use crate::task::ParkedOn;
use crate::task::Unparker;

/// One parked task and what is being handed to (or taken from) it.
struct Waiter<T> {
    unparker: Unparker,
    granted: bool,
    payload: Option<T>,
    /// What the waiter asks for (reader/writer, a task id, ...).
    tag: u64,
}

struct Inner<T> {
    /// Keys into `recs`, in arrival order.
    q: VecDeque<usize>,
    /// Waiter records; a slab so parking allocates nothing once warm.
    recs: Slab<Waiter<T>>,
}

/// A FIFO of waiters with grants. Not `Send`: one hub's tasks only.
///
/// Invariant: every key in `q` names a live record; a waiter leaving
/// without a grant removes its key from `q` itself, and a granter pops the
/// key before granting.
pub(crate) struct WaitQueue<T> {
    inner: RefCell<Inner<T>>,
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl<T> WaitQueue<T> {
    pub(crate) const fn new() -> WaitQueue<T> {
        WaitQueue {
            inner: RefCell::new(Inner {
                q: VecDeque::new(),
                recs: Slab::new(),
            }),
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
    #[inline]
    pub(crate) fn wait(
        &self,
        tag: u64,
        payload: Option<T>,
        deadline: Option<Instant>,
        abandon: impl FnOnce(bool, Option<T>),
    ) -> Result<Option<T>, Option<T>> {
        let unparker = sched::unparker();
        let key = {
            let mut inner = self.inner.borrow_mut();
            let entry = inner.recs.vacant_entry();
            let key = entry.key();
            entry.insert(Waiter {
                unparker,
                granted: false,
                payload,
                tag,
            });
            inner.q.push_back(key);
            key
        };
        let mut guard = Guard {
            queue: self,
            key,
            abandon: Some(abandon),
        };
        loop {
            let r = sched::park(deadline, ParkedOn::WaitList);
            {
                let mut inner = self.inner.borrow_mut();
                if inner.recs[key].granted {
                    // Granted waiters were popped from `q` by the granter.
                    guard.abandon = None;
                    return Ok(inner.recs.remove(key).payload);
                }
            }
            if r == Park::TimedOut {
                guard.abandon = None;
                return Err(self.leave(key));
            }
            // Only a grant unparks a waiter; stay robust anyway and park
            // again with a fresh wake-up right at the same place in line.
            self.inner.borrow_mut().recs[key].unparker = sched::unparker();
        }
    }

    /// Take the waiter `key` out (queue entry and record); its payload.
    #[inline]
    fn leave(&self, key: usize) -> Option<T> {
        let mut inner = self.inner.borrow_mut();
        let rec = inner.recs.remove(key);
        if !rec.granted {
            // Usually the last one in (or the only one): search from the back.
            if let Some(i) = inner.q.iter().rposition(|&k| k == key) {
                inner.q.remove(i);
            }
        }
        rec.payload
    }

    /// Drop entries at the front whose park already ended (timed out or
    /// killed, not yet resumed; they remove their records themselves).
    fn clean_front(inner: &mut Inner<T>) {
        while let Some(&k) = inner.q.front() {
            if inner.recs[k].unparker.is_waiting() {
                return;
            }
            inner.q.pop_front();
        }
    }

    /// The tag of the first waiter still parked, if any.
    pub(crate) fn front_tag(&self) -> Option<u64> {
        let mut inner = self.inner.borrow_mut();
        Self::clean_front(&mut inner);
        let k = *inner.q.front()?;
        Some(inner.recs[k].tag)
    }

    /// True when some waiter is still parked.
    pub(crate) fn has_waiters(&self) -> bool {
        self.front_tag().is_some()
    }

    /// Grant the first waiter still parked: `give` edits its payload slot,
    /// and it is woken. Returns false (and does not call `give`) if nobody
    /// waits. `give` must not use this queue.
    #[inline]
    pub(crate) fn grant_with(&self, give: impl FnOnce(&mut Option<T>)) -> bool {
        let mut inner = self.inner.borrow_mut();
        loop {
            let Some(k) = inner.q.pop_front() else {
                return false;
            };
            // Waking only queues the task, so nothing else runs meanwhile;
            // a waiter whose park already ended refuses and is skipped (it
            // cleans up its own record).
            if inner.recs[k].unparker.unpark() {
                let rec = &mut inner.recs[k];
                rec.granted = true;
                let mut slot = rec.payload.take();
                drop(inner);
                give(&mut slot);
                self.inner.borrow_mut().recs[k].payload = slot;
                return true;
            }
        }
    }

    /// Hand `item` to the first waiter still parked, or give it back.
    #[inline]
    pub(crate) fn try_grant(&self, item: T) -> Result<(), T> {
        let mut inner = self.inner.borrow_mut();
        loop {
            let Some(k) = inner.q.pop_front() else {
                return Err(item);
            };
            if inner.recs[k].unparker.unpark() {
                let rec = &mut inner.recs[k];
                rec.granted = true;
                rec.payload = Some(item);
                return Ok(());
            }
        }
    }

    /// Number of waiters still parked (O(n); for diagnostics and `len`).
    pub(crate) fn count(&self) -> usize {
        let inner = self.inner.borrow();
        inner
            .q
            .iter()
            .filter(|&&k| inner.recs[k].unparker.is_waiting())
            .count()
    }
}

/// Cleans up a waiter that leaves without returning (unwinding).
struct Guard<'a, T, F: FnOnce(bool, Option<T>)> {
    queue: &'a WaitQueue<T>,
    key: usize,
    /// `Some` while the waiter is leaving early (unwinding).
    abandon: Option<F>,
}

impl<T, F: FnOnce(bool, Option<T>)> Drop for Guard<'_, T, F> {
    fn drop(&mut self) {
        if let Some(f) = self.abandon.take() {
            let granted = self.queue.inner.borrow().recs[self.key].granted;
            let payload = self.queue.leave(self.key);
            f(granted, payload);
        }
    }
}
