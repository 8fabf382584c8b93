//! The per-thread scheduler: ready queue, run loop, park and unpark.
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
//!   in it (`stack.rs`).
//! - Timers and I/O are polled at least once per pass over the ready queue
//!   that lasts 128 switches, so a `sleep(ZERO)` loop cannot starve them.
//!
//! This module must never block the thread except inside `Poll::poll` when
//! nothing is ready.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::task_table::TaskTable;
use corosensei::CoroutineResult;

use crate::cancel::{Interrupt, Interrupted, KillSignal};
use crate::join::JoinError;
use crate::reactor::{FdEntry, Reactor};
use crate::stack::{Stacks, DEFAULT_STACK_SIZE};
use crate::task::{Coro, CoroYielder, Entry, ParkedOn, State, Task, TaskRef, WakeReason};
use crate::timer::Timers;

/// Switches between non-blocking polls of timers and I/O while tasks are
/// ready. Keeps `epoll_wait` and `Instant::now` off the switch path.
const MAINTAIN_EVERY: u32 = 128;

/// Settings a hub is created with (see `Runtime`).
#[derive(Clone, Debug)]
pub(crate) struct HubConfig {
    pub(crate) stack_size: usize,
    pub(crate) max_regions: Option<usize>,
    pub(crate) poison_stacks: bool,
    /// Blocked-loop monitor threshold; `None` defers to `GREEN_MONITOR_MS`.
    pub(crate) monitor: Option<Duration>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            stack_size: DEFAULT_STACK_SIZE,
            max_regions: None,
            poison_stacks: false,
            monitor: None,
        }
    }
}

thread_local! {
    static HUB: Cell<*const Hub> = const { Cell::new(std::ptr::null()) };
    static CONFIG: RefCell<Option<HubConfig>> = const { RefCell::new(None) };
    static GUARD: RefCell<Option<HubGuard>> = const { RefCell::new(None) };
}

/// How a park ended (interruptions are reported separately).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Park {
    /// Woken through an [`Unparker`] (or I/O readiness).
    Notified,
    /// The park's own deadline passed.
    TimedOut,
}

pub(crate) struct Hub {
    ready: ReadyQueue,
    current: Cell<*const Task>,
    root: TaskRef,
    tasks: RefCell<TaskTable>,
    pub(crate) timers: RefCell<Timers>,
    reactor: RefCell<Reactor>,
    pub(crate) stacks: RefCell<Stacks>,
    default_class: u32,
    next_id: Cell<u64>,
    next_frame: Cell<u64>,
    in_loop: Cell<bool>,
    /// The clock as of the loop's last maintenance.
    clock: Cell<Instant>,
    since_maintain: Cell<u32>,
    last_release: Cell<Instant>,
    io_parked: Cell<usize>,
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
}

/// Environment variable that turns on schedule perturbation: a seed
/// (decimal). Test-only: it randomises where woken tasks enter the ready
/// queue and injects yields right after wakes, so stress tests explore many
/// interleavings instead of the one FIFO order.
pub const PERTURB_ENV: &str = "GREEN_PERTURB";

fn perturb_seed() -> u64 {
    let Some(v) = std::env::var_os(PERTURB_ENV) else {
        return 0;
    };
    let seed: u64 = v.to_str().and_then(|s| s.trim().parse().ok()).unwrap_or(1);
    // Each hub its own stream, reproducible per thread creation order.
    static HUBS: AtomicUsize = AtomicUsize::new(0);
    let n = HUBS.fetch_add(1, Ordering::Relaxed) as u64;
    (seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1
}

/// The FIFO of tasks ready to run.
///
/// An `UnsafeCell` instead of a `RefCell`: the borrow flag's store/load on
/// every push and pop showed up on the switch path. Sound because the hub is
/// single-threaded and no method lends out a reference or calls foreign code
/// while it touches the deque.
#[derive(Default)]
struct ReadyQueue(std::cell::UnsafeCell<VecDeque<TaskRef>>);

impl ReadyQueue {
    #[inline(always)]
    fn push(&self, t: TaskRef) {
        // SAFETY: see the type's doc: no other access can be live.
        unsafe { (*self.0.get()).push_back(t) }
    }
    #[inline(always)]
    fn pop(&self) -> Option<TaskRef> {
        // SAFETY: as above.
        unsafe { (*self.0.get()).pop_front() }
    }
    #[inline(always)]
    fn len(&self) -> usize {
        // SAFETY: as above.
        unsafe { (*self.0.get()).len() }
    }
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Insert at `i` (schedule perturbation only).
    fn insert(&self, i: usize, t: TaskRef) {
        // SAFETY: as above.
        unsafe { (*self.0.get()).insert(i, t) }
    }
}

/// Cross-thread wakes: filled by other threads, drained by the loop.
pub(crate) struct Remote {
    queue: Mutex<Vec<(usize, u64, u32)>>,
    waker: Arc<mio::Waker>,
    /// Outstanding `RemoteUnparker`s: work another thread may still finish.
    pending: AtomicUsize,
}

/// Tears the hub down when its thread exits.
struct HubGuard(*const Hub);

impl Drop for HubGuard {
    fn drop(&mut self) {
        // SAFETY: the pointer came from Box::into_raw in `create` and is
        // freed only here, once.
        let hub = unsafe { &*self.0 };
        hub.abandon();
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
    // until the thread's TLS destructors run; coroutines of this thread only
    // run while the hub exists.
    unsafe { &*p }
}

/// Whether this thread already has a hub.
pub(crate) fn has_hub() -> bool {
    !HUB.with(|h| h.get()).is_null()
}

/// Set the configuration for this thread's hub; fails if it exists already.
pub(crate) fn configure(cfg: HubConfig) -> io::Result<()> {
    if has_hub() {
        return Err(io::Error::other(
            "green: this thread's hub is already running; configure it before the first spawn",
        ));
    }
    CONFIG.with(|c| *c.borrow_mut() = Some(cfg));
    Ok(())
}

#[cold]
fn create() -> &'static Hub {
    let cfg = CONFIG.with(|c| c.borrow_mut().take()).unwrap_or_default();
    let reactor = match Reactor::new() {
        Ok(r) => r,
        Err(e) => panic!("green: cannot create the event loop (epoll): {e}"),
    };
    let budget = cfg
        .max_regions
        .unwrap_or_else(crate::stack::default_region_budget);
    let mut stacks = Stacks::new(budget);
    if cfg.poison_stacks {
        stacks.set_poison(true);
    }
    let default_class = match stacks.class_for(cfg.stack_size) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let reactor_waker = reactor.waker.clone();
    let remote = Arc::new(Remote {
        queue: Mutex::new(Vec::new()),
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
        next_id: Cell::new(1),
        next_frame: Cell::new(1),
        in_loop: Cell::new(false),
        clock: Cell::new(Instant::now()),
        since_maintain: Cell::new(0),
        last_release: Cell::new(Instant::now()),
        io_parked: Cell::new(0),
        diag: crate::monitor::register(cfg.monitor, reactor_waker),
        remote,
        epoch: Instant::now(),
        clock_ms: Cell::new(1),
        fd_ready: RefCell::new(Vec::new()),
        perturb: Cell::new(perturb_seed()),
    });
    let p = Box::into_raw(hub);
    HUB.with(|h| h.set(p));
    GUARD.with(|g| *g.borrow_mut() = Some(HubGuard(p)));
    crate::overflow::install_for_thread();
    // SAFETY: the hub was just leaked; its stack pools live until the hub's
    // teardown, which clears the running task first.
    crate::overflow::set_stacks(unsafe { (*p).stacks.as_ptr() });
    crate::report::install_panic_hook();
    // SAFETY: just stored; lives until the thread's TLS destructors.
    unsafe { &*p }
}

/// Read the stack pointer. Inlined into the one park path so the recorded
/// value is the suspend call's own frame (see `stack::SAVE_MARGIN`).
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let probe = 0u8;
        sp = std::ptr::addr_of!(probe) as usize - 4096;
    }
    sp
}

impl Hub {
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
                .extra
                .borrow()
                .as_ref()
                .and_then(|e| e.links_runner)
                .is_some_and(|id| id == self.current().id && self.in_coroutine())
    }

    pub(crate) fn in_coroutine(&self) -> bool {
        !self.current().is_root()
    }

    pub(crate) fn default_class(&self) -> u32 {
        self.default_class
    }

    pub(crate) fn next_task_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Add a new task; it runs after `delay` (queued now if `None`).
    pub(crate) fn spawn_task(&self, task: Task, delay: Option<Duration>) -> TaskRef {
        let task = TaskRef::new(task);
        let slot = self.tasks.borrow_mut().insert(task.clone());
        task.set_slot(slot);
        crate::monitor::task_spawned(&self.diag, &task);
        match delay.filter(|d| !d.is_zero()) {
            None => self.ready.push(task.clone()),
            Some(d) => {
                task.state.set(State::Parked);
                task.set_parked_on(ParkedOn::Timer);
                if let Some(at) = Instant::now().checked_add(d) {
                    self.timers.borrow_mut().insert(at, task.clone());
                }
                // Else: never due; it waits to be killed.
            }
        }
        task
    }

    /// Bump the generation of a task that stops being parked.
    fn bump(&self, task: &Task) {
        task.gen.set(task.gen.get().wrapping_add(1));
        if task.timer_armed() {
            task.set_timer_armed(false);
            self.timers.borrow_mut().cancelled();
        }
        if matches!(task.parked_on(), ParkedOn::Fd(_)) {
            self.io_parked.set(self.io_parked.get() - 1);
        }
        task.set_parked_on(ParkedOn::Yield);
    }

    /// Make a parked task ready if `gen` is its current park. Returns whether
    /// it was woken.
    pub(crate) fn wake(&self, task: &TaskRef, gen: u32, why: WakeReason) -> bool {
        if task.state.get() != State::Parked || task.gen.get() != gen {
            return false;
        }
        self.bump(task);
        task.wake.set(why);
        task.state.set(State::Ready);
        if self.perturb.get() != 0 {
            self.push_perturbed(task.clone());
        } else {
            self.ready.push(task.clone());
        }
        true
    }

    /// Next number of the perturbation PRNG (xorshift64).
    #[cold]
    fn perturb_next(&self) -> u64 {
        let mut x = self.perturb.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.perturb.set(x);
        x
    }

    /// Perturbation: a woken task enters the ready queue at a random place
    /// one time in four, instead of at the back.
    #[cold]
    fn push_perturbed(&self, task: TaskRef) {
        let r = self.perturb_next();
        let n = self.ready.len();
        if r & 3 == 0 && n > 0 {
            self.ready.insert((r >> 8) as usize % (n + 1), task);
        } else {
            self.ready.push(task);
        }
    }

    /// Perturbation: a task just woken by a notification may be delayed
    /// once more (one time in three), as if it had been queued later: other
    /// ready tasks run before it goes on. No interruption is checked here (a
    /// kill or an expired frame stays pending for its next park), so a task
    /// that was just handed something (a lock, an item) never loses it.
    ///
    /// Yields are injected only *after* a wake: a yield between a caller's
    /// condition check and its registration on a wait-list would lose the
    /// wake that the check was about.
    #[cold]
    fn perturb_after_wake(&self, task: &Task) {
        if self.perturb_next() % 3 >= 1 {
            return;
        }
        task.state.set(State::Ready);
        task.wake.set(WakeReason::Notified);
        if task.is_root() {
            self.ready.push(self.root.clone());
        }
        self.switch_out(task);
    }

    /// Core park: the current task (or root) sleeps until woken, its deadline,
    /// an enclosing timeout frame, or kill.
    #[inline(always)]
    pub(crate) fn park_inner(
        &self,
        deadline: Option<Instant>,
        on: ParkedOn,
    ) -> Result<Park, Interrupt> {
        let task = self.current();
        let frame = if task.has_special() {
            if task.is_unwinding() {
                return self.park_unwinding(deadline, on);
            }
            if task.take_kill() {
                return Err(Interrupt::Killed);
            }
            task.frame_deadline()
        } else {
            None
        };
        // The effective deadline, and the frame that owns it if not ours.
        let (eff, owner) = match (deadline, frame) {
            (Some(d), Some((f, id))) if f < d => (Some(f), Some(id)),
            (None, Some((f, id))) => (Some(f), Some(id)),
            (d, _) => (d, None),
        };
        if let Some(at) = eff {
            // A deadline at or before the loop's last clock reading is due
            // now; a later one that has already passed fires at the next
            // maintenance, one pass later. Saves a clock read per park.
            if at <= self.clock.get() {
                return match owner {
                    Some(id) => Err(Interrupt::Elapsed(id)),
                    None => Ok(Park::TimedOut),
                };
            }
            self.timers
                .borrow_mut()
                .insert(at, TaskRef::from_task(task));
        }
        if let ParkedOn::Fd(_) = on {
            self.io_parked.set(self.io_parked.get() + 1);
        }
        task.set_parked_on(on);
        task.state.set(State::Parked);
        self.switch_out(task);
        // Woken: the loop set us Running.
        if task.has_special() && task.take_kill() || task.wake.get() == WakeReason::Killed {
            if task.is_unwinding() {
                // Killed again while a destructor of the first unwind
                // parks: end this park early, raise nothing.
                return Ok(Park::TimedOut);
            }
            return Err(Interrupt::Killed);
        }
        match task.wake.get() {
            WakeReason::Notified => {
                if self.perturb.get() != 0 {
                    self.perturb_after_wake(task);
                }
                Ok(Park::Notified)
            }
            WakeReason::Killed => Err(Interrupt::Killed),
            WakeReason::TimedOut => match owner {
                Some(id) => Err(Interrupt::Elapsed(id)),
                None => Ok(Park::TimedOut),
            },
        }
    }

    /// A park inside a destructor that runs while its task unwinds (from a
    /// kill, a timeout or a panic). Raising here would be a panic out of a
    /// destructor during cleanup, which aborts the process; so the park is
    /// an ordinary one with its own deadline only: enclosing timeout frames
    /// are ignored (the unwind is already on its way to them), and a kill
    /// ends the park early instead of raising.
    #[cold]
    #[inline(never)]
    fn park_unwinding(&self, deadline: Option<Instant>, on: ParkedOn) -> Result<Park, Interrupt> {
        let task = self.current();
        if task.take_kill() {
            return Ok(Park::TimedOut);
        }
        if let Some(at) = deadline {
            if at <= self.clock.get() {
                return Ok(Park::TimedOut);
            }
            self.timers
                .borrow_mut()
                .insert(at, TaskRef::from_task(task));
        }
        if let ParkedOn::Fd(_) = on {
            self.io_parked.set(self.io_parked.get() + 1);
        }
        task.set_parked_on(on);
        task.state.set(State::Parked);
        self.switch_out(task);
        let killed = task.take_kill();
        Ok(match task.wake.get() {
            WakeReason::Notified if !killed => Park::Notified,
            _ => Park::TimedOut,
        })
    }

    /// Give up the CPU: a coroutine suspends to the loop; the root runs the
    /// loop until it is its turn again.
    #[inline(always)]
    fn switch_out(&self, task: &Task) {
        if task.is_root() {
            self.run_loop();
        } else {
            task.saved_sp.set(stack_pointer());
            // SAFETY: the yielder was stored by this task's coroutine body and
            // lives at a fixed place on its stack, which is resident because
            // this task is the one running.
            unsafe { (*task.yielder.get()).suspend(()) };
        }
    }

    /// `sleep(ZERO)`: to the back of the ready queue.
    ///
    /// Inlined into the caller so that, once resumed, the coroutine carries
    /// on without a `ret` that the return-stack predictor would miss; only
    /// the common case (a coroutine with no pending kill and no timeout
    /// frame) stays inline.
    #[inline(always)]
    pub(crate) fn yield_inner(&self) -> Result<(), Interrupt> {
        let task = self.current();
        if task.is_root() || task.has_special() {
            return self.yield_slow();
        }
        task.state.set(State::Ready);
        task.wake.set(WakeReason::Notified);
        // The loop re-queues a task that suspends in state Ready.
        self.switch_out(task);
        if task.has_special() {
            return self.after_yield_slow();
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn yield_slow(&self) -> Result<(), Interrupt> {
        let task = self.current();
        if task.has_special() && task.is_unwinding() {
            // A destructor yielding during an unwind: yield, raise nothing.
            task.take_kill();
        } else if task.take_kill() {
            return Err(Interrupt::Killed);
        }
        task.state.set(State::Ready);
        task.wake.set(WakeReason::Notified);
        if task.is_root() {
            self.ready.push(self.root.clone());
            self.run_loop();
        } else {
            self.switch_out(task);
        }
        self.after_yield_slow()
    }

    #[cold]
    #[inline(never)]
    fn after_yield_slow(&self) -> Result<(), Interrupt> {
        let task = self.current();
        if task.has_special() && task.is_unwinding() {
            task.take_kill();
            return Ok(());
        }
        if task.take_kill() {
            return Err(Interrupt::Killed);
        }
        if let Some((f, id)) = task.frame_deadline() {
            if f <= Instant::now() {
                return Err(Interrupt::Elapsed(id));
            }
        }
        Ok(())
    }

    /// Run coroutines until the root is popped from the ready queue.
    fn run_loop(&self) {
        if self.in_loop.replace(true) {
            self.in_loop.set(false);
            panic!(
                "green: cannot block here: the hub's loop is already running on this thread \
                 (a destructor or callback run by the hub tried to wait)"
            );
        }
        // One guard around the whole loop (not per resume or per pass), so
        // the switch path pays nothing for it: a coroutine's re-raised panic
        // lands here, becomes its join result, and the loop goes on. Any
        // other panic (a deadlock report, a hub failure) goes on to the root.
        loop {
            match panic::catch_unwind(AssertUnwindSafe(|| self.run_until_root())) {
                Ok(()) => return,
                Err(p) => self.coroutine_panicked(p),
            }
        }
    }

    /// Passes over the ready queue, with maintenance in between, until the
    /// root's turn comes.
    fn run_until_root(&self) {
        loop {
            let n = self.ready.len();
            let root_turn = self.run_pass(n);
            // Count the root's own turn as a switch too: a root that yields
            // in a loop must reach maintenance like a yielding coroutine.
            let since = self.since_maintain.get().saturating_add(n as u32);
            if root_turn {
                if since >= MAINTAIN_EVERY {
                    self.since_maintain.set(0);
                    // Not idle (the root is about to run), so this never
                    // blocks and never reports a deadlock.
                    if let Err(msg) = self.maintain(false) {
                        panic!("{msg}");
                    }
                } else {
                    self.since_maintain.set(since);
                }
                return;
            }
            let idle = self.ready.is_empty();
            if idle || since >= MAINTAIN_EVERY {
                self.since_maintain.set(0);
                if let Err(msg) = self.maintain(idle) {
                    crate::monitor::idle(&self.diag);
                    self.in_loop.set(false);
                    let root = &self.root;
                    self.bump(root);
                    root.state.set(State::Running);
                    panic!("{msg}");
                }
            } else {
                self.since_maintain.set(since);
            }
        }
    }

    /// Resume up to `n` ready tasks. Returns true when the root's turn came
    /// (the loop then returns to it).
    #[inline(always)]
    fn run_pass(&self, n: usize) -> bool {
        for _ in 0..n {
            let Some(t) = self.ready.pop() else { break };
            if t.is_root() {
                crate::monitor::idle(&self.diag);
                self.in_loop.set(false);
                t.state.set(State::Running);
                return true;
            }
            self.resume(t);
        }
        false
    }

    /// Fire due timers, poll I/O (blocking only when `idle`), drain
    /// cross-thread wakes. Returns a deadlock report if nothing can ever wake
    /// the waiting root.
    fn maintain(&self, idle: bool) -> Result<(), String> {
        if self.diag.take_dump_request() {
            crate::run_info::print_requested(self);
        }
        let mut now = Instant::now();
        self.fire_timers(now);
        let idle = idle && self.ready.is_empty();
        let timeout = if idle {
            let next = self.timers.borrow_mut().next_deadline();
            match next {
                Some(at) => Some(at.saturating_duration_since(now)),
                None => {
                    if self.io_parked.get() == 0
                        && self.remote.pending.load(Ordering::Acquire) == 0
                        && self.remote.queue_is_empty()
                    {
                        return Err(crate::report::deadlock_message(self));
                    }
                    None
                }
            }
        } else {
            Some(Duration::ZERO)
        };
        let must_poll = idle
            || self.reactor.borrow().registered() > 0
            || self.remote.pending.load(Ordering::Relaxed) > 0;
        if must_poll {
            if timeout != Some(Duration::ZERO) {
                crate::monitor::idle(&self.diag);
            }
            let mut ready = self.fd_ready.take();
            let r = self.reactor.borrow_mut().poll(timeout, &mut ready);
            if let Err(e) = r {
                return Err(format!("green: the event loop failed: {e}"));
            }
            for (e, r, w) in ready.drain(..) {
                if r {
                    e.readers.notify_all();
                }
                if w {
                    e.writers.notify_all();
                }
            }
            *self.fd_ready.borrow_mut() = ready;
            self.drain_remote();
            now = Instant::now();
            self.fire_timers(now);
        }
        if now.duration_since(self.last_release.get()) >= Duration::from_secs(1) {
            self.last_release.set(now);
            self.stacks.borrow_mut().release_idle(now);
        }
        Ok(())
    }

    fn fire_timers(&self, now: Instant) {
        self.set_clock(now);
        let mut due = Vec::new();
        self.timers.borrow_mut().expire(now, |t| due.push(t));
        for t in due {
            let gen = t.gen.get();
            self.wake(&t, gen, WakeReason::TimedOut);
        }
    }

    fn drain_remote(&self) {
        let items = match self.remote.queue.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        // Each queued wake kept its right counted as pending until now, so
        // the loop kept polling for it (see `RemoteUnparker::unpark`).
        if !items.is_empty() {
            self.remote.pending.fetch_sub(items.len(), Ordering::AcqRel);
        }
        for (slot, id, gen) in items {
            let t = if slot == usize::MAX {
                Some(self.root.clone())
            } else {
                self.tasks
                    .borrow()
                    .get(slot)
                    .filter(|t| t.id == id)
                    .cloned()
            };
            if let Some(t) = t {
                self.wake(&t, gen, WakeReason::Notified);
            }
        }
    }

    /// Run one task until it parks, yields or finishes.
    fn resume(&self, task: TaskRef) {
        if task.state.get() != State::Ready {
            return; // finished (killed) while queued
        }
        if !task.has_coro() {
            if task.kill_requested() {
                self.finish_unstarted(&task, Err(JoinError::Killed));
                return;
            }
            let stack = match self.stacks.borrow_mut().make_resident(&task) {
                Ok(s) => s,
                Err(e) => {
                    let msg = format!("green: could not get a stack for the coroutine: {e}");
                    self.finish_unstarted(&task, Err(JoinError::Panicked(Box::new(msg))));
                    return;
                }
            };
            let tp = task.as_ptr();
            let entry = task.take_entry();
            // The coroutine's whole base frame: no panic-catching layer of
            // our own (corosensei's root catch hands panics to `resume`, and
            // the loop's `run_pass` guard turns them into the join result),
            // so a parked coroutine has fewer bytes to save.
            let coro = Coro::with_stack(stack, move |y: &CoroYielder, ()| {
                // SAFETY: the hub holds a reference to this task until it
                // finishes, which is after this closure returns.
                unsafe { (*tp).yielder.set(y as *const CoroYielder) };
                match entry {
                    Some(f) => {
                        let out = f();
                        // SAFETY: as above.
                        if unsafe { (*tp).detached() } {
                            // Nobody can take it: drop it here, in the
                            // coroutine, where its `Drop` may block and a
                            // panic is this coroutine's own (reported as
                            // unjoined), never inside the hub's borrows.
                            drop(out);
                            Box::new(())
                        } else {
                            out
                        }
                    }
                    None => Box::new(()),
                }
            });
            // SAFETY: the task is not running; only the loop touches `coro`.
            unsafe { *task.coro.get() = Some(ManuallyDrop::new(coro)) };
            task.set_started();
        } else if !task.resident() {
            let r = self.stacks.borrow_mut().make_resident(&task);
            debug_assert!(r.is_ok(), "a homed task always has its region");
        }
        task.state.set(State::Running);
        self.current.set(task.as_ptr());
        crate::monitor::beat(&self.diag, task.id);
        crate::overflow::enter(&task);
        // SAFETY: `coro` is Some (created above or on an earlier run) and
        // the task's home region is resident.
        let r = unsafe {
            let c = (*task.coro.get()).as_mut().unwrap_unchecked();
            c.resume(())
        };
        crate::overflow::leave();
        self.current.set(self.root.as_ptr());
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
    fn coroutine_panicked(&self, p: Box<dyn std::any::Any + Send>) {
        let cur = self.current.get();
        if std::ptr::eq(cur, self.root.as_ptr()) {
            // Not a coroutine's panic: the hub itself failed. Let it out.
            self.in_loop.set(false);
            panic::resume_unwind(p);
        }
        crate::overflow::leave();
        self.current.set(self.root.as_ptr());
        // SAFETY: `cur` is the task `resume` was running; the slab still
        // holds a reference to it.
        let task = TaskRef::from_task(unsafe { &*cur });
        let err = if p.is::<KillSignal>() {
            JoinError::Killed
        } else {
            JoinError::Panicked(p)
        };
        self.finish(&task, Err(err));
    }

    /// A coroutine returned, panicked or was killed: free its stack, store
    /// the result, then run its `on_finish` callbacks (in a coroutine of
    /// their own, since they may block) before it counts as finished.
    fn finish(&self, task: &TaskRef, result: Result<crate::task::Output, JoinError>) {
        // SAFETY: the coroutine has returned, so dropping it unwinds nothing
        // and touches no stack memory; only the loop touches `coro`.
        unsafe {
            if let Some(mut c) = (*task.coro.get()).take() {
                ManuallyDrop::drop(&mut c);
            }
        }
        self.stacks.borrow_mut().release(task);
        task.set_result(result);
        let has_links = task
            .extra
            .borrow()
            .as_ref()
            .is_some_and(|e| !e.links.is_empty());
        if !has_links {
            self.complete(task);
            return;
        }
        task.state.set(State::Finishing);
        let t = task.clone();
        let id = self.next_task_id();
        task.with_extra(|e| e.links_runner = Some(id));
        let runner: Entry = Box::new(move || {
            crate::join::run_links(&t);
            t.with_extra(|e| e.links_runner = None);
            hub().complete(&t);
            Box::new(()) as crate::task::Output
        });
        let runner = Task::new(id, None, self.default_class, Some(runner), t_location());
        drop(self.spawn_task(runner, None));
    }

    /// The task is done for good: leave the slab, wake joiners, report an
    /// unjoined panic.
    fn complete(&self, task: &TaskRef) {
        task.state.set(State::Finished);
        let slot = self.tasks.borrow_mut().try_remove(task.slot());
        crate::monitor::task_ended(&self.diag, task);
        task.notify_joiners();
        if task.detached() {
            crate::report::report_unjoined(task);
            self.drop_detached_result(task);
        }
        // The table's reference goes last, outside the table's borrow.
        drop(slot);
    }

    /// The handle went away while the task was finishing: nobody will take
    /// its value, and the last reference to the record may be a stale timer
    /// entry or a wait-list dropped inside the hub's borrows. Drop the
    /// value in a coroutine of its own instead, where its `Drop` may block
    /// and a panic in it is reported like any unjoined panic.
    fn drop_detached_result(&self, task: &TaskRef) {
        let is_value =
            matches!(&*task.out.borrow(), crate::task::Slot::Done(Ok(v)) if !v.is::<()>());
        if !is_value {
            return;
        }
        let Some(out) = task.take_result() else {
            return;
        };
        let dropper: Entry = Box::new(move || {
            drop(out);
            Box::new(()) as crate::task::Output
        });
        let id = self.next_task_id();
        let dropper = Task::new(id, None, self.default_class, Some(dropper), t_location());
        let dropper = self.spawn_task(dropper, None);
        dropper.set_detached(true);
    }

    /// A task that never ran ends (killed first, or no stack for it): the
    /// same ending as any other, minus the coroutine.
    pub(crate) fn finish_unstarted(
        &self,
        task: &TaskRef,
        result: Result<crate::task::Output, JoinError>,
    ) {
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
                let gen = task.gen.get();
                self.wake(task, gen, WakeReason::Killed);
            }
            State::Ready | State::Running => task.set_kill_requested(true),
        }
    }

    /// An interruption reported instead of unwound: a kill stays pending so
    /// the task still unwinds at its next ordinary park.
    pub(crate) fn interrupted(&self, i: Interrupt) -> Interrupted {
        if i == Interrupt::Killed {
            self.current().set_kill_requested(true);
        }
        i.into()
    }

    pub(crate) fn push_frame(&self, deadline: Instant) -> u64 {
        let id = self.next_frame.get();
        self.next_frame.set(id + 1);
        let task = self.current();
        task.with_extra(|e| e.frames.push((deadline, id)));
        task.set_has_frames(true);
        id
    }

    pub(crate) fn pop_frame(&self, id: u64) {
        let task = self.current();
        let left = task.with_extra(|e| {
            e.frames.retain(|(_, f)| *f != id);
            !e.frames.is_empty()
        });
        task.set_has_frames(left);
    }

    pub(crate) fn fd_entry(&self, fd: i32) -> io::Result<Rc<FdEntry>> {
        self.reactor.borrow_mut().entry(fd)
    }

    pub(crate) fn forget_fd(&self, fd: i32) {
        let e = self.reactor.borrow_mut().forget(fd);
        if let Some(e) = e {
            e.readers.notify_all();
            e.writers.notify_all();
        }
    }

    /// Advance the loop's coarse clock (and the `last_run` stamp with it).
    fn set_clock(&self, now: Instant) {
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
    fn abandon(&self) {
        let live = self.live_tasks();
        let started = live.iter().filter(|t| t.started()).count();
        if started > 0 {
            let thread = std::thread::current();
            eprintln!(
                "green: thread '{}' ended with {started} coroutine(s) still alive; they were \
                 abandoned without unwinding (their destructors did not run), since the \
                 thread's other thread-locals may already be gone. Join or kill them before \
                 the thread ends, or run the thread's work inside green::Runtime::run, which \
                 unwinds them while thread-locals still live.",
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
                crate::join::wait_until_finished(t);
            }
        }
    }
}

impl Remote {
    fn queue_is_empty(&self) -> bool {
        match self.queue.lock() {
            Ok(q) => q.is_empty(),
            Err(p) => p.into_inner().is_empty(),
        }
    }
}

/// An owned wake-up right for one park of one task (or the root).
///
/// Obtained with [`unparker`] *before* parking; valid only for the next park
/// of that task. Waking a task that is no longer parked for that very park is
/// a no-op, so stale wakes can never resume it at the wrong point.
#[derive(Clone)]
pub struct Unparker {
    task: TaskRef,
    gen: u32,
}

impl Unparker {
    /// Wake the task if it is still parked for this park. Returns whether it
    /// was woken.
    pub fn unpark(&self) -> bool {
        hub().wake(&self.task, self.gen, WakeReason::Notified)
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

/// A wake-up right for the current park that may be sent to another thread.
///
/// While one exists, the hub will not report a deadlock (the other thread may
/// still deliver). Dropping it without `unpark` also wakes the hub's poller so
/// it can re-check.
pub struct RemoteUnparker {
    remote: Arc<Remote>,
    slot: usize,
    id: u64,
    gen: u32,
    /// The wake sits in the hub's queue: the hub, not this right's `Drop`,
    /// ends its pending count when it drains the queue. Until then the loop
    /// keeps polling (a busy loop that stopped polling once the right was
    /// gone used to strand the queued wake).
    queued: bool,
}

impl RemoteUnparker {
    /// Wake the task from any thread. Returns false if its hub is gone.
    pub fn unpark(mut self) -> bool {
        let ok = match self.remote.queue.lock() {
            Ok(mut q) => {
                q.push((self.slot, self.id, self.gen));
                true
            }
            Err(_) => false,
        };
        self.queued = ok;
        ok && self.remote.waker.wake().is_ok()
    }
}

impl Drop for RemoteUnparker {
    fn drop(&mut self) {
        if self.queued {
            return;
        }
        self.remote.pending.fetch_sub(1, Ordering::AcqRel);
        // Let the loop re-evaluate (deliver the wake or report a deadlock).
        let _ = self.remote.waker.wake();
    }
}

/// The unparker for the current task's next park.
#[inline]
pub fn unparker() -> Unparker {
    let hub = hub();
    let task = hub.current();
    Unparker {
        task: TaskRef::from_task(task),
        gen: task.gen.get(),
    }
}

/// A `Send` unparker for the current task's next park.
pub fn remote_unparker() -> RemoteUnparker {
    let hub = hub();
    let task = hub.current();
    hub.remote.pending.fetch_add(1, Ordering::AcqRel);
    RemoteUnparker {
        remote: hub.remote.clone(),
        slot: task.slot(),
        id: task.id,
        gen: task.gen.get(),
        queued: false,
    }
}

/// Park the current task (or the root context) until an [`Unparker`] wakes
/// it or `deadline` passes. Unwinds on `kill` and on an enclosing
/// `green::timeout` that expires first.
#[inline(always)]
pub fn park(deadline: Option<Instant>, on: ParkedOn) -> Park {
    match hub().park_inner(deadline, on) {
        Ok(p) => p,
        Err(i) => crate::cancel::raise(i),
    }
}

/// Like [`park`], but reports kill and timeout-frame expiry as `Err`.
///
/// A kill reported here is remembered: the task unwinds at its next ordinary
/// park. An expired frame fires again at the next ordinary park, too.
#[inline]
pub fn park_no_unwind(deadline: Option<Instant>, on: ParkedOn) -> Result<Park, Interrupted> {
    let hub = hub();
    hub.park_inner(deadline, on).map_err(|i| hub.interrupted(i))
}

pub(crate) fn push_frame(deadline: Instant) -> u64 {
    hub().push_frame(deadline)
}

pub(crate) fn pop_frame(id: u64) {
    hub().pop_frame(id)
}

/// Where internal helper coroutines (link runners) say they were spawned.
#[track_caller]
fn t_location() -> &'static Location<'static> {
    Location::caller()
}

/// The size class for a stack of `size` bytes on this hub (errors for sizes
/// out of range).
pub(crate) fn stack_class(size: usize) -> io::Result<u32> {
    hub().stacks.borrow_mut().class_for(size)
}

/// Spawn helper shared by `spawn`, `spawn_later` and `Builder`: a task of
/// stack class `class` (the hub's default if `None`), run after `delay`.
pub(crate) fn spawn_entry(
    entry: Entry,
    name: Option<Rc<String>>,
    class: Option<u32>,
    delay: Option<Duration>,
    at: &'static Location<'static>,
) -> TaskRef {
    let hub = hub();
    let class = class.unwrap_or(hub.default_class);
    let task = Task::new(hub.next_task_id(), name, class, Some(entry), at);
    hub.spawn_task(task, delay)
}

/// The running task (or the root) starts unwinding (see
/// `Task::is_unwinding`).
pub(crate) fn mark_unwinding() {
    if has_hub() {
        hub().current().set_unwinding();
    }
}

/// The running task's unwind was caught by a runtime frame (`timeout`).
pub(crate) fn caught_unwind() {
    hub().current().clear_unwinding();
}

/// Kill every live coroutine of this thread's hub and wait for them.
pub(crate) fn kill_all() {
    if has_hub() {
        hub().kill_all();
    }
}
