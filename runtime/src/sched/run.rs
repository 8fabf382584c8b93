//! The run loop: passes over the ready queue until the root's turn comes,
//! with maintenance in between (timers, I/O readiness, cross-thread wakes,
//! idle stack release) and the deadlock check when nothing can ever wake
//! the waiting root.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Hub, MAINTAIN_EVERY};
use crate::clock;
use crate::task::{State, WakeReason};

/// How an idle hub with a virtual clock moves it (`Hub::virtual_wait`).
#[derive(Copy, Clone, Debug)]
enum VirtualStep {
    /// Nothing but timers (and fd waits) pending: after a poll that does
    /// not block, if still nothing is ready, jump to this deadline.
    Jump(Instant),
    /// A wake from another thread is pending: the wait takes real time,
    /// and the clock follows it (never past `cap`, the next deadline).
    Real {
        cap: Option<Instant>,
        from: Duration,
    },
}

impl Hub {
    /// Run coroutines until the root is popped from the ready queue.
    pub(super) fn run_loop(&self) {
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
    pub(super) fn run_until_root(&self) {
        if self.foreign() {
            // Back after a child's coroutine panicked (see `run_pass`).
            super::fork::stop_child();
        }
        loop {
            let n = self.ready.len();
            let root_turn = self.run_pass(n);
            // The root's own turn counts as a switch too: a root that yields
            // in a loop must reach maintenance like a yielding coroutine.
            let since = self.since_maintain.get().saturating_add(n as u32);
            // Idle only when the root still waits: a root about to run never
            // blocks in maintenance and is never reported as deadlocked.
            let idle = !root_turn && self.ready.is_empty();
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
            if root_turn {
                return;
            }
        }
    }

    /// Resume up to `n` ready tasks. Returns true when the root's turn came
    /// (the loop then returns to it).
    #[inline(always)]
    pub(super) fn run_pass(&self, n: usize) -> bool {
        for _ in 0..n {
            let Some(t) = self.ready.pop() else { break };
            if t.is_root() {
                crate::monitor::idle(&self.diag);
                self.in_loop.set(false);
                t.state.set(State::Running);
                return true;
            }
            self.resume(t);
            if self.foreign() {
                // Back in the loop of a forked child's copy of the hub (a
                // coroutine of the child ended): nothing here may run.
                super::fork::stop_child();
            }
        }
        false
    }

    /// Fire due timers, poll I/O (blocking only when `idle`), drain
    /// cross-thread wakes. Returns a deadlock report if nothing can ever wake
    /// the waiting root. On a virtual clock an idle hub moves the clock
    /// instead of blocking for a timer (`virtual_wait`).
    pub(super) fn maintain(&self, idle: bool) -> Result<(), String> {
        if self.diag.take_dump_request() {
            super::diag::print_requested(self);
        }
        // The clock is read before the poll only when a timer may be due
        // (or the clock is virtual, which moves it here): a busy server
        // with no timers armed then reads it once per pass instead of
        // twice (each read is some 20-40 ns on a virtual machine).
        let early = !self.timers.borrow().is_empty() || clock::is_virtual();
        let mut now = if early {
            let now = clock::now();
            self.fire_timers(now);
            now
        } else {
            self.clock.get()
        };
        let idle = idle && self.ready.is_empty();
        let mut next = None;
        let timeout = if idle {
            next = self.timers.borrow_mut().next_deadline();
            match next {
                Some(at) => Some(at.saturating_duration_since(now)),
                None => {
                    if self.io_parked.get() == 0
                        && self.word_parked.get() == 0
                        // Counts outstanding rights and queued wakes alike.
                        && self.remote.pending.load(Ordering::Acquire) == 0
                    {
                        return Err(super::diag::deadlock_message(self));
                    }
                    None
                }
            }
        } else {
            Some(Duration::ZERO)
        };
        let (timeout, step) = if idle && clock::is_virtual() {
            self.virtual_wait(next, timeout)
        } else {
            (timeout, None)
        };
        let must_poll = idle
            || self.reactor.borrow().registered() > 0
            || self.word_parked.get() > 0
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
            if ready.len() > 1 && self.shuffles() {
                self.shuffle(&mut ready);
            }
            self.wake_fd_batch(&mut ready);
            *self.fd_ready.borrow_mut() = ready;
            self.drain_remote();
            if let Some(step) = step {
                self.virtual_step(step, now);
            }
        }
        if must_poll || !early {
            // After the poll, for what it made due; and at least once per
            // maintenance, for the run stamps and the idle-stack release.
            now = clock::now();
            self.fire_timers(now);
        }
        if now.duration_since(self.last_release.get()) >= crate::stack::RELEASE_TICK {
            self.last_release.set(now);
            self.stacks.borrow_mut().release_idle(now);
        }
        Ok(())
    }

    /// The poll timeout and clock step of an idle hub whose clock is
    /// virtual. The rule (`docs/testing.md`): while a wake from another
    /// thread may come (an outstanding cross-thread wake-up right: a
    /// `spawn_blocking` job, an `xchan` receive, a name lookup on the pool;
    /// or a `block_on` future), the wait is real and the clock follows real
    /// time, never past the next deadline. Otherwise, with a timer pending,
    /// the hub polls without blocking (so fd readiness and queued wakes
    /// come in first) and, if nothing became ready, jumps to the deadline:
    /// fd waits do not hold the clock. With no timer the wait is as on a
    /// real clock, and takes no virtual time.
    fn virtual_wait(
        &self,
        next: Option<Instant>,
        timeout: Option<Duration>,
    ) -> (Option<Duration>, Option<VirtualStep>) {
        let external =
            self.remote.pending.load(Ordering::Acquire) > 0 || self.word_parked.get() > 0;
        if external {
            let from = clock::real_monotonic();
            return (timeout, Some(VirtualStep::Real { cap: next, from }));
        }
        match next {
            Some(at) => (Some(Duration::ZERO), Some(VirtualStep::Jump(at))),
            None => (timeout, None),
        }
    }

    /// Move the virtual clock after an idle poll (see `virtual_wait`).
    fn virtual_step(&self, step: VirtualStep, now: Instant) {
        match step {
            VirtualStep::Jump(at) => {
                if self.ready.is_empty() {
                    clock::advance_to(at);
                }
            }
            VirtualStep::Real { cap, from } => {
                let spent = clock::real_monotonic().saturating_sub(from);
                if let Some(to) = now.checked_add(spent) {
                    clock::advance_to(cap.map_or(to, |c| to.min(c)));
                }
            }
        }
    }

    pub(super) fn fire_timers(&self, now: Instant) {
        self.set_clock(now);
        let mut due = Vec::new();
        self.timers.borrow_mut().expire(now, |at, t| {
            t.set_timer_armed(false);
            due.push((at, t))
        });
        if due.len() > 1 && self.shuffles() {
            self.shuffle_ties(&mut due);
        }
        for (_, t) in due {
            let gen = t.gen.get();
            self.wake(&t, gen, WakeReason::TimedOut);
        }
    }
}

/// This thread's clock changed between virtual and real (`Runtime::run`
/// with virtual time ended): the hub's cached reading follows, so a
/// deadline on the real clock is not taken for passed.
pub(crate) fn clock_changed() {
    if let Some(hub) = super::try_hub() {
        let now = clock::now();
        hub.set_clock(now);
        hub.last_release.set(now);
    }
}

impl Hub {
    /// Whether a blocking call made on this thread's root context (the
    /// caller is not in a coroutine) should wait on the hub, running it
    /// inline, rather than block the thread: the root may wait here (not
    /// inside the loop, e.g. in a destructor or callback the loop runs; not
    /// a forked child's copy) and the hub has something to run or a
    /// deadline to keep meanwhile: a live coroutine, or a `timeout` around
    /// the root. Never while the hub is being torn down (its guard is gone
    /// or being dropped, at thread exit or `end_hub`): nothing may run on
    /// it then. The monkey layer's hooks ask (`rt::cooperative`).
    pub(crate) fn root_may_park(&self) -> bool {
        !self.in_loop.get()
            && !self.foreign()
            && (self.root.has_special() || self.tasks.try_borrow().is_ok_and(|t| !t.is_empty()))
            && super::GUARD
                .try_with(|g| g.try_borrow().is_ok_and(|g| g.is_some()))
                .unwrap_or(false)
    }
}

/// Whether this thread's root context may wait on its hub right now: not
/// inside a coroutine or inside the loop (a destructor or callback the loop
/// runs), not a forked child's copy of the hub, and not while the thread's
/// thread-locals are torn down. True with no hub yet (waiting makes one).
pub(crate) fn root_may_wait() -> bool {
    match super::HUB.try_with(|h| h.get()) {
        Err(_) => false,
        Ok(p) if p.is_null() => true,
        Ok(_) => {
            super::try_hub().is_some_and(|h| !h.in_coroutine() && !h.in_loop.get() && !h.foreign())
        }
    }
}
