//! One coroutine's record: identity, state, park generation, result slot and
//! cancellation flags.
//!
//! This module owns the `Task` struct and nothing else. It never switches
//! stacks and never touches the ready queue: `hub.rs` drives the state
//! machine, `stack.rs` owns the stack fields' meaning. A `Task` lives in the
//! heap (behind `Rc`), never on a coroutine stack, so waiters and timers may
//! point at it while its coroutine is parked.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::rc::Rc;
use std::time::Instant;

use corosensei::{Coroutine, Yielder};

use crate::join::JoinError;
use crate::stack::RegionStack;
use crate::wait::WaitList;

/// The single coroutine type used for every task, so the bytes the switch
/// pushes below the recorded stack pointer are the same everywhere.
pub(crate) type Coro = Coroutine<(), (), (), RegionStack>;
pub(crate) type CoroYielder = Yielder<(), ()>;

/// What the user's closure returns, type-erased. `Box<()>` does not allocate.
pub(crate) type Output = Box<dyn Any>;
pub(crate) type Entry = Box<dyn FnOnce() -> Output>;
pub(crate) type Link = Box<dyn FnOnce(&Task)>;

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum State {
    /// In the ready queue (or about to be put there).
    Ready,
    /// Executing right now.
    Running,
    /// Suspended until an `Unparker` of the current generation, a timer or a
    /// kill wakes it.
    Parked,
    /// Returned, panicked or was killed; the result slot is filled.
    Finished,
}

/// Why a parked task was made ready.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum WakeReason {
    Notified,
    TimedOut,
    Killed,
}

/// What a task is parked on, for diagnostics (`run_info`, deadlock reports).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ParkedOn {
    /// Waiting for a timer (sleep, `spawn_later`).
    Timer,
    /// Waiting for an fd to become readable or writable.
    Fd(i32),
    /// Waiting on a wait-list (a queue, lock, event or join).
    WaitList,
    /// Waiting for another OS thread (blocking pool, cross-thread channel).
    Remote,
    /// Yielded and queued to run again.
    Yield,
}

/// Rarely used fields, boxed so a parked task stays small.
#[derive(Default)]
pub(crate) struct Extra {
    /// `timeout()` frames active in this task: (deadline, frame id).
    pub(crate) frames: Vec<(Instant, u64)>,
    /// `on_finish` callbacks, run in the order added.
    pub(crate) links: Vec<Link>,
    /// Panic message captured by the panic hook, reported if never joined.
    pub(crate) panic_message: Option<String>,
}

pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) name: Option<Rc<str>>,
    pub(crate) spawned_at: &'static Location<'static>,
    /// Index of the stack pool (size class) this task's stack comes from.
    pub(crate) stack_class: u32,
    /// Index in the hub's task slab; `usize::MAX` for the root pseudo-task.
    pub(crate) slot: Cell<usize>,
    pub(crate) state: Cell<State>,
    /// Park generation: bumped on every wake, so stale wakes are ignored.
    pub(crate) gen: Cell<u32>,
    pub(crate) wake: Cell<WakeReason>,
    pub(crate) parked_on: Cell<ParkedOn>,
    pub(crate) kill_requested: Cell<bool>,
    /// A timer entry for the current park exists in the timer heap.
    pub(crate) timer_armed: Cell<bool>,
    /// Someone holds (or held and joined) a `JoinHandle`.
    pub(crate) detached: Cell<bool>,
    /// The coroutine has been created and resumed at least once.
    pub(crate) started: Cell<bool>,
    pub(crate) last_run: Cell<Option<Instant>>,
    pub(crate) entry: Cell<Option<Entry>>,
    /// Created on first run (its home region must be resident then).
    pub(crate) coro: UnsafeCell<Option<ManuallyDrop<Coro>>>,
    pub(crate) yielder: Cell<*const CoroYielder>,
    /// Stack pointer recorded by the park path just before suspending.
    pub(crate) saved_sp: Cell<usize>,
    /// Home region index within the stack pool, `u32::MAX` until first run.
    pub(crate) home: Cell<u32>,
    /// The used stack bytes while another task occupies the home region.
    pub(crate) saved_stack: Cell<Option<Box<[u8]>>>,
    pub(crate) result: RefCell<Option<Result<Output, JoinError>>>,
    pub(crate) joiners: WaitList,
    pub(crate) extra: RefCell<Option<Box<Extra>>>,
}

impl Task {
    pub(crate) fn new(
        id: u64,
        name: Option<Rc<str>>,
        stack_class: u32,
        entry: Option<Entry>,
        spawned_at: &'static Location<'static>,
    ) -> Task {
        Task {
            id,
            name,
            spawned_at,
            stack_class,
            slot: Cell::new(usize::MAX),
            state: Cell::new(State::Ready),
            gen: Cell::new(0),
            wake: Cell::new(WakeReason::Notified),
            parked_on: Cell::new(ParkedOn::Yield),
            kill_requested: Cell::new(false),
            timer_armed: Cell::new(false),
            detached: Cell::new(false),
            started: Cell::new(false),
            last_run: Cell::new(None),
            entry: Cell::new(entry),
            coro: UnsafeCell::new(None),
            yielder: Cell::new(std::ptr::null()),
            saved_sp: Cell::new(0),
            home: Cell::new(u32::MAX),
            saved_stack: Cell::new(None),
            result: RefCell::new(None),
            joiners: WaitList::new(),
            extra: RefCell::new(None),
        }
    }

    pub(crate) fn is_root(&self) -> bool {
        self.slot.get() == usize::MAX
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.get() == State::Finished
    }

    /// True once the coroutine object exists (the task has run at least once).
    pub(crate) fn has_coro(&self) -> bool {
        // SAFETY: `coro` is only mutated by the hub while this task is not
        // running; reading whether it is `Some` never overlaps that.
        unsafe { (*self.coro.get()).is_some() }
    }

    pub(crate) fn with_extra<R>(&self, f: impl FnOnce(&mut Extra) -> R) -> R {
        let mut e = self.extra.borrow_mut();
        f(e.get_or_insert_with(Default::default))
    }

    /// Earliest deadline among this task's `timeout()` frames, with its id.
    pub(crate) fn frame_deadline(&self) -> Option<(Instant, u64)> {
        let e = self.extra.borrow();
        let frames = &e.as_ref()?.frames;
        frames.iter().copied().min_by_key(|(d, _)| *d)
    }

    pub(crate) fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("<unnamed>")
    }
}
