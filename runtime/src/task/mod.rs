//! One coroutine's record: identity, state, park generation, result slot and
//! cancellation flags; and the waiter data that refers to it (`Unparker`,
//! `WaitList` storage).
//!
//! This module owns records, never behaviour: it never parks, never switches
//! stacks, never touches the ready queue and never names the scheduler
//! (`sched/` drives the state machine; `stack/` owns the meaning of the
//! stack fields). A `Task` lives in the heap (an arena block behind
//! `TaskRef`), never on a coroutine stack, so waiters and timers may point
//! at it while its coroutine is parked.
//!
//! Submodules: `entry` (the user's closure, erased in place), `coro` (the
//! body: closure, then coroutine, then result, in one place), `outcome`
//! (what a task ends with: `JoinError`), `table` (the hub's table of live
//! tasks).
//!
//! Where a task's bytes go (x86-64, release): the record is 112 bytes — 40
//! of identity, state and park bookkeeping, 16 of stack state (`StackState`),
//! 48 of body (`coro.rs`) and 8 for the rarely used side data (name,
//! joiners, timeout frames, callbacks), allocated only when needed. See
//! `record_is_112_bytes` below and docs/memory.md's per-byte breakdown.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::Location;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::Instant;

use crate::arena;
use crate::marker::{Bound, ThreadBound, THREAD_BOUND};

pub(crate) mod coro;
pub(crate) mod entry;
pub(crate) mod outcome;
pub(crate) mod table;

use crate::stack::StackState;
use coro::{Body, Kind};
pub(crate) use coro::{Coro, CoroYielder};
pub(crate) use entry::Entry;
pub(crate) use outcome::{payload_text, Output};
pub use outcome::{JoinError, Panic};

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
    /// Returned, panicked or was killed and its result is stored, but its
    /// `on_finish` callbacks are still running (in a coroutine of their own).
    Finishing,
    /// Done: the result slot is filled and every callback has run.
    Finished,
}

/// Why a parked task was made ready.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum WakeReason {
    Notified,
    TimedOut,
    Killed,
}

/// What a parked coroutine waits for, as `green::run_info`
/// and deadlock reports show it (in
/// `CoroutineState::Parked`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ParkedOn {
    /// A timer: `sleep`, a `spawn_later` that has not started yet.
    Timer,
    /// A file descriptor to become readable or writable (a socket read,
    /// `accept`, `rt::wait_fd`).
    Fd(i32),
    /// Another coroutine: a queue, lock, event or join.
    WaitList,
    /// Another OS thread: `spawn_blocking`, an `xchan` receive, a future's
    /// waker in `block_on`.
    Remote,
    /// Nothing: it yielded and is queued to run again.
    Yield,
}

impl ParkedOn {
    /// Four bytes instead of eight: fds are non-negative, the other kinds
    /// take negative codes.
    #[inline(always)]
    pub(crate) fn pack(self) -> i32 {
        match self {
            ParkedOn::Fd(fd) => fd.max(0),
            ParkedOn::Timer => -1,
            ParkedOn::WaitList => -2,
            ParkedOn::Remote => -3,
            ParkedOn::Yield => -4,
        }
    }

    #[inline(always)]
    pub(crate) fn unpack(v: i32) -> ParkedOn {
        match v {
            -1 => ParkedOn::Timer,
            -2 => ParkedOn::WaitList,
            -3 => ParkedOn::Remote,
            v if v >= 0 => ParkedOn::Fd(v),
            _ => ParkedOn::Yield,
        }
    }
}

/// Rarely used data, boxed and made on first use so a task that has none
/// of it (most) pays eight bytes.
#[derive(Default)]
struct Side {
    /// The name given with `Builder::name`.
    name: Option<Rc<String>>,
    /// Who waits for this task to finish; made on first join that parks.
    joiners: OnceCell<Rc<WaitList>>,
    /// `on_finish` callbacks reading the result now.
    result_readers: Cell<u32>,
    extra: RefCell<Extra>,
}

/// What the panic hook records of a panic raised in a task: where, and the
/// payload's text, which tells whether the panic that ends the task is this
/// one (a payload re-raised with `resume_unwind` never reaches the hook).
#[derive(Debug)]
pub(crate) struct HookedPanic {
    pub(crate) location: Option<String>,
    pub(crate) message: Option<String>,
}

/// Rarely used fields that change while the task lives.
#[derive(Default)]
pub(crate) struct Extra {
    /// `timeout()` frames active in this task: (deadline, frame id).
    pub(crate) frames: Vec<(Instant, u64)>,
    /// One mark per unwind of this task still under way, innermost last:
    /// taken from the same counter as frame ids when the unwind started,
    /// so the frames made since (inside its destructors) are exactly those
    /// with a greater id.
    pub(crate) unwinds: Vec<u64>,
    /// `on_finish` callbacks, run in the order added.
    pub(crate) links: Vec<Link>,
    /// The last panic the panic hook saw raised in this task.
    pub(crate) panic: Option<HookedPanic>,
    /// Id of the helper coroutine running this task's `on_finish`
    /// callbacks, while it runs them.
    pub(crate) links_runner: Option<u64>,
}

const KILL: u8 = 1;
const TIMER: u8 = 2;
const DETACHED: u8 = 4;
const STARTED: u8 = 8;
const SERVICE: u8 = 16;
const FRAMES: u8 = 32;
const UNWINDING: u8 = 64;

/// Where a task record is kept: the thread's root pseudo-task is the hub's
/// own; every coroutine has a slot in the hub's task table.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum TaskSlot {
    /// The root context (e.g. `main`), which has no coroutine.
    Root,
    /// Index in the hub's task table.
    Table(usize),
}

/// The task record. Kept small: a million of them may be parked at once.
pub(crate) struct Task {
    refs: Cell<u32>,
    /// Index in the hub's task table; `u32::MAX` for the root pseudo-task
    /// (four bytes instead of a `TaskSlot`'s sixteen; see `slot()`).
    slot: Cell<u32>,
    pub(crate) id: u64,
    pub(crate) spawned_at: &'static Location<'static>,
    /// Park generation: bumped on every wake, so stale wakes are ignored.
    pub(crate) gen: Cell<u32>,
    pub(crate) state: Cell<State>,
    flags: Cell<u8>,
    pub(crate) wake: Cell<WakeReason>,
    /// What `body` holds.
    kind: Cell<Kind>,
    /// What it is parked on, packed into an `i32` (see `ParkedOn::pack`).
    parked_on: Cell<i32>,
    /// When it last suspended: milliseconds after the hub's epoch, plus one
    /// (0: never ran). Four bytes instead of an `Option<Instant>`'s sixteen.
    last_run: Cell<u32>,
    /// Home region, saved bytes and recorded stack pointer (only the
    /// `stack` module reads or changes them).
    pub(crate) stack: StackState,
    /// The closure, then the coroutine and its yielder, then the result.
    body: Body,
    /// Name, joiners and other rare data, made on first use.
    side: OnceCell<Box<Side>>,
}

impl Drop for Task {
    fn drop(&mut self) {
        // A coroutine is never dropped with its record (see `coro.rs`).
        self.drop_place();
    }
}

impl Task {
    #[inline(always)]
    pub(crate) fn new(
        id: u64,
        name: Option<Rc<String>>,
        stack_class: u32,
        entry: Option<Entry>,
        spawned_at: &'static Location<'static>,
    ) -> Task {
        let (body, kind) = Body::new(entry);
        let side = OnceCell::new();
        if name.is_some() {
            let _ = side.set(Box::new(Side {
                name,
                ..Side::default()
            }));
        }
        Task {
            refs: Cell::new(0),
            slot: Cell::new(u32::MAX),
            id,
            spawned_at,
            gen: Cell::new(0),
            state: Cell::new(State::Ready),
            flags: Cell::new(0),
            wake: Cell::new(WakeReason::Notified),
            kind: Cell::new(kind),
            parked_on: Cell::new(ParkedOn::Yield.pack()),
            last_run: Cell::new(0),
            stack: StackState::new(stack_class),
            body,
            side,
        }
    }

    /// Where the record is kept: the root's own, or a slot of the table.
    pub(crate) fn slot(&self) -> TaskSlot {
        match self.slot.get() {
            u32::MAX => TaskSlot::Root,
            s => TaskSlot::Table(s as usize),
        }
    }

    pub(crate) fn set_slot(&self, slot: usize) {
        // More than 4 billion live tasks would exhaust memory long before.
        debug_assert!(slot < u32::MAX as usize);
        self.slot.set(slot as u32);
    }

    pub(crate) fn is_root(&self) -> bool {
        self.slot.get() == u32::MAX
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.get() == State::Finished
    }

    #[inline(always)]
    fn flag(&self, f: u8) -> bool {
        self.flags.get() & f != 0
    }

    #[inline(always)]
    fn set_flag(&self, f: u8, on: bool) {
        let v = self.flags.get();
        self.flags.set(if on { v | f } else { v & !f });
    }

    /// Stamp the time it suspended: the loop's coarse clock as milliseconds
    /// after the hub's epoch, plus one (see `Hub::set_clock`).
    #[inline(always)]
    pub(crate) fn set_last_run(&self, stamp: u32) {
        self.last_run.set(stamp);
    }

    /// When it last suspended, if it ever ran.
    pub(crate) fn last_run(&self, epoch: Instant) -> Option<Instant> {
        match self.last_run.get() {
            0 => None,
            ms => Some(epoch + std::time::Duration::from_millis(u64::from(ms - 1))),
        }
    }

    /// What the task is parked on (diagnostics and the deadlock check).
    #[inline(always)]
    pub(crate) fn parked_on(&self) -> ParkedOn {
        ParkedOn::unpack(self.parked_on.get())
    }
    #[inline(always)]
    pub(crate) fn set_parked_on(&self, on: ParkedOn) {
        self.parked_on.set(on.pack());
    }

    /// A kill was requested and not yet delivered.
    pub(crate) fn kill_requested(&self) -> bool {
        self.flag(KILL)
    }
    pub(crate) fn set_kill_requested(&self, on: bool) {
        self.set_flag(KILL, on)
    }
    /// Take the pending kill request, if any.
    #[inline(always)]
    pub(crate) fn take_kill(&self) -> bool {
        let k = self.flag(KILL);
        if k {
            self.set_flag(KILL, false);
        }
        k
    }
    /// A timer entry for the current park exists in the timer heap.
    pub(crate) fn timer_armed(&self) -> bool {
        self.flag(TIMER)
    }
    pub(crate) fn set_timer_armed(&self, on: bool) {
        self.set_flag(TIMER, on)
    }
    /// Nobody holds a `JoinHandle` any more (it was dropped unjoined).
    pub(crate) fn detached(&self) -> bool {
        self.flag(DETACHED)
    }
    pub(crate) fn set_detached(&self, on: bool) {
        self.set_flag(DETACHED, on)
    }

    /// A runtime-owned coroutine that waits for ever by design (the loop of
    /// a `green::signal::handler`): no leftover of the program's work, so
    /// the main thread's exit note leaves it out.
    pub(crate) fn is_service(&self) -> bool {
        self.flag(SERVICE)
    }
    pub(crate) fn set_service(&self) {
        self.set_flag(SERVICE, true)
    }
    /// The coroutine has been created and resumed at least once.
    pub(crate) fn started(&self) -> bool {
        self.flag(STARTED)
    }
    pub(crate) fn set_started(&self) {
        self.set_flag(STARTED, true)
    }

    /// A kill is pending or a `timeout` frame is active: the park and
    /// yield paths must take their slow branch.
    #[inline(always)]
    pub(crate) fn has_special(&self) -> bool {
        self.flags.get() & (KILL | FRAMES) != 0
    }
    pub(crate) fn set_has_frames(&self, on: bool) {
        self.set_flag(FRAMES, on)
    }

    /// Mark that a panic or an interruption started unwinding this task
    /// (set by the panic hook and by the runtime's own raises); `mark`
    /// (from the hub's frame-id counter) tells the `timeout` frames made
    /// inside this unwind's destructors from the ones it unwinds to.
    pub(crate) fn begin_unwind(&self, mark: u64) {
        self.with_extra(|e| e.unwinds.push(mark));
        self.set_flag(UNWINDING, true)
    }

    /// The mark of the innermost unwind under way (call only when
    /// `is_unwinding`): frames with a greater id were made inside it.
    pub(crate) fn unwind_mark(&self) -> u64 {
        self.read_extra(|e| e.unwinds.last().copied())
            .flatten()
            .unwrap_or(0)
    }

    /// Unwinds that started after `mark` have been caught (by a runtime
    /// frame made at `mark`, or one that ran while nothing else unwound
    /// inside it): forget them; the task stops counting as unwinding when
    /// none is left.
    pub(crate) fn unwinds_caught_since(&self, mark: u64) {
        if !self.flag(UNWINDING) {
            return;
        }
        let left = self.with_extra(|e| {
            e.unwinds.retain(|&m| m < mark);
            !e.unwinds.is_empty()
        });
        self.set_flag(UNWINDING, left);
    }

    /// Whether this task is unwinding now, so its destructors may be the
    /// ones parking: such parks must never raise again (a second unwind out
    /// of a destructor aborts the process).
    ///
    /// The thread's panic count is shared by every coroutine on the thread,
    /// so it alone cannot say *which* task unwinds; the flag says this one
    /// started to, and the count says an unwind is still going on. A flag
    /// whose unwind was caught by the user's own `catch_unwind` is cleared
    /// the next time this is asked while nothing unwinds.
    #[cold]
    pub(crate) fn is_unwinding(&self) -> bool {
        if !self.flag(UNWINDING) {
            return false;
        }
        if std::thread::panicking() {
            return true;
        }
        self.with_extra(|e| e.unwinds.clear());
        self.set_flag(UNWINDING, false);
        false
    }

    /// True once the coroutine exists (from the first run until it ends).
    #[inline(always)]
    pub(crate) fn has_coro(&self) -> bool {
        Body::has_coro(self.kind.get())
    }

    /// Take the closure out (dropping a never-run task).
    pub(crate) fn take_entry(&self) -> Option<Entry> {
        self.body.take_entry(&self.kind)
    }

    /// The first run begins (see `coro.rs`).
    pub(crate) fn begin_first_run(&self) {
        self.body.begin_first_run(&self.kind);
        self.set_started();
    }

    /// The coroutine's body: record the yielder, run the closure in place.
    ///
    /// # Safety
    /// See `Body::run_entry`: first thing in this task's first run, with
    /// the body's own yielder.
    #[inline(always)]
    pub(crate) unsafe fn run_entry(&self, y: &CoroYielder) -> Output {
        // SAFETY: the caller's contract is the body's.
        unsafe { self.body.run_entry(&self.kind, y) }
    }

    /// Put the coroutine in after its first resume came back suspended.
    ///
    /// # Safety
    /// See `Body::install`.
    pub(crate) unsafe fn install(&self, coro: Coro) {
        // SAFETY: the caller's contract is the body's.
        unsafe { self.body.install(&self.kind, coro) }
    }

    /// Run the coroutine until it suspends or returns.
    ///
    /// # Safety
    /// See `Body::resume`: the loop, on the root stack, with the task's
    /// coroutine in the record and its home region resident.
    #[inline(always)]
    pub(crate) unsafe fn resume(&self) -> corosensei::CoroutineResult<(), Output> {
        debug_assert_eq!(self.kind.get(), Kind::Coro);
        // SAFETY: the caller's contract is the body's.
        unsafe { self.body.resume() }
    }

    /// Suspend the running coroutine back to the loop.
    ///
    /// # Safety
    /// See `Body::suspend`: from inside this task's running coroutine.
    #[inline(always)]
    pub(crate) unsafe fn suspend(&self) {
        // SAFETY: the caller's contract is the body's.
        unsafe { self.body.suspend() }
    }

    /// Drop the coroutine after it returned.
    ///
    /// # Safety
    /// See `Body::drop_returned`.
    pub(crate) unsafe fn drop_returned(&self) {
        // SAFETY: the caller's contract is the body's.
        unsafe { self.body.drop_returned(&self.kind) }
    }

    /// Store the result (the coroutine was dropped or never made).
    pub(crate) fn set_result(&self, r: Result<Output, JoinError>) {
        assert_eq!(
            self.result_readers(),
            0,
            "green: a coroutine's result was replaced while an on_finish callback reads it"
        );
        self.body.set_result(&self.kind, r)
    }

    /// Take the result out, if it is there.
    pub(crate) fn take_result(&self) -> Option<Result<Output, JoinError>> {
        if self.kind.get() != Kind::Done {
            return None;
        }
        assert_eq!(
            self.result_readers(),
            0,
            "green: a coroutine's result was taken while an on_finish callback reads it"
        );
        // SAFETY: no reference to the result is lent (checked above).
        unsafe { self.body.take_result(&self.kind) }
    }

    /// `on_finish` callbacks reading the result now (they may block, so
    /// several may overlap).
    fn result_readers(&self) -> u32 {
        self.side.get().map_or(0, |s| s.result_readers.get())
    }

    /// Call `f` with the result, if it is there (`on_finish` callbacks,
    /// which may block). Readers may overlap; taking or replacing the
    /// result meanwhile panics, as with a `RefCell`.
    pub(crate) fn with_result<R>(
        &self,
        f: impl FnOnce(Option<&Result<Output, JoinError>>) -> R,
    ) -> R {
        if self.kind.get() != Kind::Done {
            return f(None);
        }
        struct Lend<'a>(&'a Cell<u32>);
        impl Drop for Lend<'_> {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        let readers = &self.side().result_readers;
        readers.set(readers.get() + 1);
        let _lend = Lend(readers);
        // SAFETY: the result stays in place while any reader holds it:
        // `take_result` and `set_result` refuse while readers are counted,
        // and the record's drop cannot run while `self` is borrowed.
        f(unsafe { self.body.result(self.kind.get()) })
    }

    /// Look at the result without lending it to user code.
    fn peek_result<R>(&self, f: impl FnOnce(Option<&Result<Output, JoinError>>) -> R) -> R {
        // SAFETY: `f` is the runtime's own check, which neither takes nor
        // replaces the result, and the reference ends with it.
        f(unsafe { self.body.result(self.kind.get()) })
    }

    fn drop_place(&self) {
        self.body.drop_place(&self.kind)
    }

    /// Whether the task ended with a value other than `()` (which a
    /// detached task's dropper must drop in a coroutine of its own).
    pub(crate) fn has_value_result(&self) -> bool {
        self.peek_result(|r| matches!(r, Some(Ok(v)) if !v.is::<()>()))
    }

    fn side(&self) -> &Side {
        self.side.get_or_init(Default::default)
    }

    pub(crate) fn with_extra<R>(&self, f: impl FnOnce(&mut Extra) -> R) -> R {
        f(&mut self.side().extra.borrow_mut())
    }

    /// Read the rare fields, if they were ever made.
    fn read_extra<R>(&self, f: impl FnOnce(&Extra) -> R) -> Option<R> {
        self.side.get().map(|s| f(&s.extra.borrow()))
    }

    /// Whether `on_finish` callbacks are waiting to run.
    pub(crate) fn has_links(&self) -> bool {
        self.read_extra(|e| !e.links.is_empty()).unwrap_or(false)
    }

    /// Take the next `on_finish` callback, in the order they were added.
    pub(crate) fn next_link(&self) -> Option<Link> {
        let s = self.side.get()?;
        let mut e = s.extra.borrow_mut();
        (!e.links.is_empty()).then(|| e.links.remove(0))
    }

    /// Id of the coroutine running this task's `on_finish` callbacks.
    pub(crate) fn links_runner(&self) -> Option<u64> {
        self.read_extra(|e| e.links_runner).flatten()
    }

    /// Take what the panic hook recorded of the last panic raised in this
    /// task, if anything.
    pub(crate) fn take_hooked_panic(&self) -> Option<HookedPanic> {
        self.side.get()?.extra.borrow_mut().panic.take()
    }

    /// The report of the task's panic, `panicked at <file:line:col>:\n<msg>`
    /// (as std words a thread's), if it ended by panicking.
    pub(crate) fn panic_report(&self) -> Option<String> {
        self.peek_result(|r| match r {
            Some(Err(JoinError::Panicked(p))) => {
                let mut s = String::from("panicked");
                if let Some(l) = p.location() {
                    s.push_str(" at ");
                    s.push_str(l);
                }
                if let Some(m) = p.message() {
                    s.push_str(if p.location().is_some() { ":\n" } else { ": " });
                    s.push_str(m);
                }
                Some(s)
            }
            _ => None,
        })
    }

    /// Earliest deadline among this task's `timeout()` frames, with its id.
    pub(crate) fn frame_deadline(&self) -> Option<(Instant, u64)> {
        self.frame_deadline_after(0)
    }

    /// Earliest deadline among the `timeout()` frames made after `mark`
    /// (see `unwind_mark`), with its id.
    pub(crate) fn frame_deadline_after(&self, mark: u64) -> Option<(Instant, u64)> {
        self.read_extra(|e| {
            e.frames
                .iter()
                .copied()
                .filter(|&(_, id)| id > mark)
                .min_by_key(|(d, _)| *d)
        })
        .flatten()
    }

    /// The wait-list of joiners, created on first use.
    pub(crate) fn joiners(&self) -> Rc<WaitList> {
        self.side()
            .joiners
            .get_or_init(|| Rc::new(WaitList::new()))
            .clone()
    }

    /// Entries on the joiners list (diagnostics and tests).
    pub(crate) fn joiners_len(&self) -> usize {
        self.joiners_if_any().map_or(0, |j| j.len())
    }

    /// The wait-list of joiners, if anyone ever joined (waking it is the
    /// scheduler's business).
    pub(crate) fn joiners_if_any(&self) -> Option<&Rc<WaitList>> {
        self.side.get()?.joiners.get()
    }

    /// The name given with `Builder::name`.
    pub(crate) fn name(&self) -> Option<&Rc<String>> {
        self.side.get()?.name.as_ref()
    }

    pub(crate) fn display_name(&self) -> &str {
        self.name().map_or("<unnamed>", |n| n.as_str())
    }
}

/// A counted reference to a task record in the arena (like `Rc<Task>`, but
/// with the record allocated from `arena.rs`).
///
/// Thread-bound like an `Rc`: the count is a plain `Cell` and the record
/// lives in this thread's arena. The marker says so, and makes every public
/// type holding a task (a `JoinHandle`, the wait-lists inside each
/// primitive) fail to cross threads with an error that names
/// `ThreadBound` rather than this internal pointer.
pub(crate) struct TaskRef {
    ptr: Bound<NonNull<Task>>,
    _thread: PhantomData<ThreadBound>,
}

impl TaskRef {
    pub(crate) fn new(task: Task) -> TaskRef {
        TaskRef::new_with(|| task)
    }

    /// A record made by `make`, written straight into its arena block
    /// (the block is taken first, so `make` inlined writes in place).
    #[inline(always)]
    pub(crate) fn new_with(make: impl FnOnce() -> Task) -> TaskRef {
        let p = arena::alloc(std::mem::size_of::<Task>()) as *mut Task;
        // SAFETY: fresh, 16-aligned block of the task's size.
        unsafe { p.write(make()) };
        // SAFETY: `alloc` never returns null.
        let r = TaskRef::from_ptr(unsafe { NonNull::new_unchecked(p) });
        r.refs.set(1);
        r
    }

    /// Another counted reference to a task already owned by a `TaskRef`
    /// (every task is: the hub allocates them all through `new`).
    #[inline(always)]
    pub(crate) fn from_task(task: &Task) -> TaskRef {
        task.refs.set(task.refs.get() + 1);
        TaskRef::from_ptr(NonNull::from(task))
    }

    #[inline(always)]
    fn from_ptr(p: NonNull<Task>) -> TaskRef {
        TaskRef {
            ptr: Bound(p),
            _thread: THREAD_BOUND,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const Task {
        self.ptr.as_ptr()
    }

    /// Start loading the record's cache lines (a hint: reads nothing).
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        let p = self.as_ptr().cast::<u8>();
        crate::arch::prefetch_range(p, std::mem::size_of::<Task>());
    }

    pub(crate) fn ptr_eq(a: &TaskRef, b: &TaskRef) -> bool {
        *a.ptr == *b.ptr
    }
}

impl Clone for TaskRef {
    #[inline(always)]
    fn clone(&self) -> TaskRef {
        self.refs.set(self.refs.get() + 1);
        TaskRef::from_ptr(*self.ptr)
    }
}

impl Drop for TaskRef {
    #[inline(always)]
    fn drop(&mut self) {
        let n = self.refs.get() - 1;
        self.refs.set(n);
        if n == 0 {
            // SAFETY: last reference; the record was written by `new` into an
            // arena block of this size on this thread (tasks are !Send).
            unsafe {
                std::ptr::drop_in_place(self.ptr.as_ptr());
                arena::free(self.ptr.as_ptr().cast(), std::mem::size_of::<Task>());
            }
        }
    }
}

impl std::ops::Deref for TaskRef {
    type Target = Task;
    #[inline(always)]
    fn deref(&self) -> &Task {
        // SAFETY: the record lives while any TaskRef does.
        unsafe { self.ptr.as_ref() }
    }
}

// ---------------------------------------------------------------- waiters
//
// Waiter data lives with the task record because each refers to the other
// (a task's joiners are a `WaitList`; an `Unparker` names a task). Plain
// data on purpose: waking (`Unparker::unpark`, `WaitList::notify_*`) and
// parking on a list (`WaitList::wait_as`) are the scheduler's
// (`sched/park.rs`); the waiting API is `wait_list.rs`'s. Both types are
// public only for greenhub-monkey and greenhub's tests (`#[doc(hidden)]`
// where they are exported); not a stable API.

/// An owned wake-up right for one park of one coroutine (or the thread's
/// root).
///
/// Obtained with `rt::unparker` *before* parking; valid only for the next
/// park. Waking a coroutine that is no longer parked for that very park
/// does nothing, so a stale wake can never resume it at the wrong point.
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
#[derive(Clone)]
pub struct Unparker {
    pub(crate) task: TaskRef,
    pub(crate) gen: u32,
}

impl Unparker {
    #[inline]
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

/// A first-in, first-out list of parked coroutines (or the thread's root
/// context): what every blocking primitive parks on.
///
/// Most lists hold one waiter at a time (a socket's readers, a joiner, a
/// lock's next owner), so the first waiter lives in the list itself and
/// only the ones behind it in a queue made on first use: waking the usual
/// single waiter reads no memory but the list's own (with thousands of
/// sockets, a separate queue buffer was one more cold line per request).
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
#[derive(Default)]
pub struct WaitList {
    /// The first waiter; empty only when the whole list is.
    head: Cell<Option<Unparker>>,
    /// The waiters behind the first, in order. Boxed on purpose: most
    /// lists never hold more than one waiter, and a pointer keeps the
    /// list (embedded in every event, lock and socket) one word wide
    /// instead of a `VecDeque`'s four.
    #[allow(clippy::box_collection)]
    rest: RefCell<Option<Box<VecDeque<Unparker>>>>,
}

impl WaitList {
    /// An empty list.
    pub const fn new() -> WaitList {
        WaitList {
            head: Cell::new(None),
            rest: RefCell::new(None),
        }
    }

    /// The first waiter, lent for a look (no code runs while it is lent:
    /// nothing can replace it meanwhile).
    #[inline(always)]
    fn head(&self) -> Option<&Unparker> {
        // SAFETY: the cell is only written by `push_back`, `pop_front` and
        // `remove`, none of which can run while the caller holds the
        // reference (they are not reentrant, and the callers below run no
        // other code until they drop it).
        unsafe { (*self.head.as_ptr()).as_ref() }
    }

    fn rest_len(&self) -> usize {
        self.rest.borrow().as_ref().map_or(0, |r| r.len())
    }

    /// Number of entries (including ones that already gave up but have not
    /// been cleaned yet; only an upper bound on live waiters).
    pub fn len(&self) -> usize {
        usize::from(self.head().is_some()) + self.rest_len()
    }

    /// True when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.head().is_none()
    }

    /// Add a waiter at the back.
    pub(crate) fn push_back(&self, u: Unparker) {
        if self.head().is_none() {
            self.head.set(Some(u));
        } else {
            self.rest
                .borrow_mut()
                .get_or_insert_with(Default::default)
                .push_back(u);
        }
    }

    /// Take the first waiter, if any.
    #[inline]
    pub(crate) fn pop_front(&self) -> Option<Unparker> {
        let first = self.head.take()?;
        let next = self.rest.borrow_mut().as_mut().and_then(|r| r.pop_front());
        self.head.set(next);
        Some(first)
    }

    /// Start loading the record of the first waiter, which a notify is
    /// about to wake (see `sched/io.rs`).
    #[inline]
    pub(crate) fn prefetch_front(&self) {
        if let Some(u) = self.head() {
            u.task.prefetch();
        }
    }

    /// Remove the entry for the same park as `me`, if it is still there.
    pub(crate) fn remove(&self, me: &Unparker) {
        if self.head().is_some_and(|u| u.same_wait(me)) {
            // Dropped after the list is consistent again: the last
            // reference to a record may run a closure's destructor.
            let _gone = self.pop_front();
            return;
        }
        let gone = {
            let mut rest = self.rest.borrow_mut();
            let Some(r) = rest.as_mut() else { return };
            r.iter()
                .position(|u| u.same_wait(me))
                .and_then(|i| r.remove(i))
        };
        drop(gone);
    }
}

/// How a wait on a [`WaitList`] ended.
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum WaitResult {
    /// Another task woke this one through the list.
    Notified,
    /// The deadline passed first.
    TimedOut,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million parked coroutines carry a million of these: a field that
    /// grows the record shows up here first (and in W2/W3's figures).
    #[test]
    fn record_is_112_bytes() {
        assert_eq!(std::mem::size_of::<StackState>(), 16);
        assert_eq!(std::mem::size_of::<Body>(), 48);
        assert_eq!(std::mem::size_of::<OnceCell<Box<Side>>>(), 8);
        assert_eq!(std::mem::size_of::<Task>(), 112);
        assert_eq!(std::mem::size_of::<TaskRef>(), 8);
        assert_eq!(std::mem::size_of::<Option<TaskRef>>(), 8);
    }

    #[test]
    fn a_dropped_record_drops_its_unrun_closure_or_its_result() {
        let n = Rc::new(());
        let a = n.clone();
        let t = TaskRef::new(Task::new(
            1,
            None,
            0,
            Some(Entry::new(move || Box::new(a) as Output)),
            Location::caller(),
        ));
        assert_eq!(Rc::strong_count(&n), 2);
        drop(t);
        assert_eq!(Rc::strong_count(&n), 1);

        let t = TaskRef::new(Task::new(2, None, 0, None, Location::caller()));
        t.set_result(Ok(Box::new(n.clone())));
        assert_eq!(Rc::strong_count(&n), 2);
        assert!(t.has_value_result());
        drop(t);
        assert_eq!(Rc::strong_count(&n), 1);
    }

    #[test]
    fn result_readers_may_overlap_and_taking_waits_for_none() {
        let t = Task::new(1, None, 0, None, Location::caller());
        t.set_result(Ok(Box::new(5u8)));
        let seen = t.with_result(|a| {
            t.with_result(|b| {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.take_result()));
                assert!(r.is_err(), "taking while read must refuse");
                a.is_some() && b.is_some()
            })
        });
        assert!(seen);
        assert_eq!(t.result_readers(), 0);
        let v = t.take_result().and_then(|r| r.ok());
        assert_eq!(v.and_then(|v| v.downcast_ref::<u8>().copied()), Some(5));
        assert!(t.with_result(|r| r.is_none()));
    }

    fn waiter(gen: u32) -> Unparker {
        Unparker::new(
            TaskRef::new(Task::new(9, None, 0, None, Location::caller())),
            gen,
        )
    }

    #[test]
    fn a_wait_list_keeps_fifo_order_across_its_inline_head() {
        assert_eq!(std::mem::size_of::<WaitList>(), 32);
        let l = WaitList::new();
        assert!(l.is_empty());
        let us: Vec<Unparker> = (0..5).map(waiter).collect();
        for u in &us {
            l.push_back(u.clone());
        }
        assert_eq!(l.len(), 5);
        // Removing the head promotes the next; removing from behind keeps
        // the order.
        l.remove(&us[0]);
        l.remove(&us[3]);
        l.remove(&waiter(77));
        assert_eq!(l.len(), 3);
        let order: Vec<u32> = std::iter::from_fn(|| l.pop_front())
            .map(|u| u.gen)
            .collect();
        assert_eq!(order, [1, 2, 4]);
        assert!(l.is_empty() && l.pop_front().is_none());
        // Empty again: the next waiter goes to the head, after the queue
        // behind it drained.
        l.push_back(us[2].clone());
        l.push_back(us[1].clone());
        assert_eq!(l.pop_front().map(|u| u.gen), Some(2));
        assert_eq!(l.pop_front().map(|u| u.gen), Some(1));
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn name_and_joiners_live_in_the_side_data_made_on_first_use() {
        let t = Task::new(1, None, 0, None, Location::caller());
        assert!(t.side.get().is_none());
        assert_eq!(t.display_name(), "<unnamed>");
        assert_eq!(t.joiners_len(), 0);
        assert!(t.side.get().is_none(), "reading does not make it");
        let _ = t.joiners();
        assert!(t.side.get().is_some());
        let t = Task::new(2, Some(Rc::new("w".into())), 0, None, Location::caller());
        assert_eq!(t.display_name(), "w");
    }
}
