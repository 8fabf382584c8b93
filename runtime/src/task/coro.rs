//! `CoroSlot`: a task's coroutine and the yielder its body suspends
//! through — the one place that states the rules for touching them.
//!
//! The coroutine object is created on the task's first run (its home
//! region must be resident then), resumed only by the hub's loop from the
//! root stack, and dropped only once it has returned (dropping a suspended
//! one would unwind on its stack, which may not be resident). It is kept in
//! `ManuallyDrop` so that dropping the task record never drops it by
//! accident. Every operation that relies on those rules is an `unsafe fn`
//! whose `# Safety` section says which rule the caller upholds.

use std::cell::{Cell, UnsafeCell};
use std::mem::ManuallyDrop;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::Output;
use crate::stack::RegionStack;

/// The single coroutine type used for every task, so the bytes the switch
/// pushes below the recorded stack pointer are the same everywhere.
pub(crate) type Coro = Coroutine<(), (), Output, RegionStack>;
/// What a coroutine's body suspends through.
pub(crate) type CoroYielder = Yielder<(), ()>;

/// A task's coroutine (once created) and its yielder.
pub(crate) struct CoroSlot {
    coro: UnsafeCell<Option<ManuallyDrop<Coro>>>,
    yielder: Cell<*const CoroYielder>,
}

impl CoroSlot {
    /// Empty: the task has not run yet.
    pub(crate) const fn new() -> CoroSlot {
        CoroSlot {
            coro: UnsafeCell::new(None),
            yielder: Cell::new(std::ptr::null()),
        }
    }

    /// Whether the coroutine exists (the task has run at least once and
    /// has not been finished since).
    #[inline(always)]
    pub(crate) fn exists(&self) -> bool {
        // SAFETY: only `install` and `drop_returned` write the slot, and
        // both run while no reference into it is live (their contracts);
        // reading the discriminant here overlaps neither.
        unsafe { (*self.coro.get()).is_some() }
    }

    /// Put the freshly created coroutine in.
    ///
    /// # Safety
    /// The slot is empty, the task is not running, and no reference into
    /// the slot is live (only the hub's loop calls this, between resumes).
    pub(crate) unsafe fn install(&self, coro: Coro) {
        debug_assert!(!self.exists());
        // SAFETY: the caller guarantees exclusive access (see above).
        unsafe { *self.coro.get() = Some(ManuallyDrop::new(coro)) };
    }

    /// Record the yielder, from the coroutine's body as it starts.
    ///
    /// # Safety
    /// `y` is the yielder corosensei passed to this task's body: it lives at
    /// a fixed place on the coroutine's own stack for as long as the body
    /// runs, and the body calls this before anything can suspend.
    pub(crate) unsafe fn set_yielder(&self, y: &CoroYielder) {
        self.yielder.set(y as *const CoroYielder);
    }

    /// Run the coroutine until it suspends or returns.
    ///
    /// # Safety
    /// Called only by the hub's loop, from the root stack; the coroutine
    /// exists, is not running, and its home region is resident (its saved
    /// bytes are back in place).
    #[inline(always)]
    pub(crate) unsafe fn resume(&self) -> CoroutineResult<(), Output> {
        // SAFETY: the caller guarantees the coroutine exists and that no
        // other reference into the slot is live during the resume (the
        // running body only reaches the yielder, never the slot).
        unsafe {
            let c = (*self.coro.get()).as_mut().unwrap_unchecked();
            c.resume(())
        }
    }

    /// Suspend the running coroutine back to the loop.
    ///
    /// # Safety
    /// Called from inside this very coroutine while it runs: its yielder
    /// was recorded by `set_yielder` and its stack (where the yielder
    /// lives) is resident because it is the one running.
    #[inline(always)]
    pub(crate) unsafe fn suspend(&self) {
        // SAFETY: see the contract above.
        unsafe { (*self.yielder.get()).suspend(()) }
    }

    /// Drop the coroutine after it returned (or panicked out of its body).
    ///
    /// # Safety
    /// The coroutine has finished: dropping it unwinds nothing and touches
    /// no stack memory. Only the hub's loop calls this, while no reference
    /// into the slot is live.
    pub(crate) unsafe fn drop_returned(&self) {
        // SAFETY: the caller guarantees exclusive access and a finished
        // coroutine (see above).
        unsafe {
            if let Some(mut c) = (*self.coro.get()).take() {
                debug_assert!(c.done());
                ManuallyDrop::drop(&mut c);
            }
        }
    }
}
