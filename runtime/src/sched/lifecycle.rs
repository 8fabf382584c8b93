//! A task's life: spawn, first run (stack and coroutine), resume, finish
//! (result, `on_finish` callbacks, joiners), kill, and what happens to the
//! tasks still alive when the work or the thread ends.

use std::panic::{self, Location};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corosensei::CoroutineResult;

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;

use super::{has_hub, hub, t_location, Hub};
use crate::interrupt::KillSignal;
use crate::task::{
    Coro, CoroYielder, Entry, Output, ParkedOn, State, Task, TaskRef, TaskSlot, WakeReason,
};
use crate::task::{JoinError, Panic, WaitResult};

/// Spawn helper shared by `spawn`, `spawn_later` and `Builder`: a task of
/// stack class `class` (the hub's default if `None`), run after `delay`.
#[inline]
pub(crate) fn spawn_entry(
    entry: Entry,
    name: Option<Rc<String>>,
    class: Option<u32>,
    delay: Option<Duration>,
    at: &'static Location<'static>,
) -> TaskRef {
    spawn_with(|_| entry, name, class, delay, at)
}

/// The one way to make a task: `make(id)` builds its closure knowing the
/// id the task will have (a pool's member guard records it), then the task
/// is queued (or armed to start after `delay`).
///
/// Inlined, so the record is written straight into its arena block, the
/// closure in place, rather than built on the stack and copied (a
/// million spawns write a million records).
#[inline]
pub(crate) fn spawn_with(
    make: impl FnOnce(u64) -> Entry,
    name: Option<Rc<String>>,
    class: Option<u32>,
    delay: Option<Duration>,
    at: &'static Location<'static>,
) -> TaskRef {
    let hub = hub();
    let id = hub.next_task_id();
    let class = class.unwrap_or(hub.default_class);
    let task = TaskRef::new_with(|| Task::new(id, name, class, Some(make(id)), at));
    hub.enlist(task, delay)
}

/// Kill every live coroutine of this thread's hub and wait for them.
pub(crate) fn kill_all() {
    if has_hub() {
        hub().kill_all();
    }
}

impl Hub {
    /// Make task `id` running `entry` and queue it (or arm its start); the
    /// hub's own helper coroutines (callback runners, droppers) are made
    /// here too.
    fn spawn_task_id(
        &self,
        id: u64,
        entry: Entry,
        name: Option<Rc<String>>,
        class: Option<u32>,
        delay: Option<Duration>,
        at: &'static Location<'static>,
    ) -> TaskRef {
        let class = class.unwrap_or(self.default_class);
        let task = TaskRef::new(Task::new(id, name, class, Some(entry), at));
        self.enlist(task, delay)
    }

    /// A new task enters the table and the ready queue (or waits for its
    /// start after `delay`).
    #[inline(never)]
    fn enlist(&self, task: TaskRef, delay: Option<Duration>) -> TaskRef {
        let slot = self.tasks.borrow_mut().insert(task.clone());
        task.set_slot(slot);
        crate::monitor::task_spawned(&self.diag, &task);
        match delay.filter(|d| !d.is_zero()) {
            None => self.ready.push(task.clone()),
            Some(d) => {
                task.state.set(State::Parked);
                task.set_parked_on(ParkedOn::Timer);
                if let Some(at) = crate::clock::now().checked_add(d) {
                    self.arm_timer(at, task.clone());
                }
                // Else: never due; it waits to be killed.
            }
        }
        task
    }

    /// Run one task until it parks, yields or finishes.
    pub(super) fn resume(&self, task: TaskRef) {
        if task.state.get() != State::Ready {
            return; // finished (killed) while queued
        }
        if !task.has_coro() {
            return self.first_run(task);
        }
        if !task.stack.resident() {
            let r = self.stacks.borrow_mut().make_resident(&task.stack);
            debug_assert!(r.is_ok(), "a homed task always has its region");
        }
        self.enter(&task);
        // SAFETY: the coroutine is in the record (made on an earlier run),
        // is not running, and its home region was made resident just above;
        // this is the loop, on the root stack.
        let r = unsafe { task.resume() };
        self.leave();
        self.after_resume(task, r);
    }

    /// A task's first run: a stack, then the coroutine, which runs the
    /// closure where it lies in the record; the coroutine object moves into
    /// the record only if the task suspends (see `task/coro.rs`).
    ///
    /// The coroutine is the hub's spare when there is one of the task's
    /// stack size (its region becomes the task's home), else a new one; if
    /// the closure returns without ever suspending, its coroutine may stay
    /// as the spare (see `coroutine_body`; the hub keeps one).
    #[inline(never)]
    fn first_run(&self, task: TaskRef) {
        if task.kill_requested() {
            self.finish_unstarted(&task, Err(JoinError::Killed));
            return;
        }
        if self.stacks.borrow_mut().lend_spare(&task.stack) {
            return self.first_run_on_spare(task);
        }
        let stack = match self.stacks.borrow_mut().make_resident(&task.stack) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("green: could not get a stack for the coroutine: {e}");
                let panic = Panic::new(Box::new(msg), None);
                self.finish_unstarted(&task, Err(JoinError::Panicked(panic)));
                return;
            }
        };
        let mut coro = Coro::with_stack(stack, coroutine_body);
        if !self.spare.there.get() && self.stacks.borrow().can_keep_spare(&task.stack) {
            self.recycle.set(task.as_ptr());
        }
        task.begin_first_run();
        self.enter(&task);
        // A panic out of this resume unwinds through here and drops
        // `coro`, which corosensei has marked finished by then: nothing on
        // its stack is touched (`coroutine_panicked` clears `recycle`).
        let r = coro.resume(());
        self.leave();
        self.recycle.set(std::ptr::null());
        match r {
            CoroutineResult::Yield(()) if task.state.get() == State::Running => {
                // The closure returned, and the coroutine waits at its top
                // (see `serve_as_spare`): it becomes the spare.
                self.stacks.borrow_mut().keep_spare(&task.stack);
                // SAFETY: no spare is there (checked before the resume, and
                // nothing ran since), so nothing is overwritten.
                unsafe { (*self.spare.coro.get()).write(coro) };
                self.spare.there.set(true);
                return self.finish_on_spare(task);
            }
            CoroutineResult::Yield(()) => {
                // SAFETY: the first run suspended; the closure was moved out
                // of the record as it started; the loop is between resumes.
                unsafe { task.install(coro) };
            }
            CoroutineResult::Return(_) => drop(coro),
        }
        self.after_resume(task, r);
    }

    /// A first run on the spare coroutine, resumed where it lies (no copy
    /// of the coroutine object unless the task suspends and takes it).
    #[inline(always)]
    fn first_run_on_spare(&self, task: TaskRef) {
        self.spare.there.set(false);
        // SAFETY: `lend_spare` found a spare of this size class, so the
        // slot holds the idle coroutine it belongs to; only the loop
        // touches the slot, and this reference ends before it does again.
        let coro = unsafe { (*self.spare.coro.get()).assume_init_mut() };
        self.recycle.set(task.as_ptr());
        task.begin_first_run();
        self.enter(&task);
        // A panic out of this resume leaves a finished coroutine in the
        // slot, marked empty: never dropped, and it owns nothing.
        let r = coro.resume(());
        self.leave();
        self.recycle.set(std::ptr::null());
        match r {
            CoroutineResult::Yield(()) if task.state.get() == State::Running => {
                // Returned; the coroutine is idle again, in place.
                self.stacks.borrow_mut().keep_spare(&task.stack);
                self.spare.there.set(true);
                self.finish_on_spare(task)
            }
            CoroutineResult::Yield(()) => {
                // Suspended: the coroutine and its region are the task's.
                self.stacks.borrow_mut().adopt_spare(&task.stack);
                // SAFETY: the slot is marked empty, so the coroutine is
                // moved out of it exactly once.
                let coro = unsafe { std::ptr::read(coro) };
                // SAFETY: as in `first_run`.
                unsafe { task.install(coro) };
                self.after_resume(task, r);
            }
            CoroutineResult::Return(_) => {
                // Not while `recycle` names the task (the body stays); a
                // finished coroutine owns nothing, so leaving it is enough.
                self.after_resume(task, r);
            }
        }
    }

    /// The task's closure returned on the coroutine now kept as the spare.
    #[inline(always)]
    fn finish_on_spare(&self, task: TaskRef) {
        let out = self
            .spare_out
            .take()
            .expect("green: a closure that returned on the spare left its output");
        self.finish(&task, Ok(out));
    }

    #[inline(always)]
    fn enter(&self, task: &TaskRef) {
        task.state.set(State::Running);
        self.current.set(task.as_ptr());
        crate::monitor::beat(&self.diag, task.id);
        crate::overflow::enter(task);
    }

    #[inline(always)]
    fn leave(&self) {
        crate::overflow::leave();
        self.current.set(self.root.as_ptr());
    }

    #[inline(always)]
    fn after_resume(&self, task: TaskRef, r: CoroutineResult<(), Output>) {
        match r {
            CoroutineResult::Yield(()) => {
                task.set_last_run(self.clock_ms.get());
                if task.state.get() == State::Ready {
                    self.ready.push(task);
                }
            }
            CoroutineResult::Return(out) => self.finish(&task, Ok(out)),
        }
    }

    /// The running coroutine's panic (or kill, or stray timeout signal)
    /// came out of `resume`: corosensei caught it at the coroutine's base
    /// and re-raised it here, on the loop's stack. The coroutine is done.
    #[cold]
    pub(super) fn coroutine_panicked(&self, p: Box<dyn std::any::Any + Send>) {
        let cur = self.current.get();
        if std::ptr::eq(cur, self.root.as_ptr()) {
            // Not a coroutine's panic: the hub itself failed. Let it out.
            self.in_loop.set(false);
            panic::resume_unwind(p);
        }
        crate::overflow::leave();
        self.current.set(self.root.as_ptr());
        self.recycle.set(std::ptr::null());
        // SAFETY: `cur` is the task `resume` was running; the slab still
        // holds a reference to it.
        let task = TaskRef::from_task(unsafe { &*cur });
        let err = if p.is::<KillSignal>() {
            JoinError::Killed
        } else {
            super::diag::panic_error(&task, p)
        };
        self.finish(&task, Err(err));
    }

    /// A coroutine returned, panicked or was killed: free its stack, store
    /// the result, then run its `on_finish` callbacks (in a coroutine of
    /// their own, since they may block) before it counts as finished.
    pub(super) fn finish(&self, task: &TaskRef, result: Result<Output, JoinError>) {
        // SAFETY: the coroutine has returned (or panicked out of its body),
        // so dropping it unwinds nothing; this is the loop, between resumes.
        unsafe { task.drop_returned() };
        self.stacks.borrow_mut().release(&task.stack);
        task.set_result(result);
        if !task.has_links() {
            self.complete(task);
            return;
        }
        task.state.set(State::Finishing);
        let t = task.clone();
        let id = self.next_task_id();
        t.with_extra(|e| e.links_runner = Some(id));
        let entry = Entry::new(move || {
            run_links(&t);
            t.with_extra(|e| e.links_runner = None);
            hub().complete(&t);
            Box::new(()) as Output
        });
        drop(self.spawn_task_id(id, entry, None, None, None, t_location()));
    }

    /// The task is done for good: leave the slab, wake joiners, report an
    /// unjoined panic.
    pub(super) fn complete(&self, task: &TaskRef) {
        task.state.set(State::Finished);
        let slot = match task.slot() {
            TaskSlot::Table(i) => self.tasks.borrow_mut().try_remove(i),
            TaskSlot::Root => None,
        };
        crate::monitor::task_ended(&self.diag, task);
        if let Some(j) = task.joiners_if_any() {
            j.notify_all();
        }
        if task.detached() {
            crate::report::report_unjoined(task);
            self.drop_detached_result(task);
        }
        // The table's reference goes last, outside the table's borrow.
        drop(slot);
    }

    /// The handle went away before the task finished: nobody will take its
    /// value, and the last reference to the record may be a stale timer
    /// entry or a wait-list dropped inside the hub's borrows. Drop the
    /// value in a coroutine of its own instead, where its `Drop` may block
    /// and a panic in it is reported like any unjoined panic. (A handle
    /// dropped after the end drops the value itself.) `()`, what
    /// fire-and-forget coroutines return, needs no dropper.
    pub(super) fn drop_detached_result(&self, task: &TaskRef) {
        if !task.has_value_result() {
            return;
        }
        let Some(out) = task.take_result() else {
            return;
        };
        let entry = Entry::new(move || {
            drop(out);
            Box::new(()) as Output
        });
        let dropper =
            self.spawn_task_id(self.next_task_id(), entry, None, None, None, t_location());
        dropper.set_detached(true);
    }

    /// A task that never ran ends (killed first, or no stack for it): the
    /// same ending as any other, minus the coroutine.
    pub(crate) fn finish_unstarted(&self, task: &TaskRef, result: Result<Output, JoinError>) {
        if task.state.get() == State::Parked {
            self.bump(task);
        }
        drop(task.take_entry());
        self.finish(task, result);
    }

    /// Ask a task to die: never-run tasks end now; parked ones wake and
    /// unwind; running or ready ones unwind at their next park.
    pub(crate) fn request_kill(&self, task: &TaskRef) {
        match task.state.get() {
            State::Finished | State::Finishing => {}
            _ if !task.has_coro() => self.finish_unstarted(task, Err(JoinError::Killed)),
            State::Parked => {
                task.set_kill_requested(true);
                crate::monitor::kill_requested(&self.diag, task);
                let gen = task.gen.get();
                self.wake(task, gen, WakeReason::Killed);
            }
            State::Ready | State::Running => {
                task.set_kill_requested(true);
                crate::monitor::kill_requested(&self.diag, task);
            }
        }
    }

    /// Thread exit (the hub's thread-local destructor): coroutines still
    /// alive are abandoned, not unwound.
    ///
    /// Unwinding them here would run their destructors while the thread's
    /// other thread-locals are being torn down, in an order Rust does not
    /// let us choose; a destructor touching a thread-local that is already
    /// gone panics during the unwind, and that aborts the process. So no user
    /// code runs here: their records are leaked (never dropped), their stack
    /// memory goes back to the kernel with the hub (nothing points into a
    /// parked coroutine's stack), and a note says what happened.
    /// `Runtime::run` unwinds leftovers properly, while thread-locals live.
    pub(super) fn abandon(&self) {
        let live = self.live_tasks();
        // The process is ending when its main thread is: a signal handler's
        // coroutine, waiting for ever by design, is no leftover then. On
        // any other thread it is (its signal stays caught), and counts.
        let main_thread = crate::sys::gettid() as u32 == std::process::id();
        let services = live
            .iter()
            .filter(|t| t.started() && t.is_service())
            .count();
        let mut started = live.iter().filter(|t| t.started()).count();
        if main_thread {
            started -= services;
        }
        if started > 0 {
            let thread = std::thread::current();
            let advice = if self.managed {
                // Runtime::run tried and gave up (its own note says why).
                "Runtime::run could not unwind them all when its closure ended; make their \
                 destructors finish"
            } else {
                "Join or kill them before the thread ends, or run the thread's work inside \
                 green::Runtime::run, which unwinds them while thread-locals still live"
            };
            let caught = if services > 0 && !main_thread {
                format!(
                    " {services} of them green::signal handlers, whose signals stay caught (and \
                     ignored) until the process ends."
                )
            } else {
                String::new()
            };
            eprintln!(
                "green: thread '{}' ended with {started} coroutine(s) still alive; they were \
                 abandoned without unwinding (their destructors did not run), since the \
                 thread's other thread-locals may already be gone.{caught} {advice}.",
                thread.name().unwrap_or("<unnamed>")
            );
        }
        for t in live {
            // Leaked on purpose: dropping the record could run the user's
            // closure's or result's destructors.
            std::mem::forget(t);
        }
    }

    /// Kill every live coroutine and wait until each has unwound (its
    /// destructors ran). For the thread's root, when the work is done.
    pub(crate) fn kill_all(&self) {
        // A destructor may spawn more; give up after many rounds rather
        // than loop for ever.
        for _ in 0..100 {
            let live = self.live_tasks();
            if live.is_empty() {
                return;
            }
            for t in &live {
                self.request_kill(t);
            }
            for t in &live {
                wait_finished(t, None);
            }
        }
    }
}

/// The hub's spare coroutine, idle at the top of `serve_as_spare`, kept in
/// place (see `first_run`). Never dropped: it is suspended, and dropping it
/// would unwind on its stack.
pub(super) struct Spare {
    coro: UnsafeCell<MaybeUninit<Coro>>,
    there: Cell<bool>,
}

impl Spare {
    pub(super) const fn new() -> Spare {
        Spare {
            coro: UnsafeCell::new(MaybeUninit::uninit()),
            there: Cell::new(false),
        }
    }
}

/// Every coroutine's body: run the closure of the task it is made for.
/// Its frame is all a parked coroutine adds to its corosensei base: no
/// panic-catching layer of our own (corosensei's root catch hands panics to
/// `resume`, and the loop's `run_pass` guard turns them into the join
/// result), and nothing captured, so few bytes to save.
///
/// If that task's first run may leave its coroutine as the hub's spare
/// (`recycle`) and the closure returns without ever suspending, the
/// coroutine goes on in `serve_as_spare`.
fn coroutine_body(y: &CoroYielder, (): ()) -> Output {
    let task = hub().current();
    // SAFETY: the loop resumed this coroutine for `task`'s first run
    // (`begin_first_run`), and holds a reference to the task until it
    // finishes, after this returns; `y` is the body's own yielder.
    let out = unsafe { task.run_entry(y) };
    serve_as_spare(y, out)
}

/// A closure just returned with `out`. Unless it was the first run of a
/// task that may leave its coroutine as the spare, give `out` back (the
/// coroutine returns). Else hand `out` to the loop and suspend, idle, until
/// a first run takes the spare; run that task's closure; and again.
///
/// The switch is inlined here and the closures are called from here, so a
/// resume never returns through a frame the return-stack predictor has
/// lost track of; the registers that switch saves make this frame larger,
/// which only a task that ran on the spare and then parked carries.
///
/// Suspending with the task still `Running` is how the loop tells "it
/// returned and the coroutine stays" from a park or a yield (which set
/// `Parked` or `Ready` first).
#[inline(never)]
fn serve_as_spare(y: &CoroYielder, mut out: Output) -> Output {
    loop {
        let hub = hub();
        let task = hub.current();
        if !std::ptr::eq(hub.recycle.get(), task) {
            return out;
        }
        hub.spare_out.set(Some(out));
        hub.switch_out(task);
        // A first run took the spare: `current` is its task.
        let task = hub.current();
        // SAFETY: as in `coroutine_body`, for the task the loop lent this
        // coroutine to.
        out = unsafe { task.run_entry(y) };
    }
}

/// Park until `task` finished or `deadline`; returns whether it finished.
///
/// A task's `on_finish` callbacks run before it counts as finished; a
/// callback that waits for its own task (kills or joins it) would wait for
/// itself, so for the coroutine running those callbacks the task counts as
/// finished already (its result is stored).
pub(crate) fn wait_finished(task: &Task, deadline: Option<Instant>) -> bool {
    if task.is_finished() || hub().runs_links_of(task) {
        return true;
    }
    let joiners = task.joiners();
    while !task.is_finished() {
        if joiners.wait_as(deadline, ParkedOn::WaitList, true) == Ok(WaitResult::TimedOut) {
            return task.is_finished();
        }
    }
    true
}

/// Run a finished task's `on_finish` callbacks in order. A panicking
/// callback is reported and the rest still run.
pub(crate) fn run_links(task: &Task) {
    loop {
        let Some(link) = task.next_link() else { break };
        let mark = super::park::unwind_mark();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| link(task)));
        // The runner coroutine goes on: the unwind caught here is over.
        super::park::unwinds_caught_since(mark);
        if let Err(p) = r {
            if !p.is::<crate::interrupt::KillSignal>() {
                eprintln!(
                    "green: an on_finish callback of coroutine '{}' (#{}) panicked",
                    task.display_name(),
                    task.id
                );
            }
        }
    }
}

/// Run `link` when `task` finishes, after the callbacks added before it; at
/// once if it has finished already.
pub(crate) fn on_finish(task: &Task, link: crate::task::Link) {
    if task.is_finished() {
        link(task);
    } else {
        task.with_extra(|e| e.links.push(link));
    }
}
