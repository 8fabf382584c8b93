//! The scheduler: one `Hub` per OS thread, with its ready queue, run loop,
//! park and unpark, task lifecycle, cross-thread wakes and fd waits.
//!
//! One `Hub` per OS thread, created on first use. Coroutines are resumed from
//! the thread's own stack (the *root* context, e.g. `main`), which runs the
//! loop inline whenever it waits. The root is modelled as a pseudo-task with
//! no coroutine, so every wait-list, timer and wake works the same for it:
//! when the root is woken it is queued like any task, and the loop returns to
//! it when its turn comes (exact FIFO, gevent order).
//!
//! Invariants kept here:
//! - Every park has a generation; a wake names the generation it is for, and
//!   anything else is ignored (no lost, no spurious wakeups).
//! - Only the loop creates, resumes and drops coroutines, always from the root
//!   stack, so code running in a region never touches another coroutine homed
//!   in it (`stack/`).
//! - Timers, I/O and cross-thread wakes are polled at least once every 128
//!   switches, so a `sleep(ZERO)` loop (in a coroutine or on the root)
//!   cannot starve them.
//!
//! The files of this module are split by concern:
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the `Hub` record, its settings, the thread-local that finds it, creation and teardown |
//! | `ready.rs` | the FIFO of ready tasks |
//! | `run.rs` | the run loop and its maintenance (timers, I/O, cross-thread wakes, deadlock detection) |
//! | `park.rs` | park, wake, yield, `Unparker`, timeout frames, raising interruptions |
//! | `lifecycle.rs` | spawn, first run and resume, finish, completion callbacks, kill, thread exit |
//! | `remote.rs` | wakes from other threads (`RemoteUnparker`) |
//! | `park_word.rs` | wake-up rights across repeated parks (`block_on`'s waker): plain cells for the owner's thread, one atomic word for the others |
//! | `io.rs` | fd entries in the reactor |
//! | `diag.rs` | snapshots for run-info and deadlock reports, the panic hook |
//! | `perturb.rs` | seeded schedules (`Runtime::seed`, `GREEN_PERTURB`) |
//! | `fork.rs` | telling a hub copied into a forked child, which must never run |
//!
//! This is the one place in the crate where files import each other in a
//! cycle, and on purpose: parking (`park.rs`) switches to the run loop
//! (`run.rs`), and the loop resumes tasks that return into `park.rs`; the
//! lifecycle runs inside the loop and parks when it joins. Everything below
//! this module (task records, stacks, timers, reactor, reports) knows
//! nothing of it, and everything above uses its functions, never a task's
//! fields.
//!
//! This module must never block the thread except inside `Poll::poll` when
//! nothing is ready.

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::reactor::Reactor;
use crate::stack::{Stacks, DEFAULT_STACK_SIZE};
use crate::task::table::TaskTable;
use crate::task::{Output, State, Task, TaskRef};
use crate::timer::{TimerTarget, Timers};

mod diag;
mod fork;
mod io;
pub(crate) use io::FdEntry;
mod lifecycle;
mod park;
mod park_word;
mod perturb;
mod ready;
mod remote;
mod run;

pub(crate) use diag::snapshot;
pub(crate) use lifecycle::{kill_all, on_finish, spawn_entry, spawn_with, wait_finished};
pub use park::{park, park_no_unwind, unparker, Park};
pub(crate) use park::{
    pop_frame, push_frame, raise, resume_unwind, unwind_mark, unwinds_caught_since,
};
pub(crate) use park_word::ParkWord;
pub use perturb::PERTURB_ENV;
use ready::ReadyQueue;
use remote::Remote;
pub use remote::{remote_unparker, RemoteUnparker};
pub(crate) use run::{clock_changed, root_may_wait};

/// Timers wake tasks: an entry is live while its task is still parked in
/// the park it was armed for.
impl TimerTarget for TaskRef {
    fn generation(&self) -> u32 {
        self.gen.get()
    }
    fn waiting_at(&self, gen: u32) -> bool {
        self.gen.get() == gen && self.state.get() == State::Parked
    }
}

thread_local! {
    static HUB: Cell<*const Hub> = const { Cell::new(std::ptr::null()) };
    static CONFIG: RefCell<Option<HubConfig>> = const { RefCell::new(None) };
    static GUARD: RefCell<Option<HubGuard>> = const { RefCell::new(None) };
}

/// Switches between non-blocking polls of timers and I/O while tasks are
/// ready. Keeps `epoll_wait` and `Instant::now` off the switch path.
const MAINTAIN_EVERY: u32 = 128;

/// Settings a hub is created with (see `Runtime`).
#[derive(Clone, Debug)]
pub(crate) struct HubConfig {
    pub(crate) stack_size: usize,
    pub(crate) max_regions: Option<usize>,
    /// `None` defers to `GREEN_STACK_POISON`.
    pub(crate) poison_stacks: Option<bool>,
    /// Blocked-loop monitor threshold; `None` defers to `GREEN_MONITOR_MS`.
    pub(crate) monitor: Option<Duration>,
    /// `Runtime::seed`: this hub's schedule; `None` defers to `GREEN_PERTURB`.
    pub(crate) seed: Option<u64>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            stack_size: DEFAULT_STACK_SIZE,
            max_regions: None,
            poison_stacks: None,
            monitor: None,
            seed: None,
        }
    }
}

pub(crate) struct Hub {
    ready: ReadyQueue,
    current: Cell<*const Task>,
    root: TaskRef,
    tasks: RefCell<TaskTable>,
    pub(crate) timers: RefCell<Timers<TaskRef>>,
    reactor: RefCell<Reactor<FdEntry>>,
    pub(crate) stacks: RefCell<Stacks>,
    default_class: u32,
    /// A coroutine whose task's closure returned in its first run without
    /// ever suspending, idle at its top: the next first run of a task of
    /// its stack size takes it instead of making a coroutine
    /// (`lifecycle.rs`; its region is the one `Stacks::keep_spare` keeps).
    /// Never dropped: it is suspended, and dropping it would unwind on its
    /// stack.
    spare: lifecycle::Spare,
    /// The task whose first run may leave its coroutine as the spare (null
    /// when none): set for the first resume only, so a task that suspended
    /// once never does.
    recycle: Cell<*const Task>,
    /// What that task's closure returned, until the loop takes it.
    spare_out: Cell<Option<Output>>,
    next_id: Cell<u64>,
    next_frame: Cell<u64>,
    in_loop: Cell<bool>,
    /// The clock as of the loop's last maintenance.
    clock: Cell<Instant>,
    since_maintain: Cell<u32>,
    last_release: Cell<Instant>,
    io_parked: Cell<usize>,
    /// Tasks parked on a `ParkWord` (`block_on`) whose waker may come from
    /// anywhere: the loop keeps polling for them, as for I/O.
    word_parked: Cell<usize>,
    remote: Arc<Remote>,
    /// Heartbeat and run-info requests shared with the monitor (`monitor.rs`).
    pub(crate) diag: Arc<crate::monitor::HubDiag>,
    /// Reference point for the tasks' compact `last_run` stamps.
    epoch: Instant,
    /// `clock` as milliseconds after `epoch`, plus one: what a suspending
    /// task stamps as its `last_run` (computed once per maintenance, not per
    /// switch).
    clock_ms: Cell<u32>,
    fd_ready: RefCell<Vec<(Rc<FdEntry>, bool, bool)>>,
    /// Schedule perturbation for tests (`GREEN_PERTURB=<seed>`): the state
    /// of a small PRNG, 0 when off.
    perturb: Cell<u64>,
    /// How the perturbation PRNG is used (`perturb.rs`).
    schedule: perturb::Schedule,
    /// The process's fork count when this hub was made (`fork.rs`): it
    /// moves on in a forked child, whose copy of the hub must not run.
    forks: u32,
    /// Made by `Runtime::run`/`run_threads`, which unwind the coroutines
    /// left at the end themselves (so a note at thread exit must not
    /// advise using them).
    managed: bool,
}

/// Tears the hub down when its thread exits.
pub(super) struct HubGuard(*const Hub);

impl Drop for HubGuard {
    fn drop(&mut self) {
        // SAFETY: the pointer came from Box::into_raw in `create` and is
        // freed only here, once.
        let hub = unsafe { &*self.0 };
        hub.abandon();
        hub.remote.close();
        HUB.with(|h| h.set(std::ptr::null()));
        crate::overflow::set_stacks(std::ptr::null());
        // SAFETY: no task is running (thread exit), the HUB pointer is
        // cleared, so nobody can reach the hub any more.
        drop(unsafe { Box::from_raw(self.0 as *mut Hub) });
        crate::arena::release_thread();
    }
}

/// The hub of this thread, created on first use.
#[inline(always)]
pub(crate) fn hub() -> &'static Hub {
    let p = HUB.with(|h| h.get());
    if p.is_null() {
        return create();
    }
    // SAFETY: the pointer is set once per thread to a leaked Box that lives
    // until the thread's TLS destructors run (or `end_hub`, called only on
    // the root outside the loop, when no coroutine and no hub frame is
    // live); coroutines of this thread only run while the hub exists.
    unsafe { &*p }
}

/// This thread's hub if it has one (never creates it); `None` also once
/// the thread's TLS is being torn down.
#[inline]
pub(crate) fn try_hub() -> Option<&'static Hub> {
    let p = HUB.try_with(|h| h.get()).ok()?;
    // SAFETY: a non-null pointer is this thread's live hub, as in `hub()`
    // (set at creation, cleared before the hub is freed).
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Whether this thread already has a hub.
pub(crate) fn has_hub() -> bool {
    !HUB.with(|h| h.get()).is_null()
}

/// Set the configuration for this thread's hub, made at its first use.
/// False (and nothing set) if the hub exists already: its settings are
/// fixed.
#[must_use]
pub(crate) fn configure(cfg: HubConfig) -> bool {
    if has_hub() {
        return false;
    }
    CONFIG.with(|c| *c.borrow_mut() = Some(cfg));
    true
}

/// End this thread's hub now, as the thread's exit would, so that its next
/// use makes a new one (`green::test::explore` runs each schedule on a
/// fresh hub). The caller has killed and unwound its coroutines first
/// (`kill_all`); any left are abandoned as at thread exit. False, with
/// nothing done, inside a coroutine or while the loop runs.
pub(crate) fn end_hub() -> bool {
    let Some(hub) = try_hub() else {
        return true;
    };
    if hub.in_coroutine() || hub.in_loop.get() {
        return false;
    }
    let guard = GUARD.with(|g| g.borrow_mut().take());
    drop(guard);
    true
}

#[cold]
pub(super) fn create() -> &'static Hub {
    let cfg = CONFIG.with(|c| c.borrow_mut().take());
    // Only `Runtime::run`/`run_threads` configure a hub.
    let managed = cfg.is_some();
    let cfg = cfg.unwrap_or_default();
    let (perturb, schedule) = perturb::initial(cfg.seed);
    let reactor = match Reactor::new() {
        Ok(r) => r,
        Err(e) => panic!("green: cannot create the event loop (epoll): {e}"),
    };
    let budget = cfg
        .max_regions
        .unwrap_or_else(crate::stack::default_region_budget);
    let mut stacks = Stacks::new(budget);
    // The setting, when made, wins over the environment variable that
    // `Stacks::new` read.
    if let Some(on) = cfg.poison_stacks {
        stacks.set_poison(on);
    }
    let default_class = match stacks.class_for(cfg.stack_size) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let reactor_waker = reactor.waker.clone();
    let epoll_fd = reactor.epoll_fd();
    let remote = Arc::new(Remote {
        queue: Mutex::new(remote::Queue::default()),
        waker: reactor.waker.clone(),
        pending: AtomicUsize::new(0),
    });
    let root = TaskRef::new(Task::new(0, None, default_class, None, Location::caller()));
    root.state.set(State::Running);
    let hub = Box::new(Hub {
        ready: ReadyQueue::default(),
        current: Cell::new(root.as_ptr()),
        root,
        tasks: RefCell::new(TaskTable::new()),
        timers: RefCell::new(Timers::new()),
        reactor: RefCell::new(reactor),
        stacks: RefCell::new(stacks),
        default_class,
        spare: lifecycle::Spare::new(),
        recycle: Cell::new(std::ptr::null()),
        spare_out: Cell::new(None),
        next_id: Cell::new(1),
        next_frame: Cell::new(1),
        in_loop: Cell::new(false),
        clock: Cell::new(crate::clock::now()),
        since_maintain: Cell::new(0),
        last_release: Cell::new(crate::clock::now()),
        io_parked: Cell::new(0),
        word_parked: Cell::new(0),
        diag: crate::monitor::register(cfg.monitor, reactor_waker, epoll_fd),
        remote,
        epoch: crate::clock::now(),
        clock_ms: Cell::new(1),
        fd_ready: RefCell::new(Vec::new()),
        perturb: Cell::new(perturb),
        schedule,
        forks: crate::sys::fork_generation(),
        managed,
    });
    let p = Box::into_raw(hub);
    HUB.with(|h| h.set(p));
    GUARD.with(|g| *g.borrow_mut() = Some(HubGuard(p)));
    crate::overflow::install_for_thread();
    // SAFETY: the hub was just leaked; its stack pools live until the hub's
    // teardown, which clears the running task first.
    crate::overflow::set_stacks(unsafe { (*p).stacks.as_ptr() });
    diag::install_panic_hook();
    // SAFETY: just stored; lives until the thread's TLS destructors.
    unsafe { &*p }
}

/// Where internal helper coroutines (link runners) say they were spawned.
#[track_caller]
pub(super) fn t_location() -> &'static Location<'static> {
    Location::caller()
}

/// The size class for a stack of `size` bytes on this hub (errors for sizes
/// out of range).
pub(crate) fn stack_class(size: usize) -> std::io::Result<u32> {
    hub().stacks.borrow_mut().class_for(size)
}

impl Hub {
    /// Arm a timer that wakes `task`'s current park at `at`.
    pub(super) fn arm_timer(&self, at: Instant, task: TaskRef) {
        task.set_timer_armed(true);
        self.timers.borrow_mut().insert(at, task);
    }

    #[inline(always)]
    pub(crate) fn current(&self) -> &Task {
        // SAFETY: `current` always points at the root (owned by the hub) or
        // at the running task, which the loop keeps alive while it runs.
        unsafe { &*self.current.get() }
    }

    /// Whether the running coroutine is the one running `task`'s
    /// `on_finish` callbacks.
    pub(crate) fn runs_links_of(&self, task: &Task) -> bool {
        task.state.get() == State::Finishing
            && task
                .links_runner()
                .is_some_and(|id| id == self.current().id && self.in_coroutine())
    }

    pub(crate) fn in_coroutine(&self) -> bool {
        !self.current().is_root()
    }

    pub(crate) fn next_task_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Advance the loop's coarse clock (and the `last_run` stamp with it).
    pub(super) fn set_clock(&self, now: Instant) {
        self.clock.set(now);
        let ms = now.saturating_duration_since(self.epoch).as_millis();
        self.clock_ms
            .set(u32::try_from(ms).unwrap_or(u32::MAX - 1).saturating_add(1));
    }

    /// The loop's clock and the epoch of `last_run` stamps (for run-info).
    pub(crate) fn clock_and_epoch(&self) -> (Instant, Instant) {
        (self.clock.get(), self.epoch)
    }

    /// Every live task, for diagnostics.
    pub(crate) fn live_tasks(&self) -> Vec<TaskRef> {
        self.tasks.borrow().iter().cloned().collect()
    }
}

/// Stack regions mapped and bytes copied so far on this thread's hub
/// (zeros if it has none), for `rt::stack_stats`.
pub(crate) fn stack_counters() -> (usize, u64) {
    if !has_hub() {
        return (0, 0);
    }
    let st = hub().stacks.borrow();
    (st.mapped_regions(), st.copied_bytes())
}
