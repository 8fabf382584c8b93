//! The FIFO of tasks ready to run (the root included when it waits).

use std::collections::VecDeque;

use crate::task::TaskRef;

/// Bytes of a woken coroutine's stack, from just below its recorded stack
/// pointer up, loaded ahead of resuming it: the frames of its park path
/// and the connection's own frames above them. (A mini-redis connection
/// parked in a socket read uses about 700 bytes of stack, all of it.)
const STACK_PREFETCH: usize = 1024;

/// The FIFO of tasks ready to run.
///
/// An `UnsafeCell` instead of a `RefCell`: the borrow flag's store/load on
/// every push and pop showed up on the switch path. Sound because the hub is
/// single-threaded and no method lends out a reference or calls foreign code
/// while it touches the deque.
#[derive(Default)]
pub(super) struct ReadyQueue(std::cell::UnsafeCell<VecDeque<TaskRef>>);

impl ReadyQueue {
    #[inline(always)]
    pub(super) fn push(&self, t: TaskRef) {
        // SAFETY: see the type's doc: no other access can be live.
        unsafe { (*self.0.get()).push_back(t) }
    }
    #[inline(always)]
    pub(super) fn pop(&self) -> Option<TaskRef> {
        // SAFETY: as above.
        unsafe { (*self.0.get()).pop_front() }
    }
    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        // SAFETY: as above.
        unsafe { (*self.0.get()).len() }
    }
    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Start loading the stack tops of the tasks queued at `from` and
    /// after: a batch just woken by I/O, all cold, whose loads (and page
    /// walks) then overlap instead of coming one resume at a time. (Loading
    /// a few resumes ahead instead left more of the misses in place.)
    pub(super) fn prefetch_stacks_from(&self, from: usize) {
        // SAFETY: as above; the reference ends with this loop, which calls
        // nothing but prefetch hints.
        let q = unsafe { &*self.0.get() };
        for t in q.range(from.min(q.len())..) {
            t.stack.prefetch_top(STACK_PREFETCH);
        }
    }

    /// Insert at `i` (schedule perturbation only).
    pub(super) fn insert(&self, i: usize, t: TaskRef) {
        // SAFETY: as above.
        unsafe { (*self.0.get()).insert(i, t) }
    }
}
