//! Waiter data: an `Unparker` (the right to end one park of one task) and
//! the storage of a `WaitList` (a FIFO of them).
//!
//! Plain data on purpose: waking (`Unparker::unpark`, `WaitList::notify_*`)
//! is the scheduler's (`sched/park.rs`), parking on a list is `wait.rs`'s.
//! Task records keep their joiners in a `WaitList`, which is why the type
//! lives down here with them.

use std::cell::RefCell;
use std::collections::VecDeque;

use super::{State, TaskRef};

/// An owned wake-up right for one park of one task (or the root).
///
/// Obtained with `green::rt::unparker` *before* parking; valid only for the
/// next park of that task. Waking a task that is no longer parked for that
/// very park is a no-op, so stale wakes can never resume it at the wrong
/// point.
#[derive(Clone)]
pub struct Unparker {
    pub(crate) task: TaskRef,
    pub(crate) gen: u32,
}

impl Unparker {
    pub(crate) fn new(task: TaskRef, gen: u32) -> Unparker {
        Unparker { task, gen }
    }

    /// True if both name the same park of the same task.
    pub fn same_wait(&self, other: &Unparker) -> bool {
        TaskRef::ptr_eq(&self.task, &other.task) && self.gen == other.gen
    }

    /// Whether the park this unparker belongs to is still going on.
    pub fn is_waiting(&self) -> bool {
        self.task.gen.get() == self.gen && self.task.state.get() != State::Finished
    }
}

/// A FIFO list of parked tasks (or the thread's root context).
///
/// Every blocking primitive parks on one: see `wait.rs` for parking on it
/// and `sched/park.rs` for waking it.
#[derive(Default)]
pub struct WaitList {
    q: RefCell<VecDeque<Unparker>>,
}

impl WaitList {
    /// An empty list.
    pub const fn new() -> WaitList {
        WaitList {
            q: RefCell::new(VecDeque::new()),
        }
    }

    /// Number of entries (including ones that already gave up but have not
    /// been cleaned yet; only an upper bound on live waiters).
    pub fn len(&self) -> usize {
        self.q.borrow().len()
    }

    /// True when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.q.borrow().is_empty()
    }

    /// Add a waiter at the back.
    pub(crate) fn push_back(&self, u: Unparker) {
        self.q.borrow_mut().push_back(u);
    }

    /// Take the first waiter, if any.
    pub(crate) fn pop_front(&self) -> Option<Unparker> {
        self.q.borrow_mut().pop_front()
    }

    /// Take every waiter, in order.
    pub(crate) fn take_all(&self) -> VecDeque<Unparker> {
        std::mem::take(&mut *self.q.borrow_mut())
    }

    /// Remove the entry for the same park as `me`, if it is still there.
    pub(crate) fn remove(&self, me: &Unparker) {
        let mut q = self.q.borrow_mut();
        if let Some(i) = q.iter().position(|u| u.same_wait(me)) {
            q.remove(i);
        }
    }
}
