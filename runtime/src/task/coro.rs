//! A task's body: one 48-byte place that holds, in turn, the closure it
//! will run, its coroutine and the yielder its body suspends through, then
//! its result — and the one place that states the rules for touching the
//! coroutine.
//!
//! ```text
//!   not started   [ Entry: table ptr | 40 B closure                 ]
//!   first run     [ yielder          | (closure moved out)          ]
//!   started       [ yielder          | Coro: 40 B                   ]
//!   finished      [ Result<Output, JoinError>: 16 B | -             ]
//! ```
//!
//! The closure is not copied onto the coroutine's stack: the first run
//! calls it where it lies in the record (`Entry::call_in_place` moves it out
//! before any of its code runs), and the yielder takes the word of the
//! entry's table pointer, which is read first. Only when the first resume
//! comes back is the coroutine object written over the closure's bytes;
//! during the first run the loop holds it (on its own stack, or as its
//! spare). So a never-run task costs its record and nothing else.
//!
//! The rules: the coroutine object is created on the task's first run (its
//! home region must be resident then), resumed only by the hub's loop from
//! the root stack, and dropped only once it has returned (dropping a
//! suspended one would unwind on its stack, which may not be resident).
//! Dropping the record never drops it. Every operation that relies on those
//! rules is an `unsafe fn` whose `# Safety` section says which rule the
//! caller upholds. Which of the four the body holds is the record's `kind`
//! (kept in the record's header, where it costs no padding), passed in by
//! the record's methods.

use std::cell::{Cell, UnsafeCell};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::entry::Entry;
use super::outcome::{JoinError, Output};
use crate::stack::RegionStack;

/// The single coroutine type used for every task, so the bytes the switch
/// pushes below the recorded stack pointer are the same everywhere.
pub(crate) type Coro = Coroutine<(), (), Output, RegionStack>;
/// What a coroutine's body suspends through.
pub(crate) type CoroYielder = Yielder<(), ()>;

/// What the body holds now (the record's `kind`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Kind {
    /// The closure, not yet run.
    Entry,
    /// First run: the closure was taken; the loop holds the coroutine.
    First,
    /// The coroutine (started, not finished).
    Coro,
    /// The result, until `join` takes it.
    Done,
    /// Nothing: the root pseudo-task, a taken result, or between states.
    Empty,
}

/// A running coroutine's part of the place: the yielder first (over the
/// entry's table pointer), then the coroutine (over the closure's bytes).
#[repr(C)]
struct Started {
    yielder: *const CoroYielder,
    coro: ManuallyDrop<Coro>,
}

#[repr(C)]
union Place {
    entry: ManuallyDrop<Entry>,
    started: ManuallyDrop<Started>,
    done: ManuallyDrop<Result<Output, JoinError>>,
    _raw: [MaybeUninit<usize>; 6],
}

/// The body's storage; its meaning is the record's `kind`.
#[repr(C)]
pub(crate) struct Body {
    place: UnsafeCell<Place>,
}

impl Body {
    #[inline(always)]
    pub(super) fn new(entry: Option<Entry>) -> (Body, Kind) {
        let (place, kind) = match entry {
            Some(e) => (
                Place {
                    entry: ManuallyDrop::new(e),
                },
                Kind::Entry,
            ),
            None => (
                Place {
                    _raw: [MaybeUninit::uninit(); 6],
                },
                Kind::Empty,
            ),
        };
        (
            Body {
                place: UnsafeCell::new(place),
            },
            kind,
        )
    }
}

impl Body {
    /// True once the coroutine exists (from the first run until it ends).
    #[inline(always)]
    pub(super) fn has_coro(kind: Kind) -> bool {
        matches!(kind, Kind::First | Kind::Coro)
    }

    /// Take the closure out (dropping a never-run task).
    pub(super) fn take_entry(&self, kind: &Cell<Kind>) -> Option<Entry> {
        if kind.get() != Kind::Entry {
            return None;
        }
        kind.set(Kind::Empty);
        // SAFETY: the kind said the place holds a live entry; it now says
        // nothing is there, so the entry is moved out exactly once.
        Some(unsafe { ManuallyDrop::take(&mut (*self.place.get()).entry) })
    }

    /// The first run begins: the closure stays where it is until the body
    /// calls it (`run_entry`); the loop holds the coroutine meanwhile.
    pub(super) fn begin_first_run(&self, kind: &Cell<Kind>) {
        debug_assert_eq!(kind.get(), Kind::Entry);
        kind.set(Kind::First);
    }

    /// The coroutine's body: record the yielder, then run the closure in
    /// place.
    ///
    /// # Safety
    /// Called once, first thing in this task's coroutine, after
    /// `begin_first_run`; `y` is the body's own yielder, which lives at a
    /// fixed place on the coroutine's stack for as long as the body runs.
    #[inline(always)]
    pub(super) unsafe fn run_entry(&self, kind: &Cell<Kind>, y: &CoroYielder) -> Output {
        debug_assert_eq!(kind.get(), Kind::First);
        // SAFETY: kind `First` means the entry bytes are still live and
        // nobody else will call or drop them (`take_entry` refuses, and the
        // record's drop skips `First`). `call_in_place` reads the table
        // pointer, lets the yielder take its word, then moves the closure
        // out before any of its code can suspend, so the loop may write the
        // coroutine over the closure's bytes after the first resume.
        unsafe {
            let place = self.place.get();
            let entry: *mut Entry = ptr::addr_of_mut!((*place).entry).cast();
            let yielder: *mut *const CoroYielder = place.cast();
            Entry::call_in_place(entry, || yielder.write(y as *const CoroYielder))
        }
    }

    /// Put the coroutine in after its first resume came back suspended.
    ///
    /// # Safety
    /// The task is in its first run (`First`) and suspended; the loop is
    /// between resumes, so no reference into the place is live.
    pub(super) unsafe fn install(&self, kind: &Cell<Kind>, coro: Coro) {
        debug_assert_eq!(kind.get(), Kind::First);
        // SAFETY: the closure was moved out at the start of the first run
        // (see `run_entry`); these bytes are free (the yielder before them
        // stays).
        unsafe {
            let started: *mut Started = ptr::addr_of_mut!((*self.place.get()).started).cast();
            ptr::addr_of_mut!((*started).coro).write(ManuallyDrop::new(coro));
        }
        kind.set(Kind::Coro);
    }

    /// Run the coroutine until it suspends or returns.
    ///
    /// # Safety
    /// Called only by the hub's loop, from the root stack; the coroutine is
    /// in the place (`Coro`), not running, and its home region is resident
    /// (its saved bytes are back in place).
    #[inline(always)]
    pub(super) unsafe fn resume(&self) -> CoroutineResult<(), Output> {
        // SAFETY: the caller guarantees the coroutine is there and that no
        // other reference into the place is live during the resume (the
        // running body only reads the yielder's word, never the coroutine).
        unsafe {
            let started: *mut Started = ptr::addr_of_mut!((*self.place.get()).started).cast();
            (*ptr::addr_of_mut!((*started).coro)).resume(())
        }
    }

    /// Suspend the running coroutine back to the loop.
    ///
    /// # Safety
    /// Called from inside this very coroutine while it runs: its yielder
    /// was recorded by `run_entry` and its stack (where the yielder lives)
    /// is resident because it is the one running.
    #[inline(always)]
    pub(super) unsafe fn suspend(&self) {
        // SAFETY: see the contract above; the yielder's word is the
        // place's first (written by `run_entry`).
        unsafe { (*self.place.get().cast::<*const CoroYielder>().read()).suspend(()) }
    }

    /// Drop the coroutine after it returned (or panicked out of its body);
    /// the place is empty afterwards. In the first run the loop holds the
    /// coroutine and drops it itself.
    ///
    /// # Safety
    /// The coroutine has finished: dropping it unwinds nothing and touches
    /// no stack memory. Only the hub's loop calls this, while no reference
    /// into the place is live.
    pub(super) unsafe fn drop_returned(&self, kind: &Cell<Kind>) {
        match kind.get() {
            Kind::Coro => {
                // SAFETY: the caller guarantees exclusive access and a
                // finished coroutine (see above).
                unsafe {
                    let started: *mut Started =
                        ptr::addr_of_mut!((*self.place.get()).started).cast();
                    let c = &mut *ptr::addr_of_mut!((*started).coro);
                    debug_assert!(c.done());
                    ManuallyDrop::drop(c);
                }
                kind.set(Kind::Empty);
            }
            Kind::First => kind.set(Kind::Empty),
            _ => {}
        }
    }

    /// Store the result (the coroutine was dropped or never made).
    pub(super) fn set_result(&self, kind: &Cell<Kind>, r: Result<Output, JoinError>) {
        debug_assert!(!Body::has_coro(kind.get()));
        self.drop_place(kind);
        // SAFETY: the place is empty now (`drop_place`).
        unsafe { ptr::write(&mut (*self.place.get()).done, ManuallyDrop::new(r)) };
        kind.set(Kind::Done);
    }

    /// Take the result out, if it is there.
    ///
    /// # Safety
    /// No reference from `result` is live.
    pub(super) unsafe fn take_result(
        &self,
        kind: &Cell<Kind>,
    ) -> Option<Result<Output, JoinError>> {
        if kind.get() != Kind::Done {
            return None;
        }
        kind.set(Kind::Empty);
        // SAFETY: the kind said a result is there, and now says none is;
        // no reference to it is live (the caller's contract).
        Some(unsafe { ManuallyDrop::take(&mut (*self.place.get()).done) })
    }

    /// The result, if it is there.
    ///
    /// # Safety
    /// The reference must end before the result is taken or replaced
    /// (`take_result`, `set_result`, `drop_place`).
    pub(super) unsafe fn result(&self, kind: Kind) -> Option<&Result<Output, JoinError>> {
        // SAFETY: the kind says a result is there; the caller keeps it in
        // place while the reference lives.
        (kind == Kind::Done).then(|| unsafe { &*(*self.place.get()).done })
    }

    /// Drop whatever the place holds except a coroutine (which is never
    /// dropped with the record: see the module's rules).
    pub(super) fn drop_place(&self, kind: &Cell<Kind>) {
        let k = kind.get();
        kind.set(Kind::Empty);
        // SAFETY: the kind said what is live in the place; it now says
        // nothing is, so each value is dropped once.
        unsafe {
            let p = &mut *self.place.get();
            match k {
                Kind::Entry => ManuallyDrop::drop(&mut p.entry),
                Kind::Done => ManuallyDrop::drop(&mut p.done),
                Kind::First | Kind::Coro | Kind::Empty => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_holds_an_entry_a_coroutine_or_a_result_in_48_bytes() {
        assert_eq!(std::mem::size_of::<Coro>(), 40);
        assert_eq!(std::mem::size_of::<Started>(), 48);
        // A `JoinError` is one pointer (a panic's data is boxed), which
        // leaves room for the result in the payload's niche.
        assert_eq!(std::mem::size_of::<Result<Output, JoinError>>(), 16);
        assert_eq!(std::mem::size_of::<Body>(), 48);
    }
}
