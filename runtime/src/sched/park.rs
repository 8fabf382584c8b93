//! Parking and waking: the one park path (with its deadline, timeout frames
//! and kill checks), yields, `Unparker`, and the raising of interruptions.
//!
//! A park that ends by kill or by an expired `timeout` frame unwinds from
//! here (or reports it, on the no-unwind path for `extern "C"` frames); a
//! park inside a destructor that runs during an unwind never raises to a
//! frame that unwind is on its way to (nor for a kill), only to `timeout`
//! frames made inside the destructor. Frame ids and unwind marks share one
//! counter, so "made inside" is "has a greater id than the unwind's mark".

use std::panic;
use std::time::Instant;

use super::{has_hub, hub, Hub};
use crate::arch::stack_pointer;
use crate::interrupt::{ElapsedSignal, Interrupt, Interrupted, KillSignal};
use crate::task::{ParkedOn, State, Task, TaskRef, Unparker, WaitList, WaitResult, WakeReason};

/// How a park ended (interruptions are reported separately).
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Park {
    /// Woken through an [`Unparker`] (or I/O readiness).
    Notified,
    /// The park's own deadline passed.
    TimedOut,
}

impl Unparker {
    /// Wake the task if it is still parked for this park. Returns whether it
    /// was woken.
    pub fn unpark(&self) -> bool {
        hub().wake(&self.task, self.gen, WakeReason::Notified)
    }
}

impl WaitList {
    /// The one wait path: join the back of the list, park as `on`, and leave
    /// the list however the park ends (a notifier already popped us; a
    /// timeout, kill or unwind removes us through the guard).
    pub(crate) fn wait_as(
        &self,
        deadline: Option<Instant>,
        on: ParkedOn,
        unwind: bool,
    ) -> Result<WaitResult, Interrupted> {
        let me = unparker();
        self.push_back(me.clone());
        let mut guard = Remove {
            list: self,
            me,
            armed: true,
        };
        let r = if unwind {
            park(deadline, on)
        } else {
            park_no_unwind(deadline, on)?
        };
        Ok(match r {
            Park::Notified => {
                // The waker popped us already. (Disarm rather than forget
                // the guard: forgetting it leaked its reference to the
                // task record, so no task that was ever notified was
                // freed.)
                guard.armed = false;
                WaitResult::Notified
            }
            Park::TimedOut => WaitResult::TimedOut, // guard removes us
        })
    }

    /// Wake the first waiter that is still waiting. Returns false if none.
    pub fn notify_one(&self) -> bool {
        while let Some(u) = self.pop_front() {
            if u.unpark() {
                return true;
            }
        }
        false
    }

    /// Wake every waiter. Returns how many were woken.
    ///
    /// Pops in place, keeping the list's storage (an fd's list fills and
    /// empties once per request: taking the storage away would cost an
    /// allocation per park). Waking only queues tasks, so nobody joins the
    /// list while it drains.
    pub fn notify_all(&self) -> usize {
        let mut n = 0;
        while let Some(u) = self.pop_front() {
            n += usize::from(u.unpark());
        }
        n
    }
}

/// The unparker for the current task's next park.
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
#[inline]
pub fn unparker() -> Unparker {
    let hub = hub();
    let task = hub.current();
    Unparker::new(TaskRef::from_task(task), task.gen.get())
}

/// Park the current task (or the root context) until an [`Unparker`] wakes
/// it or `deadline` passes. Unwinds on `kill` and on an enclosing
/// `green::timeout` that expires first.
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
#[inline(always)]
pub fn park(deadline: Option<Instant>, on: ParkedOn) -> Park {
    match hub().park_inner(deadline, on) {
        Ok(p) => p,
        Err(i) => raise_unless_unwinding(i),
    }
}

/// Raise `i` at an unwinding park, except a kill that comes while a
/// destructor of an unwind parks: that park just ends early (a second
/// unwind out of a destructor would abort the process). A park that must
/// not unwind gets that kill as `Err` instead (`park_no_unwind`), and it
/// stays pending.
#[cold]
#[inline(never)]
fn raise_unless_unwinding(i: Interrupt) -> Park {
    if i == Interrupt::Killed && hub().current().is_unwinding() {
        return Park::TimedOut;
    }
    raise(i)
}

/// Like [`park`], but reports kill and timeout-frame expiry as `Err`.
///
/// A kill reported here is remembered: the task unwinds at its next ordinary
/// park. An expired frame fires again at the next ordinary park, too.
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
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

/// The running task (or the root) starts unwinding (see
/// `Task::is_unwinding`).
pub(crate) fn mark_unwinding() {
    if has_hub() {
        let hub = hub();
        hub.begin_unwind(hub.current());
    }
}

/// A mark for [`unwinds_caught_since`], taken before a runtime frame
/// catches panics (`catch_unwind`) of code that may run during an unwind.
/// Never makes a hub: with none yet, no unwind has a mark, and 0 stands
/// before any that may be made meanwhile.
pub(crate) fn unwind_mark() -> u64 {
    if has_hub() {
        hub().next_mark()
    } else {
        0
    }
}

/// The running task's unwinds that started after `mark` were caught.
pub(crate) fn unwinds_caught_since(mark: u64) {
    if has_hub() {
        hub().current().unwinds_caught_since(mark);
    }
}

impl Hub {
    /// Bump the generation of a task that stops being parked.
    pub(super) fn bump(&self, task: &Task) {
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
    pub(crate) fn wake(&self, task: &Task, gen: u32, why: WakeReason) -> bool {
        if task.state.get() != State::Parked || task.gen.get() != gen {
            return false;
        }
        self.bump(task);
        task.wake.set(why);
        task.state.set(State::Ready);
        // Every task is owned by a `TaskRef` (the hub made it with one).
        if self.perturb.get() != 0 {
            self.push_perturbed(TaskRef::from_task(task));
        } else {
            self.ready.push(TaskRef::from_task(task));
        }
        true
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
        if self.foreign() {
            return self.park_foreign(eff, owner);
        }
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
            self.arm_timer(at, TaskRef::from_task(task));
        }
        self.suspend_parked(task, on);
        // Woken: the loop set us Running.
        let why = task.wake.get();
        if why != WakeReason::Notified || task.has_special() {
            if let Some(r) = self.wake_interrupted(task, why, owner) {
                return r;
            }
        }
        if self.perturb.get() != 0 {
            self.perturb_after_wake(task);
        }
        Ok(Park::Notified)
    }

    /// A park that did not end by an ordinary notification: a kill (pending
    /// or the reason) or a deadline. `None` when it was a notification after
    /// all (a timeout frame is active, nothing else happened).
    #[cold]
    #[inline(never)]
    fn wake_interrupted(
        &self,
        task: &Task,
        why: WakeReason,
        owner: Option<u64>,
    ) -> Option<Result<Park, Interrupt>> {
        if task.take_kill() || why == WakeReason::Killed {
            // Also when killed again while a destructor of the first unwind
            // parks: `park` then ends the park early and raises nothing.
            return Some(Err(Interrupt::Killed));
        }
        match why {
            WakeReason::TimedOut => Some(match owner {
                Some(id) => Err(Interrupt::Elapsed(id)),
                None => Ok(Park::TimedOut),
            }),
            _ => None,
        }
    }

    /// A park inside a destructor that runs while its task unwinds (from a
    /// kill, a timeout or a panic). Raising to a frame the unwind is on its
    /// way to would be a panic out of a destructor during cleanup, which
    /// aborts the process; so the timeout frames that enclose the unwind
    /// are ignored, and a kill ends the park early instead of raising
    /// (reported as `Err(Killed)`, which `park` turns into an early end and
    /// `park_no_unwind` reports, the kill staying pending). The
    /// frames made inside the destructor (after the unwind's mark) are
    /// honoured as anywhere else: raising to one of them unwinds only to
    /// it, inside the destructor.
    #[cold]
    #[inline(never)]
    pub(super) fn park_unwinding(
        &self,
        deadline: Option<Instant>,
        on: ParkedOn,
    ) -> Result<Park, Interrupt> {
        let task = self.current();
        if task.take_kill() {
            return Err(Interrupt::Killed);
        }
        let frame = task.frame_deadline_after(task.unwind_mark());
        let (eff, owner) = match (deadline, frame) {
            (Some(d), Some((f, id))) if f < d => (Some(f), Some(id)),
            (None, Some((f, id))) => (Some(f), Some(id)),
            (d, _) => (d, None),
        };
        if let Some(at) = eff {
            if at <= self.clock.get() {
                return match owner {
                    Some(id) => Err(Interrupt::Elapsed(id)),
                    None => Ok(Park::TimedOut),
                };
            }
            self.arm_timer(at, TaskRef::from_task(task));
        }
        self.suspend_parked(task, on);
        if task.take_kill() {
            return Err(Interrupt::Killed);
        }
        Ok(match (task.wake.get(), owner) {
            (WakeReason::Notified, _) => Park::Notified,
            (WakeReason::TimedOut, Some(id)) => return Err(Interrupt::Elapsed(id)),
            _ => Park::TimedOut,
        })
    }

    /// Mark the current task parked on `on` and give up the CPU until a
    /// wake makes it ready again (its timer, if any, is armed already).
    #[inline(always)]
    fn suspend_parked(&self, task: &Task, on: ParkedOn) {
        if let ParkedOn::Fd(_) = on {
            self.io_parked.set(self.io_parked.get() + 1);
        }
        task.set_parked_on(on);
        task.state.set(State::Parked);
        self.switch_out(task);
    }

    /// Give up the CPU: a coroutine suspends to the loop; the root runs the
    /// loop until it is its turn again.
    #[inline(always)]
    pub(super) fn switch_out(&self, task: &Task) {
        if self.foreign() {
            // A forked child's copy of the hub never runs (`fork.rs`): a
            // yield returns at once; a park (timed ones never get here)
            // could never end.
            if task.state.get() != State::Ready {
                super::fork::stop_child();
            }
            task.state.set(State::Running);
            return;
        }
        if task.is_root() {
            self.run_loop();
        } else {
            task.stack.record_sp(stack_pointer());
            // SAFETY: this task is the one running (it is not the root), so
            // we are inside its coroutine, whose body recorded its yielder.
            unsafe { task.suspend() };
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
    pub(super) fn yield_slow(&self) -> Result<(), Interrupt> {
        let task = self.current();
        if task.has_special() && task.is_unwinding() {
            // A destructor yielding during an unwind: yield; raise nothing
            // but a frame made inside the destructor (after the yield).
            task.take_kill();
        } else if task.take_kill() {
            return Err(Interrupt::Killed);
        }
        task.state.set(State::Ready);
        task.wake.set(WakeReason::Notified);
        if task.is_root() && !self.foreign() {
            self.ready.push(self.root.clone());
            self.run_loop();
        } else {
            self.switch_out(task);
        }
        self.after_yield_slow()
    }

    #[cold]
    #[inline(never)]
    pub(super) fn after_yield_slow(&self) -> Result<(), Interrupt> {
        let task = self.current();
        let mark = if task.has_special() && task.is_unwinding() {
            // Only the frames made inside the destructor may fire.
            task.take_kill();
            task.unwind_mark()
        } else if task.take_kill() {
            return Err(Interrupt::Killed);
        } else {
            0
        };
        if let Some((f, id)) = task.frame_deadline_after(mark) {
            if f <= crate::clock::now() {
                return Err(Interrupt::Elapsed(id));
            }
        }
        Ok(())
    }

    /// An interruption reported instead of unwound: a kill stays pending so
    /// the task still unwinds at its next ordinary park; an expired frame is
    /// remembered as fired, so its `timeout` reports `Elapsed` even if the
    /// closure goes on to return a value.
    pub(crate) fn interrupted(&self, i: Interrupt) -> Interrupted {
        match i {
            Interrupt::Killed => self.current().set_kill_requested(true),
            Interrupt::Elapsed(id) => crate::interrupt::note_fired(id),
        }
        i.into()
    }

    /// The interruption pending for the running task (or the root), left
    /// pending: a kill not delivered yet, or the earliest `timeout` frame
    /// whose deadline has passed (during an unwind, only the frames made
    /// inside it, as for its parks). For waits that cannot unwind, which
    /// report it instead of starting to wait.
    #[inline]
    pub(crate) fn pending_interrupt(&self) -> Option<Interrupt> {
        let task = self.current();
        if !task.has_special() {
            return None;
        }
        self.pending_slow(task)
    }

    #[cold]
    #[inline(never)]
    fn pending_slow(&self, task: &Task) -> Option<Interrupt> {
        if task.kill_requested() {
            return Some(Interrupt::Killed);
        }
        let mark = if task.is_unwinding() {
            task.unwind_mark()
        } else {
            0
        };
        match task.frame_deadline_after(mark) {
            Some((at, id)) if at <= crate::clock::now() => Some(Interrupt::Elapsed(id)),
            _ => None,
        }
    }

    /// Park the running task (or the root) until `until` whatever
    /// interruption is pending: it stays pending, and a kill that comes
    /// meanwhile ends the park early. The back-off of a wait that cannot
    /// unwind, begun again after it was told of an interruption: code that
    /// retries gives the hub the CPU instead of spinning.
    pub(crate) fn park_backoff(&self, until: Instant) {
        let task = self.current();
        if self.foreign() {
            // A forked child's copy of the hub never runs: the thread sleeps.
            std::thread::sleep(until.saturating_duration_since(crate::clock::now()));
            return;
        }
        self.arm_timer(until, TaskRef::from_task(task));
        self.suspend_parked(task, ParkedOn::Timer);
    }

    /// The next number of the counter that frame ids and unwind marks
    /// share, so that their order is the order they were made in.
    pub(crate) fn next_mark(&self) -> u64 {
        let id = self.next_frame.get();
        self.next_frame.set(id + 1);
        id
    }

    /// `task` (the running one) starts an unwind: one mark for it.
    pub(crate) fn begin_unwind(&self, task: &Task) {
        // A flag left by an unwind the user's own `catch_unwind` caught is
        // dropped first (when nothing unwinds now), with its marks.
        let _ = task.is_unwinding();
        task.begin_unwind(self.next_mark());
    }

    pub(crate) fn push_frame(&self, deadline: Instant) -> u64 {
        let id = self.next_mark();
        let task = self.current();
        task.with_extra(|e| e.frames.push((deadline, id)));
        task.set_has_frames(true);
        id
    }

    /// The frame `id` ends, however `f` ended. Every unwind that started
    /// inside it is over by now: caught inside `f`, or by this frame (an
    /// unwind that goes on past it is raised again, with a new mark).
    pub(crate) fn pop_frame(&self, id: u64) {
        let task = self.current();
        let left = task.with_extra(|e| {
            e.frames.retain(|(_, f)| *f != id);
            !e.frames.is_empty()
        });
        task.set_has_frames(left);
        task.unwinds_caught_since(id);
    }
}

/// Raise the unwinding payload for an interruption seen at a park point.
pub(crate) fn raise(kind: Interrupt) -> ! {
    match kind {
        Interrupt::Killed => resume_unwind(Box::new(KillSignal)),
        Interrupt::Elapsed(id) => resume_unwind(Box::new(ElapsedSignal(id))),
    }
}

/// `std::panic::resume_unwind`, telling the hub first that the current
/// task unwinds (`resume_unwind` skips the panic hook, which does that for
/// ordinary panics), so parks in its destructors do not raise again.
pub(crate) fn resume_unwind(p: Box<dyn std::any::Any + Send>) -> ! {
    mark_unwinding();
    panic::resume_unwind(p)
}

/// Removes a waiter that did not get notified (timeout, kill, unwinding).
struct Remove<'a> {
    list: &'a WaitList,
    me: Unparker,
    armed: bool,
}

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.list.remove(&self.me);
        }
    }
}
